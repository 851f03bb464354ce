"""PostBatchesToOIC: records grouped into batches of at most N KB and posted to OIC's batch trigger, on the same
caller, concurrency limit, throttling and retry policy as PostToOIC (transforms/oic/post.py); one acknowledgement or
dead letter per record, each naming the request that carried it."""

import itertools
import threading
import time
import uuid
from typing import Any, Callable, Iterable, List, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms import records as rec
from transforms.oic import post as per_record
from transforms.oic.batch import grouping, send
from transforms.oic.caller import Outcome, internal_error
from transforms.oic.rate_limit import GlobalRateLimit
from transforms.oic.sender.in_flight import AUTH_STOP_AFTER, METRICS_NAMESPACE, Finished, SenderFn
from transforms.oic.sender.settings import SenderSettings


class _BatchWork:
    """One unit of the batch path: a batch (a list of records), sent as send.send_batch does (the request, its
    retries, the rows sent again) into a send.BatchResult."""

    def __init__(self, settings: SenderSettings):
        self._settings = settings

    def run(self, batch: List[dict], caller: Any, stop: threading.Event) -> send.BatchResult:
        """The batch's requests; each record of a batch whose sending raised, and that was not settled before it
        raised, is dead-lettered as 'internal_error' (acknowledgements of earlier rounds stand)."""
        started = time.monotonic()
        result = send.BatchResult()
        group, rounds = send.new_batch_id(), itertools.count(1)
        try:
            send.send_batch(caller.call_body, batch, self._settings.payload_shape, self._settings.policy, stop,
                            new_id=lambda: rec.batch_round_id(group, next(rounds)), into=result)
        except BaseException as err:  # noqa: B036 (a pool thread: nothing above it would see the error)
            return self._unsettled_failed(batch, result, err, time.monotonic() - started)
        return result

    def failed(self, batch: List[dict], err: BaseException, latency_s: float) -> send.BatchResult:
        return self._unsettled_failed(batch, send.BatchResult(), err, latency_s)

    @staticmethod
    def _unsettled_failed(batch: List[dict], result: send.BatchResult, err: BaseException,
                          latency_s: float) -> send.BatchResult:
        failed = internal_error(err, latency_s)
        batch_id = 'internal-error-%s' % uuid.uuid4().hex[:12]
        unsettled = result.unsettled(batch)
        result.settled.extend(send.Settled(
            record=record, kind='dead', status=None, attempts=0, latency_s=failed.latency_s, batch_id=batch_id,
            batch_records=len(unsettled), batch_bytes=0, reason=failed.reason, detail=failed.detail)
            for record in unsettled)
        return result

    def records_in(self, batch: List[dict]) -> int:
        """A batch's records, each counted once as handed to the caller (the live progress line's "sent")."""
        return len(batch)

    def settled(self, result: send.BatchResult) -> Iterable[bool]:
        return [item.kind == 'ack' for item in result.settled]


class _BatchPostFn(SenderFn):
    """A batch (a list of records) -> an acknowledgement or a dead letter for each of its records.

    The per-record path's in-flight part (transforms/oic/sender/in_flight.py: worker state, caller pointed at the
    batch trigger, pool and bundle discipline); a pool thread runs one whole batch. Every record handed to the DoFn
    is settled before its bundle finishes; repeated authentication refusals stop the run as on the per-record path."""

    def __init__(self, settings: SenderSettings, caller_factory: Optional[Callable[[], per_record.Caller]] = None):
        super().__init__(settings, _BatchWork(settings), caller_factory)
        self.batches = Metrics.counter(METRICS_NAMESPACE, 'oic_batches')
        self.batch_records = Metrics.distribution(METRICS_NAMESPACE, 'oic_batch_records')
        self.batch_bytes = Metrics.distribution(METRICS_NAMESPACE, 'oic_batch_bytes')
        self.unreadable_answers = Metrics.counter(METRICS_NAMESPACE, 'oic_unreadable_answers')

    def _unit(self, batch):
        return list(batch)

    def _emit(self, finished: Finished):
        _, timestamp, window, result = finished
        sender, metrics = self._sender, self._sender.metrics
        self.batches.inc(len(result.requests))
        if result.unreadable:
            self.unreadable_answers.inc(result.unreadable)
        yield from sender.limit_samples(timestamp, window)
        sender.count_tokens()
        for outcome in result.requests:
            sender.settle_request(outcome, _refused)
        sizes = {}
        for item in result.settled:
            sizes[item.batch_id] = (item.batch_records, item.batch_bytes)
            if item.kind == 'ack':
                metrics.ack(item.latency_s)
                yield WindowedValue(send.ack_of(item), timestamp, (window,))
            else:
                metrics.dead_letter(item.reason)
                yield pvalue.TaggedOutput(per_record.DEAD_LETTER,
                                          WindowedValue(send.dead_letter_of(item), timestamp, (window,)))
        for records, size in sizes.values():
            self.batch_records.update(records)
            self.batch_bytes.update(size)


def _refused(outcome: Outcome) -> str:
    """Why the run stops after repeated authentication refusals on the batch trigger."""
    return ('OIC refused the credentials on the batch trigger (HTTP %d on %d requests in a row); check the '
            'credentials' % (outcome.status or 0, AUTH_STOP_AFTER))


class PostBatchesToOIC(per_record.PostToOIC):
    """Groups records into request bodies `{"records": [...]}` of at most `max_kb` KB (GroupByBytes; a record never
    waits longer than about `wait_s` in a stream) and posts each to the batch trigger at `url`; returns
    acknowledgements, `.dead_letter` and `.limits` as PostToOIC does (its settings and seams; a
    `rate_limit` grant is taken per batch, the request, and a `budget`'s posting keys are the grouping's `shards`).

    Main out:     the per-record acknowledgement plus {'batch_id': '…', 'batch_records': 212, 'batch_bytes': 51190},
                  the request that carried the record (a row sent again is in a later request of its own id: the
                  batch's id and the round, '3f2a….2', transforms.records.batch_round_id).
    .dead_letter: the one dead-letter shape plus batch_id and batch_records; reason = the whole request's (http_400,
                  attempts_exhausted, …) or the row's insertErrors reason (invalid, …), or attempts_exhausted /
                  deadline_exceeded for a row refused with a retryable reason until the policy gave up.
    """

    def __init__(self, settings: SenderSettings, max_kb: float, wait_s: float = grouping.DEFAULT_WAIT_S,
                 shards: int = grouping.DEFAULT_SHARDS, streaming: bool = False,
                 caller_factory: Optional[Callable[[], per_record.Caller]] = None,
                 rate_limit: Optional[GlobalRateLimit] = None):
        super().__init__(settings, caller_factory, rate_limit)
        self._fn = _BatchPostFn(settings, caller_factory)
        shards = self.budget.posting_keys or shards
        self._group = grouping.GroupByBytes(max_kb, wait_s, settings.payload_shape, shards, streaming)

    def expand(self, records: beam.PCollection):  # -> DoOutputsTuple
        batches = records | 'Group' >> self._group  # keyed: the budget's posting keys are its shards
        return self._requests(batches) | 'PostBatch' >> beam.ParDo(self._fn).with_outputs(
            per_record.DEAD_LETTER, per_record.LIMITS, main='acks')
