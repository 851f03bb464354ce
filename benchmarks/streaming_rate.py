"""python -m benchmarks.streaming_rate — does the sharded streaming source hold its total rate on DirectRunner?"""

import argparse
import sys
import tempfile
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from launcher.beam_fixes import local_runner_fixes
from transforms import records as rec
from transforms.run_record.files import read_records
from transforms.run_record.record_run import RecordRun
from transforms.source.synthetic import StreamingSyntheticRecords


# Left out of the window: the runner's start-up. Kept as in benchmarks/README.md's figures; the clocks no longer
# emit the ticks due before the job ran in a burst (they start when it runs), so it could be shorter.
WARM_UP_S = 5.0
COOL_DOWN_S = 5.0  # Run on past the window, so that its end is not the stream's end.


def measure(rate, seconds, shards):
    """Runs the source at `rate` in streaming mode long enough for a `seconds` window after the warm-up;
    returns ({record_id: event time (epoch s)}, {record_id: wall time it was seen}, records asked for). Event
    times are the ticks' schedule; the wall times show whether the runner kept to it."""
    out = tempfile.mkdtemp(prefix='rate-bench-')
    limit = int(rate * (WARM_UP_S + seconds + COOL_DOWN_S))
    options = PipelineOptions(['--runner=DirectRunner', '--streaming'])
    with local_runner_fixes(), beam.Pipeline(options=options) as pipeline:  # The local runner as pipeline.run runs it.
        _ = (pipeline
             | 'Source' >> StreamingSyntheticRecords(rate, seed=1, run_id='bench-%f' % time.time(), limit=limit,
                                                     shards=shards)
             | 'Seen' >> beam.Map(lambda r: dict(r, seen_at=time.time()))
             | 'Record' >> RecordRun(out, 'records'))
    found = read_records(out, 'records')
    return ({r['record_id']: rec.parse_timestamp(r['event_time']).timestamp() for r in found},
            {r['record_id']: r['seen_at'] for r in found}, limit)


def summarise(times, rate, seconds):
    """Records emitted in the `seconds` after the warm-up, the achieved rate and its error."""
    moments = sorted(times.values())
    start = moments[0] + WARM_UP_S
    window = [t for t in moments if start <= t < start + seconds]
    achieved = len(window) / seconds
    per_10s = [sum(1 for t in window if start + i <= t < start + i + 10) / 10 for i in range(0, int(seconds), 10)]
    return {'records': len(moments), 'in_window': len(window), 'achieved': achieved,
            'error_pct': 100 * (achieved - rate) / rate, 'span_s': moments[-1] - moments[0], 'per_10s': per_10s}


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.streaming_rate', description=__doc__.split(' — ')[-1])
    parser.add_argument('--rate', type=float, default=500.0, help='records/s asked for (default 500)')
    parser.add_argument('--seconds', type=float, default=60.0, help='length of the measured window (default 60)')
    parser.add_argument('--shards', type=int, default=16, help='source shards (default 16)')
    parser.add_argument('--tolerance', type=float, default=3.0, help='allowed error in %% (default 3)')
    args = parser.parse_args(argv)
    times, seen, limit = measure(args.rate, args.seconds, args.shards)
    s, wall = summarise(times, args.rate, args.seconds), summarise(seen, args.rate, args.seconds)
    print('asked %.0f records/s for %.0f s with %d shards on DirectRunner (streaming)' %
          (args.rate, args.seconds, args.shards))
    print('emitted %d distinct records (expected %d) over %.2f s' % (s['records'], limit, s['span_s']))
    print('%.0f s window after a %.0f s warm-up: %d records = %.1f records/s (%+.2f%%, tolerance ±%.0f%%)' %
          (args.seconds, WARM_UP_S, s['in_window'], s['achieved'], s['error_pct'], args.tolerance))
    print('per 10 s: %s records/s' % ', '.join('%.0f' % r for r in s['per_10s']))
    print('on the wall clock (when each record was seen): %.1f records/s (%+.2f%%); per 10 s: %s' %
          (wall['achieved'], wall['error_pct'], ', '.join('%.0f' % r for r in wall['per_10s'])))
    ok = s['records'] == limit and max(abs(s['error_pct']), abs(wall['error_pct'])) <= args.tolerance
    print('PASS' if ok else 'FAIL')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
