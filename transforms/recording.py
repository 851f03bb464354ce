"""Records what a run did as JSON lines under the run directory: sent records, acknowledgements, dead letters."""

import json
import os
import time
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

FLUSH_EVERY_S = 1.0


def record_file_pattern(out_dir, kind):
    """Where records of `kind` (e.g. 'oic/acks') are written; one file per writer."""
    return '%s/%s-*.jsonl' % (out_dir.rstrip('/'), kind)


class _AppendJsonLinesFn(beam.DoFn):
    """Appends each element as one JSON line to a file of its own writer.

    Local directories: one file per DoFn instance, flushed at least every second and at each bundle's end, so a
    progress reader (and a crash) sees what happened. Other filesystems (gs://): one file per bundle, since objects
    are only visible once closed.
    """

    def __init__(self, out_dir, kind):
        self._out_dir, self._kind = out_dir, kind

    def setup(self):
        self._local = '://' not in self._out_dir
        self._file = None
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
    """Writes every element to the run record as `OUT/<kind>-<writer>.jsonl` and passes nothing on.

    Element in: any JSON-able dict, e.g. an acknowledgement {'path': 'oic', 'record_id': '…', 'status': 200, …}.
    """

    def __init__(self, out_dir, kind):
        super().__init__()
        self._out_dir, self._kind = out_dir, kind

    def expand(self, pcoll):
        return pcoll | 'Append' >> beam.ParDo(_AppendJsonLinesFn(self._out_dir, self._kind))


def read_records(out_dir, kind):
    """All JSON lines of `kind` in a run directory (local or any Beam filesystem), in no particular order."""
    pattern = record_file_pattern(out_dir, kind)
    matches = FileSystems.match([pattern])[0].metadata_list
    found = []
    for meta in sorted(matches, key=lambda m: m.path):
        with FileSystems.open(meta.path) as handle:
            for raw in handle.read().decode('utf-8').splitlines():
                if raw.strip():
                    try:
                        found.append(json.loads(raw))
                    except ValueError:
                        continue  # A torn last line of a writer that was killed mid-write.
    return found
