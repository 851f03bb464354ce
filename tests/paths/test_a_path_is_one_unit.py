"""Adding a path to the comparison is a module plus one registration: a path defined only here (a courier that
answers each record) goes through the whole in-memory comparison, its column in report.json, the terminal table
and report.html, its cost items in its cost and its column in every cost_curve row, the terminal's curve table and
the break-even points, and what the SQL reconciliation asks of it (the fields its table keeps and its body carries,
its requests from the run's metrics, its own views and those it leaves out), without the comparison naming it
anywhere."""

import datetime
import json

import pytest

from comparison import paths
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.cost.curves import CurveBasis, CurveColumn, PathCurve
from comparison.render import html_page, terminal
from comparison.report import build_report
from comparison.sql import reconcile as sql
from comparison.sql import report as sql_report
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo
from transforms.tables import DatasetSpec

from recorded_run import recorded_run, write_lines  # tests/paths/recorded_run.py

USD_PER_MILLION_ROWS = 3.0


def courier_cost(inputs: paths.CostInputs):
    rows = inputs.at_rate * 3600 * inputs.prices['hours_per_month']
    usd = round(rows / 1e6 * USD_PER_MILLION_ROWS, 2)
    return {'at_rate': inputs.at_rate, 'at_rate_source': inputs.at_rate_source, 'rows_per_month': round(rows),
            'row_bytes': inputs.row_bytes, 'usd_per_month': usd,
            'items': [{'item': 'courier rows', 'usd': usd, 'formula': 'rows x $%g per million' % USD_PER_MILLION_ROWS}]}


CURVE_KEY = 'courier_usd_per_month'


def courier_point(rate: float, basis: CurveBasis):
    return {CURVE_KEY: round(rate * 3600 * basis.prices['hours_per_month'] / 1e6 * USD_PER_MILLION_ROWS, 4)}


COURIER_FIELDS = ('record_id', 'Item_id', 'Quantity_Available')  # what its table keeps, and what it posts
COURIER_SKIPPED = ('courier_tracking', 'skipped: the courier\'s tracking page is read in memory only')


def courier_sql_views(result, payload_bytes, prices):
    result['courier_parcels'] = {'parcels': result['acked'] + result['dead_lettered'], 'body_bytes': payload_bytes}


COURIER = paths.ComparisonPath(
    name='courier', label='courier', acks_derived=False,
    row_bytes=lambda record, run: sizing.bigquery_row_bytes(record), payload_bytes=lambda record, run: 0,
    requests=lambda acks, dead, metrics: (len(acks) + len(dead), 'one request per record'), cost=courier_cost,
    curve=PathCurve(point=courier_point, columns=(CurveColumn(CURVE_KEY, 'courier', 'courier rows'),),
                    note='courier rows at $%g per million' % USD_PER_MILLION_ROWS),
    color='#f9ab00', times_answers=True, row_fields=lambda run: COURIER_FIELDS, body_fields=lambda run: COURIER_FIELDS,
    sql_requests=lambda run: ((run.metrics or {}).get('courier_calls'), 'the courier\'s calls counter'),
    sql_views=courier_sql_views, sql_skipped=(COURIER_SKIPPED,))


@pytest.fixture
def courier():
    paths.register(COURIER)
    yield COURIER
    paths.unregister(COURIER.name)


def test_a_path_registered_in_a_test_goes_through_the_whole_comparison(courier, tmp_path):
    out, sent = recorded_run(tmp_path, 'run-c', ('direct', 'courier'), seed=5)
    write_lines(out, run_record.acks_kind('courier'), [
        {'path': 'courier', 'record_id': r['record_id'], 'status': 200, 'attempts': 1, 'latency_ms': 20.0,
         'event_time': r['event_time'], 'ack_time': r['event_time']} for r in sent[:5]])
    write_lines(out, run_record.dead_letters_kind('courier'), [dict(sent[5], reason='refused')])

    report = build_report(str(out), prices=price_table.load_prices(), oic_monitoring=False)

    mine = report['paths']['courier']
    assert (mine['sent'], mine['acked'], mine['dead_lettered'], mine['acked_is_derived']) == (6, 5, 1, False)
    assert mine['http_requests'] == 6 and mine['latency']['ack']['count'] == 5
    assert mine['cost']['usd_per_month'] == round(2.0 * 3600 * 730 / 1e6 * USD_PER_MILLION_ROWS, 2)
    assert list(report['paths']) == ['direct', 'courier'] and report['paths']['direct']['acked_is_derived']
    assert 'courier cost, courier rows: rows x $3 per million' in terminal.format_table(report)
    # Its column in every cost_curve row, at the row's rate, and in the break-even points beside the others.
    assert [row[CURVE_KEY] for row in report['cost_curve']] == [
        round(row['rate'] * 3600 * 730 / 1e6 * USD_PER_MILLION_ROWS, 4) for row in report['cost_curve']]
    assert 'oic_usd_per_month' in report['cost_curve'][0]  # the seed's comparison is stated in every report
    assert any('courier rows' in (p.get('cheaper'), p.get('dearer')) or 'courier rows' in p['what']
               for p in report['cost_curve_points'])
    table = terminal.format_table(report)
    assert 'courier' in table.splitlines()[0] + table and '$%s' % format(mine['cost']['usd_per_month'], ',.2f') in table
    curve_table = terminal.format_cost_curve(report)
    assert 'courier rows at $3 per million' in curve_table[0] and curve_table[1].split()[-1] == 'courier'
    stated = next(line for line in curve_table if line.lstrip().startswith('2*'))
    assert stated.split()[-1] == terminal.format_usd(round(2.0 * 3600 * 730 / 1e6 * USD_PER_MILLION_ROWS, 4))
    page = html_page.render_html(report)
    assert 'courier' in page and COURIER.color in page and '<th>courier</th>' in page
    json.dumps(report)


def test_the_sql_reconciliation_asks_a_path_registered_in_a_test_what_it_writes_posts_counts_and_shows(courier):
    # The SQL side of the comparison needs BigQuery to run; what it asks of the declaration is checked here.
    run = RunInfo(run_id='run-c', paths=('direct', 'courier'), landed_check=False, metrics={'courier_calls': 4})
    scope = sql_report._scope(run, 'courier', DatasetSpec('p', 'rr'))
    assert (scope.row_fields, scope.body_fields) == (COURIER_FIELDS, COURIER_FIELDS)
    sizes = sql.sizes_sql(scope)
    row, body = sizes.split(' AS row_bytes')[0], sizes.split(' AS row_bytes')[1].split(' AS payload_bytes')[0]
    assert '`Quantity_Available`' in row and '`WH_ID`' not in row and '`Item_id`' in body and '`WH_ID`' not in body
    direct = sql.sizes_sql(sql_report._scope(run, 'direct', DatasetSpec('p', 'rr')))
    assert '`WH_ID`' in direct.split(' AS row_bytes')[0] and 'AVG(0) AS payload_bytes' in direct  # posts no body
    assert sql_report.requests_from_metrics('courier', run, {'sent': 8}) == {
        'http_requests': 4, 'http_requests_counted': 'the courier\'s calls counter', 'http_requests_per_row': 0.5}
    assert paths.timing_answers(run.paths) == ['courier']  # its answers size the requests in flight
    result = {'acked': 5, 'dead_lettered': 1}
    paths.of('courier').sql_views(result, 40, {})
    assert result['courier_parcels'] == {'parcels': 6, 'body_bytes': 40}


class _Job:
    total_bytes_processed = total_bytes_billed = 0

    def result(self, retry=None, timeout=None):
        return []  # BigQuery with nothing recorded for the run


class _EmptyBigQuery:
    def query(self, statement, job_config=None, retry=None, job_retry=None, timeout=None):
        return _Job()

    def get_table(self, table, retry=None):
        raise LookupError(table)


def test_the_sql_report_gives_a_path_registered_in_a_test_its_own_views_and_says_which_it_leaves_out(courier):
    run = RunInfo(run_id='run-c', paths=('direct', 'courier'), landed_check=False, run_record_dataset='p:rr',
                  metrics={'courier_calls': 0})
    start = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    report = sql_report.build_report_sql(run, sql.Window(start, start + datetime.timedelta(hours=1)),
                                         client_factory=lambda project, host: _EmptyBigQuery())
    mine = report['paths']['courier']
    assert mine['courier_parcels'] == {'parcels': 0, 'body_bytes': 0}
    assert mine[COURIER_SKIPPED[0]] == {'check': COURIER_SKIPPED[1]} and COURIER_SKIPPED[0] not in report['paths']['direct']
    assert mine['http_requests_counted'] == 'the courier\'s calls counter'


def test_an_unregistered_path_is_named_in_the_error():
    with pytest.raises(KeyError, match="no path 'nowhere' in the comparison"):
        paths.of('nowhere')
