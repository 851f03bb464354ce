"""Two fixes for Beam's local runner (FnApiRunner) that make a long local stream cheap: flat memory, idle CPU.

1. Memory. FnApiRunner.run_stages keeps each stage's metrics as

       monitoring_infos_by_stage[stage] = consolidate(chain(bundle.monitoring_infos, monitoring_infos_by_stage[stage]))

   and `monitoring_infos.consolidate` is a generator: nothing is consolidated until the run ends, so every bundle adds
   one more unevaluated generator to a chain that holds every bundle's response alive. A stream on the local runner
   is an endless series of bundles, so the process grew 7 MB/s whatever the record rate
   (`python -m benchmarks.runner_memory --without_fix`). Consolidating eagerly gives the same metrics, one entry per
   metric, and the same stream stays flat.

2. CPU. An unbounded source (PeriodicSequence, ours) emits what is due and asks to be resumed when the next element is
   due (a residual with `requested_time_delay`). FnApiRunner ignores the delay and re-runs the residual at once, a
   few hundred empty bundles a second: half a core for a stream of one record a second. After such a bundle, when
   nothing else is ready to run, the runner now waits for the requested delay (at most MAX_IDLE_WAIT_S) first.

Only the process that runs the local runner needs these; Dataflow never runs FnApiRunner, so they are applied from
`pipeline.run` for DirectRunner runs and never on workers.
"""

import logging
import time

_LOG = logging.getLogger(__name__)
MAX_IDLE_WAIT_S = 0.1  # The synthetic source's tick: a record due sooner is never waited past.


def _eager_consolidate(metrics, key=None):
    from apache_beam.metrics import monitoring_infos
    return list(monitoring_infos.consolidate(metrics, key or monitoring_infos.to_key))


def resume_delay_s(response):
    """Seconds until the earliest residual of a bundle wants to resume; 0 when one wants to resume at once or when
    the bundle left no residual (a ProcessBundleResponse's residual_roots carry the SDK's requested_time_delay)."""
    delays = [root.requested_time_delay.seconds + root.requested_time_delay.nanos / 1e9
              for root in response.process_bundle.residual_roots]
    return max(0.0, min(delays)) if delays else 0.0


def _pacing(execute_bundle):
    def execute_bundle_then_wait(self, runner_execution_context, bundle_context_manager, bundle_input):
        response = execute_bundle(self, runner_execution_context, bundle_context_manager, bundle_input)
        delay = resume_delay_s(response)
        # Only the residual just queued is ready: nothing else would run in the meantime.
        if delay and len(runner_execution_context.queues.ready_inputs) <= 1:
            time.sleep(min(delay, MAX_IDLE_WAIT_S))
        return response
    execute_bundle_then_wait.paces_residuals = True
    return execute_bundle_then_wait


def apply_fixes():
    """Applies both fixes to FnApiRunner; idempotent. Returns True if both are in place."""
    from apache_beam.metrics import monitoring_infos
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    applied = True
    current = getattr(fn_runner, 'consolidate_monitoring_infos', None)
    if current is monitoring_infos.consolidate:
        fn_runner.consolidate_monitoring_infos = _eager_consolidate
    elif current is not _eager_consolidate:
        # A Beam release that changed this code: leave it alone rather than patch something we have not read.
        _LOG.warning('Beam\'s FnApiRunner no longer uses monitoring_infos.consolidate; memory fix not applied')
        applied = False
    execute_bundle = getattr(fn_runner.FnApiRunner, '_execute_bundle', None)
    if execute_bundle is None:
        _LOG.warning('Beam\'s FnApiRunner has no _execute_bundle; idle-stream pacing not applied')
        applied = False
    elif not getattr(execute_bundle, 'paces_residuals', False):
        fn_runner.FnApiRunner._execute_bundle = _pacing(execute_bundle)
    return applied


def is_local(runner):
    """True for the runners that execute in this process (DirectRunner and its FnApiRunner)."""
    return (runner or 'DirectRunner').rsplit('.', 1)[-1] in ('DirectRunner', 'SwitchingDirectRunner', 'FnApiRunner')
