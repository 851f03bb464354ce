"""The local stack: start, reuse, describe and stop the BigQuery emulator and the OIC stand-in as a pair."""

import json
import os
import secrets
import shlex
import sys
import time

from devstack import bq
from devstack import bq_server
from devstack.oic import faults as faults_mod
from devstack.oic import urls as oic_urls
from devstack.oic.instances import EDITIONS
from devstack.oic.mapping import INTEGRATIONS
from devstack import procs
from devstack import tls
from devstack.procs import StackError

USERNAME = 'oic_local'
PID_FILE = 'stack.pids'
ENV_FILE = 'stack.env'
ENV_KEYS = ('OIC_URL', 'OIC_USERNAME', 'OIC_PASSWORD', 'BIGQUERY_EMULATOR_HOST', 'BQ_PROJECT', 'OIC_TABLE',
            'DIRECT_TABLE', 'OIC_HTTPS_URL', 'OIC_CA_BUNDLE', 'OIC_TOKEN_URL', 'OIC_CLIENT_ID', 'OIC_CLIENT_SECRET',
            'OIC_SCOPE', 'OIC_INSTANCE', 'OIC_PROJECT_URL', 'BIGQUERY_EMULATOR_GRPC_HOST')
INSTANCE_NAME = 'oic-local'  # The stand-in's service instance name (OIC 3: the About page's Service instance).
DEFAULT_TOKEN_TTL_S = 300  # Short enough that a long local run refreshes its token a few times.


class Stack:
    """One stack's settings and processes; `start()` launches, `stop()` ends exactly what it launched."""

    def __init__(self, state_dir, oic_port=8088, bq_rest_port=9050, bq_grpc_port=9060, faults=None,
                 with_bigquery=True, project=bq.DEFAULT_PROJECT, dataset=bq.DEFAULT_DATASET,
                 username=USERNAME, password=None, host='127.0.0.1', persistent_bigquery=False, oic_sink=True,
                 oic_https_port=None, token_ttl=DEFAULT_TOKEN_TTL_S, bq_dedup_window=None, oic_edition='oic3',
                 oic_integration='strict'):
        self.state_dir = os.path.abspath(state_dir)
        # Persistent: the emulator keeps its tables in state_dir, so a restart (a fault test) loses no rows.
        self.bq_data_dir = os.path.join(self.state_dir, 'bigquery-data') if persistent_bigquery else None
        self.host = host
        self.oic_port, self.bq_rest_port, self.bq_grpc_port = oic_port, bq_rest_port, bq_grpc_port
        self.oic_https_port = oic_https_port or procs.free_port(host)
        self.faults = faults_mod.parse(faults)  # fails early on bad settings
        self.with_bigquery = with_bigquery
        self.oic_sink = oic_sink and with_bigquery  # False: OIC acknowledges without storing (the emulator still runs)
        # Seconds the emulator remembers insertIds, as BigQuery does (devstack/bq_server.py); 0 = keep every retry.
        self.bq_dedup_window = bq_server.dedup_window_from(
            os.environ if bq_dedup_window is None else {bq_server.DEDUP_ENV: str(bq_dedup_window)})
        self.project, self.dataset = project, dataset
        self.username = username
        self.password = password or secrets.token_urlsafe(24)
        # The OAuth confidential client, new for every stack like the password, and the token lifetime.
        self.client_id = 'oic-local-%s' % secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(32)
        self.token_ttl = token_ttl
        self.instance_name = INSTANCE_NAME
        # What the stand-in models (devstack/oic/app/): OIC 3's rules or Gen2's; the project's integration or
        # the seed's.
        if oic_edition not in EDITIONS or oic_integration not in INTEGRATIONS:
            raise ValueError('the OIC edition is one of %s and the integration one of %s'
                             % (EDITIONS, INTEGRATIONS))
        self.oic_edition, self.oic_integration = oic_edition, oic_integration
        self.certificates = None  # Made by start(): a new CA for every stack.
        self.processes = {}

    # -- what users and tests see
    @property
    def oic_base(self):
        return 'http://%s:%d' % (self.host, self.oic_port)

    @property
    def oic_url(self):
        return self.oic_base + oic_urls.TRIGGER_PATH

    @property
    def oic_project_url(self):
        """The same integration at its OIC 3 project URL (v2 form)."""
        return self.oic_base + oic_urls.PROJECT_TRIGGER_PATH

    @property
    def oic_https_base(self):
        return 'https://%s:%d' % (self.host, self.oic_https_port)

    @property
    def oic_https_url(self):
        return self.oic_https_base + oic_urls.TRIGGER_PATH

    @property
    def token_url(self):
        """Locally the stand-in is its own identity domain; on OIC 3 this is https://DOMAIN_HOST/oauth2/v1/token."""
        return self.oic_https_base + oic_urls.TOKEN_PATH

    @property
    def scope(self):
        """As on OIC 3: the instance's audience URL (with its port) followed by urn:opc:resource:consumer::all."""
        return self.oic_https_base + oic_urls.SCOPE_SUFFIX

    @property
    def ca_bundle(self):
        return self.certificates.ca_bundle if self.certificates else None

    @property
    def bq_endpoint(self):
        return 'http://%s:%d' % (self.host, self.bq_rest_port)

    @property
    def bq_grpc_host(self):
        """host:port of the emulator's plaintext gRPC port (the Storage Read and Write APIs)."""
        return '%s:%d' % (self.host, self.bq_grpc_port)

    @property
    def oic_table(self):
        return '%s:%s.%s' % (self.project, self.dataset, bq.DEFAULT_TABLES[0])

    @property
    def direct_table(self):
        return '%s:%s.%s' % (self.project, self.dataset, bq.DEFAULT_TABLES[1])

    def env(self):
        """The stack.env variables."""
        return {
            'OIC_URL': self.oic_url, 'OIC_USERNAME': self.username, 'OIC_PASSWORD': self.password,
            'BIGQUERY_EMULATOR_HOST': self.bq_endpoint, 'BQ_PROJECT': self.project,
            'OIC_TABLE': self.oic_table, 'DIRECT_TABLE': self.direct_table,
            'OIC_HTTPS_URL': self.oic_https_url, 'OIC_CA_BUNDLE': self.ca_bundle or '',
            'OIC_TOKEN_URL': self.token_url, 'OIC_CLIENT_ID': self.client_id, 'OIC_CLIENT_SECRET': self.client_secret,
            'OIC_SCOPE': self.scope, 'OIC_INSTANCE': self.instance_name, 'OIC_PROJECT_URL': self.oic_project_url,
            'BIGQUERY_EMULATOR_GRPC_HOST': self.bq_grpc_host,
        }

    def log_path(self, name):
        return os.path.join(self.state_dir, '%s.log' % name)

    # -- lifecycle
    def check_ports(self):
        wanted = [('OIC', self.oic_port), ('OIC HTTPS', self.oic_https_port)]
        if self.with_bigquery:
            wanted += [('BigQuery REST', self.bq_rest_port), ('BigQuery gRPC', self.bq_grpc_port)]
        for name, port in wanted:
            if procs.port_in_use(port, self.host):
                raise StackError('port %d (%s) is already in use; pick another with the matching --*-port flag'
                                 % (port, name))

    def start(self):
        """Starts the emulator and OIC in parallel, waits for both, creates dataset and tables."""
        os.makedirs(self.state_dir, exist_ok=True)
        self.check_ports()
        self.certificates = tls.make_certificates(self.state_dir, (self.host, 'localhost'))
        try:
            if self.with_bigquery:
                bq.ensure_spatial_extension()
                self._spawn_bigquery()
            self._spawn_oic()
            if self.with_bigquery:
                self._wait('bigquery', self.bq_endpoint + '/healthz')
                self.create_tables()
            self._wait('oic', self.oic_base + '/healthz')
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn_bigquery(self):
        if self.bq_data_dir:
            os.makedirs(self.bq_data_dir, exist_ok=True)
        self.processes['bigquery'] = procs.spawn(
            bq.emulator_command(self.project, self.bq_rest_port, self.bq_grpc_port, self.host, self.bq_data_dir),
            self.log_path('bigquery'), env=dict(os.environ, **{bq_server.DEDUP_ENV: '%g' % self.bq_dedup_window}))

    def _spawn_oic(self):
        argv = [sys.executable, '-m', 'devstack.oic.server', '--host', self.host, '--port', str(self.oic_port),
                '--https-port', str(self.oic_https_port), '--tls-cert', self.certificates.server_pem,
                '--token-ttl', str(self.token_ttl), '--project', self.project, '--table', self.oic_table,
                '--edition', self.oic_edition, '--integration', self.oic_integration]
        if self.oic_sink:
            argv += ['--bq-endpoint', self.bq_endpoint]
        if self.faults != faults_mod.parse(None):
            argv += ['--faults', json.dumps(self.faults)]
        env = dict(os.environ, OIC_USERNAME=self.username, OIC_PASSWORD=self.password, OIC_CLIENT_ID=self.client_id,
                   OIC_CLIENT_SECRET=self.client_secret, OIC_SCOPE=self.scope, OIC_INSTANCE=self.instance_name,
                   PYTHONPATH=os.pathsep.join(filter(None, [_project_root(), os.environ.get('PYTHONPATH')])))
        self.processes['oic'] = procs.spawn(argv, self.log_path('oic'), env=env)

    def _wait(self, name, url):
        procs.wait_healthy(url, self.processes[name], name, self.log_path(name))

    def create_tables(self):
        return bq.create_tables(self.bq_client(), self.dataset)

    def bq_client(self):
        return bq.client(self.bq_endpoint, self.project)

    def restart(self, name):
        """Stops one service and starts it again on the same ports (a restarted in-memory emulator is empty: tables
        are recreated; a persistent one keeps its rows)."""
        self.stop_service(name)
        self.start_service(name)

    def stop_service(self, name):
        """Stops one service ('oic' or 'bigquery') and waits until its port is free (an outage, for fault tests)."""
        process = self.processes.pop(name, None)
        if process is not None:
            procs.stop_group(process.pid)
        deadline = time.monotonic() + 10
        ports = (self.oic_port, self.oic_https_port) if name == 'oic' else (self.bq_rest_port,)
        while any(procs.port_in_use(port, self.host) for port in ports) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start_service(self, name):
        """Starts a stopped service again on its ports and waits until it is healthy."""
        if name == 'oic':
            self._spawn_oic()
            self._wait('oic', self.oic_base + '/healthz')
        else:
            self._spawn_bigquery()
            self._wait('bigquery', self.bq_endpoint + '/healthz')
            self.create_tables()

    def stop(self):
        for name in ('oic', 'bigquery'):
            process = self.processes.pop(name, None)
            if process is not None:
                procs.stop_group(process.pid)

    # -- the state directory, for `up`/`down`/`status` across invocations
    def pid_record(self):
        return {
            'pids': {name: {'pid': process.pid, 'create_time': procs.create_time(process.pid)}
                     for name, process in self.processes.items()},
            'health': {'oic': self.oic_base + '/healthz',
                       **({'bigquery': self.bq_endpoint + '/healthz'} if self.with_bigquery else {})},
            'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        }

    def save(self):
        write_private(os.path.join(self.state_dir, PID_FILE), json.dumps(self.pid_record(), indent=2) + '\n')
        write_private(os.path.join(self.state_dir, ENV_FILE), env_file_text(self.env()))


def _project_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_file_text(variables):
    """KEY=value lines, shell-quoted, that `set -a; source FILE` reads back exactly."""
    return ''.join('%s=%s\n' % (key, shlex.quote(str(variables[key]))) for key in ENV_KEYS)


def read_env_file(path):
    """The stack.env variables as a dict (inverse of env_file_text)."""
    variables = {}
    with open(path) as handle:
        for line in handle:
            if '=' in line:
                key, _, value = line.rstrip('\n').partition('=')
                parts = shlex.split(value)
                variables[key] = parts[0] if parts else ''
    return variables


def write_private(path, text):
    """Writes a file readable by its owner only (created 0600, never briefly wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)


def read_pids(state_dir):
    """The pid record of a stack started in state_dir, or None."""
    try:
        with open(os.path.join(state_dir, PID_FILE)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def running(state_dir):
    """(record, alive, healthy) for the stack in state_dir; record is None when there is none."""
    record = read_pids(state_dir)
    if not record:
        return None, False, False
    alive = all(_ours_alive(entry) for entry in record['pids'].values())
    healthy = alive and all(procs.http_ok(url) for url in record['health'].values())
    return record, alive, healthy


def down(state_dir):
    """Stops exactly the recorded processes; returns the names stopped (empty when nothing was running)."""
    record = read_pids(state_dir)
    if not record:
        return []
    stopped = [name for name, entry in record['pids'].items() if _ours_alive(entry) and procs.stop_group(entry['pid'])]
    os.remove(os.path.join(state_dir, PID_FILE))
    return stopped


def _ours_alive(entry):
    """The recorded process is alive and is still the one we started (not a reused pid)."""
    return procs.pid_alive(entry['pid']) and procs.create_time(entry['pid']) == entry.get('create_time')
