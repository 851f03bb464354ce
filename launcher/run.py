"""Entry point: python -m pipeline.run — validate flags, run both branches, print the comparison."""

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
from typing import Any, Callable, Mapping, NamedTuple, NoReturn, Optional, Sequence, Tuple

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions, _BeamArgumentParser
from apache_beam.runners.runner import PipelineState

from pipeline.build import build_pipeline
from pipeline.config import RunConfig, UsageError, resolve
from pipeline.path_specs import PATHS, REST, spec_of
from pipeline.rules.bigquery import grpc_paths
from pipeline.rules.run import is_dataflow
from launcher.beam_fixes import is_local, local_runner_fixes
from pipeline.options import WarehouseOptions
from pipeline.flags import DESCRIPTION, EPILOG, HELP_BEAM, PROG, help_parser, leftover_error, wants_own_help
from comparison import paths as comparison_paths
from comparison.probe import probe_for
from launcher.dry_run import describe as describe_dry_run
from launcher.interrupts import Interrupts, exit_code
from launcher.staging import quiet_setup_package
from launcher.progress import Progress
from launcher import preflight
from comparison.report import build_report, write_report
from comparison.render.terminal import format_table
from launcher.run_metrics import path_metric_lines, pipeline_metrics
from transforms.run_record import live_stats
from transforms.run_record import files as run_record
from transforms.run_record.files import clear_previous, load_run, write_run
from transforms.run_record.record_run import flush_open_writers
from transforms import records as rec
from transforms.oic.errors import OICStopError
from transforms.storage_write import GrpcClientFactory
from transforms.source.stop_signal import request_stop

INTERRUPTED = exit_code(signal.SIGINT)  # 130: Ctrl-C (drained or cancelled).
TERMINATED = exit_code(signal.SIGTERM)  # 143: SIGTERM (docker stop, systemd, timeout, CI runners).


class _UsageParser(_BeamArgumentParser):
    """Reports a bad flag value (argparse's usage screen) as one UsageError line instead."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _all_options_parser():
    """Our flags first, then every standard Beam option (the same set PipelineOptions understands): --help_beam."""
    parser = _UsageParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, allow_abbrev=False)
    WarehouseOptions._add_argparse_args(parser)  # pylint: disable=protected-access
    seen = {str(WarehouseOptions)}
    for cls in PipelineOptions.__subclasses__():
        if str(cls) not in seen:
            seen.add(str(cls))
            cls._add_argparse_args(parser)  # pylint: disable=protected-access
    return parser


def parse(argv: Sequence[str], environ: Optional[Mapping[str, str]] = None) -> Tuple[PipelineOptions, RunConfig]:
    """argv -> (PipelineOptions, RunConfig); UsageError for unknown flags or invalid values."""
    parser = _all_options_parser()
    _, unknown = parser.parse_known_args(argv)
    leftover = leftover_error(unknown)
    if leftover:
        raise UsageError(leftover)
    options = PipelineOptions(argv)
    return options, resolve(options, environ)


def _cause_of_type(err, kind):
    """The first exception of type `kind` in err's chain of causes (Beam re-raises a DoFn's error as the same type,
    its message extended with the step's name), or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, kind):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _failure_line(err):
    """One readable line for a failed pipeline: the OIC caller's own message when it stopped the run."""
    stopped = _cause_of_type(err, OICStopError)  # Refused credentials or client, or an untrusted certificate.
    if stopped is not None:
        return str(stopped).split(' [while running', 1)[0].splitlines()[0]
    text = str(err)
    return '%s: %s' % (type(err).__name__, text.strip().splitlines()[-1][:300] if text.strip() else '')


def _is_interrupt(err):
    """True for Ctrl-C, also when Beam re-raised it from inside a DoFn as another error."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, KeyboardInterrupt) or str(err).startswith('KeyboardInterrupt'):
            return True
        err = err.__cause__ or err.__context__
    return False


def _describe_in_flight(config) -> Callable[[], str]:
    """A function giving '12 OIC requests on the wire, 3 records not yet settled' from each run path's live stats
    (those whose caller keeps them), for the drain messages."""
    def describe() -> str:
        lines = []
        for path in config.paths:
            live = live_stats.read(config.out, path)
            if live:
                waiting = live['sent'] - live['acked'] - live['dead']
                lines.append('%d %s requests on the wire, %d records not yet settled' % (
                    max(live['in_flight'], 0), comparison_paths.of(path).label, waiting))
        return '; '.join(lines)
    return describe


class Executed(NamedTuple):
    """How a run ended."""
    state: str
    wall_s: float
    stopped_code: Optional[int]  # The exit code of the signal that stopped it (130, 143), or None.
    dry_run: str  # What a --dry_run built (launcher/dry_run.py), else ''.


def execute(options: PipelineOptions, config: RunConfig) -> Executed:
    """Runs the pipeline, keeping run.json current. A local run drains on the first Ctrl-C/SIGTERM and is cancelled
    on the second."""
    local = run_record.is_local(config.out)
    if local:
        clear_previous(config.out, PATHS)  # every declared path's, not only this run's
        live_stats.forget(config.out)  # An earlier run in this process that wrote to the same directory.
    started = rec.utc_now()
    run = dataclasses.replace(config.describe(), started_at=rec.format_timestamp(started), state='RUNNING')
    # A --dry_run (Dataflow job built offline, nothing submitted) leaves no run record behind.
    dry_run = bool(options.view_as(TestOptions).dry_run)
    record = (lambda *_: None) if dry_run else write_run
    built = ''
    record(config.out, run)
    pipeline = build_pipeline(options, config)
    # A long local stream: flat memory, no busy loop (see launcher/beam_fixes.py); Beam's code is back after the run.
    fixes = local_runner_fixes() if is_local(config.runner) else quiet_setup_package()
    # Only a local run with a local run directory can drain (its sources watch the stop file); any other run is
    # cancelled by the first Ctrl-C, as before.
    can_drain = local and is_local(config.runner)
    interrupts = Interrupts((lambda: request_stop(config.out)) if can_drain else None, config.launch.drain_timeout,
                            _describe_in_flight(config))
    clock = time.monotonic()
    state = 'FAILED'
    try:
        with fixes, interrupts, Progress(config.out, config.paths) if local else _NoProgress(), \
                probe_for(config.out, run, local):
            result = None
            try:
                # The local runner runs the whole pipeline inside run(); Dataflow returns once the job is submitted.
                result = pipeline.run()
                # --no_wait_until_finish: submit and return (a Flex Template launcher, a Dataflow stream).
                no_wait = options.view_as(StandardOptions).no_wait_until_finish
                state = (result.state if no_wait else result.wait_until_finish()) or PipelineState.DONE
            except (KeyboardInterrupt, Exception) as err:  # Cancelled: stop, then report what got through.
                if not _is_interrupt(err):
                    raise
                print('\ncancelled: the pipeline stops where it is; records in flight are listed after the '
                      'comparison', file=sys.stderr)
                if result is not None:
                    result.cancel()
                flush_open_writers()  # the lines of records still in flight, for the report to name
                state = PipelineState.CANCELLED
            if interrupts.signum is not None and state == PipelineState.DONE:
                state = PipelineState.DRAINED  # Stopped early on request, everything handed to a path settled.
            if result is not None and dry_run:
                built = describe_dry_run(result, options)
            elif result is not None:
                run = dataclasses.replace(run, metrics=pipeline_metrics(result))
    except KeyboardInterrupt:  # Cancelled outside the runner's own call (between steps of the launcher).
        state = PipelineState.CANCELLED
    finally:
        wall = time.monotonic() - clock
        run = dataclasses.replace(run, state=str(state), finished_at=rec.format_timestamp(rec.utc_now()),
                                  wall_s=round(wall, 3))
        if local:
            live_stats.forget(config.out)  # The caller's counts are in the run record now.
        if interrupts.signum is not None:
            run = dataclasses.replace(run, stopped_by=signal.Signals(interrupts.signum).name, drain={
                'timeout_s': config.launch.drain_timeout, 'timed_out': interrupts.drain_timed_out,
                'cancelled': interrupts.cancelled})
        record(config.out, run)
    return Executed(state, wall, interrupts.exit_code, built)


def uses_rest_emulator(config: RunConfig) -> bool:
    """Whether the run calls BigQuery's REST address (the emulator's, on the local stack): a run path whose
    declaration writes its table through it (pipeline/path_specs.py), the landed check and the probe reading the
    tables back, dead letters written to a table, or the run record streamed to its dataset."""
    bigquery = config.bigquery
    return (any(spec_of(path).writes_through == REST for path in config.paths) or bigquery.landed_check
            or bigquery.dead_letter_table is not None or bigquery.run_record_dataset is not None)


def run_preflight(options: PipelineOptions, config: RunConfig) -> int:
    """Checks that this machine reaches what the run will call (OIC, the BigQuery emulator's REST address, and the
    table of each run path written through the Storage Write API, read through its gRPC address); 2 when it cannot
    on a local run, 0 otherwise. On Dataflow an unreachable endpoint is a warning: the workers may sit on another
    network. A dry run contacts nothing."""
    if not config.launch.preflight or options.view_as(TestOptions).dry_run:
        return 0
    bigquery, oic = config.bigquery, config.oic
    through_grpc = grpc_paths(config.paths)
    endpoints = preflight.endpoints_of(
        oic.url if oic else None, bigquery.emulator_host if uses_rest_emulator(config) else None,
        oic.ca_bundle if oic else None, oic.token_url if oic and oic.auth == 'oauth' else None,
        bigquery.emulator_grpc_host if through_grpc else None)
    problems = preflight.check_all(endpoints)[:1]  # One line: the first endpoint that cannot be reached.
    for path in through_grpc:  # its table's schema, read through the Storage Write API
        table = bigquery.table(path)
        if problems or table is None:
            continue
        schema_problem = preflight.storage_write_schema_problem(
            str(table), '--' + spec_of(path).table_flag, rec.BIGQUERY_SCHEMA,
            GrpcClientFactory(bigquery.emulator_grpc_host, timeout_s=10.0))
        problems = [schema_problem] if schema_problem else []
    if not problems:
        return 0
    if is_dataflow(config.runner):
        for line in problems:
            print('warning: %s from this machine; submitting anyway, since Dataflow workers may reach it '
                  '(--skip_preflight skips this check)' % line, file=sys.stderr)
        return 0
    for line in problems:
        hint = ' (--oic_ca_bundle FILE names the CAs to trust)' if 'TLS certificate not trusted' in line else ''
        print('error: %s%s' % (line, hint), file=sys.stderr)
    return 2


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if HELP_BEAM in argv:  # Every flag, Beam's standard options included.
        _all_options_parser().print_help()
        return 0
    if wants_own_help(argv):  # The project's flags by group, and how to see Beam's.
        help_parser().print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    try:
        options, config = parse(argv)
    except UsageError as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    try:
        if run_preflight(options, config):
            return 2
    except KeyboardInterrupt:  # Before anything ran: nothing to drain or report.
        print('\ninterrupted', file=sys.stderr)
        return INTERRUPTED
    print('run %s: %s, paths %s, %s' % (
        config.run_id, config.runner, ','.join(config.paths),
        'file %s' % config.source.input if config.source.input else
        '%s records' % (config.source.records if config.source.records else 'unbounded') +
        (' at %g/s' % config.source.rate if config.source.rate else ' as fast as possible')), file=sys.stderr)
    try:
        state, _, stopped_code, built = execute(options, config)
    except Exception as err:  # The pipeline failed: one line here; Beam has logged the details above.
        print('error: pipeline failed: %s' % _failure_line(err), file=sys.stderr)
        return 1
    code = stopped_code or 0
    if built:
        print(built)
        return code
    if not run_record.is_local(config.out) or is_dataflow(config.runner):
        print('pipeline %s; compare later with python -m pipeline.compare --out %s' % (state, config.out))
        return code
    try:
        report = build_report(config.out)
        write_report(config.out, report)
    except KeyboardInterrupt:  # Once more while the report is read from BigQuery: the run record stays.
        print('\nreport interrupted; python -m pipeline.compare --out %s builds it later' % config.out,
              file=sys.stderr)
        return code or INTERRUPTED
    print(format_table(report))
    if state == PipelineState.CANCELLED:
        print(format_in_flight(report))
    for line in path_metric_lines(config.paths, load_run(config.out).metrics or {}):
        print(line)
    print('run record and report.json in %s/' % config.out.rstrip('/'))
    return code


IN_FLIGHT_SHOWN = 20


def format_in_flight(report: dict) -> str:
    """What a cancelled run left in flight, per path: the records handed to it and never settled, by record_id."""
    lines = []
    for path, result in report['paths'].items():
        ids = result.get('in_flight_ids')
        if ids is None:
            continue
        if not ids:
            lines.append('%s: nothing was in flight when the run was cancelled' % path)
            continue
        lines.append('%s: %d records were in flight when the run was cancelled (handed to the path, neither %s '
                     'nor dead-lettered%s):' % (
                         path, len(ids), 'acknowledged' if not result.get('acked_is_derived') else 'landed',
                         '; the first %d, all in report.json' % IN_FLIGHT_SHOWN if len(ids) > IN_FLIGHT_SHOWN
                         else ''))
        lines.extend('  %s' % record_id for record_id in ids[:IN_FLIGHT_SHOWN])
    return '\n'.join(lines)


def cli() -> None:
    """`python -m pipeline.run`: main(), then exit with its code."""
    code = main()
    if code in (INTERRUPTED, TERMINATED):
        # The local runner's worker threads outlive a cancelled run and would keep the process up.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == '__main__':
    cli()
