"""An OAuth Dataflow job built offline (--dry_run): the client secret stays out of the options and the job graph."""

import os

import pytest
import trustme

from job_graph import dofn_bytes
from launcher.run import parse
from pipeline.build import build_pipeline
from pipeline.config import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_SECRET = 'client-secret-never-show-9c2e'
SECRET_REF = 'projects/my-proj/secrets/oic-client-secret/versions/2'
DATAFLOW = [
    '--runner', 'DataflowRunner', '--dry_run=True', '--project', 'my-proj', '--region', 'europe-west1',
    '--temp_location', 'gs://my-bucket/tmp', '--setup_file', os.path.join(ROOT, 'setup.py'),
    '--max_num_workers', '2', '--paths', 'oic', '--out', 'gs://my-bucket/runs/test',
    '--oic_url', 'https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
    '--oic_auth', 'oauth', '--oic_token_url', 'https://idcs-1.identity.oraclecloud.com/oauth2/v1/token',
    '--oic_client_id', 'pipeline-client', '--oic_scope', 'https://oic.example.com:443urn:opc:resource:consumer::all',
    '--oic_table', 'my-proj:warehouse.inventory_oic',
]
ENV = {'OIC_CLIENT_SECRET': CLIENT_SECRET}  # Set on the launching machine: it must not matter, nor leak.


def test_dataflow_refuses_oauth_without_the_secret_reference():
    with pytest.raises(UsageError, match='--oic_client_secret_secret'):
        parse(DATAFLOW, ENV)


def test_the_client_secret_never_reaches_the_job(tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_bytes(trustme.CA().cert_pem.bytes())
    options, config = parse(DATAFLOW + ['--oic_client_secret_secret', SECRET_REF, '--oic_ca_bundle', str(ca)], ENV)
    job = build_pipeline(options, config).run().job
    graph = job.proto_pipeline.SerializeToString()
    assert CLIENT_SECRET not in repr(job.options.get_all_options()) and CLIENT_SECRET.encode() not in graph
    assert CLIENT_SECRET not in str(job.proto) and CLIENT_SECRET not in str(config.describe())
    fns = dofn_bytes(job)
    assert CLIENT_SECRET.encode() not in fns
    # What the workers get instead: where to read the secret, and the CA certificates themselves (public).
    assert SECRET_REF.encode() in fns and b'BEGIN CERTIFICATE' in fns


def test_run_dataflow_check_builds_an_oauth_job_offline():
    import subprocess
    env = dict(os.environ, PROJECT='my-proj', REGION='us-central1', BUCKET='my-bucket', OIC_AUTH='oauth',
               OIC_URL='https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
               OIC_TOKEN_URL='https://idcs-1.identity.oraclecloud.com/oauth2/v1/token', OIC_CLIENT_ID='c',
               OIC_SCOPE='https://oic.example.com:443urn:opc:resource:consumer::all',
               OIC_CLIENT_SECRET_SECRET=SECRET_REF, OIC_CLIENT_SECRET=CLIENT_SECRET,
               OIC_CA_BUNDLE='/a/local/stack/ca.pem', PYTHON=os.path.join(ROOT, '.venv', 'bin', 'python'))
    for name in ('OIC_USERNAME', 'OIC_PASSWORD_SECRET'):
        env.pop(name, None)
    script = os.path.join(ROOT, 'run_dataflow.sh')
    done = subprocess.run([script, 'check', 'batch'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert CLIENT_SECRET not in done.stdout + done.stderr
    refused = subprocess.run([script, 'check', 'batch'], cwd=ROOT, env=dict(env, OIC_CLIENT_SECRET_SECRET=''),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and 'OIC_CLIENT_SECRET_SECRET' in refused.stderr
