"""The OIC branch's caller: posts each record to the OIC REST trigger (Basic Auth or OAuth), many requests in flight."""

import threading
from typing import Callable, Iterable, Optional

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.util import ReshufflePerKey
from apache_beam.utils.windowed_value import WindowedValue

from transforms import records as rec
from transforms.oic.errors import OICAuthError, OICStopError  # noqa: F401 (part of this module's API)
from transforms.oic.caller import Outcome, internal_error
from transforms.oic.sender.in_flight import (  # noqa: F401 (AuthWatch, LIMITS, METRICS_NAMESPACE: this module's API)
    AUTH_STOP_AFTER, LIMITS, METRICS_NAMESPACE, AuthWatch, Caller, Finished, SenderFn)
from transforms.oic.sender.settings import SenderSettings
from transforms.oic.batch.grouping import shard_of
from transforms.oic.rate_limit import GlobalRateLimit, TakeGlobalBudget

DEAD_LETTER = 'dead_letter'


def ack(record: dict, status: int, attempts: int, latency_s: float, path: str = 'oic') -> dict:
    """The acknowledgement of a record OIC accepted (the OIC path's main output)."""
    return {
        'path': path, 'record_id': record.get('record_id'), 'status': status, 'attempts': attempts,
        'latency_ms': round(latency_s * 1000, 3), 'event_time': record.get('event_time'),
        'ack_time': rec.format_timestamp(rec.utc_now()),
    }


class _RecordWork:
    """One unit of the per-record path: a record, posted until it is settled (the caller's Outcome)."""

    def run(self, record: dict, caller: Caller, stop: threading.Event) -> Outcome:
        outcome = caller.call(record)
        if not isinstance(outcome, Outcome):
            raise TypeError('the caller returned %s, not an Outcome' % type(outcome).__name__)
        return outcome

    def failed(self, record: dict, err: BaseException, latency_s: float) -> Outcome:
        """A call that raised: the record is dead-lettered as 'internal_error'."""
        return internal_error(err, latency_s)

    def records_in(self, record: dict) -> int:
        return 1

    def settled(self, outcome: Outcome) -> Iterable[bool]:
        return (outcome.kind == 'ack',)


class _PostFn(SenderFn):
    """record -> acknowledgement (main) or dead letter (tagged); up to `concurrency` requests in flight.

    The in-flight part (transforms/oic/sender/in_flight.py) runs each record's call on its pool and hands the
    outcomes back on the bundle's thread; every record handed to the DoFn is acknowledged or dead-lettered before its
    bundle finishes. A record's failure never raises (on Dataflow that would retry the whole bundle); only repeated
    authentication refusals do.
    """

    def __init__(self, settings: SenderSettings, caller_factory: Optional[Callable[[], Caller]] = None):
        super().__init__(settings, _RecordWork(), caller_factory)

    def _emit(self, finished: Finished):
        """Outputs one finished record as an acknowledgement or a dead letter, and counts it."""
        record, timestamp, window, outcome = finished
        sender, metrics = self._sender, self._sender.metrics
        if outcome.kind == 'ack':
            metrics.ack(outcome.latency_s)
        else:
            metrics.dead_letter(outcome.reason)
        yield from sender.limit_samples(timestamp, window)
        sender.count_tokens()
        sender.settle_request(outcome, self._refused)
        if outcome.kind == 'ack':
            value = ack(record, outcome.status, outcome.attempts, outcome.latency_s)
            yield WindowedValue(value, timestamp, (window,))
        else:
            value = rec.make_dead_letter('oic', record, outcome.reason, status=outcome.status,
                                         attempts=outcome.attempts, detail=outcome.detail)
            yield pvalue.TaggedOutput(DEAD_LETTER, WindowedValue(value, timestamp, (window,)))

    def _refused(self, outcome: Outcome) -> str:
        """Why the run stops after repeated authentication refusals (never the secret)."""
        oauth = self._settings.oauth
        if oauth is not None:
            return ('OIC refused the credentials: HTTP %d to new tokens of client %r on %d requests in a row; check '
                    'that the confidential app has the ServiceInvoker role'
                    % (outcome.status or 0, oauth.client_id, AUTH_STOP_AFTER))
        return ('OIC refused the credentials of user %r (HTTP %d on %d requests in a row); check --oic_username and '
                'the password' % (self._settings.username, outcome.status or 0, AUTH_STOP_AFTER))


class SpreadOverKeys(beam.PTransform):
    """Records -> the same records, each moved to the worker process that holds its key (crc32 of its record_id,
    modulo `keys`). A runner processes a key in one process at a time, so the steps fused after this one (the post)
    run in at most `keys` processes at once: the posting processes the job's budget is divided among.

    Element in and out: a record dict, unchanged (its timestamp and window kept).
    """

    def __init__(self, keys: int):
        super().__init__()
        self.keys = max(1, keys)

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        keys = self.keys
        return (records
                | 'Key' >> beam.Map(lambda record: (shard_of(record, keys), record))
                | 'ToKeyOwner' >> ReshufflePerKey()
                | 'Unkey' >> beam.Values())


class PostToOIC(beam.PTransform):
    """Posts records to the OIC REST trigger; returns acknowledgements, `.dead_letter` and `.limits`.

    Many requests in flight per worker process over a keep-alive pool, as many as its concurrency limit allows:
    adaptive (default; found from OIC's answers, up to its share of the budget's total) or fixed (its share of the
    total), the share being the job's total divided among the processes that post (`settings.budget`); retries with
    backoff for retryable outcomes (`settings.policy`), overload answers not counted against max_attempts; the
    record's record_id is the same on every attempt.

    Element in:  a valid record dict.
    Main out:    {'path': 'oic', 'record_id': '…', 'status': 200, 'attempts': 1, 'latency_ms': 41.2,
                  'event_time': '…Z', 'ack_time': '…Z'}
    .dead_letter: {'path': 'oic', 'record_id': '…', 'reason': 'http_400', 'status': 400, 'attempts': 1,
                   'detail': '…', 'record': {…}, 'error_time': '…Z'}
    .limits:      {'path': 'oic', 'worker': 'host:pid', 'time': '…Z', 'limit': 24.0, 'mode': 'adaptive',
                   'ceiling': 100}  (one per change of a worker's limit)
    """

    def __init__(self, settings: SenderSettings, caller_factory: Optional[Callable[[], Caller]] = None,
                 rate_limit: Optional[GlobalRateLimit] = None, spread: bool = False):
        """`settings`: where and how to post (SenderSettings; `resolve` builds it from flag-shaped values).
        `caller_factory` (picklable, called once per DoFn instance in setup()) replaces the HTTP caller, e.g. with a
        fake in tests; the URL rule still applies. `rate_limit`: each request first takes a grant of the job-wide
        Envoy rate-limit service (TakeGlobalBudget; a request = a record here, a batch in PostBatchesToOIC).
        `spread`: records are first moved to the processes of the budget's posting keys (SpreadOverKeys), so that no
        more processes post than it was divided among."""
        super().__init__()
        if spread and settings.budget.posting_keys is None:
            raise ValueError('spread needs a budget with posting keys')
        self.settings, self.budget, self._spread, self._rate_limit = settings, settings.budget, spread, rate_limit
        self._fn: beam.DoFn = _PostFn(settings, caller_factory)

    def _requests(self, items: beam.PCollection) -> beam.PCollection:
        """`items` (each one request: a record, or a batch) once the rate-limit service granted each (if any)."""
        return items | 'GlobalBudget' >> TakeGlobalBudget(self._rate_limit) if self._rate_limit else items

    def expand(self, records: beam.PCollection):  # -> DoOutputsTuple (not annotated: Beam would read it as a type hint)
        if self._spread:
            assert self.budget.posting_keys is not None  # checked in __init__
            records = records | 'SpreadOverKeys' >> SpreadOverKeys(self.budget.posting_keys)
        return self._requests(records) | 'Post' >> beam.ParDo(self._fn).with_outputs(
            DEAD_LETTER, LIMITS, main='acks')
