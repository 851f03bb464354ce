"""An unbounded stream, like the lab's script: rows land while it runs, and Ctrl-C drains it, then compares."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from devstack.testing import running_stack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.stack


def count_lines(folder, pattern):
    return sum(open(path).read().count('\n') for path in folder.glob(pattern))


@pytest.fixture
def fresh_stack(tmp_path):
    """A stack of its own: after a whole session of tests the shared emulator is large and slower to answer."""
    with running_stack(str(tmp_path / 'stack')) as stack:
        yield stack


def test_stream_lands_while_running_and_ctrl_c_reports(fresh_stack, tmp_path):
    clean_stack = fresh_stack
    env = dict(os.environ, **clean_stack.env())
    out = tmp_path / 'out'
    process = subprocess.Popen(
        [sys.executable, '-m', 'launcher.run', '--streaming', '--rate', '20', '--out', str(out),
         '--probe_interval', '0'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Let the stream run until OIC has acknowledged 30 records (each only once its row was in BigQuery). The
        # run record is read, not BigQuery: bqemulator can wedge when it is read while it is being written.
        deadline = time.monotonic() + 60
        while count_lines(out / 'oic', 'acks-*.jsonl') < 30:
            assert process.poll() is None and time.monotonic() < deadline, 'the stream did not get going'
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail('no exit 120 s after SIGINT; stderr tail:\n' + stderr[-3000:])
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[-2000:]
    assert 'Ctrl-C: draining' in stderr and 'DRAINED' in stdout and 'Traceback' not in stderr
    report = json.load(open(out / 'report.json'))
    for path in ('oic', 'direct'):
        result = report['paths'][path]
        # The direct path inserted as it went: a write held back until the end of the stream would have landed
        # nothing when the stream was interrupted.
        assert result['landed'] >= 30 and result['duplicates'] == 0, (path, result)
        # The drain let every record handed to a path finish: none is unaccounted for.
        assert result['missing'] == 0, (path, result)
