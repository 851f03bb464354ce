"""The stand-in's admin API, for tests, benchmarks and the sweep (its client: devstack/oic/admin_client.py): the
fault settings (GET, PUT replaces them, PATCH changes some, DELETE resets), the token endpoint's settings
(/admin/oauth), the mode (edition, integration), the counters (GET; DELETE resets them and forgets the instances) and
the sink's hold. Every call takes the stand-in's Basic Auth (or a Bearer token)."""

import json
import logging

from aiohttp import web

from devstack.oic import urls
from devstack.oic.app.answers import parse_body, problem
from devstack.oic.app.auth import requires_auth
from devstack.oic.app.state import STATE

log = logging.getLogger('devstack.oic.server')


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


def add_routes(app, with_oauth):
    """Adds the admin API to the app (/admin/oauth only `with_oauth`)."""
    app.router.add_get(urls.ADMIN_FAULTS, get_faults)
    app.router.add_put(urls.ADMIN_FAULTS, put_faults)
    app.router.add_patch(urls.ADMIN_FAULTS, patch_faults)
    app.router.add_delete(urls.ADMIN_FAULTS, delete_faults)
    app.router.add_get(urls.ADMIN_MODE, get_mode)
    app.router.add_put(urls.ADMIN_MODE, put_mode)
    app.router.add_get(urls.ADMIN_STATS, get_stats)
    app.router.add_delete(urls.ADMIN_STATS, delete_stats)
    app.router.add_get(urls.ADMIN_SINK, get_sink)
    app.router.add_put(urls.ADMIN_SINK, put_sink)
    if with_oauth:
        app.router.add_get(urls.ADMIN_OAUTH, get_oauth)
        app.router.add_put(urls.ADMIN_OAUTH, put_oauth)
