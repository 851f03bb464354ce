"""Appends kept under the request limit: serialized rows cut into consecutive appends by bytes and by rows (pure)."""

import dataclasses
from typing import Iterator, List, Sequence

# BigQuery takes AppendRows requests below 10 MB (the emulator caps them at 10 MiB); 9 MB leaves room for the
# request's envelope and the writer schema. https://cloud.google.com/bigquery/quotas#write-api-limits
MAX_APPEND_BYTES = 9_000_000
MAX_APPEND_ROWS = 10_000
PER_ROW_OVERHEAD = 3  # the tag and length prefix of each serialized row inside ProtoRows (up to 2 MB rows)


@dataclasses.dataclass(frozen=True)
class AppendLimits:
    max_bytes: int = MAX_APPEND_BYTES
    max_rows: int = MAX_APPEND_ROWS

    def __post_init__(self):
        if self.max_bytes < 1 or self.max_rows < 1:
            raise ValueError('append limits must be positive (got %d bytes, %d rows)' % (self.max_bytes,
                                                                                        self.max_rows))


def split_appends(rows: Sequence[bytes], limits: AppendLimits = AppendLimits()) -> Iterator[List[bytes]]:
    """Consecutive runs of `rows`, in order, each within the limits; no row dropped or reordered. A single row over
    the byte limit would be an append of its own: the writer dead-letters such rows before splitting."""
    chunk: List[bytes] = []
    size = 0
    for row in rows:
        cost = len(row) + PER_ROW_OVERHEAD
        if chunk and (size + cost > limits.max_bytes or len(chunk) >= limits.max_rows):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += cost
    if chunk:
        yield chunk
