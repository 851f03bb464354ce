"""The OIC branch's caller: posts each record to the OIC REST trigger (Basic Auth or OAuth), many requests in flight."""

import concurrent.futures
import datetime
import logging
import os
import queue
import socket
import threading
import time
from typing import Callable, Optional, Protocol

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.components.adaptive_throttler import ThrottlingSignaler
from apache_beam.metrics import Metrics
from apache_beam.transforms.util import ReshufflePerKey
from apache_beam.utils import shared
from apache_beam.utils.windowed_value import WindowedValue

from transforms.run_record import live_stats
from transforms import records as rec
from transforms.oic.errors import OICAuthError, OICStopError  # noqa: F401 (OICAuthError: part of this module's API)
from transforms.oic.caller import OICCaller, Outcome, internal_error
from transforms.oic.sender.settings import SenderSettings
from transforms.oic import budget as job_budget
from transforms.oic.batch.grouping import shard_of
from transforms.oic.rate_limit import GlobalRateLimit, TakeGlobalBudget
from transforms.oic.throttle import WorkerState

DEAD_LETTER = 'dead_letter'
LIMITS = 'limits'  # tagged output: the concurrency limit of a worker at each change
# --oic_concurrency_mode's and --oic_concurrency's defaults, at home in transforms/oic/budget.py (named here for
# pipeline/options.py).
DEFAULT_CONCURRENCY_MODE, DEFAULT_CONCURRENCY = job_budget.DEFAULT_MODE, job_budget.DEFAULT_TOTAL
METRICS_NAMESPACE = 'oic'
AUTH_STOP_AFTER = 3  # Consecutive 401/403 answers (no success between) that stop the run.
DEAD_REASONS = ('http_400', 'http_401', 'http_403', 'http_404', 'http_413', 'attempts_exhausted',
                'deadline_exceeded', 'internal_error', 'unreadable_answer')
TOKEN_COUNTERS = ('token_fetches', 'token_fetch_failures', 'token_refreshes_ahead')


class Caller(Protocol):
    """What _PostFn needs of a caller: post one record until it is settled (never raising), and release resources.
    OICCaller is the real one; tests hand PostToOIC a fake through `caller_factory`."""

    def call(self, record: dict) -> Outcome: ...

    def close(self) -> None: ...


def ack(record: dict, status: int, attempts: int, latency_s: float, path: str = 'oic') -> dict:
    """The acknowledgement of a record OIC accepted (the OIC path's main output)."""
    return {
        'path': path, 'record_id': record.get('record_id'), 'status': status, 'attempts': attempts,
        'latency_ms': round(latency_s * 1000, 3), 'event_time': record.get('event_time'),
        'ack_time': rec.format_timestamp(rec.utc_now()),
    }


class AuthWatch:
    """Counts consecutive authentication refusals; a success resets the count. Thread-safe."""

    def __init__(self, stop_after: int = AUTH_STOP_AFTER):
        self._stop_after, self._run, self._lock = stop_after, 0, threading.Lock()

    def seen(self, outcome_kind: str) -> bool:
        """Records an outcome ('ack', 'dead' or 'auth'); True when the run should stop."""
        with self._lock:
            if outcome_kind == 'auth':
                self._run += 1
            elif outcome_kind == 'ack':
                self._run = 0
            return self._run >= self._stop_after


class _PostFn(beam.DoFn):
    """record -> acknowledgement (main) or dead letter (tagged); up to `concurrency` requests in flight.

    Every record handed to the DoFn is acknowledged or dead-lettered before its bundle finishes. A record's failure
    never raises (on Dataflow that would retry the whole bundle); only repeated authentication refusals do.
    Metrics are updated here, on the bundle's thread: Beam does not see metrics from other threads.
    """

    def __init__(self, settings: SenderSettings, caller_factory=None):
        self._settings, self._caller_factory = settings, caller_factory
        self._token_shared = shared.Shared()  # One token cache per worker process (all DoFn instances share it).
        budget = settings.budget  # the job's (transforms/oic/budget.py); setup() takes this process's share of it
        self._concurrency, self._max_rps = budget.total, budget.max_rps or None  # until setup() takes the share
        # One set of throttling state per worker process for this transform (Beam's Shared: released with the
        # last DoFn instance that holds it, unlike a module-level registry).
        self._shared = shared.Shared()
        counter = lambda name: Metrics.counter(METRICS_NAMESPACE, 'oic_' + name)  # noqa: E731
        self.requests, self.successes, self.retries = counter('requests'), counter('successes'), counter('retries')
        self.throttled, self.throttled_ms = counter('throttled'), counter('throttled_ms')
        self.overloaded, self.dead = counter('overload_answers'), counter('dead_lettered')
        self.dead_by_reason = {reason: counter('dead_lettered_' + reason) for reason in DEAD_REASONS}
        self.latency = Metrics.distribution(METRICS_NAMESPACE, 'oic_latency_ms')
        self.limit_gauge = Metrics.gauge(METRICS_NAMESPACE, 'oic_concurrency_limit')
        self.limit_changes = counter('concurrency_limit_changes')
        self.paced_ms = counter('paced_ms')
        self.signaler = ThrottlingSignaler(METRICS_NAMESPACE)
        self.token_counters = {name: counter(name) for name in TOKEN_COUNTERS}

    def setup(self):
        # The job's budget is divided among the processes that can post (transforms/oic/budget.py), counted here,
        # on the worker: on Dataflow a VM runs one SDK process per vCPU (each its own WorkerState), and the launcher
        # may not know the machine type (Dataflow picks it when --machine_type is not given).
        part = job_budget.share(self._settings.budget, os.cpu_count())
        self._concurrency, self._max_rps = part.concurrency, part.max_rps
        if part.posting > 1:
            logging.info('OIC budget: up to %d processes post; this one keeps %s %d requests in flight and %s '
                         'requests/s', part.posting,
                         'at most' if self._settings.budget.mode == 'adaptive' else 'its share of',
                         self._concurrency, ('%.3g' % self._max_rps) if self._max_rps else 'no cap on')
        self._stop = threading.Event()
        self._auth = AuthWatch()
        self._tokens = None
        self._worker = None
        self._worker_id = '%s:%d' % (socket.gethostname(), os.getpid())
        # What the caller is doing, counted as it happens, for the launcher's progress line (local runs).
        live_dir = self._settings.live_dir
        self._live = live_stats.stats_for(live_dir, 'oic') if live_dir else None
        if self._live is not None:
            self._live.set_limit(self._concurrency)
        if self._caller_factory is not None:
            self._caller = self._caller_factory()
        else:
            settings = self._settings
            oauth = settings.oauth
            if oauth is not None:
                self._tokens = self._token_shared.acquire(
                    lambda: _SharedTokens(oauth.provider(settings.ca_pem, settings.timeouts)))
            # The worker's limit holds for the whole process: a worker runs several DoFn instances (one per harness
            # thread), and they draw on one set of request slots and throttling signals. The thread pool is as big
            # as the ceiling, so the limit (not the pool) decides how many requests are in flight.
            self._worker = self._shared.acquire(
                lambda: WorkerState(self._concurrency, self._max_rps, settings.budget.mode))
            self._caller = OICCaller(settings.url, settings.username,
                                     None if oauth else settings.password_ref.read(), self._concurrency,
                                     settings.timeouts, settings.policy, self._worker.gate(), settings.payload_shape,
                                     self._stop, auth=self._tokens.provider if self._tokens else None,
                                     ca_pem=settings.ca_pem, observer=self._live)
        self._executor = concurrent.futures.ThreadPoolExecutor(self._concurrency, thread_name_prefix='oic-post')

    def start_bundle(self):
        self._in_flight = 0
        self._done: queue.SimpleQueue = queue.SimpleQueue()

    def process(self, record, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        # Up to twice the worker's current limit (`concurrency` at most) records are handed to the pool, so that a
        # thread never idles waiting for this one to hand it the next record, while few wait for a slot of the limit
        # (their wait counts in their acknowledgement latency). The limit bounds the requests in flight.
        while self._in_flight >= self._buffered():
            yield from self._emit(self._done.get())
        self._executor.submit(self._run, record, timestamp, window)
        self._in_flight += 1
        if self._live is not None:
            self._live.handed(self._records_in(record))
        while True:
            try:
                finished = self._done.get_nowait()
            except queue.Empty:
                return
            yield from self._emit(finished)

    @staticmethod
    def _records_in(element) -> int:
        """How many records one element of this DoFn carries (for the live counts): one here."""
        return 1

    def _buffered(self) -> int:
        """How many records this DoFn instance keeps in its pool: twice the worker's limit, at most twice the
        ceiling (the pool's threads)."""
        limit = self._worker.limiter.limit if self._worker is not None else self._concurrency
        return 2 * min(self._concurrency, max(1, limit))

    def finish_bundle(self):
        while self._in_flight:
            yield from self._emit(self._done.get())
        self._count_tokens()

    def teardown(self):
        stop = getattr(self, '_stop', None)
        if stop is not None:
            stop.set()
        executor = getattr(self, '_executor', None)
        if executor:
            executor.shutdown(wait=True, cancel_futures=True)
        caller = getattr(self, '_caller', None)
        if caller:
            caller.close()

    def _run(self, record, timestamp, window):
        """On a pool thread: one record's whole call; hands the outcome back to the bundle's thread, whatever
        raises. A caller should never raise, but an exception here would stay in the pool's Future, unseen, and
        the bundle would wait for this record for ever: it is dead-lettered as 'internal_error' instead."""
        started = time.monotonic()
        try:
            outcome = self._caller.call(record)
            if not isinstance(outcome, Outcome):
                raise TypeError('the caller returned %s, not an Outcome' % type(outcome).__name__)
        except BaseException as err:  # noqa: B036 (a pool thread: nothing above it would see the error)
            outcome = internal_error(err, time.monotonic() - started)
        try:
            if self._live is not None:
                self._live.settled(outcome.kind == 'ack')
        finally:
            self._done.put((record, timestamp, window, outcome))

    def _emit(self, finished):
        """Outputs one finished record as an acknowledgement or a dead letter, and counts it."""
        record, timestamp, window, outcome = finished
        self._in_flight -= 1
        self._count(outcome)
        yield from self._limit_samples(timestamp, window)
        self._count_tokens()
        if outcome.kind == 'stop':  # A refused OAuth client or an untrusted certificate: no record can get through.
            self._stop.set()
            raise outcome.error
        if self._auth.seen(outcome.kind):
            self._stop.set()
            if self._settings.oauth is not None:
                raise OICAuthError('OIC refused the credentials: HTTP %d to new tokens of client %r on %d requests in '
                                   'a row; check that the confidential app has the ServiceInvoker role'
                                   % (outcome.status, self._settings.oauth.client_id, AUTH_STOP_AFTER))
            raise OICAuthError('OIC refused the credentials of user %r (HTTP %d on %d requests in a row); check '
                               '--oic_username and the password'
                               % (self._settings.username, outcome.status, AUTH_STOP_AFTER))
        if outcome.kind == 'ack':
            value = ack(record, outcome.status, outcome.attempts, outcome.latency_s)
            yield WindowedValue(value, timestamp, (window,))
        else:
            value = rec.make_dead_letter('oic', record, outcome.reason, status=outcome.status,
                                         attempts=outcome.attempts, detail=outcome.detail)
            yield pvalue.TaggedOutput(DEAD_LETTER, WindowedValue(value, timestamp, (window,)))

    def _count_tokens(self):
        """Adds the worker's token fetches since the last look to this DoFn's counters (on the bundle's thread)."""
        if self._tokens is not None:
            for name, value in self._tokens.provider.take_counts().items():
                if value:
                    self.token_counters[name].inc(value)

    def _limit_samples(self, timestamp, window):
        """The worker's limit: a gauge and a counter of its changes, and each change as a `limits` sample."""
        if self._worker is None:
            return
        self.limit_gauge.set(self._worker.limiter.limit)
        if self._live is not None:  # the progress line shows the worker's current limit
            self._live.set_limit(self._worker.limiter.limit)
        changes = self._worker.take_changes()
        if changes:
            self.limit_changes.inc(changes)
        paced = self._worker.take_paced_ms()
        if paced:
            self.paced_ms.inc(paced)
        for when, limit in self._worker.take_history():
            moment = datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc)
            sample = {'path': 'oic', 'worker': self._worker_id, 'time': rec.format_timestamp(moment),
                      'limit': limit, 'mode': self._worker.mode, 'ceiling': self._worker.ceiling}
            yield pvalue.TaggedOutput(LIMITS, WindowedValue(sample, timestamp, (window,)))

    def _count(self, outcome):
        self._count_request(outcome)
        if outcome.kind == 'ack':
            self._count_ack(outcome.latency_s)
        else:
            self._count_dead(outcome.reason)

    def _count_request(self, outcome):
        """A request's attempts, retries, overload answers and the time it was held back."""
        self.requests.inc(outcome.attempts)
        self.retries.inc(max(outcome.attempts - 1, 0))
        if outcome.overloads:
            self.overloaded.inc(outcome.overloads)
        if outcome.held:
            self.throttled.inc(outcome.held)
            self.throttled_ms.inc(int(outcome.held_s * 1000))
            self.signaler.signal_throttled(int(outcome.held_s))

    def _count_ack(self, latency_s):
        self.successes.inc()
        self.latency.update(int(latency_s * 1000))

    def _count_dead(self, reason):
        self.dead.inc()
        counter = self.dead_by_reason.get(reason)
        if counter is None:
            counter = self.dead_by_reason[reason] = Metrics.counter(METRICS_NAMESPACE, 'oic_dead_lettered_' + reason)
        counter.inc()


class _SharedTokens:
    """Holds a worker's TokenProvider for Beam's Shared (which needs an object it can hold a weak reference to)."""

    def __init__(self, provider):
        self.provider = provider


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
        self._fn = _PostFn(settings, caller_factory)

    def _requests(self, items: beam.PCollection) -> beam.PCollection:
        """`items` (each one request: a record, or a batch) once the rate-limit service granted each (if any)."""
        return items | 'GlobalBudget' >> TakeGlobalBudget(self._rate_limit) if self._rate_limit else items

    def expand(self, records: beam.PCollection):  # -> DoOutputsTuple (not annotated: Beam would read it as a type hint)
        if self._spread:
            assert self.budget.posting_keys is not None  # checked in __init__
            records = records | 'SpreadOverKeys' >> SpreadOverKeys(self.budget.posting_keys)
        return self._requests(records) | 'Post' >> beam.ParDo(self._fn).with_outputs(
            DEAD_LETTER, LIMITS, main='acks')
