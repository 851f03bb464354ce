"""The Storage Write API writer against the local emulator's gRPC port: exactly once through a proxy that cuts
connections after appends reached the emulator, refuses connections or delays answers past the deadline, and
across a bundle replayed after its appends were accepted; a table whose schema differs is refused at start."""

import uuid

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.transforms.window import GlobalWindow

from devstack import bq
from devstack.fault_proxy import FaultProxy
from transforms import records
from transforms.storage_write import GrpcClientFactory, RetryPolicy, WriteToBigQueryStorage, WriterOptions
from transforms.storage_write.schema import SchemaError, RowSerializer
from transforms.storage_write.transform import _AppendToStreams

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
                                        options=WriterOptions(batch_rows=100, retry=RETRY)))
        _ = out['written']
        result = pipeline.run()
        result.wait_until_finish()
        assert proxy.stats[shows] >= 1, proxy.stats
    assert landed(local_stack, table) == (count, count)
    assert counter(result, 'rows') == count
    if shows != 'refused':  # a re-sent append the emulator had taken is answered ALREADY_EXISTS
        assert counter(result, 'already_exists') >= 1 and counter(result, 'retries') >= 1


class _State:
    """A stand-in for one ReadModifyWriteState cell, so the test can play the runner: keep or drop a bundle's writes."""

    def __init__(self, value=None):
        self.value = value

    def read(self):
        return self.value

    def write(self, value):
        self.value = value

    def clear(self):
        self.value = None


class _Timer:
    def set(self, timestamp):
        self.at = timestamp


def run_bundle(dofn, committed, batches):
    """Runs batches as one bundle from the committed state; returns the acknowledgements and the state the runner
    commits if the bundle succeeds (a failed bundle's state and outputs are dropped, as Beam drops them)."""
    stream, offset = _State(committed.get('stream')), _State(committed.get('offset'))
    acks = [ack for batch in batches for ack in dofn.process(
        batch, window=GlobalWindow(), stream=stream, offset=offset, end=_Timer())]
    return acks, {'stream': stream.value, 'offset': offset.value}


def test_a_bundle_retried_after_its_appends_were_accepted_writes_each_row_once(local_stack, table):
    serializer = RowSerializer(records.BIGQUERY_SCHEMA)
    batch = [(0, [serializer.serialize(records.make_record(3, table, i)) for i in range(start, start + 250)])
             for start in range(0, 1000, 250)]
    dofn = _AppendToStreams(table, records.BIGQUERY_SCHEMA, GrpcClientFactory(local_stack.bq_grpc_host),
                            WriterOptions(retry=RETRY))
    dofn.setup()
    try:
        _, committed = run_bundle(dofn, {}, batch[:1])
        failed, _ = run_bundle(dofn, committed, batch[1:3])  # appended, then the bundle fails: state not kept
        assert [ack['already_written'] for ack in failed] == [False, False]
        retried, committed = run_bundle(dofn, committed, batch[1:3])
        assert [(ack['offset'], ack['already_written']) for ack in retried] == [(250, True), (500, True)]
        _, committed = run_bundle(dofn, committed, batch[3:])
        assert committed['offset'] == 1000
        dofn.finalize(stream=_State(committed['stream']), offset=_State(committed['offset']))
    finally:
        dofn.teardown()
    assert landed(local_stack, table) == (1000, 1000)


def test_a_table_whose_schema_differs_is_refused_before_any_row_is_written(local_stack, table):
    schema = {'fields': [dict(field, type='STRING') if field['name'] == 'Item_id' else field
                         for field in records.BIGQUERY_SCHEMA['fields']]}
    dofn = _AppendToStreams(table, schema, GrpcClientFactory(local_stack.bq_grpc_host), WriterOptions())
    with pytest.raises(SchemaError, match='does not match the writer.s schema: Item_id is INT64 in the table, '
                                          'STRING in the schema$'):
        dofn.setup()
    dofn.teardown()
    assert landed(local_stack, table) == (0, 0)
