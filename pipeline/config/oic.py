"""The OIC piece: where and how the OIC branch posts (URL, how it authenticates and where the password or client
secret is read, which CAs it trusts, the job's budget and the processes that share it, retries). The rules that need
no Beam are pipeline/rules/oic.py's; the budget's split among Beam's workers is here."""

import dataclasses
from typing import Optional, Tuple

from pipeline.config.source import SourceConfig
from pipeline.options import WarehouseOptions
from pipeline.rules.errors import UsageError
from pipeline.rules.oic import OICChecks, concurrency_of
from transforms.oic.batch.body import DEFAULT_SHARDS
from transforms.oic.budget import Budget, posting_keys

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


def resolve_oic(flags: WarehouseOptions, checked: OICChecks, on_dataflow: bool, workers: int, source: SourceConfig,
                share_per_vcpu: bool = False) -> OICConfig:
    """The OIC piece from WarehouseOptions `flags`, which the rules checked (`checked`: pipeline/rules/oic.py), for a
    run with `workers` workers (Dataflow: VMs, each running one SDK process per vCPU when `share_per_vcpu`) whose
    records come from `source`; UsageError when the budget cannot give each process that posts a request."""
    client = checked.client  # The monitoring check's client, when it uses OAuth.
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
        client_secret_secret=flags.oic_client_secret_secret if client else None, ca_bundle=checked.ca_bundle,
        ca_pem=checked.ca_pem, instance=flags.oic_instance or None, monitoring_auth=flags.oic_monitoring_auth,
        batch_kb=checked.batch_kb, batch_wait=checked.batch_wait, batch_url=checked.batch_url,
        streaming=source.streaming)


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
