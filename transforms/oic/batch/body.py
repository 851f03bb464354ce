"""The size of a batch request's body, without encoding it (pure; no Beam import, so the stand-in and the launcher's
cheap commands can use it).

The body of a batch is `{"count": n, "records": [payload, ...]}` (`batch_body`) as json.dumps writes it with its
default separators (what OICCaller posts), so its size is known from the payloads' own sizes without encoding the
whole body again: EMPTY_BODY + digits(n) + sum(sizes) + SEPARATOR * (n - 1). json.dumps escapes every non-ASCII
character by default, so characters are bytes. `count` is there for OIC's tracking: a business identifier can only be
a field of the trigger's payload ("Assign Business Identifiers for Tracking Fields in Messages"), so the integration
tracks the batch's size from it and the comparison counts a batch instance's records (docs/oic-batching.md).
"""

import json
from typing import Any, Sequence

KB = 1024
COUNT_FIELD = 'count'  # the batch's size in its body, for the integration's tracking


def batch_body(payloads: Sequence[Any]) -> dict:
    """The request body of a batch: its size (what the integration tracks) and its records' payloads."""
    return {COUNT_FIELD: len(payloads), 'records': list(payloads)}


EMPTY_BODY = len(json.dumps(batch_body([]))) - 1  # '{"count": , "records": []}': the count's digits come apart
SEPARATOR = len(', ')  # between two payloads in the array
DEFAULT_WAIT_S = 1.0  # --oic_batch_wait
DEFAULT_SHARDS = 4  # keys the grouping spreads records over at least (a batch never mixes keys)
DEFAULT_BATCH_CODE = 'WAREHOUSE_BATCH'  # the batch integration's flow code (--oic_batch_url's default)


def payload_size(payload: Any) -> int:
    """Bytes of one record's payload inside the body."""
    return len(json.dumps(payload))


def body_size(sizes: Sequence[int]) -> int:
    """Bytes of the body `{"count": n, "records": [...]}` holding payloads of these sizes."""
    return EMPTY_BODY + len(str(len(sizes))) + sum(sizes) + SEPARATOR * max(len(sizes) - 1, 0)


def grown_size(current: int, count: int, size: int) -> int:
    """Bytes of a body of `count` payloads and `current` bytes once a payload of `size` bytes joins it."""
    if count == 0:
        return EMPTY_BODY + 1 + size
    return current + SEPARATOR + size + len(str(count + 1)) - len(str(count))
