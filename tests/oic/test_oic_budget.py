"""A worker's share of the OIC concurrency holds across all DoFn instances of the process."""

import concurrent.futures
import pickle

import pytest

from transforms import records as rec
from transforms.oic.post import PostToOIC
from transforms.oic.sender.settings import resolve

pytestmark = pytest.mark.stack


def test_dofn_instances_of_a_process_share_the_workers_request_slots(clean_stack, monkeypatch):
    monkeypatch.setenv('OIC_PASSWORD', clean_stack.password)
    # The stand-in answers 429 to any request beyond 4 in flight; each request takes 150 ms.
    clean_stack.set_faults({'latency_ms': 150, 'max_concurrency': 4})
    transform = PostToOIC(resolve(clean_stack.oic_url, clean_stack.username, concurrency=4, initial_backoff_s=0.01,
                                  max_backoff_s=0.05))
    # Two instances as a worker's harness threads get them: unpickled copies of the same DoFn.
    instances = [pickle.loads(pickle.dumps(transform._fn)) for _ in range(2)]  # pylint: disable=protected-access
    for fn in instances:
        fn.setup()
    try:
        records = [rec.make_record(1, 'budget', i) for i in range(24)]
        with concurrent.futures.ThreadPoolExecutor(12) as pool:  # 12 callers at once, 6 per instance
            outcomes = list(pool.map(lambda i: instances[i % 2]._sender.caller.call(records[i]), range(len(records))))
    finally:
        for fn in instances:
            fn.teardown()
    assert [o.kind for o in outcomes] == ['ack'] * 24
    stats = clean_stack.stats()
    assert stats['by_status'].get('429', 0) == 0, stats['by_status']
    assert stats['by_status'].get('200') == 24
