"""The OIC sender's parts, composed by PostToOIC and PostBatchesToOIC: what one sender is configured with (settings)."""
