"""./run_local.sh --help prints the launcher's usage and pipeline.run's own flags by group (--help_beam: Beam's options
too), and starts nothing."""

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
    assert '--help_beam' in flags and '--runner RUNNER' not in flags  # Beam's options: behind --help_beam
    # Nothing was started: no state directory (the stack writes its pids and stack.env there), no port taken.
    assert not state.exists()
    assert not any(port_open(port) for port in ports.values())
    assert 'starting' not in done.stderr and 'stopping the local stack' not in done.stderr


def test_help_lists_the_projects_flags_by_group_and_says_how_to_see_beams():
    done = subprocess.run([os.path.join(ROOT, '.venv', 'bin', 'python'), '-X', 'importtime', '-m', 'pipeline.run',
                           '--help'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    titles = [line[:-1] for line in done.stdout.splitlines() if line.endswith(':') and not line.startswith(' ')]
    assert titles == ['options', 'source', 'paths', 'the run', 'comparison', 'OIC branch', 'OIC batching', 'BigQuery',
                      'Dataflow and scale-out']
    assert '--oic_batch_kb OIC_BATCH_KB' in done.stdout.split('OIC batching:')[1].split('BigQuery:')[0]
    assert 'python -m pipeline.run --help_beam` lists them all' in ' '.join(done.stdout.split())
    assert '--runner RUNNER' not in done.stdout and '--sdk_container_image' not in done.stdout
    assert not any(line.rsplit('|', 1)[-1].strip() == 'apache_beam' for line in done.stderr.splitlines())


def test_help_beam_lists_beams_options_after_the_projects():
    done = subprocess.run([os.path.join(ROOT, 'run_local.sh'), '--records', '5', '--help_beam'], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _, _, flags = done.stdout.partition('usage: python -m pipeline.run')
    assert '--records RECORDS' in flags and '--runner RUNNER' in flags and '--sdk_container_image' in flags
    assert flags.index('--oic_url OIC_URL') < flags.index('--runner RUNNER')
