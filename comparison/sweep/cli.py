"""python -m comparison.sweep — both paths as streams at a ladder of offered rates; one sweep.json and sweep.html.

Each step is one `python -m pipeline.run --streaming --rate R --records R×seconds` (a subprocess, with every other
flag given to the sweep passed on, so the same command measures the real OIC and BigQuery), measured by the same
report as any run (comparison/report.py). Against the local stack the OIC stand-in is first set to a stated model
(a service time, and a capacity from message packs: 100 synchronous requests in flight each, 400 BYOL, at most
2,000, beyond which it answers 429 as OIC does) and the page says so. A step whose stream
is not over `--grace` seconds after its last record was due (counted from the moment its pipeline shows it is
running) is stopped (Ctrl-C, as a user would): what had not
landed then counts as missing. Ctrl-C stops the sweep and keeps the finished steps.
"""

import argparse
import os
import sys
from typing import List, Mapping, Optional, Sequence, Tuple

import requests

from comparison.cost import price_table
from comparison.render.sweep_page import limit_text
from comparison.sweep.document import progress_line, sweep_document, write_outputs
from comparison.sweep.judging import KEEP_UP_SHARE
from comparison.sweep.stand_in_model import (DEFAULT_PACKS, DEFAULT_SERVICE_MS, capacity_of, describe_model,
                                             find_stand_in, model_settings)
from comparison.sweep.step import pipeline_flags, run_step
from transforms import records as rec

DEFAULT_RATES = (10.0, 50.0, 100.0, 200.0, 400.0)
DEFAULT_SECONDS = 20.0
DEFAULT_P99_BOUND_S = 5.0
DEFAULT_GRACE_S = 30.0
OWNED_FLAGS = ('--rate', '--records', '--streaming', '--out', '--input', '--at_rate')
INTERRUPTED = 130


class SweepUsage(ValueError):
    """A flag the sweep cannot use; printed as one line, exit 2."""


def parse_rates(text: str) -> List[float]:
    """'10,50,100' -> [10.0, 50.0, 100.0], ascending and distinct; SweepUsage otherwise."""
    try:
        rates = sorted(set(float(part) for part in text.split(',') if part.strip()))
    except ValueError:
        raise SweepUsage('--rates takes comma-separated records per second, e.g. 10,50,100 (got %r)' % text) from None
    if not rates or any(not 0 < r < float('inf') for r in rates):
        raise SweepUsage('--rates must be positive numbers of records per second (got %r)' % text)
    return rates


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m comparison.sweep', allow_abbrev=False, description='Runs ' + __doc__.split('\n')[0].split(' — ')[-1],
        epilog='Any other flag goes to each step\'s python -m pipeline.run (e.g. --paths, --oic_concurrency, '
               '--oic_url): the sweep owns %s. ./run_local.sh sweep starts the local stack first.'
               % ', '.join(OWNED_FLAGS))
    parser.add_argument('--rates', default=','.join('%g' % r for r in DEFAULT_RATES),
                        help='Offered records per second, one step each (default %(default)s).')
    parser.add_argument('--seconds', type=float, default=DEFAULT_SECONDS,
                        help='Seconds each step streams (default %(default)g): --records = rate × seconds.')
    parser.add_argument('--out', default='out/sweep', help='Directory for the steps, sweep.json and sweep.html '
                                                           '(default %(default)s).')
    parser.add_argument('--p99_bound', type=float, default=DEFAULT_P99_BOUND_S,
                        help='A path stops keeping up where its p99 event → queryable (event → acknowledged when '
                             'nothing was queried) is over this many seconds (default %g), or where it delivers '
                             'less than %g%%%% of the offered rate.' % (DEFAULT_P99_BOUND_S, KEEP_UP_SHARE * 100))
    parser.add_argument('--grace', type=float, default=DEFAULT_GRACE_S,
                        help='Seconds a step may run on after its last record was due before it is stopped '
                             '(default %(default)g); what has not landed by then counts as missing.')
    model = parser.add_argument_group('the local OIC stand-in\'s model (ignored for a real OIC)')
    model.add_argument('--oic_service_ms', type=float, default=DEFAULT_SERVICE_MS,
                       help='Milliseconds the stand-in takes to serve one request (default %(default)g).')
    model.add_argument('--oic_packs', type=int, default=DEFAULT_PACKS,
                       help='Message packs: 100 synchronous requests in flight each, 400 with --oic_byol, at most '
                            '2,000 (default %(default)d).')
    model.add_argument('--oic_byol', action='store_true', help='BYOL packs (400 requests in flight each).')
    model.add_argument('--no_oic_model', action='store_true', help='Leave the stand-in\'s settings as they are.')
    return parser


def parse(argv: Sequence[str]) -> Tuple[argparse.Namespace, List[str]]:
    """(sweep settings, flags passed on to pipeline.run); SweepUsage for anything unusable."""
    parser = build_parser()
    args, passed = parser.parse_known_args(list(argv))
    owned = [flag for flag in passed if flag.split('=', 1)[0] in OWNED_FLAGS]
    if owned:
        raise SweepUsage('%s is set by the sweep for each step; drop it' % owned[0].split('=', 1)[0])
    args.rate_list = parse_rates(args.rates)
    if not 0 < args.seconds < float('inf'):
        raise SweepUsage('--seconds must be a positive number (got %g)' % args.seconds)
    if not 0 < args.p99_bound < float('inf') or not 0 <= args.grace < float('inf'):
        raise SweepUsage('--p99_bound must be positive and --grace >= 0')
    if args.oic_service_ms < 0 or args.oic_packs < 1:
        raise SweepUsage('--oic_service_ms must be >= 0 and --oic_packs at least 1')
    return args, passed


def main(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None) -> int:
    environ = os.environ if environ is None else environ
    try:
        args, passed = parse(sys.argv[1:] if argv is None else argv)
    except SweepUsage as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    started_at = rec.format_timestamp(rec.utc_now())
    stand_in = None if args.no_oic_model else find_stand_in(pipeline_flags(passed), environ)
    original, model = None, None
    if stand_in is not None:
        original = stand_in.faults()
        capacity = capacity_of(args.oic_packs, args.oic_byol, price_table.load_prices())
        stand_in.set_faults(model_settings(args, original, capacity))
        model = describe_model(args, capacity)
        print('OIC model: %s' % model['text'], flush=True)
    elif not args.no_oic_model:
        print('OIC: no local stand-in behind the OIC URL: measuring the OIC as it is', flush=True)
    steps: List[dict] = []
    state = 'done'
    try:
        for index, rate in enumerate(args.rate_list, 1):
            print('[%d/%d] %g records/s for %gs ...' % (index, len(args.rate_list), rate, args.seconds), flush=True)
            step = run_step(rate, args, passed, os.path.join(args.out, 'rate-%g' % rate), stand_in, environ)
            steps.append(step)
            print(progress_line(index, len(args.rate_list), step), flush=True)
            write_outputs(args.out, sweep_document(args, passed, steps, model, 'running', started_at))
    except KeyboardInterrupt:
        state = 'interrupted'
        print('\ninterrupted: keeping the %d finished step(s)' % len(steps), file=sys.stderr)
    finally:
        if stand_in is not None and original is not None:
            try:
                stand_in.set_faults(original)
            except requests.RequestException:
                pass
    document = sweep_document(args, passed, steps, model, state, started_at)
    json_path, html_path = write_outputs(args.out, document)
    for path, entry in document['limits'].items():
        print('%s: %s' % (path, limit_text(entry)))
    print('sweep: %s and %s' % (json_path, html_path))
    return INTERRUPTED if state == 'interrupted' else 0
