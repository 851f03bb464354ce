"""The whole pipeline on DirectRunner against the real local stack, asserting on rows found in BigQuery."""

import json
import os

import pytest

from launcher.run import main

pytestmark = pytest.mark.stack


def run_pipeline(stack, out, *extra, bigquery=True):
    argv = ['--out', str(out), '--oic_url', stack.oic_url, '--oic_username', stack.username]
    if bigquery:
        argv += ['--bigquery_emulator_host', stack.bq_endpoint, '--direct_table', stack.direct_table,
                 '--oic_table', stack.oic_table]
    code = main(argv + list(extra))
    report_path = os.path.join(str(out), 'report.json')
    report = json.load(open(report_path)) if os.path.exists(report_path) else None
    return code, report


@pytest.fixture
def password(clean_stack, monkeypatch):
    monkeypatch.setenv('OIC_PASSWORD', clean_stack.password)
    return clean_stack.password


def ids_in(stack, table):
    return [row['record_id'] for row in stack.rows(table)]


def test_both_paths_land_everything(clean_stack, password, tmp_path):
    code, report = run_pipeline(clean_stack, tmp_path, '--records', '40', '--seed', '3')
    assert code == 0
    sent = {json.loads(l)['record_id'] for f in (tmp_path / 'oic').glob('sent-*.jsonl') for l in open(f)}
    assert len(sent) == 40
    for path, table in (('oic', clean_stack.oic_table), ('direct', clean_stack.direct_table)):
        result = report['paths'][path]
        assert (result['sent'], result['acked'], result['landed'], result['missing'], result['duplicates']) == \
            (40, 40, 40, 0, 0), (path, result)
        assert sorted(ids_in(clean_stack, table)) == sorted(sent)
    assert report['invalid'] == 0
    assert clean_stack.stats()['requests'] == 40


def test_rows_carry_the_records_values(clean_stack, password, tmp_path):
    code, report = run_pipeline(clean_stack, tmp_path, '--records', '5', '--seed', '11', '--probe_interval', '0')
    assert code == 0
    assert not (tmp_path / 'probe.jsonl').exists() and report['paths']['direct']['landed'] == 5
    sent = {json.loads(l)['record_id']: json.loads(l) for f in (tmp_path / 'direct').glob('sent-*.jsonl')
            for l in open(f)}
    for table in (clean_stack.oic_table, clean_stack.direct_table):
        rows = clean_stack.rows(table)
        assert sorted(row['record_id'] for row in rows) == sorted(sent), table  # every record, in both tables
        for row in rows:
            original = sent[row['record_id']]
            for field in ('WH_ID', 'Item_Name', 'Item_id', 'Quantity_Available', 'Quantity_Requested', 'Backlog'):
                assert row[field] == original[field], (table, field)


def test_rejected_records_are_dead_lettered_not_missing(clean_stack, password, tmp_path):
    clean_stack.set_faults({'reject': {'field': 'WH_ID', 'values': ['WH3'], 'status': 400}})
    code, report = run_pipeline(clean_stack, tmp_path, '--records', '60', '--seed', '5', '--paths', 'oic')
    assert code == 0
    oic = report['paths']['oic']
    dead = [json.loads(l) for f in (tmp_path / 'oic').glob('dead_letters-*.jsonl') for l in open(f)]
    assert dead and all(d['record']['WH_ID'] == 'WH3' and d['reason'] == 'http_400' for d in dead)
    assert oic['dead_lettered'] == len(dead) and oic['landed'] == 60 - len(dead) and oic['missing'] == 0


def test_oic_only_without_bigquery_runs_to_the_end(clean_stack, password, tmp_path):
    code, report = run_pipeline(clean_stack, tmp_path, '--records', '10', '--paths', 'oic', bigquery=False)
    assert code == 0
    oic = report['paths']['oic']
    assert oic['acked'] == 10 and oic['landed'] is None and oic['landed_check'].startswith('skipped')


def test_seed_payload_lands_through_oic(clean_stack, password, tmp_path):
    code, report = run_pipeline(clean_stack, tmp_path, '--records', '8', '--paths', 'oic', '--oic_payload', 'seed')
    assert code == 0
    assert report['paths']['oic']['acked'] == 8
    rows = clean_stack.rows(clean_stack.oic_table)
    assert len(rows) == 8 and all(row['record_id'] is None for row in rows)
    assert 'seed payload' in report['paths']['oic']['landed_check']


def test_streaming_run_with_a_bound_delivers_everything(clean_stack, password, tmp_path):
    code, report = run_pipeline(clean_stack, tmp_path, '--streaming', '--rate', '40', '--records', '30')
    assert code == 0
    for path in ('oic', 'direct'):
        assert report['paths'][path]['landed'] == 30 and report['paths'][path]['missing'] == 0, path


def test_wrong_password_stops_the_run(clean_stack, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv('OIC_PASSWORD', 'wrong-' + clean_stack.password)
    code, _ = run_pipeline(clean_stack, tmp_path, '--records', '50', '--paths', 'oic')
    err = capsys.readouterr().err
    assert code == 1
    assert 'OIC refused the credentials' in err
    assert clean_stack.password not in err


def test_every_kind_of_dead_letter_lands_in_the_error_table(clean_stack, password, tmp_path):
    clean_stack.set_faults({'reject': {'field': 'WH_ID', 'values': ['WH2'], 'status': 400}})
    source = tmp_path / 'mixed.csv'
    source.write_text('WH_ID,Item_Name,Item_id,Quantity_Available,Quantity_Requested,Backlog\n'
                      'WH1,Chicken Meal,107,10,5,0\n'
                      'WH2,Poultry Fat,105,4,5,-1\n'
                      'WH3,Chicken Fat,106,-1,5,0\n')
    table = clean_stack.oic_table.rsplit('.', 1)[0] + '.all_dead_letters'
    code, report = run_pipeline(clean_stack, tmp_path / 'out', '--input', str(source), '--dead_letter_table', table)
    assert code == 0
    assert report['invalid'] == 1 and report['paths']['oic']['dead_lettered'] == 1
    rows = clean_stack.wait_for_rows(table, 2)
    by_reason = {row['reason']: row for row in rows}
    assert sorted(by_reason) == ['http_400', 'invalid']
    assert by_reason['invalid']['path'] is None and 'Quantity_Available is negative' in by_reason['invalid']['detail']
    assert by_reason['http_400']['path'] == 'oic' and '"WH2"' in by_reason['http_400']['record']
