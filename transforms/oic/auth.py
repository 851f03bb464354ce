"""How the OIC caller proves who it is: Basic Auth, or OAuth 2.0 client credentials with one token per worker.

OAuth as Oracle Integration 3 documents it ("Protect an Integration's REST Endpoint with OAuth", "Call the Developer
APIs with Client Credentials"): a confidential application of the identity domain asks
`https://DOMAIN_HOST/oauth2/v1/token` for a token with grant_type=client_credentials, its client id and secret as Basic
Auth, and scope = the instance's audience URL followed by urn:opc:resource:consumer::all; the trigger then takes
`Authorization: Bearer <token>`.

TokenProvider is the cache: one fetch at a time for all the threads of a worker (single flight), the token kept until
shortly before it expires, a new one fetched in the background before that. The HTTP part (TokenEndpoint) is apart, so
the cache runs on an injected clock and a fake endpoint in tests.

Why not a library: requests-oauthlib/authlib fetch tokens but leave caching across threads, single flight, early
refresh and the split between a refused client and a passing outage to the caller; that split is the part that matters
here, and the fetch itself is one form POST.
"""

import dataclasses
import json
import re
import ssl
import threading
import time
import urllib.parse
from typing import Callable, Optional, Tuple

import urllib3

from transforms.oic.credentials import PasswordRef
from transforms.oic.urls import redact_url
from transforms.oic.errors import OICAuthError, OICStopError, OICTLSError, tls_refusal  # noqa: F401

GRANT = 'client_credentials'
REFRESH_AHEAD = 0.25  # Background refresh starts when a quarter of the token's life is left (at most 5 min).
REFRESH_AHEAD_MAX_S = 300.0
STALE_AHEAD = 0.1  # A token is not used in its last tenth of life (at most 60 s): it could expire in flight.
STALE_AHEAD_MAX_S = 60.0
DEFAULT_EXPIRES_IN_S = 300.0  # When the endpoint sends no expires_in (RFC 6749 only recommends it).
ERROR_CODE = re.compile(r'^[a-z_]{1,40}$')  # An RFC 6749 error code; anything else from the endpoint is not shown.
REFUSED_STATUSES = frozenset((400, 401, 403))


class TokenUnavailable(Exception):
    """The token endpoint could not answer now (5xx, 429, timeout, connection error, a malformed answer): worth
    another try after a backoff. The message holds the kind only, never a token or a secret."""


@dataclasses.dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: float

    def __repr__(self) -> str:  # Never the token itself, whatever prints this.
        return 'Token(expires_in=%g)' % self.expires_in


class BasicAuth:
    """The Authorization header for Basic Auth: fixed for the whole run."""

    def __init__(self, username: str, password: str):
        self._header = urllib3.make_headers(basic_auth='%s:%s' % (username, password))['authorization']

    def header(self, timeout: Optional[float] = None) -> str:
        return self._header

    def invalidate(self, header: str) -> bool:
        """A refused password does not get better by asking again: no retry."""
        return False

    def __repr__(self) -> str:
        return 'BasicAuth(...)'


CLIENT_SECRET_ENV = 'OIC_CLIENT_SECRET'


@dataclasses.dataclass(frozen=True)
class OAuthClient:
    """The OAuth confidential application, safe to pickle and to show: where its secret is read, never the secret."""
    token_url: str
    client_id: str
    scope: str
    secret_ref: PasswordRef = PasswordRef(env=CLIENT_SECRET_ENV, what='the OAuth client secret')

    def provider(self, ca_pem: Optional[str] = None, timeouts: Tuple[float, float] = (5.0, 30.0)) -> 'TokenProvider':
        """A TokenProvider for this client (reads the secret now: call it on the worker)."""
        return TokenProvider(TokenEndpoint(self.token_url, self.client_id, self.secret_ref.read(), self.scope,
                                           ca_pem, timeouts))


def tls_pool_kwargs(url: str, ca_pem: Optional[str]) -> dict:
    """urllib3 pool arguments for `url`: for https, certificates verified (always) against `ca_pem` (PEM text) or,
    without it, the system's trust store. There is deliberately no way to turn verification off."""
    if not url.lower().startswith('https:'):
        return {}
    kwargs: dict = {'cert_reqs': ssl.CERT_REQUIRED}
    if ca_pem:
        kwargs['ca_cert_data'] = ca_pem
    return kwargs


class TokenEndpoint:
    """POSTs the client credentials grant to the token URL; returns a Token or raises OICAuthError (the client was
    refused: 400/401/403), OICTLSError (the endpoint's certificate is not trusted) or TokenUnavailable (anything
    that may pass). Thread-safe (a small keep-alive pool)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str,
                 ca_pem: Optional[str] = None, timeouts: Tuple[float, float] = (5.0, 30.0)):
        self.token_url, self.client_id, self.scope = token_url, client_id, scope
        self._headers = urllib3.make_headers(basic_auth='%s:%s' % (client_id, client_secret))
        self._headers.update({'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json'})
        self._timeout = urllib3.Timeout(connect=timeouts[0], read=timeouts[1])
        self._pool = urllib3.PoolManager(num_pools=1, maxsize=2, retries=False, **tls_pool_kwargs(token_url, ca_pem))

    def __repr__(self) -> str:
        return 'TokenEndpoint(%s, client %r)' % (_redact(self.token_url), self.client_id)

    def close(self) -> None:
        self._pool.clear()

    def __call__(self) -> Token:
        body = urllib.parse.urlencode({'grant_type': GRANT, 'scope': self.scope})
        try:
            response = self._pool.request('POST', self.token_url, body=body, headers=self._headers,
                                          timeout=self._timeout, redirect=False)
        except urllib3.exceptions.SSLError as err:
            refusal = tls_refusal(err)
            if refusal:
                raise OICTLSError('OIC\'s token endpoint %s presented a certificate this caller does not trust (%s); '
                                  'pass --oic_ca_bundle FILE with the CA that issued it'
                                  % (_redact(self.token_url), refusal)) from None
            raise TokenUnavailable('connection_error: SSLError') from None
        except urllib3.exceptions.TimeoutError as err:
            raise TokenUnavailable('timeout: %s' % type(err).__name__) from None
        except urllib3.exceptions.HTTPError as err:  # Only the kind: messages can carry hosts and proxies.
            raise TokenUnavailable('connection_error: %s' % type(err).__name__) from None
        if response.status in REFUSED_STATUSES:
            code = _error_code(response.data)
            raise OICAuthError('OIC refused the credentials: the token endpoint %s answered HTTP %d %s for client %r; '
                               'check --oic_client_id, --oic_scope and the client secret'
                               % (_redact(self.token_url), response.status, code, self.client_id))
        if response.status != 200:
            raise TokenUnavailable('token endpoint HTTP %d' % response.status)
        return parse_token(response.data)


def parse_token(data: bytes) -> Token:
    """A token endpoint's 200 answer -> Token; TokenUnavailable when it is not a Bearer token answer."""
    try:
        answer = json.loads(data.decode('utf-8'))
        access_token = answer['access_token']
        token_type = answer.get('token_type', 'Bearer')
        expires_in = float(answer.get('expires_in', DEFAULT_EXPIRES_IN_S))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TokenUnavailable('token endpoint answer is not a token') from None
    if not isinstance(access_token, str) or not access_token or str(token_type).lower() != 'bearer' or \
            not expires_in > 0:
        raise TokenUnavailable('token endpoint answer is not a Bearer token with a positive expires_in')
    return Token(access_token, expires_in)


def _error_code(data: bytes) -> str:
    try:
        code = json.loads(data.decode('utf-8')).get('error', '')
    except (ValueError, AttributeError, UnicodeDecodeError):
        return '(no error code)'
    return code if isinstance(code, str) and ERROR_CODE.match(code) else '(no error code)'


def _redact(url: str) -> str:
    return redact_url(url) or ''


class TokenProvider:
    """Bearer tokens for all the threads of one worker.

    header() returns 'Bearer <token>' at once while the cached token is fresh; in the last quarter of its life (at most
    5 minutes) the first caller starts one background fetch and keeps using the current token; in its last tenth (at
    most 60 s), or after invalidate(), callers wait for one foreground fetch that all of them share. A refused client
    (OICAuthError) or an untrusted certificate (OICTLSError) is remembered and raised to every later caller without
    asking again; a passing failure (TokenUnavailable) is raised to the callers that waited for it, and the next call
    tries again (the record's retry loop backs off in between).
    """

    def __init__(self, fetch: Callable[[], Token], clock: Callable[[], float] = time.monotonic,
                 start_background: Optional[Callable[[Callable[[], None]], None]] = None):
        self._fetch, self._clock = fetch, clock
        self._start_background = start_background or _daemon_thread
        self._cond = threading.Condition()
        self._header: Optional[str] = None
        self._refresh_at = self._stale_at = float('-inf')
        self._fetching = False
        self._generation = 0  # Completed fetches, successful or not.
        self._failure: Optional[Exception] = None  # The last fetch's passing failure.
        self._stopped: Optional[OICStopError] = None  # Sticky: the client was refused.
        self._counts = {'token_fetches': 0, 'token_fetch_failures': 0, 'token_refreshes_ahead': 0}

    def __repr__(self) -> str:
        return 'TokenProvider(%r)' % (self._fetch,)

    def header(self, timeout: Optional[float] = None) -> str:
        """'Bearer <token>'; raises OICStopError, or TokenUnavailable (also when `timeout` seconds pass while another
        thread's fetch is in flight)."""
        with self._cond:
            waited_for = None
            end = None if timeout is None else self._clock() + timeout
            while True:
                if self._stopped is not None:
                    raise self._stopped
                if waited_for is not None and self._generation != waited_for and self._failure is not None:
                    raise TokenUnavailable(str(self._failure))
                now = self._clock()
                if self._header is not None and now < self._stale_at:
                    if now >= self._refresh_at and not self._fetching:
                        self._fetching = True
                        self._counts['token_refreshes_ahead'] += 1
                        self._start_background(self._fetch_quietly)
                    return self._header
                if not self._fetching:
                    self._fetching = True
                    break
                waited_for = self._generation if waited_for is None else waited_for
                remaining = None if end is None else end - self._clock()
                if remaining is not None and remaining <= 0:
                    raise TokenUnavailable('timeout: waiting for the token')
                self._cond.wait(remaining)
        self._fetch_once()
        with self._cond:
            if self._header is None:  # Only when another thread invalidated it in between: rare; try once more.
                raise TokenUnavailable('token invalidated while it was fetched')
            return self._header

    def invalidate(self, header: str) -> bool:
        """The trigger refused `header` (HTTP 401): forget it unless a newer one replaced it already. True: the caller
        may retry once with a new header."""
        with self._cond:
            if header == self._header:
                self._header = None
                self._stale_at = float('-inf')
        return True

    def take_counts(self) -> dict:
        """Counts since the last call (token_fetches: requests to the token endpoint; token_fetch_failures; and
        token_refreshes_ahead: background fetches started before the token went stale), then zero:
        each DoFn instance adds what it takes to its Beam counters, so every fetch is counted once."""
        with self._cond:
            counts, self._counts = self._counts, dict.fromkeys(self._counts, 0)
        return counts

    def _fetch_quietly(self) -> None:
        try:
            self._fetch_once()
        except Exception:  # A background refresh failing is counted; the foreground fetch will report it.
            pass

    def _fetch_once(self) -> None:
        started = self._clock()
        with self._cond:
            self._counts['token_fetches'] += 1
        try:
            token = self._fetch()
        except OICStopError as err:
            with self._cond:
                self._stopped, self._fetching = err, False
                self._generation += 1
                self._counts['token_fetch_failures'] += 1
                self._cond.notify_all()
            raise
        except Exception as err:  # TokenUnavailable, or a bug: the waiters back off and try again.
            failure = err if isinstance(err, TokenUnavailable) else TokenUnavailable(type(err).__name__)
            with self._cond:
                self._failure, self._fetching = failure, False
                self._generation += 1
                self._counts['token_fetch_failures'] += 1
                if self._header is not None:  # A background refresh failed: try again halfway to staleness.
                    self._refresh_at = self._clock() + max(0.0, (self._stale_at - self._clock()) / 2)
                self._cond.notify_all()
            raise failure from None
        life = token.expires_in
        with self._cond:
            self._header = 'Bearer ' + token.access_token
            self._refresh_at = started + life - min(REFRESH_AHEAD_MAX_S, life * REFRESH_AHEAD)
            self._stale_at = started + life - min(STALE_AHEAD_MAX_S, life * STALE_AHEAD)
            self._failure, self._fetching = None, False
            self._generation += 1
            self._cond.notify_all()


def _daemon_thread(target: Callable[[], None]) -> None:
    threading.Thread(target=target, name='oic-token-refresh', daemon=True).start()
