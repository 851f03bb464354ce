"""Ctrl-C and SIGTERM during a run: the first drains, a second one cancels (Dataflow's drain and cancel, locally).

Drain: the sources stop (the `drain` callback: the run's stop file, transforms/source/stop_signal.py) and the records
already handed to a path are acknowledged or dead-lettered as usual; the pipeline then finishes by itself. If it has
not within the drain timeout, or on a second Ctrl-C/SIGTERM, the run is cancelled: KeyboardInterrupt in the main
thread (the runner stops where it is), Beam's own complaints about that interrupt silenced, and a watchdog that dumps
every thread's stack and exits should the runner's shutdown hang.

The signal handler only records the signal and wakes a helper thread: printing or touching files from inside a
handler can collide with what the main thread was doing at that moment.
"""

import faulthandler
import logging
import signal
import sys
import threading
from typing import Callable, Dict, Optional, TextIO

STOP_GRACE_S = 60  # After a cancel, the runner's shutdown gets this long before the stacks are dumped and it exits.
SIGNALS = (signal.SIGINT, signal.SIGTERM)
NAMES: Dict[int, str] = {signal.SIGINT: 'Ctrl-C', signal.SIGTERM: 'SIGTERM'}


def exit_code(signum: int) -> int:
    """What a shell reports for a process ended by `signum`: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


class Interrupts:
    """Installs the drain-then-cancel handlers for SIGINT and SIGTERM while a run executes (a context manager).

    `drain`: called once, off the signal handler, on the first signal; None = the run cannot drain, so the first
    signal cancels. `describe_in_flight`: a short text of what is still in flight, for the messages.
    """

    def __init__(self, drain: Optional[Callable[[], None]], drain_timeout: float,
                 describe_in_flight: Callable[[], str] = lambda: '', stream: Optional[TextIO] = None,
                 stop_grace_s: float = STOP_GRACE_S):
        self._drain, self._timeout, self._describe = drain, drain_timeout, describe_in_flight
        self._stream = stream or sys.stderr
        self._stop_grace_s = stop_grace_s
        self.signum: Optional[int] = None  # The first signal received.
        self.cancelled = False
        self.drain_timed_out = False
        self._first = threading.Event()  # A first signal arrived: the helper thread drains.
        self._finished = threading.Event()  # The run is over: the helper thread has nothing left to do.
        self._previous: dict = {}
        self._main = threading.main_thread()
        self._helper = threading.Thread(target=self._drain_then_cancel, name='drain', daemon=True)
        self._beam_log_level: Optional[int] = None

    # -- installing
    def __enter__(self) -> 'Interrupts':
        if threading.current_thread() is not self._main:
            return self  # Signal handlers belong to the main thread (an embedding program's thread runs us).
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            # Only over Python's defaults: a test harness or an embedding program may have its own.
            if current in (signal.default_int_handler, signal.SIG_DFL):
                self._previous[signum] = current
                signal.signal(signum, self._handle)
        self._helper.start()
        return self

    def __exit__(self, *exc) -> None:
        self._finished.set()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        faulthandler.cancel_dump_traceback_later()
        if self._beam_log_level is not None:
            logging.getLogger('apache_beam').setLevel(self._beam_log_level)

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    @property
    def exit_code(self) -> Optional[int]:
        return exit_code(self.signum) if self.signum is not None else None

    # -- the handler (main thread, between two bytecodes of whatever it was doing)
    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            if self._drain is not None:
                self._first.set()
                return
        self._cancel()

    def _cancel(self) -> None:
        if self.cancelled:
            raise KeyboardInterrupt  # A third one: the same again.
        self.cancelled = True
        # The runner reports the interrupt from inside whatever step the main thread was running, with a long
        # traceback: expected here, so not shown.
        beam_log = logging.getLogger('apache_beam')
        self._beam_log_level = beam_log.level
        beam_log.setLevel(logging.CRITICAL + 1)
        faulthandler.dump_traceback_later(self._stop_grace_s, exit=True)  # A shutdown that hangs cannot hang us.
        raise KeyboardInterrupt

    # -- the helper thread
    def _drain_then_cancel(self) -> None:
        while not self._first.wait(0.5):
            if self._finished.is_set():
                return
        assert self._drain is not None and self.signum is not None
        self._say('\n%s: draining: the source stops; what is in flight%s gets up to %gs to finish '
                  '(%s again cancels)' % (NAMES.get(self.signum, 'signal'), self._in_flight(), self._timeout,
                                          NAMES.get(self.signum, 'the signal')))
        try:
            self._drain()
        except OSError as err:  # The stop file could not be written: nothing will drain, so cancel.
            self._say('cannot drain (%s); cancelling' % err)
            self._interrupt_main()
            return
        if self._finished.wait(self._timeout):
            return
        if not self.cancelled:
            self.drain_timed_out = True
            self._say('\ndrain timeout (%gs) reached; cancelling%s' % (self._timeout, self._in_flight()))
            self._interrupt_main()

    def _interrupt_main(self) -> None:
        """Delivers the signal again to the main thread, whose handler now cancels (a real signal wakes it from a
        blocking wait, which _thread.interrupt_main would not)."""
        if self._main.ident is not None:
            signal.pthread_kill(self._main.ident, self.signum or signal.SIGINT)

    def _in_flight(self) -> str:
        try:
            text = self._describe()
        except Exception:  # Only a message: never let it stop the drain.
            text = ''
        return ' (%s)' % text if text else ''

    def _say(self, text: str) -> None:
        self._stream.write(text + '\n')
        self._stream.flush()
