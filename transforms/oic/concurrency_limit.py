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
- **Queueing** (latency grows, no errors: a backend that makes requests wait instead of refusing). Latency is a
  noisy hint, explicit signals are not: an OIC flow that calls BigQuery answers with a lognormal spread (sigma 0.3
  puts p99 at 2x the median), so the rule only fires on queueing that stands out from the endpoint's own spread.
  At every success the median RTT of the last round trip's answers (at least `min_samples`, and half the limit, all
  sent after the last cut) is compared with the no-load RTT: a decaying minimum of round medians (a lower one is
  taken at once, a higher one pulls it up by `baseline_rise`, 5%, of the gap per round trip, so a lasting rise of
  OIC's own latency is adopted within some tens of round trips and stops cutting; every round counts, queued or
  not). It is queueing when the median is above it by more than `min_queue_delay_s` (20 ms: CPU contention on a
  busy laptop moves a local server's 20 ms RTT by that much) and by a ratio above the larger of `tolerance` (20%)
  and `rtt_deviation_scale` (5) standard errors of the difference, from the measured spread (successive answers'
  differences of log RTT, beyond a `spread_floor` of 0.15 that a shared queue alone produces) and the number of
  answers behind the median and behind the no-load RTT (Vector's deviation-based threshold; Netflix Gradient2's
  long/short ratio with a tolerance; not TCP Vegas's lowest-RTT-plus-margin, which reads jitter as queueing). At
  constant latency that is the 20% it always was. The limit is then cut to `backoff` x the lower of
  limit x no-load / median (the share of the RTT that is not queueing, as Vegas and Envoy's gradient; at least 0.5)
  and the served estimate above. Judging a sliding window, not whole rounds, cuts within the round trip in which
  queueing appears.
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
  A worker never hammers a full OIC with back-to-back requests. Only explicit signals pace: queueing read from
  latency cuts to one request at the lowest (latency is a hint; a worker held below one request by it alone stalls
  a stream against an endpoint whose answers merely slow down).
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
import dataclasses
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
# The shortest RTT a success counts as: a clock's resolution. An answer measured at zero seconds (two reads of a coarse
# clock, a virtual clock) would make the smoothed and no-load RTTs zero, which every ratio of the rules divides by.
MIN_RTT_S = 1e-6


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


@dataclasses.dataclass(frozen=True)
class LimiterSettings:
    """The adaptive limit's knobs (the module docstring says what each rule does with them); the defaults are the
    tuned ones (docs/adaptive-concurrency.md, benchmarks/limiter_sim.py). The ceiling is not a knob: it is the
    worker's share of the job's budget (transforms/oic/budget.py), handed to AdaptiveLimit beside these."""
    initial: int = 1  # the limit at start (slow start grows it)
    floor: float = 1 / 32  # the lowest pace below one request in flight
    backoff: float = 0.9  # a cut after a timeout or queueing: this x the served estimate
    refusal_backoff: float = 0.95  # a cut after a refusal: this x the requests still in flight
    tolerance: float = 0.2  # the smallest RTT rise (ratio) read as queueing
    min_samples: int = 3  # answers behind a round trip's median RTT, at least
    plateau_rounds: int = 6  # calm rounds after a cut at `probe_step` before the step doubles
    default_rtt_s: float = 0.5  # the smoothed RTT before any answer
    max_pause_s: float = 1.0  # the longest pause between paced requests (an outage probed every second)
    paced_gain: float = 0.1  # pace gained per round trip of time at the pace, below one request
    probe_step: float = 0.25  # growth per calm round after a cut
    paced_entry: float = 0.5  # the pace a cut below one request starts at
    min_queue_delay_s: float = 0.02  # the smallest RTT rise (seconds) read as queueing
    stall_min_in_flight: int = 4  # stalls are only told apart with this many requests waiting
    stall_gaps: float = 16.0  # a silence of this many usual gaps between answers may be a stall
    stall_rounds: int = 20  # at most one stall forgiven per this many round trips
    served_samples: int = 8  # answers behind the served estimate, at least
    rtt_deviation_scale: float = 5.0  # standard errors of the difference a queueing RTT must stand out by
    baseline_rise: float = 0.05  # share of the gap a higher round median pulls the no-load RTT up, per round trip
    baseline_fall: float = 1.0  # share of the gap a lower round median pulls it down
    spread_alpha: float = 0.02  # the weight of a new answer in the spread's EWMA
    spread_floor: float = 0.15  # the spread a shared queue alone produces (not counted)

    def __post_init__(self):
        if not 0 < self.floor <= 1:
            raise ValueError('need 0 < floor <= 1')
        if (not 0 < self.backoff < 1 or not 0 < self.refusal_backoff < 1 or self.tolerance <= 0
                or self.min_samples < 1):
            raise ValueError('backoff must be in (0, 1), tolerance positive, min_samples at least 1')
        if (not 0 < self.baseline_rise <= self.baseline_fall <= 1 or not 0 < self.spread_alpha <= 1
                or self.rtt_deviation_scale < 0):
            raise ValueError('need 0 < baseline_rise <= baseline_fall <= 1, 0 < spread_alpha <= 1, '
                             'rtt_deviation_scale >= 0')


class AdaptiveLimit(_Slots):
    """The adaptive limit (module docstring): slow start, then cuts on back-pressure or queueing and probing growth.
    `ceiling`: the most requests in flight; `settings`: the rules' knobs."""

    def __init__(self, ceiling: int, settings: LimiterSettings = LimiterSettings(), clock: Clock = time.monotonic,
                 on_change: Optional[OnChange] = None):
        if ceiling < 1:
            raise ValueError('need ceiling >= 1')
        super().__init__(clock, on_change)
        self.ceiling, self.settings = int(ceiling), settings
        self._srtt = settings.default_rtt_s  # smoothed RTT of successes (EWMA), for pacing and the served estimate
        # The endpoint's own spread: an EWMA (bias-corrected) of |log RTT - the previous answer's log RTT|.
        self._last_log: Optional[float] = None
        self._spread_sum = 0.0
        self._spread_weight = 0.0
        self._baseline_at = -math.inf  # when the no-load RTT last learnt a round median
        self._baseline_n = 0.0  # the no-load RTT's error, in answers' worth (a median of n answers: n)
        self._last_answer = clock()  # a long silence in answers, then late ones, is a stall of the client
        self._stall_end = -math.inf  # the answers to requests sent before this moment were held up by a stall
        self._limit = float(min(max(settings.initial, 1), ceiling))
        self.slow_start = True
        self._step = 1.0
        self._calm_rounds = 0
        self._last_cut = -math.inf
        # The no-load RTT (log): a decaying minimum of the round medians (None: none judged yet).
        self._baseline: Optional[float] = None
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
            return math.exp(self._baseline) if self._baseline is not None else None

    @property
    def rtt_spread(self) -> float:
        """The endpoint's measured spread: the standard deviation of log RTT (0.3 for lognormal sigma 0.3)."""
        with self._lock:
            return self._spread()

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
                    self._cut(self.settings.refusal_backoff * min(self._limit, self._in_flight), now)
                else:
                    self._cut(self.settings.backoff * min(self._limit, self._served(now)), now)
        if self._limit < 1:  # below one request in flight: space them, at most max_pause_s apart (a probe a second)
            self._hold_until = now + min(self.settings.max_pause_s, self._srtt * (1 / self._limit - 1))

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
        if (waiting >= self.settings.stall_min_in_flight and self._baseline is not None
                and silence > self.settings.stall_gaps * self._srtt / waiting
                and self._queued(silence + self._no_load() / 2) and self._queued(now - ticket.sent_at)
                and now - self._stall_end > self.settings.stall_rounds * self._srtt):
            self._stall_end = now
            self._samples.clear()

    def _queued(self, rtt: float, samples: int = 1) -> bool:
        """Whether an RTT (the median of `samples` answers) shows queueing: above the no-load RTT by more than
        `min_queue_delay_s` (CPU contention on a busy machine is not OIC queueing when the RTT itself is small) and
        by a ratio that stands out from the endpoint's own spread (`_threshold`)."""
        no_load = self._no_load()
        if rtt - no_load <= self.settings.min_queue_delay_s:
            return False
        return math.log(rtt / no_load) > self._threshold(samples)

    def _threshold(self, samples: int) -> float:
        """How far (log ratio) a median of `samples` answers must be above the no-load RTT to read as queueing: the
        larger of `tolerance` (20%) and `rtt_deviation_scale` (5) standard errors of the difference (Vector's
        deviation-based threshold). The median of n answers of spread sigma has a standard error of about
        1.25 sigma / sqrt(n); the no-load RTT has its own (`_baseline_n`), and being a decaying minimum it sits
        about two of them below the typical median: the scale covers that bias and a margin of ~3. The spread
        counted is what exceeds `spread_floor` (0.15, in quadrature): below it the tolerance alone judges, as it
        always did; at constant service time a shared queue alone makes answers spread by 0.1-0.18 (the
        simulator's 4 workers on C = 8), and counting that made the rule miss the queues it exists for."""
        spread = math.sqrt(max(0.0, self._spread() ** 2 - self.settings.spread_floor ** 2))
        weight = 1 / max(1, samples) + (1 / self._baseline_n if self._baseline_n else 1.0)
        error = spread * 1.25 * math.sqrt(min(1.0, weight))
        return max(math.log1p(self.settings.tolerance), self.settings.rtt_deviation_scale * error)

    def _spread(self) -> float:
        """The endpoint's spread: the standard deviation of log RTT, from the mean absolute difference of successive
        answers (x sqrt(pi) / 2, exact for independent normal samples; 0.3 for lognormal sigma 0.3)."""
        return 0.8862 * self._spread_sum / self._spread_weight if self._spread_weight else 0.0

    def _note_spread(self, rtt: float) -> None:
        """The difference in log RTT between successive answers (capped at 1.5, a 4.5x answer, so a rare outlier
        does not widen the threshold for long). Successive differences measure the spread of independent answers
        but not a level that moves slowly (a queue building, a drift of the endpoint): a queue does not widen the
        threshold that should catch it."""
        x = math.log(max(rtt, 1e-9))
        if self._last_log is not None:
            a = self.settings.spread_alpha
            self._spread_sum = (1 - a) * self._spread_sum + a * min(1.5, abs(x - self._last_log))
            self._spread_weight = (1 - a) * self._spread_weight + a
        self._last_log = x

    def _learn_baseline(self, median: float, samples: int) -> None:
        """The no-load RTT is a decaying minimum of the judged round medians (log), learnt from every one, queued or
        not: a lower median is taken at once (`baseline_fall`, 1: an emptied queue shows the no-load RTT), a higher
        one pulls it up by `baseline_rise` (5%) of the gap per round trip of time since the last (a paced worker's
        rounds last seconds). A queue is cut long before it is learnt; a lasting rise of the endpoint's own latency
        (0.3 s to 0.45 s) is adopted within some tens of round trips, and the latency rule stops cutting (the lowest
        round median of the last 30 s, renewed only by unqueued rounds, held the limit at its floor for good). Its
        error, in answers' worth, is tracked for `_threshold`: a minimum set by a round of 3 answers is far less
        certain than one set by 50."""
        x = math.log(max(median, 1e-9))
        now = self._clock()
        if self._baseline is None:
            share = 1.0
        elif x < self._baseline:
            share = self.settings.baseline_fall
        else:  # per round trip of time since the last round learnt (a paced worker's rounds are long)
            trips = min(10.0, max(1.0, (now - self._baseline_at) / max(self._srtt, 1e-6)))
            share = 1 - (1 - self.settings.baseline_rise) ** trips
        base = self._baseline if self._baseline is not None else x
        self._baseline = base + share * (x - base)
        # How many answers' worth the baseline's error is (a blend of two independent estimates).
        old = (1 - share) ** 2 / self._baseline_n if self._baseline_n else 0.0
        self._baseline_n = 1 / (old + share ** 2 / max(1, samples))
        self._baseline_at = now

    def _no_load(self) -> float:
        """The no-load RTT: the decaying minimum of round medians, else the lowest RTT seen so far."""
        return math.exp(self._baseline) if self._baseline is not None else self._min_rtt

    def _served(self, now: float) -> float:
        """How many requests OIC served at once for this worker lately, by Little's law: the successes of the last
        no-load round trip (queueing in the RTT does not inflate it; older answers may predate a drop in OIC's
        capacity: counting the whole smoothed round trip, which queueing stretches, put a single worker's cut at
        1.1-1.25 x a halved capacity). Where that is fewer than `served_samples` answers (a small worker's count of
        2 or 3 is noise), the rate of the latest `served_samples` answers within the smoothed round trip."""
        no_load = self._no_load() if self._baseline is not None else self._srtt
        while self._successes and self._successes[0] < now - self._srtt:
            self._successes.popleft()
        recent = sum(1 for _ in itertools.takewhile(lambda done: done >= now - no_load, reversed(self._successes)))
        if recent >= self.settings.served_samples:
            return float(recent)
        if len(self._successes) > self.settings.served_samples:
            span = now - self._successes[-self.settings.served_samples - 1]
            if span > 0:
                return self.settings.served_samples / span * no_load
        return len(self._successes) / self._srtt * no_load

    def _success(self, ticket: Ticket, now: float) -> None:
        rtt = max(now - ticket.sent_at, MIN_RTT_S)
        self._successes.append(now)
        if ticket.sent_at < self._stall_end:  # held up by a stall: counted as served, not as an RTT sample
            return
        self._srtt = 0.8 * self._srtt + 0.2 * rtt if self._baseline is not None else rtt
        while self._successes[0] < now - 2 * self._srtt:  # only the last round trip is ever counted (_served)
            self._successes.popleft()
        self._min_rtt = min(self._min_rtt, rtt)
        self._note_spread(rtt)
        unqueued = self._baseline is None or not self._queued(rtt)  # this answer shows no queueing: growth allowed
        if self._limit < 1 and unqueued:  # paced: the pace grows by `paced_gain` per round trip at this pace
            since = now - self._paced_since  # time at this pace (since the last cut or step)
            self._limit = min(1.0, self._limit + self.settings.paced_gain * since / max(self._srtt, 1e-6))
            self._paced_since = now
        if ticket.sent_at >= self._last_cut:
            self._samples.append((now, rtt))
        median, count = self._window_median(now)
        if median is not None and self._baseline is not None and self._queued(median, count):
            # Queueing: the median of the last round trip's answers (all sent after the last cut) is too slow.
            gradient = max(0.5, self._no_load() / median)  # the share of the RTT that is not queueing (Vegas)
            self._learn_baseline(median, count)  # a lasting rise is adopted even while it is being cut
            self._cut(self.settings.backoff * min(self._limit * gradient, self._served(now)), now, explicit=False)
            return
        if self.slow_start and unqueued and self._saturated():  # slow start stops growing at a queued answer
            self._grow(1.0)
        if ticket.sent_at >= self._round_start and now > self._round_start:  # sent after the round began: a round trip
            self._end_round(now, median, count)

    def _window_median(self, now: float) -> Tuple[Optional[float], int]:
        """The median RTT of the answers of the last round trip (sent after the last cut); None while there are
        fewer than `min_samples` of them or fewer than half the limit (a small sample of a large window is noise)."""
        while len(self._samples) > self.settings.min_samples and self._samples[0][0] < now - self._srtt:
            self._samples.popleft()
        count = len(self._samples)
        if count < (max(self.settings.min_samples, self._limit / 2) if self._limit >= 1 else 1):
            return None, count
        return statistics.median(rtt for _, rtt in self._samples), count

    def _end_round(self, now: float, median: Optional[float], count: int) -> None:
        if median is not None:
            self._learn_baseline(median, count)
        # A round trip grows the limit only if nothing pushed back and the latest answers show no queueing.
        if median is None:
            median, count = (self._samples[-1][1], 1) if self._samples else (None, 0)
        calm = not self._round_signal and (median is None or not self._queued(median, count))
        if not self.slow_start and calm and self._saturated():
            self._grow(self._step if self._limit >= 1 else 0.0)  # below one the pace grows per success
            self._calm_rounds += 1
            if self._calm_rounds >= self.settings.plateau_rounds:
                self._step = min(2 * self._step, max(1.0, self._limit / 4))
        self._new_round(now)

    def _grow(self, by: float) -> None:
        self._limit = min(float(self.ceiling), self._limit + by)

    def _cut(self, target: float, now: float, explicit: bool = True) -> None:
        if not explicit:  # queueing read from latency: a hint, so never below one request (no pacing from it)
            if self._limit <= 1:
                return  # at one request or paced already: nothing to cut, and a pace is not reset
            self._limit = max(1.0, min(self._limit, target))
        elif self._limit > 1:
            # A cut goes to its target, however deep (the sliding window sees queueing within a round trip, so the
            # target is measured, not guessed; a clamp at half cost the simulator 6 of 135 runs). Below one request:
            # the paced entry, a real gap for the others (at 0.95 a worker keeps owning its slot).
            cut = min(self._limit, target)
            self._limit = cut if cut >= 1 else max(self.settings.floor, self.settings.paced_entry)
        else:  # at one in flight or less already: halve the pace (exponential backoff, shared by the worker)
            self._limit = max(self.settings.floor, self._limit / 2)
        self.slow_start = False
        self._step = self.settings.probe_step
        self._calm_rounds = 0
        self._last_cut = now
        self._paced_since = now
        self._samples.clear()
        self._new_round(now)
