"""The OIC caller's retry policy: which outcomes are retried, how long to wait (backoff, Retry-After), when to stop."""

import dataclasses
import email.utils
import random
import time

import threading
from typing import Any, Callable, Optional

import tenacity

RETRYABLE_STATUSES = frozenset((408, 429, 500, 502, 503, 504))
OVERLOAD_STATUSES = frozenset((429, 503))
AUTH_STATUSES = frozenset((401, 403))
DEFAULT_MAX_ATTEMPTS = 15  # Attempts per record, the first included (--oic_max_attempts).
DEFAULT_DEADLINE_S = 300.0  # Seconds one record may take, retries included (--oic_deadline); OIC's own sync timeout.
DEFAULT_CONNECT_TIMEOUT_S = 5.0  # --oic_connect_timeout
DEFAULT_READ_TIMEOUT_S = 30.0  # --oic_read_timeout (OIC itself gives up on a synchronous call at 300 s)
DEFAULT_INITIAL_BACKOFF_S = 0.25
DEFAULT_MAX_BACKOFF_S = 20.0
MAX_RETRY_AFTER_S = 300.0  # OIC's own synchronous timeout; a longer Retry-After is treated as this.


def is_retryable(status: Optional[int] = None, error: Optional[str] = None) -> bool:
    """Connection errors, timeouts, a token endpoint that could not answer and 408/429/5xx-transient statuses are
    worth another attempt; nothing else is."""
    if error is not None:
        return error in ('timeout', 'connection_error', 'token_unavailable')
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: Any, now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries of one record: attempts, a total deadline, and exponential backoff with full jitter."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    deadline_s: float = DEFAULT_DEADLINE_S
    initial_backoff_s: float = DEFAULT_INITIAL_BACKOFF_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError('max_attempts must be at least 1')
        if self.deadline_s <= 0 or self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError('deadline must be positive and 0 <= initial backoff <= max backoff')

    def backoff(self, attempt: int, rng: Any = random) -> float:
        """Full-jitter exponential backoff after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * (2 ** (attempt - 1)))
        return rng.uniform(0, ceiling)

    def wait(self, attempt: int, retry_after: Optional[float] = None, rng: Any = random) -> float:
        """Seconds before the next attempt: at least Retry-After when the server sent one (plus up to 10% jitter so
        that clients told the same moment do not return together), else the jittered backoff."""
        if retry_after is not None:
            return retry_after * (1 + rng.uniform(0, 0.1))
        return self.backoff(attempt, rng)

    def retrying(self, stop_event: Optional[threading.Event] = None,
                 spent: Optional[Callable[[], int]] = None,
                 backoff_step: Optional[Callable[[], int]] = None) -> tenacity.Retrying:
        """A tenacity Retrying for attempts that return an object with `.retryable` and `.retry_after`.

        tenacity gives the stop rules (attempts, a deadline that counts the coming sleep) and the loop; the wait is
        ours because it must read Retry-After from the last answer. `stop_event` ends the retries (and any sleep)
        at once, e.g. when the run is stopping because of an authentication failure. `spent`, when given, returns
        how many attempts count against max_attempts (the caller leaves out overload answers: a record waits for
        capacity until its deadline instead of being dead-lettered by a 429 storm); by default every attempt counts.
        `backoff_step`, when given, returns the step of the exponential backoff for the next wait (at least 1) instead
        of the attempt number (the caller passes the attempts that count under an adaptive limit, which backs off from
        overload itself: docs/adaptive-concurrency.md).
        """
        attempts: Any
        if spent is None:
            attempts = tenacity.stop_after_attempt(self.max_attempts)
        else:
            attempts = _AttemptsSpent(spent, self.max_attempts)
        stop: Any = attempts | tenacity.stop_before_delay(self.deadline_s)
        sleep: Callable[[float], Any] = time.sleep
        if stop_event is not None:
            stop = stop | tenacity.stop_when_event_set(stop_event)
            sleep = stop_event.wait

        def wait(state: tenacity.RetryCallState) -> float:
            assert state.outcome is not None  # tenacity calls wait after an attempt.
            result = state.outcome.result()
            step = state.attempt_number if backoff_step is None else max(1, backoff_step())
            return self.wait(step, result.retry_after)

        return tenacity.Retrying(
            stop=stop, wait=wait, sleep=sleep,
            retry=tenacity.retry_if_result(lambda result: result.retryable),
            retry_error_callback=_last_result)


def _last_result(state: tenacity.RetryCallState) -> Any:
    """What the last attempt returned: the caller's Attempt, once tenacity stops retrying."""
    assert state.outcome is not None
    return state.outcome.result()


class _AttemptsSpent(tenacity.stop.stop_base):
    """Stops once `spent()` (attempts that count: overload answers waited out do not) reaches `limit`."""

    def __init__(self, spent: Callable[[], int], limit: int):
        self._spent, self._limit = spent, limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._spent() >= self._limit
