"""Client-side throttling for the OIC caller: adaptive backoff on overload signals and an optional hard rate cap."""

import contextlib
import random
import threading
import time
from typing import Optional

from apache_beam.io.components.util import MovingSum

WINDOW_MS = 30_000
BUCKET_MS = 1_000
OVERLOAD_RATIO = 2.0  # The SRE book's K: requests may exceed accepted ones by this factor before throttling starts.
HOLD_S = (0.5, 2.0)  # How long a held-back request waits before it goes (random, to spread them out).


class TokenBucket:
    """A thread-safe hard cap of `rate` requests per second with a burst of `burst`.

    Written here (twenty lines) because Beam's only rate limiter needs an Envoy service and no well-kept library
    does a blocking, deadline-aware, thread-safe bucket without another dependency on the workers.
    """

    def __init__(self, rate, burst=None, clock=time.monotonic):
        if rate <= 0:
            raise ValueError('rate must be positive')
        self.rate = float(rate)
        self.burst = float(burst or max(1.0, rate / 10))
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self):
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

    def __init__(self, window_ms=WINDOW_MS, bucket_ms=BUCKET_MS, overload_ratio=OVERLOAD_RATIO, clock=time.time,
                 rng=None):
        self._requests = MovingSum(window_ms, bucket_ms)
        self._accepted = MovingSum(window_ms, bucket_ms)
        self._ratio, self._clock = float(overload_ratio), clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def _now_ms(self):
        return int(self._clock() * 1000)

    def probability(self):
        now = self._now_ms()
        with self._lock:
            if not self._requests.has_data(now):
                return 0.0
            requests, accepted = self._requests.sum(now), self._accepted.sum(now)
        return max(0.0, (requests - self._ratio * accepted) / (requests + 1))

    def should_hold(self):
        return self._rng.random() < self.probability()

    def record(self, accepted):
        """Counts one answered request; `accepted` is False for an overload signal."""
        now = self._now_ms()
        with self._lock:
            self._requests.add(now, 1)
            if accepted:
                self._accepted.add(now, 1)


class Gate:
    """Where each request waits for its turn: the overload throttler, then the rate cap.

    The throttler is asked once per request: asking again while held would count as more requests and keep the
    throttling probability near 1 long after the endpoint recovered."""

    def __init__(self, throttler, bucket=None, hold_s=HOLD_S, slots=None):
        self.throttler, self.bucket, self._hold_s = throttler, bucket, hold_s
        # Request slots shared by every caller of the process (a semaphore), or no limit beyond each caller's pool.
        self.slots = slots if slots is not None else contextlib.nullcontext()

    def wait_turn(self, deadline, stop_event=None):
        """Blocks until the request may go; returns (went, times held back, seconds held). `went` is False when the
        monotonic `deadline` passed (or `stop_event` was set) first."""
        held, held_s = 0, 0.0
        sleep = stop_event.wait if stop_event is not None else time.sleep
        if self.throttler.should_hold():
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
    """What every DoFn instance (and thread) of one PostToOIC in a worker process shares: the overload signals, the
    rate cap and the request slots. Held through Beam's `shared.Shared`, so it lives as long as a DoFn uses it."""

    def __init__(self, concurrency: int, max_rps: Optional[float] = None):
        self.throttler = OverloadThrottler()
        self.bucket = TokenBucket(max_rps) if max_rps else None
        self.slots = threading.BoundedSemaphore(concurrency)

    def gate(self) -> 'Gate':
        """A Gate over this worker's shared state."""
        return Gate(self.throttler, self.bucket, slots=self.slots)
