"""The signal handling of a run (launcher/interrupts.py): the first Ctrl-C/SIGTERM drains, the second cancels, a
drain that outlasts its timeout is cancelled, and a cancel cannot leave a hung process behind."""

import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DRAIN_THEN_CANCEL = '''
import os, signal, threading
from launcher.interrupts import Interrupts
drained = threading.Event()
with Interrupts(drained.set, drain_timeout=60) as interrupts:
    os.kill(os.getpid(), signal.SIG)
    assert drained.wait(10), 'the first signal did not drain'
    print('draining', flush=True)
    try:
        os.kill(os.getpid(), signal.SIG)
        threading.Event().wait(10)
    except KeyboardInterrupt:
        print('cancelled', interrupts.cancelled, interrupts.exit_code, flush=True)
assert signal.getsignal(signal.SIG) in (signal.default_int_handler, signal.SIG_DFL)
'''

DRAIN_TIMES_OUT = '''
import os, signal, threading
from launcher.interrupts import Interrupts
with Interrupts(lambda: None, drain_timeout=0.5) as interrupts:
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(30)  # A main thread blocked in a wait, as in wait_until_finish().
    except KeyboardInterrupt:
        print('cancelled', interrupts.drain_timed_out, interrupts.exit_code, flush=True)
'''

HANGS_AFTER_CANCEL = '''
import os, signal, threading
from launcher.interrupts import Interrupts
with Interrupts(None, drain_timeout=60, stop_grace_s=1):
    try:
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(5)
    except KeyboardInterrupt:
        print('interrupted', flush=True)
        threading.Event().wait()  # A shutdown that never ends.
'''


def run_snippet(code):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_first_signal_drains_and_the_second_cancels():
    for name, code in (('SIGINT', 130), ('SIGTERM', 143)):
        done = run_snippet(DRAIN_THEN_CANCEL.replace('signal.SIG)', 'signal.%s)' % name))
        assert done.returncode == 0, done.stderr
        assert done.stdout.split('\n')[:2] == ['draining', 'cancelled True %d' % code], done.stdout
        assert 'draining: the source stops' in done.stderr


def test_a_drain_past_its_timeout_is_cancelled_even_while_the_main_thread_waits():
    done = run_snippet(DRAIN_TIMES_OUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'cancelled True 143'
    assert 'drain timeout (0.5s) reached; cancelling' in done.stderr


def test_a_hung_shutdown_dumps_the_stacks_and_exits():
    done = run_snippet(HANGS_AFTER_CANCEL)
    assert done.stdout.strip() == 'interrupted'
    assert done.returncode == 1
    assert 'Timeout (0:00:01)!' in done.stderr and 'most recent call first' in done.stderr


def test_not_installed_over_someone_elses_handler():
    from launcher.interrupts import Interrupts
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with Interrupts(lambda: None, 1) as interrupts:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # Still the default there: taken.
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert interrupts.signum is None
    finally:
        signal.signal(signal.SIGINT, previous)
