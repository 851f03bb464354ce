"""The source's defaults, Beam-free so that the flags' declarations (pipeline/flags.py) can show them without
importing Beam."""

DEFAULT_RECORDS = 200  # A batch run without --records.
DEFAULT_STREAMING_RATE = 10.0  # Records per second of a stream without --rate.
DEFAULT_SHARDS = 16  # Clocks of the streaming source.
