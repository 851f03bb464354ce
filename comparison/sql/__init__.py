"""The comparison in BigQuery: reads of the path tables, reconciliation and the report's figures in SQL. Imports comparison.measures, comparison.cost and transforms."""
