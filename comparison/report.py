"""Builds the comparison report of a recorded run (report.json) from the run record, BigQuery and OIC monitoring."""

import json
import logging
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from comparison import paths
from comparison.paths import CostInputs, PathRun
from comparison.sql import bq_read
from comparison.measures import latency
from comparison.cost import stated_rate
from comparison.cost import break_even
from comparison.cost import curves
from comparison.cost.curves import CurveBasis
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.cost import sender_requirements
from comparison.measures import throughput
from comparison.measures.reconcile import reconcile_path
from transforms.run_record import files as run_record
from transforms.run_record.files import load_run
from transforms.run_record.files import read_records
from transforms.run_record.run_info import RunInfo
from transforms.tables import parse_table_spec



def landed_rows_for(run: RunInfo, path: str, sent: Sequence[dict],
                    client_factory: Callable[..., Any] = bq_read.make_client) -> Tuple[Optional[List[dict]], str]:
    """Rows of this run found in the path's table, or (None, why) when they cannot be looked up."""
    table_text = run.table(path)
    if not run.landed_check:
        return None, 'skipped: --no_landed_check'
    if not table_text:
        return None, 'skipped: no BigQuery table configured for this path'
    if not paths.of(path).finds_rows(run):
        return None, 'skipped: the seed payload carries no record_id to find rows by'
    table = parse_table_spec(table_text)
    try:
        client = client_factory(table.project, run.emulator_host)
        warning = bq_read.layout_warning(client, table)
        if warning:
            logging.getLogger(__name__).warning(warning)
        return bq_read.fetch_rows(client, table, [r.get('record_id') for r in sent],
                                  deadline=bq_read.deadline_for(run.emulator_host),
                                  window=bq_read.event_window(r.get('event_time') for r in sent)), 'done'
    except Exception as err:  # Report it; the rest of the comparison still stands.
        return None, 'failed: %s: %s' % (type(err).__name__, str(err).splitlines()[0][:200] if str(err) else '')


def _read_json_lines(path):
    if not os.path.exists(path):
        return []
    found = []
    with open(path, encoding='utf-8') as handle:
        for raw in handle:
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
    return found


def read_probe(out_dir: str) -> Tuple[List[dict], Optional[dict]]:
    """(sightings, summary) the time-to-queryable probe recorded; ([], None) when it did not run."""
    summary_path = os.path.join(out_dir, run_record.PROBE_SUMMARY)
    summary = json.load(open(summary_path, encoding='utf-8')) if os.path.exists(summary_path) else None
    return _read_json_lines(os.path.join(out_dir, run_record.PROBE_SIGHTINGS)), summary


def _latency(path, acks, sightings, sent_ids, probe_summary):
    ttq = latency.queryable_latencies(sightings, sent_ids)
    result: dict = {'time_to_queryable': latency.summarise(ttq), 'time_to_queryable_cdf': latency.cdf_points(ttq, 100)}
    if probe_summary:
        windows = sorted(s.get('window_s') or 0 for s in sightings if s.get('record_id') in sent_ids)
        result['probe'] = {
            'interval_s': probe_summary.get('interval_s'), 'polls': probe_summary.get('polls'),
            'errors': probe_summary.get('errors'), 'first_error': probe_summary.get('first_error'),
            'poll_gap_max_s': probe_summary.get('gap_max_s'),
            'resolution_p50_s': windows[len(windows) // 2] if windows else None,
            'note': 'first seen = end of the poll that found the row; it became queryable at most resolution '
                    'seconds before',
        }
    else:
        result['probe'] = {'note': 'no probe ran for this run (remote --out or --no_landed_check)'}
    spec = paths.of(path)
    if not spec.acks_derived:
        ack = latency.ack_latencies(acks, sent_ids)
        result['ack'] = latency.summarise(ack)
        result['ack_cdf'] = latency.cdf_points(ack, 100)
    else:
        result['ack'] = None
        result['ack_note'] = spec.ack_note
    return result


def _sizes(sent: Sequence[dict], path: str, run: RunInfo) -> Tuple[int, int]:
    """(mean row bytes, mean payload bytes) of what `path` sent, as the path sizes them."""
    if not sent:
        return 0, 0
    spec = paths.of(path)
    rows = [spec.row_bytes(r, run) for r in sent]
    payloads = [spec.payload_bytes(r, run) for r in sent]
    return round(sum(rows) / len(rows)), round(sum(payloads) / len(payloads))


INVALID_SHOWN = 5


def _source_order(letter):
    """'file.csv:12' sorts by file, then line number; records without a source come last."""
    name, _, line = str(letter.get('source') or '').rpartition(':')
    return (0, name, int(line)) if line.isdigit() else (1, str(letter.get('source') or ''), 0)


def invalid_examples(invalid: Iterable[dict], limit: int = INVALID_SHOWN) -> List[dict]:
    """The first `limit` invalid records in input order, as {'source': 'file.csv:3', 'errors': [...]}."""
    return [{'source': letter.get('source'), 'errors': letter.get('errors') or [letter.get('reason')]}
            for letter in sorted(invalid, key=_source_order)[:limit]]


def oic_response_time(acks: Sequence[dict], stated: Optional[float] = None) -> Tuple[float, str]:
    """(seconds, where from) of OIC's synchronous answer, for sizing requests in flight: `stated` when given, else
    the mean latency of this run's requests answered at the first attempt, else pricing's stated default."""
    if stated is not None:
        return float(stated), '--oic_response_time %g' % stated
    first = [a['latency_ms'] for a in acks if a.get('attempts') == 1 and isinstance(a.get('latency_ms'), (int, float))]
    if first:
        return round(sum(first) / len(first) / 1000.0, 4), 'measured: mean of %d first-attempt answers in this run' \
            % len(first)
    return sizing.DEFAULT_OIC_RESPONSE_S, 'stated: %gs (this run measured no OIC answer; --oic_response_time ' \
        'to choose)' % sizing.DEFAULT_OIC_RESPONSE_S


def cost_basis(run: RunInfo, sizes: Mapping[str, Tuple[int, int]], acks: Sequence[dict], at_rate: Optional[float] = None,
               oic_response_s: Optional[float] = None, prices_kb: float = 50) -> dict:
    """The rate, OIC response time, sizes and batch size the costs and curves use, each saying where it came from.
    `sizes` is {path: (row bytes, payload bytes)} of what the run sent; a missing size is a typical synthetic
    record's. The batched columns assume the run's --oic_batch_kb when it batched, else one billing message."""
    rate, source = stated_rate.at_rate_for(run, stated_rate.check_at_rate(at_rate))
    response_s, response_source = oic_response_time(acks, oic_response_s)
    sample_row, sample_payload = sizing.sample_sizes()
    row = max((size[0] for size in sizes.values()), default=0)  # a seed payload's row is the smaller one
    payload = max((size[1] for size in sizes.values()), default=0)
    batch_kb = run.oic_batch_kb or prices_kb
    return {
        'rate': rate, 'source': source, 'oic_response_s': response_s, 'oic_response_source': response_source,
        'row_bytes': row or sample_row, 'payload_bytes': payload or sample_payload,
        'oic_batch_kb': float(batch_kb),
        'oic_batch_kb_source': 'the run\'s --oic_batch_kb %g' % run.oic_batch_kb if run.oic_batch_kb else
        'one billing message; a batched run\'s --oic_batch_kb when it has one',
        'sizes_source': 'measured: the mean of the rows sent' if row and payload else
        'typical synthetic records where the run sent none',
    }


def build_report(out_dir: str, client_factory: Callable[..., Any] = bq_read.make_client,
                 prices: Optional[Mapping[str, Any]] = None, oic_monitoring: bool = True,
                 monitoring_options: Optional[dict] = None, at_rate: Optional[float] = None,
                 oic_response_s: Optional[float] = None) -> dict:
    """Reads the run recorded in `out_dir` and what BigQuery (and OIC's monitoring API) hold; returns the report
    dict (its keys are listed in docs/report.md): per path the reconciliation counts (sent, acked, dead-lettered,
    landed, missing, duplicates), value mismatches, OIC's view, latency, throughput, requests and cost at a stated
    rate (`at_rate`, else the run's); at the top the cost curves across rates."""
    run = load_run(out_dir)
    prices = prices or price_table.load_prices()
    stated_rate.check_at_rate(at_rate)
    run_paths = run.paths
    sent_by_path = {path: read_records(out_dir, run_record.sent_kind(path)) for path in run_paths}
    acks_by_path = {path: read_records(out_dir, run_record.acks_kind(path)) for path in run_paths}
    sizes = {path: _sizes(sent, path, run) for path, sent in sent_by_path.items() if sent}
    timed = [a for path in paths.timing_answers(run_paths) for a in acks_by_path[path]]
    at = cost_basis(run, sizes, timed, at_rate, oic_response_s, prices['oic_message_kb'])
    wall = run.wall_s
    sightings, probe_summary = read_probe(out_dir)
    invalid = read_records(out_dir, run_record.INVALID)
    report: Dict[str, Any] = {
        'run_id': run.run_id,
        'started_at': run.started_at,
        'finished_at': run.finished_at,
        'state': run.state,
        'runner': run.runner,
        'invalid': len(invalid),
        'invalid_first': invalid_examples(invalid),
        'prices': {k: v for k, v in prices.items() if not k.endswith('_note')},
        'cost_at_rate': at,
        'sender_requirements': sender_requirements.for_report(paths.stated(run_paths)),
        'paths': {},
    }
    for path in run_paths:
        spec = paths.of(path)
        sent, acks = sent_by_path[path], acks_by_path[path]
        dead = read_records(out_dir, run_record.dead_letters_kind(path))
        sent_ids = {r.get('record_id') for r in sent if r.get('record_id')}
        rows, check = landed_rows_for(run, path, sent, client_factory)
        result = reconcile_path(sent, acks, dead, rows, acks_derived=spec.acks_derived)
        result['landed_check'] = check
        result['wall_s'] = wall
        path_sightings = [s for s in sightings if s.get('path') == path]
        result['latency'] = _latency(path, acks, path_sightings, sent_ids, probe_summary)
        if not spec.acks_derived:
            completions, basis = [a.get('ack_time') for a in acks if a.get('record_id') in sent_ids], 'acknowledgements'
        elif path_sightings:
            completions, basis = [s['seen_at'] for s in path_sightings if s.get('record_id') in sent_ids], \
                'rows first seen in BigQuery by the probe'
        else:
            completions, basis = [], 'unknown without the probe'
        result['throughput'] = throughput.path_throughput(completions, [r.get('event_time') for r in sent], basis)
        result['throughput_rps'] = result['throughput']['rows_per_s']
        requests_made, counted = spec.requests(acks, dead, run.metrics)
        result['http_requests'] = requests_made
        result['http_requests_counted'] = counted
        result['http_requests_per_row'] = throughput.requests_per_row(requests_made, result['sent'])
        row_bytes, payload = sizes.get(path) or (at['row_bytes'], at['payload_bytes'])
        shape = spec.extras(PathRun(
            name=path, out_dir=out_dir, run=run, sent=sent, acks=acks, dead_letters=dead, sent_ids=frozenset(sent_ids),
            prices=prices, monitoring=oic_monitoring, monitoring_options=monitoring_options or {}), result)
        result['cost'] = spec.cost(CostInputs(
            at_rate=at['rate'], at_rate_source=at['source'], row_bytes=row_bytes, payload_bytes=payload, prices=prices,
            oic_response_s=at['oic_response_s'], batch_kb=at['oic_batch_kb'], **shape))
        report['paths'][path] = result
    priced = paths.priced(run_paths, CurveBasis.of(at, prices), report['paths'])  # each path's columns
    report['cost_curve'] = curves.cost_curve(curves.curve_rates(at['rate']), priced)
    report['cost_curve_points'] = break_even.key_points(priced)
    return report


def _write_text(path, text):
    """Writes a whole file, locally or on any Beam filesystem (a Dataflow run's gs:// directory)."""
    if not run_record.is_local(path):
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.create(path) as handle:
            handle.write(text.encode('utf-8'))
        return
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)


def write_report(out_dir: str, report: dict) -> str:
    """Writes report.json and the self-contained report.html beside it; returns the report.json path."""
    from comparison.render.html_page import render_html  # Charts need matplotlib (the 'local' extra): only here.
    base = out_dir.rstrip('/')
    _write_text(run_record.join(base, run_record.REPORT_JSON), json.dumps(report, indent=2, sort_keys=True))
    _write_text(run_record.join(base, run_record.REPORT_HTML), render_html(report))
    return run_record.join(base, run_record.REPORT_JSON)
