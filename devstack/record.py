"""The record of a started local stack (its pid file in the state directory): is it running, and stopping exactly its
processes. Light on imports (psutil, no server code), so that `python -m devstack status` and `down` answer at once."""

import json
import os

from devstack import procs

PID_FILE = 'stack.pids'


def read_pids(state_dir):
    """The pid record of a stack started in state_dir, or None."""
    try:
        with open(os.path.join(state_dir, PID_FILE)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def running(state_dir):
    """(record, alive, healthy) for the stack in state_dir; record is None when there is none."""
    record = read_pids(state_dir)
    if not record:
        return None, False, False
    alive = all(_ours_alive(entry) for entry in record['pids'].values())
    healthy = alive and all(procs.http_ok(url) for url in record['health'].values())
    return record, alive, healthy


def down(state_dir):
    """Stops exactly the recorded processes; returns the names stopped (empty when nothing was running)."""
    record = read_pids(state_dir)
    if not record:
        return []
    stopped = [name for name, entry in record['pids'].items() if _ours_alive(entry) and procs.stop_group(entry['pid'])]
    os.remove(os.path.join(state_dir, PID_FILE))
    return stopped


def _ours_alive(entry):
    """The recorded process is alive and is still the one we started (not a reused pid)."""
    return procs.pid_alive(entry['pid']) and procs.create_time(entry['pid']) == entry.get('create_time')
