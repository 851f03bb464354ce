"""GroupByBytes: records grouped into request bodies of at most N bytes, a stateful step that Dataflow scales out by
a sharded key. The size arithmetic is transforms/oic/batch/body.py (no Beam import: the stand-in uses it too)."""

import zlib
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam import coders
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer

from transforms import records as rec
from transforms.oic.batch.body import (  # noqa: F401 (re-exported: part of this module's API)
    COUNT_FIELD, DEFAULT_BATCH_CODE, DEFAULT_SHARDS, DEFAULT_WAIT_S, EMPTY_BODY, KB, SEPARATOR, batch_body, body_size,
    grown_size, payload_size)


def plan(sizes: Sequence[int], max_bytes: int) -> List[List[int]]:
    """Indexes of `sizes` grouped in order into bodies of at most `max_bytes`; a payload too big for any body goes
    alone. Greedy: a body closes when the next payload would not fit."""
    if max_bytes < 1:
        raise ValueError('max_bytes must be positive')
    groups: List[List[int]] = []
    current: List[int] = []
    total = 0
    for index, size in enumerate(sizes):
        if current and grown_size(total, len(current), size) > max_bytes:
            groups.append(current)
            current, total = [], 0
        total = grown_size(total, len(current), size)
        current.append(index)
    if current:
        groups.append(current)
    return groups


def shard_of(record: dict, shards: int) -> int:
    """A stable shard for the record (crc32 of its record_id): the same record always takes the same key."""
    return zlib.crc32(str(record.get('record_id', '')).encode('utf-8')) % max(1, shards)


_BATCH = BagStateSpec('batch', coders.TupleCoder((coders.VarIntCoder(), coders.PickleCoder())))
_BYTES = ReadModifyWriteStateSpec('bytes', coders.VarIntCoder())
_COUNT = ReadModifyWriteStateSpec('count', coders.VarIntCoder())
_DUE = ReadModifyWriteStateSpec('due', coders.FloatCoder())  # when the wait timer is set to fire (event time, s)
_WINDOW_END = TimerSpec('window_end', TimeDomain.WATERMARK)
_STREAM_WINDOW_END = TimerSpec('window_end', TimeDomain.WATERMARK)  # a timer spec has one callback: one per class
# The wait is in event time: a processing-time timer would move a stream off Beam's FnApiRunner locally (DirectRunner
# runs REAL_TIME timers on its older bundle-based runner, which cannot run the streaming source's splittable DoFn).
_WAITED = TimerSpec('waited', TimeDomain.WATERMARK)


class _GroupFn(beam.DoFn):
    """(shard, record) -> lists of records whose body stays within `max_bytes`, for bounded runs.

    State per key and window: the open batch (a bag of (size, record)), its body's bytes and its count. A batch is
    sent when the next record would not fit, and when the window ends (the watermark reaches it at the end of a
    bounded run). No processing-time timer: one would move a bounded run off the FnApiRunner (DirectRunner runs
    pipelines with REAL_TIME timers on its older bundle-based runner), and a bounded stage's input is complete before
    it runs anyway."""

    def __init__(self, max_bytes: int, size_fn: Callable[[dict], int]):
        self._max_bytes, self._size_fn = max_bytes, size_fn

    def process(self, element, window=beam.DoFn.WindowParam, batch=beam.DoFn.StateParam(_BATCH),
                total=beam.DoFn.StateParam(_BYTES), count=beam.DoFn.StateParam(_COUNT),
                window_end=beam.DoFn.TimerParam(_WINDOW_END)):
        window_end.set(window.end)
        yield from self._add(element[1], batch, total, count)

    @on_timer(_WINDOW_END)
    def on_window_end(self, batch=beam.DoFn.StateParam(_BATCH), total=beam.DoFn.StateParam(_BYTES),
                      count=beam.DoFn.StateParam(_COUNT)):
        yield from _flush(batch, total, count)

    def _add(self, record, batch, total, count, waited=None, due=None, due_at=None) -> Iterable[List[dict]]:
        """Adds `record` to the open batch: sends the open one first when the record would not fit, and the new one
        at once when it is full (or one record over the limit). In a stream, the wait timer `waited` fires at the
        earliest `due` (event time) of the batch's records, kept in `due_at`: a record may arrive with an earlier
        event time than the batch's first one, and its wait is not stretched to the first's."""
        size = self._size_fn(record)
        n, current = count.read() or 0, total.read() or 0
        if n and grown_size(current, n, size) > self._max_bytes:
            yield from _flush(batch, total, count, waited, due_at)
            n, current = 0, 0
        batch.add((size, record))
        total.write(grown_size(current, n, size))
        count.write(n + 1)
        if waited is not None and due_at is not None and due is not None:
            set_for = due_at.read() if n else None
            if set_for is None or due < set_for:
                waited.set(due)
                due_at.write(due)
        if grown_size(current, n, size) >= self._max_bytes:
            yield from _flush(batch, total, count, waited, due_at)


class _WaitingGroupFn(_GroupFn):
    """_GroupFn for streams: besides, a batch is sent once the watermark is `wait_s` past the earliest event time of
    its records (an event-time timer: for a live source, whose watermark follows the clock, about `wait_s` of
    waiting), and at the end of the window (a drained stream: the watermark reaches the end). `wait_s` is positive:
    a wait of 0 would set no timer, and a batch would wait until it filled or the stream drained."""

    def __init__(self, max_bytes: int, size_fn: Callable[[dict], int], wait_s: float):
        super().__init__(max_bytes, size_fn)
        self._wait_s = wait_s

    def process(self, element, window=beam.DoFn.WindowParam, batch=beam.DoFn.StateParam(_BATCH),
                total=beam.DoFn.StateParam(_BYTES), count=beam.DoFn.StateParam(_COUNT),
                window_end=beam.DoFn.TimerParam(_STREAM_WINDOW_END), waited=beam.DoFn.TimerParam(_WAITED),
                due_at=beam.DoFn.StateParam(_DUE), timestamp=beam.DoFn.TimestampParam):
        window_end.set(window.end)
        # This record's wait ends wait_s after its event time, never past the window's end.
        due = min(float(timestamp) + self._wait_s, float(window.end))
        yield from self._add(element[1], batch, total, count, waited, due, due_at)

    @on_timer(_STREAM_WINDOW_END)
    def on_window_end(self, batch=beam.DoFn.StateParam(_BATCH), total=beam.DoFn.StateParam(_BYTES),
                      count=beam.DoFn.StateParam(_COUNT), waited=beam.DoFn.TimerParam(_WAITED),
                      due_at=beam.DoFn.StateParam(_DUE)):
        yield from _flush(batch, total, count, waited, due_at)

    @on_timer(_WAITED)
    def on_waited(self, batch=beam.DoFn.StateParam(_BATCH), total=beam.DoFn.StateParam(_BYTES),
                  count=beam.DoFn.StateParam(_COUNT), waited=beam.DoFn.TimerParam(_WAITED),
                  due_at=beam.DoFn.StateParam(_DUE)):
        yield from _flush(batch, total, count, waited, due_at)


def _flush(batch, total, count, waited=None, due_at=None) -> Iterable[List[dict]]:
    """The open batch, if any, as one list; the state cleared."""
    records = [record for _, record in batch.read()]
    batch.clear()
    total.clear()
    count.clear()
    if waited is not None:
        waited.clear()
    if due_at is not None:
        due_at.clear()
    if records:
        yield records


class GroupByBytes(beam.PTransform):
    """Records -> lists of records whose body `{"records": [payload, ...]}` is at most `max_kb` KB, never splitting a
    record (one bigger than that goes alone); in a stream no record waits longer than `wait_s` (> 0) of event time for
    its batch; every open batch is sent when the window ends (the end of a bounded run, a drained stream).

    Element in: a record dict. Out: a non-empty list of record dicts (each in one list exactly once). `size_fn` gives
    a record's bytes inside the body (its payload's JSON); `shards` keys spread the state over workers. The wait
    holds in streams (`streaming`); a bounded run sends what is open when its input ends."""

    def __init__(self, max_kb: float, wait_s: float = DEFAULT_WAIT_S, payload_shape: str = 'extended',
                 shards: int = DEFAULT_SHARDS, streaming: bool = False,
                 size_fn: Optional[Callable[[dict], int]] = None):
        super().__init__()
        if max_kb <= 0:
            raise ValueError('max_kb must be positive')
        if wait_s <= 0:
            raise ValueError('wait_s must be positive')
        self._max_bytes = int(max_kb * KB)
        self._wait_s, self._shards, self._streaming = wait_s, max(1, shards), streaming
        self._size_fn = size_fn or _PayloadSize(payload_shape)

    def expand(self, records):
        shards = self._shards
        group = (_WaitingGroupFn(self._max_bytes, self._size_fn, self._wait_s) if self._streaming
                 else _GroupFn(self._max_bytes, self._size_fn))
        return (records
                | 'Shard' >> beam.Map(lambda record: (shard_of(record, shards), record))
                | 'Group' >> beam.ParDo(group))


class _PayloadSize:
    """A record's bytes inside the body: its payload of the given shape, JSON-encoded (picklable)."""

    def __init__(self, shape: str):
        self._shape = shape

    def __call__(self, record: dict) -> int:
        return payload_size(rec.oic_payload(record, self._shape))


def split(records: Sequence[dict], max_bytes: int, size_fn: Callable[[dict], int]) -> List[List[dict]]:
    """`records` grouped in order into bodies of at most `max_bytes` (the pure form of GroupByBytes, used to re-batch
    rows sent again)."""
    return [[records[i] for i in group] for group in plan([size_fn(r) for r in records], max_bytes)]


def sizes_of(groups: Iterable[Sequence[dict]], size_fn: Callable[[dict], int]) -> List[Tuple[int, int]]:
    """(records, body bytes) of each group: for tests and the benchmark."""
    return [(len(group), body_size([size_fn(r) for r in group])) for group in groups]
