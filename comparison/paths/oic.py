"""The OIC path in the comparison: each record answered by OIC's trigger (acknowledgements), priced in message
packs plus the streaming inserts of OIC's own insertAll calls, with OIC's billing, concurrency and monitoring views."""

import os
from typing import Any, Dict, Optional

from comparison.cost import billing
from comparison.cost import line_items
from comparison.cost import sizing
from comparison.measures import concurrency, monitoring, throughput
from comparison.paths.registry import ComparisonPath, CostInputs, PathRun
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo

NAME = 'oic'


def row_bytes(record: dict, run: RunInfo) -> int:
    """The row OIC's mapping writes: the whole record, or its seed fields with --oic_payload seed."""
    return sizing.bigquery_row_bytes(record if run.oic_payload != 'seed'
                                      else {k: record.get(k) for k in rec.SEED_FIELDS})


def payload_bytes(record: dict, run: RunInfo) -> int:
    return sizing.payload_bytes(record, run.oic_payload)


def cost(inputs: CostInputs) -> Optional[dict]:
    return line_items.path_cost(NAME, inputs.at_rate, inputs.row_bytes, inputs.payload_bytes, inputs.prices,
                             inputs.oic_response_s, inputs.at_rate_source, batch_kb=inputs.batch_kb,
                             records_per_request=inputs.records_per_request, request_bytes=inputs.request_bytes)


def extras(path_run: PathRun, result: dict) -> Dict[str, Any]:
    """OIC's billing (and the shape a batched run is priced in), its concurrency limit, and OIC's own view of the
    run from its monitoring API, cross-checked with the local stand-in's counters."""
    run, options = path_run.run, dict(path_run.monitoring_options)
    result['oic_billing'] = billing.oic_billing(path_run.sent, path_run.acks, path_run.dead_letters, run.oic_payload,
                                                path_run.prices)
    shape: Dict[str, Any] = {}
    if (result['oic_billing']['records_per_request'] or 1) > 1:  # A batched run: priced in its own shape.
        shape = {'records_per_request': result['oic_billing']['records_per_request'],
                 'request_bytes': result['oic_billing']['request_bytes_mean']}
    result['concurrency'] = concurrency.concurrency_view(
        run_record.read_records(path_run.out_dir, run_record.limits_kind(NAME)), run.metrics,
        concurrency.earliest([r.get('event_time') for r in path_run.sent]), result['throughput']['span_s'])
    if path_run.monitoring:
        view = monitoring.oic_view(run, set(path_run.sent_ids), **options)
        if view.get('check') == 'done':
            view['three_way'] = monitoring.three_way(result['acked'], result['dead_lettered'], result['landed'], view)
        result['oic_monitoring'] = view
        password = options.get('password')
        result['oic_billing']['stand_in'] = billing.cross_check(result['oic_billing'], billing.read_stand_in_stats(
            run, password if password is not None else os.environ.get('OIC_PASSWORD')))
    return shape


PATH = ComparisonPath(
    name=NAME, label='OIC', acks_derived=False, row_bytes=row_bytes, payload_bytes=payload_bytes,
    requests=lambda acks, dead, metrics: throughput.http_requests(NAME, acks, dead, metrics), cost=cost,
    extras=extras, finds_rows=lambda run: run.oic_payload != 'seed', color='#c74634')
