"""The OAuth token cache on an injected clock, and the token endpoint and OICCaller over HTTPS against the stand-in."""

import threading
import time

import pytest

from transforms import records as rec
from transforms.oic.auth import (
    BasicAuth, Token, TokenEndpoint, TokenProvider, TokenUnavailable, parse_token, tls_pool_kwargs)
from transforms.oic.caller import OICCaller
from transforms.oic.flow_control import FlowControl
from transforms.oic.errors import OICAuthError, OICTLSError
from transforms.oic.retry import RetryPolicy
from transforms.oic.throttle import WorkerState


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeEndpoint:
    """Hands out token-1, token-2, ... valid `life` seconds; or raises what `fail` holds."""

    def __init__(self, life=100.0):
        self.life, self.calls, self.fail = life, 0, []

    def __call__(self):
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        return Token('token-%d' % self.calls, self.life)


def provider(endpoint, clock, background=None):
    return TokenProvider(endpoint, clock=clock, start_background=(background.append if background is not None
                                                                  else lambda fn: fn()))


def test_one_fetch_serves_until_the_early_refresh_then_the_background_one_takes_over():
    clock, endpoint, background = Clock(), FakeEndpoint(life=100), []
    tokens = provider(endpoint, clock, background)
    assert tokens.header() == 'Bearer token-1'
    clock.now = 74.9
    assert tokens.header() == 'Bearer token-1' and endpoint.calls == 1 and not background
    clock.now = 76  # Past 75 (a quarter of the life left): one background refresh, the current token still served.
    assert tokens.header() == 'Bearer token-1'
    assert tokens.header() == 'Bearer token-1' and len(background) == 1
    background.pop()()
    assert tokens.header() == 'Bearer token-2' and endpoint.calls == 2
    assert tokens.take_counts() == {'token_fetches': 2, 'token_fetch_failures': 0, 'token_refreshes_ahead': 1}
    assert tokens.take_counts() == {'token_fetches': 0, 'token_fetch_failures': 0, 'token_refreshes_ahead': 0}


def test_a_token_in_its_last_tenth_is_not_used():
    clock, endpoint = Clock(), FakeEndpoint(life=100)
    tokens = provider(endpoint, clock, background=[])  # The background refresh never runs.
    tokens.header()
    clock.now = 90.5  # Stale at 90: the caller fetches in the foreground.
    assert tokens.header() == 'Bearer token-2'


def test_long_lived_tokens_refresh_at_most_five_minutes_ahead():
    clock, endpoint, background = Clock(), FakeEndpoint(life=3600), []
    tokens = provider(endpoint, clock, background)
    tokens.header()
    clock.now = 3299
    tokens.header()
    assert not background
    clock.now = 3301
    tokens.header()
    assert len(background) == 1


def test_threads_share_one_fetch():
    arrived, clock = [], Clock()
    calls = []

    def slow_fetch():
        calls.append(1)
        deadline = time.monotonic() + 5
        while len(arrived) < 16 and time.monotonic() < deadline:  # Hold the fetch until every thread asked.
            time.sleep(0.001)
        return Token('shared', 100)

    tokens = TokenProvider(slow_fetch, clock=clock)
    got = []

    def ask():
        arrived.append(1)
        got.append(tokens.header())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert got == ['Bearer shared'] * 16 and len(calls) == 1


def test_a_refused_client_is_remembered_and_never_asked_again():
    clock, endpoint = Clock(), FakeEndpoint()
    endpoint.fail = [OICAuthError('OIC refused the credentials: invalid_client')]
    tokens = provider(endpoint, clock)
    for _ in range(3):
        with pytest.raises(OICAuthError):
            tokens.header()
    assert endpoint.calls == 1


def test_a_passing_failure_is_raised_then_the_next_call_tries_again():
    clock, endpoint = Clock(), FakeEndpoint()
    endpoint.fail = [TokenUnavailable('token endpoint HTTP 503')]
    tokens = provider(endpoint, clock)
    with pytest.raises(TokenUnavailable, match='503'):
        tokens.header()
    assert tokens.header() == 'Bearer token-2'
    assert tokens.take_counts()['token_fetch_failures'] == 1


def test_invalidate_forgets_only_the_current_token():
    clock, endpoint = Clock(), FakeEndpoint()
    tokens = provider(endpoint, clock)
    first = tokens.header()
    tokens.invalidate(first)
    second = tokens.header()
    assert second == 'Bearer token-2'
    tokens.invalidate(first)  # A late 401 to the old token: the new one stays.
    assert tokens.header() == second and endpoint.calls == 2


def test_basic_auth_never_retries_a_401():
    auth = BasicAuth('user', 'secret-password')
    assert auth.header().startswith('Basic ') and not auth.invalidate(auth.header())
    assert 'secret-password' not in repr(auth)


@pytest.mark.parametrize('body', [b'not json', b'{"token_type": "Bearer"}', b'{"access_token": "x", "token_type": '
                                  b'"mac", "expires_in": 5}', b'{"access_token": "x", "expires_in": 0}'])
def test_answers_that_are_not_bearer_tokens_are_passing_failures(body):
    with pytest.raises(TokenUnavailable):
        parse_token(body)


def test_token_repr_hides_the_token():
    assert 'abc' not in repr(Token('abc', 10))


def test_tls_pool_arguments_always_verify():
    assert tls_pool_kwargs('http://127.0.0.1/x', 'PEM') == {}
    assert tls_pool_kwargs('https://h/x', None)['cert_reqs'] == 2 and 'ca_cert_data' not in tls_pool_kwargs(
        'https://h/x', None)
    assert tls_pool_kwargs('https://h/x', 'PEM')['ca_cert_data'] == 'PEM'


# -- against the local stack

def ca_pem(stack):
    with open(stack.ca_bundle) as handle:
        return handle.read()


def endpoint(stack, secret=None, ca=True):
    return TokenEndpoint(stack.token_url, stack.client_id, secret or stack.client_secret, stack.scope,
                         ca_pem(stack) if ca else None)


@pytest.mark.stack
def test_token_endpoint_fetches_a_token(clean_stack):
    token = endpoint(clean_stack)()
    assert token.expires_in == 300 and token.access_token


@pytest.mark.stack
def test_token_endpoint_wrong_secret_is_one_line_without_the_secret(clean_stack):
    with pytest.raises(OICAuthError) as caught:
        endpoint(clean_stack, secret='wrong-secret-value')()
    message = str(caught.value)
    assert 'invalid_client' in message and clean_stack.client_id in message and '\n' not in message
    assert 'wrong-secret-value' not in message and clean_stack.client_secret not in message


@pytest.mark.stack
def test_token_endpoint_outage_is_a_passing_failure(clean_stack):
    clean_stack.set_oauth(fail_next=1, fail_status=503)
    with pytest.raises(TokenUnavailable, match='503'):
        endpoint(clean_stack)()
    assert endpoint(clean_stack)().access_token


@pytest.mark.stack
def test_token_endpoint_with_an_untrusted_certificate_stops(clean_stack):
    with pytest.raises(OICTLSError, match='not trust'):
        endpoint(clean_stack, ca=False)()  # The system's trust store does not know the stack's CA.


def https_caller(stack, auth, concurrency=4, ca=True, max_attempts=3):
    return OICCaller(stack.oic_https_url, None, None, concurrency, (5.0, 30.0),
                     FlowControl(WorkerState(concurrency, None).gate(),
                                 RetryPolicy(max_attempts=max_attempts, deadline_s=30, initial_backoff_s=0.01,
                                             max_backoff_s=0.05)),
                     auth=auth, ca_pem=ca_pem(stack) if ca else None)


def post_all(caller, count, threads):
    records = [rec.make_record(1, 'auth-%f' % time.time(), i) for i in range(count)]
    results = []
    lock = threading.Lock()

    def work(chunk):
        for record in chunk:
            outcome = caller.call(record)
            with lock:
                results.append(outcome)

    workers = [threading.Thread(target=work, args=(records[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    return results


@pytest.mark.stack
def test_oauth_over_https_one_token_and_a_handshake_per_connection(clean_stack):
    tokens = TokenProvider(endpoint(clean_stack))
    caller = https_caller(clean_stack, tokens, concurrency=4)
    try:
        outcomes = post_all(caller, 120, threads=4)
    finally:
        caller.close()
    assert [o.kind for o in outcomes] == ['ack'] * 120
    stats = clean_stack.stats()
    assert stats['tokens_issued'] == 1 and stats['by_status'] == {'200': 120}
    # 4 pooled connections to the trigger (at most) and 1 to the token endpoint: not one handshake per request.
    assert stats['connections'].get('https', 0) <= 5


@pytest.mark.stack
def test_a_revoked_token_gets_one_refresh_and_the_record_goes_through(clean_stack):
    tokens = TokenProvider(endpoint(clean_stack))
    caller = https_caller(clean_stack, tokens, concurrency=2)
    try:
        assert caller.call(rec.make_record(1, 'revoke', 0)).kind == 'ack'
        clean_stack.set_oauth(revoke=True)
        outcome = caller.call(rec.make_record(1, 'revoke', 1))
    finally:
        caller.close()
    assert (outcome.kind, outcome.attempts) == ('ack', 2)
    assert clean_stack.stats()['tokens_issued'] == 2


@pytest.mark.stack
def test_a_token_endpoint_outage_is_retried_with_backoff(clean_stack):
    clean_stack.set_oauth(fail_next=2, fail_status=502)
    caller = https_caller(clean_stack, TokenProvider(endpoint(clean_stack)), concurrency=1, max_attempts=5)
    try:
        outcome = caller.call(rec.make_record(1, 'outage', 0))
    finally:
        caller.close()
    assert outcome.kind == 'ack'
    assert clean_stack.stats()['token_requests'] == 3


@pytest.mark.stack
def test_wrong_secret_makes_a_stop_outcome(clean_stack):
    caller = https_caller(clean_stack, TokenProvider(endpoint(clean_stack, secret='nope')), concurrency=1)
    try:
        outcome = caller.call(rec.make_record(1, 'wrong', 0))
    finally:
        caller.close()
    assert outcome.kind == 'stop' and isinstance(outcome.error, OICAuthError)
    assert clean_stack.stats()['requests'] == 0


@pytest.mark.stack
def test_an_untrusted_trigger_certificate_makes_a_stop_outcome_at_once(clean_stack):
    caller = https_caller(clean_stack, BasicAuth(clean_stack.username, clean_stack.password), ca=False,
                          max_attempts=10)
    try:
        outcome = caller.call(rec.make_record(1, 'untrusted', 0))
    finally:
        caller.close()
    assert outcome.kind == 'stop' and isinstance(outcome.error, OICTLSError) and outcome.attempts == 1
    assert 'certificate verify failed' in str(outcome.error) and '--oic_ca_bundle' in str(outcome.error)
