"""The comparison report as a readable terminal table, paths side by side, with the cost formulas under it."""

COLUMN = 26


def _number(value, digits=1):
    if value is None:
        return 'n/a'
    if isinstance(value, float):
        return ('%.' + str(digits) + 'f') % value
    return str(value)


def _percentiles(summary):
    if not summary or not summary.get('count'):
        return 'n/a'
    return '/'.join(_number(summary.get(k), 2) for k in ('p50_s', 'p90_s', 'p99_s', 'max_s'))


def _acked(result):
    return '%s*' % result['acked'] if result.get('acked_is_derived') else str(result['acked'])


def _oic(result, key):
    view = result.get('oic_monitoring')
    if not view:
        return 'n/a' if result.get('acked_is_derived') is False else '-'
    if view.get('check') != 'done':
        return 'n/a' if key != 'completed' else view['check'].split(':')[0]
    if key == 'agree':
        return 'yes' if view['three_way']['agree'] else 'NO'
    return _number(view.get(key))


def _cost(result):
    cost = result.get('cost')
    return '$%s' % format(cost['usd_per_month'], ',.2f') if cost else 'n/a'


def _alternative(result):
    cost = result.get('cost') or {}
    return '$%s' % format(cost['alternative']['usd'], ',.2f') if cost.get('alternative') else ''


SECTIONS = (
    ('Reconciliation (this run\'s record_ids)', (
        ('sent', lambda r: _number(r['sent'])),
        ('acknowledged', _acked),
        ('dead-lettered', lambda r: _number(r['dead_lettered'])),
        ('landed', lambda r: _number(r.get('landed'))),
        ('missing', lambda r: _number(r.get('missing'))),
        ('in flight (window edge)', lambda r: _number(r['in_flight']) if 'in_flight' in r else '-'),
        ('duplicates', lambda r: _number(r.get('duplicates'))),
        ('rows with values differing', lambda r: _number(r.get('mismatched'))),
    )),
    ("OIC's view (monitoring API)", (
        ('instances completed', lambda r: _oic(r, 'completed')),
        ('instances failed', lambda r: _oic(r, 'failed')),
        ('pipeline = OIC = BigQuery', lambda r: _oic(r, 'agree')),
    )),
    ('Latency, s (p50/p90/p99/max)', (
        ('event -> acknowledged', lambda r: _percentiles((r.get('latency') or {}).get('ack'))),
        ('event -> queryable', lambda r: _percentiles((r.get('latency') or {}).get('time_to_queryable'))),
    )),
    ('Throughput', (
        ('rows/s', lambda r: _number(r.get('throughput_rps'))),
        ('HTTP requests per row', lambda r: _number(r.get('http_requests_per_row'), 3)),
    )),
    ('Cost per month at that rate', (
        ('total', _cost),
        ('via Storage Write API', _alternative),
    )),
)


def format_table(report):
    """The side-by-side summary printed at the end of a run and by python -m pipeline.compare."""
    paths = list(report['paths'])
    results = [report['paths'][p] for p in paths]
    width = max(len(label) for _, rows in SECTIONS for label, _ in rows) + 4
    lines = ['run %s  (%s)' % (report.get('run_id'), report.get('state') or 'unknown'),
             ''.ljust(width) + ''.join(p.rjust(COLUMN) for p in paths)]
    for title, rows in SECTIONS:
        lines.append(title)
        for label, cell in rows:
            lines.append(('  ' + label).ljust(width) + ''.join(cell(r).rjust(COLUMN) for r in results))
    lines.append('invalid records (not sent): %d' % report['invalid'])
    shown = report.get('invalid_first') or []
    if shown:
        if report['invalid'] > len(shown):
            lines[-1] += ', the first %d (all, with their lines, in invalid-*.jsonl):' % len(shown)
        else:
            lines[-1] += ' (with their lines in invalid-*.jsonl):'
        lines.extend('  %s  %s' % (item.get('source') or '(generated)', '; '.join(map(str, item['errors'])))
                     for item in shown)
    lines.extend(_notes(report, paths))
    return '\n'.join(lines)


def _notes(report, paths):
    notes = []
    for path in paths:
        result = report['paths'][path]
        if result.get('dead_lettered_by_reason'):
            notes.append('%s dead letters by reason: %s' % (
                path, ', '.join('%s %d' % kv for kv in result['dead_lettered_by_reason'].items())))
        if result.get('landed_check') != 'done':
            notes.append('%s landed check %s' % (path, result.get('landed_check')))
        if result.get('missing_ids'):
            notes.append('%s missing ids (first 5 of %d): %s' % (
                path, result.get('missing') or len(result['missing_ids']), ', '.join(result['missing_ids'][:5])))
        if result.get('mismatched_by_field'):
            notes.append('%s values differing by field: %s' % (
                path, ', '.join('%s %d' % kv for kv in result['mismatched_by_field'].items())))
        view = result.get('oic_monitoring') or {}
        if view.get('check', 'done') != 'done':
            notes.append('%s monitoring check %s' % (path, view['check']))
        for item in (result.get('cost') or {}).get('items', []):
            notes.append('%s cost, %s: %s' % (path, item['item'], item['formula']))
        probe = (result.get('latency') or {}).get('probe') or {}
        if probe.get('errors'):
            notes.append('%s probe: %d failed polls (%s)' % (path, probe['errors'], probe.get('first_error')))
    if any(r.get('acked_is_derived') for r in report['paths'].values()):
        notes.append('* WriteToBigQuery reports only failed rows: acknowledged = sent - dead-lettered.')
    probe = next((r['latency']['probe'] for r in report['paths'].values()
                  if (r.get('latency') or {}).get('probe', {}).get('polls')), None)
    if probe:
        notes.append('queryable = first seen by a probe polling BigQuery every %gs (resolution: p50 %ss, poll gap '
                     'max %ss)' % (probe['interval_s'], probe['resolution_p50_s'], probe['poll_gap_max_s']))
    window, queries = report.get('window'), report.get('queries')
    if window and queries:
        notes.append('reconciled in BigQuery over event_time %s .. %s: %d queries, %s bytes processed, $%s%s' % (
            window['from'], window['to'], queries['queries'], '{:,}'.format(queries['bytes_processed']),
            queries['usd'], ' (%s)' % queries['note'] if queries.get('note') else ''))
    for warning in report.get('warnings') or []:
        notes.append('warning: %s' % warning)
    prices = report.get('prices') or {}
    notes.append('prices: %s list prices as of %s (python -m pipeline.compare --prices/--price to change)' % (
        prices.get('currency', 'USD'), prices.get('as_of')))
    return notes
