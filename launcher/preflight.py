"""Pre-flight: can this machine reach OIC (and the BigQuery emulator) before the pipeline starts?

Resolves the host, opens a TCP connection and, for https, completes a TLS handshake that verifies the certificate,
each within a few seconds. Nothing is sent over the connection: pre-flight never posts a record. A failure is one
line naming the cause, e.g. `cannot reach OIC at HOST:PORT: connection refused`.

Written on the standard library's socket and ssl (no HTTP client): the point is to tell resolution, connection and
TLS apart, which an HTTP client folds into one "connection error".
"""

import dataclasses
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Callable, List, Optional, Tuple

DEFAULT_TIMEOUT_S = 3.0  # For each step (resolve, connect, TLS handshake).


class Unreachable(Exception):
    """An endpoint cannot be reached from this machine; str() is the one line to print."""


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """What to check: a name for the message ('OIC', 'the BigQuery emulator') and the URL's scheme, host and port."""
    name: str
    scheme: str
    host: str
    port: int
    ca_bundle: Optional[str] = None  # PEM file of the CAs to trust for https (None = the system's).

    @classmethod
    def from_url(cls, name: str, url: str, ca_bundle: Optional[str] = None) -> 'Endpoint':
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme or 'http'
        port = parts.port or (443 if scheme == 'https' else 80)
        return cls(name, scheme, parts.hostname or '', port, ca_bundle)

    @property
    def address(self) -> str:
        host = '[%s]' % self.host if ':' in self.host else self.host
        return '%s:%d' % (host, self.port)


def _resolve(host: str, port: int, timeout: float) -> List[Tuple]:
    """getaddrinfo with a deadline (it has none of its own: a resolver that does not answer can take minutes)."""
    found: dict = {}

    def lookup() -> None:
        try:
            found['addresses'] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as err:
            found['error'] = err

    thread = threading.Thread(target=lookup, name='preflight-resolve', daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise Unreachable('name not resolved within %gs' % timeout)
    if 'error' in found:
        err = found['error']
        if isinstance(err, socket.gaierror) and err.errno in (socket.EAI_NONAME, getattr(socket, 'EAI_NODATA', -5)):
            raise Unreachable('name not resolved')
        raise Unreachable('name not resolved (%s)' % (err.strerror or type(err).__name__))
    return found['addresses']


def _connect(addresses: List[Tuple], timeout: float) -> socket.socket:
    """A TCP connection to the first address that answers; Unreachable naming the last address's failure."""
    last: Optional[Unreachable] = None
    for family, kind, proto, _, sockaddr in addresses:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
            return sock
        except ConnectionRefusedError:
            last = Unreachable('connection refused')
        except socket.timeout:
            last = Unreachable('no answer within %gs (a firewall, or nothing at that address)' % timeout)
        except OSError as err:
            last = Unreachable((err.strerror or type(err).__name__).lower())
        sock.close()
    raise last or Unreachable('name resolved to no address')


def _handshake(sock: socket.socket, endpoint: Endpoint, timeout: float) -> None:
    """Completes TLS over `sock`, verifying the certificate and the host name as the OIC caller will."""
    try:
        context = ssl.create_default_context(cafile=endpoint.ca_bundle)
    except (OSError, ssl.SSLError) as err:
        raise Unreachable('cannot read the CA bundle %s (%s)' % (endpoint.ca_bundle, getattr(err, 'strerror', None)
                                                                 or err)) from None
    sock.settimeout(timeout)
    try:
        with context.wrap_socket(sock, server_hostname=endpoint.host):
            pass
    except ssl.SSLCertVerificationError as err:
        raise Unreachable('TLS certificate not trusted: %s' % (err.verify_message or err.reason)) from None
    except ssl.SSLError as err:
        raise Unreachable('TLS handshake failed: %s' % (err.reason or type(err).__name__)) from None
    except socket.timeout:
        raise Unreachable('no TLS handshake within %gs (is it an https port?)' % timeout) from None
    except OSError as err:
        raise Unreachable('connection closed during the TLS handshake (%s)' % (err.strerror or type(err).__name__)) \
            from None


def check(endpoint: Endpoint, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """Resolve, connect and (https) handshake; returns the seconds it took, or raises Unreachable with the line
    `cannot reach NAME at HOST:PORT: CAUSE`."""
    started = time.monotonic()
    try:
        if not endpoint.host:
            raise Unreachable('no host in the URL')
        sock = _connect(_resolve(endpoint.host, endpoint.port, timeout), timeout)
        try:
            if endpoint.scheme == 'https':
                _handshake(sock, endpoint, timeout)
        finally:
            sock.close()
    except Unreachable as err:
        raise Unreachable('cannot reach %s at %s: %s' % (endpoint.name, endpoint.address, err)) from None
    return time.monotonic() - started


def endpoints_of(oic_url: Optional[str], emulator_host: Optional[str], oic_ca_bundle: Optional[str] = None,
                 token_url: Optional[str] = None, emulator_grpc_host: Optional[str] = None) -> List[Endpoint]:
    """What a run will call from here: OIC and its OAuth token endpoint (when the oic path runs), the BigQuery
    emulator's REST address and its gRPC address (HOST:PORT, plaintext: a TCP connection is the check), each when
    the run calls it."""
    found = []
    if oic_url:
        found.append(Endpoint.from_url('OIC', oic_url, oic_ca_bundle))
    if token_url:
        found.append(Endpoint.from_url('the OAuth token endpoint', token_url, oic_ca_bundle))
    if emulator_host:
        found.append(Endpoint.from_url('the BigQuery emulator', emulator_host))
    if emulator_grpc_host:
        found.append(Endpoint.from_url('the BigQuery emulator\'s gRPC address', 'http://' + emulator_grpc_host))
    return found


def check_all(endpoints: List[Endpoint], timeout: float = DEFAULT_TIMEOUT_S) -> List[str]:
    """The failure line of every endpoint that cannot be reached (empty when all can)."""
    problems = []
    for endpoint in endpoints:
        try:
            check(endpoint, timeout)
        except Unreachable as err:
            problems.append(str(err))
    return problems


def storage_write_schema_problem(table: str, flag: str, schema: Any, factory: Callable[[], Any]) -> Optional[str]:
    """One line when `table` (a path's written through the Storage Write API, named by its table flag `flag`) does
    not match the rows' schema or cannot be read, else None (transforms.storage_write.schema.schema_mismatches names
    every column that differs)."""
    from transforms.storage_write.schema import RowSerializer, schema_mismatches
    client = None
    try:
        client = factory()
        mismatches = schema_mismatches(RowSerializer(schema).columns, client.table_schema(table))
    except Exception as err:  # Unreachable, no such table, refused: one line, the run would fail on its workers.
        return '%s %s cannot be read through the Storage Write API: %s' % (
            flag, table, (str(err).splitlines() or [type(err).__name__])[0][:200])
    finally:
        if client is not None:
            client.close()
    if mismatches:
        return '%s %s does not match the records\' schema: %s' % (flag, table, '; '.join(mismatches))
    return None
