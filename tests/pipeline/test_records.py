"""The data contract's pure functions: generation, validation, payload shapes."""

import datetime
import uuid

import pytest

from transforms import records as rec


def test_same_seed_same_values_new_ids_per_run():
    a = rec.make_record(7, 'run-a', 3)
    b = rec.make_record(7, 'run-b', 3)
    assert {k: a[k] for k in rec.SEED_FIELDS} == {k: b[k] for k in rec.SEED_FIELDS}
    assert a['record_id'] != b['record_id']
    assert rec.make_record(7, 'run-a', 3)['record_id'] == a['record_id']  # stable across retries
    uuid.UUID(a['record_id'])


def test_synthetic_records_follow_the_catalog_and_backlog_rule():
    for index in range(500):
        fields = rec.synthetic_fields(1, index)
        assert rec.CATALOG[fields['Item_id']] == fields['Item_Name']
        assert fields['WH_ID'] in rec.WAREHOUSES
        assert fields['Backlog'] == min(0, fields['Quantity_Available'] - fields['Quantity_Requested'])
        assert fields['Quantity_Available'] >= 0 and fields['Quantity_Requested'] >= 0
        assert rec.validation_errors(rec.make_record(1, 'r', index)) == []


def test_different_seeds_differ():
    assert [rec.synthetic_fields(1, i) for i in range(20)] != [rec.synthetic_fields(2, i) for i in range(20)]


def test_timestamps_round_trip():
    moment = rec.utc_now()
    assert rec.parse_timestamp(rec.format_timestamp(moment)) == moment
    assert rec.format_timestamp(moment).endswith('Z')
    early = datetime.datetime(999, 1, 2, tzinfo=datetime.timezone.utc)
    assert rec.format_timestamp(early).startswith('0999-01-02T')
    assert rec.validation_errors(dict(rec.make_record(1, 'r', 0), event_time='0001-01-01T00:00:00+01:00')) == \
        ['event_time is not a timestamp']


@pytest.mark.parametrize('change, message', [
    ({'WH_ID': ''}, 'WH_ID is empty'),
    ({'WH_ID': 'x' * 65}, 'WH_ID is longer than 64'),
    ({'Item_Name': 'y' * 257}, 'Item_Name is longer than 256'),
    ({'Item_id': '10a'}, 'Item_id is not an integer'),
    ({'Item_id': 1.5}, 'Item_id is not an integer'),
    ({'Item_id': True}, 'Item_id is not an integer'),
    ({'Quantity_Available': -1}, 'Quantity_Available is negative'),
    ({'Quantity_Requested': '-3'}, 'Quantity_Requested is negative'),
    ({'Backlog': 'n/a'}, 'Backlog is not an integer'),
    ({'record_id': 'not-a-uuid'}, 'record_id is not a UUID'),
    ({'event_time': 'yesterday'}, 'event_time is not a timestamp'),
])
def test_validation_names_the_problem(change, message):
    record = dict(rec.make_record(1, 'r', 0), **change)
    errors = rec.validation_errors(record)
    assert any(message in e for e in errors), errors


def test_missing_field_and_non_object():
    record = rec.make_record(1, 'r', 0)
    del record['Backlog']
    assert rec.validation_errors(record) == ['Backlog is missing']
    assert rec.validation_errors(['WH1']) == ['record is not an object']


def test_csv_strings_are_normalised_to_ints():
    record = {'WH_ID': 'WH8', 'Item_Name': 'Mechanically Separated', 'Item_id': '100',
              'Quantity_Available': '3365', 'Quantity_Requested': '3615', 'Backlog': '-250', '_source': 'x:2'}
    assert rec.validation_errors(record) == []
    clean = rec.normalise(record)
    assert clean['Item_id'] == 100 and clean['Backlog'] == -250
    assert '_source' not in clean


def test_payload_shapes():
    record = rec.make_record(1, 'r', 0)
    assert list(rec.oic_payload(record, 'seed')) == list(rec.SEED_FIELDS)
    assert list(rec.oic_payload(record)) == list(rec.FIELDS)
    with pytest.raises(ValueError):
        rec.oic_payload(record, 'xml')


def test_schema_matches_fields():
    assert [f['name'] for f in rec.BIGQUERY_SCHEMA['fields']] == list(rec.FIELDS)
