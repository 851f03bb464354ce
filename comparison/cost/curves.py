"""Cost curves: what each way of landing the rows costs a month at each of a ladder of sustained rates.

The ways are declared by the paths (comparison/paths/<path>.py): each hands in a PathCurve (its columns at a rate,
its step points, how its columns are shown) with the CurveBasis it is priced from. Nothing here names a path."""

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from comparison.cost.sizing import DEFAULT_OIC_RESPONSE_S

CURVE_RATES = (0.1, 1.0, 10.0, 100.0, 1000.0)  # records/s; the stated rate is added.


@dataclasses.dataclass(frozen=True)
class CurveBasis:
    """What a path's curve is priced from: the run's sizes (a typical synthetic record's where it sent none), OIC's
    answer time, the batch size the batched shape assumes, and what the path itself measured (its entry in
    report.json's paths; empty in a sweep)."""
    row_bytes: int
    payload_bytes: int
    prices: Mapping[str, Any]
    response_s: float = DEFAULT_OIC_RESPONSE_S
    batch_kb: Optional[float] = None
    measured: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, at: Mapping[str, Any], prices: Mapping[str, Any]) -> 'CurveBasis':
        """From report.json's (or sweep.json's) cost_at_rate."""
        return cls(row_bytes=at['row_bytes'], payload_bytes=at['payload_bytes'], prices=prices,
                   response_s=at['oic_response_s'], batch_kb=at.get('oic_batch_kb'))


@dataclasses.dataclass(frozen=True)
class CurveColumn:
    """One column of the cost curve: its key in every cost_curve row, its heading in the tables, its label in the
    break-even points and the chart; usd=False for a count (packs) shown in the tables only; compared=False keeps
    a USD column out of the break-even pairs; style and color (None: the path's) draw it in report.html."""
    key: str
    heading: str
    label: str
    usd: bool = True
    compared: bool = True
    style: str = '-'
    color: Optional[str] = None


def _no_steps(basis: CurveBasis) -> List[Dict[str, Any]]:
    return []


def _no_caption(curve: Sequence[Mapping[str, Any]], at: Mapping[str, Any]) -> str:
    return ''


@dataclasses.dataclass(frozen=True)
class PathCurve:
    """A path's part of the cost curve.

    point: its columns (and the figures behind them) at a rate, {} when it cannot be priced from this basis.
    columns: the columns shown, in order. steps: its named step points ({'rate', 'kind': 'step', 'what'}).
    instances_key: a column counting instances: a rate where it is over 1 is marked '!' (instances_note says why,
    instances_label in the chart). note: said in the table's heading. caption: a line under the table ('' none)."""
    point: Callable[[float, CurveBasis], Dict[str, Any]]
    columns: Tuple[CurveColumn, ...]
    steps: Callable[[CurveBasis], List[Dict[str, Any]]] = _no_steps
    instances_key: Optional[str] = None
    instances_note: str = ''
    instances_label: str = ''
    note: str = ''
    caption: Callable[[Sequence[Mapping[str, Any]], Mapping[str, Any]], str] = _no_caption


Priced = Tuple[PathCurve, CurveBasis]  # a path's curve with the basis it is priced from


def curve_rates(stated: Optional[float] = None, rates: Sequence[float] = CURVE_RATES) -> List[float]:
    """The curve's rates, ascending, with the stated rate among them."""
    return sorted(set(float(r) for r in rates) | ({float(stated)} if stated else set()))


def cost_point(rate: float, priced: Sequence[Priced]) -> Dict[str, Any]:
    """One row of the cost curve: what each priced way of landing `rate` records/s costs a month."""
    row: Dict[str, Any] = {'rate': rate}
    for curve, basis in priced:
        row.update(curve.point(rate, basis))
    return row


def cost_curve(rates: Sequence[float], priced: Sequence[Priced]) -> List[Dict[str, Any]]:
    """cost_point() at each rate."""
    return [cost_point(r, priced) for r in rates]


def usd_columns(priced: Sequence[Priced]) -> List[Tuple[CurveColumn, PathCurve, CurveBasis]]:
    """The USD columns of the priced paths, in order, each with its path's curve and basis."""
    return [(column, curve, basis) for curve, basis in priced for column in curve.columns if column.usd]
