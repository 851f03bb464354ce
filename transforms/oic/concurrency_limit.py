"""How many OIC requests one worker keeps in flight: an adaptive limit found from OIC's own answers, or a fixed one.

OIC's capacity is hidden and shared (100 synchronous requests per message pack, with every other integration of the
instance); beyond it OIC answers 429. `AdaptiveLimit` finds the limit per worker from what each attempt tells it —
no coordination between workers. The rules (design, measurements and the projects they come from:
docs/adaptive-concurrency.md):

- **Slow start.** The limit starts at `initial` and grows by one for every success while the worker uses at least
  half of it, which doubles it every round trip (TCP slow start), until the first back-pressure or queueing signal.
  An answer that shows queueing does not grow it (HyStart's idea: stop on rising delay, not only on loss). A fresh
  job reaches a capacity C within about log2(C) round trips (Vector's +1 per round trip from 1 takes C).
- **Back-pressure** (429, 503, 504, a timeout, a refused or dropped connection), measured per attempt, so a 429 later
  retried into success still counts: the limit falls just below what OIC was serving for this worker when it said
  no: after a refusal, `refusal_backoff` (0.95) x the requests still in flight (a measurement: a small margin);
  after a timeout (hung requests inflate that count), `backoff` (0.9) x the successes of the last no-load round
  trip (Little's law). One cut per overshoot: an answer to an attempt sent before the last cut does not cut again
  (TCP's rule), so a burst of 429s from one overshoot, or timeouts arriving long after it, cost one cut, not twenty.
  A cut goes to its target however deep (the targets are measurements; a cut below one request enters the paced
  regime below).
- **Queueing** (latency grows, no errors: a backend that makes requests wait instead of refusing). At every success
  the median RTT of the last round trip's answers (at least `min_samples`, and half the limit, all sent after the
  last cut) is compared with the no-load RTT (the lowest round median of the last `baseline_window_s`). When it is
  above it by more than `tolerance` of it (and by more than `min_queue_delay_s`, 20 ms: CPU contention on a busy
  laptop moves a local server's 20 ms RTT by that much, OIC across a WAN answers in 100s of ms), the limit is cut
  to `backoff` x the lower of limit x no-load / median (the share of the RTT that is not queueing, as Vegas and
  Envoy's gradient; at least 0.5) and the served estimate above.
  Judging a sliding window, not whole rounds, cuts within the round trip in which queueing appears.
- **Stalls are not queueing.** When this process stops reading answers for a while (a garbage collection, the
  runner's own work holding the interpreter), the answers it then reads in a burst all look late. A silence many
  times the usual gap between answers, ended by a late answer, is a stall: the requests it held up give no RTT
  samples (at most one stall per 20 round trips is forgiven, so a slow backend is still cut).
- **Probing** (congestion avoidance). A round lasts one round trip (it ends at the first answer to a request sent
  after it began, so a worker with 2 requests in flight probes as often in time as one with 200: equal additive
  steps, Chiu and Jain's condition for fairness). After a round with no signal, no queued answer, in which the worker
  used at least half of its limit, the limit grows by `probe_step` (0.25): for `plateau_rounds` rounds after a cut (a
  slow approach to where OIC said no last time, so few 429s in steady state), then doubling each round (capped at a
  quarter of the limit) so restored capacity is found again within a few round trips (the max-probing of TCP
  BIC/CUBIC; Vector's +1 per round trip needs C/2 round trips to win back a halving, its users' "slow recovery").
  Cuts keep the fraction (slots are its whole part), so a small limit is cut by the same ratio as a large one.
- **Below one in flight.** When OIC refuses even one request at a time (its capacity taken by other integrations or
  by many workers), the limit becomes a fraction: one request in flight, the next only after
  srtt x (1 / limit - 1) (at most `max_pause_s`, so an outage is probed every second and its end noticed). A cut that
  leaves less than one request starts at `paced_entry` (0.5: a real gap for the others, not 0.95 of a slot it keeps
  owning); each further refusal halves the pace down to `floor`; each unqueued success adds `paced_gain` (0.1) per
  round trip of time spent at the pace (additive in time, as above). A single answer is judged for queueing here.
  A worker never hammers a full OIC with back-to-back requests.
- **Fairness without coordination**: every worker cuts by the same ratio and grows by the same absolute steps per
  round trip of time, the additive-increase / multiplicative-decrease pattern that converges to equal shares (Chiu
  and Jain, 1989); the simulator (benchmarks/limiter_sim.py) reports Jain's index. Where a worker's share is below
  two requests it is not reached: a worker that keeps one slot busy sees no refusal (its next request takes the
  slot its answer freed), so others wait (docs/adaptive-concurrency.md).

The limit never goes above `ceiling`. Everything is driven by an injected clock (a callable returning seconds), so
the rules are tested and simulated with a virtual clock; `try_acquire`/`release` never block, `acquire` blocks (real
threads) until a slot is free. Thread-safe: one lock around the state.
"""

import collections
import itertools
import math
import statistics
import threading
import time
from typing import Callable, Deque, List, NamedTuple, Optional, Tuple

OK = 'ok'                      # a success: its RTT is a sample
BACKPRESSURE = 'backpressure'  # 429, 503, 504, a refused or dropped connection
TIMEOUT = 'timeout'            # no answer within the read timeout
IGNORE = 'ignore'              # any other answer (400, 500, ...): frees the slot, says nothing about capacity
SIGNALS = (OK, BACKPRESSURE, TIMEOUT, IGNORE)

BACKPRESSURE_STATUSES = frozenset((429, 503, 504))


def signal_of(status: Optional[int], error: Optional[str]) -> str:
    """The limiter's signal for one attempt's answer: an HTTP status, or an error kind ('timeout',
    'connection_error'; others, e.g. 'deadline' for an attempt never sent, say nothing)."""
    if error == 'timeout':
        return TIMEOUT
    if error == 'connection_error':
        return BACKPRESSURE
    if error is not None:
        return IGNORE
    if status is not None and 200 <= status < 300:
        return OK
    return BACKPRESSURE if status in BACKPRESSURE_STATUSES else IGNORE


class Ticket(NamedTuple):
    """One attempt's slot: when it was taken (the limiter's clock)."""
    sent_at: float


Clock = Callable[[], float]
OnChange = Callable[[float, float], None]  # (when, the new limit)


class _Slots:
    """Counting and waiting for slots under a limit that may change; the limit itself is the subclass's."""

    def __init__(self, clock: Clock, on_change: Optional[OnChange]):
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._waiters: Deque[threading.Condition] = collections.deque()  # blocked acquire() calls, oldest first
        self._in_flight = 0
        self._hold_until = -math.inf  # no new request before this moment (a limit below one: pacing)
        self.changes = 0

    # -- subclass hooks (called with the lock held)
    def _current(self) -> int:
        raise NotImplementedError

    def _settle(self, ticket: Ticket, signal: str, now: float) -> None:
        raise NotImplementedError

    @property
    def limit(self) -> int:
        with self._lock:
            return self._current()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def ready_at(self) -> Optional[float]:
        """When a request paced by a limit below one may go (None: not held back by pacing)."""
        with self._lock:
            return self._hold_until if self._hold_until > self._clock() else None

    def _free_now(self) -> bool:
        return self._in_flight < self._current() and self._clock() >= self._hold_until

    def try_acquire(self) -> Optional[Ticket]:
        """A slot if one is free now and no blocked acquire() is waiting for it, else None. Never blocks."""
        with self._lock:
            return self._take() if not self._waiters and self._free_now() else None

    def acquire(self, deadline: float, stop: Optional[threading.Event] = None, poll_s: float = 0.2) -> Optional[Ticket]:
        """Blocks until a slot is free, first come first served (a waiting record's latency stays bounded);
        None when `deadline` (this limiter's clock) passes or `stop` is set first."""
        with self._lock:
            if not self._waiters and self._free_now():
                return self._take()
            me = threading.Condition(self._lock)  # one per waiter: a freed slot wakes the oldest, not all
            self._waiters.append(me)
            try:
                while not (self._waiters[0] is me and self._free_now()):
                    now = self._clock()
                    remaining = deadline - now
                    if remaining <= 0 or (stop is not None and stop.is_set()):
                        return None
                    wait = min(remaining, poll_s)
                    if self._hold_until > now:
                        wait = min(wait, self._hold_until - now)
                    me.wait(wait)
                return self._take()
            finally:
                self._waiters.remove(me)
                self._wake_oldest()

    def _wake_oldest(self) -> None:
        if self._waiters and self._free_now():
            self._waiters[0].notify()

    def release(self, ticket: Ticket, signal: str) -> None:
        """Gives the slot back with what the attempt's answer said (one of SIGNALS)."""
        if signal not in SIGNALS:
            raise ValueError('unknown signal %r' % (signal,))
        with self._lock:
            self._in_flight -= 1
            before = self._value()
            self._settle(ticket, signal, self._clock())
            after = self._value()
            if after != before:
                self.changes += 1
                if self._on_change is not None:
                    self._on_change(self._clock(), after)
            self._wake_oldest()

    def _value(self) -> float:
        return float(self._current())

    @property
    def limit_value(self) -> float:
        """The limit with its fraction (below one: requests are paced)."""
        with self._lock:
            return self._value()

    def _take(self) -> Ticket:
        self._in_flight += 1
        self._note_in_flight()
        return Ticket(self._clock())

    def _note_in_flight(self) -> None:
        pass


class FixedLimit(_Slots):
    """A constant limit (`--oic_concurrency_mode fixed`): the same interface, no adaptation."""

    def __init__(self, limit: int, clock: Clock = time.monotonic, on_change: Optional[OnChange] = None):
        if limit < 1:
            raise ValueError('limit must be at least 1')
        super().__init__(clock, on_change)
        self._limit = int(limit)

    def _current(self) -> int:
        return self._limit

    def _settle(self, ticket: Ticket, signal: str, now: float) -> None:
        pass


class AdaptiveLimit(_Slots):
    """The adaptive limit (module docstring): slow start, then cuts on back-pressure or queueing and probing growth."""

    def __init__(self, ceiling: int, initial: int = 1, floor: float = 1 / 32, backoff: float = 0.9,
                 refusal_backoff: float = 0.95, tolerance: float = 0.2, min_samples: int = 3, plateau_rounds: int = 6,
                 baseline_window_s: float = 30.0, default_rtt_s: float = 0.5, max_pause_s: float = 1.0,
                 paced_gain: float = 0.1, probe_step: float = 0.25, paced_entry: float = 0.5,
                 min_queue_delay_s: float = 0.02, stall_min_in_flight: int = 4, stall_gaps: float = 16.0,
                 stall_rounds: int = 20, served_samples: int = 8,
                 clock: Clock = time.monotonic,
                 on_change: Optional[OnChange] = None):
        if ceiling < 1 or not 0 < floor <= 1:
            raise ValueError('need ceiling >= 1 and 0 < floor <= 1')
        if not 0 < backoff < 1 or not 0 < refusal_backoff < 1 or tolerance <= 0 or min_samples < 1:
            raise ValueError('backoff must be in (0, 1), tolerance positive, min_samples at least 1')
        super().__init__(clock, on_change)
        self.ceiling, self.floor = int(ceiling), float(floor)
        self.backoff, self.tolerance, self.min_samples = backoff, tolerance, min_samples
        self.refusal_backoff = refusal_backoff
        self.plateau_rounds, self.baseline_window_s = plateau_rounds, baseline_window_s
        self._srtt = default_rtt_s  # smoothed RTT of successes (EWMA), for pacing and the served estimate
        self.max_pause_s = max_pause_s
        self.paced_gain = paced_gain
        self.probe_step, self.paced_entry = probe_step, paced_entry
        self.min_queue_delay_s = min_queue_delay_s
        self.served_samples = served_samples
        self.stall_min_in_flight, self.stall_rounds, self.stall_gaps = stall_min_in_flight, stall_rounds, stall_gaps
        self._last_answer = clock()  # a long silence in answers, then late ones, is a stall of the client
        self._stall_end = -math.inf  # the answers to requests sent before this moment were held up by a stall
        self._limit = float(min(max(initial, 1), ceiling))
        self.slow_start = True
        self._step = 1.0
        self._calm_rounds = 0
        self._last_cut = -math.inf
        # (time, round median RTT) of the baseline window, as a monotonic queue: each entry lower than every later
        # one, so the first is the window's minimum (the no-load RTT) in O(1) per answer.
        self._baseline: Deque[Tuple[float, float]] = collections.deque()
        self._successes: Deque[float] = collections.deque()  # completion times of recent successes
        self._round_peak = 0  # most requests in flight during the current round
        self._samples: Deque[Tuple[float, float]] = collections.deque()  # (answered at, RTT) sent after the last cut
        self._paced_since = -math.inf  # when the limit last changed below one
        self._min_rtt = math.inf  # the lowest RTT seen: the no-load RTT until a round has been judged
        self._last_peak = 0
        self._new_round(clock())

    # -- what the tests, the simulator and the metrics read
    @property
    def no_load_rtt(self) -> Optional[float]:
        with self._lock:
            return self._baseline[0][1] if self._baseline else None

    def _value(self) -> float:
        return self._limit

    def _current(self) -> int:
        return max(1, int(self._limit))

    def _note_in_flight(self) -> None:
        self._round_peak = max(self._round_peak, self._in_flight)

    def _new_round(self, now: float) -> None:
        self._round_start = now
        self._last_peak = self._round_peak
        self._round_peak = self._in_flight
        self._round_signal = False

    def _saturated(self) -> bool:
        """Whether the worker used at least half of its limit in this round or the last (else it has no use for
        more: a limit grows only on evidence, as Netflix's and Vector's do)."""
        return 2 * max(self._round_peak, self._last_peak) >= self._limit

    def _settle(self, ticket: Ticket, signal: str, now: float) -> None:
        self._note_stall(ticket, now)
        if signal == OK:
            self._success(ticket, now)
        elif signal in (BACKPRESSURE, TIMEOUT):
            self._round_signal = True
            if ticket.sent_at >= self._last_cut:  # sent after the last cut: a new overshoot
                # What OIC was serving for this worker when it said no: the requests still in flight after a
                # refusal; after a timeout those include hung ones, so the successes of the last no-load round trip.
                if signal == BACKPRESSURE:  # a measurement of OIC's share for us: a smaller margin below it
                    self._cut(self.refusal_backoff * min(self._limit, self._in_flight), now)
                else:
                    self._cut(self.backoff * min(self._limit, self._served(now)), now)
        if self._limit < 1:  # below one request in flight: space them, at most max_pause_s apart (a probe a second)
            self._hold_until = now + min(self.max_pause_s, self._srtt * (1 / self._limit - 1))

    def _note_stall(self, ticket: Ticket, now: float) -> None:
        """Notes a stall: no answer for `stall_gaps` times the usual gap between answers (srtt / requests in flight,
        with at least `stall_min_in_flight` of them), long enough to push a round trip's median RTT past the
        queueing threshold (silence + no-load / 2 queued), ended by an answer that is itself late. A queueing OIC
        answers a full window steadily, later and later; a silence then a burst of late answers is this process
        not reading them (a garbage collection or the runner's own work holding the interpreter: on the local
        stack, ~90 ms every ~3 s) or a pause of the network, and says nothing about OIC's capacity. The requests
        it held up are counted as served but give no RTT samples. At most one stall per `stall_rounds` round
        trips is forgiven: a backend slow for every request, answering synchronised windows, is still cut one
        round trip later."""
        silence, waiting = now - self._last_answer, self._in_flight + 1
        self._last_answer = now
        if (waiting >= self.stall_min_in_flight and self._baseline
                and silence > self.stall_gaps * self._srtt / waiting
                and self._queued(silence + self._no_load() / 2) and self._queued(now - ticket.sent_at)
                and now - self._stall_end > self.stall_rounds * self._srtt):
            self._stall_end = now
            self._samples.clear()

    def _queued(self, rtt: float) -> bool:
        """Whether an RTT shows queueing: above the no-load RTT by more than `tolerance` of it and by more than
        `min_queue_delay_s` (CPU contention on a busy machine is not OIC queueing when the RTT itself is small)."""
        no_load = self._no_load()
        return rtt - no_load > max(self.tolerance * no_load, self.min_queue_delay_s)

    def _no_load(self) -> float:
        """The no-load RTT: the lowest round median of the baseline window, else the lowest RTT seen so far."""
        return self._baseline[0][1] if self._baseline else self._min_rtt

    def _served(self, now: float) -> float:
        """How many requests OIC served at once for this worker lately, by Little's law: the successes of the last
        no-load round trip (queueing in the RTT does not inflate it; older answers may predate a drop in OIC's
        capacity: counting the whole smoothed round trip, which queueing stretches, put a single worker's cut at
        1.1-1.25 x a halved capacity). Where that is fewer than `served_samples` answers (a small worker's count of
        2 or 3 is noise), the rate of the latest `served_samples` answers within the smoothed round trip."""
        no_load = self._no_load() if self._baseline else self._srtt
        while self._successes and self._successes[0] < now - self._srtt:
            self._successes.popleft()
        recent = sum(1 for _ in itertools.takewhile(lambda done: done >= now - no_load, reversed(self._successes)))
        if recent >= self.served_samples:
            return float(recent)
        if len(self._successes) > self.served_samples:
            span = now - self._successes[-self.served_samples - 1]
            if span > 0:
                return self.served_samples / span * no_load
        return len(self._successes) / self._srtt * no_load

    def _success(self, ticket: Ticket, now: float) -> None:
        rtt = now - ticket.sent_at
        self._successes.append(now)
        if ticket.sent_at < self._stall_end:  # held up by a stall: counted as served, not as an RTT sample
            return
        self._srtt = 0.8 * self._srtt + 0.2 * rtt if self._baseline else rtt
        while self._successes[0] < now - 2 * self._srtt:  # only the last round trip is ever counted (_served)
            self._successes.popleft()
        self._min_rtt = min(self._min_rtt, rtt)
        unqueued = not self._queued(rtt)  # this answer shows no queueing: growth allowed
        if self._limit < 1 and unqueued:  # paced: the pace grows by `paced_gain` per round trip at this pace
            since = now - self._paced_since  # time at this pace (since the last cut or step)
            self._limit = min(1.0, self._limit + self.paced_gain * since / max(self._srtt, 1e-6))
            self._paced_since = now
        if ticket.sent_at >= self._last_cut:
            self._samples.append((now, rtt))
        median = self._window_median(now)
        if median is not None and self._baseline and self._queued(median):
            # Queueing: the median of the latest `min_samples` answers (all sent after the last cut) is too slow.
            gradient = max(0.5, self._no_load() / median)  # the share of the RTT that is not queueing (Vegas)
            self._cut(self.backoff * min(self._limit * gradient, self._served(now)), now)
            return
        if self.slow_start and unqueued and self._saturated():  # slow start stops growing at a queued answer
            self._grow(1.0)
        if ticket.sent_at >= self._round_start and now > self._round_start:  # sent after the round began: a round trip
            self._end_round(now, median)

    def _window_median(self, now: float) -> Optional[float]:
        """The median RTT of the answers of the last round trip (sent after the last cut); None while there are
        fewer than `min_samples` of them or fewer than half the limit (a small sample of a large window is noise)."""
        while len(self._samples) > self.min_samples and self._samples[0][0] < now - self._srtt:
            self._samples.popleft()
        if len(self._samples) < (max(self.min_samples, self._limit / 2) if self._limit >= 1 else 1):
            return None
        return statistics.median(rtt for _, rtt in self._samples)

    def _end_round(self, now: float, median: Optional[float]) -> None:
        if median is not None:  # the no-load RTT is the lowest round median of the baseline window
            while self._baseline and self._baseline[-1][1] >= median:  # never the minimum again
                self._baseline.pop()
            self._baseline.append((now, median))
            while self._baseline[0][0] < now - self.baseline_window_s:
                self._baseline.popleft()
        # A round trip grows the limit only if nothing pushed back and the latest answers show no queueing.
        recent = median if median is not None else (self._samples[-1][1] if self._samples else None)
        calm = not self._round_signal and (recent is None or not self._queued(recent))
        if not self.slow_start and calm and self._saturated():
            self._grow(self._step if self._limit >= 1 else 0.0)  # below one the pace grows per success
            self._calm_rounds += 1
            if self._calm_rounds >= self.plateau_rounds:
                self._step = min(2 * self._step, max(1.0, self._limit / 4))
        self._new_round(now)

    def _grow(self, by: float) -> None:
        self._limit = min(float(self.ceiling), self._limit + by)

    def _cut(self, target: float, now: float) -> None:
        if self._limit > 1:
            # A cut goes to its target, however deep (the sliding window sees queueing within a round trip, so the
            # target is measured, not guessed; a clamp at half cost the simulator 6 of 135 runs). Below one request:
            # the paced entry, a real gap for the others (at 0.95 a worker keeps owning its slot).
            cut = min(self._limit, target)
            self._limit = cut if cut >= 1 else max(self.floor, self.paced_entry)
        else:  # at one in flight or less already: halve the pace (exponential backoff, shared by the worker)
            self._limit = max(self.floor, self._limit / 2)
        self.slow_start = False
        self._step = self.probe_step
        self._calm_rounds = 0
        self._last_cut = now
        self._paced_since = now
        self._samples.clear()
        self._new_round(now)
