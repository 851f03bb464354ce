"""What the comparison knows of a path, in one declaration: what "acknowledged" means for it, how its rows and
requests are sized and counted, its cost items, its columns in the cost curve, its extra views and its colour in
the charts. The comparison (in memory and in SQL), report.json, the terminal table and report.html iterate over the
run's paths and ask this.

Adding a path to the comparison is one `register(ComparisonPath(...))` (the pipeline side is pipeline/paths.py).
"""

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from comparison.cost.curves import CurveBasis, PathCurve, Priced
from transforms import records as rec
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


def no_sql_views(result: dict, payload_bytes: int, prices: Mapping[str, Any]) -> None:
    """A path without views of its own in the SQL reconciliation."""


def all_fields(run: RunInfo) -> Tuple[str, ...]:
    """Every field of the record contract (transforms/records.py FIELDS)."""
    return rec.FIELDS


def no_body(run: RunInfo) -> Tuple[str, ...]:
    """A path that posts no request body of its own (not priced by body)."""
    return ()


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
    overloads: (requests, answers saying the service was overloaded: 429, 503, timeouts) from the run's metrics, for
    a path whose service refuses under load (the sweep's overload share); None: not counted.
    views: the keys of the views `extras` adds that the terminal table has sections for (shown when a path of the
    run declares them).
    finds_rows: False when this run's rows cannot be looked up by record_id (e.g. OIC's seed payload).
    curve: its columns in every cost_curve row, its step points and how the tables show them (None: not in the
    curve).
    times_answers: its acknowledgements' first-attempt latencies are the synchronous answer time that sizes the
    requests in flight (report.json's cost_at_rate.oic_response_s).
    always_stated: part of the seed's comparison (OIC against a direct write): its cost curve and what it asks of
    the sender are stated in every report, whether the run took it or not.
    color: its colour in report.html.

    The SQL reconciliation (comparison/sql) sizes and counts inside BigQuery, so it asks for the same rules as fields:
    row_fields: the record fields that land in the path's table in this run (its rows are sized from them).
    body_fields: the record fields of the request body it posts in this run, () when it posts none of its own (its
    mean body size is then 0, as payload_bytes gives).
    sql_requests: (requests made, how counted) from the run's metrics, when the run-record tables cannot count them
    (they count one request per record and attempt); None: the tables' count stands.
    sql_views: adds the views it has in the SQL reconciliation to its result, from the result, its mean body size
    and the prices.
    sql_skipped: (view, why) of each view the SQL reconciliation leaves out for it.
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
    views: Tuple[str, ...] = ()
    overloads: Optional[Callable[[Mapping[str, Any]], Tuple[Optional[int], int]]] = None
    finds_rows: Callable[[RunInfo], bool] = lambda run: True
    curve: Optional[PathCurve] = None
    times_answers: bool = False
    always_stated: bool = False
    color: str = '#5f6368'
    row_fields: Callable[[RunInfo], Tuple[str, ...]] = all_fields
    body_fields: Callable[[RunInfo], Tuple[str, ...]] = no_body
    sql_requests: Callable[[RunInfo], Optional[Tuple[Optional[int], str]]] = lambda run: None
    sql_views: Callable[[dict, int, Mapping[str, Any]], None] = no_sql_views
    sql_skipped: Tuple[Tuple[str, str], ...] = ()


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


def stated(run_paths: Sequence[str]) -> List[str]:
    """The paths a report states what they ask of the sender for: the run's, then those always stated that the run
    left out (registration order)."""
    return list(run_paths) + [p.name for p in _REGISTRY.values() if p.always_stated and p.name not in run_paths]


def timing_answers(run_paths: Sequence[str]) -> List[str]:
    """The run's paths whose first-attempt answer times size the requests in flight (times_answers), in run order."""
    return [name for name in run_paths if of(name).times_answers]


def curve_paths(run_paths: Sequence[str]) -> List[ComparisonPath]:
    """The paths in a run's cost curve: the registered paths with a curve that the run took or that are always
    stated, in registration order (the same columns in every report)."""
    return [p for p in _REGISTRY.values() if p.curve is not None and (p.name in run_paths or p.always_stated)]


def priced(run_paths: Sequence[str], basis: CurveBasis,
           measured: Optional[Mapping[str, Mapping[str, Any]]] = None) -> List[Priced]:
    """curve_paths(run_paths), each curve with the basis it is priced from: `basis` with what that path measured
    (`measured`: its entry in report.json's paths, when the run took it)."""
    return [(path.curve, dataclasses.replace(basis, measured=(measured or {}).get(path.name) or {}))
            for path in curve_paths(run_paths) if path.curve is not None]
