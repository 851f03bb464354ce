"""The emulator's launcher: writes publish their change event but copy no snapshot of the table."""

from bqemulator.domain.events import EventBus, TableDataChanged
from bqemulator.versioning.snapshots import SnapshotManager

from devstack import bq, bq_server


class _Engine:
    def __init__(self):
        self.statements = []

    def execute(self, sql, *args, **kwargs):
        self.statements.append(sql)


class _Catalog:
    def get_table(self, *ref):
        return object()

    def create_snapshot(self, meta):
        raise AssertionError('no snapshot should be recorded')


def manager(engine, events):
    return SnapshotManager(engine, _Catalog(), clock=None, events=events, retention_days=7)


def test_a_write_publishes_its_change_and_copies_nothing(monkeypatch):
    monkeypatch.setattr(SnapshotManager, 'record_change', SnapshotManager.record_change)  # Undone after the test.
    bq_server.without_write_snapshots()
    engine, events, seen = _Engine(), EventBus(), []
    events.subscribe(TableDataChanged, seen.append)
    manager(engine, events).record_change('p', 'd', 't')
    assert engine.statements == []
    assert [(e.project_id, e.dataset_id, e.table_id) for e in seen] == [('p', 'd', 't')]


def test_as_released_a_write_copies_the_whole_table(monkeypatch):
    """What the launcher removes: bqemulator 1.4 runs CREATE TABLE … AS SELECT * FROM <table> after every write."""
    engine = _Engine()
    monkeypatch.setattr(_Catalog, 'create_snapshot', lambda self, meta: None)
    from bqemulator.domain.clock import SystemClock
    SnapshotManager(engine, _Catalog(), SystemClock(), EventBus(), retention_days=7).record_change('p', 'd', 't')
    assert len(engine.statements) == 1 and 'AS SELECT * FROM' in engine.statements[0]


def test_the_stack_starts_the_emulator_through_the_launcher():
    command = bq.emulator_command('local-project', 9050, 9060)
    assert command[1:4] == ['-m', 'devstack.bq_server', 'start']
