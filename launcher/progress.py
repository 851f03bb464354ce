"""A progress line while the pipeline runs, counted from the run record files as they grow."""

import glob
import os
import sys
import threading
import time

COUNTED = ('invalid', 'oic/sent', 'oic/acks', 'oic/dead_letters', 'direct/sent', 'direct/dead_letters')


class LineCounter:
    """Counts lines of `OUT/<kind>-*.jsonl` incrementally: each call reads only what was appended since the last."""

    def __init__(self, out_dir):
        self._out_dir = out_dir
        self._offsets = {}
        self._counts = dict.fromkeys(COUNTED, 0)

    def counts(self):
        for kind in COUNTED:
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


def format_progress(counts, paths, elapsed):
    generated = counts['%s/sent' % paths[0]] + counts['invalid'] if paths else counts['invalid']
    parts = ['[%5.0fs] generated %d (invalid %d)' % (elapsed, generated, counts['invalid'])]
    if 'oic' in paths:
        parts.append('oic: sent %d, acked %d, dead-lettered %d' % (
            counts['oic/sent'], counts['oic/acks'], counts['oic/dead_letters']))
    if 'direct' in paths:
        parts.append('direct: sent %d, failed %d' % (counts['direct/sent'], counts['direct/dead_letters']))
    return ' | '.join(parts)


class Progress:
    """Prints the progress line every `interval` seconds on stderr until stopped (in place on a terminal)."""

    def __init__(self, out_dir, paths, interval=2.0, stream=None):
        self._counter = LineCounter(out_dir)
        self._paths, self._interval = paths, interval
        self._stream = stream or sys.stderr
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

    def _print(self, final=False):
        line = format_progress(self._counter.counts(), self._paths, time.monotonic() - self._started)
        tty = getattr(self._stream, 'isatty', lambda: False)()
        self._stream.write(('\r' + line + ('\n' if final else '')) if tty else line + '\n')
        self._stream.flush()

    def _loop(self):
        while not self._stop.wait(self._interval):
            self._print()
