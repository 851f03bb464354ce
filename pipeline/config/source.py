"""The source piece: where records come from (a file, a paced or unpaced batch, or a stream) and how many. The rules
between the flags are pipeline/rules/source.py's; whether an --input file can be replayed is checked here."""

import dataclasses
import os
from typing import Optional

from pipeline.options import WarehouseOptions
from pipeline.rules.errors import UsageError
from pipeline.rules.source import SourceCounts
from transforms.source.replay import check_local_file
from transforms.run_record.files import is_local
from transforms.source.synthetic import DEFAULT_SHARDS


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Validated source settings. `records` None = unbounded (a stream without --records)."""
    streaming: bool
    records: Optional[int]
    rate: float
    seed: int
    input: Optional[str] = None
    shards: int = DEFAULT_SHARDS


def check_input(path: str) -> None:
    """Raises UsageError unless `path` is a replayable file (a remote path is checked by the workers)."""
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


def resolve_source(flags: WarehouseOptions, streaming: bool, counts: SourceCounts) -> SourceConfig:
    """The source piece from WarehouseOptions `flags` whose numbers the rules checked (`counts`:
    pipeline/rules/source.py); UsageError when --input cannot be replayed."""
    if flags.input:
        check_input(flags.input)
    seed = flags.seed if flags.seed is not None else int.from_bytes(os.urandom(4), 'big')
    return SourceConfig(streaming=streaming, records=counts.records, rate=counts.rate, seed=seed, input=flags.input,
                        shards=flags.source_shards)
