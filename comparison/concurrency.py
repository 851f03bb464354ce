"""The OIC caller's concurrency limit over a run, per worker, and the share of overload answers (for the report)."""

import datetime
from typing import Dict, List, Optional, Sequence

from transforms import records as rec


def limit_series(samples: Sequence[dict], start: Optional[datetime.datetime]) -> Dict[str, List[List[float]]]:
    """{worker: [[seconds since start, limit], ...]} from the run record's `oic/limits` samples (one per change),
    oldest first; `start` defaults to the first sample."""
    timed = []
    for sample in samples:
        try:
            timed.append((rec.parse_timestamp(str(sample['time'])), str(sample['worker']), float(sample['limit'])))
        except (KeyError, TypeError, ValueError):
            continue
    if not timed:
        return {}
    timed.sort()
    origin = start or timed[0][0]
    found: Dict[str, List[List[float]]] = {}
    for moment, worker, limit in timed:
        found.setdefault(worker, []).append([round((moment - origin).total_seconds(), 3), limit])
    return found


def overload_share(metrics: Optional[dict]) -> Optional[float]:
    """Overload answers (429, 503, timeouts, no connection) per HTTP request, from the run's Beam metrics."""
    metrics = metrics or {}
    requests, overloads = metrics.get('oic_requests'), metrics.get('oic_overload_answers', 0)
    if not isinstance(requests, (int, float)) or not requests:
        return None
    return round(overloads / requests, 4)


def earliest(texts: Sequence[Optional[str]]) -> Optional[datetime.datetime]:
    """The earliest of some timestamp strings (unreadable ones skipped), or None."""
    found = rec.parse_timestamps(texts)
    return found[0] if found else None


def concurrency_view(samples: Sequence[dict], metrics: Optional[dict],
                     start: Optional[datetime.datetime]) -> dict:
    """The report's `concurrency` entry of the oic path: mode, ceiling, each worker's limit over time (seconds
    since `start`, the throughput chart's origin) and at the end, how often the limits changed, and the share of
    overload answers."""
    series = limit_series(samples, start)
    first = samples[0] if samples else {}
    return {
        'mode': first.get('mode'),
        'ceiling': first.get('ceiling'),
        'workers': len(series),
        'limit_series': series,
        'final_limit': {worker: points[-1][1] for worker, points in series.items()},
        'limit_changes': (metrics or {}).get('oic_concurrency_limit_changes'),
        'overload_share': overload_share(metrics),
    }
