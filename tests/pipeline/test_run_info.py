"""The run record's header (run.json) is a typed contract: what the launcher writes, the comparison reads back."""

import dataclasses

import pytest

from launcher.run import parse
from transforms.run_record.files import load_run, write_run
from transforms.run_record.run_info import OICRunInfo, RunInfo, check_at_rate

STACK = ['--oic_url', 'http://127.0.0.1:1/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
         '--oic_username', 'u', '--direct_table', 'p:warehouse.inventory_direct',
         '--bigquery_emulator_host', 'http://127.0.0.1:2']
ENV = {'OIC_PASSWORD': 'hunter2'}

# run.json's keys before issue 31 (RunConfig.describe() at 1724c5e): readers of older run directories keep working.
KEYS_BEFORE = {
    'run_id', 'runner', 'paths', 'out', 'workers', 'streaming', 'records', 'rate', 'seed', 'input', 'source_shards',
    'oic_table', 'direct_table', 'dead_letter_table', 'emulator_host', 'direct_method', 'landed_check',
    'probe_interval', 'at_rate', 'run_record_dataset', 'drain_timeout', 'oic_url', 'oic_payload', 'oic_batch_kb',
    'oic_batch_url', 'oic_username', 'oic_concurrency', 'oic_concurrency_mode', 'oic_posting_processes'}


def test_a_run_record_written_and_read_back_is_the_same_record(tmp_path):
    _, config = parse(STACK + ['--oic_batch_kb', '20', '--rate', '5'], ENV)
    info = dataclasses.replace(config.describe(), started_at='2026-12-06T08:00:00.000000Z', state='DONE',
                               metrics={'oic_requests': 3})
    write_run(str(tmp_path), info)
    back = load_run(str(tmp_path))
    assert back == dataclasses.replace(info, paths=tuple(info.paths), tables=dict(info.tables))
    assert back.oic is not None and back.oic_batch_kb == 20.0 and back.oic.trigger_url == back.oic.batch_url
    assert back.table('direct') == 'p:warehouse.inventory_direct' and back.rate == 5


def test_run_json_keeps_its_flat_keys_and_no_secret():
    _, config = parse(STACK, ENV)
    flat = config.describe().to_json()
    assert KEYS_BEFORE <= set(flat) and 'hunter2' not in str(flat)
    assert flat['oic_payload'] == 'extended' and flat['direct_table'] == 'p:warehouse.inventory_direct'


def test_an_older_or_partial_run_json_reads_with_defaults():
    run = RunInfo.from_json({'run_id': 'r', 'paths': ['direct'], 'direct_table': 'p:d.t', 'unknown_key': 1})
    assert run.paths == ('direct',) and run.oic is None and run.oic_payload == 'extended' and run.oic_batch_kb == 0
    assert run.table('direct') == 'p:d.t' and run.table('oic') is None and run.landed_check
    assert RunInfo.from_json({'oic_url': 'u', 'oic_payload': 'seed'}).oic == OICRunInfo(url='u', payload='seed')


@pytest.mark.parametrize('bad', [0.0, -1.0, float('inf'), float('nan')])
def test_at_rate_has_one_rule(bad):
    with pytest.raises(ValueError, match='--at_rate must be a positive number'):
        check_at_rate(bad)
    assert check_at_rate(None) is None and check_at_rate(2.5) == 2.5


def test_a_writers_lines_reach_its_file_while_its_bundle_waits(tmp_path):
    # A bundle waiting on OIC writes nothing more until it ends: its last records' lines sat in the file buffer, so
    # a run cancelled then could not name them as in flight. The flusher (and a cancelled run) flushes them.
    from transforms.run_record.record_run import _AppendJsonLinesFn, flush_open_writers
    writer = _AppendJsonLinesFn(str(tmp_path), 'sent')
    writer.setup()
    writer.start_bundle()
    list(writer.process({'record_id': 'r-1'}) or [])
    flush_open_writers()  # no finish_bundle: the bundle is still waiting
    (written,) = tmp_path.glob('sent-*.jsonl')
    assert written.read_text() == '{"record_id": "r-1"}\n'
    writer.teardown()
    flush_open_writers()  # a closed writer is passed over
