"""Replays a file of warehouse records: CSV in the seed's format, or JSON lines."""

import csv
import io
import json
from typing import Iterable, Iterator, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms import records as rec
from transforms.records import METRICS_NAMESPACE

JSON_SUFFIXES = ('.jsonl', '.json', '.ndjson')


def _broken(source, raw, error):
    return {'_source': source, '_errors': [error], '_raw': raw}


def is_json_lines(path: str) -> bool:
    return path.endswith(JSON_SUFFIXES)


def header_problem(header: Sequence[str]) -> Optional[str]:
    """Why a CSV header (list of column names) cannot be replayed; None when it can."""
    missing = [f for f in rec.SEED_FIELDS if f not in header]
    if missing:
        return 'the header lacks %s (expected %s)' % (', '.join(missing), ','.join(rec.SEED_FIELDS))
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        return 'the header repeats %s' % ', '.join(repeated)
    return None


def check_local_file(path: str) -> None:
    """Pre-flight check of a local replay file, before any pipeline runs: raises ValueError with the reason when
    a CSV's header is unreadable or lacks the seed's columns (JSON lines are checked line by line in the run)."""
    if is_json_lines(path):
        return
    with open(path, 'rb') as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                text = raw.decode('utf-8-sig')
            except UnicodeDecodeError as err:
                raise ValueError('the header line is not valid UTF-8 (byte %d)' % err.start) from None
            problem = header_problem([c.strip() for c in next(csv.reader(io.StringIO(text)))])
            if problem:
                raise ValueError(problem)
            return
    raise ValueError('the file is empty: a CSV replay needs the header %s' % ','.join(rec.SEED_FIELDS))


def parse_csv_lines(lines: Iterable[Tuple[int, bytes]], name: str) -> Iterator[dict]:
    """(line_number, bytes) pairs of a CSV with the seed's header -> record dicts; broken lines carry `_errors`."""
    header = None
    for number, raw in lines:
        source = '%s:%d' % (name, number)
        try:
            text = raw.decode('utf-8-sig' if header is None else 'utf-8')  # A spreadsheet's BOM before the header.
        except UnicodeDecodeError as err:
            if header is None:
                raise ValueError('%s: the header line is not valid UTF-8 (byte %d)' % (name, err.start)) from None
            yield _broken(source, raw.decode('utf-8', 'replace'), 'line is not valid UTF-8 (byte %d)' % err.start)
            continue
        if not text.strip():
            continue
        cells = next(csv.reader(io.StringIO(text)))
        if header is None:
            header = [c.strip() for c in cells]
            problem = header_problem(header)
            if problem:
                raise ValueError('%s: %s' % (name, problem))
            continue
        if len(cells) != len(header):
            yield _broken(source, text.rstrip('\r\n'),
                          'expected %d columns, found %d' % (len(header), len(cells)))
            continue
        record = dict(zip(header, cells))
        record['_source'] = source
        record['_raw'] = text.rstrip('\r\n')
        yield record


def parse_json_lines(lines: Iterable[Tuple[int, bytes]], name: str) -> Iterator[dict]:
    """(line_number, bytes) pairs of JSON lines -> record dicts; broken lines carry `_errors`."""
    for number, raw in lines:
        source = '%s:%d' % (name, number)
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError as err:
            yield _broken(source, raw.decode('utf-8', 'replace'), 'line is not valid UTF-8 (byte %d)' % err.start)
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError as err:
            yield _broken(source, text.rstrip('\r\n'), 'not valid JSON: %s' % err)
            continue
        if not isinstance(record, dict):
            yield _broken(source, text.rstrip('\r\n'), 'a JSON line must be an object')
            continue
        record['_source'] = source
        record['_raw'] = text.rstrip('\r\n')
        yield record


class _ReadFileFn(beam.DoFn):
    def __init__(self, run_id):
        self._run_id = run_id
        self.generated = Metrics.counter(METRICS_NAMESPACE, 'generated')

    def process(self, path):
        name = path.rsplit('/', 1)[-1]
        parse = parse_json_lines if is_json_lines(path) else parse_csv_lines
        with FileSystems.open(path) as handle:
            lines = enumerate(handle.read().splitlines(), start=1)
            for index, record in enumerate(parse(lines, name)):
                self.generated.inc()
                # Every line gets an id of its own, even a broken one, so dead letters can be reconciled.
                yield rec.stamp(record, self._run_id, index)


class ReadRecordFile(beam.PTransform[beam.pvalue.PBegin, beam.PCollection[dict]]):
    """Reads every line of a CSV (seed format) or JSON-lines file, assigning record_id and event_time.

    Element: {'WH_ID': 'WH8', 'Item_Name': 'Mechanically Separated', 'Item_id': '100', …, 'record_id': '…',
              'event_time': '…Z', '_source': 'poultry.csv:2', '_raw': 'WH8,Mechanically Separated,100,…'}
    Values stay as read (strings from CSV); ValidateRecords checks and converts them.
    """

    def __init__(self, path: str, run_id: str):
        super().__init__()
        self._path, self._run_id = path, run_id

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return pbegin | 'Path' >> beam.Create([self._path]) | 'Parse' >> beam.ParDo(_ReadFileFn(self._run_id))
