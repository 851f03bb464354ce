"""Latency percentiles and the sources they are computed from, on small literal data."""

from comparison.measures import latency


def test_nearest_rank_percentiles():
    summary = latency.summarise([float(i) for i in range(1, 101)] + [None])
    assert summary == {'count': 100, 'p50_s': 50.0, 'p90_s': 90.0, 'p99_s': 99.0, 'max_s': 100.0}
    assert latency.summarise([]) == {'count': 0, 'p50_s': None, 'p90_s': None, 'p99_s': None, 'max_s': None}


def test_ack_latency_is_event_time_to_first_ack_of_this_runs_records():
    acks = [
        {'record_id': 'a', 'event_time': '2026-11-27T17:00:00.000000Z', 'ack_time': '2026-11-27T17:00:00.250000Z'},
        {'record_id': 'a', 'event_time': '2026-11-27T17:00:00.000000Z', 'ack_time': '2026-11-27T17:00:09.000000Z'},
        {'record_id': 'other', 'event_time': '2026-11-27T17:00:00.000000Z', 'ack_time': '2026-11-27T17:01:00Z'},
    ]
    assert latency.ack_latencies(acks, {'a'}) == [0.25]


def test_time_to_queryable_uses_the_first_sighting():
    sightings = [
        {'record_id': 'a', 'event_time': '2026-11-27T17:00:00Z', 'seen_at': '2026-11-27T17:00:01.5Z'},
        {'record_id': 'a', 'event_time': '2026-11-27T17:00:00Z', 'seen_at': '2026-11-27T17:00:03Z'},
    ]
    assert latency.queryable_latencies(sightings, {'a', 'b'}) == [1.5]


def test_cdf_ends_at_one():
    points = latency.cdf_points([3.0, 1.0, 2.0])
    assert points == [(1.0, 1 / 3), (2.0, 2 / 3), (3.0, 1.0)]
    assert latency.cdf_points(range(1000), max_points=10)[-1] == (999, 1.0)
