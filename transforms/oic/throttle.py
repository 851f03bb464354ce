"""Client-side throttling for the OIC caller: the limit on requests in flight (adaptive or fixed), the SRE overload
throttle (fixed mode), and an optional hard rate cap."""

import random
import threading
import time
from typing import Callable, List, NamedTuple, Optional, Tuple, Union

from apache_beam.io.components.util import MovingSum

from transforms.oic.budget import ADAPTIVE, DEFAULT_MODE, FIXED, MODES as CONCURRENCY_MODES
from transforms.oic.concurrency_limit import AdaptiveLimit, FixedLimit, Ticket, signal_of

WINDOW_MS = 30_000
BUCKET_MS = 1_000
OVERLOAD_RATIO = 2.0  # The SRE book's K: requests may exceed accepted ones by this factor before throttling starts.
HOLD_S = (0.5, 2.0)  # How long a held-back request waits before it goes (random, to spread them out).


class TokenBucket:
    """A thread-safe hard cap of `rate` requests per second with a burst of `burst`.

    Written here (twenty lines) because Beam's only rate limiter needs an Envoy service and no well-kept library
    does a blocking, deadline-aware, thread-safe bucket without another dependency on the workers.
    """

    def __init__(self, rate: float, burst: Optional[float] = None, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError('rate must be positive')
        self.rate = float(rate)
        self.burst = float(burst or max(1.0, rate / 10))
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Takes one token; returns how many seconds the caller must wait before using it (0 when available)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class OverloadThrottler:
    """Client-side throttling from Google's SRE book ("Handling Overload"), thread-safe, on Beam's MovingSum.

    Hold probability = max(0, (requests - K * accepted) / (requests + 1)) over the last WINDOW_MS, where every
    answer except an overload signal (429, 503, a timeout, no connection) counts as accepted. While the endpoint
    rejects many requests, each caller holds back a matching share of its requests, so all workers ease off
    together and recover as the endpoint does. Beam's AdaptiveThrottler implements the same formula but counts a
    request when it is asked: with many requests in flight that throttles a healthy endpoint at start-up (16 sent,
    none answered yet) and, asked again while holding, keeps throttling long after the endpoint recovered. Here a
    request counts when its answer arrives.
    """

    def __init__(self, window_ms: int = WINDOW_MS, bucket_ms: int = BUCKET_MS, overload_ratio: float = OVERLOAD_RATIO,
                 clock: Callable[[], float] = time.time, rng: Optional[random.Random] = None):
        self._requests = MovingSum(window_ms, bucket_ms)
        self._accepted = MovingSum(window_ms, bucket_ms)
        self._ratio, self._clock = float(overload_ratio), clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def _now_ms(self):
        return int(self._clock() * 1000)

    def probability(self) -> float:
        now = self._now_ms()
        with self._lock:
            if not self._requests.has_data(now):
                return 0.0
            requests, accepted = self._requests.sum(now), self._accepted.sum(now)
        return max(0.0, (requests - self._ratio * accepted) / (requests + 1))

    def should_hold(self) -> bool:
        return self._rng.random() < self.probability()

    def record(self, accepted: bool) -> None:
        """Counts one answered request; `accepted` is False for an overload signal."""
        now = self._now_ms()
        with self._lock:
            self._requests.add(now, 1)
            if accepted:
                self._accepted.add(now, 1)


class Turn(NamedTuple):
    """One attempt's turn at the gate: whether it may go, how often and how long it was held back, and its slot of
    the concurrency limit (None without a limiter), given back with Gate.give_back."""
    went: bool
    held: int
    held_s: float
    ticket: Optional[Ticket] = None


class Gate:
    """The caller's flow control, per attempt: its turn (`take_turn`: the overload throttler, if any, then the rate
    cap, then a slot of the concurrency limit `limiter`) and what its answer said (`give_back`: the slot back with
    the answer's signal, the answer counted by the throttler).

    The throttler is asked once per request: asking again while held would count as more requests and keep the
    throttling probability near 1 long after the endpoint recovered. A request waiting for a rate token holds no
    slot, so a rate cap never makes the adaptive limit look saturated."""

    def __init__(self, throttler: Optional[OverloadThrottler] = None, bucket: Optional[TokenBucket] = None,
                 hold_s: Tuple[float, float] = HOLD_S, limiter: Optional[Union[AdaptiveLimit, FixedLimit]] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.throttler, self.bucket, self._hold_s = throttler, bucket, hold_s
        # Request slots shared by every caller of the process, or (None) no limit beyond each caller's pool.
        self.limiter = limiter
        self.clock = clock  # the limiter's clock: when a request is sent, for its RTT sample

    def take_turn(self, deadline: float, stop_event: Optional[threading.Event] = None) -> Turn:
        """Blocks until the attempt may go and holds a slot of the limit for it (wait_turn, then the limiter); not
        `went` when the monotonic `deadline` passed (or `stop_event` was set) first. A wait for a slot of an adaptive
        limit that OIC's answers keep below its ceiling counts as held back (a wait at the ceiling or under a fixed
        limit is the job's own choice, not OIC's)."""
        went, held, held_s = self.wait_turn(deadline, stop_event)
        limiter, ticket = self.limiter, None
        if went and limiter is not None:
            waited = time.monotonic()
            ticket = limiter.acquire(deadline, stop_event)
            waited = time.monotonic() - waited
            went = ticket is not None
            if waited > 0.001 and limiter.limit < getattr(limiter, 'ceiling', 0):
                held, held_s = held + 1, held_s + waited
        return Turn(went, held, held_s, ticket)

    def give_back(self, turn: Turn, sent_at: Optional[float], status: Optional[int], error: Optional[str]) -> None:
        """The turn's slot back with what the answer said about OIC's capacity (concurrency_limit.signal_of of its
        status or error kind). The RTT sample runs from `sent_at` (the gate's clock), when the request that answered
        was sent, if later than the slot: not the token fetch (nor a refused request and a new token) between."""
        if turn.ticket is None or self.limiter is None:
            return
        ticket = turn.ticket
        if sent_at is not None and sent_at > ticket.sent_at:
            ticket = ticket._replace(sent_at=sent_at)
        self.limiter.release(ticket, signal_of(status, error))

    def answered(self, overloaded: bool) -> None:
        """Counts one answer for the overload throttler (fixed mode): `overloaded` for 429, 503, a timeout or no
        connection."""
        if self.throttler is not None:
            self.throttler.record(accepted=not overloaded)

    def wait_turn(self, deadline: float, stop_event: Optional[threading.Event] = None) -> Tuple[bool, int, float]:
        """Blocks until the request may go; returns (went, times held back, seconds held). `went` is False when the
        monotonic `deadline` passed (or `stop_event` was set) first."""
        held, held_s = 0, 0.0
        sleep = stop_event.wait if stop_event is not None else time.sleep
        if self.throttler is not None and self.throttler.should_hold():
            pause = random.uniform(*self._hold_s)
            if time.monotonic() + pause > deadline:
                return False, 1, 0.0
            sleep(pause)
            held, held_s = 1, pause
        if stop_event is not None and stop_event.is_set():
            return False, held, held_s
        if self.bucket is not None:
            pause = self.bucket.reserve()
            if pause:
                if time.monotonic() + pause > deadline:
                    return False, held + 1, held_s
                sleep(pause)
                held, held_s = held + 1, held_s + pause
        return True, held, held_s


class WorkerState:
    """What every DoFn instance (and thread) of one PostToOIC in a worker process shares: the concurrency limit, the
    overload throttle (fixed mode only), the rate cap and the limit's history. Held through Beam's `shared.Shared`,
    so it lives as long as a DoFn uses it.

    In adaptive mode the limit replaces the SRE throttle: both react to the same 429/503 signals, and on top of a
    limit that already cut the requests in flight the throttle's random holds only add latency (and, counting
    requests when asked, kept throttling after recovery). In fixed mode the throttle stays as it was.
    """

    def __init__(self, concurrency: int, max_rps: Optional[float] = None, mode: str = DEFAULT_MODE,
                 clock: Callable[[], float] = time.monotonic):
        if mode not in CONCURRENCY_MODES:
            raise ValueError('concurrency mode must be one of %s' % (CONCURRENCY_MODES,))
        self.mode, self.ceiling = mode, concurrency
        self.throttler = OverloadThrottler() if mode == FIXED else None
        self.bucket = TokenBucket(max_rps) if max_rps else None
        self.history: List[Tuple[float, float]] = []  # (unix time, limit) at every change, for the run record
        self._lock = threading.Lock()
        self._changes_reported = 0
        self._clock = clock
        self._paced_from: Optional[float] = None  # when the limit went below one request (None: it is not)
        self._paced_s = 0.0  # time paced below one request not yet taken (take_paced_ms)
        self.limiter: Union[AdaptiveLimit, FixedLimit]
        if mode == ADAPTIVE:
            self.limiter = AdaptiveLimit(concurrency, on_change=self._changed, clock=clock)
        else:
            self.limiter = FixedLimit(concurrency, clock=clock)
        self._changed(None, self.limiter.limit_value)

    def _changed(self, when: Optional[float], limit: float) -> None:
        with self._lock:  # called under the limiter's lock; this one is never held while taking that one
            self.history.append((time.time(), round(limit, 3)))
            now = self._clock() if when is None else when
            if limit < 1 and self._paced_from is None:
                self._paced_from = now
            elif limit >= 1 and self._paced_from is not None:
                self._paced_s += now - self._paced_from
                self._paced_from = None

    def take_paced_ms(self) -> int:
        """Milliseconds this worker's limit spent below one request (paced) since the last call, whole ones (the
        rest is kept for the next call): a Beam counter whose rate over wall time is how many workers are paced,
        which the limit's gauge (1 while paced) does not show."""
        with self._lock:
            if self._paced_from is not None:
                now = self._clock()
                self._paced_s += now - self._paced_from
                self._paced_from = now
            taken = int(self._paced_s * 1000)
            self._paced_s -= taken / 1000
            return taken

    def take_history(self) -> List[Tuple[float, float]]:
        """The limit changes since the last call (for the run record), oldest first."""
        with self._lock:
            taken, self.history = self.history, []
            return taken

    def take_changes(self) -> int:
        """How many times the limit changed since the last call (for a Beam counter; one reader per change)."""
        with self._lock:
            changes = self.limiter.changes
            new, self._changes_reported = changes - self._changes_reported, changes
            return new

    def gate(self) -> 'Gate':
        """A Gate over this worker's shared state."""
        return Gate(self.throttler, self.bucket, limiter=self.limiter, clock=self._clock)
