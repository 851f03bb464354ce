"""What one OIC sender (PostToOIC, PostBatchesToOIC) is configured with, resolved once into a frozen value."""

import dataclasses
from typing import Optional, Tuple

from transforms.oic import budget as job_budget
from transforms.oic.auth import OAuthClient
from transforms.oic.caller import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S
from transforms.oic.credentials import PasswordRef
from transforms.oic.retry import (
    DEFAULT_DEADLINE_S, DEFAULT_INITIAL_BACKOFF_S, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BACKOFF_S, RetryPolicy)
from transforms.oic.urls import check_oic_url


@dataclasses.dataclass(frozen=True)
class SenderSettings:
    """Where and how records are posted to OIC; safe to pickle and to show (no secret: the password and the OAuth
    client secret are references, read on the worker).

    url: the REST trigger (the batch trigger for PostBatchesToOIC); plain http only to a local host unless
    `allow_insecure_http`. username and password_ref: Basic Auth; `oauth`: Bearer tokens of this client instead.
    payload_shape: transforms.records.oic_payload's shape. budget: the job's requests in flight and rate and who
    shares them (transforms/oic/budget.py), each posting process taking its share on the worker. policy: one
    request's retries (transforms/oic/retry.py). ca_pem: the PEM text of the CAs an https URL's certificate (and the
    token URL's) must chain to; None = the system's trust store (it travels with the job: certificates are public).
    live_dir: the run directory whose live stats (transforms/run_record/live_stats.py) the sender keeps current.
    """
    url: str
    username: Optional[str] = None
    password_ref: PasswordRef = PasswordRef()
    payload_shape: str = 'extended'
    budget: job_budget.Budget = job_budget.Budget(job_budget.DEFAULT_MODE,
                                                  job_budget.DEFAULT_TOTAL[job_budget.DEFAULT_MODE])
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    policy: RetryPolicy = RetryPolicy()
    oauth: Optional[OAuthClient] = None
    ca_pem: Optional[str] = None
    live_dir: Optional[str] = None
    allow_insecure_http: bool = False

    def __post_init__(self):
        check_oic_url(self.url, self.allow_insecure_http, 'Basic Auth' if self.oauth is None else 'a Bearer token')
        if self.oauth is not None:
            check_oic_url(self.oauth.token_url, self.allow_insecure_http, 'the OAuth client secret')

    @property
    def timeouts(self) -> Tuple[float, float]:
        """(connect, read) seconds of one request."""
        return self.connect_timeout_s, self.read_timeout_s


def resolve(url: str, username: Optional[str], concurrency: int = job_budget.DEFAULT_TOTAL[job_budget.DEFAULT_MODE],
            concurrency_mode: str = job_budget.DEFAULT_MODE, max_rps: Optional[float] = None,
            connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S, read_timeout: float = DEFAULT_READ_TIMEOUT_S,
            max_attempts: int = DEFAULT_MAX_ATTEMPTS, deadline_s: float = DEFAULT_DEADLINE_S,
            initial_backoff_s: float = DEFAULT_INITIAL_BACKOFF_S, max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
            **fields) -> SenderSettings:
    """SenderSettings from flag-shaped values: `concurrency`, `concurrency_mode` and `max_rps` are the budget of a
    job that posts from one process (unless `budget` is among `fields`, which then wins), the timeouts a request's,
    the retry values the policy; every other SenderSettings field by name (`fields`)."""
    if 'budget' not in fields or fields['budget'] is None:
        if concurrency < 1:
            raise ValueError('concurrency must be at least 1')
        fields['budget'] = job_budget.Budget(concurrency_mode, concurrency, max_rps or 0.0)
    policy = RetryPolicy(max_attempts, deadline_s, initial_backoff_s, max_backoff_s)
    return SenderSettings(url, username, connect_timeout_s=connect_timeout, read_timeout_s=read_timeout,
                          policy=policy, **fields)
