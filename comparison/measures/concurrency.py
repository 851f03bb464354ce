"""The OIC caller's concurrency limit over a run, per worker, and the share of overload answers (for the report)."""

import datetime
from typing import Any, Dict, List, Mapping, Optional, Sequence

from transforms import records as rec

# Above this share of the workers' time spent below one request in flight (paced), the report advises a rate: the
# job runs more workers than OIC serves at once, where the adaptive limit is neither fair nor quick to follow a drop
# (docs/adaptive-concurrency.md, Known limits).
PACED_ADVICE_SHARE = 0.25


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


def paced_share(series: Dict[str, List[List[float]]], end_s: Optional[float] = None) -> Optional[float]:
    """The share of the workers' time with a limit below one request (paced), summed over workers, each from its
    first sample to `end_s` (seconds on the series' axis; default: the last sample of any worker); None without
    time to measure."""
    ends = [points[-1][0] for points in series.values() if points]
    if not ends:
        return None
    end = max(ends) if end_s is None else max(end_s, max(ends))
    paced = total = 0.0
    for points in series.values():
        for (moment, limit), following in zip(points, [p[0] for p in points[1:]] + [end]):
            total += following - moment
            if limit < 1:
                paced += following - moment
    return round(paced / total, 4) if total > 0 else None


def paced_advice(view: dict) -> Optional[str]:
    """What to do when the workers spent much of the run paced below one request, else None."""
    share = view.get('paced_share')
    if view.get('mode') != 'adaptive' or share is None or share < PACED_ADVICE_SHARE:
        return None
    return ('the OIC limit was below one request in flight for %.0f%% of the workers\' time: more workers than OIC '
            'serves at once, where adaptive limits are neither fair nor quick to follow a drop; a job-wide rate '
            'below OIC\'s capacity (--oic_max_rps, or --oic_rate_limiter) holds its 429s down '
            '(docs/adaptive-concurrency.md, Known limits)' % (100 * share))


def overload_share(metrics: Optional[Mapping[str, Any]]) -> Optional[float]:
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


def concurrency_view(samples: Sequence[dict], metrics: Optional[Mapping[str, Any]],
                     start: Optional[datetime.datetime], end_s: Optional[float] = None) -> dict:
    """The report's `concurrency` entry of the oic path: mode, ceiling, each worker's limit over time (seconds
    since `start`, the throughput chart's origin, up to `end_s` on that axis) and at the end, how often the limits
    changed, the share of the workers' time paced below one request, and the share of overload answers."""
    series = limit_series(samples, start)
    first = samples[0] if samples else {}
    return {
        'mode': first.get('mode'),
        'ceiling': first.get('ceiling'),
        'workers': len(series),
        'limit_series': series,
        'final_limit': {worker: points[-1][1] for worker, points in series.items()},
        'limit_changes': (metrics or {}).get('oic_concurrency_limit_changes'),
        'paced_share': paced_share(series, end_s),
        'overload_share': overload_share(metrics),
    }
