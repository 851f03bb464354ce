"""Fault injection settings for the OIC stand-in: parsing/validation and seeded per-request draws."""

import math
import random

from devstack.oic import row_faults

ERROR_STATUSES = (408, 429, 500, 502, 503, 504)
OVER_CAPACITY = ('reject', 'queue')
DEFAULTS = {
    'seed': None,            # int: makes every random draw reproducible
    'latency_ms': 0,         # fixed extra latency per trigger request
    'jitter_ms': 0,          # plus uniform random latency in [0, jitter_ms]
    # The service-time model (service_time_ms): OIC's own work per request, spent holding a capacity slot before the
    # insertAll, on top of latency_ms + jitter and of the real insert. Lognormal around a median, with outliers.
    'service_ms': 0,         # median service time in ms (0 = no model)
    'service_sigma': 0.0,    # lognormal sigma (0 = always the median)
    'outlier_rate': 0.0,     # share of requests whose service time is multiplied by outlier_factor
    'outlier_factor': 10.0,
    'error_rates': {},       # {"429": 0.1, "500": 0.05, "502": 0, "503": 0}: answer that status instead
    'retry_after': 1,        # seconds, sent as Retry-After with every 429 and 503 (null: no Retry-After header)
    'hang_rate': 0.0,        # share of requests that sleep hang_seconds, then are processed normally
    'hang_seconds': 30.0,
    'drop_rate': 0.0,        # share of requests whose connection is closed with no response, nothing stored
    'drop_after_rate': 0.0,  # share of requests stored in BigQuery, then the connection is closed (lost ack)
    # share of requests stored in BigQuery, then answered late_answer_seconds later: set it above the caller's
    # --oic_read_timeout and the caller gives up and sends the request again (a late ack, as a slow OIC gives)
    'late_answer_rate': 0.0,
    'late_answer_seconds': 60.0,
    # Capacity (devstack/oic/capacity.py): the cap is max_concurrency if set, else 100 x message_packs (400 x if byol).
    'max_concurrency': 0,    # trigger requests served at once (0 = unlimited unless message_packs is set)
    'message_packs': 0,      # OIC message packs: 100 concurrent synchronous requests each
    'byol': False,           # bring-your-own-licence packs: 400 each
    'over_capacity': 'reject',  # beyond the cap: "reject" answers 429 at once, "queue" waits for a free slot
    'reject': [],            # [{"field": "WH_ID", "values": ["WH3"], "status": 400}]: deterministic failures
}

# The batch trigger's row faults (devstack/oic/app/batch_trigger.py, row_faults.py): kept apart from the request faults.
DEFAULTS['row_error_rates'] = {}  # {"backendError": 0.05, "invalid": 0.01}: share of rows refused, by insertAll reason; both triggers
# The batch trigger's answer faults (devstack/oic/answer_faults.py), drawn per batch request.
DEFAULTS['mapper_shape_rate'] = 0.0  # share of answers in an OIC mapper's shape (objects for 1-element arrays, "3")
DEFAULTS['html_answer_rate'] = 0.0   # share of requests answered 200 with an HTML page, nothing inserted


MAX_SIGMA = 3.0            # beyond it a lognormal's tail is minutes for a median of a second: a typo, not a model
MAX_OUTLIER_FACTOR = 1000.0


class FaultError(ValueError):
    """The fault settings are not valid; the message says which setting and why."""


def service_time_ms(median_ms, sigma, outlier_rate, outlier_factor, u_outlier, u_1, u_2):
    """One service time in ms from three uniform draws in [0, 1): lognormal with the given median and sigma (the
    normal deviate by Box-Muller from u_1, u_2), times outlier_factor when u_outlier < outlier_rate. Pure."""
    if not median_ms:
        return 0.0
    normal = math.sqrt(-2.0 * math.log(1.0 - u_1)) * math.cos(2.0 * math.pi * u_2)
    drawn = median_ms * math.exp(sigma * normal)
    return drawn * outlier_factor if u_outlier < outlier_rate else drawn


def draw_service_ms(settings, rng):
    """A service time in ms for the settings, drawn from rng (random.Random): three draws when the model is on,
    none when service_ms is 0 (so the other faults' seeded draws stay as they were without it)."""
    if not settings['service_ms']:
        return 0.0
    u_outlier, u_1, u_2 = rng.random(), rng.random(), rng.random()
    return service_time_ms(settings['service_ms'], settings['service_sigma'], settings['outlier_rate'],
                           settings['outlier_factor'], u_outlier, u_1, u_2)


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
    for name in ('latency_ms', 'jitter_ms', 'hang_seconds', 'service_ms', 'late_answer_seconds'):
        clean[name] = _non_negative(name, clean[name])
    sigma = clean['service_sigma']
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma <= MAX_SIGMA:
        raise FaultError('service_sigma must be a number between 0 and %g, got %r' % (MAX_SIGMA, sigma))
    clean['service_sigma'] = float(sigma)
    factor = clean['outlier_factor']
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 1 <= factor <= MAX_OUTLIER_FACTOR:
        raise FaultError('outlier_factor must be a number between 1 and %g, got %r' % (MAX_OUTLIER_FACTOR, factor))
    clean['outlier_factor'] = float(factor)
    if clean['retry_after'] is not None:
        clean['retry_after'] = _non_negative('retry_after', clean['retry_after'])
    clean['max_concurrency'] = _non_negative('max_concurrency', clean['max_concurrency'], int)
    clean['message_packs'] = _non_negative('message_packs', clean['message_packs'], int)
    if not isinstance(clean['byol'], bool):
        raise FaultError('byol must be true or false, got %r' % (clean['byol'],))
    if clean['over_capacity'] not in OVER_CAPACITY:
        raise FaultError('over_capacity must be one of %s, got %r' % (', '.join(OVER_CAPACITY), clean['over_capacity']))
    for name in ('hang_rate', 'drop_rate', 'drop_after_rate', 'outlier_rate', 'mapper_shape_rate', 'html_answer_rate',
                 'late_answer_rate'):
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


# The service-time model as command-line flags (python -m devstack.oic.server and python -m devstack up): flag,
# setting, help. A flag given wins over the same key in --faults.
SERVICE_FLAGS = (
    ('--service-ms', 'service_ms', 'median service time per request in ms, spent holding a capacity slot before the '
                                   'insert (default 0: no model)'),
    ('--service-sigma', 'service_sigma', 'lognormal sigma of the service time (default 0: always the median)'),
    ('--outlier-rate', 'outlier_rate', 'share of requests whose service time is multiplied by --outlier-factor '
                                       '(default 0)'),
    ('--outlier-factor', 'outlier_factor', 'the outliers\' multiplier (default 10)'),
)


def add_service_arguments(parser):
    """Adds the SERVICE_FLAGS to an argparse parser (their draws follow the settings' seed)."""
    for flag, _, text in SERVICE_FLAGS:
        parser.add_argument(flag, type=float, default=None, metavar='N', help=text)


def with_service_flags(settings, args):
    """The fault settings (a dict or None) with the service flags that were given on the command line."""
    given = {name: getattr(args, name) for _, name, _ in SERVICE_FLAGS if getattr(args, name) is not None}
    if not given:
        return settings
    if settings is not None and not isinstance(settings, dict):
        raise FaultError('fault settings must be a JSON object')
    return dict(settings or {}, **given)


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
        self._answer_rng = self._answer_random()

    def update(self, changes):
        """Changes only the given settings (the others keep their current values)."""
        if not isinstance(changes, dict):
            raise FaultError('fault settings must be a JSON object')
        self.settings = parse(dict(self.settings, **changes))
        if 'seed' in changes:
            self._sequence = 0
            self._rng = random.Random(self.settings['seed'])
            self._answer_rng = self._answer_random()

    def _answer_random(self):
        seed = self.settings['seed']
        return random.Random(None if seed is None else '%d/answer' % seed)

    def answer_fate(self):
        """The batch trigger's answer faults for one request: {'html': bool, 'mapper': bool}. A sequence of its own
        (seeded by the seed), so the request draws above are the same with or without these faults."""
        u_html, u_mapper = self._answer_rng.random(), self._answer_rng.random()
        return {'html': u_html < self.settings['html_answer_rate'],
                'mapper': u_mapper < self.settings['mapper_shape_rate']}

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
        service = draw_service_ms(s, rng) / 1000.0
        # Drawn last and only when on, so that the other faults' seeded draws stay as they were without it.
        late = s['late_answer_seconds'] if s['late_answer_rate'] and rng.random() < s['late_answer_rate'] else 0.0
        return {
            'delay': (s['latency_ms'] + u_jitter * s['jitter_ms']) / 1000.0,
            'service': service,
            'late': late,
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
