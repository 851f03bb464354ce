"""The direct path (ships): records written to BigQuery with WriteToBigQuery. Imports transforms.records and transforms.tables."""
