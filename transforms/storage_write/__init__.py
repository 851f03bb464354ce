"""A Python-native BigQuery Storage Write API sink: rows to proto, an append-client seam, and an exactly-once
PTransform over committed streams per shard (docs/storage-write.md)."""
