"""The sustained rate a cost is stated at: --at_rate, else a paced or streaming run's offered rate, else the lab's
1 record/s (never an unpaced burst), and the check of a rate given to price at."""

from typing import Optional, Tuple

from transforms.run_record import run_info
from transforms.run_record.run_info import RunInfo

LAB_RATE = 1.0  # records/s: the lab's loop posts one record, then sleeps a second.


class RateError(ValueError):
    """A rate or time given to price at that is not a positive, finite number."""


def at_rate_for(run: RunInfo, flag: Optional[float] = None) -> Tuple[float, str]:
    """(records/s, where it came from) the cost is computed at: --at_rate when given (to compare, or recorded by the
    run), else the offered rate of a paced or streaming run, else the lab's 1 record/s — never an unpaced burst."""
    if flag is not None:
        return float(flag), '--at_rate %g' % flag
    if run.at_rate:
        return float(run.at_rate), '--at_rate %g (given to the run)' % run.at_rate
    if run.rate:
        return float(run.rate), 'the offered rate of this %s run (--rate %g)' % (
            'streaming' if run.streaming else 'paced', run.rate)
    return LAB_RATE, ("the lab's %g record/s: this run sent as fast as it could, and a burst is no sustained rate "
                      "(--at_rate R to choose)" % LAB_RATE)


def check_at_rate(value: Optional[float]) -> Optional[float]:
    """RateError unless `value` is None or a positive, finite records/s (run_info.check_at_rate: one rule)."""
    try:
        return run_info.check_at_rate(value)
    except ValueError as err:
        raise RateError(str(err)) from None
