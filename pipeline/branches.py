"""The two paths a record can take to BigQuery, each recording what it sent, what was acknowledged and what failed."""

import apache_beam as beam

from transforms.bigquery import WriteDirect
from transforms.credentials import PasswordRef
from transforms.oic import PostToOIC
from transforms.recording import RecordRun


class OICPath(beam.PTransform):
    """Posts records to OIC and records sent records, acknowledgements and dead letters under `out/oic/`.

    Element in: a valid record dict. Nothing comes out: the run record is the output.
    """

    def __init__(self, config):
        super().__init__()
        self._config = config

    def expand(self, records):
        c = self._config
        _ = records | 'RecordSent' >> RecordRun(c.out, 'oic/sent')
        posted = records | 'Post' >> PostToOIC(
            c.oic_url, c.oic_username,
            password_ref=PasswordRef(secret=c.oic_password_secret) if c.oic_password_secret else PasswordRef(),
            payload_shape=c.oic_payload, concurrency=c.oic_worker_concurrency,
            connect_timeout=c.oic_connect_timeout, read_timeout=c.oic_read_timeout)
        _ = posted.acks | 'RecordAcks' >> RecordRun(c.out, 'oic/acks')
        return posted.dead_letter | 'RecordDeadLetters' >> RecordRun(c.out, 'oic/dead_letters')


class DirectPath(beam.PTransform):
    """Streams records into the direct table and records sent records and refused rows under `out/direct/`.

    Element in: a valid record dict. Nothing comes out: the run record is the output.
    """

    def __init__(self, config):
        super().__init__()
        self._config = config

    def expand(self, records):
        c = self._config
        _ = records | 'RecordSent' >> RecordRun(c.out, 'direct/sent')
        failed = records | 'Write' >> WriteDirect(c.direct_table, emulator_host=c.emulator_host)
        return failed | 'RecordDeadLetters' >> RecordRun(c.out, 'direct/dead_letters')
