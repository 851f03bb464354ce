"""The storage_write path: its branch on fake I/O (fast), a whole run on the local emulator through the comparison
(three numbers agree, cost from the measured bytes), and a table whose schema does not match refused in one line
before the run."""

import json
import os
import uuid

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from devstack import bq
from launcher.run import main
from pipeline.branches import StorageWritePath
from pipeline.config import BigQueryConfig
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.storage_write import DEAD_LETTER, WRITTEN
from transforms.storage_write.results import acknowledgement, dead_letter

RECORDS = [rec.make_record(seed=9, run_id='fake-run', index=i) for i in range(5)]


class _FakeWriter(beam.PTransform):
    """Stands in for WriteToBigQueryStorage: one append of the even Item_ids, the odd ones refused."""

    def expand(self, rows):
        def split(row):
            if row['Item_id'] % 2 == 0:
                yield acknowledgement('p:d.t', 'stream-0', 0, 1, 90, False)
            else:
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter('p:d.t', row, 'row_error', 'refused'))
        return rows | beam.FlatMap(split).with_outputs(DEAD_LETTER, main=WRITTEN)


def test_the_branch_records_sent_appends_and_refused_rows_as_the_runs_dead_letters(tmp_path):
    out = str(tmp_path)
    config = BigQueryConfig(tables={}, dead_letter_table=None, emulator_host=None,
                            direct_method='STREAMING_INSERTS', landed_check=False, probe_interval=0.0)
    with TestPipeline() as pipeline:
        dead = pipeline | beam.Create(RECORDS) | StorageWritePath(config, out, write=_FakeWriter())
        assert_that(dead | beam.Map(lambda d: (d['path'], d['record_id'], d['reason'])),
                    equal_to([('storage_write', r['record_id'], 'storage_write_row_error')
                              for r in RECORDS if r['Item_id'] % 2]))
    assert len(run_record.read_records(out, run_record.sent_kind('storage_write'))) == 5
    appends = run_record.read_records(out, run_record.appends_kind('storage_write'))
    assert len(appends) == sum(1 for r in RECORDS if r['Item_id'] % 2 == 0) and appends[0]['bytes'] == 90


def stack_argv(stack, out, table):
    return ['--out', str(out), '--oic_url', stack.oic_url, '--oic_username', stack.username,
            '--bigquery_emulator_host', stack.bq_endpoint, '--bigquery_emulator_grpc_host', stack.bq_grpc_host,
            '--direct_table', stack.direct_table, '--storage_write_table', table, '--probe_interval', '0.5']


@pytest.mark.stack
def test_a_storage_write_run_lands_every_record_once_and_is_priced_from_its_bytes(local_stack, tmp_path):
    table = bq.create_tables(local_stack.bq_client(), tables=('sw_path_%s' % uuid.uuid4().hex[:8],))[0]
    code = main(stack_argv(local_stack, tmp_path, table) + ['--paths', 'storage_write', '--records', '300',
                                                             '--seed', '4'])
    assert code == 0
    report = json.load(open(os.path.join(str(tmp_path), 'report.json')))
    mine = report['paths']['storage_write']
    assert (mine['sent'], mine['landed'], mine['missing'], mine['duplicates'], mine['dead_lettered']) == \
        (300, 300, 0, 0, 0)
    assert mine['acked_is_derived'] and mine['storage_write']['rows'] == 300 and mine['http_requests'] >= 1
    measured = mine['storage_write']['serialized_bytes_per_row']
    assert mine['cost']['row_bytes'] == round(measured) and 'measured' in mine['cost']['items'][0]['item']
    assert all(row['storage_write_row_bytes'] == round(measured) and 'storage_write_usd_per_month' in row
               for row in report['cost_curve'])
    assert 'storage_write' in report['sender_requirements']['paths']


@pytest.mark.stack
def test_a_table_that_does_not_match_is_one_line_before_the_run(local_stack, tmp_path, capsys):
    name = 'sw_wrong_%s' % uuid.uuid4().hex[:8]
    client = local_stack.bq_client()
    from google.cloud import bigquery
    dataset = local_stack.direct_table.split(':')[1].split('.')[0]
    client.create_table(bigquery.Table('%s.%s.%s' % (client.project, dataset, name),
                                       schema=[bigquery.SchemaField('other', 'STRING')]))
    code = main(stack_argv(local_stack, tmp_path, '%s:%s.%s' % (client.project, dataset, name))
                + ['--paths', 'storage_write', '--records', '5'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not os.path.exists(os.path.join(str(tmp_path), 'run.json'))
    assert err[-1].startswith('error: --storage_write_table') and 'does not match' in err[-1], err


def test_the_writers_counters_reach_the_run_record_under_its_namespace_and_print_as_one_line():
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'storage_write'))
    from storage_write_fakes import FakeClientFactory, FakeServer
    from launcher.run_metrics import path_metric_lines, pipeline_metrics
    from transforms.storage_write import WriteToBigQueryStorage
    server = FakeServer(rec.BIGQUERY_SCHEMA)
    server.faults.extend(['lose'])  # the first append lands and its answer is lost: re-sent, ALREADY_EXISTS
    pipeline = beam.Pipeline()
    _ = (pipeline | beam.Create(RECORDS) | beam.Map(lambda r: dict(r, Item_id=7))
         | WriteToBigQueryStorage('p:d.t', rec.BIGQUERY_SCHEMA, shards=1, client_factory=FakeClientFactory(server.id)))
    _ = pipeline | 'Other' >> beam.Create([1]) | beam.Map(lambda x: beam.metrics.Metrics.counter('other', 'rows').inc(9))
    metrics = pipeline_metrics(pipeline.run())
    assert (metrics['storage_write_appends'], metrics['storage_write_rows'], metrics['storage_write_retries'],
            metrics['storage_write_already_exists'], metrics['rows']) == (1, 5, 1, 1, 9)  # 'rows' is another's
    assert path_metric_lines(('direct', 'storage_write'), metrics) == [
        'Storage Write writer: appends 1, rows 5, bytes %d, retries 1, already_exists 1, row_errors 0, '
        'streams_created 1, streams_lost 0, streams_finalized 1' % metrics['storage_write_bytes']]


@pytest.mark.stack
def test_a_local_stream_with_the_path_lands_every_record_once_and_reports_its_counters(local_stack, tmp_path,
                                                                                       capsys):
    table = bq.create_tables(local_stack.bq_client(), tables=('sw_stream_%s' % uuid.uuid4().hex[:8],))[0]
    code = main(stack_argv(local_stack, tmp_path, table) + ['--paths', 'direct,storage_write', '--streaming',
                                                             '--rate', '40', '--records', '200', '--seed', '6'])
    assert code == 0
    report = json.load(open(os.path.join(str(tmp_path), 'report.json')))
    for path in ('direct', 'storage_write'):
        mine = report['paths'][path]
        assert (mine['sent'], mine['landed'], mine['missing'], mine['duplicates'], mine['dead_lettered']) == \
            (200, 200, 0, 0, 0), (path, mine)
    assert report['paths']['storage_write']['storage_write']['already_exists'] == 0
    run = json.load(open(os.path.join(str(tmp_path), 'run.json')))
    assert run['metrics']['storage_write_rows'] == 200 and run['metrics']['storage_write_streams_finalized'] >= 1
    assert 'Storage Write writer: appends %d, rows 200' % run['metrics']['storage_write_appends'] in \
        capsys.readouterr().out
