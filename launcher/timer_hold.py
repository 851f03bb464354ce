"""A fix for Beam's local runner (FnApiRunner): an event-time timer in a stream waits for the source's watermark.

FnApiRunner fuses a stateful DoFn into the stage of the splittable DoFn that feeds it (its phases, unlike Beam's
standard ones, do not make a stateful DoFn the root of a stage), and that stage's input watermark is MAX_TIMESTAMP
from its first bundle: the stage's inputs are the finished split of the source's seed and the timer collections,
which have no producer. So every event-time timer the stage sets is due at once, and fires in its next bundle: a
batch that should wait a second for its first record's event time + 1 s is sent ~0.05 s later (Beam issue 35168,
closed unfixed). Yet the SDK reports the source's own watermark with every residual it hands back (a
DelayedBundleApplication's output_watermarks: its watermark estimator, which for PeriodicSequence is the next
firing time); the runner never reads it.

The fix: after each bundle, the stage's source watermark is the least watermark its residuals report. An event-time
timer set in the stage is held while its firing time is past that watermark, and is handed to the runner in the
first later bundle whose source watermark reaches it. With no residual reporting one (the source is done, drained,
or the stage has no unbounded source) nothing is held: Beam's own behaviour. Holds follow the last write per (key,
timer, window), as a runner's timer store does: setting a timer again moves it, clearing it drops it. Processing-time
timers are left alone.

Applied and undone by launcher/beam_fixes.py with the others (version-checked there; the code it wraps is checked
here). Upstream-shaped: the runner could hold a fused stage's event-time timers at its residuals' output watermarks.
"""

import inspect
from typing import Any, Dict, Hashable, Iterable, List, Optional, Tuple

from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

WRITES = '_timer_hold_writes'  # On a stage's BundleContextManager: its bundle's event-time timer writes, in order.
HELD = '_timer_hold_held'  # On a run's FnApiRunnerExecutionContext: the timers held, by (transform, timer family).
# The code the fix wraps, as written in Beam 2.77's fn_runner.py: another shape is left alone.
RUN_BUNDLE_PARAMETERS = ('self', 'runner_execution_context', 'bundle_context_manager', 'bundle_input',
                         'data_output', 'expected_timer_output', 'bundle_manager')

Patch = Tuple[object, str, object]  # (owner, attribute, the original value) to put back.


def source_watermark(response: Any) -> Optional[Timestamp]:
    """The least output watermark the residuals of a bundle report (a ProcessBundleResponse's residual_roots); None
    when none reports one (no residual: the source is done or there is none)."""
    marks = [Timestamp.from_proto(mark) for root in response.process_bundle.residual_roots
             for mark in root.application.output_watermarks.values()]
    return min(marks) if marks else None


def timer_slot(timer: Any) -> Hashable:
    """Which timer a write sets or clears: its key, its dynamic tag and its window (as the runner dedups them)."""
    return timer.user_key, timer.dynamic_timer_tag, timer.windows[0]


class HeldTimers:
    """The event-time timers of one timer family waiting for the source's watermark, the last write of each."""

    def __init__(self) -> None:
        self._timers: Dict[Hashable, Any] = {}

    def write(self, timers: Iterable[Any]) -> None:
        """Applies a bundle's writes in order: a set replaces the timer's earlier setting, a clear drops it."""
        for timer in timers:
            if timer.clear_bit:
                self._timers.pop(timer_slot(timer), None)
            else:
                self._timers[timer_slot(timer)] = timer

    def release(self, watermark: Optional[Timestamp]) -> List[Any]:
        """The timers due at `watermark` (all of them when None), no longer held."""
        due = [slot for slot, timer in self._timers.items()
               if watermark is None or timer.fire_timestamp <= watermark]
        return [self._timers.pop(slot) for slot in due]

    def earliest_hold(self) -> Optional[Timestamp]:
        """The least output timestamp of the timers still held (what holds the family's watermark back)."""
        return min((timer.hold_timestamp for timer in self._timers.values()), default=None)


def _event_time_families(bundle_context_manager: Any) -> List[Tuple[str, str]]:
    from apache_beam.portability.api import beam_runner_api_pb2
    event_time = beam_runner_api_pb2.TimeDomain.EVENT_TIME
    return [family for family in bundle_context_manager.stage.timers
            if bundle_context_manager.stage_timer_outputs[family][1] == event_time]


def _recording_writes(collect_written_timers):
    def collect_and_record(bundle_context_manager: Any):
        from apache_beam.runners.portability.fn_api_runner.translations import create_buffer_id
        writes = {}
        for transform_id, family_id in _event_time_families(bundle_context_manager):
            buffer = bundle_context_manager.get_buffer(create_buffer_id(family_id, kind='timers'), transform_id)
            coder = bundle_context_manager.get_timer_coder_impl(transform_id, family_id)
            if not buffer.cleared:  # Reading a ListBuffer leaves it as it is, for Beam's own code to read next.
                writes[(transform_id, family_id)] = [timer for encoded in buffer for timer in coder.decode_all(encoded)]
        setattr(bundle_context_manager, WRITES, writes)
        return collect_written_timers(bundle_context_manager)
    collect_and_record.records_timer_writes = True  # type: ignore[attr-defined]
    return staticmethod(collect_and_record)


def _encoded(bundle_context_manager: Any, family: Tuple[str, str], timers: List[Any]) -> Any:
    """The timers as the runner hands them to the stage: one ListBuffer holding them encoded (as fn_runner does)."""
    from apache_beam.coders.coder_impl import create_OutputStream
    from apache_beam.runners.portability.fn_api_runner.execution import ListBuffer
    coder = bundle_context_manager.get_timer_coder_impl(*family)
    out = create_OutputStream()
    for timer in timers:
        coder.encode_to_stream(timer, out, True)
    buffer = ListBuffer(coder_impl=coder)
    buffer.append(out.get())
    return buffer


def _holding(run_bundle):
    def run_bundle_holding_timers(self: Any, runner_execution_context: Any, bundle_context_manager: Any,
                                  bundle_input: Any, data_output: Any, expected_timer_output: Any,
                                  bundle_manager: Any) -> Any:
        result, deferred_inputs, newly_set_timers, watermark_updates = run_bundle(
            self, runner_execution_context, bundle_context_manager, bundle_input, data_output,
            expected_timer_output, bundle_manager)
        writes = bundle_context_manager.__dict__.pop(WRITES, {})
        held = runner_execution_context.__dict__.setdefault(HELD, {})
        watermark = source_watermark(result)
        for family in _event_time_families(bundle_context_manager):
            timers = held.setdefault(family, HeldTimers())
            timers.write(writes.get(family, ()))
            newly_set_timers.pop(family, None)  # Beam's view of this bundle's writes; replaced by what is due.
            due = timers.release(watermark)
            if due:
                newly_set_timers[family] = (_encoded(bundle_context_manager, family, due),
                                            min(timer.hold_timestamp for timer in due))
            holds = [mark for mark in (timers.earliest_hold(), *(timer.hold_timestamp for timer in due))
                     if mark is not None]
            if family in watermark_updates:
                watermark_updates[family] = min(holds) if holds else MAX_TIMESTAMP
        return result, deferred_inputs, newly_set_timers, watermark_updates
    run_bundle_holding_timers.holds_event_timers = True  # type: ignore[attr-defined]
    return run_bundle_holding_timers


def patch_timer_hold() -> List[Patch]:
    """Wraps FnApiRunner's _collect_written_timers (to see each bundle's timer writes, clears included) and
    _run_bundle (to hold the event-time timers not yet due); returns what to put back. Nothing when that code is
    not the shape this fix was written against."""
    import logging
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    runner = fn_runner.FnApiRunner
    collect = runner.__dict__.get('_collect_written_timers')
    run_bundle = runner.__dict__.get('_run_bundle')
    if (not isinstance(collect, staticmethod) or run_bundle is None
            or tuple(inspect.signature(run_bundle).parameters) != RUN_BUNDLE_PARAMETERS):
        logging.getLogger(__name__).warning(
            'Beam\'s FnApiRunner runs bundles differently; the event-time timer hold was not applied')
        return []
    setattr(runner, '_collect_written_timers', _recording_writes(collect.__func__))
    setattr(runner, '_run_bundle', _holding(run_bundle))
    return [(runner, '_collect_written_timers', collect), (runner, '_run_bundle', run_bundle)]
