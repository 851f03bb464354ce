"""./run_local.sh end to end: up/down and the main command leave no process behind, even when the run fails."""

import json
import os
import socket
import subprocess

import psutil
import pytest

from devstack.stack import ENV_KEYS, read_pids

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.stack


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture
def env(tmp_path):
    oic, bq, grpc, https = free_ports(4)
    environ = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    environ.update(LOCAL_STACK_DIR=str(tmp_path / 'state'), LOCAL_OIC_PORT=str(oic), LOCAL_BQ_PORT=str(bq),
                   LOCAL_BQ_GRPC_PORT=str(grpc), LOCAL_OIC_HTTPS_PORT=str(https))
    return environ


def run_local(env, *args, timeout=300):
    return subprocess.run([os.path.join(ROOT, 'run_local.sh')] + list(args), env=env, cwd=ROOT, timeout=timeout,
                          capture_output=True, text=True)


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', int(port))) == 0


def stack_processes(env):
    """Processes whose command line names this test's ports: the stack's, and nothing else would."""
    ports = {env['LOCAL_OIC_PORT'], env['LOCAL_BQ_PORT'], env['LOCAL_BQ_GRPC_PORT'], env['LOCAL_OIC_HTTPS_PORT']}
    found = []
    for proc in psutil.process_iter(['cmdline']):
        cmdline = proc.info['cmdline'] or []
        if any(port in cmdline for port in ports) and ('devstack' in ' '.join(cmdline) or
                                                       'bqemulator' in ' '.join(cmdline)):
            found.append(proc)
    return found


def test_up_then_down_leaves_nothing_running(env):
    up = run_local(env, 'up')
    assert up.returncode == 0, up.stderr
    pids = [entry['pid'] for entry in read_pids(env['LOCAL_STACK_DIR'])['pids'].values()]
    assert pids and all(psutil.pid_exists(pid) for pid in pids)
    stack_env = open(os.path.join(env['LOCAL_STACK_DIR'], 'stack.env')).read()
    for key in ('OIC_URL', 'OIC_USERNAME', 'OIC_PASSWORD', 'BIGQUERY_EMULATOR_HOST', 'BQ_PROJECT', 'OIC_TABLE',
                'DIRECT_TABLE'):
        assert key + '=' in stack_env
    assert port_open(env['LOCAL_OIC_PORT']) and port_open(env['LOCAL_BQ_PORT'])
    down = run_local(env, 'down')
    assert down.returncode == 0, down.stderr
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert not port_open(env['LOCAL_OIC_PORT']) and not port_open(env['LOCAL_BQ_PORT'])
    assert stack_processes(env) == []


def test_main_command_runs_both_paths_and_stops_the_stack(env, tmp_path):
    out = tmp_path / 'out'
    result = run_local(env, '--records', '25', '--out', str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'landed' in result.stdout and 'stopping the local stack' in result.stderr
    report = json.load(open(out / 'report.json'))
    for path in ('oic', 'direct'):
        assert report['paths'][path]['sent'] == report['paths'][path]['landed'] == 25
        assert report['paths'][path]['missing'] == 0
    # An unpaced batch is priced at the lab's 1 record/s, not at its burst: one OIC pack, direct in cents.
    assert "cost at 1 record/s: the lab's 1 record/s" in result.stdout
    assert 'Cost per month across sustained rates' in result.stdout
    oic, direct = report['paths']['oic']['cost'], report['paths']['direct']['cost']
    assert oic['at_rate'] == direct['at_rate'] == 1.0 and oic['items'][0]['packs'] == 1
    assert 470 < oic['usd_per_month'] < 472 and direct['usd_per_month'] < 1
    assert stack_processes(env) == []
    assert not port_open(env['LOCAL_OIC_PORT'])


def test_oauth_runs_the_comparison_over_https(env, tmp_path):
    out = tmp_path / 'out'
    result = run_local(env, '--oic_auth', 'oauth', '--records', '20', '--out', str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.load(open(out / 'run.json'))
    assert run['oic_auth'] == 'oauth' and run['oic_url'].startswith('https://127.0.0.1:%s/' % env['LOCAL_OIC_HTTPS_PORT'])
    assert run['metrics']['oic_token_fetches'] == 1
    report = json.load(open(out / 'report.json'))
    assert report['paths']['oic']['landed'] == report['paths']['direct']['landed'] == 20
    assert report['paths']['oic']['oic_monitoring']['check'] == 'done'  # The monitoring API over HTTPS too.
    assert 'token_fetches 1' in result.stdout
    assert stack_processes(env) == []


def test_a_failing_run_still_stops_the_stack(env, tmp_path):
    # Flags that pass the check before the stack starts (tests/launcher/test_run_local_flags.py) and a run that fails once it
    # is up: the stand-in refuses the credentials.
    result = run_local(env, '--records', '3', '--oic_username', 'nobody', '--out', str(tmp_path / 'out'))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "error: pipeline failed: OIC refused the credentials of user 'nobody'" in result.stderr
    assert 'stopping the local stack' in result.stderr
    assert stack_processes(env) == []
