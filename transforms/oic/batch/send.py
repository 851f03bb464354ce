"""One batch to OIC's batch trigger: the request, the insertErrors of its answer mapped back to each record, rows
refused with a retryable reason sent again together, and a settled result for every record (never raises).

The wire contract (docs/oic-batching.md): POST `{"count": n, "records": [payload, ...]}`; a 2xx answer carries BigQuery's
insertAll result as the integration passes it back, `{"insertErrors": [{"index": i, "errors": [{"reason": "...",
"message": "..."}]}]}`, absent or empty = every row inserted. A whole request that fails (429, 5xx, timeout, no
connection) is retried by the caller under the retry policy and the concurrency limit, like one record's request.
"""

import dataclasses
import json
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from transforms import records as rec
from transforms.oic.caller import Outcome
from transforms.oic.post import ack
from transforms.oic.retry import RetryPolicy
from transforms.oic.batch.grouping import batch_body, body_size, payload_size

# insertAll reasons worth sending the row again (BigQuery's error table: transient backend failures, and `stopped`,
# a valid row not inserted because another row of the request was invalid); any other reason refuses the row for good.
RETRYABLE_ROW_REASONS = frozenset(('backendError', 'internalError', 'timeout', 'stopped'))
UNKNOWN_REASON = 'unknown'


@dataclasses.dataclass
class Settled:
    """What happened to one record of a batch: kind 'ack' or 'dead', the request that carried (or last carried) it."""
    record: dict
    kind: str
    status: Optional[int]
    attempts: int  # HTTP attempts of every request that carried the record
    latency_s: float
    batch_id: str
    batch_records: int
    batch_bytes: int
    reason: str = ''
    detail: str = ''


@dataclasses.dataclass
class BatchResult:
    """Every record of the batch settled once, and the Outcome of each request sent (for metrics and auth checks)."""
    settled: List[Settled]
    requests: List[Outcome]


def row_errors(answer: bytes, rows: int) -> Dict[int, Tuple[str, str]]:
    """{index: (reason, message)} of the rows an answer's insertErrors refused; an answer that is empty, not JSON or
    without insertErrors refuses none. A row with several errors takes the first reason that is not retryable (a row
    refused for good is not worth another request), else the first."""
    try:
        data = json.loads(answer.decode('utf-8')) if answer and answer.strip() else {}
    except (UnicodeDecodeError, ValueError):
        return {}
    entries = data.get('insertErrors') if isinstance(data, dict) else None
    refused: Dict[int, Tuple[str, str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        index = entry.get('index')
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < rows:
            continue
        errors = [e for e in entry.get('errors') or [] if isinstance(e, dict)] or [{}]
        final = [e for e in errors if str(e.get('reason')) not in RETRYABLE_ROW_REASONS]
        chosen = (final or errors)[0]
        refused[index] = (str(chosen.get('reason') or UNKNOWN_REASON), str(chosen.get('message') or ''))
    return refused


def new_batch_id() -> str:
    return uuid.uuid4().hex[:16]


def send_batch(call_body: Callable[[Any], Outcome], records: Sequence[dict], shape: str, policy: RetryPolicy,
               stop_event: Optional[threading.Event] = None, sleep: Optional[Callable[[float], Any]] = None,
               new_id: Callable[[], str] = new_batch_id, clock: Callable[[], float] = time.monotonic) -> BatchResult:
    """Posts `records` as one batch with `call_body` (OICCaller.call_body: the whole-request retries), then sends the
    rows refused with a retryable reason again, together, after a backoff, until none is left, the policy's attempts
    (rounds) or deadline run out, or `stop_event` is set. Every record is settled exactly once."""
    stop_event = stop_event or threading.Event()
    sleep = sleep or stop_event.wait
    started = clock()
    pending = list(records)
    attempts = [0] * len(pending)
    settled: List[Settled] = []
    requests: List[Outcome] = []
    round_ = 0
    while pending:
        round_ += 1
        payloads = [rec.oic_payload(r, shape) for r in pending]
        batch_id, size = new_id(), body_size([payload_size(p) for p in payloads])
        outcome = call_body(batch_body(payloads))  # {"count": n, "records": [...]}
        requests.append(outcome)
        attempts = [a + outcome.attempts for a in attempts]
        common: Dict[str, Any] = dict(batch_id=batch_id, batch_records=len(pending), batch_bytes=size)
        if outcome.kind != 'ack':  # the whole request failed for good: every record with the request's reason
            settled.extend(Settled(r, 'dead', outcome.status, a, clock() - started, reason=outcome.reason or 'unknown',
                                   detail=outcome.detail, **common) for r, a in zip(pending, attempts))
            break
        refused = row_errors(outcome.answer, len(pending))
        again: List[Tuple[dict, int, Tuple[str, str]]] = []
        for index, (record, spent) in enumerate(zip(pending, attempts)):
            if index not in refused:
                settled.append(Settled(record, 'ack', outcome.status, spent, clock() - started, **common))
            elif refused[index][0] in RETRYABLE_ROW_REASONS:
                again.append((record, spent, refused[index]))
            else:
                reason, message = refused[index]
                settled.append(Settled(record, 'dead', outcome.status, spent, clock() - started, reason=reason,
                                       detail=message, **common))
        if not again:
            break
        wait = policy.backoff(round_)
        give_up = None
        if round_ >= policy.max_attempts:
            give_up = 'attempts_exhausted'
        elif clock() + wait - started >= policy.deadline_s:
            give_up = 'deadline_exceeded'
        elif stop_event.is_set():
            give_up = 'stopped'
        if give_up is None:
            sleep(wait)
            if stop_event.is_set():
                give_up = 'stopped'
        if give_up is not None:
            settled.extend(Settled(r, 'dead', outcome.status, a, clock() - started, reason=give_up,
                                   detail='%s: %s' % why, **common) for r, a, why in again)
            break
        pending = [r for r, _, _ in again]
        attempts = [a for _, a, _ in again]
    return BatchResult(settled, requests)


def ack_of(item: Settled) -> dict:
    """The acknowledgement of a record that landed: the per-record shape (transforms.oic.post.ack) plus the request
    that carried it."""

    value = ack(item.record, item.status or 200, item.attempts, item.latency_s)
    value.update({rec.BATCH_ID: item.batch_id, rec.BATCH_RECORDS: item.batch_records, rec.BATCH_BYTES: item.batch_bytes})
    return value


def dead_letter_of(item: Settled) -> dict:
    """The dead letter of a record refused for good, in the one dead-letter shape, plus the request that carried it."""
    value = rec.make_dead_letter('oic', item.record, item.reason, status=item.status, attempts=item.attempts,
                                 detail=item.detail)
    value.update({rec.BATCH_ID: item.batch_id, rec.BATCH_RECORDS: item.batch_records})
    return value
