"""The pipeline's own counters and distributions, copied into the run record once a run has finished."""

from typing import Any

# WriteToBigQuery's streaming writer records one `batch_size` sample per insertAll call it makes.
INSERT_BATCH_METRIC = 'batch_size'


def pipeline_metrics(result: Any) -> dict:
    """{name: value} of the finished pipeline's counters (ints) and distributions ({count, sum, min, max});
    {} when the runner cannot tell. Never raises: metrics only enrich the report."""
    try:
        queried = result.metrics().query()
    except Exception:  # Some runners or states have no metrics.
        return {}
    found: dict = {}
    for item in queried.get('counters', []):
        value = item.committed if item.committed is not None else item.attempted
        found[item.key.metric.name] = found.get(item.key.metric.name, 0) + (value or 0)
    for item in queried.get('distributions', []):
        value = item.committed if item.committed is not None else item.attempted
        if value is None:
            continue
        entry = found.setdefault(item.key.metric.name, {'count': 0, 'sum': 0, 'min': None, 'max': None})
        if not isinstance(entry, dict):
            continue
        entry['count'] += value.count
        entry['sum'] += value.sum
        entry['min'] = value.min if entry['min'] is None else min(entry['min'], value.min)
        entry['max'] = value.max if entry['max'] is None else max(entry['max'], value.max)
    return found
