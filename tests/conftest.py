"""Shared pytest fixtures: the local stack (BigQuery emulator + OIC stand-in) for tests marked `stack`."""

import os
import signal
import sys

import pytest

# Tests import the project's packages from the repository root, however pytest was started.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from devstack.testing import running_stack  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'stack: needs the local stack (BigQuery emulator and OIC stand-in)')
    # A background job of a non-interactive shell (`cmd &` in a script) starts with SIGINT ignored, and an ignored
    # signal stays ignored across exec: the runs these tests start and Ctrl-C would ignore it (and the run rightly
    # does not take over a handler it did not find at default). A handled signal is reset to default on exec.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope='session')
def local_stack(tmp_path_factory):
    """One stack for the whole session, on free ports, in a temporary state dir."""
    with running_stack(str(tmp_path_factory.mktemp('stack'))) as stack:
        yield stack


@pytest.fixture
def clean_stack(local_stack):
    """The session stack with no faults, zeroed counters, no tracking instances and both tables empty."""
    local_stack.reset_faults()
    local_stack.set_mode(edition='oic3', integration='strict')
    local_stack.hold_sink(False)
    local_stack.set_oauth(ttl=300, fail_next=0)
    local_stack.reset_stats()
    local_stack.create_tables()
    for table in (local_stack.oic_table, local_stack.direct_table):
        local_stack.truncate(table)
    return local_stack
