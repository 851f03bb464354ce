"""The direct path in the comparison: WriteToBigQuery's streaming inserts (tabledata.insertAll), which acknowledge
no single row (acknowledged = landed), priced per 200 MiB with every row billed at least 1 KB; the same rows through
the Storage Write API (--direct_method STORAGE_WRITE_API) are its priced alternative."""

from typing import Any, Dict, List, Optional

from comparison.cost import line_items, sizing
from comparison.cost.curves import CurveBasis, CurveColumn, PathCurve
from comparison.cost.price_table import GIB
from comparison.measures import throughput
from comparison.paths.registry import ComparisonPath, CostInputs
from transforms.run_record.run_info import RunInfo

NAME = 'direct'


def row_bytes(record: dict, run: RunInfo) -> int:
    return sizing.bigquery_row_bytes(record)


def cost(inputs: CostInputs) -> Optional[dict]:
    """Streaming inserts at the stated rate, itemised; the Storage Write API as the alternative."""
    if not inputs.at_rate:
        return None
    per_month = line_items.rows_per_month(inputs.at_rate, inputs.prices)
    usd, formula = line_items.streaming_insert_cost(per_month, inputs.row_bytes, inputs.prices)
    items = [{'item': 'BigQuery streaming inserts (WriteToBigQuery STREAMING_INSERTS)', 'usd': usd,
              'formula': formula}]
    alt_usd, alt_formula = line_items.storage_write_cost(per_month, inputs.row_bytes, inputs.prices)
    alternative = {'item': 'BigQuery Storage Write API (method=STORAGE_WRITE_API)', 'usd': alt_usd,
                   'formula': alt_formula}
    return line_items.at_rate_cost(inputs.at_rate, inputs.at_rate_source, inputs.row_bytes, items, inputs.prices,
                                   alternative=alternative)


def curve_point(rate: float, basis: CurveBasis) -> Dict[str, Any]:
    """The direct path's columns at `rate`: streaming inserts, and the same rows through the Storage Write API."""
    rows_month = line_items.rows_per_month(rate, basis.prices)
    return {
        'direct_streaming_inserts_usd_per_month': round(
            line_items.streaming_insert_usd(rows_month, basis.row_bytes, basis.prices), 4),
        'direct_storage_write_usd_per_month': round(
            line_items.storage_write_usd(rows_month, basis.row_bytes, basis.prices), 4),
    }


def curve_steps(basis: CurveBasis) -> List[Dict[str, Any]]:
    """Where the Storage Write API's free tier ends for rows of the basis's size."""
    prices, size = basis.prices, basis.row_bytes
    free_rate = prices['storage_write_free_gib_per_month'] * GIB / max(1, size) / (3600 * prices['hours_per_month'])
    return [{'rate': free_rate, 'kind': 'step', 'what': (
        'direct, Storage Write API: free up to %s records/s (%g GiB a month of %d-byte rows), then $%g/GiB' % (
            line_items.rate_text(free_rate), prices['storage_write_free_gib_per_month'], size,
            prices['storage_write_usd_per_gib']))}]


CURVE = PathCurve(
    point=curve_point,
    columns=(CurveColumn('direct_streaming_inserts_usd_per_month', 'direct streaming', 'direct, streaming inserts'),
             CurveColumn('direct_storage_write_usd_per_month', 'direct Storage Write', 'direct, Storage Write API',
                         style='--')),
    steps=curve_steps)

PATH = ComparisonPath(
    name=NAME, label='direct', acks_derived=True, row_bytes=row_bytes, payload_bytes=lambda record, run: 0,
    requests=lambda acks, dead, metrics: throughput.insert_all_calls(metrics), cost=cost,
    sql_requests=lambda run: throughput.insert_all_calls(run.metrics),
    ack_note='WriteToBigQuery acknowledges no single row; time-to-queryable is the honest equivalent for the direct '
             'path', curve=CURVE, always_stated=True, color='#1a73e8')
