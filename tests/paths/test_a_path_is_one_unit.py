"""Adding a path to the comparison is a module plus one registration: a path defined only here (a courier that
answers each record) goes through the whole in-memory comparison, its column in report.json, the terminal table
and report.html, its cost items in its cost and its column in every cost_curve row, the terminal's curve table and
the break-even points, without the comparison naming it anywhere."""

import json

import pytest

from comparison import paths
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.cost.curves import CurveBasis, CurveColumn, PathCurve
from comparison.render import html_page, terminal
from comparison.report import build_report
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo

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


COURIER = paths.ComparisonPath(
    name='courier', label='courier', acks_derived=False,
    row_bytes=lambda record, run: sizing.bigquery_row_bytes(record), payload_bytes=lambda record, run: 0,
    requests=lambda acks, dead, metrics: (len(acks) + len(dead), 'one request per record'), cost=courier_cost,
    curve=PathCurve(point=courier_point, columns=(CurveColumn(CURVE_KEY, 'courier', 'courier rows'),),
                    note='courier rows at $%g per million' % USD_PER_MILLION_ROWS),
    color='#f9ab00')


@pytest.fixture
def courier():
    paths.register(COURIER)
    yield COURIER
    paths.unregister(COURIER.name)


def write_lines(out, kind, items):
    target = out / (kind + '-0.jsonl')  # run_record.record_file_pattern
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(''.join(json.dumps(item) + '\n' for item in items))


def test_a_path_registered_in_a_test_goes_through_the_whole_comparison(courier, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    sent = [rec.make_record(5, 'run-c', i) for i in range(6)]
    run_record.write_run(str(out), RunInfo(run_id='run-c', paths=('direct', 'courier'), state='DONE',
                                           landed_check=False, rate=2.0, started_at=sent[0]['event_time'],
                                           finished_at=sent[-1]['event_time']))
    for path in ('direct', 'courier'):
        write_lines(out, run_record.sent_kind(path), sent)
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


def test_an_unregistered_path_is_named_in_the_error():
    with pytest.raises(KeyError, match="no path 'nowhere' in the comparison"):
        paths.of('nowhere')
