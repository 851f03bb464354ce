"""The direct path in the comparison: WriteToBigQuery's streaming inserts (tabledata.insertAll), which acknowledge
no single row (acknowledged = landed), priced per 200 MiB with every row billed at least 1 KB."""

from typing import Optional

from comparison.cost import line_items
from comparison.cost import sizing
from comparison.measures import throughput
from comparison.paths.registry import ComparisonPath, CostInputs
from transforms.run_record.run_info import RunInfo

NAME = 'direct'


def row_bytes(record: dict, run: RunInfo) -> int:
    return sizing.bigquery_row_bytes(record)


def cost(inputs: CostInputs) -> Optional[dict]:
    return line_items.path_cost(NAME, inputs.at_rate, inputs.row_bytes, inputs.payload_bytes, inputs.prices,
                             inputs.oic_response_s, inputs.at_rate_source, batch_kb=inputs.batch_kb)


PATH = ComparisonPath(
    name=NAME, label='direct', acks_derived=True, row_bytes=row_bytes, payload_bytes=lambda record, run: 0,
    requests=lambda acks, dead, metrics: throughput.http_requests(NAME, acks, dead, metrics), cost=cost,
    ack_note='WriteToBigQuery acknowledges no single row; time-to-queryable is the honest equivalent for the direct '
             'path', color='#1a73e8')
