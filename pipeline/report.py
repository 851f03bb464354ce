"""Builds the comparison report of a recorded run (report.json) and its terminal table."""

import json
import os

from pipeline import bq_read
from pipeline.reconcile import reconcile_path
from pipeline.run_record import load_run
from transforms.recording import read_records
from transforms.tables import parse_table_spec


def landed_rows_for(run, path, sent, client_factory=bq_read.make_client):
    """Rows of this run found in the path's table, or (None, why) when they cannot be looked up."""
    table_text = run.get('%s_table' % path)
    if not run.get('landed_check', True):
        return None, 'skipped: --no_landed_check'
    if not table_text:
        return None, 'skipped: no BigQuery table configured for this path'
    if path == 'oic' and run.get('oic_payload') == 'seed':
        return None, 'skipped: the seed payload carries no record_id to find rows by'
    table = parse_table_spec(table_text)
    try:
        client = client_factory(table.project, run.get('emulator_host'))
        return bq_read.fetch_rows(client, table, [r.get('record_id') for r in sent]), 'done'
    except Exception as err:  # Report it; the rest of the comparison still stands.
        return None, 'failed: %s: %s' % (type(err).__name__, str(err).splitlines()[0][:200] if str(err) else '')


def build_report(out_dir, client_factory=bq_read.make_client):
    """Reads the run recorded in `out_dir` and what BigQuery holds; returns the report dict (see DESIGN.md)."""
    run = load_run(out_dir)
    wall = run.get('wall_s')
    report = {
        'run_id': run.get('run_id'),
        'started_at': run.get('started_at'),
        'finished_at': run.get('finished_at'),
        'state': run.get('state'),
        'invalid': len(read_records(out_dir, 'invalid')),
        'paths': {},
    }
    for path in run.get('paths', []):
        sent = read_records(out_dir, '%s/sent' % path)
        acks = read_records(out_dir, '%s/acks' % path)
        dead = read_records(out_dir, '%s/dead_letters' % path)
        rows, check = landed_rows_for(run, path, sent, client_factory)
        result = reconcile_path(sent, acks, dead, rows, acks_derived=(path == 'direct'))
        result['landed_check'] = check
        result['wall_s'] = wall
        result['throughput_rps'] = round(result['acked'] / wall, 2) if wall else None
        report['paths'][path] = result
    return report


def write_report(out_dir, report):
    path = os.path.join(out_dir, 'report.json')
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
    return path


ROWS = (
    ('sent', 'sent'), ('acknowledged', 'acked'), ('dead-lettered', 'dead_lettered'), ('landed', 'landed'),
    ('missing', 'missing'), ('duplicates', 'duplicates'), ('wall time (s)', 'wall_s'),
    ('throughput (rec/s)', 'throughput_rps'),
)


def _cell(result, key):
    value = result.get(key)
    if value is None:
        return 'n/a'
    if key == 'acked' and result.get('acked_is_derived'):
        return '%s*' % value
    if isinstance(value, float):
        return '%.1f' % value
    return str(value)


def format_table(report):
    """The side-by-side summary printed at the end of a run."""
    paths = list(report['paths'])
    width = max(len(label) for label, _ in ROWS) + 2
    lines = ['run %s  (%s)' % (report.get('run_id'), report.get('state') or 'unknown'),
             ''.ljust(width) + ''.join(p.rjust(12) for p in paths)]
    for label, key in ROWS:
        lines.append(label.ljust(width) + ''.join(_cell(report['paths'][p], key).rjust(12) for p in paths))
    lines.append('invalid records (not sent): %d' % report['invalid'])
    for path in paths:
        result = report['paths'][path]
        if result.get('dead_lettered_by_reason'):
            reasons = ', '.join('%s %d' % kv for kv in result['dead_lettered_by_reason'].items())
            lines.append('%s dead letters by reason: %s' % (path, reasons))
        if result.get('landed_check') != 'done':
            lines.append('%s landed check %s' % (path, result.get('landed_check')))
        if result.get('missing_ids'):
            lines.append('%s missing ids (first 5): %s' % (path, ', '.join(result['missing_ids'][:5])))
    if any(r.get('acked_is_derived') for r in report['paths'].values()):
        lines.append('* WriteToBigQuery reports only failed rows: acknowledged = sent - dead-lettered.')
    return '\n'.join(lines)
