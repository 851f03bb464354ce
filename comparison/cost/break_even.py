"""The named points of the cost curves: where each way steps up (as its path declares) and where two break even
(root finding on a log grid refined by bisection)."""

import math
from typing import Any, Callable, Dict, List, Sequence

from comparison.cost.curves import CurveBasis, PathCurve, Priced, usd_columns
from comparison.cost.line_items import rate_text

CURVE_SPAN = (0.01, 100000.0)  # records/s searched for break-even points.


def crossings(first: Callable[[float], float], second: Callable[[float], float], low: float, high: float,
              steps: int = 400) -> List[float]:
    """Rates in [low, high] where first(rate) − second(rate) changes sign, scanned on a log grid and refined by
    bisection (to 0.1%); a step function's jump counts as a crossing at the step."""
    grid = [low * (high / low) ** (i / steps) for i in range(steps + 1)]
    found = []
    previous = first(grid[0]) - second(grid[0])
    for a, b in zip(grid, grid[1:]):
        current = first(b) - second(b)
        if (previous < 0) != (current < 0) and previous != 0:
            lo, hi = a, b
            while hi / lo > 1.001:
                mid = math.sqrt(lo * hi)
                if (first(mid) - second(mid) < 0) == (previous < 0):
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        previous = current
    return found


def _cost_of(key: str, curve: PathCurve, basis: CurveBasis) -> Callable[[float], float]:
    return lambda rate: curve.point(rate, basis)[key]


def key_points(priced: Sequence[Priced]) -> List[Dict[str, Any]]:
    """The named points of the curves, ascending by rate: where each way steps up (each path's declared steps: a
    further OIC pack, one instance's limit, the end of a free tier) and where any two compared columns cross
    (break-even); a pair that never crosses in CURVE_SPAN is named too, with which one costs less."""
    points: List[Dict[str, Any]] = []
    for curve, basis in priced:
        points.extend(curve.steps(basis))
    low, high = CURVE_SPAN
    columns = [entry for entry in usd_columns(priced) if entry[0].compared]
    for i, (a, curve_a, basis_a) in enumerate(columns):
        for b, curve_b, basis_b in columns[i + 1:]:
            first, second = _cost_of(a.key, curve_a, basis_a), _cost_of(b.key, curve_b, basis_b)
            where = crossings(first, second, low, high)
            for rate in where:
                points.append({'rate': rate, 'kind': 'break-even', 'what': '%s and %s cost the same at %s records/s' % (
                    a.label, b.label, rate_text(rate))})
            if not where:
                cheaper, dearer = (a, b) if first(1.0) < second(1.0) else (b, a)
                points.append({'rate': None, 'kind': 'no break-even', 'cheaper': cheaper.label,
                               'dearer': dearer.label, 'span': [low, high], 'what': (
                    '%s costs less than %s at every rate from %s to %s records/s' % (
                        cheaper.label, dearer.label, rate_text(low), rate_text(high)))})
    return sorted(points, key=lambda p: (p['rate'] is None, p['rate'] or 0))
