"""Row-level faults of the batch trigger (`row_error_rates`): a share of rows refused as BigQuery's insertAll would
refuse them, by reason, retryable (backendError, ...) or not (invalid, ...). Parsed here, drawn per row per attempt."""

import random

REASONS = ('backendError', 'internalError', 'timeout', 'stopped', 'invalid', 'notFound', 'accessDenied')


def parse_rates(value):
    """{"backendError": 0.05, "invalid": 0.01} -> the same, validated; ValueError with the reason."""
    if not isinstance(value, dict):
        raise ValueError('row_error_rates must be an object like {"backendError": 0.05, "invalid": 0.01}')
    clean = {}
    for reason, rate in value.items():
        if reason not in REASONS:
            raise ValueError('row_error_rates supports reasons %s, got %r' % (', '.join(REASONS), reason))
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError('row_error_rates[%s] must be a number between 0 and 1, got %r' % (reason, rate))
        clean[reason] = float(rate)
    if sum(clean.values()) > 1:
        raise ValueError('row_error_rates add up to more than 1')
    return clean


def draw(rates, seed, record_id, attempt, rng=random):
    """The reason a row is refused with on this attempt, or None. With a seed and a record_id the draw depends only on
    (seed, record_id, attempt), whatever order requests arrive in."""
    if not rates:
        return None
    if seed is not None and record_id:
        rng = random.Random('%d/row/%s/%d' % (seed, record_id, attempt))
    u = rng.random()
    edge = 0.0
    for reason in sorted(rates):
        edge += rates[reason]
        if u < edge:
            return reason
    return None
