"""Reconciliation by record_id, as pure functions on small literal data."""

from comparison.measures.reconcile import reconcile_path

SENT = [{'record_id': i} for i in 'abcde']


def test_everything_landed():
    acks = [{'record_id': i} for i in 'abcde']
    rows = [{'record_id': i} for i in 'abcde'] + [{'record_id': 'other-run'}]
    result = reconcile_path(SENT, acks, [], rows)
    assert (result['sent'], result['acked'], result['landed'], result['missing'], result['duplicates']) == (5, 5, 5, 0, 0)


def test_dead_letters_are_not_missing_and_duplicates_are_counted():
    acks = [{'record_id': i} for i in 'abc']
    dead = [{'record_id': 'd', 'reason': 'http_400'}]
    rows = [{'record_id': i} for i in 'abcc']
    result = reconcile_path(SENT, acks, dead, rows)
    assert result['dead_lettered'] == 1 and result['dead_lettered_by_reason'] == {'http_400': 1}
    assert result['missing_ids'] == ['e'] and result['duplicates'] == 1 and result['landed'] == 3


def test_derived_acks_and_skipped_landed_check():
    dead = [{'record_id': 'a', 'reason': 'bigquery_invalid'}]
    result = reconcile_path(SENT, [], dead, None, acks_derived=True)
    assert result['acked'] == 4 and result['acked_is_derived']
    assert result['landed'] is None and result['landed_check'] == 'skipped' and result['missing'] == 0


def test_acked_twice_is_visible():
    acks = [{'record_id': 'a'}, {'record_id': 'a'}]
    assert reconcile_path(SENT[:1], acks, [], [{'record_id': 'a'}])['acked_twice'] == 1


def _record(record_id, **overrides):
    record = {'record_id': record_id, 'WH_ID': 'WH1', 'Item_Name': 'Poultry Fat', 'Item_id': 105,
              'Quantity_Available': 10, 'Quantity_Requested': 12, 'Backlog': -2,
              'event_time': '2026-11-27T17:00:00.000000Z'}
    record.update(overrides)
    return record


def test_values_are_compared_as_bigquery_types_field_by_field():
    import datetime
    sent = [_record('a'), _record('b'), _record('c')]
    rows = [
        _record('a', Item_id='105', Backlog='-2',  # the OIC mapping's strings, coerced by BigQuery: not a mismatch
                event_time=datetime.datetime(2026, 11, 27, 17, tzinfo=datetime.timezone.utc)),
        _record('b', Quantity_Available=11),
        _record('c', WH_ID='WH9', Backlog=-3),
    ]
    result = reconcile_path(sent, [], [], rows, acks_derived=True)
    assert result['mismatched'] == 2 and result['mismatched_ids'] == ['b', 'c']
    assert result['mismatched_by_field'] == {'Backlog': 1, 'Quantity_Available': 1, 'WH_ID': 1}
    assert {'record_id': 'b', 'field': 'Quantity_Available', 'sent': 10, 'landed': 11} in result['mismatch_examples']


def test_fields_a_row_does_not_carry_are_not_compared():
    row = _record('a')
    del row['event_time']
    assert reconcile_path([_record('a')], [], [], [row], acks_derived=True)['mismatched'] == 0
