"""Where the OIC stand-in's mapper sends rows: the emulator's insertAll REST API, or nowhere (benchmarks).

Group commit: a trigger request still answers only after its row is written (OIC's synchronous integration does), but
the rows of requests that are waiting together go to BigQuery in one insertAll. BigQuerySink.insert_all() queues the
request's rows with a future; one writer task takes everything waiting (up to `max_batch` rows), sends one insertAll
with all of it (each row keeps its insertId), and resolves each request's future from the insertErrors mapped back by
index: a refused row fails only its own request, as before. A lone request is written at once (the writer waits for
nothing); batches form from the requests that arrive while a write is in flight. The emulator spends most of its time
per call, not per row, so this is what lets the local OIC path go faster than one insertAll per record allows.
"""

import asyncio
import collections
import json

import aiohttp

MAX_BATCH_ROWS = 500  # BigQuery recommends at most 500 rows per insertAll request.


class SinkError(Exception):
    """BigQuery did not accept the row; the message says why."""


class RowsRefused(SinkError):
    """insertAll answered (200, skipInvalidRows) but named the row in insertErrors: BigQuery refused it."""


class SinkCounters:
    """What a sink did, for GET /admin/stats: insertAll calls, rows written and refused, the largest batch; `hold`
    (tests) keeps the writer from starting a write until it is released, so that requests queue deterministically."""

    def reset_counters(self):
        self.insert_calls = 0     # insertAll requests sent (each carries one or more rows)
        self.failed_calls = 0     # of which BigQuery did not answer 200 (every request in the batch answered 502)
        self.rows_written = 0     # rows BigQuery accepted (the requests that carried them answered "Submitted")
        self.rows_refused = 0     # rows named in insertErrors (their requests answered 502)
        self.max_batch_rows = 0

    def hold(self, held):
        pass

    def as_json(self):
        return {'insert_calls': self.insert_calls, 'failed_calls': self.failed_calls,
                'rows_written': self.rows_written, 'rows_refused': self.rows_refused,
                'max_batch_rows': self.max_batch_rows, 'queued_rows': 0, 'held': False}


class NoSink(SinkCounters):
    """Acknowledges without storing ("sink: none"); its counters stay at zero."""

    description = 'none'

    def __init__(self):
        self.reset_counters()

    async def start(self):
        pass

    async def close(self):
        pass

    async def insert_all(self, body):
        pass


class _Pending:
    __slots__ = ('body', 'rows', 'future')

    def __init__(self, body, future):
        self.body, self.rows, self.future = body, body['rows'], future


def _options(body):
    """The insertAll options a body carries besides its rows: only bodies with the same options share a call."""
    return json.dumps({key: value for key, value in body.items() if key != 'rows'}, sort_keys=True, default=str)


class BigQuerySink(SinkCounters):
    """POSTs insertAll requests to a BigQuery REST endpoint with one pooled aiohttp session, one write at a time,
    each carrying the rows of every request waiting for it (group commit, above)."""

    def __init__(self, endpoint, project, dataset, table, timeout=10.0, max_batch=MAX_BATCH_ROWS):
        self.url = '%s/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll' % (
            endpoint.rstrip('/'), project, dataset, table)
        self.description = 'bigquery %s:%s.%s at %s' % (project, dataset, table, endpoint)
        self.max_batch = max_batch
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = None
        self._queue = collections.deque()
        self._queued_rows = 0
        self._wakeup = None
        self._released = None
        self._writer = None
        self.reset_counters()

    async def start(self):
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._wakeup = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._writer = asyncio.create_task(self._write_loop(), name='insertAll writer')

    async def close(self):
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
        self._fail([self._queue.popleft() for _ in range(len(self._queue))], 'the OIC stand-in is stopping')
        if self._session is not None:
            await self._session.close()

    def hold(self, held):
        """Tests: while held, the writer starts no write and requests queue; released, it writes them together."""
        if held:
            self._released.clear()
        else:
            self._released.set()

    def as_json(self):
        return dict(super().as_json(), queued_rows=self._queued_rows,
                    held=self._released is not None and not self._released.is_set())

    async def insert_all(self, body):
        """Returns once BigQuery stored the body's rows; SinkError when it did not (refused, unreachable)."""
        if not body.get('rows'):
            return
        pending = _Pending(body, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._queued_rows += len(pending.rows)
        self._wakeup.set()
        await pending.future  # cancelled with its request: the row is still written (OIC would finish the instance)

    async def _write_loop(self):
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._released.wait()
            batch = self._take()
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                self._fail(batch, 'the OIC stand-in is stopping')
                raise
            except Exception as error:  # Never leave a request waiting, nor the writer dead.
                self._fail(batch, 'insertAll failed: %s: %s' % (type(error).__name__, error))

    def _take(self):
        """The requests waiting now with the first one's options, up to max_batch rows (at least one request)."""
        first = self._queue.popleft()
        batch, rows, options = [first], len(first.rows), _options(first.body)
        batchable = first.body.get('skipInvalidRows') is True  # else one bad row would fail the others' rows
        while batchable and self._queue and rows + len(self._queue[0].rows) <= self.max_batch \
                and _options(self._queue[0].body) == options:
            batch.append(self._queue.popleft())
            rows += len(batch[-1].rows)
        self._queued_rows -= rows
        return batch

    async def _commit(self, batch):
        rows, spans = [], []
        for pending in batch:
            spans.append((len(rows), len(rows) + len(pending.rows)))
            rows.extend(pending.rows)
        self.insert_calls += 1
        self.max_batch_rows = max(self.max_batch_rows, len(rows))
        try:
            answer = await self._send(dict(batch[0].body, rows=rows))
        except SinkError as error:
            self.failed_calls += 1
            self._fail(batch, str(error))
            return
        errors = answer.get('insertErrors') if isinstance(answer, dict) else None
        by_index = collections.defaultdict(list)
        for error in errors or []:
            index = error.get('index') if isinstance(error, dict) else None
            by_index[index if isinstance(index, int) else None].append(error)
        for pending, (start, end) in zip(batch, spans):
            # Today's message, as if the request had been sent alone: indices relative to its own rows.
            mine = [dict(error, index=index - start)
                    for index in range(start, end) for error in by_index.get(index, [])]
            mine += by_index.get(None, [])
            if mine:
                self.rows_refused += len({error.get('index') for error in mine})
                self._settle(pending, RowsRefused('BigQuery insertErrors: %s' % mine))
            else:
                self.rows_written += end - start
                self._settle(pending, None)

    @staticmethod
    def _settle(pending, error):
        if pending.future.done():  # its request was cancelled
            return
        if error is None:
            pending.future.set_result(None)
        else:
            pending.future.set_exception(error)

    def _fail(self, batch, message):
        for pending in batch:
            self._settle(pending, SinkError(message))

    async def _send(self, body):
        try:
            return await self._post(body)
        except aiohttp.ServerDisconnectedError:
            # Usually a pooled keep-alive connection the emulator closed (e.g. it restarted) before reading the
            # request: retry once on a fresh connection.
            try:
                return await self._post(body)
            except aiohttp.ServerDisconnectedError:
                raise SinkError('BigQuery closed the connection without answering') from None

    async def _post(self, body):
        try:
            async with self._session.post(self.url, json=body) as response:
                text = await response.text()
                if response.status != 200:
                    raise SinkError('BigQuery answered HTTP %d: %s' % (response.status, text[:300]))
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    raise SinkError('BigQuery answered non-JSON: %s' % text[:300]) from None
        except aiohttp.ServerDisconnectedError:
            raise
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SinkError('BigQuery unreachable: %s' % (str(error) or type(error).__name__)) from None
        return answer
