"""Cost formulas and price overrides, on round numbers worked out by hand."""

import json

import pytest

from comparison.cost import stated_rate
from comparison.cost import break_even
from comparison.cost import curves
from comparison.cost import line_items
from comparison.cost import price_table
from comparison.cost import sizing

from round_prices import PRICES, path_cost, seed_curves  # tests/comparison/round_prices.py
from transforms.run_record.run_info import RunInfo


def test_oic_packs_round_up_per_hour_and_count_50kb_increments():
    usd, packs, formula = line_items.oic_cost(10001, 100, PRICES)
    assert (packs, usd) == (3, 3 * 730.0)
    assert '10,001 rows/h' in formula and '3 pack(s) × $1/pack-hour' in formula
    _, packs, _ = line_items.oic_cost(5000, 60 * 1024, PRICES)  # 60 KB payloads count as two messages each
    assert packs == 2


def test_streaming_inserts_bill_at_least_1kb_per_row():
    usd, formula = line_items.streaming_insert_cost(200 * 1024, 100, PRICES)  # 200 Ki rows × 1 KiB = 200 MiB
    assert usd == 0.01 and '1024 B minimum' in formula


def test_storage_write_has_a_free_tier_and_no_row_minimum():
    assert line_items.storage_write_cost(1000, 100, PRICES)[0] == 0.0
    usd, _ = line_items.storage_write_cost(3 * 2 ** 30, 1024, PRICES)  # 3 TiB: 1 TiB billed
    assert usd == 1024 * 0.025


def test_path_cost_itemises_and_totals_at_its_rate():
    oic = path_cost('oic', 1.0, 100, 200, PRICES, at_rate_source='--at_rate 1')
    assert [i['item'].split(' (')[0] for i in oic['items']] == ['OIC message packs', 'BigQuery streaming inserts']
    assert oic['usd_per_month'] == round(sum(i['usd'] for i in oic['items']), 2)
    assert (oic['at_rate'], oic['at_rate_source'], oic['rows_per_month']) == (1.0, '--at_rate 1', 3600 * 730)
    assert oic['alternative']['item'].startswith('OIC with BYOL packs')
    direct = path_cost('direct', 1.0, 100, 200, PRICES)
    assert direct['alternative']['item'].startswith('BigQuery Storage Write API')
    assert path_cost('direct', None, 100, 200, PRICES) is None


def test_row_size_follows_bigquery_types():
    assert sizing.bigquery_row_bytes({'WH_ID': 'WH1', 'Item_id': 5, 'event_time': 'x', 'record_id': None}) == 5 + 8 + 8


def test_defaults_are_dated_and_overridable(tmp_path):
    defaults = price_table.load_prices()
    assert defaults['as_of'] and defaults['oic_messages_per_pack_hour'] == 5000
    extra = tmp_path / 'p.json'
    extra.write_text(json.dumps({'oic_pack_hour_usd': 1.2903, 'as_of': '2026-01'}))
    prices = price_table.load_prices(str(extra), ['hours_per_month=744'])
    assert (prices['oic_pack_hour_usd'], prices['as_of'], prices['hours_per_month']) == (1.2903, '2026-01', 744.0)
    assert prices['sources']['oic_pack_hour_usd']['url'] == str(extra)
    assert prices['sources']['hours_per_month']['url'] == '--price' and prices['overridden'] == ['hours_per_month']
    with pytest.raises(price_table.PriceError):
        price_table.load_prices(overrides=['no_such_price=1'])
    with pytest.raises(price_table.PriceError):
        price_table.load_prices(overrides=['hours_per_month=lots'])
    with pytest.raises(price_table.PriceError, match='must be > 0'):
        price_table.load_prices(overrides=['oic_pack_hour_usd=-1'])
    extra.write_text(json.dumps({'oic_pack_hour_usd': 'cheap'}))
    with pytest.raises(price_table.PriceError, match='must be a number'):
        price_table.load_prices(str(extra))
    extra.write_text(json.dumps({'oic_pack_hour': 1.0}))
    with pytest.raises(price_table.PriceError, match='unknown price key'):
        price_table.load_prices(str(extra))


# -- the shipped table: the figures the issue checked, each with its page


def test_every_shipped_price_has_its_page_and_date_and_says_if_first_hand():
    prices = price_table.load_prices()
    numbers = [k for k, v in prices.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert set(numbers) <= set(prices['sources'])
    for key in numbers:
        source = prices['sources'][key]
        assert source['url'].startswith('https://') and source['read'] and isinstance(source['first_hand'], bool)
    assert (prices['oic_pack_hour_usd'], prices['oic_enterprise_pack_hour_usd'], prices['oic_byol_pack_hour_usd']) == \
        (0.6452, 1.2903, 0.3226)
    assert (prices['oic_messages_per_pack_hour'], prices['oic_byol_messages_per_pack_hour']) == (5000, 20000)
    assert (prices['oic_sync_requests_per_pack'], prices['oic_byol_sync_requests_per_pack']) == (100, 400)
    assert (prices['streaming_insert_usd_per_200mb'], prices['streaming_insert_min_row_bytes']) == (0.01, 1024)
    assert (prices['storage_write_usd_per_gib'], prices['storage_write_free_gib_per_month']) == (0.025, 2048)
    # The pack prices come from copies of Oracle's list, the Storage Write price from copies of Google's table.
    assert not any(prices['sources'][k]['first_hand'] for k in (
        'oic_pack_hour_usd', 'oic_byol_pack_hour_usd', 'storage_write_usd_per_gib'))
    assert prices['sources']['oic_messages_per_pack_hour']['first_hand']


# -- cost at a stated rate


def test_the_rate_comes_from_the_flag_then_the_offered_rate_then_the_lab_never_the_burst():
    assert stated_rate.at_rate_for(RunInfo.from_json({'rate': 0.0}), 25.0) == (25.0, '--at_rate 25')
    assert stated_rate.at_rate_for(RunInfo.from_json({'rate': 10.0, 'streaming': True}))[0] == 10.0
    assert 'streaming run (--rate 10)' in stated_rate.at_rate_for(RunInfo.from_json({'rate': 10.0, 'streaming': True}))[1]
    assert 'paced run (--rate 5)' in stated_rate.at_rate_for(RunInfo.from_json({'rate': 5.0, 'streaming': False}))[1]
    rate, source = stated_rate.at_rate_for(RunInfo.from_json({'rate': 0.0, 'streaming': False}))
    assert rate == stated_rate.LAB_RATE == 1.0 and "lab's 1 record/s" in source and 'burst' in source
    assert stated_rate.at_rate_for(RunInfo.from_json({'rate': 0.0, 'at_rate': 3.0}))[0] == 3.0
    for bad in (0.0, -1.0, float('inf'), float('nan')):
        with pytest.raises(ValueError):
            stated_rate.check_at_rate(bad)
    assert stated_rate.check_at_rate(None) is None


def test_one_record_a_second_needs_one_pack_about_471_dollars_and_direct_costs_cents():
    prices = price_table.load_prices()
    point = curves.cost_point(1.0, seed_curves(105, 238, prices))
    assert point['oic_packs'] == 1 and 470 < point['oic_usd_per_month'] < 472
    assert point['direct_streaming_inserts_usd_per_month'] < 1 and point['direct_storage_write_usd_per_month'] == 0


def test_packs_follow_messages_per_hour_or_requests_in_flight_whichever_needs_more():
    # 10 records/s = 36,000 messages/h: ceil(36,000 / 5,000) = 8 packs; in flight 10 × 1 s = 10 needs 1.
    size = sizing.oic_sizing(10.0, 200, PRICES, response_s=1.0)
    assert (size['packs_for_messages'], size['packs_for_concurrency'], size['packs']) == (8, 1, 8)
    # Answers taking 100 s: 1,000 in flight need 10 packs of 100 synchronous requests each.
    size = sizing.oic_sizing(10.0, 200, PRICES, response_s=100.0)
    assert (size['packs_for_messages'], size['packs_for_concurrency'], size['packs']) == (8, 10, 10)
    byol = sizing.oic_sizing(10.0, 200, PRICES, response_s=100.0, byol=True)
    assert (byol['packs_for_messages'], byol['packs_for_concurrency'], byol['packs']) == (2, 3, 3)
    assert byol['usd_per_month'] == 3 * 0.5 * 730


def test_rates_beyond_one_instance_are_marked():
    assert sizing.oic_sizing(138.0, 200, PRICES)['instances'] == 1  # 496,800 messages/h: 100 packs
    over = sizing.oic_sizing(139.0, 200, PRICES)
    assert (over['packs'], over['instances']) == (101, 2)
    # 2,000 synchronous requests in flight is one instance's ceiling whatever the packs.
    assert sizing.oic_sizing(30.0, 200, PRICES, response_s=100.0, byol=True)['instances'] == 2
    _, _, formula = line_items.oic_cost(139.0 * 3600, 200, PRICES)
    assert 'more than one instance: 2' in formula


def test_the_curve_has_the_asked_rates_and_the_stated_one_with_every_column():
    rates = curves.curve_rates(3.5)
    assert rates == [0.1, 1.0, 3.5, 10.0, 100.0, 1000.0]
    curve = curves.cost_curve(rates, seed_curves(100, 200))
    assert [p['rate'] for p in curve] == rates
    for point in curve:
        assert {c.key for curve, _ in seed_curves(100, 200) for c in curve.columns} | {'rate'} <= set(point)
    costs = [p['oic_usd_per_month'] for p in curve]
    assert costs == sorted(costs)
    # 1,000 rows/s of 100 B: 2.628e9 rows × 1 KiB ÷ 200 MiB × $0.01
    assert curve[-1]['direct_streaming_inserts_usd_per_month'] == round(1000 * 3600 * 730 / 204800 * 0.01, 4)


def test_crossings_find_where_two_costs_meet():
    found = break_even.crossings(lambda r: 10.0, lambda r: r, 0.01, 1000.0)
    assert len(found) == 1 and found[0] == pytest.approx(10.0, rel=0.002)
    assert break_even.crossings(lambda r: 1.0, lambda r: 2.0, 0.01, 1000.0) == []


def test_key_points_name_the_steps_and_say_when_nothing_breaks_even():
    points = break_even.key_points(seed_curves(100, 200))
    text = [p['what'] for p in points]
    first_step = next(p for p in points if p['what'].startswith('OIC: one pack'))
    assert first_step['rate'] == pytest.approx(5000 / 3600)
    assert any('above 138.889 records/s one instance is not enough' in t for t in text)
    assert any(t.startswith('direct, Storage Write API: free up to') for t in text)
    assert any('direct, streaming inserts costs less than OIC (license included) at every rate' in t for t in text)
    # A dear Storage Write API ($10/GiB) is free up to 2 TiB a month, then overtakes streaming inserts where
    # (rows × 1 KiB ÷ 1 GiB − 2048) × 10 = rows × 1 KiB ÷ 200 MiB × 0.01, rows = rate × 3600 × 730.
    dear = dict(PRICES, storage_write_usd_per_gib=10.0)
    even = [p for p in break_even.key_points(seed_curves(1024, 200, dear)) if p['kind'] == 'break-even'
            and p['what'].startswith('direct, streaming inserts and direct, Storage Write API cost the same')]
    month = 3600 * 730
    expected = 2048 * 10 / (month / 2 ** 20 * 10 - month / 204800 * 0.01)
    assert len(even) == 1 and even[0]['rate'] == pytest.approx(expected, rel=0.002)
