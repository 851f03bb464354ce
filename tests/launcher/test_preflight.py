"""Pre-flight: an endpoint this machine cannot reach is one line naming the cause, before anything runs."""

import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
import trustme

from launcher import preflight
from launcher.run import main, parse, run_preflight, uses_rest_emulator
from pipeline import path_specs
from launcher.preflight import Endpoint, Unreachable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRIGGER = '/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'
ENV = {'OIC_PASSWORD': 'hunter2'}


def closed_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Listener:
    """A TCP server on a free port that records the bytes each connection sends; optionally serves TLS with
    `cert`, or never accepts (`accept=False`: the kernel completes the TCP handshake, nothing answers after it)."""

    def __init__(self, cert=None, accept=True):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self._context = None
        if cert is not None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(self._context)
        if accept:
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        conn.settimeout(5)
        try:
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            data = b''
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.received.append(data)
        except (OSError, ssl.SSLError):
            self.received.append(None)
        finally:
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def ca():
    return trustme.CA()


def test_nothing_listening_is_one_line_and_exit_2_within_seconds(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv('OIC_PASSWORD', 'hunter2')
    url = 'http://127.0.0.1:%d%s' % (closed_port(), TRIGGER)
    started = time.monotonic()
    code = main(['--oic_url', url, '--oic_username', 'u', '--paths', 'oic', '--no_landed_check',
                 '--out', str(tmp_path / 'out')])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 10, (code, elapsed, err)
    assert err.count('\n') == 1 and 'Traceback' not in err, err
    assert err.startswith('error: cannot reach OIC at 127.0.0.1:') and err.rstrip().endswith('connection refused')
    assert not (tmp_path / 'out').exists(), 'nothing may run before pre-flight passes'


def test_the_command_prints_one_line_no_traceback():
    url = 'http://127.0.0.1:%d%s' % (closed_port(), TRIGGER)
    done = subprocess.run([sys.executable, '-m', 'pipeline.run', '--oic_url', url, '--oic_username', 'u',
                           '--paths', 'oic', '--no_landed_check'],
                          cwd=ROOT, env=dict(os.environ, **ENV), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count('\n') == 1 and 'connection refused' in done.stderr and 'Traceback' not in done.stderr


@pytest.fixture
def no_such_name(monkeypatch):
    """A resolver that says oic.invalid does not exist, as a working DNS server does (RFC 6761 reserves .invalid),
    without asking one: a machine with no resolver times out or answers 'temporary failure' instead."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if str(host).endswith('.invalid'):
            raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, 'getaddrinfo', getaddrinfo)


def test_a_name_that_does_not_resolve(no_such_name):
    with pytest.raises(Unreachable) as caught:
        preflight.check(Endpoint.from_url('OIC', 'https://oic.invalid' + TRIGGER), timeout=5)
    assert str(caught.value) == 'cannot reach OIC at oic.invalid:443: name not resolved'


def test_an_untrusted_certificate_names_the_cause(ca):
    server = Listener(cert=ca.issue_cert('127.0.0.1'))
    try:
        with pytest.raises(Unreachable) as caught:
            preflight.check(Endpoint.from_url('OIC', 'https://127.0.0.1:%d/x' % server.port), timeout=5)
        assert str(caught.value).startswith('cannot reach OIC at 127.0.0.1:%d: TLS certificate not trusted: '
                                            % server.port)
        assert 'self-signed certificate' in str(caught.value) or 'unable to get local issuer' in str(caught.value)
    finally:
        server.close()


def test_a_ca_bundle_makes_it_trusted_and_nothing_is_sent(ca, tmp_path):
    server = Listener(cert=ca.issue_cert('127.0.0.1'))
    bundle = tmp_path / 'ca.pem'
    ca.cert_pem.write_to_path(str(bundle))
    try:
        preflight.check(Endpoint.from_url('OIC', 'https://127.0.0.1:%d/x' % server.port, str(bundle)), timeout=5)
        deadline = time.monotonic() + 5
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.received == [b''], 'pre-flight sent something over the connection'
    finally:
        server.close()


def test_a_certificate_for_another_host(ca, tmp_path):
    server = Listener(cert=ca.issue_cert('oic.example.com'))
    bundle = tmp_path / 'ca.pem'
    ca.cert_pem.write_to_path(str(bundle))
    try:
        with pytest.raises(Unreachable, match='TLS certificate not trusted: .*(mismatch|match)'):
            preflight.check(Endpoint.from_url('OIC', 'https://127.0.0.1:%d/x' % server.port, str(bundle)), timeout=5)
    finally:
        server.close()


def test_an_http_check_sends_nothing():
    server = Listener()
    try:
        preflight.check(Endpoint.from_url('OIC', 'http://127.0.0.1:%d/x' % server.port))
        deadline = time.monotonic() + 5
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.received == [b'']
    finally:
        server.close()


def test_a_port_that_never_answers_tls():
    server = Listener(accept=False)
    try:
        with pytest.raises(Unreachable, match='no TLS handshake within 0.5s'):
            preflight.check(Endpoint.from_url('OIC', 'https://127.0.0.1:%d/x' % server.port), timeout=0.5)
    finally:
        server.close()


def _argv(oic_port, bq_port, *extra):
    return ['--oic_url', 'http://127.0.0.1:%d%s' % (oic_port, TRIGGER), '--oic_username', 'u',
            '--direct_table', 'p:warehouse.inventory_direct',
            '--bigquery_emulator_host', 'http://127.0.0.1:%d' % bq_port] + list(extra)


def test_the_bigquery_emulator_is_checked_when_the_run_uses_it(capsys):
    oic = Listener()
    try:
        options, config = parse(_argv(oic.port, closed_port()), ENV)
        assert run_preflight(options, config) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: cannot reach the BigQuery emulator at 127.0.0.1:') and err.count('\n') == 1
        # An oic-only run that reads nothing back does not need it.
        options, config = parse(_argv(oic.port, closed_port(), '--paths', 'oic', '--no_landed_check'), ENV)
        assert run_preflight(options, config) == 0
    finally:
        oic.close()


def test_the_run_record_streamed_to_bigquery_needs_the_emulator_even_when_nothing_is_read_back(capsys):
    # An oic-only run without the landed check still writes its run record to the emulator's REST address.
    oic = Listener()
    try:
        options, config = parse(_argv(oic.port, closed_port(), '--paths', 'oic', '--no_landed_check',
                                      '--run_record_dataset', 'p:runs'), ENV)
        assert run_preflight(options, config) == 2
        assert capsys.readouterr().err.startswith('error: cannot reach the BigQuery emulator at 127.0.0.1:')
    finally:
        oic.close()


@pytest.mark.parametrize('spec', path_specs.SPECS, ids=lambda spec: spec.name)
def test_a_path_alone_calls_the_emulators_rest_address_when_its_declaration_writes_through_it(spec):
    # Nothing read back, no dead-letter table, no run-record dataset: only the path's own writes call BigQuery.
    argv = _argv(closed_port(), closed_port(), '--paths', spec.name, '--no_landed_check',
                 '--bigquery_emulator_grpc_host', '127.0.0.1:%d' % closed_port(), '--' + spec.table_flag,
                 'p:warehouse.t_' + spec.name)
    _, config = parse(argv, ENV)
    assert uses_rest_emulator(config) == (spec.writes_through == path_specs.REST)


def test_a_path_written_through_the_storage_write_api_needs_the_emulators_grpc_address_and_only_that(capsys):
    # Refused at once (a TCP connection), not after the client's retries of its schema read (about ten minutes).
    grpc_port = closed_port()
    argv = _argv(closed_port(), closed_port(), '--paths', path_specs.STORAGE_WRITE, '--no_landed_check',
                 '--bigquery_emulator_grpc_host', '127.0.0.1:%d' % grpc_port, '--bq_project', 'p')
    options, config = parse(argv, ENV)
    assert run_preflight(options, config) == 2
    err = capsys.readouterr().err
    assert err == 'error: cannot reach the BigQuery emulator\'s gRPC address at 127.0.0.1:%d: connection refused\n' \
        % grpc_port


def test_skip_preflight(capsys):
    options, config = parse(_argv(closed_port(), closed_port(), '--skip_preflight'), ENV)
    assert run_preflight(options, config) == 0 and capsys.readouterr().err == ''


def test_on_dataflow_it_is_a_warning(capsys, no_such_name):
    argv = ['--runner', 'DataflowRunner', '--project', 'my-project-1', '--region', 'us-central1',
            '--temp_location', 'gs://bucket/tmp', '--setup_file', 'setup.py', '--max_num_workers', '2',
            '--out', 'gs://bucket/runs/1', '--oic_url', 'https://oic.invalid' + TRIGGER, '--oic_username', 'u',
            '--oic_password_secret', 'projects/p/secrets/s/versions/1', '--paths', 'oic']
    options, config = parse(argv, {})
    assert run_preflight(options, config) == 0
    err = capsys.readouterr().err
    assert err.startswith('warning: cannot reach OIC at oic.invalid:443: name not resolved from this machine')
    assert err.count('\n') == 1
