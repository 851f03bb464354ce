"""WriteToBigQueryStorage: dict rows into a BigQuery table through the Storage Write API, exactly once (a Python-native
sink; Beam's own STORAGE_WRITE_API method goes through Java). Design and guarantees: docs/storage-write.md."""

import dataclasses
import random
import time
import uuid
from typing import Any, Callable, List, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import BytesCoder, StrUtf8Coder, TupleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindows

from transforms.storage_write import results
from transforms.storage_write.client import ClientFactory, GrpcClientFactory
from transforms.storage_write.limits import AppendLimits
from transforms.storage_write.schema import RowError, RowSerializer, SchemaError, schema_mismatches
from transforms.storage_write.shard_writer import (
    APPENDS, ALREADY_EXISTS, BYTES, METRICS_NAMESPACE, RETRIES, ROW_ERRORS, ROWS, STREAMS_CREATED,
    STREAMS_FINALIZED, STREAMS_LOST, RetryPolicy, ShardState, ShardWriter)
from transforms.tables import parse_table_spec

COUNTERS = (APPENDS, ROWS, BYTES, RETRIES, ALREADY_EXISTS, ROW_ERRORS, STREAMS_CREATED, STREAMS_LOST,
            STREAMS_FINALIZED)


@dataclasses.dataclass(frozen=True)
class WriterOptions:
    """How rows are gathered and sent: a shard's batch goes when batch_rows are waiting or max_buffering_s after
    its first row (and holds only rows earlier bundles buffered); the per-append limits; the retry of an append
    whose answer was lost."""
    batch_rows: int = 1000
    max_buffering_s: float = 1.0
    limits: AppendLimits = AppendLimits()
    retry: RetryPolicy = RetryPolicy()


class _Serialize(beam.DoFn):
    """row dict -> (shard, proto bytes); a row that does not fit the schema -> dead letter (reason unserializable)."""

    def __init__(self, table: str, schema: Any, shards: int):
        self._table, self._schema, self._shards = table, schema, shards
        self._serializer: Optional[RowSerializer] = None
        self._next = 0

    def setup(self):
        self._serializer = RowSerializer(self._schema)
        self._next = random.randrange(self._shards)  # instances spread their rows over all the shards
        self._refused = Metrics.counter(METRICS_NAMESPACE, ROW_ERRORS)

    def process(self, row):
        assert self._serializer is not None
        try:
            data = self._serializer.serialize(row)
        except RowError as error:
            self._refused.inc()
            yield beam.pvalue.TaggedOutput(results.DEAD_LETTER,
                                           results.dead_letter(self._table, row, results.UNSERIALIZABLE, str(error)))
            return
        self._next = (self._next + 1) % self._shards
        yield self._next, data


class _StableBatches(beam.DoFn):
    """(shard, proto bytes) -> (shard, [proto bytes]): batches that a retried bundle forms again the same.

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


class _TimedStableBatches(_StableBatches):
    """_StableBatches for an unbounded input: also a processing-time timer, so a batch goes at most about
    max_buffering_s after its rows were buffered (rows of the attempt that fires it wait for the next firing)."""

    TIMER_SET = ReadModifyWriteStateSpec('timer_set', VarIntCoder())  # 1 while the flush timer is set
    FLUSH = TimerSpec('flush', TimeDomain.REAL_TIME)

    def process(self, element, window=beam.DoFn.WindowParam, buffer=beam.DoFn.StateParam(_StableBatches.BUFFER),
                waiting=beam.DoFn.StateParam(_StableBatches.WAITING),
                shard_state=beam.DoFn.StateParam(_StableBatches.SHARD), end=beam.DoFn.TimerParam(_StableBatches.END),
                timer_set=beam.DoFn.StateParam(TIMER_SET), flush=beam.DoFn.TimerParam(FLUSH)):
        shard, row = element
        shard_state.write(shard)
        end.set(window.max_timestamp())
        yield from self._add(shard, row, buffer, waiting)
        self._arm(waiting, timer_set, flush)

    @on_timer(FLUSH)
    def on_flush(self, buffer=beam.DoFn.StateParam(_StableBatches.BUFFER),
                 waiting=beam.DoFn.StateParam(_StableBatches.WAITING),
                 shard_state=beam.DoFn.StateParam(_StableBatches.SHARD), timer_set=beam.DoFn.StateParam(TIMER_SET),
                 flush=beam.DoFn.TimerParam(FLUSH)):
        timer_set.clear()
        yield from self._emit(shard_state.read(), buffer, waiting, final=False)
        self._arm(waiting, timer_set, flush)

    def _arm(self, waiting, timer_set, flush):
        if (waiting.read() or 0) and not timer_set.read():
            flush.set(self._clock() + self._options.max_buffering_s)
            timer_set.write(1)


class _CreateStreams(beam.DoFn):
    """shard -> (shard, COMMITTED stream name), once per run, before any row is appended; checks first that the
    table's schema matches the writer's (one SchemaError naming every difference). The names reach the append
    step as a side input, which the runner materializes once: a retried append bundle finds the same stream, where
    a stream created inside that bundle would be forgotten with its state and its rows written again elsewhere."""

    def __init__(self, table: str, schema: Any, client_factory: ClientFactory):
        self._table, self._schema, self._factory = table, schema, client_factory
        self._client: Any = None

    def setup(self):
        self._client = self._factory()
        mismatches = schema_mismatches(RowSerializer(self._schema).columns, self._client.table_schema(self._table))
        if mismatches:
            raise SchemaError('table %s does not match the writer\'s schema: %s' % (self._table,
                                                                                  '; '.join(mismatches)))
        self._created = Metrics.counter(METRICS_NAMESPACE, STREAMS_CREATED)

    def process(self, shard):
        self._created.inc()
        yield shard, self._client.create_stream(self._table)

    def teardown(self):
        if self._client is not None:
            self._client.close()
            self._client = None


class _AppendToStreams(beam.DoFn):
    """(shard, (final, [proto bytes])) -> one acknowledgement per append; refused rows -> dead letters. Each shard
    keeps its COMMITTED stream (first the one _CreateStreams made) and next offset in Beam state, so a retried bundle
    appends again at the same offsets; the shard's final batch (the end of the window: of a bounded input, or a
    drain) finalizes its stream."""

    STREAM = ReadModifyWriteStateSpec('stream', StrUtf8Coder())
    OFFSET = ReadModifyWriteStateSpec('offset', VarIntCoder())

    def __init__(self, table: str, schema: Any, client_factory: ClientFactory, options: WriterOptions):
        self._table, self._schema, self._factory, self._options = table, schema, client_factory, options
        self._client: Any = None
        self._writer: Optional[ShardWriter] = None

    def setup(self):
        serializer = RowSerializer(self._schema)
        self._client = self._factory()
        self._writer = ShardWriter(self._client, self._table, serializer, self._options.limits, self._options.retry)
        self._counters = {name: Metrics.counter(METRICS_NAMESPACE, name) for name in COUNTERS}

    def process(self, element, streams, stream=beam.DoFn.StateParam(STREAM), offset=beam.DoFn.StateParam(OFFSET)):
        assert self._writer is not None
        shard, (final, rows) = element
        if rows:  # the shard's stream from state; before its first append, the one made for it at the start
            state = ShardState(stream.read() or streams[shard], offset.read() or 0)
            done = self._writer.write(state, list(rows))
            stream.write(done.state.stream)
            offset.write(done.state.offset)
            for name, value in done.counts.items():
                if value:
                    self._counters[name].inc(value)
            yield from done.written
            for letter in done.dead_letters:
                yield beam.pvalue.TaggedOutput(results.DEAD_LETTER, letter)
        if final:
            name = stream.read()
            if name:
                self._writer.finalize(name)
                self._counters[STREAMS_FINALIZED].inc()
            stream.clear()
            offset.clear()

    def teardown(self):
        if self._client is not None:
            self._client.close()
            self._client = None


class WriteToBigQueryStorage(beam.PTransform):
    """Writes dict rows to a BigQuery table through the Storage Write API, exactly once, in Python.

    Element in: a row as a dict of column -> value, e.g.
        {'WH_ID': 'WH1', 'Item_id': 101, 'event_time': '2026-12-06T07:00:00.000000Z'}
    (TIMESTAMP as a datetime, RFC 3339 text or epoch seconds; DATE as a date or 'YYYY-MM-DD'; a column missing or
    None is NULL). Output: a dict of two PCollections,
        'written':     one acknowledgement per append, {'table', 'stream', 'offset', 'rows', 'bytes',
                       'already_written'}; sum 'rows' for the rows written;
        'dead_letter': one per refused row, {'table', 'row', 'reason', 'detail'}, reason 'unserializable' (the
                       row does not fit the schema), 'row_error' (BigQuery refused it: its row_errors message) or
                       'row_too_large'.

    Usage:
        result = rows | WriteToBigQueryStorage('my-project:my_dataset.my_table', schema, shards=4)
        result['dead_letter'] | 'Keep' >> beam.io.WriteToText('refused')

    `schema` is Beam's dict form {'fields': [{'name', 'type', 'mode'}]}; the table must exist with a matching
    schema (checked when the writer starts: a mismatch is one SchemaError naming every column that differs).
    Rows are spread over `shards` keys; each shard owns one COMMITTED stream for the run, created before any row
    is appended and finalized at the end of the input (or on drain). A shard appends only rows that earlier,
    committed bundles buffered in its state, so a retried bundle re-sends the same rows at the same offsets
    (exactly once, docs/storage-write.md); rows wait in state for a later bundle or for the buffering timer
    (options.max_buffering_s; on a bounded input, until its end). `client_factory` makes the append client in
    DoFn.setup(): GrpcClientFactory() for BigQuery with application default credentials,
    GrpcClientFactory('127.0.0.1:9060') for a local emulator, or a fake in tests. Beam metrics, namespace
    'storage_write': appends, rows, bytes, retries, already_exists, row_errors, streams_created, streams_lost,
    streams_finalized. Windows are not kept: rows are re-windowed into the global window, so that each shard keeps
    one stream.
    """

    def __init__(self, table: str, schema: Any, shards: int = 4, client_factory: Optional[ClientFactory] = None,
                 options: WriterOptions = WriterOptions(), clock: Callable[[], float] = time.time):
        super().__init__()
        parse_table_spec(table)  # ValueError now, not on a worker
        RowSerializer(schema)  # SchemaError now for what cannot be sent
        if shards < 1 or options.batch_rows < 1:
            raise ValueError('shards and batch_rows must be at least 1 (got %d, %d)' % (shards, options.batch_rows))
        self._table, self._schema, self._shards, self._options = table, schema, shards, options
        self._factory = client_factory or GrpcClientFactory()
        self._clock = clock  # processing time for the buffering timer, as GroupIntoBatches takes one (tests: virtual)

    def expand(self, rows):
        serialize = beam.ParDo(_Serialize(self._table, self._schema, self._shards)).with_output_types(
            Tuple[int, bytes])  # a deterministic key coder for the stateful steps
        serialized = rows | 'Serialize' >> serialize.with_outputs(results.DEAD_LETTER, main='rows')
        streams = (rows.pipeline | 'Shards' >> beam.Create(list(range(self._shards)))
                   | 'CreateStreams' >> beam.ParDo(_CreateStreams(self._table, self._schema, self._factory)))
        appended = (
            serialized.rows
            | 'GlobalWindow' >> beam.WindowInto(GlobalWindows())
            | 'Batch' >> beam.ParDo((_StableBatches if rows.is_bounded else _TimedStableBatches)(self._options, self._clock))
            .with_output_types(Tuple[int, Tuple[bool, List[bytes]]])
            | 'Append' >> beam.ParDo(_AppendToStreams(self._table, self._schema, self._factory, self._options),
                                     beam.pvalue.AsDict(streams))
            .with_outputs(results.DEAD_LETTER, main=results.WRITTEN))
        dead = ((serialized[results.DEAD_LETTER], appended[results.DEAD_LETTER])
                | 'DeadLetters' >> beam.Flatten())
        return {results.WRITTEN: appended[results.WRITTEN], results.DEAD_LETTER: dead}
