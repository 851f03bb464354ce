"""The storage_write path in the comparison: the Storage Write API through transforms/storage_write (exactly once,
COMMITTED streams). It acknowledges appends, not single records, so "acknowledged" is derived from what landed; it
is priced per GiB of the serialized rows it measured (after the monthly free tier)."""

from typing import Any, Dict, List, Mapping, Optional

from comparison.cost import line_items
from comparison.cost import sizing
from comparison.paths.registry import ComparisonPath, CostInputs, PathRun
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo

NAME = 'storage_write'
CURVE_COLUMN = 'storage_write_usd_per_month'


def row_bytes(record: dict, run: RunInfo) -> int:
    return sizing.bigquery_row_bytes(record)


def appends_view(appends: List[dict]) -> Dict[str, Any]:
    """What the appends the API accepted add up to: rows, serialized bytes, bytes per row, ALREADY_EXISTS answers."""
    rows = sum(int(a.get('rows') or 0) for a in appends)
    size = sum(int(a.get('bytes') or 0) for a in appends)
    return {'appends': len(appends), 'rows': rows, 'serialized_bytes': size,
            'serialized_bytes_per_row': round(size / rows, 1) if rows else None,
            'already_exists': sum(1 for a in appends if a.get('already_written'))}


def extras(path_run: PathRun, result: dict) -> Dict[str, Any]:
    """The appends' view (its requests are the appends) and the measured bytes per row the cost is priced at."""
    view = appends_view(run_record.read_records(path_run.out_dir, run_record.appends_kind(NAME)))
    result['storage_write'] = view
    result['http_requests'] = view['appends']
    result['http_requests_counted'] = 'AppendRows requests the API accepted (OUT/storage_write/appends), ' \
                                      'ALREADY_EXISTS answers included'
    result['http_requests_per_row'] = round(view['appends'] / result['sent'], 4) if result['sent'] else None
    return {'serialized_row_bytes': view['serialized_bytes_per_row']} if view['serialized_bytes_per_row'] else {}


def _bytes(measured: Optional[float], fallback: int) -> int:
    return int(round(measured)) if measured else fallback


def cost(inputs: CostInputs) -> Optional[dict]:
    """The Storage Write API at the stated rate: GiB of serialized rows a month beyond the free tier."""
    if not inputs.at_rate:
        return None
    per_month = inputs.at_rate * 3600 * inputs.prices['hours_per_month']
    size = _bytes(inputs.serialized_row_bytes, inputs.row_bytes)
    usd, formula = line_items.storage_write_cost(per_month, size, inputs.prices)
    measured = 'measured serialized bytes per row' if inputs.serialized_row_bytes else \
        'the row\'s JSON size (no append measured)'
    return {'at_rate': inputs.at_rate, 'at_rate_source': inputs.at_rate_source, 'rows_per_month': round(per_month),
            'row_bytes': size, 'row_bytes_source': measured,
            'items': [{'item': 'BigQuery Storage Write API (%s)' % measured, 'usd': usd, 'formula': formula}],
            'usd_per_month': usd, 'prices_as_of': inputs.prices.get('as_of')}


def curve(rows: List[Dict[str, Any]], result: Mapping[str, Any], prices: Mapping[str, Any]) -> None:
    """Every cost_curve row gets this path's monthly cost at the row's rate, from the bytes per row it measured."""
    size = (result.get('cost') or {}).get('row_bytes')
    if not size:
        return
    for row in rows:
        per_month = row['rate'] * 3600 * prices['hours_per_month']
        row[CURVE_COLUMN] = line_items.storage_write_cost(per_month, size, prices)[0]
        row['storage_write_row_bytes'] = size


PATH = ComparisonPath(
    name=NAME, label='storage_write', acks_derived=True, row_bytes=row_bytes, payload_bytes=lambda record, run: 0,
    requests=lambda acks, dead, metrics: (None, 'from the appends (see storage_write)'), cost=cost, extras=extras,
    curve=curve, ack_note='The Storage Write API acknowledges appends of many rows, not single rows; '
                          'time-to-queryable is the per-row equivalent',
    color='#188038')
