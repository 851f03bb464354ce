"""RecordRun: a PCollection written to the run record (JSON lines under --out) and, with tables, to the run-record
dataset in BigQuery. Above both files.py and tables.py, which know nothing of each other's writers."""

import json
import os
import time
import uuid
from typing import Any, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.run_record.files import FLUSH_EVERY_S, is_local
from transforms.run_record.tables import RunRecordTables, WriteRunRecordTable


class _AppendJsonLinesFn(beam.DoFn):
    """Appends each element as one JSON line to a file of its own writer.

    Local directories: one file per DoFn instance, flushed at least every second and at each bundle's end, so a
    progress reader (and a crash) sees what happened. Other filesystems (gs://): one file per bundle, since objects
    are only visible once closed.
    """

    def __init__(self, out_dir, kind):
        self._out_dir, self._kind = out_dir, kind

    def setup(self):
        self._local = is_local(self._out_dir)
        self._file: Any = None
        self._last_flush = time.monotonic()

    def _open(self):
        path = '%s/%s-%s.jsonl' % (self._out_dir.rstrip('/'), self._kind, uuid.uuid4().hex[:12])
        if self._local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return open(path, 'a', encoding='utf-8')
        return FileSystems.create(path, mime_type='application/x-ndjson')

    def process(self, element):
        if self._file is None:
            self._file = self._open()
        line = json.dumps(element, sort_keys=True, default=str) + '\n'
        self._file.write(line if self._local else line.encode('utf-8'))
        if self._local and time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self._file.flush()
            self._last_flush = time.monotonic()

    def finish_bundle(self):
        if self._file is None:
            return
        if self._local:
            self._file.flush()
        else:
            self._file.close()
            self._file = None

    def teardown(self):
        if getattr(self, '_file', None) is not None:
            self._file.close()
            self._file = None


class RecordRun(beam.PTransform):
    """Writes every element to the run record as `OUT/<kind>-<writer>.jsonl` and passes nothing on; with `tables`
    (a RunRecordTables) also streams it into the run-record dataset in BigQuery.

    Element in: any JSON-able dict, e.g. an acknowledgement {'path': 'oic', 'record_id': '…', 'status': 200, …}.
    """

    def __init__(self, out_dir: str, kind: str, tables: Optional[RunRecordTables] = None):
        super().__init__()
        self._out_dir, self._kind, self._tables = out_dir, kind, tables

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        if self._tables is not None:
            _ = pcoll | 'ToBigQuery' >> WriteRunRecordTable(self._tables, self._kind)
        return pcoll | 'Append' >> beam.ParDo(_AppendJsonLinesFn(self._out_dir, self._kind))
