"""The request check both triggers share (the per-record one and the batch one): the capacity gate around the
integration's work (429 when full, or a queue), the body (a JSON content type, the size limit, read whole and billed
as OIC bills a trigger request, parsed), and what the fault settings' fate does to the request before the integration
runs (dropped, delayed, hung, throttled at the gateway, failed with an injected status). A check that answers at once
raises Answered; gated() turns it into the answer. Each trigger then does its own integration's work."""

import asyncio

from aiohttp import web

from devstack.oic.app.answers import drop, parse_body, problem


class Answered(Exception):
    """The request is answered now with `response` (a refusal, or a fate that ends it before the integration)."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


async def gated(request, state, process):
    """`process(request, state)` while holding a slot of the capacity gate: 429 at once when the gate is full (unless
    the settings queue requests over capacity); an Answered raised inside answers the request."""
    cap = state.capacity
    if not await state.gate.enter(cap, state.faults.settings['over_capacity'] == 'queue'):
        return problem(429, 'concurrency limit of %d reached' % cap, headers=state.retry_after())
    try:
        return await process(request, state)
    except Answered as answered:
        return answered.response
    finally:
        state.gate.leave(state.capacity)  # the cap may have changed while the request ran


async def read_json(request, state, failed):
    """The request's body as JSON. Raises Answered with 415 (not JSON) or 413 (over the body limit) before reading,
    and with `failed(400, reason)` (which records the failed instance) when the body read is not JSON. Every body
    read is billed (Stats.bill), whether it parses or not."""
    if request.content_type != 'application/json' and not request.content_type.endswith('+json'):
        raise Answered(problem(415, 'Content-Type must be application/json, got %r' % request.content_type))
    if request.content_length is not None and request.content_length > state.max_body:
        raise Answered(problem(413, 'body of %d bytes is over the %d byte limit'
                               % (request.content_length, state.max_body)))
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Answered(problem(413, 'body is over the %d byte limit' % state.max_body)) from None
    state.stats.bill(len(raw))
    try:
        return parse_body(raw)
    except ValueError as error:
        raise Answered(failed(400, str(error))) from None


async def apply_fate(request, state, fate, failed, counts_delay=True):
    """What the request's fate (Faults.draw) does before the integration runs: drops it (the connection closed, no
    answer), waits its delay (latency_ms + jitter; counted in the stats when `counts_delay`) and its hang, then
    throttles it at the gateway (429, no instance) or fails it with an injected status (`failed` records the failed
    instance; 503 says when to come back). Raises Answered for those; returns when the request goes on."""
    if fate['drop']:
        raise Answered(drop(request))
    if fate['delay']:
        if counts_delay:
            state.stats.delayed += 1
            state.stats.delay_s += fate['delay']
        await asyncio.sleep(fate['delay'])
    if fate['hang']:
        await asyncio.sleep(fate['hang'])
    if fate['error'] == 429:  # throttled at the gateway: no instance, as in OIC
        raise Answered(problem(429, 'injected throttling', headers=state.retry_after()))
    if fate['error']:  # 503: overloaded, and a gateway says when to come back
        raise Answered(failed(fate['error'], 'injected HTTP %d' % fate['error'],
                              headers=state.retry_after() if fate['error'] == 503 else None))
