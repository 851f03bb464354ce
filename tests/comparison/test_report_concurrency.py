"""The report's view of the OIC caller's concurrency limit: per worker over time, and the share of overload answers."""

import datetime

from comparison.measures import concurrency
from comparison.render import html_page as html_report
from comparison.render import terminal as report_table


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


def test_paced_share_is_the_time_weighted_share_below_one_request():
    # a:1 paced (0.5) for 2 of its 4 s, b:2 never; the last segments run to the end (4 s)
    series = {'a:1': [[0.0, 0.5], [2.0, 3.0]], 'b:2': [[0.0, 2.0]]}
    assert concurrency.paced_share(series, end_s=4.0) == 0.25
    assert concurrency.paced_share(series) == 0.5  # default end: the last sample (2 s)
    assert concurrency.paced_share({}) is None
    assert concurrency.paced_share({'a:1': [[1.0, 0.5]]}) is None  # no time to measure


def test_the_report_advises_a_rate_when_workers_spent_long_paced_below_one_request():
    paced = [sample('a:1', 0.0, 0.5), sample('a:1', 3.0, 1.0), sample('b:2', 0.0, 0.25)]
    view = concurrency.concurrency_view(paced, {'oic_requests': 10}, START, end_s=4.0)
    assert view['paced_share'] == 0.875
    advice = concurrency.paced_advice(view)
    assert advice is not None and '88%' in advice and '--oic_rate_limiter' in advice
    assert '--oic_rate_limiter' in html_report._concurrency_line({'concurrency': view})  # pylint: disable=protected-access
    calm = concurrency.concurrency_view(SAMPLES, {'oic_requests': 10}, START)
    assert calm['paced_share'] == 0.0 and concurrency.paced_advice(calm) is None
    assert concurrency.paced_advice(dict(view, mode='fixed')) is None


def test_the_terminal_report_carries_the_advice_among_its_notes():
    paced = [sample('a:1', 0.0, 0.5), sample('b:2', 0.0, 0.25)]
    view = concurrency.concurrency_view(paced, {'oic_requests': 10}, START, end_s=4.0)
    notes = report_table._notes({'paths': {'oic': {'concurrency': view, 'landed_check': 'done'}}}, ['oic'])  # pylint: disable=protected-access
    assert any(n.startswith('oic concurrency: the OIC limit was below one request') for n in notes)
    calm = concurrency.concurrency_view(SAMPLES, {'oic_requests': 10}, START)
    notes = report_table._notes({'paths': {'oic': {'concurrency': calm, 'landed_check': 'done'}}}, ['oic'])  # pylint: disable=protected-access
    assert not any('concurrency' in n for n in notes)
