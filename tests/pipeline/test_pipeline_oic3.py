"""The pipeline and its comparison against the stand-in as Oracle Integration 3 behaves (issue 30): the trigger called
with Basic Auth, OIC's view read with OAuth and the instance name, in both trigger URL forms, per record and batched;
the refusals named in one line; and the seed's integration, which acknowledges rows BigQuery refused."""

import json
import os

import pytest

from comparison.measures import monitoring
from devstack.oic import row_faults
from launcher.run import main
from transforms.run_record.run_info import RunInfo

pytestmark = pytest.mark.stack


def run_pipeline(stack, out, url, *extra):
    argv = ['--out', str(out), '--oic_url', url, '--oic_username', stack.username,
            '--bigquery_emulator_host', stack.bq_endpoint, '--direct_table', stack.direct_table,
            '--oic_table', stack.oic_table, '--paths', 'oic', '--probe_interval', '0']
    assert main(argv + list(extra)) == 0
    return json.load(open(os.path.join(str(out), 'report.json')))['paths']['oic']


@pytest.fixture
def stack_env(clean_stack, monkeypatch):
    """The variables ./run_local.sh sources from stack.env: the password, the OAuth client, the instance name."""
    for key, value in clean_stack.monitoring_env().items():
        monkeypatch.setenv(key, value)
    return clean_stack


@pytest.mark.parametrize('form', ['v1', 'v2 project'])
@pytest.mark.parametrize('batched', [False, True], ids=['per-record', 'batched'])
def test_basic_on_the_trigger_oauth_on_monitoring_and_the_three_way_check_agrees(stack_env, tmp_path, form, batched):
    url = stack_env.oic_url if form == 'v1' else stack_env.oic_project_url
    extra = ['--oic_batch_kb', '50'] if batched else []
    result = run_pipeline(stack_env, tmp_path, url, '--records', '40', '--seed', '30', *extra)
    run = json.load(open(tmp_path / 'run.json'))
    assert run['oic_auth'] == 'basic' and run['oic_instance'] == stack_env.instance_name
    if batched:  # The batch URL is built from the trigger's parts: same form, same project.
        assert run['oic_batch_url'] == url.replace('WAREHOUSE_STREAM', 'WAREHOUSE_BATCH')
    view = result['oic_monitoring']
    assert (view['check'], view['auth'], view['instance']) == ('done', 'oauth', stack_env.instance_name), view
    assert "code:'%s'" % ('WAREHOUSE_BATCH' if batched else 'WAREHOUSE_STREAM') in view['q']  # the code filter
    assert (result['acked'], result['landed'], view['three_way']['oic_completed']) == (40, 40, 40)
    assert view['three_way']['agree'] and (view['batch_instances'] > 0) == batched
    stats = stack_env.stats()
    assert stats['bearer_refused'] == 0 and (stats['batch'].get('requests', 0) > 0) == batched


def test_the_stand_in_refuses_basic_and_a_nameless_call_and_the_check_says_what_to_set(stack_env, tmp_path):
    stack_env.post({'WH_ID': 'WH1', 'Item_Name': 'x', 'Item_id': 100, 'Quantity_Available': 1,
                    'Quantity_Requested': 0, 'Backlog': 0})
    run = RunInfo.from_json({'oic_url': stack_env.oic_url, 'oic_username': stack_env.username,
                             'started_at': '2026-01-01T00:00:00+00:00', 'finished_at': '2099-01-01T00:00:00+00:00'})
    env = stack_env.monitoring_env()
    basic = monitoring.oic_view(run, set(), auth='basic', environ=env)
    assert basic['check'].startswith('refused: OIC refused Basic Auth on its monitoring API (HTTP 401)')
    assert 'OIC_TOKEN_URL' in basic['check'] and '--oic_monitoring_auth oauth' in basic['check']
    nameless = monitoring.oic_view(run, set(), environ={k: v for k, v in env.items() if k != 'OIC_INSTANCE'})
    assert nameless['check'].startswith('refused: OIC refused the monitoring call without an instance name')
    assert 'OIC_INSTANCE' in nameless['check'] and '--oic_instance' in nameless['check']
    for view in (basic, nameless):
        assert '\n' not in view['check'] and stack_env.password not in json.dumps(view)
    stack_env.set_mode(edition='gen2')  # Gen2 allows Basic Auth on its monitoring API and needs no instance name.
    gen2 = monitoring.oic_view(run, set(), auth='basic', environ={'OIC_PASSWORD': stack_env.password})
    assert gen2['check'] == 'done' and gen2['completed'] == 1


def test_seed_mode_acks_the_rows_bigquery_refused_and_the_report_shows_them_missing(stack_env, tmp_path):
    stack_env.set_mode(integration='seed')
    # 1 row in 10 refused by BigQuery (record_ids are new every run: at 1 in 50, 150 rows drew none 5% of the time)
    stack_env.update_faults({'seed': 11, 'row_error_rates': {'invalid': 0.1}})
    result = run_pipeline(stack_env, tmp_path, stack_env.oic_url, '--records', '150', '--seed', '31')
    sent = [json.loads(line) for f in (tmp_path / 'oic').glob('sent-*.jsonl') for line in open(f)]
    refused = sorted(r['record_id'] for r in sent if row_faults.draw({'invalid': 0.1}, 11, r['record_id'], 1))
    assert refused, 'seed 11 must refuse some of the 150 rows'
    assert (result['acked'], result['dead_lettered']) == (150, 0)  # every row answered 200 "Submitted"
    assert result['missing_ids'] == refused and result['landed'] == 150 - len(refused)
    view = result['oic_monitoring']
    assert view['completed'] == 150 and view['failed'] == 0  # OIC completed them all
    three = view['three_way']
    assert (three['pipeline_acked'], three['oic_completed'], three['bigquery_landed']) == (150, 150, 150 - len(refused))
    assert three['agree'] is False and three['oic_completed_not_landed'] == len(refused)
    assert stack_env.stats()['acked_not_inserted'] == len(refused)
