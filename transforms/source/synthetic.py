"""Sources of warehouse records: synthetic (bounded or streaming at a rate) and file replay."""

import math
import time

from typing import Callable, List, Optional, SupportsFloat, Tuple, Union

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.periodicsequence import ImpulseSeqGenRestrictionProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Duration, Timestamp

from transforms import records as rec
from transforms.records import METRICS_NAMESPACE
from transforms.source.stop_signal import StopSignal
from transforms.source.defaults import DEFAULT_RECORDS, DEFAULT_SHARDS, DEFAULT_STREAMING_RATE  # noqa: F401 (API)

STREAMING_TICK_S = 0.1
CLOCK_LEAD_S = 1.0  # The stream's first tick is due this long after the job reads its clock (the hop to the clocks).
CATCH_UP = 2.0  # After a stall, a clock emits the ticks it missed at most this many times its rate until caught up.
CALL_TICKS_S = 0.5  # One call of a clock emits every tick due, up to this many seconds of its ticks: a runner that
#                    resumes a clock late (DirectRunner under load: tens of ms) costs no rate; a longer stall is a
#                    catch-up, rationed to CATCH_UP.


class _PacedRecordFn(beam.DoFn):
    """index -> record, emitted no faster than `rate` per second (0 = unpaced)."""

    def __init__(self, seed, run_id, rate, stop=None):
        self._seed, self._run_id, self._rate = seed, run_id, rate
        self._stop = stop or StopSignal(None)
        self.generated = Metrics.counter(METRICS_NAMESPACE, 'generated')

    def setup(self):
        self._started = None
        self._emitted = 0

    def process(self, index):
        if self._stop.is_set():
            return []  # Draining: the rest of the batch is not generated (nor waited for).
        if self._rate > 0:
            if self._started is None:
                self._started = time.monotonic()
            wait = self._started + self._emitted / self._rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # Pacing is the point of this DoFn: the rate the user asked for.
            self._emitted += 1
        self.generated.inc()
        return [rec.make_record(self._seed, self._run_id, index)]


class SyntheticRecords(beam.PTransform[beam.pvalue.PBegin, beam.PCollection[dict]]):
    """Emits `count` synthetic records, at `rate` per second or as fast as possible.

    Element: {'WH_ID': 'WH3', 'Item_Name': 'Poultry Fat', 'Item_id': 105, 'Quantity_Available': 1759,
              'Quantity_Requested': 1992, 'Backlog': -233, 'record_id': '…uuid…', 'event_time': '2026-…Z'}
    """

    def __init__(self, count: int, seed: int, run_id: str, rate: float = 0.0, stop_dir: Optional[str] = None):
        """`stop_dir`: the local run directory whose stop signal (transforms/source/stop_signal.py) ends the batch early."""
        super().__init__()
        self._count, self._seed, self._run_id, self._rate = count, seed, run_id, rate
        self._stop = StopSignal(stop_dir)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        count = self._count
        return (
            pbegin
            | 'Start' >> beam.Impulse()
            | 'Indices' >> beam.FlatMap(lambda _: range(count))
            | 'Generate' >> beam.ParDo(_PacedRecordFn(self._seed, self._run_id, self._rate, self._stop)))


def records_in_tick(tick: int, per_tick: float) -> int:
    """How many records tick number `tick` emits so that the running total is floor((tick+1) * per_tick)."""
    return math.floor((tick + 1) * per_tick) - math.floor(tick * per_tick)


def first_index_of_tick(tick: int, per_tick: float) -> int:
    return math.floor(tick * per_tick)


def shard_indices(tick: int, shard: int, shards: int, per_tick: float, limit: Optional[int] = None) -> range:
    """The record indices of `tick` that `shard` of `shards` generates: every shards-th one, offset by shard.

    Over all shards each index of the tick appears exactly once; the total per tick stays what the rate asks.
    """
    first = first_index_of_tick(tick, per_tick)
    end = first + records_in_tick(tick, per_tick)
    if limit is not None:
        end = min(end, limit)
    start = first + (shard - first) % shards
    return range(start, end, shards)


MAX_SHARDS = 1024  # Shards fire tick_s / shards apart; beyond this the slots get too close to tell apart.


def shard_clocks(start: float, tick_s: float, shards: int,
                 ticks: Optional[int] = None) -> List[Tuple[float, Union[float, Timestamp], float]]:
    """One (first, stop, interval) clock per shard for PeriodicSequence: shard s fires at start + (t + s/shards) *
    tick_s for t = 0, 1, … (ticks of them, or without end), so the shards' work is staggered across each tick."""
    stop = None if ticks is None else start + ticks * tick_s
    return [(start + s * tick_s / shards, MAX_TIMESTAMP if stop is None else stop + s * tick_s / shards, tick_s)
            for s in range(shards)]


def tick_and_shard(fired_at: SupportsFloat, start: float, tick_s: float, shards: int) -> Tuple[int, int]:
    """Inverse of shard_clocks: which tick and shard a clock's firing time belongs to."""
    slot = round((float(fired_at) - start) / (tick_s / shards))
    return slot // shards, slot % shards


class _StoppableTracker(OffsetRestrictionTracker):
    """A clock's restriction that ends where it stands once the run's stop signal is set: the position being
    claimed becomes the end of the range, so the clock is done (nothing left unclaimed) and its watermark moves on."""

    def __init__(self, restriction: OffsetRange, stop: StopSignal):
        super().__init__(restriction)
        self._stop = stop

    def try_claim(self, position):
        if self._stop.is_set():
            self._range = OffsetRange(self._range.start, max(position, self._range.start))
            return False
        return super().try_claim(position)


class _StartClocksFn(beam.DoFn):
    """Impulse -> the shards' clocks, (start, (first, stop, interval)) each: the schedule is fixed here, when the job
    runs and on the worker, not when the pipeline is built, so a job that starts late (a Dataflow worker minutes
    after submission, a local runner seconds after the build) has no ticks already due to catch up on in a burst.
    The same idea as Beam's PeriodicImpulse(rebase=RebaseMode.REBASE_START); the start rides in each element, so
    a clock resumed on another worker keeps it (no local state).

    `clock`: seconds since the epoch (time.time when None, read at run time); `lead_s`: how far after that reading
    the first tick is due, so that the hop to the clocks (a reshuffle) is not itself a tick or two of catching up.
    """

    def __init__(self, tick_s: float, shards: int, ticks: Optional[int], lead_s: float = 0.0,
                 clock: Optional[Callable[[], float]] = None):
        self._tick_s, self._shards, self._ticks, self._lead_s, self._clock = tick_s, shards, ticks, lead_s, clock

    def process(self, _impulse):
        start = (self._clock or time.time)() + self._lead_s
        for clock in shard_clocks(start, self._tick_s, self._shards, self._ticks):
            yield start, clock


class _StoppableClockFn(beam.DoFn, ImpulseSeqGenRestrictionProvider):
    """A clock of Beam's PeriodicSequence kind (a splittable DoFn over the tick numbers, the same restriction and
    watermarks) that stops at the run's stop signal, so that a local stream can drain (once every clock has stopped,
    the pipeline finishes with the records it holds), and that catches up gently after a stall: where Beam's clock
    emits every tick it missed at once (a worker restarted, a process paused), this one emits at most CALL_TICKS_S
    of ticks a call and, while still behind, resumes after 1 / CATCH_UP of their time, so it catches up at about
    CATCH_UP (twice) its rate and a stall of a minute is not a minute of records in one burst. A runner that resumes
    it a little late (tens of ms under load) costs no rate: the ticks due meanwhile go out in the next call.
    Every tick is still emitted once, with its scheduled time. It is its own restriction provider
    (RestrictionParam() without one) to hand the tracker the signal.

    Element: (start, (first, stop, interval)) from _StartClocksFn; each firing is (start, fired_at), timestamped
    fired_at, so the records' step can tell its tick and shard. `clock`: seconds since the epoch (time.time when
    None, read at run time).
    """

    def __init__(self, stop: StopSignal, clock: Optional[Callable[[], float]] = None):
        super().__init__()
        self._stop, self._clock = stop, clock

    def initial_restriction(self, element):
        return ImpulseSeqGenRestrictionProvider.initial_restriction(self, element[1])

    def restriction_size(self, element, restriction):
        return ImpulseSeqGenRestrictionProvider.restriction_size(self, element[1], restriction)

    def create_tracker(self, restriction):
        return _StoppableTracker(restriction, self._stop)

    @beam.DoFn.unbounded_per_element()
    def process(self, element, restriction_tracker=beam.DoFn.RestrictionParam(),
                watermark_estimator=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())):
        start, (first, _, interval) = element
        first_s = first.micros / 1e6 if isinstance(first, Timestamp) else float(first)
        index = restriction_tracker.current_restriction().start
        now = (self._clock or time.time)()
        emitted, ended = 0, False
        while emitted < call_ticks(interval) and first_s + interval * index <= now:
            due = first_s + interval * index
            if not restriction_tracker.try_claim(index):
                ended = True  # the clock's last tick, or the stop signal: nothing to defer
                break
            _advance(watermark_estimator, Timestamp.of(due))
            yield TimestampedValue((start, due), due)
            emitted, index = emitted + 1, index + 1
        due = first_s + interval * index
        if not ended and due > now:  # on schedule: nothing before the next tick, so the watermark may move up to it
            _advance(watermark_estimator, Timestamp.of(due))
            restriction_tracker.defer_remainder(Duration.of(due - now))
        elif not ended:  # still behind (a stall): resume once this call's ticks have taken 1 / CATCH_UP of their time
            restriction_tracker.defer_remainder(Duration.of(emitted * interval / CATCH_UP))


def call_ticks(interval: float) -> int:
    """The most ticks one call of a clock emits: CALL_TICKS_S of them, at least one."""
    return max(1, math.ceil(CALL_TICKS_S / interval - 1e-9))


def _advance(watermark_estimator, moment: Timestamp) -> None:
    """Moves the clock's watermark up to `moment`, never back."""
    current = watermark_estimator.current_watermark()
    if current is None or moment > current:
        watermark_estimator.set_watermark(moment)


class StopWhenAsked(beam.PTransform):
    """Passes elements on until the run's stop signal is set (the first Ctrl-C of a local run), then drops them:
    records a source emits after that are never handed to a path.

    Element: any; here a record dict.
    """

    def __init__(self, out_dir: str):
        super().__init__()
        self._stop = StopSignal(out_dir)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        stop = self._stop
        return pcoll | 'UntilStopped' >> beam.Filter(lambda _: not stop.is_set())


class _ShardTickToRecordsFn(beam.DoFn):
    """A shard clock's (start, firing time) -> that shard's share of the tick's records (indices from tick and
    shard)."""

    def __init__(self, seed, run_id, tick_s, per_tick, shards, limit):
        self._seed, self._run_id = seed, run_id
        self._tick_s, self._per_tick, self._shards, self._limit = tick_s, per_tick, shards, limit
        self.generated = Metrics.counter(METRICS_NAMESPACE, 'generated')

    def process(self, clock_firing):
        start, fired_at = clock_firing
        tick, shard = tick_and_shard(fired_at, start, self._tick_s, self._shards)
        for index in shard_indices(tick, shard, self._shards, self._per_tick, self._limit):
            self.generated.inc()
            yield rec.make_record(self._seed, self._run_id, index)


def effective_shards(shards: int, per_tick: float) -> int:
    """No more shards than records per tick (a shard with nothing to emit is pure overhead), at most MAX_SHARDS."""
    return max(1, min(int(shards), math.ceil(per_tick), MAX_SHARDS))


class StreamingSyntheticRecords(beam.PTransform[beam.pvalue.PBegin, beam.PCollection[dict]]):
    """An unbounded stream of synthetic records at `rate` per second in total (stops after `limit` if given).

    The source is `shards` clocks (one PeriodicSequence element each, a splittable DoFn restriction that Dataflow
    places on any worker), all ticking every `tick_s` seconds, staggered within the tick. At each tick, shard s
    generates every shards-th record of that tick, offset by s; together they emit exactly `rate` * `tick_s`
    records per tick, however the shards are spread over workers. The clocks' schedule starts when the job runs
    (an Impulse, then _StartClocksFn reads the clock on the worker), not when the pipeline is built: a job that
    starts late still emits at its rate from its first second, with no catching up on ticks already due.

    Element: the same record dict as SyntheticRecords.
    """

    def __init__(self, rate: float, seed: int, run_id: str, limit: Optional[int] = None,
                 tick_s: float = STREAMING_TICK_S, shards: int = DEFAULT_SHARDS, stop_dir: Optional[str] = None,
                 lead_s: float = CLOCK_LEAD_S, clock: Optional[Callable[[], float]] = None):
        """`stop_dir`: the local run directory whose stop signal (transforms/source/stop_signal.py) ends the stream.
        `clock`: the wall clock the schedule starts from when the job runs (time.time; a test's fake), `lead_s`
        after the reading."""
        super().__init__()
        self._lead_s, self._clock = lead_s, clock
        self._rate, self._seed, self._run_id, self._limit = rate, seed, run_id, limit
        self._stop = StopSignal(stop_dir)
        self._tick_s = max(tick_s, 1.0 / rate)  # Slow rates: one record per tick.
        self._shards = effective_shards(shards, rate * self._tick_s)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        per_tick = self._rate * self._tick_s
        ticks = None if self._limit is None else math.ceil(self._limit / per_tick)
        return (
            pbegin
            | 'Start' >> beam.Impulse()
            | 'Shards' >> beam.ParDo(_StartClocksFn(self._tick_s, self._shards, ticks, self._lead_s, self._clock))
            | 'Spread' >> beam.Reshuffle()
            | 'Ticks' >> beam.ParDo(_StoppableClockFn(self._stop, self._clock))
            | 'Generate' >> beam.ParDo(_ShardTickToRecordsFn(
                self._seed, self._run_id, self._tick_s, per_tick, self._shards, self._limit)))
