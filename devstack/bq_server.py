"""bqemulator's command line, without its per-write time-travel snapshots and with BigQuery's insertId
de-duplication: python -m devstack.bq_server start …

bqemulator 1.4 copies a table whole into a new snapshot table after every write to it (`SnapshotManager.
record_change`, for `FOR SYSTEM_TIME AS OF`), so a stream of small `insertAll` calls costs time and memory in
proportion to the table each time: measured ~80 inserts/s into an empty table falling to ~11/s at 30,000 rows, and
13 GB of memory after five minutes at 100 inserts/s. This project never reads the past of a table; the stack starts
the emulator through this module, which keeps the change events (materialized views and caches follow them) and
skips the copies. Time-travel queries then read the live table. It also moves the Storage Write API's inserts onto
the server's event loop (with_appends_on_the_event_loop): from gRPC's threads they deadlock the emulator; and it
parses a query's text once (with_parses_remembered) where bqemulator parsed it again in every step of the job.

BigQuery remembers each streamed row's insertId for at least one minute and drops a row whose insertId it has seen
(best effort: "Use the legacy streaming API", cloud.google.com/bigquery/docs/streaming-data-into-bigquery); bqemulator
keeps every row, so a retried request whose answer was lost would land twice locally where BigQuery would usually
keep one. The launcher wraps the emulator's insertAll route so that rows whose insertId this table saw within the
last BQ_DEDUP_WINDOW_S seconds (default 60; 0 turns it off, to see raw retries) are answered as inserted and not
stored. Rows without an insertId are never dropped, as in BigQuery.
"""

import collections
import os
import sys
import threading
import time
from typing import Any, Callable, Deque, Dict, Hashable, List, Optional, Sequence, Tuple

WRITTEN_FOR = '1.4.'  # the bqemulator release the patches below were written for (requirements/dev.lock: 1.4.0)
DEDUP_ENV = 'BQ_DEDUP_WINDOW_S'
DEFAULT_DEDUP_WINDOW_S = 60.0  # BigQuery's documented minimum; it is best effort there, exact here.
INSERT_ALL_PATH = '/projects/{project_id}/datasets/{dataset_id}/tables/{table_id}/insertAll'


class InsertIdWindow:
    """The insertIds each table saw in the last `window_s` seconds (clock injectable for tests)."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._seen: Dict[Tuple[Hashable, str], float] = {}
        self._order: Deque[Tuple[float, Tuple[Hashable, str]]] = collections.deque()
        self.dropped = 0

    def admit(self, table: Hashable, insert_ids: Sequence[Optional[str]]) -> List[bool]:
        """Which rows to store: False for an insertId seen on `table` within the window (or earlier in the same
        request). Admitted ids count as seen from now."""
        now = self._clock()
        self._expire(now)
        keep = []
        for insert_id in insert_ids:
            if not insert_id or not isinstance(insert_id, str):
                keep.append(True)
                continue
            key = (table, insert_id)
            if key in self._seen:
                keep.append(False)
                self.dropped += 1
                continue
            self._seen[key] = now
            self._order.append((now, key))
            keep.append(True)
        return keep

    def forget(self, table: Hashable, insert_ids: Sequence[Optional[str]]) -> None:
        """Rows that were admitted but not stored (refused, or the insert failed): a retry may store them."""
        for insert_id in insert_ids:
            if insert_id:
                self._seen.pop((table, insert_id), None)

    def _expire(self, now: float) -> None:
        while self._order and now - self._order[0][0] >= self.window_s:
            moment, key = self._order.popleft()
            if self._seen.get(key) == moment:
                del self._seen[key]

    def __len__(self) -> int:
        return len(self._seen)


def dedup_window_from(environ) -> float:
    """The window in seconds from BQ_DEDUP_WINDOW_S (default 60; 0 = off); ValueError for anything else."""
    text = environ.get(DEDUP_ENV, '')
    if text in ('', None):
        return DEFAULT_DEDUP_WINDOW_S
    value = float(text)
    if not value >= 0 or value == float('inf'):
        raise ValueError('%s must be a number of seconds >= 0 (got %r)' % (DEDUP_ENV, text))
    return value


def with_insert_id_dedup(window: InsertIdWindow) -> None:
    """Replaces bqemulator's insertAll route by one that drops rows whose insertId `window` has seen, then lets the
    original store the rest; insertErrors keep the indices of the request as sent. Call before the app is built."""
    from fastapi import Request
    from bqemulator.api.routes import tabledata

    router = tabledata.router
    original = tabledata.insert_all
    router.routes[:] = [r for r in router.routes if getattr(r, 'path', None) != router.prefix + INSERT_ALL_PATH]

    async def insert_all(project_id: str, dataset_id: str, table_id: str, request: Request,
                         ctx: tabledata._Ctx) -> dict:  # type: ignore[name-defined]
        body = await request.json()  # Starlette keeps the parsed body: the original reads this same dict.
        rows = body.get('rows') if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows:
            return await original(project_id, dataset_id, table_id, request, ctx)
        table = (project_id, dataset_id, table_id)
        ids = [row.get('insertId') if isinstance(row, dict) else None for row in rows]
        kept = [i for i, keep in enumerate(window.admit(table, ids)) if keep]
        body['rows'] = [rows[i] for i in kept]
        try:
            answer = await original(project_id, dataset_id, table_id, request, ctx)
        except BaseException:
            window.forget(table, [ids[i] for i in kept])
            raise
        refused = []
        for error in answer.get('insertErrors') or []:
            error['index'] = kept[error['index']]
            refused.append(ids[error['index']])
        window.forget(table, refused)
        return answer

    router.post(INSERT_ALL_PATH)(insert_all)


def _record_change_without_snapshot(self, project_id, dataset_id, table_id):
    from bqemulator.domain.events import TableDataChanged
    self._events.publish(TableDataChanged(project_id, dataset_id, table_id))


def without_write_snapshots():
    """Patches bqemulator so that writes publish their change event but copy nothing; idempotent."""
    from bqemulator.versioning.snapshots import SnapshotManager
    SnapshotManager.record_change = _record_change_without_snapshot


def _running_loop():
    import asyncio
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def with_appends_on_the_event_loop() -> None:
    """Patches bqemulator's Storage Write API so that an append's rows go into DuckDB on the server's event loop,
    under the engine's write lock, like every REST write; idempotent.

    bqemulator runs AppendRows on grpc.aio's thread pool and inserts from there into the one DuckDB connection that
    the REST handlers use on the event loop. Both at once deadlock the emulator (seen on a local stream with the
    storage_write path beside the direct and oic paths, within a few hundred rows): the append thread, inside DuckDB's
    connection lock, drops a registered Arrow view whose destructor waits for the GIL, while the event-loop thread
    holds the GIL and waits for that connection lock (DuckDB's ExtractStatements does not release the GIL). Every
    REST and gRPC call then hangs. On the event loop the insert never overlaps another use of the connection."""
    import asyncio
    from bqemulator.grpc_api import write_servicer
    handler = write_servicer.BigQueryWriteHandler
    if getattr(handler._flush_to_target, 'on_event_loop', False):
        return
    init, flush = handler.__init__, handler._flush_to_target

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._devstack_loop = _running_loop()  # built inside the server's start(), on its loop

    def _flush_to_target(self, stream, rows):
        loop = getattr(self, '_devstack_loop', None)
        if loop is None or _running_loop() is loop:
            return flush(self, stream, rows)

        async def on_loop():
            async with self._ctx.engine.write_lock():
                flush(self, stream, rows)
        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result()
    _flush_to_target.on_event_loop = True  # type: ignore[attr-defined]
    setattr(handler, '__init__', __init__)
    setattr(handler, '_flush_to_target', _flush_to_target)


class ParseCache:
    """sqlglot.parse_one, remembering the trees of the last `size` texts and handing out copies: bqemulator 1.4
    parses a query's text again in each step of one job (classifying it, checking DML, snapshots, five DDL
    syncs, every rewriter), ~8-20 parses of the same text; the comparison's probe sends the same text every poll.
    A copy costs about a third of a parse (sqlglotc compiled), and callers may change their tree freely."""

    def __init__(self, parse: Callable[..., Any], size: int = 256) -> None:
        self._parse, self._size = parse, size
        self._trees: 'collections.OrderedDict[Tuple[str, str, Tuple[Any, ...]], Any]' = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __call__(self, sql: Any, read: Any = None, dialect: Any = None, **opts: Any) -> Any:
        if not isinstance(sql, str) or not isinstance(read, (str, type(None))) or dialect is not None:
            return self._parse(sql, read=read, dialect=dialect, **opts)
        key = (sql, read or '', tuple(sorted((name, repr(value)) for name, value in opts.items())))
        with self._lock:
            tree = self._trees.get(key)
            if tree is not None:
                self._trees.move_to_end(key)
                self.hits += 1
        if tree is None:
            tree = self._parse(sql, read=read, **opts)  # a text that does not parse raises each time, as before
            with self._lock:
                self.misses += 1
                self._trees[key] = tree
                while len(self._trees) > self._size:
                    self._trees.popitem(last=False)
        return tree.copy()


def with_parses_remembered() -> None:
    """Replaces sqlglot.parse_one in the emulator's process by a ParseCache of it (bqemulator calls it as
    `sqlglot.parse_one`); idempotent."""
    import sqlglot
    if not isinstance(sqlglot.parse_one, ParseCache):
        sqlglot.parse_one = ParseCache(sqlglot.parse_one)


def patches_apply(version: str) -> bool:
    """True when bqemulator `version` is the release the patches were written for (their targets are private)."""
    return version.startswith(WRITTEN_FOR)


def main():
    from importlib.metadata import version
    found = version('bqemulator')
    if patches_apply(found):
        without_write_snapshots()
        with_appends_on_the_event_loop()
        with_parses_remembered()
    else:
        print('devstack.bq_server: its patches were written for bqemulator %sx, this is %s: running it unpatched '
              '(memory grows with every write; Storage Write appends beside REST inserts may hang; each query is '
              'parsed again in every step)' % (WRITTEN_FOR, found), file=sys.stderr)
    try:
        window_s = dedup_window_from(os.environ)
    except ValueError as err:
        print('devstack.bq_server: %s' % err, file=sys.stderr)
        return 2
    if window_s:
        with_insert_id_dedup(InsertIdWindow(window_s))
    from bqemulator.cli import main as bqemulator_main
    return bqemulator_main(prog_name='python -m devstack.bq_server')


if __name__ == '__main__':
    sys.exit(main())
