"""Both paths on DirectRunner with two worker processes: everything pickles and works across processes."""

import json
import os

import pytest

from launcher.run import main

pytestmark = pytest.mark.stack


def test_two_processes_deliver_every_record_once(clean_stack, monkeypatch, tmp_path):
    monkeypatch.setenv('OIC_PASSWORD', clean_stack.password)
    code = main(['--direct_running_mode=multi_processing', '--direct_num_workers=2',
                 '--records', '60', '--seed', '21', '--oic_concurrency', '8', '--out', str(tmp_path),
                 '--oic_url', clean_stack.oic_url, '--oic_username', clean_stack.username,
                 '--bigquery_emulator_host', clean_stack.bq_endpoint, '--direct_table', clean_stack.direct_table,
                 '--oic_table', clean_stack.oic_table])
    assert code == 0
    run = json.load(open(os.path.join(str(tmp_path), 'run.json')))
    # Adaptive (the default): 8 is the job's ceiling, so each of the two processes may grow to 4.
    assert run['workers'] == 2 and run['oic_concurrency'] == 8
    assert (run['oic_posting_processes'], run['oic_process_concurrency']) == (2, 4)
    for path, table in (('oic', clean_stack.oic_table), ('direct', clean_stack.direct_table)):
        sent = {json.loads(line)['record_id'] for f in (tmp_path / path).glob('sent-*.jsonl') for line in open(f)}
        assert len(sent) == 60, path
        landed = [row['record_id'] for row in clean_stack.rows(table)]
        assert sorted(landed) == sorted(sent), path
    assert clean_stack.stats()['requests'] == 60
