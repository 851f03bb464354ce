"""How the writer gathers and sends rows, as one frozen value."""

import dataclasses

from transforms.storage_write.limits import AppendLimits
from transforms.storage_write.shard_writer import RetryPolicy


@dataclasses.dataclass(frozen=True)
class WriterOptions:
    """How rows are gathered and sent: a shard's batch goes when batch_rows are waiting or, on an unbounded input,
    once the watermark is max_buffering_s past the earliest waiting row's event time (and holds only rows earlier
    bundles buffered); the per-append limits; the retry of an append whose answer was lost."""
    batch_rows: int = 1000
    max_buffering_s: float = 1.0
    limits: AppendLimits = AppendLimits()
    retry: RetryPolicy = RetryPolicy()
