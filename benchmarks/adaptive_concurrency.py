"""python -m benchmarks.adaptive_concurrency — the adaptive OIC caller against a capped stand-in whose cap changes.

The pipeline runs as a user would (`python -m pipeline.run --paths oic`, DirectRunner, no concurrency flag) against
the local OIC stand-in with a fixed service time, a concurrency cap that changes through the admin API while the
job runs (24 -> 12 -> 24 by default, 20 s each) and 429 without Retry-After above the cap. Printed per phase:
delivered records/s after the phase's first 5 s as a share of cap / service time, the share of 429s among the
requests, the workers' limit (median), Jain's index of the records each worker process delivered (from the callers'
live stats files, written about once a second), then dead letters and acknowledgement latency p99 / max.

    .venv/bin/python -m benchmarks.adaptive_concurrency                       # 24 -> 12 -> 24, 100 ms
    .venv/bin/python -m benchmarks.adaptive_concurrency --workers 4 --caps 64 --phase_s 30 --service_ms 50
    .venv/bin/python -m benchmarks.adaptive_concurrency --over_capacity queue    # requests above the cap wait
    # A jittery OIC (lognormal service times around the median, 0.5% outliers at 10x), uncapped, against a fixed 64:
    .venv/bin/python -m benchmarks.adaptive_concurrency --caps 0 --ideal 64 --phase_s 30 --service_sigma 0.5 \
        --outlier_rate 0.005 --against_fixed 64
    # The job's budget held by four processes (issue 29): a total of 16, fixed, against one process with 16:
    .venv/bin/python -m benchmarks.adaptive_concurrency --workers 4 --caps 64 --phase_s 30 --service_ms 50 \
        --records 10080 --pipeline_args "--oic_concurrency_mode fixed --oic_concurrency 16" --against_workers 1

The run line ends with the stand-in's peak of requests in flight (the most it held at once; under a cap it counts
the admitted ones, uncapped every one) and each worker process's share of the budget from run.json.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Tuple

from benchmarks import machine
from devstack.testing import running_stack
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.files import load_run

SETTLE_S = 5.0  # each phase is judged after its first seconds


def read_jsonl(pattern: str) -> List[dict]:
    rows = []
    for path in glob.glob(pattern):
        with open(path) as lines:
            rows.extend(json.loads(line) for line in lines if line.strip())
    return rows


def percentile(values: List[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float('nan')


def jain(values: List[float]) -> float:
    squares = sum(v * v for v in values)
    return sum(values) ** 2 / (len(values) * squares) if squares else 1.0


def acked_per_worker(out: str) -> Dict[int, int]:
    """Records each worker process has acknowledged so far, from the caller's live stats files (written about once
    a second by every process: transforms/run_record/live_stats.py)."""
    counts = {}
    for name, pid in run_record.live_stats_files(out, 'oic'):
        try:
            with open(name, encoding='utf-8') as handle:
                counts[pid] = json.load(handle).get('acked', 0)
        except (OSError, ValueError):
            continue
    return counts


class Phases(threading.Thread):
    """Waits for the first request, then sets each cap in turn for phase_s seconds; snapshots the stand-in's
    counters at each boundary, and each worker's acknowledged records when the judged part of a phase starts and
    ends (for Jain's index of what the workers delivered)."""

    def __init__(self, stack, out: str, caps: List[int], phase_s: float, done: threading.Event):
        super().__init__(daemon=True)
        self.stack, self.out, self.caps, self.phase_s, self.done = stack, out, caps, phase_s, done
        self.bounds: List[float] = []  # wall-clock start of each phase, then the end of the last
        self.stats: List[dict] = []
        self.settled_stats: List[dict] = []  # the stand-in's counters when the judged part of each phase starts
        self.delivered: List[Tuple[Dict[int, int], Dict[int, int]]] = []  # per phase: (after settling, at its end)

    def run(self):
        while self.stack.stats()['requests'] == 0 and not self.done.is_set():
            time.sleep(0.05)
        for cap in self.caps:
            if self.done.is_set():
                break
            self.stack.update_faults({'max_concurrency': cap})
            self.bounds.append(time.time())
            self.stats.append(self.stack.stats())
            self.done.wait(min(SETTLE_S, self.phase_s))
            settled = acked_per_worker(self.out)
            self.settled_stats.append(self.stack.stats())
            self.done.wait(max(0.0, self.phase_s - SETTLE_S))
            self.delivered.append((settled, acked_per_worker(self.out)))
        self.bounds.append(time.time())
        self.stats.append(self.stack.stats())


def run_pipeline(stack, out: str, records: int, workers: int, extra: List[str]) -> int:
    argv = [sys.executable, '-m', 'pipeline.run', '--paths', 'oic', '--records', str(records), '--out', out,
            '--oic_url', stack.oic_url, '--oic_username', stack.username, '--no_landed_check'] + extra
    if workers > 1:
        argv += ['--direct_running_mode=multi_processing', '--direct_num_workers=%d' % workers]
    env = dict(os.environ, **stack.monitoring_env())  # the password, and the monitoring check's OAuth client
    return subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False).returncode


def summarise(out: str, phases: Phases, caps: List[int], service_s: float, ideal: int) -> Dict:
    acks = read_jsonl(os.path.join(out, 'oic', 'acks-*.jsonl'))
    dead = read_jsonl(os.path.join(out, 'oic', 'dead_letters-*.jsonl'))
    limits = read_jsonl(os.path.join(out, 'oic', 'limits-*.jsonl'))
    ack_times = [rec.parse_timestamp(a['ack_time']).timestamp() for a in acks]
    rows = []
    for index, cap in enumerate(caps):
        if index + 1 >= len(phases.bounds):
            break
        start, end = phases.bounds[index], phases.bounds[index + 1]
        judged = [t for t in ack_times if start + SETTLE_S <= t < end]
        span = max(1e-9, min(end, max(ack_times, default=end)) - (start + SETTLE_S))
        before, after = phases.stats[index], phases.stats[index + 1]
        requests = after['requests'] - before['requests']
        refused = after['by_status'].get('429', 0) - before['by_status'].get('429', 0)
        in_phase = [s['limit'] for s in limits
                    if start + SETTLE_S <= rec.parse_timestamp(s['time']).timestamp() < end]
        shares: List[float] = []
        if index < len(phases.delivered):  # what each worker delivered in the judged part of the phase
            settled, ended = phases.delivered[index]
            shares = [float(ended[pid] - settled.get(pid, 0)) for pid in ended]
        # The mean RTT over the service time in the judged part (the stand-in's queue waits; queueing mode only).
        rtt = None
        if index < len(phases.settled_stats):
            settled_stats = phases.settled_stats[index]
            served = after['requests'] - settled_stats['requests']
            waited = after.get('queue_wait_s', 0.0) - settled_stats.get('queue_wait_s', 0.0)
            rtt = 1 + waited / max(1, served) / service_s
        rows.append({'cap': cap, 'rate': len(judged) / span, 'rtt': rtt,
                     'share': len(judged) / span / ((cap or ideal) / service_s),
                     'requests': requests, 'refused': refused / max(1, requests),
                     'limit': statistics.median(in_phase) if in_phase else None,
                     'jain': jain(shares) if shares else None,
                     'workers': len(shares), 'per_worker': sorted(int(v) for v in shares)})
    latencies = [a['latency_ms'] / 1000.0 for a in acks]
    return {'phases': rows, 'acked': len(acks), 'dead': len(dead), 'p99': percentile(latencies, 0.99),
            'max': max(latencies, default=float('nan')),
            'workers_posting': len({s['worker'] for s in limits})}


def process_share(out: str) -> str:
    """'N processes post, C in flight (or a ceiling of C) and R/s each' from the run's run.json."""
    try:
        oic = load_run(out).oic
    except (OSError, ValueError, TypeError):
        return 'run.json unreadable'
    if oic is None:
        return 'no OIC path in this run'
    return '%s of %s: %s process(es) post, %s each' % (
        oic.concurrency_mode, oic.concurrency, oic.posting_processes, oic.process_concurrency)


def run_scenario(args, faults: Dict, records: int, flags: List[str], service_s: float, workers: int):
    """One run of the pipeline against a fresh stand-in with `faults`, the caps changing per phase."""
    with tempfile.TemporaryDirectory(prefix='adaptive-bench-') as state, \
            running_stack(state, faults=faults, with_bigquery=False) as stack:
        out = os.path.join(state, 'run')
        done = threading.Event()
        phases = Phases(stack, out, args.caps, args.phase_s, done)
        phases.start()
        started = time.monotonic()
        code = run_pipeline(stack, out, records, workers, flags)
        wall = time.monotonic() - started
        done.set()
        phases.join(timeout=30)
        result = summarise(out, phases, args.caps, service_s, args.ideal)
        result.update(wall=wall, total=stack.stats(), share=process_share(out))
    return result, code


def print_result(label: str, result: Dict, queueing: bool, code: int) -> None:
    total = result['total']
    print('-- %s' % label)
    print('%-6s %5s %10s %9s %9s %8s %7s %5s%s' % ('phase', 'cap', 'records/s', 'of ideal', 'requests', '429s',
                                                  'limit', 'jain', '  mean RTT / service' if queueing else ''))
    for index, row in enumerate(result['phases']):
        print('%-6d %5d %10.1f %8.0f%% %9d %7.2f%% %7s %5s%s' % (
            index + 1, row['cap'], row['rate'], 100 * row['share'], row['requests'], 100 * row['refused'],
            '-' if row['limit'] is None else '%g' % row['limit'],
            '-' if row['jain'] is None or row['workers'] < 2 else '%.2f' % row['jain'],
            '  %.2f' % row['rtt'] if queueing and row['rtt'] is not None else ''))
    for index, row in enumerate(result['phases']):
        if row['workers'] > 1:
            print('phase %d, records each worker delivered after its first %g s: %s' % (
                index + 1, SETTLE_S, ' / '.join(map(str, row['per_worker']))))
    print('run: exit %d, %.1f s, %d acknowledged, %d dead letters, ack latency p99 %.2f s / max %.2f s, 429s %.2f%% '
          'of %d requests, %d worker(s) posted, peak %d in flight at the stand-in; budget %s' % (
              code, result['wall'], result['acked'], result['dead'], result['p99'], result['max'],
              100 * total['by_status'].get('429', 0) / max(1, total['requests']), total['requests'],
              result['workers_posting'], total.get('max_in_flight', -1), result['share']))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.adaptive_concurrency', description=__doc__.split('\n')[0])
    parser.add_argument('--caps', type=int, nargs='+', default=[24, 12, 24], help='cap of each phase (24 12 24)')
    parser.add_argument('--phase_s', type=float, default=20.0, help='seconds per phase (20)')
    parser.add_argument('--service_ms', type=int, default=100, help='the stand-in\'s service time (100)')
    parser.add_argument('--workers', type=int, default=1, help='DirectRunner worker processes (1)')
    parser.add_argument('--ideal', type=int, default=0,
                        help='requests in flight the ideal rate assumes in a phase with no cap (cap 0)')
    parser.add_argument('--over_capacity', choices=('reject', 'queue'), default='reject',
                        help='above the cap the stand-in answers 429 (reject) or makes requests wait (queue)')
    parser.add_argument('--service_sigma', type=float, default=0.0,
                        help='lognormal sigma of the stand-in\'s service times around --service_ms (0: constant)')
    parser.add_argument('--outlier_rate', type=float, default=0.0,
                        help='share of requests served 10x slower (the stand-in\'s outlier_rate)')
    parser.add_argument('--against_fixed', type=int, default=0, metavar='N',
                        help='then run the same scenario with --oic_concurrency_mode fixed --oic_concurrency N and '
                             'print each phase\'s records/s as a share of the fixed run\'s')
    parser.add_argument('--against_workers', type=int, default=0, metavar='N',
                        help='then run the same scenario and flags with N worker processes and print each phase\'s '
                             'records/s as a share of that run\'s')
    parser.add_argument('--records', type=int, default=0,
                        help='records to send (default: enough to keep every phase busy at its cap, and 5%% more)')
    parser.add_argument('--pipeline_args', default='', help='extra pipeline flags, e.g. "--oic_concurrency_mode '
                                                            'fixed --oic_concurrency 16"')
    args = parser.parse_args(argv)
    service_s = args.service_ms / 1000.0
    # Enough records to keep every phase busy at its cap, and a little more.
    if 0 in args.caps and not args.ideal:
        parser.error('a phase without a cap (0) needs --ideal')
    records = args.records or int(sum((cap or args.ideal) / service_s * args.phase_s for cap in args.caps) * 1.05)
    if args.service_sigma or args.outlier_rate:  # the stand-in's service-time model (devstack/oic/faults.py)
        faults = {'service_ms': args.service_ms, 'service_sigma': args.service_sigma,
                  'outlier_rate': args.outlier_rate, 'seed': 1}
    else:
        faults = {'latency_ms': args.service_ms}
    faults.update({'max_concurrency': args.caps[0], 'retry_after': None, 'over_capacity': args.over_capacity})
    if args.against_fixed and args.against_workers:
        parser.error('--against_fixed and --against_workers are exclusive')
    label = 'adaptive' if not args.pipeline_args else args.pipeline_args
    runs = [('%s, %d process(es)' % (label, args.workers), args.pipeline_args.split(), args.workers)]
    if args.against_fixed:
        runs.append(('fixed %d' % args.against_fixed,
                     ['--oic_concurrency_mode', 'fixed', '--oic_concurrency', str(args.against_fixed)], args.workers))
    if args.against_workers:
        runs.append(('%s, %d process(es)' % (label, args.against_workers), args.pipeline_args.split(),
                     args.against_workers))
    print(machine.describe())
    print('stand-in: %d ms %s, caps %s (%g s each), %s; %d records, %d worker process(es)' % (
        args.service_ms, 'median service time, lognormal sigma %g, %g%% at 10x' % (
            args.service_sigma, 100 * args.outlier_rate) if 'service_ms' in faults else 'service time',
        ' -> '.join(map(str, args.caps)), args.phase_s,
        'requests above the cap wait (queue)' if args.over_capacity == 'queue' else '429 without Retry-After',
        records, args.workers))
    results = []
    code = 0
    for label, flags, workers in runs:
        result, run_code = run_scenario(args, faults, records, flags, service_s, workers)
        code = code or run_code
        results.append(result)
        print_result(label, result, args.over_capacity == 'queue', run_code)
    if len(results) == 2:
        print('%s / %s, records/s per phase: %s' % (runs[0][0], runs[1][0], ' / '.join(
            '%.2f' % (a['rate'] / f['rate']) if f['rate'] else '-'
            for a, f in zip(results[0]['phases'], results[1]['phases']))))
    return 0 if code == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
