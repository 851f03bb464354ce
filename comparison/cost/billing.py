"""OIC billing messages of a run: how many requests carried the records, how big each body was, and the messages
they count (one per started 50 KB of trigger payload: prices.json, oic_message_kb), with the local stand-in's own
counters as a cross-check where they can be read.

Requests are told apart by the acknowledgement's `batch_id` (transforms.records.BATCH_ID) (a batched run's acks and dead letters say which
request carried each record) and sized by its `batch_bytes` when the ack carries it, else as the body the caller
sends: the record's JSON payload (transforms.records.oic_payload, json.dumps, as transforms/oic/caller.py posts it)
or, for a batch, {"records": [...]} around them. Without a batch_id every record went alone in its own request
(the seed's integration, and every run before batching). Pure functions, but for `read_stand_in_stats`.
"""

import collections
import urllib.parse
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import requests

from comparison.cost import sizing
from comparison.measures import throughput
from transforms import records as rec
from transforms.oic import urls
from transforms.run_record.run_info import OICRunInfo, RunInfo

# The stand-in's billing counters in GET /admin/stats (devstack/oic/app/stats.py, Stats.bill: both triggers' requests
# that reached the integration, their bytes and the messages they count).
STAND_IN_BILLING = 'billing'


def _request_key(item: Mapping[str, Any]) -> Optional[str]:
    value = item.get(rec.BATCH_ID)
    return str(value) if value not in (None, '') else None


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def requests_of(settled: Iterable[Mapping[str, Any]], record_bytes: Mapping[str, int]) -> List[Dict[str, Any]]:
    """The requests that carried the settled records (acks and dead letters with a record_id), each as
    {'request_id', 'records', 'bytes', 'bytes_from', 'attempts'}.

    Records with the same `batch_id` shared one request; its size is the largest `batch_bytes` they carry, else
    the batch body around their payloads; `attempts` are the request's own (throughput.batch_request_attempts: a
    record's attempts also count the earlier requests that carried it). A record without one went alone, its body
    its own payload."""
    grouped: Dict[str, List[Mapping[str, Any]]] = collections.OrderedDict()
    alone: List[Mapping[str, Any]] = []
    seen = set()
    for item in settled:
        record_id = item.get('record_id')
        if not record_id or record_id in seen:
            continue
        seen.add(record_id)
        key = _request_key(item)
        if key is None:
            alone.append(item)
        else:
            grouped.setdefault(key, []).append(item)
    found = []
    request_attempts = throughput.batch_request_attempts(item for items in grouped.values() for item in items)
    for key, items in grouped.items():
        stated = [b for b in (_number(i.get(rec.BATCH_BYTES)) for i in items) if b is not None]
        sizes = [record_bytes.get(i['record_id'], 0) for i in items]
        found.append({'request_id': key, 'records': len(items),
                      'bytes': max(stated) if stated else sizing.batch_body_bytes(sizes),
                      'bytes_from': rec.BATCH_BYTES if stated else 'computed',
                      'attempts': request_attempts[key]})
    for item in alone:
        own = _number(item.get(rec.BATCH_BYTES))
        found.append({'request_id': None, 'records': 1,
                      'bytes': own if own is not None else record_bytes.get(item['record_id'], 0),
                      'bytes_from': rec.BATCH_BYTES if own is not None else 'computed',
                      'attempts': int(item.get('attempts') or 1)})
    return found


def summarise(reqs: Sequence[Mapping[str, Any]], prices: Mapping[str, Any],
              record_bytes_mean: Optional[float] = None) -> Dict[str, Any]:
    """Records, requests, billing messages (first attempts; and with every attempt counted again), records per
    request and per message, request body sizes."""
    records = sum(r['records'] for r in reqs)
    messages = [sizing.messages_per_request(r['bytes'], prices) for r in reqs]
    with_retries = sum(m * r['attempts'] for m, r in zip(messages, reqs))
    sizes = [r['bytes'] for r in reqs]
    batched = any(r['request_id'] is not None for r in reqs)
    return {
        'basis': ('batch_id on the acknowledgements: records with the same id shared a request' if batched else
                  'one request per record (the acknowledgements carry no batch_id)'),
        'sizes_from': ('batch_bytes on the acknowledgements' if reqs and all(
            r['bytes_from'] == rec.BATCH_BYTES for r in reqs) else
            'computed: json.dumps of the payload the caller posts (transforms.records.oic_payload)%s' % (
                ', in {"records": [...]}' if batched else '')),
        'message_kb': prices['oic_message_kb'],
        'records': records,
        'requests': len(reqs),
        'messages': sum(messages),
        'messages_with_retries': with_retries,
        'request_attempts': sum(r['attempts'] for r in reqs),
        'records_per_request': round(records / len(reqs), 2) if reqs else None,
        'records_per_message': round(records / sum(messages), 2) if messages else None,
        'request_bytes_mean': round(sum(sizes) / len(sizes), 1) if sizes else None,
        'request_bytes_max': max(sizes) if sizes else None,
        'record_bytes_mean': record_bytes_mean,
        'note': 'messages: one per started %g KB of each request body, each request once; messages_with_retries '
                'counts every attempt again (an attempt OIC ran is billed; one refused at its gateway with 429 '
                'may not be)' % prices['oic_message_kb'],
    }


def oic_billing(sent: Sequence[Mapping[str, Any]], acks: Sequence[Mapping[str, Any]],
                dead_letters: Sequence[Mapping[str, Any]], payload_shape: str,
                prices: Mapping[str, Any]) -> Dict[str, Any]:
    """The OIC path's billing messages from what the run sent, acknowledged and dead-lettered (see the module)."""
    sent_ids = {r.get('record_id') for r in sent if r.get('record_id')}
    record_bytes = {r['record_id']: sizing.payload_bytes(dict(r), payload_shape) for r in sent if r.get('record_id')}
    settled = [a for a in list(acks) + list(dead_letters) if a.get('record_id') in sent_ids]
    mean = round(sum(record_bytes.values()) / len(record_bytes), 1) if record_bytes else None
    return summarise(requests_of(settled, record_bytes), prices, mean)


def per_record_billing(records: int, attempts: int, payload_mean: float, prices: Mapping[str, Any]) -> Dict[str, Any]:
    """The same figures from counts alone (the SQL reconciliation: no request ids, the mean payload size)."""
    per = sizing.messages_per_request(payload_mean, prices) if records else 0
    found = summarise([], prices, payload_mean)
    found.update(basis='one request per record (the run record holds no request ids)',
                 sizes_from='computed in BigQuery: the mean JSON size of the records sent',
                 records=records, requests=records, messages=records * per, messages_with_retries=attempts * per,
                 request_attempts=attempts, records_per_request=1.0 if records else None,
                 records_per_message=round(1 / per, 2) if per else None,
                 request_bytes_mean=round(payload_mean, 1) if records else None, request_bytes_max=None)
    return found


def is_loopback(url: Optional[str]) -> bool:
    """True for a URL on this machine (the local stand-in has an admin API; a real OIC does not)."""
    return urls.is_loopback(urllib.parse.urlsplit(url or '').hostname or '')


def read_stand_in_stats(run: RunInfo, password: Optional[str],
                        session_factory: Callable[[], requests.Session] = requests.Session) -> Dict[str, Any]:
    """The local stand-in's counters (GET /admin/stats with the run's Basic Auth) when the run's OIC is on this
    machine: {'check': 'done', 'stats': {...}} or {'check': 'skipped: …' | 'failed: …'}. Real OIC has no such API."""
    oic = run.oic or OICRunInfo()
    url = oic.url
    if not url or not is_loopback(url):
        return {'check': 'skipped: OIC is not a local stand-in (real OIC has no /admin/stats)'}
    if not oic.username or not password:
        return {'check': 'skipped: no username or OIC_PASSWORD for the stand-in\'s /admin/stats'}
    # The admin client is local tooling, imported only for a stand-in on this machine: the Flex template's image
    # carries launcher/ and comparison/ (the report at the end of a run) but not devstack/ (Dockerfile).
    from devstack.oic.admin_client import AdminClient
    from devstack.oic.urls import ADMIN_STATS
    bundle = oic.ca_bundle
    stand_in = AdminClient.for_url(url, (oic.username, password), verify=bundle or True,
                                   session=session_factory())
    try:
        return {'check': 'done', 'url': stand_in.url(ADMIN_STATS), 'stats': stand_in.stats()}
    except (requests.RequestException, ValueError) as err:
        return {'check': 'failed: %s' % (str(err).splitlines() or [type(err).__name__])[0][:200]}
    finally:
        stand_in.close()


def cross_check(billing: Mapping[str, Any], stand_in: Mapping[str, Any]) -> Dict[str, Any]:
    """The stand-in's own counts beside ours: requests on the trigger (every attempt) and, when it counts them,
    billing messages. Its counters run from its start or last reset, so they match a run only on a stack of its own
    (./run_local.sh starts one per run)."""
    if stand_in.get('check') != 'done':
        return {'check': stand_in.get('check')}
    stats = stand_in.get('stats') or {}
    found_billing = stats.get(STAND_IN_BILLING)
    billed: Mapping[str, Any] = found_billing if isinstance(found_billing, dict) else {}
    counted = billed.get('messages') if isinstance(billed.get('messages'), (int, float)) else None
    requests_seen = billed.get('requests', stats.get('requests'))
    found = {
        'check': 'done', 'url': stand_in.get('url'),
        'stand_in_requests': requests_seen, 'pipeline_request_attempts': billing.get('request_attempts'),
        'stand_in_messages': counted, 'pipeline_messages_with_retries': billing.get('messages_with_retries'),
        'note': "the stand-in's counters since it started or was last reset (DELETE /admin/stats): they match this "
                'run only on a stack of its own',
    }
    found['requests_agree'] = requests_seen == billing.get('request_attempts')
    found['messages_agree'] = None if counted is None else counted == billing.get('messages_with_retries')
    return found
