"""Group commit in the OIC stand-in's sink: concurrent requests' rows share one insertAll, each request still answers
after its own row is written, and a refused row fails only its own request (in process, a fake BigQuery); and the
live stand-in, whose stats count insertAll calls and rows."""

import asyncio
import collections
import concurrent.futures
import time
import uuid

import pytest
import requests

from devstack.oic import mapping
from devstack.oic import sink as sink_mod
from transforms import records


def body(index, run_id='sink'):
    return mapping.insert_all_request(records.make_record(seed=3, run_id=run_id, index=index))


class FakeBigQuery(sink_mod.BigQuerySink):
    """A BigQuerySink whose insertAll calls go to a list; `refuse` = insertIds answered with an insertError."""

    def __init__(self, refuse=(), fail=None, max_batch=sink_mod.MAX_BATCH_ROWS):
        super().__init__('http://unused', 'p', 'd', 't', max_batch=max_batch)
        self.calls, self.refuse, self.fail = [], set(refuse), fail

    async def start(self):
        await super().start()
        await self._session.close()  # no network here

    async def _send(self, payload):
        self.calls.append(payload)
        await asyncio.sleep(0)
        if self.fail:
            raise sink_mod.SinkError(self.fail)
        return {'kind': 'bigquery#tableDataInsertAllResponse',
                'insertErrors': [{'index': i, 'errors': [{'reason': 'invalid', 'message': 'no'}]}
                                 for i, row in enumerate(payload['rows']) if row['insertId'] in self.refuse]}


async def settle():
    for _ in range(10):
        await asyncio.sleep(0)


def run(scenario):
    return asyncio.run(scenario())


def test_a_lone_request_is_written_at_once_alone():
    async def scenario():
        sink = FakeBigQuery()
        await sink.start()
        await asyncio.wait_for(sink.insert_all(body(0)), 1)
        assert [len(call['rows']) for call in sink.calls] == [1]
        assert sink.as_json()['insert_calls'] == 1 and sink.rows_written == 1
        await sink.close()
    run(scenario)


def test_requests_waiting_together_share_one_insert_all_with_their_insert_ids():
    async def scenario():
        sink = FakeBigQuery()
        await sink.start()
        first = asyncio.create_task(sink.insert_all(body(0)))  # the writer takes it alone at once ...
        await asyncio.sleep(0)
        others = [asyncio.create_task(sink.insert_all(body(i))) for i in range(1, 8)]  # ... these arrive meanwhile
        await asyncio.gather(first, *others)
        assert [len(call['rows']) for call in sink.calls] == [1, 7]
        sent = [row['insertId'] for call in sink.calls for row in call['rows']]
        assert sent == [body(i)['rows'][0]['insertId'] for i in range(8)]
        assert {k: v for k, v in sink.calls[1].items() if k != 'rows'} == \
            {k: v for k, v in body(1).items() if k != 'rows'}
        assert sink.as_json() == {'insert_calls': 2, 'failed_calls': 0, 'rows_written': 8, 'rows_refused': 0,
                                  'max_batch_rows': 7, 'queued_rows': 0, 'held': False}
        await sink.close()
    run(scenario)


def test_a_refused_row_fails_only_its_request_with_its_own_index():
    bodies = [body(i) for i in range(4)]
    refused = bodies[2]['rows'][0]['insertId']

    async def scenario():
        sink = FakeBigQuery(refuse={refused})
        await sink.start()
        sink.hold(True)
        tasks = [asyncio.create_task(sink.insert_all(b)) for b in bodies]
        await settle()
        assert sink.calls == [] and sink.as_json()['queued_rows'] == 4 and sink.as_json()['held']
        sink.hold(False)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert len(sink.calls) == 1
        assert [r is None for r in results] == [True, True, False, True]
        assert str(results[2]) == "BigQuery insertErrors: [{'index': 0, 'errors': [{'reason': 'invalid', " \
                                  "'message': 'no'}]}]"  # as if sent alone
        assert (sink.rows_written, sink.rows_refused) == (3, 1)
        await sink.close()
    run(scenario)


def test_a_failed_call_fails_every_request_in_it_and_the_writer_goes_on():
    async def scenario():
        sink = FakeBigQuery(fail='BigQuery answered HTTP 500: boom')
        await sink.start()
        sink.hold(True)
        tasks = [asyncio.create_task(sink.insert_all(body(i))) for i in range(3)]
        await settle()
        sink.hold(False)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [str(r) for r in results] == ['BigQuery answered HTTP 500: boom'] * 3
        assert all(isinstance(r, sink_mod.SinkError) for r in results)
        sink.fail = None
        await asyncio.wait_for(sink.insert_all(body(9)), 1)
        assert sink.as_json()['insert_calls'] == 2 and sink.failed_calls == 1 and sink.rows_written == 1
        await sink.close()
    run(scenario)


def test_batches_stop_at_max_batch_rows_and_a_cancelled_request_is_still_written():
    async def scenario():
        sink = FakeBigQuery(max_batch=3)
        await sink.start()
        sink.hold(True)
        tasks = [asyncio.create_task(sink.insert_all(body(i))) for i in range(7)]
        await settle()
        tasks[1].cancel()
        sink.hold(False)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [len(call['rows']) for call in sink.calls] == [3, 3, 1]
        assert isinstance(results[1], asyncio.CancelledError)
        assert sink.rows_written == 7
        await sink.close()
    run(scenario)


def test_close_fails_what_still_waits():
    async def scenario():
        sink = FakeBigQuery()
        await sink.start()
        sink.hold(True)
        task = asyncio.create_task(sink.insert_all(body(0)))
        await settle()
        await sink.close()
        with pytest.raises(sink_mod.SinkError, match='stopping'):
            await task
    run(scenario)


def test_no_sink_acknowledges_and_counts_nothing():
    async def scenario():
        sink = sink_mod.NoSink()
        await sink.start()
        await sink.insert_all(body(0))
        sink.hold(True)
        assert sink.as_json()['insert_calls'] == 0 and sink.as_json()['rows_written'] == 0
        await sink.close()
    run(scenario)


# -- the live stand-in

def post(stack, payload):
    return requests.post(stack.oic_url, json=payload, auth=(stack.username, stack.password), timeout=30)


@pytest.mark.stack
def test_concurrent_requests_share_insert_all_calls_and_every_row_lands_once(clean_stack):
    count = 12
    run_id = 'group-%s' % uuid.uuid4()
    sent = [records.make_record(seed=3, run_id=run_id, index=i) for i in range(count)]
    clean_stack.hold_sink(True)  # the sink starts no write until every request waits for it: no timing involved
    try:
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            answers = [pool.submit(post, clean_stack, payload) for payload in sent]
            deadline = time.monotonic() + 20
            while clean_stack.sink_stats()['queued_rows'] < count:
                assert time.monotonic() < deadline, clean_stack.sink_stats()
                assert not any(answer.done() for answer in answers)  # nobody is answered before its row is written
                time.sleep(0.05)
            assert clean_stack.sink_stats()['insert_calls'] == 0
            clean_stack.hold_sink(False)
            statuses = [answer.result().status_code for answer in answers]
    finally:
        clean_stack.hold_sink(False)
    assert statuses == [200] * count
    sink = clean_stack.stats()['sink']
    assert sink['insert_calls'] < count
    assert (sink['insert_calls'], sink['rows_written'], sink['max_batch_rows']) == (1, count, count)
    landed = collections.Counter(row['record_id'] for row in clean_stack.rows(clean_stack.oic_table))
    assert landed == collections.Counter(r['record_id'] for r in sent)  # every row, exactly once
    # Afterwards a lone request is written at once, in a call of its own.
    assert post(clean_stack, records.make_record(seed=3, run_id=run_id, index=count)).status_code == 200
    assert clean_stack.sink_stats()['insert_calls'] == 2
