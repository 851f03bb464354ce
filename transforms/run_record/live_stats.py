"""What a path's caller is doing right now, counted as it happens, for the launcher's progress line.

Beam's metrics reach the launcher only when a bundle finishes, so a slow OIC looks like no OIC at all. The OIC
caller's threads update one LiveStats per (run directory, path) in their process instead; the launcher reads it
directly when the pipeline runs in its own process, and every process also writes it to a small JSON file under the
run directory about once a second (run_record.live_stats_file), which the launcher sums for multi-process runs.
Only for local run directories: on Dataflow the job's own metrics and monitoring do this job.
"""

import collections
import json
import os
import threading
import time
from typing import Dict, Iterable, List, Optional, Tuple

from transforms.run_record import files as run_record

WRITE_EVERY_S = 1.0
COUNTS = ('sent', 'acked', 'dead', 'in_flight', 'retries')


class LiveStats:
    """Thread-safe counters of one path in one process: records handed to the caller and settled, requests on the
    wire, retries, the request limit, and the errors seen (by a short label such as 'connection refused')."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTS, 0)
        self._limit: Optional[int] = None
        self._errors: collections.Counter = collections.Counter()
        self._last_error: Optional[str] = None
        self._last_error_at = 0.0

    def _add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def handed(self, records: int = 1) -> None:
        """`records` records were handed to the caller (a batch's, at once)."""
        self._add('sent', records)

    def settled(self, acked: bool) -> None:
        """A record was acknowledged (or dead-lettered)."""
        self._add('acked' if acked else 'dead')

    def request_started(self, attempt: int) -> None:
        """A request went on the wire; attempt 2 and later are retries."""
        with self._lock:
            self._counts['in_flight'] += 1
            if attempt > 1:
                self._counts['retries'] += 1

    def request_finished(self, error: Optional[str] = None) -> None:
        """A request came back (or failed); `error` is a short label ('HTTP 503', 'connection refused') or None."""
        with self._lock:
            self._counts['in_flight'] -= 1
            if error:
                self._errors[error] += 1
                self._last_error, self._last_error_at = error, time.time()

    def set_limit(self, limit: Optional[int]) -> None:
        """The current limit on requests in flight in this process (None = none known)."""
        with self._lock:
            self._limit = limit

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._counts, limit=self._limit, last_error=self._last_error,
                        last_error_count=self._errors[self._last_error] if self._last_error else 0,
                        last_error_at=self._last_error_at)


def combine(snapshots: Iterable[dict]) -> Optional[dict]:
    """The sum of several processes' snapshots (the latest error of any of them); None when there are none."""
    snapshots = list(snapshots)
    if not snapshots:
        return None
    total = {name: sum(s.get(name, 0) for s in snapshots) for name in COUNTS}
    limits = [s['limit'] for s in snapshots if s.get('limit') is not None]
    total['limit'] = sum(limits) if limits else None
    latest = max(snapshots, key=lambda s: s.get('last_error_at') or 0)
    total['last_error'] = latest.get('last_error')
    # Every process counts its own errors of that label; the sum is the job's.
    total['last_error_count'] = sum(s.get('last_error_count', 0) for s in snapshots
                                    if s.get('last_error') == total['last_error']) if total['last_error'] else 0
    return total


_REGISTRY: Dict[Tuple[str, str], LiveStats] = {}
_REGISTRY_LOCK = threading.Lock()
_writer: Optional[threading.Thread] = None


def stats_for(out_dir: str, path: str) -> LiveStats:
    """This process's LiveStats of `path` for the run writing to `out_dir` (created on first use); the process then
    writes it to its stats file about once a second."""
    global _writer
    with _REGISTRY_LOCK:
        stats = _REGISTRY.get((out_dir, path))
        if stats is None:
            stats = _REGISTRY[(out_dir, path)] = LiveStats()
        if _writer is None and run_record.is_local(out_dir):
            _writer = threading.Thread(target=_write_forever, name='live-stats', daemon=True)
            _writer.start()
    return stats


def forget(out_dir: str) -> None:
    """Drops this process's stats of a run directory (a new run starts there)."""
    with _REGISTRY_LOCK:
        for key in [key for key in _REGISTRY if key[0] == out_dir]:
            del _REGISTRY[key]


def _write_forever() -> None:
    while True:
        time.sleep(WRITE_EVERY_S)  # A daemon's cadence: it lives as long as the worker process does.
        write_all()


def write_all() -> None:
    """Writes every local run's stats of this process to its file (atomically); never raises."""
    with _REGISTRY_LOCK:
        entries = list(_REGISTRY.items())
    for (out_dir, path), stats in entries:
        if not run_record.is_local(out_dir):
            continue
        target = run_record.live_stats_file(out_dir, path, os.getpid())
        if not os.path.isdir(out_dir):
            continue  # Removed since (a finished test's directory): never create it again.
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target + '.tmp', 'w', encoding='utf-8') as handle:
                json.dump(stats.snapshot(), handle)
            os.replace(target + '.tmp', target)
        except OSError:
            continue  # The run directory was removed under us (a new run); the next round writes again.


def read(out_dir: str, path: str) -> Optional[dict]:
    """The job's live stats of `path`: this process's own, plus every other process's file; None when no caller
    has reported yet."""
    snapshots: List[dict] = []
    with _REGISTRY_LOCK:
        own = _REGISTRY.get((out_dir, path))
    if own is not None:
        snapshots.append(own.snapshot())
    for name, pid in run_record.live_stats_files(out_dir, path):
        if pid == os.getpid():
            continue  # Read from memory above, fresher than the file.
        try:
            with open(name, encoding='utf-8') as handle:
                snapshots.append(json.load(handle))
        except (OSError, ValueError):
            continue
    return combine(snapshots)
