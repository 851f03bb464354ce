"""A local stand-in for the seed's OIC app-driven integration: REST trigger, tracking, monitoring API, faults; Basic
Auth or OAuth 2.0 client credentials (an identity domain's token endpoint), over HTTP and HTTPS.

It refuses what Oracle Integration 3 refuses (edition `oic3`, the default): the trigger takes Basic Auth or a Bearer
token ("About Requests to Invoke Integrations"), the developer APIs (the monitoring API) a Bearer token only ("When is
Basic Authentication Supported in Oracle Integration 3?", "You Must Use OAuth with the Oracle Integration Developer
APIs"), and the monitoring operations require `integrationInstance` ("Retrieve Integration Instances", "Retrieve an
Integration Instance"). Edition `gen2` keeps Basic Auth on the monitoring API and camelCase answers. Triggers are
served in both URL forms: v1 /ic/api/integration/v1/flows/rest/CODE/VERSION/records and an OIC 3 project's
/ic/api/integration/v2/flows/rest/project/PROJECT/CODE/VERSION/records. The integration behind the per-record trigger
is the project's (`strict`: a row BigQuery refuses fails the instance and answers 502) or the seed's (`seed`: its
mapping answers "Submitted" whatever insertAll returns, so a refused row completes with 200); docs/local-stack.md."""

import argparse
import asyncio
import base64
import binascii
import collections
import hmac
import json
import logging
import os
import secrets
import ssl
import sys
import time
import weakref

from aiohttp import web

from devstack.oic import batch_trigger
from devstack.oic import capacity as capacity_mod
from devstack.oic import faults as faults_mod
from devstack.oic import instances as instances_mod
from devstack.oic import mapping
from devstack.oic import row_faults
from devstack.oic import sink as sink_mod
from transforms.oic.urls import MONITORING_PATH  # The path OIC's monitoring API answers on (one home).
from transforms import records

INTEGRATION_CODE = instances_mod.INTEGRATION_CODE
PROJECT = instances_mod.PROJECT
TRIGGER_PATH = '/ic/api/integration/v1/flows/rest/%s/1.0/records' % INTEGRATION_CODE
PROJECT_TRIGGER_PATH = '/ic/api/integration/v2/flows/rest/project/%s/%s/1.0/records' % (PROJECT, INTEGRATION_CODE)
TRIGGER_PATHS = {TRIGGER_PATH, PROJECT_TRIGGER_PATH}
EDITIONS = instances_mod.EDITIONS
INTEGRATIONS = ('strict', 'seed')  # The project's mapping, or the seed's (acks rows BigQuery refused).
TOKEN_PATH = '/oauth2/v1/token'  # Where an OCI IAM identity domain answers the client credentials grant.
SCOPE_SUFFIX = 'urn:opc:resource:consumer::all'  # OIC's scope: the instance's audience URL followed by this.
DEFAULT_TOKEN_TTL_S = 3600
DEFAULT_MAX_BODY = 64 * 1024
REALM = 'Oracle Integration (local)'
log = logging.getLogger('devstack.oic.server')

STATE = web.AppKey('state', object)


class Stats:
    """Counters for tests: requests on the trigger, answers by status, attempts per record_id (bounded), the
    capacity gate's in flight / queued now and at peak, and its 429s, the delays the fault settings applied, and the
    sink's insertAll calls and rows (group commit: fewer calls than rows when requests wait together)."""

    def __init__(self, max_records, gate, sink):
        self.max_records = max_records
        self.gate = gate
        self.sink = sink
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_status = collections.Counter()
        self.attempts = {}
        self.untracked = 0
        self.connections = collections.Counter()  # New TCP connections by scheme ('http', 'https'): TLS handshakes.
        self._seen = weakref.WeakSet()
        self.token_requests = 0
        self.tokens_issued = 0
        self.bearer_refused = 0
        # What the fault settings made requests wait (their fates' draws, as applied): latency_ms + jitter, and the
        # service-time model; sums in seconds and how many requests waited.
        self.delayed, self.delay_s = 0, 0.0
        self.serviced, self.service_s = 0, 0.0
        self.billing = collections.Counter()  # requests, bytes and messages billed (both triggers: batch_trigger.bill)
        self.batch = collections.Counter()  # the batch trigger's requests, records, rows inserted, row errors by reason
        self.acked_not_inserted = 0  # seed integration: rows BigQuery refused, answered 200 "Submitted" all the same
        self.gate.reset_counters()
        self.sink.reset_counters()

    def connection(self, request):
        """Counts the request's connection once, the first time a request arrives on it."""
        transport = request.transport
        if transport is not None and transport not in self._seen:
            self._seen.add(transport)
            self.connections[request.scheme] += 1

    def attempt(self, record_id):
        """Counts one attempt of record_id; returns its attempt number (1 for the first)."""
        if record_id in self.attempts or len(self.attempts) < self.max_records:
            self.attempts[record_id] = self.attempts.get(record_id, 0) + 1
            return self.attempts[record_id]
        self.untracked += 1
        return 1

    def as_json(self, cap=0):
        return dict({'requests': self.requests, 'by_status': dict(self.by_status), 'attempts': self.attempts,
                     'untracked_attempts': self.untracked, 'capacity': cap, 'connections': dict(self.connections),
                     'token_requests': self.token_requests, 'tokens_issued': self.tokens_issued,
                     'bearer_refused': self.bearer_refused, 'delayed': self.delayed,
                     'delay_s': round(self.delay_s, 6), 'serviced': self.serviced,
                     'service_s': round(self.service_s, 6), 'sink': self.sink.as_json(),
                     'billing': dict(self.billing), 'batch': dict(self.batch),
                     'acked_not_inserted': self.acked_not_inserted}, **self.gate.as_json())


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


class State:
    def __init__(self, username, password, sink, fault_settings=None, max_instances=100000,
                 max_body=DEFAULT_MAX_BODY, oauth=None, instance_name=None, edition='oic3', integration='strict'):
        self.credentials = (username.encode('utf-8'), password.encode('utf-8'))
        self.instance_name = instance_name  # integrationInstance, as on the OIC 3 About page's Service instance.
        self.mode = {}
        self.set_mode({'edition': edition, 'integration': integration})
        self.oauth = oauth  # An OAuth, or None: Basic Auth only.
        self.sink = sink
        self.faults = faults_mod.Faults(fault_settings)
        self.instances = instances_mod.InstanceStore(max_instances)
        self.gate = capacity_mod.CapacityGate()
        self.stats = Stats(max_instances, self.gate, sink)
        self.max_body = max_body

    def set_mode(self, changes):
        """Applies {'edition': 'oic3'|'gen2', 'integration': 'strict'|'seed'} (each optional); ValueError on others."""
        if not isinstance(changes, dict) or set(changes) - {'edition', 'integration'}:
            raise ValueError('the mode is an object with edition and integration')
        mode = dict(self.mode, **changes)
        if mode.get('edition') not in EDITIONS or mode.get('integration') not in INTEGRATIONS:
            raise ValueError('edition is one of %s and integration one of %s' % (EDITIONS, INTEGRATIONS))
        self.mode = mode

    @property
    def capacity(self):
        """The concurrency cap of the current settings (0 = unlimited)."""
        return capacity_mod.cap_of(self.faults.settings)

    def retry_after(self):
        """The Retry-After header the settings ask for with a 429 or 503 (none when retry_after is null)."""
        value = self.faults.settings['retry_after']
        return None if value is None else {'Retry-After': '%g' % value}


def problem(status, detail, headers=None, **extra):
    """An OIC-style JSON error answer."""
    body = {'status': status, 'title': _TITLES.get(status, 'Error'), 'detail': detail}
    body.update(extra)
    return web.json_response(body, status=status, headers=headers)


_TITLES = {400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 408: 'Request Timeout',
           413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
           500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'}


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


def _reject_constant(name):
    raise ValueError('malformed JSON: %s is not valid JSON' % name)


def parse_body(raw):
    """Bytes -> JSON value; ValueError with the reason when the body is not UTF-8 JSON."""
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as error:
        raise ValueError('body is not UTF-8: %s' % error) from None
    if not text.strip():
        raise ValueError('body is empty')
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ValueError('malformed JSON: %s' % error) from None
    except RecursionError:
        raise ValueError('malformed JSON: nested too deeply') from None


def _drop(request):
    """Closes the connection without answering."""
    request['dropped'] = True
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)


async def trigger(request):
    """The REST trigger: auth, gateway checks, faults, validation, the seed's mapping, insertAll, tracking."""
    state = request.app[STATE]
    state.stats.requests += 1
    if not authorized(request):
        return unauthorized(request)
    cap = state.capacity
    if not await state.gate.enter(cap, state.faults.settings['over_capacity'] == 'queue'):
        return problem(429, 'concurrency limit of %d reached' % cap, headers=state.retry_after())
    try:
        return await _process(request, state)
    finally:
        state.gate.leave(state.capacity)  # the cap may have changed while the request ran


async def _process(request, state):
    started = instances_mod.now()
    if request.content_type != 'application/json' and not request.content_type.endswith('+json'):
        return problem(415, 'Content-Type must be application/json, got %r' % request.content_type)
    if request.content_length is not None and request.content_length > state.max_body:
        return problem(413, 'body of %d bytes is over the %d byte limit' % (request.content_length, state.max_body))
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return problem(413, 'body is over the %d byte limit' % state.max_body)
    batch_trigger.bill(state.stats, len(raw))
    try:
        record = parse_body(raw)
    except ValueError as error:
        state.instances.record(started, 'FAILED', error=str(error))
        return problem(400, str(error))
    is_object = isinstance(record, dict)
    record_id = record.get('record_id') if is_object else None
    record_id = str(record_id) if record_id is not None else None
    primary = record.get('WH_ID') if is_object else None
    primary = str(primary) if primary is not None else None
    request['record_id'] = record_id
    attempt = state.stats.attempt(record_id) if record_id else 1
    fate = state.faults.draw(record_id, attempt)

    def failed(status, detail, headers=None, **extra):
        state.instances.record(started, 'FAILED', primary, record_id, detail)
        return problem(status, detail, headers=headers, **extra)

    if fate['drop']:
        return _drop(request)
    if fate['delay']:
        state.stats.delayed += 1
        state.stats.delay_s += fate['delay']
        await asyncio.sleep(fate['delay'])
    if fate['hang']:
        await asyncio.sleep(fate['hang'])
    if fate['error'] == 429:  # throttled at the gateway: no instance, as in OIC
        return problem(429, 'injected throttling', headers=state.retry_after())
    if fate['error'] == 503:  # overloaded: a gateway says when to come back
        return failed(503, 'injected HTTP 503', headers=state.retry_after())
    if fate['error']:
        return failed(fate['error'], 'injected HTTP %d' % fate['error'])
    rejection = state.faults.rejection(record)
    if rejection:
        return failed(*rejection)
    errors = records.validation_errors(record)
    if errors:
        return failed(400, 'request does not match the integration schema: ' + '; '.join(errors), errors=errors)
    if fate['service']:  # OIC's own work on the record, holding its capacity slot, before it calls BigQuery
        state.stats.serviced += 1
        state.stats.service_s += fate['service']
        await asyncio.sleep(fate['service'])
    # row_error_rates: BigQuery refuses this row (insertAll answers 200 with insertErrors naming it).
    refused = row_faults.draw(state.faults.settings.get('row_error_rates'), state.faults.settings['seed'],
                              record_id, attempt)
    try:
        if refused:
            raise sink_mod.RowsRefused('BigQuery insertErrors: [{"index": 0, "errors": [{"reason": "%s"}]}]' % refused)
        await state.sink.insert_all(mapping.insert_all_request(record))
    except sink_mod.RowsRefused as error:
        if state.mode['integration'] != 'seed':
            return failed(502, str(error))
        # The seed's mapping answers "Submitted" whatever insertAll returns, and insertAll with skipInvalidRows
        # answered 200: the instance completes, the caller gets 200, and the row is not in BigQuery.
        state.stats.acked_not_inserted += 1
    except sink_mod.SinkError as error:
        return failed(502, str(error))
    state.instances.record(started, 'COMPLETED', primary, record_id)
    if fate['late']:  # inserted, then answered after the caller has given up on it (late_answer_rate)
        await asyncio.sleep(fate['late'])
    if fate['drop_after']:
        return _drop(request)
    return web.json_response({'response': 'Submitted'})


@developer_api
async def monitoring_instances(request):
    state = request.app[STATE]
    try:
        filters = instances_mod.parse_q(request.query.get('q', ''))
        limit, offset = instances_mod.paging(request.query)
        order = instances_mod.order_by(request.query)
    except instances_mod.QueryError as error:
        return problem(400, str(error))
    return web.json_response(state.instances.query(filters, limit, offset, state.mode['edition'], order))


@developer_api
async def monitoring_instance(request):
    state = request.app[STATE]
    page = state.instances.query({'id': request.match_info['id'], 'timewindow': 'RETENTIONPERIOD'}, 1, 0,
                                 state.mode['edition'])
    if not page['items']:
        return problem(404, 'no instance %s' % request.match_info['id'])
    return web.json_response(page['items'][0])


@requires_auth
async def get_faults(request):
    return web.json_response(request.app[STATE].faults.settings)


async def _change_faults(request, change):
    state = request.app[STATE]
    try:
        change(state.faults)
    except ValueError as error:  # FaultError is a ValueError
        return problem(400, str(error))
    state.gate.wake(state.capacity)  # a raised (or removed) cap admits waiting requests now
    log.info('faults set: %s', json.dumps(state.faults.settings, sort_keys=True))
    return web.json_response(state.faults.settings)


@requires_auth
async def put_faults(request):
    """Replaces every setting (missing ones take their defaults)."""
    raw = await request.read()
    return await _change_faults(request, lambda faults: faults.set(parse_body(raw)))


@requires_auth
async def patch_faults(request):
    """Changes only the settings given, e.g. {"max_concurrency": 12} while a benchmark runs."""
    raw = await request.read()
    return await _change_faults(request, lambda faults: faults.update(parse_body(raw)))


@requires_auth
async def delete_faults(request):
    return await _change_faults(request, lambda faults: faults.set(None))


@requires_auth
async def get_oauth(request):
    oauth = request.app[STATE].oauth
    if oauth is None:
        return web.json_response({'enabled': False})
    settings = oauth.settings()
    if request.query.get('tokens') == '1':  # A stand-in for tests only: real identity domains never show tokens.
        settings['issued_tokens'] = list(oauth.issued)
    return web.json_response(settings)


@requires_auth
async def put_oauth(request):
    """Token lifetime and outages of the token endpoint, for tests: {'ttl': s, 'fail_next': n, 'fail_status': 503,
    'revoke': true}."""
    oauth = request.app[STATE].oauth
    if oauth is None:
        return problem(404, 'OAuth is not enabled on this stand-in')
    try:
        oauth.configure(parse_body(await request.read()))
    except ValueError as error:
        return problem(400, str(error))
    return web.json_response(oauth.settings())


@requires_auth
async def get_mode(request):
    state = request.app[STATE]
    return web.json_response(dict(state.mode, instance_name=state.instance_name))


@requires_auth
async def put_mode(request):
    """Tests: {"edition": "oic3"|"gen2", "integration": "strict"|"seed"} (each optional)."""
    state = request.app[STATE]
    try:
        state.set_mode(parse_body(await request.read()))
    except ValueError as error:
        return problem(400, str(error))
    log.info('mode set: %s', json.dumps(state.mode, sort_keys=True))
    return web.json_response(dict(state.mode, instance_name=state.instance_name))


@requires_auth
async def get_stats(request):
    state = request.app[STATE]
    return web.json_response(state.stats.as_json(state.capacity))


@requires_auth
async def delete_stats(request):
    """Resets the counters and forgets the tracking instances (and which tokens were issued; they stay valid)."""
    state = request.app[STATE]
    state.stats.reset()
    state.instances.clear()
    if state.oauth is not None:
        state.oauth.issued.clear()
    return web.json_response(state.stats.as_json(state.capacity))


@requires_auth
async def get_sink(request):
    return web.json_response(request.app[STATE].sink.as_json())


@requires_auth
async def put_sink(request):
    """Tests: {"hold": true} keeps the sink from starting a write (requests queue for it), {"hold": false} lets it
    write everything waiting together. Answers the sink's counters."""
    sink = request.app[STATE].sink
    try:
        settings = parse_body(await request.read())
        if not isinstance(settings, dict) or set(settings) != {'hold'} or not isinstance(settings['hold'], bool):
            raise ValueError('sink settings are {"hold": true} or {"hold": false}')
    except ValueError as error:
        return problem(400, str(error))
    sink.hold(settings['hold'])
    return web.json_response(sink.as_json())


async def healthz(request):
    state = request.app[STATE]
    return web.json_response({'status': 'ok', 'sink': state.sink.description, 'instances': len(state.instances),
                              'trigger': TRIGGER_PATH, 'project_trigger': PROJECT_TRIGGER_PATH, 'mode': state.mode})


@web.middleware
async def access_log(request, handler):
    """One line per request: client, method, path and query, status, duration, record_id. Never headers."""
    started = time.monotonic()
    status = 500
    request.app[STATE].stats.connection(request)
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        shown = 'dropped' if request.get('dropped') else status
        if request.path in TRIGGER_PATHS:
            request.app[STATE].stats.by_status[str(shown)] += 1
        log.info('%s "%s %s" %s %.1fms%s', request.remote, request.method, request.rel_url, shown,
                 (time.monotonic() - started) * 1000,
                 ' record_id=%s' % request['record_id'] if request.get('record_id') else '')


def make_app(state):
    app = web.Application(middlewares=[access_log], client_max_size=state.max_body)
    app[STATE] = state
    for path in TRIGGER_PATHS:
        app.router.add_post(path, trigger)
    batch_trigger.register(app, STATE, sys.modules[__name__])
    app.router.add_get(MONITORING_PATH, monitoring_instances)
    app.router.add_get(MONITORING_PATH + '/{id}', monitoring_instance)
    app.router.add_get('/admin/faults', get_faults)
    app.router.add_put('/admin/faults', put_faults)
    app.router.add_patch('/admin/faults', patch_faults)
    app.router.add_delete('/admin/faults', delete_faults)
    app.router.add_get('/admin/mode', get_mode)
    app.router.add_put('/admin/mode', put_mode)
    app.router.add_get('/admin/stats', get_stats)
    app.router.add_delete('/admin/stats', delete_stats)
    app.router.add_get('/admin/sink', get_sink)
    app.router.add_put('/admin/sink', put_sink)
    app.router.add_get('/healthz', healthz)
    if state.oauth is not None:
        app.router.add_post(TOKEN_PATH, token)
        app.router.add_get('/admin/oauth', get_oauth)
        app.router.add_put('/admin/oauth', put_oauth)

    async def start_sink(app):
        await state.sink.start()

    async def close_sink(app):
        await state.sink.close()

    app.on_startup.append(start_sink)
    app.on_cleanup.append(close_sink)
    return app


def build_parser():
    parser = argparse.ArgumentParser(
        prog='python -m devstack.oic.server',
        description='Local OIC stand-in. Credentials come from the environment: OIC_USERNAME and OIC_PASSWORD (Basic '
                    'Auth), and OIC_CLIENT_ID, OIC_CLIENT_SECRET and OIC_SCOPE (OAuth client credentials, optional); '
                    'OIC_INSTANCE is the service instance name the monitoring API expects as integrationInstance.')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8088)
    parser.add_argument('--https-port', type=int, default=None, help='also serve HTTPS on this port (needs --tls-cert)')
    parser.add_argument('--tls-cert', help='PEM file with the server\'s private key and certificate chain')
    parser.add_argument('--token-ttl', type=float, default=DEFAULT_TOKEN_TTL_S,
                        help='seconds an OAuth access token is valid (default %d)' % DEFAULT_TOKEN_TTL_S)
    parser.add_argument('--bq-endpoint', help='BigQuery REST endpoint, e.g. http://127.0.0.1:9050; '
                                              'without it rows are acknowledged but not stored')
    parser.add_argument('--project', default='local-project', help='project for a --table without one')
    parser.add_argument('--table', default='local-project:warehouse.inventory_oic',
                        help='project:dataset.table the mapper inserts into')
    parser.add_argument('--faults', help='fault settings as JSON (see devstack/oic/faults.py)')
    faults_mod.add_service_arguments(parser)
    parser.add_argument('--edition', choices=EDITIONS, default='oic3',
                        help='oic3 (default): OAuth only and integrationInstance on the monitoring API, kebab-case '
                             'answers; gen2: Basic Auth allowed there, camelCase answers')
    parser.add_argument('--integration', choices=INTEGRATIONS, default='strict',
                        help='strict (default): a row BigQuery refuses fails its instance (502); seed: the seed\'s '
                             'integration, which answers 200 "Submitted" and completes whatever insertAll returns')
    parser.add_argument('--max-instances', type=int, default=100000, help='tracking instances kept in memory')
    parser.add_argument('--max-body', type=int, default=DEFAULT_MAX_BODY, help='request body limit in bytes')
    return parser


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


def server_tls_context(cert_path):
    """A server context with the stack's certificate (TLS 1.2 at least)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path)
    return context


async def serve(app, sites):
    """Serves `app` on every (host, port, ssl_context) of `sites` until SIGINT/SIGTERM."""
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    try:
        for host, port, context in sites:
            await web.TCPSite(runner, host, port, ssl_context=context, shutdown_timeout=1.0).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(asctime)s %(name)s %(message)s')
    username, password = os.environ.get('OIC_USERNAME'), os.environ.get('OIC_PASSWORD')
    if not username or not password:
        print('devstack.oic.server: set OIC_USERNAME and OIC_PASSWORD in the environment', file=sys.stderr)
        return 2
    try:
        settings = faults_mod.with_service_flags(json.loads(args.faults) if args.faults else None, args)
        faults_mod.parse(settings)
        oauth = oauth_from_env(os.environ, args.token_ttl)
        if args.bq_endpoint:
            from devstack.bq import parse_table_spec
            sink = sink_mod.BigQuerySink(args.bq_endpoint, *parse_table_spec(args.table, args.project))
        else:
            sink = sink_mod.NoSink()
        sites = [(args.host, args.port, None)]
        if args.https_port is not None:
            if not args.tls_cert:
                raise ValueError('--https-port needs --tls-cert')
            sites.append((args.host, args.https_port, server_tls_context(args.tls_cert)))
    except (ValueError, OSError, ssl.SSLError) as error:
        print('devstack.oic.server: %s' % error, file=sys.stderr)
        return 2
    state = State(username, password, sink, settings, args.max_instances, args.max_body, oauth=oauth,
                  instance_name=os.environ.get('OIC_INSTANCE') or None, edition=args.edition,
                  integration=args.integration)
    log.info('OIC stand-in on http://%s:%d%s (sink: %s)', args.host, args.port, TRIGGER_PATH, sink.description)
    if args.https_port is not None:
        log.info('and on https://%s:%d%s', args.host, args.https_port, TRIGGER_PATH)
    if oauth is not None:
        log.info('OAuth token endpoint %s, tokens valid %gs', TOKEN_PATH, oauth.ttl)
    try:
        asyncio.run(serve(make_app(state), sites))
    except OSError as error:
        print('devstack.oic.server: cannot listen on %s: %s' % (args.host, error.strerror), file=sys.stderr)
        return 2
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
