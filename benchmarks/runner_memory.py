"""Memory and CPU of Beam's local streaming runner alone: PeriodicImpulse -> no-op, sampled while it runs.

python -m benchmarks.runner_memory [--seconds 30 --interval 1.0] [--without_fix]

It isolates what the soak measures from this project's code: no source of ours, no OIC, no BigQuery. By default the
runner runs as `pipeline.run` runs it, with launcher/beam_fixes.py's fixes; --without_fix shows Beam as released.
"""

import argparse
import sys
import threading
import time

import apache_beam as beam
import psutil
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.utils.timestamp import Timestamp

import contextlib

from launcher.beam_fixes import local_runner_fixes

MB = 2 ** 20


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.runner_memory', description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=30.0, help='length of the stream (default 30)')
    parser.add_argument('--interval', type=float, default=1.0, help='PeriodicImpulse fire interval (default 1 s)')
    parser.add_argument('--without_fix', action='store_true', help='run Beam\'s FnApiRunner without our fixes')
    args = parser.parse_args(argv)
    fixes = contextlib.ExitStack()
    fixed = False if args.without_fix else bool(fixes.enter_context(local_runner_fixes()))
    process = psutil.Process()
    samples = []
    stop = threading.Event()

    def sample():
        started = time.monotonic()
        while not stop.wait(5):
            samples.append((time.monotonic() - started, process.memory_info().rss / MB))
            print('[%4.0fs] RSS %.0f MB' % samples[-1], flush=True)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.time()
    cpu_before = sum(process.cpu_times()[:2])
    with fixes, beam.Pipeline(options=PipelineOptions(['--streaming'])) as pipeline:
        _ = (pipeline
             | PeriodicImpulse(start_timestamp=Timestamp.of(start), stop_timestamp=Timestamp.of(start + args.seconds),
                               fire_interval=args.interval)
             | beam.Map(lambda _: None))
    stop.set()
    cpu, wall = sum(process.cpu_times()[:2]) - cpu_before, time.time() - start
    if len(samples) >= 2:
        (t0, first), (t1, last) = samples[0], samples[-1]
        print('Beam %s DirectRunner streaming (%s), one element every %gs: RSS %.0f -> %.0f MB over %.0f s = %.2f MB/s'
              % (beam.__version__, 'with our fixes' if fixed else 'as released', args.interval, first, last,
                 t1 - t0, (last - first) / max(t1 - t0, 1e-9)))
    print('CPU %.1f s over the %.1f s pipeline (start-up included) = %.0f%% of one core' % (cpu, wall, 100 * cpu / wall))
    return 0


if __name__ == '__main__':
    sys.exit(main())
