"""Reconciliation inside BigQuery: every query filtered on the run's window, the same answers as the in-memory
comparison on a real local run (missing rows, duplicates, mismatches, dead letters, invalid records), and a window on a
running stream that tells records in flight from missing ones."""

import dataclasses
import datetime
import json
import os
import re

import pytest
from google.cloud import bigquery

from comparison import compare
from comparison.measures import latency
from comparison.sql import reconcile as sql
from comparison.sql import report as sql_report
from comparison.report import build_report
from launcher.run import main as run_main
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record import tables as rrt
from transforms.run_record.files import load_run, read_records, write_run
from transforms.tables import DatasetSpec, parse_table_spec
from transforms.run_record.run_info import RunInfo

UTC = datetime.timezone.utc
TABLE_REF = re.compile(r'FROM `([^`]+)`( WHERE [^)\n]*)?')


def assert_every_table_read_in_the_window(statement, run_record_tables=()):
    """Each table the statement names is followed by the window's partition filter (and the run id for run-record
    tables); returns the tables named."""
    named = TABLE_REF.findall(statement)
    assert named, statement
    for table, where in named:
        assert where.startswith(' WHERE ' + sql.WINDOW_FILTER), (table, statement)
        if table.rsplit('.', 1)[-1] in run_record_tables:
            assert ' AND ' + sql.RUN_FILTER in where, (table, statement)
    return {table for table, _ in named}


# -- pure: the SQL text ------------------------------------------------------------------------------------------

DATASET = DatasetSpec('p', 'rr')
SCOPES = [sql.PathScope('r', path, DATASET, landed) for path in ('oic', 'direct')
          for landed in (parse_table_spec('p:w.t_' + path), None)]


def all_statements(scope):
    found = [sql.summary_sql(scope, scope.path == 'direct'), sql.missing_sql(scope, scope.path == 'direct'),
             sql.dead_reasons_sql(scope), sql.ack_latency_sql(scope), sql.completions_sql(scope),
             sql.completion_series_sql(scope), sql.per_minute_sql(scope, rrt.SENT), sql.per_minute_sql(scope, rrt.ACKS),
             sql.sizes_sql(scope), sql.invalid_sql(DATASET), sql.invalid_first_sql(DATASET)]
    if scope.landed is not None:
        found += [sql.mismatch_counts_sql(scope), sql.mismatch_rows_sql(scope), sql.mismatch_ids_sql(scope)]
    return found


@pytest.mark.parametrize('scope', SCOPES, ids=lambda s: '%s-%s' % (s.path, 'landed' if s.landed else 'nolanded'))
def test_every_query_filters_every_table_on_the_window_and_the_run(scope):
    for statement in all_statements(scope):
        tables = assert_every_table_read_in_the_window(statement, rrt.TABLES)
        assert not [t for t in tables if t == 'p.w.t_%s' % scope.path] or scope.landed is not None


def test_a_batched_runs_requests_come_from_the_callers_metric_not_the_tables_attempts():
    # The run-record tables hold no batch_id: their attempts count a batch once per record. The caller's counter
    # counts each POST once.
    batched = RunInfo.from_json({'oic_batch_kb': 50, 'metrics': {'oic_requests': 12, 'batch_size': {'count': 40}}})
    assert sql_report.requests_from_metrics('oic', batched, {'sent': 2000})['http_requests'] == 12
    assert sql_report.requests_from_metrics('oic', batched, {'sent': 2000})['http_requests_per_row'] == 0.006
    assert sql_report.requests_from_metrics('oic', dataclasses.replace(batched, metrics={}), {'sent': 2000})['http_requests'] is None
    assert sql_report.requests_from_metrics('oic', RunInfo(metrics={'oic_requests': 12}), {'sent': 20}) == {}
    assert sql_report.requests_from_metrics('direct', batched, {'sent': 2000})['http_requests'] == 40


def test_the_landed_table_is_joined_inside_bigquery_not_fetched_by_id():
    statement = sql.summary_sql(SCOPES[0], False)
    assert 'p.w.t_oic' in statement and 'p.rr.sent' in statement and 'UNNEST(@ids)' not in statement
    assert 'LEFT JOIN landed' in statement


def test_latency_quantiles_are_indexed_outside_the_aggregate():
    # bqemulator 1.4 reads APPROX_QUANTILES(x, n)[OFFSET(k)] one place off; BigQuery gives the same either way.
    statement = sql.ack_latency_sql(SCOPES[0])
    assert 'APPROX_QUANTILES(s, 100) AS qs' in statement and ')[OFFSET' not in statement


NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUNNING = RunInfo(started_at='2026-03-01T10:00:00.000000Z', finished_at=None)
FINISHED = RunInfo(started_at='2026-03-01T10:00:00.000000Z', finished_at='2026-03-01T11:00:00.000000Z')
SKEW = datetime.timedelta(seconds=sql_report.CLOCK_SKEW_S)
FINISHED_END = datetime.datetime(2026, 3, 1, 11, tzinfo=UTC) + SKEW


def test_window_of_a_finished_run_is_the_run_widened_by_clock_skew_and_nothing_is_in_flight():
    window = sql_report.run_window(FINISHED, NOW)
    assert window.start == datetime.datetime(2026, 3, 1, 10, tzinfo=UTC) - SKEW
    assert window.end == datetime.datetime(2026, 3, 1, 11, tzinfo=UTC) + SKEW
    assert window.in_flight_after is None


def test_window_since_on_a_running_stream_ends_now_with_an_in_flight_edge():
    window = sql_report.run_window(RUNNING, NOW, since_s=3600, in_flight_s=120)
    assert (window.start, window.end) == (NOW - datetime.timedelta(hours=1), NOW)
    assert window.in_flight_after == NOW - datetime.timedelta(seconds=120)
    whole = sql_report.run_window(RUNNING, NOW, since_s=86400)
    assert whole.start == datetime.datetime(2026, 3, 1, 10, tzinfo=UTC) - SKEW  # clipped to the run


def test_window_from_to_is_clipped_to_the_run_and_an_empty_one_refused():
    window = sql_report.run_window(FINISHED, NOW, start=sql_report.parse_moment('2026-03-01T10:30:00Z'),
                                   end=sql_report.parse_moment('2026-03-02T00:00:00Z'))
    assert window.start == datetime.datetime(2026, 3, 1, 10, 30, tzinfo=UTC) and window.end == FINISHED_END
    with pytest.raises(ValueError, match='empty'):
        sql_report.run_window(FINISHED, NOW, start=sql_report.parse_moment('2026-03-02T00:00:00Z'))



@pytest.mark.parametrize('text, seconds', [('90', 90), ('90s', 90), ('15m', 900), ('1h', 3600), ('2d', 172800),
                                           ('0.5h', 1800)])
def test_durations(text, seconds):
    assert sql_report.parse_duration(text) == seconds


@pytest.mark.parametrize('text', ['', '1w', '-1h', '0', 'h'])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        sql_report.parse_duration(text)


@pytest.mark.parametrize('argv, message', [
    (['--since', '1h'], 'need a run with a run-record dataset'),
    (['--since', 'soon'], 'a duration'),
    (['--since', '1h', '--from', '2026-01-01T00:00:00Z'], 'not both'),
    (['--from', 'yesterday'], 'ISO 8601'),
    (['--in_memory', '--since', '1h'], 'not with --in_memory'),
])
def test_window_mistakes_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    run = dataclasses.replace(FINISHED, run_id='r', paths=('direct',))
    if 'a duration' in message or 'not both' in message or 'ISO' in message or 'in_memory' in message:
        run = dataclasses.replace(run, run_record_dataset='p:rr')
    write_run(str(tmp_path), run)
    assert compare.main(['--out', str(tmp_path)] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err


# -- live: the same answers as the in-memory comparison ---------------------------------------------------------

def _plain(report_path):
    """The reconciliation figures both comparisons give, ids as the bounded, sorted samples the SQL one lists."""
    keys = ('sent', 'acked', 'acked_twice', 'dead_lettered', 'dead_lettered_by_reason', 'acked_is_derived',
            'landed', 'missing', 'duplicates', 'landed_but_dead_lettered', 'mismatched', 'mismatched_by_field',
            'mismatch_examples', 'landed_check', 'http_requests')
    found = {k: report_path.get(k) for k in keys}
    found['missing_ids'] = (report_path.get('missing_ids') or [])[:sql.SAMPLE_IDS]
    found['mismatched_ids'] = (report_path.get('mismatched_ids') or [])[:sql.SAMPLE_IDS]
    return found


@pytest.fixture(scope='module')
def tampered_run(local_stack, tmp_path_factory):
    """A run of both paths from a file with two invalid lines, WH3 rejected by OIC, the run record also in BigQuery;
    then behind the pipeline's back: rows deleted, one inserted twice more, one changed, and an older copy of a row
    (outside the run's window) added."""
    stack = local_stack
    stack.reset_faults()
    stack.reset_stats()
    stack.create_tables()
    for table in (stack.oic_table, stack.direct_table):
        stack.truncate(table)
    stack.set_faults({'reject': {'field': 'WH_ID', 'values': ['WH3'], 'status': 400}})
    tmp = tmp_path_factory.mktemp('sqlrun')
    lines = ['WH_ID,Item_Name,Item_id,Quantity_Available,Quantity_Requested,Backlog']
    for i in range(48):
        available, requested = 500 + i * 7, 480 + i * 11
        lines.append('WH%d,Poultry Fat,105,%d,%d,%d' % (1 + i % 8, available, requested, min(0, available - requested)))
    lines[10] = 'WH2,Poultry Fat,105,-5,10,0'
    lines[20] = 'WH4,Poultry Fat,abc,10,10,0'
    (tmp / 'input.csv').write_text('\n'.join(lines) + '\n')
    out = str(tmp / 'out')
    dataset = '%s:run_record_test' % stack.project
    os.environ['OIC_PASSWORD'] = stack.password
    try:
        code = run_main(['--out', out, '--input', str(tmp / 'input.csv'), '--oic_url', stack.oic_url,
                         '--oic_username', stack.username, '--bigquery_emulator_host', stack.bq_endpoint,
                         '--direct_table', stack.direct_table, '--oic_table', stack.oic_table,
                         '--run_record_dataset', dataset, '--probe_interval', '0'])
        assert code == 0
    finally:
        del os.environ['OIC_PASSWORD']
    stack.reset_faults()
    client = stack.bq_client()
    direct = sorted(read_records(out, run_record.sent_kind('direct')), key=lambda r: r['record_id'])
    oic_landed = sorted(r['record_id'] for r in stack.rows(stack.oic_table))
    deleted_direct, changed, duplicated, old_copy = direct[0:2], direct[3], direct[2], direct[4]
    for table, ids in ((stack.direct_table, [r['record_id'] for r in deleted_direct] + [changed['record_id']]),
                       (stack.oic_table, oic_landed[:1])):
        client.query('DELETE FROM `%s` WHERE record_id IN (%s)' % (
            table.replace(':', '.'), ', '.join("'%s'" % i for i in ids))).result()
    older = dict(old_copy, event_time=rec.format_timestamp(
        rec.parse_timestamp(old_copy['event_time']) - datetime.timedelta(days=3)))
    assert not client.insert_rows_json(stack.direct_table.replace(':', '.'), [
        duplicated, dict(changed, Quantity_Available=changed['Quantity_Available'] + 1, WH_ID='WH9'), older])
    run = load_run(out)
    memory = build_report(out, oic_monitoring=False)
    window = sql_report.run_window(run, rec.utc_now())
    queries_seen = []
    real_rows = sql.Queries.rows

    def spy(self, statement, params):
        queries_seen.append(statement)
        return real_rows(self, statement, params)
    sql.Queries.rows = spy
    try:
        in_sql = sql_report.build_report_sql(run, window)
    finally:
        sql.Queries.rows = real_rows
    return {'out': out, 'memory': memory, 'sql': in_sql, 'queries': queries_seen, 'run': run,
            'deleted_direct': sorted(r['record_id'] for r in deleted_direct), 'changed': changed['record_id']}



@pytest.mark.stack
def test_the_run_record_tables_hold_what_the_files_hold(tampered_run, local_stack):
    client = local_stack.bq_client()
    dataset = '%s.run_record_test' % local_stack.project
    run_id = tampered_run['run'].run_id
    for kind, table, path in ((run_record.sent_kind('oic'), rrt.SENT, 'oic'),
                              (run_record.sent_kind('direct'), rrt.SENT, 'direct'),
                              (run_record.acks_kind('oic'), rrt.ACKS, 'oic'),
                              (run_record.dead_letters_kind('oic'), rrt.DEAD_LETTERS, 'oic')):
        in_files = sorted(r['record_id'] for r in read_records(tampered_run['out'], kind))
        rows = client.query('SELECT record_id FROM `%s.%s` WHERE run_id = @r AND path = @p' % (dataset, table),
                            job_config=bigquery.QueryJobConfig(query_parameters=[
                                bigquery.ScalarQueryParameter('r', 'STRING', run_id),
                                bigquery.ScalarQueryParameter('p', 'STRING', path)])).result()
        assert sorted(r['record_id'] for r in rows) == in_files and in_files, kind
    table = client.get_table('%s.%s' % (dataset, rrt.SENT))
    assert table.time_partitioning.field == 'event_time' and table.clustering_fields == ['run_id', 'path', 'record_id']


@pytest.mark.stack
def test_sql_and_in_memory_reconciliations_agree(tampered_run):
    memory, in_sql = tampered_run['memory'], tampered_run['sql']
    assert in_sql['reconciliation'] == 'sql'
    assert (in_sql['invalid'], in_sql['invalid_first']) == (memory['invalid'], memory['invalid_first']) \
        and memory['invalid'] == 2
    for path in ('oic', 'direct'):
        assert _plain(in_sql['paths'][path]) == _plain(memory['paths'][path]), path
        assert in_sql['paths'][path]['in_flight'] == 0
    direct, oic = in_sql['paths']['direct'], in_sql['paths']['oic']
    # What was planted is what is found (and the older copy outside the window is neither a duplicate nor a mismatch).
    assert direct['missing_ids'] == tampered_run['deleted_direct'] and direct['duplicates'] == 1
    assert direct['mismatched_ids'] == [tampered_run['changed']]
    assert direct['mismatched_by_field'] == {'WH_ID': 1, 'Quantity_Available': 1}
    assert oic['dead_lettered'] == oic['dead_lettered_by_reason']['http_400'] > 0 and oic['missing'] == 1


@pytest.mark.stack
def test_sql_latency_throughput_and_cost_match_the_in_memory_figures(tampered_run):
    memory, in_sql = tampered_run['memory']['paths']['oic'], tampered_run['sql']['paths']['oic']
    m, s = memory['latency']['ack'], in_sql['latency']['ack']
    assert (s['count'], s['max_s']) == (m['count'], m['max_s'])
    # APPROX_QUANTILES is approximate by definition; here each percentile is one of the two samples around the
    # nearest rank.
    acks = read_records(tampered_run['out'], run_record.acks_kind('oic'))
    sent_ids = {r['record_id'] for r in read_records(tampered_run['out'], run_record.sent_kind('oic'))}
    values = sorted(round(v, 3) for v in latency.ack_latencies(acks, sent_ids))
    for p in latency.PERCENTILES:
        rank = values.index(m['p%d_s' % p])
        assert s['p%d_s' % p] in values[max(0, rank - 1):rank + 2], p
    assert in_sql['throughput']['rows_per_s'] == memory['throughput']['rows_per_s']
    assert in_sql['throughput']['series'] == memory['throughput']['series']
    assert sum(n for _, n in in_sql['throughput']['acked_per_bucket']) == memory['throughput']['rows']
    for path in ('oic', 'direct'):
        mine, theirs = tampered_run['sql']['paths'][path]['cost'], tampered_run['memory']['paths'][path]['cost']
        assert (mine or {}).get('row_bytes') == (theirs or {}).get('row_bytes'), path
    assert in_sql['cost']['items'] == memory['cost']['items']


@pytest.mark.stack
def test_every_query_run_was_filtered_on_the_window(tampered_run):
    assert len(tampered_run['queries']) >= 20
    for statement in tampered_run['queries']:
        assert_every_table_read_in_the_window(statement, rrt.TABLES)
    queries = tampered_run['sql']['queries']
    assert queries['queries'] == len(tampered_run['queries']) and queries['bytes_processed'] == 0
    assert 'emulator measures no bytes' in queries['note']


# -- live: a window on a running stream ----------------------------------------------------------------------------

@pytest.mark.stack
def test_records_at_the_edge_of_a_running_stream_are_in_flight_not_missing(local_stack, tmp_path):
    """A 'running' run planted directly: one record landed, one unresolved an hour ago (missing), one unresolved
    a few seconds ago (in flight); --since 30m sees only the recent one."""
    client = local_stack.bq_client()
    target = rrt.RunRecordTables(local_stack.project, 'run_record_window', 'running-run', local_stack.bq_endpoint)
    rrt.create_emulator_tables(target)
    now = rec.utc_now()
    records = [rec.make_record(1, 'running-run', i, now - age) for i, age in enumerate(
        (datetime.timedelta(minutes=50), datetime.timedelta(minutes=40), datetime.timedelta(seconds=20)))]
    assert not client.insert_rows_json(target.table(rrt.SENT).dotted,
                                       [rrt.sent_row('running-run', 'direct', r) for r in records])
    assert not client.insert_rows_json(local_stack.direct_table.replace(':', '.'), [records[0]])
    write_run(str(tmp_path), RunInfo(run_id='running-run', paths=('direct',), state='RUNNING',
                                     started_at=rec.format_timestamp(now - datetime.timedelta(hours=1)),
                                     tables={'direct': local_stack.direct_table},
                                     emulator_host=local_stack.bq_endpoint,
                                     run_record_dataset=str(target.project) + ':' + target.dataset))
    assert compare.main(['--out', str(tmp_path), '--in_flight', '2m']) == 0
    report = json.load(open(tmp_path / 'report.json'))
    direct = report['paths']['direct']
    assert (direct['sent'], direct['landed'], direct['missing'], direct['in_flight']) == (3, 1, 1, 1)
    assert direct['missing_ids'] == [records[1]['record_id']]
    assert compare.main(['--out', str(tmp_path), '--since', '30m', '--in_flight', '2m']) == 0
    direct = json.load(open(tmp_path / 'report.json'))['paths']['direct']
    assert (direct['sent'], direct['missing'], direct['in_flight']) == (1, 0, 1)
