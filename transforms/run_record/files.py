"""The run record under --out: every file's name, its writer and its reader, side by side.

Written by the workers (sent records, acknowledgements, dead letters, invalid records: JSON lines, one file per
writer), by the launcher (run.json) and by the local probe (probe.jsonl, probe.json); read by the comparison.
"""

import glob
import json
import os
import shutil
from typing import List, Sequence, Tuple

from apache_beam.io.filesystems import FileSystems

from transforms.run_record.run_info import RunInfo

FLUSH_EVERY_S = 1.0

# Kinds of JSON-lines files (OUT/<kind>-<writer>.jsonl).
INVALID = 'invalid'


def sent_kind(path: str) -> str:
    """The kind of the records a path was handed, e.g. 'oic/sent'."""
    return '%s/sent' % path


def acks_kind(path: str) -> str:
    """The kind of a path's acknowledgements ('oic/acks')."""
    return '%s/acks' % path


def dead_letters_kind(path: str) -> str:
    """The kind of a path's dead letters ('oic/dead_letters')."""
    return '%s/dead_letters' % path


def limits_kind(path: str) -> str:
    """The kind of a path's concurrency-limit samples ('oic/limits'): one per change of a worker's limit."""
    return '%s/limits' % path


def appends_kind(path: str) -> str:
    """The kind of a path's appends ('storage_write/appends'): one per append the Storage Write API accepted, with
    its rows and serialized bytes."""
    return '%s/appends' % path


RUN_FILE = 'run.json'
PROBE_SIGHTINGS = 'probe.jsonl'
PROBE_SUMMARY = 'probe.json'
REPORT_JSON = 'report.json'
REPORT_HTML = 'report.html'
# What each worker process's callers are doing now (transforms/run_record/live_stats.py): OUT/live/<path>-<pid>.json, replaced
# about once a second; summed by the launcher's progress line. Local run directories only.
LIVE_DIR = 'live'
# Created by the launcher on the first Ctrl-C or SIGTERM of a local run: the sources stop (transforms/source/stop_signal.py).
STOP_FILE = 'stop'
# What a run writes under --out besides each path's directory (OUT/<path>/, named by the paths' declarations:
# clear_previous is handed them); only these are removed when a new run starts there.
RECORD_ENTRIES = (RUN_FILE, PROBE_SIGHTINGS, PROBE_SUMMARY, REPORT_JSON, REPORT_HTML, LIVE_DIR, STOP_FILE)
RECORD_GLOBS = (INVALID + '-*.jsonl',)


def is_local(path: str) -> bool:
    """True when a path (the run directory, an input file) is on this machine, not gs:// or another Beam filesystem."""
    return '://' not in path


def join(out_dir: str, name: str) -> str:
    """A file of the run directory, local or remote."""
    return '%s/%s' % (out_dir.rstrip('/'), name)


def live_stats_file(out_dir: str, path: str, pid: int) -> str:
    """The live stats file of one worker process for one path."""
    return os.path.join(out_dir, LIVE_DIR, '%s-%d.json' % (path, pid))


def live_stats_files(out_dir: str, path: str) -> List[Tuple[str, int]]:
    """Every worker process's live stats file of `path`, with its process id."""
    found = []
    for name in glob.glob(os.path.join(out_dir, LIVE_DIR, '%s-*.json' % path)):
        pid = os.path.basename(name)[len(path) + 1:-len('.json')]
        if pid.isdigit():
            found.append((name, int(pid)))
    return found


def record_file_pattern(out_dir: str, kind: str) -> str:
    """Where records of `kind` (e.g. 'oic/acks') are written; one file per writer."""
    return join(out_dir, '%s-*.jsonl' % kind)


def read_records(out_dir: str, kind: str) -> List[dict]:
    """All JSON lines of `kind` in a run directory (local or any Beam filesystem), in no particular order."""
    pattern = record_file_pattern(out_dir, kind)
    matches = FileSystems.match([pattern])[0].metadata_list
    found = []
    for meta in sorted(matches, key=lambda m: m.path):
        with FileSystems.open(meta.path) as handle:
            for raw in handle.read().decode('utf-8').splitlines():
                if raw.strip():
                    try:
                        found.append(json.loads(raw))
                    except ValueError:
                        continue  # A torn last line of a writer that was killed mid-write.
    return found


def clear_previous(out_dir: str, paths: Sequence[str]) -> None:
    """Removes the previous run's record from `out_dir` (and nothing else): RECORD_ENTRIES, RECORD_GLOBS and the
    directory of each path in `paths` (every declared path: pipeline/path_specs.py's PATHS); creates the directory."""
    os.makedirs(out_dir, exist_ok=True)
    for name in RECORD_ENTRIES + tuple(paths):
        path = os.path.join(out_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    for pattern in RECORD_GLOBS:
        for path in glob.glob(os.path.join(out_dir, pattern)):
            os.remove(path)


def write_run(out_dir: str, info: RunInfo) -> None:
    """Writes run.json (atomically on a local directory; one whole object on gs://)."""
    run = info.to_json()
    if not is_local(out_dir):
        with FileSystems.create(join(out_dir, RUN_FILE), mime_type='application/json') as handle:
            handle.write(json.dumps(run, indent=2, sort_keys=True, default=str).encode('utf-8'))
        return
    path = os.path.join(out_dir, RUN_FILE)
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(run, handle, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)


def load_run(out_dir: str) -> RunInfo:
    """run.json of a run directory, local or on any Beam filesystem (gs:// for Dataflow runs)."""
    path = join(out_dir, RUN_FILE)
    if not FileSystems.exists(path):
        raise FileNotFoundError('no run recorded in %s (expected %s); run python -m pipeline.run first' %
                                (out_dir, path))
    with FileSystems.open(path) as handle:
        return RunInfo.from_json(json.loads(handle.read().decode('utf-8')))
