"""Grouping records into request bodies by bytes (transforms/oic/batch/grouping.py): the size arithmetic on literal
data, and GroupByBytes under TestPipeline (bounded, and a stream through TestStream)."""

import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream as _Stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from transforms import records as rec
from transforms.oic.batch import grouping

RECORDS = [rec.make_record(seed=3, run_id='group-run', index=i) for i in range(200)]


def _size(record):
    return grouping.payload_size(rec.oic_payload(record, 'extended'))


def test_body_size_matches_the_encoded_body():
    payloads = [rec.oic_payload(r, 'extended') for r in RECORDS[:7]]
    for n in range(0, 8):
        body = json.dumps(grouping.batch_body(payloads[:n]))
        assert json.loads(body)['count'] == n  # the batch's size, for the integration's tracking
        assert grouping.body_size([grouping.payload_size(p) for p in payloads[:n]]) == len(body.encode('utf-8'))


def test_body_size_counts_escaped_non_ascii_as_sent():
    payload = {'Item_Name': 'Hühnerfett ✓'}
    assert grouping.body_size([grouping.payload_size(payload)]) == len(json.dumps(grouping.batch_body([payload])).encode())


def test_plan_never_exceeds_the_limit_never_splits_and_keeps_order():
    sizes = [_size(r) for r in RECORDS]
    for limit in (300, 1000, 2048, 10 * 1024):
        groups = grouping.plan(sizes, limit)
        assert [i for group in groups for i in group] == list(range(len(sizes)))
        for group in groups:
            assert grouping.body_size([sizes[i] for i in group]) <= limit
        # Greedy: each body is closed only because the next payload would not fit.
        for group, after in zip(groups, groups[1:]):
            assert grouping.body_size([sizes[i] for i in group + [after[0]]]) > limit


def test_plan_puts_an_oversize_payload_alone():
    assert grouping.plan([100, 5000, 100, 100], 1000) == [[0], [1], [2, 3]]
    assert grouping.plan([5000], 1000) == [[0]]
    assert grouping.plan([], 1000) == []


def test_shard_is_stable_and_in_range():
    assert {grouping.shard_of(r, 4) for r in RECORDS} == {0, 1, 2, 3}
    assert all(grouping.shard_of(r, 4) == grouping.shard_of(dict(r), 4) for r in RECORDS)


def _check_batches(limit_bytes, expected=RECORDS):
    def check(batches):
        ids = sorted(r['record_id'] for batch in batches for r in batch)
        assert ids == sorted(r['record_id'] for r in expected)
        for batch in batches:
            body = len(json.dumps(grouping.batch_body([rec.oic_payload(r, 'extended') for r in batch])))
            assert body <= limit_bytes or len(batch) == 1, (len(batch), body)
    return check


def test_group_by_bytes_bounded_sends_everything_within_the_limit():
    with TestPipeline() as pipeline:
        batches = pipeline | beam.Create(RECORDS) | grouping.GroupByBytes(2, wait_s=60, shards=3)
        assert_that(batches, _check_batches(2048))


def test_group_by_bytes_sends_an_oversize_record_alone():
    big = dict(RECORDS[0], record_id='big', Item_Name='x' * 5000)
    inputs = [big] + RECORDS[1:20]
    with TestPipeline() as pipeline:
        batches = pipeline | beam.Create(inputs) | grouping.GroupByBytes(1, wait_s=60, shards=1)
        assert_that(batches | beam.Filter(lambda b: any(r['record_id'] == 'big' for r in b)) | beam.Map(len),
                    equal_to([1]), label='big alone')
        assert_that(batches | beam.FlatMap(lambda b: [r['record_id'] for r in b]),
                    equal_to([r['record_id'] for r in inputs]), label='every record once')


def test_group_by_bytes_sends_what_is_open_at_the_end_of_a_bounded_run():
    # 5 records in 50 KB: nothing fills a batch and the wait is long; the end of the input sends them.
    with TestPipeline() as pipeline:
        batches = pipeline | beam.Create(RECORDS[:5]) | grouping.GroupByBytes(50, wait_s=3600, shards=1)
        assert_that(batches | beam.Map(lambda b: sorted(r['record_id'] for r in b)),
                    equal_to([sorted(r['record_id'] for r in RECORDS[:5])]))


def _streaming_options():
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def _stamped(records, start=0):
    return [TimestampedValue(r, start + i * 0.01) for i, r in enumerate(records)]


def _batch_ids():
    return 'Ids' >> beam.Map(lambda b: sorted(r['record_id'] for r in b))


def test_group_by_bytes_in_a_stream_sends_at_the_wait_and_at_the_window_end():
    # 3 records, the wait passes (the watermark 1 s past the first record's event time): one batch; 2 more, then the
    # watermark passes the window's end (as on drain): the second batch. Fixed windows, so that assert_that sees what the end of the window sends.
    stream = (_Stream()
              .add_elements(_stamped(RECORDS[:3]))
              .advance_watermark_to(5)
              .add_elements(_stamped(RECORDS[3:5], start=6))
              .advance_watermark_to(60)
              .advance_watermark_to_infinity())
    with TestPipeline(options=_streaming_options()) as pipeline:
        batches = (pipeline | stream | beam.WindowInto(FixedWindows(60))
                   | grouping.GroupByBytes(50, wait_s=1, shards=1, streaming=True))
        assert_that(batches | _batch_ids(),
                    equal_to([sorted(r['record_id'] for r in RECORDS[:3]),
                              sorted(r['record_id'] for r in RECORDS[3:5])]))


def test_group_by_bytes_in_a_stream_keeps_a_batch_open_until_the_wait():
    # Without the wait passing, 5 records stay in one batch until the window ends.
    stream = _Stream().add_elements(_stamped(RECORDS[:5])).advance_watermark_to(60).advance_watermark_to_infinity()
    with TestPipeline(options=_streaming_options()) as pipeline:
        batches = (pipeline | stream | beam.WindowInto(FixedWindows(60))
                   | grouping.GroupByBytes(50, wait_s=1, shards=1, streaming=True))
        assert_that(batches | _batch_ids(), equal_to([sorted(r['record_id'] for r in RECORDS[:5])]))


def test_group_by_bytes_in_a_stream_sends_full_batches_at_once():
    stream = _Stream().add_elements(_stamped(RECORDS[:40])).advance_watermark_to(60).advance_watermark_to_infinity()
    with TestPipeline(options=_streaming_options()) as pipeline:
        batches = (pipeline | stream | beam.WindowInto(FixedWindows(60))
                   | grouping.GroupByBytes(1, wait_s=3600, shards=2, streaming=True))
        assert_that(batches, _check_batches(1024, RECORDS[:40]))


def test_group_by_bytes_refuses_bad_limits():
    with pytest.raises(ValueError):
        grouping.GroupByBytes(0)
    with pytest.raises(ValueError):
        grouping.GroupByBytes(1, wait_s=-1)


def test_group_by_bytes_in_a_stream_keeps_the_wait_of_a_record_earlier_than_the_batch_s_first():
    # The batch opens with a record at event time 5; one of event time 1 joins it (arrival order is not event order).
    # Its wait (1 s) ends at 2, not at the first record's 6: the watermark at 2.5 sends both, and a record of event
    # time 3 that comes after starts a batch of its own.
    late, first, after = RECORDS[:3]
    stream = (_Stream()
              .add_elements([TimestampedValue(first, 5)])
              .add_elements([TimestampedValue(late, 1)])
              .advance_watermark_to(2.5)
              .add_elements([TimestampedValue(after, 3)])
              .advance_watermark_to(60)
              .advance_watermark_to_infinity())
    with TestPipeline(options=_streaming_options()) as pipeline:
        batches = (pipeline | stream | beam.WindowInto(FixedWindows(60))
                   | grouping.GroupByBytes(50, wait_s=1, shards=1, streaming=True))
        assert_that(batches | _batch_ids(),
                    equal_to([sorted([first['record_id'], late['record_id']]), [after['record_id']]]))


def test_group_by_bytes_refuses_a_wait_of_zero():
    # A wait of 0 set no timer: in a stream a record waited until its batch filled or the stream drained.
    with pytest.raises(ValueError, match='positive'):
        grouping.GroupByBytes(1, wait_s=0, streaming=True)
