"""Staging the project for Dataflow workers without noise on the terminal.

Beam's stager builds the --setup_file package by running `python -m build --sdist`, and when the `build` package is
not installed (it is not a Beam dependency) it says so on stderr (`No module named build`) before falling back to
`python setup.py sdist`, which is what happens here. `build` itself, when installed, prints its progress on stderr
(`* Building sdist...`, even with --quiet), and Beam 2.77 offers no way to pass other arguments (its
`build_setup_args` parameter is accepted and never run). So for the run, a setup.py package is built here with Beam's
own fallback command, quietly: the same sdist, nothing on the terminal, and the command's output in the error should
it fail. Beam's own code is back when the run ends; a pyproject.toml project goes through Beam unchanged.
"""

import contextlib
import fcntl
import glob
import os
import subprocess
from typing import Iterator, List, Optional


LOCK_FILE = '.sdist.lock'  # beside setup.py: one build at a time in a source tree


def build_sdist(setup_file: str, temp_dir: str, python: str) -> str:
    """`python setup.py -q sdist` into temp_dir; the sdist's path. RuntimeError with the build's output if it fails.

    setup.py assembles its release tree (NAME-VERSION/) and its .egg-info in the source tree itself, whatever the
    dist dir, so two builds of one tree at once (two jobs launched together, two tests) delete each other's files;
    a lock file beside setup.py makes the second wait for the first."""
    tree = os.path.dirname(os.path.abspath(setup_file))
    with open(os.path.join(tree, LOCK_FILE), 'a', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run([python, 'setup.py', '-q', 'sdist', '--dist-dir', temp_dir],
                              cwd=tree, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError('building the package from %s failed (exit %d): %s' % (
            setup_file, done.returncode, (done.stderr or done.stdout).strip()[-2000:]))
    found = glob.glob(os.path.join(temp_dir, '*.tar.gz'))
    if not found:
        raise RuntimeError('building the package from %s wrote no .tar.gz to %s' % (setup_file, temp_dir))
    return found[0]


@contextlib.contextmanager
def quiet_setup_package() -> Iterator[bool]:
    """Within the block, Beam's stager builds a setup.py package with build_sdist(); yields False (and changes
    nothing) when the stager is not shaped as expected."""
    from apache_beam.runners.portability.stager import Stager
    original = Stager.__dict__.get('_build_setup_package')
    if not isinstance(original, staticmethod):
        yield False
        return

    def build_quietly(setup_file: str, temp_dir: str, build_setup_args: Optional[List[str]] = None) -> str:
        if build_setup_args is not None or os.path.basename(setup_file) != 'setup.py':
            return original.__func__(setup_file, temp_dir, build_setup_args)
        return build_sdist(setup_file, temp_dir, Stager._get_python_executable())  # pylint: disable=protected-access

    Stager._build_setup_package = staticmethod(build_quietly)  # type: ignore[method-assign]
    try:
        yield True
    finally:
        Stager._build_setup_package = original  # type: ignore[method-assign]
