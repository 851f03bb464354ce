"""OIC tracking instances: a bounded in-memory store and the monitoring API's q={...} filter, order and paging, in
OIC 3's spelling or Gen2's.

Shapes follow Oracle's pages only: "Retrieve Integration Instances" / "Retrieve an Integration Instance" (REST API for
Oracle Integration 3) write the instance schema in kebab-case (`instance-id`, `integration-id`, `creation-date`,
`last-tracked-time`, `has-recoverable-faults`, `trackings`); the Gen2 pages and the answers quoted in Oracle's blogs
use camelCase (`id`, `integrationId`, `creationDate`, `pkName`/`pkValue`, `secondaryTrackingName`/`Value`,
`totalResults`). Nothing the real service lacks: no top-level record count (a batch instance carries its size as a
tracking value, as the integration author maps it: docs/oic-batching.md)."""

import collections
import datetime
import itertools
import re

INTEGRATION_CODE = 'WAREHOUSE_STREAM'
INTEGRATION_VERSION = '01.00.0000'
PROJECT = 'WAREHOUSE'  # The OIC 3 project the stand-in's integrations live in (the v2 trigger URL form).
TIME_WINDOWS = {'1h': 1, '6h': 6, '1d': 24, '2d': 48, '3d': 72, 'RETENTIONPERIOD': None}
FILTER_KEYS = ('timewindow', 'code', 'version', 'status', 'primaryValue', 'secondaryValue', 'businessIDValue',
               'id', 'startdate', 'enddate')
STATUSES = ('COMPLETED', 'FAILED', 'ABORTED', 'IN_PROGRESS')
EDITIONS = ('oic3', 'gen2')
# orderBy of "Retrieve Integration Instances" (OIC 3): lastupdateddate (the default), creationdate, executiontime.
ORDERS = {'lastupdateddate': lambda item: item.ended, 'creationdate': lambda item: item.started,
          'executiontime': lambda item: item.ended - item.started}
# key:'value' or key:'"multi word value"' pairs inside braces, OIC's q syntax.
_PAIR = re.compile(r"""\s*(\w+)\s*:\s*(?:'"([^"]*)"'|'([^']*)'|"([^"]*)")\s*(?:,|$)""")


class QueryError(ValueError):
    """A malformed q, limit or offset parameter."""


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def oic_time(moment):
    """OIC's timestamp form, e.g. 2026-11-27T17:39:56.123+0000."""
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + '%03d+0000' % (moment.microsecond // 1000)


def parse_q(text):
    """'{timewindow:'1h', status:'FAILED'}' -> {'timewindow': '1h', 'status': 'FAILED'}; QueryError if malformed."""
    if not text:
        return {}
    body = text.strip()
    if not (body.startswith('{') and body.endswith('}')):
        raise QueryError("q must look like {timewindow:'1h', status:'FAILED'}")
    body = body[1:-1].strip()
    filters = {}
    position = 0
    while position < len(body):
        match = _PAIR.match(body, position)
        if not match:
            raise QueryError('cannot parse q near %r' % body[position:position + 30])
        key = match.group(1)
        if key not in FILTER_KEYS:
            raise QueryError('unknown q filter %r (supported: %s)' % (key, ', '.join(FILTER_KEYS)))
        filters[key] = next(g for g in match.groups()[1:] if g is not None)
        position = match.end()
    if filters.get('timewindow', '1h') not in TIME_WINDOWS:
        raise QueryError('timewindow must be one of %s' % ', '.join(TIME_WINDOWS))
    if 'status' in filters and filters['status'] not in STATUSES:
        raise QueryError('status must be one of %s' % ', '.join(STATUSES))
    for key in ('startdate', 'enddate'):
        if key in filters:
            filters[key] = _parse_date(filters[key], key)
    return filters


def _parse_date(text, key):
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace('Z', '+00:00').replace(' ', 'T', 1))
    except ValueError:
        raise QueryError('%s is not a UTC date/time: %r' % (key, text)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


class Instance:
    """One finished instance, kept compact (a few hundred bytes): the OIC shape is rendered only when queried."""

    __slots__ = ('id', 'status', 'started', 'ended', 'primary', 'record_id', 'error', 'records', 'code')

    def __init__(self, id_, status, started, ended, primary, record_id, error, records=None, code=None):
        self.id, self.status, self.started, self.ended = id_, status, started, ended
        # The batch integration's instances: their flow code and how many records the request carried.
        self.records, self.code = records, code or INTEGRATION_CODE
        # OIC shows a missing tracking value as ''.
        self.primary, self.record_id, self.error = '' if primary is None else primary, record_id or '', error

    def trackings(self):
        """The tracking values the integrations record: WH_ID (primary), record_id, and the batch's size."""
        found = [{'name': 'WH_ID', 'primary': True, 'value': self.primary}]
        if self.record_id:
            found.append({'name': 'record_id', 'primary': False, 'value': self.record_id})
        if self.records is not None:  # the batch integration maps its request's size to a tracking value
            found.append({'name': 'records', 'primary': False, 'value': str(self.records)})
        return found

    def as_oic(self, edition='oic3'):
        trackings = self.trackings()
        if edition == 'oic3':
            return {
                'instance-id': str(self.id),
                'integration-id': self.code,
                'status': self.status,
                'creation-date': oic_time(self.started),
                'last-tracked-time': oic_time(self.ended),
                'has-recoverable-faults': False,
                'trackings': trackings,
            }
        shape = {
            'id': str(self.id),
            'integrationId': self.code,
            'integrationVersion': INTEGRATION_VERSION,
            'status': self.status,
            'creationDate': oic_time(self.started),
            'lastTrackedTime': oic_time(self.ended),
            'trackings': trackings,
        }
        for (name, value), tracking in zip((('pkName', 'pkValue'), ('secondaryTrackingName', 'secondaryTrackingValue'),
                                            ('tertiaryTrackingName', 'tertiaryTrackingValue')), trackings):
            shape.update({name: tracking['name'], value: tracking['value']})
        return shape


class InstanceStore:
    """The newest `capacity` instances (older ones fall off, so memory stays flat)."""

    def __init__(self, capacity=100000):
        self._items = collections.deque(maxlen=capacity)
        self._ids = itertools.count(1)

    def clear(self):
        self._items.clear()

    def __len__(self):
        return len(self._items)

    def record(self, started, status, primary=None, record_id=None, error=None, records=None, code=None):
        """Adds one finished instance (of the batch integration: `records` in its request, its flow `code`); returns
        its id."""
        instance = Instance(next(self._ids), status, started, now(), primary, record_id, error, records, code)
        self._items.append(instance)
        return str(instance.id)

    def query(self, filters, limit=50, offset=0, edition='oic3', order_by='lastupdateddate'):
        """OIC's response shape in `edition`'s spelling: newest first by `order_by`, filtered, paged."""
        current = now()
        hours = TIME_WINDOWS[filters.get('timewindow', '1h')]
        since = filters.get('startdate') or (current - datetime.timedelta(hours=hours) if hours else None)
        until = filters.get('enddate')
        matched = []
        for item in reversed(self._items):
            if since and item.ended < since or until and item.ended > until:
                continue
            if not _matches(item, filters):
                continue
            matched.append(item)
        matched.sort(key=ORDERS[order_by], reverse=True)
        page = [item.as_oic(edition) for item in matched[offset:offset + limit]]
        if edition == 'oic3':  # The collection in the instance schema's spelling (its own page was not read).
            return {'items': page, 'total-results': len(matched), 'has-more': offset + len(page) < len(matched),
                    'limit': limit, 'offset': offset}
        return {'items': page, 'totalResults': len(matched), 'hasMore': offset + len(page) < len(matched),
                'limit': limit, 'offset': offset}


_FILTER_FIELDS = {'code': lambda item: item.code, 'version': lambda item: INTEGRATION_VERSION,
                  'status': lambda item: item.status, 'primaryValue': lambda item: item.primary,
                  'secondaryValue': lambda item: item.record_id, 'id': lambda item: str(item.id)}


def _matches(item, filters):
    for key, field in _FILTER_FIELDS.items():
        if key in filters and field(item) != filters[key]:
            return False
    value = filters.get('businessIDValue')
    return value is None or value in (item.primary, item.record_id)


def order_by(query):
    """orderBy from the query string (lastupdateddate when absent); QueryError for another value."""
    value = query.get('orderBy', 'lastupdateddate')
    if value not in ORDERS:
        raise QueryError('orderBy must be one of %s' % ', '.join(ORDERS))
    return value


def paging(query):
    """(limit, offset) from the query string; QueryError when they are not sane integers."""
    try:
        limit = int(query.get('limit', 50))
        offset = int(query.get('offset', 0))
    except ValueError:
        raise QueryError('limit and offset must be integers') from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise QueryError('limit must be 1..1000 and offset >= 0')
    return limit, offset
