"""Judging one sweep step: the rate a path delivered (a least-squares slope), whether it kept up with the offered rate
within the p99 bound, its figures at the step, and where each path stopped keeping up across the steps."""

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from comparison import paths
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.files import read_records

KEEP_UP_SHARE = 0.95  # Delivered below this share of the offered rate: the path no longer keeps up.


def delivered_rate(moments: Sequence[Optional[str]]) -> Optional[float]:
    """Rows per second at which the moments (completions, or emissions) came: the inverse slope of a least-squares
    line through (time, rank), so a poll's coarse sighting times at either end do not decide it, and start-up and
    latency do not count; None with fewer than three."""
    times = sorted(rec.parse_timestamp(m).timestamp() for m in moments if m)
    if len(times) < 3 or times[-1] <= times[0]:
        return None
    n = len(times)
    mean_rank, mean_time = (n - 1) / 2.0, sum(times) / n
    covariance = sum((i - mean_rank) * (t - mean_time) for i, t in enumerate(times))
    variance = sum((i - mean_rank) ** 2 for i in range(n))
    seconds_per_row = covariance / variance
    return round(1.0 / seconds_per_row, 2) if seconds_per_row > 0 else None


def judge(offered: float, delivered: Optional[float], p99_s: Optional[float], bound_s: float,
          emitted: Optional[float]) -> Tuple[bool, str]:
    """(keeps up, why) for one path at one offered rate."""
    reasons = []
    if delivered is None or delivered < KEEP_UP_SHARE * offered:
        reasons.append('delivered %s/s < %d%% of %g/s' % ('n/a' if delivered is None else '%g' % delivered,
                                                          KEEP_UP_SHARE * 100, offered))
        if emitted is not None and emitted < KEEP_UP_SHARE * offered:
            reasons.append('the source itself emitted only %g/s on this machine' % emitted)
    if p99_s is None or p99_s > bound_s:
        reasons.append('p99 %s over %gs' % ('n/a' if p99_s is None else '%gs' % p99_s, bound_s))
    return (not reasons), '; '.join(reasons) or 'keeps up'


def measure_path(out: str, path: str, result: Mapping[str, Any], offered: float, bound_s: float,
                 metrics: Mapping[str, Any], sightings: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """One path's figures at one step, from its report entry and its run record; rates over every record it sent
    (the streaming source emits at its rate from its first second: no start-up burst to leave out)."""
    sent = read_records(out, run_record.sent_kind(path))
    sent_ids = {r.get('record_id') for r in sent}
    emitted = delivered_rate([r.get('event_time') for r in sent])
    if not paths.of(path).acks_derived:  # each record answered: its acknowledgements are its completions
        completions = [a.get('ack_time') for a in read_records(out, run_record.acks_kind(path))
                       if a.get('record_id') in sent_ids]
    else:
        completions = [s['seen_at'] for s in sightings if s.get('path') == path and s.get('record_id') in sent_ids]
    delivered = delivered_rate(completions)
    latency = result.get('latency') or {}
    ack, ttq = latency.get('ack') or {}, latency.get('time_to_queryable') or {}
    p99 = ttq.get('p99_s') if ttq.get('count') else ack.get('p99_s')
    keeps_up, why = judge(offered, delivered, p99, bound_s, emitted)
    figures: Dict[str, Any] = {
        'sent': result.get('sent'), 'emitted_rps': emitted, 'delivered_rps': delivered,
        'delivered_share': round(delivered / offered, 3) if delivered else None,
        'ack_p50_s': ack.get('p50_s'), 'ack_p99_s': ack.get('p99_s'),
        'ttq_p50_s': ttq.get('p50_s'), 'ttq_p99_s': ttq.get('p99_s'),
        'landed': result.get('landed'), 'dead_lettered': result.get('dead_lettered'),
        'missing': result.get('missing'), 'duplicates': result.get('duplicates'),
        'keeps_up': keeps_up, 'why': why,
    }
    counted = paths.of(path).overloads
    if counted is not None:  # a path a service refuses under load: its requests and overload answers
        made, overloads = counted(metrics)
        requests_made = made or result.get('http_requests')
        figures.update(requests=requests_made, overload_answers=overloads,
                       overload_share=round(overloads / requests_made, 4) if requests_made else None)
    else:
        figures.update(requests=result.get('http_requests'), overload_answers=None, overload_share=None)
    return figures


def limits(steps: Sequence[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per path: the highest offered rate it kept up with before the first it did not, and why."""
    found: Dict[str, Dict[str, Any]] = {}
    for step in sorted(steps, key=lambda s: s['rate']):
        for path, figures in step.get('paths', {}).items():
            entry = found.setdefault(path, {'keeps_up_to': None, 'stops_at': None, 'why': None})
            if entry['stops_at'] is not None:
                continue
            if figures['keeps_up']:
                entry['keeps_up_to'] = step['rate']
            else:
                entry['stops_at'], entry['why'] = step['rate'], figures['why']
    return found
