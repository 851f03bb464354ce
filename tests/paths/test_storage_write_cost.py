"""The storage_write path is priced from the serialized bytes per row it measured, at the Storage Write API rate
after the monthly free tier: in its cost at the stated rate, in every cost_curve row and in the terminal's curve
table (issue 32 item 4); fast, from a recorded run without BigQuery."""

from comparison.cost import line_items, price_table
from comparison.render import terminal
from comparison.report import build_report
from transforms.run_record import files as run_record

from recorded_run import recorded_run, write_lines  # tests/paths/recorded_run.py

APPENDS = [{'rows': 4, 'bytes': 4 * 91}, {'rows': 2, 'bytes': 2 * 88}]  # 540 B over 6 rows: 90 B a row


def recorded_storage_write_run(tmp_path, appends=APPENDS):
    out, _ = recorded_run(tmp_path, 'run-sw', ('oic', 'storage_write'), seed=7)
    write_lines(out, run_record.appends_kind('storage_write'), appends)
    return str(out)


def test_the_cost_and_every_curve_row_price_the_measured_bytes_after_the_free_tier(tmp_path):
    prices = price_table.load_prices()
    # 100,000 rows/s of 90 B is about 22,000 GiB a month: beyond the 2,048 GiB free tier.
    report = build_report(recorded_storage_write_run(tmp_path), prices=prices, oic_monitoring=False, at_rate=100000.0)
    mine = report['paths']['storage_write']
    assert mine['storage_write']['serialized_bytes_per_row'] == 90.0
    cost = mine['cost']
    month = 100000.0 * 3600 * prices['hours_per_month']
    billed_gib = month * 90 / 2 ** 30 - prices['storage_write_free_gib_per_month']
    assert cost['row_bytes'] == 90 and cost['row_bytes_source'] == 'measured serialized bytes per row'
    assert cost['usd_per_month'] == round(billed_gib * prices['storage_write_usd_per_gib'], 2) > 0
    assert 'measured serialized bytes per row' in cost['items'][0]['item']
    assert len(report['cost_curve']) == 6  # 0.1 … 1,000 records/s and the stated 100,000
    for row in report['cost_curve']:
        per_month = row['rate'] * 3600 * prices['hours_per_month']
        assert row['storage_write_row_bytes'] == 90
        assert row['storage_write_usd_per_month'] == line_items.storage_write_cost(per_month, 90, prices)[0]
    assert report['cost_curve'][-1]['storage_write_usd_per_month'] == cost['usd_per_month']
    table = terminal.format_cost_curve(report)
    assert table[1].split()[-1] == 'storage_write'
    stated = next(line for line in table if line.lstrip().startswith('100,000*'))
    assert stated.split()[-1] == terminal.format_usd(cost['usd_per_month'])


def test_without_an_accepted_append_the_rows_json_size_is_priced_and_said(tmp_path):
    report = build_report(recorded_storage_write_run(tmp_path, appends=[]), prices=price_table.load_prices(),
                          oic_monitoring=False)
    cost = report['paths']['storage_write']['cost']
    assert cost['row_bytes_source'] == "the row's JSON size (no append measured)"
    assert all(row['storage_write_row_bytes'] == cost['row_bytes'] for row in report['cost_curve'])


def test_the_footnote_names_the_paths_whose_acknowledged_is_derived(tmp_path):
    report = build_report(recorded_storage_write_run(tmp_path), prices=price_table.load_prices(), oic_monitoring=False)
    text = terminal.format_table(report)
    assert '* storage_write: no answer per row, only the rows refused: acknowledged = sent - dead-lettered.' in text
    assert 'WriteToBigQuery' not in text  # the run has no direct path
