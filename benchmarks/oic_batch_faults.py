"""The batched OIC path against answers it must not trust (issue 29's first target): the pipeline's OIC path at
--oic_batch_kb 50 against the local stand-in answering every batch in an OIC mapper's shape, a share of batch requests
with a 200 HTML page and nothing inserted, a share of rows refused with backendError on each try and a share refused
for good (invalid); then the judgement, from BigQuery's rows, the run's acknowledgements and dead letters, its report
and the stand-in's counters:

- every record settled (acknowledged or dead-lettered) once;
- every record not dead-lettered `invalid` in BigQuery exactly once;
- every record the stand-in refused `invalid` dead-lettered `invalid`, and none of them in BigQuery;
- no record acknowledged that is not in BigQuery;
- the report's OIC column (acknowledged, landed, missing, duplicates) agrees with what landed.

    python -m benchmarks.oic_batch_faults [--records 5000] [--html_rate 0.02] [--backend_rate 0.05]
                                          [--invalid_rate 0.02] [--seed 5]

Exit status 0 when every check holds, 1 otherwise. `invalid_rate` is drawn per row and try, as the stand-in's
row_error_rates are (devstack/oic/row_faults.py): 0.02 refuses about 1 record in 50 for good.
"""

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from benchmarks import machine
from devstack.testing import running_stack
from launcher.run import main as run


def _lines(pattern: str) -> List[dict]:
    return [json.loads(line) for path in glob.glob(pattern) for line in open(path, encoding='utf-8')]


def judge(acks: List[dict], dead: List[dict], landed_ids: List[str], refused_invalid: int, report: dict,
          records: int) -> List[Tuple[str, bool, str]]:
    """(check, held, the figures) for each check of the module's docstring. Pure."""
    acked = collections.Counter(a['record_id'] for a in acks)
    dead_ids = collections.Counter(d['record_id'] for d in dead)
    invalid = {d['record_id'] for d in dead if d['reason'] == 'invalid'}
    landed = collections.Counter(landed_ids)
    settled = set(acked) | set(dead_ids)
    valid = settled - invalid
    not_once = sorted(i for i in valid if landed[i] != 1)
    acked_not_landed = sorted(i for i in acked if not landed[i])
    column = (report.get('acked'), report.get('landed'), report.get('missing'), report.get('duplicates'))
    truth = (len(acked), len(set(landed) & settled), len(settled - set(landed) - set(dead_ids)),
             sum(n - 1 for i, n in landed.items() if i in settled))
    return [
        ('every record settled once', len(settled) == records and max(acked.values(), default=1) == 1
         and max(dead_ids.values(), default=1) == 1 and not set(acked) & set(dead_ids),
         '%d sent, %d settled (%d acknowledged, %d dead-lettered)' % (records, len(settled), len(acked), len(dead))),
        ('every valid record in BigQuery exactly once', not not_once,
         '%d valid, %d not exactly once%s' % (len(valid), len(not_once), (': %s' % not_once[:3]) if not_once else '')),
        ('every invalid record dead-lettered invalid, none landed',
         len(invalid) == refused_invalid and not any(landed[i] for i in invalid),
         '%d dead-lettered invalid, stand-in refused %d rows invalid' % (len(invalid), refused_invalid)),
        ('no record acknowledged that is not in BigQuery', not acked_not_landed,
         '%d acknowledged not in BigQuery' % len(acked_not_landed)),
        ('report agrees with what landed', column == truth,
         'report acked/landed/missing/duplicates %s, measured %s' % (column, truth)),
    ]


def _run(stack, out: str, args) -> Tuple[int, dict, float]:
    argv = ['--out', out, '--oic_url', stack.oic_url, '--oic_username', stack.username,
            '--bigquery_emulator_host', stack.bq_endpoint, '--direct_table', stack.direct_table,
            '--oic_table', stack.oic_table, '--paths', 'oic', '--probe_interval', '0',
            '--records', str(args.records), '--seed', str(args.seed), '--oic_batch_kb', '50']
    started = time.monotonic()
    code = run(argv)
    elapsed = time.monotonic() - started
    with open(os.path.join(out, 'report.json'), encoding='utf-8') as handle:
        return code, json.load(handle)['paths']['oic'], elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--records', type=int, default=5000)
    parser.add_argument('--html_rate', type=float, default=0.02, help='share of batch requests answered with HTML')
    parser.add_argument('--backend_rate', type=float, default=0.05, help='share of rows refused backendError a try')
    parser.add_argument('--invalid_rate', type=float, default=0.02, help='share of rows refused invalid a try')
    # The stand-in's answer draws are a sequence of their own: at 2% seed 5 draws HTML for its 31st, 49th and 57th
    # batch requests, within the ~60 of a 5,000-record run (seed 1 draws none before its 67th).
    parser.add_argument('--seed', type=int, default=5, help='the stand-in\'s fault seed and the records\' seed')
    args = parser.parse_args(argv)
    print(machine.describe())
    faults = {'seed': args.seed, 'mapper_shape_rate': 1.0, 'html_answer_rate': args.html_rate,
              'row_error_rates': {'backendError': args.backend_rate, 'invalid': args.invalid_rate}}
    with tempfile.TemporaryDirectory() as tmp, running_stack(os.path.join(tmp, 'stack')) as stack:
        os.environ['OIC_PASSWORD'] = stack.password
        stack.create_tables()
        stack.set_faults(faults)
        stack.reset_stats()
        out = os.path.join(tmp, 'out')
        code, report, elapsed = _run(stack, out, args)
        stats = stack.stats()['batch']
        acks = _lines(os.path.join(out, 'oic', 'acks-*.jsonl'))
        dead = _lines(os.path.join(out, 'oic', 'dead_letters-*.jsonl'))
        landed = [row['record_id'] for row in stack.rows(stack.oic_table)]
    by_reason: Dict[str, int] = collections.Counter(d['reason'] for d in dead)
    print('stand-in faults: %s' % json.dumps(faults, sort_keys=True))
    print('run: ./run_local.sh-equivalent --paths oic --records %d --seed %d --oic_batch_kb 50: exit %d in %.1f s'
          % (args.records, args.seed, code, elapsed))
    print('stand-in: %d batch requests, %d answered with HTML (nothing inserted), %d in the mapper\'s shape; rows '
          'refused backendError %d, invalid %d; rows inserted %d'
          % (stats.get('requests', 0), stats.get('answers_html', 0), stats.get('answers_mapper_shape', 0),
             stats.get('row_errors_backendError', 0), stats.get('row_errors_invalid', 0),
             stats.get('rows_inserted', 0)))
    print('pipeline: %d acknowledged, dead letters by reason %s; BigQuery: %d rows, %d distinct'
          % (len(acks), dict(sorted(by_reason.items())), len(landed), len(set(landed))))
    checks = judge(acks, dead, landed, stats.get('row_errors_invalid', 0), report, args.records)
    for name, held, figures in checks:
        print('%-4s %s: %s' % ('ok' if held else 'FAIL', name, figures))
    if not stats.get('answers_html', 0) and args.html_rate:
        print('note: no request drew the HTML answer at this rate and size (raise --html_rate or --records)')
    passed = code == 0 and all(held for _, held, _ in checks)
    print('judgement: %s' % ('every check holds' if passed else 'FAILED'))
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
