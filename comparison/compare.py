"""Entry point: python -m pipeline.compare — compare a recorded run with BigQuery and OIC; writes report.json/html."""

import argparse
import datetime
import logging
import sys
from typing import Optional, Sequence

from comparison.cost import stated_rate
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.sql import report as sql_report
from comparison.report import build_report, write_report
from comparison.render.terminal import format_table
from transforms import records as rec
from transforms.run_record.files import load_run
from transforms.run_record.run_info import RunInfo


class UsageError(ValueError):
    """A flag that cannot be used with this run: one line, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m pipeline.compare', description=__doc__.split(' — ')[-1],
        epilog='BigQuery: the emulator recorded in the run, else Application Default Credentials. OIC monitoring: '
               'the run\'s OIC host and instance name; OAuth with the run\'s client or OIC_TOKEN_URL, '
               'OIC_CLIENT_ID, OIC_SCOPE and OIC_CLIENT_SECRET (Basic Auth with OIC_PASSWORD on Gen2).')
    parser.add_argument('--out', default='out', help='Directory holding the run record (default out/).')
    parser.add_argument('--prices', metavar='FILE.json', help='Price table entries overriding comparison/cost/prices.json.')
    parser.add_argument('--price', metavar='KEY=VALUE', action='append', default=[],
                        help='Override one price, e.g. --price oic_pack_hour_usd=1.2903 (repeatable).')
    parser.add_argument('--at_rate', type=float, metavar='R',
                        help='Sustained records per second to price each path at (default: the run\'s --at_rate, '
                             'else its offered --rate, else the lab\'s 1 record/s for an unpaced batch).')
    parser.add_argument('--oic_response_time', type=float, metavar='S',
                        help='Seconds OIC takes to answer one synchronous request, for sizing the requests in '
                             'flight (default: measured in the run, else %g).' % sizing.DEFAULT_OIC_RESPONSE_S)
    parser.add_argument('--oic_monitoring_url', help='OIC monitoring endpoint (default: on the run\'s OIC host).')
    parser.add_argument('--oic_username', help='User for the monitoring API with Basic Auth (default: the run\'s).')
    parser.add_argument('--oic_monitoring_auth', choices=('oauth', 'basic'),
                        help='How to authenticate to the monitoring API (default: the run\'s --oic_monitoring_auth, '
                             'else oauth). OAuth: the run\'s client, else OIC_TOKEN_URL, OIC_CLIENT_ID, OIC_SCOPE and '
                             'the secret from OIC_CLIENT_SECRET; basic: Gen2 instances only.')
    parser.add_argument('--oic_instance', help='The OIC service instance\'s name, sent as integrationInstance '
                                               '(default: the run\'s, else env OIC_INSTANCE).')
    parser.add_argument('--no_oic_monitoring', action='store_true', help='Skip OIC\'s monitoring API.')
    window = parser.add_argument_group(
        'a run with a run-record dataset (--run_record_dataset): reconciled by queries inside BigQuery, over the '
        'run\'s time window or a slice of it, while it runs or after')
    window.add_argument('--since', metavar='DURATION',
                        help='Compare only records sent in the last DURATION (e.g. 90s, 15m, 1h, 2d).')
    window.add_argument('--from', dest='start', metavar='TIME',
                        help='Compare records sent from TIME (ISO 8601, e.g. 2026-01-31T08:00:00Z; default: the '
                             'run\'s start).')
    window.add_argument('--to', dest='end', metavar='TIME',
                        help='... up to TIME (default: the run\'s end, or now while it runs).')
    window.add_argument('--in_flight', metavar='DURATION', default='%gs' % sql_report.DEFAULT_IN_FLIGHT_S,
                        help='While the run goes on, records sent in the last DURATION whose outcome is not known '
                             'yet are reported as in flight, not missing (default %gs).'
                             % sql_report.DEFAULT_IN_FLIGHT_S)
    window.add_argument('--sample', type=int, default=100,
                        help='Ids listed per kind of difference (missing, mismatched); counts are complete '
                             '(default 100).')
    window.add_argument('--in_memory', action='store_true',
                        help='Reconcile in this process from the JSON-lines run record instead (the whole run; '
                             'memory grows with it).')
    return parser


def sql_window(args: argparse.Namespace, run: RunInfo,
               now: Optional[datetime.datetime] = None) -> Optional[sql_report.sql.Window]:
    """The window the flags ask for, or None for the in-memory comparison; ValueError on a usage mistake."""
    wanted = args.since or args.start or args.end
    if args.in_memory or not run.run_record_dataset:
        if wanted:
            raise ValueError('--since/--from/--to need a run with a run-record dataset (run with '
                             '--run_record_dataset); this run has none' if not args.in_memory else
                             '--since/--from/--to work on the BigQuery reconciliation, not with --in_memory')
        return None
    if args.since and (args.start or args.end):
        raise ValueError('give --since or --from/--to, not both')
    if args.sample < 1:
        raise ValueError('--sample must be at least 1')
    return sql_report.run_window(
        run, now or rec.utc_now(), since_s=sql_report.parse_duration(args.since) if args.since else None,
        start=sql_report.parse_moment(args.start) if args.start else None,
        end=sql_report.parse_moment(args.end) if args.end else None,
        in_flight_s=sql_report.parse_duration(args.in_flight))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    try:
        stated_rate.check_at_rate(args.at_rate)
        if args.oic_response_time is not None and not 0 < args.oic_response_time < float('inf'):
            raise stated_rate.RateError('--oic_response_time must be a positive number of seconds (got %g)'
                             % args.oic_response_time)
        prices = price_table.load_prices(args.prices, args.price)
        run = load_run(args.out)
        try:
            window = sql_window(args, run)
        except ValueError as err:
            raise UsageError(str(err)) from None
        if window is not None:
            report = sql_report.build_report_sql(run, window, prices=prices, sample=args.sample,
                                                    at_rate=args.at_rate)
        else:
            report = build_report(args.out, prices=prices, oic_monitoring=not args.no_oic_monitoring,
                                  monitoring_options={'url': args.oic_monitoring_url, 'username': args.oic_username,
                                                      'auth': args.oic_monitoring_auth,
                                                      'instance': args.oic_instance},
                                  at_rate=args.at_rate, oic_response_s=args.oic_response_time)
    except (FileNotFoundError, UsageError, price_table.PriceError, stated_rate.RateError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    path = write_report(args.out, report)
    print(format_table(report))
    print('report: %s and %s' % (path, path[:-len('json')] + 'html'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
