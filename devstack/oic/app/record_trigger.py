"""The per-record integration's REST trigger (flow code WAREHOUSE_STREAM, devstack/oic/urls.py): one record a
request. After the shared request check (devstack/oic/app/intake.py): the fault settings' reject rules, the
integration's schema, OIC's own service time, BigQuery's row refusals (row_error_rates), the insertAll mapping,
tracking, and late or dropped answers. The integration is the project's (`strict`: a row BigQuery refuses fails the
instance, 502) or the seed's (`seed`: its mapping answers "Submitted" whatever insertAll returns)."""

import asyncio

from aiohttp import web

from devstack.oic import instances as instances_mod
from devstack.oic import mapping
from devstack.oic import row_faults
from devstack.oic import sink as sink_mod
from devstack.oic.app import intake
from devstack.oic.app.answers import drop, problem
from devstack.oic.app.auth import authorized, unauthorized
from devstack.oic.app.state import STATE
from transforms import records


async def trigger(request):
    """The REST trigger: auth, the shared request check, faults, validation, the mapping, insertAll, tracking."""
    state = request.app[STATE]
    state.stats.requests += 1
    if not authorized(request):
        return unauthorized(request)
    return await intake.gated(request, state, _process)


async def _process(request, state):
    started = instances_mod.now()
    primary = record_id = None  # known once the body is read: the failed instance shows them then

    def failed(status, detail, headers=None, **extra):
        state.instances.record(started, 'FAILED', primary, record_id, detail)
        return problem(status, detail, headers=headers, **extra)

    record = await intake.read_json(request, state, failed)
    is_object = isinstance(record, dict)
    record_id = record.get('record_id') if is_object else None
    record_id = str(record_id) if record_id is not None else None
    primary = record.get('WH_ID') if is_object else None
    primary = str(primary) if primary is not None else None
    request['record_id'] = record_id
    attempt = state.stats.attempt(record_id) if record_id else 1
    fate = state.faults.draw(record_id, attempt)
    await intake.apply_fate(request, state, fate, failed)
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
        return drop(request)
    return web.json_response({'response': 'Submitted'})
