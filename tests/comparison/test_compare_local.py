"""python -m pipeline.compare against a real local run with known outcomes: rejects, deletions, duplicates, edits."""

import glob
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from comparison import compare
from launcher.run import main as run_main

pytestmark = pytest.mark.stack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, 'test-artifacts')
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']


def sent_records(out, path):
    return [json.loads(line) for name in glob.glob(os.path.join(out, path, 'sent-*.jsonl')) for line in open(name)]


@pytest.fixture(scope='module')
def tampered_run(local_stack, tmp_path_factory):
    """A run of both paths with WH3 rejected by OIC, then, behind the pipeline's back: two direct rows and one OIC
    row deleted, one direct row inserted twice more... once more, one direct row's Quantity_Available changed."""
    stack = local_stack
    stack.reset_faults()
    stack.reset_stats()
    stack.create_tables()
    for table in (stack.oic_table, stack.direct_table):
        stack.truncate(table)
    stack.set_faults({'reject': {'field': 'WH_ID', 'values': ['WH3'], 'status': 400}})
    out = str(tmp_path_factory.mktemp('run'))
    saved = dict(os.environ)
    os.environ.update(stack.monitoring_env())  # OIC_PASSWORD, and the monitoring check's OAuth client and instance
    try:
        code = run_main(['--out', out, '--records', '60', '--seed', '5', '--oic_url', stack.oic_url,
                         '--oic_username', stack.username, '--bigquery_emulator_host', stack.bq_endpoint,
                         '--direct_table', stack.direct_table, '--oic_table', stack.oic_table])
        assert code == 0
        stack.reset_faults()
        direct = sorted(sent_records(out, 'direct'), key=lambda r: r['record_id'])
        oic_landed = sorted(r['record_id'] for r in stack.rows(stack.oic_table))
        deleted_direct = [direct[0]['record_id'], direct[1]['record_id']]
        deleted_oic = oic_landed[0]
        duplicated, changed = direct[2], direct[3]
        client = stack.bq_client()
        for table, ids in ((stack.direct_table, deleted_direct + [changed['record_id']]),
                           (stack.oic_table, [deleted_oic])):
            client.query('DELETE FROM `%s` WHERE record_id IN (%s)' % (
                table.replace(':', '.'), ', '.join("'%s'" % i for i in ids))).result()
        edited = dict(changed, Quantity_Available=changed['Quantity_Available'] + 1)
        errors = client.insert_rows_json(stack.direct_table.replace(':', '.'), [duplicated, edited])
        assert not errors
        assert compare.main(['--out', out]) == 0
        yield {'out': out, 'report': json.load(open(os.path.join(out, 'report.json'))),
               'deleted_direct': sorted(deleted_direct), 'deleted_oic': deleted_oic,
               'duplicated': duplicated['record_id'], 'changed': changed['record_id'],
               'wh3': sorted(r['record_id'] for r in direct if r['WH_ID'] == 'WH3')}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_rejected_records_are_dead_lettered_not_missing(tampered_run):
    oic = tampered_run['report']['paths']['oic']
    assert tampered_run['wh3'], 'seed 5 must produce WH3 records'
    assert oic['dead_lettered'] == len(tampered_run['wh3']) == oic['dead_lettered_by_reason']['http_400']
    assert oic['acked'] == 60 - len(tampered_run['wh3'])
    assert oic['missing_ids'] == [tampered_run['deleted_oic']]
    assert oic['landed'] == oic['acked'] - 1 and oic['duplicates'] == 0
    assert oic['mismatched'] == 0, 'the mapping sends Item_id and Backlog as strings; BigQuery coerces them'


def test_deleted_duplicated_and_changed_rows_are_found_exactly(tampered_run):
    direct = tampered_run['report']['paths']['direct']
    assert (direct['sent'], direct['acked'], direct['dead_lettered']) == (60, 60, 0) and direct['acked_is_derived']
    assert direct['missing_ids'] == tampered_run['deleted_direct'] and direct['missing'] == 2
    assert direct['duplicates'] == 1 and direct['landed'] == 58
    assert direct['mismatched_ids'] == [tampered_run['changed']]
    assert direct['mismatched_by_field'] == {'Quantity_Available': 1}


def test_oic_monitoring_gives_the_three_way_check(tampered_run):
    oic = tampered_run['report']['paths']['oic']
    view = oic['oic_monitoring']
    assert view['check'] == 'done' and view['scoped_by'] == 'record_id'
    assert (view['completed'], view['failed']) == (oic['acked'], oic['dead_lettered'])
    three = view['three_way']
    assert three['pipeline_acked'] == three['oic_completed'] == three['bigquery_landed'] + 1
    assert three['agree'] is False  # the deleted row: OIC completed it, BigQuery no longer has it


def test_latency_throughput_requests_and_cost(tampered_run):
    report = tampered_run['report']
    oic, direct = report['paths']['oic'], report['paths']['direct']
    assert oic['latency']['ack']['count'] == oic['acked'] and oic['latency']['ack']['p50_s'] > 0
    for result in (oic, direct):
        ttq = result['latency']['time_to_queryable']
        assert ttq['count'] == result['acked'] and 0 < ttq['p50_s'] <= ttq['p90_s'] <= ttq['p99_s'] <= ttq['max_s']
        assert result['latency']['probe']['interval_s'] <= 1 and result['latency']['probe']['polls'] > 0
        assert result['throughput_rps'] > 0 and result['throughput']['series']
        assert result['cost']['usd_per_month'] > 0 and '×' in result['cost']['items'][0]['formula']
    assert direct['latency']['ack'] is None and 'time-to-queryable' in direct['latency']['ack_note']
    assert oic['http_requests_per_row'] == 1.0
    assert 0 < direct['http_requests_per_row'] < 1
    assert report['prices']['as_of']
    # One record per request: as many requests and billing messages as records settled, the stand-in's own count of
    # trigger requests beside ours.
    found = oic['oic_billing']
    assert found['requests'] == found['messages'] == oic['acked'] + oic['dead_lettered'] == 60
    assert (found['records_per_request'], found['records_per_message']) == (1.0, 1.0)
    assert found['stand_in']['check'] == 'done' and found['stand_in']['requests_agree']  # the stats were reset first
    assert oic['cost']['batched']['records_per_request'] > 150 and 'sender_requirements' in report


def test_cost_is_at_a_stated_rate_with_its_curve(tampered_run, capsys):
    report = tampered_run['report']
    at = report['cost_at_rate']
    assert at['rate'] == 1.0 and 'lab' in at['source']  # an unpaced batch: the lab's rate, not the burst
    assert at['oic_response_source'].startswith('measured') and 0 < at['oic_response_s'] < 5
    for result in report['paths'].values():
        assert result['cost']['at_rate'] == 1.0 and result['cost']['at_rate_source'] == at['source']
    assert report['paths']['oic']['cost']['items'][0]['packs'] == 1
    curve = report['cost_curve']
    assert [p['rate'] for p in curve] == [0.1, 1.0, 10.0, 100.0, 1000.0]
    for point in curve:
        assert {'rate', 'oic_packs', 'oic_usd_per_month', 'oic_byol_usd_per_month',
                'direct_streaming_inserts_usd_per_month', 'direct_storage_write_usd_per_month'} <= set(point)
    assert any(p['kind'] == 'step' for p in report['cost_curve_points'])
    # The same run priced at 200 records/s: more than one OIC instance, said in the table.
    assert compare.main(['--out', tampered_run['out'], '--at_rate', '200', '--no_oic_monitoring']) == 0
    printed = capsys.readouterr().out
    assert 'cost at 200 records/s: --at_rate 200' in printed and '200*!' in printed
    again = json.load(open(os.path.join(tampered_run['out'], 'report.json')))
    assert again['paths']['oic']['cost']['items'][0]['instances'] == 2
    assert compare.main(['--out', tampered_run['out'], '--at_rate', '0']) == 2
    assert '--at_rate must be a positive number' in capsys.readouterr().err
    assert compare.main(['--out', tampered_run['out']]) == 0  # leaves the module's report as it was


def test_compare_reports_a_missing_run_in_one_line(tmp_path, capsys):
    assert compare.main(['--out', str(tmp_path / 'nothing')]) == 2
    assert 'no run recorded' in capsys.readouterr().err


def find_chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_html_renders_charts_offline(tampered_run):
    html_path = os.path.join(tampered_run['out'], 'report.html')
    page = open(html_path, encoding='utf-8').read()
    assert 'src="http' not in page and 'href="http' not in page and '<link' not in page
    chromium = find_chromium()
    if not chromium:
        pytest.skip('no chromium found (.ci/run installs Debian\'s chromium package)')
    os.makedirs(ARTIFACTS, exist_ok=True)
    screenshot = os.path.join(ARTIFACTS, 'report.png')
    if os.path.exists(screenshot):
        os.remove(screenshot)
    with tempfile.TemporaryDirectory() as profile:
        flags = CHROMIUM_FLAGS + ['--user-data-dir=' + profile]
        dom = subprocess.run([chromium] + flags + ['--dump-dom', 'file://' + html_path],
                             capture_output=True, text=True, timeout=120).stdout
        subprocess.run([chromium] + flags + ['--window-size=1200,2200', '--screenshot=' + screenshot,
                                             'file://' + html_path], capture_output=True, timeout=120)
    for chart in ('latency-cdf', 'throughput', 'cost-chart'):
        start = dom.index('<figure id="%s">' % chart)
        figure = dom[start:dom.index('</figure>', start)]
        assert '<svg' in figure and ('<path' in figure or '<polyline' in figure), chart
    assert 'oic: event → queryable' in dom and 'direct: event → queryable' in dom
    assert 'Monthly cost against rate' in dom and 'id="cost-curve"' in dom and 'id="price-sources"' in dom
    assert os.path.getsize(screenshot) > 10000
