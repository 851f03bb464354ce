"""The OIC caller's flow control alone (transforms/oic/flow_control.py): the gate around each attempt and the retry
policy between them, driven with a fake send."""

import threading
import time

from transforms.oic.caller import Attempt
from transforms.oic.concurrency_limit import FixedLimit
from transforms.oic.flow_control import FlowControl, between_rounds
from transforms.oic.retry import RetryPolicy
from transforms.oic.throttle import Gate

QUICK = RetryPolicy(max_attempts=2, deadline_s=10.0, initial_backoff_s=0.0, max_backoff_s=0.0)


def counts():
    return {'attempts': 0, 'charged': 0, 'overloads': 0, 'held': 0, 'held_s': 0.0}


def run(flow, answers, tally):
    sent = []

    def send():
        sent.append(flow.gate.limiter.in_flight)  # the attempt holds a slot of the limit while it is sent
        return answers.pop(0)

    last = flow.run(send, lambda kind: Attempt(error=kind, sent=False), time.monotonic() + 10.0, threading.Event(),
                    tally)
    return last, sent


def test_overload_answers_are_retried_without_counting_against_the_attempts_and_every_slot_goes_back():
    flow = FlowControl(Gate(limiter=FixedLimit(2)), QUICK)
    tally = counts()
    last, sent = run(flow, [Attempt(status=503), Attempt(status=429), Attempt(status=500), Attempt(status=200)], tally)
    assert last.status == 200 and sent == [1, 1, 1, 1]
    assert (tally['charged'], tally['overloads']) == (2, 2)  # 503 and 429: overloads, waited out; 500, 200 counted
    assert flow.gate.limiter.in_flight == 0


def test_the_retry_policy_gives_up_after_its_attempts_that_count():
    flow = FlowControl(Gate(limiter=FixedLimit(1)), QUICK)
    tally = counts()
    last, sent = run(flow, [Attempt(status=500), Attempt(status=502), Attempt(status=200)], tally)
    assert last.status == 502 and len(sent) == 2 and tally['charged'] == 2
    assert flow.gate.limiter.in_flight == 0


def test_no_turn_is_not_sent_and_names_why():
    flow = FlowControl(Gate(limiter=FixedLimit(1)), QUICK)
    stop = threading.Event()
    stop.set()
    last = flow.run(lambda: Attempt(status=200), lambda kind: Attempt(error=kind, sent=False), time.monotonic() + 10,
                    stop, counts())
    assert (last.error, last.sent) == ('stopped', False)


def test_within_cuts_the_deadline_and_never_raises_it():
    flow = FlowControl(Gate(), QUICK)
    assert flow.within(None) is flow
    assert flow.within(4.0).retry.deadline_s == 4.0 and flow.within(40.0).retry.deadline_s == QUICK.deadline_s
    assert flow.within(4.0).retry.max_attempts == QUICK.max_attempts and flow.within(4.0).gate is flow.gate


def test_a_batchs_rounds_wait_and_stop_under_the_same_retry_policy():
    policy = RetryPolicy(max_attempts=3, deadline_s=10.0, initial_backoff_s=1.0, max_backoff_s=1.0)
    waits, stop = [], threading.Event()
    assert between_rounds(policy, 1, 0.0, stop, waits.append) is None and len(waits) == 1 and 0 <= waits[0] <= 1
    assert between_rounds(policy, 3, 0.0, stop, waits.append) == 'attempts_exhausted'  # rounds count as attempts
    assert between_rounds(policy, 1, 10.0, stop, waits.append) == 'deadline_exceeded'  # the deadline covers them all
    stop.set()
    assert between_rounds(policy, 1, 0.0, stop, waits.append) == 'stopped' and len(waits) == 1
