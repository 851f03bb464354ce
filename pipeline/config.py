"""Checks the flags before anything runs and turns them into one validated, secret-free RunConfig."""

import dataclasses
import ipaddress
import os
import re
import urllib.parse
import uuid
from typing import Optional

from apache_beam.options.pipeline_options import GoogleCloudOptions, StandardOptions
from apache_beam.runners.runner import create_runner

from pipeline.options import DEFAULT_RECORDS, PATHS, WarehouseOptions
from transforms.file_source import check_local_file
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
    runner: str
    oic_max_attempts: int = 12
    oic_deadline: float = 300.0
    oic_max_rps: float = 0.0
    allow_insecure_http: bool = False
    dead_letter_table: Optional[TableSpec] = None

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


def is_loopback(host):
    if host in ('localhost',):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    seed = flags.seed if flags.seed is not None else int.from_bytes(os.urandom(4), 'big')
    return RunConfig(
        run_id=str(uuid.uuid4()), paths=paths, streaming=streaming, records=records, rate=float(rate),
        seed=seed, input=flags.input, out=flags.out, oic_url=flags.oic_url, oic_username=flags.oic_username,
        oic_password_secret=flags.oic_password_secret, oic_payload=flags.oic_payload,
        oic_concurrency=flags.oic_concurrency, oic_worker_concurrency=flags.oic_concurrency,
        oic_connect_timeout=flags.oic_connect_timeout,
        oic_read_timeout=flags.oic_read_timeout, oic_table=oic_table, direct_table=direct_table,
        emulator_host=emulator, landed_check=not flags.no_landed_check, runner=runner,
        oic_max_attempts=flags.oic_max_attempts, oic_deadline=flags.oic_deadline, oic_max_rps=flags.oic_max_rps,
        allow_insecure_http=flags.allow_insecure_http,
        dead_letter_table=_table('--dead_letter_table', flags.dead_letter_table, project or oic_project)
        if flags.dead_letter_table and 'oic' in paths else None)
