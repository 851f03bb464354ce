"""Flag validation: clear one-line errors for usage mistakes, a secret-free RunConfig otherwise."""

import pytest

from pipeline.config import UsageError
from transforms.oic.urls import check_oic_url, redact_url
from launcher.run import main, parse

STACK = ['--oic_url', 'http://127.0.0.1:1/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
         '--oic_username', 'u', '--direct_table', 'p:warehouse.inventory_direct',
         '--bigquery_emulator_host', 'http://127.0.0.1:2']
ENV = {'OIC_PASSWORD': 'hunter2'}


def test_defaults():
    _, config = parse(STACK, ENV)
    assert config.paths == ('oic', 'direct')
    assert config.source.records == 200 and config.source.rate == 0 and not config.source.streaming
    assert str(config.bigquery.table('direct')) == 'p:warehouse.inventory_direct'
    assert 'hunter2' not in repr(config) and 'hunter2' not in str(config.describe().to_json())


def test_streaming_defaults_to_a_rate_and_no_bound():
    _, config = parse(STACK + ['--streaming'], ENV)
    assert config.source.streaming and config.source.rate == 10 and config.source.records is None


@pytest.mark.parametrize('argv, message', [
    (['--paths', 'oic,ftp'], '--paths'),
    (['--records', '0'], '--records must be at least 1'),
    (['--rate', '-1'], '--rate'),
    (['--streaming', '--rate', '0'], '--rate'),
    (['--input', '/no/such/file.csv'], 'no such file'),
    (['--direct_table', 'nodots'], '--direct_table'),
    (['--bigquery_emulator_host', '127.0.0.1:9050'], 'scheme included'),
    (['--oic_url', 'ftp://x/y'], 'http(s) URL'),
    (['--oic_url', 'http://example.com/x'], 'plain http'),
    (['--oic_password_secret', 'my-secret'], 'projects/P/secrets/S/versions/V'),
    (['--oic_concurrency', '0'], '--oic_concurrency'),
    (['--direct_running_mode=multi_processing', '--direct_num_workers=4', '--oic_concurrency', '2'],
     'cannot give each of the 4 worker processes a request'),
    (['--frobnicate'], 'unknown flag --frobnicate'),
    # Batching: a batch sent again must not land twice (insertId = record_id), and a wait of 0 sets no timer.
    (['--oic_batch_kb', '50', '--oic_payload', 'seed'], '--oic_batch_kb needs --oic_payload extended'),
    (['--streaming', '--oic_batch_kb', '50', '--oic_batch_wait', '0'], '--oic_batch_wait must be > 0'),
    (['--oic_batch_wait', '-1'], '--oic_batch_wait must be > 0'),
])
def test_usage_errors(argv, message):
    with pytest.raises(UsageError, match=None) as caught:
        parse(STACK + argv, ENV)
    assert message in str(caught.value)


def test_batching_takes_the_extended_payload_and_a_positive_wait():
    _, config = parse(STACK + ['--oic_batch_kb', '50', '--oic_batch_wait', '0.2'], ENV)
    assert (config.oic.batch_kb, config.oic.batch_wait, config.oic.payload) == (50, 0.2, 'extended')
    _, config = parse(STACK + ['--oic_payload', 'seed'], ENV)  # one record per request: the seed shape as before
    assert (config.oic.batch_kb, config.oic.payload) == (0, 'seed')


def test_missing_password():
    with pytest.raises(UsageError, match='OIC_PASSWORD'):
        parse(STACK, {})


def test_dataflow_needs_a_secret():
    with pytest.raises(UsageError, match='--oic_password_secret'):
        parse(STACK + ['--runner', 'DataflowRunner'], ENV)


def test_insecure_http_can_be_allowed_and_https_is_fine():
    check_oic_url('http://example.com/x', allow_insecure_http=True)
    check_oic_url('https://example.com/x')
    with pytest.raises(ValueError, match='must not contain credentials'):
        check_oic_url('https://u:p@example.com/x')


def test_redact_url_drops_credentials():
    assert redact_url('https://u:secret@h:8443/p?q=1') == 'https://h:8443/p'


def test_oic_only_without_bigquery_is_allowed():
    argv = ['--paths', 'oic', '--oic_url', 'https://oic.example.com/x', '--oic_username', 'u']
    _, config = parse(argv, ENV)
    assert config.bigquery.table('direct') is None and config.bigquery.table('oic') is None


def test_main_exits_2_with_one_line(capsys):
    assert main(['--paths', 'nope']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and 'Traceback' not in err


def test_help_lists_our_flags_and_beams(capsys):
    assert main(['--help']) == 0
    out = capsys.readouterr().out
    for flag in ('--records', '--oic_payload', '--direct_table', '--runner', '--streaming', '--temp_location'):
        assert flag in out


def test_at_rate_is_recorded_and_checked():
    _, config = parse(STACK + ['--at_rate', '2.5'], ENV)
    assert config.at_rate == 2.5 and config.describe().to_json()['at_rate'] == 2.5
    assert parse(STACK, ENV)[1].describe().to_json()['at_rate'] is None
    for bad in ('0', '-1', 'inf'):
        with pytest.raises(UsageError, match='--at_rate must be a positive number'):
            parse(STACK + ['--at_rate', bad], ENV)


def test_batch_keys_are_one_per_local_process_and_at_least_four_on_dataflow():
    # Locally the grouping runs in one process (fused with the source): more keys would only split each batch.
    assert parse(STACK + ['--oic_batch_kb', '50'], ENV)[1].oic.budget.posting_keys == 1
    multi = ['--direct_running_mode', 'multi_processing', '--direct_num_workers', '3']
    assert parse(STACK + ['--oic_batch_kb', '50'] + multi, ENV)[1].oic.budget.posting_keys == 3
    from pipeline.config.oic import batch_keys_wanted
    assert (batch_keys_wanted(1, on_dataflow=True), batch_keys_wanted(10, on_dataflow=True)) == (4, 10)


V1 = 'https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/01.00.0000/records'
V2 = 'https://oic.example.com/ic/api/integration/v2/flows/rest/project/WH_PROJ/WAREHOUSE_STREAM/1.0/records'


def test_one_parser_reads_both_trigger_url_forms():
    from transforms.oic.urls import parse_trigger_url
    v1, v2 = parse_trigger_url(V1), parse_trigger_url(V2)
    assert (v1.code, v1.version, v1.project, v1.resource) == ('WAREHOUSE_STREAM', '01.00.0000', None, '/records')
    assert (v2.code, v2.version, v2.project, v2.resource) == ('WAREHOUSE_STREAM', '1.0', 'WH_PROJ', '/records')
    assert v1.url() == V1 and v2.url() == V2
    assert parse_trigger_url('https://h/ic/api/integration/v1/monitoring/instances') is None
    assert parse_trigger_url('https://h/some/other/path') is None and parse_trigger_url(None) is None


def test_the_batch_url_keeps_the_form_and_the_project_of_the_trigger():
    from pipeline.rules.oic import batch_url_for
    assert batch_url_for(V1) == V1.replace('WAREHOUSE_STREAM', 'WAREHOUSE_BATCH')
    assert batch_url_for(V2) == V2.replace('WAREHOUSE_STREAM', 'WAREHOUSE_BATCH')
    assert batch_url_for(V2 + '?x=1').endswith('/WH_PROJ/WAREHOUSE_BATCH/1.0/records?x=1')
    with pytest.raises(UsageError, match='neither'):
        batch_url_for('https://h/not/a/trigger')


def test_the_monitoring_code_filter_reads_both_forms():
    from comparison.measures.monitoring import integration_code
    assert integration_code(V1) == integration_code(V2) == 'WAREHOUSE_STREAM'


def test_the_run_records_what_the_monitoring_check_needs_and_no_secret():
    monitoring_client = ['--oic_token_url', 'https://idcs.example.com/oauth2/v1/token', '--oic_client_id', 'app',
                         '--oic_scope', 'https://oic.example.comurn:opc:resource:consumer::all',
                         '--oic_instance', 'my-oic']
    _, config = parse(STACK + monitoring_client, dict(ENV, OIC_CLIENT_SECRET='s3cret'))
    run = config.describe().to_json()
    assert (run['oic_auth'], run['oic_monitoring_auth'], run['oic_instance']) == ('basic', 'oauth', 'my-oic')
    assert (run['oic_client_id'], run['oic_token_url']) == ('app', 'https://idcs.example.com/oauth2/v1/token')
    assert 's3cret' not in str(run) and 'hunter2' not in str(run)
    _, gen2 = parse(STACK + monitoring_client + ['--oic_monitoring_auth', 'basic'], ENV)
    assert gen2.describe().to_json()['oic_client_id'] is None  # Basic everywhere: no OAuth client recorded


@pytest.mark.parametrize('argv, posting, share, spread', [
    ([], 1, 100, 'random'),  # one process, the adaptive default: the whole ceiling, as before issue 29
    (['--oic_concurrency_mode', 'fixed'], 1, 16, 'random'),
    (['--direct_running_mode=multi_processing', '--direct_num_workers=4', '--oic_concurrency', '64'], 4, 16, 'random'),
    (['--direct_running_mode=multi_processing', '--direct_num_workers=4', '--records', '50', '--rate', '5'],
     1, 100, 'none'),  # a paced batch posts from the one process that makes it: the whole budget
    (['--direct_running_mode=multi_processing', '--direct_num_workers=2', '--streaming'], 2, 50, 'none'),
])
def test_a_local_run_records_each_posting_process_share(argv, posting, share, spread):
    _, config = parse(STACK + argv, ENV)
    run = config.describe().to_json()
    assert (run['oic_posting_processes'], run['oic_process_concurrency'], config.oic.spread) == (posting, share, spread)


def test_the_storage_write_path_is_all_on_the_emulator_or_all_on_bigquery(monkeypatch):
    monkeypatch.delenv('BIGQUERY_EMULATOR_GRPC_HOST', raising=False)  # a flag default (a shell with stack.env sourced)
    real = [a for a in STACK if a not in ('--bigquery_emulator_host', 'http://127.0.0.1:2')]
    paths = ['--paths', 'direct,storage_write', '--storage_write_table', 'p:warehouse.inventory_storage_write']
    with pytest.raises(UsageError, match='REST address is not'):
        parse(real + paths + ['--bigquery_emulator_grpc_host', '127.0.0.1:9060'], ENV)
    with pytest.raises(UsageError, match='needs its gRPC address'):
        parse(STACK + paths, ENV)
    _, config = parse(STACK + paths + ['--bigquery_emulator_grpc_host', '127.0.0.1:9060'], ENV)
    assert config.bigquery.emulator_grpc_host == '127.0.0.1:9060'


def test_the_storage_write_wait_is_positive_seconds_half_a_second_by_default(monkeypatch):
    monkeypatch.delenv('BIGQUERY_EMULATOR_GRPC_HOST', raising=False)
    argv = STACK + ['--paths', 'direct,storage_write', '--bigquery_emulator_grpc_host', '127.0.0.1:9060',
                    '--storage_write_table', 'p:warehouse.inventory_storage_write', '--streaming']
    assert parse(argv, ENV)[1].bigquery.storage_write_wait == 0.5
    assert parse(argv + ['--storage_write_wait', '2'], ENV)[1].bigquery.storage_write_wait == 2.0
    with pytest.raises(UsageError, match='--storage_write_wait must be > 0'):
        parse(argv + ['--storage_write_wait', '0'], ENV)


def test_each_paths_table_flag_comes_from_its_declaration():
    from pipeline.flags import GROUPS
    from pipeline.path_specs import SPECS
    flags = {flag.name: flag for group in GROUPS for flag in group.flags}
    for spec in SPECS:
        flag = flags[spec.table_flag]
        assert (flag.env, flag.default, flag.help) == (spec.table.env, spec.table.default, spec.table.help)
    argv = STACK + ['--paths', 'oic,direct,storage_write', '--bigquery_emulator_grpc_host', '127.0.0.1:3',
                    '--storage_write_table', 'q:ds.sw']
    _, config = parse(argv, ENV)
    assert {name: str(table) for name, table in config.bigquery.tables.items()} == {
        'oic': 'p:warehouse.inventory_oic', 'direct': 'p:warehouse.inventory_direct', 'storage_write': 'q:ds.sw'}


def test_the_table_oic_writes_is_read_in_the_project_of_a_table_the_pipeline_writes():
    argv = ['--paths', 'oic,storage_write', '--oic_url', 'https://oic.example.com/x', '--oic_username', 'u',
            '--bigquery_emulator_host', 'http://127.0.0.1:2', '--bigquery_emulator_grpc_host', '127.0.0.1:3',
            '--storage_write_table', 'q:ds.sw', '--oic_table', 'warehouse.inventory_oic', '--bq_project', '']
    _, config = parse(argv, ENV)
    assert str(config.bigquery.table('oic')) == 'q:warehouse.inventory_oic' and config.bigquery.table('direct') is None

