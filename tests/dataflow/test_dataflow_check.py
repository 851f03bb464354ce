"""./run_dataflow.sh check: a dry run says what it built offline (job, steps, staged package, flags) and that
nothing was submitted, with no staging noise on the terminal."""

import os
import re
import subprocess
import tarfile

from apache_beam.runners.portability.stager import Stager

from launcher.staging import build_sdist, quiet_setup_package

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {'PROJECT': 'my-proj', 'REGION': 'europe-west1', 'BUCKET': 'my-bucket',
       'OIC_URL': 'https://oic.example.com/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
       'OIC_USERNAME': 'integration-user', 'OIC_PASSWORD_SECRET': 'projects/my-proj/secrets/oic/versions/1',
       'OIC_PASSWORD': 'never-show-me-7f3a'}


def test_check_says_what_it_built_and_that_nothing_was_submitted():
    env = dict(os.environ, PYTHON=os.path.join(ROOT, '.venv', 'bin', 'python'), **ENV)
    done = subprocess.run([os.path.join(ROOT, 'run_dataflow.sh'), 'check', 'stream', '--rate', '500'], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert 'dry run: the Dataflow job was built offline; nothing was submitted' in out
    assert re.search(r'job +beamapp-\S+ \(streaming\) in project my-proj, region europe-west1', out), out
    assert re.search(r'graph +\d+ steps', out), out
    assert re.search(r'staged +workflow\.tar\.gz, [\d.]+ kB \(this project, from --setup_file \./setup\.py\)', out)
    assert '--rate 500.0' in out and '--paths oic,direct' in out
    assert 'compare later' not in out and 'DONE' not in out
    # No staging noise: neither Beam's missing `build` module nor build's progress lines.
    assert 'No module named' not in done.stderr and 'sdist' not in done.stderr, done.stderr
    assert ENV['OIC_PASSWORD'] not in out + done.stderr


def test_the_quiet_build_is_the_project_and_beam_is_restored(tmp_path):
    before = Stager.__dict__['_build_setup_package']
    with quiet_setup_package() as applied:
        assert applied and Stager.__dict__['_build_setup_package'] is not before
        path = Stager._build_setup_package(os.path.join(ROOT, 'setup.py'), str(tmp_path))
    assert Stager.__dict__['_build_setup_package'] is before
    with tarfile.open(path) as sdist:
        files = {name.split('/', 1)[1] for name in sdist.getnames() if '/' in name}
    assert {'setup.py', 'pipeline/run.py', 'transforms/oic/post.py'} <= files


def test_a_failing_build_raises_with_its_output(tmp_path):
    (tmp_path / 'setup.py').write_text('raise SystemExit("broken setup: no name")\n')
    try:
        build_sdist(str(tmp_path / 'setup.py'), str(tmp_path), 'python3')
    except RuntimeError as err:
        assert 'broken setup: no name' in str(err) and 'exit 1' in str(err)
    else:
        raise AssertionError('no error')


def test_two_builds_of_one_tree_at_once_both_succeed(tmp_path):
    # setup.py sdist assembles NAME-VERSION/ in the source tree whatever the dist dir: two at once (two tests, two
    # jobs launched together) deleted each other's files ("No such file … transforms/oic/retry.py"); they now take
    # turns on a lock beside setup.py.
    import concurrent.futures
    import sys
    dirs = [tmp_path / 'a', tmp_path / 'b', tmp_path / 'c']
    for each in dirs:
        each.mkdir()
    with concurrent.futures.ThreadPoolExecutor(len(dirs)) as pool:
        built = list(pool.map(lambda d: build_sdist(os.path.join(ROOT, 'setup.py'), str(d), sys.executable), dirs))
    for path in built:
        with tarfile.open(path) as sdist:
            assert any(name.endswith('transforms/oic/post.py') for name in sdist.getnames())
