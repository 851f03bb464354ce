"""Dead letters of every kind (invalid records, OIC, direct; shape: transforms.records.make_dead_letter) as rows of a
BigQuery error table."""

import json
from typing import Optional

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy

from transforms.direct.bigquery import EmulatorClient
from transforms.tables import Layout, TableSpec

# Partitioned by the day a record was refused (an error table is read by when things failed, and an invalid record
# may have no event_time), clustered by record_id like the data.
DEAD_LETTER_LAYOUT = Layout(partition_field='error_time')

DEAD_LETTER_SCHEMA = {'fields': [
    {'name': 'path', 'type': 'STRING', 'mode': 'NULLABLE'},
    {'name': 'record_id', 'type': 'STRING', 'mode': 'NULLABLE'},
    {'name': 'reason', 'type': 'STRING', 'mode': 'REQUIRED'},
    {'name': 'status', 'type': 'INT64', 'mode': 'NULLABLE'},
    {'name': 'attempts', 'type': 'INT64', 'mode': 'NULLABLE'},
    {'name': 'detail', 'type': 'STRING', 'mode': 'NULLABLE'},
    {'name': 'record', 'type': 'STRING', 'mode': 'NULLABLE'},
    {'name': 'error_time', 'type': 'TIMESTAMP', 'mode': 'NULLABLE'},
]}


def dead_letter_row(letter: dict) -> dict:
    """A dead letter -> an error-table row; the record is kept whole as a JSON string (it may be malformed)."""
    row = {field['name']: letter.get(field['name']) for field in DEAD_LETTER_SCHEMA['fields']}
    row['record'] = json.dumps(letter.get('record'), sort_keys=True, default=str)
    if not row['detail'] and letter.get('errors'):  # An invalid record: its reasons, and where it came from.
        row['detail'] = '; '.join(letter['errors'] + ([letter['source']] if letter.get('source') else []))
    return row


def create_emulator_table(endpoint: str, table: TableSpec) -> None:
    """Creates the error table in a BigQuery emulator (Beam cannot create tables there); idempotent."""
    from google.cloud import bigquery
    client = EmulatorClient(endpoint, table.project)._get()  # pylint: disable=protected-access
    client.create_dataset(table.project + '.' + table.dataset, exists_ok=True)
    schema = [bigquery.SchemaField(f['name'], f['type'], mode=f['mode']) for f in DEAD_LETTER_SCHEMA['fields']]
    client.create_table(DEAD_LETTER_LAYOUT.apply(bigquery.Table(table.dotted, schema=schema)), exists_ok=True)


class WriteDeadLetters(beam.PTransform):
    """Streams dead letters into a BigQuery error table (path is null for invalid records).

    Element in: {'path': 'oic', 'record_id': '…', 'reason': 'http_400', 'status': 400, 'attempts': 1,
                 'detail': '…', 'record': {…}, 'error_time': '…Z'}
    """

    def __init__(self, table: TableSpec, emulator_host: Optional[str] = None):
        super().__init__()
        self._table, self._emulator = table, emulator_host

    def expand(self, letters: beam.PCollection) -> beam.PCollection:
        emulated = bool(self._emulator)
        if self._emulator:
            create_emulator_table(self._emulator, self._table)
        return (letters
                | 'ToRow' >> beam.Map(dead_letter_row)
                | 'Write' >> WriteToBigQuery(
                    table=str(self._table), schema=DEAD_LETTER_SCHEMA, method='STREAMING_INSERTS',
                    create_disposition=(BigQueryDisposition.CREATE_NEVER if emulated
                                        else BigQueryDisposition.CREATE_IF_NEEDED),
                    write_disposition=BigQueryDisposition.WRITE_APPEND,
                    insert_retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
                    additional_bq_parameters=DEAD_LETTER_LAYOUT.bq_parameters(),
                    test_client=EmulatorClient(self._emulator, self._table.project, ('path', 'record_id', 'reason'))
                    if emulated else None))
