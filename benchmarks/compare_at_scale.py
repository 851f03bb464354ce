"""The comparison at scale: a run of N records per path generated straight into the local BigQuery (run-record tables
and landed rows, with known missing, duplicated, mismatched and dead-lettered rows, plus as many older rows outside
the run's window), then `python -m pipeline.compare` timed on it, in BigQuery (SQL) and in memory.

python -m benchmarks.compare_at_scale [--records 1000000] [--skip_in_memory] [--endpoint http://127.0.0.1:9050]

Prints the load time, and for each comparison its wall time, the peak memory (RSS) of the comparing process and
whether it found exactly the planted differences. Without --endpoint it starts its own emulator (in memory) and stops
it at the end.
"""

import argparse
import datetime
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from google.cloud import bigquery

from devstack import bq, procs
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo
from transforms.run_record import tables as rrt

MB = 2 ** 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 100000  # Rows per load job (Parquet through jobs.insert upload: the emulator's fastest way in).
TARGET_RSS_MB = 300
DATASET, RUN_RECORD = 'scale', 'scale_run_record'


def planted(n):
    """Disjoint index ranges per path: dead-lettered (never landed), missing, duplicated, mismatched."""
    unit = max(10, n // 1000)  # 1,000,000 records: 300 dead letters, 1,000 missing, 500 duplicated, 500 changed.
    return {'dead': range(0, unit * 3 // 10), 'missing': range(unit, 2 * unit),
            'duplicated': range(2 * unit, 2 * unit + unit // 2), 'mismatched': range(3 * unit, 3 * unit + unit // 2)}


def expected(n, path):
    p = planted(n)
    dead, missing = len(p['dead']), len(p['missing'])
    return {'sent': n, 'acked': n - dead, 'dead_lettered': dead, 'landed': n - dead - missing, 'missing': missing,
            'duplicates': len(p['duplicated']), 'mismatched': len(p['mismatched'])}


def _columns(rows, schema):
    return {f['name']: [r.get(f['name']) for r in rows] for f in schema['fields']}


def _arrow_type(kind):
    return {'STRING': pa.string(), 'INT64': pa.int64(), 'FLOAT64': pa.float64(),
            'TIMESTAMP': pa.timestamp('us', tz='UTC')}[kind]


def load(client, table, schema, rows):
    """Loads `rows` (dicts, TIMESTAMP fields as datetimes) into `table` with one Parquet load job."""
    arrow = pa.table({f['name']: pa.array(values, type=_arrow_type(f['type']))
                      for f, values in zip(schema['fields'], _columns(rows, schema).values())})
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    buffer.seek(0)
    job = client.load_table_from_file(buffer, table, job_config=bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, write_disposition='WRITE_APPEND'))
    job.result(timeout=600)


class Loader:
    """Buffers rows per table and loads them in batches of BATCH."""

    def __init__(self, client):
        self.client, self.buffers, self.rows = client, {}, 0

    def add(self, table, schema, row):
        buffer = self.buffers.setdefault(table, (schema, []))[1]
        buffer.append(row)
        if len(buffer) >= BATCH:
            self.flush(table)

    def flush(self, table=None):
        for name in ([table] if table else list(self.buffers)):
            schema, rows = self.buffers[name]
            if rows:
                load(self.client, name, schema, rows)
                self.rows += len(rows)
                self.buffers[name] = (schema, [])


def generate(client, n, out, endpoint, project):
    """Writes the run (BigQuery tables and the JSON-lines run record under `out`); returns the run dict."""
    data_schema = rec.BIGQUERY_SCHEMA
    target = rrt.RunRecordTables(project, RUN_RECORD, str(uuid.uuid4()), endpoint)
    rrt.create_emulator_tables(target)
    tables = dict(zip(('oic', 'direct'), bq.create_tables(client, DATASET, ('inventory_oic', 'inventory_direct'))))
    dotted = {path: bq.table_id(spec) for path, spec in tables.items()}
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(hours=3)
    span_s = 3600.0
    rng = random.Random(15)
    plant = planted(n)
    dead, missing, duplicated, mismatched = (set(plant[k]) for k in ('dead', 'missing', 'duplicated', 'mismatched'))
    loader = Loader(client)
    for path in ('oic', 'direct'):
        os.makedirs(os.path.join(out, path), exist_ok=True)
    # The run record's files, as the pipeline names them: OUT/<kind>-<writer>.jsonl.
    files = {kind: open(os.path.join(out, '%s-bench.jsonl' % kind), 'w', encoding='utf-8') for kind in (
        run_record.sent_kind('oic'), run_record.sent_kind('direct'), run_record.acks_kind('oic'),
        run_record.dead_letters_kind('oic'), run_record.dead_letters_kind('direct'))}
    other_run = str(uuid.uuid4())
    for i in range(n):
        moment = started + datetime.timedelta(seconds=span_s * i / n)
        record = rec.make_record(7, target.run_id, i, moment)
        row = dict(record, event_time=moment)
        line = json.dumps(record, sort_keys=True) + '\n'
        for path in ('oic', 'direct'):
            files[run_record.sent_kind(path)].write(line)
            loader.add(target.table(rrt.SENT).dotted, rrt.SCHEMAS[rrt.SENT],
                       dict(row, run_id=target.run_id, path=path))
            if i in dead:
                letter = rec.make_dead_letter(path, record, 'http_400' if path == 'oic' else 'bigquery_invalid',
                                              status=400 if path == 'oic' else None, attempts=1)
                files[run_record.dead_letters_kind(path)].write(json.dumps(letter, sort_keys=True) + '\n')
                dead_row = rrt.dead_letter_row(target.run_id, letter)
                loader.add(target.table(rrt.DEAD_LETTERS).dotted, rrt.SCHEMAS[rrt.DEAD_LETTERS],
                           dict(dead_row, event_time=moment, error_time=moment))
                continue
            if path == 'oic':
                acked = moment + datetime.timedelta(seconds=rng.uniform(0.05, 2.0))
                ack = {'path': 'oic', 'record_id': record['record_id'], 'status': 200, 'attempts': 1,
                       'latency_ms': round((acked - moment).total_seconds() * 1000, 3),
                       'event_time': record['event_time'], 'ack_time': rec.format_timestamp(acked)}
                files[run_record.acks_kind('oic')].write(json.dumps(ack, sort_keys=True) + '\n')
                loader.add(target.table(rrt.ACKS).dotted, rrt.SCHEMAS[rrt.ACKS],
                           dict(ack, run_id=target.run_id, event_time=moment, ack_time=acked))
            if i in missing:
                continue
            landed = dict(row, Quantity_Available=row['Quantity_Available'] + 1) if i in mismatched else row
            for _ in range(2 if i in duplicated else 1):
                loader.add(dotted[path], data_schema, landed)
        # As many older rows, of another run, outside the window: in both landed tables and the run record.
        old_moment = moment - datetime.timedelta(days=30)
        old = dict(rec.make_record(7, other_run, i, old_moment), event_time=old_moment)
        for path in ('oic', 'direct'):
            loader.add(dotted[path], data_schema, old)
        loader.add(target.table(rrt.SENT).dotted, rrt.SCHEMAS[rrt.SENT], dict(old, run_id=other_run, path='direct'))
    loader.flush()
    for handle in files.values():
        handle.close()
    run = {'run_id': target.run_id, 'runner': 'benchmark', 'paths': ['oic', 'direct'], 'state': 'DONE',
           'started_at': rec.format_timestamp(started),
           'finished_at': rec.format_timestamp(started + datetime.timedelta(seconds=span_s + 5)),
           'wall_s': span_s + 5, 'oic_table': tables['oic'], 'direct_table': tables['direct'],
           'emulator_host': endpoint, 'landed_check': True, 'oic_payload': 'extended',
           'run_record_dataset': '%s:%s' % (project, RUN_RECORD)}
    run_record.write_run(out, RunInfo.from_json(run))
    return run, loader.rows


# Runs pipeline.compare's main, then prints the process's own peak RSS (VmHWM; getrusage's ru_maxrss would include
# the launching process's size from before exec).
_MEASURED = ('import sys\nfrom comparison.compare import main\ncode = main(sys.argv[1:])\n'
             'peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]\n'
             'print("VmHWM_KB", peak, file=sys.stderr)\nsys.exit(code)\n')


def timed_compare(out, extra):
    """Runs pipeline.compare in a new process; returns (exit code, wall seconds, peak RSS in MB of that process)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, '-c', _MEASURED, '--out', out, '--no_oic_monitoring'] + extra, cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.monotonic() - started
    peak = [line.split()[1] for line in done.stderr.splitlines() if line.startswith('VmHWM_KB')]
    if done.returncode:
        print('  compare failed (%d): %s' % (done.returncode, done.stderr.strip()[-500:]))
    return done.returncode, wall, int(peak[0]) / 1024.0 if peak else float('nan')


def check(out, n):
    """[(path, figure, expected, found)] of every planted figure the report got wrong (empty: all exact)."""
    report = json.load(open(os.path.join(out, run_record.REPORT_JSON), encoding='utf-8'))
    wrong = []
    for path in ('oic', 'direct'):
        for key, want in expected(n, path).items():
            got = report['paths'][path].get(key)
            if got != want:
                wrong.append((path, key, want, got))
    return wrong, report


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.compare_at_scale', description=__doc__.splitlines()[0])
    parser.add_argument('--records', type=int, default=1000000, help='records per path (default 1,000,000)')
    parser.add_argument('--endpoint', help='an emulator already running (default: start one)')
    parser.add_argument('--skip_in_memory', action='store_true', help='time only the SQL comparison')
    parser.add_argument('--keep', action='store_true', help='keep the run directory (printed)')
    args = parser.parse_args(argv)
    state = tempfile.mkdtemp(prefix='compare_at_scale-')
    emulator = None
    try:
        endpoint = args.endpoint
        if not endpoint:
            emulator, endpoint = bq.start_emulator(os.path.join(state, 'bq.log'), rest_port=procs.free_port(),
                                                   grpc_port=procs.free_port())
        client = bq.client(endpoint)
        out = os.path.join(state, 'out')
        os.makedirs(out)
        started = time.monotonic()
        run, rows = generate(client, args.records, out, endpoint, client.project)
        print('generated and loaded %s rows (%s records per path, as many older rows outside the window) in %.1f s'
              % ('{:,}'.format(rows), '{:,}'.format(args.records), time.monotonic() - started))
        print('planted per path: %s' % ', '.join('%s %d' % (k, len(v)) for k, v in planted(args.records).items()))
        for label, extra in (('in BigQuery (SQL)', []), ('in memory (today)', ['--in_memory'])):
            if args.skip_in_memory and extra:
                continue
            code, wall, rss = timed_compare(out, extra)
            wrong, report = check(out, args.records) if code == 0 else ([('-', 'exit', 0, code)], {})
            queries = report.get('queries') or {}
            print('compare %-18s %8.1f s  peak RSS %6.1f MB (target <= %d: %s)  planted differences found '
                  'exactly: %s%s' % (label, wall, rss, TARGET_RSS_MB, 'met' if rss <= TARGET_RSS_MB else 'NOT met',
                                     'yes' if not wrong else 'NO %s' % wrong,
                                     '  (%d queries)' % queries['queries'] if queries else ''))
        if emulator is not None:
            print('emulator RSS at the end: %.0f MB' % (psutil.Process(emulator.pid).memory_info().rss / MB))
        print('machine: %d cores, shared with other work; figures vary with its load' % os.cpu_count())
    finally:
        if emulator is not None:
            procs.stop_group(emulator.pid, grace=5)
        if args.keep:
            print('run directory: %s' % state)
        else:
            shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
