"""Property tests of the OIC stand-in's request handling: never a 5xx, valid records always land intact."""

import datetime
import json
import uuid

import pytest
import requests
from hypothesis import HealthCheck, event, given, settings, strategies as st

from devstack.oic import mapping
from devstack.oic.app.answers import parse_body
from transforms import records

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# The live property posts each example to the stand-in and queries the emulator: fewer examples, same strategies.
LIVE_FUZZ = settings(FUZZ, max_examples=60)

text = st.text(max_size=80)
integers = st.integers(min_value=-2 ** 64, max_value=2 ** 64)
values = st.one_of(st.none(), st.booleans(), integers, st.floats(allow_nan=False, allow_infinity=False), text,
                   integers.map(str), st.lists(st.integers(), max_size=2))
# Years from 1000: records.format_timestamp does not zero-pad earlier years (see test below).
timestamps = st.datetimes(min_value=datetime.datetime(1000, 1, 2), max_value=datetime.datetime(9999, 12, 30),
                          timezones=st.timezones()).map(lambda d: d.isoformat())
records_ = st.fixed_dictionaries({}, optional={
    'WH_ID': st.one_of(st.sampled_from(records.WAREHOUSES), values),
    'Item_Name': st.one_of(st.sampled_from(sorted(records.CATALOG.values())), values),
    'Item_id': st.one_of(st.integers(-2 ** 63 + 1, 2 ** 63 - 1), values),
    'Quantity_Available': st.one_of(st.integers(0, 2 ** 63 - 1), values),
    'Quantity_Requested': st.one_of(st.integers(0, 10 ** 6), values),
    'Backlog': st.one_of(st.integers(-10 ** 6, 0), values),
    'record_id': st.one_of(st.uuids().map(str), values),
    'event_time': st.one_of(timestamps, values),
    'extra': values,
})

# Mostly valid records with a few fields replaced, so the live test exercises the insert path as well.
valid_fields = st.fixed_dictionaries({
    'WH_ID': st.text(min_size=1, max_size=64).filter(str.strip),
    'Item_Name': st.text(min_size=1, max_size=256).filter(str.strip),
    'Item_id': st.one_of(st.integers(-2 ** 63 + 1, 2 ** 63 - 1), st.integers(-10 ** 9, 10 ** 9).map(str)),
    'Quantity_Available': st.integers(0, 2 ** 63 - 1),
    'Quantity_Requested': st.one_of(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6).map(str)),
    'Backlog': st.integers(-10 ** 6, 0),
    'record_id': st.uuids().map(str),
    'event_time': timestamps,
})
mutated = st.tuples(valid_fields, records_).map(lambda pair: dict(pair[0], **pair[1]) if len(pair[1]) < 2 else pair[0])
any_record = st.one_of(records_, mutated)


@FUZZ
@given(st.binary(max_size=200))
def test_parse_body_raises_only_value_error(raw):
    try:
        parse_body(raw)
    except ValueError:
        pass


@FUZZ
@given(any_record)
def test_mapping_of_valid_records_keeps_the_seed_shape(record):
    if records.validation_errors(record):
        return
    body = mapping.insert_all_request(record)
    [row] = body['rows']
    assert set(records.SEED_FIELDS) <= set(row['json']) <= set(records.FIELDS)
    assert isinstance(row['json']['Item_id'], str) and isinstance(row['json']['Backlog'], str)
    assert row['insertId'] == str(record.get('record_id') or '')


@pytest.mark.stack
@LIVE_FUZZ
@given(any_record)
def test_live_trigger_never_answers_5xx_and_valid_rows_land(local_stack, record):
    local_stack.reset_faults()  # The session stack (hypothesis cannot take clean_stack): an earlier test's faults off.
    marker = str(uuid.uuid4())
    if records.validation_errors(record) == []:
        record = dict(record, record_id=marker)
    response = requests.post(local_stack.oic_url, data=json.dumps(record), timeout=10,
                             auth=(local_stack.username, local_stack.password),
                             headers={'Content-Type': 'application/json'})
    errors = records.validation_errors(record)
    event('invalid record' if errors else 'valid record')
    if errors:
        assert response.status_code == 400, (record, response.text)
        return
    assert response.status_code == 200, (record, response.text)
    landed = [row for row in local_stack.bq_client().query(
        'SELECT * FROM `%s` WHERE record_id = @id' % local_stack.oic_table.replace(':', '.'),
        job_config=_params(marker)).result()]
    assert len(landed) == 1
    clean = records.normalise(record)
    assert {k: landed[0][k] for k in records.SEED_FIELDS} == {k: clean[k] for k in records.SEED_FIELDS}
    if 'event_time' in clean:
        assert landed[0]['event_time'] == records.parse_timestamp(clean['event_time'])


@pytest.mark.stack
def test_a_body_with_a_non_finite_number_is_refused_as_malformed_json(local_stack):
    """JSON has no Infinity or NaN (RFC 8259), though Python's json.dumps writes them: the stand-in answers 400."""
    local_stack.reset_faults()
    record = dict(records.make_record(1, 'r', 0), extra=float('inf'))
    response = requests.post(local_stack.oic_url, data=json.dumps(record), timeout=10,
                             auth=(local_stack.username, local_stack.password),
                             headers={'Content-Type': 'application/json'})
    assert response.status_code == 400 and 'malformed JSON' in response.json()['detail'], response.text


def _params(marker):
    from google.cloud import bigquery
    return bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter('id', 'STRING', marker)])


@pytest.mark.stack
def test_out_of_range_event_time_is_a_400_not_a_crash(local_stack):
    local_stack.reset_faults()
    record = dict(records.make_record(1, 'r', 0), event_time='0001-01-01T00:00:00+01:00')
    assert records.validation_errors(record) == ['event_time is not a timestamp']
    response = local_stack.post(record)
    assert response.status_code == 400 and 'event_time is not a timestamp' in response.json()['detail'], response.text


def test_format_timestamp_pads_years_before_1000():
    moment = datetime.datetime(999, 1, 1, tzinfo=datetime.timezone.utc)
    assert records.format_timestamp(moment).startswith('0999-')
