"""A progress line while the pipeline runs: the run record files as they grow, and what the OIC caller is doing
now (transforms/run_record/live_stats.py: records settled, requests in flight, retries, the last error), so a slow or failing
OIC shows between bundle ends.

    [   12s] generated 40 (invalid 0) | oic: sent 40, acked 8, dead-lettered 0, in flight 16 of 16, retries 3,
             last error: HTTP 503 x3 | direct: sent 40, failed 0

Every 2 s, in place, on a terminal; every 10 s, one line each, otherwise (a log file, CI).
"""

import glob
import os
import shutil
import sys
import threading
import time
from typing import Dict, Mapping, Optional, Sequence, TextIO, Tuple

from comparison import paths as path_registry
from transforms.run_record import files as run_record
from transforms.run_record import live_stats



def counted(paths: Sequence[str]) -> Tuple[str, ...]:
    """The kinds of JSON-lines files the progress line counts for a run over `paths`."""
    return (run_record.INVALID,) + tuple(kind(path) for path in paths for kind in (
        run_record.sent_kind, run_record.acks_kind, run_record.dead_letters_kind))


COUNTED = counted(path_registry.known())  # every registered path's files (a run counts its own: counted(paths))
TTY_INTERVAL_S = 2.0
LOG_INTERVAL_S = 10.0  # When the stream is not a terminal: a line every so often, not a flood.


class LineCounter:
    """Counts lines of `OUT/<kind>-*.jsonl` incrementally: each call reads only what was appended since the last."""

    def __init__(self, out_dir: str, kinds: Sequence[str] = COUNTED):
        self._out_dir, self._kinds = out_dir, tuple(kinds)
        self._offsets: Dict[str, int] = {}
        self._counts = dict.fromkeys(self._kinds, 0)

    def counts(self) -> Dict[str, int]:
        for kind in self._kinds:
            for path in glob.glob(os.path.join(self._out_dir, kind + '-*.jsonl')):
                offset = self._offsets.get(path, 0)
                try:
                    with open(path, 'rb') as handle:
                        handle.seek(offset)
                        chunk = handle.read()
                except OSError:
                    continue
                complete = chunk.rfind(b'\n') + 1  # Count only whole lines; a partial one is read next time.
                self._offsets[path] = offset + complete
                self._counts[kind] += chunk.count(b'\n', 0, complete)
        return dict(self._counts)


def format_caller(live: dict) -> str:
    """', in flight 16 of 16, retries 3, last error: connection refused x37' from a caller's live stats."""
    text = ', in flight %d' % max(live['in_flight'], 0)
    if live.get('limit'):
        text += ' of %d' % live['limit']
    if live.get('retries'):
        text += ', retries %d' % live['retries']
    if live.get('last_error'):
        text += ', last error: %s x%d' % (live['last_error'], live['last_error_count'])
    return text


def format_progress(counts: Mapping[str, int], paths: Sequence[str], elapsed: float,
                    live: Optional[Dict[str, Optional[dict]]] = None) -> str:
    """The progress line from the run record's counts and, where a caller reports them, its live stats."""
    live = live or {}
    parts = []
    first_sent = None
    for path in paths:
        sent, acked, dead = (counts.get(kind(path), 0) for kind in (
            run_record.sent_kind, run_record.acks_kind, run_record.dead_letters_kind))
        caller = live.get(path)
        if caller:  # The caller counts as it happens; the files catch up within a second or at the bundle's end.
            sent, acked, dead = max(sent, caller['sent']), max(acked, caller['acked']), max(dead, caller['dead'])
        first_sent = sent if first_sent is None else first_sent
        if path_registry.of(path).acks_derived:
            parts.append('%s: sent %d, failed %d' % (path, sent, dead))
        else:
            parts.append('%s: sent %d, acked %d, dead-lettered %d%s' % (path, sent, acked, dead,
                                                                       format_caller(caller) if caller else ''))
    invalid = counts.get(run_record.INVALID, 0)
    head = '[%5.0fs] generated %d (invalid %d)' % (elapsed, (first_sent or 0) + invalid, invalid)
    return ' | '.join([head] + parts)


class Progress:
    """Prints the progress line on stderr until stopped: every `interval` seconds (default: 2 s in place on a
    terminal, 10 s otherwise)."""

    def __init__(self, out_dir: str, paths: Sequence[str], interval: Optional[float] = None,
                 stream: Optional[TextIO] = None):
        self._counter = LineCounter(out_dir, counted(paths))
        self._out_dir, self._paths = out_dir, paths
        self._stream = stream or sys.stderr
        self._tty = getattr(self._stream, 'isatty', lambda: False)()
        self._interval = interval if interval is not None else TTY_INTERVAL_S if self._tty else LOG_INTERVAL_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name='progress', daemon=True)
        self._started = time.monotonic()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._print(final=True)

    def line(self) -> str:
        live = {path: live_stats.read(self._out_dir, path) for path in self._paths}
        return format_progress(self._counter.counts(), self._paths, time.monotonic() - self._started, live)

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        return columns or shutil.get_terminal_size().columns  # 0: a terminal that does not say (COLUMNS, or 80).

    def _print(self, final=False):
        line = self.line()
        if self._tty:
            self._stream.write(self._in_place(line, self._width()) + ('\n' if final else ''))
            self._rows = 0 if final else self._rows
        else:
            self._stream.write(line + '\n')
        self._stream.flush()

    _rows = 0  # Terminal rows the last in-place update took.

    def _in_place(self, line: str, width: int) -> str:
        """Overwrites the previous update: one line when it fits the terminal, else one row per part (the totals,
        then each path), each cut to the width so that nothing wraps and the cursor knows where it is."""
        rows = [line] if len(line) < width else [p for p in line.split(' | ')]
        rows = [('  ' + row if i else row)[:max(width - 1, 20)] for i, row in enumerate(rows)]
        back = '\r' + ('\x1b[%dA' % (self._rows - 1) if self._rows > 1 else '') + '\x1b[J'
        self._rows = len(rows)
        return back + '\n'.join(rows)

    def _loop(self):
        while not self._stop.wait(self._interval):
            self._print()
