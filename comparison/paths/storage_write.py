"""The storage_write path in the comparison: the Storage Write API through transforms/storage_write (exactly once,
COMMITTED streams). It acknowledges appends, not single records, so "acknowledged" is derived from what landed; it
is priced per GiB of the serialized rows it measured (after the monthly free tier)."""

from typing import Any, Dict, List, Optional

from comparison.cost import line_items, sizing
from comparison.cost.curves import CurveBasis, CurveColumn, PathCurve
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
    size = _bytes(inputs.serialized_row_bytes, inputs.row_bytes)
    usd, formula = line_items.storage_write_cost(line_items.rows_per_month(inputs.at_rate, inputs.prices), size,
                                                 inputs.prices)
    measured = 'measured serialized bytes per row' if inputs.serialized_row_bytes else \
        'the row\'s JSON size (no append measured)'
    return line_items.at_rate_cost(
        inputs.at_rate, inputs.at_rate_source, size,
        [{'item': 'BigQuery Storage Write API (%s)' % measured, 'usd': usd, 'formula': formula}], inputs.prices,
        row_bytes_source=measured)


def curve_point(rate: float, basis: CurveBasis) -> Dict[str, Any]:
    """This path's monthly cost at `rate` from the bytes per row its cost was priced at (the serialized bytes it
    measured); {} where it measured nothing (a sweep)."""
    size = (basis.measured.get('cost') or {}).get('row_bytes')
    if not size:
        return {}
    per_month = line_items.rows_per_month(rate, basis.prices)
    return {CURVE_COLUMN: line_items.storage_write_cost(per_month, size, basis.prices)[0],
            'storage_write_row_bytes': size}


CURVE = PathCurve(point=curve_point, columns=(
    CurveColumn(CURVE_COLUMN, 'storage_write', 'storage_write (measured bytes per row)', compared=False),))


PATH = ComparisonPath(
    name=NAME, label='storage_write', acks_derived=True, row_bytes=row_bytes, payload_bytes=lambda record, run: 0,
    requests=lambda acks, dead, metrics: (None, 'from the appends (see storage_write)'), cost=cost, extras=extras,
    curve=CURVE, ack_note='The Storage Write API acknowledges appends of many rows, not single rows; '
                          'time-to-queryable is the per-row equivalent',
    color='#188038')
