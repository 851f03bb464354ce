"""The run record (ships): files under --out, its BigQuery tables, live counters. Imports transforms.records, transforms.tables and transforms.direct."""
