"""The stand-in's counters for tests (GET /admin/stats), and OIC's billing rule as the stand-in counts it."""

import collections
import weakref

BILLING_UNIT = 50 * 1024  # OIC bills one message per started 50 KB of a trigger's payload


def billing_messages(body_bytes):
    """Messages OIC bills for a trigger request of `body_bytes` bytes: at least one, plus one per further 50 KB."""
    return max(1, -(-body_bytes // BILLING_UNIT))


class Stats:
    """Counters for tests: requests on the trigger, answers by status, attempts per record_id (bounded), the
    capacity gate's in flight / queued now and at peak, and its 429s, the delays the fault settings applied, and the
    sink's insertAll calls and rows (group commit: fewer calls than rows when requests wait together)."""

    def __init__(self, max_records, gate, sink):
        self.max_records = max_records
        self.gate = gate
        self.sink = sink
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_status = collections.Counter()
        self.attempts = {}
        self.untracked = 0
        self.connections = collections.Counter()  # New TCP connections by scheme ('http', 'https'): TLS handshakes.
        self._seen = weakref.WeakSet()
        self.token_requests = 0
        self.tokens_issued = 0
        self.bearer_refused = 0
        # What the fault settings made requests wait (their fates' draws, as applied): latency_ms + jitter, and the
        # service-time model; sums in seconds and how many requests waited.
        self.delayed, self.delay_s = 0, 0.0
        self.serviced, self.service_s = 0, 0.0
        self.billing = collections.Counter()  # requests, bytes and messages billed (both triggers: bill)
        self.batch = collections.Counter()  # the batch trigger's requests, records, rows inserted, row errors by reason
        self.acked_not_inserted = 0  # seed integration: rows BigQuery refused, answered 200 "Submitted" all the same
        self.gate.reset_counters()
        self.sink.reset_counters()

    def connection(self, request):
        """Counts the request's connection once, the first time a request arrives on it."""
        transport = request.transport
        if transport is not None and transport not in self._seen:
            self._seen.add(transport)
            self.connections[request.scheme] += 1

    def attempt(self, record_id):
        """Counts one attempt of record_id; returns its attempt number (1 for the first)."""
        if record_id in self.attempts or len(self.attempts) < self.max_records:
            self.attempts[record_id] = self.attempts.get(record_id, 0) + 1
            return self.attempts[record_id]
        self.untracked += 1
        return 1

    def as_json(self, cap=0):
        return dict({'requests': self.requests, 'by_status': dict(self.by_status), 'attempts': self.attempts,
                     'untracked_attempts': self.untracked, 'capacity': cap, 'connections': dict(self.connections),
                     'token_requests': self.token_requests, 'tokens_issued': self.tokens_issued,
                     'bearer_refused': self.bearer_refused, 'delayed': self.delayed,
                     'delay_s': round(self.delay_s, 6), 'serviced': self.serviced,
                     'service_s': round(self.service_s, 6), 'sink': self.sink.as_json(),
                     'billing': dict(self.billing), 'batch': dict(self.batch),
                     'acked_not_inserted': self.acked_not_inserted}, **self.gate.as_json())

    def bill(self, body_bytes):
        """Counts one trigger request that reached the integration (either trigger) in the billing counters."""
        self.billing['requests'] += 1
        self.billing['bytes'] += body_bytes
        self.billing['messages'] += billing_messages(body_bytes)
