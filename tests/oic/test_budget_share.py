"""The job's OIC budget divided among the processes that post (transforms/oic/budget.py), on the issue's figures:
10 worker VMs of 4 vCPU (40 SDK processes), a total of 16, --oic_max_rps 200."""

import pytest

from transforms.oic.budget import (
    MAX_POSTING_KEYS, Budget, most_in_flight, posting_keys, posting_processes, processes, share)

VMS, VCPUS = 10, 4
WANTED_KEYS = max(4, VMS)  # what the launcher asks for: about one posting key per VM, at least the grouping's 4


def test_processes_of_the_job():
    assert processes(VMS, True, VCPUS) == 40
    assert processes(VMS, False, VCPUS) == 10  # one SDK process per VM (no_use_multiple_sdk_containers)
    assert processes(VMS, True, None) == 10  # a vCPU count that cannot be read counts as one


@pytest.mark.parametrize('mode', ['fixed', 'adaptive'])
def test_the_issues_job_holds_its_total_and_its_rate_on_either_path(mode):
    # Batched: the posting step is the grouping's (keyed); per-record on Dataflow: SpreadOverKeys before the post.
    # Both are keyed over the same posting keys, so the arithmetic is one.
    keys = posting_keys(16, WANTED_KEYS)
    assert keys == 8  # 8 keys of 2 slots hold 16; 10 of 1 would hold 10
    budget = Budget(mode, 16, 200.0, VMS, True, keys)
    part = share(budget, VCPUS)
    assert (part.posting, part.concurrency, part.max_rps) == (8, 2, 25.0)
    assert most_in_flight(budget, VCPUS) == 16  # was 80: one slot each on 40 (issue: 80 in flight with 10 VMs x 4)
    assert part.max_rps * part.posting == 200.0  # was 5/s on each of 40 processes, of which at most 16 posted: ~50/s


def test_adaptive_64_is_the_jobs_ceiling_not_each_processes():
    # Four local processes, --oic_concurrency 64: each grows to 16 at most, 64 together (was 4 x 64 = 256).
    budget = Budget('adaptive', 64, 0.0, 4)
    assert (share(budget, None).concurrency, share(budget, None).max_rps) == (16, None)
    assert most_in_flight(budget, None) == 64
    # On Dataflow (10 VMs of 4 vCPU): 10 posting keys of 6 (4 slots unused: less than one key's share).
    keyed = Budget('adaptive', 64, 0.0, VMS, True, posting_keys(64, WANTED_KEYS))
    assert (share(keyed, VCPUS).posting, share(keyed, VCPUS).concurrency, most_in_flight(keyed, VCPUS)) == (10, 6, 60)


@pytest.mark.parametrize('total', [1, 2, 3, 5, 7, 16, 17, 63, 64, 100, 2000])
@pytest.mark.parametrize('vms, vcpus', [(1, 1), (1, 4), (3, 2), (10, 4), (64, 8)])
def test_the_job_never_holds_more_than_its_total(total, vms, vcpus):
    budget = Budget('fixed', total, 10.0, vms, True, posting_keys(total, max(4, vms)))
    part = share(budget, vcpus)
    assert part.concurrency >= 1
    assert part.posting <= budget.posting_keys <= total
    assert most_in_flight(budget, vcpus) <= total
    assert part.max_rps * part.posting == pytest.approx(10.0)


def test_a_total_below_the_processes_gives_fewer_posting_keys():
    # 2 in flight on 40 processes: 2 keys, so 2 processes of 1 slot (not 40 at the floor of one each).
    budget = Budget('fixed', 2, 0.0, VMS, True, posting_keys(2, WANTED_KEYS))
    assert (posting_processes(budget, VCPUS), share(budget, VCPUS).concurrency) == (2, 1)


def test_fewer_processes_than_keys_take_the_keys_share_between_them():
    # One VM of 2 vCPU, 8 posting keys: 2 processes post, 8 slots each.
    budget = Budget('fixed', 16, 0.0, 1, True, 8)
    assert (share(budget, 2).posting, share(budget, 2).concurrency) == (2, 8)


def test_posting_keys_waste_the_fewest_slots():
    assert [posting_keys(16, w) for w in (1, 4, 10, 16, 40)] == [1, 4, 8, 16, 16]
    assert posting_keys(100, 10) == 10 and posting_keys(2, 4) == 2 and posting_keys(17, 10) == 8
    assert posting_keys(7, 4) == 3  # 3 x 2 = 6 held; 4 x 1 would hold 4, 1 x 7 would post from one process
    for total in range(1, 300):
        for wanted in (1, 4, 10, 64):
            keys = posting_keys(total, wanted)
            assert 1 <= keys <= min(total, wanted) and total % keys < total // keys
    assert posting_keys(10 ** 6, 10 ** 6) <= MAX_POSTING_KEYS


@pytest.mark.parametrize('kwargs, message', [
    ({'mode': 'eager', 'total': 4}, 'mode'),
    ({'mode': 'fixed', 'total': 0}, 'total'),
    ({'mode': 'fixed', 'total': 4, 'posting_keys': 5}, 'between 1 and the total'),
    ({'mode': 'fixed', 'total': 4, 'workers': 8}, 'cannot be shared by 8'),
    ({'mode': 'fixed', 'total': 64, 'workers': 2, 'per_vcpu': True}, 'per-vCPU'),
])
def test_a_budget_that_could_not_hold_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Budget(**kwargs)
