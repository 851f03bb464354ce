"""The OIC piece: where and how the OIC branch posts (URL, how it authenticates and where the password or client
secret is read, which CAs it trusts, the job's budget and the processes that share it, retries)."""

import dataclasses
import re
import ssl
import urllib.parse
from typing import Mapping, Optional, Tuple

from pipeline.config.errors import UsageError
from pipeline.config.source import SourceConfig
from pipeline.options import WarehouseOptions
from transforms.oic.budget import Budget, posting_keys
from transforms.oic.budget import DEFAULT_TOTAL
from transforms.oic.auth import CLIENT_SECRET_ENV
from transforms.oic.urls import check_oic_url, is_loopback, parse_trigger_url
from transforms.oic.batch.grouping import DEFAULT_BATCH_CODE, DEFAULT_SHARDS
from apache_beam.options.pipeline_options import StandardOptions

PASSWORD_ENV = 'OIC_PASSWORD'
CA_BUNDLE_ENV = 'REQUESTS_CA_BUNDLE'  # Honoured as requests does, when --oic_ca_bundle is not given.
AUTH_MODES = ('basic', 'oauth')
SECRET_PATTERN = re.compile(r'^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$')
RATE_LIMITER_PATTERN = re.compile(r'^[\w.-]+:\d{1,5}$')
# How records reach the processes that post: where they are made; 'random', spread over every process (a local
# unpaced batch); 'keys', over the budget's posting keys (SpreadOverKeys: Dataflow's per-record path).
SPREADS = ('none', 'random', 'keys')


@dataclasses.dataclass(frozen=True)
class OICConfig:
    """Validated settings of the OIC branch. Holds no password or client secret: only where the workers will read
    them from."""
    url: str
    username: Optional[str]  # Basic Auth's user (optional with OAuth).
    password_secret: Optional[str]
    payload: str
    # --oic_concurrency (the job's total in both modes), --oic_concurrency_mode, --oic_max_rps (the job's) and the
    # processes that post: each takes its share on the worker (transforms/oic/budget.py).
    budget: Budget
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    deadline: float
    allow_insecure_http: bool
    rate_limiter: Optional[str]
    rate_limit_domain: str
    auth: str = 'basic'  # Or 'oauth': client credentials, a Bearer token on every request.
    token_url: Optional[str] = None
    client_id: Optional[str] = None
    scope: Optional[str] = None
    client_secret_secret: Optional[str] = None  # Secret Manager version of the client secret (else OIC_CLIENT_SECRET).
    ca_bundle: Optional[str] = None  # The file the CAs were read from (for the run record).
    ca_pem: Optional[str] = dataclasses.field(default=None, repr=False)  # Its certificates, shipped with the job.
    spread: str = 'none'  # SPREADS: how records reach the processes that post
    # Batching (--oic_batch_kb; issue 23): 0 = one record per request to `url`; else bodies of at most batch_kb KB
    # posted to batch_url, a record waiting at most batch_wait s in a stream, grouped over the budget's posting keys.
    batch_kb: float = 0.0
    batch_wait: float = 1.0
    batch_url: Optional[str] = None
    streaming: bool = False
    # The comparison's monitoring check (issue 30): the instance name it sends and how it authenticates; with 'oauth'
    # token_url, client_id, scope and client_secret_secret are recorded even when `auth` is 'basic'.
    instance: Optional[str] = None
    monitoring_auth: str = 'oauth'


def check_secret_ref(flag: str, value: str) -> None:
    """Raises UsageError unless `value` is a Secret Manager version reference."""
    if not SECRET_PATTERN.match(value):
        raise UsageError('%s must look like projects/P/secrets/S/versions/V' % flag)


def concurrency_of(flags: WarehouseOptions) -> int:
    """--oic_concurrency, or its default for --oic_concurrency_mode."""
    if flags.oic_concurrency is None:
        return DEFAULT_TOTAL[flags.oic_concurrency_mode]
    return flags.oic_concurrency


def _check_numbers(flags: WarehouseOptions) -> None:
    if concurrency_of(flags) < 1:
        raise UsageError('--oic_concurrency must be at least 1')
    if flags.oic_connect_timeout <= 0 or flags.oic_read_timeout <= 0:
        raise UsageError('--oic_connect_timeout and --oic_read_timeout must be positive')
    if flags.oic_max_attempts < 1:
        raise UsageError('--oic_max_attempts must be at least 1')
    if flags.oic_deadline <= 0:
        raise UsageError('--oic_deadline must be positive (seconds)')
    if flags.oic_max_rps < 0:
        raise UsageError('--oic_max_rps must be >= 0 (0 = no cap)')
    if flags.oic_rate_limiter and not RATE_LIMITER_PATTERN.match(flags.oic_rate_limiter):
        raise UsageError('--oic_rate_limiter must be HOST:PORT of an Envoy rate-limit service (got %r)'
                         % flags.oic_rate_limiter)


def _check_secret_source(what: str, needed_by: str, flag: str, secret_ref: Optional[str], env: str,
                         on_dataflow: bool, environ: Mapping[str, str]) -> None:
    """The one rule for where a secret comes from: a Secret Manager reference (the only way on Dataflow, where an
    environment variable does not reach the workers) or, locally, the environment variable `env`."""
    if secret_ref:
        check_secret_ref(flag, secret_ref)
    elif on_dataflow:
        raise UsageError('on Dataflow the %s must come from %s '
                         '(an environment variable does not reach the workers)' % (what, flag))
    elif not environ.get(env):
        raise UsageError('%s needs the %s in %s (or %s)' % (needed_by, what, env, flag))


def _check_password_source(flags: WarehouseOptions, on_dataflow: bool, environ: Mapping[str, str]) -> None:
    _check_secret_source('OIC password', 'the oic path', '--oic_password_secret', flags.oic_password_secret,
                         PASSWORD_ENV, on_dataflow, environ)


def _check_url(flag: str, url: str, allow_insecure_http: bool, what: str) -> None:
    try:
        check_oic_url(url, allow_insecure_http, what)
    except ValueError as err:
        raise UsageError(str(err).replace('the OIC URL', flag, 1)) from None


def _check_oauth(flags: WarehouseOptions, on_dataflow: bool, environ: Mapping[str, str]) -> None:
    """OAuth client credentials: a token URL, a client id, a scope, and the client secret's source."""
    for flag, value, env in (('--oic_token_url', flags.oic_token_url, 'OIC_TOKEN_URL'),
                             ('--oic_client_id', flags.oic_client_id, 'OIC_CLIENT_ID'),
                             ('--oic_scope', flags.oic_scope, 'OIC_SCOPE')):
        if not value:
            raise UsageError('--oic_auth oauth needs %s (or %s)' % (flag, env))
    _check_url('--oic_token_url', flags.oic_token_url, flags.allow_insecure_http, 'the OAuth client secret')
    host = urllib.parse.urlsplit(flags.oic_token_url).hostname or ''
    if on_dataflow and is_loopback(host):
        raise UsageError('--oic_token_url points at this machine (%s); Dataflow workers cannot reach it' % host)
    _check_secret_source('OAuth client secret', '--oic_auth oauth', '--oic_client_secret_secret',
                         flags.oic_client_secret_secret, CLIENT_SECRET_ENV, on_dataflow, environ)


def read_ca_bundle(path: str, flag: str = '--oic_ca_bundle') -> str:
    """The PEM certificates in `path`; UsageError unless it holds at least one a TLS context accepts."""
    try:
        with open(path, encoding='ascii') as handle:
            pem = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError('%s: cannot read %s: %s' % (flag, path, getattr(err, 'strerror', None) or
                                                     type(err).__name__)) from None
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise UsageError('%s: %s holds no PEM certificate' % (flag, path)) from None
    if 'BEGIN CERTIFICATE' not in pem:
        raise UsageError('%s: %s holds no PEM certificate' % (flag, path))
    return pem


def _ca_bundle(flags: WarehouseOptions, environ: Mapping[str, str]) -> Tuple[Optional[str], Optional[str]]:
    """(path, PEM) of the CAs to trust when a URL is https: --oic_ca_bundle, else REQUESTS_CA_BUNDLE, else (None,
    None) = the system's trust store."""
    urls = [flags.oic_url] + ([flags.oic_token_url] if flags.oic_auth == 'oauth' else [])
    if not any(url.lower().startswith('https:') for url in urls):
        return None, None
    if flags.oic_ca_bundle:
        return flags.oic_ca_bundle, read_ca_bundle(flags.oic_ca_bundle)
    if environ.get(CA_BUNDLE_ENV):
        return environ[CA_BUNDLE_ENV], read_ca_bundle(environ[CA_BUNDLE_ENV], CA_BUNDLE_ENV)
    return None, None


def resolve_oic(flags: WarehouseOptions, on_dataflow: bool, workers: int, environ: Mapping[str, str],
                source: SourceConfig, share_per_vcpu: bool = False) -> OICConfig:
    """The OIC piece from WarehouseOptions `flags` for a run with `workers` workers (Dataflow: VMs, each running one
    SDK process per vCPU when `share_per_vcpu`) whose records come from `source`; UsageError on any mistake."""
    _check_numbers(flags)
    if flags.oic_auth not in AUTH_MODES:
        raise UsageError('--oic_auth takes basic or oauth (got %r)' % flags.oic_auth)
    oauth = flags.oic_auth == 'oauth'
    if not flags.oic_url:
        raise UsageError('the oic path needs --oic_url (or OIC_URL); run ./run_local.sh up for a local one')
    _check_url('--oic_url', flags.oic_url, flags.allow_insecure_http, 'a Bearer token' if oauth else 'Basic Auth')
    if oauth:
        _check_oauth(flags, on_dataflow, environ)
    else:
        if not flags.oic_username:
            raise UsageError('the oic path needs --oic_username (or OIC_USERNAME)')
        _check_password_source(flags, on_dataflow, environ)
    ca_bundle, ca_pem = _ca_bundle(flags, environ)
    client = oauth or flags.oic_monitoring_auth == 'oauth'  # The monitoring check's client, when it uses OAuth.
    if client and not oauth and flags.oic_token_url:
        _check_url('--oic_token_url', flags.oic_token_url, flags.allow_insecure_http, 'the OAuth client secret')
    budget, spread = budget_of(flags, on_dataflow, workers, share_per_vcpu, source)
    return OICConfig(
        url=flags.oic_url, username=flags.oic_username, password_secret=flags.oic_password_secret,
        payload=flags.oic_payload, budget=budget, spread=spread,
        connect_timeout=flags.oic_connect_timeout, read_timeout=flags.oic_read_timeout,
        max_attempts=flags.oic_max_attempts, deadline=flags.oic_deadline,
        allow_insecure_http=flags.allow_insecure_http,
        rate_limiter=flags.oic_rate_limiter, rate_limit_domain=flags.oic_rate_limit_domain,
        auth=flags.oic_auth, token_url=flags.oic_token_url if client else None,
        client_id=flags.oic_client_id if client else None, scope=flags.oic_scope if client else None,
        client_secret_secret=flags.oic_client_secret_secret if client else None, ca_bundle=ca_bundle, ca_pem=ca_pem,
        instance=flags.oic_instance or None, monitoring_auth=flags.oic_monitoring_auth, **_batching(flags))


def batch_url_for(url: str) -> str:
    """The batch trigger beside a REST trigger URL (v1, or v2 in a project: transforms/oic/urls.py): the same host,
    form, project, version and resource, with the batch integration's flow code."""
    trigger = parse_trigger_url(url)
    if trigger is None:
        raise UsageError('--oic_batch_kb needs --oic_batch_url (or OIC_BATCH_URL): --oic_url is neither '
                         '.../ic/api/integration/v1/flows/rest/CODE/VERSION/... nor '
                         '.../ic/api/integration/v2/flows/rest/project/PROJECT/CODE/VERSION/... to derive it from')
    return trigger.url(DEFAULT_BATCH_CODE)


def _batching(flags: WarehouseOptions) -> dict:
    """The batching fields of OICConfig from --oic_batch_kb, --oic_batch_wait and --oic_batch_url."""
    if flags.oic_batch_kb < 0:
        raise UsageError('--oic_batch_kb must be >= 0 (0 = one record per request)')
    if flags.oic_batch_wait <= 0:
        raise UsageError('--oic_batch_wait must be > 0 (seconds): with 0 a batch in a stream would wait until it '
                         'filled or the stream drained')
    streaming = bool(flags.view_as(StandardOptions).streaming)
    if not flags.oic_batch_kb:
        return {'streaming': streaming}
    if flags.oic_payload == 'seed':
        # A batch sent again (its answer lost or late) must not land twice: the integration sets each row's insertId
        # from its record_id, and the seed's payload has none (docs/oic-batching.md).
        raise UsageError('--oic_batch_kb needs --oic_payload extended: the seed payload carries no record_id, so a '
                         'batch sent again could land twice')
    url = flags.oic_batch_url or batch_url_for(flags.oic_url)
    _check_url('--oic_batch_url', url, flags.allow_insecure_http,
               'a Bearer token' if flags.oic_auth == 'oauth' else 'Basic Auth')
    return {'batch_kb': float(flags.oic_batch_kb), 'batch_wait': float(flags.oic_batch_wait), 'batch_url': url,
            'streaming': streaming}


def batch_keys_wanted(workers: int, on_dataflow: bool) -> int:
    """The keys a keyed posting step asks for (the budget's posting_keys caps them at the total). Dataflow: at least
    DEFAULT_SHARDS, one per VM beyond that (a key's state lives on one worker). Locally one per process: the local
    runner runs the batch grouping, fused with the source, in one process, where more keys would only split each
    batch (a stream at 20 records/s with a 1 s wait: 5 records a request over 4 keys, 20 over one)."""
    return max(DEFAULT_SHARDS, workers) if on_dataflow else max(1, workers)


def budget_of(flags: WarehouseOptions, on_dataflow: bool, workers: int, per_vcpu: bool,
              source: SourceConfig) -> Tuple[Budget, str]:
    """The job's budget and how records reach the processes that post (one of SPREADS); UsageError when the total
    cannot give every process that posts a request.

    Who posts: the batch grouping's keys (it is keyed, and the post is fused into it); a batch that is not spread
    (paced, or a file replay: made by one Impulse or one file, so in one process), that one process; on Dataflow
    the per-record path's posting keys (SpreadOverKeys: about one per VM, so a total smaller than the job's processes
    still holds, whatever the machine type and however far autoscaling went); locally every process (there are
    --direct_num_workers of them, all known here)."""
    total, bounded = concurrency_of(flags), not source.streaming
    spread = 'random' if bounded and not source.rate else 'none'  # a paced batch: a reshuffle would be a barrier
    keys = posting_keys(total, batch_keys_wanted(workers, on_dataflow))
    posting: Optional[int] = None
    if flags.oic_batch_kb:
        posting = keys
    elif bounded and spread == 'none':
        posting = 1
    elif on_dataflow:
        posting, spread = keys, 'keys'
    elif total < workers:
        raise UsageError('--oic_concurrency %d is the job\'s total: it cannot give each of the %d worker processes '
                         'a request (raise it to %d at least)' % (total, workers, workers))
    return Budget(flags.oic_concurrency_mode, total, flags.oic_max_rps, workers, per_vcpu, posting), spread
