"""--input replay end to end against the local stack: good rows land on both paths, every bad row is dead-lettered."""

import glob
import json

import pytest

from launcher.run import main

pytestmark = pytest.mark.stack

HEADER = b'WH_ID,Item_Name,Item_id,Quantity_Available,Quantity_Requested,Backlog'
GOOD = [
    b'WH8,Mechanically Separated,100,3365,3615,-250',
    b'WH5,"Shelf-Stable, Pathogen Negative Meat Slurry",104,8489,8085,0',
    b'"WH1","Poultry Fat",105,0,0,0',
    b'W' * 64 + b',' + b'N' * 256 + b',107,1,2,-1',
    b'27,Chicken Meal, 107 ,10,5,0',
]
# line content -> a reason the dead letter must carry
BAD = {
    b'WH3,Chicken Fat,106,1,2': 'expected 6 columns, found 5',
    b'WH3,Chicken Fat,106,1,2,0,extra': 'expected 6 columns, found 7',
    b'WH1,Chicken Meal,abc,10,5,0': 'Item_id is not an integer',
    b'WH1,Chicken Meal,107.0,10,5,0': 'Item_id is not an integer',
    b'WH2,Poultry Fat,105,-4,5,0': 'Quantity_Available is negative',
    b'WH2,Poultry Fat,105,4,-5,0': 'Quantity_Requested is negative',
    b'WH2,Poultry Fat,105,four,5,0': 'Quantity_Available is not an integer',
    b',Poultry Fat,105,4,5,0': 'WH_ID is empty',
    b'WH4,,105,4,5,0': 'Item_Name is empty',
    b'W' * 65 + b',Poultry Fat,105,4,5,0': 'WH_ID is longer than 64 characters',
    b'WH4,' + b'N' * 257 + b',105,4,5,0': 'Item_Name is longer than 256 characters',
    b'WH6,Chicken Fat \xff,106,1,2,0': 'line is not valid UTF-8',
}


def run_replay(stack, out, path):
    return main(['--out', str(out), '--input', str(path), '--oic_url', stack.oic_url,
                 '--oic_username', stack.username, '--bigquery_emulator_host', stack.bq_endpoint,
                 '--direct_table', stack.direct_table, '--oic_table', stack.oic_table])


def read_jsonl(pattern):
    return [json.loads(line) for name in glob.glob(pattern) for line in open(name, encoding='utf-8')]


@pytest.fixture
def password(clean_stack, monkeypatch):
    monkeypatch.setenv('OIC_PASSWORD', clean_stack.password)


def test_a_csv_with_good_and_bad_rows(clean_stack, password, tmp_path, capsys):
    lines = [HEADER]
    for good, bad in zip(GOOD + [None] * len(BAD), list(BAD)):
        lines += [line for line in (good, bad) if line is not None]
    path = tmp_path / 'mixed.csv'
    path.write_bytes(b'\r\n'.join(lines) + b'\r\n')
    out = tmp_path / 'out'

    assert run_replay(clean_stack, out, path) == 0
    report = json.load(open(out / 'report.json'))

    assert report['invalid'] == len(BAD)
    # The summary names the first bad rows, in file order, with their reasons: the user need not open a file.
    printed = capsys.readouterr().out
    assert 'invalid records (not sent): %d, the first 5' % len(BAD) in printed
    first = [line for line in printed.splitlines() if line.startswith('  mixed.csv:')]
    assert [line.split()[0] for line in first] == ['mixed.csv:%d' % n for n in (3, 5, 7, 9, 11)]
    assert 'expected 6 columns, found 5' in first[0] and 'Item_id is not an integer' in first[2]
    sent = {r['record_id']: r for r in read_jsonl(str(out / 'oic' / 'sent-*.jsonl'))}
    assert sorted(r['WH_ID'] for r in sent.values()) == sorted(g.split(b',')[0].strip(b'"').decode() for g in GOOD)
    for path_name, table in (('oic', clean_stack.oic_table), ('direct', clean_stack.direct_table)):
        result = report['paths'][path_name]
        assert (result['sent'], result['landed'], result['missing'], result['dead_lettered']) == \
            (len(GOOD), len(GOOD), 0, 0), (path_name, result)
        rows = clean_stack.rows(table)
        assert sorted(row['record_id'] for row in rows) == sorted(sent), path_name
        quoted = [row for row in rows if row['Item_id'] == 104]
        assert quoted[0]['Item_Name'] == 'Shelf-Stable, Pathogen Negative Meat Slurry'
    assert clean_stack.stats()['requests'] == len(GOOD), 'an invalid record reached OIC'

    invalid = read_jsonl(str(out / 'invalid-*.jsonl'))
    assert len(invalid) == len(BAD)
    by_line = {letter['line']: letter for letter in invalid}
    for line, reason in BAD.items():
        letter = by_line[line.decode('utf-8', 'replace')]
        assert letter['reason'] == 'invalid' and any(reason in e for e in letter['errors']), (line, letter)
        assert letter['source'].startswith('mixed.csv:') and letter['record_id'] not in sent
    assert len({letter['record_id'] for letter in invalid}) == len(BAD)


def test_json_lines_with_good_and_bad_records(clean_stack, password, tmp_path):
    good = {'WH_ID': 'WH2', 'Item_Name': 'Whole Ground', 'Item_id': 101, 'Quantity_Available': 5,
            'Quantity_Requested': 9, 'Backlog': -4}
    lines = [json.dumps(good), '{"WH_ID": "WH1"', '[1, 2]',
             json.dumps(dict(good, Item_id='x')), json.dumps(dict(good, WH_ID=7)), json.dumps(dict(good, WH_ID='WH3'))]
    path = tmp_path / 'mixed.jsonl'
    path.write_text('\n'.join(lines) + '\n')
    out = tmp_path / 'out'

    assert run_replay(clean_stack, out, path) == 0
    report = json.load(open(out / 'report.json'))

    assert report['invalid'] == 4
    for path_name in ('oic', 'direct'):
        assert (report['paths'][path_name]['landed'], report['paths'][path_name]['missing']) == (2, 0)
    reasons = sorted(letter['errors'][0].split(':')[0] for letter in read_jsonl(str(out / 'invalid-*.jsonl')))
    assert reasons == ['Item_id is not an integer', 'WH_ID must be a string', 'a JSON line must be an object',
                       'not valid JSON']
