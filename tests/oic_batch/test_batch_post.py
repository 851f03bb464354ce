"""The batched OIC path with a fake caller (no HTTP): send_batch on literal data, and PostBatchesToOIC under
TestPipeline and assert_that: grouping by bytes, partial failures, rows sent again in batches, the end of a run."""

import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms import records as rec
from transforms.oic.batch import send
from transforms.oic.batch.post import PostBatchesToOIC
from transforms.oic.sender.settings import resolve
from transforms.oic.caller import Outcome
from transforms.oic.retry import RetryPolicy

URL = 'http://127.0.0.1:9/ic/api/integration/v1/flows/rest/WAREHOUSE_BATCH/1.0/records'
RECORDS = [rec.make_record(seed=11, run_id='batch-run', index=i) for i in range(120)]
POLICY = RetryPolicy(max_attempts=5, deadline_s=60, initial_backoff_s=0, max_backoff_s=0)


def invalid(record):
    return record['Item_id'] % 7 == 0


def flaky(record):
    return record['Item_id'] % 5 == 0 and not invalid(record)


class FakeBatchCaller:
    """A batch trigger without HTTP: refuses rows of invalid records for good ('invalid'), and the first time it sees a
    flaky record, its row with 'backendError'; notes every body it was sent (bodies are checked by the tests)."""

    bodies = []  # every body posted, in this process (TestPipeline runs in-process)

    def __init__(self):
        self.seen = set()

    def call_body(self, body, deadline_s=None):
        FakeBatchCaller.bodies.append(json.dumps(body))
        errors = []
        for index, payload in enumerate(body['records']):
            if invalid(payload):
                errors.append({'index': index, 'errors': [{'reason': 'invalid', 'message': 'no such field'}]})
            elif flaky(payload) and payload['record_id'] not in self.seen:
                self.seen.add(payload['record_id'])
                errors.append({'index': index, 'errors': [{'reason': 'backendError', 'message': 'try again'}]})
        answer = json.dumps({'insertErrors': errors} if errors else {}).encode()
        return Outcome('ack', 200, attempts=1, latency_s=0.01, answer=answer)

    def close(self):
        pass


class DownCaller(FakeBatchCaller):
    """Every request fails for good (the caller's retries spent)."""

    def call_body(self, body, deadline_s=None):
        return Outcome('dead', 503, attempts=3, latency_s=0.01, reason='attempts_exhausted', detail='HTTP 503')


def test_send_batch_settles_every_record_once_and_resends_retryable_rows_together():
    caller = FakeBatchCaller()
    ids = iter('b%d' % i for i in range(100))
    result = send.send_batch(caller.call_body, RECORDS[:40], 'extended', POLICY, new_id=lambda: next(ids))
    assert sorted(s.record['record_id'] for s in result.settled) == sorted(r['record_id'] for r in RECORDS[:40])
    by_id = {s.record['record_id']: s for s in result.settled}
    for record in RECORDS[:40]:
        item = by_id[record['record_id']]
        if invalid(record):
            assert (item.kind, item.reason, item.detail, item.batch_id) == ('dead', 'invalid', 'no such field', 'b0')
        elif flaky(record):  # refused once, then landed in the second request, with the others refused once
            assert (item.kind, item.batch_id, item.attempts) == ('ack', 'b1', 2)
            assert item.batch_records == sum(1 for r in RECORDS[:40] if flaky(r))
        else:
            assert (item.kind, item.batch_id, item.attempts, item.batch_records) == ('ack', 'b0', 1, 40)
    assert len(result.requests) == 2


def test_send_batch_gives_up_on_rows_refused_until_the_attempts_run_out():
    class AlwaysBusy(FakeBatchCaller):
        def call_body(self, body, deadline_s=None):
            errors = [{'index': i, 'errors': [{'reason': 'backendError', 'message': 'busy'}]}
                      for i in range(len(body['records']))]
            return Outcome('ack', 200, attempts=1, latency_s=0.0, answer=json.dumps({'insertErrors': errors}).encode())
    result = send.send_batch(AlwaysBusy().call_body, RECORDS[:3], 'extended', POLICY)
    assert len(result.requests) == POLICY.max_attempts
    assert {(s.kind, s.reason, s.detail, s.attempts) for s in result.settled} == {
        ('dead', 'attempts_exhausted', 'backendError: busy', POLICY.max_attempts)}


def test_send_batch_dead_letters_every_record_of_a_request_that_failed_for_good():
    result = send.send_batch(DownCaller().call_body, RECORDS[:4], 'extended', POLICY)
    assert [(s.kind, s.reason, s.status, s.attempts) for s in result.settled] == [
        ('dead', 'attempts_exhausted', 503, 3)] * 4


def _post(records, caller=FakeBatchCaller, max_kb=2, shards=4):
    return records | PostBatchesToOIC(resolve(URL, 'user', concurrency=2), max_kb=max_kb, shards=shards,
                                      caller_factory=caller)


def test_post_batches_acks_landed_rows_and_dead_letters_refused_ones_with_their_reason():
    FakeBatchCaller.bodies.clear()
    with TestPipeline() as pipeline:
        posted = _post(pipeline | beam.Create(RECORDS))
        assert_that(posted.acks | 'AckIds' >> beam.Map(lambda a: a['record_id']),
                    equal_to([r['record_id'] for r in RECORDS if not invalid(r)]), label='acks')
        assert_that(posted.dead_letter | 'Dead' >> beam.Map(lambda d: (d['record_id'], d['reason'], d['path'])),
                    equal_to([(r['record_id'], 'invalid', 'oic') for r in RECORDS if invalid(r)]), label='dead')
        # The ack keeps the per-record shape and names the request that carried it.
        assert_that(posted.acks | 'Keys' >> beam.Map(lambda a: tuple(sorted(a))) | 'One' >> beam.Distinct(),
                    equal_to([tuple(sorted(['path', 'record_id', 'status', 'attempts', 'latency_ms', 'event_time',
                                      'ack_time', 'batch_id', 'batch_records', 'batch_bytes']))]), label='shape')
    bodies = FakeBatchCaller.bodies
    assert all(len(body) <= 2048 for body in bodies)
    first_sends = [b for b in bodies if len(json.loads(b)['records']) > 1]
    assert len(first_sends) >= len(RECORDS) * 240 // 2048  # grouped, not one record a request
    # Rows refused with backendError went again in batches: fewer requests than flaky records.
    flaky_count = sum(1 for r in RECORDS if flaky(r))
    assert len(bodies) < len(RECORDS) // 2 + flaky_count


def test_post_batches_sends_an_oversize_record_alone_and_what_is_open_at_the_end():
    big = dict(RECORDS[1], record_id='big', Item_Name='x' * 3000)
    records = [big] + [r for r in RECORDS[2:8] if not invalid(r) and not flaky(r)]
    FakeBatchCaller.bodies.clear()
    with TestPipeline() as pipeline:
        posted = _post(pipeline | beam.Create(records), max_kb=2, shards=1)
        assert_that(posted.acks | beam.Map(lambda a: (a['record_id'], a['batch_records'])),
                    equal_to([('big', 1)] + [(r['record_id'], len(records) - 1) for r in records[1:]]))
    assert sorted(len(json.loads(b)['records']) for b in FakeBatchCaller.bodies) == [1, len(records) - 1]


def test_post_batches_dead_letters_a_batch_whose_request_failed_for_good():
    with TestPipeline() as pipeline:
        posted = _post(pipeline | beam.Create(RECORDS[:30]), caller=DownCaller)
        assert_that(posted.acks, equal_to([]), label='no acks')
        assert_that(posted.dead_letter | beam.Map(lambda d: (d['record_id'], d['reason'], d['status'])),
                    equal_to([(r['record_id'], 'attempts_exhausted', 503) for r in RECORDS[:30]]), label='dead')


class RaisingCaller(FakeBatchCaller):
    """A bug in the sending: every request raises (an exception in a pool thread that nothing else would see)."""

    def call_body(self, body, deadline_s=None):
        raise RuntimeError('a bug with a secret in its message')


def test_a_batch_whose_sending_raises_is_dead_lettered_not_hung():
    with TestPipeline() as pipeline:
        posted = _post(pipeline | beam.Create(RECORDS[:12]), caller=RaisingCaller)
        assert_that(posted.acks, equal_to([]), label='no acks')
        assert_that(posted.dead_letter | beam.Map(lambda d: (d['record_id'], d['reason'], d['detail'])),
                    equal_to([(r['record_id'], 'internal_error', 'internal_error: RuntimeError')
                              for r in RECORDS[:12]]), label='dead')


def test_the_live_counts_count_each_record_of_a_batch_once(tmp_path):
    # The progress line's "sent" counted a batched record twice (once as a record, once more per batch): its "not yet
    # settled" (sent - acked - dead) never reached zero. Every record handed once, settled once.
    from transforms.run_record import live_stats
    live_dir = str(tmp_path)
    with TestPipeline() as pipeline:
        _ = pipeline | beam.Create(RECORDS[:50]) | PostBatchesToOIC(
            resolve(URL, 'user', concurrency=2, live_dir=live_dir), max_kb=2, shards=2, caller_factory=FakeBatchCaller)
    counts = live_stats.read(live_dir, 'oic')
    live_stats.forget(live_dir)
    assert (counts['sent'], counts['acked'] + counts['dead']) == (50, 50), counts
    assert counts['dead'] == sum(1 for r in RECORDS[:50] if invalid(r))


def test_the_report_counts_each_request_the_batched_path_sent_once(tmp_path):
    # The acks and dead letters name the request that carried each record (<batch>.<round>) and every attempt of the
    # requests that carried it: the report's count from them (comparison/measures/throughput.py) is the bodies the
    # trigger received, one each (the fake answers every request at its first attempt), rows sent again included.
    from comparison.measures import throughput
    FakeBatchCaller.bodies.clear()
    with TestPipeline() as pipeline:
        posted = _post(pipeline | beam.Create(RECORDS[:60]), max_kb=2, shards=2)
        settled = ((posted.acks, posted.dead_letter) | beam.Flatten()
                   | beam.Map(lambda item: {k: item[k] for k in ('record_id', 'batch_id', 'attempts')}))
        assert_that(settled | 'Count' >> beam.combiners.ToList() | beam.Map(throughput.oic_requests)
                    | beam.Map(lambda counted: counted == len(FakeBatchCaller.bodies)), equal_to([True]))
        assert_that(posted.acks | 'Again' >> beam.Filter(lambda a: a['attempts'] > 1)
                    | beam.Map(lambda a: a['batch_id'].rpartition('.')[2]) | beam.Distinct(), equal_to(['2']),
                    label='rounds')
    assert 1 < len(FakeBatchCaller.bodies) < 60  # grouped: counting per record would have said 60 or more
