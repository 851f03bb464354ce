"""python -m comparison.sweep — both paths as streams at a ladder of offered rates; one sweep.json and sweep.html.

Each step is one `python -m pipeline.run --streaming --rate R --records R×seconds` (a subprocess, with every other
flag given to the sweep passed on, so the same command measures the real OIC and BigQuery), measured by the same
report as any run (comparison/report.py). Against the local stack the OIC stand-in is first set to a stated model
(a service time, and a capacity from message packs: 100 synchronous requests in flight each, 400 BYOL, at most
2,000, beyond which it answers 429 as OIC does) and the page says so. A step whose stream
is not over `--grace` seconds after its last record was due (counted from the moment its pipeline shows it is
running) is stopped (Ctrl-C, as a user would): what had not
landed then counts as missing. Ctrl-C stops the sweep and keeps the finished steps.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import requests
from apache_beam.options.pipeline_options import PipelineOptions

from comparison.cost import break_even
from comparison import paths
from comparison.cost import curves
from comparison.cost.curves import CurveBasis
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.render.sweep_page import limit_text, render_sweep_html
from comparison.report import read_probe
from devstack.oic.admin_client import AdminClient
from pipeline.options import WarehouseOptions
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.files import load_run, read_records

DEFAULT_RATES = (10.0, 50.0, 100.0, 200.0, 400.0)
DEFAULT_SECONDS = 20.0
DEFAULT_P99_BOUND_S = 5.0
KEEP_UP_SHARE = 0.95  # Delivered below this share of the offered rate: the path no longer keeps up.
DEFAULT_GRACE_S = 30.0
DEFAULT_SERVICE_MS = 100.0
DEFAULT_PACKS = 1
OWNED_FLAGS = ('--rate', '--records', '--streaming', '--out', '--input', '--at_rate')
SWEEP_JSON = 'sweep.json'
SWEEP_HTML = 'sweep.html'
INTERRUPTED = 130
REPORT_WAIT_S = 120.0  # After a step is stopped, its run gets this long to write its report.
# A step's pipeline gets this long to start (imports, the runner, the first bundle): its grace counts from the moment
# it shows it is running (a caller's live stats file, or the probe's first sighting), not from its process start,
# so a slow or busy machine does not cut a step short.
STARTUP_WAIT_S = 300.0


class SweepUsage(ValueError):
    """A flag the sweep cannot use; printed as one line, exit 2."""


def parse_rates(text: str) -> List[float]:
    """'10,50,100' -> [10.0, 50.0, 100.0], ascending and distinct; SweepUsage otherwise."""
    try:
        rates = sorted(set(float(part) for part in text.split(',') if part.strip()))
    except ValueError:
        raise SweepUsage('--rates takes comma-separated records per second, e.g. 10,50,100 (got %r)' % text) from None
    if not rates or any(not 0 < r < float('inf') for r in rates):
        raise SweepUsage('--rates must be positive numbers of records per second (got %r)' % text)
    return rates


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m comparison.sweep', allow_abbrev=False, description='Runs ' + __doc__.split('\n')[0].split(' — ')[-1],
        epilog='Any other flag goes to each step\'s python -m pipeline.run (e.g. --paths, --oic_concurrency, '
               '--oic_url): the sweep owns %s. ./run_local.sh sweep starts the local stack first.'
               % ', '.join(OWNED_FLAGS))
    parser.add_argument('--rates', default=','.join('%g' % r for r in DEFAULT_RATES),
                        help='Offered records per second, one step each (default %(default)s).')
    parser.add_argument('--seconds', type=float, default=DEFAULT_SECONDS,
                        help='Seconds each step streams (default %(default)g): --records = rate × seconds.')
    parser.add_argument('--out', default='out/sweep', help='Directory for the steps, sweep.json and sweep.html '
                                                           '(default %(default)s).')
    parser.add_argument('--p99_bound', type=float, default=DEFAULT_P99_BOUND_S,
                        help='A path stops keeping up where its p99 event → queryable (event → acknowledged when '
                             'nothing was queried) is over this many seconds (default %g), or where it delivers '
                             'less than %g%%%% of the offered rate.' % (DEFAULT_P99_BOUND_S, KEEP_UP_SHARE * 100))
    parser.add_argument('--grace', type=float, default=DEFAULT_GRACE_S,
                        help='Seconds a step may run on after its last record was due before it is stopped '
                             '(default %(default)g); what has not landed by then counts as missing.')
    model = parser.add_argument_group('the local OIC stand-in\'s model (ignored for a real OIC)')
    model.add_argument('--oic_service_ms', type=float, default=DEFAULT_SERVICE_MS,
                       help='Milliseconds the stand-in takes to serve one request (default %(default)g).')
    model.add_argument('--oic_packs', type=int, default=DEFAULT_PACKS,
                       help='Message packs: 100 synchronous requests in flight each, 400 with --oic_byol, at most '
                            '2,000 (default %(default)d).')
    model.add_argument('--oic_byol', action='store_true', help='BYOL packs (400 requests in flight each).')
    model.add_argument('--no_oic_model', action='store_true', help='Leave the stand-in\'s settings as they are.')
    return parser


def parse(argv: Sequence[str]) -> Tuple[argparse.Namespace, List[str]]:
    """(sweep settings, flags passed on to pipeline.run); SweepUsage for anything unusable."""
    parser = build_parser()
    args, passed = parser.parse_known_args(list(argv))
    owned = [flag for flag in passed if flag.split('=', 1)[0] in OWNED_FLAGS]
    if owned:
        raise SweepUsage('%s is set by the sweep for each step; drop it' % owned[0].split('=', 1)[0])
    args.rate_list = parse_rates(args.rates)
    if not 0 < args.seconds < float('inf'):
        raise SweepUsage('--seconds must be a positive number (got %g)' % args.seconds)
    if not 0 < args.p99_bound < float('inf') or not 0 <= args.grace < float('inf'):
        raise SweepUsage('--p99_bound must be positive and --grace >= 0')
    if args.oic_service_ms < 0 or args.oic_packs < 1:
        raise SweepUsage('--oic_service_ms must be >= 0 and --oic_packs at least 1')
    return args, passed


# -- the local stand-in's model


def pipeline_flags(passed: Sequence[str]) -> WarehouseOptions:
    """The flags passed on to every step, read by the pipeline's own parser (pipeline/options.py): typed
    attributes, no argv scanning."""
    return PipelineOptions(list(passed)).view_as(WarehouseOptions)


def find_stand_in(flags: WarehouseOptions, environ: Mapping[str, str]) -> Optional[AdminClient]:
    """The admin client of the OIC stand-in behind the run's OIC URL, or None (a real OIC has no /admin/faults)."""
    url = flags.oic_url or environ.get('OIC_URL')
    user = flags.oic_username or environ.get('OIC_USERNAME')
    password = environ.get('OIC_PASSWORD')
    if not url or not user or not password:
        return None
    return AdminClient.find(url, (user, password))


def capacity_of(packs: int, byol: bool, prices: Mapping[str, Any]) -> int:
    """Synchronous requests OIC serves at once with `packs` message packs (Oracle's table, via prices.json)."""
    per_pack = prices['oic_byol_sync_requests_per_pack' if byol else 'oic_sync_requests_per_pack']
    return int(min(prices['oic_max_sync_requests'], packs * per_pack))


def model_settings(args: argparse.Namespace, current: Mapping[str, Any], capacity: int) -> dict:
    """The stand-in's settings for the sweep: its current ones with the stated service time, and its concurrency
    cap (beyond it: 429 at once, as OIC answers) at the packs' capacity."""
    return dict(current, latency_ms=args.oic_service_ms, jitter_ms=0, max_concurrency=capacity)


def describe_model(args: argparse.Namespace, capacity: int) -> dict:
    """The model as the page states it."""
    service_s = args.oic_service_ms / 1000.0
    ceiling = round(capacity / service_s, 1) if service_s else None
    return {
        'service_ms': args.oic_service_ms, 'message_packs': args.oic_packs, 'byol': bool(args.oic_byol),
        'capacity_in_flight': capacity, 'over_capacity': '429', 'capacity_rps': ceiling,
        'text': ('the local OIC stand-in serves each request in %g ms and holds %d requests at once (%d %s '
                 'pack(s), as OIC 3 documents for synchronous requests), so at most %s requests/s; beyond that it '
                 'answers 429 at once. Its rows go to the local BigQuery emulator (the rows of concurrent requests '
                 'in one insertAll).' % (
                     args.oic_service_ms, capacity, args.oic_packs,
                     'BYOL' if args.oic_byol else 'license-included', '%g' % ceiling if ceiling else 'unbounded')),
    }


# -- measuring one step


def delivered_rate(moments: Sequence[Optional[str]]) -> Optional[float]:
    """Rows per second at which the moments (completions, or emissions) came: the inverse slope of a least-squares
    line through (time, rank), so a poll's coarse sighting times at either end do not decide it, and start-up and
    latency do not count; None with fewer than three."""
    times = sorted(rec.parse_timestamp(m).timestamp() for m in moments if m)
    if len(times) < 3 or times[-1] <= times[0]:
        return None
    n = len(times)
    mean_rank, mean_time = (n - 1) / 2.0, sum(times) / n
    covariance = sum((i - mean_rank) * (t - mean_time) for i, t in enumerate(times))
    variance = sum((i - mean_rank) ** 2 for i in range(n))
    seconds_per_row = covariance / variance
    return round(1.0 / seconds_per_row, 2) if seconds_per_row > 0 else None


def judge(offered: float, delivered: Optional[float], p99_s: Optional[float], bound_s: float,
          emitted: Optional[float]) -> Tuple[bool, str]:
    """(keeps up, why) for one path at one offered rate."""
    reasons = []
    if delivered is None or delivered < KEEP_UP_SHARE * offered:
        reasons.append('delivered %s/s < %d%% of %g/s' % ('n/a' if delivered is None else '%g' % delivered,
                                                          KEEP_UP_SHARE * 100, offered))
        if emitted is not None and emitted < KEEP_UP_SHARE * offered:
            reasons.append('the source itself emitted only %g/s on this machine' % emitted)
    if p99_s is None or p99_s > bound_s:
        reasons.append('p99 %s over %gs' % ('n/a' if p99_s is None else '%gs' % p99_s, bound_s))
    return (not reasons), '; '.join(reasons) or 'keeps up'


def measure_path(out: str, path: str, result: Mapping[str, Any], offered: float, bound_s: float,
                 metrics: Mapping[str, Any], sightings: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """One path's figures at one step, from its report entry and its run record; rates over every record it sent
    (the streaming source emits at its rate from its first second: no start-up burst to leave out)."""
    sent = read_records(out, run_record.sent_kind(path))
    sent_ids = {r.get('record_id') for r in sent}
    emitted = delivered_rate([r.get('event_time') for r in sent])
    if path == 'oic':
        completions = [a.get('ack_time') for a in read_records(out, run_record.acks_kind(path))
                       if a.get('record_id') in sent_ids]
    else:
        completions = [s['seen_at'] for s in sightings if s.get('path') == path and s.get('record_id') in sent_ids]
    delivered = delivered_rate(completions)
    latency = result.get('latency') or {}
    ack, ttq = latency.get('ack') or {}, latency.get('time_to_queryable') or {}
    p99 = ttq.get('p99_s') if ttq.get('count') else ack.get('p99_s')
    keeps_up, why = judge(offered, delivered, p99, bound_s, emitted)
    figures: Dict[str, Any] = {
        'sent': result.get('sent'), 'emitted_rps': emitted, 'delivered_rps': delivered,
        'delivered_share': round(delivered / offered, 3) if delivered else None,
        'ack_p50_s': ack.get('p50_s'), 'ack_p99_s': ack.get('p99_s'),
        'ttq_p50_s': ttq.get('p50_s'), 'ttq_p99_s': ttq.get('p99_s'),
        'landed': result.get('landed'), 'dead_lettered': result.get('dead_lettered'),
        'missing': result.get('missing'), 'duplicates': result.get('duplicates'),
        'keeps_up': keeps_up, 'why': why,
    }
    if path == 'oic':
        requests_made = metrics.get('oic_requests') or result.get('http_requests')
        overloads = metrics.get('oic_overload_answers', 0)
        figures.update(requests=requests_made, overload_answers=overloads,
                       overload_share=round(overloads / requests_made, 4) if requests_made else None)
    else:
        figures.update(requests=result.get('http_requests'), overload_answers=None, overload_share=None)
    return figures


def batch_kb_of(flags: WarehouseOptions) -> Optional[float]:
    """--oic_batch_kb among the flags passed to every step (the batch size its steps sent and its cost curve prices
    the batched shape at), or None: one record per request, priced batched at one billing message's 50 KB."""
    return float(flags.oic_batch_kb or 0) or None


def step_argv(rate: float, seconds: float, out: str, passed: Sequence[str]) -> List[str]:
    records = max(1, int(round(rate * seconds)))
    return [sys.executable, '-m', 'pipeline.run', '--streaming', '--rate', '%g' % rate, '--records', str(records),
            '--out', out] + list(passed)


def step_environment(environ: Mapping[str, str]) -> Dict[str, str]:
    """The step's environment: `environ`, with this project first on the import path (whatever the cwd)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return dict(environ, PYTHONPATH=os.pathsep.join(filter(None, [root, environ.get('PYTHONPATH')])))


def stream_began(out: str) -> bool:
    """True once a step's pipeline is running: a caller wrote its live stats, or the probe saw a row land."""
    sightings = os.path.join(out, run_record.PROBE_SIGHTINGS)  # Created when the probe starts; written at a sighting.
    live = os.path.join(out, run_record.LIVE_DIR)
    return ((os.path.exists(sightings) and os.path.getsize(sightings) > 0)
            or (os.path.isdir(live) and bool(os.listdir(live))))


def run_step(rate: float, args: argparse.Namespace, passed: Sequence[str], out: str,
             stand_in: Optional[AdminClient], environ: Mapping[str, str]) -> Dict[str, Any]:
    """Runs one step's pipeline (stopping it `grace` seconds after its last record was due) and measures it."""
    os.makedirs(out, exist_ok=True)
    if stand_in is not None:
        stand_in.reset_stats()
    started = time.monotonic()
    deadline = started + STARTUP_WAIT_S
    running = False
    with open(os.path.join(out, 'step.log'), 'w', encoding='utf-8') as log:
        process = subprocess.Popen(step_argv(rate, args.seconds, out, passed), stdout=log, stderr=subprocess.STDOUT,
                                   env=step_environment(environ), start_new_session=True)
        stopped = False
        try:
            while process.poll() is None:
                if not running and stream_began(out):
                    running = True
                    deadline = time.monotonic() + args.seconds + args.grace
                if not stopped and time.monotonic() > deadline:
                    process.send_signal(signal.SIGINT)  # As Ctrl-C: the run stops and still reports.
                    stopped = True
                    deadline = time.monotonic() + REPORT_WAIT_S
                elif stopped and time.monotonic() > deadline:
                    process.kill()
                time.sleep(0.2)
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=REPORT_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
    step: Dict[str, Any] = {'rate': rate, 'records': max(1, int(round(rate * args.seconds))), 'out': out,
                            'exit_code': process.returncode, 'stopped_after_grace': stopped,
                            'wall_s': round(time.monotonic() - started, 1), 'paths': {}}
    if stand_in is not None:
        stats = stand_in.stats()
        by_status = stats.get('by_status') or {}
        step['stand_in'] = {'requests': stats.get('requests'), 'by_status': by_status,
                            'max_in_flight': stats.get('max_in_flight'),
                            'answered_429': by_status.get('429', 0)}
    report_path = os.path.join(out, run_record.REPORT_JSON)
    if not os.path.exists(report_path):
        step['error'] = 'no report: the run exited %s (see %s)' % (process.returncode, os.path.join(out, 'step.log'))
        return step
    with open(report_path, encoding='utf-8') as handle:
        report = json.load(handle)
    run = load_run(out)
    sightings, _ = read_probe(out)
    for path, result in report['paths'].items():
        step['paths'][path] = measure_path(out, path, result, rate, args.p99_bound, run.metrics or {},
                                           sightings)
    step['cost_at_rate'] = report.get('cost_at_rate')
    return step


def progress_line(index: int, total: int, step: Mapping[str, Any]) -> str:
    parts = []
    for path, f in step['paths'].items():
        parts.append('%s %s/s delivered (%s), p99 queryable %s, 429/503 %s, missing %s, dead %s — %s' % (
            path, f['delivered_rps'], '%d%%' % round(100 * f['delivered_share']) if f['delivered_share'] else 'n/a',
            '%gs' % f['ttq_p99_s'] if f['ttq_p99_s'] is not None else 'n/a',
            '%.1f%%' % (100 * f['overload_share']) if f.get('overload_share') is not None else 'n/a',
            f['missing'], f['dead_lettered'], 'keeps up' if f['keeps_up'] else 'NOT keeping up'))
    head = '[%d/%d] %g records/s: ' % (index, total, step['rate'])
    if step.get('error'):
        return head + step['error']
    emitted = next((f['emitted_rps'] for f in step['paths'].values() if f.get('emitted_rps')), None)
    head += 'source emitted %s/s; ' % emitted
    return head + '; '.join(parts) + (
        ' (stopped after the grace period)' if step['stopped_after_grace'] else '')


def limits(steps: Sequence[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per path: the highest offered rate it kept up with before the first it did not, and why."""
    found: Dict[str, Dict[str, Any]] = {}
    for step in sorted(steps, key=lambda s: s['rate']):
        for path, figures in step.get('paths', {}).items():
            entry = found.setdefault(path, {'keeps_up_to': None, 'stops_at': None, 'why': None})
            if entry['stops_at'] is not None:
                continue
            if figures['keeps_up']:
                entry['keeps_up_to'] = step['rate']
            else:
                entry['stops_at'], entry['why'] = step['rate'], figures['why']
    return found


def machine() -> Dict[str, Any]:
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    return {'cpus': os.cpu_count(), 'load_average_1m': round(load[0], 2) if load else None}


def sweep_document(args: argparse.Namespace, passed: Sequence[str], steps: List[dict], model: Optional[dict],
                   state: str, started_at: str) -> Dict[str, Any]:
    """sweep.json: settings, the model, every finished step, where each path stops keeping up, and the cost
    curves at the sweep's rates (and the usual ones), priced from the sizes the last step measured."""
    prices = price_table.load_prices()
    basis = next((s['cost_at_rate'] for s in reversed(steps) if s.get('cost_at_rate')), None)
    row_bytes, payload = (basis['row_bytes'], basis['payload_bytes']) if basis else sizing.sample_sizes()
    response_s = basis['oic_response_s'] if basis else sizing.DEFAULT_OIC_RESPONSE_S
    batch_kb = batch_kb_of(pipeline_flags(passed))
    rates = curves.curve_rates(None, tuple(curves.CURVE_RATES) + tuple(args.rate_list))
    priced = paths.priced(sorted({p for s in steps for p in s.get('paths', {})}), CurveBasis(
        row_bytes=row_bytes, payload_bytes=payload, prices=prices, response_s=response_s, batch_kb=batch_kb))
    return {
        'started_at': started_at, 'finished_at': rec.format_timestamp(rec.utc_now()), 'state': state,
        'settings': {'rates': args.rate_list, 'seconds': args.seconds, 'p99_bound_s': args.p99_bound,
                     'keep_up_share': KEEP_UP_SHARE, 'grace_s': args.grace, 'pipeline_flags': list(passed)},
        'machine': machine(),
        'oic_model': model,
        'steps': steps,
        'limits': limits(steps),
        'cost_at_rate': {'rate': None, 'source': 'the rates of the sweep and the usual 0.1 to 1,000 records/s',
                         'oic_response_s': response_s,
                         'oic_response_source': basis['oic_response_source'] if basis else 'stated',
                         'row_bytes': row_bytes, 'payload_bytes': payload, 'oic_batch_kb': batch_kb},
        'cost_curve': curves.cost_curve(rates, priced),
        'cost_curve_points': break_even.key_points(priced),
        'prices': {k: v for k, v in prices.items() if not k.endswith('_note')},
    }


def write_outputs(out: str, document: Mapping[str, Any]) -> Tuple[str, str]:
    json_path, html_path = os.path.join(out, SWEEP_JSON), os.path.join(out, SWEEP_HTML)
    with open(json_path, 'w', encoding='utf-8') as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
    with open(html_path, 'w', encoding='utf-8') as handle:
        handle.write(render_sweep_html(document))
    return json_path, html_path


def main(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None) -> int:
    environ = os.environ if environ is None else environ
    try:
        args, passed = parse(sys.argv[1:] if argv is None else argv)
    except SweepUsage as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    started_at = rec.format_timestamp(rec.utc_now())
    stand_in = None if args.no_oic_model else find_stand_in(pipeline_flags(passed), environ)
    original, model = None, None
    if stand_in is not None:
        original = stand_in.faults()
        capacity = capacity_of(args.oic_packs, args.oic_byol, price_table.load_prices())
        stand_in.set_faults(model_settings(args, original, capacity))
        model = describe_model(args, capacity)
        print('OIC model: %s' % model['text'], flush=True)
    elif not args.no_oic_model:
        print('OIC: no local stand-in behind the OIC URL: measuring the OIC as it is', flush=True)
    steps: List[dict] = []
    state = 'done'
    try:
        for index, rate in enumerate(args.rate_list, 1):
            print('[%d/%d] %g records/s for %gs ...' % (index, len(args.rate_list), rate, args.seconds), flush=True)
            step = run_step(rate, args, passed, os.path.join(args.out, 'rate-%g' % rate), stand_in, environ)
            steps.append(step)
            print(progress_line(index, len(args.rate_list), step), flush=True)
            write_outputs(args.out, sweep_document(args, passed, steps, model, 'running', started_at))
    except KeyboardInterrupt:
        state = 'interrupted'
        print('\ninterrupted: keeping the %d finished step(s)' % len(steps), file=sys.stderr)
    finally:
        if stand_in is not None and original is not None:
            try:
                stand_in.set_faults(original)
            except requests.RequestException:
                pass
    document = sweep_document(args, passed, steps, model, state, started_at)
    json_path, html_path = write_outputs(args.out, document)
    for path, entry in document['limits'].items():
        print('%s: %s' % (path, limit_text(entry)))
    print('sweep: %s and %s' % (json_path, html_path))
    return INTERRUPTED if state == 'interrupted' else 0


if __name__ == '__main__':
    sys.exit(main())
