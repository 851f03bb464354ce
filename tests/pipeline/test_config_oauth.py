"""--oic_auth oauth and --oic_ca_bundle: validation, the secret rules, what the run record shows."""

import trustme
import pytest

from launcher.run import parse
from pipeline.branches import _oauth_client
from pipeline.config import UsageError

TRIGGER = 'https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'
TOKEN_URL = 'https://idcs-abc.identity.oraclecloud.com/oauth2/v1/token'
SCOPE = 'https://oic.example.com:443urn:opc:resource:consumer::all'
OAUTH = ['--paths', 'oic', '--oic_url', TRIGGER, '--oic_auth', 'oauth', '--oic_token_url', TOKEN_URL,
         '--oic_client_id', 'client-1', '--oic_scope', SCOPE]
ENV = {'OIC_CLIENT_SECRET': 's3cret-value'}
DATAFLOW = ['--runner', 'DataflowRunner', '--project', 'my-project', '--region', 'us-central1',
            '--temp_location', 'gs://bucket/tmp', '--out', 'gs://bucket/out', '--setup_file', './setup.py',
            '--max_num_workers', '2']


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / 'ca.pem'
    path.write_bytes(trustme.CA().cert_pem.bytes())
    return str(path)


def test_oauth_needs_no_username_or_password_and_keeps_no_secret(ca_file):
    _, config = parse(OAUTH + ['--oic_ca_bundle', ca_file], ENV)
    oic = config.oic
    assert (oic.auth, oic.token_url, oic.client_id, oic.scope) == ('oauth', TOKEN_URL, 'client-1', SCOPE)
    assert 'BEGIN CERTIFICATE' in oic.ca_pem and oic.ca_bundle == ca_file
    described = config.describe().to_json()
    assert described['oic_auth'] == 'oauth' and described['oic_ca_bundle'] == ca_file
    assert 'oic_ca_pem' not in described
    assert 's3cret-value' not in repr(config) and 's3cret-value' not in str(described)
    assert 'BEGIN CERTIFICATE' not in repr(config)
    client = _oauth_client(oic)
    assert client.secret_ref.env == 'OIC_CLIENT_SECRET' and 's3cret-value' not in repr(client)


@pytest.mark.parametrize('drop, message', [
    ('--oic_token_url', '--oic_token_url'), ('--oic_client_id', '--oic_client_id'), ('--oic_scope', '--oic_scope'),
])
def test_oauth_needs_its_settings(drop, message, monkeypatch):
    for name in ('OIC_TOKEN_URL', 'OIC_CLIENT_ID', 'OIC_SCOPE'):
        monkeypatch.delenv(name, raising=False)
    argv = list(OAUTH)
    index = argv.index(drop)
    del argv[index:index + 2]
    with pytest.raises(UsageError, match=message):
        parse(argv, ENV)


def test_oauth_needs_the_client_secret():
    with pytest.raises(UsageError, match='OIC_CLIENT_SECRET'):
        parse(OAUTH, {'OIC_PASSWORD': 'not-the-secret'})


def test_bearer_tokens_and_client_secrets_do_not_travel_over_plain_http():
    with pytest.raises(UsageError, match='refusing to send a Bearer token over plain http'):
        parse(OAUTH + ['--oic_url', TRIGGER.replace('https:', 'http:')], ENV)
    with pytest.raises(UsageError, match='refusing to send the OAuth client secret over plain http'):
        parse(OAUTH + ['--oic_token_url', TOKEN_URL.replace('https:', 'http:')], ENV)


def test_on_dataflow_the_client_secret_comes_from_secret_manager():
    with pytest.raises(UsageError, match='--oic_client_secret_secret'):
        parse(OAUTH + DATAFLOW, ENV)
    with pytest.raises(UsageError, match='projects/P/secrets/S/versions/V'):
        parse(OAUTH + DATAFLOW + ['--oic_client_secret_secret', 's3cret-value'], ENV)
    _, config = parse(OAUTH + DATAFLOW + ['--oic_client_secret_secret', 'projects/p/secrets/oic-client/versions/3'],
                      {})
    client = _oauth_client(config.oic)
    assert client.secret_ref.secret == 'projects/p/secrets/oic-client/versions/3' and client.secret_ref.env is None


def test_a_loopback_token_url_is_refused_on_dataflow():
    with pytest.raises(UsageError, match='Dataflow workers cannot reach it'):
        parse(OAUTH + DATAFLOW + ['--oic_token_url', 'https://127.0.0.1:8443/oauth2/v1/token',
                                  '--oic_client_secret_secret', 'projects/p/secrets/s/versions/1'], {})


def test_ca_bundle_must_hold_certificates(tmp_path):
    junk = tmp_path / 'junk.pem'
    junk.write_text('not a certificate\n')
    with pytest.raises(UsageError, match='holds no PEM certificate'):
        parse(OAUTH + ['--oic_ca_bundle', str(junk)], ENV)
    with pytest.raises(UsageError, match='cannot read'):
        parse(OAUTH + ['--oic_ca_bundle', str(tmp_path / 'missing.pem')], ENV)


def test_requests_ca_bundle_is_honoured_and_plain_http_needs_none(ca_file, monkeypatch):
    monkeypatch.delenv('OIC_CA_BUNDLE', raising=False)
    _, config = parse(OAUTH, dict(ENV, REQUESTS_CA_BUNDLE=ca_file))
    assert config.oic.ca_bundle == ca_file
    _, config = parse(['--paths', 'oic', '--oic_url', 'http://127.0.0.1:1/x', '--oic_username', 'u',
                       '--oic_ca_bundle', '/no/such/file'], {'OIC_PASSWORD': 'p'})
    assert config.oic.ca_pem is None and config.oic.auth == 'basic'


def test_there_is_no_flag_to_turn_verification_off():
    for flag in ('--oic_insecure', '--oic_no_verify', '--oic_verify'):
        with pytest.raises(UsageError, match='unknown flag'):
            parse(OAUTH + [flag], ENV)
