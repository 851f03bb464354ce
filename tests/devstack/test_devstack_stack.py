"""`python -m devstack up/status/down` end to end, restarts, the storeless mode and stack.env quoting."""

import json
import os
import re
import stat
import subprocess
import sys
import uuid

import psutil
import pytest
import requests

from devstack import procs
from devstack import stack as stack_mod
from devstack.testing import running_stack
from transforms import records

pytestmark = pytest.mark.stack
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def devstack(*args):
    return subprocess.run([sys.executable, '-m', 'devstack', *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def sourced(env_path):
    """What a shell sees after `set -a; source stack.env`."""
    script = 'set -a; source "$1"; set +a; for k in %s; do printf "%%s=%%s\\0" "$k" "${!k}"; done' % (
        ' '.join(stack_mod.ENV_KEYS))
    out = subprocess.run(['bash', '-c', script, 'bash', env_path], capture_output=True, text=True, check=True,
                         env={'PATH': os.environ['PATH']}).stdout
    return dict(item.split('=', 1) for item in out.split('\0') if item)


def test_up_status_down_leaves_nothing_behind(tmp_path):
    state = str(tmp_path / 'state')
    ports = [procs.free_port() for _ in range(4)]
    up = devstack('up', '--state-dir', state, '--oic-port', str(ports[0]), '--bq-rest-port', str(ports[1]),
                  '--bq-grpc-port', str(ports[2]), '--oic-https-port', str(ports[3]), '--faults', '{"latency_ms": 1}')
    try:
        assert up.returncode == 0, up.stderr
        env_path = os.path.join(state, 'stack.env')
        assert stat.S_IMODE(os.stat(env_path).st_mode) == 0o600
        variables = sourced(env_path)
        assert set(variables) == set(stack_mod.ENV_KEYS)
        assert [line.split('=', 1)[0] for line in open(env_path).read().splitlines()] == list(stack_mod.ENV_KEYS)
        assert variables['OIC_URL'] == 'http://127.0.0.1:%d/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records' % ports[0]
        assert variables['BIGQUERY_EMULATOR_HOST'] == 'http://127.0.0.1:%d' % ports[1]
        assert variables['BIGQUERY_EMULATOR_GRPC_HOST'] == '127.0.0.1:%d' % ports[2]
        assert variables['OIC_USERNAME'] == 'oic_local' and len(variables['OIC_PASSWORD']) >= 24
        assert variables['OIC_TABLE'] == 'local-project:warehouse.inventory_oic'
        assert variables['DIRECT_TABLE'] == 'local-project:warehouse.inventory_direct'
        assert variables['OIC_URL'] in up.stdout and variables['OIC_PASSWORD'] in up.stdout
        assert variables['OIC_HTTPS_URL'] == variables['OIC_URL'].replace('http://', 'https://').replace(
            ':%d/' % ports[0], ':%d/' % ports[3])
        assert variables['OIC_CLIENT_SECRET'] not in up.stdout  # Only in stack.env (0600).

        auth = (variables['OIC_USERNAME'], variables['OIC_PASSWORD'])
        base = variables['OIC_URL'].split('/ic/')[0]
        assert requests.get(base + '/admin/faults', auth=auth, timeout=5).json()['latency_ms'] == 1
        body = records.make_record(1, 'cli-%s' % uuid.uuid4(), 0)
        assert requests.post(variables['OIC_URL'], json=body, auth=auth, timeout=10).status_code == 200
        assert requests.post(variables['OIC_URL'], json=body, auth=('oic_local', 'wrong'), timeout=10).status_code == 401

        record = stack_mod.read_pids(state)
        pids = [entry['pid'] for entry in record['pids'].values()]
        family = pids + [child.pid for pid in pids for child in psutil.Process(pid).children(recursive=True)]
        assert devstack('status', '--state-dir', state).returncode == 0

        again = devstack('up', '--state-dir', state, '--oic-port', str(ports[0]))
        assert again.returncode == 0 and 'already up' in again.stdout
        assert stack_mod.read_pids(state)['pids'] == record['pids']

        other = devstack('up', '--state-dir', str(tmp_path / 'other'), '--oic-port', str(ports[0]),
                         '--bq-rest-port', str(procs.free_port()), '--bq-grpc-port', str(procs.free_port()))
        assert other.returncode == 2
        assert 'port %d' % ports[0] in other.stderr and 'Traceback' not in other.stderr
        assert len(other.stderr.strip().splitlines()) == 1
    finally:
        down = devstack('down', '--state-dir', state)
    assert down.returncode == 0 and 'Stopped' in down.stdout
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in family)
    assert not os.path.exists(os.path.join(state, 'stack.pids'))
    for directory, _, names in os.walk(state):
        for name in names:
            if name != 'stack.env':
                text = open(os.path.join(directory, name), errors='replace').read()
                assert variables['OIC_PASSWORD'] not in text and variables['OIC_CLIENT_SECRET'] not in text, name

    again = devstack('down', '--state-dir', state)
    assert again.returncode == 0 and 'No local stack running' in again.stdout
    assert devstack('status', '--state-dir', state).returncode == 3


def test_bad_faults_flag_is_one_line_exit_2(tmp_path):
    result = devstack('up', '--state-dir', str(tmp_path), '--faults', '{"drop_rate": 5}')
    assert result.returncode == 2
    assert result.stderr.startswith('devstack: --faults: drop_rate') and 'Traceback' not in result.stderr
    assert not os.path.exists(tmp_path / 'stack.pids')


def test_env_file_quoting_survives_the_shell(tmp_path):
    nasty = {key: 'v' for key in stack_mod.ENV_KEYS}
    nasty['OIC_PASSWORD'] = "it's $HOME `id` \"q\" ; x"
    path = str(tmp_path / 'stack.env')
    stack_mod.write_private(path, stack_mod.env_file_text(nasty))
    assert sourced(path) == nasty
    assert stack_mod.read_env_file(path) == nasty


def post(stack, body):
    return requests.post(stack.oic_url, json=body, auth=(stack.username, stack.password), timeout=10)


def test_restart_bigquery_recreates_tables_and_oic_keeps_working(clean_stack):
    assert post(clean_stack, records.make_record(1, 'before', 0)).status_code == 200
    old = clean_stack.pids()['bigquery']
    clean_stack.restart_bigquery()
    assert clean_stack.pids()['bigquery'] != old
    assert clean_stack.rows(clean_stack.oic_table) == []  # the emulator is ephemeral
    assert clean_stack.rows(clean_stack.direct_table) == []
    assert post(clean_stack, records.make_record(1, 'after', 0)).status_code == 200
    assert len(clean_stack.wait_for_rows(clean_stack.oic_table, 1)) == 1


def test_restart_oic_starts_fresh_on_the_same_url(clean_stack):
    clean_stack.set_faults({'latency_ms': 1})
    assert post(clean_stack, records.make_record(1, 'r', 0)).status_code == 200
    clean_stack.restart_oic()
    assert clean_stack.stats()['requests'] == 0
    assert clean_stack.reset_faults()['latency_ms'] == 0
    assert post(clean_stack, records.make_record(1, 'r', 1)).status_code == 200


def test_without_bigquery_oic_acknowledges_without_storing(tmp_path):
    with running_stack(str(tmp_path), with_bigquery=False, faults={'seed': 5}) as stack:
        assert stack.bq_endpoint is None and 'bigquery' not in stack.pids()
        health = requests.get(stack.oic_base + '/healthz', timeout=5).json()
        assert health['sink'] == 'none'
        assert post(stack, records.make_record(1, 'nosink', 0)).json() == {'response': 'Submitted'}
        assert stack.set_faults({})['seed'] is None
        pid = stack.pids()['oic']
    assert not procs.pid_alive(pid)


def test_a_services_log_past_its_limit_is_kept_once_and_started_afresh(tmp_path):
    log = tmp_path / 'oic.log'
    procs.rotate_log(str(log), keep_bytes=10)  # no log yet: nothing to do
    log.write_bytes(b'x' * 10)
    procs.rotate_log(str(log), keep_bytes=10)
    assert log.read_bytes() == b'x' * 10  # within the limit: appended to as before
    (tmp_path / 'oic.log.1').write_bytes(b'older')
    log.write_bytes(b'y' * 11)
    procs.rotate_log(str(log), keep_bytes=10)
    assert not log.exists() and (tmp_path / 'oic.log.1').read_bytes() == b'y' * 11
