"""The Storage Write API writer against the local emulator's gRPC port: exactly once through a proxy that cuts
connections after appends reached the emulator, refuses connections or delays answers past the deadline, and
across a bundle replayed after its appends were accepted; a table whose schema differs is refused at start."""

import dataclasses
import uuid

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter

from devstack import bq
from devstack.fault_proxy import FaultProxy
from storage_write_fakes import OneShard  # tests/storage_write/storage_write_fakes.py
from transforms import records
from transforms.storage_write import AppendLimits, GrpcClientFactory, RetryPolicy, WriteToBigQueryStorage, \
    WriterOptions
from transforms.storage_write.schema import SchemaError, RowSerializer
from transforms.storage_write.batching import StableBatches
from transforms.storage_write.transform import _AppendToStreams, _CreateStreams

pytestmark = pytest.mark.stack
RETRY = RetryPolicy(attempts=8, first_delay_s=0.05, max_delay_s=1.0)


@pytest.fixture
def table(local_stack):
    """A new table of the project's schema, as project:dataset.table."""
    return bq.create_tables(local_stack.bq_client(), tables=('storage_write_%s' % uuid.uuid4().hex[:8],))[0]


def landed(stack, table):
    """(rows, distinct record ids) in the table."""
    row = list(stack.bq_client().query('SELECT COUNT(*) AS n, COUNT(DISTINCT record_id) AS d FROM `%s`'
                                       % bq.table_id(table)).result())[0]
    return row['n'], row['d']


def counter(result, name):
    found = result.metrics().query(MetricsFilter().with_name(name))['counters']
    return sum(item.committed for item in found)


@pytest.mark.parametrize('faults, shows', [
    ({'cut_every': 3}, 'cut'),  # the append reached the emulator, its answer never reached the writer
    ({'refuse': 2}, 'refused'),  # connections closed at once: UNAVAILABLE
    ({'delay_every': 4, 'delay_s': 1.5}, 'delayed'),  # answers later than the writer's 1 s deadline
])
def test_rows_land_exactly_once_through_the_fault_proxy(local_stack, table, faults, shows):
    count = 1200
    with FaultProxy(local_stack.bq_grpc_host) as proxy:
        proxy.set_faults(**faults)
        pipeline = beam.Pipeline()
        out = (pipeline | beam.Create([records.make_record(7, table, i) for i in range(count)])
               | WriteToBigQueryStorage(table, records.BIGQUERY_SCHEMA, shards=2,
                                        client_factory=GrpcClientFactory(proxy.address, timeout_s=1.0),
                                        options=WriterOptions(limits=AppendLimits(max_rows=100), retry=RETRY)))
        _ = out['written']
        result = pipeline.run()
        result.wait_until_finish()
        assert proxy.stats[shows] >= 1, proxy.stats
    assert landed(local_stack, table) == (count, count)
    assert counter(result, 'rows') == count
    if shows != 'refused':  # a re-sent append the emulator had taken is answered ALREADY_EXISTS
        assert counter(result, 'already_exists') >= 1 and counter(result, 'retries') >= 1


def test_a_bundle_retried_after_its_appends_were_accepted_appends_the_same_rows_whatever_its_input(
        local_stack, table):
    serializer = RowSerializer(records.BIGQUERY_SCHEMA)
    rows = [serializer.serialize(records.make_record(3, table, i)) for i in range(300)]
    options = WriterOptions(batch_rows=100, retry=RETRY)
    factory = GrpcClientFactory(local_stack.bq_grpc_host)
    append = _AppendToStreams(table, records.BIGQUERY_SCHEMA, factory, options)
    append.setup()
    shard = OneShard(StableBatches(options), append, factory().create_stream(table))  # as _CreateStreams does
    try:
        assert shard.bundle(rows[:150]) == []  # buffered: a batch only ever holds rows of committed bundles
        failed = shard.bundle(rows[150:250], commit=False)  # appends the first 150 rows, then the bundle fails
        assert [(ack['offset'], ack['rows'], ack['already_written']) for ack in failed] == [(0, 150, False)]
        retried = shard.bundle(rows[250:])  # the retry carries other rows: the same batch goes again
        assert [(ack['offset'], ack['rows'], ack['already_written']) for ack in retried] == [(0, 150, True)]
        again = shard.bundle(rows[150:250])  # the failed bundle's input, delivered again: the retry's rows go
        assert [(ack['offset'], ack['rows']) for ack in again] == [(150, 50)]
        final = shard.bundle([], end=True)  # the window ends: every row left goes, the stream is finalized
        assert [(ack['offset'], ack['rows']) for ack in final] == [(200, 100)]
        assert shard.committed['stream'] is None
    finally:
        append.teardown()
    assert landed(local_stack, table) == (300, 300)


_FAIL_ONCE = {'armed': False, 'sent': []}  # module state: the runner unpickles the factory, the test reads it


@dataclasses.dataclass(frozen=True)
class FailOnceAfterAppend:
    """The real client, except that once, after an append past offset 0 was accepted, the bundle fails."""
    inner: GrpcClientFactory

    def __call__(self):
        client = self.inner()
        append = client.append

        def append_then_fail_once(stream, offset, rows, descriptor):
            answer = append(stream, offset, rows, descriptor)
            _FAIL_ONCE['sent'].append((stream, offset, answer.outcome.value))
            if _FAIL_ONCE['armed'] and offset > 0:
                _FAIL_ONCE['armed'] = False
                raise RuntimeError('the bundle fails after its append was accepted')
            return answer
        client.append = append_then_fail_once
        return client


def test_a_bundle_the_runner_retries_after_its_append_reached_the_emulator_writes_each_row_once(local_stack, table):
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.testing.test_stream import TestStream
    stream = TestStream().advance_watermark_to(0)
    for first in range(0, 400, 100):  # a batch every 5 s of event time (the wait is 1 s)
        stream = stream.add_elements([records.make_record(5, table, i) for i in range(first, first + 100)])
        stream = stream.advance_watermark_to(first // 20 + 5)
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=options)  # DirectRunner's bundle-based runner: it retries a failed bundle
    _ = (pipeline | stream.advance_watermark_to_infinity()
         | WriteToBigQueryStorage(table, records.BIGQUERY_SCHEMA, shards=1,
                                  client_factory=FailOnceAfterAppend(GrpcClientFactory(local_stack.bq_grpc_host)),
                                  options=WriterOptions(batch_rows=1000, retry=RETRY)))
    _FAIL_ONCE.update(armed=True, sent=[])
    result = pipeline.run()
    result.wait_until_finish()
    assert not _FAIL_ONCE['armed']  # the bundle did fail once
    assert landed(local_stack, table) == (400, 400)
    sent = _FAIL_ONCE['sent']
    assert [answer for _, _, answer in sent].count('already_exists') == 1  # the retry re-sent the same append
    assert len({(name, offset) for name, offset, _ in sent}) == len(sent) - 1


def test_a_table_whose_schema_differs_is_refused_before_any_row_is_written(local_stack, table):
    schema = {'fields': [dict(field, type='STRING') if field['name'] == 'Item_id' else field
                         for field in records.BIGQUERY_SCHEMA['fields']]}
    dofn = _CreateStreams(table, schema, GrpcClientFactory(local_stack.bq_grpc_host))
    with pytest.raises(SchemaError, match='does not match the writer.s schema: Item_id is INT64 in the table, '
                                          'STRING in the schema$'):
        dofn.setup()
    dofn.teardown()
    assert landed(local_stack, table) == (0, 0)


def test_an_unreachable_endpoint_is_an_error_within_the_clients_timeout_not_gapics_ten_minutes():
    from google.api_core import exceptions
    from devstack import procs
    client = GrpcClientFactory('127.0.0.1:%d' % procs.free_port(), timeout_s=1.0, give_up_s=2.0)()  # none there
    try:
        with pytest.raises((exceptions.RetryError, exceptions.ServiceUnavailable, exceptions.DeadlineExceeded)):
            client.table_schema('local-project:warehouse.inventory_storage_write')  # GAPIC alone: 600 s of retries
    finally:
        client.close()
