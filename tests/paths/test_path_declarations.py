"""The pipeline side of a path's declaration, asked by shared code instead of naming the path: the metrics line
printed after the comparison (pipeline/paths.py's PathMetrics)."""

from launcher.run_metrics import metric_key, path_metric_lines
from pipeline import paths as pipeline_paths
from pipeline import path_specs


def test_each_run_path_prints_the_metrics_line_its_declaration_names_and_no_other():
    metrics = {'oic_requests': 3, 'oic_overload_answers': 1, 'storage_write_appends': 2, 'batch_size': {'count': 1}}
    assert path_metric_lines((path_specs.OIC, path_specs.DIRECT), metrics) == [
        'OIC caller: overload_answers 1, requests 3']
    assert path_metric_lines((path_specs.DIRECT,), metrics) == []
    assert path_metric_lines((path_specs.OIC, path_specs.STORAGE_WRITE), metrics)[1].startswith(
        'Storage Write writer: appends 2, rows 0')


def test_only_a_path_that_declares_its_metrics_qualified_has_its_names_prefixed_in_the_run_record():
    for path in pipeline_paths.registered():
        if path.metrics is not None:
            expected = path.metrics.prefix + 'rows' if path.metrics.qualified else 'rows'
            assert metric_key(path.metrics.namespace, 'rows') == expected
    assert metric_key('other', 'rows') == 'rows'
