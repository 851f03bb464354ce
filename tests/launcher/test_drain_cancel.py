"""Ctrl-C or SIGTERM drains a local stream (the source stops, what is in flight finishes, the three-way check
agrees); a second one cancels at once and the report names the records still in flight. No traceback either way,
and run.json always ends in a final state."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.stack


def count_lines(folder, pattern):
    return sum(open(path).read().count('\n') for path in folder.glob(pattern)) if folder.exists() else 0


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting for ' + what
        time.sleep(0.2)


def stream_argv(stack, out, *extra):
    return ['--streaming', '--rate', '20', '--out', str(out), '--probe_interval', '0', '--oic_url', stack.oic_url,
            '--oic_username', stack.username, '--bigquery_emulator_host', stack.bq_endpoint,
            '--direct_table', stack.direct_table, '--oic_table', stack.oic_table] + list(extra)


def assert_drained_and_agreeing(out):
    run = json.load(open(out / 'run.json'))
    assert run['state'] == 'DRAINED', run['state']
    report = json.load(open(out / 'report.json'))
    for path in ('oic', 'direct'):
        result = report['paths'][path]
        assert result['sent'] >= 30 and result['missing'] == 0 and result['duplicates'] == 0, (path, result)
        assert result['landed'] == result['sent'] - result['dead_lettered'], (path, result)
    assert report['paths']['oic']['in_flight'] == 0
    assert report['paths']['oic']['oic_monitoring']['three_way']['agree'], report['paths']['oic']['oic_monitoring']
    return report


class Terminal:
    """A tmux server of its own (a private socket) running one shell command in a 200x50 pane, like a user's
    terminal: Ctrl-C goes to the foreground process group of the pane."""

    def __init__(self, tmp_path, command, env):
        self._socket = 'drain-test-%s' % uuid.uuid4().hex[:8]
        self._env = env
        self.rc_file = tmp_path / 'rc'
        conf = tmp_path / 'tmux.conf'
        conf.write_text('set -g history-limit 100000\nset -g remain-on-exit on\n')
        self._tmux('-f', str(conf), 'new-session', '-d', '-s', 'run', '-x', '200', '-y', '50',
                   'cd %s && %s; echo $? > %s' % (ROOT, command, self.rc_file))

    def _tmux(self, *args):
        return subprocess.run(['tmux', '-L', self._socket] + list(args), env=self._env, check=True,
                              capture_output=True, text=True, timeout=30).stdout

    def ctrl_c(self):
        self._tmux('send-keys', '-t', 'run', 'C-c')

    def text(self):
        return self._tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'run')

    def exit_code(self, timeout):
        wait_for(lambda: self.rc_file.exists() and self.rc_file.read_text().strip(), timeout, 'the command to end')
        return int(self.rc_file.read_text())

    def close(self):
        subprocess.run(['tmux', '-L', self._socket, 'kill-server'], env=self._env, capture_output=True, timeout=30)


@pytest.fixture
def env(clean_stack):
    # The stack's password, and what the monitoring check needs (OAuth client, instance name, CA): stack.env's.
    return dict(os.environ, **clean_stack.monitoring_env(), PYTHONUNBUFFERED='1')


def test_ctrl_c_in_a_terminal_drains_and_the_check_agrees(clean_stack, env, tmp_path):
    out = tmp_path / 'out'
    command = ' '.join([sys.executable, '-m', 'pipeline.run'] + stream_argv(clean_stack, out))
    terminal = Terminal(tmp_path, command, env)
    try:
        wait_for(lambda: count_lines(out / 'oic', 'acks-*.jsonl') >= 30, 90, '30 acknowledgements')
        terminal.ctrl_c()
        code = terminal.exit_code(120)
        text = terminal.text()
    finally:
        terminal.close()
    assert code == 130, text[-3000:]
    assert 'Ctrl-C: draining' in text and '(DRAINED)' in text, text[-3000:]
    assert 'Traceback' not in text and 'KeyboardInterrupt' not in text and 'ERROR' not in text, text[-3000:]
    assert_drained_and_agreeing(out)


def test_sigterm_drains_with_exit_143(clean_stack, env, tmp_path):
    out = tmp_path / 'out'
    process = subprocess.Popen([sys.executable, '-m', 'pipeline.run'] + stream_argv(clean_stack, out), cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: count_lines(out / 'oic', 'acks-*.jsonl') >= 30 or process.poll() is not None, 90,
                 '30 acknowledgements')
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr[-3000:]
    assert 'SIGTERM: draining' in stderr and 'Traceback' not in stderr and '(DRAINED)' in stdout
    run = json.load(open(out / 'run.json'))
    assert run['stopped_by'] == 'SIGTERM' and run['drain'] == {'timeout_s': 30.0, 'timed_out': False,
                                                              'cancelled': False}
    assert_drained_and_agreeing(out)


def test_a_second_signal_cancels_and_names_what_was_in_flight(clean_stack, env, tmp_path):
    # Every answer takes 10 s: the drain cannot be over before the second signal is handled, even on a loaded machine
    # (at 4 s, a fresh clone's busy suite once handled it after the drain had finished: DRAINED, not CANCELLED).
    clean_stack.set_faults({'latency_ms': 10000})
    out = tmp_path / 'out'
    process = subprocess.Popen([sys.executable, '-m', 'pipeline.run'] + stream_argv(
        clean_stack, out, '--oic_concurrency', '4', '--no_landed_check'), cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: count_lines(out / 'oic', 'sent-*.jsonl') >= 8 or process.poll() is not None, 90,
                 'records handed to OIC')
        process.send_signal(signal.SIGINT)
        wait_for(lambda: (out / 'stop').exists() or process.poll() is not None, 30, 'the drain to start')
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[-3000:]
    assert 'Traceback' not in stderr and 'KeyboardInterrupt' not in stderr, stderr[-3000:]
    run = json.load(open(out / 'run.json'))
    assert run['state'] == 'CANCELLED' and run['drain']['cancelled']
    report = json.load(open(out / 'report.json'))
    in_flight = report['paths']['oic']['in_flight_ids']
    assert in_flight, report['paths']['oic']
    assert 'records were in flight when the run was cancelled' in stdout
    assert all(record_id in stdout for record_id in in_flight[:20])
    sent = {json.loads(line)['record_id'] for path in (out / 'oic').glob('sent-*.jsonl') for line in open(path)}
    assert set(in_flight) <= sent


def test_a_drain_that_outlasts_its_timeout_is_cancelled(clean_stack, env, tmp_path):
    clean_stack.set_faults({'latency_ms': 6000})
    out = tmp_path / 'out'
    process = subprocess.Popen([sys.executable, '-m', 'pipeline.run'] + stream_argv(
        clean_stack, out, '--oic_concurrency', '4', '--no_landed_check', '--paths', 'oic', '--drain_timeout', '1'),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: count_lines(out / 'oic', 'sent-*.jsonl') >= 4 or process.poll() is not None, 90,
                 'records handed to OIC')
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr[-3000:]
    assert 'drain timeout (1s) reached; cancelling' in stderr and 'Traceback' not in stderr, stderr[-3000:]
    run = json.load(open(out / 'run.json'))
    assert run['state'] == 'CANCELLED' and run['drain']['timed_out']


def test_run_local_sh_passes_ctrl_c_on_to_the_run_and_stops_its_stack(env, tmp_path):
    import socket

    def free_port():
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            return s.getsockname()[1]

    state = tmp_path / 'state'
    environ = {k: v for k, v in env.items() if k not in ('OIC_URL', 'OIC_USERNAME', 'OIC_PASSWORD',
                                                         'BIGQUERY_EMULATOR_HOST', 'BQ_PROJECT', 'OIC_TABLE',
                                                         'DIRECT_TABLE')}
    environ.update(LOCAL_STACK_DIR=str(state), LOCAL_OIC_PORT=str(free_port()), LOCAL_BQ_PORT=str(free_port()),
                   LOCAL_BQ_GRPC_PORT=str(free_port()), LOCAL_OIC_HTTPS_PORT=str(free_port()))
    out = tmp_path / 'out'
    terminal = Terminal(tmp_path, './run_local.sh --streaming --rate 20 --probe_interval 0 --out %s' % out, environ)
    try:
        wait_for(lambda: count_lines(out / 'oic', 'acks-*.jsonl') >= 30, 120, '30 acknowledgements')
        terminal.ctrl_c()
        code = terminal.exit_code(120)
        text = terminal.text()
    finally:
        terminal.close()
    assert code == 130, text[-3000:]
    assert 'Ctrl-C: draining' in text and 'stopping the local stack' in text and 'Traceback' not in text, text[-3000:]
    assert json.load(open(out / 'run.json'))['state'] == 'DRAINED'
    report = json.load(open(out / 'report.json'))
    assert all(report['paths'][p]['missing'] == 0 for p in ('oic', 'direct')), report['paths']
    status = subprocess.run([sys.executable, '-m', 'devstack', 'status', '--state-dir', str(state)], cwd=ROOT,
                            env=environ, capture_output=True, text=True, timeout=60)
    assert status.returncode != 0, status.stdout  # The stack it started is down.
