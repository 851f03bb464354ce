"""OIC's monitoring view as pure functions: the query, scoping instances to a run, the three-way check."""

import datetime

from comparison.measures import monitoring


def instance(status, record_id=None):
    item = {'status': status, 'trackings': [{'name': 'WH_ID', 'primary': True, 'value': 'WH1'}]}
    if record_id:
        item['trackings'].append({'name': 'record_id', 'primary': False, 'value': record_id})
    return item


def test_urls_and_query():
    url = 'https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'
    assert monitoring.monitoring_url(url) == 'https://oic.example.com/ic/api/integration/v1/monitoring/instances'
    assert monitoring.integration_code(url) == 'WAREHOUSE_STREAM'
    start = datetime.datetime(2026, 11, 27, 17, 0, 0, tzinfo=datetime.timezone.utc)
    q = monitoring.build_q(start, start + datetime.timedelta(seconds=30), 'WAREHOUSE_STREAM')
    assert q == "{startdate:'2026-11-27 16:59:55', enddate:'2026-11-27 17:00:35', code:'WAREHOUSE_STREAM'}"


def test_instances_are_scoped_to_the_runs_records():
    items = [instance('COMPLETED', 'a'), instance('FAILED', 'b'), instance('FAILED', 'c'),
             instance('COMPLETED', 'c'), instance('COMPLETED', 'other-run')]
    summary = monitoring.summarise_instances(items, {'a', 'b', 'c'})
    assert (summary['instances'], summary['completed'], summary['failed']) == (4, 2, 2)
    assert (summary['records_completed'], summary['records_failed_never_completed']) == (2, 1)
    assert monitoring.three_way(2, 1, 2, summary)['agree']
    assert not monitoring.three_way(2, 1, 1, summary)['agree']


def test_without_record_ids_the_time_window_counts():
    summary = monitoring.summarise_instances([instance('COMPLETED'), instance('FAILED')], {'a'})
    assert summary['scoped_by'].startswith('time window') and summary['instances'] == 2


def test_no_password_means_skipped(monkeypatch):
    monkeypatch.delenv('OIC_PASSWORD', raising=False)
    view = monitoring.oic_view({'oic_url': 'http://127.0.0.1:1/x', 'oic_username': 'u'}, set())
    assert view['check'].startswith('skipped: OIC_PASSWORD')


def test_a_batched_run_is_looked_up_under_the_batch_integrations_code():
    from comparison.measures import monitoring
    stream = 'https://h/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'
    batch = 'https://h/ic/api/integration/v1/flows/rest/WAREHOUSE_BATCH/1.0/records'
    assert monitoring.integration_code(monitoring.trigger_url({'oic_url': stream})) == 'WAREHOUSE_STREAM'
    assert monitoring.integration_code(monitoring.trigger_url(
        {'oic_url': stream, 'oic_batch_kb': 50.0, 'oic_batch_url': batch})) == 'WAREHOUSE_BATCH'
    assert monitoring.trigger_url({'oic_url': stream, 'oic_batch_kb': 0, 'oic_batch_url': batch}) == stream
