"""The emulator's launcher: writes publish their change event but copy no snapshot of the table."""

import uuid

import pytest
import requests
from bqemulator.domain.events import EventBus, TableDataChanged
from bqemulator.versioning.snapshots import SnapshotManager

from devstack import bq, bq_server
from devstack.testing import running_stack


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


# -- insertId de-duplication, as BigQuery does it (at least a minute, here exactly the window)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_repeated_insert_id_is_dropped_within_the_window_only():
    clock = Clock()
    window = bq_server.InsertIdWindow(60.0, clock)
    assert window.admit('t', ['a', 'b']) == [True, True]
    clock.now += 59.9
    assert window.admit('t', ['a', 'c', 'c']) == [False, True, False]  # repeats within one request count too
    assert window.admit('other', ['a']) == [True]  # per table
    clock.now += 0.1  # 60 s after 'a' and 'b' were first seen
    assert window.admit('t', ['a', 'b']) == [True, True]
    assert window.dropped == 2


def test_rows_without_an_insert_id_are_never_dropped_and_refused_rows_may_come_again():
    window = bq_server.InsertIdWindow(60.0, Clock())
    assert window.admit('t', [None, '', None]) == [True, True, True]
    assert window.admit('t', ['x']) == [True]
    window.forget('t', ['x'])  # BigQuery refused the row: its retry must be stored
    assert window.admit('t', ['x']) == [True]


def test_the_window_comes_from_the_environment():
    assert bq_server.dedup_window_from({}) == 60.0
    assert bq_server.dedup_window_from({'BQ_DEDUP_WINDOW_S': '0'}) == 0.0
    assert bq_server.dedup_window_from({'BQ_DEDUP_WINDOW_S': '120'}) == 120.0
    for bad in ('-1', 'soon', 'inf', 'nan'):
        with pytest.raises(ValueError):
            bq_server.dedup_window_from({'BQ_DEDUP_WINDOW_S': bad})


def insert_all(stack, rows, table='inventory_oic'):
    url = '%s/bigquery/v2/projects/%s/datasets/warehouse/tables/%s/insertAll' % (
        stack.bq_endpoint, stack.project, table)
    answer = requests.post(url, json={'rows': rows, 'skipInvalidRows': True}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def row(record_id, insert_id=None, **changes):
    fields = dict({'WH_ID': 'WH1', 'Item_Name': 'Poultry Fat', 'Item_id': 105, 'Quantity_Available': 10,
                   'Quantity_Requested': 4, 'Backlog': 0, 'record_id': record_id}, **changes)
    return {'insertId': insert_id, 'json': fields} if insert_id is not None else {'json': fields}


@pytest.mark.stack
def test_the_local_bigquery_drops_repeated_insert_ids_by_default(clean_stack):
    assert insert_all(clean_stack, [row('r1', 'r1'), row('r2', 'r2')])['insertErrors'] == []
    assert insert_all(clean_stack, [row('r1', 'r1'), row('r3', 'r3')])['insertErrors'] == []  # r1 again: dropped
    assert insert_all(clean_stack, [row('n', None), row('n', None)])['insertErrors'] == []  # no insertId: both kept
    # A refused row keeps its place in the answer, and its insertId is not remembered.
    answer = insert_all(clean_stack, [row('r2', 'r2'), row('bad', 'bad', Item_id='x'), row('r4', 'r4')])
    assert [e['index'] for e in answer['insertErrors']] == [1]
    assert insert_all(clean_stack, [row('bad', 'bad')])['insertErrors'] == []
    ids = sorted(r['record_id'] for r in clean_stack.rows(clean_stack.oic_table))
    assert ids == ['bad', 'n', 'n', 'r1', 'r2', 'r3', 'r4']


@pytest.mark.stack
def test_with_the_window_off_every_retry_lands(tmp_path):
    with running_stack(str(tmp_path / 'stack'), bq_dedup_window=0) as stack:
        for _ in range(3):
            assert insert_all(stack, [row('r1', 'r1')])['insertErrors'] == []
        assert [r['record_id'] for r in stack.rows(stack.oic_table)] == ['r1'] * 3


@pytest.mark.stack
def test_storage_write_appends_and_rest_inserts_at_the_same_time_all_complete(local_stack):
    # As released, bqemulator inserts an append's rows into DuckDB from a gRPC thread while REST inserts use the same
    # connection on the event loop: measured here, 200 of each at once answered a 500 or deadlocked the emulator in
    # every one of four runs. The launcher runs the appends' inserts on the event loop (bq_server).
    import threading
    from transforms import records
    from transforms.storage_write import GrpcClientFactory
    from transforms.storage_write.schema import RowSerializer
    appended, inserted = bq.create_tables(local_stack.bq_client(), tables=('appended_%s' % uuid.uuid4().hex[:8],
                                                                            'inserted_%s' % uuid.uuid4().hex[:8]))
    serializer, calls, failures = RowSerializer(records.BIGQUERY_SCHEMA), 200, []

    def append():
        client = GrpcClientFactory(local_stack.bq_grpc_host, timeout_s=10.0)()  # a deadlock: DEADLINE_EXCEEDED
        stream = client.create_stream(appended)
        for i in range(calls):
            answer = client.append(stream, 5 * i, [serializer.serialize(records.make_record(1, appended, 5 * i + j))
                                                   for j in range(5)], serializer.descriptor)
            assert answer.outcome.value == 'ok', answer
        client.close()

    def insert():
        for i in range(calls):
            insert_all(local_stack, [{'json': records.make_record(2, inserted, 5 * i + j)} for j in range(5)],
                       table=inserted.rsplit('.', 1)[-1])

    def recording_failures(work):
        def run():
            try:
                work()
            except Exception as error:  # noqa: BLE001 (reported by the test below)
                failures.append(repr(error))
        return run
    threads = [threading.Thread(target=recording_failures(work), daemon=True) for work in (append, insert)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)  # each call gives up after 10 s: a bound, not a wait
    assert not any(thread.is_alive() for thread in threads) and failures == []
    for table in (appended, inserted):
        assert len(local_stack.rows(table)) == 5 * calls


def test_the_patches_apply_only_to_the_release_they_were_written_for():
    from importlib.metadata import version
    assert bq_server.patches_apply(version('bqemulator'))  # a lock bump fails here: re-check the patches' targets
    assert not bq_server.patches_apply('1.5.0') and not bq_server.patches_apply('2.4.1')


def test_a_text_is_parsed_once_and_every_caller_gets_its_own_tree():
    import sqlglot
    parses = []

    def parse(sql, **kwargs):
        parses.append(sql)
        return sqlglot.parse_one(sql, **kwargs)

    cache = bq_server.ParseCache(parse, size=2)
    first = cache('SELECT a FROM t WHERE b = @p', read='bigquery')
    first.set('where', None)  # a caller rewriting its tree (the emulator's rewriters do)
    again = cache('SELECT a FROM t WHERE b = @p', read='bigquery')
    assert again.sql(dialect='bigquery') == 'SELECT a FROM t WHERE b = @p' and again is not first
    assert len(parses) == 1 and (cache.hits, cache.misses) == (1, 1)
    cache('SELECT a FROM t WHERE b = @p', read='duckdb')  # another dialect: another tree
    cache('SELECT 2', read='bigquery')  # the oldest of three falls out of a cache of two
    cache('SELECT a FROM t WHERE b = @p', read='bigquery')
    assert len(parses) == 4
    for _ in range(2):  # a text that does not parse raises each time and is not kept
        with pytest.raises(sqlglot.errors.ParseError):
            cache('SELECT FROM WHERE (', read='bigquery')
    assert len(parses) == 6
