"""Monthly cost per path at a stated sustained rate, and cost curves across rates, from a dated price table
(comparison/cost/prices.json: every number with its page, the date it was read and whether that page is the vendor's own).

Everything here is a pure function of the rate, the measured row and payload sizes and the price table, formulas
shown. What the sizing follows (Oracle Integration 3 and BigQuery docs; sources in prices.json):
  OIC packs = max(ceil(messages per hour ÷ messages per pack), ceil(synchronous requests in flight ÷ requests per
  pack)), at least 1; messages per hour = requests per hour × ceil(request body ÷ 50 KB); in flight = requests/s ×
  OIC's response time (Little's law). One instance holds at most 100 packs and 2,000 synchronous requests in flight.
  One record per request (the seed's integration): requests = records. Batched: a request body
  {"records": [record, ...]} of at most the batch size carries floor((batch − 13 B) ÷ (record + 2 B)) records
  (batch_shape), so requests, messages and requests in flight all fall by that factor.
"""

import json
import math
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from transforms import records as rec
from transforms.oic.batch import body as batch_body_rule
from transforms.run_record import run_info
from transforms.run_record.run_info import RunInfo

PRICES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'prices.json')
MIB = 2 ** 20
GIB = 2 ** 30
TIB = 2 ** 40
TEXT_KEYS = ('as_of', 'currency', 'note', 'sources', 'source', 'overridden')
# Numbers that may be 0 (a free tier can end); every other number in the table must be > 0.
MAY_BE_ZERO = ('storage_write_free_gib_per_month',)

LAB_RATE = 1.0  # records/s: the lab's loop posts one record, then sleeps a second.
DEFAULT_OIC_RESPONSE_S = 1.0  # Stated when a run measured none: OIC's synchronous answer time, seconds.
CURVE_RATES = (0.1, 1.0, 10.0, 100.0, 1000.0)  # records/s; the stated rate is added.
CURVE_SPAN = (0.01, 100000.0)  # records/s searched for break-even points.
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


class PriceError(ValueError):
    """A price file or --price override that cannot be used."""


class RateError(ValueError):
    """A rate or time given to price at that is not a positive, finite number."""


def _numeric_keys(prices: Mapping[str, Any]) -> List[str]:
    return sorted(k for k, v in prices.items() if isinstance(v, (int, float)) and not isinstance(v, bool))


def check_prices(prices: Mapping[str, Any], where: str) -> None:
    """PriceError unless every number is a positive number (or zero where a free tier may end) with a source."""
    sources = prices.get('sources')
    if not isinstance(sources, dict):
        raise PriceError('%s: no "sources" object naming the page of each price' % where)
    for key, value in prices.items():
        if key in TEXT_KEYS or key.endswith('_note'):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PriceError('%s: %s must be a number (got %r)' % (where, key, value))
        if value < 0 or (value == 0 and key not in MAY_BE_ZERO):
            raise PriceError('%s: %s must be %s (got %r)' % (
                where, key, '>= 0' if key in MAY_BE_ZERO else '> 0', value))
        source = sources.get(key)
        if not isinstance(source, dict) or not source.get('url') or not source.get('read') \
                or not isinstance(source.get('first_hand'), bool):
            raise PriceError('%s: %s has no source {url, read, first_hand, says}' % (where, key))


def load_prices(path: Optional[str] = None, overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """The default price table, updated from the JSON file `path` and 'key=value' `overrides` (numbers); each
    changed number's source then names the file or the flag. PriceError on anything unusable."""
    with open(PRICES_FILE, encoding='utf-8') as handle:
        prices = json.load(handle)
    check_prices(prices, PRICES_FILE)
    sources = prices['sources']
    if path:
        try:
            with open(path, encoding='utf-8') as handle:
                extra = json.load(handle)
        except (OSError, ValueError) as err:
            raise PriceError('cannot read prices from %s: %s' % (path, err)) from None
        if not isinstance(extra, dict):
            raise PriceError('%s must hold a JSON object of price keys' % path)
        unknown = sorted(k for k in extra if k not in prices and k not in TEXT_KEYS and not k.endswith('_note'))
        if unknown:
            raise PriceError('%s: unknown price key(s) %s (known: %s)' % (
                path, ', '.join(unknown), ', '.join(_numeric_keys(prices))))
        extra_sources = extra.pop('sources', None) or {}
        for key in extra:
            if key in sources:
                sources[key] = extra_sources.get(key) or {
                    'url': path, 'read': extra.get('as_of') or 'unknown', 'first_hand': False,
                    'says': 'from the price file %s' % path}
        prices.update(extra)
        prices['source'] = path
        check_prices(prices, path)
    for item in overrides:
        key, sep, value = item.partition('=')
        if not sep or key not in _numeric_keys(prices):
            raise PriceError('--price takes KEY=NUMBER with KEY one of %s (got %r)' % (
                ', '.join(_numeric_keys(prices)), item))
        try:
            prices[key] = float(value)
        except ValueError:
            raise PriceError('--price %s: %r is not a number' % (key, value)) from None
        sources[key] = {'url': '--price', 'read': 'this run', 'first_hand': False,
                        'says': 'set on the command line: --price %s' % item}
        prices.setdefault('overridden', []).append(key)
        check_prices(prices, '--price %s' % item)
    return prices


def bigquery_row_bytes(row: Mapping[str, Any]) -> int:
    """BigQuery's billed size of a row: STRING 2 + UTF-8 bytes, INT64 and TIMESTAMP 8 each (NULLs 0)."""
    size = 0
    for name, value in row.items():
        if value is None or name not in rec.BIGQUERY_TYPES:
            continue
        size += 2 + len(str(value).encode('utf-8')) if rec.BIGQUERY_TYPES[name] == 'STRING' else 8
    return size


def payload_bytes(record: dict, shape: str = 'extended') -> int:
    """Size of the JSON body the pipeline posts to OIC for `record`."""
    return len(json.dumps(rec.oic_payload(record, shape)).encode('utf-8'))


def sample_sizes(count: int = 100) -> Tuple[int, int]:
    """(BigQuery row bytes, OIC payload bytes) of typical synthetic records: the sizes a curve uses when a run sent
    none on a path."""
    sample = [rec.make_record(1, 'sample', i) for i in range(count)]
    return (round(sum(bigquery_row_bytes(rec.bigquery_row(r)) for r in sample) / count),
            round(sum(payload_bytes(r) for r in sample) / count))


def _money(value: float) -> float:
    return round(value, 2)


def _count(value: float) -> int:
    """ceil() that ignores float noise (5000.0000000001 messages is 5000)."""
    return math.ceil(round(value, 6))


def _rate_text(rate: float) -> str:
    return '{:,.6g}'.format(rate)


def streaming_insert_cost(rows_per_month: float, row_bytes: int, prices: Mapping[str, Any]) -> Tuple[float, str]:
    billed = max(row_bytes, prices['streaming_insert_min_row_bytes'])
    usd = rows_per_month * billed / (200 * MIB) * prices['streaming_insert_usd_per_200mb']
    formula = ('%s rows × max(%d B, %d B minimum) ÷ 200 MiB × $%g = $%.2f' % (
        '{:,.0f}'.format(rows_per_month), row_bytes, prices['streaming_insert_min_row_bytes'],
        prices['streaming_insert_usd_per_200mb'], usd))
    return _money(usd), formula


def storage_write_cost(rows_per_month: float, row_bytes: int, prices: Mapping[str, Any]) -> Tuple[float, str]:
    gib = rows_per_month * row_bytes / GIB
    usd = max(0.0, gib - prices['storage_write_free_gib_per_month']) * prices['storage_write_usd_per_gib']
    formula = 'max(0, %s rows × %d B = %.1f GiB − %g GiB free) × $%g/GiB = $%.2f' % (
        '{:,.0f}'.format(rows_per_month), row_bytes, gib, prices['storage_write_free_gib_per_month'],
        prices['storage_write_usd_per_gib'], usd)
    return _money(usd), formula


def messages_per_request(request_bytes: float, prices: Mapping[str, Any]) -> int:
    """Billing messages one REST trigger counts: one per started 50 KB of inbound payload, at least one (a body of
    exactly 50 KB is one message, one byte more is two)."""
    return max(1, _count(request_bytes / (prices['oic_message_kb'] * 1024)))


def messages_per_record(payload_size: int, prices: Mapping[str, Any]) -> int:
    """Billing messages of one record sent alone in its request (the seed's integration)."""
    return messages_per_request(payload_size, prices)


# A batched request body is {"count": n, "records": [r1, r2, ...]} as json.dumps writes it (one home:
# transforms/oic/batch/body.py): '{"count": ' n ', "records": [' and ']}' around the records, ', ' between two.
BATCH_ENVELOPE_BYTES = batch_body_rule.EMPTY_BODY  # without the count's digits
BATCH_SEPARATOR_BYTES = batch_body_rule.SEPARATOR


def batch_body_bytes(record_bytes: Sequence[int]) -> int:
    """Size of the request body {"count": n, "records": [...]} carrying records of these JSON sizes."""
    return batch_body_rule.body_size(record_bytes)


def _batch_bytes(per_request: int, record_bytes: float) -> float:
    return (BATCH_ENVELOPE_BYTES + len(str(per_request)) + per_request * record_bytes
            + BATCH_SEPARATOR_BYTES * (per_request - 1))


def records_per_batch(record_bytes: float, batch_kb: float) -> int:
    """Records of `record_bytes` each that fit a request body of at most `batch_kb` KB (never fewer than one: a record
    larger than the batch goes alone)."""
    room = batch_kb * 1024 - BATCH_ENVELOPE_BYTES + BATCH_SEPARATOR_BYTES
    count = max(1, int(math.floor(room / (record_bytes + BATCH_SEPARATOR_BYTES))))
    while count > 1 and _batch_bytes(count, record_bytes) > batch_kb * 1024:  # the count's own digits
        count -= 1
    return count


def batch_shape(record_bytes: float, prices: Mapping[str, Any], batch_kb: Optional[float] = None) -> Dict[str, Any]:
    """The batched request the price assumes: records of `record_bytes` (the measured mean JSON size of a record)
    packed into bodies of at most `batch_kb` KB (default: one billing message, 50 KB)."""
    batch_kb = float(batch_kb or prices['oic_message_kb'])
    per_request = records_per_batch(record_bytes, batch_kb)
    body = _batch_bytes(per_request, record_bytes)
    messages = messages_per_request(body, prices)
    return {'batch_kb': batch_kb, 'record_bytes': record_bytes, 'records_per_request': per_request,
            'request_bytes': round(body), 'messages_per_request': messages,
            'records_per_message': round(per_request / messages, 2)}


def oic_sizing(rate: float, payload_size: float, prices: Mapping[str, Any], response_s: float = DEFAULT_OIC_RESPONSE_S,
               byol: bool = False, pack_hour_usd: Optional[float] = None,
               records_per_request: float = 1) -> Dict[str, Any]:
    """Message packs (and instances) that a steady `rate` records/s needs, and their monthly price. `payload_size` is
    the request body's size: one record's payload, or a batch's body carrying `records_per_request` records.

    requests/s = rate ÷ records per request; packs = max(1, ceil(requests/s × 3600 × messages per request ÷ messages
    per pack), ceil(requests/s × response_s ÷ sync requests per pack)); instances = max(ceil(packs ÷ 100),
    ceil(in flight ÷ 2,000)): more than one means the rate needs a second OIC instance (the packs are still priced
    one by one)."""
    per_request = messages_per_request(payload_size, prices)
    requests_per_s = rate / records_per_request
    messages = requests_per_s * 3600 * per_request
    per_pack = prices['oic_byol_messages_per_pack_hour' if byol else 'oic_messages_per_pack_hour']
    slots = prices['oic_byol_sync_requests_per_pack' if byol else 'oic_sync_requests_per_pack']
    in_flight = requests_per_s * response_s
    by_messages = _count(messages / per_pack)
    by_concurrency = _count(in_flight / slots)
    packs = max(1, by_messages, by_concurrency)
    instances = max(1, _count(packs / prices['oic_max_packs']), _count(in_flight / prices['oic_max_sync_requests']))
    if pack_hour_usd is None:
        pack_hour_usd = prices['oic_byol_pack_hour_usd' if byol else 'oic_pack_hour_usd']
    return {
        'byol': byol, 'records_per_request': records_per_request, 'requests_per_s': requests_per_s,
        'messages_per_request': per_request, 'messages_per_record': per_request / records_per_request,
        'messages_per_hour': messages,
        'messages_per_pack_hour': per_pack, 'in_flight': in_flight, 'response_s': response_s,
        'sync_requests_per_pack': slots, 'packs_for_messages': by_messages, 'packs_for_concurrency': by_concurrency,
        'packs': packs, 'instances': instances, 'pack_hour_usd': pack_hour_usd,
        'usd_per_month': packs * pack_hour_usd * prices['hours_per_month'],
    }


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
        flight = '%s rows/s' % _rate_text(rows_per_hour / 3600.0)
    else:
        shape = '%s rows/h ÷ %s rows per request = %s requests/h × %d message(s) per request (body %d B, per ' \
                'started %g KB)' % ('{:,.0f}'.format(rows_per_hour), '{:,.6g}'.format(records_per_request),
                                    '{:,.0f}'.format(rows_per_hour / records_per_request),
                                    size['messages_per_request'], round(payload_size), prices['oic_message_kb'])
        flight = '%s requests/s' % _rate_text(size['requests_per_s'])
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
    return _money(size['usd_per_month']), size['packs'], formula


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
                               'plus the same streaming inserts', 'usd': _money(byol_usd + usd),
                       'formula': byol_formula}
        shape = batched_cost(at_rate, payload_size, prices, response_s, batch_kb)
        batched = dict(shape, item='OIC batched: %d records (%d B) per request of at most %g KB, plus the same '
                                   'streaming inserts' % (shape['records_per_request'], shape['request_bytes'],
                                                          shape['batch_kb']),
                       usd_per_month=_money(shape['packs_usd'] + usd),
                       byol_usd_per_month=_money(shape['byol_packs_usd'] + usd))
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
        'usd_per_month': _money(sum(i['usd'] for i in items)),
        'alternative': alternative,
        'prices_as_of': prices.get('as_of'),
    }
    if batched is not None:
        cost['batched'] = batched
    return cost


def at_rate_for(run: RunInfo, flag: Optional[float] = None) -> Tuple[float, str]:
    """(records/s, where it came from) the cost is computed at: --at_rate when given (to compare, or recorded by the
    run), else the offered rate of a paced or streaming run, else the lab's 1 record/s — never an unpaced burst."""
    if flag is not None:
        return float(flag), '--at_rate %g' % flag
    if run.at_rate:
        return float(run.at_rate), '--at_rate %g (given to the run)' % run.at_rate
    if run.rate:
        return float(run.rate), 'the offered rate of this %s run (--rate %g)' % (
            'streaming' if run.streaming else 'paced', run.rate)
    return LAB_RATE, ("the lab's %g record/s: this run sent as fast as it could, and a burst is no sustained rate "
                      "(--at_rate R to choose)" % LAB_RATE)


def check_at_rate(value: Optional[float]) -> Optional[float]:
    """RateError unless `value` is None or a positive, finite records/s (run_info.check_at_rate: one rule)."""
    try:
        return run_info.check_at_rate(value)
    except ValueError as err:
        raise RateError(str(err)) from None


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
        'direct_streaming_inserts_usd_per_month': round(_raw_streaming(rows_month, row_bytes, prices), 4),
        'direct_storage_write_usd_per_month': round(_raw_storage_write(rows_month, row_bytes, prices), 4),
    }


def _raw_streaming(rows_month: float, row_bytes: int, prices: Mapping[str, Any]) -> float:
    billed = max(row_bytes, prices['streaming_insert_min_row_bytes'])
    return rows_month * billed / (200 * MIB) * prices['streaming_insert_usd_per_200mb']


def _raw_storage_write(rows_month: float, row_bytes: int, prices: Mapping[str, Any]) -> float:
    gib = rows_month * row_bytes / GIB
    return max(0.0, gib - prices['storage_write_free_gib_per_month']) * prices['storage_write_usd_per_gib']


def cost_curve(rates: Sequence[float], row_bytes: int, payload_size: int, prices: Mapping[str, Any],
               response_s: float = DEFAULT_OIC_RESPONSE_S, batch_kb: Optional[float] = None) -> List[Dict[str, Any]]:
    """cost_point() at each rate."""
    return [cost_point(r, row_bytes, payload_size, prices, response_s, batch_kb) for r in rates]


def crossings(first: Callable[[float], float], second: Callable[[float], float], low: float, high: float,
              steps: int = 400) -> List[float]:
    """Rates in [low, high] where first(rate) − second(rate) changes sign, scanned on a log grid and refined by
    bisection (to 0.1%); a step function's jump counts as a crossing at the step."""
    grid = [low * (high / low) ** (i / steps) for i in range(steps + 1)]
    found = []
    previous = first(grid[0]) - second(grid[0])
    for a, b in zip(grid, grid[1:]):
        current = first(b) - second(b)
        if (previous < 0) != (current < 0) and previous != 0:
            lo, hi = a, b
            while hi / lo > 1.001:
                mid = math.sqrt(lo * hi)
                if (first(mid) - second(mid) < 0) == (previous < 0):
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        previous = current
    return found


def key_points(row_bytes: int, payload_size: int, prices: Mapping[str, Any],
               response_s: float = DEFAULT_OIC_RESPONSE_S, batch_kb: Optional[float] = None) -> List[Dict[str, Any]]:
    """The named points of the curves, ascending by rate: where each way steps up (a further OIC pack, one
    instance's limit, the end of the Storage Write API's free tier) and where any two cross (break-even); a pair
    that never crosses in CURVE_SPAN is named too, with which one costs less."""
    shape = batch_shape(payload_size, prices, batch_kb)
    points: List[Dict[str, Any]] = []
    for byol, batched, label in ((False, False, 'OIC'), (True, False, 'OIC BYOL'), (False, True, 'OIC batched'),
                                 (True, True, 'OIC batched BYOL')):
        per_request = shape['records_per_request'] if batched else 1
        per_record = (shape['messages_per_request'] if batched else messages_per_record(payload_size, prices)) \
            / per_request
        per_pack_rate = prices['oic_byol_messages_per_pack_hour' if byol else 'oic_messages_per_pack_hour'] \
            / 3600.0 / per_record
        price = prices['oic_byol_pack_hour_usd' if byol else 'oic_pack_hour_usd'] * prices['hours_per_month']
        points.append({'rate': per_pack_rate, 'kind': 'step', 'what': (
            '%s: one pack ($%s/month) carries up to %s records/s; every further %s records/s adds a pack' % (
                label, '{:,.2f}'.format(price), _rate_text(per_pack_rate), _rate_text(per_pack_rate)))})
        limit_rate = min(per_pack_rate * prices['oic_max_packs'],
                         prices['oic_max_sync_requests'] * per_request / response_s)
        points.append({'rate': limit_rate, 'kind': 'step', 'what': (
            '%s: above %s records/s one instance is not enough (%d packs or %d synchronous requests in flight '
            'at %gs each%s)' % (label, _rate_text(limit_rate), prices['oic_max_packs'],
                                prices['oic_max_sync_requests'], response_s,
                                ', %d records a request' % per_request if batched else ''))})
    seconds_month = 3600 * prices['hours_per_month']
    free_rate = prices['storage_write_free_gib_per_month'] * GIB / max(1, row_bytes) / seconds_month
    points.append({'rate': free_rate, 'kind': 'step', 'what': (
        'direct, Storage Write API: free up to %s records/s (%g GiB a month of %d-byte rows), then $%g/GiB' % (
            _rate_text(free_rate), prices['storage_write_free_gib_per_month'], row_bytes,
            prices['storage_write_usd_per_gib']))})
    low, high = CURVE_SPAN
    keys = CURVE_KEYS
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            def cost_of(key: str) -> Callable[[float], float]:
                return lambda r: cost_point(r, row_bytes, payload_size, prices, response_s, batch_kb)[key]
            where = crossings(cost_of(a), cost_of(b), low, high)
            for rate in where:
                points.append({'rate': rate, 'kind': 'break-even', 'what': '%s and %s cost the same at %s records/s' % (
                    CURVE_LABELS[a], CURVE_LABELS[b], _rate_text(rate))})
            if not where:
                cheaper, dearer = (a, b) if cost_of(a)(1.0) < cost_of(b)(1.0) else (b, a)
                points.append({'rate': None, 'kind': 'no break-even', 'cheaper': CURVE_LABELS[cheaper],
                               'dearer': CURVE_LABELS[dearer], 'span': [low, high], 'what': (
                    '%s costs less than %s at every rate from %s to %s records/s' % (
                        CURVE_LABELS[cheaper], CURVE_LABELS[dearer], _rate_text(low), _rate_text(high)))})
    return sorted(points, key=lambda p: (p['rate'] is None, p['rate'] or 0))
