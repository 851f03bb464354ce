"""The report's view of the OIC caller's concurrency limit: per worker over time, and the share of overload answers."""

import datetime

from comparison import concurrency, html_report


def sample(worker, seconds, limit):
    moment = datetime.datetime(2026, 11, 28, 3, 0, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return {'path': 'oic', 'worker': worker, 'time': moment.isoformat().replace('+00:00', 'Z'), 'limit': limit,
            'mode': 'adaptive', 'ceiling': 100}


SAMPLES = [sample('a:1', 2.0, 4.0), sample('b:2', 1.0, 1.0), sample('a:1', 0.5, 1.0), sample('b:2', 3.0, 8.0),
           {'worker': 'c:3', 'time': 'not a time', 'limit': 2}]
START = datetime.datetime(2026, 11, 28, 3, 0, tzinfo=datetime.timezone.utc)


def test_limits_per_worker_in_time_order_from_the_runs_start():
    assert concurrency.limit_series(SAMPLES, START) == {'a:1': [[0.5, 1.0], [2.0, 4.0]], 'b:2': [[1.0, 1.0], [3.0, 8.0]]}
    assert concurrency.limit_series([], START) == {}


def test_view_has_the_final_limits_and_the_share_of_overload_answers():
    view = concurrency.concurrency_view(SAMPLES, {'oic_requests': 200, 'oic_overload_answers': 5,
                                                  'oic_concurrency_limit_changes': 9}, START)
    assert view['final_limit'] == {'a:1': 4.0, 'b:2': 8.0} and view['workers'] == 2
    assert (view['mode'], view['ceiling'], view['limit_changes'], view['overload_share']) == ('adaptive', 100, 9, 0.025)
    assert concurrency.overload_share({}) is None
    assert concurrency.earliest(['2026-11-28T03:00:05Z', None, '2026-11-28T03:00:01Z']).second == 1


def test_the_html_report_charts_the_limit_beside_throughput():
    view = concurrency.concurrency_view(SAMPLES, {'oic_requests': 200, 'oic_overload_answers': 5}, START)
    report = {'paths': {'oic': {'concurrency': view}}}
    svg = html_report.concurrency_svg(report)
    assert svg.startswith('<svg') and 'a:1' in svg and 'b:2' in svg
    assert '2.50%' in html_report._concurrency_line(report['paths']['oic'])  # pylint: disable=protected-access
