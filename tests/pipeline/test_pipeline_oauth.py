"""The whole pipeline over HTTPS with OAuth client credentials against the real local stack."""

import json
import os
import time

import pytest
import trustme

from launcher.run import main
from transforms import records as rec
from transforms.run_record import files as run_record

pytestmark = pytest.mark.stack


@pytest.fixture
def oauth_env(clean_stack, monkeypatch):
    """The client secret where the pipeline reads it; no password and no CA bundle from the environment."""
    monkeypatch.setenv('OIC_CLIENT_SECRET', clean_stack.client_secret)
    for name in ('OIC_PASSWORD', 'OIC_CA_BUNDLE', 'OIC_USERNAME'):
        monkeypatch.delenv(name, raising=False)
    return clean_stack


def run_oauth(stack, out, *extra, ca_bundle=None):
    argv = ['--out', str(out), '--oic_url', stack.oic_https_url, '--oic_auth', 'oauth',
            '--oic_token_url', stack.token_url, '--oic_client_id', stack.client_id, '--oic_scope', stack.scope,
            '--oic_ca_bundle', ca_bundle or stack.ca_bundle,
            '--bigquery_emulator_host', stack.bq_endpoint, '--direct_table', stack.direct_table,
            '--oic_table', stack.oic_table]
    started = time.monotonic()
    code = main(argv + list(extra))
    elapsed = time.monotonic() - started
    report_path = os.path.join(str(out), 'report.json')
    report = json.load(open(report_path)) if os.path.exists(report_path) else None
    return code, report, elapsed


def all_text(out):
    """Every file of the run record, as text."""
    texts = []
    for directory, _, names in os.walk(str(out)):
        for name in names:
            with open(os.path.join(directory, name), errors='replace') as handle:
                texts.append(handle.read())
    return '\n'.join(texts)


def test_oauth_over_https_lands_every_record_on_both_paths(oauth_env, tmp_path, capsys):
    stack = oauth_env
    # A ceiling of 8 requests in flight: 60 requests must then share at most 8 kept-alive TLS connections.
    code, report, _ = run_oauth(stack, tmp_path, '--records', '60', '--seed', '4', '--oic_concurrency', '8')
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    for path in ('oic', 'direct'):
        result = report['paths'][path]
        assert (result['sent'], result['acked'], result['landed'], result['missing'], result['dead_lettered']) == \
            (60, 60, 60, 0, 0), (path, result)
    stats = stack.stats()
    assert stats['tokens_issued'] == 2  # the run's one, and the comparison's monitoring check's own
    # Plain HTTP only for this stats call; over HTTPS at most one connection per request slot (8) and the token
    # endpoint's, however far the adaptive limit grew below its ceiling (a connection per request would be 61), and
    # the monitoring check's two (its token, its pages).
    assert stats['connections'].get('http', 0) == 1 and stats['connections']['https'] <= 8 + 1 + 2, \
        stats['connections']
    run = json.load(open(tmp_path / 'run.json'))
    assert run['oic_auth'] == 'oauth' and run['metrics']['oic_token_fetches'] == 1
    text = captured.out + captured.err + all_text(tmp_path)
    tokens = stack.issued_tokens()
    assert len(tokens) == 2 and stack.client_secret not in text and 'Bearer ' not in text
    assert not any(token in text for token in tokens)


def test_tokens_expiring_mid_run_cause_no_dead_letter(oauth_env, tmp_path):
    stack = oauth_env
    stack.set_oauth(ttl=1)  # Tokens live 1 s; the run takes several.
    stack.set_faults({'latency_ms': 20})
    code, report, elapsed = run_oauth(stack, tmp_path, '--records', '150', '--rate', '40', '--paths', 'oic')
    assert code == 0
    oic = report['paths']['oic']
    assert (oic['acked'], oic['dead_lettered'], oic['landed'], oic['missing']) == (150, 0, 150, 0)
    run = json.load(open(tmp_path / 'run.json'))
    fetches = run['metrics']['oic_token_fetches']
    acked_at = rec.parse_timestamps(a['ack_time'] for a in run_record.read_records(str(tmp_path), 'oic/acks'))
    posting_s = (acked_at[-1] - acked_at[0]).total_seconds()
    assert posting_s > 1.5, posting_s  # Posting outlived a 1 s token: the expiry path ran (about 3.7 s at 40/s).
    assert fetches >= 2, run['metrics']  # At least one token replaced mid-run (how many depends on the pacing).
    assert stack.stats()['tokens_issued'] == fetches + 1  # and the monitoring check's own
    text = all_text(tmp_path)
    assert not any(token in text for token in stack.issued_tokens())


def test_a_wrong_client_secret_stops_the_run_in_seconds_with_one_line(oauth_env, tmp_path, capsys, monkeypatch):
    stack = oauth_env
    monkeypatch.setenv('OIC_CLIENT_SECRET', 'wrong-' + stack.client_secret)
    code, _, elapsed = run_oauth(stack, tmp_path, '--records', '200', '--paths', 'oic')
    captured = capsys.readouterr()
    assert code == 1
    [line] = [l for l in captured.err.splitlines() if l.startswith('error:')]
    assert 'invalid_client' in line and stack.client_id in line
    assert elapsed < 30  # Not 200 records x retries: the first refusal stops the run.
    assert stack.stats()['requests'] == 0 and stack.stats()['token_requests'] == 1
    text = captured.out + captured.err + all_text(tmp_path)
    assert stack.client_secret not in text


def test_an_untrusted_certificate_is_refused_with_one_line(oauth_env, tmp_path, capsys):
    stack = oauth_env
    other_ca = tmp_path / 'other-ca.pem'
    other_ca.write_bytes(trustme.CA().cert_pem.bytes())  # A CA that did not issue the stand-in's certificate.
    code, _, elapsed = run_oauth(stack, tmp_path / 'out', '--records', '50', '--paths', 'oic',
                                 ca_bundle=str(other_ca))
    err = capsys.readouterr().err
    assert code == 2  # Found by the pre-flight check, before anything runs.
    [line] = [l for l in err.splitlines() if l.startswith('error:')]
    assert 'TLS certificate not trusted' in line and '--oic_ca_bundle' in line
    assert stack.stats()['requests'] == 0 and stack.stats()['token_requests'] == 0


def test_basic_auth_over_https_with_the_stack_ca(clean_stack, tmp_path, monkeypatch):
    monkeypatch.setenv('OIC_PASSWORD', clean_stack.password)
    code = main(['--out', str(tmp_path), '--oic_url', clean_stack.oic_https_url, '--oic_username',
                 clean_stack.username, '--oic_ca_bundle', clean_stack.ca_bundle, '--records', '20', '--paths', 'oic',
                 '--bigquery_emulator_host', clean_stack.bq_endpoint, '--oic_table', clean_stack.oic_table])
    assert code == 0
    assert json.load(open(tmp_path / 'report.json'))['paths']['oic']['landed'] == 20
