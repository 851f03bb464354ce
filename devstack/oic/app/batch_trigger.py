"""The stand-in's batch integration (flow code WAREHOUSE_BATCH): a REST trigger that takes
`{"count": n, "records": [...]}`, validates each record, writes the valid rows with ONE insertAll (insertId =
record_id) and answers with insertAll's result mapped back by index, `{"insertErrors": [{"index": i, "errors":
[{"reason", "message"}]}]}` (none = every row inserted). Invalid records come back as reason `invalid` with the
validation message; `row_error_rates` in the fault settings refuses a share of rows (devstack/oic/row_faults.py);
`mapper_shape_rate` and `html_answer_rate` change a share of answers (devstack/oic/answer_faults.py). One tracking
instance per request, tracking the body's `count` as a tracking value named `records` (the business identifier the
integration author assigns: docs/oic-batching.md). Auth, the capacity gate, the body and the faults' fate are the
request check both triggers share (devstack/oic/app/intake.py), which also counts the billing messages."""

import asyncio

from aiohttp import web

from devstack.oic import answer_faults
from devstack.oic import mapping
from devstack.oic import row_faults
from devstack.oic import sink as sink_mod
from devstack.oic import instances as instances_mod
from devstack.oic.app import intake
from devstack.oic.app.answers import drop, problem
from devstack.oic.app.auth import authorized, unauthorized
from devstack.oic.app.state import STATE
from devstack.oic.urls import BATCH_CODE
from transforms import records
from transforms.oic.batch.body import COUNT_FIELD


def insert_all_body(rows):
    """One insertAll request for many rows, as the integration's for-each mapping builds it."""
    body = mapping.insert_all_request(rows[0]) if rows else None
    body = dict(body or {}, rows=[mapping.insert_all_request(row)['rows'][0] for row in rows])
    return body


def row_error(index, reason, message):
    return {'index': index, 'errors': [{'reason': reason, 'location': '', 'debugInfo': '', 'message': message}]}


async def batch_trigger(request):
    """The batch trigger: auth, the shared request check, then the batch integration; answers counted by status."""
    state = request.app[STATE]
    state.stats.batch['requests'] += 1
    if not authorized(request):
        return unauthorized(request)
    response = await intake.gated(request, state, _process)
    state.stats.batch['answers_%d' % response.status] += 1
    return response


async def _process(request, state):
    started = instances_mod.now()
    tracked = None  # the business identifier the integration author assigned: the body's `count` field

    def failed(status, detail, headers=None):
        state.instances.record(started, 'FAILED', error=detail, records=tracked, code=BATCH_CODE)
        return problem(status, detail, headers=headers)

    body = await intake.read_json(request, state, failed)
    batch = body.get('records') if isinstance(body, dict) else None
    count = body.get(COUNT_FIELD) if isinstance(body, dict) else None
    # OIC tracks a business identifier only from a field of the trigger's payload ("Assign Business Identifiers for
    # Tracking Fields in Messages"): the instance shows the count the caller sent, or none.
    tracked = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None
    if not isinstance(batch, list) or not batch:
        return failed(400, 'the body must be {"records": [record, ...]} with at least one record')
    fate = state.faults.draw()
    # The batch trigger's delays are not counted in the stats' delayed / delay_s (they never were).
    await intake.apply_fate(request, state, fate, failed, counts_delay=False)
    answer_fate = state.faults.answer_fate()
    if answer_fate['html']:  # a gateway's page: the integration never ran, nothing inserted, no instance
        state.stats.batch['answers_html'] += 1
        return answer_faults.html_page()
    errors, rows = _rows_and_errors(batch, state)
    if rows:
        try:
            await state.sink.insert_all(insert_all_body(rows))
        except sink_mod.SinkError as error:
            return failed(502, str(error))
    state.stats.batch['records'] += len(batch)
    state.stats.batch['rows_inserted'] += len(rows)
    state.instances.record(started, 'COMPLETED', records=tracked, code=BATCH_CODE)
    if fate['late']:  # inserted, then answered after the caller has given up on it (late_answer_rate)
        state.stats.batch['late_answers'] += 1
        await asyncio.sleep(fate['late'])
    if fate['drop_after']:
        return drop(request)
    answer = {'kind': 'bigquery#tableDataInsertAllResponse'}
    if errors:
        answer['insertErrors'] = errors
    if answer_fate['mapper']:
        state.stats.batch['answers_mapper_shape'] += 1
        answer = answer_faults.mapper_shape(answer)
    return web.json_response(answer)


def _rows_and_errors(batch, state):
    """(insertErrors by index, the valid rows to insert): validation and reject rules refuse a record as `invalid`,
    then row_error_rates may refuse a valid one with any reason."""
    settings = state.faults.settings
    rates = settings.get('row_error_rates') or {}
    errors, rows = [], []
    for index, record in enumerate(batch):
        if not isinstance(record, dict):
            errors.append(row_error(index, 'invalid', 'the record is not a JSON object'))
            continue
        record_id = record.get('record_id')
        attempt = state.stats.attempt(str(record_id)) if record_id is not None else 1
        problems = records.validation_errors(record)
        rejection = state.faults.rejection(record)
        reason = row_faults.draw(rates, settings['seed'], record_id, attempt)
        if problems:
            errors.append(row_error(index, 'invalid', 'does not match the integration schema: ' + '; '.join(problems)))
        elif rejection:
            errors.append(row_error(index, 'invalid', rejection[1]))
        elif reason:
            errors.append(row_error(index, reason, 'injected row error %s' % reason))
        else:
            rows.append(record)
            continue
        state.stats.batch['row_errors_%s' % errors[-1]['errors'][0]['reason']] += 1
    return errors, rows
