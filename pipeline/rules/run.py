"""The run's own rules: which paths run, what the runner is, the drain after Ctrl-C, the rate the report prices at,
and the standard Beam options the other rules read (BeamChoices)."""

import dataclasses
from typing import Optional, Tuple

from pipeline.path_specs import PATHS
from pipeline.rules.errors import UsageError
from transforms.run_record import run_info

DEFAULT_RUNNER = 'DirectRunner'  # Beam's, when --runner is not given.


@dataclasses.dataclass(frozen=True)
class BeamChoices:
    """What the rules read of Beam's standard options: --streaming, --runner (DirectRunner when not given) and
    --project (the BigQuery project when a table spec and --bq_project have none)."""
    streaming: bool = False
    runner: str = DEFAULT_RUNNER
    project: Optional[str] = None

    @property
    def on_dataflow(self) -> bool:
        return is_dataflow(self.runner)


def is_dataflow(runner: str) -> bool:
    """True for the Dataflow runner (however it was spelled)."""
    return 'DataflowRunner' in runner


def parse_paths(text: Optional[str]) -> Tuple[str, ...]:
    """'oic,direct' -> ('oic', 'direct') in the canonical order; UsageError for anything else."""
    paths = tuple(p.strip() for p in (text or '').split(',') if p.strip())
    unknown = [p for p in paths if p not in PATHS]
    if not paths or unknown:
        raise UsageError('--paths takes a comma-separated list of %s (got %r)' % (', '.join(PATHS), text))
    return tuple(p for p in PATHS if p in paths)


def drain_timeout(value: float) -> float:
    """--drain_timeout in seconds; UsageError when negative."""
    if value < 0:
        raise UsageError('--drain_timeout must be >= 0 seconds (got %g)' % value)
    return float(value)


def check_at_rate(value: Optional[float]) -> Optional[float]:
    """--at_rate: None or a positive, finite records per second (run_info.check_at_rate); UsageError otherwise."""
    try:
        return run_info.check_at_rate(value)
    except ValueError as err:
        raise UsageError(str(err)) from None
