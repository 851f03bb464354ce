"""WriteToBigQueryStorage: dict rows into a BigQuery table through the Storage Write API, exactly once (a Python-native
sink; Beam's own STORAGE_WRITE_API method goes through Java). Design and guarantees: docs/storage-write.md."""

import dataclasses
import random
from typing import Any, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import StrUtf8Coder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
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
    """How rows are gathered and sent: rows per batch a shard appends at once (a batch waits at most
    max_buffering_s for more rows), the per-append limits, and the retry of an append whose answer was lost."""
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


class _AppendToStreams(beam.DoFn):
    """(shard, [proto bytes]) -> one acknowledgement per append; refused rows -> dead letters. Each shard keeps its
    committed stream and next offset in Beam state, so a retried bundle appends again at the same offsets; its
    stream is finalized when the window ends (the end of a bounded input, or a drain)."""

    STREAM = ReadModifyWriteStateSpec('stream', StrUtf8Coder())
    OFFSET = ReadModifyWriteStateSpec('offset', VarIntCoder())
    END = TimerSpec('end', TimeDomain.WATERMARK)

    def __init__(self, table: str, schema: Any, client_factory: ClientFactory, options: WriterOptions):
        self._table, self._schema, self._factory, self._options = table, schema, client_factory, options
        self._client: Any = None
        self._writer: Optional[ShardWriter] = None

    def setup(self):
        serializer = RowSerializer(self._schema)
        self._client = self._factory()
        mismatches = schema_mismatches(serializer.columns, self._client.table_schema(self._table))
        if mismatches:
            raise SchemaError('table %s does not match the writer\'s schema: %s' % (self._table,
                                                                                  '; '.join(mismatches)))
        self._writer = ShardWriter(self._client, self._table, serializer, self._options.limits, self._options.retry)
        self._counters = {name: Metrics.counter(METRICS_NAMESPACE, name) for name in COUNTERS}

    def process(self, element, window=beam.DoFn.WindowParam, stream=beam.DoFn.StateParam(STREAM),
                offset=beam.DoFn.StateParam(OFFSET), end=beam.DoFn.TimerParam(END)):
        assert self._writer is not None
        _, rows = element
        done = self._writer.write(ShardState(stream.read() or '', offset.read() or 0), list(rows))
        stream.write(done.state.stream)
        offset.write(done.state.offset)
        end.set(window.max_timestamp())
        self._report(done.counts)
        yield from done.written
        for letter in done.dead_letters:
            yield beam.pvalue.TaggedOutput(results.DEAD_LETTER, letter)

    @on_timer(END)
    def finalize(self, stream=beam.DoFn.StateParam(STREAM), offset=beam.DoFn.StateParam(OFFSET)):
        assert self._writer is not None
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

    def _report(self, counts):
        for name, value in counts.items():
            if value:
                self._counters[name].inc(value)


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
    Rows are spread over `shards` keys; each shard owns one COMMITTED stream for the run, created on its first
    append and finalized at the end of the input (or on drain). `client_factory` makes the append client in
    DoFn.setup(): GrpcClientFactory() for BigQuery with application default credentials,
    GrpcClientFactory('127.0.0.1:9060') for a local emulator, or a fake in tests. Beam metrics, namespace
    'storage_write': appends, rows, bytes, retries, already_exists, row_errors, streams_created, streams_lost,
    streams_finalized. Windows are not kept: rows are re-windowed into the global window, so that each shard keeps
    one stream.
    """

    def __init__(self, table: str, schema: Any, shards: int = 4, client_factory: Optional[ClientFactory] = None,
                 options: WriterOptions = WriterOptions()):
        super().__init__()
        parse_table_spec(table)  # ValueError now, not on a worker
        RowSerializer(schema)  # SchemaError now for what cannot be sent
        if shards < 1 or options.batch_rows < 1:
            raise ValueError('shards and batch_rows must be at least 1 (got %d, %d)' % (shards, options.batch_rows))
        self._table, self._schema, self._shards, self._options = table, schema, shards, options
        self._factory = client_factory or GrpcClientFactory()

    def expand(self, rows):
        serialize = beam.ParDo(_Serialize(self._table, self._schema, self._shards)).with_output_types(
            Tuple[int, bytes])  # a deterministic key coder for the stateful steps
        serialized = rows | 'Serialize' >> serialize.with_outputs(results.DEAD_LETTER, main='rows')
        appended = (
            serialized.rows
            | 'GlobalWindow' >> beam.WindowInto(GlobalWindows())
            | 'Batch' >> beam.GroupIntoBatches(self._options.batch_rows,
                                               max_buffering_duration_secs=self._options.max_buffering_s)
            | 'Append' >> beam.ParDo(_AppendToStreams(self._table, self._schema, self._factory, self._options))
            .with_outputs(results.DEAD_LETTER, main=results.WRITTEN))
        dead = ((serialized[results.DEAD_LETTER], appended[results.DEAD_LETTER])
                | 'DeadLetters' >> beam.Flatten())
        return {results.WRITTEN: appended[results.WRITTEN], results.DEAD_LETTER: dead}
