"""The OIC sender's parts, composed by PostToOIC and PostBatchesToOIC: what a sender is configured with (settings)
and the in-flight part both DoFns share (in_flight: the pool, the bundle discipline, the metrics)."""
