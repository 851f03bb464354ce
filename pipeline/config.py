"""Checks the flags before anything runs and turns them into one validated, secret-free RunConfig."""

import dataclasses
import math
import os
import re
import urllib.parse
import uuid
from typing import Optional

from apache_beam.options.pipeline_options import (
    DirectOptions, GoogleCloudOptions, SetupOptions, StandardOptions, WorkerOptions)
from apache_beam.runners.runner import create_runner

from pipeline.options import DEFAULT_RECORDS, PATHS, WarehouseOptions
from transforms.file_source import check_local_file
from transforms.oic_caller import is_loopback
from transforms.tables import TableSpec, parse_table_spec

PASSWORD_ENV = 'OIC_PASSWORD'
SECRET_PATTERN = re.compile(r'^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$')
DEFAULT_STREAMING_RATE = 10.0


class UsageError(Exception):
    """A mistake in flags or environment: reported as one line on stderr with exit code 2."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, validated. Holds no password: only where the workers will read it from."""
    run_id: str
    paths: tuple
    streaming: bool
    records: Optional[int]
    rate: float
    seed: int
    input: Optional[str]
    out: str
    oic_url: Optional[str]
    oic_username: Optional[str]
    oic_password_secret: Optional[str]
    oic_payload: str
    oic_concurrency: int
    oic_worker_concurrency: int
    oic_connect_timeout: float
    oic_read_timeout: float
    oic_table: Optional[TableSpec]
    direct_table: Optional[TableSpec]
    emulator_host: Optional[str]
    landed_check: bool
    probe_interval: float
    runner: str
    oic_max_attempts: int = 15
    oic_deadline: float = 300.0
    oic_max_rps: float = 0.0
    oic_worker_max_rps: float = 0.0
    allow_insecure_http: bool = False
    dead_letter_table: Optional[TableSpec] = None
    direct_method: str = 'STREAMING_INSERTS'
    source_shards: int = 1
    oic_rate_limiter: Optional[str] = None
    oic_rate_limit_domain: str = 'oic'
    workers: int = 1

    def describe(self):
        """A JSON-able summary for the run record; no credentials."""
        data = dataclasses.asdict(self)
        data['paths'] = list(self.paths)
        data['oic_table'] = str(self.oic_table) if self.oic_table else None
        data['direct_table'] = str(self.direct_table) if self.direct_table else None
        data['dead_letter_table'] = str(self.dead_letter_table) if self.dead_letter_table else None
        data['oic_url'] = redact_url(self.oic_url)
        return data


def redact_url(url):
    """The URL without any user:password part, for logs and reports."""
    if not url:
        return url
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ''
        if parts.port:
            host = '%s:%d' % (host, parts.port)
    except ValueError:  # Unparseable (bad port, unclosed IPv6 bracket): show no part that could hold a password.
        return '<malformed URL>'
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, '', ''))


def check_oic_url(url, allow_insecure_http=False):
    """Raises UsageError unless `url` is an http(s) URL safe to send Basic Auth to."""
    try:
        parts = urllib.parse.urlsplit(url or '')
        _ = parts.port  # Raises ValueError for a port that is not a number in range.
    except ValueError as err:
        raise UsageError('--oic_url is not a valid URL (%s)' % err) from None
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise UsageError('--oic_url must be an http(s) URL, e.g. '
                         'https://HOST/ic/api/integration/v1/flows/rest/CODE/1.0/records (got %r)' % redact_url(url))
    if parts.username or parts.password:
        raise UsageError('--oic_url must not contain credentials; use --oic_username and OIC_PASSWORD')
    if parts.scheme == 'http' and not is_loopback(parts.hostname) and not allow_insecure_http:
        raise UsageError('refusing to send Basic Auth over plain http:// to %s; use https:// or pass '
                         '--allow_insecure_http' % parts.hostname)


def _check_runner(name):
    try:
        create_runner(name)
    except (ValueError, ImportError) as err:
        raise UsageError('--runner: %s' % str(err).splitlines()[0]) from None


def _parse_paths(text):
    paths = tuple(p.strip() for p in (text or '').split(',') if p.strip())
    unknown = [p for p in paths if p not in PATHS]
    if not paths or unknown:
        raise UsageError('--paths takes a comma-separated list of %s (got %r)' % (' and '.join(PATHS), text))
    return tuple(p for p in PATHS if p in paths)


def _table(flag, text, project):
    try:
        return parse_table_spec(text, project)
    except ValueError as err:
        raise UsageError('%s: %s' % (flag, err)) from None


def resolve(options, environ=None):
    """Validates `options` (a PipelineOptions) and returns a RunConfig; raises UsageError on any mistake."""
    environ = os.environ if environ is None else environ
    flags = options.view_as(WarehouseOptions)
    standard = options.view_as(StandardOptions)
    gcp = options.view_as(GoogleCloudOptions)
    runner = standard.runner or 'DirectRunner'
    _check_runner(runner)
    streaming = bool(standard.streaming)
    paths = _parse_paths(flags.paths)

    if flags.records is not None and flags.records < 1:
        raise UsageError('--records must be at least 1 (got %d)' % flags.records)
    if flags.input and flags.records is not None:
        raise UsageError('--input and --records are exclusive: a replay sends every line of the file')
    if flags.input and not os.path.isfile(flags.input) and '://' not in flags.input:
        raise UsageError('--input: no such file: %s' % flags.input)
    if flags.input and streaming:
        raise UsageError('--input replays a file in batch mode; drop --streaming')
    if flags.input and '://' not in flags.input:
        try:
            check_local_file(flags.input)
        except OSError as err:
            raise UsageError('--input: cannot read %s: %s' % (flags.input, err.strerror or err)) from None
        except ValueError as err:
            raise UsageError('--input %s: %s' % (flags.input, err)) from None
    rate = flags.rate
    if rate is None:
        rate = DEFAULT_STREAMING_RATE if streaming else 0.0
    if rate < 0 or (streaming and rate == 0):
        raise UsageError('--rate must be > 0 with --streaming and >= 0 otherwise (got %g)' % rate)
    records = flags.records
    if records is None and not streaming and not flags.input:
        records = DEFAULT_RECORDS
    if flags.oic_concurrency < 1:
        raise UsageError('--oic_concurrency must be at least 1')
    if flags.oic_connect_timeout <= 0 or flags.oic_read_timeout <= 0:
        raise UsageError('--oic_connect_timeout and --oic_read_timeout must be positive')
    if flags.oic_max_attempts < 1:
        raise UsageError('--oic_max_attempts must be at least 1')
    if flags.oic_deadline <= 0:
        raise UsageError('--oic_deadline must be positive (seconds)')
    if flags.probe_interval < 0:
        raise UsageError('--probe_interval must be >= 0 (0 = no probe)')
    if flags.oic_max_rps < 0:
        raise UsageError('--oic_max_rps must be >= 0 (0 = no cap)')

    emulator = flags.bigquery_emulator_host
    if emulator and not re.match(r'^https?://[^/\s]+$', emulator):
        raise UsageError('BIGQUERY_EMULATOR_HOST/--bigquery_emulator_host must be like http://127.0.0.1:9050 '
                         '(scheme included, no path); got %r' % emulator)
    project = flags.bq_project or gcp.project
    direct_table = _table('--direct_table', flags.direct_table, project) if 'direct' in paths else None
    # OIC writes the OIC table itself; the pipeline only reads it to compare, so without a project it is skipped.
    oic_project = project or (direct_table.project if direct_table else None)
    oic_table = _table('--oic_table', flags.oic_table, oic_project) if flags.oic_table and (
        oic_project or ':' in flags.oic_table or flags.oic_table.count('.') == 2) else None

    if 'oic' in paths:
        if not flags.oic_url:
            raise UsageError('the oic path needs --oic_url (or OIC_URL); run ./run_local.sh up for a local one')
        check_oic_url(flags.oic_url, flags.allow_insecure_http)
        if not flags.oic_username:
            raise UsageError('the oic path needs --oic_username (or OIC_USERNAME)')
        if flags.oic_password_secret:
            if not SECRET_PATTERN.match(flags.oic_password_secret):
                raise UsageError('--oic_password_secret must look like projects/P/secrets/S/versions/V')
        elif 'DataflowRunner' in runner:
            raise UsageError('on Dataflow the OIC password must come from --oic_password_secret '
                             '(an environment variable does not reach the workers)')
        elif not environ.get(PASSWORD_ENV):
            raise UsageError('the oic path needs the OIC password in %s (or --oic_password_secret)' % PASSWORD_ENV)

    if 'direct' in paths:
        check_direct_method(flags.direct_method, streaming, emulator, gcp.temp_location)
    if flags.source_shards < 1:
        raise UsageError('--source_shards must be at least 1 (got %d)' % flags.source_shards)
    if flags.oic_rate_limiter and not re.match(r'^[\w.-]+:\d{1,5}$', flags.oic_rate_limiter):
        raise UsageError('--oic_rate_limiter must be HOST:PORT of an Envoy rate-limit service (got %r)'
                         % flags.oic_rate_limiter)
    if 'DataflowRunner' in runner:
        check_dataflow(options, paths, flags.oic_url, flags.input, flags.out, emulator)
    if not emulator:
        for flag, table in (('--direct_table', direct_table), ('--oic_table', oic_table)):
            check_real_table(flag, table)
    workers = worker_count(options, runner)

    seed = flags.seed if flags.seed is not None else int.from_bytes(os.urandom(4), 'big')
    return RunConfig(
        direct_method=flags.direct_method, source_shards=flags.source_shards, workers=workers,
        oic_rate_limiter=flags.oic_rate_limiter, oic_rate_limit_domain=flags.oic_rate_limit_domain,
        run_id=str(uuid.uuid4()), paths=paths, streaming=streaming, records=records, rate=float(rate),
        seed=seed, input=flags.input, out=flags.out, oic_url=flags.oic_url, oic_username=flags.oic_username,
        oic_password_secret=flags.oic_password_secret, oic_payload=flags.oic_payload,
        oic_concurrency=flags.oic_concurrency, oic_worker_concurrency=worker_share(flags.oic_concurrency, workers),
        oic_connect_timeout=flags.oic_connect_timeout,
        oic_read_timeout=flags.oic_read_timeout, oic_table=oic_table, direct_table=direct_table,
        emulator_host=emulator, landed_check=not flags.no_landed_check, runner=runner,
        probe_interval=flags.probe_interval,
        oic_max_attempts=flags.oic_max_attempts, oic_deadline=flags.oic_deadline, oic_max_rps=flags.oic_max_rps,
        oic_worker_max_rps=flags.oic_max_rps / max(1, workers),
        allow_insecure_http=flags.allow_insecure_http,
        dead_letter_table=_table('--dead_letter_table', flags.dead_letter_table, project or oic_project)
        if flags.dead_letter_table else None)


# -- Scale-out and Dataflow pre-flight: every mistake is one line before anything is submitted.

PROJECT_PATTERN = re.compile(r'^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$')
REGION_PATTERN = re.compile(r'^[a-z]+-[a-z]+[0-9]+$')
GCS_PATTERN = re.compile(r'^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$')


def worker_count(options, runner):
    """How many workers share the job's OIC budget: --max_num_workers on Dataflow, the processes of a
    multi-processing DirectRunner, else 1."""
    if 'DataflowRunner' in runner:
        return options.view_as(WorkerOptions).max_num_workers or 1
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == 'multi_processing':
        return max(1, direct.direct_num_workers or os.cpu_count() or 1)
    return 1


def worker_share(total, workers):
    """Each worker's share of a job-wide budget: ceil(total / workers), so the sum never falls short of it."""
    return max(1, math.ceil(total / max(1, workers)))


def check_direct_method(method, streaming, emulator, temp_location):
    """Raises UsageError when the direct branch's write method cannot work with these flags."""
    if method != 'STREAMING_INSERTS' and emulator:
        raise UsageError('--direct_method %s needs real BigQuery; the emulator takes STREAMING_INSERTS only'
                         % method)
    if method == 'FILE_LOADS' and streaming:
        raise UsageError('--direct_method FILE_LOADS is for batch runs; use STREAMING_INSERTS or '
                         'STORAGE_WRITE_API with --streaming')
    if method == 'FILE_LOADS' and not GCS_PATTERN.match(temp_location or ''):
        raise UsageError('--direct_method FILE_LOADS stages files in GCS: pass --temp_location gs://BUCKET/tmp')


def check_real_table(flag, table):
    """Raises UsageError unless real BigQuery (and Beam) would take the table spec."""
    if table is None:
        return
    from apache_beam.io.gcp.bigquery_tools import parse_table_reference
    try:
        parse_table_reference(str(table))
    except ValueError:
        raise UsageError('%s: %s is not a valid BigQuery table (PROJECT:DATASET.TABLE; project ids are '
                         'lowercase letters, digits and hyphens)' % (flag, table)) from None


def check_dataflow(options, paths, oic_url, input_path, out, emulator):
    """Raises UsageError for anything that would make a Dataflow submission fail or leak (checked offline)."""
    gcp = options.view_as(GoogleCloudOptions)
    setup = options.view_as(SetupOptions)
    worker = options.view_as(WorkerOptions)
    if not gcp.project or not PROJECT_PATTERN.match(gcp.project):
        raise UsageError('Dataflow needs --project PROJECT_ID (6-30 lowercase letters, digits, hyphens; got %r)'
                         % gcp.project)
    if not gcp.region or not REGION_PATTERN.match(gcp.region):
        raise UsageError('Dataflow needs --region, e.g. us-central1 (got %r)' % gcp.region)
    for flag, value in (('--temp_location', gcp.temp_location), ('--staging_location', gcp.staging_location)):
        if (value or flag == '--temp_location') and not GCS_PATTERN.match(value or ''):
            raise UsageError('Dataflow needs %s gs://BUCKET/PATH (got %r)' % (flag, value))
    if not GCS_PATTERN.match(out or ''):
        raise UsageError('on Dataflow --out must be gs://BUCKET/PATH: workers cannot write to this machine '
                         '(got %r)' % out)
    if input_path and not GCS_PATTERN.match(input_path):
        raise UsageError('on Dataflow --input must be a gs:// file the workers can read (got %r)' % input_path)
    if emulator:
        raise UsageError('a BigQuery emulator is local only: unset BIGQUERY_EMULATOR_HOST/--bigquery_emulator_host '
                         'for Dataflow')
    if not setup.setup_file and not worker.sdk_container_image:
        raise UsageError('Dataflow workers need this project: pass --setup_file ./setup.py')
    if setup.setup_file and not os.path.isfile(setup.setup_file):
        raise UsageError('--setup_file: no such file: %s' % setup.setup_file)
    if 'oic' in paths:
        host = urllib.parse.urlsplit(oic_url or '').hostname or ''
        if is_loopback(host):
            raise UsageError('--oic_url points at this machine (%s); Dataflow workers cannot reach it' % host)
        if not worker.max_num_workers or worker.max_num_workers < 1:
            raise UsageError('the oic path on Dataflow needs --max_num_workers: --oic_concurrency is the job\'s '
                             'total and each worker takes ceil(total / max_num_workers)')
