"""Usage and configuration errors, replay files included: one line on stderr, exit code 2, no traceback."""

import pytest

from launcher.run import main
from transforms.source.replay import check_local_file

BASE = ['--oic_url', 'http://127.0.0.1:1/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
        '--oic_username', 'u', '--direct_table', 'p:warehouse.inventory_direct',
        '--bigquery_emulator_host', 'http://127.0.0.1:2']
HEADER = b'WH_ID,Item_Name,Item_id,Quantity_Available,Quantity_Requested,Backlog\n'


def one_line_exit_2(capsys, argv, out):
    code = main(BASE + ['--out', str(out)] + argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith('error: ') and err.count('\n') == 1 and 'Traceback' not in err, err
    return err


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv('OIC_PASSWORD', 'hunter2')


@pytest.mark.parametrize('content, message', [
    (b'warehouse,item,id,available,requested,backlog\nWH1,Poultry Fat,105,1,2,0\n', 'the header lacks WH_ID'),
    (b'WH_ID,Item_Name,Item_id\nWH1,Poultry Fat,105\n', 'lacks Quantity_Available'),
    (b'WH_ID,WH_ID,Item_Name,Item_id,Quantity_Available,Quantity_Requested,Backlog\n', 'repeats WH_ID'),
    (b'WH_ID,Item_\xffName,Item_id,Quantity_Available,Quantity_Requested,Backlog\n', 'not valid UTF-8'),
    (b'', 'the file is empty'),
    (b'\n\n', 'the file is empty'),
])
def test_a_replay_file_with_a_bad_header_is_a_usage_error(capsys, tmp_path, content, message):
    path = tmp_path / 'in.csv'
    path.write_bytes(content)
    err = one_line_exit_2(capsys, ['--input', str(path)], tmp_path / 'out')
    assert message in err and str(path) in err
    assert not (tmp_path / 'out').exists(), 'nothing may run before the pre-flight checks pass'


def test_a_spreadsheet_bom_before_the_header_is_accepted(tmp_path):
    path = tmp_path / 'excel.csv'
    path.write_bytes(b'\xef\xbb\xbf' + HEADER + b'WH1,Poultry Fat,105,1,2,0\n')
    check_local_file(str(path))


def test_json_lines_have_no_header_to_check(tmp_path):
    path = tmp_path / 'in.jsonl'
    path.write_bytes(b'not json at all\n')
    check_local_file(str(path))  # Each line is validated in the run and dead-lettered with its reason.


@pytest.mark.parametrize('argv, message', [
    (['--oic_payload', 'full'], "invalid choice: 'full'"),
    (['--records', 'many'], "invalid int value: 'many'"),
    (['--rate', 'fast'], "invalid float value: 'fast'"),
    (['--oic_read_timeout', 'soon'], 'invalid float value'),
    (['--runner', 'NoSuchRunner'], '--runner'),
    (['--oic_url', 'http://[::1/x'], 'not a valid URL'),
    (['--oic_url', 'http://127.0.0.1:99999/x'], 'not a valid URL'),
    (['--oic_url', 'https://user:pw@oic.example.com/x'], 'must not contain credentials'),
    (['--direct_table', 'p:only_a_dataset'], '--direct_table'),
    (['--oic_table', 'p:d.t.x'], '--oic_table'),
    (['--bigquery_emulator_host', 'localhost:9050'], 'scheme included'),
    (['--paths', 'oic,kafka'], '--paths'),
    (['--no_such_flag'], 'unknown flag --no_such_flag'),
])
def test_bad_flag_values_are_one_line_and_exit_2(capsys, tmp_path, argv, message):
    err = one_line_exit_2(capsys, argv, tmp_path / 'out')
    assert message in err


def test_a_missing_password_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv('OIC_PASSWORD')
    assert 'OIC_PASSWORD' in one_line_exit_2(capsys, [], tmp_path / 'out')


def test_credentials_in_a_malformed_url_are_not_echoed(capsys, tmp_path):
    err = one_line_exit_2(capsys, ['--oic_url', 'http://user:s3cret@[::1/x'], tmp_path / 'out')
    assert 's3cret' not in err
