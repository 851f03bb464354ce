"""Batches a retried bundle forms again the same: rows buffered in Beam state, tagged with the bundle attempt that
buffered them; a batch holds only rows of committed bundles, in byte order (docs/storage-write.md)."""

import uuid
from typing import List, Optional, Set, Tuple

import apache_beam as beam
from apache_beam.coders import BytesCoder, StrUtf8Coder, TupleCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from transforms.storage_write.options import WriterOptions

Entry = Tuple[str, int, bytes]  # (bundle attempt, event time in µs, serialized row): one row waiting in state


class StableBatches(beam.DoFn):
    """(shard, proto bytes) -> (shard, (final, [proto bytes])): batches that a retried bundle forms again the same.

    Rows wait in Beam state, each tagged with the bundle attempt that buffered it (and its event time). A batch holds
    only rows that earlier, committed bundles buffered, in byte order: it depends on the committed state alone,
    never on the bundle's own input, so a retried bundle (state rolled back, whatever input it carries) emits the
    same batch and the append step re-sends the same rows at the same offsets. A batch goes when batch_rows are
    waiting and at the end of the window (then with every row: nothing comes after it). For a bounded input this is
    all (its input is complete before the stage runs: a wait would only add timers)."""

    BUFFER = BagStateSpec('buffer', TupleCoder((StrUtf8Coder(), VarIntCoder(), BytesCoder())))  # Entry
    WAITING = ReadModifyWriteStateSpec('waiting', VarIntCoder())  # rows in the buffer
    SHARD = ReadModifyWriteStateSpec('shard', VarIntCoder())  # the key, for the timers' output
    END = TimerSpec('end', TimeDomain.WATERMARK)

    def __init__(self, options: WriterOptions):
        self._options = options
        self._attempt = ''
        self._drained: Set[int] = set()

    def start_bundle(self):
        self._attempt = uuid.uuid4().hex  # new for every attempt of every bundle
        self._drained = set()  # shards whose rows of earlier attempts this attempt has already sent

    def process(self, element, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam,
                buffer=beam.DoFn.StateParam(BUFFER), waiting=beam.DoFn.StateParam(WAITING),
                shard_state=beam.DoFn.StateParam(SHARD), end=beam.DoFn.TimerParam(END)):
        shard, row = element
        shard_state.write(shard)
        end.set(window.max_timestamp())
        batch, _ = self._add(shard, row, timestamp, buffer, waiting)
        if batch:
            yield shard, (False, batch)

    @on_timer(END)
    def on_end(self, buffer=beam.DoFn.StateParam(BUFFER), waiting=beam.DoFn.StateParam(WAITING),
               shard_state=beam.DoFn.StateParam(SHARD)):
        ready, _ = self._take(shard_state.read(), buffer, waiting, final=True)
        yield shard_state.read(), (True, ready)  # even empty: it tells the append step to finalize the stream

    def _add(self, shard, row, timestamp, buffer, waiting) -> Tuple[Optional[List[bytes]], List[Entry]]:
        """Buffers the row; when batch_rows are waiting, takes the batch. Returns (the batch or None, the rows
        left waiting when a batch was taken, else [])."""
        buffer.add((self._attempt, Timestamp.of(timestamp).micros, row))
        count = (waiting.read() or 0) + 1
        waiting.write(count)
        if count < self._options.batch_rows or shard in self._drained:
            return None, []
        return self._take(shard, buffer, waiting, final=False)

    def _take(self, shard, buffer, waiting, final) -> Tuple[List[bytes], List[Entry]]:
        """(the rows earlier attempts buffered, in byte order (all rows when final); the rows left in the buffer:
        this attempt's). After one take in an attempt every row left is the attempt's own, so a later take in it
        would find nothing: the shard is marked drained and its buffer no longer read until the next attempt."""
        entries = list(buffer.read())
        ready = sorted(row for attempt, _, row in entries if final or attempt != self._attempt)
        kept = [] if final else [entry for entry in entries if entry[0] == self._attempt]
        if ready or final:
            buffer.clear()
            for entry in kept:
                buffer.add(entry)
            waiting.write(len(kept))
        if not final:
            self._drained.add(shard)
        return ready, kept


class WaitingStableBatches(StableBatches):
    """StableBatches for an unbounded input: besides, a batch goes once the watermark is max_buffering_s past the
    earliest event time of the rows waiting (an event-time timer; for a live source, whose watermark follows the
    clock, about max_buffering_s of waiting). Rows of the attempt that fires it are not in the batch: the timer is
    set again for the earliest of them, and they go in a later bundle.

    Event time, not processing time, as GroupByBytes in transforms/oic/batch/grouping.py: a REAL_TIME timer moves
    DirectRunner to its bundle-based runner, which cannot run the streaming source, and the same timer serves
    Dataflow (docs/storage-write.md, "Streams")."""

    DUE = ReadModifyWriteStateSpec('due', VarIntCoder())  # µs of event time the flush timer is set for
    FLUSH = TimerSpec('flush', TimeDomain.WATERMARK)

    def process(self, element, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam,
                buffer=beam.DoFn.StateParam(StableBatches.BUFFER),
                waiting=beam.DoFn.StateParam(StableBatches.WAITING),
                shard_state=beam.DoFn.StateParam(StableBatches.SHARD), end=beam.DoFn.TimerParam(StableBatches.END),
                due=beam.DoFn.StateParam(DUE), flush=beam.DoFn.TimerParam(FLUSH)):
        shard, row = element
        shard_state.write(shard)
        end.set(window.max_timestamp())
        batch, kept = self._add(shard, row, timestamp, buffer, waiting)
        if batch:
            yield shard, (False, batch)
            self._arm([entry[1] for entry in kept], due, flush, window.max_timestamp())
        else:  # this row's wait ends max_buffering_s after its event time: the timer moves if that is sooner
            self._arm([Timestamp.of(timestamp).micros], due, flush, window.max_timestamp(), only_sooner=True)

    @on_timer(FLUSH)
    def on_flush(self, fired=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam,
                 buffer=beam.DoFn.StateParam(StableBatches.BUFFER),
                 waiting=beam.DoFn.StateParam(StableBatches.WAITING),
                 shard_state=beam.DoFn.StateParam(StableBatches.SHARD), due=beam.DoFn.StateParam(DUE),
                 flush=beam.DoFn.TimerParam(FLUSH)):
        due.clear()
        shard = shard_state.read()
        ready, kept = self._take(shard, buffer, waiting, final=False)
        if ready:
            yield shard, (False, ready)
        # The rows left are this attempt's: the timer again for the earliest, never behind this firing (they go in
        # a later bundle at the soonest).
        self._arm([max(entry[1], Timestamp.of(fired).micros - self._wait_us()) for entry in kept], due, flush,
                  window.max_timestamp())

    def _wait_us(self) -> int:
        return int(round(self._options.max_buffering_s * 1e6))

    def _arm(self, event_times_us: List[int], due, flush, window_end, only_sooner: bool = False) -> None:
        """Sets the flush timer max_buffering_s after the earliest of `event_times_us` (never past the window's end);
        with only_sooner, only when that is before the time it is set for. No rows: the timer is left unset."""
        if not event_times_us:
            return
        at = min(min(event_times_us) + self._wait_us(), Timestamp.of(window_end).micros)
        set_for = due.read()
        if only_sooner and set_for is not None and set_for <= at:
            return
        flush.set(Timestamp(micros=at))
        due.write(at)
