"""Answer faults of the batch trigger (devstack/oic/app/batch_trigger.py): a share of answers in the shape an OIC
XML-to-JSON mapper writes (`mapper_shape_rate`), and a share of requests answered 200 with an HTML page and nothing
inserted (`html_answer_rate`: a gateway's sign-in page). Rates validated in devstack/oic/faults.py, drawn per request
there; what the pipeline does with such answers: docs/oic-batching.md."""

from aiohttp import web

# What an identity domain's gateway answers a session it does not recognise: 200, a sign-in page.
SIGN_IN_PAGE = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Sign In</title></head>\n'
                '<body><h1>Oracle Cloud Account</h1><form method="post" action="/oauth2/v1/authorize">'
                '<input name="username"><input name="password" type="password"><button>Sign In</button></form>'
                '</body></html>\n')


def html_page():
    """The answer of the html_answer_rate fault: 200, Content-Type text/html, a sign-in page."""
    return web.Response(status=200, text=SIGN_IN_PAGE, content_type='text/html')


def mapper_shape(answer):
    """insertAll's answer as an XML-to-JSON mapper writes it: a one-element `insertErrors` or `errors` array as the
    object it holds, and every index as a string. Pure; the answer's other keys unchanged."""
    entries = answer.get('insertErrors')
    if not entries:
        return answer
    shaped = [dict(entry, index=str(entry['index']),
                   errors=entry['errors'][0] if len(entry['errors']) == 1 else entry['errors'])
              for entry in entries]
    return dict(answer, insertErrors=shaped[0] if len(shaped) == 1 else shaped)
