"""A fix for Beam's local runner (FnApiRunner) that keeps a long local stream's memory flat.

FnApiRunner.run_stages keeps each stage's metrics as

    monitoring_infos_by_stage[stage] = consolidate(chain(bundle.monitoring_infos, monitoring_infos_by_stage[stage]))

and `monitoring_infos.consolidate` is a generator: nothing is consolidated until the run ends, so every bundle adds one
more unevaluated generator to a chain that holds every bundle's response alive. A stream on the local runner is an
endless series of bundles (an unbounded source re-runs its residual a few hundred times a second), so the process grew
7.4 MB/s whatever the record rate (`python -m benchmarks.runner_memory --without_fix`). Consolidating eagerly gives
the same metrics with one entry per metric: the same stream stays flat.

Only the process that runs the local runner needs this; Dataflow never runs FnApiRunner, so it is applied from
`pipeline.run` for DirectRunner runs and never on workers.
"""

import logging

_LOG = logging.getLogger(__name__)


def _eager_consolidate(metrics, key=None):
    from apache_beam.metrics import monitoring_infos
    return list(monitoring_infos.consolidate(metrics, key or monitoring_infos.to_key))


def apply_fixes():
    """Makes FnApiRunner consolidate metrics as bundles finish; idempotent. Returns True if the fix is in place."""
    from apache_beam.metrics import monitoring_infos
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    current = getattr(fn_runner, 'consolidate_monitoring_infos', None)
    if current is _eager_consolidate:
        return True
    if current is not monitoring_infos.consolidate:
        # A Beam release that changed this code: leave it alone rather than patch something we have not read.
        _LOG.warning('Beam\'s FnApiRunner no longer uses monitoring_infos.consolidate; local-runner fix not applied')
        return False
    fn_runner.consolidate_monitoring_infos = _eager_consolidate
    return True


def is_local(runner):
    """True for the runners that execute in this process (DirectRunner and its FnApiRunner)."""
    return (runner or 'DirectRunner').rsplit('.', 1)[-1] in ('DirectRunner', 'SwitchingDirectRunner', 'FnApiRunner')
