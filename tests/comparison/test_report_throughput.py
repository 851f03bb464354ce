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
    assert throughput.http_requests('oic', acks, [{'attempts': 2}], {})[0] == 6
    assert throughput.http_requests('direct', [], [], {'batch_size': {'count': 4, 'sum': 2000}})[0] == 4
    assert throughput.http_requests('direct', [], [], {})[0] is None
