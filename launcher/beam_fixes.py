"""Fixes for Beam's local runner (FnApiRunner): two here that make a long local stream cheap (flat memory, idle CPU),
and a third in launcher/timer_hold.py that makes its event-time timers wait for the source's watermark (a local
stream batches over --oic_batch_wait, as on Dataflow). local_runner_fixes applies all three for a run.

1. Memory. FnApiRunner.run_stages keeps each stage's metrics as

       monitoring_infos_by_stage[stage] = consolidate(chain(bundle.monitoring_infos, monitoring_infos_by_stage[stage]))

   and `monitoring_infos.consolidate` is a generator: nothing is consolidated until the run ends, so every bundle adds
   one more unevaluated generator to a chain that holds every bundle's response alive. A stream on the local runner
   is an endless series of bundles, so the process grew 7 MB/s whatever the record rate
   (`python -m benchmarks.runner_memory --without_fix`). Consolidating eagerly gives the same metrics, one entry per
   metric, and the same stream stays flat.

   `consolidate` also has no combiner for gauges (LATEST_INT64: only sums and distributions are in its
   _KNOWN_COMBINERS), so it keeps every bundle's value of a gauge side by side, and each one (a sub-message of its
   bundle's response) keeps that whole response alive. A DoFn that sets a gauge in every bundle (the OIC caller's
   oic_concurrency_limit) grew the local soak by ~65 MB a minute at 100 records/s. The eager consolidation keeps the
   latest value of each gauge (by its timestamp, as Dataflow and Beam's own MetricResult do), copied out of its
   response.

2. CPU. An unbounded source (PeriodicSequence, ours) emits what is due and asks to be resumed when the next element is
   due (a residual with `requested_time_delay`). FnApiRunner ignores the delay and re-runs the residual at once, a
   few hundred empty bundles a second: half a core for a stream of one record a second. After such a bundle, when
   nothing else is ready to run, the runner now waits for the requested delay (at most MAX_IDLE_WAIT_S) first.

Only the process that runs the local runner needs these; Dataflow never runs FnApiRunner, so `pipeline.run` applies
them for a DirectRunner run only, as `with local_runner_fixes(): ...`, and puts Beam's own code back when the run ends.
Each fix checks the Beam version it was written for (WRITTEN_FOR) and the code it replaces, and leaves Beam alone,
with a warning, when either differs. Upstream-shaped: both are small changes to fn_runner.py that could be sent to Beam
(consolidate eagerly; honour requested_time_delay when nothing else is ready).
"""

import contextlib
import logging
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

from launcher.timer_hold import Patch, patch_timer_hold

_LOG = logging.getLogger(__name__)
MAX_IDLE_WAIT_S = 0.1  # The synthetic source's tick: a record due sooner is never waited past.
WRITTEN_FOR = '2.77.'  # The Beam release whose fn_runner.py these fixes were written against.


def _eager_consolidate(metrics, key=None):
    from apache_beam.metrics import monitoring_infos
    key = key or monitoring_infos.to_key
    latest: Dict[Any, Tuple[float, Any]] = {}
    others = []
    for metric in metrics:
        if not monitoring_infos.is_gauge(metric):
            others.append(metric)
            continue
        at, _ = monitoring_infos.extract_gauge_value(metric)
        gauge = key(metric)
        if gauge not in latest or at >= latest[gauge][0]:
            latest[gauge] = (at, metric)
    gauges = []
    for _, metric in latest.values():
        copy = type(metric)()
        copy.CopyFrom(metric)  # Not a view into its bundle's response, which it would keep alive.
        gauges.append(copy)
    return list(monitoring_infos.consolidate(others, key)) + gauges


def resume_delay_s(response: Any) -> float:
    """Seconds until the earliest residual of a bundle wants to resume; 0 when one wants to resume at once or when
    the bundle left no residual (a ProcessBundleResponse's residual_roots carry the SDK's requested_time_delay)."""
    delays = [root.requested_time_delay.seconds + root.requested_time_delay.nanos / 1e9
              for root in response.process_bundle.residual_roots]
    return max(0.0, min(delays)) if delays else 0.0


def _pacing(execute_bundle):
    def execute_bundle_then_wait(self: Any, runner_execution_context: Any, bundle_context_manager: Any,
                                 bundle_input: Any) -> Any:
        response = execute_bundle(self, runner_execution_context, bundle_context_manager, bundle_input)
        delay = resume_delay_s(response)
        # Only the residual just queued is ready: nothing else would run in the meantime.
        if delay and len(runner_execution_context.queues.ready_inputs) <= 1:
            time.sleep(min(delay, MAX_IDLE_WAIT_S))
        return response
    execute_bundle_then_wait.paces_residuals = True  # type: ignore[attr-defined]
    return execute_bundle_then_wait


def _patch_memory() -> List[Patch]:
    from apache_beam.metrics import monitoring_infos
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    current = getattr(fn_runner, 'consolidate_monitoring_infos', None)
    if current is not monitoring_infos.consolidate:
        # A Beam release that changed this code: leave it alone rather than patch something we have not read.
        _LOG.warning('Beam\'s FnApiRunner no longer uses monitoring_infos.consolidate; memory fix not applied')
        return []
    fn_runner.consolidate_monitoring_infos = _eager_consolidate
    return [(fn_runner, 'consolidate_monitoring_infos', current)]


def _patch_pacing() -> List[Patch]:
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    execute_bundle = fn_runner.FnApiRunner.__dict__.get('_execute_bundle')
    if execute_bundle is None:
        _LOG.warning('Beam\'s FnApiRunner has no _execute_bundle; idle-stream pacing not applied')
        return []
    setattr(fn_runner.FnApiRunner, '_execute_bundle', _pacing(execute_bundle))
    return [(fn_runner.FnApiRunner, '_execute_bundle', execute_bundle)]


FIXES: Tuple[Tuple[str, Callable[[], List[Patch]]], ...] = (
    ('memory', _patch_memory), ('pacing', _patch_pacing), ('timers', patch_timer_hold))


def beam_version_supported(version: str = '') -> bool:
    """True when `version` (default: the installed Beam's) is the release the fixes were written for."""
    if not version:
        import apache_beam
        version = apache_beam.__version__
    return version.startswith(WRITTEN_FOR)


@contextlib.contextmanager
def local_runner_fixes(version: str = '') -> Iterator[List[str]]:
    """Applies the fixes for the duration of the block and restores Beam's code after it (also on error); yields
    the names of the fixes applied (none on a Beam release they were not written for). Not re-entrant: a block
    inside another applies nothing more."""
    patches: List[Patch] = []
    applied: List[str] = []
    if not beam_version_supported(version):
        _LOG.warning('local runner fixes were written for Beam %sx; not applied to this release', WRITTEN_FOR)
    elif not _already_applied():
        for name, fix in FIXES:
            done = fix()
            patches.extend(done)
            if done:
                applied.append(name)
    try:
        yield applied
    finally:
        for owner, attribute, original in reversed(patches):
            setattr(owner, attribute, original)


def _already_applied() -> bool:
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    return getattr(fn_runner.FnApiRunner.__dict__.get('_execute_bundle'), 'paces_residuals', False)


def is_local(runner: str) -> bool:
    """True for the runners that execute in this process (DirectRunner and its FnApiRunner)."""
    return (runner or 'DirectRunner').rsplit('.', 1)[-1] in ('DirectRunner', 'SwitchingDirectRunner', 'FnApiRunner')
