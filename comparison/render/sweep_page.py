"""The sweep as one self-contained HTML page: the model, a row per rate and path, where each path stops keeping up,
delivered-vs-offered and latency-vs-rate charts and the cost curves, all inline (no network)."""

import html
from typing import Any, List, Mapping, Optional

from comparison.render import html_page as html_report
from comparison.render.html_page import STYLE, path_color

COLUMNS = (  # (heading, key in a step's path figures, format)
    ('sent', 'sent', '%s'),
    ('emitted/s', 'emitted_rps', '%s'),
    ('delivered/s', 'delivered_rps', '%s'),
    ('of offered', 'delivered_share', 'share'),
    ('ack p50 s', 'ack_p50_s', '%s'),
    ('ack p99 s', 'ack_p99_s', '%s'),
    ('queryable p50 s', 'ttq_p50_s', '%s'),
    ('queryable p99 s', 'ttq_p99_s', '%s'),
    ('429/503', 'overload_share', 'share'),
    ('dead', 'dead_lettered', '%s'),
    ('missing', 'missing', '%s'),
    ('duplicates', 'duplicates', '%s'),
)


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return 'n/a'
    if kind == 'share':
        return '%.1f%%' % (100 * value)
    return kind % value


def results_table(document: Mapping[str, Any]) -> str:
    head = '<tr><th>records/s</th><th>path</th>%s<th>keeps up</th></tr>' % ''.join(
        '<th>%s</th>' % html.escape(h) for h, _, _ in COLUMNS)
    rows = []
    for step in document.get('steps') or []:
        if step.get('error'):
            rows.append('<tr><td class="n">%g</td><td colspan="%d">%s</td></tr>' % (
                step['rate'], len(COLUMNS) + 2, html.escape(step['error'])))
        for path, figures in (step.get('paths') or {}).items():
            verdict = 'yes' if figures['keeps_up'] else 'NO: ' + figures['why']
            rows.append('<tr><td class="n">%g</td><td>%s</td>%s<td class="why">%s</td></tr>' % (
                step['rate'], html.escape(path),
                ''.join('<td class="n">%s</td>' % html.escape(_cell(figures.get(key), kind))
                        for _, key, kind in COLUMNS), html.escape(verdict)))
    return '<table id="sweep-results">%s%s</table>' % (head, ''.join(rows))


def _series(document: Mapping[str, Any], path: str, key: str) -> List[tuple]:
    return [(step['rate'], step['paths'][path].get(key), step['paths'][path]['keeps_up'])
            for step in document.get('steps') or [] if path in (step.get('paths') or {})
            and step['paths'][path].get(key)]


def _paths(document: Mapping[str, Any]) -> List[str]:
    seen: List[str] = []
    for step in document.get('steps') or []:
        seen.extend(p for p in step.get('paths') or {} if p not in seen)
    return seen


def delivered_svg(document: Mapping[str, Any]) -> str:
    """Delivered against offered records/s (log-log), the ideal and the 95% line; hollow = not keeping up."""
    plt = html_report._pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    rates = [step['rate'] for step in document.get('steps') or []]
    if rates:
        span = [min(rates) / 1.5, max(rates) * 1.5]
        share = document['settings']['keep_up_share']
        axes.plot(span, span, ':', color='#888', label='delivered = offered')
        axes.plot(span, [share * r for r in span], '--', color='#bbb', label='%d%% of offered' % (share * 100))
    drawn = False
    for path in _paths(document):
        points = _series(document, path, 'delivered_rps')
        if not points:
            continue
        drawn = True
        axes.plot([p[0] for p in points], [p[1] for p in points], '-', color=path_color(path), label=path)
        for rate, value, keeps_up in points:
            axes.plot([rate], [value], 'o', color=path_color(path), markerfacecolor=path_color(path) if keeps_up
                      else 'white')
    if drawn:
        axes.set_xscale('log')
        axes.set_yscale('log')
        axes.legend(fontsize=8, loc='upper left')
    else:
        axes.text(0.5, 0.5, 'no finished step', ha='center', transform=axes.transAxes)
    axes.set(xlabel='offered records per second', ylabel='delivered records per second',
             title='Delivered against offered')
    axes.grid(alpha=0.3, which='both')
    svg = html_report._svg(figure)
    plt.close(figure)
    return svg


def latency_svg(document: Mapping[str, Any]) -> str:
    """p50 and p99 event → queryable per path, and OIC's p99 event → acknowledged, against the offered rate."""
    plt = html_report._pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    drawn = False
    for path in _paths(document):
        for key, style, label in (('ttq_p99_s', '-', 'p99 event → queryable'),
                                  ('ttq_p50_s', '--', 'p50 event → queryable'),
                                  ('ack_p99_s', ':', 'p99 event → acknowledged')):
            points = _series(document, path, key)
            if points:
                drawn = True
                axes.plot([p[0] for p in points], [p[1] for p in points], style, marker='o', markersize=3,
                          color=path_color(path), label='%s: %s' % (path, label))
    bound = document['settings']['p99_bound_s']
    if drawn:
        axes.axhline(bound, color='#888', linestyle='-.', linewidth=0.8, label='p99 bound %gs' % bound)
        axes.set_xscale('log')
        axes.set_yscale('log')
        axes.legend(fontsize=7, loc='upper left')
    else:
        axes.text(0.5, 0.5, 'no latency measured', ha='center', transform=axes.transAxes)
    axes.set(xlabel='offered records per second', ylabel='seconds', title='Latency against rate')
    axes.grid(alpha=0.3, which='both')
    svg = html_report._svg(figure)
    plt.close(figure)
    return svg


def _limit_items(document: Mapping[str, Any]) -> str:
    return ''.join('<li><b>%s</b>: %s</li>' % (html.escape(path), html.escape(limit_text(entry)))
                   for path, entry in (document.get('limits') or {}).items())


def _model_text(model: Optional[Mapping[str, Any]]) -> str:
    if not model:
        return ('OIC as configured (no local stand-in behind the OIC URL, or --no_oic_model): these are its real '
                'figures.')
    return 'Local model: %s' % model['text']


def render_sweep_html(document: Mapping[str, Any]) -> str:
    """The whole page as a string; needs matplotlib for the charts."""
    settings = document['settings']
    machine = document.get('machine') or {}
    return ''.join((
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>OIC vs direct: sweep</title>',
        '<style>%s#sweep-results td.why{min-width:16em;font-size:12px}body{max-width:1400px}</style></head><body>'
        % STYLE,
        '<h1>OIC path vs direct streaming across rates</h1>',
        '<p>%s → %s, %s. Each step streams %s s at its offered rate (records = rate × %s); a path keeps up while it '
        'delivers at least %s%% of the offered rate and its p99 event → queryable stays under %s s. Machine: %s CPUs, '
        'load average %s (shared with other work: local figures show this machine, not the services).</p>' % tuple(
            html.escape(str(v)) for v in (
                document.get('started_at'), document.get('finished_at'), document.get('state'), settings['seconds'],
                settings['seconds'], '%g' % (settings['keep_up_share'] * 100), settings['p99_bound_s'], machine.get('cpus'),
                machine.get('load_average_1m'))),
        '<p id="model">%s</p>' % html.escape(_model_text(document.get('oic_model'))),
        '<p>Pipeline flags of every step: <code>%s</code></p>' % html.escape(' '.join(settings['pipeline_flags'])
                                                                             or '(none)'),
        '<h2>Where each path stops keeping up</h2><ul id="limits">%s</ul>' % _limit_items(document),
        results_table(document),
        '<div class="charts"><figure id="delivered-chart">%s<figcaption>Delivered records/s (the least-squares rate of '
        'the completions of every record sent: OIC acknowledgements, direct rows first seen by '
        'the probe) against the offered rate; hollow markers: not keeping up.</figcaption></figure>' % delivered_svg(document),
        '<figure id="latency-chart">%s<figcaption>Latency percentiles against the offered rate.</figcaption></figure>'
        '</div>' % latency_svg(document),
        html_report.cost_section(document),
        '</body></html>\n'))


def limit_text(entry: Mapping[str, Any]) -> str:
    if entry['stops_at'] is None:
        return 'kept up at every rate tried (up to %g records/s)' % entry['keeps_up_to'] \
            if entry['keeps_up_to'] is not None else 'no finished step'
    return 'kept up to %s, not at %g records/s (%s)' % (
        '%g records/s' % entry['keeps_up_to'] if entry['keeps_up_to'] is not None else 'no rate tried',
        entry['stops_at'], entry['why'])
