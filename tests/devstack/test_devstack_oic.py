"""The OIC stand-in's REST trigger and monitoring API against the real local services."""

import base64
import datetime
import json
import random
import uuid

import pytest
import requests

from transforms.run_record.run_info import RunInfo
from transforms import records

pytestmark = pytest.mark.stack


def seed_create_json():
    """The seed script's createJSON(), verbatim in substance."""
    wh_id = ['WH1', 'WH2', 'WH3', 'WH4', 'WH5', 'WH6', 'WH7']
    item_name = ['Mechanically Separated', 'Shelf-Stable, Pathogen Negative Meat Slurry', 'Poultry Fat',
                 'Chicken Meal', 'Whole Ground']
    data = {}
    data['WH_ID'] = random.choice(wh_id)
    data['Item_Name'] = random.choice(item_name)
    data['Item_id'] = random.randint(100, 110)
    data['Quantity_Available'] = random.randint(1000, 5000)
    data['Quantity_Requested'] = random.randint(1000, 5000)
    data['Backlog'] = random.randint(1000, 5000)
    return data


def post(stack, body, auth=True, url=None, **kwargs):
    return requests.post(url or stack.oic_url, json=body, auth=(stack.username, stack.password) if auth else None,
                         timeout=10, **kwargs)


def record(**overrides):
    fields = records.make_record(seed=1, run_id='test-%s' % uuid.uuid4(), index=0)
    fields.update(overrides)
    return fields


def test_missing_or_wrong_credentials_get_401(clean_stack):
    body = record()
    for auth in (None, (clean_stack.username, 'wrong'), ('someone', clean_stack.password)):
        response = requests.post(clean_stack.oic_url, json=body, auth=auth, timeout=10)
        assert response.status_code == 401
        assert response.headers['WWW-Authenticate'].startswith('Basic ')
    garbled = requests.post(clean_stack.oic_url, json=body, headers={'Authorization': 'Basic %%%'}, timeout=10)
    assert garbled.status_code == 401
    assert clean_stack.rows(clean_stack.oic_table) == []


def test_seed_script_request_shape_lands_with_the_seed_mapping(clean_stack):
    # Exactly what the seed's submitData() sends, with the URL and the Postman-made Authorization header filled in.
    token = base64.b64encode(('%s:%s' % (clean_stack.username, clean_stack.password)).encode()).decode()
    headers = {
        'Content-Type': "application/json",
        'Content-Transfer-Encoding': "buffered",
        'Authorization': "Basic %s" % token,
    }
    sent = seed_create_json()
    payload = json.dumps(sent)
    r = requests.request("POST", clean_stack.oic_url, data=payload, headers=headers)
    assert r.status_code == 200
    assert r.json() == {'response': 'Submitted'}
    rows = clean_stack.wait_for_rows(clean_stack.oic_table, 1)
    assert rows == [dict(sent, record_id=None, event_time=None)]


def test_extended_payload_lands_with_record_id_and_event_time(clean_stack):
    sent = record()
    response = post(clean_stack, records.oic_payload(sent, 'extended'))
    assert response.status_code == 200, response.text
    [row] = clean_stack.wait_for_rows(clean_stack.oic_table, 1)
    assert row['record_id'] == sent['record_id']
    assert records.format_timestamp(row['event_time']) == sent['event_time']
    assert {k: row[k] for k in records.SEED_FIELDS} == {k: sent[k] for k in records.SEED_FIELDS}


def test_integers_sent_as_strings_are_accepted(clean_stack):
    sent = record(Item_id='101', Backlog='-5', Quantity_Available='7')
    assert post(clean_stack, sent).status_code == 200
    [row] = clean_stack.wait_for_rows(clean_stack.oic_table, 1)
    assert (row['Item_id'], row['Backlog'], row['Quantity_Available']) == (101, -5, 7)


@pytest.mark.parametrize('change, reason', [
    ({'WH_ID': ''}, 'WH_ID is empty'),
    ({'Item_id': 'abc'}, 'Item_id is not an integer'),
    ({'Quantity_Available': -1}, 'Quantity_Available is negative'),
    ({'Backlog': None}, 'Backlog is missing'),
    ({'record_id': 'not-a-uuid'}, 'record_id is not a UUID'),
    ({'event_time': 'yesterday'}, 'event_time is not a timestamp'),
    ({'Item_Name': 'x' * 300}, 'Item_Name is longer than 256'),
])
def test_invalid_records_get_400_with_reasons_and_nothing_lands(clean_stack, change, reason):
    response = post(clean_stack, record(**change))
    assert response.status_code == 400
    assert reason in response.json()['detail']
    assert any(reason in error for error in response.json()['errors'])
    assert clean_stack.rows(clean_stack.oic_table) == []


def test_non_object_body_gets_400(clean_stack):
    response = post(clean_stack, [record()])
    assert response.status_code == 400
    assert 'not an object' in response.json()['detail']


def test_body_over_the_limit_gets_413(clean_stack):
    response = post(clean_stack, record(Item_Name='x' * (70 * 1024)))
    assert response.status_code == 413
    assert 'limit' in response.json()['detail']


def test_chunked_body_over_the_limit_gets_413(clean_stack):
    def chunks():
        yield b'{"Item_Name": "'
        for _ in range(70):
            yield b'x' * 1024
        yield b'"}'
    response = requests.post(clean_stack.oic_url, data=chunks(), auth=(clean_stack.username, clean_stack.password),
                             headers={'Content-Type': 'application/json'}, timeout=10)
    assert response.status_code == 413


def test_non_json_content_type_gets_415(clean_stack):
    response = requests.post(clean_stack.oic_url, data=json.dumps(record()), timeout=10,
                             auth=(clean_stack.username, clean_stack.password), headers={'Content-Type': 'text/plain'})
    assert response.status_code == 415
    assert 'application/json' in response.json()['detail']


@pytest.mark.parametrize('body, reason', [
    (b'{"WH_ID": ', 'malformed JSON'),
    (b'', 'empty'),
    (b'\xff\xfe', 'not UTF-8'),
    (b'{"Item_id": NaN}', 'malformed JSON'),
])
def test_malformed_json_gets_400_with_reason(clean_stack, body, reason):
    response = requests.post(clean_stack.oic_url, data=body, auth=(clean_stack.username, clean_stack.password),
                             headers={'Content-Type': 'application/json; charset=utf-8'}, timeout=10)
    assert response.status_code == 400
    assert reason in response.json()['detail']


def test_bigquery_failure_gets_502_and_a_failed_instance(clean_stack):
    clean_stack.bq_client().delete_table(clean_stack.oic_table.replace(':', '.'))
    try:
        response = post(clean_stack, record(WH_ID='WH8'))
        assert response.status_code == 502
        assert 'BigQuery' in response.json()['detail']
    finally:
        clean_stack.create_tables()
    failed = monitoring(clean_stack, q="{status:'FAILED'}")
    assert failed['total-results'] == 1 and failed['items'][0]['status'] == 'FAILED'


def test_health_is_open_and_names_the_sink(local_stack):
    health = requests.get(local_stack.oic_base + '/healthz', timeout=5).json()
    assert health['status'] == 'ok'
    assert health['sink'].startswith('bigquery')


def monitoring(stack, **params):
    return stack.monitoring(**params)


def test_monitoring_api_shape_filters_and_paging(clean_stack):
    clean_stack.set_faults({'reject': {'field': 'WH_ID', 'values': ['WH3'], 'status': 400}})
    sent = [record(WH_ID='WH1'), record(WH_ID='WH3'), record(WH_ID='WH1'), record(WH_ID='WH2')]
    statuses = [post(clean_stack, body).status_code for body in sent]
    assert statuses == [200, 400, 200, 200]

    everything = monitoring(clean_stack)
    assert everything['total-results'] == 4 and everything['has-more'] is False
    assert set(everything) == {'items', 'total-results', 'has-more', 'limit', 'offset'}
    newest = everything['items'][0]
    # OIC 3's documented fields only, in its kebab-case spelling (no stand-in-only record count or flat pairs).
    assert set(newest) == {'instance-id', 'integration-id', 'status', 'creation-date', 'last-tracked-time',
                           'has-recoverable-faults', 'trackings'}
    assert {'name': 'WH_ID', 'primary': True, 'value': 'WH2'} in newest['trackings']  # newest first
    assert newest['integration-id'] == 'WAREHOUSE_STREAM'
    assert {'name': 'record_id', 'primary': False, 'value': sent[3]['record_id']} in newest['trackings']

    failed = monitoring(clean_stack, q="{timewindow:'1h', status:'FAILED', code:'WAREHOUSE_STREAM'}")
    assert failed['total-results'] == 1
    assert {'name': 'WH_ID', 'primary': True, 'value': 'WH3'} in failed['items'][0]['trackings']
    assert monitoring(clean_stack, q="{primaryValue:'WH1'}")['total-results'] == 2
    assert monitoring(clean_stack, q="{secondaryValue:'%s'}" % sent[0]['record_id'])['total-results'] == 1
    assert monitoring(clean_stack, q="{code:'OTHER'}")['total-results'] == 0

    first = monitoring(clean_stack, limit=3, offset=0, orderBy='creationdate')
    second = monitoring(clean_stack, limit=3, offset=3, orderBy='creationdate')
    assert (len(first['items']), first['has-more']) == (3, True)
    assert (len(second['items']), second['has-more']) == (1, False)
    assert {i['instance-id'] for i in first['items']}.isdisjoint(i['instance-id'] for i in second['items'])

    one = clean_stack.monitoring('/' + newest['instance-id'])
    assert one['instance-id'] == newest['instance-id']

    clean_stack.set_mode(edition='gen2')  # Gen2: camelCase, Basic Auth allowed, no instance name needed
    gen2 = requests.get(clean_stack.monitoring_url, auth=(clean_stack.username, clean_stack.password),
                        timeout=10).json()
    assert gen2['totalResults'] == 4 and gen2['items'][0]['integrationId'] == 'WAREHOUSE_STREAM'
    assert (gen2['items'][0]['pkName'], gen2['items'][0]['pkValue']) == ('WH_ID', 'WH2')
    assert gen2['items'][0]['secondaryTrackingValue'] == sent[3]['record_id']


def test_oic3_refuses_basic_auth_and_a_missing_instance_name_on_the_monitoring_api(clean_stack):
    basic = requests.get(clean_stack.monitoring_url, params={'integrationInstance': clean_stack.instance_name},
                         auth=(clean_stack.username, clean_stack.password), timeout=10)
    assert basic.status_code == 401 and 'OAuth only' in basic.json()['detail']
    assert basic.headers['WWW-Authenticate'].startswith('Bearer')
    bearer = {'Authorization': 'Bearer ' + clean_stack.token()}
    nameless = requests.get(clean_stack.monitoring_url, headers=bearer, timeout=10)
    assert nameless.status_code == 400 and 'integrationInstance' in nameless.json()['detail']
    wrong = requests.get(clean_stack.monitoring_url, params={'integrationInstance': 'other'}, headers=bearer,
                         timeout=10)
    assert wrong.status_code == 400
    # The trigger itself still takes Basic Auth on OIC 3, in both URL forms.
    for url in (clean_stack.oic_url, clean_stack.oic_project_url):
        assert post(clean_stack, record(), url=url).status_code == 200


@pytest.mark.parametrize('params', [{'q': "{status:'MAYBE'}"}, {'q': "{colour:'red'}"}, {'q': 'status=FAILED'},
                                    {'limit': 'x'}, {'q': "{timewindow:'5y'}"},
                                    {'orderBy': 'name'}])
def test_monitoring_rejects_bad_queries(local_stack, params):
    response = requests.get(local_stack.monitoring_url, timeout=5,
                            params=dict(params, integrationInstance=local_stack.instance_name),
                            headers={'Authorization': 'Bearer ' + local_stack.token()})
    assert response.status_code == 400


def test_monitoring_and_admin_need_auth(local_stack):
    for path in ('/ic/api/integration/v1/monitoring/instances', '/admin/faults', '/admin/stats'):
        assert requests.get(local_stack.oic_base + path, timeout=5).status_code == 401


def test_1100_instances_are_all_counted_by_the_monitoring_check(clean_stack):
    """11 pages of 100 instances, read as the comparison reads them (OAuth, instance name, offset paging by creation
    date): every one counted."""
    import concurrent.futures
    from comparison.measures import monitoring as check
    sent = [record(WH_ID='WH%d' % (i % 8 + 1)) for i in range(1100)]
    started = datetime.datetime.now(datetime.timezone.utc)
    with requests.Session() as session, concurrent.futures.ThreadPoolExecutor(16) as pool:
        session.auth = (clean_stack.username, clean_stack.password)
        answers = list(pool.map(lambda body: session.post(clean_stack.oic_url, json=body, timeout=30).status_code,
                                sent))
    assert answers == [200] * 1100
    run = RunInfo.from_json({'oic_url': clean_stack.oic_url, 'started_at': started.isoformat(),
                             'finished_at': datetime.datetime.now(datetime.timezone.utc).isoformat()})
    view = check.oic_view(run, {r['record_id'] for r in sent}, environ=clean_stack.monitoring_env())
    assert view['check'] == 'done' and (view['instances'], view['records_completed']) == (1100, 1100), view


@pytest.mark.parametrize('integration, status, instance_status, landed', [
    ('strict', 502, 'FAILED', 0),  # this project's mapping: a refused row fails its instance
    ('seed', 200, 'COMPLETED', 0),  # the seed's: "Submitted" whatever insertAll returns, and the row is not there
])
def test_a_row_bigquery_refuses_per_integration(clean_stack, integration, status, instance_status, landed):
    clean_stack.set_mode(integration=integration)
    clean_stack.update_faults({'seed': 1, 'row_error_rates': {'invalid': 1.0}})
    body = record()
    response = post(clean_stack, body)
    assert response.status_code == status
    if status == 200:
        assert response.json() == {'response': 'Submitted'}
    [instance] = monitoring(clean_stack)['items']
    assert instance['status'] == instance_status
    assert len(clean_stack.rows(clean_stack.oic_table)) == landed
    assert clean_stack.stats()['acked_not_inserted'] == (1 if integration == 'seed' else 0)
