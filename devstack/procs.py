"""Process and port helpers: detached launch, health polling, process-group shutdown, free/busy ports."""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import psutil


class StackError(Exception):
    """An expected failure (busy port, service died, bad config): reported as one line, no traceback."""


def free_port(host='127.0.0.1'):
    """A port the OS reports free right now (a tiny race remains until the service binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port, host='127.0.0.1'):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


LOG_KEEP_BYTES = 20 * 1024 * 1024  # a service's log past this at its start moves to <log>.1 (one kept)


def rotate_log(log_path, keep_bytes=LOG_KEEP_BYTES):
    """Moves a log that has grown past `keep_bytes` to log_path + '.1' (replacing an older one), so that a stack
    started day after day in the same state dir keeps at most about twice that (the stand-in logs every request)."""
    try:
        if os.path.getsize(log_path) > keep_bytes:
            os.replace(log_path, log_path + '.1')
    except FileNotFoundError:
        pass


def spawn(argv, log_path, env=None):
    """Starts argv detached in its own session (so its whole group can be stopped), output appended to log_path
    (rotated first when it has grown past LOG_KEEP_BYTES)."""
    rotate_log(log_path)
    with open(log_path, 'ab') as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, close_fds=True)


def log_tail(log_path, lines=15):
    try:
        with open(log_path, 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode('utf-8', 'replace')
    except OSError:
        return '(no log)'
    return '\n'.join(text.splitlines()[-lines:])


def http_ok(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(url, process, name, log_path, timeout=60.0):
    """Polls url until it answers 200; raises StackError with the log tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if http_ok(url):
            return
        code = process.poll() if isinstance(process, subprocess.Popen) else None
        if code is not None or (not isinstance(process, subprocess.Popen) and not pid_alive(process)):
            raise StackError('%s exited (code %s) before becoming healthy; last log lines of %s:\n%s'
                             % (name, code, log_path, log_tail(log_path)))
        if time.monotonic() > deadline:
            raise StackError('%s not healthy at %s after %.0fs; last log lines of %s:\n%s'
                             % (name, url, timeout, log_path, log_tail(log_path)))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def pid_alive(pid):
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def create_time(pid):
    """The process start time psutil reports (tells a reused pid apart), or None."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None


def stop_group(pid, grace=10.0):
    """SIGTERM the process group led by pid, SIGKILL whatever is left after `grace` seconds; True if it was running."""
    if not pid_alive(pid):
        return False
    try:
        members = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    _signal_group(pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=grace)
    if alive:
        _signal_group(pid, signal.SIGKILL)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
    return True


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
