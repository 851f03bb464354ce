"""Ctrl-C cannot leave a hung process: a shutdown that outlasts the grace period dumps every stack and exits."""

import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HANGS_AFTER_CTRL_C = '''
import os, signal, threading
import launcher.run as run
run.STOP_GRACE_S = 1
restore = run._watch_interrupts()
try:
    os.kill(os.getpid(), signal.SIGINT)
    threading.Event().wait(5)
except KeyboardInterrupt:
    print('interrupted', flush=True)
    threading.Event().wait()  # A shutdown that never ends.
'''

STOPS_IN_TIME = '''
import os, signal, faulthandler
import launcher.run as run
run.STOP_GRACE_S = 1
restore = run._watch_interrupts()
try:
    os.kill(os.getpid(), signal.SIGINT)
except KeyboardInterrupt:
    faulthandler.cancel_dump_traceback_later()
    restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    print('stopped', flush=True)
'''


def run_snippet(code):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_hung_shutdown_dumps_the_stacks_and_exits():
    done = run_snippet(HANGS_AFTER_CTRL_C)
    assert done.stdout.strip() == 'interrupted'
    assert done.returncode == 1
    assert 'Timeout (0:00:01)!' in done.stderr and 'most recent call first' in done.stderr


def test_a_prompt_stop_leaves_the_default_handler():
    done = run_snippet(STOPS_IN_TIME)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'stopped'


def test_not_installed_over_someone_elses_handler():
    import launcher.run as run
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run._watch_interrupts()()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
