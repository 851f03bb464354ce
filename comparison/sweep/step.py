"""Running one sweep step: `python -m pipeline.run --streaming --rate R --records R×seconds` as a subprocess (every
other flag given to the sweep passed on), stopped (Ctrl-C, as a user would) `--grace` seconds after its last record
was due, counted from the moment its pipeline shows it is running; then measured from its report and run record."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from comparison.report import read_probe
from comparison.sweep.judging import measure_path
from devstack.oic.admin_client import AdminClient
from pipeline.options import WarehouseOptions
from transforms.run_record import files as run_record
from transforms.run_record.files import load_run

REPORT_WAIT_S = 120.0  # After a step is stopped, its run gets this long to write its report.
# A step's pipeline gets this long to start (imports, the runner, the first bundle): its grace counts from the moment
# it shows it is running (a caller's live stats file, or the probe's first sighting), not from its process start,
# so a slow or busy machine does not cut a step short.
STARTUP_WAIT_S = 300.0


def pipeline_flags(passed: Sequence[str]) -> WarehouseOptions:
    """The flags passed on to every step, read by the pipeline's own parser (pipeline/options.py): typed
    attributes, no argv scanning."""
    return PipelineOptions(list(passed)).view_as(WarehouseOptions)


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
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
