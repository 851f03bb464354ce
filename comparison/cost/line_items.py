"""The itemised monthly cost of the products a path pays for, each as (USD, the formula shown): BigQuery streaming
inserts, the Storage Write API, OIC message packs (one record per request or batched), and the itemised cost at a
stated rate that report.json holds per path. Pure functions of the rate, the sizes and the price table."""

from typing import Any, Dict, Mapping, Optional, Tuple

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


def path_cost(path: str, at_rate: Optional[float], row_bytes: int, payload_size: int, prices: Mapping[str, Any],
              response_s: float = DEFAULT_OIC_RESPONSE_S, at_rate_source: Optional[str] = None,
              records_per_request: float = 1, request_bytes: Optional[float] = None,
              batch_kb: Optional[float] = None) -> Optional[dict]:
    """The monthly cost of `path` sustained at `at_rate` records/s, itemised with formulas; None rate gives None.

    OIC is priced in the shape the run sent (`records_per_request` records in bodies of `request_bytes`; by default
    one record of `payload_size` bytes per request) and, under `batched`, in the batched shape: records of
    `payload_size` bytes packed into bodies of at most `batch_kb` KB (default 50 KB, one billing message)."""
    if not at_rate:
        return None
    per_hour = at_rate * 3600
    per_month = per_hour * prices['hours_per_month']
    items = []
    batched = None
    if path == 'oic':
        body = payload_size if request_bytes is None else request_bytes
        usd, packs, formula = oic_cost(per_hour, body, prices, response_s, records_per_request=records_per_request)
        instances = oic_sizing(at_rate, body, prices, response_s, records_per_request=records_per_request)['instances']
        items.append({'item': 'OIC message packs', 'usd': usd, 'packs': packs, 'instances': instances,
                      'records_per_request': records_per_request, 'formula': formula})
        usd, formula = streaming_insert_cost(per_month, row_bytes, prices)
        items.append({'item': "BigQuery streaming inserts (OIC's insertAll, %s per call)" % (
            '1 row' if records_per_request == 1 else '%s rows' % format(records_per_request, ',.6g')),
            'usd': usd, 'formula': formula})
        byol_usd, _, byol_formula = oic_cost(per_hour, body, prices, response_s, byol=True,
                                             records_per_request=records_per_request)
        alternative = {'item': 'OIC with BYOL packs (20,000 messages each; the licences brought are not priced) '
                               'plus the same streaming inserts', 'usd': money(byol_usd + usd),
                       'formula': byol_formula}
        shape = batched_cost(at_rate, payload_size, prices, response_s, batch_kb)
        batched = dict(shape, item='OIC batched: %d records (%d B) per request of at most %g KB, plus the same '
                                   'streaming inserts' % (shape['records_per_request'], shape['request_bytes'],
                                                          shape['batch_kb']),
                       usd_per_month=money(shape['packs_usd'] + usd),
                       byol_usd_per_month=money(shape['byol_packs_usd'] + usd))
    else:
        usd, formula = streaming_insert_cost(per_month, row_bytes, prices)
        items.append({'item': 'BigQuery streaming inserts (WriteToBigQuery STREAMING_INSERTS)', 'usd': usd,
                      'formula': formula})
        alt_usd, alt_formula = storage_write_cost(per_month, row_bytes, prices)
        alternative = {'item': 'BigQuery Storage Write API (method=STORAGE_WRITE_API)', 'usd': alt_usd,
                       'formula': alt_formula}
    cost = {
        'at_rate': at_rate,
        'at_rate_source': at_rate_source,
        'rows_per_month': round(per_month),
        'row_bytes': row_bytes,
        'items': items,
        'usd_per_month': money(sum(i['usd'] for i in items)),
        'alternative': alternative,
        'prices_as_of': prices.get('as_of'),
    }
    if batched is not None:
        cost['batched'] = batched
    return cost
