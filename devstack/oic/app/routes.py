"""The stand-in's application assembled: its routes (both triggers in both URL forms, the monitoring API, the admin
API, /healthz and, with OAuth on, the token endpoint), the access log, and the sink started and closed with the app."""

import logging
import time

from aiohttp import web

from devstack.oic import urls
from devstack.oic.app import admin
from devstack.oic.app import monitoring
from devstack.oic.app.batch_trigger import batch_trigger
from devstack.oic.app.oauth import token
from devstack.oic.app.record_trigger import trigger
from devstack.oic.app.state import STATE
from transforms.oic.urls import MONITORING_PATH

log = logging.getLogger('devstack.oic.server')


async def healthz(request):
    state = request.app[STATE]
    return web.json_response({'status': 'ok', 'sink': state.sink.description, 'instances': len(state.instances),
                              'trigger': urls.TRIGGER_PATH, 'project_trigger': urls.PROJECT_TRIGGER_PATH,
                              'mode': state.mode})


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
        if request.path in urls.TRIGGER_PATHS:
            request.app[STATE].stats.by_status[str(shown)] += 1
        log.info('%s "%s %s" %s %.1fms%s', request.remote, request.method, request.rel_url, shown,
                 (time.monotonic() - started) * 1000,
                 ' record_id=%s' % request['record_id'] if request.get('record_id') else '')


def make_app(state):
    """The stand-in's aiohttp application over `state` (devstack/oic/app/state.py)."""
    app = web.Application(middlewares=[access_log], client_max_size=state.max_body)
    app[STATE] = state
    for path in urls.TRIGGER_PATHS:
        app.router.add_post(path, trigger)
    for path in (urls.BATCH_PATH, urls.PROJECT_BATCH_PATH):
        app.router.add_post(path, batch_trigger)
    app.router.add_get(MONITORING_PATH, monitoring.monitoring_instances)
    app.router.add_get(MONITORING_PATH + '/{id}', monitoring.monitoring_instance)
    admin.add_routes(app, with_oauth=state.oauth is not None)
    app.router.add_get(urls.HEALTH_PATH, healthz)
    if state.oauth is not None:
        app.router.add_post(urls.TOKEN_PATH, token)

    async def start_sink(app):
        await state.sink.start()

    async def close_sink(app):
        await state.sink.close()

    app.on_startup.append(start_sink)
    app.on_cleanup.append(close_sink)
    return app
