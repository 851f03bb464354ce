"""python -m benchmarks.local_stack_overhead — is the local stack the bottleneck of a local comparison?

The OIC path (`python -m pipeline.run --paths oic`, DirectRunner, a fixed number of requests in flight) against two
servers on this machine, one after the other:
  - the local stack's OIC stand-in, which answers only after it has written the record into the BigQuery emulator
    (as OIC does: a synchronous integration that calls insertAll), with group commit in its sink;
  - the same stand-in with no sink (it acknowledges at once): a minimal OIC-like server, the most the pipeline can
    post on this machine.
Printed: the records/s each delivered (acknowledgements over the span of their ack times), the share the full stack
gets of the minimal server's rate (the build-and-test issue's target: at least 0.5), and the stand-in's insertAll
calls for the records written.

    .venv/bin/python -m benchmarks.local_stack_overhead                      # 2,000 records at 16 in flight
    .venv/bin/python -m benchmarks.local_stack_overhead --records 4000 --concurrency 32
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List

from devstack.testing import running_stack
from transforms import records as rec


def ack_rate(out: str) -> Dict[str, float]:
    acks: List[dict] = []
    for path in glob.glob(os.path.join(out, 'oic', 'acks-*.jsonl')):
        with open(path, encoding='utf-8') as lines:
            acks.extend(json.loads(line) for line in lines if line.strip())
    times = sorted(rec.parse_timestamp(a['ack_time']).timestamp() for a in acks)
    span = times[-1] - times[0] if len(times) > 1 else float('nan')
    return {'acked': len(acks), 'span_s': span, 'rate': (len(times) - 1) / span if len(times) > 1 else 0.0}


def run(records: int, concurrency: int, with_sink: bool) -> Dict[str, float]:
    with tempfile.TemporaryDirectory(prefix='stack-overhead-') as state, \
            running_stack(state, with_bigquery=with_sink, oic_sink=with_sink) as stack:
        out = os.path.join(state, 'run')
        argv = [sys.executable, '-m', 'pipeline.run', '--paths', 'oic', '--records', str(records), '--out', out,
                '--oic_url', stack.oic_url, '--oic_username', stack.username, '--no_landed_check',
                '--oic_concurrency_mode', 'fixed', '--oic_concurrency', str(concurrency)]
        done = subprocess.run(argv, env=dict(os.environ, **stack.monitoring_env()), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit('the run failed (exit %d): %s' % (done.returncode, done.stderr.strip()[-500:]))
        found = ack_rate(out)
        found['insert_calls'] = stack.stats().get('sink', {}).get('insert_calls', 0)
        return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.local_stack_overhead',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--records', type=int, default=2000, help='records per run (2000)')
    parser.add_argument('--concurrency', type=int, default=16, help='requests in flight, fixed (16)')
    args = parser.parse_args(argv)
    full = run(args.records, args.concurrency, with_sink=True)
    minimal = run(args.records, args.concurrency, with_sink=False)
    print('OIC path, %d records at a fixed %d in flight (DirectRunner):' % (args.records, args.concurrency))
    print('  local stack (stand-in writes each record to the emulator first): %7.1f records/s, %d acked, '
          '%d insertAll calls' % (full['rate'], full['acked'], full['insert_calls']))
    print('  minimal OIC-like server (the stand-in with no sink):             %7.1f records/s, %d acked' % (
        minimal['rate'], minimal['acked']))
    print('  the local stack gets %.2f of the minimal server\'s rate (target: at least 0.5)' % (
        full['rate'] / minimal['rate'] if minimal['rate'] else float('nan')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
