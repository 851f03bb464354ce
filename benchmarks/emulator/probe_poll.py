"""python -m benchmarks.emulator.probe_poll — what one poll of the time-to-queryable probe costs the local emulator: three
tables taking rows at a steady rate, polled by comparison/probe.py's Probe as in a run, and the poll's time in
milliseconds (the emulator answers one query at a time on its event loop, so this is time the runs' own inserts
and queries wait).

The rows land through insertAll in steps of `--step_s` seconds of event time, and each table is polled once a
step; `--rate` rows/s a table over `--seconds` s of event time (200 × 30 s by default: 6,000 rows a table)."""

import argparse
import datetime
import statistics
import sys
import tempfile
import time

from benchmarks import machine
from comparison import probe as probe_mod
from devstack import bq
from devstack.testing import running_stack
from transforms import records
from transforms.run_record.run_info import RunInfo

PACKAGES = ('bqemulator', 'sqlglot', 'sqlglotc', 'google-cloud-bigquery')
PATHS = ('oic', 'direct', 'storage_write')


def rows_between(first: int, last: int, start: datetime.datetime, rate: float) -> list:
    """Records number first..last-1 of a stream at `rate` rows/s from `start` (their event times)."""
    return [records.make_record(1, 'probe-bench', number, start + datetime.timedelta(seconds=number / rate))
            for number in range(first, last)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rate', type=float, default=200.0, help='rows/s into each table')
    parser.add_argument('--seconds', type=float, default=30.0, help='seconds of event time')
    parser.add_argument('--step_s', type=float, default=0.5, help='event time between polls (the probe interval)')
    args = parser.parse_args(argv)
    print(machine.describe(PACKAGES), flush=True)
    with tempfile.TemporaryDirectory(prefix='probe-poll-bench-') as state, running_stack(state) as stack:
        client = stack.bq_client()
        tables = dict(zip(PATHS, bq.create_tables(client, tables=tuple('probe_bench_' + p for p in PATHS))))
        start = records.utc_now().replace(microsecond=0)
        run = RunInfo(paths=PATHS, tables=tables, started_at=records.format_timestamp(start))
        probe = probe_mod.Probe(state, run)
        probe._file = open(state + '/probe.jsonl', 'a', encoding='utf-8')  # the poll without its thread
        query_client = probe_mod.bq_read.make_client(client.project, stack.bq_endpoint)
        steps, sent, polls = int(args.seconds / args.step_s), 0, []
        for step in range(1, steps + 1):
            due = int(step * args.step_s * args.rate)
            batch = rows_between(sent, due, start, args.rate)
            for table in tables.values():
                errors = client.insert_rows_json(bq.table_id(table), batch)
                if errors:
                    print('insert refused: %s' % errors[:1], file=sys.stderr)
                    return 1
            sent = due
            began = time.perf_counter()
            probe._poll_all(query_client)
            polls.append(1e3 * (time.perf_counter() - began))
        probe._file.close()
        seen = sum(len(found) for found in probe._seen.values())
        later = sorted(polls[len(polls) // 2:])  # with the watermark 10 s behind: a run's steady state
        print('rows: %d a table, %d tables; seen by the probe: %d of %d; poll errors: %d' % (
            sent, len(tables), seen, sent * len(tables), probe._errors))
        print('poll of all tables, ms: median %.0f, p90 %.0f, max %.0f (the last %d of %d polls); first poll %.0f' % (
            statistics.median(later), later[int(0.9 * (len(later) - 1))], later[-1], len(later), len(polls),
            polls[0]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
