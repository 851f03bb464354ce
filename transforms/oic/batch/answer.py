"""The batch trigger's answer, read strictly: the rows BigQuery refused (by index, with a reason), or why the answer
cannot be read. The caller never acknowledges a row on an answer it cannot read (docs/oic-batching.md#what-the-pipeline-reads-in-an-answer).

What is read: a 200 whose body is a JSON object (any other keys ignored) whose `insertErrors` is BigQuery's insertAll result,
`[{"index": 3, "errors": [{"reason": "invalid", "message": "…"}]}]`, and also what an OIC XML-to-JSON mapper makes of
it: an object where a one-element array stood (`insertErrors`, an entry's `errors`) and numbers as strings
(`"index": "3"`). `insertErrors` absent, null or [] means every row was inserted, but only in a body that is a JSON
object. Anything else is unreadable: a body that is not JSON (an HTML sign-in page, a truncated body), not an object,
a key given twice, an entry that is not an object, an index missing, not a whole number, a bool, out of range or
named twice, `errors` missing, empty or not objects, a reason missing or not a string.
"""

import dataclasses
import json
import re
from typing import Any, Dict, List, Mapping

# insertAll reasons worth sending the row again (BigQuery's error table: transient backend failures, and `stopped`,
# a valid row not inserted because another row of the request was invalid); any other reason refuses the row for good.
RETRYABLE_ROW_REASONS = frozenset(('backendError', 'internalError', 'timeout', 'stopped'))
EXCERPT_CHARS = 200  # characters of an unreadable answer kept in its dead letters' detail
_WHOLE_NUMBER = re.compile(r'-?[0-9]{1,18}')  # an index as a mapper writes it; more digits is not an index


@dataclasses.dataclass(frozen=True)
class RowRefusal:
    """Why the answer says one row was not inserted: the reason it was refused for (its first reason that is not
    retryable: a row refused for good is not worth another request; else its first) and that error's message."""
    reason: str
    message: str

    @property
    def retryable(self) -> bool:
        return self.reason in RETRYABLE_ROW_REASONS


@dataclasses.dataclass(frozen=True)
class BatchAnswer:
    """A read answer: `refused` by row index, every other row inserted; or `problem` (not empty) says why the answer
    could not be read, and then nothing may be concluded about any row."""
    refused: Mapping[int, RowRefusal] = dataclasses.field(default_factory=dict)
    problem: str = ''

    @property
    def readable(self) -> bool:
        return not self.problem


class _Unreadable(ValueError):
    """Raised inside the reader; read_answer turns it into BatchAnswer.problem."""


def read_answer(body: bytes, rows: int, status: int = 200) -> BatchAnswer:
    """The answer `body` to a request of `rows` rows, read by the rules of the module's docstring. A success other
    than 200 (202 from an asynchronous integration, 204) is unreadable too: it does not say the rows were inserted."""
    if status != 200:
        return BatchAnswer(problem='HTTP %d, not the 200 of a synchronous integration' % status)
    try:
        return BatchAnswer(refused=_refusals(_json_object(body), rows))
    except _Unreadable as why:
        return BatchAnswer(problem=str(why))


def excerpt(body: bytes, limit: int = EXCERPT_CHARS) -> str:
    """The first `limit` characters of an answer, for a dead letter's detail (undecodable bytes replaced)."""
    return body[:limit * 4].decode('utf-8', 'replace')[:limit]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


def _no_repeated_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Unreadable('a key is given twice in one object')
    return dict(pairs)


def _json_object(body: bytes) -> Dict[str, Any]:
    if not body or not body.strip():
        raise _Unreadable('the answer is empty')
    try:
        data = json.loads(body.decode('utf-8-sig'), object_pairs_hook=_no_repeated_keys)
    except UnicodeDecodeError:
        raise _Unreadable('the answer is not UTF-8 text') from None
    except RecursionError:
        raise _Unreadable('the answer is nested too deeply') from None
    except _Unreadable:
        raise
    except json.JSONDecodeError as err:
        raise _Unreadable('the answer is not JSON (%s)' % err.msg) from None
    if not isinstance(data, dict):
        raise _Unreadable('the answer is JSON but not an object')
    return data


def _one_or_many(value: Any, what: str) -> List[Any]:
    """A list as it is; an object as the one element of a list (a mapper's rendering of a one-element array)."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise _Unreadable('%s is neither a list nor an object: %s' % (what, _short(value)))


def _index(value: Any, rows: int) -> int:
    if isinstance(value, bool):
        raise _Unreadable('an index is a bool: %s' % _short(value))
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise _Unreadable('an index is not a whole number: %s' % _short(value))
    if not 0 <= number < rows:
        raise _Unreadable('index %d is out of range for %d rows' % (number, rows))
    return number


def _refusal(entry: Any) -> RowRefusal:
    errors = _one_or_many(entry.get('errors'), 'an entry\'s errors')
    if not errors:
        raise _Unreadable('an entry\'s errors are empty')
    found = []
    for error in errors:
        reason = error.get('reason') if isinstance(error, dict) else None
        if not isinstance(reason, str) or not reason:
            raise _Unreadable('an error without a reason: %s' % _short(error))
        message = error.get('message')
        found.append(RowRefusal(reason, '' if message is None else str(message)))
    final = [refusal for refusal in found if not refusal.retryable]
    return (final or found)[0]


def _refusals(data: Dict[str, Any], rows: int) -> Dict[int, RowRefusal]:
    entries = data.get('insertErrors')
    if entries is None:
        return {}
    refused: Dict[int, RowRefusal] = {}
    for entry in _one_or_many(entries, 'insertErrors'):
        if not isinstance(entry, dict):
            raise _Unreadable('an insertErrors entry is not an object: %s' % _short(entry))
        if 'index' not in entry:
            raise _Unreadable('an insertErrors entry has no index')
        index = _index(entry['index'], rows)
        if index in refused:
            raise _Unreadable('index %d is named twice' % index)
        refused[index] = _refusal(entry)
    return refused
