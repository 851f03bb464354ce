"""The sharded streaming source: every record once, whatever the shard count, at the total rate asked for."""

import math

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from transforms import records as rec
from transforms.run_record.files import read_records
from transforms.run_record.record_run import RecordRun
from transforms.source.synthetic import (
    MAX_SHARDS, StreamingSyntheticRecords, effective_shards, records_in_tick, shard_clocks, shard_indices,
    tick_and_shard)


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
