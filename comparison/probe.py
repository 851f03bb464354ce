"""The time-to-queryable probe: polls the run's tables (one query each poll) during a run and records when each of
its rows is first seen."""

import collections
import datetime
import json
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from google.cloud import bigquery

from comparison import paths
from comparison.sql import bq_read
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo
from transforms.tables import TableSpec, parse_table_spec

POLL_DEADLINE_S = 10.0  # A stuck poll gives up; the next one widens the window.
POLL_RETRY = bigquery.DEFAULT_RETRY.with_deadline(POLL_DEADLINE_S)
DEFAULT_INTERVAL_S = 0.5  # Well under the 1 s resolution asked for, leaving room for the query itself.
# The incremental poll reads rows from a watermark this far behind the poll (at least; twice the slowest landing seen
# so far when that is more), so that rows still on their way are above it and a late one is rare (and still found).
WATERMARK_LAG_MIN_S = 10.0
# Above the watermark, rows are counted in event-time slices this wide, and a poll reads the rows of the slices whose
# count changed: at 200 rows/s a few slices of 50 rows each poll instead of every row of the last 10 s or more.
SLICE_US = 250000
_SLICE = 'DIV(UNIX_MICROS(event_time), %d)' % SLICE_US
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def slice_of(moment: datetime.datetime) -> int:
    """The event-time slice of `moment` (as the SQL's DIV(UNIX_MICROS(event_time), SLICE_US) numbers it)."""
    return ((moment - _EPOCH) // datetime.timedelta(microseconds=1)) // SLICE_US


def _slice_start(number: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(microseconds=number * SLICE_US)


class _Watermark:
    """What a table's polls know: every row with since <= event_time < at was seen, and there were `below` of them;
    `slices` counts the rows at or above `at` by event-time slice ({slice: rows}), as the last poll saw them."""

    def __init__(self) -> None:
        self.at: Optional[datetime.datetime] = None
        self.below = 0
        self.slices: Dict[int, int] = {}

    def known(self) -> List[str]:
        """The slices' counts as the SQL's 'slice:rows' strings (a slice whose count is not among them is read)."""
        return ['%d:%d' % item for item in sorted(self.slices.items())]


def probe_tables(run: RunInfo) -> Dict[str, TableSpec]:
    """{path: TableSpec} of the tables the probe can watch for this run (rows need record_id and event_time)."""
    tables = {}
    for path in run.paths:
        text = run.table(path)
        if not text or not paths.of(path).finds_rows(run):  # e.g. OIC's seed payload: no record_id
            continue
        tables[path] = parse_table_spec(text)
    return tables


def _every_row(path: str, table: TableSpec) -> str:
    """SQL: (path, record_id, event_time, below = NULL) of every row of the run in `table`."""
    return ("SELECT '%s' AS path, record_id, event_time, CAST(NULL AS INT64) AS below FROM `%s` "
            "WHERE event_time >= @since" % (path, table.dotted))


def _rows_above(path: str, table: TableSpec, mark: str, known: str) -> str:
    """SQL: the rows of `table` at or above the watermark `mark` in the slices whose 'slice:rows' is not among
    `known` (an ARRAY<STRING> parameter), and one row counting the run's rows below the watermark."""
    return ("SELECT '{p}' AS path, record_id, event_time, CAST(NULL AS INT64) AS below FROM `{t}` "
            "WHERE event_time >= {m} AND {s} IN (SELECT slice FROM (SELECT {s} AS slice, COUNT(*) AS n FROM `{t}` "
            "WHERE event_time >= {m} GROUP BY slice) WHERE CONCAT(CAST(slice AS STRING), ':', CAST(n AS STRING)) "
            "NOT IN UNNEST({k}))\nUNION ALL SELECT '{p}', CAST(NULL AS STRING), CAST(NULL AS TIMESTAMP), COUNT(*) "
            "FROM `{t}` WHERE event_time >= @since AND event_time < {m}".format(p=path, t=table.dotted, m=mark,
                                                                               s=_SLICE, k=known))


class Probe:
    """Polls each table every `interval` seconds (from the start of one poll to the next) for rows with
    event_time ≥ the run's start, appending each new record_id to OUT/probe.jsonl as
    {'path', 'record_id', 'event_time', 'seen_at', 'window_s'}: the row became queryable within `window_s` before
    `seen_at` (between the previous poll's start and the end of the poll that found it). On exit it polls once
    more and writes OUT/probe.json (interval, polls, errors). It never fails the run: errors are counted.

    A poll reads only rows at or above a watermark (event_time a little behind the newest), and of those only the
    ones in quarter-second event-time slices whose row count is not the one the probe last saw, with the number of
    rows below the watermark in the same query: every row the emulator returns costs it ~60 us, and re-reading every
    row above the watermark each poll took most of its time at 200 rows/s on three tables. When the number below
    is not the one the earlier polls saw, a row landed late below the watermark and the poll reads every row: each
    row is still first seen by the same poll as with a whole read.
    """

    def __init__(self, out_dir: str, run: RunInfo, interval: float = DEFAULT_INTERVAL_S,
                 client_factory: Callable[..., Any] = bq_read.make_client):
        self._out_dir, self._run, self._interval = out_dir, run, interval
        self._client_factory = client_factory
        self._tables = probe_tables(run)
        self._since = rec.parse_timestamp(run.started_at or '')
        self._seen: dict = {path: set() for path in self._tables}
        self._marks = {path: _Watermark() for path in self._tables}
        self._lag_s = WATERMARK_LAG_MIN_S
        self._full_reads = 0
        self._last_start: Dict[str, datetime.datetime] = {}
        self._polls = 0
        self._errors = 0
        self._first_error: Optional[str] = None
        self._gaps: List[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name='probe', daemon=True)
        self._file: Any = None

    def __enter__(self):
        if self._tables:
            self._file = open(os.path.join(self._out_dir, run_record.PROBE_SIGHTINGS), 'a', encoding='utf-8')
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if not self._tables:
            return False
        self._stop.set()
        self._thread.join()
        try:
            self._poll_all(self._client)
        except Exception as err:  # The last poll is best effort too.
            self._note_error(err)
        self._file.close()
        self._write_summary()
        return False

    def _loop(self):
        try:
            self._client = self._client_factory(next(iter(self._tables.values())).project,
                                                self._run.emulator_host)
        except Exception as err:  # No BigQuery client: the report says the probe saw nothing and why.
            self._client = None
            self._note_error(err)
            return
        while not self._stop.is_set():
            started = time.monotonic()
            self._poll_all(self._client)
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def _poll_all(self, client):
        """One poll of every table, in one query (a third table is not a third job for BigQuery to run each poll:
        on the local stack the probe's jobs were a third of the emulator's time); a failed poll is counted."""
        if client is None:
            return
        try:
            started = rec.utc_now()
            found = self._read(client)
            finished = rec.utc_now()
        except Exception as err:  # A failed poll widens the next sighting's window; it is counted.
            self._note_error(err)
            return
        for path, (rows, everything) in found.items():
            self._record(path, rows, everything, started, finished)

    def _query(self, client, sql, **params):
        job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=[
            bigquery.ArrayQueryParameter(name, 'STRING', value) if isinstance(value, list) else
            bigquery.ScalarQueryParameter(name, 'TIMESTAMP', value) for name, value in sorted(params.items())]),
            retry=POLL_RETRY, job_retry=None, timeout=POLL_DEADLINE_S)
        return list(job.result(retry=POLL_RETRY, timeout=POLL_DEADLINE_S))

    def _read(self, client) -> Dict[str, Tuple[List[Any], bool]]:
        """{path: (its rows at or above its watermark, or every row of the run when none is set or a row landed
        below it; whether it was every row)}: one query for every table, and a second for the tables whose count
        below the watermark changed."""
        parts, marks, known = [], {}, {}
        for index, (path, table) in enumerate(self._tables.items()):
            mark = self._marks[path]
            if mark.at is None:
                parts.append(_every_row(path, table))
            else:
                marks['mark%d' % index], known['known%d' % index] = mark.at, mark.known()
                parts.append(_rows_above(path, table, '@mark%d' % index, '@known%d' % index))
        rows = self._query(client, '\nUNION ALL\n'.join(parts), since=self._since, **marks, **known)
        by_path: Dict[str, List[Any]] = {path: [] for path in self._tables}
        for row in rows:
            by_path[row['path']].append(row)
        found: Dict[str, Tuple[List[Any], bool]] = {}
        again = []
        for path, got in by_path.items():
            mark = self._marks[path]
            counts = [row['below'] for row in got if row['event_time'] is None]
            if mark.at is None:
                found[path] = (got, True)
            elif counts == [mark.below]:
                found[path] = ([row for row in got if row['event_time'] is not None], False)
            else:
                again.append(path)
        if again:
            rows = self._query(client, '\nUNION ALL\n'.join(_every_row(p, self._tables[p]) for p in again),
                               since=self._since)
            for path in again:
                found[path] = ([row for row in rows if row['path'] == path], True)
        self._full_reads += sum(1 for _, everything in found.values() if everything)
        return {path: found[path] for path in self._tables}

    def _advance(self, mark, rows, everything, started):
        """Counts this poll's rows into the watermark's slices and moves it up to `lag` behind this poll's start, to a
        slice's start (never down, never below the run's start), counting the slices it passes into `below`: `rows`
        are every row of the run (everything) or every row of the slices whose count changed."""
        if everything:
            mark.at, mark.below, mark.slices = self._since, 0, {}
        mark.slices.update(collections.Counter(slice_of(row['event_time']) for row in rows))
        at = max(_slice_start(slice_of(started - datetime.timedelta(seconds=self._lag_s))), self._since, mark.at)
        for number in [n for n in mark.slices if _slice_start(n + 1) <= at]:
            mark.below += mark.slices.pop(number)
        mark.at = at

    def _record(self, path, rows, everything, started, finished):
        """One table's part of a poll: its watermark moves on, and its rows not seen before are sightings."""
        mark = self._marks[path]
        self._advance(mark, rows, everything, started)
        previous = self._last_start.get(path)
        self._last_start[path] = started
        self._polls += 1
        if previous is not None:
            self._gaps.append((started - previous).total_seconds())
        window = (finished - (previous or self._since)).total_seconds()
        seen = self._seen[path]
        lines = []
        for row in rows:
            record_id = row['record_id']
            if record_id and record_id not in seen:
                seen.add(record_id)
                self._lag_s = max(self._lag_s, 2 * (finished - row['event_time']).total_seconds())
                lines.append(json.dumps({
                    'path': path, 'record_id': record_id, 'event_time': rec.format_timestamp(row['event_time']),
                    'seen_at': rec.format_timestamp(finished), 'window_s': round(window, 3)}))
        if lines:
            self._file.write('\n'.join(lines) + '\n')
            self._file.flush()

    def _note_error(self, err):
        self._errors += 1
        if self._first_error is None:
            self._first_error = '%s: %s' % (type(err).__name__, (str(err).splitlines() or [''])[0][:200])

    def _write_summary(self):
        gaps = sorted(self._gaps)
        summary = {
            'interval_s': self._interval, 'polls': self._polls, 'errors': self._errors, 'full_reads': self._full_reads,
            'first_error': self._first_error, 'tables': {p: str(t) for p, t in self._tables.items()},
            'gap_p50_s': round(gaps[len(gaps) // 2], 3) if gaps else None,
            'gap_max_s': round(gaps[-1], 3) if gaps else None,
        }
        with open(os.path.join(self._out_dir, run_record.PROBE_SUMMARY), 'w', encoding='utf-8') as handle:
            json.dump(summary, handle, indent=2, sort_keys=True)


class NoProbe:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def probe_for(out_dir: str, run: RunInfo, local: bool) -> Union[Probe, NoProbe]:
    """The probe for a run writing to a local `out_dir` with the landed check on; a no-op otherwise."""
    interval = DEFAULT_INTERVAL_S if run.probe_interval is None else run.probe_interval
    if not local or not run.landed_check or not interval:
        return NoProbe()
    return Probe(out_dir, run, interval=interval)
