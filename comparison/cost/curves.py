"""Cost curves: what each way of landing the rows costs a month at each of a ladder of sustained rates."""

from typing import Any, Dict, List, Mapping, Optional, Sequence

from comparison.cost.line_items import storage_write_usd, streaming_insert_usd
from comparison.cost.line_items import streaming_insert_cost
from comparison.cost.sizing import DEFAULT_OIC_RESPONSE_S, batch_shape, oic_sizing

CURVE_RATES = (0.1, 1.0, 10.0, 100.0, 1000.0)  # records/s; the stated rate is added.
CURVE_KEYS = ('oic_usd_per_month', 'oic_byol_usd_per_month', 'oic_batched_usd_per_month',
              'oic_batched_byol_usd_per_month', 'direct_streaming_inserts_usd_per_month',
              'direct_storage_write_usd_per_month')
CURVE_LABELS = {
    'oic_usd_per_month': 'OIC (license included)',
    'oic_enterprise_usd_per_month': 'OIC Enterprise',
    'oic_byol_usd_per_month': 'OIC BYOL',
    'oic_batched_usd_per_month': 'OIC batched',
    'oic_batched_byol_usd_per_month': 'OIC batched BYOL',
    'direct_streaming_inserts_usd_per_month': 'direct, streaming inserts',
    'direct_storage_write_usd_per_month': 'direct, Storage Write API',
}


def curve_rates(stated: Optional[float] = None, rates: Sequence[float] = CURVE_RATES) -> List[float]:
    """The curve's rates, ascending, with the stated rate among them."""
    return sorted(set(float(r) for r in rates) | ({float(stated)} if stated else set()))


def cost_point(rate: float, row_bytes: int, payload_size: int, prices: Mapping[str, Any],
               response_s: float = DEFAULT_OIC_RESPONSE_S, batch_kb: Optional[float] = None) -> Dict[str, Any]:
    """One row of the cost curve: what each way of landing `rate` records/s costs a month (each OIC figure is the
    whole OIC path: its packs plus the streaming inserts of OIC's insertAll calls). `payload_size` is one record's
    JSON; the batched columns pack such records into bodies of at most `batch_kb` KB (default 50)."""
    rows_month = rate * 3600 * prices['hours_per_month']
    oic_bq, _ = streaming_insert_cost(rows_month, row_bytes, prices)
    licensed = oic_sizing(rate, payload_size, prices, response_s)
    enterprise = oic_sizing(rate, payload_size, prices, response_s, pack_hour_usd=prices['oic_enterprise_pack_hour_usd'])
    byol = oic_sizing(rate, payload_size, prices, response_s, byol=True)
    shape = batch_shape(payload_size, prices, batch_kb)
    batched = oic_sizing(rate, shape['request_bytes'], prices, response_s,
                         records_per_request=shape['records_per_request'])
    batched_byol = oic_sizing(rate, shape['request_bytes'], prices, response_s, byol=True,
                              records_per_request=shape['records_per_request'])
    return {
        'rate': rate,
        'oic_packs': licensed['packs'],
        'oic_instances': licensed['instances'],
        'oic_usd_per_month': round(licensed['usd_per_month'] + oic_bq, 4),
        'oic_enterprise_usd_per_month': round(enterprise['usd_per_month'] + oic_bq, 4),
        'oic_byol_packs': byol['packs'],
        'oic_byol_instances': byol['instances'],
        'oic_byol_usd_per_month': round(byol['usd_per_month'] + oic_bq, 4),
        'oic_batch_kb': shape['batch_kb'],
        'oic_batched_records_per_request': shape['records_per_request'],
        'oic_batched_packs': batched['packs'],
        'oic_batched_instances': batched['instances'],
        'oic_batched_usd_per_month': round(batched['usd_per_month'] + oic_bq, 4),
        'oic_batched_byol_packs': batched_byol['packs'],
        'oic_batched_byol_usd_per_month': round(batched_byol['usd_per_month'] + oic_bq, 4),
        'direct_streaming_inserts_usd_per_month': round(streaming_insert_usd(rows_month, row_bytes, prices), 4),
        'direct_storage_write_usd_per_month': round(storage_write_usd(rows_month, row_bytes, prices), 4),
    }


def cost_curve(rates: Sequence[float], row_bytes: int, payload_size: int, prices: Mapping[str, Any],
               response_s: float = DEFAULT_OIC_RESPONSE_S, batch_kb: Optional[float] = None) -> List[Dict[str, Any]]:
    """cost_point() at each rate."""
    return [cost_point(r, row_bytes, payload_size, prices, response_s, batch_kb) for r in rates]
