"""The BigQuery emulator (bqemulator): offline launch, health wait, client, dataset and table creation."""

import logging
import os
import sys
import pathlib

from devstack import procs
from transforms import records
from transforms.tables import DATA_LAYOUT

DEFAULT_PROJECT = 'local-project'
DEFAULT_DATASET = 'warehouse'
DEFAULT_TABLES = ('inventory_oic', 'inventory_direct', 'inventory_storage_write')


def ensure_spatial_extension():
    """Installs DuckDB's bundled spatial extension into ~/.duckdb (bqemulator loads it at start and cannot
    download it offline). It must run under the same HOME as the emulator; the install persists, so later
    calls only check the file."""
    import duckdb
    version = duckdb.__version__
    installed = list(pathlib.Path.home().glob('.duckdb/extensions/v%s/*/spatial.duckdb_extension' % version))
    if installed:
        return
    try:
        from duckdb_extensions import import_extension
        import_extension('spatial')
    except Exception as error:  # ImportError or a duckdb error: either way the emulator could not start
        raise procs.StackError('cannot install DuckDB\'s spatial extension offline (%s); install '
                               'duckdb-extension-spatial==%s and duckdb-extensions' % (error, version)) from None


def emulator_command(project, rest_port, grpc_port, host='127.0.0.1', data_dir=None):
    """In memory by default; with data_dir the tables live in a DuckDB file there and survive a restart."""
    storage = ['--persistent', '--data-dir', data_dir] if data_dir else ['--ephemeral']
    # bqemulator's own CLI, minus its per-write snapshot copies (see devstack/bq_server.py).
    return [sys.executable, '-m', 'devstack.bq_server', 'start', '--project', project, '--rest-host', host, '--rest-port', str(rest_port),
            '--grpc-host', host, '--grpc-port', str(grpc_port)] + storage + ['--log-level', 'warning',
                                                                              '--log-format', 'json']


def start_emulator(log_path, project=DEFAULT_PROJECT, rest_port=9050, grpc_port=9060, timeout=60.0):
    """Starts the emulator detached and waits for /healthz; returns (Popen, endpoint)."""
    ensure_spatial_extension()
    process = procs.spawn(emulator_command(project, rest_port, grpc_port), log_path, env=dict(os.environ))
    endpoint = 'http://127.0.0.1:%d' % rest_port
    try:
        procs.wait_healthy(endpoint + '/healthz', process, 'bqemulator', log_path, timeout)
    except procs.StackError:
        procs.stop_group(process.pid, grace=2)
        raise
    return process, endpoint


def client(endpoint, project=DEFAULT_PROJECT):
    """A google-cloud-bigquery Client talking to the emulator at endpoint (http://host:port)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery
    return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=endpoint))


def schema_fields():
    from google.cloud import bigquery
    return [bigquery.SchemaField(f['name'], f['type'], mode=f['mode']) for f in records.BIGQUERY_SCHEMA['fields']]


def create_tables(bq_client, dataset=DEFAULT_DATASET, tables=DEFAULT_TABLES):
    """Creates the dataset and tables, partitioned by day on event_time and clustered by record_id (idempotent: a
    table already there is kept as it is, with a warning if it is laid out otherwise); returns the table specs as
    project:dataset.table."""
    from google.cloud import bigquery
    bq_client.create_dataset(bigquery.Dataset('%s.%s' % (bq_client.project, dataset)), exists_ok=True)
    specs = []
    for name in tables:
        table = bigquery.Table('%s.%s.%s' % (bq_client.project, dataset, name), schema=schema_fields())
        made = bq_client.create_table(DATA_LAYOUT.apply(table), exists_ok=True)
        warning = DATA_LAYOUT.warning(made)
        if warning:
            logging.getLogger(__name__).warning(warning)
        specs.append('%s:%s.%s' % (bq_client.project, dataset, name))
    return specs


def parse_table_spec(spec, default_project=DEFAULT_PROJECT):
    """'project:dataset.table' (or 'dataset.table', or 'project.dataset.table') -> (project, dataset, table)."""
    text = spec.strip()
    if ':' in text:
        project, rest = text.split(':', 1)
        parts = [project] + rest.split('.')
    else:
        parts = text.split('.')
        if len(parts) == 2:
            parts = [default_project] + parts
    if len(parts) != 3 or not all(parts):
        raise ValueError('table %r is not project:dataset.table' % spec)
    return tuple(parts)


def table_id(spec):
    """A spec as the dotted id google-cloud-bigquery expects."""
    return '.'.join(parse_table_spec(spec))
