"""The job's OIC budget and each posting process's share of it (pure functions): `--oic_concurrency` and
`--oic_max_rps` are totals for the whole job in both modes, divided among the processes that can post.

Who can post: the posting step runs keyed over `posting_keys` keys (the batch grouping's keys, or the keyed spread
before the per-record post on Dataflow), and a runner processes a key in one process at a time, so at most
min(keys, processes) processes hold requests at once; without keys every process of the job may post. Each of them
takes ⌊total ÷ posting processes⌋ requests in flight (fixed: its slots; adaptive: its limit's ceiling) and
max_rps ÷ posting processes, so the job never holds more than the total, whatever the processes' count or placement.
Keys never outnumber the total (`posting_keys`), so every posting process has at least one slot; they are about one
per worker VM (at least 4), as the batch grouping always had.
"""

import dataclasses
from typing import Optional

ADAPTIVE, FIXED = 'adaptive', 'fixed'  # the concurrency modes (transforms/oic/concurrency_limit.py: each one's limit)
MODES = (ADAPTIVE, FIXED)  # --oic_concurrency_mode's choices
DEFAULT_MODE = ADAPTIVE  # --oic_concurrency_mode
# --oic_concurrency by mode, the job's total in both: adaptive, the ceiling of the requests in flight the workers'
# limits may grow to together (one OIC message pack's 100 synchronous requests); fixed, the requests in flight for the
# whole job.
DEFAULT_TOTAL = {ADAPTIVE: 100, FIXED: 16}
MAX_POSTING_KEYS = 1024  # keys of the keyed spread at most (beyond this a key per slot buys nothing)


@dataclasses.dataclass(frozen=True)
class Budget:
    """The job's OIC budget and who shares it; resolved at launch, shared out on the worker (`share`), where a VM's
    vCPUs are known. Element of the run record as `oic_budget`.

    mode: 'adaptive' (total = the job's ceiling) or 'fixed' (total = the job's requests in flight).
    total: --oic_concurrency. max_rps: --oic_max_rps for the job (0 = no cap).
    workers: Dataflow's VMs (--max_num_workers), the processes of a multi-processing DirectRunner, else 1.
    per_vcpu: each VM runs one SDK process per vCPU (Dataflow's default for Python), counted on the worker.
    posting_keys: the posting step is keyed over this many keys (at most this many processes post at once);
    None = every process of the job may post.
    """
    mode: str
    total: int
    max_rps: float = 0.0
    workers: int = 1
    per_vcpu: bool = False
    posting_keys: Optional[int] = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError('concurrency mode must be one of %s' % (MODES,))
        if self.total < 1 or self.workers < 1 or self.max_rps < 0:
            raise ValueError('need total >= 1, workers >= 1 and max_rps >= 0')
        if self.posting_keys is not None and not 1 <= self.posting_keys <= self.total:
            raise ValueError('posting keys must be between 1 and the total (%d), got %d'
                             % (self.total, self.posting_keys))
        if self.posting_keys is None and (self.per_vcpu or self.total < self.workers):
            # Unkeyed, every process posts: their count must be known at launch and not exceed the total.
            raise ValueError('a total of %d cannot be shared by %s processes that all post: key the posting step'
                             % (self.total, 'per-vCPU' if self.per_vcpu else self.workers))


@dataclasses.dataclass(frozen=True)
class Share:
    """One posting process's part of the budget."""
    concurrency: int  # fixed: its requests in flight; adaptive: the ceiling of its limit
    max_rps: Optional[float]  # its rate cap; None = no cap
    posting: int  # how many processes share the budget


def processes(workers: int, per_vcpu: bool, cpu_count: Optional[int]) -> int:
    """The job's SDK processes: `workers`, times a VM's vCPUs (`cpu_count`, os.cpu_count() on the worker) when each
    VM runs one per vCPU."""
    return max(1, workers) * (max(1, cpu_count or 1) if per_vcpu else 1)


def posting_processes(budget: Budget, cpu_count: Optional[int]) -> int:
    """How many processes can post at once: min(posting keys, the job's processes), or all of them unkeyed."""
    every = processes(budget.workers, budget.per_vcpu, cpu_count)
    return every if budget.posting_keys is None else min(budget.posting_keys, every)


def share(budget: Budget, cpu_count: Optional[int]) -> Share:
    """This process's share: ⌊total ÷ posting processes⌋ requests (at least one: keys never outnumber the total)
    and max_rps ÷ posting processes."""
    posting = posting_processes(budget, cpu_count)
    return Share(max(1, budget.total // posting), budget.max_rps / posting if budget.max_rps else None, posting)


def most_in_flight(budget: Budget, cpu_count: Optional[int]) -> int:
    """The most requests the job can hold in flight (fixed) or the sum of its posting processes' ceilings
    (adaptive): never above the total."""
    part = share(budget, cpu_count)
    return part.posting * part.concurrency


def posting_keys(total: int, wanted: int) -> int:
    """Keys for a keyed posting step: at most `wanted`, the total (so that each posting process has a slot at least)
    and MAX_POSTING_KEYS; of those, the most whose unused remainder (total mod keys) is smaller than one key's share,
    so that flooring wastes less than one more key would add: a total of 16 on 10 wanted keys takes 8 keys of 2
    (10 of 1 would hold 10), 17 takes 8 (16 held), 100 takes 10."""
    most = max(1, min(total, wanted, MAX_POSTING_KEYS))
    return next(k for k in range(most, 0, -1) if total % k < total // k)
