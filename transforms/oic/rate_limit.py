"""A job-wide cap on OIC requests per second through Beam's EnvoyRateLimiter (one limit for every worker)."""

import dataclasses
import urllib.parse
from typing import Any, Dict, List

import apache_beam as beam
from apache_beam.utils import shared

METRICS_NAMESPACE = 'oic_rate_limit'


@dataclasses.dataclass(frozen=True)
class GlobalRateLimit:
    """Where the job-wide budget lives: an Envoy rate-limit service, its domain, and the OIC host as descriptor.

    The limit itself (e.g. 50 requests per second) is configured in the service for
    domain=`domain`, descriptor oic_host=<host>; every worker asks the same service, so the cap holds however
    many workers Dataflow runs. Safe to pickle and to show: addresses only.
    """
    address: str
    domain: str
    oic_host: str

    @classmethod
    def for_url(cls, address: str, domain: str, oic_url: str) -> 'GlobalRateLimit':
        return cls(address, domain, urllib.parse.urlsplit(oic_url).hostname or '')

    @property
    def descriptors(self) -> List[Dict[str, str]]:
        return [{'oic_host': self.oic_host}]

    def limiter(self) -> Any:
        """A blocking EnvoyRateLimiter for this budget: allow() returns once the service grants a request."""
        from apache_beam.io.components.rate_limiter import EnvoyRateLimiter
        return EnvoyRateLimiter(self.address, self.domain, self.descriptors, block_until_allowed=True,
                                namespace=METRICS_NAMESPACE)


class _Limiter:
    """Holds one EnvoyRateLimiter per worker process (weak-referenceable for Beam's Shared)."""

    def __init__(self, budget):
        self.limiter = budget.limiter()


class _TakeBudgetFn(beam.DoFn):
    """request (a record, or a batch of them) -> the same, once the rate-limit service has granted it."""

    def __init__(self, budget):
        self._budget = budget
        self._shared = shared.Shared()

    def setup(self):
        budget = self._budget
        self._limiter = self._shared.acquire(lambda: _Limiter(budget), tag=repr(budget)).limiter

    def process(self, element):
        self._limiter.allow()
        yield element


class TakeGlobalBudget(beam.PTransform[beam.PCollection[Any], beam.PCollection[Any]]):
    """Lets each element pass once the job-wide rate-limit service has granted it one OIC request.

    Element in and out: what one request carries, unchanged: a valid record dict (one record per request), or a
    list of them (a batch, PostBatchesToOIC); the pace is the service's limit summed over all workers. PostToOIC
    puts it right before its caller, after any grouping. Retries inside the caller, and the rows of a batch sent
    again, are not counted here (see docs/dataflow.md).
    """

    def __init__(self, budget: GlobalRateLimit):
        super().__init__()
        self._budget = budget

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | 'Acquire' >> beam.ParDo(_TakeBudgetFn(self._budget))
