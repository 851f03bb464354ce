"""The launch piece: what the launching machine does around the pipeline (pre-flight checks, the drain on Ctrl-C)."""

import dataclasses

from pipeline.options import DEFAULT_DRAIN_TIMEOUT_S, WarehouseOptions


@dataclasses.dataclass(frozen=True)
class LaunchConfig:
    """Validated launcher settings; none of them reaches the workers."""
    preflight: bool = True
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT_S


def resolve_launch(flags: WarehouseOptions, drain_timeout: float) -> LaunchConfig:
    """The launch piece from WarehouseOptions `flags` and the checked --drain_timeout (pipeline/rules/run.py)."""
    return LaunchConfig(preflight=not flags.skip_preflight, drain_timeout=drain_timeout)
