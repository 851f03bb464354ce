"""The batched OIC path against the local stand-in (issue 23): records per billing message at --oic_batch_kb 50, and
records/s batched vs one record per request with the stand-in capped at 24 requests in flight, 100 ms each.

    python -m benchmarks.oic_batching [--records 3000]
"""

import argparse
import json
import os
import tempfile

from devstack.testing import running_stack
from launcher.run import main as run


def _run(stack, out, records, extra):
    argv = ['--out', out, '--oic_url', stack.oic_url, '--oic_username', stack.username, '--paths', 'oic',
            '--records', str(records), '--seed', '3', '--probe_interval', '0', '--no_landed_check'] + extra
    stack.reset_stats()
    code = run(argv)
    report = json.load(open(os.path.join(out, 'report.json')))['paths']['oic']
    stats = stack.stats()
    return code, report, stats


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--records', type=int, default=3000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, running_stack(os.path.join(tmp, 'stack'), oic_sink=False,
                                                               with_bigquery=False) as stack:
        os.environ.update(stack.monitoring_env())  # the password, and the monitoring check's OAuth client
        stack.update_faults({'max_concurrency': 24, 'latency_ms': 100})
        rows = []
        for name, extra in (('one record per request', []), ('--oic_batch_kb 50', ['--oic_batch_kb', '50'])):
            code, report, stats = _run(stack, os.path.join(tmp, name.replace(' ', '_')), args.records, extra)
            billing = stats['billing']
            rows.append((name, code, report['acked'], report['throughput_rps'], billing['requests'],
                         billing['messages'], report['acked'] / max(1, billing['messages'])))
        print('stand-in capped at 24 in flight, 100 ms a request; %d seed-sized records, extended payload' % args.records)
        print('%-24s %5s %7s %10s %9s %9s %13s' % ('path', 'exit', 'acked', 'records/s', 'requests', 'messages',
                                                   'records/msg'))
        for row in rows:
            print('%-24s %5d %7d %10.1f %9d %9d %13.1f' % row)
        print('batched / per-record records/s: %.1fx' % (rows[1][3] / rows[0][3]))


if __name__ == '__main__':
    main()
