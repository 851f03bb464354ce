"""The OIC caller's flow control in one part: per attempt the overload throttle, the rate cap and a slot of the
concurrency limit (throttle.Gate), between attempts the retry policy (retry.RetryPolicy). The caller hands it a
function that sends one request and gets back the last answer, as Beam's RequestResponseIO hands its Caller to a
Repeater behind a throttler. The batched path's rounds (the rows a batch trigger refused with a retryable reason,
sent again together: transforms/oic/batch/send.py) wait and stop under the same policy here (between_rounds)."""

import dataclasses
import threading
from typing import Any, Callable, Dict, Optional, Protocol, TypeVar

from transforms.oic import concurrency_limit as cl
from transforms.oic.retry import OVERLOAD_STATUSES, RetryPolicy
from transforms.oic.throttle import Gate


class Answer(Protocol):
    """What one attempt returned (caller.Attempt): a status, or an error kind; whether a request went out; whether it
    is worth another attempt and after how long the server asked to wait."""
    status: Optional[int]
    error: Optional[str]
    sent: bool
    retry_after: Optional[float]

    @property
    def retryable(self) -> bool: ...


A = TypeVar('A', bound=Answer)


def is_overload(result: Answer) -> bool:
    """An answer in which OIC (or its gateway) says it is busy: 429, 503, 504. It cuts the concurrency limit (as do
    timeouts and connection errors) and, while the record's deadline allows, does not count against its
    max_attempts: the record waits for capacity. A timeout or a refused connection may be an OIC that is down or
    misaddressed, so those still count (the attempt cap bounds them)."""
    return result.sent and result.error is None and result.status in cl.BACKPRESSURE_STATUSES


def _signal(result: Optional[Answer]):
    """(status, error) of an attempt for the limiter; a send that raised (a bug) says nothing about OIC, nor does
    the record's own deadline ('deadline': signal_of gives IGNORE)."""
    return (result.status, result.error) if result is not None else (None, 'internal_error')


@dataclasses.dataclass(frozen=True)
class FlowControl:
    """The gate every attempt passes (throttle, rate cap, concurrency limit: shared by the process's callers) and the
    retry policy of one unit (a record, or a batch's request)."""
    gate: Gate
    retry: RetryPolicy = RetryPolicy()

    def clock(self) -> float:
        """The limiter's clock: when a request is sent, for its RTT sample."""
        return self.gate.clock()

    def within(self, deadline_s: Optional[float]) -> 'FlowControl':
        """This flow control with the retry policy's deadline cut to `deadline_s` when given (what is left of a
        batch's deadline after its earlier requests: docs/oic-batching.md)."""
        if deadline_s is None:
            return self
        return dataclasses.replace(self, retry=dataclasses.replace(
            self.retry, deadline_s=max(min(deadline_s, self.retry.deadline_s), 1e-3)))

    def run(self, send: Callable[[], A], not_sent: Callable[[str], A], deadline: float, stop_event: threading.Event,
            counts: Dict[str, Any]) -> A:
        """Attempts `send` until its answer is not retryable or the retry policy gives up; returns the last answer.

        Each attempt first takes its turn at the gate until the monotonic `deadline` (no turn: `not_sent('stopped')`
        when `stop_event` is set, else `not_sent('deadline')`), and gives its slot back with what the answer said
        about OIC's capacity, from counts['sent_at'] (the gate's clock) when `send` set it. `counts` gathers 'held',
        'held_s', 'charged' (attempts that count against max_attempts: overload answers do not) and 'overloads'."""
        gate = self.gate

        def attempt() -> A:
            turn = gate.take_turn(deadline, stop_event)  # the throttle, the rate cap, a slot of the limit
            counts['held'] += turn.held
            counts['held_s'] += turn.held_s
            if not turn.went:
                return not_sent('stopped' if stop_event.is_set() else 'deadline')
            result = None
            counts.pop('sent_at', None)
            try:
                result = send()
            finally:  # the slot goes back whatever happened, with what the answer said about OIC's capacity
                gate.give_back(turn, counts.pop('sent_at', None), *_signal(result))
            if result.error == 'deadline':  # the record's own deadline, not an answer of OIC's: no signal
                return result
            if not is_overload(result):
                counts['charged'] += 1
            overloaded = result.status in OVERLOAD_STATUSES or result.error is not None
            counts['overloads'] += overloaded
            gate.answered(overloaded)
            return result

        charged = lambda: int(counts['charged'])  # noqa: E731
        # Under an adaptive limit the limit backs off from overload (a cut, pacing); a record's own backoff grows
        # only with the attempts that count. A fixed limit does not back off, so there every attempt grows it.
        retrying = self.retry.retrying(stop_event, spent=charged,
                                       backoff_step=charged if isinstance(gate.limiter, cl.AdaptiveLimit) else None)
        return retrying(attempt)


def between_rounds(retry: RetryPolicy, round_: int, elapsed_s: float, stop_event: threading.Event,
                   sleep: Callable[[float], Any]) -> Optional[str]:
    """Between a batch's rounds under the retry policy `retry` (each round is one request of the rows still pending,
    itself retried by FlowControl.run): sleeps the policy's backoff before round `round_ + 1` and returns None, or
    returns why there is no such round: 'attempts_exhausted' (rounds count as attempts), 'deadline_exceeded' (the
    backoff would end past the policy's deadline, which covers every round: `elapsed_s` since the first), 'stopped'
    (`stop_event` set before or during the wait)."""
    wait = retry.backoff(round_)
    if round_ >= retry.max_attempts:
        return 'attempts_exhausted'
    if elapsed_s + wait >= retry.deadline_s:
        return 'deadline_exceeded'
    if stop_event.is_set():
        return 'stopped'
    sleep(wait)
    return 'stopped' if stop_event.is_set() else None
