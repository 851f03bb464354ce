"""./run_local.sh --help prints the launcher's usage and pipeline.run's flags, and starts nothing."""

import os
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', port)) == 0


@pytest.mark.parametrize('args', [['--help'], ['-h'], ['--records', '5', '--help']])
def test_help_prints_both_usages_and_starts_no_stack(tmp_path, args):
    state = tmp_path / 'state'
    ports = {'LOCAL_OIC_PORT': free_port(), 'LOCAL_BQ_PORT': free_port(), 'LOCAL_BQ_GRPC_PORT': free_port()}
    env = dict(os.environ, LOCAL_STACK_DIR=str(state), **{k: str(v) for k, v in ports.items()})
    done = subprocess.run([os.path.join(ROOT, 'run_local.sh')] + args, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    usage, _, flags = done.stdout.partition('usage: python -m pipeline.run')
    for command in ('up', 'down | status', 'test', 'sweep', '-h | --help'):
        assert './run_local.sh %s' % command in usage
    assert 'go to `python -m pipeline.run`' in usage
    assert '--oic_url' in flags and '--records' in flags
    # Nothing was started: no state directory (the stack writes its pids and stack.env there), no port taken.
    assert not state.exists()
    assert not any(port_open(port) for port in ports.values())
    assert 'starting' not in done.stderr and 'stopping the local stack' not in done.stderr
