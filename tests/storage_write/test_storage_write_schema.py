"""Rows to proto from a BigQuery schema: types, modes, refusals, the way back, and the table check (pure)."""

import datetime

import pytest

from transforms import records
from transforms.storage_write import schema as schema_mod
from transforms.storage_write.schema import Column, RowError, RowSerializer, SchemaError

ALL_TYPES = {'fields': [
    {'name': 's', 'type': 'STRING', 'mode': 'REQUIRED'}, {'name': 'i', 'type': 'INTEGER'},
    {'name': 'f', 'type': 'FLOAT'}, {'name': 'b', 'type': 'BOOLEAN'}, {'name': 'ts', 'type': 'TIMESTAMP'},
    {'name': 'd', 'type': 'DATE'}, {'name': 'n', 'type': 'NUMERIC'}, {'name': 'raw', 'type': 'BYTES'},
    {'name': 'tags', 'type': 'STRING', 'mode': 'REPEATED'},
]}


def test_every_type_goes_as_its_documented_proto_encoding_and_comes_back():
    serializer = RowSerializer(ALL_TYPES)
    row = {'s': 'x', 'i': '42', 'f': 1, 'b': 'true', 'ts': '1970-01-01T00:00:01.5Z', 'd': '1970-01-03',
           'n': 1.25, 'raw': b'\x00\x01', 'tags': ['a', 'b']}
    back = serializer.deserialize(serializer.serialize(row))
    assert back == {'s': 'x', 'i': 42, 'f': 1.0, 'b': True, 'ts': 1_500_000, 'd': 2, 'n': '1.25',
                    'raw': b'\x00\x01', 'tags': ['a', 'b']}


def test_the_descriptor_declares_the_columns_in_order_as_proto2_fields():
    descriptor = RowSerializer(ALL_TYPES).descriptor
    assert [(f.name, f.number) for f in descriptor.field] == [(c['name'], n) for n, c in
                                                              enumerate(ALL_TYPES['fields'], start=1)]
    assert descriptor.field[4].type == descriptor.field[4].TYPE_INT64  # TIMESTAMP as micros
    assert descriptor.field[-1].label == descriptor.field[-1].LABEL_REPEATED


def test_a_project_record_serializes_with_its_event_time_in_microseconds():
    record = records.make_record(1, 'run', 0, datetime.datetime(2026, 12, 6, 7, 0, tzinfo=datetime.timezone.utc))
    serializer = RowSerializer(records.BIGQUERY_SCHEMA)
    back = serializer.deserialize(serializer.serialize(record))
    assert back['event_time'] == int(datetime.datetime(2026, 12, 6, 7, 0,
                                                       tzinfo=datetime.timezone.utc).timestamp()) * 1_000_000
    assert {k: v for k, v in back.items() if k != 'event_time'} == {
        k: v for k, v in record.items() if k != 'event_time'}


@pytest.mark.parametrize('row, reason', [
    ({'i': 1}, 's is REQUIRED and missing'),
    ({'s': 'x', 'i': 'seven'}, "i: 'seven' is not an INT64"),
    ({'s': 'x', 'i': True}, 'i: a bool is not an INT64'),
    ({'s': 'x', 'i': 2 ** 63}, 'out of INT64 range'),
    ({'s': 'x', 'ts': 'yesterday'}, "ts: 'yesterday' is not a TIMESTAMP"),
    ({'s': 'x', 'extra': 1}, 'not in the schema: extra'),
    ({'s': 'x', 'tags': 'a'}, 'tags: is REPEATED and not a list'),
    (['s'], 'the row is not a dict'),
])
def test_a_row_that_does_not_fit_is_refused_with_its_reason(row, reason):
    with pytest.raises(RowError, match=reason.replace('(', r'\(')):
        RowSerializer(ALL_TYPES).serialize(row)


@pytest.mark.parametrize('fields, message', [
    ([{'name': 'r', 'type': 'RECORD'}], 'nested columns are not supported'),
    ([{'name': 'a-b', 'type': 'STRING'}], 'not a plain identifier'),
    ([{'name': 'a', 'type': 'INT64'}, {'name': 'A', 'type': 'INT64'}], 'appears twice'),
    ([{'name': 'a', 'type': 'RANGE'}], 'does not send'),
    ([], 'no fields'),
])
def test_a_schema_the_writer_cannot_send_is_refused_at_once(fields, message):
    with pytest.raises(SchemaError, match=message):
        RowSerializer({'fields': fields})


def test_a_table_and_a_schema_that_disagree_are_named_column_by_column():
    table = (Column('a', 'INT64', 'REQUIRED'), Column('b', 'STRING'), Column('c', 'STRING', 'REQUIRED'),
             Column('d', 'STRING'))
    writer = (Column('a', 'STRING', 'REQUIRED'), Column('b', 'STRING'), Column('z', 'BOOL'))
    assert schema_mod.schema_mismatches(writer, table) == [
        'a is INT64 in the table, STRING in the schema', 'z is not in the table',
        'c is REQUIRED in the table and not in the schema']
    assert schema_mod.schema_mismatches(table[:2], table[:2] + (Column('e', 'BOOL'),)) == []
