"""The OIC sender's in-flight part, shared by the per-record and the batch DoFn: the worker's resources (its share of
the budget, the throttling state, the caller), the pool that runs units of work, the bundle discipline, and the
metrics operators watch.

The bundle discipline: a DoFn hands each unit (a record, or a batch) to the pool; finished units are collected on the
bundle's thread (Beam does not see metrics from other threads) and emitted there; every unit handed in is settled
before finish_bundle returns. A unit's failure never raises (on Dataflow that would retry the whole bundle); only a
failure that stops the run does (repeated authentication refusals, a refused OAuth client, an untrusted certificate).
"""

import concurrent.futures
import datetime
import logging
import os
import queue
import socket
import threading
import time
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Protocol

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.components.adaptive_throttler import ThrottlingSignaler
from apache_beam.metrics import Metrics
from apache_beam.utils import shared
from apache_beam.utils.windowed_value import WindowedValue

from transforms import records as rec
from transforms.oic import budget as job_budget
from transforms.oic.caller import OICCaller, Outcome
from transforms.oic.flow_control import FlowControl
from transforms.oic.errors import OICAuthError
from transforms.oic.sender.settings import SenderSettings
from transforms.oic.throttle import WorkerState
from transforms.run_record import live_stats

LIMITS = 'limits'  # tagged output: the concurrency limit of a worker at each change
METRICS_NAMESPACE = 'oic'
AUTH_STOP_AFTER = 3  # Consecutive 401/403 answers (no success between) that stop the run.
DEAD_REASONS = ('http_400', 'http_401', 'http_403', 'http_404', 'http_413', 'attempts_exhausted',
                'deadline_exceeded', 'internal_error', 'unreadable_answer')
TOKEN_COUNTERS = ('token_fetches', 'token_fetch_failures', 'token_refreshes_ahead')

class Caller(Protocol):
    """What the sender needs of a caller: post one record until it is settled (never raising), and release
    resources. OICCaller is the real one; tests hand PostToOIC a fake through `caller_factory`."""

    def call(self, record: dict) -> Outcome: ...

    def close(self) -> None: ...


class Work(Protocol):
    """What one unit of work is, said by each DoFn: a unit (a record, or a batch) is run on a pool thread with the
    caller and comes back as a result (an Outcome, or a BatchResult); `failed` is the result of a run that raised;
    `records_in` how many records a unit carries and `settled` which of a result's records were acknowledged (the
    live counts)."""

    def run(self, unit: Any, caller: Any, stop: threading.Event) -> Any: ...

    def failed(self, unit: Any, err: BaseException, latency_s: float) -> Any: ...

    def records_in(self, unit: Any) -> int: ...

    def settled(self, result: Any) -> Iterable[bool]: ...


class Finished(NamedTuple):
    """A unit back from the pool, with the timestamp and window of the element that carried it."""
    unit: Any
    timestamp: Any
    window: Any
    result: Any


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


class SenderMetrics:
    """The Beam metrics of the OIC path (namespace 'oic'), updated on the bundle's thread."""

    def __init__(self):
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

    def request(self, outcome: Outcome) -> None:
        """A request's attempts, retries, overload answers and the time it was held back."""
        self.requests.inc(outcome.attempts)
        self.retries.inc(max(outcome.attempts - 1, 0))
        if outcome.overloads:
            self.overloaded.inc(outcome.overloads)
        if outcome.held:
            self.throttled.inc(outcome.held)
            self.throttled_ms.inc(int(outcome.held_s * 1000))
            self.signaler.signal_throttled(int(outcome.held_s))

    def ack(self, latency_s: float) -> None:
        self.successes.inc()
        self.latency.update(int(latency_s * 1000))

    def dead_letter(self, reason: str) -> None:
        self.dead.inc()
        counter = self.dead_by_reason.get(reason)
        if counter is None:
            counter = self.dead_by_reason[reason] = Metrics.counter(METRICS_NAMESPACE, 'oic_dead_lettered_' + reason)
        counter.inc()


class _SharedTokens:
    """Holds a worker's TokenProvider for Beam's Shared (which needs an object it can hold a weak reference to)."""

    def __init__(self, provider):
        self.provider = provider


class InFlight:
    """One DoFn instance's sender: made with the DoFn (picklable), then driven by its lifecycle (setup,
    start_bundle, hand, finish, teardown). `work` says what a unit is; the DoFn emits each Finished unit it gets back.
    """

    def __init__(self, settings: SenderSettings, work: Work,
                 caller_factory: Optional[Callable[[], Caller]] = None):
        self.settings, self._work, self._caller_factory = settings, work, caller_factory
        self._token_shared = shared.Shared()  # One token cache per worker process (all DoFn instances share it).
        budget = settings.budget  # the job's (transforms/oic/budget.py); setup() takes this process's share of it
        self.concurrency, self.max_rps = budget.total, budget.max_rps or None  # until setup() takes the share
        # One set of throttling state per worker process for this transform (Beam's Shared: released with the
        # last DoFn instance that holds it, unlike a module-level registry).
        self._shared = shared.Shared()
        self.metrics = SenderMetrics()

    def setup(self) -> None:
        # The job's budget is divided among the processes that can post (transforms/oic/budget.py), counted here,
        # on the worker: on Dataflow a VM runs one SDK process per vCPU (each its own WorkerState), and the launcher
        # may not know the machine type (Dataflow picks it when --machine_type is not given).
        settings = self.settings
        mode = settings.budget.mode
        part = job_budget.share(settings.budget, os.cpu_count())
        self.concurrency, self.max_rps = part.concurrency, part.max_rps
        if part.posting > 1:
            logging.info('OIC budget: up to %d processes post; this one keeps %s %d requests in flight and %s '
                         'requests/s', part.posting, 'at most' if mode == job_budget.ADAPTIVE else 'its share of',
                         self.concurrency, ('%.3g' % self.max_rps) if self.max_rps else 'no cap on')
        self.stop = threading.Event()
        self._auth = AuthWatch()
        self._tokens = None
        self.worker: Optional[WorkerState] = None
        self._worker_id = '%s:%d' % (socket.gethostname(), os.getpid())
        # What the caller is doing, counted as it happens, for the launcher's progress line (local runs).
        self.live = live_stats.stats_for(settings.live_dir, 'oic') if settings.live_dir else None
        if self.live is not None:
            self.live.set_limit(self.concurrency)
        self.caller: Any
        if self._caller_factory is not None:
            self.caller = self._caller_factory()
        else:
            oauth = settings.oauth
            if oauth is not None:
                self._tokens = self._token_shared.acquire(
                    lambda: _SharedTokens(oauth.provider(settings.ca_pem, settings.timeouts)))
            # The worker's limit holds for the whole process: a worker runs several DoFn instances (one per harness
            # thread), and they draw on one set of request slots and throttling signals. The thread pool is as big
            # as the ceiling, so the limit (not the pool) decides how many requests are in flight.
            self.worker = self._shared.acquire(lambda: WorkerState(self.concurrency, self.max_rps, mode))
            self.caller = OICCaller(settings.url, settings.username,
                                    None if oauth else settings.password_ref.read(), self.concurrency,
                                    settings.timeouts, FlowControl(self.worker.gate(), settings.policy),
                                    settings.payload_shape, self.stop, auth=self._tokens.provider if self._tokens else None,
                                    ca_pem=settings.ca_pem, observer=self.live)
        self._executor = concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix='oic-post')

    def start_bundle(self) -> None:
        self._in_flight = 0
        self._done: queue.SimpleQueue = queue.SimpleQueue()

    def hand(self, unit: Any, timestamp: Any, window: Any) -> Iterator[Finished]:
        """Hands `unit` to the pool; yields the units that finished meanwhile (to be emitted).

        Up to twice the worker's current limit (`concurrency` at most) units are handed to the pool, so that a thread
        never idles waiting for this one to hand it the next, while few wait for a slot of the limit (their wait
        counts in their acknowledgement latency). The limit bounds the requests in flight."""
        while self._in_flight >= self._buffered():
            yield self._take(self._done.get())
        self._executor.submit(self._run, unit, timestamp, window)
        self._in_flight += 1
        if self.live is not None:
            self.live.handed(self._work.records_in(unit))
        while True:
            try:
                finished = self._done.get_nowait()
            except queue.Empty:
                return
            yield self._take(finished)

    def finish(self) -> Iterator[Finished]:
        """Yields every unit still in flight as it finishes (finish_bundle: none is left behind)."""
        while self._in_flight:
            yield self._take(self._done.get())
        self.count_tokens()

    def teardown(self) -> None:
        stop = getattr(self, 'stop', None)
        if stop is not None:
            stop.set()
        executor = getattr(self, '_executor', None)
        if executor:
            executor.shutdown(wait=True, cancel_futures=True)
        caller = getattr(self, 'caller', None)
        if caller:
            caller.close()

    def _buffered(self) -> int:
        """How many units this DoFn instance keeps in its pool: twice the worker's limit, at most twice the
        ceiling (the pool's threads)."""
        limit = self.worker.limiter.limit if self.worker is not None else self.concurrency
        return 2 * min(self.concurrency, max(1, limit))

    def _run(self, unit: Any, timestamp: Any, window: Any) -> None:
        """On a pool thread: one unit's whole work; hands the result back to the bundle's thread, whatever raises.
        The work should never raise, but an exception here would stay in the pool's Future, unseen, and the bundle
        would wait for this unit for ever: the work's `failed` result (dead letters) is handed back instead."""
        started = time.monotonic()
        try:
            result = self._work.run(unit, self.caller, self.stop)
        except BaseException as err:  # noqa: B036 (a pool thread: nothing above it would see the error)
            result = self._work.failed(unit, err, time.monotonic() - started)
        try:
            if self.live is not None:
                for acked in self._work.settled(result):
                    self.live.settled(acked)
        finally:
            self._done.put(Finished(unit, timestamp, window, result))

    def _take(self, finished: Finished) -> Finished:
        self._in_flight -= 1
        return finished

    def settle_request(self, outcome: Outcome, refused: Callable[[Outcome], str]) -> None:
        """Counts one request's outcome; raises what stops the run: the outcome's own error (a refused OAuth client,
        an untrusted certificate: no record can get through), or OICAuthError(`refused(outcome)`) after
        AUTH_STOP_AFTER authentication refusals in a row."""
        self.metrics.request(outcome)
        if outcome.kind == 'stop':
            self.stop.set()
            assert outcome.error is not None
            raise outcome.error
        if self._auth.seen(outcome.kind):
            self.stop.set()
            raise OICAuthError(refused(outcome))

    def count_tokens(self) -> None:
        """Adds the worker's token fetches since the last look to this DoFn's counters (on the bundle's thread)."""
        if self._tokens is not None:
            for name, value in self._tokens.provider.take_counts().items():
                if value:
                    self.metrics.token_counters[name].inc(value)

    def limit_samples(self, timestamp: Any, window: Any) -> Iterator[pvalue.TaggedOutput]:
        """The worker's limit: a gauge and a counter of its changes, and each change as a `limits` sample."""
        if self.worker is None:
            return
        metrics = self.metrics
        metrics.limit_gauge.set(self.worker.limiter.limit)
        if self.live is not None:  # the progress line shows the worker's current limit
            self.live.set_limit(self.worker.limiter.limit)
        changes = self.worker.take_changes()
        if changes:
            metrics.limit_changes.inc(changes)
        paced = self.worker.take_paced_ms()
        if paced:
            metrics.paced_ms.inc(paced)
        for when, limit in self.worker.take_history():
            moment = datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc)
            sample = {'path': 'oic', 'worker': self._worker_id, 'time': rec.format_timestamp(moment),
                      'limit': limit, 'mode': self.worker.mode, 'ceiling': self.worker.ceiling}
            yield pvalue.TaggedOutput(LIMITS, WindowedValue(sample, timestamp, (window,)))


class SenderFn(beam.DoFn):
    """The base of the OIC DoFns: the lifecycle handed to an InFlight of `work`. A subclass says how a finished
    unit is emitted (`_emit`: main output, dead letters, its metrics) and, if it must, what unit an element is."""

    def __init__(self, settings: SenderSettings, work: Work, caller_factory: Optional[Callable[[], Caller]] = None):
        self._settings = settings
        self._sender = InFlight(settings, work, caller_factory)

    def setup(self):
        self._sender.setup()

    def start_bundle(self):
        self._sender.start_bundle()

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        for finished in self._sender.hand(self._unit(element), timestamp, window):
            yield from self._emit(finished)

    def finish_bundle(self):
        for finished in self._sender.finish():
            yield from self._emit(finished)

    def teardown(self):
        self._sender.teardown()

    def _unit(self, element: Any) -> Any:
        """The unit of work an element is (itself, by default)."""
        return element

    def _emit(self, finished: Finished) -> Iterator[Any]:
        raise NotImplementedError
