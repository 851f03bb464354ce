"""The comparison report as a readable terminal table, paths side by side, with the cost formulas under it."""

from typing import Any, List, Mapping, Tuple

from comparison import paths as path_registry
from comparison.cost.curves import CurveColumn, PathCurve
from comparison.measures import concurrency
from comparison.paths import ComparisonPath

COLUMN = 26


def _cell(text: str) -> str:
    """A cell of a path's column, right-aligned; one wider than the column still keeps a space before it."""
    return (' ' + text).rjust(COLUMN)


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


def _batched(result):
    batched = (result.get('cost') or {}).get('batched')
    if not batched:
        return ''
    return '$%s / $%s' % (format(batched['usd_per_month'], ',.2f'), format(batched['byol_usd_per_month'], ',.2f'))


def _billing(result, key):
    found = result.get('oic_billing')
    if not found:
        return '-'
    if key == 'bytes':
        if found.get('request_bytes_mean') is None:
            return 'n/a'
        return '%s/%s' % (_number(found['request_bytes_mean']), _number(found.get('request_bytes_max')))
    if key == 'messages':
        return '%s (%s)' % (_number(found.get('messages')), _number(found.get('messages_with_retries')))
    if key == 'stand_in':
        check = found.get('stand_in') or {}
        if check.get('check') != 'done':
            return 'n/a'
        return '%s / %s' % (_number(check.get('stand_in_requests')), _number(check.get('stand_in_messages')))
    return _number(found.get(key), 2)


def _oic_records(result):
    view = result.get('oic_monitoring')
    if not view or view.get('check') != 'done':
        return _oic(result, 'records')
    three = view.get('three_way') or {}
    return '%s / %s' % (_number(three.get('oic_completed', view.get('records_in_completed'))),
                        _number(three.get('oic_failed', view.get('records_in_failed'))))


SECTIONS = (  # (title, the view it shows (None: every report's; else shown when a path of the run declares it), rows)
    ('Reconciliation (this run\'s record_ids)', None, (
        ('sent', lambda r: _number(r['sent'])),
        ('acknowledged', _acked),
        ('dead-lettered', lambda r: _number(r['dead_lettered'])),
        ('landed', lambda r: _number(r.get('landed'))),
        ('missing', lambda r: _number(r.get('missing'))),
        ('in flight (window edge)', lambda r: _number(r['in_flight']) if 'in_flight' in r else '-'),
        ('duplicates', lambda r: _number(r.get('duplicates'))),
        ('rows with values differing', lambda r: _number(r.get('mismatched'))),
    )),
    ("OIC's view (monitoring API)", 'oic_monitoring', (
        ('instances completed', lambda r: _oic(r, 'completed')),
        ('instances failed', lambda r: _oic(r, 'failed')),
        ('records completed / failed', _oic_records),
        ('pipeline = OIC = BigQuery (records)', lambda r: _oic(r, 'agree')),
    )),
    ('OIC billing (a message per started 50 KB of a request)', 'oic_billing', (
        ('requests', lambda r: _billing(r, 'requests')),
        ('billing messages (with retries)', lambda r: _billing(r, 'messages')),
        ('records per request', lambda r: _billing(r, 'records_per_request')),
        ('records per message', lambda r: _billing(r, 'records_per_message')),
        ('request body, B (mean/max)', lambda r: _billing(r, 'bytes')),
        ("stand-in's count: requests / messages", lambda r: _billing(r, 'stand_in')),
    )),
    ('Latency, s (p50/p90/p99/max)', None, (
        ('event -> acknowledged', lambda r: _percentiles((r.get('latency') or {}).get('ack'))),
        ('event -> queryable', lambda r: _percentiles((r.get('latency') or {}).get('time_to_queryable'))),
    )),
    ('Throughput', None, (
        ('rows/s', lambda r: _number(r.get('throughput_rps'))),
        ('HTTP requests per row', lambda r: _number(r.get('http_requests_per_row'), 3)),
    )),
    ('Cost per month at the stated rate (below)', None, (
        ('total', _cost),
        ('OIC BYOL / direct via Storage Write API', _alternative),
        ('OIC batched / batched BYOL', _batched),
    )),
)


def sections_of(report: Mapping[str, Any]) -> List[Tuple[str, Any]]:
    """(title, rows) of the table's sections for this report: every report's, and those of the views that a path of
    the run declares (comparison/paths: `views`)."""
    names = [p for p in report.get('paths') or {} if p in path_registry.known()]
    views = {view for name in names for view in path_registry.of(name).views}
    return [(title, rows) for title, view, rows in SECTIONS if view is None or view in views]


def curves_of(report: Mapping[str, Any]) -> List[Tuple[ComparisonPath, PathCurve]]:
    """The paths in the report's cost curve (comparison.paths.curve_paths of its paths), each with its curve."""
    return [(path, path.curve) for path in path_registry.curve_paths(list(report.get('paths') or {})) if path.curve]


def curve_columns(report: Mapping[str, Any]) -> List[CurveColumn]:
    """The cost curve's columns, as the report's paths declare them, in order."""
    return [column for _, curve in curves_of(report) for column in curve.columns]


def over_one_instance(point: Mapping[str, Any], report: Mapping[str, Any]) -> bool:
    """True where a path's curve counts more than one instance at this rate (marked '!')."""
    return any((point.get(curve.instances_key) or 1) > 1 for _, curve in curves_of(report) if curve.instances_key)


def curve_captions(report: Mapping[str, Any]) -> List[str]:
    """What the paths' columns assume (e.g. OIC's batched shape), one line each."""
    curve, at = report.get('cost_curve') or [], report.get('cost_at_rate') or {}
    return [line for line in (c.caption(curve, at) for _, c in curves_of(report)) if line]


def _curve_width(heading: str) -> int:
    return max(len(heading) + 2, 13)


def format_usd(value: float) -> str:
    return format(value, ',.2f') if value >= 0.01 or value == 0 else '<0.01'


def cost_at_rate_line(report: Mapping[str, Any]) -> str:
    """'Cost at R records/s: where that rate comes from' — one line, or '' for a report without it."""
    at = report.get('cost_at_rate')
    if not at:
        return ''
    if at.get('rate') is None:
        return 'costs at %s; OIC answer time %gs (%s)' % (at['source'], at['oic_response_s'],
                                                          at['oic_response_source'])
    return 'cost at %s record%s/s: %s; OIC answer time %gs (%s)' % (
        format(at['rate'], ',.6g'), '' if at['rate'] == 1 else 's', at['source'], at['oic_response_s'], at['oic_response_source'])


def format_cost_curve(report: Mapping[str, Any]) -> List[str]:
    """The cost curves as a table, records/s down, USD a month across (a column per way of landing the rows, as the
    report's paths declare them), the stated rate marked *, rates needing more than one instance marked !, then the
    named step and break-even points."""
    curve = report.get('cost_curve') or []
    if not curve:
        return []
    stated = (report.get('cost_at_rate') or {}).get('rate')
    columns = curve_columns(report)
    notes = ''.join('; %s' % c.note for _, c in curves_of(report) if c.note)
    lines = ['Cost per month across sustained rates (USD%s)' % notes,
             '%14s' % 'records/s' + ''.join(c.heading.rjust(_curve_width(c.heading)) for c in columns)]
    for point in curve:
        mark = ('*' if point['rate'] == stated else ' ') + ('!' if over_one_instance(point, report) else ' ')
        cells = [('-' if c.key not in point else format_usd(point[c.key]) if c.usd else str(point[c.key]),
                  _curve_width(c.heading)) for c in columns]
        lines.append('%12s%s' % (format(point['rate'], ',.6g'), mark) + ''.join(text.rjust(w) for text, w in cells))
    lines.append('* the stated rate' + ''.join('   ! %s' % c.instances_note for _, c in curves_of(report)
                                               if c.instances_note))
    lines.extend(curve_captions(report))
    points = report.get('cost_curve_points') or []
    lines.extend('  - %s' % p['what'] for p in points if p['kind'] != 'no break-even')
    never = [p for p in points if p['kind'] == 'no break-even']
    if never:
        lines.append('  - no break-even from %s to %s records/s; cheaper at every rate: %s' % (
            format(never[0]['span'][0], ',.6g'), format(never[0]['span'][1], ',.6g'),
            '; '.join('%s < %s' % (p['cheaper'], p['dearer']) for p in never)))
    return lines


def format_table(report: Mapping[str, Any]) -> str:
    """The side-by-side summary printed at the end of a run and by python -m pipeline.compare."""
    paths = list(report['paths'])
    results = [report['paths'][p] for p in paths]
    sections = sections_of(report)
    width = max(len(label) for _, _, rows in SECTIONS for label, _ in rows) + 4
    lines = ['run %s  (%s)' % (report.get('run_id'), report.get('state') or 'unknown'),
             ''.ljust(width) + ''.join(_cell(p) for p in paths)]
    for title, rows in sections:
        lines.append(title)
        for label, cell in rows:
            lines.append(('  ' + label).ljust(width) + ''.join(_cell(cell(r)) for r in results))
    needs = report.get('sender_requirements')
    if needs:
        lines.append('What the sender needs (in full, with sources: report.json, report.html)')
        for aspect in needs['aspects']:
            lines.append(('  ' + aspect).ljust(width) + ''.join(
                _cell((needs['paths'].get(p) or {}).get(aspect, {}).get('short') or '-') for p in paths))
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
    lines.extend(format_cost_curve(report))
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
        elif (view.get('three_way') or {}).get('oic_completed_not_landed'):
            notes.append('%s: %d records acknowledged by OIC (instances COMPLETED) and missing from BigQuery'
                         % (path, view['three_way']['oic_completed_not_landed']))
        for item in (result.get('cost') or {}).get('items', []):
            notes.append('%s cost, %s: %s' % (path, item['item'], item['formula']))
        batched = (result.get('cost') or {}).get('batched')
        if batched:
            notes.append('%s cost, %s: %s' % (path, batched['item'], batched['formula']))
        found = result.get('oic_billing')
        if found:
            notes.append('%s billing: %s; sizes %s; %s' % (path, found['basis'], found['sizes_from'], found['note']))
            check = found.get('stand_in') or {}
            if check.get('check') == 'done':
                notes.append('%s billing, the stand-in\'s own count: %s requests (ours, every attempt: %s)%s; %s' % (
                    path, check.get('stand_in_requests'), check.get('pipeline_request_attempts'),
                    ', %s messages (ours with retries: %s)' % (check['stand_in_messages'],
                                                                check['pipeline_messages_with_retries'])
                    if check.get('stand_in_messages') is not None else ', no message count (the stand-in keeps none)',
                    check.get('note')))
            elif check.get('check'):
                notes.append('%s billing, the stand-in\'s count %s' % (path, check['check']))
        advice = concurrency.paced_advice(result.get('concurrency') or {})
        if advice:
            notes.append('%s concurrency: %s' % (path, advice))
        probe = (result.get('latency') or {}).get('probe') or {}
        if probe.get('errors'):
            notes.append('%s probe: %d failed polls (%s)' % (path, probe['errors'], probe.get('first_error')))
    derived = [path for path, r in report['paths'].items() if r.get('acked_is_derived')]
    if derived:
        notes.append('* %s: no answer per row, only the rows refused: acknowledged = sent - dead-lettered.'
                     % ', '.join(derived))
    probe = next((r['latency']['probe'] for r in report['paths'].values()
                  if (r.get('latency') or {}).get('probe', {}).get('polls')), None)
    if probe:
        notes.append('queryable = first seen by a probe polling BigQuery every %gs (resolution: p50 %ss, poll gap '
                     'max %ss)' % (probe['interval_s'], probe['resolution_p50_s'], probe['poll_gap_max_s']))
    if cost_at_rate_line(report):
        notes.append(cost_at_rate_line(report))
    window, queries = report.get('window'), report.get('queries')
    if window and queries:
        notes.append('reconciled in BigQuery over event_time %s .. %s: %d queries, %s bytes processed, $%s%s' % (
            window['from'], window['to'], queries['queries'], '{:,}'.format(queries['bytes_processed']),
            queries['usd'], ' (%s)' % queries['note'] if queries.get('note') else ''))
    for warning in report.get('warnings') or []:
        notes.append('warning: %s' % warning)
    prices = report.get('prices') or {}
    second_hand = sorted(k for k, v in (prices.get('sources') or {}).items() if not v.get('first_hand'))
    notes.append('prices: %s list prices as of %s, each with its page in comparison/cost/prices.json%s '
                 '(python -m pipeline.compare --prices/--price to change)' % (
                     prices.get('currency', 'USD'), prices.get('as_of'),
                     '; not first-hand: %s' % ', '.join(second_hand) if second_hand else ''))
    return notes
