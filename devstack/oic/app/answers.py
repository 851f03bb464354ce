"""The stand-in's answers and body parsing, shared by every handler: OIC-style JSON problems, a strict JSON body
parser, and closing a connection without answering (a dropped request)."""

import json

from aiohttp import web

_TITLES = {400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 408: 'Request Timeout',
           413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
           500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'}


def problem(status, detail, headers=None, **extra):
    """An OIC-style JSON error answer."""
    body = {'status': status, 'title': _TITLES.get(status, 'Error'), 'detail': detail}
    body.update(extra)
    return web.json_response(body, status=status, headers=headers)


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


def drop(request):
    """Closes the connection without answering."""
    request['dropped'] = True
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)
