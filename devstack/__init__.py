"""Local stand-ins for the cloud services (BigQuery emulator, OIC): dev tooling, never shipped to workers."""
