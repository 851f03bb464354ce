"""Soak: a long streaming run through both paths on its own local stack, watching the memory of the pipeline and OIC."""

import argparse
import collections
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

from devstack.testing import running_stack

MB = 1024 * 1024
# One sample every --interval seconds; the CSV's columns too.
Sample = collections.namedtuple('Sample', 't_s streaming pipeline_rss_bytes oic_rss_bytes emulator_rss_bytes '
                                          'pipeline_cpu_s oic_cpu_s emulator_cpu_s')
# (label, field prefix in Sample, judged against --max_growth_mb)
WATCHED = (('pipeline (+children)', 'pipeline', True), ('local OIC', 'oic', True),
           ('BigQuery emulator', 'emulator', False))


def rss(pid):
    """Resident memory of a process and all its descendants, in bytes (0 once it is gone)."""
    try:
        process = psutil.Process(pid)
        family = [process] + process.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in family:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return round(times.user + times.system, 2)


def cpu_share(samples, prefix, warmup_s):
    """Mean share of one core a process used between the first and last sample after the warm-up, in %."""
    kept = [(s.t_s, getattr(s, prefix + '_cpu_s')) for s in samples if s.t_s >= warmup_s]
    kept = [(t, cpu) for t, cpu in kept if cpu]
    if len(kept) < 2 or kept[-1][0] <= kept[0][0]:
        return None
    return 100.0 * (kept[-1][1] - kept[0][1]) / (kept[-1][0] - kept[0][0])


def streaming(out):
    """True while the pipeline's run record says RUNNING (after that it reads BigQuery back and writes the report)."""
    try:
        with open(os.path.join(out, 'run.json')) as handle:
            return json.load(handle).get('state') == 'RUNNING'
    except (OSError, ValueError):  # Not written yet, or caught mid-write: count it as part of the stream.
        return True


def summarise(samples, warmup_s):
    """(start, peak, end, growth) in MB of (t, bytes) samples after the warm-up; start and end are medians of the
    first and last three samples so that one garbage-collection swing does not decide the verdict."""
    kept = [b for t, b in samples if t >= warmup_s and b] or [b for _, b in samples if b]
    if not kept:
        return None
    start, end = statistics.median(kept[:3]) / MB, statistics.median(kept[-3:]) / MB
    return start, max(kept) / MB, end, end - start


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.soak', description=__doc__)
    parser.add_argument('--minutes', type=float, default=10.0, help='length of the stream (default 10)')
    parser.add_argument('--rate', type=float, default=100.0, help='records per second (default 100)')
    parser.add_argument('--warmup', type=float, default=60.0,
                        help='seconds of start-up not counted in the memory growth (default 60; at most a quarter '
                             'of the run)')
    parser.add_argument('--interval', type=float, default=5.0, help='seconds between memory samples (default 5)')
    parser.add_argument('--oic_acks_only', action='store_true', default=False,
                        help='the OIC stand-in acknowledges without inserting into the emulator (by default it inserts '
                             'each row, as in ./run_local.sh; the OIC path is then checked by acknowledgements)')
    parser.add_argument('--paths', default='oic,direct', help='the paths to soak (default both)')
    parser.add_argument('--probe_interval', type=float, default=0.0,
                        help="the pipeline's time-to-queryable probe (default 0 = off: its queries of ever larger "
                             'tables compete with the inserts for the emulator)')
    parser.add_argument('--max_growth_mb', type=float, default=50.0, help='allowed RSS growth (default 50 MB)')
    parser.add_argument('--pipeline_args', default='', help='extra pipeline flags, e.g. "--oic_concurrency_mode fixed"')
    parser.add_argument('--out', default=None, help='keep the run record, samples and logs here (default: a '
                                                    'temporary directory, removed at the end)')
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        parser.error('--minutes, --rate and --interval must be positive')
    return args


def soak(args, work):
    records = int(round(args.minutes * 60 * args.rate))
    warmup = min(args.warmup, args.minutes * 60 / 4)
    out = os.path.join(work, 'out')
    load_start = os.getloadavg()[0]
    print('soak: %g min at %g/s (%d records), paths %s; warm-up %gs, RSS sampled every %gs; load average %.2f'
          % (args.minutes, args.rate, records, args.paths, warmup, args.interval, load_start), flush=True)
    with running_stack(os.path.join(work, 'stack'), oic_sink=not args.oic_acks_only) as stack:
        oic_pid, bq_pid = stack.pids()['oic'], stack.pids()['bigquery']
        env = dict(os.environ, **stack.env())
        argv = [sys.executable, '-m', 'launcher.run', '--streaming', '--rate', str(args.rate),
                '--records', str(records), '--out', out, '--probe_interval', str(args.probe_interval),
                '--paths', args.paths] + args.pipeline_args.split()
        if args.oic_acks_only:
            argv += ['--oic_table', '']  # Nothing to look up: the OIC path is reconciled by acknowledgements.
        log_path = os.path.join(work, 'pipeline.log')
        started = time.monotonic()
        with open(log_path, 'wb') as log:
            # Ctrl-C must reach the pipeline even when this runs in the background (where SIGINT starts ignored).
            pipeline = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            samples, loads = [], []
            deadline = started + args.minutes * 60 * 3 + 300
            try:
                while pipeline.poll() is None:
                    t = time.monotonic() - started
                    samples.append(Sample(round(t, 1), streaming(out), rss(pipeline.pid), rss(oic_pid), rss(bq_pid),
                                          cpu_seconds(pipeline.pid), cpu_seconds(oic_pid), cpu_seconds(bq_pid)))
                    loads.append(os.getloadavg()[0])
                    if len(samples) % max(1, int(60 / args.interval)) == 0:
                        print('[%5.0fs] pipeline %.0f MB, OIC %.0f MB, BigQuery emulator %.0f MB, load %.2f'
                              % (t, samples[-1].pipeline_rss_bytes / MB, samples[-1].oic_rss_bytes / MB,
                                 samples[-1].emulator_rss_bytes / MB, loads[-1]),
                              flush=True)
                    if time.monotonic() > deadline:
                        print('soak: the pipeline overran 3x its planned time; stopping it', file=sys.stderr)
                        pipeline.send_signal(signal.SIGINT)
                        break
                    try:
                        pipeline.wait(timeout=args.interval)
                    except subprocess.TimeoutExpired:
                        pass
            except KeyboardInterrupt:  # The pipeline cancels, still writes its report; the figures so far print.
                print('soak: interrupted; stopping the pipeline', file=sys.stderr)
                pipeline.send_signal(signal.SIGINT)
            finally:
                code = pipeline.wait()
        wall = time.monotonic() - started
    with open(os.path.join(work, 'samples.csv'), 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(Sample._fields)
        writer.writerows(samples)
    return report_and_verdict(args, out, code, wall, warmup, samples, [load_start] + loads, log_path)


def report_and_verdict(args, out, code, wall, warmup, samples, loads, log_path):
    failures = []
    print('\npipeline exit code %d, wall time %.0f s (stream planned %.0f s); load average mean %.2f, max %.2f'
          % (code, wall, args.minutes * 60, statistics.mean(loads), max(loads)))
    stream = [sample for sample in samples if sample.streaming]
    print('RSS while streaming, after the warm-up (judged; the report phase after the stream is shown apart)')
    print('%-22s %9s %9s %9s %9s' % ('MB', 'start', 'peak', 'end', 'growth'))
    for name, prefix, judged in WATCHED:
        figures = summarise([(s.t_s, getattr(s, prefix + '_rss_bytes')) for s in stream], warmup)
        if figures is None:
            if judged:
                failures.append('no memory samples of %s' % name)
            continue
        print('%-22s %9.1f %9.1f %9.1f %+9.1f' % ((name,) + figures)
              + ('' if judged else '  (not judged: stands in for BigQuery)'))
        if judged and figures[3] >= args.max_growth_mb:
            failures.append('%s grew %.1f MB (limit %g)' % (name, figures[3], args.max_growth_mb))
    shares = [(name.split(' (')[0], cpu_share(stream, prefix, warmup)) for name, prefix, _ in WATCHED]
    print('CPU while streaming, share of one core: ' + ', '.join('%s %.0f%%' % (name, share)
                                                                for name, share in shares if share is not None))
    after = [s.pipeline_rss_bytes for s in samples if not s.streaming and s.pipeline_rss_bytes]
    if after:
        print('report phase (reads BigQuery back, reconciles): pipeline peak %.1f MB over %d s'
              % (max(after) / MB, len(after) * args.interval))
    report_path = os.path.join(out, 'report.json')
    if code != 0:
        failures.append('the pipeline exited with %d (see %s)' % (code, log_path))
    if not os.path.exists(report_path):
        failures.append('no report.json')
    else:
        report = json.load(open(report_path))
        row = '%-13s %8s %8s %8s %8s %8s %10s %8s'
        print(row % ('path', 'sent', 'acked', 'landed', 'missing', 'dead', 'duplicates', 'rows/s'))
        for path, result in sorted(report.get('paths', {}).items()):
            rps = result.get('throughput_rps')
            print(row % ((path,) + tuple(result.get(key) for key in (
                'sent', 'acked', 'landed', 'missing', 'dead_lettered', 'duplicates')) + (
                '-' if rps is None else '%.1f' % rps,)))
            if result.get('missing'):
                failures.append('%s: %d records missing' % (path, result['missing']))
    print('PASS' if not failures else 'FAIL: ' + '; '.join(failures))
    return 0 if not failures else 1


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        return soak(args, os.path.abspath(args.out))
    with tempfile.TemporaryDirectory(prefix='soak-') as work:
        return soak(args, work)


if __name__ == '__main__':
    sys.exit(main())
