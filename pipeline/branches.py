"""The two paths a record can take to BigQuery, each recording what it sent, what was acknowledged and what failed."""

import apache_beam as beam

from transforms.bigquery import WriteDirect
from transforms.credentials import PasswordRef
from transforms.oic import PostToOIC
from transforms.rate_limit import GlobalRateLimit, TakeGlobalBudget
from transforms.run_record import RecordRun


class OICPath(beam.PTransform):
    """Posts records to OIC and records sent records, acknowledgements and dead letters under `out/oic/`.

    Element in: a valid record dict. Out: the path's dead letters (already recorded).
    """

    def __init__(self, config):
        super().__init__()
        self._config = config

    def expand(self, records):
        c = self._config
        _ = records | 'RecordSent' >> RecordRun(c.out, 'oic/sent')
        if c.oic_rate_limiter:
            records = records | 'GlobalBudget' >> TakeGlobalBudget(
                GlobalRateLimit.for_url(c.oic_rate_limiter, c.oic_rate_limit_domain, c.oic_url))
        posted = records | 'Post' >> PostToOIC(
            c.oic_url, c.oic_username,
            password_ref=PasswordRef(secret=c.oic_password_secret) if c.oic_password_secret else PasswordRef(),
            payload_shape=c.oic_payload, concurrency=c.oic_worker_concurrency,
            connect_timeout=c.oic_connect_timeout, read_timeout=c.oic_read_timeout,
            max_attempts=c.oic_max_attempts, deadline_s=c.oic_deadline, max_rps=c.oic_worker_max_rps or None,
            allow_insecure_http=c.allow_insecure_http)
        _ = posted.acks | 'RecordAcks' >> RecordRun(c.out, 'oic/acks')
        _ = posted.dead_letter | 'RecordDeadLetters' >> RecordRun(c.out, 'oic/dead_letters')
        return posted.dead_letter


class DirectPath(beam.PTransform):
    """Streams records into the direct table and records sent records and refused rows under `out/direct/`.

    Element in: a valid record dict. Out: the rows BigQuery refused, as dead letters (already recorded).
    """

    def __init__(self, config):
        super().__init__()
        self._config = config

    def expand(self, records):
        c = self._config
        _ = records | 'RecordSent' >> RecordRun(c.out, 'direct/sent')
        failed = records | 'Write' >> WriteDirect(c.direct_table, emulator_host=c.emulator_host, method=c.direct_method)
        _ = failed | 'RecordDeadLetters' >> RecordRun(c.out, 'direct/dead_letters')
        return failed
