"""The stand-in's OCI IAM identity domain: one confidential client, OIC's scope, the access tokens it issued (each
valid `ttl` seconds), and the token endpoint's client credentials grant (RFC 6749 section 4.4). Configured from the
environment (OIC_CLIENT_ID, OIC_CLIENT_SECRET, OIC_SCOPE) or absent (Basic Auth only)."""

import collections
import secrets
import time

from aiohttp import web

from devstack.oic.app.auth import REALM, basic_credentials, matches
from devstack.oic.app.state import STATE

DEFAULT_TOKEN_TTL_S = 3600


class OAuth:
    """The identity domain's side of OAuth: one confidential client, its scope, and the access tokens issued (each
    valid `ttl` seconds). `fail_next` answers the next token requests with `fail_status` (a transient outage)."""

    def __init__(self, client_id, client_secret, scope, ttl=DEFAULT_TOKEN_TTL_S, clock=time.monotonic):
        self.client = (client_id.encode('utf-8'), client_secret.encode('utf-8'))
        self.scope, self.ttl, self.clock = scope, float(ttl), clock
        self.tokens = {}
        self.issued = collections.deque(maxlen=1000)  # For leak checks in tests (GET /admin/oauth?tokens=1).
        self.fail_next, self.fail_status = 0, 503

    def issue(self):
        now = self.clock()
        self.tokens = {token: expiry for token, expiry in self.tokens.items() if expiry > now}  # Forget expired ones.
        token = secrets.token_urlsafe(32)
        self.tokens[token] = now + self.ttl
        self.issued.append(token)
        return token

    def valid(self, token):
        expiry = self.tokens.get(token)
        return expiry is not None and expiry > self.clock()

    def settings(self):
        return {'ttl': self.ttl, 'fail_next': self.fail_next, 'fail_status': self.fail_status,
                'live_tokens': sum(1 for expiry in self.tokens.values() if expiry > self.clock())}

    def configure(self, settings):
        """Applies {'ttl', 'fail_next', 'fail_status', 'revoke'} (each optional); ValueError on bad values."""
        if not isinstance(settings, dict) or set(settings) - {'ttl', 'fail_next', 'fail_status', 'revoke'}:
            raise ValueError('settings are an object with ttl, fail_next, fail_status, revoke')
        ttl = settings.get('ttl', self.ttl)
        fail_next = settings.get('fail_next', self.fail_next)
        fail_status = settings.get('fail_status', self.fail_status)
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl <= 0:
            raise ValueError('ttl must be a positive number of seconds')
        if not isinstance(fail_next, int) or fail_next < 0 or fail_status not in (429, 500, 502, 503, 504):
            raise ValueError('fail_next must be an integer >= 0 and fail_status one of 429, 500, 502, 503, 504')
        self.ttl, self.fail_next, self.fail_status = float(ttl), fail_next, fail_status
        if settings.get('revoke'):
            self.tokens.clear()  # Every token issued so far is refused from now on (as after a key rotation).


def oauth_error(status, error, headers=None):
    """An RFC 6749 section 5.2 error answer."""
    return web.json_response({'error': error}, status=status, headers=headers)


async def token(request):
    """The client credentials grant (RFC 6749 section 4.4) as an identity domain answers it: the client
    authenticated with Basic, form body grant_type=client_credentials&scope=..."""
    state = request.app[STATE]
    oauth = state.oauth
    state.stats.token_requests += 1
    if oauth.fail_next:
        oauth.fail_next -= 1
        return oauth_error(oauth.fail_status, 'temporarily_unavailable', headers={'Retry-After': '0'})
    if not matches(basic_credentials(request), oauth.client):
        return oauth_error(401, 'invalid_client', headers={'WWW-Authenticate': 'Basic realm="%s"' % REALM})
    if request.content_type != 'application/x-www-form-urlencoded':
        return oauth_error(400, 'invalid_request')
    form = await request.post()
    if form.get('grant_type') != 'client_credentials':
        return oauth_error(400, 'unsupported_grant_type')
    if form.get('scope') != oauth.scope:
        return oauth_error(400, 'invalid_scope')
    state.stats.tokens_issued += 1
    return web.json_response({'access_token': oauth.issue(), 'token_type': 'Bearer',
                              'expires_in': int(oauth.ttl) if oauth.ttl >= 1 else oauth.ttl},
                             headers={'Cache-Control': 'no-store', 'Pragma': 'no-cache'})


def oauth_from_env(environ, ttl):
    """An OAuth client from OIC_CLIENT_ID/OIC_CLIENT_SECRET/OIC_SCOPE, None when none is set; ValueError when only
    some are."""
    values = [environ.get(name) for name in ('OIC_CLIENT_ID', 'OIC_CLIENT_SECRET', 'OIC_SCOPE')]
    if not any(values):
        return None
    if not all(values):
        raise ValueError('set all of OIC_CLIENT_ID, OIC_CLIENT_SECRET and OIC_SCOPE, or none')
    if ttl <= 0:
        raise ValueError('--token-ttl must be positive')
    return OAuth(*values, ttl=ttl)
