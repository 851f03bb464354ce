"""The adaptive concurrency limit's rules, driven by an injected clock (no sleeping, no services)."""

import heapq
import itertools
import math
import random
import statistics
import threading

import pytest

from transforms.oic import concurrency_limit as cl


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def limiter(clock, ceiling=1000, on_change=None, **knobs):
    return cl.AdaptiveLimit(ceiling, cl.LimiterSettings(**knobs), clock=clock, on_change=on_change)


def fill(lim):
    """Takes every free slot; returns the tickets."""
    tickets = []
    while True:
        ticket = lim.try_acquire()
        if ticket is None:
            return tickets
        tickets.append(ticket)


def round_trip(lim, clock, rtt=0.1, signal=cl.OK):
    """Fills the limit, lets one round trip pass, answers every request with `signal`; returns how many went."""
    tickets = fill(lim)
    clock.advance(rtt)
    for ticket in tickets:
        lim.release(ticket, signal)
    return len(tickets)


def steady(lim, clock, rounds, rtt=0.1):
    for _ in range(rounds):
        round_trip(lim, clock, rtt)


class Flow:
    """A steady pipeline against a backend: requests sent one by one as slots free (not in synchronised windows),
    each answered `rtt(sent_at)` after it was sent; a stall of the client reads no answer in [start, end) and the
    ones due meanwhile at its end. Records the lowest limit seen."""

    def __init__(self, lim, clock, rtt):
        self.lim, self.clock, self.rtt = lim, clock, rtt
        self.pending, self.order, self.stalls = [], itertools.count(), []
        self.lowest = lim.limit_value
        self.answered = []  # (when, RTT)
        for _ in range(lim.limit):  # the first window goes out spread over a round trip
            self._send(most=1)
            clock.advance(rtt(clock.now) / lim.limit)

    def _send(self, most=None):
        for ticket in itertools.islice(iter(self.lim.try_acquire, None), most):
            heapq.heappush(self.pending, (self.clock.now + self.rtt(self.clock.now), next(self.order), ticket))

    def run(self, seconds):
        end = self.clock.now + seconds
        while True:
            due = self.pending[0][0] if self.pending else math.inf
            for start, stop in self.stalls:
                if start <= due < stop:
                    due = stop
            ready = self.lim.ready_at()  # paced below one request: the next goes when the pause is over
            if ready is not None and ready < due and self.lim.in_flight < self.lim.limit:
                if ready > end:
                    break
                self.clock.now = max(self.clock.now, ready)
                self._send()
                continue
            if due > end:
                break
            self.clock.now = max(self.clock.now, due)
            ticket = heapq.heappop(self.pending)[2]
            self.lim.release(ticket, cl.OK)
            self.answered.append((self.clock.now, self.clock.now - ticket.sent_at))
            self.lowest = min(self.lowest, self.lim.limit_value)
            self._send()
        self.clock.now = end


@pytest.mark.parametrize('status, error, signal', [
    (200, None, cl.OK), (201, None, cl.OK), (429, None, cl.BACKPRESSURE), (503, None, cl.BACKPRESSURE),
    (504, None, cl.BACKPRESSURE), (None, 'timeout', cl.TIMEOUT), (None, 'connection_error', cl.BACKPRESSURE),
    (500, None, cl.IGNORE), (502, None, cl.IGNORE), (400, None, cl.IGNORE), (None, 'deadline', cl.IGNORE),
])
def test_what_each_answer_tells_the_limiter(status, error, signal):
    assert cl.signal_of(status, error) == signal


def test_slow_start_doubles_the_limit_every_round_trip():
    clock = Clock()
    lim = limiter(clock)
    seen = [round_trip(lim, clock) for _ in range(7)]
    assert seen == [1, 2, 4, 8, 16, 32, 64]
    assert lim.slow_start


def test_slow_start_stops_at_the_ceiling():
    clock = Clock()
    lim = limiter(clock, ceiling=20)
    steady(lim, clock, 10)
    assert lim.limit == 20 and lim.in_flight == 0


def test_back_pressure_ends_slow_start_at_what_oic_was_serving():
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 5)  # limit 32
    tickets = fill(lim)
    assert len(tickets) == 32
    clock.advance(0.002)
    lim.release(tickets.pop(), cl.BACKPRESSURE)  # OIC said no with 31 others in flight
    assert lim.limit == int(0.95 * 31) and not lim.slow_start


def test_one_overshoot_costs_one_cut_but_a_later_one_cuts_again():
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 5)
    tickets = fill(lim)
    clock.advance(0.002)
    for ticket in tickets[:10]:  # a burst of 429s from requests sent before the first cut
        lim.release(ticket, cl.BACKPRESSURE)
    after_first = lim.limit
    assert after_first == int(0.95 * 31) and lim.changes >= 1
    for ticket in tickets[10:]:
        lim.release(ticket, cl.OK)
    fresh = lim.try_acquire()  # sent after the cut: its 429 is a new overshoot
    clock.advance(0.002)
    lim.release(fresh, cl.BACKPRESSURE)
    assert lim.limit < after_first


def test_a_429_retried_into_success_still_counts():
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 4)  # 16
    tickets = fill(lim)
    clock.advance(0.002)
    lim.release(tickets.pop(), cl.BACKPRESSURE)  # a record's first attempt is refused ...
    for ticket in tickets:
        lim.release(ticket, cl.OK)
    retry = lim.try_acquire()
    clock.advance(0.1)
    lim.release(retry, cl.OK)  # ... and its retry lands: the record succeeded, the 429 still cut the limit
    assert lim.limit == int(0.95 * 15) and not lim.slow_start


def test_other_errors_do_not_move_the_limit():
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 3)
    assert round_trip(lim, clock, signal=cl.IGNORE) == 8
    assert lim.limit == 8 and lim.slow_start


def test_a_timeout_cuts_to_what_was_served_in_the_last_round_trip():
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 5)  # 32, RTT 0.1
    tickets = fill(lim)
    clock.advance(0.002)
    lim.release(tickets.pop(), cl.BACKPRESSURE)  # out of slow start: 27
    clock.advance(0.098)
    for ticket in tickets:
        lim.release(ticket, cl.OK)
    tickets = fill(lim)
    clock.advance(0.1)
    for ticket in tickets[:15]:  # 15 answered in the last round trip ...
        lim.release(ticket, cl.OK)
    clock.advance(0.01)
    lim.release(tickets[15], cl.TIMEOUT)  # ... then a timeout, with 11 others (hung, maybe) in flight
    assert lim.limit == int(0.9 * 15)

def test_queueing_latency_brings_the_limit_down_without_any_error():
    clock = Clock()
    lim = limiter(clock, initial=16, ceiling=16)
    steady(lim, clock, 3, rtt=0.1)  # the no-load RTT: 0.1
    assert lim.limit == 16 and lim.no_load_rtt == pytest.approx(0.1)
    steady(lim, clock, 2, rtt=0.2)  # the backend queues: twice the RTT (a round holds the last round trip's answers)
    assert lim.limit <= int(0.9 * 16 * 0.5) and not lim.slow_start

def test_latency_within_the_tolerance_is_not_queueing():
    clock = Clock()
    lim = limiter(clock, initial=16, ceiling=16)
    steady(lim, clock, 3, rtt=0.1)
    steady(lim, clock, 3, rtt=0.115)
    assert lim.limit == 16


def probe_until_cut(lim, clock):
    """Rounds without signals; returns the limit (with its fraction) after each."""
    limits = []
    for _ in range(12):
        round_trip(lim, clock)
        limits.append(lim.limit_value)
    return limits


def test_probing_grows_slowly_near_the_last_cut_then_faster():
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 6)  # 64
    tickets = fill(lim)
    clock.advance(0.002)
    lim.release(tickets.pop(), cl.BACKPRESSURE)  # cut to 56
    clock.advance(0.1)
    for ticket in tickets:
        lim.release(ticket, cl.OK)
    start = lim.limit_value
    limits = probe_until_cut(lim, clock)
    steps = [round(b - a, 9) for a, b in zip([start] + limits, limits)]
    knobs = lim.settings
    assert steps[:knobs.plateau_rounds] == [knobs.probe_step] * knobs.plateau_rounds  # slow, near where OIC said no
    after = steps[knobs.plateau_rounds:]
    assert after == sorted(after) and after[0] > knobs.probe_step and after[-1] > 1  # then accelerating
    assert lim.in_flight == 0


def test_an_idle_worker_does_not_grow_its_limit():
    clock = Clock()
    lim = limiter(clock, initial=8)
    tickets = fill(lim)
    clock.advance(0.002)
    lim.release(tickets.pop(), cl.BACKPRESSURE)  # out of slow start at 6
    for ticket in tickets:
        lim.release(ticket, cl.OK)

    def one_at_a_time(count):  # far below half the limit
        for _ in range(count):
            ticket = lim.try_acquire()
            clock.advance(0.1)
            lim.release(ticket, cl.OK)
        return lim.limit
    settled = one_at_a_time(20)
    assert one_at_a_time(40) == settled <= 8

def test_below_one_in_flight_requests_are_paced():
    clock = Clock()
    lim = limiter(clock)
    for _ in range(3):
        ticket = lim.try_acquire()
        assert ticket is not None
        clock.advance(0.1)
        lim.release(ticket, cl.OK)  # an RTT of 0.1 is known
    lim = limiter(clock)
    ticket = lim.try_acquire()
    clock.advance(0.1)
    lim.release(ticket, cl.OK)
    paces = []
    for _ in range(3):  # OIC keeps refusing the one request in flight: half a request, then the pace halves
        ticket = lim.try_acquire()
        while ticket is None:
            clock.now = lim.ready_at()
            ticket = lim.try_acquire()
        clock.advance(0.002)
        lim.release(ticket, cl.BACKPRESSURE)
        paces.append(lim.limit_value)
    entry = lim.settings.paced_entry
    assert paces == pytest.approx([entry, entry / 2, entry / 4])
    assert lim.try_acquire() is None and lim.ready_at() > clock()
    clock.now = lim.ready_at()
    assert lim.try_acquire() is not None


def test_the_floor_bounds_the_pace():
    clock = Clock()
    lim = limiter(clock, floor=0.25)
    for _ in range(10):
        ticket = lim.try_acquire()
        while ticket is None:
            clock.now = lim.ready_at()
            ticket = lim.try_acquire()
        lim.release(ticket, cl.BACKPRESSURE)
    assert lim.limit_value == 0.25


def test_an_outage_is_probed_at_least_every_max_pause():
    clock = Clock()
    lim = limiter(clock, max_pause_s=1.0)
    for _ in range(10):  # no success yet: the default RTT, and a pace that keeps halving
        ticket = lim.try_acquire()
        while ticket is None:
            clock.now = lim.ready_at()
            ticket = lim.try_acquire()
        lim.release(ticket, cl.BACKPRESSURE)
    assert lim.limit_value == lim.settings.floor and lim.ready_at() - clock() <= 1.0


def test_changes_are_counted_and_reported():
    clock = Clock()
    seen = []
    lim = limiter(clock, on_change=lambda when, value: seen.append((when, value)))
    steady(lim, clock, 3)
    assert [value for _, value in seen] == [2, 3, 4, 5, 6, 7, 8]
    assert lim.changes == len(seen)


def test_fixed_limit_never_moves():
    clock = Clock()
    lim = cl.FixedLimit(4, clock=clock)
    assert round_trip(lim, clock, signal=cl.BACKPRESSURE) == 4
    assert round_trip(lim, clock, rtt=5.0) == 4 and lim.changes == 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        cl.AdaptiveLimit(0)
    for knobs in ({'floor': 0}, {'backoff': 1.0}, {'baseline_rise': 0.5, 'baseline_fall': 0.1}, {'spread_alpha': 0}):
        with pytest.raises(ValueError):
            cl.AdaptiveLimit(4, cl.LimiterSettings(**knobs))
    with pytest.raises(ValueError):
        cl.FixedLimit(0)
    with pytest.raises(ValueError):
        cl.FixedLimit(1).release(cl.Ticket(0.0), 'maybe')


def test_blocking_acquire_holds_threads_to_the_limit_and_gives_up_at_the_deadline():
    lim = cl.FixedLimit(2)
    first, second = lim.acquire(deadline=float('inf')), lim.acquire(deadline=float('inf'))
    assert lim.acquire(deadline=0.0) is None  # full and the deadline has passed
    got = []
    waiter = threading.Thread(target=lambda: got.append(lim.acquire(deadline=float('inf'))))
    waiter.start()
    lim.release(first, cl.OK)  # wakes the waiter
    waiter.join(timeout=10)
    assert not waiter.is_alive() and got[0] is not None and lim.in_flight == 2
    stop = threading.Event()
    stop.set()
    assert lim.acquire(deadline=float('inf'), stop=stop) is None
    lim.release(second, cl.OK)
    lim.release(got[0], cl.OK)
    assert lim.in_flight == 0


def test_many_threads_never_exceed_the_limit():
    lim = cl.AdaptiveLimit(8, cl.LimiterSettings(initial=4))
    peak, lock = [0], threading.Lock()

    def work():
        for _ in range(200):
            ticket = lim.acquire(deadline=float('inf'))
            with lock:
                peak[0] = max(peak[0], lim.in_flight)
                assert lim.in_flight <= lim.limit
            lim.release(ticket, cl.OK)
    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert lim.in_flight == 0 and 1 <= peak[0] <= 8


def test_queueing_is_cut_within_the_round_trip_it_appears_in():
    """The window is the last round trip's answers: a queue that builds is cut after a few slow answers (half the
    window), not at the end of a round."""
    clock = Clock()
    lim = limiter(clock, initial=16, ceiling=16)
    flow = Flow(lim, clock, rtt=lambda sent: 0.1)
    flow.run(1.0)
    assert lim.limit == 16
    start = clock.now
    flow.rtt = lambda sent: 0.1 + min(0.1, 2 * (sent - start))  # the backend queues: the RTT climbs to 0.2
    while lim.limit == 16 and clock.now - start < 1.0:
        flow.run(0.001)
    slow = [rtt for when, rtt in flow.answered if when > start and rtt > 0.12]  # queued answers before the cut
    assert 0 < len(slow) <= 10 and lim.limit <= int(0.9 * 16 * 0.6) + 1


def test_a_stall_of_the_client_is_not_queueing():
    """The process stops reading answers for 90 ms (a garbage collection), then reads them in a burst, all late:
    not OIC queueing, no cut (this cut a 64-request limit to ~21 every ~3 s on the local stack)."""
    clock = Clock()
    lim = limiter(clock, initial=64, ceiling=64)
    flow = Flow(lim, clock, rtt=lambda sent: 0.05)
    flow.run(2.0)
    flow.stalls.append((clock.now + 0.5, clock.now + 0.59))
    flow.stalls.append((clock.now + 2.5, clock.now + 2.59))  # another, 40 round trips later
    flow.run(4.0)
    assert max(rtt for _, rtt in flow.answered) > 0.12  # the stalls did delay answers
    assert flow.lowest == 64


def test_stalls_more_often_than_every_20_round_trips_are_judged():
    """Only one stall per 20 round trips is forgiven: a backend that answers whole windows late is still cut."""
    clock = Clock()
    lim = limiter(clock, initial=64, ceiling=64)
    flow = Flow(lim, clock, rtt=lambda sent: 0.05)
    flow.run(2.0)
    flow.stalls.append((clock.now + 0.5, clock.now + 0.59))
    flow.stalls.append((clock.now + 0.8, clock.now + 0.89))  # 6 round trips later
    flow.run(2.0)
    assert flow.lowest < 64


def test_slow_start_stops_growing_at_a_queued_answer():
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 3, rtt=0.1)  # 8, slow start
    before = lim.limit
    round_trip(lim, clock, rtt=0.3)  # every answer queued: no growth (and a cut once a window is judged)
    assert lim.limit <= before


def test_scheduling_jitter_on_a_tiny_rtt_is_not_queueing():
    clock = Clock()
    lim = limiter(clock, initial=16, ceiling=16)
    steady(lim, clock, 3, rtt=0.0001)  # a local server answering in 0.1 ms
    steady(lim, clock, 5, rtt=0.015)  # 150 x the no-load RTT, but only 15 ms: below min_queue_delay_s
    assert lim.limit == 16
    steady(lim, clock, 2, rtt=0.05)  # 50 ms more: queueing
    assert lim.limit < 16


def test_a_paced_worker_grows_by_the_paced_gain_per_round_trip_of_time():
    """Below one request in flight, growth is additive in time (the same for every worker, as AIMD needs for
    fairness), not per answer: a worker that sends rarely does not fall further behind."""
    clock = Clock()
    lim = limiter(clock)
    steady(lim, clock, 3, rtt=0.1)  # RTT 0.1 known
    while lim.limit_value >= 1:  # refusals until the pace is below one
        ticket = lim.try_acquire()
        while ticket is None:
            clock.now = lim.ready_at()
            ticket = lim.try_acquire()
        lim.release(ticket, cl.BACKPRESSURE)
    start, since = lim.limit_value, clock()
    clock.now = max(clock(), lim.ready_at() or 0)
    ticket = lim.try_acquire()
    clock.advance(0.1)
    lim.release(ticket, cl.OK)
    elapsed_rtts = (clock() - since) / 0.1
    assert lim.limit_value == pytest.approx(min(1.0, start + lim.settings.paced_gain * elapsed_rtts), rel=0.05)


def test_a_refusal_that_leaves_less_than_one_request_starts_pacing_at_half_a_request():
    clock = Clock()
    lim = limiter(clock, initial=3)
    steady(lim, clock, 2, rtt=0.1)
    tickets = fill(lim)
    clock.advance(0.002)
    for ticket in tickets[1:]:
        lim.release(ticket, cl.OK)
    lim.release(tickets[0], cl.BACKPRESSURE)  # refused with nothing else in flight
    assert lim.limit_value == lim.settings.paced_entry


def test_the_limiter_keeps_only_recent_history_however_long_the_job_runs():
    """A job that is never pushed back (no cut) once kept every success's time: memory grew with the job."""
    clock = Clock()
    lim = limiter(clock, ceiling=32)
    steady(lim, clock, 2000, rtt=0.1)  # 64,000 answers, 200 s
    assert lim.limit == 32
    assert len(lim._successes) <= 3 * 32  # pylint: disable=protected-access  # the last round trips only
    assert len(lim._samples) <= 2 * 32  # pylint: disable=protected-access  # the answers of the last round trips


def limits_over(flow, seconds, every=1.0):
    """Runs the flow for `seconds`, sampling the limit (with its fraction) every `every` seconds."""
    seen = []
    for _ in range(int(seconds / every)):
        flow.run(every)
        seen.append(flow.lim.limit_value)
    return seen


def test_a_lasting_rise_of_the_endpoints_own_latency_does_not_hold_the_limit_at_the_floor():
    """OIC's answers go from 0.3 s to 0.45 s and stay there, with no 429, 503 or timeout: the latency rule cuts
    at first (a rise looks like queueing), but the no-load RTT adopts the new level and the limit grows back.
    (The baseline used to be renewed only after an unqueued round: the limit reached its 1/32 floor and stayed.)"""
    clock = Clock()
    lim = limiter(clock, initial=16, ceiling=16)
    flow = Flow(lim, clock, rtt=lambda sent: 0.3)
    flow.run(30.0)
    assert lim.limit == 16
    flow.rtt = lambda sent: 0.45
    seen = limits_over(flow, 120.0)
    assert min(seen) < 16  # it was cut: the rise did look like queueing
    assert lim.no_load_rtt == pytest.approx(0.45, rel=0.1)
    assert min(seen[-30:]) >= 8 and lim.limit == 16  # not stuck near the floor: back to the ceiling


def test_a_jittery_endpoint_without_overload_lets_the_limit_grow_to_the_ceiling():
    """Answers spread lognormally (sigma 0.5: p99 ~3.2 x the median of 100 ms, as an OIC flow calling BigQuery),
    no queueing, no refusal: the spread is not read as queueing (judged against the lowest round median, the
    limit stayed at one or two)."""
    rng = random.Random(7)
    clock = Clock()
    lim = limiter(clock, ceiling=100)
    flow = Flow(lim, clock, rtt=lambda sent: 0.1 * rng.lognormvariate(0.0, 0.5))
    seen = limits_over(flow, 60.0)
    assert statistics.mean(seen[-30:]) >= 80 and max(seen) == 100
    assert lim.rtt_spread == pytest.approx(0.5, rel=0.25)  # the measured spread is the endpoint's


def test_latency_alone_never_takes_a_worker_below_one_request():
    """Queueing read from latency is a hint: it cuts to one request in flight at the lowest, never into the paced
    regime (the local stack at 200 records/s, whose answers slow with its CPU, spent 17.8 s of 80 paced below one
    request with no 429, 503 or timeout, and the stream fell to 150 rows/s). A refusal still paces."""
    clock = Clock()
    lim = limiter(clock, initial=8, ceiling=8)
    steady(lim, clock, 3, rtt=0.1)
    for rtt in (0.4, 0.8, 1.6, 3.2, 6.4):  # latency doubling again and again, no error at all
        steady(lim, clock, 3, rtt=rtt)
        assert lim.limit_value >= 1.0 and lim.ready_at() is None
    assert lim.limit == 1  # it was cut all the way down to one request
    round_trip(lim, clock, rtt=0.1, signal=cl.BACKPRESSURE)  # an explicit signal at one request: now paced
    assert lim.limit_value < 1.0


@pytest.mark.parametrize('after', [cl.OK, cl.BACKPRESSURE, cl.TIMEOUT])
def test_an_answer_measured_at_zero_seconds_is_safe(after):
    # A coarse or virtual clock reads the same moment at send and answer: the RTT is 0. Before, the smoothed RTT
    # became 0 and the next cut divided by it (a spurious internal_error dead letter in the caller).
    clock = Clock()
    lim = limiter(clock, ceiling=64)
    for _ in range(3):
        for ticket in fill(lim):
            lim.release(ticket, cl.OK)  # every answer at zero seconds
    assert lim.limit_value >= 1
    for ticket in fill(lim):
        lim.release(ticket, after)  # a cut (or growth) from the zero-second answers' figures, at zero seconds too
    clock.advance(0.1)
    steady(lim, clock, 5)  # and the rules go on as usual once the clock moves
    assert 1 <= lim.limit <= 64
