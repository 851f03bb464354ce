"""bqemulator's command line, without its per-write time-travel snapshots: python -m devstack.bq_server start …

bqemulator 1.4 copies a table whole into a new snapshot table after every write to it (`SnapshotManager.
record_change`, for `FOR SYSTEM_TIME AS OF`), so a stream of small `insertAll` calls costs time and memory in
proportion to the table each time: measured ~80 inserts/s into an empty table falling to ~11/s at 30,000 rows, and
13 GB of memory after five minutes at 100 inserts/s. This project never reads the past of a table; the stack starts
the emulator through this module, which keeps the change events (materialized views and caches follow them) and
skips the copies. Time-travel queries then read the live table.
"""

import sys


def _record_change_without_snapshot(self, project_id, dataset_id, table_id):
    from bqemulator.domain.events import TableDataChanged
    self._events.publish(TableDataChanged(project_id, dataset_id, table_id))


def without_write_snapshots():
    """Patches bqemulator so that writes publish their change event but copy nothing; idempotent."""
    from bqemulator.versioning.snapshots import SnapshotManager
    SnapshotManager.record_change = _record_change_without_snapshot


def main():
    without_write_snapshots()
    from bqemulator.cli import main as bqemulator_main
    return bqemulator_main(prog_name='python -m devstack.bq_server')


if __name__ == '__main__':
    sys.exit(main())
