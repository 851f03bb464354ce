"""The pipeline's own counters and distributions, copied into the run record once a run has finished, and the lines
that show a path's metrics after the comparison."""

from typing import Any, List, Mapping, Sequence

from pipeline import paths as pipeline_paths

# WriteToBigQuery's streaming writer records one `batch_size` sample per insertAll call it makes.
INSERT_BATCH_METRIC = 'batch_size'
# Namespaces whose metric names say little alone ('rows', 'bytes', 'retries'): in the run record as namespace_name
# (each path's declaration says whether its own are: pipeline/paths.py's PathMetrics).
QUALIFIED_NAMESPACES = tuple(path.metrics.namespace for path in pipeline_paths.registered()
                             if path.metrics is not None and path.metrics.qualified)


def metric_key(namespace: str, name: str) -> str:
    """A metric's name in the run record: storage_write's 'rows' is 'storage_write_rows'; others keep their name
    (the OIC caller's already start with 'oic_')."""
    return '%s_%s' % (namespace, name) if namespace in QUALIFIED_NAMESPACES else name


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
        key = metric_key(item.key.metric.namespace, item.key.metric.name)
        found[key] = found.get(key, 0) + (value or 0)
    for item in queried.get('distributions', []):
        value = item.committed if item.committed is not None else item.attempted
        if value is None:
            continue
        entry = found.setdefault(metric_key(item.key.metric.namespace, item.key.metric.name),
                                 {'count': 0, 'sum': 0, 'min': None, 'max': None})
        if not isinstance(entry, dict):
            continue
        entry['count'] += value.count
        entry['sum'] += value.sum
        entry['min'] = value.min if entry['min'] is None else min(entry['min'], value.min)
        entry['max'] = value.max if entry['max'] is None else max(entry['max'], value.max)
    return found


def format_path_metrics(metrics: Mapping[str, Any], prefix: str, title: str, counters: Sequence[str] = ()) -> str:
    """One line of a path's Beam metrics (those named `prefix`…), or '' when the run had none; `counters` (names
    without the prefix) come first and are shown even when they stayed at 0 (a counter never incremented is not
    reported)."""
    names = [prefix + name for name in counters]
    names += sorted(name for name in metrics if name.startswith(prefix) and name not in names)
    if not any(name in metrics for name in names):
        return ''
    parts = []
    for name in names:
        value = metrics.get(name, 0)
        if isinstance(value, dict):
            if value.get('count'):
                parts.append('%s mean %.0f max %s (n=%d)' % (name[len(prefix):], value['sum'] / value['count'],
                                                             value['max'], value['count']))
        elif value or name[len(prefix):] in counters:
            parts.append('%s %s' % (name[len(prefix):], value))
    return '%s: %s' % (title, ', '.join(parts)) if parts else ''


def path_metric_lines(paths: Sequence[str], metrics: Mapping[str, Any]) -> List[str]:
    """The lines printed after the comparison: each run path's own Beam metrics, as its declaration names them (the
    OIC caller's, the Storage Write writer's), in the order of `paths`."""
    declared = [pipeline_paths.of(path).metrics for path in paths]
    lines = [format_path_metrics(metrics, own.prefix, own.title, own.counters) for own in declared if own is not None]
    return [line for line in lines if line]
