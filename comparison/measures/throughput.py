"""Throughput of each path over a run: rows per second overall and per second of the run, and HTTP requests per row."""

import datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

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


OIC_REQUESTS_METRIC = 'oic_requests'  # the OIC caller's counter: one per HTTP attempt, a batch's once (post.py)


def batch_request_attempts(settled: Iterable[Mapping[str, Any]]) -> Dict[str, int]:
    """{batch_id: the HTTP attempts of that request itself} from acknowledgements and dead letters of batched
    records. A record names the last request that carried it (transforms.records.batch_round_id), and its
    `attempts` are those of every request that carried it. Each round of a batch carried a subset of the round
    before, so the records of a round all went through the same rounds: a round's own attempts are its records'
    less those of the batch's previous round any record names (a round no record names, every row of it sent
    again, is counted with the next). The sum over a batch is its last round's records' attempts: all its POSTs."""
    by_batch: Dict[str, Dict[str, int]] = {}
    for item in settled:
        batch_id = item.get(rec.BATCH_ID)
        if batch_id in (None, ''):
            continue
        rounds = by_batch.setdefault(rec.batch_group(batch_id), {})
        # A batch whose sending raised knows of no request: 0 attempts.
        rounds[str(batch_id)] = max(rounds.get(str(batch_id), 0), int(item.get('attempts') or 0))
    own: Dict[str, int] = {}
    for rounds in by_batch.values():
        before = 0
        for batch_id, spent in sorted(rounds.items(), key=lambda pair: pair[1]):  # attempts grow round by round
            own[batch_id], before = spent - before, spent
    return own


def oic_requests(settled: Iterable[Mapping[str, Any]]) -> int:
    """HTTP POSTs the OIC path sent, from its acknowledgements and dead letters: a record without a batch_id went
    alone, each of its attempts one POST; batched records count each request of their batch once per attempt
    (batch_request_attempts)."""
    settled = list(settled)
    alone = sum(int(item.get('attempts') or 1) for item in settled if item.get(rec.BATCH_ID) in (None, ''))
    return alone + sum(batch_request_attempts(settled).values())


def oic_requests_from_metrics(metrics: Optional[Mapping[str, Any]]) -> Tuple[Optional[int], str]:
    """(requests, how they were counted) from the OIC caller's counter in the run's metrics, when the runner gave it."""
    value = (metrics or {}).get(OIC_REQUESTS_METRIC)
    if isinstance(value, int) and not isinstance(value, bool):
        return value, "HTTP POSTs as sent, a batch once per attempt (the OIC caller's %s metric)" % OIC_REQUESTS_METRIC
    return None, 'unknown: a batched run\'s requests need its acknowledgements\' batch_id (the run-record tables do ' \
                 'not hold it) or the OIC caller\'s %s metric (the runner reported none)' % OIC_REQUESTS_METRIC


def answered_requests(acks: Sequence[dict], dead_letters: Sequence[dict]) -> Tuple[Optional[int], str]:
    """(requests, how they were counted) of a path that answers each request (OIC): one POST per attempt, a batch's
    once, from the acknowledgements and dead letters."""
    settled = list(acks) + list(dead_letters)
    batched = any(item.get(rec.BATCH_ID) not in (None, '') for item in settled)
    return oic_requests(settled), ('HTTP POSTs as sent, one per attempt of each request, a batch\'s once (from '
                                   'the batch_id and attempts of acks and dead letters)' if batched else
                                   'one POST per record and attempt (from acks and dead letters)')


def insert_all_calls(metrics: Optional[Mapping[str, Any]]) -> Tuple[Optional[int], str]:
    """(requests, how they were counted) of WriteToBigQuery's streaming inserts: one insertAll per batch, from its
    batch_size metric."""
    batches = (metrics or {}).get('batch_size')
    if isinstance(batches, dict) and batches.get('count'):
        return batches['count'], "insertAll calls (WriteToBigQuery's batch_size metric; retries not included)"
    return None, 'unknown: the runner reported no WriteToBigQuery batch metric'


def requests_per_row(requests: Optional[int], rows: Optional[int]) -> Optional[float]:
    """HTTP requests per row sent (None when either is unknown or nothing was sent)."""
    return round(requests / rows, 4) if requests is not None and rows else None
