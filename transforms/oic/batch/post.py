"""PostBatchesToOIC: records grouped into batches of at most N KB and posted to OIC's batch trigger, on the same
caller, concurrency limit, throttling and retry policy as PostToOIC (transforms/oic/post.py); one acknowledgement or
dead letter per record, each naming the request that carried it."""

import itertools
import time
import uuid
from typing import Any, Callable, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from transforms import records as rec
from transforms.oic import post as per_record
from transforms.oic.batch import grouping, send
from transforms.oic.caller import internal_error
from transforms.oic.errors import OICAuthError
from transforms.oic.rate_limit import GlobalRateLimit
from transforms.oic.sender.settings import SenderSettings


class _BatchPostFn(per_record._PostFn):
    """A batch (a list of records) -> an acknowledgement or a dead letter for each of its records.

    _PostFn's worker state, caller (pointed at the batch trigger), pool and bundle discipline; a pool thread runs one
    whole batch (send.send_batch: the request, its retries, the rows sent again). Every record handed to the DoFn is
    settled before its bundle finishes; repeated authentication refusals stop the run as on the per-record path."""

    batches: Any
    batch_records: Any
    batch_bytes: Any
    unreadable_answers: Any

    @classmethod
    def wrapping(cls, fn: per_record._PostFn) -> '_BatchPostFn':
        """The batch form of a configured _PostFn (same settings and metrics)."""
        batch_fn = cls.__new__(cls)
        batch_fn.__dict__.update(fn.__dict__)
        batch_fn.batches = Metrics.counter(per_record.METRICS_NAMESPACE, 'oic_batches')
        batch_fn.batch_records = Metrics.distribution(per_record.METRICS_NAMESPACE, 'oic_batch_records')
        batch_fn.batch_bytes = Metrics.distribution(per_record.METRICS_NAMESPACE, 'oic_batch_bytes')
        batch_fn.unreadable_answers = Metrics.counter(per_record.METRICS_NAMESPACE, 'oic_unreadable_answers')
        return batch_fn

    def process(self, batch, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        yield from super().process(list(batch), timestamp, window)

    @staticmethod
    def _records_in(element) -> int:
        """A batch's records, each counted once as handed to the caller (the live progress line's "sent")."""
        return len(element)

    def _run(self, batch, timestamp, window):
        """On a pool thread: one batch's requests; hands the results back to the bundle's thread, whatever raises
        (as _PostFn._run: each record of a batch whose sending raised, and that was not settled before it raised,
        is dead-lettered as 'internal_error'; acknowledgements of earlier rounds stand)."""
        started = time.monotonic()
        result = send.BatchResult()
        group, rounds = send.new_batch_id(), itertools.count(1)
        try:
            send.send_batch(self._caller.call_body, batch, self._settings.payload_shape, self._settings.policy,
                            self._stop, new_id=lambda: rec.batch_round_id(group, next(rounds)), into=result)
        except BaseException as err:  # noqa: B036 (a pool thread: nothing above it would see the error)
            failed = internal_error(err, time.monotonic() - started)
            batch_id = 'internal-error-%s' % uuid.uuid4().hex[:12]
            unsettled = result.unsettled(batch)
            result.settled.extend(send.Settled(
                record=record, kind='dead', status=None, attempts=0, latency_s=failed.latency_s, batch_id=batch_id,
                batch_records=len(unsettled), batch_bytes=0, reason=failed.reason, detail=failed.detail)
                for record in unsettled)
        try:
            if self._live is not None:
                for item in result.settled:
                    self._live.settled(item.kind == 'ack')
        finally:
            self._done.put((batch, timestamp, window, result))

    def _emit(self, finished):
        batch, timestamp, window, result = finished
        self._in_flight -= 1
        self.batches.inc(len(result.requests))
        if result.unreadable:
            self.unreadable_answers.inc(result.unreadable)
        yield from self._limit_samples(timestamp, window)
        self._count_tokens()
        for outcome in result.requests:
            self._count_request(outcome)
            if outcome.kind == 'stop':
                self._stop.set()
                raise outcome.error
            if self._auth.seen(outcome.kind):
                self._stop.set()
                raise OICAuthError('OIC refused the credentials on the batch trigger (HTTP %d on %d requests in a '
                                   'row); check the credentials' % (outcome.status, per_record.AUTH_STOP_AFTER))
        sizes = {}
        for item in result.settled:
            sizes[item.batch_id] = (item.batch_records, item.batch_bytes)
            if item.kind == 'ack':
                self._count_ack(item.latency_s)
                yield WindowedValue(send.ack_of(item), timestamp, (window,))
            else:
                self._count_dead(item.reason)
                yield pvalue.TaggedOutput(per_record.DEAD_LETTER,
                                          WindowedValue(send.dead_letter_of(item), timestamp, (window,)))
        for records, size in sizes.values():
            self.batch_records.update(records)
            self.batch_bytes.update(size)


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
        self._fn = _BatchPostFn.wrapping(self._fn)
        shards = self.budget.posting_keys or shards
        self._group = grouping.GroupByBytes(max_kb, wait_s, settings.payload_shape, shards, streaming)

    def expand(self, records: beam.PCollection):  # -> DoOutputsTuple
        batches = records | 'Group' >> self._group  # keyed: the budget's posting keys are its shards
        return self._requests(batches) | 'PostBatch' >> beam.ParDo(self._fn).with_outputs(
            per_record.DEAD_LETTER, per_record.LIMITS, main='acks')
