"""The sharded streaming source: every record once, whatever the shard count, at the total rate asked for."""

import math
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.periodicsequence import ImpulseSeqGenRestrictionProvider

from transforms import records as rec
from transforms.run_record.files import read_records
from transforms.run_record.record_run import RecordRun
from transforms.source import synthetic as source
from transforms.source.synthetic import (
    DEFAULT_SHARDS, MAX_SHARDS, STREAMING_TICK_S, StreamingSyntheticRecords, effective_shards, records_in_tick,
    shard_clocks, shard_indices, tick_and_shard)


@pytest.mark.parametrize('per_tick', [0.5, 1, 3.3, 7, 50])
@pytest.mark.parametrize('shards', [1, 2, 3, 16])
def test_shards_split_each_tick_exactly(per_tick, shards):
    for tick in range(40):
        got = sorted(i for shard in range(shards) for i in shard_indices(tick, shard, shards, per_tick))
        first = math.floor(tick * per_tick)
        assert got == list(range(first, first + records_in_tick(tick, per_tick)))


def test_limit_cuts_the_last_tick():
    assert sorted(i for s in range(4) for i in shard_indices(2, s, 4, 50, limit=120)) == list(range(100, 120))


@pytest.mark.parametrize('shards', [1, 5, 16, MAX_SHARDS])
def test_clock_times_map_back_to_tick_and_shard(shards):
    start, tick_s = 1_790_000_000.123456, 0.1
    for shard, (first, _, interval) in enumerate(shard_clocks(start, tick_s, shards, ticks=10)):
        for tick in (0, 1, 9, 12345):
            fired = first + tick * interval
            assert tick_and_shard(round(fired, 6), start, tick_s, shards) == (tick, shard)


def test_shards_never_exceed_the_records_of_a_tick():
    assert effective_shards(16, 0.5) == 1 and effective_shards(16, 50) == 16 and effective_shards(10**6, 10**6) == MAX_SHARDS


def test_streaming_run_emits_every_record_once(tmp_path):
    """DirectRunner in streaming mode: 4 shards, 600 records at 200/s (three seconds)."""
    options = PipelineOptions(['--runner=DirectRunner', '--streaming'])
    with beam.Pipeline(options=options) as pipeline:
        _ = (pipeline
             | StreamingSyntheticRecords(200, seed=7, run_id='shards', limit=600, shards=4)
             | RecordRun(str(tmp_path), 'records'))
    found = read_records(str(tmp_path), 'records')
    assert sorted(r['record_id'] for r in found) == sorted(rec.record_id_for('shards', i) for i in range(600))
    index_of = {rec.record_id_for('shards', i): i for i in range(600)}
    for record in found:
        expected = rec.synthetic_fields(7, index_of[record['record_id']])
        assert {k: record[k] for k in expected} == expected
    moments = sorted(rec.parse_timestamp(r['event_time']).timestamp() for r in found)
    assert moments[-1] - moments[0] >= 1.0  # Paced over seconds (less the runner's start-up), not one burst.


def most_in_one_second(moments):
    """The most of `moments` (seconds) that fall within any one second."""
    moments, most, first = sorted(moments), 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def schedule(rate, limit, shards=DEFAULT_SHARDS, tick_s=STREAMING_TICK_S):
    """(seconds after the stream's start, index) of every record, when the clocks make it due: each shard's clock
    fires as Beam's restriction for it counts (ImpulseSeqGenRestrictionProvider), and emits shard_indices."""
    tick_s = max(tick_s, 1.0 / rate)
    per_tick = rate * tick_s
    shards = effective_shards(shards, per_tick)
    due = []
    for shard, clock in enumerate(shard_clocks(0.0, tick_s, shards, math.ceil(limit / per_tick))):
        first, _, interval = clock
        for tick in range(ImpulseSeqGenRestrictionProvider().initial_restriction(clock).stop):
            due += [(first + tick * interval, index) for index in shard_indices(tick, shard, shards, per_tick, limit)]
    return sorted(due)


@pytest.mark.parametrize('rate', [4, 12, 20, 200])
def test_the_schedule_holds_the_rate_in_every_second_from_the_first(rate):
    due = schedule(rate, limit=rate * 10)
    assert sorted(index for _, index in due) == list(range(rate * 10))
    assert sum(1 for at, _ in due if at < 1.0) == rate  # The first second: the rate, no catching up.
    assert most_in_one_second([at for at, _ in due]) <= rate + records_in_tick(0, rate * STREAMING_TICK_S)
    if rate == 20:  # --streaming --rate 20
        assert most_in_one_second([at for at, _ in due]) <= 25


def test_the_clocks_start_when_the_job_runs_not_when_it_was_built():
    """The schedule is read from the clock on the worker when the job runs: a job built now that runs a minute
    later (a Dataflow worker starting) has no tick already due, so nothing to catch up on in a burst."""
    now = [1_790_000_000.0]
    start_clocks = source._StartClocksFn(0.1, 4, ticks=20, lead_s=0.5, clock=lambda: now[0])  # Built.
    now[0] += 60.0  # The job runs.
    clocks = list(start_clocks.process(None))
    assert len(clocks) == 4 and {start for start, _ in clocks} == {now[0] + 0.5}
    firsts = [first for _, (first, _, _) in clocks]
    assert min(firsts) >= now[0]  # Nothing due yet when the job starts.
    assert [tick_and_shard(first, now[0] + 0.5, 0.1, 4) for first in firsts] == [(0, s) for s in range(4)]


class _BuiltEarlier:
    """transforms.source.synthetic's `time` while a pipeline is built: the wall clock read `offset_s` earlier."""

    def __init__(self, offset_s):
        self._offset_s = offset_s

    def time(self):
        return time.time() - self._offset_s

    def __getattr__(self, name):
        return getattr(time, name)


def test_a_job_that_runs_a_minute_after_its_build_emits_at_its_rate_from_its_first_second(tmp_path, monkeypatch):
    """Built a minute before it runs (as on Dataflow, where workers start minutes after submission): no burst of
    the minute's ticks at start. The first second of event times holds the rate (20), give or take a tick of the
    runner's jitter; a clock fixed at build time emits all 60 records in it at once."""
    rate, limit = 20, 60
    pipeline = beam.Pipeline(options=PipelineOptions(['--runner=DirectRunner', '--streaming']))
    with monkeypatch.context() as built_earlier:
        built_earlier.setattr(source, 'time', _BuiltEarlier(60.0))
        _ = (pipeline
             | StreamingSyntheticRecords(rate, seed=3, run_id='late', limit=limit)
             | RecordRun(str(tmp_path), 'records'))
    pipeline.run().wait_until_finish()
    found = read_records(str(tmp_path), 'records')
    assert sorted(r['record_id'] for r in found) == sorted(rec.record_id_for('late', i) for i in range(limit))
    moments = sorted(rec.parse_timestamp(r['event_time']).timestamp() for r in found)
    first_second = sum(1 for moment in moments if moment < moments[0] + 1.0)
    assert first_second <= rate + rate // 4, first_second


class _Flag:
    def __init__(self):
        self.on = False

    def is_set(self):
        return self.on


def test_a_stopped_clock_ends_where_it_stands_and_is_done():
    from apache_beam.io.restriction_trackers import OffsetRange
    from transforms.source.synthetic import _StoppableTracker
    flag = _Flag()
    tracker = _StoppableTracker(OffsetRange(0, 1000), flag)
    assert tracker.try_claim(0) and tracker.try_claim(1)
    flag.on = True
    assert not tracker.try_claim(2)
    assert tracker.current_restriction() == OffsetRange(0, 2)
    tracker.check_done()  # Nothing left unclaimed: the runner sees the clock as finished.
    resumed = _StoppableTracker(OffsetRange(5, 1000), flag)  # A clock resumed after the stop: done at once.
    assert not resumed.try_claim(5)
    resumed.check_done()


class _Tracker:
    """The part of a restriction tracker the clock uses: claims, and the remainder it defers (a Timestamp to resume
    at, or a Duration to resume after)."""

    def __init__(self, start, stop):
        from apache_beam.io.restriction_trackers import OffsetRange
        self.range, self.claimed, self.deferred = OffsetRange(start, stop), [], None

    def current_restriction(self):
        return self.range

    def try_claim(self, position):
        if position >= self.range.stop:
            return False
        self.claimed.append(position)
        return True

    def defer_remainder(self, deferred):
        self.deferred = deferred


def _run_clock(clock_fn, element, now, until, ticks, latency=0.0):
    """Runs a clock as a runner does, on a virtual clock (`now`: a one-item list): each call emits what it may and
    defers the rest; the runner resumes it when asked, `latency` seconds late (never earlier). Returns [(virtual
    time, tick fired_at)]."""
    from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
    from apache_beam.utils.timestamp import Timestamp
    estimator, position, emitted = ManualWatermarkEstimator(None), 0, []
    for _ in range(100 * ticks):  # bounded: a clock that never moves on fails here instead of hanging
        if position >= ticks or now[0] >= until:
            break
        tracker = _Tracker(position, ticks)
        for fired in clock_fn.process(element, tracker, estimator):
            emitted.append((now[0], fired.value[1]))
        position = tracker.claimed[-1] + 1 if tracker.claimed else position
        deferred = tracker.deferred
        resume = (deferred.micros / 1e6 if isinstance(deferred, Timestamp) else now[0] + deferred.micros / 1e6)
        now[0] = max(resume, now[0] + 1e-6) + latency  # Durations are whole microseconds
    return emitted


def test_after_a_stall_the_clock_catches_up_at_twice_its_rate_at_most():
    # A clock ticking every 0.1 s from t=1000 is first run at t=1003 (a worker restarted after a 3 s stall): 30 ticks
    # are due. Beam's clock emitted all 30 at once; this one emits half a second of them a call, a quarter second
    # apart (twice the rate), then keeps to the schedule. Every tick once, in order, never before it is due.
    now = [1003.0]
    clock_fn = source._StoppableClockFn(source.StopSignal(None), clock=lambda: now[0])
    element = (1000.0, (1000.0, 1010.0, 0.1))
    emitted = _run_clock(clock_fn, element, now, until=1010.5, ticks=100)
    fired = [at for _, at in emitted]
    assert fired == pytest.approx([1000.0 + 0.1 * i for i in range(100)])
    assert all(when >= at - 1e-5 for when, at in emitted)  # never ahead of the schedule
    times = [when for when, _ in emitted]
    assert times[:6] == pytest.approx([1003.0] * 5 + [1003.25])  # one call: half a second of ticks, no more
    burst = source.call_ticks(0.1)
    for start in times:  # at most twice the rate, in calls of half a second of ticks
        assert sum(1 for t in times if start <= t < start + 1.0) <= burst + source.CATCH_UP * 1.0 / 0.1
    caught_up = next(i for i, (when, at) in enumerate(emitted) if when == pytest.approx(at))
    # 3 s behind, gaining 0.25 s a call of 0.25 s; at 1005.75 the ticks up to 1005.7 go out and it is on schedule
    assert times[caught_up] == pytest.approx(1005.8)
    assert all(when == pytest.approx(at) for when, at in emitted[caught_up:])  # then on schedule


def test_a_runner_that_resumes_the_clock_late_costs_it_no_rate():
    # DirectRunner under load resumes a deferred clock tens of ms after it asked: at 0.1 s ticks and 0.08 s late
    # each time, the clock still emits every tick of its first 60 s within 60 s, each at most one resume late (the
    # rule before this one lost 23%: it allowed the next overdue tick only half a tick later).
    now = [1000.0]
    clock_fn = source._StoppableClockFn(source.StopSignal(None), clock=lambda: now[0])
    emitted = _run_clock(clock_fn, (1000.0, (1000.0, 1060.0, 0.1), ), now, until=1060.0, ticks=600, latency=0.08)
    assert len(emitted) >= 599  # the last tick is due at 1059.9, emitted by 1060
    assert [at for _, at in emitted] == pytest.approx([1000.0 + 0.1 * i for i in range(len(emitted))])
    assert all(at - 1e-5 <= when <= at + 0.08 + 0.1 + 1e-5 for when, at in emitted)


def test_a_clock_on_schedule_emits_each_tick_when_it_is_due():
    now = [999.0]
    clock_fn = source._StoppableClockFn(source.StopSignal(None), clock=lambda: now[0])
    emitted = _run_clock(clock_fn, (1000.0, (1000.0, 1002.0, 0.5)), now, until=1010, ticks=4)
    assert emitted == [(1000.0, 1000.0), (1000.5, 1000.5), (1001.0, 1001.0), (1001.5, 1001.5)]
