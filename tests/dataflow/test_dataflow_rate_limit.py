"""The job-wide OIC budget: TakeGlobalBudget asks a real (local) Envoy rate-limit gRPC service for every record."""

import threading
from concurrent import futures

import apache_beam as beam
import grpc
import pytest
from apache_beam.io.components import rate_limit_pb2
from apache_beam.testing.util import assert_that, equal_to

from transforms.oic.rate_limit import GlobalRateLimit, TakeGlobalBudget

METHOD = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit'


class FakeRateLimitService:
    """Envoy's ShouldRateLimit on a free local port: grants `budget` hits, then answers OVER_LIMIT once per extra
    hit (with a 10 ms reset) before granting it, and remembers every request."""

    def __init__(self, budget):
        self.budget, self.requests, self.over_limit = budget, [], 0
        self._lock = threading.Lock()
        self._granted = 0
        self._server = grpc.server(futures.ThreadPoolExecutor(4))
        handler = grpc.method_handlers_generic_handler('envoy.service.ratelimit.v3.RateLimitService', {
            'ShouldRateLimit': grpc.unary_unary_rpc_method_handler(
                self._should, request_deserializer=rate_limit_pb2.RateLimitRequest.FromString,
                response_serializer=rate_limit_pb2.RateLimitResponse.SerializeToString)})
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port('127.0.0.1:0')

    def _should(self, request, context):
        with self._lock:
            self.requests.append(request)
            if self._granted >= self.budget and len(self.requests) % 2 == 1:
                self.over_limit += 1
                status = rate_limit_pb2.RateLimitResponse.DescriptorStatus(
                    code=rate_limit_pb2.RateLimitResponse.OVER_LIMIT)
                status.duration_until_reset.FromMilliseconds(10)
                return rate_limit_pb2.RateLimitResponse(
                    overall_code=rate_limit_pb2.RateLimitResponse.OVER_LIMIT, statuses=[status])
            self._granted += 1
            return rate_limit_pb2.RateLimitResponse(overall_code=rate_limit_pb2.RateLimitResponse.OK)

    def __enter__(self):
        self._server.start()
        return self

    def __exit__(self, *exc):
        self._server.stop(None)


def test_budget_names_the_oic_host():
    budget = GlobalRateLimit.for_url('rls:8081', 'oic', 'https://myoic.example.com/ic/api/x')
    assert budget.descriptors == [{'oic_host': 'myoic.example.com'}]


@pytest.mark.timeout(120)
def test_every_record_waits_for_a_grant_and_passes_unchanged():
    records = [{'record_id': str(i)} for i in range(12)]
    with FakeRateLimitService(budget=4) as service:
        budget = GlobalRateLimit.for_url('127.0.0.1:%d' % service.port, 'oic', 'https://myoic.example.com/x')
        with beam.Pipeline('DirectRunner') as pipeline:
            passed = pipeline | beam.Create(records) | TakeGlobalBudget(budget)
            assert_that(passed, equal_to(records))
    assert service.over_limit > 0  # Some records had to wait …
    granted = len(service.requests) - service.over_limit
    assert granted == len(records)  # … and each passed after exactly one grant.
    assert {(r.domain, r.descriptors[0].entries[0].key, r.descriptors[0].entries[0].value) for r in service.requests} \
        == {('oic', 'oic_host', 'myoic.example.com')}
