"""Latency figures of a run: acknowledgement latency and time-to-queryable, as percentiles and CDF points."""

import math
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from transforms import records as rec

PERCENTILES = (50, 90, 99)


def percentile(sorted_values: Sequence[float], p: float) -> Optional[float]:
    """Nearest-rank percentile of an ascending list (the value at or below which p% of samples fall)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(seconds: Iterable[Optional[float]]) -> dict:
    """{'count', 'p50_s', 'p90_s', 'p99_s', 'max_s'} of a list of durations in seconds (None values dropped)."""
    values = sorted(v for v in seconds if v is not None)
    summary: dict = {'count': len(values)}
    for p in PERCENTILES:
        value = percentile(values, p)
        summary['p%d_s' % p] = round(value, 3) if value is not None else None
    summary['max_s'] = round(values[-1], 3) if values else None
    return summary


def _seconds_between(start_text, end_text):
    try:
        return (rec.parse_timestamp(str(end_text)) - rec.parse_timestamp(str(start_text))).total_seconds()
    except (TypeError, ValueError):
        return None


def ack_latencies(acks: Iterable[dict], sent_ids: Set[str]) -> List[float]:
    """event_time -> ack_time of each acknowledged record of this run, in seconds (first ack per record)."""
    seen = {}
    for ack in acks:
        record_id = ack.get('record_id')
        if record_id in sent_ids and record_id not in seen:
            seen[record_id] = _seconds_between(ack.get('event_time'), ack.get('ack_time'))
    return [v for v in seen.values() if v is not None]


def queryable_latencies(sightings: Iterable[dict], sent_ids: Set[str]) -> List[float]:
    """event_time -> first seen by the probe, in seconds, for each of this run's records the probe saw."""
    first = {}
    for seen in sightings:
        record_id = seen.get('record_id')
        if record_id in sent_ids and record_id not in first:
            first[record_id] = _seconds_between(seen.get('event_time'), seen.get('seen_at'))
    return [v for v in first.values() if v is not None]


def cdf_points(seconds: Sequence[float], max_points: int = 200) -> List[Tuple[float, float]]:
    """[(seconds, fraction ≤ seconds)] for plotting, thinned to at most `max_points` (last point kept)."""
    values = sorted(v for v in seconds if v is not None)
    if not values:
        return []
    step = max(1, len(values) // max_points)
    points = [(values[i], (i + 1) / len(values)) for i in range(0, len(values), step)]
    if points[-1][1] != 1.0:
        points.append((values[-1], 1.0))
    return points
