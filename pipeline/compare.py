"""Entry point: compare the run recorded in --out with what BigQuery holds; writes report.json."""

import argparse
import sys

from pipeline.report import build_report, format_table, write_report


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m pipeline.compare', description=__doc__)
    parser.add_argument('--out', default='out', help='Directory holding the run record (default out/).')
    args = parser.parse_args(argv)
    try:
        report = build_report(args.out)
    except FileNotFoundError as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    path = write_report(args.out, report)
    print(format_table(report))
    print('report: %s' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
