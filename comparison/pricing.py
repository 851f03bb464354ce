"""Monthly cost per path at a measured rate, from a dated price table (comparison/prices.json), formulas shown."""

import json
import math
import os

from transforms import records as rec

PRICES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'prices.json')
MIB = 2 ** 20
GIB = 2 ** 30
TIB = 2 ** 40


class PriceError(ValueError):
    """A price file or --price override that cannot be used."""


def load_prices(path=None, overrides=()):
    """The default price table, updated from the JSON file `path` and 'key=value' `overrides` (numbers)."""
    with open(PRICES_FILE, encoding='utf-8') as handle:
        prices = json.load(handle)
    if path:
        try:
            with open(path, encoding='utf-8') as handle:
                extra = json.load(handle)
        except (OSError, ValueError) as err:
            raise PriceError('cannot read prices from %s: %s' % (path, err)) from None
        if not isinstance(extra, dict):
            raise PriceError('%s must hold a JSON object of price keys' % path)
        prices.update(extra)
        prices['source'] = path
    for item in overrides:
        key, sep, value = item.partition('=')
        if not sep or key not in prices:
            raise PriceError('--price takes KEY=NUMBER with KEY one of %s (got %r)' % (
                ', '.join(k for k, v in sorted(prices.items()) if isinstance(v, (int, float))), item))
        try:
            prices[key] = float(value)
        except ValueError:
            raise PriceError('--price %s: %r is not a number' % (key, value)) from None
        prices.setdefault('overridden', []).append(key)
    return prices


def bigquery_row_bytes(row):
    """BigQuery's billed size of a row: STRING 2 + UTF-8 bytes, INT64 and TIMESTAMP 8 each (NULLs 0)."""
    size = 0
    for name, value in row.items():
        if value is None or name not in rec.BIGQUERY_TYPES:
            continue
        size += 2 + len(str(value).encode('utf-8')) if rec.BIGQUERY_TYPES[name] == 'STRING' else 8
    return size


def payload_bytes(record, shape='extended'):
    """Size of the JSON body the pipeline posts to OIC for `record`."""
    return len(json.dumps(rec.oic_payload(record, shape)).encode('utf-8'))


def _money(value):
    return round(value, 2)


def streaming_insert_cost(rows_per_month, row_bytes, prices):
    billed = max(row_bytes, prices['streaming_insert_min_row_bytes'])
    usd = rows_per_month * billed / (200 * MIB) * prices['streaming_insert_usd_per_200mb']
    formula = ('%s rows × max(%d B, %d B minimum) ÷ 200 MiB × $%g = $%.2f' % (
        '{:,.0f}'.format(rows_per_month), row_bytes, prices['streaming_insert_min_row_bytes'],
        prices['streaming_insert_usd_per_200mb'], usd))
    return _money(usd), formula


def storage_write_cost(rows_per_month, row_bytes, prices):
    gib = rows_per_month * row_bytes / GIB
    usd = max(0.0, gib - prices['storage_write_free_gib_per_month']) * prices['storage_write_usd_per_gib']
    formula = 'max(0, %s rows × %d B = %.1f GiB − %g GiB free) × $%g/GiB = $%.2f' % (
        '{:,.0f}'.format(rows_per_month), row_bytes, gib, prices['storage_write_free_gib_per_month'],
        prices['storage_write_usd_per_gib'], usd)
    return _money(usd), formula


def oic_cost(rows_per_hour, payload_size, prices):
    """(usd per month, packs, formula) of OIC message packs sized for a steady `rows_per_hour`."""
    per_row = max(1, math.ceil(payload_size / (prices['oic_message_kb'] * 1024)))
    messages = rows_per_hour * per_row
    packs = max(1, math.ceil(messages / prices['oic_messages_per_pack_hour']))
    usd = packs * prices['oic_pack_hour_usd'] * prices['hours_per_month']
    formula = ('%s rows/h × %d message(s) per row (payload %d B, per started %g KB) = %s messages/h → '
               'ceil(÷ %d) = %d pack(s) × $%g/pack-hour × %g h = $%.2f%s' % (
                   '{:,.0f}'.format(rows_per_hour), per_row, payload_size, prices['oic_message_kb'],
                   '{:,.0f}'.format(messages), prices['oic_messages_per_pack_hour'], packs,
                   prices['oic_pack_hour_usd'], prices['hours_per_month'], usd,
                   ' (over the %d-pack limit of one instance)' % prices['oic_max_packs']
                   if packs > prices['oic_max_packs'] else ''))
    return _money(usd), packs, formula


def path_cost(path, rows_per_second, row_bytes, payload_size, prices):
    """The monthly cost of `path` at `rows_per_second`, itemised with formulas; None rate gives None."""
    if not rows_per_second:
        return None
    per_hour = rows_per_second * 3600
    per_month = per_hour * prices['hours_per_month']
    items = []
    if path == 'oic':
        usd, packs, formula = oic_cost(per_hour, payload_size, prices)
        items.append({'item': 'OIC message packs', 'usd': usd, 'packs': packs, 'formula': formula})
        usd, formula = streaming_insert_cost(per_month, row_bytes, prices)
        items.append({'item': "BigQuery streaming inserts (OIC's insertAll, 1 row per call)", 'usd': usd,
                      'formula': formula})
        alternative = None
    else:
        usd, formula = streaming_insert_cost(per_month, row_bytes, prices)
        items.append({'item': 'BigQuery streaming inserts (WriteToBigQuery STREAMING_INSERTS)', 'usd': usd,
                      'formula': formula})
        alt_usd, alt_formula = storage_write_cost(per_month, row_bytes, prices)
        alternative = {'item': 'BigQuery Storage Write API (method=STORAGE_WRITE_API)', 'usd': alt_usd,
                       'formula': alt_formula}
    return {
        'rows_per_second': round(rows_per_second, 3),
        'rows_per_month': round(per_month),
        'row_bytes': row_bytes,
        'items': items,
        'usd_per_month': _money(sum(i['usd'] for i in items)),
        'alternative': alternative,
        'prices_as_of': prices.get('as_of'),
    }
