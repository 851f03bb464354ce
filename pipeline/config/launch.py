"""The launch piece: what the launching machine does around the pipeline (pre-flight checks, the drain on Ctrl-C)."""

import dataclasses

from pipeline.config.errors import UsageError
from pipeline.options import DEFAULT_DRAIN_TIMEOUT_S, WarehouseOptions


@dataclasses.dataclass(frozen=True)
class LaunchConfig:
    """Validated launcher settings; none of them reaches the workers."""
    preflight: bool = True
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT_S


def resolve_launch(flags: WarehouseOptions) -> LaunchConfig:
    """The launch piece from WarehouseOptions `flags`; UsageError on any mistake."""
    if flags.drain_timeout < 0:
        raise UsageError('--drain_timeout must be >= 0 seconds (got %g)' % flags.drain_timeout)
    return LaunchConfig(preflight=not flags.skip_preflight, drain_timeout=float(flags.drain_timeout))
