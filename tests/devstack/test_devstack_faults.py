"""Fault injection of the OIC stand-in: every fault type, the reject rule, seeded determinism, bad settings."""

import time
import uuid

import pytest
import requests

from devstack.oic import faults
from transforms import records

pytestmark = pytest.mark.stack


def record(index=0, run_id=None, **overrides):
    fields = records.make_record(seed=7, run_id=run_id or 'faults-%s' % uuid.uuid4(), index=index)
    fields.update(overrides)
    return fields


def post(stack, body, timeout=10):
    return requests.post(stack.oic_url, json=body, auth=(stack.username, stack.password), timeout=timeout)


def test_fixed_latency_delays_the_answer(clean_stack):
    clean_stack.set_faults({'latency_ms': 300})
    started = time.monotonic()
    assert post(clean_stack, record()).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_jitter_is_drawn_within_its_bound_and_applied(clean_stack):
    settings = clean_stack.set_faults({'latency_ms': 50, 'jitter_ms': 100, 'seed': 3})
    sent = [record(index) for index in range(5)]
    for body in sent:
        assert post(clean_stack, body).status_code == 200
    # With a seed, a request's fate depends only on (seed, record_id, attempt): the delays the stand-in drew.
    drawn = [faults.Faults(settings).draw(body['record_id'], 1)['delay'] for body in sent]
    assert all(0.05 <= delay <= 0.15 for delay in drawn)
    assert len(set(drawn)) == len(drawn)  # the jitter is a draw, not a constant
    stats = clean_stack.stats()
    # What the stand-in slept: the drawn delays, base and jitter (jitter never applied would sum to 5 x 0.05).
    assert stats['delayed'] == len(sent)
    assert stats['delay_s'] == pytest.approx(sum(drawn), abs=1e-5)
    assert stats['delay_s'] - len(sent) * 0.05 == pytest.approx(sum(drawn) - len(sent) * 0.05, abs=1e-5)
    assert stats['delay_s'] > len(sent) * 0.05 + 0.05


@pytest.mark.parametrize('status', [500, 502, 503])
def test_injected_server_errors_fail_the_instance_and_store_nothing(clean_stack, status):
    clean_stack.set_faults({'error_rates': {str(status): 1.0}})
    response = post(clean_stack, record(WH_ID='WH5'))
    assert response.status_code == status
    assert response.json()['detail'] == 'injected HTTP %d' % status
    assert clean_stack.rows(clean_stack.oic_table) == []
    assert clean_stack.stats()['by_status'] == {str(status): 1}


def test_injected_429_carries_retry_after(clean_stack):
    clean_stack.set_faults({'error_rates': {'429': 1.0}, 'retry_after': 7})
    response = post(clean_stack, record())
    assert response.status_code == 429
    assert response.headers['Retry-After'] == '7'
    assert clean_stack.rows(clean_stack.oic_table) == []


def test_seeded_error_rates_are_deterministic_per_record_and_attempt(clean_stack):
    settings = {'error_rates': {'503': 0.5}, 'seed': 42}
    batch = [record(index, run_id='determinism') for index in range(20)]

    def outcomes():
        clean_stack.set_faults(settings)
        clean_stack.reset_stats()
        return [post(clean_stack, body).status_code for body in batch]

    first, second = outcomes(), outcomes()
    assert first == second
    assert set(first) == {200, 503}
    # A retry is a new attempt: its fate is drawn afresh but reproducibly.
    retried = [post(clean_stack, body).status_code for body in batch]
    assert retried != first
    assert clean_stack.stats()['attempts'][batch[0]['record_id']] == 2


def test_hang_outlasts_the_client_timeout_then_completes(clean_stack):
    clean_stack.set_faults({'hang_rate': 1.0, 'hang_seconds': 1.0})
    sent = record()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(clean_stack, sent, timeout=0.3)
    [row] = clean_stack.wait_for_rows(clean_stack.oic_table, 1, timeout=10)
    assert row['record_id'] == sent['record_id']


def test_dropped_connection_gets_no_response_and_stores_nothing(clean_stack):
    clean_stack.set_faults({'drop_rate': 1.0})
    with pytest.raises(requests.exceptions.ConnectionError):
        post(clean_stack, record())
    stats = clean_stack.stats()
    assert stats['by_status'] == {'dropped': 1}
    assert clean_stack.rows(clean_stack.oic_table) == []


def test_drop_after_store_loses_the_ack_but_the_row_lands(clean_stack):
    clean_stack.set_faults({'drop_after_rate': 1.0})
    sent = record()
    with pytest.raises(requests.exceptions.ConnectionError):
        post(clean_stack, sent)
    [row] = clean_stack.wait_for_rows(clean_stack.oic_table, 1)
    assert row['record_id'] == sent['record_id']
    # The caller retries the lost answer: BigQuery (here its stand-in) drops the repeated insertId.
    clean_stack.reset_faults()
    assert post(clean_stack, sent).status_code == 200
    assert [r['record_id'] for r in clean_stack.rows(clean_stack.oic_table)] == [sent['record_id']]


def test_a_late_answer_comes_after_the_row_landed(clean_stack):
    clean_stack.set_faults({'late_answer_rate': 1.0, 'late_answer_seconds': 3})
    sent = record()
    with pytest.raises(requests.exceptions.ReadTimeout):  # the caller gives up before the answer comes
        post(clean_stack, sent, timeout=0.5)
    [row] = clean_stack.wait_for_rows(clean_stack.oic_table, 1)
    assert row['record_id'] == sent['record_id']
    clean_stack.wait_for_stats(lambda stats: stats['by_status'].get('200') == 1, timeout=30)  # answered, late


def test_concurrency_limit_answers_429(clean_stack):
    clean_stack.set_faults({'max_concurrency': 2, 'retry_after': 2})
    responses = clean_stack.post_while_held(
        [record(index) for index in range(6)],
        lambda stats: stats['in_flight'] == 2 and stats['refused_over_capacity'] == 4)
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200] * 2 + [429] * 4, statuses
    assert all(r.headers['Retry-After'] == '2' for r in responses if r.status_code == 429)
    assert clean_stack.stats()['max_in_flight'] == 2


def test_reject_rule_makes_known_dead_letters(clean_stack):
    clean_stack.set_faults({'reject': [{'field': 'WH_ID', 'values': ['WH3'], 'status': 400},
                                       {'field': 'Item_id', 'values': ['107'], 'status': 422}]})
    statuses = {wh: post(clean_stack, record(WH_ID=wh, Item_id=100)).status_code for wh in ('WH1', 'WH3', 'WH4')}
    assert statuses == {'WH1': 200, 'WH3': 400, 'WH4': 200}
    response = post(clean_stack, record(WH_ID='WH1', Item_id=107))
    assert response.status_code == 422
    assert response.json()['detail'] == 'rejected by fault rule: Item_id=107'
    rows = clean_stack.wait_for_rows(clean_stack.oic_table, 2)
    assert sorted(row['WH_ID'] for row in rows) == ['WH1', 'WH4']


def test_attempts_are_counted_per_record_id_and_the_emulator_drops_repeated_insert_ids(clean_stack):
    sent = record()
    for _ in range(3):
        assert post(clean_stack, sent).status_code == 200
    stats = clean_stack.stats()
    assert stats['requests'] == 3 and stats['attempts'] == {sent['record_id']: 3}
    # The mapper sends record_id as insertId; the local BigQuery, like BigQuery, keeps one row within its window
    # (each answer above came after OIC's insert: no row is still on its way).
    assert len(clean_stack.rows(clean_stack.oic_table)) == 1


def test_faults_can_be_read_and_reset(clean_stack):
    active = clean_stack.set_faults({'latency_ms': 5, 'seed': 1})
    assert active['latency_ms'] == 5 and active['seed'] == 1 and active['drop_rate'] == 0.0
    assert clean_stack.reset_faults() == faults.parse(None)


@pytest.mark.parametrize('settings', [{'colour': 1}, {'drop_rate': 2}, {'error_rates': {'404': 0.1}},
                                      {'error_rates': {'500': 0.6, '503': 0.6}}, {'reject': {'values': []}},
                                      {'seed': 'x'}, [1, 2], {'late_answer_rate': 1.5},
                                      {'late_answer_seconds': -1}])
def test_bad_fault_settings_get_400(local_stack, settings):
    response = requests.put(local_stack.oic_base + '/admin/faults', json=settings, timeout=5,
                            auth=(local_stack.username, local_stack.password))
    assert response.status_code == 400
    with pytest.raises(faults.FaultError):
        faults.parse(settings)
