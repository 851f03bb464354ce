"""OIC's monitoring view as pure functions: the query, scoping instances to a run, the three-way check."""

import datetime

import pytest

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


def test_basic_without_a_password_is_refused_before_any_call(monkeypatch):
    monkeypatch.delenv('OIC_PASSWORD', raising=False)
    found = monitoring.oic_view(RunInfo.from_json({'oic_url': 'http://127.0.0.1:1/x', 'oic_username': 'u', 'started_at': START,
                                                   'finished_at': END}), set(), auth='basic')
    assert found['check'].startswith('refused: Basic Auth needs') and 'OAuth' in found['check']


def test_a_batched_run_is_looked_up_under_the_batch_integrations_code():
    from comparison.measures import monitoring
    stream = 'https://h/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'
    batch = 'https://h/ic/api/integration/v1/flows/rest/WAREHOUSE_BATCH/1.0/records'
    assert monitoring.integration_code(monitoring.trigger_url(RunInfo.from_json({'oic_url': stream}))) == 'WAREHOUSE_STREAM'
    assert monitoring.integration_code(monitoring.trigger_url(
        RunInfo.from_json({'oic_url': stream, 'oic_batch_kb': 50.0, 'oic_batch_url': batch}))) == 'WAREHOUSE_BATCH'
    assert monitoring.trigger_url(RunInfo.from_json({'oic_url': stream, 'oic_batch_kb': 0, 'oic_batch_url': batch})) == stream


# -- OIC 3's monitoring API: OAuth, the instance name, both spellings, paging by offset (a fake HTTP answerer)

from comparison.measures import oic_access  # noqa: E402
from transforms.run_record.run_info import RunInfo

START, END = '2026-12-06T08:00:00+00:00', '2026-12-06T08:01:00+00:00'
TRIGGER = 'https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'


class FakeAnswer:
    def __init__(self, status, body):
        self.status_code, self._body = status, body
        self.text = str(body)

    def json(self):
        return self._body

    def raise_for_status(self):
        if self.status_code >= 400:
            import requests
            raise requests.HTTPError('HTTP %d' % self.status_code)


class FakeOIC:
    """Answers GET instances as OIC 3 (kebab-case) or Gen2 (camelCase) would, from `count` instances; records calls."""

    def __init__(self, count, spelling='oic3', refuse=None):
        self.count, self.spelling, self.refuse = count, spelling, refuse
        self.calls, self.headers = [], {}

    def __call__(self):
        return self

    def get(self, url, params, timeout, verify):
        self.calls.append(dict(params))
        if self.refuse:
            return FakeAnswer(self.refuse, {'detail': 'integrationInstance is required'})
        offset, limit = params['offset'], params['limit']
        ids = range(offset, min(self.count, offset + limit))
        kebab = self.spelling == 'oic3'
        items = [{('instance-id' if kebab else 'id'): str(i), 'status': 'COMPLETED',
                  ('integration-id' if kebab else 'integrationId'): 'WAREHOUSE_STREAM',
                  'trackings': [{'name': 'record_id', 'value': 'r%d' % i}]} for i in ids]
        return FakeAnswer(200, {'items': items, ('total-results' if kebab else 'totalResults'): self.count})

    def close(self):
        pass


def view(fake, auth='basic', **environ):
    run = RunInfo.from_json({'oic_url': TRIGGER, 'oic_username': 'u', 'started_at': START, 'finished_at': END})
    return monitoring.oic_view(run, {'r%d' % i for i in range(fake.count)}, password='p', auth=auth,
                               session_factory=fake, environ=environ)


@pytest.mark.parametrize('spelling', ['oic3', 'gen2'])
def test_1100_instances_are_read_in_11_pages_by_offset_ordered_by_creation_date(spelling):
    fake = FakeOIC(1100, spelling)
    found = view(fake, OIC_INSTANCE='my-oic')
    assert found['check'] == 'done' and found['records_completed'] == 1100 and found['instances'] == 1100
    assert [c['offset'] for c in fake.calls] == list(range(0, 1100, 100))  # the 11th page is full: the total ends it
    assert {(c['orderBy'], c['limit'], c['integrationInstance']) for c in fake.calls} == {('creationdate', 100, 'my-oic')}


def test_a_short_page_ends_the_paging_without_a_total():
    fake = FakeOIC(250)
    fake.get = (lambda get: lambda *a, **k: _without_total(get(*a, **k)))(fake.get)
    assert view(fake)['records_completed'] == 250 and len(fake.calls) == 3


def _without_total(answer):
    answer._body.pop('total-results', None)
    return answer


def test_both_spellings_of_every_field_are_read():
    kebab = {'status': 'COMPLETED', 'integration-id': 'X', 'trackings': [{'name': 'records', 'value': '40'}]}
    camel = {'status': 'COMPLETED', 'integrationId': 'X', 'pkName': 'record_id', 'pkValue': 'a',
             'tertiaryTrackingName': 'records', 'tertiaryTrackingValue': '7'}
    assert monitoring.field(kebab, 'code') == monitoring.field(camel, 'code') == 'X'
    assert monitoring.batch_size(kebab) == 40 and monitoring.batch_size(camel) == 7
    assert monitoring.instance_record_id(camel) == 'a' and monitoring.instance_record_id(kebab) is None


@pytest.mark.parametrize('status, auth, environ, words', [
    (401, 'basic', {}, ['Basic Auth', 'OAuth only', 'OIC_TOKEN_URL']),
    (400, 'basic', {}, ['without an instance name', 'OIC_INSTANCE']),
    (403, 'basic', {'OIC_INSTANCE': 'i'}, ['ServiceUser']),
])
def test_a_refusal_is_one_line_that_names_the_fix(status, auth, environ, words):
    found = view(FakeOIC(5, refuse=status), auth, **environ)
    assert found['check'].startswith('refused: ') and '\n' not in found['check']
    assert all(word in found['check'] for word in words), found['check']


def test_oauth_without_a_client_is_refused_before_any_call():
    fake = FakeOIC(5)
    found = view(fake, 'oauth')
    assert found['check'].startswith('refused: OIC 3') and 'OIC_CLIENT_ID' in found['check'] and not fake.calls


def test_the_oauth_client_comes_from_the_run_or_the_environment_and_never_holds_the_secret():
    env = {'OIC_TOKEN_URL': 'https://idcs.example.com/oauth2/v1/token', 'OIC_CLIENT_ID': 'c', 'OIC_SCOPE': 's'}
    access = oic_access.resolve_access(RunInfo.from_json({'oic_url': TRIGGER}), environ=env)
    assert access.auth == 'oauth' and access.oauth.client_id == 'c' and access.oauth.secret_ref.env == 'OIC_CLIENT_SECRET'
    recorded = oic_access.resolve_access(RunInfo.from_json({
        'oic_url': TRIGGER, 'oic_token_url': 'https://t/oauth2/v1/token', 'oic_client_id': 'run', 'oic_scope': 's2',
        'oic_client_secret_secret': 'projects/p/secrets/s/versions/1'}), environ=env)
    assert recorded.oauth.client_id == 'run' and recorded.oauth.secret_ref.secret.startswith('projects/')


def test_paging_stops_at_its_time_bound_and_the_check_fails_rather_than_count_a_part():
    access = oic_access.MonitoringAccess(url='https://h/x', auth='basic', instance='i')
    ticks = iter(range(100))
    with pytest.raises(TimeoutError, match='over 2s'):
        monitoring.fetch_instances(FakeOIC(1100), access, '{}', bound_s=2, clock=lambda: next(ticks))
