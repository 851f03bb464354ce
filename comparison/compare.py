"""Entry point: python -m pipeline.compare — compare a recorded run with BigQuery and OIC; writes report.json/html."""

import argparse
import logging
import sys

from comparison import pricing
from comparison.report import build_report, write_report
from comparison.report_table import format_table


def build_parser():
    parser = argparse.ArgumentParser(
        prog='python -m pipeline.compare', description=__doc__.split(' — ')[-1],
        epilog='BigQuery: the emulator recorded in the run, else Application Default Credentials. OIC monitoring: '
               'the run\'s OIC host and username, the password from OIC_PASSWORD.')
    parser.add_argument('--out', default='out', help='Directory holding the run record (default out/).')
    parser.add_argument('--prices', metavar='FILE.json', help='Price table entries overriding comparison/prices.json.')
    parser.add_argument('--price', metavar='KEY=VALUE', action='append', default=[],
                        help='Override one price, e.g. --price oic_pack_hour_usd=1.2903 (repeatable).')
    parser.add_argument('--at_rate', type=float, metavar='R',
                        help='Sustained records per second to price each path at (default: the run\'s --at_rate, '
                             'else its offered --rate, else the lab\'s 1 record/s for an unpaced batch).')
    parser.add_argument('--oic_response_time', type=float, metavar='S',
                        help='Seconds OIC takes to answer one synchronous request, for sizing the requests in '
                             'flight (default: measured in the run, else %g).' % pricing.DEFAULT_OIC_RESPONSE_S)
    parser.add_argument('--oic_monitoring_url', help='OIC monitoring endpoint (default: on the run\'s OIC host).')
    parser.add_argument('--oic_username', help='User for the monitoring API (default: the run\'s).')
    parser.add_argument('--no_oic_monitoring', action='store_true', help='Skip OIC\'s monitoring API.')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    try:
        pricing.check_at_rate(args.at_rate)
        if args.oic_response_time is not None and not 0 < args.oic_response_time < float('inf'):
            raise pricing.RateError('--oic_response_time must be a positive number of seconds (got %g)'
                             % args.oic_response_time)
        prices = pricing.load_prices(args.prices, args.price)
        report = build_report(args.out, prices=prices, oic_monitoring=not args.no_oic_monitoring,
                              monitoring_options={'url': args.oic_monitoring_url, 'username': args.oic_username},
                              at_rate=args.at_rate, oic_response_s=args.oic_response_time)
    except (FileNotFoundError, pricing.PriceError, pricing.RateError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    path = write_report(args.out, report)
    print(format_table(report))
    print('report: %s and %s' % (path, path[:-len('json')] + 'html'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
