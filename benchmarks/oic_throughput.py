"""python -m benchmarks.oic_throughput — records/s of PostToOIC, Beam's RequestResponseIO and the seed's serial loop."""

import argparse
import os
import sys
import tempfile
import time

import apache_beam as beam
import requests
from apache_beam.io.requestresponse import Caller, RequestResponseIO, UserCodeExecutionException
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks import machine
from devstack.testing import running_stack
from transforms import records as rec
from transforms.oic.post import PostToOIC
from transforms.oic.sender.settings import resolve
from transforms.oic.auth import OAuthClient
from transforms.run_record.files import read_records
from transforms.run_record.record_run import RecordRun

DIRECT = ['--runner=DirectRunner', '--direct_num_workers=1', '--direct_running_mode=in_memory']


def make_records(count, run_id):
    return [rec.make_record(1, run_id, i) for i in range(count)]


def rate(count, spans):
    """Records per second from (start, end) wall-clock pairs: count over first start to last end."""
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    return count / (last - first)


class _SpanFn(beam.CombineFn):
    """acknowledgements -> (count, first request start, last acknowledgement), as wall-clock seconds."""

    def create_accumulator(self):
        return 0, float('inf'), float('-inf')

    def add_input(self, acc, ack):
        end = rec.parse_timestamp(ack['ack_time']).timestamp()
        return acc[0] + 1, min(acc[1], end - ack['latency_ms'] / 1000.0), max(acc[2], end)

    def merge_accumulators(self, accs):
        accs = list(accs)
        return sum(a[0] for a in accs), min(a[1] for a in accs), max(a[2] for a in accs)

    def extract_output(self, acc):
        return acc


def measure_post_to_oic(stack, count, concurrency, tls=None, mode='adaptive'):
    """PostToOIC on DirectRunner; the span runs from the first request to the last acknowledgement. `tls`: None
    (plain HTTP, Basic Auth), 'basic' or 'oauth' (HTTPS with the stack's CA; OAuth tokens from its token endpoint).
    With TLS, the stand-in's count of new connections is returned too (handshakes). `mode`: the concurrency limit,
    adaptive (grows from 1 to `concurrency` by slow start) or fixed at `concurrency`."""
    stack.reset_stats()  # Each caller meets the stand-in in the same state (no stored instances).
    out = tempfile.mkdtemp(prefix='oic-bench-')
    records = make_records(count, 'bench-c%d-%f' % (concurrency, time.time()))
    kwargs = {}
    url = stack.oic_url
    if tls:
        url = stack.oic_https_url
        with open(stack.ca_bundle) as handle:
            kwargs['ca_pem'] = handle.read()
        if tls == 'oauth':
            kwargs['oauth'] = OAuthClient(stack.token_url, stack.client_id, stack.scope)
    clock = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(DIRECT)) as pipeline:
        posted = pipeline | beam.Create(records) | PostToOIC(resolve(url, stack.username, concurrency=concurrency,
                                                                     concurrency_mode=mode, **kwargs))
        _ = posted.acks | beam.CombineGlobally(_SpanFn()) | RecordRun(out, 'span')
    wall = time.monotonic() - clock
    (acked, first, last), = [tuple(s) for s in read_records(out, 'span')]
    assert acked == count, 'expected %d acknowledgements, got %d' % (count, acked)
    if tls:
        stats = stack.stats()
        print('  HTTPS %s: %d requests on %d TLS connections, %d token(s) issued'
              % (tls, stats['requests'], stats['connections'].get('https', 0), stats['tokens_issued']))
    return rate(count, [(first, last)]), wall


class _RequestsCaller(Caller):
    """A RequestResponseIO Caller posting one record with requests (a pooled session, as Beam's docs suggest)."""

    def __init__(self, url, username):
        self.url, self.username = url, username

    def __enter__(self):
        self.session = requests.Session()
        self.session.auth = (self.username, os.environ['OIC_PASSWORD'])
        return self

    def __call__(self, record, *args, **kwargs):
        started = time.time()
        response = self.session.post(self.url, json=rec.oic_payload(record), timeout=30)
        if response.status_code != 200:
            raise UserCodeExecutionException('HTTP %d' % response.status_code)
        return {'record_id': record['record_id'], 'start': started, 'end': time.time()}

    def __exit__(self, *exc):
        self.session.close()


def measure_request_response_io(stack, count):
    stack.reset_stats()
    out = tempfile.mkdtemp(prefix='rrio-bench-')
    records = make_records(count, 'bench-rrio-%f' % time.time())
    clock = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(DIRECT)) as pipeline:
        responses = (pipeline | beam.Create(records)
                     | RequestResponseIO(_RequestsCaller(stack.oic_url, stack.username)))
        _ = responses | RecordRun(out, 'responses')
    wall = time.monotonic() - clock
    got = read_records(out, 'responses')
    assert len(got) == count, 'expected %d responses, got %d' % (count, len(got))
    return rate(count, [(r['start'], r['end']) for r in got]), wall


def measure_seed_loop(stack, count):
    """The seed's client without its 1 s pause: one requests.post at a time, a new connection each, no timeout."""
    stack.reset_stats()
    records = make_records(count, 'bench-seed-%f' % time.time())
    password = os.environ['OIC_PASSWORD']
    clock = time.monotonic()
    started = time.time()
    for record in records:
        response = requests.request('POST', stack.oic_url, json=rec.oic_payload(record),
                                    auth=(stack.username, password))
        assert response.status_code == 200, response.status_code
    wall = time.monotonic() - clock
    return count / (time.time() - started), wall


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.oic_throughput', description=__doc__)
    parser.add_argument('--latency_ms', type=int, default=50, help='fixed latency of the OIC stand-in (50)')
    parser.add_argument('--records', type=int, default=4000, help='records per PostToOIC run (4000)')
    parser.add_argument('--baseline_records', type=int, default=200,
                        help='records for RequestResponseIO and the seed loop (200)')
    args = parser.parse_args(argv)
    latency = args.latency_ms / 1000.0
    print(machine.describe())  # first, with the load before the runs
    rows = []
    with tempfile.TemporaryDirectory(prefix='oic-bench-stack-') as state, \
            running_stack(state, faults={'latency_ms': args.latency_ms}, with_bigquery=False) as stack:
        os.environ['OIC_PASSWORD'] = stack.password  # In-process DirectRunner workers read it from here.
        os.environ['OIC_CLIENT_SECRET'] = stack.client_secret
        for concurrency, mode in ((16, 'fixed'), (16, 'adaptive'), (32, 'fixed')):
            value, wall = measure_post_to_oic(stack, args.records, concurrency, mode=mode)
            rows.append(('PostToOIC %s --oic_concurrency %d' % (mode, concurrency), args.records, value, wall,
                         concurrency / latency))
        for tls in ('basic', 'oauth'):
            value, wall = measure_post_to_oic(stack, args.records, 16, tls=tls)
            rows.append(('PostToOIC 16, HTTPS, %s' % ('OAuth' if tls == 'oauth' else 'Basic Auth'), args.records,
                         value, wall, 16 / latency))
        value, wall = measure_request_response_io(stack, args.baseline_records)
        rows.append(('RequestResponseIO (requests Caller)', args.baseline_records, value, wall, 1 / latency))
        value, wall = measure_seed_loop(stack, args.baseline_records)
        rows.append(('seed serial loop', args.baseline_records, value, wall, 1 / latency))
    print('OIC stand-in latency %d ms; records/s from first request to last answer (wall includes pipeline start)'
          % args.latency_ms)
    print('%-44s %8s %10s %8s %10s %9s' % ('caller', 'records', 'records/s', 'wall s', 'ideal/s', 'of ideal'))
    for name, count, value, wall, ideal in rows:
        print('%-44s %8d %10.1f %8.1f %10.0f %8.0f%%' % (name, count, value, wall, ideal, 100 * value / ideal))
    rrio = rows[5][2]
    print('PostToOIC at 16 is %.1fx RequestResponseIO; at 32, %.1fx' % (rows[0][2] / rrio, rows[2][2] / rrio))
    return 0


if __name__ == '__main__':
    sys.exit(main())
