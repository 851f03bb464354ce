"""One batch to OIC's batch trigger: the request, its answer read strictly and mapped back to each record, rows refused
with a retryable reason (or every row, after an answer that could not be read) sent again together, and a settled
result for every record.

The wire contract (docs/oic-batching.md): POST `{"count": n, "records": [payload, ...]}`; a 2xx answer carries BigQuery's
insertAll result as the integration passes it back, `{"insertErrors": [{"index": i, "errors": [{"reason": "...",
"message": "..."}]}]}`, absent or empty = every row inserted (transforms/oic/batch/answer.py reads it). A whole
request that fails (429, 5xx, timeout, no connection) is retried by the caller under the retry policy and the
concurrency limit, like one record's request; the batch's rounds wait and stop under the same policy
(transforms/oic/flow_control.py's between_rounds) and together stay within its deadline.
"""

import dataclasses
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from transforms import records as rec
from transforms.oic.caller import Outcome
from transforms.oic.post import ack
from transforms.oic.flow_control import between_rounds
from transforms.oic.retry import RetryPolicy
from transforms.oic.batch.answer import BatchAnswer, excerpt, read_answer
from transforms.oic.batch.body import batch_body, body_size, payload_size

UNREADABLE_ANSWER = 'unreadable_answer'  # the dead-letter reason of rows whose every answer could not be read


class BodyCaller(Protocol):
    """OICCaller.call_body: posts one body with the whole-request retries, within `deadline_s` when given."""

    def __call__(self, body: Any, deadline_s: Optional[float] = None) -> Outcome: ...


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
    """Every record of the batch settled once, and the Outcome of each request sent (for metrics and auth checks).
    send_batch fills it as it goes, so what was settled before something raised stands."""
    settled: List[Settled] = dataclasses.field(default_factory=list)
    requests: List[Outcome] = dataclasses.field(default_factory=list)
    unreadable: int = 0  # 2xx answers that could not be read (metric oic_unreadable_answers)

    def unsettled(self, records: Sequence[dict]) -> List[dict]:
        """The records of `records` (the same objects send_batch was given) not settled yet."""
        done = {id(item.record) for item in self.settled}
        return [record for record in records if id(record) not in done]


def new_batch_id() -> str:
    return uuid.uuid4().hex[:16]


def unreadable_detail(answer: BatchAnswer, body: bytes, given_up: str) -> str:
    """The detail of a row dead-lettered because its last answer could not be read: why, why the retries stopped,
    and the answer's first characters."""
    return '%s (%s); the answer began: %s' % (answer.problem, given_up, excerpt(body))


def send_batch(call_body: BodyCaller, records: Sequence[dict], shape: str, policy: RetryPolicy,
               stop_event: Optional[threading.Event] = None, sleep: Optional[Callable[[float], Any]] = None,
               new_id: Callable[[], str] = new_batch_id, clock: Callable[[], float] = time.monotonic,
               into: Optional[BatchResult] = None) -> BatchResult:
    """Posts `records` as one batch with `call_body` (OICCaller.call_body: the whole-request retries), then sends again,
    together and after a backoff, the rows refused with a retryable reason, or every row not yet settled when the
    answer could not be read, until none is left, the policy's attempts (rounds) run out, its deadline (which covers
    every round: each request gets what is left of it) runs out, or `stop_event` is set. A row is acknowledged only on
    a readable answer that does not name it; every record is settled exactly once, into `into` when given (so the
    caller keeps what was settled if something raises) and returned."""
    stop_event = stop_event or threading.Event()
    sleep = sleep or stop_event.wait
    result = into if into is not None else BatchResult()
    started = clock()
    pending = list(records)
    attempts = [0] * len(pending)
    round_ = 0
    while pending:
        round_ += 1
        payloads = [rec.oic_payload(r, shape) for r in pending]
        batch_id, size = new_id(), body_size([payload_size(p) for p in payloads])
        outcome = call_body(batch_body(payloads),  # {"count": n, "records": [...]}
                            deadline_s=policy.deadline_s - (clock() - started))
        result.requests.append(outcome)
        attempts = [a + outcome.attempts for a in attempts]
        common: Dict[str, Any] = dict(status=outcome.status, batch_id=batch_id, batch_records=len(pending),
                                      batch_bytes=size)

        def settle(record: dict, spent: int, kind: str, reason: str = '', detail: str = '') -> None:
            result.settled.append(Settled(record, kind, attempts=spent, latency_s=clock() - started, reason=reason,
                                          detail=detail, **common))

        if outcome.kind != 'ack':  # the whole request failed for good: every record with the request's reason
            for record, spent in zip(pending, attempts):
                settle(record, spent, 'dead', outcome.reason or 'unknown', outcome.detail)
            break
        answer = read_answer(outcome.answer, len(pending), outcome.status or 0)
        result.unreadable += not answer.readable
        again: List[Tuple[dict, int, str]] = []  # (record, attempts, the row's reason: message)
        for index, (record, spent) in enumerate(zip(pending, attempts)):
            refusal = answer.refused.get(index)
            if not answer.readable:
                again.append((record, spent, ''))
            elif refusal is None:
                settle(record, spent, 'ack')
            elif refusal.retryable:
                again.append((record, spent, '%s: %s' % (refusal.reason, refusal.message)))
            else:
                settle(record, spent, 'dead', refusal.reason, refusal.message)
        if not again:
            break
        given_up = between_rounds(policy, round_, clock() - started, stop_event, sleep)
        if given_up is not None:
            for record, spent, why in again:
                if answer.readable:
                    settle(record, spent, 'dead', given_up, why)
                else:
                    settle(record, spent, 'dead', UNREADABLE_ANSWER, unreadable_detail(answer, outcome.answer,
                                                                                       given_up))
            break
        pending = [r for r, _, _ in again]
        attempts = [a for _, a, _ in again]
    return result


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
