"""What the comparison knows of a path, in one declaration: what "acknowledged" means for it, how its rows and
requests are sized and counted, its cost items, its extra views and its colour in the charts. The comparison (in
memory and in SQL), report.json, the terminal table and report.html iterate over the run's paths and ask this.

Adding a path to the comparison is one `register(ComparisonPath(...))` (the pipeline side is pipeline/paths.py).
"""

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from transforms.run_record.run_info import RunInfo


@dataclasses.dataclass(frozen=True)
class CostInputs:
    """What a path's cost at the stated rate is computed from (comparison/report.py's cost basis)."""
    at_rate: Optional[float]  # None: no stated rate, no cost
    at_rate_source: Optional[str]
    row_bytes: int
    payload_bytes: int
    prices: Mapping[str, Any]
    oic_response_s: float
    batch_kb: Optional[float] = None
    records_per_request: float = 1
    request_bytes: Optional[float] = None
    serialized_row_bytes: Optional[float] = None  # measured bytes a row took on the wire (Storage Write API)


@dataclasses.dataclass(frozen=True)
class PathRun:
    """One path's part of a recorded run, handed to its extra views (in-memory comparison)."""
    name: str
    out_dir: str
    run: RunInfo
    sent: Sequence[dict]
    acks: Sequence[dict]
    dead_letters: Sequence[dict]
    sent_ids: frozenset
    prices: Mapping[str, Any]
    monitoring: bool = True
    monitoring_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def no_extras(path_run: PathRun, result: dict) -> Dict[str, Any]:
    """A path without extra views: adds nothing and asks for no other cost shape."""
    return {}


def no_curve(curve: List[Dict[str, Any]], result: Mapping[str, Any], prices: Mapping[str, Any]) -> None:
    """A path whose cost the shared cost curve already prices."""


@dataclasses.dataclass(frozen=True)
class ComparisonPath:
    """A path as the comparison sees it.

    acks_derived: True when the path acknowledges no single record (its "acknowledged" is derived from what landed);
    False when each record gets an answer (acknowledgements in the run record).
    ack_note: why there is no per-record acknowledgement latency (acks_derived paths).
    row_bytes: one sent record's row in BigQuery, in bytes, as this run wrote it (payload shape from `run`).
    payload_bytes: one sent record's body as the path sends it (0: not priced by body).
    requests: (requests made, how counted) from acks, dead letters and the run's metrics.
    cost: its itemised monthly cost at the stated rate (report.json's paths.<name>.cost), or None.
    extras: adds the path's own views to its result; returns the cost shape it measured ({} = the default).
    finds_rows: False when this run's rows cannot be looked up by record_id (e.g. OIC's seed payload).
    curve: adds the path's own columns to every cost_curve row (from what its result measured).
    color: its colour in report.html.
    """
    name: str
    label: str
    acks_derived: bool
    row_bytes: Callable[[dict, RunInfo], int]
    payload_bytes: Callable[[dict, RunInfo], int]
    requests: Callable[[Sequence[dict], Sequence[dict], Optional[Mapping[str, Any]]], Tuple[Optional[int], str]]
    cost: Callable[[CostInputs], Optional[dict]]
    ack_note: str = ''
    extras: Callable[[PathRun, dict], Dict[str, Any]] = no_extras
    finds_rows: Callable[[RunInfo], bool] = lambda run: True
    curve: Callable[[List[Dict[str, Any]], Mapping[str, Any], Mapping[str, Any]], None] = no_curve
    color: str = '#5f6368'


_REGISTRY: Dict[str, ComparisonPath] = {}


def register(path: ComparisonPath) -> ComparisonPath:
    """Makes `path` known to the comparison (a second registration of a name replaces the first)."""
    _REGISTRY[path.name] = path
    return path


def unregister(name: str) -> None:
    """Forgets a path (tests that register one of their own)."""
    _REGISTRY.pop(name, None)


def of(name: str) -> ComparisonPath:
    """The registered path `name`; KeyError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError('no path %r in the comparison (known: %s)' % (name, ', '.join(_REGISTRY))) from None


def known() -> List[str]:
    """The registered paths' names, in registration order."""
    return list(_REGISTRY)
