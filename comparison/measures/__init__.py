"""Figures from the run record, pure functions on records: reconciliation in memory, latency, throughput, concurrency, OIC's monitoring view. Imports transforms.records only."""
