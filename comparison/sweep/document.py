"""The sweep's document: sweep.json (settings, the model, every finished step, where each path stops keeping up, and
the cost curves at the sweep's rates) and sweep.html, and the line printed after each step."""

import argparse
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from comparison import paths
from comparison.cost import break_even
from comparison.cost import curves
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.cost.curves import CurveBasis
from comparison.render.sweep_page import render_sweep_html
from comparison.sweep.judging import KEEP_UP_SHARE, limits
from comparison.sweep.step import batch_kb_of, pipeline_flags
from transforms import records as rec

SWEEP_JSON = 'sweep.json'
SWEEP_HTML = 'sweep.html'


def progress_line(index: int, total: int, step: Mapping[str, Any]) -> str:
    parts = []
    for path, f in step['paths'].items():
        parts.append('%s %s/s delivered (%s), p99 queryable %s, 429/503 %s, missing %s, dead %s — %s' % (
            path, f['delivered_rps'], '%d%%' % round(100 * f['delivered_share']) if f['delivered_share'] else 'n/a',
            '%gs' % f['ttq_p99_s'] if f['ttq_p99_s'] is not None else 'n/a',
            '%.1f%%' % (100 * f['overload_share']) if f.get('overload_share') is not None else 'n/a',
            f['missing'], f['dead_lettered'], 'keeps up' if f['keeps_up'] else 'NOT keeping up'))
    head = '[%d/%d] %g records/s: ' % (index, total, step['rate'])
    if step.get('error'):
        return head + step['error']
    emitted = next((f['emitted_rps'] for f in step['paths'].values() if f.get('emitted_rps')), None)
    head += 'source emitted %s/s; ' % emitted
    return head + '; '.join(parts) + (
        ' (stopped after the grace period)' if step['stopped_after_grace'] else '')


def machine() -> Dict[str, Any]:
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    return {'cpus': os.cpu_count(), 'load_average_1m': round(load[0], 2) if load else None}


def sweep_document(args: argparse.Namespace, passed: Sequence[str], steps: List[dict], model: Optional[dict],
                   state: str, started_at: str) -> Dict[str, Any]:
    """sweep.json: settings, the model, every finished step, where each path stops keeping up, and the cost
    curves at the sweep's rates (and the usual ones), priced from the sizes the last step measured."""
    prices = price_table.load_prices()
    basis = next((s['cost_at_rate'] for s in reversed(steps) if s.get('cost_at_rate')), None)
    row_bytes, payload = (basis['row_bytes'], basis['payload_bytes']) if basis else sizing.sample_sizes()
    response_s = basis['oic_response_s'] if basis else sizing.DEFAULT_OIC_RESPONSE_S
    batch_kb = batch_kb_of(pipeline_flags(passed))
    rates = curves.curve_rates(None, tuple(curves.CURVE_RATES) + tuple(args.rate_list))
    priced = paths.priced(sorted({p for s in steps for p in s.get('paths', {})}), CurveBasis(
        row_bytes=row_bytes, payload_bytes=payload, prices=prices, response_s=response_s, batch_kb=batch_kb))
    return {
        'started_at': started_at, 'finished_at': rec.format_timestamp(rec.utc_now()), 'state': state,
        'settings': {'rates': args.rate_list, 'seconds': args.seconds, 'p99_bound_s': args.p99_bound,
                     'keep_up_share': KEEP_UP_SHARE, 'grace_s': args.grace, 'pipeline_flags': list(passed)},
        'machine': machine(),
        'oic_model': model,
        'steps': steps,
        'limits': limits(steps),
        'cost_at_rate': {'rate': None, 'source': 'the rates of the sweep and the usual 0.1 to 1,000 records/s',
                         'oic_response_s': response_s,
                         'oic_response_source': basis['oic_response_source'] if basis else 'stated',
                         'row_bytes': row_bytes, 'payload_bytes': payload, 'oic_batch_kb': batch_kb},
        'cost_curve': curves.cost_curve(rates, priced),
        'cost_curve_points': break_even.key_points(priced),
        'prices': {k: v for k, v in prices.items() if not k.endswith('_note')},
    }


def write_outputs(out: str, document: Mapping[str, Any]) -> Tuple[str, str]:
    json_path, html_path = os.path.join(out, SWEEP_JSON), os.path.join(out, SWEEP_HTML)
    with open(json_path, 'w', encoding='utf-8') as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
    with open(html_path, 'w', encoding='utf-8') as handle:
        handle.write(render_sweep_html(document))
    return json_path, html_path
