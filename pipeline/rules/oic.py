"""The OIC path's rules: its numbers (budget, timeouts, attempts, rate), where it posts and how it authenticates, where
the password or client secret is read, which CAs it trusts, and batching (check_oic runs them all)."""

import dataclasses
import re
import ssl
import urllib.parse
from typing import Mapping, Optional, Tuple

from pipeline.flags import FlagValues
from pipeline.rules.errors import UsageError
from transforms.oic.auth import CLIENT_SECRET_ENV
from transforms.oic.batch.body import DEFAULT_BATCH_CODE, DEFAULT_WAIT_S
from transforms.oic.budget import DEFAULT_TOTAL
from transforms.oic.urls import check_oic_url, is_loopback, parse_trigger_url

PASSWORD_ENV = 'OIC_PASSWORD'
CA_BUNDLE_ENV = 'REQUESTS_CA_BUNDLE'  # Honoured as requests does, when --oic_ca_bundle is not given.
AUTH_MODES = ('basic', 'oauth')
SECRET_PATTERN = re.compile(r'^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$')
RATE_LIMITER_PATTERN = re.compile(r'^[\w.-]+:\d{1,5}$')


@dataclasses.dataclass(frozen=True)
class OICChecks:
    """What checking the OIC path's flags found: the CAs to trust (the file and its PEM; None = the system's store),
    whether the comparison's monitoring check uses the OAuth client (`client`), and batching (batch_kb 0 = one record
    per request; batch_url the batch trigger)."""
    ca_bundle: Optional[str]
    ca_pem: Optional[str] = dataclasses.field(repr=False)
    client: bool
    batch_kb: float = 0.0
    batch_wait: float = DEFAULT_WAIT_S
    batch_url: Optional[str] = None


def check_secret_ref(flag: str, value: str) -> None:
    """Raises UsageError unless `value` is a Secret Manager version reference."""
    if not SECRET_PATTERN.match(value):
        raise UsageError('%s must look like projects/P/secrets/S/versions/V' % flag)


def concurrency_of(flags: FlagValues) -> int:
    """--oic_concurrency, or its default for --oic_concurrency_mode."""
    if flags.oic_concurrency is None:
        return DEFAULT_TOTAL[flags.oic_concurrency_mode]
    return flags.oic_concurrency


def check_numbers(flags: FlagValues) -> None:
    """--oic_concurrency, the timeouts, --oic_max_attempts, --oic_deadline, --oic_max_rps, --oic_rate_limiter."""
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


def check_url(flag: str, url: str, allow_insecure_http: bool, what: str) -> None:
    """Raises UsageError, naming `flag`, unless `url` may carry `what` (transforms.oic.urls.check_oic_url)."""
    try:
        check_oic_url(url, allow_insecure_http, what)
    except ValueError as err:
        raise UsageError(str(err).replace('the OIC URL', flag, 1)) from None


def _check_oauth(flags: FlagValues, on_dataflow: bool, environ: Mapping[str, str]) -> None:
    """OAuth client credentials: a token URL, a client id, a scope, and the client secret's source."""
    for flag, value, env in (('--oic_token_url', flags.oic_token_url, 'OIC_TOKEN_URL'),
                             ('--oic_client_id', flags.oic_client_id, 'OIC_CLIENT_ID'),
                             ('--oic_scope', flags.oic_scope, 'OIC_SCOPE')):
        if not value:
            raise UsageError('--oic_auth oauth needs %s (or %s)' % (flag, env))
    check_url('--oic_token_url', flags.oic_token_url, flags.allow_insecure_http, 'the OAuth client secret')
    host = urllib.parse.urlsplit(flags.oic_token_url).hostname or ''
    if on_dataflow and is_loopback(host):
        raise UsageError('--oic_token_url points at this machine (%s); Dataflow workers cannot reach it' % host)
    _check_secret_source('OAuth client secret', '--oic_auth oauth', '--oic_client_secret_secret',
                         flags.oic_client_secret_secret, CLIENT_SECRET_ENV, on_dataflow, environ)


def check_auth(flags: FlagValues, on_dataflow: bool, environ: Mapping[str, str]) -> None:
    """--oic_url, and what the trigger is called with: Basic Auth (a user and the password's source) or OAuth."""
    if flags.oic_auth not in AUTH_MODES:
        raise UsageError('--oic_auth takes basic or oauth (got %r)' % flags.oic_auth)
    oauth = flags.oic_auth == 'oauth'
    if not flags.oic_url:
        raise UsageError('the oic path needs --oic_url (or OIC_URL); run ./run_local.sh up for a local one')
    check_url('--oic_url', flags.oic_url, flags.allow_insecure_http, 'a Bearer token' if oauth else 'Basic Auth')
    if oauth:
        _check_oauth(flags, on_dataflow, environ)
        return
    if not flags.oic_username:
        raise UsageError('the oic path needs --oic_username (or OIC_USERNAME)')
    _check_secret_source('OIC password', 'the oic path', '--oic_password_secret', flags.oic_password_secret,
                         PASSWORD_ENV, on_dataflow, environ)


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


def ca_bundle(flags: FlagValues, environ: Mapping[str, str]) -> Tuple[Optional[str], Optional[str]]:
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


def batch_url_for(url: str) -> str:
    """The batch trigger beside a REST trigger URL (v1, or v2 in a project: transforms/oic/urls.py): the same host,
    form, project, version and resource, with the batch integration's flow code."""
    trigger = parse_trigger_url(url)
    if trigger is None:
        raise UsageError('--oic_batch_kb needs --oic_batch_url (or OIC_BATCH_URL): --oic_url is neither '
                         '.../ic/api/integration/v1/flows/rest/CODE/VERSION/... nor '
                         '.../ic/api/integration/v2/flows/rest/project/PROJECT/CODE/VERSION/... to derive it from')
    return trigger.url(DEFAULT_BATCH_CODE)


def batching(flags: FlagValues) -> Tuple[float, float, Optional[str]]:
    """(batch_kb, batch_wait, batch_url) from --oic_batch_kb, --oic_batch_wait and --oic_batch_url; batch_kb 0 = one
    record per request (then the wait is its default and batch_url None, as the run record shows them)."""
    if flags.oic_batch_kb < 0:
        raise UsageError('--oic_batch_kb must be >= 0 (0 = one record per request)')
    if flags.oic_batch_wait <= 0:
        raise UsageError('--oic_batch_wait must be > 0 (seconds): with 0 a batch in a stream would wait until it '
                         'filled or the stream drained')
    if not flags.oic_batch_kb:
        return 0.0, DEFAULT_WAIT_S, None
    if flags.oic_payload == 'seed':
        # A batch sent again (its answer lost or late) must not land twice: the integration sets each row's insertId
        # from its record_id, and the seed's payload has none (docs/oic-batching.md).
        raise UsageError('--oic_batch_kb needs --oic_payload extended: the seed payload carries no record_id, so a '
                         'batch sent again could land twice')
    url = flags.oic_batch_url or batch_url_for(flags.oic_url)
    check_url('--oic_batch_url', url, flags.allow_insecure_http,
              'a Bearer token' if flags.oic_auth == 'oauth' else 'Basic Auth')
    return float(flags.oic_batch_kb), float(flags.oic_batch_wait), url


def check_oic(flags: FlagValues, on_dataflow: bool, environ: Mapping[str, str]) -> OICChecks:
    """Every rule of the OIC path that needs no Beam, in order; UsageError on the first mistake. (The budget's split
    among the processes that post is pipeline/config/oic.py's: it counts Beam's workers.)"""
    check_numbers(flags)
    check_auth(flags, on_dataflow, environ)
    ca_path, ca_pem = ca_bundle(flags, environ)
    client = flags.oic_auth == 'oauth' or flags.oic_monitoring_auth == 'oauth'  # The monitoring check's client.
    if client and flags.oic_auth != 'oauth' and flags.oic_token_url:
        check_url('--oic_token_url', flags.oic_token_url, flags.allow_insecure_http, 'the OAuth client secret')
    batch_kb, batch_wait, batch_url = batching(flags)
    return OICChecks(ca_path, ca_pem, client, batch_kb, batch_wait, batch_url)
