"""What a benchmark ran on, in one line: CPU model and count, load, Python, and the packages on the request path.

Figures that depend on the client's per-request work (the OIC caller at hundreds of requests per second) move with
the machine and the installed packages: the uncapped 50 ms run measured 0.90-0.92 of its ideal on 2026-11-28 and
0.80 on 2026-12-01 with the same commit, and nothing recorded which of the two had changed (benchmarks/README.md,
"Issue 22, third session"). Benchmarks print this line first so that their figures say."""

import importlib.metadata
import os
import platform
from typing import Iterable, Optional

PACKAGES = ('apache-beam', 'urllib3', 'aiohttp')  # the runner, the caller's transport, the stand-in's server


def cpu_model(cpuinfo: str) -> Optional[str]:
    """The first 'model name' of /proc/cpuinfo's text, or None."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(':')
        if key.strip() == 'model name' and value.strip():
            return value.strip()
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except OSError:
        return ''


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return 'absent'


def describe(packages: Iterable[str] = PACKAGES) -> str:
    """e.g. 'machine: AMD EPYC x2, load 0.41 / Python 3.11.7 / apache-beam 2.77.0, urllib3 2.8.0, aiohttp 3.14.5'."""
    model = cpu_model(_read('/proc/cpuinfo')) or platform.processor() or platform.machine() or 'unknown CPU'
    load = _read('/proc/loadavg').split()[:1]
    return 'machine: %s x%d%s / Python %s / %s' % (
        model, os.cpu_count() or 0, ', load %s' % load[0] if load else '', platform.python_version(),
        ', '.join('%s %s' % (name, _version(name)) for name in packages))
