"""The OIC stand-in's batch trigger (devstack/oic/app/batch_trigger.py) against the real local services: one insertAll
for the batch, insertErrors by index, billing messages, one tracking instance per request with its record count, row
faults, and the answer faults (an OIC mapper's shape, an HTML page with nothing inserted) read by the real caller."""

import json
import uuid

import pytest
import requests

from devstack.oic import answer_faults, urls
from devstack.oic.app.stats import billing_messages
from devstack.oic.faults import FaultError, parse
from devstack.oic.row_faults import parse_rates
from transforms import records
from transforms.oic.batch import send
from transforms.oic.batch.body import batch_body
from transforms.oic.caller import OICCaller
from transforms.oic.flow_control import FlowControl
from transforms.oic.retry import RetryPolicy
from transforms.oic.throttle import Gate

pytestmark = pytest.mark.stack


def batch_url(stack):
    return stack.oic_base + urls.BATCH_PATH


def make(n, run=None):
    run = run or 'batch-test-%s' % uuid.uuid4()
    return [records.make_record(seed=5, run_id=run, index=i) for i in range(n)]


def post_batch(stack, body, **kwargs):
    return requests.post(batch_url(stack), json=body, auth=(stack.username, stack.password), timeout=20, **kwargs)


def test_billing_messages_are_one_per_started_50_kb():
    assert [billing_messages(n) for n in (1, 240, 51200, 51201, 102400, 102401)] == [1, 1, 1, 2, 2, 3]


def test_row_error_rates_are_validated():
    assert parse_rates({'backendError': 0.05, 'invalid': 0.01}) == {'backendError': 0.05, 'invalid': 0.01}
    for bad in ({'nope': 0.1}, {'invalid': 2}, {'invalid': 0.6, 'timeout': 0.6}, [0.1]):
        with pytest.raises(ValueError):
            parse_rates(bad)


def test_a_batch_lands_with_one_instance_and_its_billing(clean_stack):
    batch = make(20)
    body = batch_body([records.oic_payload(r) for r in batch])  # {"count": 20, "records": [...]}
    response = post_batch(clean_stack, body)
    assert response.status_code == 200, response.text
    assert not response.json().get('insertErrors')
    rows = clean_stack.wait_for_rows(clean_stack.oic_table, 20)
    assert sorted(r['record_id'] for r in rows) == sorted(r['record_id'] for r in batch)
    stats = clean_stack.stats()
    size = len(json.dumps(body))
    assert stats['billing'] == {'requests': 1, 'bytes': size, 'messages': 1}
    assert stats['batch']['records'] == 20 and stats['batch']['rows_inserted'] == 20
    page = clean_stack.monitoring(q="{code:'WAREHOUSE_BATCH'}")
    assert page['total-results'] == 1
    instance = page['items'][0]
    # The batch's size as a tracking value the integration maps it to (docs/oic-batching.md), no stand-in-only field.
    assert (instance['integration-id'], instance['status']) == ('WAREHOUSE_BATCH', 'COMPLETED')
    assert {'name': 'records', 'primary': False, 'value': '20'} in instance['trackings'] and 'records' not in instance
    # Without a count in the body the integration has nothing to track: the instance carries no batch size.
    assert post_batch(clean_stack, {'records': body['records'][:2]}).status_code == 200
    bare = clean_stack.monitoring(q="{code:'WAREHOUSE_BATCH'}", orderBy='creationdate')['items'][0]
    assert not [t for t in bare['trackings'] if t['name'] == 'records']


def test_invalid_records_come_back_as_insert_errors_by_index_and_the_rest_land(clean_stack):
    batch = make(6)
    payloads = [records.oic_payload(r) for r in batch]
    payloads[1]['Quantity_Available'] = -5
    del payloads[4]['WH_ID']
    response = post_batch(clean_stack, {'records': payloads})
    assert response.status_code == 200
    errors = response.json()['insertErrors']
    assert [e['index'] for e in errors] == [1, 4]
    assert {e['errors'][0]['reason'] for e in errors} == {'invalid'}
    assert 'WH_ID' in errors[1]['errors'][0]['message']
    rows = clean_stack.wait_for_rows(clean_stack.oic_table, 4)
    assert sorted(r['record_id'] for r in rows) == sorted(p['record_id'] for i, p in enumerate(payloads)
                                                          if i not in (1, 4))


def test_row_faults_refuse_a_share_of_rows_with_their_reason(clean_stack):
    clean_stack.update_faults({'seed': 3, 'row_error_rates': {'backendError': 0.2, 'invalid': 0.1}})
    batch = make(200)
    response = post_batch(clean_stack, {'records': [records.oic_payload(r) for r in batch]})
    assert response.status_code == 200
    reasons = [e['errors'][0]['reason'] for e in response.json()['insertErrors']]
    assert 15 <= reasons.count('backendError') <= 65 and 5 <= reasons.count('invalid') <= 40
    stats = clean_stack.stats()['batch']
    assert stats['rows_inserted'] == 200 - len(reasons)
    assert stats['row_errors_backendError'] == reasons.count('backendError')


def test_a_body_that_is_not_a_batch_gets_400(clean_stack):
    for body in ({'records': []}, {'rows': [1]}, [records.oic_payload(make(1)[0])]):
        assert post_batch(clean_stack, body).status_code == 400


def test_the_batch_trigger_needs_auth(clean_stack):
    response = requests.post(batch_url(clean_stack), json={'records': [records.oic_payload(make(1)[0])]}, timeout=10)
    assert response.status_code == 401


def test_answer_fault_rates_are_validated():
    assert parse({'mapper_shape_rate': 1, 'html_answer_rate': 0.02})['html_answer_rate'] == 0.02
    for bad in ({'mapper_shape_rate': 1.5}, {'html_answer_rate': -0.1}, {'html_answer_rate': True},
                {'mapper_shape_rate': '0.5'}):
        with pytest.raises(FaultError):
            parse(bad)


def test_the_mapper_shape_turns_one_element_arrays_into_objects_and_indexes_into_strings():
    one = {'index': 3, 'errors': [{'reason': 'invalid', 'message': 'm'}]}
    two = {'index': 5, 'errors': [{'reason': 'stopped'}, {'reason': 'invalid'}]}
    assert answer_faults.mapper_shape({'kind': 'k', 'insertErrors': [one]}) == {
        'kind': 'k', 'insertErrors': {'index': '3', 'errors': {'reason': 'invalid', 'message': 'm'}}}
    assert answer_faults.mapper_shape({'insertErrors': [one, two]})['insertErrors'] == [
        {'index': '3', 'errors': {'reason': 'invalid', 'message': 'm'}}, dict(two, index='5')]
    assert answer_faults.mapper_shape({'kind': 'k'}) == {'kind': 'k'}


def real_caller(stack, attempts=3):
    policy = RetryPolicy(max_attempts=attempts, deadline_s=30, initial_backoff_s=0, max_backoff_s=0)
    return OICCaller(batch_url(stack), stack.username, stack.password, 4, (5.0, 10.0),
                     FlowControl(Gate(), policy)), policy


def test_an_html_page_inserts_nothing_and_the_real_caller_acks_nothing(clean_stack):
    clean_stack.update_faults({'html_answer_rate': 1.0})
    batch = make(5)
    response = post_batch(clean_stack, {'records': [records.oic_payload(r) for r in batch]})
    assert response.status_code == 200 and response.headers['Content-Type'].startswith('text/html')
    caller, policy = real_caller(clean_stack)
    try:
        result = send.send_batch(caller.call_body, batch, 'extended', policy)
    finally:
        caller.close()
    assert {(i.kind, i.reason) for i in result.settled} == {('dead', 'unreadable_answer')}
    assert '<!DOCTYPE html>' in result.settled[0].detail
    stats = clean_stack.stats()['batch']
    assert stats['answers_html'] == 1 + policy.max_attempts and stats.get('rows_inserted', 0) == 0
    assert clean_stack.rows(clean_stack.oic_table) == []


def test_in_the_mappers_shape_refused_rows_are_refused_and_the_rest_acked(clean_stack):
    clean_stack.update_faults({'mapper_shape_rate': 1.0})
    probe = [records.oic_payload(r) for r in make(3)]
    probe[1]['Quantity_Available'] = -5  # one invalid row: insertErrors is one object, its index "1"
    answer = post_batch(clean_stack, {'records': probe}).json()
    assert answer['insertErrors'] == {'index': '1', 'errors': answer['insertErrors']['errors']}
    assert answer['insertErrors']['errors']['reason'] == 'invalid'
    batch = make(6)
    batch[2]['Quantity_Available'] = -5
    caller, policy = real_caller(clean_stack)
    try:
        result = send.send_batch(caller.call_body, batch, 'extended', policy)
    finally:
        caller.close()
    outcome = {i.record['record_id']: (i.kind, i.reason) for i in result.settled}
    assert outcome == {r['record_id']: ('dead', 'invalid') if i == 2 else ('ack', '') for i, r in enumerate(batch)}
    landed = {r['record_id'] for r in clean_stack.wait_for_rows(clean_stack.oic_table, 2 + 5)}
    assert landed & set(outcome) == {k for k, v in outcome.items() if v[0] == 'ack'}
