"""The batch trigger's answer read strictly (transforms/oic/batch/answer.py), and send_batch failing closed on what it
cannot read: a fake call_body per answer shape (BigQuery's list, an OIC mapper's object and string index, HTML, a
truncated body, out-of-range indexes, `errors` as a number or an object), acknowledgements of earlier rounds that
stand (also when a later round raises, under TestPipeline), and a batch's rounds kept within one deadline (an
injected clock: nothing sleeps)."""

import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms import records as rec
from transforms.oic.batch import send
from transforms.oic.batch.post import PostBatchesToOIC
from transforms.oic.sender.settings import resolve
from transforms.oic.batch.answer import EXCERPT_CHARS, RowRefusal, read_answer
from transforms.oic.caller import Outcome
from transforms.oic.retry import RetryPolicy

URL = 'http://127.0.0.1:9/ic/api/integration/v1/flows/rest/WAREHOUSE_BATCH/1.0/records'
RECORDS = [rec.make_record(seed=12, run_id='answer-run', index=i) for i in range(6)]
POLICY = RetryPolicy(max_attempts=4, deadline_s=60, initial_backoff_s=0, max_backoff_s=0)
HTML = (b'<!DOCTYPE html><html><head><title>Sign In</title></head><body><form action="/oauth2/v1/authorize">'
        b'</form></body></html>')


def body(value):
    return json.dumps(value).encode()


def refused(reason, message=''):
    return RowRefusal(reason, message)


# --- the reader ---------------------------------------------------------------------------------------------------

def test_bigquerys_list_is_read_by_index_taking_a_rows_first_final_reason():
    answer = read_answer(body({'kind': 'bigquery#tableDataInsertAllResponse', 'insertErrors': [
        {'index': 0, 'errors': [{'reason': 'invalid', 'message': 'bad'}]},
        {'index': 2, 'errors': [{'reason': 'stopped', 'message': ''}, {'reason': 'invalid', 'message': 'x'}]},
        {'index': 3, 'errors': [{'reason': 'backendError'}]}]}), 4)
    assert answer.readable
    assert answer.refused == {0: refused('invalid', 'bad'), 2: refused('invalid', 'x'), 3: refused('backendError')}
    assert not answer.refused[0].retryable and answer.refused[3].retryable


def test_a_mappers_object_for_a_one_element_array_and_string_numbers_are_read():
    one = read_answer(body({'insertErrors': {'index': '3', 'errors': {'reason': 'backendError', 'message': 'm'}}}), 5)
    assert one.readable and one.refused == {3: refused('backendError', 'm')}
    many = read_answer(body({'insertErrors': [{'index': '0', 'errors': {'reason': 'invalid', 'message': 'a'}},
                                              {'index': 4.0, 'errors': [{'reason': 'timeout'}]}]}), 5)
    assert many.refused == {0: refused('invalid', 'a'), 4: refused('timeout')}


@pytest.mark.parametrize('answer', [b'{}', b'{"insertErrors": []}', b'{"insertErrors": null}', b' {"x": 1} ',
                                    b'\xef\xbb\xbf{"kind": "k"}'])
def test_an_object_without_insert_errors_means_every_row_inserted(answer):
    assert read_answer(answer, 3) == read_answer(b'{}', 3)
    assert read_answer(answer, 3).readable and not read_answer(answer, 3).refused


@pytest.mark.parametrize('answer, why', [
    (b'', 'empty'),
    (b'   ', 'empty'),
    (HTML, 'not JSON'),
    (b'{"insertErrors": [{"index": 0, "errors": [{"reason": "inv', 'not JSON'),  # truncated
    (b'\xff\xfe{}', 'UTF-8'),
    (b'[]', 'not an object'),
    (b'"Submitted"', 'not an object'),
    (b'{"insertErrors": [], "insertErrors": [{"index": 0}]}', 'twice'),
    (body({'insertErrors': 'none'}), 'neither a list nor an object'),
    (body({'insertErrors': 0}), 'neither a list nor an object'),
    (body({'insertErrors': ['junk']}), 'not an object'),
    (body({'insertErrors': [{'errors': [{'reason': 'invalid'}]}]}), 'no index'),
    (body({'insertErrors': [{'index': 3, 'errors': [{'reason': 'invalid'}]}]}), 'out of range'),
    (body({'insertErrors': [{'index': -1, 'errors': [{'reason': 'invalid'}]}]}), 'out of range'),
    (body({'insertErrors': [{'index': '-1', 'errors': [{'reason': 'invalid'}]}]}), 'out of range'),
    (body({'insertErrors': [{'index': 1.5, 'errors': [{'reason': 'invalid'}]}]}), 'whole number'),
    (body({'insertErrors': [{'index': '1.0', 'errors': [{'reason': 'invalid'}]}]}), 'whole number'),
    (body({'insertErrors': [{'index': 'one', 'errors': [{'reason': 'invalid'}]}]}), 'whole number'),
    (body({'insertErrors': [{'index': None, 'errors': [{'reason': 'invalid'}]}]}), 'whole number'),
    (body({'insertErrors': [{'index': '9' * 40, 'errors': [{'reason': 'invalid'}]}]}), 'whole number'),
    (body({'insertErrors': [{'index': True, 'errors': [{'reason': 'invalid'}]}]}), 'bool'),
    (body({'insertErrors': [{'index': 1, 'errors': [{'reason': 'invalid'}]},
                            {'index': '1', 'errors': [{'reason': 'backendError'}]}]}), 'named twice'),
    (body({'insertErrors': [{'index': 1, 'errors': 7}]}), 'neither a list nor an object'),
    (body({'insertErrors': [{'index': 1}]}), 'neither a list nor an object'),
    (body({'insertErrors': [{'index': 1, 'errors': []}]}), 'empty'),
    (body({'insertErrors': [{'index': 1, 'errors': ['invalid']}]}), 'without a reason'),
    (body({'insertErrors': [{'index': 1, 'errors': [{'message': 'no reason'}]}]}), 'without a reason'),
    (body({'insertErrors': [{'index': 1, 'errors': [{'reason': 3}]}]}), 'without a reason'),
    (b'[' * 100000 + b']' * 100000, 'nested too deeply'),
])
def test_anything_else_is_unreadable_and_names_no_row(answer, why):
    read = read_answer(answer, 3)
    assert not read.readable and why in read.problem and read.refused == {}


@pytest.mark.parametrize('status', [201, 202, 204])
def test_a_success_other_than_200_does_not_say_the_rows_were_inserted(status):
    read = read_answer(b'{"status": "accepted"}', 3, status)
    assert not read.readable and 'HTTP %d' % status in read.problem


# --- send_batch with a fake call_body per answer shape ------------------------------------------------------------

class Trigger:
    """A fake call_body: answers each request with the next of `answers` (bytes, or a function of the request's
    record ids giving bytes); notes the record ids and the deadline of each request."""

    def __init__(self, *answers, clock=None, takes_s=0.0):
        self.answers, self.sent, self.deadlines = list(answers), [], []
        self.clock, self.takes_s = clock, takes_s

    def __call__(self, body, deadline_s=None):
        ids = [payload['record_id'] for payload in body['records']]
        self.sent.append(ids)
        self.deadlines.append(deadline_s)
        if self.clock is not None:
            self.clock.now += min(self.takes_s, deadline_s)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Outcome('ack', 200, attempts=1, latency_s=0.0, answer=answer(ids) if callable(answer) else answer)


def outcomes(result):
    return {item.record['record_id']: (item.kind, item.reason) for item in result.settled}


def ids(records):
    return [r['record_id'] for r in records]


def refuse(reason, *indexes, shape='list'):
    """An answer refusing `indexes` with `reason`, in BigQuery's shape or an OIC mapper's."""
    entries = [{'index': i, 'errors': [{'reason': reason, 'message': 'm'}]} for i in indexes]
    if shape == 'mapper':
        entries = [{'index': str(e['index']), 'errors': e['errors'][0]} for e in entries]
        return body({'insertErrors': entries[0] if len(entries) == 1 else entries})
    return body({'insertErrors': entries})


@pytest.mark.parametrize('shape', ['list', 'mapper'])
def test_refused_rows_are_refused_in_either_shape_and_the_others_acked(shape):
    trigger = Trigger(refuse('invalid', 2, shape=shape))
    result = send.send_batch(trigger, RECORDS, 'extended', POLICY)
    assert outcomes(result) == {r['record_id']: ('dead', 'invalid') if i == 2 else ('ack', '')
                                for i, r in enumerate(RECORDS)}


@pytest.mark.parametrize('shape', ['list', 'mapper'])
def test_a_retryable_refusal_in_either_shape_is_sent_again(shape):
    # An `errors` object used to read as reason 'unknown' and be dead-lettered; it is backendError, sent again.
    trigger = Trigger(refuse('backendError', 4, shape=shape), b'{}')
    result = send.send_batch(trigger, RECORDS, 'extended', POLICY)
    assert trigger.sent[1] == [RECORDS[4]['record_id']]
    assert set(outcomes(result).values()) == {('ack', '')}
    assert len(result.requests) == 2


@pytest.mark.parametrize('answer', [
    HTML, b'{"insertErrors": [{"index": 1, "errors": [{"reas', b'', b'<html>502 Bad Gateway</html>',
    refuse('invalid', 6), refuse('invalid', -1),
    body({'insertErrors': [{'index': 1, 'errors': 5}]}),  # used to raise TypeError: the batch dead-lettered
    body({'insertErrors': {'index': 1.5, 'errors': {'reason': 'invalid'}}}),
])
def test_an_unreadable_answer_acks_nothing_and_the_whole_request_is_sent_again(answer):
    trigger = Trigger(answer, refuse('invalid', 0))
    result = send.send_batch(trigger, RECORDS, 'extended', POLICY)
    assert trigger.sent == [ids(RECORDS), ids(RECORDS)]  # every row again, with its record_id (= insertId)
    assert outcomes(result) == {r['record_id']: ('dead', 'invalid') if i == 0 else ('ack', '')
                                for i, r in enumerate(RECORDS)}
    assert all(item.batch_id == result.settled[0].batch_id for item in result.settled)  # the second request's
    assert result.unreadable == 1


def test_rows_whose_answers_stay_unreadable_are_dead_lettered_with_the_answers_first_characters():
    trigger = Trigger(HTML + b'x' * 500)
    result = send.send_batch(trigger, RECORDS[:3], 'extended', POLICY)
    assert len(trigger.sent) == POLICY.max_attempts == result.unreadable
    assert {(i.kind, i.reason, i.status, i.attempts) for i in result.settled} == {
        ('dead', 'unreadable_answer', 200, POLICY.max_attempts)}
    detail = result.settled[0].detail
    assert detail.startswith('the answer is not JSON') and '(attempts_exhausted)' in detail
    assert detail.endswith((HTML + b'x' * 500)[:EXCERPT_CHARS].decode())
    dead = send.dead_letter_of(result.settled[0])
    assert dead['reason'] == 'unreadable_answer' and len(dead['detail']) <= rec.DETAIL_LIMIT


def test_acks_of_earlier_rounds_stand_whatever_a_later_round_answers():
    # Round 1 acks rows 0-3 and refuses 4 and 5 with backendError; every later answer is unreadable.
    trigger = Trigger(refuse('backendError', 4, 5), HTML)
    result = send.send_batch(trigger, RECORDS, 'extended', POLICY)
    assert outcomes(result) == {r['record_id']: ('ack', '') if i < 4 else ('dead', 'unreadable_answer')
                                for i, r in enumerate(RECORDS)}
    assert trigger.sent[1:] == [ids(RECORDS[4:])] * (POLICY.max_attempts - 1)


def test_acks_of_earlier_rounds_stand_when_a_later_round_raises():
    def trigger(body_, deadline_s=None):
        if len(body_['records']) < len(RECORDS):
            raise RuntimeError('a bug in round two')
        return Outcome('ack', 200, attempts=1, latency_s=0.0, answer=refuse('backendError', 5))
    result = send.BatchResult()
    with pytest.raises(RuntimeError):
        send.send_batch(trigger, RECORDS, 'extended', POLICY, into=result)
    assert [item.record['record_id'] for item in result.settled if item.kind == 'ack'] == ids(RECORDS[:5])
    assert result.unsettled(RECORDS) == [RECORDS[5]]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_batchs_rounds_together_stay_within_the_deadline():
    # Each request takes 50 s (or what it is given); every answer refuses a row with backendError. Without the
    # shared deadline the second round got a fresh 60 s and the batch took 100 s.
    clock = Clock()
    trigger = Trigger(refuse('backendError', 0), clock=clock, takes_s=50.0)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock.now += seconds

    policy = RetryPolicy(max_attempts=10, deadline_s=60, initial_backoff_s=1, max_backoff_s=1)
    result = send.send_batch(trigger, RECORDS[:3], 'extended', policy, sleep=sleep, clock=clock)
    assert clock.now - 1000.0 <= 60.0
    assert trigger.deadlines[0] == 60.0 and trigger.deadlines[1] == pytest.approx(60.0 - 50.0 - waits[0])
    assert outcomes(result)[RECORDS[0]['record_id']] == ('dead', 'deadline_exceeded')
    assert {outcomes(result)[r['record_id']] for r in RECORDS[1:3]} == {('ack', '')}


def test_an_unreadable_answer_at_the_deadline_dead_letters_with_the_deadline_named():
    clock = Clock()
    trigger = Trigger(HTML, clock=clock, takes_s=59.5)
    result = send.send_batch(trigger, RECORDS[:2], 'extended', POLICY, clock=clock)
    assert trigger.deadlines == [60.0, 0.5]  # the second request had what was left
    assert {(i.kind, i.reason) for i in result.settled} == {('dead', 'unreadable_answer')}
    assert '(deadline_exceeded)' in result.settled[0].detail


# --- PostBatchesToOIC: what a round that raises leaves standing ---------------------------------------------------

class RaisesInRoundTwo:
    """The first request of a batch refuses its last row with backendError; sending that row again raises."""

    def call_body(self, body_, deadline_s=None):
        if len(body_['records']) == 1:
            raise RuntimeError('a bug in round two')
        return Outcome('ack', 200, attempts=1, latency_s=0.0,
                       answer=refuse('backendError', len(body_['records']) - 1))

    def close(self):
        pass


def test_rows_acked_before_a_round_raised_are_acked_and_only_the_rest_is_internal_error():
    with TestPipeline() as pipeline:
        posted = pipeline | beam.Create(RECORDS) | PostBatchesToOIC(
            resolve(URL, 'user', concurrency=1), max_kb=50, shards=1, caller_factory=RaisesInRoundTwo)
        assert_that(posted.acks | 'Acked' >> beam.Map(lambda a: 1), equal_to([1] * (len(RECORDS) - 1)), label='acks')
        assert_that(posted.dead_letter | beam.Map(lambda d: (d['reason'], d['detail'], d['batch_records'])),
                    equal_to([('internal_error', 'internal_error: RuntimeError', 1)]), label='dead')
