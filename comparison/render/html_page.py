"""The comparison report as one self-contained HTML page: tables, cost formulas and charts as inline SVG."""

import html
import io
from typing import Any, Mapping

from comparison import paths as path_registry
from comparison.measures import concurrency
from comparison.cost import curves
from comparison.cost.curves import CurveBasis
from comparison.render import terminal as report_table

def _label(path: str) -> str:
    return path_registry.of(path).label if path in path_registry.known() else path


def path_color(path: str) -> str:
    """A path's colour in the charts (comparison/paths: its declaration)."""
    return path_registry.of(path).color if path in path_registry.known() else '#5f6368'


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:3px 12px;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:right}th:first-child{text-align:left}
tr.section td{font-weight:600;background:#f4f4f4}code,.formula{font:12px ui-monospace,monospace}
.formula{background:#f7f7f7;padding:4px 8px;margin:2px 0;display:block;white-space:pre-wrap}
#price-sources .url{word-break:break-all;font:12px ui-monospace,monospace}#price-sources td{vertical-align:top}
figure{margin:1em 0}figcaption{color:#555;font-size:13px}.charts{display:flex;flex-wrap:wrap;gap:1em}
"""


def _svg(figure):
    """A matplotlib figure as an inline <svg> element (no XML prolog, no external references)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format='svg', bbox_inches='tight')
    text = buffer.getvalue()
    return text[text.index('<svg'):]


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    matplotlib.rcParams['svg.fonttype'] = 'none'  # Text stays text: smaller, searchable.
    import matplotlib.pyplot as plt
    return plt


def _step_chart(series, empty_text, legend_loc, **axes_props):
    """A step chart as inline SVG; `series` is [(points [(x, y)], line style, color, label)], empty ones skipped."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 3.8))
    drawn = [line for line in series if line[0]]
    for points, style, color, label in drawn:
        axes.step([p[0] for p in points], [p[1] for p in points], style, where='post', color=color, label=label)
    if not drawn:
        axes.text(0.5, 0.5, empty_text, ha='center', transform=axes.transAxes)
    axes.set(**axes_props)
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(fontsize=8, loc=legend_loc)
    svg = _svg(figure)
    plt.close(figure)
    return svg


def latency_cdf_svg(report: Mapping[str, Any]) -> str:
    """Latency CDF per path: event -> queryable (solid), event -> acknowledged (dashed, OIC only)."""
    series = [((result.get('latency') or {}).get(key) or [], style, path_color(path), '%s: %s' % (path, label))
              for path, result in report['paths'].items()
              for key, style, label in (('time_to_queryable_cdf', '-', 'event → queryable'),
                                        ('ack_cdf', '--', 'event → acknowledged'))]
    return _step_chart(series, 'no latency samples', 'lower right', xlabel='seconds since event_time',
                       ylabel='fraction of rows', ylim=(0, 1.02), title='Latency CDF per path')


def throughput_svg(report: Mapping[str, Any]) -> str:
    """Rows completed per second of the run, per path."""
    series = [((result.get('throughput') or {}).get('series') or [], '-', path_color(path),
               '%s (%s)' % (path, (result.get('throughput') or {}).get('basis')))
              for path, result in report['paths'].items()]
    return _step_chart(series, 'no throughput samples', 'upper right', xlabel='seconds since the first event',
                       ylabel='rows per second', ylim=(0, None), title='Throughput over the run')


def view_of(report: Mapping[str, Any], key: str) -> Any:
    """The first of the run's paths' views named `key` (a path's extras: OIC's 'concurrency', 'oic_billing'), or
    None when no path of the run has it."""
    return next((result[key] for result in (report.get('paths') or {}).values() if result.get(key)), None)


def concurrency_svg(report: Mapping[str, Any]) -> str:
    """The OIC caller's concurrency limit per worker over the run (same time axis as the throughput chart)."""
    view = view_of(report, 'concurrency') or {}
    series = [(points, '-', None, worker) for worker, points in sorted((view.get('limit_series') or {}).items())]
    title = 'OIC concurrency limit per worker (%s, ceiling %s)' % (view.get('mode'), view.get('ceiling'))
    return _step_chart(series, 'no limit samples', 'lower right', xlabel='seconds since the first event',
                       ylabel='requests in flight allowed', ylim=(0, None), title=title)


def _concurrency_line(result):
    view = result.get('concurrency')
    if not view:
        return ''
    share, paced = view.get('overload_share'), view.get('paced_share')
    advice = concurrency.paced_advice(view)
    return '<li>concurrency: %s, ceiling %s, %s worker(s), final limits %s, %s changes; paced below one request %s ' \
           'of the workers\' time; overload answers (429, 503, timeouts) %s of requests%s</li>' % tuple(
               html.escape(str(v)) for v in (
                   view.get('mode'), view.get('ceiling'), view.get('workers') or 0,
                   ', '.join('%g' % v for v in (view.get('final_limit') or {}).values()) or '-',
                   view.get('limit_changes'), '-' if paced is None else '%.0f%%' % (100 * paced),
                   '-' if share is None else '%.2f%%' % (100 * share), '. ' + advice if advice else ''))


CURVE_DENSITY = 240  # points per curve drawn: enough to show every pack step on a log axis


def cost_curve_svg(report: Mapping[str, Any]) -> str:
    """Monthly cost against sustained rate, log-log, one line per way of landing the rows (drawn from the same
    formulas as report['cost_curve'], densely so the pack steps show), the stated rate as a vertical line; $0
    (the Storage Write API's free tier) cannot sit on a log axis and is said in the legend instead."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    curve_rows = report.get('cost_curve') or []
    at = report.get('cost_at_rate') or {}
    prices = report.get('prices') or {}
    if not curve_rows or not at or 'sources' not in prices:
        axes.text(0.5, 0.5, 'no cost curve in this report', ha='center', transform=axes.transAxes)
    else:
        low = min(p['rate'] for p in curve_rows)
        high = max(p['rate'] for p in curve_rows)
        rates = [low * (high / low) ** (i / CURVE_DENSITY) for i in range(CURVE_DENSITY + 1)]
        priced = path_registry.priced(list(report.get('paths') or {}), CurveBasis.of(at, prices),
                                      report.get('paths') or {})
        dense = curves.cost_curve(rates, priced)
        for path, curve in report_table.curves_of(report):
            for column in curve.columns:
                if not column.usd or column.key not in curve_rows[0]:
                    continue
                color, style, label = column.color or path.color, column.style, column.label
                points = [(p['rate'], p[column.key]) for p in dense if p.get(column.key, 0) > 0]
                if not points:
                    axes.plot([], [], style, color=color, label='%s: $0 at every rate shown (free tier)' % label)
                    continue
                axes.plot([x for x, _ in points], [y for _, y in points], style, color=color, label=label)
                marks = [(p['rate'], p[column.key]) for p in curve_rows if p[column.key] > 0]
                axes.plot([x for x, _ in marks], [y for _, y in marks], 'o', color=color, markersize=3)
            if curve.instances_key:
                over = [p['rate'] for p in dense if (p.get(curve.instances_key) or 1) > 1]
                if over:
                    axes.axvspan(min(over), high, color=path.color, alpha=0.07, label=curve.instances_label)
        if at.get('rate'):
            axes.axvline(at['rate'], color='#555', linestyle=':', label='stated rate %s/s' % format(at['rate'], ',.6g'))
        axes.set_xscale('log')
        axes.set_yscale('log')
        axes.legend(fontsize=7, loc='upper left')
    axes.set(xlabel='sustained records per second', ylabel='USD per month', title='Monthly cost against rate')
    axes.grid(alpha=0.3, which='both')
    svg = _svg(figure)
    plt.close(figure)
    return svg


def cost_curve_table(report: Mapping[str, Any]) -> str:
    """report['cost_curve'] as an HTML table (a column per way of landing the rows, as the report's paths declare
    them), the stated rate's row in bold and rates needing more than one instance marked !."""
    curve = report.get('cost_curve') or []
    stated = (report.get('cost_at_rate') or {}).get('rate')
    columns = report_table.curve_columns(report)
    head = ''.join('<th>%s</th>' % html.escape(h) for h in ['records/s'] + [c.heading for c in columns])
    rows = []
    for point in curve:
        cells = [format(point['rate'], ',.6g') + (' (stated)' if point['rate'] == stated else '') +
                 (' !' if report_table.over_one_instance(point, report) else '')]
        cells += ['-' if c.key not in point else '$' + report_table.format_usd(point[c.key]) if c.usd
                  else str(point[c.key]) for c in columns]
        style = ' style="font-weight:600"' if point['rate'] == stated else ''
        rows.append('<tr%s>%s</tr>' % (style, ''.join('<td class="n">%s</td>' % html.escape(c) for c in cells)))
    return '<table id="cost-curve"><tr>%s</tr>%s</table>' % (head, ''.join(rows))


def cost_section(report: Mapping[str, Any]) -> str:
    """The cost at the stated rate, the curve (table, chart, named points) and the prices with their pages."""
    points = ''.join('<li>%s</li>' % html.escape(p['what']) for p in report.get('cost_curve_points') or [])
    prices = report.get('prices') or {}
    sources = prices.get('sources') or {}
    price_rows = ''.join(
        '<tr><td><code>%s</code></td><td class="n">%s</td><td>%s</td><td class="url">%s</td><td>%s</td>'
        '<td>%s</td></tr>' % (html.escape(key), html.escape(str(prices.get(key))), html.escape(src.get('says', '')),
                              html.escape(src.get('url', '')),
                              html.escape(str(src.get('read'))), 'yes' if src.get('first_hand') else 'no')
        for key, src in sorted(sources.items()))
    return ''.join((
        '<h2 id="cost">Cost at a sustained rate</h2><p>%s. One line per way of landing the rows; ! = more than one '
        'OIC instance.</p>' % html.escape(report_table.cost_at_rate_line(report)),
        cost_curve_table(report),
        ''.join('<p>%s.</p>' % html.escape(line) for line in report_table.curve_captions(report)),
        '<figure id="cost-chart">%s<figcaption>Log-log: USD per month against sustained records per second. Solid '
        'OIC: license-included packs; dashed: BYOL packs (the licences brought are not priced); OIC batched: the '
        'same records packed into requests of at most the batch size. Every OIC line includes the streaming '
        'inserts of OIC\'s insertAll calls.</figcaption></figure>' % cost_curve_svg(report),
        '<h3>Steps and break-even points</h3><ul>%s</ul>' % points,
        '<h3>Prices and their pages</h3><p>Pages are named, not linked: the report loads nothing from the network. '
        'first-hand = read on the vendor\'s own page; no = from a copy of it.</p><table id="price-sources"><tr><th>key</th><th>value</th><th>what the page '
        'says</th><th>page</th><th>read</th><th>first-hand</th></tr>%s</table>' % price_rows,
    ))


def billing_section(report: Mapping[str, Any]) -> str:
    """The OIC path's requests and billing messages: how they were counted, and the stand-in's own count."""
    found = view_of(report, 'oic_billing')
    if not found:
        return ''
    keys = ('records', 'requests', 'request_attempts', 'messages', 'messages_with_retries', 'records_per_request',
            'records_per_message', 'request_bytes_mean', 'request_bytes_max', 'record_bytes_mean', 'message_kb')
    rows = ''.join('<tr><td><code>%s</code></td><td class="n">%s</td></tr>' % (
        html.escape(k), html.escape(str(found.get(k)))) for k in keys)
    check = found.get('stand_in') or {}
    if check.get('check') == 'done':
        cross = 'the stand-in counted %s requests (ours, every attempt: %s) and %s billing messages (ours with ' \
                'retries: %s); %s' % (check.get('stand_in_requests'), check.get('pipeline_request_attempts'),
                                      'no count of' if check.get('stand_in_messages') is None else
                                      check.get('stand_in_messages'), check.get('pipeline_messages_with_retries'),
                                      check.get('note'))
    else:
        cross = "the stand-in's count: %s" % check.get('check', 'not read')
    return ('<h2 id="oic-billing">OIC billing messages</h2><p>%s; sizes %s. %s</p><table>%s</table><p>%s</p>' % (
        html.escape(found.get('basis', '')), html.escape(found.get('sizes_from', '')), html.escape(found.get('note', '')),
        rows, html.escape(cross)))


def sender_section(report: Mapping[str, Any]) -> str:
    """What each path asks of the sender: one row per aspect, one column per path, each entry with its sources."""
    section = report.get('sender_requirements')
    if not section:
        return ''
    paths = list(section['paths'])
    head = '<tr><th></th>%s</tr>' % ''.join('<th>%s</th>' % html.escape(p) for p in paths)
    rows = ''.join('<tr><td>%s</td>%s</tr>' % (html.escape(aspect), ''.join(
        '<td style="text-align:left;vertical-align:top"><b>%s</b><br>%s <small>[%s]</small></td>' % (
            html.escape(section['paths'][p][aspect]['short']), html.escape(section['paths'][p][aspect]['text']),
            html.escape(', '.join(section['paths'][p][aspect]['sources']))) for p in paths))
        for aspect in section['aspects'])
    sources = ''.join('<tr><td><code>%s</code></td><td>%s</td><td class="url">%s</td><td>%s</td><td>%s</td></tr>' % (
        html.escape(key), html.escape(src.get('says', '')), html.escape(src.get('url', '')),
        html.escape(str(src.get('read'))), 'yes' if src.get('first_hand') else 'no')
        for key, src in sorted(section['sources'].items()))
    return ('<h2 id="sender">What each path asks of the sender</h2><p>%s (from <code>%s</code>)</p>'
            '<table id="sender-requirements">%s%s</table><table id="sender-sources"><tr><th>source</th><th>what it '
            'says</th><th>page</th><th>read</th><th>first-hand</th></tr>%s</table>' % (
                html.escape(section.get('note') or ''), html.escape(section.get('home') or ''), head, rows, sources))


def _summary_table(report):
    paths = list(report['paths'])
    results = [report['paths'][p] for p in paths]
    rows = ['<tr><th></th>%s</tr>' % ''.join('<th>%s</th>' % html.escape(p) for p in paths)]
    for title, cells in report_table.sections_of(report):
        rows.append('<tr class="section"><td colspan="%d">%s</td></tr>' % (len(paths) + 1, html.escape(title)))
        for label, cell in cells:
            rows.append('<tr><td>%s</td>%s</tr>' % (html.escape(label), ''.join(
                '<td class="n">%s</td>' % html.escape(cell(r)) for r in results)))
    return '<table id="summary">%s</table>' % ''.join(rows)


def _details(report):
    parts = []
    for path, result in report['paths'].items():
        parts.append('<h3>%s</h3><ul>' % html.escape(path))
        if result.get('dead_lettered_by_reason'):
            parts.append('<li>dead letters by reason: %s</li>' % html.escape(', '.join(
                '%s %d' % kv for kv in result['dead_lettered_by_reason'].items())))
        if result.get('missing_ids'):
            parts.append('<li>missing ids (%d): <code>%s</code></li>' % (
                result.get('missing') or len(result['missing_ids']), html.escape(', '.join(result['missing_ids'][:100]))))
        for example in result.get('mismatch_examples') or []:
            parts.append('<li>value differs: <code>%s</code> %s sent %s, landed %s</li>' % tuple(
                html.escape(str(example[k])) for k in ('record_id', 'field', 'sent', 'landed')))
        view = result.get('oic_monitoring')
        if view:
            parts.append('<li>OIC monitoring: %s</li>' % html.escape(', '.join(
                '%s %s' % (k, v) for k, v in sorted(view.items()) if k not in ('q', 'three_way'))))
        probe = (result.get('latency') or {}).get('probe') or {}
        if probe.get('note'):
            parts.append('<li>probe: %s</li>' % html.escape(', '.join(
                '%s %s' % (k, v) for k, v in sorted(probe.items()) if k != 'note') + ' — ' + probe['note']))
        if (result.get('latency') or {}).get('ack_note'):
            parts.append('<li>%s</li>' % html.escape(result['latency']['ack_note']))
        parts.append('<li>HTTP requests: %s (%s)</li>' % (result.get('http_requests'),
                                                         html.escape(result.get('http_requests_counted') or '')))
        parts.append(_concurrency_line(result))
        cost = result.get('cost') or {}
        for item in cost.get('items', []) + ([cost['alternative']] if cost.get('alternative') else []) + \
                ([cost['batched']] if cost.get('batched') else []):
            parts.append('<li>%s: <span class="formula">%s</span></li>' % (
                html.escape(item['item']), html.escape(item['formula'])))
        parts.append('</ul>')
    return ''.join(parts)


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page as a string; needs matplotlib for the charts."""
    prices = report.get('prices') or {}
    return ''.join((
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<title>%s: run %s</title><style>%s</style></head><body>' % (
            html.escape(' vs '.join(_label(p) for p in report['paths'])), html.escape(str(report.get('run_id'))),
            STYLE),
        '<h1>%s</h1>' % html.escape(' vs '.join(_label(p) for p in report['paths'])),
        '<p>run <code>%s</code>, %s, %s → %s, invalid records (not sent): %s</p>' % tuple(html.escape(str(v)) for v in (
            report.get('run_id'), report.get('state'), report.get('started_at'), report.get('finished_at'),
            report.get('invalid'))),
        _summary_table(report),
        '<div class="charts"><figure id="latency-cdf">%s<figcaption>Solid: event_time → first seen by the '
        'BigQuery probe. Dashed: event_time → OIC acknowledgement.</figcaption></figure>' % latency_cdf_svg(report),
        '<figure id="throughput">%s<figcaption>Rows per second; OIC counts acknowledgements, direct counts rows '
        'first seen by the probe.</figcaption></figure>' % throughput_svg(report),
        '<figure id="concurrency">%s<figcaption>Each worker\'s limit on OIC requests in flight, at every change '
        '(adaptive: found from OIC\'s answers).</figcaption></figure></div>' % concurrency_svg(report)
        if view_of(report, 'concurrency') else '</div>',
        billing_section(report),
        sender_section(report),
        cost_section(report),
        '<h2>Details and formulas</h2>', _details(report),
        '<p>Prices: %s list prices as of %s; override with <code>python -m pipeline.compare --prices FILE</code> '
        'or <code>--price KEY=VALUE</code>.</p>' % (html.escape(str(prices.get('currency', 'USD'))),
                                                    html.escape(str(prices.get('as_of')))),
        '</body></html>\n'))
