"""The OIC path in the comparison: each record answered by OIC's trigger (acknowledgements), priced in message
packs plus the streaming inserts of OIC's own insertAll calls (one record per request as sent, BYOL, and batched),
with OIC's billing, concurrency and monitoring views."""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from comparison.cost import billing, line_items, sizing
from comparison.cost.curves import CurveBasis, CurveColumn, PathCurve
from comparison.measures import concurrency, monitoring, throughput
from comparison.paths.registry import ComparisonPath, CostInputs, PathRun
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo

NAME = 'oic'
COLOR = '#c74634'
BATCHED_COLOR = '#e8a33d'
VIEW_MONITORING, VIEW_BILLING = 'oic_monitoring', 'oic_billing'  # report.json keys of its extra views


def body_fields(run: RunInfo) -> Tuple[str, ...]:
    """The fields the run posted to OIC (--oic_payload), and so the fields OIC's mapping writes to its table."""
    return rec.payload_fields(run.oic_payload)


def row_bytes(record: dict, run: RunInfo) -> int:
    """The row OIC's mapping writes: the whole record, or its seed fields with --oic_payload seed."""
    return sizing.bigquery_row_bytes({k: record.get(k) for k in body_fields(run)})


def payload_bytes(record: dict, run: RunInfo) -> int:
    return sizing.payload_bytes(record, run.oic_payload)


def cost(inputs: CostInputs) -> Optional[dict]:
    """OIC's monthly cost at the stated rate, itemised: its message packs in the shape the run sent
    (`records_per_request` records in bodies of `request_bytes`; by default one record of `payload_bytes` per
    request) plus the streaming inserts of OIC's insertAll calls; the BYOL packs as the alternative; and, under
    `batched`, the batched shape: records packed into bodies of at most `batch_kb` KB (default 50 KB, one billing
    message)."""
    if not inputs.at_rate:
        return None
    prices, rate, response_s, per_request = inputs.prices, inputs.at_rate, inputs.oic_response_s, \
        inputs.records_per_request
    per_hour = rate * 3600
    body = inputs.payload_bytes if inputs.request_bytes is None else inputs.request_bytes
    usd, packs, formula = line_items.oic_cost(per_hour, body, prices, response_s, records_per_request=per_request)
    instances = sizing.oic_sizing(rate, body, prices, response_s, records_per_request=per_request)['instances']
    items = [{'item': 'OIC message packs', 'usd': usd, 'packs': packs, 'instances': instances,
              'records_per_request': per_request, 'formula': formula}]
    usd, formula = line_items.streaming_insert_cost(line_items.rows_per_month(rate, prices), inputs.row_bytes, prices)
    items.append({'item': "BigQuery streaming inserts (OIC's insertAll, %s per call)" % (
        '1 row' if per_request == 1 else '%s rows' % format(per_request, ',.6g')), 'usd': usd, 'formula': formula})
    byol_usd, _, byol_formula = line_items.oic_cost(per_hour, body, prices, response_s, byol=True,
                                                    records_per_request=per_request)
    alternative = {'item': 'OIC with BYOL packs (20,000 messages each; the licences brought are not priced) '
                           'plus the same streaming inserts', 'usd': line_items.money(byol_usd + usd),
                   'formula': byol_formula}
    shape = line_items.batched_cost(rate, inputs.payload_bytes, prices, response_s, inputs.batch_kb)
    batched = dict(shape, item='OIC batched: %d records (%d B) per request of at most %g KB, plus the same '
                               'streaming inserts' % (shape['records_per_request'], shape['request_bytes'],
                                                      shape['batch_kb']),
                   usd_per_month=line_items.money(shape['packs_usd'] + usd),
                   byol_usd_per_month=line_items.money(shape['byol_packs_usd'] + usd))
    return line_items.at_rate_cost(rate, inputs.at_rate_source, inputs.row_bytes, items, prices,
                                   alternative=alternative, batched=batched)


def curve_point(rate: float, basis: CurveBasis) -> Dict[str, Any]:
    """OIC's columns at `rate` (each figure the whole OIC path: its packs plus the streaming inserts of OIC's
    insertAll calls): license included, Enterprise, BYOL, and batched (records of `payload_bytes` packed into bodies
    of at most `batch_kb` KB, default 50), with their packs and instances."""
    prices, payload, response_s = basis.prices, basis.payload_bytes, basis.response_s
    oic_bq, _ = line_items.streaming_insert_cost(line_items.rows_per_month(rate, prices), basis.row_bytes, prices)
    licensed = sizing.oic_sizing(rate, payload, prices, response_s)
    enterprise = sizing.oic_sizing(rate, payload, prices, response_s,
                                   pack_hour_usd=prices['oic_enterprise_pack_hour_usd'])
    byol = sizing.oic_sizing(rate, payload, prices, response_s, byol=True)
    shape = sizing.batch_shape(payload, prices, basis.batch_kb)
    batched = sizing.oic_sizing(rate, shape['request_bytes'], prices, response_s,
                                records_per_request=shape['records_per_request'])
    batched_byol = sizing.oic_sizing(rate, shape['request_bytes'], prices, response_s, byol=True,
                                     records_per_request=shape['records_per_request'])
    return {
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
    }


def curve_steps(basis: CurveBasis) -> List[Dict[str, Any]]:
    """Where each OIC way steps up: a further pack, and the rate one instance cannot hold."""
    prices, payload, response_s = basis.prices, basis.payload_bytes, basis.response_s
    shape = sizing.batch_shape(payload, prices, basis.batch_kb)
    points: List[Dict[str, Any]] = []
    for byol, batched, label in ((False, False, 'OIC'), (True, False, 'OIC BYOL'), (False, True, 'OIC batched'),
                                 (True, True, 'OIC batched BYOL')):
        per_request = shape['records_per_request'] if batched else 1
        per_record = (shape['messages_per_request'] if batched else sizing.messages_per_record(payload, prices)) \
            / per_request
        per_pack_rate = prices['oic_byol_messages_per_pack_hour' if byol else 'oic_messages_per_pack_hour'] \
            / 3600.0 / per_record
        price = prices['oic_byol_pack_hour_usd' if byol else 'oic_pack_hour_usd'] * prices['hours_per_month']
        points.append({'rate': per_pack_rate, 'kind': 'step', 'what': (
            '%s: one pack ($%s/month) carries up to %s records/s; every further %s records/s adds a pack' % (
                label, '{:,.2f}'.format(price), line_items.rate_text(per_pack_rate),
                line_items.rate_text(per_pack_rate)))})
        limit_rate = min(per_pack_rate * prices['oic_max_packs'],
                         prices['oic_max_sync_requests'] * per_request / response_s)
        points.append({'rate': limit_rate, 'kind': 'step', 'what': (
            '%s: above %s records/s one instance is not enough (%d packs or %d synchronous requests in flight '
            'at %gs each%s)' % (label, line_items.rate_text(limit_rate), prices['oic_max_packs'],
                                prices['oic_max_sync_requests'], response_s,
                                ', %d records a request' % per_request if batched else ''))})
    return points


def batched_caption(curve: Sequence[Mapping[str, Any]], at: Mapping[str, Any]) -> str:
    """What the batched columns assume, from the first curve point and the cost basis; '' without them."""
    if not curve or 'oic_batched_records_per_request' not in curve[0]:
        return ''
    return ('OIC batched = %d records of %s B (the mean JSON payload measured) in each request of at most %g KB (%s): '
            'packs for its messages and its requests in flight, at the same answer time (a batch answers later: '
            '--oic_response_time S to state one)' % (
                curve[0]['oic_batched_records_per_request'], format(at.get('payload_bytes') or 0, ',.6g'),
                curve[0]['oic_batch_kb'], at.get('oic_batch_kb_source') or 'one billing message'))


CURVE = PathCurve(
    point=curve_point,
    columns=(CurveColumn('oic_packs', 'OIC packs', 'OIC packs', usd=False),
             CurveColumn('oic_usd_per_month', 'OIC', 'OIC (license included)'),
             CurveColumn('oic_byol_usd_per_month', 'OIC BYOL', 'OIC BYOL', style='--'),
             CurveColumn('oic_batched_packs', 'batched packs', 'OIC batched packs', usd=False),
             CurveColumn('oic_batched_usd_per_month', 'OIC batched', 'OIC batched', color=BATCHED_COLOR),
             CurveColumn('oic_batched_byol_usd_per_month', 'batched BYOL', 'OIC batched BYOL', style='--',
                         color=BATCHED_COLOR)),
    steps=curve_steps, instances_key='oic_instances',
    instances_note='more than one OIC instance (over 100 packs or 2,000 requests in flight)',
    instances_label='OIC needs > 1 instance',
    note='each OIC figure includes the streaming inserts of its insertAll calls', caption=batched_caption)


def overloads(metrics: Mapping[str, Any]) -> Tuple[Optional[int], int]:
    """The OIC caller's requests and its overload answers (429, 503, timeouts), from the run's Beam metrics."""
    return metrics.get(throughput.OIC_REQUESTS_METRIC), metrics.get('oic_overload_answers', 0)


def extras(path_run: PathRun, result: dict) -> Dict[str, Any]:
    """OIC's billing (and the shape a batched run is priced in), its concurrency limit, and OIC's own view of the
    run from its monitoring API, cross-checked with the local stand-in's counters."""
    run, options = path_run.run, dict(path_run.monitoring_options)
    result[VIEW_BILLING] = billing.oic_billing(path_run.sent, path_run.acks, path_run.dead_letters, run.oic_payload,
                                                path_run.prices)
    shape: Dict[str, Any] = {}
    if (result[VIEW_BILLING]['records_per_request'] or 1) > 1:  # A batched run: priced in its own shape.
        shape = {'records_per_request': result[VIEW_BILLING]['records_per_request'],
                 'request_bytes': result[VIEW_BILLING]['request_bytes_mean']}
    result['concurrency'] = concurrency.concurrency_view(
        run_record.read_records(path_run.out_dir, run_record.limits_kind(NAME)), run.metrics,
        concurrency.earliest([r.get('event_time') for r in path_run.sent]), result['throughput']['span_s'])
    if path_run.monitoring:
        view = monitoring.oic_view(run, set(path_run.sent_ids), **options)
        if view.get('check') == 'done':
            view['three_way'] = monitoring.three_way(result['acked'], result['dead_lettered'], result['landed'], view)
        result[VIEW_MONITORING] = view
        password = options.get('password')
        result[VIEW_BILLING]['stand_in'] = billing.cross_check(result[VIEW_BILLING], billing.read_stand_in_stats(
            run, password if password is not None else os.environ.get('OIC_PASSWORD')))
    return shape


def sql_requests(run: RunInfo) -> Optional[Tuple[Optional[int], str]]:
    """A batched run's POSTs from the caller's counter (the run-record tables hold no batch_id: their attempts would
    count a batch once per record); None one record per request (the tables' count stands)."""
    return throughput.oic_requests_from_metrics(run.metrics) if run.oic_batch_kb else None


def sql_views(result: dict, payload_bytes: int, prices: Mapping[str, Any]) -> None:
    """OIC's billing from counts (the run-record tables hold no request ids yet: one request per record, the mean
    body size)."""
    result[VIEW_BILLING] = billing.per_record_billing(result['acked'] + result['dead_lettered'],
                                                      result['http_requests'] or 0, payload_bytes, prices)


PATH = ComparisonPath(
    name=NAME, label='OIC', acks_derived=False, row_bytes=row_bytes, payload_bytes=payload_bytes,
    requests=lambda acks, dead, metrics: throughput.answered_requests(acks, dead), cost=cost,
    extras=extras, views=(VIEW_MONITORING, VIEW_BILLING), overloads=overloads,
    finds_rows=lambda run: run.oic_payload != 'seed', curve=CURVE, times_answers=True, always_stated=True,
    color=COLOR, row_fields=body_fields, body_fields=body_fields, sql_requests=sql_requests, sql_views=sql_views,
    sql_skipped=((VIEW_MONITORING, 'skipped: the SQL reconciliation does not page through OIC\'s monitoring API (use '
                                   '--in_memory for the three-way check)'),))
