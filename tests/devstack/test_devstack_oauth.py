"""The OIC stand-in's HTTPS listener and OAuth token endpoint (client credentials) against the real local stack."""

import ssl
import time

import pytest
import requests

from devstack.oic.urls import SCOPE_SUFFIX
from devstack.stack import ENV_KEYS, read_env_file
from transforms import records

pytestmark = pytest.mark.stack


def fetch_token(stack, secret=None, scope=None, **kwargs):
    return requests.post(stack.token_url, auth=(stack.client_id, stack.client_secret if secret is None else secret),
                         data={'grant_type': 'client_credentials', 'scope': stack.scope if scope is None else scope},
                         verify=stack.ca_bundle, timeout=10, **kwargs)


def payload():
    return records.oic_payload(records.make_record(seed=1, run_id='oauth-test', index=0))


def test_token_endpoint_issues_a_bearer_token_the_https_trigger_accepts(clean_stack):
    answer = fetch_token(clean_stack)
    assert answer.status_code == 200
    body = answer.json()
    assert body['token_type'] == 'Bearer' and body['expires_in'] == 300 and len(body['access_token']) >= 32
    assert answer.headers['Cache-Control'] == 'no-store'
    posted = requests.post(clean_stack.oic_https_url, json=payload(), verify=clean_stack.ca_bundle, timeout=10,
                           headers={'Authorization': 'Bearer ' + body['access_token']})
    assert posted.status_code == 200, posted.text
    assert clean_stack.wait_for_rows(clean_stack.oic_table, 1)


def test_basic_auth_still_works_on_both_listeners(clean_stack):
    for url, verify in ((clean_stack.oic_url, True), (clean_stack.oic_https_url, clean_stack.ca_bundle)):
        answer = requests.post(url, json=payload(), auth=(clean_stack.username, clean_stack.password), verify=verify,
                               timeout=10)
        assert answer.status_code == 200, url


@pytest.mark.parametrize('change, status, error', [
    ({'secret': 'wrong'}, 401, 'invalid_client'),
    ({'scope': 'https://elsewhere:443' + SCOPE_SUFFIX}, 400, 'invalid_scope'),
])
def test_token_endpoint_refuses_a_wrong_client_or_scope(clean_stack, change, status, error):
    answer = fetch_token(clean_stack, **change)
    assert (answer.status_code, answer.json()) == (status, {'error': error})
    assert clean_stack.stats()['tokens_issued'] == 0


def test_token_endpoint_refuses_other_grants(clean_stack):
    answer = requests.post(clean_stack.token_url, auth=(clean_stack.client_id, clean_stack.client_secret),
                           data={'grant_type': 'password', 'scope': clean_stack.scope}, verify=clean_stack.ca_bundle,
                           timeout=10)
    assert (answer.status_code, answer.json()) == (400, {'error': 'unsupported_grant_type'})


def test_unknown_expired_and_revoked_tokens_get_401(clean_stack):
    for header in ('Bearer not-a-token', 'Bearer '):
        answer = requests.post(clean_stack.oic_https_url, json=payload(), headers={'Authorization': header},
                               verify=clean_stack.ca_bundle, timeout=10)
        assert answer.status_code == 401
        assert 'Bearer' in answer.headers['WWW-Authenticate']
    token = fetch_token(clean_stack).json()['access_token']
    clean_stack.set_oauth(revoke=True)
    answer = requests.post(clean_stack.oic_https_url, json=payload(), headers={'Authorization': 'Bearer ' + token},
                           verify=clean_stack.ca_bundle, timeout=10)
    assert answer.status_code == 401
    assert clean_stack.rows(clean_stack.oic_table) == []


def test_a_token_expires_after_its_ttl(clean_stack):
    clean_stack.set_oauth(ttl=0.2)
    token = fetch_token(clean_stack).json()['access_token']
    # The token's lifetime runs on the stand-in's clock: poll with a deadline until it is refused.
    deadline = time.monotonic() + 10
    while True:
        answer = requests.post(clean_stack.oic_https_url, json=payload(), verify=clean_stack.ca_bundle, timeout=10,
                               headers={'Authorization': 'Bearer ' + token})
        if answer.status_code == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer.status_code == 401


def test_injected_token_endpoint_outage_then_recovery(clean_stack):
    clean_stack.set_oauth(fail_next=2, fail_status=503)
    assert [fetch_token(clean_stack).status_code for _ in range(3)] == [503, 503, 200]


def test_https_is_refused_without_the_stack_ca(clean_stack):
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(clean_stack.oic_https_url, json=payload(), auth=(clean_stack.username, clean_stack.password),
                      timeout=10)
    context = ssl.create_default_context(cafile=clean_stack.ca_bundle)
    assert context.cert_store_stats()['x509_ca'] == 1


def test_stand_in_counts_connections_not_requests(clean_stack):
    with requests.Session() as session:
        session.auth = (clean_stack.username, clean_stack.password)
        for _ in range(5):  # verify per request: requests lets REQUESTS_CA_BUNDLE override a session's verify.
            answer = session.post(clean_stack.oic_https_url, json=payload(), verify=clean_stack.ca_bundle, timeout=10)
            assert answer.status_code == 200
    assert clean_stack.stats()['connections'].get('https') == 1


def test_stack_env_names_https_oauth_and_the_ca(local_stack, tmp_path):
    from devstack.stack import env_file_text
    path = tmp_path / 'stack.env'
    path.write_text(env_file_text(local_stack.env()))
    variables = read_env_file(str(path))
    assert set(ENV_KEYS) <= set(variables)
    assert variables['OIC_HTTPS_URL'].startswith('https://') and variables['OIC_URL'].startswith('http://')
    assert variables['OIC_TOKEN_URL'].endswith('/oauth2/v1/token')
    assert variables['OIC_SCOPE'] == local_stack.oic_https_base + 'urn:opc:resource:consumer::all'
    assert variables['OIC_CLIENT_SECRET'] == local_stack.client_secret and len(local_stack.client_secret) >= 32
    with open(variables['OIC_CA_BUNDLE']) as handle:
        assert 'BEGIN CERTIFICATE' in handle.read()
