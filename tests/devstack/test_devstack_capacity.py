"""The OIC stand-in's capacity model: the cap from settings, the gate's rules, and the real stand-in refusing or
queueing above its cap, changed while it runs."""

import asyncio
import concurrent.futures
import uuid

import pytest
import requests

from devstack.oic import capacity
from devstack.oic import faults
from transforms import records


# -- the cap from the settings (pure)

@pytest.mark.parametrize('settings, cap', [
    ({}, 0),
    ({'max_concurrency': 12}, 12),
    ({'message_packs': 1}, 100),
    ({'message_packs': 3}, 300),
    ({'message_packs': 2, 'byol': True}, 800),
    ({'message_packs': 30}, 2000),                       # an instance serves at most 2,000 at once
    ({'message_packs': 2, 'max_concurrency': 24}, 24),   # set directly, the cap wins over packs
])
def test_cap_from_settings(settings, cap):
    assert capacity.cap_of(faults.parse(settings)) == cap


@pytest.mark.parametrize('settings', [{'over_capacity': 'drop'}, {'byol': 'yes'}, {'message_packs': -1},
                                      {'message_packs': 1.5}, {'retry_after': -1}])
def test_bad_capacity_settings_are_refused(settings):
    with pytest.raises(faults.FaultError):
        faults.parse(settings)


def test_retry_after_may_be_null_and_update_changes_only_what_is_given():
    active = faults.Faults({'latency_ms': 100, 'max_concurrency': 24, 'retry_after': None})
    assert active.settings['retry_after'] is None
    active.update({'max_concurrency': 12})
    assert (active.settings['max_concurrency'], active.settings['latency_ms']) == (12, 100)
    with pytest.raises(faults.FaultError):
        active.update({'max_concurrency': 'many'})
    assert active.settings['max_concurrency'] == 12


# -- the gate (one event loop, no sleeping: the tests step it with asyncio.sleep(0))

def run(coroutine):
    return asyncio.run(coroutine)


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_gate_refuses_above_the_cap_without_queueing():
    async def scenario():
        gate = capacity.CapacityGate()
        assert [await gate.enter(2, queue=False) for _ in range(3)] == [True, True, False]
        assert (gate.in_flight, gate.refused) == (2, 1)
        gate.leave(2)
        assert await gate.enter(2, queue=False)
        assert gate.max_in_flight == 2
    run(scenario())


def test_gate_queues_in_arrival_order_and_a_raised_cap_admits_waiters():
    async def scenario():
        gate = capacity.CapacityGate()
        admitted = []

        async def request(name):
            await gate.enter(1, queue=True)
            admitted.append(name)

        tasks = [asyncio.create_task(request(name)) for name in 'abcd']
        await settle()
        assert admitted == ['a'] and gate.queued == 3
        gate.leave(1)
        await settle()
        assert admitted == ['a', 'b'] and gate.in_flight == 1
        gate.wake(3)  # the cap went from 1 to 3 while b runs
        await settle()
        assert admitted == ['a', 'b', 'c', 'd'] and (gate.in_flight, gate.queued) == (3, 0)
        assert (gate.max_in_flight, gate.max_queued, gate.waited) == (3, 3, 3)
        await asyncio.gather(*tasks)
    run(scenario())


def test_gate_a_cancelled_waiter_leaves_the_queue_and_holds_no_slot():
    async def scenario():
        gate = capacity.CapacityGate()
        await gate.enter(1, queue=True)
        waiting = asyncio.create_task(gate.enter(1, queue=True))
        await settle()
        assert gate.queued == 1
        waiting.cancel()
        await settle()
        assert (gate.queued, gate.in_flight) == (0, 1)
        gate.leave(1)
        assert gate.in_flight == 0
    run(scenario())


def test_gate_counters_reset_keeps_what_is_in_flight():
    async def scenario():
        gate = capacity.CapacityGate()
        for _ in range(3):
            await gate.enter(0, queue=False)
        gate.leave(0)
        gate.reset_counters()
        assert (gate.in_flight, gate.max_in_flight, gate.refused) == (2, 2, 0)
    run(scenario())


# -- the real stand-in

def record(index=0):
    return records.make_record(seed=11, run_id='capacity-%s' % uuid.uuid4(), index=index)


def post(stack, body, timeout=10):
    return requests.post(stack.oic_url, json=body, auth=(stack.username, stack.password), timeout=timeout)


def post_all(stack, count):
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda index: post(stack, record(index)), range(count)))


def records_(count):
    return [record(index) for index in range(count)]


@pytest.mark.stack
def test_over_the_cap_429_without_retry_after_when_it_is_null(clean_stack):
    clean_stack.set_faults({'max_concurrency': 2, 'retry_after': None})
    responses = clean_stack.post_while_held(
        records_(6), lambda stats: stats['in_flight'] == 2 and stats['refused_over_capacity'] == 4)
    refused = [r for r in responses if r.status_code == 429]
    assert sorted(r.status_code for r in responses) == [200, 200, 429, 429, 429, 429]
    assert all('Retry-After' not in r.headers for r in refused)
    stats = clean_stack.stats()
    assert stats['capacity'] == 2 and stats['max_in_flight'] == 2
    assert stats['refused_over_capacity'] == len(refused) == stats['by_status']['429']


@pytest.mark.stack
def test_message_packs_set_the_cap(clean_stack):
    assert clean_stack.set_faults({'message_packs': 2})['message_packs'] == 2
    assert clean_stack.stats()['capacity'] == 200
    clean_stack.update_faults({'byol': True})
    assert clean_stack.stats()['capacity'] == 800


@pytest.mark.stack
def test_queueing_mode_makes_requests_wait_instead_of_refusing(clean_stack):
    clean_stack.set_faults({'max_concurrency': 2, 'over_capacity': 'queue'})
    responses = clean_stack.post_while_held(records_(6), lambda stats: (stats['in_flight'], stats['queued']) == (2, 4))
    assert [r.status_code for r in responses] == [200] * 6
    stats = clean_stack.stats()
    assert stats['max_in_flight'] == 2 and stats['max_queued'] == 4 and stats['refused_over_capacity'] == 0
    assert (stats['in_flight'], stats['queued']) == (0, 0)
    assert stats['queue_wait_s'] > 0  # four requests waited for a slot: the stand-in summed their waits


@pytest.mark.stack
def test_cap_raised_while_running_admits_the_waiting_requests(clean_stack):
    clean_stack.set_faults({'max_concurrency': 1, 'over_capacity': 'queue'})
    clean_stack.hold_sink(True)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(clean_stack.post, record(index)) for index in range(3)]
        clean_stack.wait_for_stats(lambda stats: (stats['in_flight'], stats['queued']) == (1, 2))
        assert clean_stack.update_faults({'max_concurrency': 3})['max_concurrency'] == 3
        clean_stack.wait_for_stats(lambda stats: (stats['in_flight'], stats['queued']) == (3, 0))  # admitted at once
        clean_stack.hold_sink(False)
        statuses = [future.result().status_code for future in futures]
    assert statuses == [200, 200, 200]
    assert clean_stack.stats()['max_in_flight'] == 3


@pytest.mark.stack
def test_cap_halved_while_running_refuses_above_the_new_cap(clean_stack):
    clean_stack.set_faults({'max_concurrency': 4})
    clean_stack.hold_sink(True)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        first = [pool.submit(clean_stack.post, record(index)) for index in range(4)]
        clean_stack.wait_for_stats(lambda stats: stats['in_flight'] == 4)
        clean_stack.update_faults({'max_concurrency': 2})
        assert [clean_stack.post(record(9)).status_code for _ in range(2)] == [429, 429]  # 4 in flight > 2
        clean_stack.hold_sink(False)
        assert [future.result().status_code for future in first] == [200] * 4
    clean_stack.reset_stats()
    responses = clean_stack.post_while_held(
        records_(4), lambda stats: stats['in_flight'] == 2 and stats['refused_over_capacity'] == 2)
    assert sorted(r.status_code for r in responses) == [200, 200, 429, 429]
    stats = clean_stack.stats()
    assert (stats['max_in_flight'], stats['refused_over_capacity']) == (2, 2)


@pytest.mark.stack
def test_patch_with_a_bad_setting_gets_400_and_changes_nothing(local_stack):
    before = local_stack.stats()['capacity']
    response = requests.patch(local_stack.oic_base + '/admin/faults', json={'over_capacity': 'drop'}, timeout=5,
                              auth=(local_stack.username, local_stack.password))
    assert response.status_code == 400 and 'over_capacity' in response.json()['detail']
    assert local_stack.stats()['capacity'] == before
