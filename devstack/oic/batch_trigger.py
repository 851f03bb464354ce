"""The stand-in's batch integration (flow code WAREHOUSE_BATCH): a REST trigger that takes
`{"count": n, "records": [...]}`, validates each record, writes the valid rows with ONE insertAll (insertId =
record_id) and answers with insertAll's result mapped back by index, `{"insertErrors": [{"index": i, "errors":
[{"reason", "message"}]}]}` (none = every row inserted). Invalid records come back as reason `invalid` with the
validation message; `row_error_rates` in the fault settings refuses a share of rows (devstack/oic/row_faults.py);
`mapper_shape_rate` and `html_answer_rate` change a share of answers (devstack/oic/answer_faults.py). One tracking
instance per request, tracking the body's `count` as a tracking value named `records` (the business identifier the
integration author assigns: docs/oic-batching.md); billing messages counted as OIC counts them, one per started 50 KB
of request body."""

import asyncio

from aiohttp import web

from devstack.oic import answer_faults
from devstack.oic import mapping
from devstack.oic import row_faults
from devstack.oic import sink as sink_mod
from devstack.oic import instances as instances_mod
from transforms import records
from transforms.oic.batch.body import COUNT_FIELD, DEFAULT_BATCH_CODE

BATCH_CODE = DEFAULT_BATCH_CODE  # the flow code --oic_batch_url defaults to
BATCH_PATH = '/ic/api/integration/v1/flows/rest/%s/1.0/records' % BATCH_CODE
PROJECT_BATCH_PATH = '/ic/api/integration/v2/flows/rest/project/%s/%s/1.0/records' % (instances_mod.PROJECT,
                                                                                        BATCH_CODE)
BILLING_UNIT = 50 * 1024  # OIC bills one message per started 50 KB of a trigger's payload


def billing_messages(body_bytes):
    """Messages OIC bills for a trigger request of `body_bytes` bytes: at least one, plus one per further 50 KB."""
    return max(1, -(-body_bytes // BILLING_UNIT))


def bill(stats, body_bytes):
    """Counts one trigger request that reached the integration (either trigger) in the stats' billing counters."""
    stats.billing['requests'] += 1
    stats.billing['bytes'] += body_bytes
    stats.billing['messages'] += billing_messages(body_bytes)


def insert_all_body(rows):
    """One insertAll request for many rows, as the integration's for-each mapping builds it."""
    body = mapping.insert_all_request(rows[0]) if rows else None
    body = dict(body or {}, rows=[mapping.insert_all_request(row)['rows'][0] for row in rows])
    return body


def row_error(index, reason, message):
    return {'index': index, 'errors': [{'reason': reason, 'location': '', 'debugInfo': '', 'message': message}]}


def register(app, state_key, helpers):
    """Adds the batch trigger to the stand-in's app. `helpers` is the server module (auth, problem answers, body
    parsing, dropping a connection), passed in so that this module does not import it back."""

    async def batch_trigger(request):
        state = request.app[state_key]
        state.stats.batch['requests'] += 1
        if not helpers.authorized(request):
            return helpers.unauthorized(request)
        cap = state.capacity
        if not await state.gate.enter(cap, state.faults.settings['over_capacity'] == 'queue'):
            state.stats.batch['answers_429'] += 1
            return helpers.problem(429, 'concurrency limit of %d reached' % cap, headers=state.retry_after())
        try:
            response = await _process(request, state, helpers)
        finally:
            state.gate.leave(state.capacity)
        state.stats.batch['answers_%d' % response.status] += 1
        return response

    for path in (BATCH_PATH, PROJECT_BATCH_PATH):  # v1, and the OIC 3 project form (server.py)
        app.router.add_post(path, batch_trigger)


async def _process(request, state, helpers):
    started = instances_mod.now()
    if request.content_type != 'application/json' and not request.content_type.endswith('+json'):
        return helpers.problem(415, 'Content-Type must be application/json, got %r' % request.content_type)
    if request.content_length is not None and request.content_length > state.max_body:
        return helpers.problem(413, 'body of %d bytes is over the %d byte limit'
                               % (request.content_length, state.max_body))
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return helpers.problem(413, 'body is over the %d byte limit' % state.max_body)
    bill(state.stats, len(raw))

    tracked = None  # the business identifier the integration author assigned: the body's `count` field

    def failed(status, detail, headers=None):
        state.instances.record(started, 'FAILED', error=detail, records=tracked, code=BATCH_CODE)
        return helpers.problem(status, detail, headers=headers)

    try:
        body = helpers.parse_body(raw)
    except ValueError as error:
        return failed(400, str(error))
    batch = body.get('records') if isinstance(body, dict) else None
    count = body.get(COUNT_FIELD) if isinstance(body, dict) else None
    # OIC tracks a business identifier only from a field of the trigger's payload ("Assign Business Identifiers for
    # Tracking Fields in Messages"): the instance shows the count the caller sent, or none.
    tracked = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None
    if not isinstance(batch, list) or not batch:
        return failed(400, 'the body must be {"records": [record, ...]} with at least one record')
    fate = state.faults.draw()
    if fate['drop']:
        return helpers._drop(request)
    if fate['delay']:
        await asyncio.sleep(fate['delay'])
    if fate['hang']:
        await asyncio.sleep(fate['hang'])
    if fate['error'] == 429:  # throttled at the gateway: no instance, as in OIC
        return helpers.problem(429, 'injected throttling', headers=state.retry_after())
    if fate['error']:
        return failed(fate['error'], 'injected HTTP %d' % fate['error'],
                      headers=state.retry_after() if fate['error'] == 503 else None)
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
        return helpers._drop(request)
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
