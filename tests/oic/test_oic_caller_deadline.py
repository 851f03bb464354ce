"""OICCaller's edges without a server (issue 22): a record's own deadline is not back-pressure, a record with too
little deadline left is not sent, the limiter's RTT sample is the request's own time (not a token fetch before it),
and a caller that raises never loses a record nor hangs its bundle."""

import threading
import time

import apache_beam as beam
import pytest
import urllib3
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms import records as rec
from transforms.oic import concurrency_limit as cl
from transforms.oic.caller import Attempt, OICCaller
from transforms.oic.flow_control import FlowControl
from transforms.oic.post import PostToOIC
from transforms.oic.sender.settings import resolve
from transforms.oic.retry import RetryPolicy
from transforms.oic.throttle import Gate, WorkerState

URL = 'http://127.0.0.1:9/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'
RECORD = rec.make_record(3, 'deadline-run', 0)


class _Response:
    status, data, headers = 200, b'', {}


class SlowPool:
    """Stands in for urllib3's pool: answers 200 after `latency` seconds, or raises ReadTimeoutError once the read
    timeout it was given runs out first (as urllib3 does). Records every timeout it was given."""

    def __init__(self, latency):
        self.latency, self.requests, self.read_timeouts = latency, 0, []

    def urlopen(self, method, path, body=None, headers=None, timeout=None):
        self.requests += 1
        self.read_timeouts.append(timeout.read_timeout)
        if timeout.read_timeout < self.latency:
            time.sleep(timeout.read_timeout)
            raise urllib3.exceptions.ReadTimeoutError(self, path, 'Read timed out.')
        time.sleep(self.latency)
        return _Response()

    def close(self):
        pass


def caller_with(pool, gate, deadline_s, read_timeout=30.0, **kwargs):
    caller = OICCaller(URL, 'u', 'p', 4, (5.0, read_timeout),
                       FlowControl(gate, RetryPolicy(max_attempts=5, deadline_s=deadline_s, initial_backoff_s=0.001,
                                                     max_backoff_s=0.002)), **kwargs)
    caller.pool = pool
    return caller


def test_a_timeout_cut_by_the_records_own_deadline_is_not_back_pressure():
    # OIC answers in 1 s, well within the 30 s read timeout; the record has 0.4 s left, so its read timeout is cut
    # to that and it times out. That says nothing about OIC's capacity: the limit must not be cut (it was: a
    # TIMEOUT cut a limit of 1 to a paced 0.5, and under a backlog every late slot cut it again).
    state = WorkerState(8)
    pool = SlowPool(latency=1.0)
    outcome = caller_with(pool, state.gate(), deadline_s=0.4, min_attempt_s=0.1).call(RECORD)
    assert pool.requests == 1 and pool.read_timeouts[0] < 0.41
    assert outcome.kind == 'dead' and outcome.reason == 'deadline_exceeded'
    assert 'OIC may still process it' in outcome.detail
    assert outcome.overloads == 0  # nor an overload answer in the metrics
    assert state.limiter.limit_value == 1.0 and state.limiter.changes == 0


def test_a_timeout_within_the_configured_read_timeout_is_still_back_pressure():
    state = WorkerState(8)
    pool = SlowPool(latency=1.0)
    outcome = caller_with(pool, state.gate(), deadline_s=5.0, read_timeout=0.2, min_attempt_s=0.1).call(RECORD)
    assert pool.requests >= 1 and outcome.kind == 'dead'
    assert state.limiter.limit_value < 1.0  # OIC did not answer within --oic_read_timeout: a real signal


def test_a_slot_handed_out_with_too_little_deadline_left_is_not_used():
    # The only slot is busy until the record has 0.3 s left, less than the least an attempt needs: the record is
    # dead-lettered at once, without a request OIC might process after the record was given up.
    state = WorkerState(1, mode='fixed')
    busy = state.limiter.acquire(time.monotonic() + 1)
    threading.Timer(0.5, state.limiter.release, (busy, cl.IGNORE)).start()
    pool = SlowPool(latency=0.0)
    started = time.monotonic()
    outcome = caller_with(pool, Gate(limiter=state.limiter), deadline_s=0.8, min_attempt_s=0.5).call(RECORD)
    assert pool.requests == 0, 'a request was sent with too little of the deadline left'
    assert outcome.kind == 'dead' and outcome.reason == 'deadline_exceeded' and outcome.attempts == 0
    assert time.monotonic() - started < 0.75
    assert state.limiter.in_flight == 0  # the slot went back


def test_a_body_posted_with_what_is_left_of_a_batchs_deadline_gets_no_more():
    # send_batch hands each round what is left of the batch's deadline: the request's read timeout and its retries
    # stop there, not at a fresh --oic_deadline (60 s here). A record's call keeps the policy's whole deadline.
    state = WorkerState(8)
    pool = SlowPool(latency=1.0)
    caller = caller_with(pool, state.gate(), deadline_s=60.0, min_attempt_s=0.1)
    outcome = caller.call_body({'records': [rec.oic_payload(RECORD)]}, deadline_s=0.4)
    assert pool.read_timeouts == [pytest.approx(0.4, abs=0.05)]
    assert (outcome.kind, outcome.reason) == ('dead', 'deadline_exceeded')
    fast = SlowPool(latency=0.0)
    caller.pool = fast
    assert caller.call(RECORD).kind == 'ack' and fast.read_timeouts == [30.0]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class SlowTokens:
    """A token provider whose fetch takes 5 s of the fake clock; the first token it hands out is refused (401)."""

    def __init__(self, clock):
        self.clock, self.fetches = clock, 0

    def header(self, timeout):
        self.fetches += 1
        self.clock.now += 5.0
        return 'Bearer t%d' % self.fetches

    def invalidate(self, header):
        return header == 'Bearer t1'


class RecordingLimit(cl.FixedLimit):
    """A fixed limit that records each release's RTT sample (its clock's now - the ticket's sent_at)."""

    def __init__(self, clock):
        super().__init__(4, clock=clock)
        self.samples = []

    def release(self, ticket, signal):
        self.samples.append((signal, self._clock() - ticket.sent_at))
        super().release(ticket, signal)


def test_the_limiters_rtt_sample_is_the_requests_own_time():
    # After its slot the attempt waits 5 s for a token, posts (401: the token was revoked), waits 5 s for a new
    # one and posts again; each post takes 0.1 s. The sample is the request that answered: 0.1 s, not 10.2 s.
    clock = FakeClock()
    limit = RecordingLimit(clock)
    tokens = SlowTokens(clock)
    caller = OICCaller(URL, None, None, 4, (5.0, 30.0),
                       FlowControl(Gate(limiter=limit, clock=clock), RetryPolicy(deadline_s=600.0)), auth=tokens)

    def post(body, deadline, authorization):
        clock.now += 0.1
        return Attempt(status=401 if authorization == 'Bearer t1' else 200)
    caller._post = post
    outcome = caller.call(RECORD)
    assert outcome.kind == 'ack' and outcome.attempts == 2 and tokens.fetches == 2
    assert len(limit.samples) == 1
    signal, rtt = limit.samples[0]
    assert signal == cl.OK and rtt == pytest.approx(0.1)


def test_the_adaptive_limits_no_load_rtt_leaves_out_token_fetches():
    clock = FakeClock()
    state = WorkerState(8, clock=clock)
    tokens = SlowTokens(clock)
    tokens.invalidate = lambda header: False
    caller = OICCaller(URL, None, None, 8, (5.0, 30.0), FlowControl(state.gate(), RetryPolicy(deadline_s=600.0)),
                       auth=tokens)

    def post(body, deadline, authorization):
        clock.now += 0.1
        return Attempt(status=200)
    caller._post = post
    for index in range(12):
        assert caller.call(rec.make_record(3, 'rtt-run', index)).kind == 'ack'
    assert state.limiter.no_load_rtt == pytest.approx(0.1)


class RaisingCaller:
    """A caller with a bug: call() raises for odd Item_ids (the Caller protocol says it never raises)."""

    def call(self, record):
        if record['Item_id'] % 2:
            raise RuntimeError('a bug with a secret in its message: hunter2')
        from transforms.oic.caller import Outcome
        return Outcome('ack', 200, attempts=1, latency_s=0.01)

    def close(self):
        pass


def real_caller_to_nowhere():
    return OICCaller(URL, 'u', 'p', 2, (0.5, 0.5),
                     FlowControl(WorkerState(2).gate(), RetryPolicy(max_attempts=1, deadline_s=5.0)))


RECORDS = [rec.make_record(seed=7, run_id='raise-run', index=i) for i in range(6)]


@pytest.mark.timeout(60)
def test_a_caller_that_raises_dead_letters_the_record_and_the_bundle_finishes():
    with TestPipeline() as pipeline:
        posted = pipeline | beam.Create(RECORDS) | PostToOIC(resolve(URL, 'user', concurrency=2),
                                                                caller_factory=RaisingCaller)
        odd = sorted(r['record_id'] for r in RECORDS if r['Item_id'] % 2)
        even = sorted(r['record_id'] for r in RECORDS if not r['Item_id'] % 2)
        assert_that(posted.acks | 'AckIds' >> beam.Map(lambda a: a['record_id']), equal_to(even), label='acks')
        assert_that(posted.dead_letter | 'Dead' >> beam.Map(lambda d: (d['record_id'], d['reason'], d['detail'])),
                    equal_to([(i, 'internal_error', 'internal_error: RuntimeError') for i in odd]), label='dead')


@pytest.mark.timeout(60)
def test_a_record_the_payload_cannot_be_built_from_is_dead_lettered_not_lost():
    # A record without a contract field: building the body raised outside the caller's try, in a pool thread, and
    # the bundle waited for its outcome for ever.
    broken = dict(RECORDS[0])
    del broken['Backlog']
    with TestPipeline() as pipeline:
        posted = pipeline | beam.Create([broken]) | PostToOIC(resolve(URL, 'user'),
                                                              caller_factory=real_caller_to_nowhere)
        assert_that(posted.dead_letter | beam.Map(lambda d: (d['record_id'], d['reason'], d['detail'])),
                    equal_to([(broken['record_id'], 'internal_error', 'internal_error: KeyError')]))
