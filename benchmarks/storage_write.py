"""python -m benchmarks.storage_write — the Storage Write API writer into the local emulator: rows/s of the writer
alone (no runner, one process), and rows landed exactly once through DirectRunner while a proxy cuts the connection
after every tenth append has reached the emulator."""

import argparse
import sys
import tempfile
import time

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from benchmarks import machine
from devstack import bq
from devstack.fault_proxy import FaultProxy
from devstack.testing import running_stack
from transforms import records
from transforms.storage_write import AppendLimits, GrpcClientFactory, RetryPolicy, WriteToBigQueryStorage, \
    WriterOptions
from transforms.storage_write.schema import RowSerializer
from transforms.storage_write.shard_writer import ShardState, ShardWriter

PACKAGES = ('apache-beam', 'google-cloud-bigquery-storage', 'grpcio', 'bqemulator')
RETRY = RetryPolicy(attempts=8, first_delay_s=0.05, max_delay_s=2.0)


def landed(stack, table):
    row = list(stack.bq_client().query('SELECT COUNT(*) AS n, COUNT(DISTINCT record_id) AS d FROM `%s`'
                                       % bq.table_id(table)).result())[0]
    return row['n'], row['d']


def writer_alone(stack, table, count, batch_rows):
    """Serializes `count` records, then appends them in batches of `batch_rows` to one committed stream, one
    append after another, in this process; returns (serialize rows/s, append rows/s, appends, this
    process's CPU seconds per wall second while appending)."""
    serializer = RowSerializer(records.BIGQUERY_SCHEMA)
    rows = [records.make_record(1, 'bench-alone', i) for i in range(count)]
    started = time.perf_counter()
    data = [serializer.serialize(row) for row in rows]
    serialized = time.perf_counter()
    client = GrpcClientFactory(stack.bq_grpc_host)()
    try:
        shard = ShardWriter(client, table, serializer, AppendLimits(max_rows=batch_rows), RETRY)
        state, appends = ShardState(), 0
        begun, cpu = time.perf_counter(), time.process_time()
        for first in range(0, count, batch_rows):
            done = shard.write(state, data[first:first + batch_rows])
            state, appends = done.state, appends + done.counts['appends']
        ended, cpu = time.perf_counter(), time.process_time() - cpu
        shard.finalize(state.stream)
    finally:
        client.close()
    return count / (serialized - started), count / (ended - begun), appends, cpu / (ended - begun)


def through_runner(stack, table, count, batch_rows, shards, cut_every):
    """WriteToBigQueryStorage on DirectRunner through the fault proxy; returns (rows/s, proxy stats, metrics)."""
    rows = [records.make_record(2, 'bench-runner', i) for i in range(count)]
    with FaultProxy(stack.bq_grpc_host) as proxy:
        proxy.set_faults(cut_every=cut_every)
        pipeline = beam.Pipeline(argv=['--runner=DirectRunner', '--direct_num_workers=1',
                                       '--direct_running_mode=in_memory'])
        _ = (pipeline | beam.Create(rows)
             | WriteToBigQueryStorage(table, records.BIGQUERY_SCHEMA, shards=shards,
                                      client_factory=GrpcClientFactory(proxy.address, timeout_s=10.0),
                                      options=WriterOptions(limits=AppendLimits(max_rows=batch_rows),
                                                            retry=RETRY)))
        started = time.perf_counter()
        result = pipeline.run()
        result.wait_until_finish()
        took = time.perf_counter() - started
        stats = dict(proxy.stats)
    counters = {item.key.metric.name: item.committed for item in
                result.metrics().query(MetricsFilter().with_namespace('storage_write'))['counters']}
    return count / took, stats, counters


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=50000, help='rows the writer alone appends')
    parser.add_argument('--alone_batch_rows', type=int, default=5000, help='rows per append of the writer alone')
    parser.add_argument('--runner_batch_rows', type=int, default=500,
                        help='rows per append through DirectRunner (500: 40 appends for 20,000 rows)')
    parser.add_argument('--runner_rows', type=int, default=20000, help='rows through DirectRunner')
    parser.add_argument('--shards', type=int, default=4)
    parser.add_argument('--cut_every', type=int, default=10,
                        help='the proxy cuts the connection at every N-th append answer (10: 10%% of appends)')
    args = parser.parse_args(argv)
    print(machine.describe(PACKAGES), flush=True)
    with running_stack(tempfile.mkdtemp(prefix='storage-write-bench-')) as stack:
        alone, runner = bq.create_tables(stack.bq_client(), tables=('bench_alone', 'bench_runner'))
        serialize_rate, append_rate, appends, busy = writer_alone(stack, alone, args.rows, args.alone_batch_rows)
        print('writer alone: %d rows in %d appends of %d: serialize %.0f rows/s, append %.0f rows/s (the writer\'s '
              'process busy %.2f of the time: the rest is waiting for the emulator); landed %s'
              % (args.rows, appends, args.alone_batch_rows, serialize_rate, append_rate, busy, landed(stack, alone)),
              flush=True)
        rate, stats, counters = through_runner(stack, runner, args.runner_rows, args.runner_batch_rows, args.shards,
                                               args.cut_every)
        count, distinct = landed(stack, runner)
        print('DirectRunner: %d rows, %d shards, cut every %d append answers: %.0f rows/s; proxy %s; metrics %s'
              % (args.runner_rows, args.shards, args.cut_every, rate, stats, counters))
        verdict = 'PASS' if count == distinct == args.runner_rows else 'FAIL'
        print('landed %d rows, %d distinct, of %d sent: %s' % (count, distinct, args.runner_rows, verdict))
    return 0 if verdict == 'PASS' and append_rate >= 10000 else 1


if __name__ == '__main__':
    sys.exit(main())
