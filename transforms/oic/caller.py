"""Posts one record to OIC with timeouts, under its flow control (retries and client-side throttling:
transforms/oic/flow_control.py); returns an Outcome, never raises."""

import dataclasses
import json
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, Optional, Protocol, Tuple, Union

import urllib3

from transforms import records as rec
from transforms.oic.auth import BasicAuth, TokenProvider, TokenUnavailable, tls_pool_kwargs
from transforms.oic.errors import OICStopError, OICTLSError, tls_refusal
from transforms.oic.flow_control import FlowControl
from transforms.records import DETAIL_LIMIT
from transforms.oic.urls import redact_url
from transforms.oic.retry import AUTH_STATUSES, RetryPolicy, is_retryable, parse_retry_after
from transforms.oic.retry import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S  # noqa: F401 (part of this API)
# An attempt is not started with less than this left of the record's deadline: its read timeout would be cut to
# that, and OIC might still process a request the record was dead-lettered for (docs/oic-caller.md).
MIN_ATTEMPT_S = 1.0


def error_label(err: BaseException) -> str:
    """A short label for why a request got no answer ('connection refused', 'name not resolved', 'TLS error', …),
    from the exception and its causes; never the message (it can carry hosts and proxies)."""
    seen = set()
    cause: Optional[BaseException] = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return 'connection refused'
        if isinstance(cause, (socket.gaierror, urllib3.exceptions.NameResolutionError)):
            return 'name not resolved'
        if isinstance(cause, ssl.SSLCertVerificationError):
            return 'TLS certificate not trusted'
        if isinstance(cause, (ssl.SSLError, urllib3.exceptions.SSLError)):
            return 'TLS error'
        if isinstance(cause, ConnectionResetError):
            return 'connection reset'
        if isinstance(cause, urllib3.exceptions.ProtocolError):
            return 'connection closed without an answer'
        if isinstance(cause, (socket.timeout, urllib3.exceptions.TimeoutError)) and \
                not isinstance(cause, urllib3.exceptions.NewConnectionError):
            return 'timeout'
        cause = getattr(cause, 'reason', None) or cause.__cause__ or cause.__context__
    return type(err).__name__


class Observer(Protocol):
    """Told about each request as it happens (transforms/live_stats.LiveStats is one)."""

    def request_started(self, attempt: int) -> None: ...

    def request_finished(self, error: Optional[str] = None) -> None: ...


class _NoObserver:
    def request_started(self, attempt: int) -> None:
        pass

    def request_finished(self, error: Optional[str] = None) -> None:
        pass


@dataclasses.dataclass
class Attempt:
    """One request's result: a status, or an error kind ('timeout', 'connection_error', 'deadline', 'stopped').
    'deadline' is the record's own deadline: too little of it left to send (sent False), or no answer within what
    was left of it (sent True: OIC may still process the request). Neither says anything about OIC's capacity."""
    status: Optional[int] = None
    error: Optional[str] = None
    detail: str = ''
    retry_after: Optional[float] = None
    sent: bool = True
    fatal: Optional[OICStopError] = None  # A failure that stops the run (refused client, untrusted certificate).
    answer: bytes = b''  # A success's body (the batch trigger's insertErrors).

    @property
    def retryable(self) -> bool:
        return self.sent and is_retryable(self.status, self.error)

    @property
    def error_text(self) -> Optional[str]:
        """None for a success, else a short label: 'HTTP 503', 'timeout', 'connection refused', …"""
        if self.status is not None:
            return None if 200 <= self.status < 300 else 'HTTP %d' % self.status
        if self.error == 'connection_error' and self.detail:
            return self.detail.split(': ', 1)[-1]
        return self.error


@dataclasses.dataclass
class Outcome:
    """What happened to one record: kind 'ack', 'dead', 'auth' or 'stop' (then `error` stops the run), with the
    counts the metrics need."""
    kind: str
    status: Optional[int]
    attempts: int
    latency_s: float
    reason: str = ''
    detail: str = ''
    overloads: int = 0
    held: int = 0
    held_s: float = 0.0
    error: Optional[OICStopError] = None
    answer: bytes = b''  # A success's body (the batch trigger's insertErrors).


def give_up_reason(last: Attempt, attempts: int, policy: RetryPolicy) -> str:
    """The dead-letter reason for a record whose last attempt was `last`; `attempts` counts those charged against
    the policy's max_attempts (overload answers are not)."""
    if last.error in ('deadline', 'stopped'):
        return 'deadline_exceeded' if last.error == 'deadline' else 'stopped'
    if not last.retryable:
        return 'http_%d' % last.status if last.status is not None else last.error or 'unknown'
    return 'attempts_exhausted' if attempts >= policy.max_attempts else 'deadline_exceeded'


def internal_error(err: BaseException, latency_s: float, attempts: int = 0, **counts: Any) -> Outcome:
    """The dead letter of a record whose call raised (a bug, a record the body cannot be built from): reason
    'internal_error' and the exception's type only (its message may hold a record's values or a credential)."""
    return Outcome('dead', None, attempts=attempts, latency_s=latency_s, reason='internal_error',
                   detail='internal_error: %s' % type(err).__name__, **counts)


class OICCaller:
    """A keep-alive connection pool sized to `concurrency` (the most requests the flow control's limiter allows in
    flight), and one record's requests under its flow control `flow` (thread-safe): each attempt takes a slot of the
    limit and gives it back with what the answer said, so the limit learns from every attempt, retries included.

    urllib3 (what requests is built on) directly: at hundreds of requests per second from one process, requests'
    per-call work (settings merge, environment lookups) holds the GIL long enough to cost a tenth of the throughput.
    """

    def __init__(self, url: str, username: Optional[str], password: Optional[str], concurrency: int,
                 timeouts: Tuple[float, float], flow: FlowControl, payload_shape: str = 'extended',
                 stop_event: Optional[threading.Event] = None, auth: Optional[Union[BasicAuth, TokenProvider]] = None,
                 ca_pem: Optional[str] = None, observer: Optional[Observer] = None,
                 min_attempt_s: float = MIN_ATTEMPT_S):
        """`auth` (transforms.oic.auth: BasicAuth or a TokenProvider) replaces Basic Auth with username/password;
        `ca_pem` (PEM text) is what an https URL's certificate is verified against, else the system's trust store.
        The pool keeps its connections alive: a TLS handshake per connection, not per request. `observer` is told
        of each request as it starts and ends (the live progress line). No request is sent with less than
        `min_attempt_s` (at most the read timeout and half the deadline) left of the record's deadline."""
        self.url, self.flow, self.shape = url, flow, payload_shape
        self.min_attempt_s = min(min_attempt_s, timeouts[1], flow.retry.deadline_s / 2)
        self.observer = observer or _NoObserver()
        self.connect_timeout, self.read_timeout = timeouts
        self.stop_event = stop_event or threading.Event()
        self.auth = auth or BasicAuth(username or '', password or '')  # Basic Auth: both given (config checks)
        self._headers = urllib3.make_headers(keep_alive=True)
        self._headers['Content-Type'] = 'application/json'
        self.pool = urllib3.connection_from_url(url, maxsize=concurrency, block=True, retries=False,
                                                **tls_pool_kwargs(url, ca_pem))
        self._path = urllib.parse.urlsplit(url)._replace(scheme='', netloc='').geturl() or '/'

    def close(self) -> None:
        self.pool.close()

    def call(self, record: dict) -> Outcome:
        """Posts `record` until it is accepted, refused for good, or the policy gives up; never raises: whatever
        raises in here (a bug, a record the body cannot be built from) dead-letters the record as
        'internal_error'."""
        return self._guarded(lambda: rec.oic_payload(record, self.shape))

    def call_body(self, body: Any, deadline_s: Optional[float] = None) -> Outcome:
        """Posts the JSON value `body` (one record's payload, or a batch: transforms/oic/batch) as `call` does; a
        success's Outcome carries the answer's bytes. `deadline_s`, when given, replaces the policy's deadline for
        this call (what is left of a batch's deadline after its earlier requests: docs/oic-batching.md)."""
        return self._guarded(lambda: body, self.flow.within(deadline_s))

    def _guarded(self, make_body: Callable[[], Any], flow: Optional[FlowControl] = None) -> Outcome:
        started = time.monotonic()
        counts = {'attempts': 0, 'charged': 0, 'overloads': 0, 'held': 0, 'held_s': 0.0}
        try:
            return self._call(make_body, started, counts, flow or self.flow)
        except Exception as err:
            return internal_error(err, time.monotonic() - started, int(counts['attempts']),
                                  overloads=int(counts['overloads']), held=int(counts['held']),
                                  held_s=counts['held_s'])

    def _call(self, make_body: Callable[[], Any], started: float, counts: Dict[str, Any],
              flow: FlowControl) -> Outcome:
        deadline = started + flow.retry.deadline_s
        body = make_body()
        try:
            last = flow.run(lambda: self._send(body, deadline, counts),
                                     lambda kind: Attempt(error=kind, sent=False), deadline, self.stop_event, counts)
        except Exception as err:  # A bug in this loop must not lose the record: dead-letter it with the error kind.
            last = Attempt(error='internal_error', detail='internal_error: %s' % type(err).__name__, sent=False)
        elapsed = time.monotonic() - started
        common: Dict[str, Any] = dict(attempts=counts['attempts'], latency_s=elapsed, overloads=counts['overloads'],
                                      held=counts['held'], held_s=counts['held_s'])
        if last.fatal is not None:
            return Outcome('stop', None, reason='stopped', error=last.fatal, **common)
        if last.status is not None and 200 <= last.status < 300:
            return Outcome('ack', last.status, answer=last.answer, **common)
        if last.status in AUTH_STATUSES:
            return Outcome('auth', last.status, reason='http_%d' % last.status, detail=last.detail, **common)
        return Outcome('dead', last.status, reason=give_up_reason(last, int(counts['charged']), flow.retry),
                       detail=last.detail, **common)

    def _authorization(self, deadline):
        """(header, None), or (None, Attempt) when no header can be had: a passing token endpoint failure (retried
        with the record's backoff) or a failure that stops the run."""
        try:
            return self.auth.header(max(deadline - time.monotonic(), 0.001)), None
        except TokenUnavailable as err:
            return None, Attempt(error='token_unavailable', detail=('token_unavailable: %s' % err)[:DETAIL_LIMIT])
        except OICStopError as err:
            return None, Attempt(error='stopped', sent=False, fatal=err)

    def _send(self, body, deadline, counts):
        """One attempt: the record posted with the current credentials; a 401 to a token that was accepted before
        (it expired or was revoked) gets one new token and one more request."""
        header, failed = self._authorization(deadline)
        if failed:
            counts['attempts'] += 1  # an attempt without a request: it counts against max_attempts
            return failed
        result = self._observed_post(body, deadline, header, counts)
        if result.status == 401 and self.auth.invalidate(header):
            header, failed = self._authorization(deadline)
            if failed:
                return failed
            result = self._observed_post(body, deadline, header, counts)
        return result

    def _observed_post(self, body, deadline, authorization, counts) -> 'Attempt':
        """_post, with the observer told when the request starts and how it ended; no request when less than
        `min_attempt_s` of the record's deadline is left (a slot handed out late, a slow token fetch). Notes the
        attempt in `counts` and when its request was sent (the gate's clock: the limiter's) in counts['sent_at']."""
        if deadline - time.monotonic() < self.min_attempt_s:
            return Attempt(error='deadline', sent=False,
                           detail='deadline: less than %g s of the record\'s deadline left, not sent'
                           % self.min_attempt_s)
        counts['attempts'] += 1
        counts['sent_at'] = self.flow.clock()
        self.observer.request_started(int(counts['attempts']))
        try:
            result = self._post(body, deadline, authorization)
        except BaseException:
            self.observer.request_finished('client error')
            raise
        self.observer.request_finished(result.error_text)
        return result

    def _post(self, body, deadline, authorization):
        remaining = max(deadline - time.monotonic(), 0.001)
        # The read timeout never runs past the record's deadline; when that cuts it, a timeout is the record's
        # deadline, not OIC failing to answer within --oic_read_timeout: no back-pressure (docs/oic-caller.md).
        cut = remaining < self.read_timeout
        timeout = urllib3.Timeout(connect=self.connect_timeout, read=min(self.read_timeout, remaining))
        headers = dict(self._headers, Authorization=authorization)
        try:
            response = self.pool.urlopen('POST', self._path, body=json.dumps(body).encode('utf-8'),
                                         headers=headers, timeout=timeout)
        except urllib3.exceptions.SSLError as err:
            refusal = tls_refusal(err)
            if refusal is None:  # A handshake cut short (an overloaded server): like any connection error.
                return Attempt(error='connection_error', detail='connection_error: SSLError')
            return Attempt(error='stopped', sent=False, fatal=OICTLSError(
                'OIC\'s certificate at %s is not trusted (%s); pass --oic_ca_bundle FILE with the CA that issued it'
                % (redact_url(self.url), refusal)))
        except urllib3.exceptions.NewConnectionError as err:  # A TimeoutError subclass in urllib3 2, yet no timeout.
            return Attempt(error='connection_error', detail='connection_error: %s' % error_label(err))
        except urllib3.exceptions.ReadTimeoutError as err:
            if cut:
                return Attempt(error='deadline', detail='deadline: no answer within the %.3g s left of the '
                               'record\'s deadline; OIC may still process it' % remaining)
            return Attempt(error='timeout', detail='timeout: %s' % type(err).__name__)
        except urllib3.exceptions.TimeoutError as err:
            return Attempt(error='timeout', detail='timeout: %s' % type(err).__name__)
        except urllib3.exceptions.HTTPError as err:  # Only the kind: messages can carry hosts and proxies.
            return Attempt(error='connection_error', detail='connection_error: %s' % error_label(err))
        if 200 <= response.status < 300:
            return Attempt(status=response.status, answer=response.data)
        return Attempt(status=response.status, detail=response.data.decode('utf-8', 'replace')[:DETAIL_LIMIT],
                       retry_after=parse_retry_after(response.headers.get('Retry-After')))
