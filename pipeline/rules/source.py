"""The source's rules: how many records, from a file or generated, at what rate, over how many shards."""

import dataclasses
from typing import Optional

from pipeline.flags import FlagValues
from pipeline.rules.errors import UsageError
from transforms.source.defaults import DEFAULT_RECORDS, DEFAULT_STREAMING_RATE


@dataclasses.dataclass(frozen=True)
class SourceCounts:
    """The source's numbers once checked: `records` None = unbounded (a stream without --records); `rate` with its
    default for the mode."""
    records: Optional[int]
    rate: float


def source_counts(flags: FlagValues, streaming: bool) -> SourceCounts:
    """--records, --input, --rate and --source_shards checked together; UsageError on any mistake (whether an --input
    file can be read is pipeline/config/source.py's check)."""
    if flags.records is not None and flags.records < 1:
        raise UsageError('--records must be at least 1 (got %d)' % flags.records)
    if flags.input:
        if flags.records is not None:
            raise UsageError('--input and --records are exclusive: a replay sends every line of the file')
        if streaming:
            raise UsageError('--input replays a file in batch mode; drop --streaming')
    rate = flags.rate
    if rate is None:
        rate = DEFAULT_STREAMING_RATE if streaming else 0.0
    if rate < 0 or (streaming and rate == 0):
        raise UsageError('--rate must be > 0 with --streaming and >= 0 otherwise (got %g)' % rate)
    records = flags.records
    if records is None and not streaming and not flags.input:
        records = DEFAULT_RECORDS
    if flags.source_shards < 1:
        raise UsageError('--source_shards must be at least 1 (got %d)' % flags.source_shards)
    return SourceCounts(records, float(rate))
