"""The OIC piece: where and how the OIC branch posts (URL, user, where the password is read, concurrency, retries)."""

import dataclasses
import re
from typing import Mapping, Optional

from pipeline.config.errors import UsageError
from transforms.oic import DEFAULT_CONCURRENCY
from transforms.oic_caller import check_oic_url

PASSWORD_ENV = 'OIC_PASSWORD'
SECRET_PATTERN = re.compile(r'^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$')
RATE_LIMITER_PATTERN = re.compile(r'^[\w.-]+:\d{1,5}$')


@dataclasses.dataclass(frozen=True)
class OICConfig:
    """Validated settings of the OIC branch. Holds no password: only where the workers will read it from."""
    url: str
    username: str
    password_secret: Optional[str]
    payload: str
    concurrency: int  # adaptive: the ceiling of every worker's limit; fixed: requests in flight for the whole job.
    worker_concurrency: int  # The most one worker keeps in flight: adaptive, the ceiling; fixed, its share.
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    deadline: float
    max_rps: float  # For the whole job; 0 = no cap.
    worker_max_rps: float
    allow_insecure_http: bool
    rate_limiter: Optional[str]
    rate_limit_domain: str
    concurrency_mode: str = 'adaptive'  # or 'fixed' (--oic_concurrency_mode)


def check_secret_ref(flag: str, value: str) -> None:
    """Raises UsageError unless `value` is a Secret Manager version reference."""
    if not SECRET_PATTERN.match(value):
        raise UsageError('%s must look like projects/P/secrets/S/versions/V' % flag)


def concurrency_of(flags) -> int:
    """--oic_concurrency, or its default for --oic_concurrency_mode."""
    if flags.oic_concurrency is None:
        return DEFAULT_CONCURRENCY[flags.oic_concurrency_mode]
    return flags.oic_concurrency


def _check_numbers(flags) -> None:
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


def _check_password_source(flags, on_dataflow: bool, environ: Mapping[str, str]) -> None:
    if flags.oic_password_secret:
        check_secret_ref('--oic_password_secret', flags.oic_password_secret)
    elif on_dataflow:
        raise UsageError('on Dataflow the OIC password must come from --oic_password_secret '
                         '(an environment variable does not reach the workers)')
    elif not environ.get(PASSWORD_ENV):
        raise UsageError('the oic path needs the OIC password in %s (or --oic_password_secret)' % PASSWORD_ENV)


def resolve_oic(flags, on_dataflow: bool, workers: int, environ: Mapping[str, str]) -> OICConfig:
    """The OIC piece from WarehouseOptions `flags` for a run with `workers` workers; UsageError on any mistake."""
    _check_numbers(flags)
    if not flags.oic_url:
        raise UsageError('the oic path needs --oic_url (or OIC_URL); run ./run_local.sh up for a local one')
    try:
        check_oic_url(flags.oic_url, flags.allow_insecure_http)
    except ValueError as err:
        raise UsageError(str(err).replace('the OIC URL', '--oic_url', 1)) from None
    if not flags.oic_username:
        raise UsageError('the oic path needs --oic_username (or OIC_USERNAME)')
    _check_password_source(flags, on_dataflow, environ)
    return OICConfig(
        url=flags.oic_url, username=flags.oic_username, password_secret=flags.oic_password_secret,
        payload=flags.oic_payload, concurrency=concurrency_of(flags),
        worker_concurrency=worker_ceiling(flags.oic_concurrency_mode, concurrency_of(flags), workers),
        connect_timeout=flags.oic_connect_timeout, read_timeout=flags.oic_read_timeout,
        max_attempts=flags.oic_max_attempts, deadline=flags.oic_deadline, max_rps=flags.oic_max_rps,
        worker_max_rps=flags.oic_max_rps / max(1, workers), allow_insecure_http=flags.allow_insecure_http,
        rate_limiter=flags.oic_rate_limiter, rate_limit_domain=flags.oic_rate_limit_domain,
        concurrency_mode=flags.oic_concurrency_mode)


def worker_ceiling(mode: str, total: int, workers: int) -> int:
    """The most requests one worker keeps in flight. Adaptive: the whole ceiling, so a worker alone (or with fewer
    peers than --max_num_workers) can still reach OIC's capacity, and OIC's 429s share it among several; fixed: its
    static share of the job's total (docs/adaptive-concurrency.md weighs the two)."""
    return total if mode == 'adaptive' else worker_share(total, workers)


def worker_share(total: int, workers: int) -> int:
    """Each worker's share of a job-wide budget: ceil(total / workers), so the sum never falls short of it."""
    return max(1, -(-total // max(1, workers)))
