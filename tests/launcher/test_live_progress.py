"""The progress line shows what the OIC caller is doing as it happens: records settled, requests in flight,
retries, the last error and how often it was seen; from this process and from other worker processes' files."""

import fcntl
import io
import json
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import time

import pytest

from launcher.progress import Progress, format_caller, format_progress
from transforms.run_record import live_stats
from transforms.run_record import files as run_record
from transforms.run_record.live_stats import LiveStats, combine
from transforms.oic.caller import OICCaller
from transforms.oic.flow_control import FlowControl
from transforms.oic.retry import RetryPolicy
from transforms.oic.throttle import WorkerState

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORD = {'WH_ID': 'WH1', 'Item_Name': 'Poultry Fat', 'Item_id': 105, 'Quantity_Available': 1,
          'Quantity_Requested': 2, 'Backlog': -1, 'record_id': 'r-1', 'event_time': '2026-01-01T00:00:00Z'}
NO_COUNTS = dict.fromkeys(('invalid', 'oic/sent', 'oic/acks', 'oic/dead_letters', 'direct/sent',
                           'direct/dead_letters'), 0)


def test_live_stats_count_as_things_happen():
    stats = LiveStats()
    stats.set_limit(16)
    for _ in range(3):
        stats.handed()
    stats.request_started(1)
    stats.request_started(2)
    stats.request_finished('connection refused')
    stats.request_started(3)
    stats.request_finished('connection refused')
    stats.settled(acked=False)
    snap = stats.snapshot()
    assert (snap['sent'], snap['acked'], snap['dead'], snap['in_flight'], snap['retries'], snap['limit']) == \
        (3, 0, 1, 1, 2, 16)
    assert (snap['last_error'], snap['last_error_count']) == ('connection refused', 2)
    assert format_caller(snap) == ', in flight 1 of 16, retries 2, last error: connection refused x2'


def test_processes_add_up_and_the_latest_error_wins():
    one = dict(sent=5, acked=3, dead=0, in_flight=2, retries=1, limit=8, last_error='HTTP 503', last_error_count=4,
               last_error_at=10.0)
    two = dict(sent=7, acked=1, dead=1, in_flight=6, retries=0, limit=8, last_error='timeout', last_error_count=1,
               last_error_at=20.0)
    total = combine([one, two])
    assert (total['sent'], total['acked'], total['dead'], total['in_flight'], total['limit']) == (12, 4, 1, 8, 16)
    assert (total['last_error'], total['last_error_count']) == ('timeout', 1)
    assert combine([]) is None


def test_the_line_takes_the_fresher_of_files_and_caller():
    counts = dict(NO_COUNTS, **{'oic/sent': 10, 'oic/acks': 2})
    live = dict(sent=12, acked=5, dead=0, in_flight=4, retries=0, limit=4, last_error=None, last_error_count=0)
    line = format_progress(counts, ('oic', 'direct'), 3.0, {'oic': live})
    assert 'generated 12 (invalid 0) | oic: sent 12, acked 5, dead-lettered 0, in flight 4 of 4 | direct' in line


def test_a_refused_connection_is_counted_per_attempt():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    stats = LiveStats()
    caller = OICCaller('http://127.0.0.1:%d/x' % port, 'u', 'p', 2, (1.0, 1.0),
                       FlowControl(WorkerState(2).gate(), RetryPolicy(3, 10.0, 0.001, 0.001)), observer=stats)
    try:
        outcome = caller.call(RECORD)
    finally:
        caller.close()
    snap = stats.snapshot()
    assert outcome.kind == 'dead' and outcome.attempts == 3
    assert (snap['in_flight'], snap['retries'], snap['last_error'], snap['last_error_count']) == \
        (0, 2, 'connection refused', 3)


def test_progress_sums_other_processes_files(tmp_path):
    out = str(tmp_path)
    os.makedirs(os.path.join(out, run_record.LIVE_DIR))
    other = dict(sent=9, acked=1, dead=0, in_flight=8, retries=2, limit=8, last_error='HTTP 429',
                 last_error_count=2, last_error_at=1.0)
    with open(run_record.live_stats_file(out, 'oic', 4242), 'w') as handle:
        json.dump(other, handle)
    stream = io.StringIO()
    with Progress(out, ('oic',), interval=60, stream=stream):
        pass
    assert 'oic: sent 9, acked 1, dead-lettered 0, in flight 8 of 8, retries 2, last error: HTTP 429 x2' in \
        stream.getvalue()


def test_files_are_written_for_other_readers(tmp_path):
    out = str(tmp_path)
    stats = live_stats.stats_for(out, 'oic')
    try:
        stats.handed()
        live_stats.write_all()
        [(name, pid)] = run_record.live_stats_files(out, 'oic')
        assert pid == os.getpid() and json.load(open(name))['sent'] == 1
    finally:
        live_stats.forget(out)
    assert live_stats.read(out, 'oic') is None  # Its own file is skipped: this process reads memory.


def read_pty(master, process, deadline):
    """Everything written to the terminal until the process exits (or the deadline)."""
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:  # The terminal closed: the process is gone.
                break
            if not data:
                break
            chunks.append(data.decode('utf-8', 'replace'))
        elif process.poll() is not None:
            break
    return ''.join(chunks)


@pytest.mark.stack
def test_a_slow_oic_shows_requests_in_flight_before_the_bundle_ends(clean_stack, tmp_path):
    clean_stack.set_faults({'latency_ms': 2000})
    env = dict(os.environ, OIC_PASSWORD=clean_stack.password)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))  # 200 columns: one line.
    process = subprocess.Popen(
        [sys.executable, '-m', 'pipeline.run', '--paths', 'oic', '--records', '12', '--oic_concurrency', '4',
         '--no_landed_check', '--oic_url', clean_stack.oic_url, '--oic_username', clean_stack.username,
         '--out', str(tmp_path / 'out')],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    try:
        text = read_pty(master, process, time.monotonic() + 120)
        assert process.wait(30) == 0, text[-2000:]
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    lines = [part for part in re.split(r'[\r\n]', text) if 'oic: sent' in part]
    # One batch of 12 records is one bundle: it ends after the last answer. Before that, the line already shows
    # the requests on the wire and the records acknowledged so far.
    during = [line for line in lines[:-1] if re.search(r'in flight [1-4] of 4', line)]
    assert during, lines
    acked = [int(re.search(r'acked (\d+)', line).group(1)) for line in during]
    assert min(acked) < 12, lines
    assert 'acked 12, dead-lettered 0, in flight 0 of 4' in lines[-1]


def test_a_narrow_terminal_gets_one_row_per_part_overwritten_in_place(tmp_path):
    progress = Progress(str(tmp_path), ('oic', 'direct'), interval=60, stream=io.StringIO())
    line = format_progress(NO_COUNTS, ('oic', 'direct'), 1.0, {'oic': LiveStats().snapshot()})
    assert progress._in_place(line, 300) == '\r\x1b[J' + line
    first = progress._in_place(line, 60)
    assert first.split('\n')[1].startswith('  oic: sent 0') and first.count('\n') == 2
    assert all(len(row) < 60 for row in first.split('\x1b[J')[1].split('\n'))
    assert progress._in_place(line, 60).startswith('\r\x1b[2A\x1b[J')  # Back up over the three rows.
