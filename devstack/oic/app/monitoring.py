"""The stand-in's monitoring API (OIC's developer API "Retrieve Integration Instances" and "Retrieve an Integration
Instance"): the tracking instances, filtered, ordered and paged, in the edition's spelling; OIC 3's rules on who may
call it (devstack/oic/app/auth.py developer_api)."""

from aiohttp import web

from devstack.oic import instances as instances_mod
from devstack.oic.app.answers import problem
from devstack.oic.app.auth import developer_api
from devstack.oic.app.state import STATE


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
