"""OIC's own view of a run, from its monitoring API (instances completed / failed), with the run's Basic Auth."""

from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Union
import collections
import datetime
import os
import urllib.parse

import requests

from transforms import records as rec
from transforms.oic.urls import parse_trigger_url

MONITORING_PATH = '/ic/api/integration/v1/monitoring/instances'
PAGE = 100
MAX_PAGES = 500
MARGIN = datetime.timedelta(seconds=5)


def monitoring_url(oic_url: str) -> str:
    """The monitoring endpoint on the same host as the REST trigger URL."""
    parts = urllib.parse.urlsplit(oic_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, MONITORING_PATH, '', ''))


def trigger_url(run: dict) -> Optional[str]:
    """The trigger the run posted to: the batch integration's with --oic_batch_kb, else --oic_url's."""
    return run.get('oic_batch_url') if run.get('oic_batch_kb') else run.get('oic_url')


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


def fetch_instances(session: requests.Session, url: str, q: str, timeout: float = 30,
                    verify: Union[bool, str] = True) -> List[dict]:
    """Every instance matching `q`, following OIC's limit/offset paging. `verify`: True (the trust store) or a CA
    bundle file, given per request (requests lets REQUESTS_CA_BUNDLE override a session's own setting)."""
    items: list = []
    for page in range(MAX_PAGES):
        params: Dict[str, Any] = {'q': q, 'limit': PAGE, 'offset': page * PAGE}
        response = session.get(url, params=params, timeout=timeout, verify=verify)
        if response.status_code in (401, 403):
            raise PermissionError('OIC refused the credentials for the monitoring API (HTTP %d)' %
                                  response.status_code)
        response.raise_for_status()
        body = response.json()
        items.extend(body.get('items') or [])
        if not body.get('hasMore') or not body.get('items'):
            break
    return items


def instance_record_id(instance: dict) -> Optional[str]:
    """The record_id an instance tracked (secondary tracking value or a tracking named record_id), or None."""
    for tracking in instance.get('trackings') or []:
        if tracking.get('name') == 'record_id' and tracking.get('value'):
            return tracking['value']
    if instance.get('secondaryName') == 'record_id' and instance.get('secondaryValue'):
        return instance['secondaryValue']
    return None


def instance_records(instance: dict) -> int:
    """Records one instance carried: its `records` (a batch trigger's instance carries many), else 1."""
    count = instance.get('records')
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 1


def summarise_instances(instances: Sequence[dict], sent_ids: Set[Optional[str]]) -> dict:
    """Counts of OIC instances for this run by status, and the records they carried (an instance's `records`, else
    1). Instances tracking a record_id are scoped to `sent_ids` (and counted per record too, a record completed
    twice once); a batch instance (one with `records`) that tracks none is counted within the time window. When no
    instance tracks a record_id (the seed payload), every instance in the time window counts."""
    tracked = [i for i in instances if instance_record_id(i)]
    if tracked:
        scoped = [i for i in tracked if instance_record_id(i) in sent_ids] + \
            [i for i in instances if not instance_record_id(i) and 'records' in i]
    else:
        scoped = list(instances)
    statuses = collections.Counter(i.get('status', 'UNKNOWN') for i in scoped)
    records: collections.Counter = collections.Counter()
    for item in scoped:
        records[item.get('status', 'UNKNOWN')] += instance_records(item)
    batches = [i for i in scoped if 'records' in i]
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
        'counts': 'records: an instance\'s `records`, else 1',
    }
    if tracked:
        single = [i for i in scoped if 'records' not in i]
        completed = {instance_record_id(i) for i in single if i.get('status') == 'COMPLETED'}
        failed = {instance_record_id(i) for i in single if i.get('status') in ('FAILED', 'ABORTED')}
        summary['records_completed'] = len(completed) + sum(
            instance_records(i) for i in batches if i.get('status') == 'COMPLETED')
        summary['records_failed_never_completed'] = len(failed - completed) + sum(
            instance_records(i) for i in batches if i.get('status') in ('FAILED', 'ABORTED'))
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
    checks['agree'] = (acked == completed and (landed is None or landed == completed)
                       and (dead_lettered <= failed if batched else dead_lettered == failed))
    return checks


def oic_view(run: dict, sent_ids: Set[Optional[str]], password: Optional[str] = None, url: Optional[str] = None,
             username: Optional[str] = None, session_factory: Callable[[], requests.Session] = requests.Session) -> dict:
    """OIC's view of the run: {'check': 'done', ...summary} or {'check': 'skipped: …' | 'failed: …'}."""
    url = url or (monitoring_url(run['oic_url']) if run.get('oic_url') else None)
    username = username or run.get('oic_username')
    password = password if password is not None else os.environ.get('OIC_PASSWORD')
    if not url or not username:
        return {'check': 'skipped: no OIC URL or username in the run record'}
    if not password:
        return {'check': 'skipped: OIC_PASSWORD is not set (the monitoring API needs the same Basic Auth)'}
    if not run.get('started_at') or not run.get('finished_at'):
        return {'check': 'skipped: the run has not finished'}
    q = build_q(rec.parse_timestamp(run['started_at']), rec.parse_timestamp(run['finished_at']),
                integration_code(trigger_url(run)))
    session = session_factory()
    session.auth = (username, password)
    bundle = run.get('oic_ca_bundle')  # The CA the run trusted for OIC (a local stack's), if any.
    try:
        instances = fetch_instances(session, url, q, verify=bundle if bundle and os.path.isfile(bundle) else True)
    except (requests.RequestException, PermissionError, ValueError) as err:
        return {'check': 'failed: %s' % (str(err).splitlines() or [type(err).__name__])[0][:200], 'url': url}
    finally:
        session.close()
    return dict(summarise_instances(instances, sent_ids), check='done', url=url, q=q)
