"""OIC's own view of a run, from its monitoring API (instances completed / failed), as Oracle Integration 3 documents it.

"Retrieve Integration Instances" (REST API for Oracle Integration 3): GET /ic/api/integration/v1/monitoring/instances
with `integrationInstance` (required), `q` (startdate, enddate, code, ...), `limit`/`offset` paging and
`orderBy` (lastupdateddate by default; creationdate here, so that pages do not shift while instances are updated).
OAuth and the instance name: comparison/measures/oic_access.py. The instance schema is kebab-case on OIC 3
(`instance-id`, `integration-id`, `creation-date`) and camelCase on Gen2 (`integrationId`, `creationDate`,
`totalResults`): every field is read in both spellings (`field`).
"""

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set
import collections
import datetime
import os
import time

import requests

from comparison.measures.oic_access import (MONITORING_PATH, MonitoringAccess, Refused, monitoring_url,  # noqa: F401
                                            refusal, resolve_access)
from transforms import records as rec
from transforms.oic.urls import parse_trigger_url
from transforms.run_record.run_info import RunInfo

PAGE = 100
MAX_PAGES = 1000
ORDER_BY = 'creationdate'
FETCH_BOUND_S = 300.0  # The whole paging, at most; past it the check fails rather than count a part.
MARGIN = datetime.timedelta(seconds=5)
RECORDS_TRACKING = 'records'  # The tracking the batch integration maps its batch size to (docs/oic-batching.md).
RECORD_ID_TRACKING = 'record_id'
# Each field the check reads, in OIC 3's spelling first, then Gen2's.
SPELLINGS = {
    'items': ('items',),
    'total': ('total-results', 'totalResults', 'total-records-count', 'totalRecordsCount'),
    'status': ('status',),
    'code': ('integration-id', 'integrationId'),
    'trackings': ('trackings',),
}
# Gen2 answers carry the tracking values also as flat pairs (name, value).
FLAT_TRACKINGS = (('pkName', 'pkValue'), ('primaryName', 'primaryValue'),
                  ('secondaryTrackingName', 'secondaryTrackingValue'),
                  ('tertiaryTrackingName', 'tertiaryTrackingValue'))


def field(item: Mapping[str, Any], name: str) -> Any:
    """An answer's field `name` (a key of SPELLINGS) in whichever spelling it came in, else None."""
    for key in SPELLINGS[name]:
        if key in item:
            return item[key]
    return None


def trigger_url(run: RunInfo) -> Optional[str]:
    """The trigger the run posted to: the batch integration's with --oic_batch_kb, else --oic_url's."""
    return run.oic.trigger_url if run.oic else None


def integration_code(oic_url: Optional[str]) -> Optional[str]:
    """INTEGRATION_CODE from a trigger URL in either form (v1 …/v1/flows/rest/CODE/VERSION/…, or an OIC 3 project's
    …/v2/flows/rest/project/PROJECT/CODE/VERSION/…), or None."""
    trigger = parse_trigger_url(oic_url)
    return trigger.code if trigger else None


def _oic_date(moment):
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S')


def build_q(started: datetime.datetime, finished: datetime.datetime, code: Optional[str] = None) -> str:
    """OIC's q filter for instances of `code` that ended in [started - 5 s, finished + 5 s]."""
    pairs = ["startdate:'%s'" % _oic_date(started - MARGIN), "enddate:'%s'" % _oic_date(finished + MARGIN)]
    if code:
        pairs.append("code:'%s'" % code)
    return '{%s}' % ', '.join(pairs)


def fetch_instances(session: requests.Session, access: MonitoringAccess, q: str, timeout: float = 30,
                    bound_s: float = FETCH_BOUND_S, clock: Callable[[], float] = time.monotonic) -> List[dict]:
    """Every instance matching `q`, ordered by creation date, paging by offset until a short page, an empty one or
    the total; within `bound_s` seconds in all (TimeoutError past it). Refused (one line with the fix) on 401, 403,
    or a 400 about the instance name; requests' errors on any other answer that is not 200 JSON."""
    items: list = []
    deadline = clock() + bound_s
    for _ in range(MAX_PAGES):
        params: Dict[str, Any] = dict(access.params(), q=q, orderBy=ORDER_BY, limit=PAGE, offset=len(items))
        response = session.get(access.url, params=params, timeout=timeout, verify=access.verify)
        if response.status_code in (401, 403) or (response.status_code == 400 and (
                not access.instance or 'integrationInstance' in response.text)):
            raise Refused(refusal(response.status_code, _detail(response), access))
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict) or not isinstance(field(body, 'items') or [], list):
            raise ValueError('the monitoring API answered something that is not a page of instances')
        page = field(body, 'items') or []
        items.extend(page)
        total = field(body, 'total')
        if len(page) < PAGE or (isinstance(total, int) and len(items) >= total):
            return items
        if clock() > deadline:
            raise TimeoutError('paging OIC\'s instances took over %gs (%d read)' % (bound_s, len(items)))
    raise ValueError('more than %d pages of instances in the run\'s window' % MAX_PAGES)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
        return str(body.get('detail') or body.get('title') or '') if isinstance(body, dict) else ''
    except ValueError:
        return ''


def trackings(instance: Mapping[str, Any]) -> Dict[str, str]:
    """An instance's tracking values by name: its `trackings` list, else Gen2's flat name/value pairs."""
    found: Dict[str, str] = {}
    for tracking in field(instance, 'trackings') or []:
        if isinstance(tracking, dict) and tracking.get('name') and tracking.get('value') not in (None, ''):
            found.setdefault(str(tracking['name']), str(tracking['value']))
    for name_key, value_key in FLAT_TRACKINGS:
        name, value = instance.get(name_key), instance.get(value_key)
        if name and value not in (None, ''):
            found.setdefault(str(name), str(value))
    return found


def instance_record_id(instance: Mapping[str, Any]) -> Optional[str]:
    """The record_id an instance tracked (a tracking named record_id), or None."""
    return trackings(instance).get(RECORD_ID_TRACKING)


def batch_size(instance: Mapping[str, Any]) -> Optional[int]:
    """The records a batch instance carried: its tracking named `records` (the batch integration maps the size of
    its request to it), or None for an instance that is not a batch's."""
    value = trackings(instance).get(RECORDS_TRACKING)
    try:
        count = int(value) if value is not None else None
    except ValueError:
        return None
    return count if count is not None and count >= 0 else None


def instance_records(instance: Mapping[str, Any]) -> int:
    """Records one instance carried: a batch's size, else 1."""
    size = batch_size(instance)
    return 1 if size is None else size


def summarise_instances(instances: Sequence[dict], sent_ids: Set[Optional[str]]) -> dict:
    """Counts of OIC instances for this run by status, and the records they carried (an instance's `records`, else
    1). Instances tracking a record_id are scoped to `sent_ids` (and counted per record too, a record completed
    twice once); a batch instance (one with `records`) that tracks none is counted within the time window. When no
    instance tracks a record_id (the seed payload), every instance in the time window counts."""
    tracked = [i for i in instances if instance_record_id(i)]
    if tracked:
        scoped = [i for i in tracked if instance_record_id(i) in sent_ids] + \
            [i for i in instances if not instance_record_id(i) and batch_size(i) is not None]
    else:
        scoped = list(instances)
    statuses = collections.Counter(field(i, 'status') or 'UNKNOWN' for i in scoped)
    records: collections.Counter = collections.Counter()
    for item in scoped:
        records[field(item, 'status') or 'UNKNOWN'] += instance_records(item)
    batches = [i for i in scoped if batch_size(i) is not None]
    summary = {
        'scoped_by': 'record_id' if tracked else 'time window (instances carry no record_id)',
        'instances': len(scoped),
        'completed': statuses.get('COMPLETED', 0),
        'failed': statuses.get('FAILED', 0),
        'aborted': statuses.get('ABORTED', 0),
        'in_progress': statuses.get('IN_PROGRESS', 0),
        'batch_instances': len(batches),
        'records_in_completed': records.get('COMPLETED', 0),
        'records_in_failed': records.get('FAILED', 0) + records.get('ABORTED', 0),
        'counts': 'records: a batch instance\'s `records` tracking value, else 1',
    }
    if tracked:
        single = [i for i in scoped if batch_size(i) is None]
        completed = {instance_record_id(i) for i in single if field(i, 'status') == 'COMPLETED'}
        failed = {instance_record_id(i) for i in single if field(i, 'status') in ('FAILED', 'ABORTED')}
        summary['records_completed'] = len(completed) + sum(
            instance_records(i) for i in batches if field(i, 'status') == 'COMPLETED')
        summary['records_failed_never_completed'] = len(failed - completed) + sum(
            instance_records(i) for i in batches if field(i, 'status') in ('FAILED', 'ABORTED'))
        if batches:
            summary['scoped_by'] = 'record_id, and batch instances within the time window'
    return summary


def three_way(acked: int, dead_lettered: int, landed: Optional[int], oic: dict) -> dict:
    """Pipeline × OIC × BigQuery, in records: do acknowledgements, the records of OIC's completed instances and
    landed rows agree, and do OIC's failures account for the dead letters? One record per instance: failed records
    equal the dead letters. Batch instances: a failed request is retried (its records then complete in another
    instance), so the dead letters are at most OIC's failed records."""
    completed = oic.get('records_completed', oic.get('records_in_completed', oic.get('completed')))
    failed = oic.get('records_failed_never_completed',
                     oic.get('records_in_failed', oic.get('failed', 0) + oic.get('aborted', 0)))
    batched = bool(oic.get('batch_instances'))
    checks = {
        'counts': 'records', 'pipeline_acked': acked, 'oic_completed': completed, 'bigquery_landed': landed,
        'pipeline_dead_lettered': dead_lettered, 'oic_failed': failed,
        'failed_check': 'dead letters <= failed records' if batched else 'dead letters = failed records',
    }
    # Rows OIC completed that BigQuery does not hold: with the seed's integration, the rows BigQuery refused (its
    # mapping answers "Submitted" whatever insertAll returns) - acknowledged by OIC, missing from BigQuery.
    checks['oic_completed_not_landed'] = max(0, completed - landed) if isinstance(completed, int) and \
        isinstance(landed, int) else None
    checks['agree'] = (acked == completed and (landed is None or landed == completed)
                       and (dead_lettered <= failed if batched else dead_lettered == failed))
    return checks


def oic_view(run: RunInfo, sent_ids: Set[Optional[str]], password: Optional[str] = None, url: Optional[str] = None,
             username: Optional[str] = None, auth: Optional[str] = None, instance: Optional[str] = None,
             session_factory: Callable[[], requests.Session] = requests.Session,
             environ: Optional[Mapping[str, str]] = None) -> dict:
    """OIC's view of the run: {'check': 'done', ...summary}, or {'check': 'skipped: …' | 'refused: <the fix>' |
    'failed: …'} in one line. `url`, `username`, `auth` (oauth|basic) and `instance` override the run's."""
    environ = os.environ if environ is None else environ
    if not run.started_at or not run.finished_at:
        return {'check': 'skipped: the run has not finished'}
    try:
        access = resolve_access(run, url, username, auth, instance, environ)
    except Refused as err:
        return {'check': 'skipped: %s' % err}
    password = password if password is not None else environ.get('OIC_PASSWORD')
    q = build_q(rec.parse_timestamp(run.started_at), rec.parse_timestamp(run.finished_at),
                integration_code(trigger_url(run)))
    session = session_factory()
    try:
        session.headers['Authorization'] = access.authorization(password)
        instances = fetch_instances(session, access, q)
    except Refused as err:
        return {'check': 'refused: %s' % err, 'url': access.url, 'auth': access.auth}
    except (requests.RequestException, OSError, ValueError) as err:  # ConnectionError, TimeoutError are OSErrors
        return {'check': 'failed: %s' % (str(err).splitlines() or [type(err).__name__])[0][:200], 'url': access.url,
                'auth': access.auth}
    finally:
        session.close()
    return dict(summarise_instances(instances, sent_ids), check='done', url=access.url, q=q, auth=access.auth,
                instance=access.instance)
