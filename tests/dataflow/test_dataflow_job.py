"""The Dataflow job, built offline with --dry_run: transforms, streaming flag, setup file, no password anywhere."""

import os
import subprocess
import sys
import tarfile

import pytest
from apache_beam.options.pipeline_options import SetupOptions, StandardOptions

from pipeline.build import build_pipeline
from transforms.oic.budget import Budget, most_in_flight, share
from job_graph import dofn_bytes
from launcher.run import main, parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = 'never-show-me-7f3a'
SECRET = 'projects/my-proj/secrets/oic-password/versions/3'
DATAFLOW = [
    '--runner', 'DataflowRunner', '--dry_run=True', '--project', 'my-proj', '--region', 'europe-west1',
    '--temp_location', 'gs://my-bucket/tmp', '--setup_file', os.path.join(ROOT, 'setup.py'),
    '--max_num_workers', '4', '--oic_concurrency', '10',
    '--oic_url', 'https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
    '--oic_username', 'integration-user', '--oic_password_secret', SECRET,
    '--oic_table', 'my-proj:warehouse.inventory_oic', '--direct_table', 'my-proj:warehouse.inventory_direct',
    '--out', 'gs://my-bucket/runs/test',
]
ENV = {'OIC_PASSWORD': PASSWORD}  # Set on the launching machine: it must not matter, nor leak.


def dry_run(*extra):
    """Builds the Dataflow job offline; returns (RunConfig, the runner's Job)."""
    options, config = parse(DATAFLOW + list(extra), ENV)
    result = build_pipeline(options, config).run()
    return config, result.job


def transform_names(job):
    return {t.unique_name for t in job.proto_pipeline.components.transforms.values()}


def staged(job):
    """{staged name: local path} of the artifacts the job hands to the workers."""
    from apache_beam.portability.api import beam_runner_api_pb2
    found = {}
    for env in job.proto_pipeline.components.environments.values():
        for dep in env.dependencies:
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload)
            path = beam_runner_api_pb2.ArtifactFilePayload.FromString(dep.type_payload).path
            found[role.staged_name] = path
    return found


def assert_no_password(job, config):
    assert PASSWORD not in repr(job.options.get_all_options())
    assert PASSWORD.encode() not in job.proto_pipeline.SerializeToString()
    fns = dofn_bytes(job)  # The pickled DoFns, decompressed: a password pickled into one would show here.
    assert config.oic.url.encode() in fns and PASSWORD.encode() not in fns
    assert PASSWORD not in str(job.proto)
    assert PASSWORD not in repr(config) and PASSWORD not in str(config.describe())


@pytest.fixture(scope='module')
def streaming_job():
    return dry_run('--streaming', '--rate', '500', '--source_shards', '8')


@pytest.fixture(scope='module')
def batch_job():
    return dry_run('--records', '1000')


def test_streaming_job_is_streaming_with_a_sharded_source(streaming_job):
    config, job = streaming_job
    assert job.proto.type_.name == 'JOB_TYPE_STREAMING'
    assert job.options.view_as(StandardOptions).streaming
    names = transform_names(job)
    for name in ('Source/Shards', 'Source/Spread', 'Source/Ticks', 'Source/Generate', 'Validate',
                 'OIC/RecordSent', 'OIC/Post', 'OIC/RecordAcks', 'OIC/RecordDeadLetters',
                 'Direct/RecordSent', 'Direct/Write', 'Direct/RecordDeadLetters', 'RecordInvalid'):
        assert name in names, name
    reshuffles = [t for t in job.proto_pipeline.components.transforms.values() if t.unique_name == 'Source/Spread']
    assert reshuffles[0].spec.urn == 'beam:transform:reshuffle:v1'
    # The job's total (10, adaptive: the ceiling of all limits together) over 3 posting keys of 3 (4 VMs wanted 4:
    # 4 of 2 would hold 8), the records moved to their key's process before the post.
    assert config.oic.budget == Budget('adaptive', 10, 0.0, 4, True, 3) and config.oic.spread == 'keys'
    assert 'OIC/Post/SpreadOverKeys/ToKeyOwner' in names


def test_batch_job_is_batch(batch_job):
    _, job = batch_job
    assert job.proto.type_.name == 'JOB_TYPE_BATCH'
    names = transform_names(job)
    assert 'Source/Generate' in names and 'Source/Ticks' not in names
    assert {'OIC/Post', 'Direct/Write'} <= names


@pytest.mark.parametrize('which', ['streaming_job', 'batch_job'])
def test_workers_get_the_project_package_and_no_password(which, request):
    config, job = request.getfixturevalue(which)
    assert job.options.view_as(SetupOptions).setup_file.endswith('setup.py')
    artifacts = staged(job)
    assert 'workflow.tar.gz' in artifacts  # The sdist built from --setup_file, installed on every worker.
    with tarfile.open(artifacts['workflow.tar.gz']) as sdist:
        files = {name.split('/', 1)[1] for name in sdist.getnames() if '/' in name}
    assert {'setup.py', 'pipeline/run.py', 'transforms/source/synthetic.py', 'transforms/oic/post.py'} <= files
    assert not [f for f in files if f.startswith(('devstack', 'tests', 'benchmarks'))]
    assert_no_password(job, config)


def test_launcher_dry_run_succeeds_and_prints_no_password(capfd):
    assert main(DATAFLOW + ['--streaming', '--rate', '50']) == 0
    out, err = capfd.readouterr()
    assert 'DataflowRunner' in err and PASSWORD not in out + err


def test_dataflow_without_a_secret_is_refused_in_one_line():
    argv = [a for a in DATAFLOW if a not in ('--oic_password_secret', SECRET)] + ['--streaming']
    env = dict(os.environ, OIC_PASSWORD=PASSWORD)
    done = subprocess.run([sys.executable, '-m', 'launcher.run'] + argv, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count('\n') == 1 and '--oic_password_secret' in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def _without(flag, argv=DATAFLOW):
    i = argv.index(flag)
    return argv[:i] + argv[i + 2:]


def _with(flag, value, argv=DATAFLOW):
    i = argv.index(flag)
    return argv[:i + 1] + [value] + argv[i + 2:]


@pytest.mark.parametrize('argv, message', [
    (_without('--project'), '--project'),
    (_with('--project', 'My_Project'), '--project'),
    (_without('--region'), '--region'),
    (_without('--temp_location'), '--temp_location gs://'),
    (_with('--temp_location', '/tmp/local'), '--temp_location gs://'),
    (_with('--out', 'out'), '--out must be gs://'),
    (_without('--setup_file'), '--setup_file ./setup.py'),
    (_with('--setup_file', '/no/such/setup.py'), 'no such file'),
    (_without('--max_num_workers'), '--max_num_workers'),
    (_with('--oic_url', 'https://127.0.0.1/x'), 'cannot reach it'),
    (_with('--oic_url', 'http://oic.example.com/x'), 'plain http'),
    (_with('--oic_password_secret', 'oic-password'), 'projects/P/secrets/S/versions/V'),
    (_with('--direct_table', 'p:warehouse.inventory_direct'), 'not a valid BigQuery table'),
    (_with('--direct_table', 'nodots'), '--direct_table'),
    (DATAFLOW + ['--bigquery_emulator_host', 'http://127.0.0.1:9050'], 'emulator is local only'),
    (DATAFLOW + ['--input', 'data.csv'], None),
    (DATAFLOW + ['--streaming', '--direct_method', 'FILE_LOADS'], 'FILE_LOADS is for batch'),
    (DATAFLOW + ['--oic_rate_limiter', 'rls.internal'], 'HOST:PORT'),
    (DATAFLOW + ['--source_shards', '0'], '--source_shards'),
])
def test_preflight_mistakes_are_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    if message is None:  # A local --input file: the workers cannot read it.
        (tmp_path / 'data.csv').write_text('WH_ID,Item_Name,Item_id,Quantity_Available,Quantity_Requested,Backlog\n'
                                           'WH1,Poultry Fat,105,10,5,0\n')
        monkeypatch.chdir(tmp_path)
        message = '--input must be a gs:// file'
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err


def posting_keys_in(pipeline):
    """(keys of each SpreadOverKeys, shards of each batch grouping) in the built pipeline's graph."""
    from apache_beam.pipeline import PipelineVisitor
    from transforms.oic.batch.grouping import GroupByBytes
    from transforms.oic.post import SpreadOverKeys
    found = ([], [])

    class Visitor(PipelineVisitor):
        def enter_composite_transform(self, node):
            if isinstance(node.transform, SpreadOverKeys):
                found[0].append(node.transform.keys)
            elif isinstance(node.transform, GroupByBytes):
                found[1].append(node.transform._shards)  # pylint: disable=protected-access

    pipeline.visit(Visitor())
    return found


@pytest.mark.parametrize('mode', ['fixed', 'adaptive'])
@pytest.mark.parametrize('path', [[], ['--oic_batch_kb', '50']])
@pytest.mark.parametrize('source', [['--records', '1000'], ['--streaming', '--rate', '500']])
def test_the_issues_figures_hold_on_both_paths_in_both_modes(mode, path, source):
    # 10 VMs of 4 vCPU, a total of 16, --oic_max_rps 200: 8 posting keys; on the worker (4 vCPUs) 8 processes post,
    # 2 in flight and 25/s each: the job's 16 and 200/s (was 5/s on each of 40, at most 16 of which posted).
    _, config = parse(_with('--oic_concurrency', '16', _with('--max_num_workers', '10'))
                      + ['--oic_concurrency_mode', mode, '--oic_max_rps', '200'] + path + source, ENV)
    budget = config.oic.budget
    assert (budget.mode, budget.posting_keys) == (mode, 8)
    part = share(budget, 4)
    assert (part.posting, part.concurrency, part.max_rps) == (8, 2, 25.0)
    assert most_in_flight(budget, 4) == 16 and part.posting * part.max_rps == 200.0


@pytest.mark.parametrize('extra, keys, spread', [
    (['--records', '1000'], 8, True),  # an unpaced batch: spread over the posting keys (was a random reshuffle)
    (['--streaming', '--rate', '500'], 8, True),  # a stream: the source's 16 clocks no longer decide who posts
    (['--records', '1000', '--rate', '5'], 1, False),  # a paced batch is made, and posted, in one process
    (['--records', '1000', '--oic_batch_kb', '50'], 8, False),  # batched: the grouping's keys post
])
def test_the_job_graph_posts_from_its_posting_keys(extra, keys, spread):
    # 10 VMs, a total of 16: 8 posting keys of 2 (whatever each VM's vCPUs), --oic_max_rps 200 shared by them.
    options, config = parse(_with('--oic_concurrency', '16', _with('--max_num_workers', '10'))
                            + ['--oic_max_rps', '200'] + extra, ENV)
    pipeline = build_pipeline(options, config)
    budget = config.oic.budget
    assert (budget.total, budget.max_rps, budget.workers, budget.per_vcpu, budget.posting_keys) == (
        16, 200.0, 10, True, keys)
    batched = '--oic_batch_kb' in extra
    assert posting_keys_in(pipeline) == ([keys] if spread else [], [keys] if batched else [])
    names = transform_names(pipeline.run().job)
    assert ('SpreadForOIC' in names) == (batched and '--rate' not in extra)  # per record: the keyed spread instead
    assert ('OIC/Post/SpreadOverKeys/ToKeyOwner' in names) == spread


def test_rate_limit_service_puts_the_job_wide_budget_before_the_oic_caller():
    _, job = dry_run('--oic_rate_limiter', 'ratelimit.internal:8081')
    assert 'OIC/Post/GlobalBudget' in transform_names(job)  # after the keyed spread, before the caller
    _, job = dry_run('--oic_rate_limiter', 'ratelimit.internal:8081', '--oic_batch_kb', '50')
    names = transform_names(job)  # batched: after the grouping, one grant per batch
    assert {'OIC/Post/Group', 'OIC/Post/GlobalBudget', 'OIC/Post/PostBatch'} <= names
    _, job = dry_run()
    assert not [name for name in transform_names(job) if 'GlobalBudget' in name]


def test_run_record_dataset_streams_every_kind_of_the_run_record_into_bigquery():
    config, job = dry_run('--streaming', '--rate', '500', '--run_record_dataset', 'run_record')
    assert str(config.bigquery.run_record_dataset) == 'my-proj:run_record'
    assert config.describe().run_record_dataset == 'my-proj:run_record'
    names = transform_names(job)
    for step in ('RecordInvalid', 'OIC/RecordSent', 'OIC/RecordAcks', 'OIC/RecordDeadLetters',
                 'Direct/RecordSent', 'Direct/RecordDeadLetters'):
        assert {step + '/ToBigQuery/ToRow', step + '/ToBigQuery/Insert/_StreamToBigQuery/StreamInsertRows'} <= names
    _, job = dry_run('--streaming', '--rate', '500')
    assert not [n for n in transform_names(job) if '/ToBigQuery/' in n]


def test_run_record_dataset_must_be_a_dataset():
    assert main(DATAFLOW + ['--run_record_dataset', 'my-proj:has-hyphen']) == 2


def test_the_share_per_vcpu_is_on_for_dataflow_unless_one_sdk_process_per_vm():
    _, config = parse(DATAFLOW, ENV)
    assert config.oic.budget.per_vcpu
    _, config = parse(DATAFLOW + ['--experiments', 'no_use_multiple_sdk_containers'], ENV)
    assert not config.oic.budget.per_vcpu


def test_the_dofn_takes_its_share_on_the_worker(monkeypatch):
    from transforms.oic.post import PostToOIC
    from transforms.oic.sender.settings import resolve
    from transforms.oic.caller import Outcome

    class Fake:
        def call(self, record):
            return Outcome('ack', 200, attempts=1, latency_s=0.0)

        def close(self):
            pass

    def share_on(cpus, budget):
        monkeypatch.setattr('os.cpu_count', lambda: cpus)
        fn = PostToOIC(resolve('https://oic.example.com/x', 'u', budget=budget), caller_factory=Fake)._fn
        fn.setup()
        try:
            return fn._sender.concurrency, fn._sender.max_rps
        finally:
            fn.teardown()
    # 10 VMs of 4 vCPU, a total of 16 over 8 posting keys, 200/s: 8 of the 40 processes post, 2 and 25/s each.
    assert share_on(4, Budget('fixed', 16, 200.0, 10, True, 8)) == (2, 25.0)
    # One VM of 2 vCPU: 2 processes hold the 8 keys between them, 8 and 100/s each.
    assert share_on(2, Budget('fixed', 16, 200.0, 1, True, 8)) == (8, 100.0)
    assert share_on(4, Budget('adaptive', 64, 0.0, 4)) == (16, None)  # four local processes: a ceiling of 16 each
    # Without a budget, concurrency and max_rps are the budget of a job that posts from one process.
    fn = PostToOIC(resolve('https://oic.example.com/x', 'u', concurrency=5, max_rps=20.0), caller_factory=Fake)._fn
    assert fn._settings.budget == Budget('adaptive', 5, 20.0)
