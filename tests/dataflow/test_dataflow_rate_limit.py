"""The job-wide OIC budget: TakeGlobalBudget asks a real (local) Envoy rate-limit gRPC service for every request: a
record on the per-record path, a batch on the batched one."""

import threading
from concurrent import futures

import apache_beam as beam
import grpc
import pytest
from apache_beam.io.components import rate_limit_pb2
from apache_beam.testing.util import assert_that, equal_to

from transforms import records as rec
from transforms.oic.batch.post import PostBatchesToOIC
from transforms.oic.budget import Budget
from transforms.oic.caller import Outcome
from transforms.oic.post import PostToOIC
from transforms.oic.sender.settings import resolve
from transforms.oic.rate_limit import GlobalRateLimit, TakeGlobalBudget

BATCH_URL = 'http://127.0.0.1:9/ic/api/integration/v1/flows/rest/WAREHOUSE_BATCH/1.0/records'
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


class AcceptingBatchCaller:
    """A batch trigger without HTTP that inserts every row; notes how many records each body carried."""

    bodies = []  # records per body posted, in this process (TestPipeline runs in-process)

    def call_body(self, body, deadline_s=None):
        AcceptingBatchCaller.bodies.append(len(body['records']))
        return Outcome('ack', 200, attempts=1, latency_s=0.01, answer=b'{}')

    def close(self):
        pass


class AcceptingCaller:
    def call(self, record):
        return Outcome('ack', 200, attempts=1, latency_s=0.01)

    def close(self):
        pass


@pytest.mark.timeout(120)
def test_the_batched_path_takes_one_grant_per_request_not_per_record():
    records = [rec.make_record(seed=3, run_id='grants', index=i) for i in range(60)]
    AcceptingBatchCaller.bodies = []
    with FakeRateLimitService(budget=2) as service:
        budget = GlobalRateLimit.for_url('127.0.0.1:%d' % service.port, 'oic', BATCH_URL)
        with beam.Pipeline('DirectRunner') as pipeline:
            posted = pipeline | beam.Create(records) | PostBatchesToOIC(
                resolve(BATCH_URL, 'user'), max_kb=2, caller_factory=AcceptingBatchCaller, rate_limit=budget)
            assert_that(posted.acks | beam.Map(lambda a: a['record_id']),
                        equal_to([r['record_id'] for r in records]))
    requests = len(AcceptingBatchCaller.bodies)
    assert sum(AcceptingBatchCaller.bodies) == 60 and 1 < requests < 60  # ~2 KB bodies of several records each
    assert len(service.requests) - service.over_limit == requests  # one grant per batch: a request, not a record


@pytest.mark.timeout(120)
def test_the_per_record_path_takes_one_grant_per_record_after_its_keyed_spread():
    records = [rec.make_record(seed=4, run_id='grants', index=i) for i in range(12)]
    with FakeRateLimitService(budget=3) as service:
        limit = GlobalRateLimit.for_url('127.0.0.1:%d' % service.port, 'oic', BATCH_URL)
        with beam.Pipeline('DirectRunner') as pipeline:
            posted = pipeline | beam.Create(records) | PostToOIC(
                resolve(BATCH_URL, 'user', budget=Budget('fixed', 4, posting_keys=2)), caller_factory=AcceptingCaller,
                rate_limit=limit, spread=True)
            assert_that(posted.acks | beam.Map(lambda a: a['record_id']),
                        equal_to([r['record_id'] for r in records]))
    assert len(service.requests) - service.over_limit == len(records)
