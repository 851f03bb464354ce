"""WriteToBigQueryStorage: dict rows into a BigQuery table through the Storage Write API, exactly once (a Python-native
sink; Beam's own STORAGE_WRITE_API method goes through Java). Design and guarantees: docs/storage-write.md."""

import random
from typing import Any, List, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import StrUtf8Coder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import GlobalWindows

from transforms.storage_write import results
from transforms.storage_write.batching import StableBatches, WaitingStableBatches
from transforms.storage_write.client import ClientFactory, GrpcClientFactory
from transforms.storage_write.options import WriterOptions
from transforms.storage_write.schema import RowError, RowSerializer, SchemaError, schema_mismatches
from transforms.storage_write.shard_writer import (
    APPENDS, ALREADY_EXISTS, BYTES, METRICS_NAMESPACE, RETRIES, ROW_ERRORS, ROWS, STREAMS_CREATED,
    STREAMS_FINALIZED, STREAMS_LOST, ShardState, ShardWriter)
from transforms.tables import parse_table_spec

COUNTERS = (APPENDS, ROWS, BYTES, RETRIES, ALREADY_EXISTS, ROW_ERRORS, STREAMS_CREATED, STREAMS_LOST,
            STREAMS_FINALIZED)


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
    (exactly once, docs/storage-write.md); rows wait in state for a later bundle or, on an unbounded input, until
    the watermark is options.max_buffering_s past the earliest waiting row's event time (on a bounded input, until
    its end). `client_factory` makes the append client in
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
        streams = (rows.pipeline | 'Shards' >> beam.Create(list(range(self._shards)))
                   | 'CreateStreams' >> beam.ParDo(_CreateStreams(self._table, self._schema, self._factory)))
        batches = (StableBatches if rows.is_bounded else WaitingStableBatches)(self._options)
        appended = (
            serialized.rows
            | 'GlobalWindow' >> beam.WindowInto(GlobalWindows())
            | 'Batch' >> beam.ParDo(batches).with_output_types(Tuple[int, Tuple[bool, List[bytes]]])
            | 'Append' >> beam.ParDo(_AppendToStreams(self._table, self._schema, self._factory, self._options),
                                     beam.pvalue.AsDict(streams))
            .with_outputs(results.DEAD_LETTER, main=results.WRITTEN))
        dead = ((serialized[results.DEAD_LETTER], appended[results.DEAD_LETTER])
                | 'DeadLetters' >> beam.Flatten())
        return {results.WRITTEN: appended[results.WRITTEN], results.DEAD_LETTER: dead}
