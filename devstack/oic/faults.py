"""Fault injection settings for the OIC stand-in: parsing/validation and seeded per-request draws."""

import random

from devstack.oic import row_faults

ERROR_STATUSES = (408, 429, 500, 502, 503, 504)
OVER_CAPACITY = ('reject', 'queue')
DEFAULTS = {
    'seed': None,            # int: makes every random draw reproducible
    'latency_ms': 0,         # fixed extra latency per trigger request
    'jitter_ms': 0,          # plus uniform random latency in [0, jitter_ms]
    'error_rates': {},       # {"429": 0.1, "500": 0.05, "502": 0, "503": 0}: answer that status instead
    'retry_after': 1,        # seconds, sent as Retry-After with every 429 and 503 (null: no Retry-After header)
    'hang_rate': 0.0,        # share of requests that sleep hang_seconds, then are processed normally
    'hang_seconds': 30.0,
    'drop_rate': 0.0,        # share of requests whose connection is closed with no response, nothing stored
    'drop_after_rate': 0.0,  # share of requests stored in BigQuery, then the connection is closed (lost ack)
    # Capacity (devstack/oic/capacity.py): the cap is max_concurrency if set, else 100 x message_packs (400 x if byol).
    'max_concurrency': 0,    # trigger requests served at once (0 = unlimited unless message_packs is set)
    'message_packs': 0,      # OIC message packs: 100 concurrent synchronous requests each
    'byol': False,           # bring-your-own-licence packs: 400 each
    'over_capacity': 'reject',  # beyond the cap: "reject" answers 429 at once, "queue" waits for a free slot
    'reject': [],            # [{"field": "WH_ID", "values": ["WH3"], "status": 400}]: deterministic failures
}

# The batch trigger's row faults (devstack/oic/batch_trigger.py, row_faults.py): kept apart from the request faults.
DEFAULTS['row_error_rates'] = {}  # {"backendError": 0.05, "invalid": 0.01}: share of rows refused, by insertAll reason


class FaultError(ValueError):
    """The fault settings are not valid; the message says which setting and why."""


def _rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise FaultError('%s must be a number between 0 and 1, got %r' % (name, value))
    return float(value)


def _non_negative(name, value, kind=(int, float)):
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
        raise FaultError('%s must be a non-negative number, got %r' % (name, value))
    return value


def _rules(value):
    rules = [value] if isinstance(value, dict) else value
    if not isinstance(rules, list):
        raise FaultError('reject must be a rule object or a list of them')
    clean = []
    for rule in rules:
        if not isinstance(rule, dict) or set(rule) - {'field', 'values', 'status'} or 'field' not in rule:
            raise FaultError('a reject rule is {"field": F, "values": [..], "status": 4xx/5xx}, got %r' % (rule,))
        values = rule.get('values', [])
        if not isinstance(values, list):
            raise FaultError('reject values must be a list')
        status = rule.get('status', 400)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultError('reject status must be an HTTP error status, got %r' % (status,))
        clean.append({'field': str(rule['field']), 'values': [str(v) for v in values], 'status': status})
    return clean


def parse(settings):
    """Validates a settings dict (missing keys take defaults) and returns the complete, normalised settings."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise FaultError('fault settings must be a JSON object')
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise FaultError('unknown fault setting(s): %s (known: %s)' % (', '.join(unknown), ', '.join(DEFAULTS)))
    clean = dict(DEFAULTS, **settings)
    seed = clean['seed']
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultError('seed must be an integer or null')
    for name in ('latency_ms', 'jitter_ms', 'hang_seconds'):
        clean[name] = _non_negative(name, clean[name])
    if clean['retry_after'] is not None:
        clean['retry_after'] = _non_negative('retry_after', clean['retry_after'])
    clean['max_concurrency'] = _non_negative('max_concurrency', clean['max_concurrency'], int)
    clean['message_packs'] = _non_negative('message_packs', clean['message_packs'], int)
    if not isinstance(clean['byol'], bool):
        raise FaultError('byol must be true or false, got %r' % (clean['byol'],))
    if clean['over_capacity'] not in OVER_CAPACITY:
        raise FaultError('over_capacity must be one of %s, got %r' % (', '.join(OVER_CAPACITY), clean['over_capacity']))
    for name in ('hang_rate', 'drop_rate', 'drop_after_rate'):
        clean[name] = _rate(name, clean[name])
    rates = clean['error_rates']
    if not isinstance(rates, dict):
        raise FaultError('error_rates must be an object like {"503": 0.1}')
    clean_rates = {}
    for status, rate in rates.items():
        if str(status) not in {str(s) for s in ERROR_STATUSES}:
            raise FaultError('error_rates supports statuses %s, got %r' % (ERROR_STATUSES, status))
        clean_rates[str(status)] = _rate('error_rates[%s]' % status, rate)
    if sum(clean_rates.values()) > 1:
        raise FaultError('error_rates add up to more than 1')
    clean['error_rates'] = clean_rates
    clean['reject'] = _rules(clean['reject'])
    clean['row_error_rates'] = _row_rates(clean['row_error_rates'])
    return clean


def _row_rates(value):
    """The batch trigger's row_error_rates, validated (devstack/oic/row_faults.py)."""
    try:
        return row_faults.parse_rates(value)
    except ValueError as error:
        raise FaultError(str(error)) from None


class Faults:
    """The active settings and the random source; one draw() per trigger request."""

    def __init__(self, settings=None):
        self.set(settings)

    def set(self, settings):
        self.settings = parse(settings)
        self._sequence = 0
        self._rng = random.Random(self.settings['seed'])

    def update(self, changes):
        """Changes only the given settings (the others keep their current values)."""
        if not isinstance(changes, dict):
            raise FaultError('fault settings must be a JSON object')
        self.settings = parse(dict(self.settings, **changes))
        if 'seed' in changes:
            self._sequence = 0
            self._rng = random.Random(self.settings['seed'])

    def draw(self, record_id=None, attempt=1):
        """The fate of one request. With a seed and a record_id it depends only on (seed, record_id, attempt),
        so it is the same whatever order concurrent requests arrive in; otherwise it follows the seeded sequence."""
        s = self.settings
        if s['seed'] is not None and record_id:
            rng = random.Random('%d/%s/%d' % (s['seed'], record_id, attempt))
        else:
            rng = self._rng
        self._sequence += 1
        u_drop, u_drop_after, u_hang, u_error, u_jitter = (rng.random() for _ in range(5))
        error = None
        edge = 0.0
        for status in sorted(s['error_rates']):
            edge += s['error_rates'][status]
            if u_error < edge:
                error = int(status)
                break
        return {
            'delay': (s['latency_ms'] + u_jitter * s['jitter_ms']) / 1000.0,
            'drop': u_drop < s['drop_rate'],
            'drop_after': u_drop_after < s['drop_after_rate'],
            'hang': s['hang_seconds'] if u_hang < s['hang_rate'] else 0.0,
            'error': error,
        }

    def rejection(self, record):
        """(status, reason) when a reject rule matches the record, else None."""
        if not isinstance(record, dict):
            return None
        for rule in self.settings['reject']:
            value = record.get(rule['field'])
            if value is not None and str(value) in rule['values']:
                return rule['status'], 'rejected by fault rule: %s=%s' % (rule['field'], value)
        return None
