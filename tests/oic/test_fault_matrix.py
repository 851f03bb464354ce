"""Fault matrix against the real local services: whatever OIC or BigQuery do, every generated record lands or is
dead-lettered, by record_id, and the report says what happened."""

import concurrent.futures
import glob
import json
import socket
import threading
import time
import types
import uuid

import pytest

from devstack.testing import running_stack
import pipeline.config as pipeline_config
from launcher.run import main
from transforms.records import record_id_for

pytestmark = pytest.mark.stack

RECORDS = 60
RUN_TIMEOUT_S = 150
TRIGGER_TIMEOUT_S = 180  # A deadline for a fault's trigger on a loaded machine, not a wait.


@pytest.fixture(scope='module')
def matrix_stack(tmp_path_factory):
    """A stack of this module's own: its emulator keeps its rows across restart_bigquery(), like real BigQuery, and
    keeps every retried row (no insertId de-duplication): the raw retries, which the report must count."""
    with running_stack(str(tmp_path_factory.mktemp('matrix-stack')), persistent_bigquery=True,
                       bq_dedup_window=0) as stack:
        yield stack


@pytest.fixture
def stack(matrix_stack, monkeypatch, request):
    pin_run_id(monkeypatch, request.node.name)
    matrix_stack.reset_faults()
    matrix_stack.reset_stats()
    matrix_stack.create_tables()
    for table in (matrix_stack.oic_table, matrix_stack.direct_table):
        matrix_stack.truncate(table)
    monkeypatch.setenv('OIC_PASSWORD', matrix_stack.password)
    return matrix_stack


def pin_run_id(monkeypatch, test_name):
    """Gives the test's runs a run id of their own that is the same in every session. The stand-in draws a request's
    fate from (seed, record_id, attempt), and record_ids come from the run id: with a new run id each time, whether a
    run drew a 503, a hang or a lost answer at all was left to chance (CI once drew no 503 in 77 requests)."""
    run_id = uuid.uuid5(uuid.NAMESPACE_URL, 'tests/oic/test_fault_matrix/%s' % test_name)
    monkeypatch.setattr(pipeline_config, 'uuid', types.SimpleNamespace(uuid4=lambda: run_id))


def argv_for(stack, out, *extra):
    return ['--out', str(out), '--oic_url', stack.oic_url, '--oic_username', stack.username,
            '--bigquery_emulator_host', stack.bq_endpoint, '--direct_table', stack.direct_table,
            '--oic_table', stack.oic_table, '--seed', '7'] + list(extra)


def run_pipeline(stack, out, *extra):
    assert main(argv_for(stack, out, *extra)) == 0
    return json.load(open(out / 'report.json'))


def run_while(stack, out, extra, trigger, action, what):
    """Runs the pipeline in a thread; once `trigger()` is true, does `action()`; returns the report."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(main, argv_for(stack, out, *extra))
        try:
            wait_until(lambda: future.done() or trigger(), TRIGGER_TIMEOUT_S, what)
            assert not future.done(), 'the run ended before %s' % what
        finally:
            action()  # Also when the wait failed: a fault left on would keep the run (and this test) going for minutes.
        assert future.result(timeout=RUN_TIMEOUT_S) == 0
    return json.load(open(out / 'report.json'))


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting for %s' % what
        time.sleep(0.05)


def settle(stack):
    """Waits until OIC has no request in flight (a hung one stores its row late): the emulator then serves reads
    alone (bqemulator can wedge under concurrent reads and writes)."""
    wait_until(lambda: stack.stats()['in_flight'] == 0, 30, 'OIC to finish its requests in flight')


def read_jsonl(pattern):
    return [json.loads(line) for name in glob.glob(pattern) for line in open(name, encoding='utf-8')]


def account(stack, out, report, count, paths=('oic', 'direct')):
    """Asserts that nothing was lost on each path: sent == generated and landed ∪ dead-lettered == generated, by
    record_id, from the tables themselves; returns {path: (rows per record_id, dead letters)}."""
    settle(stack)
    run = json.load(open(out / 'run.json'))
    generated = {record_id_for(run['run_id'], i) for i in range(count)}
    found = {}
    for path in paths:
        sent = {r['record_id'] for r in read_jsonl(str(out / path / 'sent-*.jsonl'))}
        assert sent == generated, path
        dead = read_jsonl(str(out / path / 'dead_letters-*.jsonl'))
        rows = {}
        for row in stack.rows(getattr(stack, '%s_table' % path)):
            rows[row['record_id']] = rows.get(row['record_id'], 0) + 1
        landed = set(rows) & generated
        dead_ids = {d['record_id'] for d in dead}
        lost = generated - landed - dead_ids
        assert not lost, '%s lost %d records: %s' % (path, len(lost), sorted(lost)[:5])
        result = report['paths'][path]
        assert result['missing'] == 0 and result['missing_ids'] == [], (path, result)
        if result['landed'] is not None:  # None: the run skipped its landed check; the table was read above.
            assert result['landed'] + result['dead_lettered'] - result.get('landed_but_dead_lettered', 0) == count, \
                (path, result)
        found[path] = (rows, dead)
    return found


def attempts_of(out):
    return {a['record_id']: a for a in read_jsonl(str(out / 'oic' / 'acks-*.jsonl'))}


def test_a_429_storm_is_waited_out_as_retry_after_says(stack, tmp_path):
    stack.set_faults({'seed': 1, 'error_rates': {'429': 0.5}, 'retry_after': 1})
    report = run_pipeline(stack, tmp_path, '--records', str(RECORDS))

    found = account(stack, tmp_path, report, RECORDS)
    oic = report['paths']['oic']
    stats = stack.stats()
    assert (oic['landed'], oic['dead_lettered'], oic['duplicates']) == (RECORDS, 0, 0)
    assert stats['by_status']['429'] == stats['requests'] - RECORDS > RECORDS // 3
    assert oic['http_requests'] == stats['requests'], 'the report counts every attempt'
    retried = [a for a in attempts_of(tmp_path).values() if a['attempts'] > 1]
    assert retried and all(a['latency_ms'] >= 1000 * (a['attempts'] - 1) for a in retried), \
        'a retry came before the Retry-After of 1 s'
    assert sum(found['direct'][0].values()) == RECORDS


def test_5xx_errors_are_retried_and_refusals_dead_lettered(stack, tmp_path):
    stack.set_faults({'seed': 2, 'error_rates': {'500': 0.15, '502': 0.1, '503': 0.1},
                      'reject': {'field': 'WH_ID', 'values': ['WH3'], 'status': 400}})
    report = run_pipeline(stack, tmp_path, '--records', str(RECORDS))

    found = account(stack, tmp_path, report, RECORDS)
    oic = report['paths']['oic']
    rows, dead = found['oic']
    assert dead and all(d['reason'] == 'http_400' and d['record']['WH_ID'] == 'WH3' for d in dead)
    assert oic['dead_lettered_by_reason'] == {'http_400': len(dead)}
    assert oic['landed'] == RECORDS - len(dead) and oic['duplicates'] == 0
    statuses = stack.stats()['by_status']
    assert all(statuses.get(s) for s in ('500', '502', '503')), statuses
    assert report['paths']['direct']['landed'] == RECORDS


def test_a_total_outage_burst_is_ridden_out(stack, tmp_path):
    stack.set_faults({'error_rates': {'500': 0.4, '502': 0.3, '503': 0.3}})  # every request fails …
    report = run_while(stack, tmp_path, ['--streaming', '--rate', '20', '--records', str(RECORDS)],
                       trigger=lambda: stack.stats()['requests'] >= 10,
                       action=stack.reset_faults,  # … until 10 have failed
                       what='10 failed requests')

    account(stack, tmp_path, report, RECORDS)
    oic = report['paths']['oic']
    assert (oic['landed'], oic['dead_lettered']) == (RECORDS, 0)
    assert max(a['attempts'] for a in attempts_of(tmp_path).values()) > 1


def test_latency_spikes_past_the_timeout_are_retried(stack, tmp_path):
    # A hung request is processed after 3 s anyway (as OIC would): the retry that succeeded earlier makes a
    # second row, which the report shows as a duplicate rather than hiding it.
    stack.set_faults({'seed': 3, 'hang_rate': 0.15, 'hang_seconds': 3, 'jitter_ms': 50})
    report = run_pipeline(stack, tmp_path, '--records', str(RECORDS), '--oic_read_timeout', '1')

    account(stack, tmp_path, report, RECORDS)
    oic = report['paths']['oic']
    assert (oic['landed'], oic['dead_lettered']) == (RECORDS, 0)
    timed_out = [a for a in attempts_of(tmp_path).values() if a['attempts'] > 1]
    assert timed_out and all(a['latency_ms'] >= 1000 for a in timed_out)
    # Every request eventually stores its row (account() waited for the hung ones): each extra row is a duplicate.
    requests = stack.stats()['requests']
    assert len(stack.rows(stack.oic_table)) == requests
    final = run_compare(tmp_path)
    assert final['paths']['oic']['duplicates'] == requests - RECORDS > 0
    assert final['paths']['oic']['missing'] == 0


def test_dropped_connections_are_retried(stack, tmp_path):
    stack.set_faults({'seed': 4, 'drop_rate': 0.15, 'drop_after_rate': 0.1})
    report = run_pipeline(stack, tmp_path, '--records', str(RECORDS))

    found = account(stack, tmp_path, report, RECORDS)
    oic = report['paths']['oic']
    assert (oic['landed'], oic['dead_lettered']) == (RECORDS, 0)
    stats = stack.stats()
    assert stats['by_status'].get('dropped', 0) == stats['requests'] - RECORDS > 0
    # A connection closed after the row was stored (a lost acknowledgement) leaves a duplicate, and says so.
    rows = found['oic'][0]
    assert oic['duplicates'] == sum(rows.values()) - RECORDS > 0


def test_oic_restarted_mid_run(stack, tmp_path):
    report = run_while(stack, tmp_path, ['--streaming', '--rate', '20', '--records', str(RECORDS)],
                       trigger=lambda: stack.stats()['requests'] >= 15,
                       action=stack.restart_oic, what='15 requests to OIC')

    account(stack, tmp_path, report, RECORDS)
    oic = report['paths']['oic']
    assert (oic['landed'], oic['dead_lettered']) == (RECORDS, 0)
    assert report['paths']['direct']['landed'] == RECORDS
    assert stack.stats()['requests'] < RECORDS, 'the restarted OIC should have seen only part of the run'


class Blackhole:
    """Holds a stopped service's port: accepts each connection and closes it at once, counting them, so a test can
    see that a client tried (and failed) to reach the service during the outage."""

    def __init__(self, port):
        self.connections = 0
        self._server = socket.create_server(('127.0.0.1', port))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self._server.close()
        self._thread.join(5)


def bigquery_outage(stack, until):
    """An action for run_while: the emulator goes down, its port refuses service until `until(blackhole)`, then the
    emulator comes back with its rows (always, even when the wait fails, so the run can finish)."""
    def action():
        stack.stop_bigquery()
        hole = Blackhole(int(stack.bq_endpoint.rsplit(':', 1)[1]))
        try:
            wait_until(lambda: until(hole), 60, 'clients to meet the outage')
        finally:
            hole.close()
            stack.start_bigquery()
    return action


def test_the_direct_path_rides_out_a_bigquery_restart(stack, tmp_path):
    # Only the direct path talks to BigQuery here (no OIC, no probe), so a connection to the dead port is its insert.
    handed = lambda: len(read_jsonl(str(tmp_path / 'direct' / 'sent-*.jsonl'))) >= 15  # noqa: E731
    report = run_while(stack, tmp_path, ['--paths', 'direct', '--no_landed_check', '--streaming', '--rate', '20',
                                         '--records', str(RECORDS)],
                       trigger=handed, action=bigquery_outage(stack, lambda hole: hole.connections >= 2),
                       what='15 records handed to the direct path')

    (rows, dead), = account(stack, tmp_path, report, RECORDS, paths=('direct',)).values()
    assert not dead and sum(rows.values()) == RECORDS
    batch = json.load(open(tmp_path / 'run.json'))['metrics']['batch_latency_ms']
    assert batch['max'] >= 100, 'the insert waited for BigQuery to come back: %s' % batch


def test_oic_rides_out_a_bigquery_restart(stack, tmp_path):
    report = run_while(stack, tmp_path, ['--paths', 'oic', '--streaming', '--rate', '20', '--records', str(RECORDS)],
                       trigger=lambda: stack.stats()['requests'] >= 15,
                       action=bigquery_outage(stack, lambda hole: stack.stats()['by_status'].get('502', 0) >= 5),
                       what='15 requests to OIC')

    account(stack, tmp_path, report, RECORDS, paths=('oic',))
    oic = report['paths']['oic']
    assert (oic['landed'], oic['dead_lettered']) == (RECORDS, 0), oic
    assert json.load(open(tmp_path / 'run.json'))['metrics']['oic_retries'] >= 5


def run_compare(out):
    """Recomputes the report of the run recorded in `out` (python -m pipeline.compare)."""
    from comparison.report import build_report
    return build_report(str(out), oic_monitoring=False)
