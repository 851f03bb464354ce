"""Sizes the prices are computed from: a row's billed bytes, a request body's bytes, the OIC billing messages they
count, the batched request a price assumes, and the OIC message packs and instances a steady rate needs.

What the sizing follows (Oracle Integration 3 and BigQuery docs; sources in prices.json):
  OIC packs = max(ceil(messages per hour ÷ messages per pack), ceil(synchronous requests in flight ÷ requests per
  pack)), at least 1; messages per hour = requests per hour × ceil(request body ÷ 50 KB); in flight = requests/s ×
  OIC's response time (Little's law). One instance holds at most 100 packs and 2,000 synchronous requests in flight.
  One record per request (the seed's integration): requests = records. Batched: a request body
  {"records": [record, ...]} of at most the batch size carries floor((batch − 13 B) ÷ (record + 2 B)) records
  (batch_shape), so requests, messages and requests in flight all fall by that factor.
"""

import json
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from transforms import records as rec
from transforms.oic.batch import body as batch_body_rule

DEFAULT_OIC_RESPONSE_S = 1.0  # Stated when a run measured none: OIC's synchronous answer time, seconds.


def bigquery_row_bytes(row: Mapping[str, Any]) -> int:
    """BigQuery's billed size of a row: STRING 2 + UTF-8 bytes, INT64 and TIMESTAMP 8 each (NULLs 0)."""
    size = 0
    for name, value in row.items():
        if value is None or name not in rec.BIGQUERY_TYPES:
            continue
        size += 2 + len(str(value).encode('utf-8')) if rec.BIGQUERY_TYPES[name] == 'STRING' else 8
    return size


def payload_bytes(record: dict, shape: str = 'extended') -> int:
    """Size of the JSON body the pipeline posts to OIC for `record`."""
    return len(json.dumps(rec.oic_payload(record, shape)).encode('utf-8'))


def sample_sizes(count: int = 100) -> Tuple[int, int]:
    """(BigQuery row bytes, OIC payload bytes) of typical synthetic records: the sizes a curve uses when a run sent
    none on a path."""
    sample = [rec.make_record(1, 'sample', i) for i in range(count)]
    return (round(sum(bigquery_row_bytes(rec.bigquery_row(r)) for r in sample) / count),
            round(sum(payload_bytes(r) for r in sample) / count))


def count(value: float) -> int:
    """ceil() that ignores float noise (5000.0000000001 messages is 5000)."""
    return math.ceil(round(value, 6))


def messages_per_request(request_bytes: float, prices: Mapping[str, Any]) -> int:
    """Billing messages one REST trigger counts: one per started 50 KB of inbound payload, at least one (a body of
    exactly 50 KB is one message, one byte more is two)."""
    return max(1, count(request_bytes / (prices['oic_message_kb'] * 1024)))


def messages_per_record(payload_size: int, prices: Mapping[str, Any]) -> int:
    """Billing messages of one record sent alone in its request (the seed's integration)."""
    return messages_per_request(payload_size, prices)


# A batched request body is {"count": n, "records": [r1, r2, ...]} as json.dumps writes it (one home:
# transforms/oic/batch/body.py): '{"count": ' n ', "records": [' and ']}' around the records, ', ' between two.
BATCH_ENVELOPE_BYTES = batch_body_rule.EMPTY_BODY  # without the count's digits
BATCH_SEPARATOR_BYTES = batch_body_rule.SEPARATOR


def batch_body_bytes(record_bytes: Sequence[int]) -> int:
    """Size of the request body {"count": n, "records": [...]} carrying records of these JSON sizes."""
    return batch_body_rule.body_size(record_bytes)


def _batch_bytes(per_request: int, record_bytes: float) -> float:
    return (BATCH_ENVELOPE_BYTES + len(str(per_request)) + per_request * record_bytes
            + BATCH_SEPARATOR_BYTES * (per_request - 1))


def records_per_batch(record_bytes: float, batch_kb: float) -> int:
    """Records of `record_bytes` each that fit a request body of at most `batch_kb` KB (never fewer than one: a record
    larger than the batch goes alone)."""
    room = batch_kb * 1024 - BATCH_ENVELOPE_BYTES + BATCH_SEPARATOR_BYTES
    count = max(1, int(math.floor(room / (record_bytes + BATCH_SEPARATOR_BYTES))))
    while count > 1 and _batch_bytes(count, record_bytes) > batch_kb * 1024:  # the count's own digits
        count -= 1
    return count


def batch_shape(record_bytes: float, prices: Mapping[str, Any], batch_kb: Optional[float] = None) -> Dict[str, Any]:
    """The batched request the price assumes: records of `record_bytes` (the measured mean JSON size of a record)
    packed into bodies of at most `batch_kb` KB (default: one billing message, 50 KB)."""
    batch_kb = float(batch_kb or prices['oic_message_kb'])
    per_request = records_per_batch(record_bytes, batch_kb)
    body = _batch_bytes(per_request, record_bytes)
    messages = messages_per_request(body, prices)
    return {'batch_kb': batch_kb, 'record_bytes': record_bytes, 'records_per_request': per_request,
            'request_bytes': round(body), 'messages_per_request': messages,
            'records_per_message': round(per_request / messages, 2)}


def oic_sizing(rate: float, payload_size: float, prices: Mapping[str, Any], response_s: float = DEFAULT_OIC_RESPONSE_S,
               byol: bool = False, pack_hour_usd: Optional[float] = None,
               records_per_request: float = 1) -> Dict[str, Any]:
    """Message packs (and instances) that a steady `rate` records/s needs, and their monthly price. `payload_size` is
    the request body's size: one record's payload, or a batch's body carrying `records_per_request` records.

    requests/s = rate ÷ records per request; packs = max(1, ceil(requests/s × 3600 × messages per request ÷ messages
    per pack), ceil(requests/s × response_s ÷ sync requests per pack)); instances = max(ceil(packs ÷ 100),
    ceil(in flight ÷ 2,000)): more than one means the rate needs a second OIC instance (the packs are still priced
    one by one)."""
    per_request = messages_per_request(payload_size, prices)
    requests_per_s = rate / records_per_request
    messages = requests_per_s * 3600 * per_request
    per_pack = prices['oic_byol_messages_per_pack_hour' if byol else 'oic_messages_per_pack_hour']
    slots = prices['oic_byol_sync_requests_per_pack' if byol else 'oic_sync_requests_per_pack']
    in_flight = requests_per_s * response_s
    by_messages = count(messages / per_pack)
    by_concurrency = count(in_flight / slots)
    packs = max(1, by_messages, by_concurrency)
    instances = max(1, count(packs / prices['oic_max_packs']), count(in_flight / prices['oic_max_sync_requests']))
    if pack_hour_usd is None:
        pack_hour_usd = prices['oic_byol_pack_hour_usd' if byol else 'oic_pack_hour_usd']
    return {
        'byol': byol, 'records_per_request': records_per_request, 'requests_per_s': requests_per_s,
        'messages_per_request': per_request, 'messages_per_record': per_request / records_per_request,
        'messages_per_hour': messages,
        'messages_per_pack_hour': per_pack, 'in_flight': in_flight, 'response_s': response_s,
        'sync_requests_per_pack': slots, 'packs_for_messages': by_messages, 'packs_for_concurrency': by_concurrency,
        'packs': packs, 'instances': instances, 'pack_hour_usd': pack_hour_usd,
        'usd_per_month': packs * pack_hour_usd * prices['hours_per_month'],
    }
