"""Throughput of each path over a run: rows per second overall and per second of the run, and HTTP requests per row."""

import datetime
from typing import Iterable, List, Optional, Sequence, Tuple

from transforms import records as rec

BUCKETS_S = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
MAX_BUCKETS = 240  # Enough points for a chart; the bucket widens with the run.


def bucket_width(span: float) -> float:
    """The narrowest bucket of BUCKETS_S (seconds) giving at most MAX_BUCKETS points over `span` seconds."""
    span = max(0.0, span)
    return next((w for w in BUCKETS_S if span / w < MAX_BUCKETS), BUCKETS_S[-1])


def series(moments: Sequence[datetime.datetime], start: datetime.datetime,
           end: Optional[datetime.datetime] = None) -> List[List[float]]:
    """[[seconds since start, rows per second in that bucket]]: the narrowest bucket of BUCKETS_S giving at most
    MAX_BUCKETS points; empty buckets included so a stall shows as zeros."""
    if not moments:
        return []
    end = end or moments[-1]
    span = max(0.0, (end - start).total_seconds())
    width = bucket_width(span)
    counts = [0] * (int(span // width) + 1)
    for moment in moments:
        offset = (moment - start).total_seconds()
        if 0 <= offset <= span:
            counts[int(offset // width)] += 1
    return [[round(i * width, 3), c / width] for i, c in enumerate(counts)]


def path_throughput(completions: Iterable[Optional[str]], event_times: Iterable[Optional[str]], basis: str) -> dict:
    """Rows per second from the first event_time sent to the last completion (ack or first sighting), plus the
    per-second series. `completions` and `event_times` are timestamp strings; `basis` says what a completion is."""
    done = rec.parse_timestamps(completions)
    events = rec.parse_timestamps(event_times)
    if not done or not events:
        return {'rows_per_s': None, 'span_s': None, 'basis': basis, 'series': []}
    start = events[0]
    span = (done[-1] - start).total_seconds()
    return {
        'rows_per_s': round(len(done) / span, 2) if span > 0 else None,
        'span_s': round(span, 3),
        'rows': len(done),
        'basis': basis,
        'series': series(done, start),
    }


def http_requests(path: str, acks: Sequence[dict], dead_letters: Sequence[dict], metrics: Optional[dict]) -> Tuple[Optional[int], str]:
    """(requests, how they were counted) — OIC: one POST per attempt; direct: one insertAll per batch."""
    if path == 'oic':
        attempts = sum(int(item.get('attempts') or 1) for item in list(acks) + list(dead_letters))
        return attempts, 'one POST per record and attempt (from acks and dead letters)'
    batches = (metrics or {}).get('batch_size')
    if isinstance(batches, dict) and batches.get('count'):
        return batches['count'], "insertAll calls (WriteToBigQuery's batch_size metric; retries not included)"
    return None, 'unknown: the runner reported no WriteToBigQuery batch metric'
