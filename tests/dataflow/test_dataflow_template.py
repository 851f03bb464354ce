"""The Flex Template files match the pipeline: metadata.json lists exactly the flags it accepts; the launcher shims."""

import argparse
import json
import os
import re
import subprocess

import pytest

from launcher.flex import SWITCHES, translate
from pipeline.options import WarehouseOptions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Beam's own --streaming is the one standard option the template exposes (as streaming=true|false).
BEAM_PARAMETERS = {'streaming'}


def pipeline_flags():
    parser = argparse.ArgumentParser()
    WarehouseOptions._add_argparse_args(parser)  # pylint: disable=protected-access
    return {action.dest: action for action in parser._actions if action.dest != 'help'}  # pylint: disable=protected-access


@pytest.fixture(scope='module')
def metadata():
    with open(os.path.join(ROOT, 'metadata.json'), encoding='utf-8') as handle:
        return json.load(handle)


def test_metadata_lists_exactly_the_pipeline_parameters(metadata):
    names = [p['name'] for p in metadata['parameters']]
    assert len(names) == len(set(names))
    assert set(names) == set(pipeline_flags()) | BEAM_PARAMETERS


def test_every_parameter_is_described_and_its_regex_takes_its_defaults(metadata):
    flags = pipeline_flags()
    for param in metadata['parameters']:
        assert param['label'] and param['helpText'] and param['isOptional'] is True, param['name']
        patterns = [re.compile(r) for r in param['regexes']]
        action = flags.get(param['name'])
        samples = []
        if action is not None and action.choices:
            samples += list(action.choices)
        if action is not None and action.default not in (None, False) and param['name'] != 'out':
            samples.append(str(action.default).rstrip('0').rstrip('.') if isinstance(action.default, float)
                           else str(action.default))
        if action is None or action.nargs == 0:
            samples += ['true', 'false']
        for sample in samples:
            assert any(p.match(sample) for p in patterns), (param['name'], sample)


def test_switches_of_the_template_are_the_pipelines_value_less_flags(metadata):
    flags = pipeline_flags()
    assert set(SWITCHES) == {name for name, a in flags.items() if a.nargs == 0} | BEAM_PARAMETERS


def test_launcher_turns_true_false_into_switches_and_does_not_wait():
    argv = translate(['--streaming=true', '--no_landed_check=false', '--rate=50', '--allow_insecure_http=TRUE'])
    assert argv == ['--streaming', '--rate=50', '--allow_insecure_http', '--no_wait_until_finish']


def test_dockerfile_points_at_the_entry_point_and_setup_file():
    text = open(os.path.join(ROOT, 'Dockerfile'), encoding='utf-8').read()
    assert 'FROM gcr.io/dataflow-templates-base/python311-template-launcher-base' in text
    py_file = re.search(r'FLEX_TEMPLATE_PYTHON_PY_FILE="\$\{WORKDIR\}/([^"]+)"', text).group(1)
    setup_file = re.search(r'FLEX_TEMPLATE_PYTHON_SETUP_FILE="\$\{WORKDIR\}/([^"]+)"', text).group(1)
    assert os.path.isfile(os.path.join(ROOT, py_file)) and setup_file == 'setup.py'
    for copied in re.findall(r'^COPY (\S+)', text, re.M):
        assert os.path.exists(os.path.join(ROOT, copied)), copied


def test_run_dataflow_check_builds_the_streaming_job_offline():
    env = dict(os.environ, PROJECT='my-proj', REGION='us-central1', BUCKET='my-bucket',
               OIC_URL='https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
               OIC_USERNAME='u', OIC_PASSWORD_SECRET='projects/my-proj/secrets/oic/versions/1',
               OIC_PASSWORD='launcher-only-8d2c', PYTHON=os.path.join(ROOT, '.venv', 'bin', 'python'))
    if not os.path.exists(env['PYTHON']):
        env['PYTHON'] = 'python3'
    done = subprocess.run([os.path.join(ROOT, 'run_dataflow.sh'), 'check', 'stream', '--rate', '500'], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'DataflowRunner' in done.stderr and 'launcher-only-8d2c' not in done.stdout + done.stderr
    missing = dict(env, OIC_PASSWORD_SECRET='')
    refused = subprocess.run([os.path.join(ROOT, 'run_dataflow.sh'), 'check', 'stream'], cwd=ROOT, env=missing,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and 'OIC_PASSWORD_SECRET' in refused.stderr
