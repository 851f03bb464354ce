"""The source piece: where records come from (a file, a paced or unpaced batch, or a stream) and how many."""

import dataclasses
import os
from typing import Optional

from pipeline.config.errors import UsageError
from pipeline.options import WarehouseOptions
from transforms.source.replay import check_local_file
from transforms.run_record.files import is_local
from transforms.source.synthetic import DEFAULT_RECORDS, DEFAULT_SHARDS, DEFAULT_STREAMING_RATE


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Validated source settings. `records` None = unbounded (a stream without --records)."""
    streaming: bool
    records: Optional[int]
    rate: float
    seed: int
    input: Optional[str] = None
    shards: int = DEFAULT_SHARDS


def check_input(path: str, streaming: bool) -> None:
    """Raises UsageError unless `path` is a replayable file (a remote path is checked by the workers)."""
    if streaming:
        raise UsageError('--input replays a file in batch mode; drop --streaming')
    if not is_local(path):
        return
    if not os.path.isfile(path):
        raise UsageError('--input: no such file: %s' % path)
    try:
        check_local_file(path)
    except OSError as err:
        raise UsageError('--input: cannot read %s: %s' % (path, err.strerror or err)) from None
    except ValueError as err:  # The file breaks the data contract's header rule.
        raise UsageError('--input %s: %s' % (path, err)) from None


def resolve_source(flags: WarehouseOptions, streaming: bool) -> SourceConfig:
    """The source piece from WarehouseOptions `flags`; UsageError on any mistake."""
    if flags.records is not None and flags.records < 1:
        raise UsageError('--records must be at least 1 (got %d)' % flags.records)
    if flags.input:
        if flags.records is not None:
            raise UsageError('--input and --records are exclusive: a replay sends every line of the file')
        check_input(flags.input, streaming)
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
    seed = flags.seed if flags.seed is not None else int.from_bytes(os.urandom(4), 'big')
    return SourceConfig(streaming=streaming, records=records, rate=float(rate), seed=seed, input=flags.input,
                        shards=flags.source_shards)
