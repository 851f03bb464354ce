"""The itemised monthly cost of the products a path pays for, each as (USD, the formula shown): BigQuery streaming
inserts, the Storage Write API, OIC message packs (one record per request or batched), and the envelope of a
path's itemised cost at a stated rate in report.json (each path chooses its items: comparison/paths/<path>.py).
Pure functions of the rate, the sizes and the price table."""

from typing import Any, Dict, List, Mapping, Optional, Tuple

from comparison.cost.price_table import GIB, MIB
from comparison.cost.sizing import DEFAULT_OIC_RESPONSE_S, batch_shape, oic_sizing


def money(value: float) -> float:
    return round(value, 2)


def rate_text(rate: float) -> str:
    return '{:,.6g}'.format(rate)


def streaming_insert_usd(rows_per_month: float, row_bytes: int, prices: Mapping[str, Any]) -> float:
    """Streaming inserts: every row billed at least the minimum row size, per 200 MiB (unrounded)."""
    billed = max(row_bytes, prices['streaming_insert_min_row_bytes'])
    return rows_per_month * billed / (200 * MIB) * prices['streaming_insert_usd_per_200mb']


def storage_write_usd(rows_per_month: float, row_bytes: int, prices: Mapping[str, Any]) -> float:
    """The Storage Write API: GiB a month beyond the free tier (unrounded)."""
    gib = rows_per_month * row_bytes / GIB
    return max(0.0, gib - prices['storage_write_free_gib_per_month']) * prices['storage_write_usd_per_gib']


def streaming_insert_cost(rows_per_month: float, row_bytes: int, prices: Mapping[str, Any]) -> Tuple[float, str]:
    usd = streaming_insert_usd(rows_per_month, row_bytes, prices)
    formula = ('%s rows × max(%d B, %d B minimum) ÷ 200 MiB × $%g = $%.2f' % (
        '{:,.0f}'.format(rows_per_month), row_bytes, prices['streaming_insert_min_row_bytes'],
        prices['streaming_insert_usd_per_200mb'], usd))
    return money(usd), formula


def storage_write_cost(rows_per_month: float, row_bytes: int, prices: Mapping[str, Any]) -> Tuple[float, str]:
    usd = storage_write_usd(rows_per_month, row_bytes, prices)
    formula = 'max(0, %s rows × %d B = %.1f GiB − %g GiB free) × $%g/GiB = $%.2f' % (
        '{:,.0f}'.format(rows_per_month), row_bytes, rows_per_month * row_bytes / GIB,
        prices['storage_write_free_gib_per_month'], prices['storage_write_usd_per_gib'], usd)
    return money(usd), formula


def oic_cost(rows_per_hour: float, payload_size: float, prices: Mapping[str, Any],
             response_s: float = DEFAULT_OIC_RESPONSE_S, byol: bool = False,
             records_per_request: float = 1) -> Tuple[float, int, str]:
    """(usd per month, packs, formula) of OIC message packs sized for a steady `rows_per_hour`, sent
    `records_per_request` to a request body of `payload_size` bytes."""
    size = oic_sizing(rows_per_hour / 3600.0, payload_size, prices, response_s, byol,
                      records_per_request=records_per_request)
    if records_per_request == 1:
        shape = '%s rows/h × %d message(s) per row (payload %d B, per started %g KB)' % (
            '{:,.0f}'.format(rows_per_hour), size['messages_per_request'], round(payload_size), prices['oic_message_kb'])
        flight = '%s rows/s' % rate_text(rows_per_hour / 3600.0)
    else:
        shape = '%s rows/h ÷ %s rows per request = %s requests/h × %d message(s) per request (body %d B, per ' \
                'started %g KB)' % ('{:,.0f}'.format(rows_per_hour), '{:,.6g}'.format(records_per_request),
                                    '{:,.0f}'.format(rows_per_hour / records_per_request),
                                    size['messages_per_request'], round(payload_size), prices['oic_message_kb'])
        flight = '%s requests/s' % rate_text(size['requests_per_s'])
    formula = ('%s = %s messages/h → ceil(÷ %d) = %d pack(s); in flight %s × %gs response = %s → ceil(÷ %d per '
               'pack) = %d; %d pack(s) × $%g/pack-hour × %g h = $%.2f%s' % (
                   shape, '{:,.0f}'.format(size['messages_per_hour']),
                   size['messages_per_pack_hour'], size['packs_for_messages'], flight,
                   response_s, '{:,.4g}'.format(size['in_flight']), size['sync_requests_per_pack'],
                   size['packs_for_concurrency'], size['packs'], size['pack_hour_usd'], prices['hours_per_month'],
                   size['usd_per_month'],
                   ' (more than one instance: %d; one holds %d packs and %d synchronous requests in flight)' % (
                       size['instances'], prices['oic_max_packs'], prices['oic_max_sync_requests'])
                   if size['instances'] > 1 else ''))
    return money(size['usd_per_month']), size['packs'], formula


def batched_cost(rate: float, record_bytes: float, prices: Mapping[str, Any],
                 response_s: float = DEFAULT_OIC_RESPONSE_S, batch_kb: Optional[float] = None) -> Dict[str, Any]:
    """What the OIC path would cost sending `rate` records/s of `record_bytes` each in batches of `batch_kb` KB: packs
    (license included and BYOL), each plus the same streaming inserts, with the shape and formulas. The response
    time is the one given (a batch answers no sooner than one record: for a batched run it is measured)."""
    shape = batch_shape(record_bytes, prices, batch_kb)
    per_hour = rate * 3600
    usd, packs, formula = oic_cost(per_hour, shape['request_bytes'], prices, response_s,
                                   records_per_request=shape['records_per_request'])
    byol_usd, byol_packs, byol_formula = oic_cost(per_hour, shape['request_bytes'], prices, response_s, byol=True,
                                                  records_per_request=shape['records_per_request'])
    return dict(shape, packs=packs, byol_packs=byol_packs, packs_usd=usd, byol_packs_usd=byol_usd,
                formula=formula, byol_formula=byol_formula)


def rows_per_month(rate: float, prices: Mapping[str, Any]) -> float:
    return rate * 3600 * prices['hours_per_month']


def at_rate_cost(at_rate: float, at_rate_source: Optional[str], row_bytes: int, items: List[Dict[str, Any]],
                 prices: Mapping[str, Any], **more: Any) -> Dict[str, Any]:
    """report.json's cost of a path at the stated rate: its items (each {'item', 'usd', 'formula', ...}) and their
    sum a month, the rate and where it came from, the row size, the price table's date, and what the path adds
    (`more`: an alternative, a batched shape)."""
    cost = {
        'at_rate': at_rate,
        'at_rate_source': at_rate_source,
        'rows_per_month': round(rows_per_month(at_rate, prices)),
        'row_bytes': row_bytes,
        'items': items,
        'usd_per_month': money(sum(i['usd'] for i in items)),
        'prices_as_of': prices.get('as_of'),
    }
    cost.update(more)
    return cost
