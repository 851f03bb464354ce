"""The size of a batch request's body, without encoding it (pure; no Beam import, so the stand-in and the launcher's
cheap commands can use it).

The body of a batch is `{"records": [payload, ...]}` as json.dumps writes it with its default separators (what
OICCaller posts), so its size is known from the payloads' own sizes without encoding the whole body again:
EMPTY_BODY + sum(sizes) + SEPARATOR * (n - 1). json.dumps escapes every non-ASCII character by default, so
characters are bytes.
"""

import json
from typing import Any, Sequence

KB = 1024
EMPTY_BODY = len(json.dumps({'records': []}))  # '{"records": []}'
SEPARATOR = len(', ')  # between two payloads in the array
DEFAULT_WAIT_S = 1.0  # --oic_batch_wait
DEFAULT_SHARDS = 4  # keys the grouping spreads records over at least (a batch never mixes keys)
DEFAULT_BATCH_CODE = 'WAREHOUSE_BATCH'  # the batch integration's flow code (--oic_batch_url's default)


def payload_size(payload: Any) -> int:
    """Bytes of one record's payload inside the body."""
    return len(json.dumps(payload))


def body_size(sizes: Sequence[int]) -> int:
    """Bytes of the body `{"records": [...]}` holding payloads of these sizes."""
    return EMPTY_BODY + sum(sizes) + SEPARATOR * max(len(sizes) - 1, 0)


def grown_size(current: int, count: int, size: int) -> int:
    """Bytes of a body of `count` payloads and `current` bytes once a payload of `size` bytes joins it."""
    if count == 0:
        return EMPTY_BODY + size
    return current + SEPARATOR + size
