"""The comparison report as one self-contained HTML page: tables, cost formulas and charts as inline SVG."""

import html
import io

from comparison import report_table

COLORS = {'oic': '#c74634', 'direct': '#1a73e8'}
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:3px 12px;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:right}th:first-child{text-align:left}
tr.section td{font-weight:600;background:#f4f4f4}code,.formula{font:12px ui-monospace,monospace}
.formula{background:#f7f7f7;padding:4px 8px;margin:2px 0;display:block;white-space:pre-wrap}
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


def latency_cdf_svg(report):
    """Latency CDF per path: event -> queryable (solid), event -> acknowledged (dashed, OIC only)."""
    series = [((result.get('latency') or {}).get(key) or [], style, COLORS.get(path), '%s: %s' % (path, label))
              for path, result in report['paths'].items()
              for key, style, label in (('time_to_queryable_cdf', '-', 'event → queryable'),
                                        ('ack_cdf', '--', 'event → acknowledged'))]
    return _step_chart(series, 'no latency samples', 'lower right', xlabel='seconds since event_time',
                       ylabel='fraction of rows', ylim=(0, 1.02), title='Latency CDF per path')


def throughput_svg(report):
    """Rows completed per second of the run, per path."""
    series = [((result.get('throughput') or {}).get('series') or [], '-', COLORS.get(path),
               '%s (%s)' % (path, (result.get('throughput') or {}).get('basis')))
              for path, result in report['paths'].items()]
    return _step_chart(series, 'no throughput samples', 'upper right', xlabel='seconds since the first event',
                       ylabel='rows per second', ylim=(0, None), title='Throughput over the run')


def _summary_table(report):
    paths = list(report['paths'])
    results = [report['paths'][p] for p in paths]
    rows = ['<tr><th></th>%s</tr>' % ''.join('<th>%s</th>' % html.escape(p) for p in paths)]
    for title, cells in report_table.SECTIONS:
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
        cost = result.get('cost') or {}
        for item in cost.get('items', []) + ([cost['alternative']] if cost.get('alternative') else []):
            parts.append('<li>%s: <span class="formula">%s</span></li>' % (
                html.escape(item['item']), html.escape(item['formula'])))
        parts.append('</ul>')
    return ''.join(parts)


def render_html(report):
    """The whole page as a string; needs matplotlib for the charts."""
    prices = report.get('prices') or {}
    return ''.join((
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<title>OIC vs direct: run %s</title><style>%s</style></head><body>' % (
            html.escape(str(report.get('run_id'))), STYLE),
        '<h1>OIC path vs direct streaming</h1>',
        '<p>run <code>%s</code>, %s, %s → %s, invalid records (not sent): %s</p>' % tuple(html.escape(str(v)) for v in (
            report.get('run_id'), report.get('state'), report.get('started_at'), report.get('finished_at'),
            report.get('invalid'))),
        _summary_table(report),
        '<div class="charts"><figure id="latency-cdf">%s<figcaption>Solid: event_time → first seen by the '
        'BigQuery probe. Dashed: event_time → OIC acknowledgement.</figcaption></figure>' % latency_cdf_svg(report),
        '<figure id="throughput">%s<figcaption>Rows per second; OIC counts acknowledgements, direct counts rows '
        'first seen by the probe.</figcaption></figure></div>' % throughput_svg(report),
        '<h2>Details and formulas</h2>', _details(report),
        '<p>Prices: %s list prices as of %s; override with <code>python -m pipeline.compare --prices FILE</code> '
        'or <code>--price KEY=VALUE</code>.</p>' % (html.escape(str(prices.get('currency', 'USD'))),
                                                    html.escape(str(prices.get('as_of')))),
        '</body></html>\n'))
