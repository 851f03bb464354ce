"""RecordRun: a PCollection written to the run record (JSON lines under --out) and, with tables, to the run-record
dataset in BigQuery. Above both files.py and tables.py, which know nothing of each other's writers."""

import json
import os
import threading
import time
import uuid
import weakref
from typing import Any, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.run_record.files import FLUSH_EVERY_S, is_local
from transforms.run_record.tables import RunRecordTables, WriteRunRecordTable


class _Flusher:
    """Flushes every open local writer of this process once a second from one daemon thread, so that the lines of
    records still in flight (a bundle waiting on OIC for seconds writes nothing more until it ends) reach the file:
    the progress line sees them, and a cancelled run can name them. Started by the first local writer."""

    def __init__(self) -> None:
        self._writers: 'weakref.WeakSet[_AppendJsonLinesFn]' = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def add(self, writer: '_AppendJsonLinesFn') -> None:
        with self._lock:
            self._writers.add(writer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='run-record-flush', daemon=True)
                self._thread.start()

    def flush_all(self) -> None:
        with self._lock:
            writers = list(self._writers)
        for writer in writers:
            writer.flush()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY_S)
            self.flush_all()


_FLUSHER = _Flusher()


def flush_open_writers() -> None:
    """Flushes what every open run-record writer of this process has written (a cancelled local run, before its
    report reads the files)."""
    _FLUSHER.flush_all()


class _AppendJsonLinesFn(beam.DoFn):
    """Appends each element as one JSON line to a file of its own writer.

    Local directories: one file per DoFn instance, flushed every second (by _Flusher, also while the bundle waits)
    and at each bundle's end, so a progress reader (and a crash) sees what happened. Other filesystems (gs://): one
    file per bundle, since objects are only visible once closed.
    """

    def __init__(self, out_dir, kind):
        self._out_dir, self._kind = out_dir, kind

    def setup(self):
        self._local = is_local(self._out_dir)
        self._file: Any = None
        self._lock = threading.Lock()  # the flusher's thread flushes beside the bundle's writes
        if self._local:
            _FLUSHER.add(self)

    def flush(self) -> None:
        """Flushes a local file's lines (any thread); nothing for another filesystem, or once closed."""
        with self._lock:
            if self._local and self._file is not None:
                self._file.flush()

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
        with self._lock:
            self._file.write(line if self._local else line.encode('utf-8'))

    def finish_bundle(self):
        if self._file is None:
            return
        if self._local:
            self.flush()
        else:
            self._file.close()
            self._file = None

    def teardown(self):
        if getattr(self, '_file', None) is not None:
            with self._lock:
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
