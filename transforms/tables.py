"""BigQuery table specs: PROJECT:DATASET.TABLE parsing and validation."""

import dataclasses
import re

_SPEC = re.compile(r'^(?:(?P<project>[a-z][a-z0-9.:-]{0,61}[a-z0-9])[:.])?(?P<dataset>\w{1,1024})\.(?P<table>[\w$-]{1,1024})$')


@dataclasses.dataclass(frozen=True)
class TableSpec:
    project: str
    dataset: str
    table: str

    def __str__(self):
        return '%s:%s.%s' % (self.project, self.dataset, self.table)

    @property
    def dotted(self):
        """project.dataset.table, the form google-cloud-bigquery takes."""
        return '%s.%s.%s' % (self.project, self.dataset, self.table)


def parse_table_spec(text, default_project=None):
    """'project:dataset.table' or 'dataset.table' (with a default project) -> TableSpec; ValueError otherwise."""
    match = _SPEC.match((text or '').strip())
    if not match:
        raise ValueError('table must be PROJECT:DATASET.TABLE or DATASET.TABLE (got %r)' % text)
    project = match.group('project') or default_project
    if not project:
        raise ValueError('table %r has no project; write PROJECT:DATASET.TABLE or set --bq_project' % text)
    return TableSpec(project, match.group('dataset'), match.group('table'))
