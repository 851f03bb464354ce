"""WriteToBigQueryStorage under TestPipeline with a fake Storage Write API: rows written once, refused rows
dead-lettered with their reason, streams per shard finalized at the end, a mismatched table refused at start."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from storage_write_fakes import FakeClientFactory, FakeServer  # tests/storage_write/storage_write_fakes.py
from transforms.storage_write import RetryPolicy, WriteToBigQueryStorage, WriterOptions
from transforms.storage_write.schema import RowSerializer, SchemaError

SCHEMA = {'fields': [{'name': 'id', 'type': 'INT64', 'mode': 'REQUIRED'}, {'name': 'note', 'type': 'STRING'}]}
TABLE = 'p:d.t'
OPTIONS = WriterOptions(batch_rows=7)


def written_ids(server):
    serializer = RowSerializer(SCHEMA)
    return sorted(serializer.deserialize(row)['id'] for row in server.rows())


def test_every_row_lands_once_over_few_streams_and_the_streams_are_finalized_at_the_end():
    server = FakeServer(SCHEMA)
    with TestPipeline() as p:
        result = (p | beam.Create([{'id': i, 'note': 'n%d' % i} for i in range(50)])
                  | WriteToBigQueryStorage(TABLE, SCHEMA, shards=3, client_factory=FakeClientFactory(server.id),
                                           options=OPTIONS))
        assert_that(result['written'] | beam.Map(lambda ack: ack['rows']) | beam.CombineGlobally(sum),
                    equal_to([50]), label='AllAcknowledged')
        assert_that(result['dead_letter'], equal_to([]), label='NoDeadLetters')
    assert written_ids(server) == list(range(50))
    assert 1 <= len(server.streams) <= 3 and sorted(server.finalized) == sorted(server.streams)
    assert server.closed >= 1  # the client made in setup() was closed in teardown()


def test_rows_refused_before_sending_and_by_bigquery_are_dead_letters_with_their_reason():
    server = FakeServer(SCHEMA, refuse=lambda row: 'id 13 is unlucky' if RowSerializer(SCHEMA).deserialize(row)[
        'id'] == 13 else None)
    rows = [{'id': i} for i in range(20)] + [{'note': 'no id'}]
    with TestPipeline() as p:
        result = p | beam.Create(rows) | WriteToBigQueryStorage(TABLE, SCHEMA, shards=2,
                                                                client_factory=FakeClientFactory(server.id),
                                                                options=OPTIONS)
        assert_that(result['dead_letter'] | beam.Map(lambda d: (d['row'], d['reason'], d['detail'])), equal_to([
            ({'note': 'no id'}, 'unserializable', 'id is REQUIRED and missing'),
            ({'id': 13}, 'row_error', 'id 13 is unlucky')]))
    assert written_ids(server) == [i for i in range(20) if i != 13]


def test_lost_answers_are_retried_and_count_once():
    server = FakeServer(SCHEMA)
    server.faults.extend(['lose', 'unavailable', 'lose'])
    with TestPipeline() as p:
        _ = p | beam.Create([{'id': i} for i in range(30)]) | WriteToBigQueryStorage(
            TABLE, SCHEMA, shards=2, client_factory=FakeClientFactory(server.id),
            options=WriterOptions(batch_rows=5, retry=RetryPolicy(4, 0, 0)))
    assert written_ids(server) == list(range(30))


def test_a_table_whose_schema_differs_stops_the_run_with_one_line_naming_the_columns():
    server = FakeServer({'fields': [{'name': 'id', 'type': 'STRING', 'mode': 'REQUIRED'}]})
    with pytest.raises(Exception, match="table p:d.t does not match the writer's schema: id is STRING in the "
                                        "table, INT64 in the schema; note is not in the table"):
        with TestPipeline() as p:
            _ = p | beam.Create([{'id': 1}]) | WriteToBigQueryStorage(
                TABLE, SCHEMA, client_factory=FakeClientFactory(server.id))
    assert server.rows() == []


@pytest.mark.parametrize('kwargs, error', [
    ({'table': 'not a table'}, ValueError), ({'schema': {'fields': [{'name': 'r', 'type': 'RECORD'}]}}, SchemaError),
    ({'shards': 0}, ValueError)])
def test_a_bad_table_schema_or_shard_count_is_refused_when_the_pipeline_is_built(kwargs, error):
    arguments = dict({'table': TABLE, 'schema': SCHEMA}, **kwargs)
    with pytest.raises(error):
        WriteToBigQueryStorage(**arguments)


def streaming_options():
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def test_an_unbounded_input_is_appended_when_the_watermark_passes_the_earliest_waiting_row_plus_the_wait():
    from apache_beam.testing.test_stream import TestStream
    server = FakeServer(SCHEMA)

    def rows(first):  # ten rows, stamped with the stream's watermark when added
        return [{'id': i} for i in range(first, first + 10)]
    stream = (TestStream().advance_watermark_to(0).add_elements(rows(0))
              .advance_watermark_to(0.5).add_elements(rows(10))
              .advance_watermark_to(1.1)  # past 0 + 1 s: the rows of 0 and 0.5 go (both bundles are committed)
              .advance_watermark_to(1.2).add_elements(rows(20))
              .advance_watermark_to(2.0).add_elements(rows(30))  # the timer stays at 1.2 + 1 s
              .advance_watermark_to(2.3)  # past 2.2: the rows of 1.2 and 2.0 go
              .advance_watermark_to_infinity())
    with TestPipeline(options=streaming_options()) as p:
        _ = (p | stream | WriteToBigQueryStorage(TABLE, SCHEMA, shards=1, client_factory=FakeClientFactory(server.id),
                                                 options=WriterOptions(batch_rows=1000, max_buffering_s=1.0)))
    serializer = RowSerializer(SCHEMA)
    appended = [sorted(serializer.deserialize(row)['id'] for row in rows) for _, _, rows in server.calls]
    assert appended == [list(range(0, 20)), list(range(20, 40))]  # by event time, not all at the end
    assert sorted(server.finalized) == sorted(server.streams)


def test_a_retried_bundle_appends_only_rows_of_committed_bundles_in_byte_order_whatever_it_carries():
    from storage_write_fakes import FakeClient, OneShard
    from transforms.storage_write.batching import StableBatches
    from transforms.storage_write.transform import _AppendToStreams
    server = FakeServer(SCHEMA)
    options = WriterOptions(batch_rows=3)
    append = _AppendToStreams(TABLE, SCHEMA, FakeClientFactory(server.id), options)
    append.setup()
    shard = OneShard(StableBatches(options), append, FakeClient(server).create_stream(TABLE))
    rows = [RowSerializer(SCHEMA).serialize({'id': i}) for i in (5, 1, 3, 2, 4, 0, 6)]
    assert shard.bundle(rows[:3]) == []  # this bundle's rows wait, even at batch_rows
    assert [ack['rows'] for ack in shard.bundle(rows[3:5], commit=False)] == [3]  # appended, then the bundle fails
    replay = shard.bundle(rows[5:])  # other input: the same three rows, the same offset
    assert [(ack['offset'], ack['rows'], ack['already_written']) for ack in replay] == [(0, 3, True)]
    assert [RowSerializer(SCHEMA).deserialize(row)['id'] for row in server.rows()] == [1, 3, 5]  # byte order
    shard.bundle(rows[3:5])  # the failed bundle's input, delivered again
    shard.bundle([], end=True)
    assert written_ids(server) == [0, 1, 2, 3, 4, 5, 6] and server.finalized == list(server.streams)


def test_a_bundle_the_runner_retries_after_its_append_was_accepted_writes_each_row_once():
    from apache_beam.testing.test_stream import TestStream
    server = FakeServer(SCHEMA)
    server.faults.extend([None, 'fail_bundle'])  # the second append lands, then its bundle fails
    stream = TestStream().advance_watermark_to(0)
    for first in range(0, 40, 10):  # a batch every 5 s of event time (the wait is 1 s)
        stream = stream.add_elements([{'id': i} for i in range(first, first + 10)]).advance_watermark_to(first // 2 + 5)
    stream = stream.advance_watermark_to_infinity()
    with TestPipeline(options=streaming_options()) as p:  # DirectRunner's bundle-based runner retries a failed bundle
        _ = (p | stream | WriteToBigQueryStorage(TABLE, SCHEMA, shards=1, client_factory=FakeClientFactory(server.id),
                                                 options=WriterOptions(batch_rows=1000)))
    assert written_ids(server) == list(range(40))
    offsets = [call[1] for call in server.calls]
    assert not server.faults and len(offsets) == len(set(offsets)) + 1  # the retry re-sent one append at its offset
