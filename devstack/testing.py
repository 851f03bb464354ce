"""Test API: running_stack() starts both services on free ports in a state dir and stops them on exit."""

import concurrent.futures
import contextlib
import time

import requests

from devstack import bq
from devstack import procs
from devstack import stack as stack_mod
from transforms.oic.urls import MONITORING_PATH


class RunningStack:
    """Endpoints, credentials and helpers of a stack started by running_stack()."""

    def __init__(self, stack):
        self._stack = stack
        self._http = requests.Session()
        self._http.auth = (stack.username, stack.password)

    oic_url = property(lambda self: self._stack.oic_url)
    oic_https_url = property(lambda self: self._stack.oic_https_url)
    oic_https_base = property(lambda self: self._stack.oic_https_base)
    ca_bundle = property(lambda self: self._stack.ca_bundle)
    token_url = property(lambda self: self._stack.token_url)
    client_id = property(lambda self: self._stack.client_id)
    client_secret = property(lambda self: self._stack.client_secret)
    scope = property(lambda self: self._stack.scope)
    oic_base = property(lambda self: self._stack.oic_base)
    username = property(lambda self: self._stack.username)
    password = property(lambda self: self._stack.password)
    bq_endpoint = property(lambda self: self._stack.bq_endpoint if self._stack.with_bigquery else None)
    bq_grpc_host = property(lambda self: self._stack.bq_grpc_host if self._stack.with_bigquery else None)
    project = property(lambda self: self._stack.project)
    oic_table = property(lambda self: self._stack.oic_table)
    direct_table = property(lambda self: self._stack.direct_table)
    state_dir = property(lambda self: self._stack.state_dir)
    monitoring_url = property(lambda self: self._stack.oic_base + MONITORING_PATH)
    instance_name = property(lambda self: self._stack.instance_name)
    oic_project_url = property(lambda self: self._stack.oic_project_url)

    def env(self):
        return self._stack.env()

    def pids(self):
        return {name: process.pid for name, process in self._stack.processes.items()}

    # -- OIC admin
    def _admin(self, method, path, **kwargs):
        response = self._http.request(method, self.oic_base + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def set_faults(self, settings):
        """Replaces the OIC fault settings (missing keys take their defaults); returns the active settings."""
        return self._admin('PUT', '/admin/faults', json=settings)

    def update_faults(self, changes):
        """Changes only the given OIC settings while it runs (e.g. {'max_concurrency': 12}); returns the active ones."""
        return self._admin('PATCH', '/admin/faults', json=changes)

    def reset_faults(self):
        return self._admin('DELETE', '/admin/faults')

    def oauth(self):
        """The token endpoint's settings: ttl, fail_next, fail_status, live_tokens."""
        return self._admin('GET', '/admin/oauth')

    def issued_tokens(self):
        """Every access token the stand-in handed out (the last 1,000), to check none leaked into output."""
        return self._admin('GET', '/admin/oauth', params={'tokens': '1'})['issued_tokens']

    def set_oauth(self, **settings):
        """Changes the token lifetime (ttl, for tokens issued from now on), makes the next `fail_next` token requests
        answer `fail_status`, or (revoke=True) refuses every token issued so far."""
        return self._admin('PUT', '/admin/oauth', json=settings)

    def set_mode(self, **mode):
        """edition='oic3'|'gen2', integration='strict'|'seed' (each optional); returns the stand-in's mode."""
        return self._admin('PUT', '/admin/mode', json=mode)

    def token(self):
        """A Bearer token from the stand-in's token endpoint, with the stack's confidential client."""
        response = requests.post(self.token_url, data={'grant_type': 'client_credentials', 'scope': self.scope},
                                 auth=(self.client_id, self.client_secret), verify=self.ca_bundle, timeout=10)
        response.raise_for_status()
        return response.json()['access_token']

    def monitoring(self, path='', **params):
        """GET the monitoring API (path '' = the instances, '/ID' = one) as OIC 3 wants it: a Bearer token and
        integrationInstance; the JSON answer."""
        response = requests.get(self.monitoring_url + path, params=dict({'integrationInstance': self.instance_name},
                                                                        **params),
                                headers={'Authorization': 'Bearer ' + self.token()}, timeout=10)
        response.raise_for_status()
        return response.json()

    def monitoring_env(self):
        """What the comparison's monitoring check reads from the environment to reach this stack (stack.env's)."""
        return {key: value for key, value in self.env().items()
                if key in ('OIC_TOKEN_URL', 'OIC_CLIENT_ID', 'OIC_CLIENT_SECRET', 'OIC_SCOPE', 'OIC_INSTANCE',
                           'OIC_CA_BUNDLE', 'OIC_PASSWORD')}

    def stats(self):
        return self._admin('GET', '/admin/stats')

    def reset_stats(self):
        """Zeroes the request counters and forgets tracking instances."""
        return self._admin('DELETE', '/admin/stats')

    def hold_sink(self, held=True):
        """held: the stand-in's sink starts no insertAll and trigger requests queue for it; False: it writes everything
        waiting in one call (group commit). Returns the sink's counters."""
        return self._admin('PUT', '/admin/sink', json={'hold': held})

    def post_while_held(self, bodies, ready, timeout=30.0):
        """Posts `bodies` to the trigger at once while the sink holds every write, so each admitted request stays in
        flight (holding its capacity slot) whatever the machine's speed; once `ready(stats)` is true (e.g. all but
        the admitted ones refused or queued), lets the writes go and returns the responses in order. No timing: the
        overlap the capacity tests need is made, not hoped for."""
        self.hold_sink(True)
        try:
            with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
                futures = [pool.submit(self.post, body) for body in bodies]
                self.wait_for_stats(ready, timeout)
                self.hold_sink(False)
                return [future.result(timeout=timeout) for future in futures]
        finally:
            self.hold_sink(False)

    def post(self, body, timeout=30.0):
        """One POST of `body` to the REST trigger with the stack's Basic Auth."""
        return requests.post(self.oic_url, json=body, auth=(self.username, self.password), timeout=timeout)

    def wait_for_stats(self, predicate, timeout=30.0):
        """Polls GET /admin/stats until predicate(stats); returns them (AssertionError with them at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats) or time.monotonic() > deadline:
                assert predicate(stats), stats
                return stats
            time.sleep(0.02)

    def sink_stats(self):
        """insert_calls, rows_written, rows_refused, max_batch_rows, queued_rows, held."""
        return self._admin('GET', '/admin/sink')

    def restart_oic(self):
        self._stack.restart('oic')

    def restart_bigquery(self):
        self._stack.restart('bigquery')

    def stop_bigquery(self):
        """Takes the emulator down (an outage) until start_bigquery()."""
        self._stack.stop_service('bigquery')

    def start_bigquery(self):
        self._stack.start_service('bigquery')

    # -- BigQuery
    def bq_client(self):
        return self._stack.bq_client()

    def create_tables(self):
        """Creates the dataset and both tables if missing (idempotent)."""
        return self._stack.create_tables()

    def rows(self, table):
        """All rows of table ('project:dataset.table' or just the table name) as dicts."""
        return [dict(row) for row in self.bq_client().list_rows(self._table_id(table))]

    def truncate(self, table):
        self.bq_client().query('DELETE FROM `%s` WHERE TRUE' % self._table_id(table)).result()

    def wait_for_rows(self, table, count, timeout=10.0):
        """Polls until table holds at least count rows; returns them (AssertionError at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.rows(table)
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, 'expected %d rows in %s, found %d' % (count, table, len(found))
                return found
            time.sleep(0.05)

    def _table_id(self, table):
        if ':' not in table and '.' not in table:
            table = '%s:%s.%s' % (self.project, self._stack.dataset, table)
        return bq.table_id(table)


@contextlib.contextmanager
def running_stack(state_dir, faults=None, with_bigquery=True, persistent_bigquery=False, oic_sink=True,
                  token_ttl=stack_mod.DEFAULT_TOKEN_TTL_S, bq_dedup_window=None, oic_edition='oic3',
                  oic_integration='strict'):
    """Starts the emulator (unless with_bigquery=False) and the OIC stand-in on free ports; yields a RunningStack;
    stops both on exit. persistent_bigquery: the emulator keeps its rows across restart_bigquery(). oic_sink=False:
    the OIC stand-in acknowledges without inserting (the emulator still serves the direct path). bq_dedup_window:
    seconds the emulator drops repeated insertIds, as BigQuery does (None = 60 or env BQ_DEDUP_WINDOW_S; 0 = off)."""
    stack = stack_mod.Stack(state_dir, oic_port=procs.free_port(), bq_rest_port=procs.free_port(),
                            bq_grpc_port=procs.free_port(), faults=faults, with_bigquery=with_bigquery,
                            persistent_bigquery=persistent_bigquery, oic_sink=oic_sink,
                            oic_https_port=procs.free_port(), token_ttl=token_ttl, bq_dedup_window=bq_dedup_window,
                            oic_edition=oic_edition, oic_integration=oic_integration)
    stack.start()
    try:
        yield RunningStack(stack)
    finally:
        stack.stop()
