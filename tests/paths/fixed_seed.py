"""A fixed-seed run's report.json reduced to what must not change when the code is reorganised (issue 31 item 6): its
structure (every key path), its counts and its prices; never ids, times or measured timings.

The run: 120 records of seed 31 down both paths of a local stack, compared in memory at a stated 10 records/s and a
stated 0.2 s OIC answer (so no cost depends on a measured timing). Regenerate the golden from a tree of the code
(the "before"), e.g. the commit this check was written at:

    git archive 1724c5e | tar -x -C /tmp/before
    .venv/bin/python tests/paths/fixed_seed.py --tree /tmp/before --write tests/paths/fixed_seed_report.json
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Mapping, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixed_seed_report.json')
RECORDS, SEED, AT_RATE, OIC_RESPONSE_S = 120, 31, 10, 0.2

# Per path: the reconciliation's counts.
COUNTS = ('sent', 'acked', 'dead_lettered', 'landed', 'missing', 'duplicates', 'mismatched', 'unexpected',
          'in_flight', 'http_requests', 'http_requests_counted', 'http_requests_per_row')
# Whole subtrees that are prices or sizes (deterministic for a fixed seed at a stated rate and response time).
PRICED = ('prices', 'cost_at_rate', 'cost_curve', 'cost_curve_points', 'sender_requirements')
PRICED_PER_PATH = ('cost',)
BILLING_COUNTS = ('records', 'requests', 'messages', 'records_per_request', 'request_bytes_mean',
                  'billing_messages', 'messages_per_record')


PROCESS_KEY = re.compile(r':\d+$')


def structure(value: Any, prefix: str = '') -> List[str]:
    """Every key path of `value` ('paths.oic.cost.usd_per_month'); a list's items under '[]'."""
    found: List[str] = []
    if isinstance(value, Mapping):
        for key in value:
            shown = PROCESS_KEY.sub(':<pid>', str(key))  # a process's name ('vm:12135') is no structure
            name = '%s.%s' % (prefix, shown) if prefix else shown
            found.append(name)
            found.extend(structure(value[key], name))
    elif isinstance(value, list):
        for item in value:
            found.extend(structure(item, prefix + '[]'))
    return sorted(set(found))


def summary(report: Mapping[str, Any]) -> Dict[str, Any]:
    """The parts of a report.json the golden holds."""
    paths: Dict[str, Any] = {}
    for path, result in report['paths'].items():
        entry = {key: result.get(key) for key in COUNTS if key in result}
        entry.update({key: result[key] for key in PRICED_PER_PATH if key in result})
        billing = result.get('oic_billing')
        if billing:
            entry['oic_billing'] = {key: billing.get(key) for key in BILLING_COUNTS if key in billing}
        paths[path] = entry
    return {
        'structure': structure({k: v for k, v in report.items() if k != 'paths'}),
        'path_structure': {path: structure(result) for path, result in report['paths'].items()},
        'invalid': report.get('invalid'),
        'priced': {key: report.get(key) for key in PRICED},
        'paths': paths,
    }


def run_fixed_seed(tree: str, environ: Mapping[str, str], out: str, paths: str = 'oic,direct',
                   extra: Optional[List[str]] = None) -> dict:
    """Runs the fixed-seed run with the code in `tree` against the stack named by `environ` (its stack.env
    variables), compares it at the stated rate and response time, and returns its report.json."""
    env = dict(environ, PYTHONPATH=tree)
    run = [sys.executable, '-m', 'pipeline.run', '--out', out, '--records', str(RECORDS), '--seed', str(SEED),
           '--paths', paths, '--probe_interval', '0'] + list(extra or [])
    for argv in (run, [sys.executable, '-m', 'pipeline.compare', '--out', out, '--in_memory',
                       '--at_rate', str(AT_RATE), '--oic_response_time', str(OIC_RESPONSE_S)]):
        done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError('%s exited %d: %s' % (' '.join(argv[2:4]), done.returncode, done.stderr[-2000:]))
    with open(os.path.join(out, 'report.json'), encoding='utf-8') as handle:
        return json.load(handle)


def stack_flags(stack: Any) -> List[str]:
    """The run's flags for a devstack.testing.RunningStack."""
    return ['--oic_url', stack.oic_url, '--oic_username', stack.username, '--bigquery_emulator_host',
            stack.bq_endpoint, '--direct_table', stack.direct_table, '--oic_table', stack.oic_table]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tree', default=ROOT, help='The code to run (default: this checkout).')
    parser.add_argument('--write', default=GOLDEN, help='Where the summary goes (default: the golden).')
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from devstack.testing import running_stack
    with tempfile.TemporaryDirectory(prefix='fixed-seed-') as state, running_stack(state) as stack:
        stack.create_tables()
        environ = dict(os.environ, **stack.env())
        report = run_fixed_seed(os.path.abspath(args.tree), environ, os.path.join(state, 'out'),
                                extra=stack_flags(stack))
    with open(args.write, 'w', encoding='utf-8') as handle:
        json.dump(summary(report), handle, indent=1, sort_keys=True)
        handle.write('\n')
    print('wrote %s' % args.write)
    return 0


if __name__ == '__main__':
    sys.exit(main())
