"""The run record as BigQuery tables (--run_record_dataset): what each path was handed, OIC's acknowledgements, dead
letters and invalid records, one row each, keyed by run_id, so the comparison can reconcile inside BigQuery.

Three tables in the dataset, each partitioned by day on event_time (the record's: the comparison filters every query
on the run's window) and clustered by run_id, path, record_id (the join keys):

  sent          what a path was handed: run_id, path, the eight contract fields
  acks          OIC's acknowledgements: run_id, path, record_id, event_time, ack_time, status, attempts, latency_ms
  dead_letters  refused records: run_id, path (NULL = invalid record), record_id, event_time, reason, status, …

The JSON-lines files under --out (transforms/run_record/files.py) are written as well; these tables are the copy a
comparison can query at any scale.
"""

import dataclasses
import json
from typing import Any, Callable, Dict, Optional

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy
from apache_beam.options.pipeline_options import StandardOptions

from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.direct.bigquery import EmulatorClient, InsertWithRecordIds
from transforms.tables import Layout, TableSpec

SENT, ACKS, DEAD_LETTERS = 'sent', 'acks', 'dead_letters'
TABLES = (SENT, ACKS, DEAD_LETTERS)
LAYOUT = Layout(cluster_fields=('run_id', 'path', 'record_id'))
# What makes a row of these tables unique (its insertId): a record is sent down both paths, and acked or refused by each.
ID_FIELDS = ('run_id', 'path', 'record_id')


def _field(name: str, kind: str, mode: str = 'NULLABLE') -> dict:
    return {'name': name, 'type': kind, 'mode': mode}


_KEYS = [_field('run_id', 'STRING', 'REQUIRED'), _field('path', 'STRING')]
SCHEMAS: Dict[str, dict] = {
    SENT: {'fields': _KEYS + [_field(f, rec.BIGQUERY_TYPES[f]) for f in rec.FIELDS]},
    ACKS: {'fields': _KEYS + [
        _field('record_id', 'STRING'), _field('event_time', 'TIMESTAMP'), _field('ack_time', 'TIMESTAMP'),
        _field('status', 'INT64'), _field('attempts', 'INT64'), _field('latency_ms', 'FLOAT64')]},
    DEAD_LETTERS: {'fields': _KEYS + [
        _field('record_id', 'STRING'), _field('event_time', 'TIMESTAMP'), _field('reason', 'STRING'),
        _field('status', 'INT64'), _field('attempts', 'INT64'), _field('detail', 'STRING'),
        _field('errors', 'STRING'), _field('source', 'STRING'), _field('error_time', 'TIMESTAMP')]},
}


@dataclasses.dataclass(frozen=True)
class RunRecordTables:
    """Where this run's record goes in BigQuery: the dataset, the run's id, and the emulator if local."""
    project: str
    dataset: str
    run_id: str
    emulator_host: Optional[str] = None

    def table(self, name: str) -> TableSpec:
        return TableSpec(self.project, self.dataset, name)


def _timestamp(value: Any) -> Optional[str]:
    try:
        return rec.format_timestamp(rec.parse_timestamp(str(value))) if value not in (None, '') else None
    except (TypeError, ValueError, OverflowError):
        return None


def sent_row(run_id: str, path: str, record: dict) -> dict:
    """A record a path was handed -> a `sent` row."""
    row: Dict[str, Any] = {'run_id': run_id, 'path': path}
    row.update({f: record.get(f) for f in rec.FIELDS})
    row['event_time'] = _timestamp(record.get('event_time'))
    return row


def ack_row(run_id: str, ack: dict) -> dict:
    """An acknowledgement (transforms.oic.post.ack) -> an `acks` row."""
    row = {f['name']: ack.get(f['name']) for f in SCHEMAS[ACKS]['fields']}
    row.update(run_id=run_id, event_time=_timestamp(ack.get('event_time')), ack_time=_timestamp(ack.get('ack_time')))
    return row


def dead_letter_row(run_id: str, letter: dict) -> dict:
    """A dead letter (records.make_dead_letter) -> a `dead_letters` row. event_time is the record's; an invalid
    record without a readable one takes the moment it was refused, so that the run's window still finds it."""
    record: dict = letter['record'] if isinstance(letter.get('record'), dict) else {}
    record_id = letter.get('record_id')
    return {
        'run_id': run_id, 'path': letter.get('path'),
        'record_id': str(record_id) if record_id is not None else None,
        'event_time': _timestamp(record.get('event_time')) or _timestamp(letter.get('error_time')),
        'reason': letter.get('reason'), 'status': letter.get('status'), 'attempts': letter.get('attempts'),
        'detail': letter.get('detail'), 'errors': json.dumps(letter['errors']) if letter.get('errors') else None,
        'source': letter.get('source'), 'error_time': _timestamp(letter.get('error_time')),
    }


def table_and_row_for(kind: str, run_id: str) -> 'tuple[str, Callable[[dict], dict]]':
    """(table name, element -> row) for a run-record kind of transforms.run_record.files ('oic/sent', 'invalid', …)."""
    if kind == run_record.INVALID:
        return DEAD_LETTERS, lambda letter: dead_letter_row(run_id, letter)
    path, _, what = kind.partition('/')
    if kind == run_record.sent_kind(path):
        return SENT, lambda record: sent_row(run_id, path, record)
    if kind == run_record.acks_kind(path):
        return ACKS, lambda ack: ack_row(run_id, ack)
    if kind == run_record.dead_letters_kind(path):
        return DEAD_LETTERS, lambda letter: dead_letter_row(run_id, letter)
    raise ValueError('no run-record table for kind %r' % kind)


def create_emulator_tables(target: RunRecordTables) -> None:
    """Creates the dataset and the three tables in a BigQuery emulator (Beam cannot create tables there)."""
    from google.cloud import bigquery
    client = EmulatorClient(target.emulator_host, target.project)._get()  # pylint: disable=protected-access
    client.create_dataset('%s.%s' % (target.project, target.dataset), exists_ok=True)
    for name in TABLES:
        schema = [bigquery.SchemaField(f['name'], f['type'], mode=f['mode']) for f in SCHEMAS[name]['fields']]
        client.create_table(LAYOUT.apply(bigquery.Table(target.table(name).dotted, schema=schema)), exists_ok=True)


class WriteRunRecordTable(beam.PTransform):
    """Streams run-record elements of one kind into their table of the run-record dataset; passes nothing on.

    Element in: what RecordRun writes for `kind`, e.g. an ack {'path': 'oic', 'record_id': '…', 'status': 200, …}.
    Out: WriteToBigQuery's result. Rows BigQuery refuses are dropped after Beam's retries (the JSON-lines files keep
    everything).
    """

    def __init__(self, target: RunRecordTables, kind: str):
        super().__init__()
        self._target, self._kind = target, kind
        self._name, self._to_row = table_and_row_for(kind, target.run_id)

    def expand(self, elements: beam.PCollection):  # -> WriteToBigQuery's result (not annotated: Beam reads it)
        target = self._target
        emulated = bool(target.emulator_host)
        table = target.table(self._name)
        to_bigquery = WriteToBigQuery(
            table=str(table), schema=SCHEMAS[self._name], method='STREAMING_INSERTS',
            create_disposition=BigQueryDisposition.CREATE_NEVER if emulated else BigQueryDisposition.CREATE_IF_NEEDED,
            write_disposition=BigQueryDisposition.WRITE_APPEND,
            insert_retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
            additional_bq_parameters=LAYOUT.bq_parameters(),
            test_client=EmulatorClient(target.emulator_host, target.project, ID_FIELDS) if emulated else None)
        write: beam.PTransform = to_bigquery
        if emulated and elements.pipeline.options.view_as(StandardOptions).streaming:
            # The local streaming runner would hold the rows behind WriteToBigQuery's reshuffle until the stream
            # ends. Elsewhere WriteToBigQuery keeps its own insert ids (record_id is not unique in these tables).
            write = InsertWithRecordIds(table, to_bigquery)
        # Output type given: Beam would infer Dict[str, str] from the functions' first literal and pick a wrong coder.
        rows = elements | 'ToRow' >> beam.Map(self._to_row).with_output_types(Dict[str, Any])
        return rows | 'Insert' >> write
