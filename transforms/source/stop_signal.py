"""The drain signal of a local run: the launcher creates OUT/stop (run_record.STOP_FILE) on the first Ctrl-C or
SIGTERM; the sources check for it and stop emitting, so the pipeline finishes with what it already holds.

A file, not a threading.Event: a multi-process DirectRunner runs the source in other processes. Only for local run
directories; on Dataflow, `gcloud dataflow jobs drain` does this job.
"""

import os
import time
from typing import Optional

from transforms.run_record import files as run_record

CHECK_EVERY_S = 0.1  # At most this often a stat() of the stop file per StopSignal (a source checks per record).


class StopSignal:
    """Picklable view of a run's stop file; is_set() is cheap enough to call per record."""

    def __init__(self, out_dir: Optional[str]):
        self._path = run_record.join(out_dir, run_record.STOP_FILE) \
            if out_dir and run_record.is_local(out_dir) else None
        self._set = False
        self._checked_at = 0.0

    def is_set(self) -> bool:
        if self._set or self._path is None:
            return self._set
        now = time.monotonic()
        if now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self._set = os.path.exists(self._path)
        return self._set


def request_stop(out_dir: str) -> None:
    """Asks the sources of the run writing to local `out_dir` to stop (idempotent)."""
    with open(run_record.join(out_dir, run_record.STOP_FILE), 'a', encoding='utf-8'):
        pass
