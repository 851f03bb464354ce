"""The named points of the cost curves: where each way steps up and where two break even (root finding on a log
grid refined by bisection)."""

import math
from typing import Any, Callable, Dict, List, Mapping, Optional

from comparison.cost.curves import CURVE_KEYS, CURVE_LABELS, cost_point
from comparison.cost.line_items import rate_text
from comparison.cost.price_table import GIB
from comparison.cost.sizing import DEFAULT_OIC_RESPONSE_S, batch_shape, messages_per_record

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


def key_points(row_bytes: int, payload_size: int, prices: Mapping[str, Any],
               response_s: float = DEFAULT_OIC_RESPONSE_S, batch_kb: Optional[float] = None) -> List[Dict[str, Any]]:
    """The named points of the curves, ascending by rate: where each way steps up (a further OIC pack, one
    instance's limit, the end of the Storage Write API's free tier) and where any two cross (break-even); a pair
    that never crosses in CURVE_SPAN is named too, with which one costs less."""
    shape = batch_shape(payload_size, prices, batch_kb)
    points: List[Dict[str, Any]] = []
    for byol, batched, label in ((False, False, 'OIC'), (True, False, 'OIC BYOL'), (False, True, 'OIC batched'),
                                 (True, True, 'OIC batched BYOL')):
        per_request = shape['records_per_request'] if batched else 1
        per_record = (shape['messages_per_request'] if batched else messages_per_record(payload_size, prices)) \
            / per_request
        per_pack_rate = prices['oic_byol_messages_per_pack_hour' if byol else 'oic_messages_per_pack_hour'] \
            / 3600.0 / per_record
        price = prices['oic_byol_pack_hour_usd' if byol else 'oic_pack_hour_usd'] * prices['hours_per_month']
        points.append({'rate': per_pack_rate, 'kind': 'step', 'what': (
            '%s: one pack ($%s/month) carries up to %s records/s; every further %s records/s adds a pack' % (
                label, '{:,.2f}'.format(price), rate_text(per_pack_rate), rate_text(per_pack_rate)))})
        limit_rate = min(per_pack_rate * prices['oic_max_packs'],
                         prices['oic_max_sync_requests'] * per_request / response_s)
        points.append({'rate': limit_rate, 'kind': 'step', 'what': (
            '%s: above %s records/s one instance is not enough (%d packs or %d synchronous requests in flight '
            'at %gs each%s)' % (label, rate_text(limit_rate), prices['oic_max_packs'],
                                prices['oic_max_sync_requests'], response_s,
                                ', %d records a request' % per_request if batched else ''))})
    seconds_month = 3600 * prices['hours_per_month']
    free_rate = prices['storage_write_free_gib_per_month'] * GIB / max(1, row_bytes) / seconds_month
    points.append({'rate': free_rate, 'kind': 'step', 'what': (
        'direct, Storage Write API: free up to %s records/s (%g GiB a month of %d-byte rows), then $%g/GiB' % (
            rate_text(free_rate), prices['storage_write_free_gib_per_month'], row_bytes,
            prices['storage_write_usd_per_gib']))})
    low, high = CURVE_SPAN
    keys = CURVE_KEYS
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            def cost_of(key: str) -> Callable[[float], float]:
                return lambda r: cost_point(r, row_bytes, payload_size, prices, response_s, batch_kb)[key]
            where = crossings(cost_of(a), cost_of(b), low, high)
            for rate in where:
                points.append({'rate': rate, 'kind': 'break-even', 'what': '%s and %s cost the same at %s records/s' % (
                    CURVE_LABELS[a], CURVE_LABELS[b], rate_text(rate))})
            if not where:
                cheaper, dearer = (a, b) if cost_of(a)(1.0) < cost_of(b)(1.0) else (b, a)
                points.append({'rate': None, 'kind': 'no break-even', 'cheaper': CURVE_LABELS[cheaper],
                               'dearer': CURVE_LABELS[dearer], 'span': [low, high], 'what': (
                    '%s costs less than %s at every rate from %s to %s records/s' % (
                        CURVE_LABELS[cheaper], CURVE_LABELS[dearer], rate_text(low), rate_text(high)))})
    return sorted(points, key=lambda p: (p['rate'] is None, p['rate'] or 0))
