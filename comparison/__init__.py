"""The comparison of the two paths: reconciliation, latency, throughput, cost, the report (not shipped to workers)."""
