"""The OIC branch's caller: posts each record to the OIC REST trigger with Basic Auth, many requests in flight."""

import concurrent.futures
import time

import apache_beam as beam
import requests
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue
from requests.adapters import HTTPAdapter

from transforms import records as rec
from transforms.credentials import PasswordRef
from transforms.source import METRICS_NAMESPACE

DEAD_LETTER = 'dead_letter'
AUTH_STATUSES = (401, 403)
DETAIL_LIMIT = 300


class OICAuthError(RuntimeError):
    """OIC refused the credentials: retrying every record with a wrong password helps no one, so the run stops."""


def classify(status):
    """'ok', 'auth' or 'error' for an HTTP status (retries arrive with the resilient caller)."""
    if 200 <= status < 300:
        return 'ok'
    if status in AUTH_STATUSES:
        return 'auth'
    return 'error'


def ack(record, status, attempts, latency_s, path='oic'):
    return {
        'path': path, 'record_id': record.get('record_id'), 'status': status, 'attempts': attempts,
        'latency_ms': round(latency_s * 1000, 3), 'event_time': record.get('event_time'),
        'ack_time': rec.format_timestamp(rec.utc_now()),
    }


def dead_letter(record, reason, status, attempts, detail='', path='oic'):
    return {
        'path': path, 'record_id': record.get('record_id'), 'reason': reason, 'status': status,
        'attempts': attempts, 'detail': (detail or '')[:DETAIL_LIMIT], 'record': record,
        'error_time': rec.format_timestamp(rec.utc_now()),
    }


class _PostFn(beam.DoFn):
    """record -> acknowledgement (main) or dead letter (tagged); up to `concurrency` requests in flight.

    Every record handed to the DoFn is acknowledged or dead-lettered before its bundle finishes.
    """

    def __init__(self, url, username, password_ref, payload_shape, concurrency, connect_timeout, read_timeout):
        self._url, self._username, self._password_ref = url, username, password_ref
        self._shape, self._concurrency = payload_shape, concurrency
        self._timeout = (connect_timeout, read_timeout)
        self.requests = Metrics.counter(METRICS_NAMESPACE, 'oic_requests')
        self.acked = Metrics.counter(METRICS_NAMESPACE, 'oic_acked')
        self.dead = Metrics.counter(METRICS_NAMESPACE, 'oic_dead_lettered')
        self.latency = Metrics.distribution(METRICS_NAMESPACE, 'oic_latency_ms')

    def setup(self):
        self._session = requests.Session()
        self._session.auth = (self._username, self._password_ref.read())
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._concurrency)
        self._session.mount('http://', adapter)
        self._session.mount('https://', adapter)
        self._session.headers['Content-Type'] = 'application/json'
        self._executor = concurrent.futures.ThreadPoolExecutor(self._concurrency, thread_name_prefix='oic-post')

    def start_bundle(self):
        self._pending = {}

    def process(self, record, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        while len(self._pending) >= self._concurrency:
            yield from self._collect(concurrent.futures.FIRST_COMPLETED)
        future = self._executor.submit(self._call, record)
        self._pending[future] = (timestamp, window)
        yield from self._collect(timeout=0)

    def finish_bundle(self):
        yield from self._collect(concurrent.futures.ALL_COMPLETED)

    def teardown(self):
        executor = getattr(self, '_executor', None)
        if executor:
            executor.shutdown(wait=True, cancel_futures=True)
        session = getattr(self, '_session', None)
        if session:
            session.close()

    def _collect(self, return_when=concurrent.futures.ALL_COMPLETED, timeout=None):
        """Yields the outcomes of finished requests, waiting as `return_when` says."""
        if not self._pending:
            return
        done, _ = concurrent.futures.wait(list(self._pending), timeout=timeout, return_when=return_when)
        for future in done:
            timestamp, window = self._pending.pop(future)
            kind, value = future.result()
            if kind == 'auth':
                raise OICAuthError(value)
            if kind == 'ack':
                yield WindowedValue(value, timestamp, [window])
            else:
                yield pvalue.TaggedOutput(DEAD_LETTER, WindowedValue(value, timestamp, [window]))

    def _call(self, record):
        """One record's request; returns ('ack', …), ('dead', …) or ('auth', message) and never raises."""
        body = rec.oic_payload(record, self._shape)
        started = time.monotonic()
        self.requests.inc()
        try:
            response = self._session.post(self._url, json=body, timeout=self._timeout)
        except requests.Timeout as err:
            self.dead.inc()
            return 'dead', dead_letter(record, 'timeout', None, 1, type(err).__name__)
        except requests.RequestException as err:
            self.dead.inc()
            return 'dead', dead_letter(record, 'connection_error', None, 1, type(err).__name__)
        elapsed = time.monotonic() - started
        outcome = classify(response.status_code)
        if outcome == 'ok':
            self.acked.inc()
            self.latency.update(int(elapsed * 1000))
            return 'ack', ack(record, response.status_code, 1, elapsed)
        if outcome == 'auth':
            return 'auth', ('OIC refused the credentials of user %r (HTTP %d); check --oic_username and the '
                            'password' % (self._username, response.status_code))
        self.dead.inc()
        return 'dead', dead_letter(record, 'http_%d' % response.status_code, response.status_code, 1,
                                   response.text)


class PostToOIC(beam.PTransform):
    """Posts records to the OIC REST trigger; returns acknowledgements and `.dead_letter`.

    Element in:  a valid record dict.
    Main out:    {'path': 'oic', 'record_id': '…', 'status': 200, 'attempts': 1, 'latency_ms': 41.2,
                  'event_time': '…Z', 'ack_time': '…Z'}
    .dead_letter: {'path': 'oic', 'record_id': '…', 'reason': 'http_400', 'status': 400, 'attempts': 1,
                   'detail': '…', 'record': {…}, 'error_time': '…Z'}
    """

    def __init__(self, url, username, password_ref=PasswordRef(), payload_shape='extended', concurrency=16,
                 connect_timeout=5.0, read_timeout=30.0):
        super().__init__()
        self._fn = _PostFn(url, username, password_ref, payload_shape, concurrency, connect_timeout, read_timeout)

    def expand(self, records):
        return records | 'Post' >> beam.ParDo(self._fn).with_outputs(DEAD_LETTER, main='acks')
