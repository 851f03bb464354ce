"""The run record's metadata file (run.json) and the clearing of a previous run's record."""

import glob
import json
import os
import shutil

RUN_FILE = 'run.json'
# What a run writes under --out; only these are removed when a new run starts there.
RECORD_ENTRIES = ('run.json', 'oic', 'direct', 'probe.jsonl', 'probe.json', 'report.json', 'report.html')
RECORD_GLOBS = ('invalid-*.jsonl',)


def clear_previous(out_dir):
    """Removes the previous run's record from `out_dir` (and nothing else); creates the directory."""
    os.makedirs(out_dir, exist_ok=True)
    for name in RECORD_ENTRIES:
        path = os.path.join(out_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    for pattern in RECORD_GLOBS:
        for path in glob.glob(os.path.join(out_dir, pattern)):
            os.remove(path)


def write_run(out_dir, run):
    if '://' in out_dir:  # gs:// (Dataflow): one object, written whole.
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.create('%s/%s' % (out_dir.rstrip('/'), RUN_FILE), mime_type='application/json') as handle:
            handle.write(json.dumps(run, indent=2, sort_keys=True, default=str).encode('utf-8'))
        return
    path = os.path.join(out_dir, RUN_FILE)
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(run, handle, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)


def load_run(out_dir):
    """run.json of a run directory, local or on any Beam filesystem (gs:// for Dataflow runs)."""
    from apache_beam.io.filesystems import FileSystems
    path = '%s/%s' % (out_dir.rstrip('/'), RUN_FILE)
    if not FileSystems.exists(path):
        raise FileNotFoundError('no run recorded in %s (expected %s); run python -m pipeline.run first' %
                                (out_dir, path))
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode('utf-8'))
