"""Benchmarks of the local BigQuery emulator itself (what the local stack costs a run, not the pipeline)."""
