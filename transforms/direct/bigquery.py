"""The direct branch: the same records written straight into BigQuery with WriteToBigQuery (method selectable)."""

from typing import Any, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, BigQueryWriteFn, WriteResult, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import StandardOptions

from transforms import records as rec
from transforms.records import METRICS_NAMESPACE
from transforms.tables import DATA_LAYOUT, TableSpec

EMULATOR_RETRY_DEADLINE_S = 15.0
INSERT_BATCH_ROWS = 500
METHODS = ('STREAMING_INSERTS', 'STORAGE_WRITE_API', 'FILE_LOADS')


class EmulatorClient:
    """The one seam for a BigQuery emulator: Beam's `test_client` for STREAMING_INSERTS.

    Beam would otherwise build an apitools client that ignores BIGQUERY_EMULATOR_HOST and, without Google
    credentials, starts an interactive OAuth flow. This object pickles as two strings and builds a
    google-cloud-bigquery Client (anonymous, pointed at the emulator) lazily on the worker. It uses each row's
    `id_fields` (default: record_id) as insertId — a table where a record_id appears more than once (the run
    record's, the dead letters') names the fields that make a row unique — and turns a failed call into per-row transient errors so that Beam's retry policy
    applies instead of the client's 10-minute default.
    """

    def __init__(self, endpoint: Optional[str], project: str, id_fields: Tuple[str, ...] = ('record_id',)):
        self.endpoint, self.project, self.id_fields = endpoint, project, tuple(id_fields)
        self._client: Any = None

    def __getstate__(self):
        return {'endpoint': self.endpoint, 'project': self.project, 'id_fields': self.id_fields, '_client': None}

    def insert_id(self, row: dict) -> Optional[str]:
        """The row's insertId: its id fields joined, None when the row has no record_id."""
        if not row.get('record_id'):
            return None
        return '/'.join(str(row.get(field) or '') for field in self.id_fields)

    def _get(self):
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import bigquery
            self._client = bigquery.Client(
                project=self.project, credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=self.endpoint))
        return self._client

    def insert_rows_json(self, table: Any, json_rows: Sequence[dict], row_ids: Optional[Sequence[Optional[str]]] = None,
                         timeout: Optional[float] = None, **kwargs: Any) -> List[dict]:
        from google.cloud.bigquery import DEFAULT_RETRY
        ids = [self.insert_id(row) or fallback for row, fallback in zip(json_rows, row_ids or [None] * len(json_rows))]
        try:
            return self._get().insert_rows_json(
                table, json_rows, row_ids=ids, retry=DEFAULT_RETRY.with_deadline(EMULATOR_RETRY_DEADLINE_S),
                timeout=min(timeout or EMULATOR_RETRY_DEADLINE_S, EMULATOR_RETRY_DEADLINE_S), **kwargs)
        except Exception as err:  # Any failed call: every row of the batch is retried by Beam, then dead-lettered.
            error = {'reason': 'backendError', 'message': '%s: %s' % (type(err).__name__, str(err)[:200])}
            return [{'index': i, 'errors': [error]} for i in range(len(json_rows))]


def failed_row_letter(failed: Tuple[Any, dict, Optional[List[dict]]]) -> dict:
    """WriteToBigQuery's (table, row, errors) -> a dead letter of the direct path."""
    table, row, errors = failed
    reasons = sorted({e.get('reason', 'unknown') for e in errors or []}) or ['unknown']
    return rec.make_dead_letter('direct', row, 'bigquery_' + '_'.join(reasons), table=str(table),
                            detail='; '.join(str(e.get('message', ''))[:200] for e in errors or []))


def storage_write_letter(failed: dict) -> dict:
    """STORAGE_WRITE_API's {'failed_row': row, 'error_message': …} -> a dead letter of the direct path."""
    row = {k: (str(v) if k == 'event_time' and v is not None else v) for k, v in failed['failed_row'].items()}
    return rec.make_dead_letter('direct', row, 'bigquery_storage_write', detail=str(failed.get('error_message', '')))


def storage_write_row(row: dict) -> dict:
    """A BigQuery JSON row with event_time as a Beam Timestamp, the type the Storage Write API schema expects."""
    from apache_beam.utils.timestamp import Timestamp
    if row.get('event_time'):
        row = dict(row, event_time=Timestamp.from_utc_datetime(rec.parse_timestamp(row['event_time'])))
    return row


class _CountFn(beam.DoFn):
    def __init__(self, name):
        self._counter = Metrics.counter(METRICS_NAMESPACE, name)

    def process(self, element):
        self._counter.inc()
        yield element


class InsertWithRecordIds(beam.PTransform):
    """Streaming inserts in the stage that makes the rows, with each row's record_id as insertId.

    WriteToBigQuery puts a reshuffle before its inserts so that the random insert ids it assigns stay the same when a
    bundle is retried. Our insert ids are the record_ids, the same on every retry by construction; and on a local
    streaming runner that reshuffle holds every row until the stream ends (and a cancelled stream loses them). So
    streaming pipelines run Beam's own insert DoFn (BigQueryWriteFn, what WriteToBigQuery runs after its reshuffle)
    with the same settings, without the reshuffle.

    Element in: a row dict with record_id. Out: a WriteResult, as WriteToBigQuery's (refused rows with errors).
    """

    def __init__(self, table: TableSpec, write: WriteToBigQuery):
        super().__init__()
        self._table, self._write = table, write  # `write`: the WriteToBigQuery whose settings we keep.

    def expand(self, rows: beam.PCollection):  # -> WriteResult (not annotated: Beam would read it as a type hint)
        w = self._write
        table = str(self._table)
        inserted = (
            rows
            | 'KeyByTable' >> beam.Map(lambda row: (table, (row, row.get('record_id'))))
            | 'Insert' >> beam.ParDo(BigQueryWriteFn(
                batch_size=INSERT_BATCH_ROWS, schema=w.schema, create_disposition=w.create_disposition,
                write_disposition=w.write_disposition, test_client=w.test_client,
                retry_strategy=w.insert_retry_strategy, max_retries=w._max_retries)).with_outputs(
                    BigQueryWriteFn.FAILED_ROWS, BigQueryWriteFn.FAILED_ROWS_WITH_ERRORS, main='main'))
        return WriteResult(method=WriteToBigQuery.Method.STREAMING_INSERTS,
                           failed_rows=inserted[BigQueryWriteFn.FAILED_ROWS],
                           failed_rows_with_errors=inserted[BigQueryWriteFn.FAILED_ROWS_WITH_ERRORS])


def check_method(method: str, emulated: bool, streaming: bool) -> None:
    """ValueError when `method` cannot work here (the launcher reports the same as a usage error first)."""
    if method not in METHODS:
        raise ValueError('method must be one of %s (got %r)' % (', '.join(METHODS), method))
    if emulated and method != 'STREAMING_INSERTS':
        raise ValueError('the BigQuery emulator takes STREAMING_INSERTS only (got %s)' % method)
    if streaming and method == 'FILE_LOADS':
        raise ValueError('FILE_LOADS is for batch pipelines; use STREAMING_INSERTS or STORAGE_WRITE_API')


class WriteDirect(beam.PTransform[beam.PCollection[dict], beam.PCollection[dict]]):
    """Writes records into `table` with WriteToBigQuery; returns the rows BigQuery refused, as dead letters.

    `method`: STREAMING_INSERTS (default; insertId = record_id, refused rows come back), STORAGE_WRITE_API
    (Dataflow: a cross-language transform that needs Beam's Java expansion service; refused rows come back) or
    FILE_LOADS (batch load jobs through a gs:// temp location; a failed load fails the job, so nothing comes back).

    Element in:  a valid record dict (becomes the row as is: the eight contract fields).
    Out:         {'path': 'direct', 'record_id': '…', 'reason': 'bigquery_invalid', 'detail': '…', 'record': {…}}
    """

    def __init__(self, table: TableSpec, emulator_host: Optional[str] = None, method: str = 'STREAMING_INSERTS',
                 max_retries: int = 8):
        super().__init__()
        check_method(method, bool(emulator_host), streaming=False)
        self._table, self._emulator, self._method, self._max_retries = table, emulator_host, method, max_retries

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        emulated = bool(self._emulator)
        streaming = records.pipeline.options.view_as(StandardOptions).streaming
        check_method(self._method, emulated, streaming)
        to_bigquery = WriteToBigQuery(
            table=str(self._table),
            schema=rec.BIGQUERY_SCHEMA,
            method=self._method,
            # The emulator's tables are made by the local stack; real BigQuery gets them made from the schema.
            create_disposition=BigQueryDisposition.CREATE_NEVER if emulated else BigQueryDisposition.CREATE_IF_NEEDED,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
            insert_retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
            max_retries=self._max_retries,
            additional_bq_parameters=DATA_LAYOUT.bq_parameters(),  # Partitioned and clustered when Beam creates it.
            test_client=EmulatorClient(self._emulator, self._table.project) if emulated else None)
        write: beam.PTransform = to_bigquery
        if streaming and self._method == 'STREAMING_INSERTS':
            write = InsertWithRecordIds(self._table, to_bigquery)
        rows = records | 'ToRow' >> beam.Map(rec.bigquery_row)
        if self._method == 'STORAGE_WRITE_API':
            rows = rows | 'ToStorageRow' >> beam.Map(storage_write_row)
        result = rows | 'Count' >> beam.ParDo(_CountFn('direct_sent')) | 'Write' >> write
        if self._method == 'FILE_LOADS':
            return records.pipeline | 'NoFailedRows' >> beam.Create([])
        to_letter = storage_write_letter if self._method == 'STORAGE_WRITE_API' else failed_row_letter
        return (
            result.failed_rows_with_errors
            | 'ToDeadLetter' >> beam.Map(to_letter)
            | 'CountFailed' >> beam.ParDo(_CountFn('direct_dead_lettered')))
