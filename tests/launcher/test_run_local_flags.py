"""./run_local.sh checks the pipeline's flags before it starts the local stack: a mistyped flag or a bad value is one
line and exit 2, and no stack was started for it."""

import os
import socket
import subprocess

import psutil
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [str(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


def stack_processes(ports):
    """Processes of a local stack on these ports (their command lines name the ports)."""
    found = []
    for proc in psutil.process_iter(['cmdline']):
        cmdline = proc.info['cmdline'] or []
        joined = ' '.join(cmdline)
        if any(port in cmdline for port in ports) and ('devstack' in joined or 'bqemulator' in joined):
            found.append(proc)
    return found


@pytest.mark.parametrize('args, named', [
    (['--recrods', '10'], 'unknown flag --recrods'),
    (['--records', '-5'], '--records must be at least 1 (got -5)'),
    (['--rate', 'abc'], "argument --rate: invalid float value: 'abc'"),
    (['--records', '5', '--paths', 'oic,bq'], '--paths'),
    (['--oic_auth', 'oauth', '--oic_concurrency', '0'], '--oic_concurrency must be at least 1'),
])
def test_a_bad_flag_is_one_line_and_exit_2_with_no_stack_started(tmp_path, args, named):
    state = tmp_path / 'state'
    oic, bq, grpc, https = free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OIC_', 'BIGQUERY_', 'BQ_'))}
    env.update(LOCAL_STACK_DIR=str(state), LOCAL_OIC_PORT=oic, LOCAL_BQ_PORT=bq, LOCAL_BQ_GRPC_PORT=grpc,
               LOCAL_OIC_HTTPS_PORT=https)
    done = subprocess.run([os.path.join(ROOT, 'run_local.sh')] + args, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    # One line, naming the flag; the venv set-up may log before it ("==> …"), nothing else may.
    lines = [line for line in done.stderr.splitlines() if not line.startswith('==> ')]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith('error: ') and named in lines[0], lines[0]
    assert done.stdout == ''
    # No stack was started: it writes its pids and stack.env under the state directory before anything else.
    assert not state.exists()
    assert 'starting' not in done.stderr and 'stopping the local stack' not in done.stderr
    assert stack_processes({oic, bq, grpc, https}) == []


def imported_modules(*args):
    """The modules `python -X importtime ARGS` imported (its import log), and the finished process."""
    done = subprocess.run([os.path.join(ROOT, '.venv', 'bin', 'python'), '-X', 'importtime'] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    names = {line.rsplit('|', 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith('import time:')}
    return names, done


@pytest.mark.parametrize('args, named', [
    (['--recrods', '10'], 'unknown flag --recrods'),
    (['--rate', 'abc'], "argument --rate: invalid float value: 'abc'"),
    (['--oic_auth', 'token'], "argument --oic_auth: invalid choice: 'token'"),
])
def test_a_mistyped_flag_is_refused_without_importing_beam(args, named):
    names = refused_by_check_flags(args, named)
    assert 'apache_beam' not in names and 'launcher.run' not in names and 'devstack.stack' not in names


def refused_by_check_flags(args, named):
    """The modules `python -m launcher.check_flags stand-in ARGS` imported, once it refused ARGS in one line naming
    `named`, exit 2."""
    names, done = imported_modules('-m', 'launcher.check_flags', 'stand-in', *args)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if not line.startswith('import time:')]
    assert len(lines) == 1 and lines[0].startswith('error: ') and named in lines[0], done.stderr
    return names


@pytest.mark.parametrize('args, named', [
    (['--recrods', '10'], 'unknown flag --recrods (see python -m pipeline.run --help)'),
    (['--rec', '10'], 'unknown flag --rec'),  # no abbreviations, as in python -m pipeline.run
    (['--records=5', '--input'], 'argument --input: expected one argument'),
    (['--records', 'five'], "argument --records: invalid int value: 'five'"),
    (['--direct_method', 'BATCH'], "argument --direct_method: invalid choice: 'BATCH'"),
    (['--records', '5', 'stray'], "unexpected argument 'stray'"),
    (['--runner', 'DirectRunner', '--no_such_beam_option'], 'unknown flag --no_such_beam_option'),
])
def test_the_quick_check_refuses_what_the_run_refuses(args, named):
    from launcher.check_flags import quick_check
    refused = quick_check(args)
    assert refused is not None and named in refused
    from launcher.run import parse
    from pipeline.config import UsageError
    with pytest.raises(UsageError, match=named.split(' (')[0]):
        parse(args)


def test_the_quick_check_accepts_beam_options_and_the_projects_own():
    from launcher.check_flags import quick_check
    args = ['--records', '5', '--skip_preflight', '--oic_auth=oauth', '--runner', 'DirectRunner', '--streaming',
            '--experiments', 'a', '--experiments=b', '--num_workers', '3', '--direct_num_workers=2', '--project', 'p',
            '--no_use_public_ips']
    assert quick_check(args) is None


def test_rules_between_flags_are_still_checked_after_the_quick_pass():
    from launcher.check_flags import main
    assert main(['stack.env', '--paths', 'direct', '--records', '-5']) == 2
    assert main(['stack.env', '--paths', 'direct', '--records', '5', '--runner', 'NoSuchRunner']) == 2


def test_quick_mode_runs_the_first_pass_only():
    from launcher.check_flags import main
    assert main(['quick', '--recrods', '10']) == 2
    assert main(['quick', '--records', '-5']) == 0  # a rule of the configuration: the full pass's


BAD_VALUES = [
    (['--records', '-5'], '--records must be at least 1 (got -5)'),
    (['--oic_payload', 'seed', '--oic_batch_kb', '50'], '--oic_batch_kb needs --oic_payload extended'),
    (['--oic_batch_wait', '0'], '--oic_batch_wait must be > 0'),
    (['--paths', 'bogus'], "--paths takes a comma-separated list of oic, direct, storage_write (got 'bogus')"),
    (['--paths', 'storage_write', '--bigquery_emulator_grpc_host', '127.0.0.1:9060', '--bigquery_emulator_host='],
     "--bigquery_emulator_grpc_host (BIGQUERY_EMULATOR_GRPC_HOST) is set but the emulator's REST address is not"),
    (['--streaming', '--rate', '0'], '--rate must be > 0 with --streaming'),
    (['--paths', 'storage_write', '--streaming', '--storage_write_wait', '0'], '--storage_write_wait must be > 0'),
    (['--oic_auth', 'oauth', '--oic_client_id', ''], '--oic_auth oauth needs --oic_client_id'),
]


@pytest.mark.parametrize('args, named', BAD_VALUES)
def test_a_bad_value_is_refused_without_importing_beam(args, named):
    names = refused_by_check_flags(args, named)
    assert 'apache_beam' not in names and 'launcher.run' not in names and 'pipeline.config' not in names


@pytest.mark.parametrize('args, named', BAD_VALUES)
def test_the_values_check_refuses_what_the_run_refuses(monkeypatch, args, named):
    """The Beam-free pass and the run's own resolution apply the same rules (pipeline/rules/), to the same effect."""
    from pipeline.flags import GROUPS
    for flag in (f for group in GROUPS for f in group.flags if f.env):
        monkeypatch.delenv(flag.env, raising=False)
    environ = {'OIC_URL': 'http://127.0.0.1:1/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
               'OIC_USERNAME': 'u', 'OIC_PASSWORD': 'pw', 'OIC_TOKEN_URL': 'http://127.0.0.1:1/oauth2/v1/token',
               'OIC_CLIENT_ID': 'c', 'OIC_SCOPE': 's', 'OIC_CLIENT_SECRET': 'cs', 'BQ_PROJECT': 'p',
               'BIGQUERY_EMULATOR_HOST': 'http://127.0.0.1:2', 'BIGQUERY_EMULATOR_GRPC_HOST': '127.0.0.1:3'}
    from launcher.check_flags import values_check
    refused = values_check(args, environ)
    assert refused is not None and named in refused
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert values_check([], environ) is None  # only the bad value is refused
    from launcher.run import parse
    from pipeline.config import UsageError
    with pytest.raises(UsageError) as refusal:
        parse(args, environ)
    assert str(refusal.value) == refused
