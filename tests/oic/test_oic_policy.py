"""The OIC caller's pure parts alone: retry policy, Retry-After, give-up reasons, auth stop, rate cap, URL check."""

import email.utils
import random
import time

import pytest

from transforms.oic.post import AuthWatch
from transforms.oic.caller import Attempt, give_up_reason
from transforms.oic.urls import check_oic_url
from transforms.oic.retry import RetryPolicy, is_retryable, parse_retry_after
from transforms.oic import concurrency_limit as cl
from transforms.oic.throttle import Gate, OverloadThrottler, TokenBucket, WorkerState


@pytest.mark.parametrize('status', [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    assert is_retryable(status)


@pytest.mark.parametrize('status', [400, 401, 403, 404, 413, 415])
def test_client_errors_are_not_retried(status):
    assert not is_retryable(status)


def test_connection_errors_and_timeouts_are_retried():
    assert is_retryable(error='timeout') and is_retryable(error='connection_error')
    assert not is_retryable(error='deadline')


def test_retry_after_in_seconds_and_as_a_date():
    assert parse_retry_after('3') == 3.0
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 7, usegmt=True), now=now) == pytest.approx(7, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after('soon') is None and parse_retry_after('') is None
    assert parse_retry_after('999999') == 300.0


def test_backoff_grows_exponentially_within_the_cap():
    policy = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=4)
    rng = random.Random(1)
    for attempt, ceiling in ((1, 0.5), (2, 1), (3, 2), (4, 4), (9, 4)):
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert 0 <= min(waits) and max(waits) <= ceiling and max(waits) > ceiling / 2


def test_retry_after_is_a_floor_for_the_wait():
    policy = RetryPolicy(initial_backoff_s=0.01, max_backoff_s=0.02)
    assert all(2.0 <= policy.wait(1, retry_after=2.0) <= 2.2 for _ in range(100))


def test_retrying_stops_at_max_attempts_and_returns_the_last_result():
    calls = []

    def attempt():
        calls.append(1)
        return Attempt(status=503)

    last = RetryPolicy(max_attempts=3, initial_backoff_s=0, max_backoff_s=0).retrying()(attempt)
    assert len(calls) == 3 and last.status == 503
    assert give_up_reason(last, 3, RetryPolicy(max_attempts=3)) == 'attempts_exhausted'


class RecordingEvent:
    """A stop event that never fires and records the sleeps asked of it instead of sleeping."""

    def __init__(self):
        self.sleeps = []

    def is_set(self):
        return False

    def wait(self, seconds):
        self.sleeps.append(seconds)
        return False


def overloaded_then_accepted(refusals):
    answers = iter([Attempt(status=429)] * refusals + [Attempt(status=200)])
    return lambda: next(answers)


def test_a_backoff_step_keeps_overload_answers_from_growing_a_records_wait():
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.25, max_backoff_s=20)
    random.seed(7)
    grown = RecordingEvent()  # the attempt number as the step: 0.25, 0.5, 1, ... 16 s ceilings
    assert policy.retrying(grown, spent=lambda: 0)(overloaded_then_accepted(8)).status == 200
    flat = RecordingEvent()  # no attempt counted (all overload): every wait within the first step's 0.25 s
    assert policy.retrying(flat, spent=lambda: 0, backoff_step=lambda: 0)(overloaded_then_accepted(8)).status == 200
    assert len(grown.sleeps) == len(flat.sleeps) == 8
    assert max(flat.sleeps) <= 0.25 and max(grown.sleeps) > 1.0
    counted = RecordingEvent()  # attempts that count still grow it: step 3 -> up to 1 s
    policy.retrying(counted, spent=lambda: 0, backoff_step=lambda: 3)(overloaded_then_accepted(8))
    assert max(counted.sleeps) <= 1.0 and max(counted.sleeps) > 0.25


def test_retrying_never_sleeps_past_the_deadline():
    calls = []

    def attempt():
        calls.append(1)
        return Attempt(status=429, retry_after=5)

    last = RetryPolicy(max_attempts=10, deadline_s=1).retrying()(attempt)
    assert len(calls) == 1 and last.status == 429
    assert give_up_reason(last, 1, RetryPolicy(max_attempts=10)) == 'deadline_exceeded'


def test_give_up_reasons():
    policy = RetryPolicy(max_attempts=5)
    assert give_up_reason(Attempt(status=400), 1, policy) == 'http_400'
    assert give_up_reason(Attempt(status=413), 1, policy) == 'http_413'
    assert give_up_reason(Attempt(error='deadline', sent=False), 2, policy) == 'deadline_exceeded'
    assert give_up_reason(Attempt(error='timeout'), 5, policy) == 'attempts_exhausted'


def test_auth_watch_stops_after_consecutive_refusals_only():
    watch = AuthWatch(stop_after=3)
    assert not watch.seen('auth') and not watch.seen('auth')
    assert not watch.seen('ack')  # a success in between: the password works
    assert not watch.seen('auth') and not watch.seen('dead') and not watch.seen('auth')
    assert watch.seen('auth')


def test_token_bucket_spaces_requests_at_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=1, clock=lambda: now[0])
    assert bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    now[0] = 1.0
    assert bucket.reserve() == 0


@pytest.mark.parametrize('url', ['http://oic.example.com/ic/api', 'http://10.1.2.3:8080/x'])
def test_basic_auth_over_plain_http_to_a_remote_host_is_refused(url):
    with pytest.raises(ValueError, match='plain http'):
        check_oic_url(url)
    check_oic_url(url, allow_insecure_http=True)


@pytest.mark.parametrize('url', ['https://oic.example.com/ic/api', 'http://127.0.0.1:8088/x', 'http://localhost/x',
                                 'http://[::1]:9/x'])
def test_https_and_loopback_are_accepted(url):
    check_oic_url(url)


class _AlwaysHold:
    def __init__(self):
        self.asked = 0

    def should_hold(self):
        self.asked += 1
        return True


def test_a_held_request_asks_the_throttler_once_then_goes():
    throttler = _AlwaysHold()
    went, held, _ = Gate(throttler, hold_s=(0.0, 0.01)).wait_turn(deadline=time.monotonic() + 5)
    assert went and held == 1 and throttler.asked == 1


def test_a_hold_past_the_deadline_gives_up_without_sending():
    went, held, _ = Gate(_AlwaysHold(), hold_s=(1.0, 1.0)).wait_turn(deadline=time.monotonic() + 0.1)
    assert not went and held == 1


def test_the_throttler_leaves_a_healthy_endpoint_alone_and_holds_back_an_overloaded_one():
    now = [1000.0]
    throttler = OverloadThrottler(window_ms=10_000, bucket_ms=1_000, clock=lambda: now[0])
    assert throttler.probability() == 0
    for _ in range(50):
        throttler.record(accepted=True)
    assert throttler.probability() == 0
    for _ in range(200):
        throttler.record(accepted=False)
    assert throttler.probability() == pytest.approx((250 - 2 * 50) / 251)
    now[0] += 11  # the window has moved past the overload
    for _ in range(5):
        throttler.record(accepted=True)
    assert throttler.probability() == 0


def test_a_worker_counts_the_time_its_limit_spends_below_one_request():
    now = [0.0]
    state = WorkerState(4, clock=lambda: now[0])
    limiter = state.limiter
    ticket = limiter.try_acquire()
    now[0] = 0.1
    limiter.release(ticket, cl.BACKPRESSURE)  # refused at one request: paced at half of one
    assert limiter.limit_value == 0.5 and state.take_paced_ms() == 0
    now[0] = 0.6
    assert state.take_paced_ms() == 500
    now[0] = 1.0
    ticket = limiter.try_acquire()
    now[0] = 1.1
    limiter.release(ticket, cl.OK)  # answered promptly after a second at the pace: back to one request
    assert limiter.limit_value >= 1 and state.take_paced_ms() == 500
    now[0] = 6.0
    assert state.take_paced_ms() == 0  # not paced since
    fixed = WorkerState(4, mode='fixed', clock=lambda: now[0])
    now[0] = 9.0
    assert fixed.take_paced_ms() == 0
