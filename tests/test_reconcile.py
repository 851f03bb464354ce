"""Reconciliation by record_id, as pure functions on small literal data."""

from pipeline.reconcile import reconcile_path

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
