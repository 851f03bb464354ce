"""Batches a retried bundle forms again the same: rows buffered in Beam state, tagged with the bundle attempt that
buffered them; a batch holds only rows of committed bundles, in byte order (docs/storage-write.md)."""

import time
import uuid
from typing import Callable

import apache_beam as beam
from apache_beam.coders import BytesCoder, StrUtf8Coder, TupleCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer

from transforms.storage_write.options import WriterOptions


class StableBatches(beam.DoFn):
    """(shard, proto bytes) -> (shard, (final, [proto bytes])): batches that a retried bundle forms again the same.

    Rows wait in Beam state, each tagged with the bundle attempt that buffered it. A batch holds only rows that
    earlier, committed bundles buffered, in byte order: it depends on the committed state alone, never on the
    bundle's own input, so a retried bundle (state rolled back, whatever input it carries) emits the same batch
    and the append step re-sends the same rows at the same offsets. A batch goes when batch_rows are waiting and
    at the end of the window (then with every row: nothing comes after it). For a bounded input this is all: no
    processing-time timer, so DirectRunner keeps its portable runner (a REAL_TIME timer would move it to the
    bundle-based one)."""

    BUFFER = BagStateSpec('buffer', TupleCoder((StrUtf8Coder(), BytesCoder())))  # (bundle attempt, row)
    WAITING = ReadModifyWriteStateSpec('waiting', VarIntCoder())  # rows in the buffer
    SHARD = ReadModifyWriteStateSpec('shard', VarIntCoder())  # the key, for the timers' output
    END = TimerSpec('end', TimeDomain.WATERMARK)

    def __init__(self, options: WriterOptions, clock: Callable[[], float] = time.time):
        self._options, self._clock = options, clock
        self._attempt = ''

    def start_bundle(self):
        self._attempt = uuid.uuid4().hex  # new for every attempt of every bundle

    def process(self, element, window=beam.DoFn.WindowParam, buffer=beam.DoFn.StateParam(BUFFER),
                waiting=beam.DoFn.StateParam(WAITING), shard_state=beam.DoFn.StateParam(SHARD),
                end=beam.DoFn.TimerParam(END)):
        shard, row = element
        shard_state.write(shard)
        end.set(window.max_timestamp())
        yield from self._add(shard, row, buffer, waiting)

    @on_timer(END)
    def on_end(self, buffer=beam.DoFn.StateParam(BUFFER), waiting=beam.DoFn.StateParam(WAITING),
               shard_state=beam.DoFn.StateParam(SHARD)):
        yield from self._emit(shard_state.read(), buffer, waiting, final=True)

    def _add(self, shard, row, buffer, waiting):
        buffer.add((self._attempt, row))
        count = (waiting.read() or 0) + 1
        waiting.write(count)
        if count >= self._options.batch_rows:
            yield from self._emit(shard, buffer, waiting, final=False)

    def _emit(self, shard, buffer, waiting, final):
        """Emits (shard, (final, rows)): the rows earlier attempts buffered (all rows when final); this attempt's
        rows stay. The final batch goes even when empty: it tells the append step to finalize the stream."""
        entries = list(buffer.read())
        ready = sorted(row for attempt, row in entries if final or attempt != self._attempt)
        if not ready and not final:
            return
        kept = [] if final else [entry for entry in entries if entry[0] == self._attempt]
        buffer.clear()
        for entry in kept:
            buffer.add(entry)
        waiting.write(len(kept))
        yield shard, (final, ready)


class TimedStableBatches(StableBatches):
    """StableBatches for an unbounded input: also a processing-time timer, so a batch goes at most about
    max_buffering_s after its rows were buffered (rows of the attempt that fires it wait for the next firing)."""

    TIMER_SET = ReadModifyWriteStateSpec('timer_set', VarIntCoder())  # 1 while the flush timer is set
    FLUSH = TimerSpec('flush', TimeDomain.REAL_TIME)

    def process(self, element, window=beam.DoFn.WindowParam, buffer=beam.DoFn.StateParam(StableBatches.BUFFER),
                waiting=beam.DoFn.StateParam(StableBatches.WAITING),
                shard_state=beam.DoFn.StateParam(StableBatches.SHARD), end=beam.DoFn.TimerParam(StableBatches.END),
                timer_set=beam.DoFn.StateParam(TIMER_SET), flush=beam.DoFn.TimerParam(FLUSH)):
        shard, row = element
        shard_state.write(shard)
        end.set(window.max_timestamp())
        yield from self._add(shard, row, buffer, waiting)
        self._arm(waiting, timer_set, flush)

    @on_timer(FLUSH)
    def on_flush(self, buffer=beam.DoFn.StateParam(StableBatches.BUFFER),
                 waiting=beam.DoFn.StateParam(StableBatches.WAITING),
                 shard_state=beam.DoFn.StateParam(StableBatches.SHARD), timer_set=beam.DoFn.StateParam(TIMER_SET),
                 flush=beam.DoFn.TimerParam(FLUSH)):
        timer_set.clear()
        yield from self._emit(shard_state.read(), buffer, waiting, final=False)
        self._arm(waiting, timer_set, flush)

    def _arm(self, waiting, timer_set, flush):
        if (waiting.read() or 0) and not timer_set.read():
            flush.set(self._clock() + self._options.max_buffering_s)
            timer_set.write(1)
