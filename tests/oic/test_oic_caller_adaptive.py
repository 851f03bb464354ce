"""The adaptive concurrency limit in PostToOIC against the real stand-in: a capped OIC, overload that outlasts the
attempt cap, and the limit samples in the run record."""

import math
import threading
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.oic.post import PostToOIC
from transforms.oic.sender.settings import resolve
from transforms.oic.caller import OICCaller
from transforms.oic.flow_control import FlowControl
from transforms.oic.retry import RetryPolicy
from transforms.oic.concurrency_limit import FixedLimit
from transforms.oic.throttle import Gate, WorkerState
from transforms.run_record.files import read_records
from transforms.run_record.record_run import RecordRun

pytestmark = pytest.mark.stack
FAST = dict(initial_backoff_s=0.01, max_backoff_s=0.05)


@pytest.fixture
def password(clean_stack, monkeypatch):
    monkeypatch.setenv('OIC_PASSWORD', clean_stack.password)
    return clean_stack.password


def post(stack, out, records, **kwargs):
    """Runs PostToOIC on DirectRunner; returns (acks, dead letters, limit samples) read from the run record."""
    with beam.Pipeline(options=PipelineOptions(['--runner=DirectRunner'])) as pipeline:
        posted = pipeline | beam.Create(records) | PostToOIC(resolve(stack.oic_url, stack.username, **kwargs))
        _ = posted.acks | 'Acks' >> RecordRun(str(out), 'acks')
        _ = posted.dead_letter | 'Dead' >> RecordRun(str(out), 'dead')
        _ = posted.limits | 'Limits' >> RecordRun(str(out), run_record.limits_kind('oic'))
    return (read_records(str(out), 'acks'), read_records(str(out), 'dead'),
            read_records(str(out), run_record.limits_kind('oic')))


def make(count, run_id):
    return [rec.make_record(6, run_id, i) for i in range(count)]


def test_the_limit_finds_a_capped_oic_without_a_429_storm(clean_stack, password, tmp_path):
    # What is checked is behaviour, not round-trip timing (a slow or loaded machine moves the exact share of 429s
    # and how high slow start gets before the first 429 is read; benchmarks/adaptive_concurrency.py measures
    # those): OIC's 429s cut the limit, each overshoot costs at most the requests it had in flight (one cut per
    # overshoot), the 429s stay far below a fixed limit's, and the limit ends near the cap.
    clean_stack.set_faults({'latency_ms': 100, 'max_concurrency': 4, 'retry_after': None})
    acks, dead, limits = post(clean_stack, tmp_path, make(120, 'capped-run'), concurrency=32, **FAST)
    assert len(acks) == 120 and not dead
    stats = clean_stack.stats()
    assert stats['max_in_flight'] <= 4
    assert limits and {s['mode'] for s in limits} == {'adaptive'} and {s['ceiling'] for s in limits} == {32}
    values = [s['limit'] for s in limits]
    cuts = [before for before, after in zip(values, values[1:]) if after < before]
    refused = stats['refused_over_capacity']
    assert refused == 0 or cuts, 'OIC refused requests and the limit was never cut'
    # An overshoot's refusals are at most the requests in flight when it was cut (at most the limit then), and
    # the refusals of requests sent before a cut do not cut again: never more than this.
    assert refused <= sum(max(1, math.ceil(before)) for before in cuts), (refused, values)
    assert refused < 0.5 * stats['requests'], stats  # a fixed limit of 32 against a cap of 4: ~7 in 8
    assert 1 <= values[-1] <= 8


def test_overload_outlasting_the_attempt_cap_never_dead_letters(clean_stack, password, tmp_path):
    clean_stack.set_faults({'error_rates': {'429': 1.0}, 'retry_after': 0})
    heal = threading.Event()

    def heal_after_a_storm():  # every request is refused until far more 429s than max_attempts allows were sent
        deadline = time.monotonic() + 60
        while clean_stack.stats()['by_status'].get('429', 0) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        clean_stack.reset_faults()
        heal.set()
    healer = threading.Thread(target=heal_after_a_storm)
    healer.start()
    try:
        acks, dead, _ = post(clean_stack, tmp_path, make(3, 'storm-run'), concurrency=4, max_attempts=2, **FAST)
    finally:
        healer.join(timeout=70)
    assert heal.is_set()
    assert not dead and len(acks) == 3
    assert max(a['attempts'] for a in acks) > 2  # more attempts than the cap: the 429s were not charged
    attempts = clean_stack.stats()['attempts']
    assert all(attempts[a['record_id']] == a['attempts'] for a in acks)


def test_other_errors_still_stop_at_the_attempt_cap(clean_stack, password, tmp_path):
    clean_stack.set_faults({'error_rates': {'502': 1.0}})
    acks, dead, _ = post(clean_stack, tmp_path, make(3, 'capped-errors-run'), concurrency=4, max_attempts=3,
                         **FAST)
    assert not acks and [d['reason'] for d in dead] == ['attempts_exhausted'] * 3
    assert all(d['attempts'] == 3 for d in dead)


def test_an_overload_past_the_deadline_is_dead_lettered_as_such(clean_stack, password, tmp_path):
    clean_stack.set_faults({'error_rates': {'503': 1.0}, 'retry_after': 0})
    acks, dead, _ = post(clean_stack, tmp_path, make(2, 'deadline-run'), concurrency=4, max_attempts=2,
                         deadline_s=1.5, **FAST)
    assert not acks and [d['reason'] for d in dead] == ['deadline_exceeded'] * 2


def test_fixed_mode_keeps_a_constant_limit(clean_stack, password, tmp_path):
    clean_stack.set_faults({'latency_ms': 100, 'max_concurrency': 4})
    acks, dead, limits = post(clean_stack, tmp_path, make(24, 'fixed-run'), concurrency=4,
                              concurrency_mode='fixed', **FAST)
    assert len(acks) == 24 and not dead
    assert clean_stack.stats()['by_status'].get('429', 0) == 0
    assert {s['limit'] for s in limits} == {4} and {s['mode'] for s in limits} == {'fixed'}


def steps_of_one_record(stack, gate, name):
    """Posts one record through OICCaller against a stand-in that answers most requests 429 (no Retry-After); the
    backoff steps the retry loop asked for, one per wait (the waits themselves are skipped)."""
    steps = []

    class Recording(RetryPolicy):
        def wait(self, attempt, retry_after=None, rng=None):
            steps.append(attempt)
            return 0.0

    caller = OICCaller(stack.oic_url, stack.username, stack.password, 4, (5.0, 30.0),
                       FlowControl(gate, Recording(max_attempts=3, deadline_s=60)))
    try:
        outcome = caller.call(rec.make_record(1, 'steps-%s' % name, 0))
    finally:
        caller.close()
    assert outcome.kind == 'ack' and outcome.overloads == len(steps) >= 3, (outcome, steps)
    return steps


def test_overload_answers_grow_a_records_backoff_only_under_a_fixed_limit(clean_stack):
    # The adaptive limit backs off from overload itself (a cut, pacing): a record's own backoff stays at its first
    # step, and a record refused many times does not wait seconds while its worker's slots serve others.
    clean_stack.set_faults({'error_rates': {'429': 0.8}, 'retry_after': None, 'seed': 3})
    adaptive = steps_of_one_record(clean_stack, WorkerState(4).gate(), 'adaptive')
    assert set(adaptive) == {1}
    clean_stack.set_faults({'error_rates': {'429': 0.8}, 'retry_after': None, 'seed': 3})
    fixed = steps_of_one_record(clean_stack, Gate(limiter=FixedLimit(4)), 'fixed')  # (without fixed mode's throttle)
    assert fixed == list(range(1, len(fixed) + 1))  # fixed mode as before: every attempt grows it
