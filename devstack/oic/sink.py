"""Where the OIC stand-in's mapper sends rows: the emulator's insertAll REST API, or nowhere (benchmarks)."""

import aiohttp


class SinkError(Exception):
    """BigQuery did not accept the row; the message says why."""


class NoSink:
    """Acknowledges without storing ("sink: none")."""

    description = 'none'

    async def start(self):
        pass

    async def close(self):
        pass

    async def insert_all(self, body):
        pass


class BigQuerySink:
    """POSTs insertAll requests to a BigQuery REST endpoint with one pooled aiohttp session."""

    def __init__(self, endpoint, project, dataset, table, timeout=10.0):
        self.url = '%s/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll' % (
            endpoint.rstrip('/'), project, dataset, table)
        self.description = 'bigquery %s:%s.%s at %s' % (project, dataset, table, endpoint)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = None

    async def start(self):
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self):
        if self._session is not None:
            await self._session.close()

    async def insert_all(self, body):
        try:
            answer = await self._post(body)
        except aiohttp.ServerDisconnectedError:
            # Usually a pooled keep-alive connection the emulator closed (e.g. it restarted) before reading the
            # request: retry once on a fresh connection.
            try:
                answer = await self._post(body)
            except aiohttp.ServerDisconnectedError:
                raise SinkError('BigQuery closed the connection without answering') from None
        errors = answer.get('insertErrors') if isinstance(answer, dict) else None
        if errors:
            raise SinkError('BigQuery insertErrors: %s' % errors)

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
