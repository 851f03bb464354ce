"""Throughput and requests per row, on literal timestamps."""

from comparison.measures import throughput


def ts(seconds):
    return '2026-11-27T17:00:%09.6fZ' % seconds


def test_rate_spans_first_event_to_last_completion_with_zero_buckets():
    result = throughput.path_throughput([ts(1.5), ts(1.7), ts(4.0)], [ts(0), ts(0.5)], 'acks')
    assert result['rows_per_s'] == 0.75 and result['span_s'] == 4.0
    series = result['series']  # 0.25 s buckets, as rows per second
    assert len(series) == 17 and series[6] == [1.5, 8.0] and series[-1] == [4.0, 4.0]
    assert sum(c for _, c in series) * 0.25 == 3


def test_long_runs_get_wider_buckets():
    series = throughput.series([throughput.rec.parse_timestamp(ts(0)).replace(hour=19)],
                               throughput.rec.parse_timestamp(ts(0)))
    assert series[1][0] - series[0][0] == 60
    assert throughput.path_throughput([], [ts(0)], 'acks')['rows_per_s'] is None


def test_http_requests_per_path():
    acks = [{'attempts': 1}, {'attempts': 3}]
    assert throughput.answered_requests(acks, [{'attempts': 2}])[0] == 6
    assert throughput.insert_all_calls({'batch_size': {'count': 4, 'sum': 2000}})[0] == 4
    assert throughput.insert_all_calls({})[0] is None


def batched(record_id, batch_id, attempts, **more):
    return dict({'record_id': record_id, 'batch_id': batch_id, 'batch_records': 0, 'attempts': attempts}, **more)


def test_http_requests_of_a_batched_run_count_each_request_as_sent():
    # Batch g1: its first request took 2 attempts (a 503, then 200) and landed r1-r3; r4 and r5 went again in round 2
    # (1 attempt), r5 once more in round 3 (1 attempt) and was then dead-lettered: 4 POSTs. Batch g2: one request,
    # one attempt. Batch g3: every row of its first request was refused retryably, so no record names round 1; both
    # landed in round 2: 2 POSTs. 7 POSTs for 9 records (counting per record and attempt said 19).
    acks = ([batched('r%d' % i, 'g1.1', 2) for i in (1, 2, 3)] + [batched('r4', 'g1.2', 3)]
            + [batched('r6', 'g2.1', 1), batched('r7', 'g2.1', 1)]
            + [batched('r8', 'g3.2', 2), batched('r9', 'g3.2', 2)])
    dead = [batched('r5', 'g1.3', 4, reason='attempts_exhausted')]
    made, counted = throughput.answered_requests(acks, dead)
    assert made == 7 and 'batch' in counted
    assert throughput.requests_per_row(made, 9) == round(7 / 9, 4)
    # A batch whose sending raised (no request known, 0 attempts) adds none; a record alone counts its attempts.
    assert throughput.oic_requests(dead + [batched('r10', 'internal-error-ab12', 0)]) == 4
    assert throughput.oic_requests([{'record_id': 'x', 'attempts': 3}, {'record_id': 'y'}]) == 4


def test_a_batched_runs_requests_from_the_callers_metric():
    assert throughput.oic_requests_from_metrics({'oic_requests': 12})[0] == 12
    made, counted = throughput.oic_requests_from_metrics({})
    assert made is None and counted.startswith('unknown')


def test_each_batched_request_keeps_its_own_attempts():
    # The records' attempts add up over the requests that carried them; each request's own are the differences
    # (round 3 of g1: 4 - 3), and a round no record names is counted with the next (g3.2 carries g3.1's attempt).
    acks = ([batched('r%d' % i, 'g1.1', 2) for i in (1, 2, 3)] + [batched('r4', 'g1.2', 3)]
            + [batched('r5', 'g1.3', 4), batched('r8', 'g3.2', 2), batched('r9', 'g3.2', 2)])
    assert throughput.batch_request_attempts(acks) == {'g1.1': 2, 'g1.2': 1, 'g1.3': 1, 'g3.2': 2}
