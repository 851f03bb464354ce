"""Who may call the stand-in: Basic Auth against its credentials, or a Bearer token its identity domain issued
(devstack/oic/app/oauth.py), compared in constant time; the 401 answer with its challenges; and the rules of OIC 3's
developer APIs (the monitoring API): a Bearer token only, and `integrationInstance` naming this instance."""

import base64
import binascii
import hmac

from devstack.oic.app.answers import problem
from devstack.oic.app.state import STATE

REALM = 'Oracle Integration (local)'


def basic_credentials(request):
    """(user, password) bytes from a Basic Authorization header, or None."""
    scheme, _, encoded = request.headers.get('Authorization', '').partition(' ')
    if scheme.lower() != 'basic':
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b':')
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep else None


def matches(given, expected):
    """Both parts of a (name, secret) pair compared in constant time."""
    if given is None:
        return False
    name_ok = hmac.compare_digest(given[0], expected[0])
    secret_ok = hmac.compare_digest(given[1], expected[1])
    return name_ok and secret_ok


def authorized(request):
    """Basic Auth against the configured credentials, or (with OAuth on) a Bearer token this stand-in issued and
    that has not expired."""
    state = request.app[STATE]
    scheme, _, presented = request.headers.get('Authorization', '').partition(' ')
    if scheme.lower() == 'bearer' and state.oauth is not None:
        ok = state.oauth.valid(presented.strip())
        state.stats.bearer_refused += not ok
        return ok
    return matches(basic_credentials(request), state.credentials)


def unauthorized(request=None):
    challenges = 'Basic realm="%s"' % REALM
    if request is not None and request.app[STATE].oauth is not None:
        challenges += ', Bearer realm="%s", error="invalid_token"' % REALM
    return problem(401, 'missing or wrong credentials (Basic Auth, or an unexpired Bearer token)',
                   headers={'WWW-Authenticate': challenges})


def requires_auth(handler):
    async def wrapped(request):
        if not authorized(request):
            return unauthorized(request)
        return await handler(request)
    return wrapped


def developer_api(handler):
    """The developer APIs' rules on OIC 3: a Bearer token only (Basic Auth is refused with 401 even when the user
    and password are right), and `integrationInstance` naming this instance. Gen2 takes Basic Auth too and needs no
    instance name. (Which status OIC 3 gives a missing or unknown instance name is not documented: 400 here.)"""
    async def wrapped(request):
        state = request.app[STATE]
        oic3 = state.mode['edition'] == 'oic3'
        scheme = request.headers.get('Authorization', '').partition(' ')[0].lower()
        if oic3 and scheme != 'bearer':
            return problem(401, 'the Oracle Integration 3 developer APIs take OAuth only: send a Bearer token from '
                                'the identity domain (Basic Auth is not supported here)',
                           headers={'WWW-Authenticate': 'Bearer realm="%s"' % REALM})
        if not authorized(request):
            return unauthorized(request)
        name = request.query.get('integrationInstance')
        if oic3 and not name:
            return problem(400, 'integrationInstance is required: the service instance name from the About page')
        if name and state.instance_name and name != state.instance_name:
            return problem(400, 'integrationInstance %r is not this service instance' % name[:64])
        return await handler(request)
    return wrapped
