"""The OIC stand-in's service-time model: the seeded draws follow the distribution asked for (pure, many draws, no
clock), the settings are validated, and the live stand-in takes them through PATCH /admin/faults and spends them."""

import math
import random
import statistics
import uuid

import pytest
import requests

from devstack.oic import faults
from transforms import records

DRAWS = 20000


def draws(seed=11, **settings):
    """DRAWS service times in ms for the settings, from one seeded random source."""
    clean = faults.parse(dict(settings, seed=seed))
    rng = random.Random(seed)
    return [faults.draw_service_ms(clean, rng) for _ in range(DRAWS)]


def above(share_of, limit):
    return sum(1 for value in share_of if value > limit) / len(share_of)


def normal_tail(z):
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def binomial_tolerance(p):
    return 4 * math.sqrt(p * (1 - p) / DRAWS)  # four standard errors: a seeded draw, so this never flickers


def test_no_model_draws_nothing_and_spends_nothing():
    clean = faults.parse({'seed': 1})
    rng = random.Random(1)
    assert faults.draw_service_ms(clean, rng) == 0.0
    assert rng.random() == random.Random(1).random()  # the random source was not advanced


def test_lognormal_median_and_tail_follow_sigma():
    times = draws(service_ms=120, service_sigma=0.5)
    assert statistics.median(times) == pytest.approx(120, rel=0.03)
    # above 2x the median: Z > ln 2 / sigma
    expected = normal_tail(math.log(2) / 0.5)
    assert above(times, 240) == pytest.approx(expected, abs=binomial_tolerance(expected))
    assert min(times) > 0
    # A wider sigma, the same median: a heavier tail.
    wide = draws(service_ms=120, service_sigma=1.0)
    assert statistics.median(wide) == pytest.approx(120, rel=0.05)
    assert above(wide, 240) == pytest.approx(normal_tail(math.log(2)), abs=binomial_tolerance(0.25))


def test_sigma_zero_is_the_median_and_outliers_come_at_their_share_and_factor():
    times = draws(service_ms=80, outlier_rate=0.05, outlier_factor=10)
    assert set(times) == {80.0, 800.0}
    assert above(times, 80) == pytest.approx(0.05, abs=binomial_tolerance(0.05))
    assert statistics.median(times) == 80.0
    assert set(draws(service_ms=80, outlier_rate=0.02)) == {80.0, 800.0}  # the default factor is 10


def test_outliers_on_a_lognormal_body():
    times = draws(service_ms=100, service_sigma=0.3, outlier_rate=0.1, outlier_factor=20)
    # Above 5x the median: (almost) only outliers (an outlier is below 5x only when its Z < ln(1/4)/0.3 = -4.6).
    assert above(times, 500) == pytest.approx(0.1, abs=binomial_tolerance(0.1))
    body = sorted(times)[:int(DRAWS * 0.9)]  # the lowest 90%: the draws that were not outliers
    assert statistics.median(body) == pytest.approx(100, rel=0.03)
    assert statistics.median(times) > 100  # the outliers shift the overall median up


def test_seeded_fate_is_reproducible_per_record_and_attempt_and_leaves_the_other_draws_alone():
    settings = {'seed': 5, 'service_ms': 50, 'service_sigma': 0.8, 'outlier_rate': 0.1,
                'latency_ms': 10, 'jitter_ms': 20, 'error_rates': {'503': 0.3}}
    first, again = faults.Faults(settings), faults.Faults(settings)
    ids = [str(uuid.UUID(int=n)) for n in range(50)]
    fates = [first.draw(record_id, 1) for record_id in ids]
    assert fates == [again.draw(record_id, 1) for record_id in reversed(ids)][::-1]  # arrival order does not matter
    assert [f['service'] for f in fates] != [first.draw(record_id, 2)['service'] for record_id in ids]
    assert len({f['service'] for f in fates}) == len(ids)
    without = faults.Faults(dict(settings, service_ms=0))
    for record_id, fate in zip(ids, fates):
        other = without.draw(record_id, 1)
        assert other['service'] == 0.0
        assert {k: v for k, v in other.items() if k != 'service'} == {k: v for k, v in fate.items() if k != 'service'}


@pytest.mark.parametrize('settings', [{'service_ms': -1}, {'service_ms': 'fast'}, {'service_sigma': -0.1},
                                      {'service_sigma': 4}, {'service_sigma': True}, {'outlier_rate': 1.5},
                                      {'outlier_factor': 0.5}, {'outlier_factor': 5000}])
def test_bad_service_settings_are_refused(settings):
    with pytest.raises(faults.FaultError) as refused:
        faults.parse(settings)
    assert next(iter(settings)) in str(refused.value)


def test_service_flags_override_the_json_settings():
    import argparse
    parser = argparse.ArgumentParser()
    faults.add_service_arguments(parser)
    args = parser.parse_args(['--service-ms', '150', '--outlier-rate', '0.01'])
    merged = faults.with_service_flags({'service_ms': 5, 'seed': 2}, args)
    assert merged == {'service_ms': 150.0, 'seed': 2, 'outlier_rate': 0.01}
    assert faults.with_service_flags(None, parser.parse_args([])) is None
    assert faults.parse(merged)['outlier_factor'] == 10.0


# -- the live stand-in

@pytest.mark.stack
def test_patched_service_settings_read_back_and_are_spent_per_request(clean_stack):
    changed = clean_stack.update_faults({'service_ms': 40, 'service_sigma': 0.0, 'seed': 9})
    assert (changed['service_ms'], changed['service_sigma'], changed['outlier_rate'], changed['outlier_factor']) \
        == (40, 0.0, 0.0, 10.0)
    response = requests.get(clean_stack.oic_base + '/admin/faults', timeout=5,
                            auth=(clean_stack.username, clean_stack.password))
    assert response.json() == changed
    body = records.make_record(seed=1, run_id='service-%s' % uuid.uuid4(), index=0)
    assert requests.post(clean_stack.oic_url, json=body, timeout=10,
                         auth=(clean_stack.username, clean_stack.password)).status_code == 200
    stats = clean_stack.stats()
    assert (stats['serviced'], stats['service_s']) == (1, 0.04)
    assert stats['delayed'] == 0  # latency_ms and jitter_ms are a separate, unset, delay


@pytest.mark.stack
@pytest.mark.parametrize('settings', [{'service_ms': -5}, {'service_sigma': 9}, {'outlier_rate': 2},
                                      {'outlier_factor': 0}])
def test_bad_service_settings_get_400_and_change_nothing(clean_stack, settings):
    before = clean_stack.update_faults({'service_ms': 10})
    response = requests.patch(clean_stack.oic_base + '/admin/faults', json=settings, timeout=5,
                              auth=(clean_stack.username, clean_stack.password))
    assert response.status_code == 400
    assert next(iter(settings)) in response.json()['detail']
    assert clean_stack.update_faults({}) == before
