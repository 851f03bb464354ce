"""Cost formulas and price overrides, on round numbers worked out by hand."""

import json

import pytest

from comparison import pricing

PRICES = {
    'hours_per_month': 730, 'oic_pack_hour_usd': 1.0, 'oic_messages_per_pack_hour': 5000, 'oic_message_kb': 50,
    'oic_max_packs': 100, 'streaming_insert_usd_per_200mb': 0.01, 'streaming_insert_min_row_bytes': 1024,
    'storage_write_usd_per_gib': 0.025, 'storage_write_free_gib_per_month': 2048, 'as_of': 'test',
}


def test_oic_packs_round_up_per_hour_and_count_50kb_increments():
    usd, packs, formula = pricing.oic_cost(10001, 100, PRICES)
    assert (packs, usd) == (3, 3 * 730.0)
    assert '10,001 rows/h' in formula and '3 pack(s)' in formula
    _, packs, _ = pricing.oic_cost(5000, 60 * 1024, PRICES)  # 60 KB payloads count as two messages each
    assert packs == 2


def test_streaming_inserts_bill_at_least_1kb_per_row():
    usd, formula = pricing.streaming_insert_cost(200 * 1024, 100, PRICES)  # 200 Ki rows × 1 KiB = 200 MiB
    assert usd == 0.01 and '1024 B minimum' in formula


def test_storage_write_has_a_free_tier_and_no_row_minimum():
    assert pricing.storage_write_cost(1000, 100, PRICES)[0] == 0.0
    usd, _ = pricing.storage_write_cost(3 * 2 ** 30, 1024, PRICES)  # 3 TiB: 1 TiB billed
    assert usd == 1024 * 0.025


def test_path_cost_itemises_and_totals():
    oic = pricing.path_cost('oic', 1.0, 100, 200, PRICES)
    assert [i['item'].split(' (')[0] for i in oic['items']] == ['OIC message packs', 'BigQuery streaming inserts']
    assert oic['usd_per_month'] == round(sum(i['usd'] for i in oic['items']), 2)
    direct = pricing.path_cost('direct', 1.0, 100, 200, PRICES)
    assert direct['alternative']['item'].startswith('BigQuery Storage Write API')
    assert pricing.path_cost('direct', None, 100, 200, PRICES) is None


def test_row_size_follows_bigquery_types():
    assert pricing.bigquery_row_bytes({'WH_ID': 'WH1', 'Item_id': 5, 'event_time': 'x', 'record_id': None}) == 5 + 8 + 8


def test_defaults_are_dated_and_overridable(tmp_path):
    defaults = pricing.load_prices()
    assert defaults['as_of'] and defaults['oic_messages_per_pack_hour'] == 5000
    extra = tmp_path / 'p.json'
    extra.write_text(json.dumps({'oic_pack_hour_usd': 1.2903, 'as_of': '2026-01'}))
    prices = pricing.load_prices(str(extra), ['hours_per_month=744'])
    assert (prices['oic_pack_hour_usd'], prices['as_of'], prices['hours_per_month']) == (1.2903, '2026-01', 744.0)
    with pytest.raises(pricing.PriceError):
        pricing.load_prices(overrides=['no_such_price=1'])
    with pytest.raises(pricing.PriceError):
        pricing.load_prices(overrides=['hours_per_month=lots'])
