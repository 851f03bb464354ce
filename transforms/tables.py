"""BigQuery table specs: PROJECT:DATASET.TABLE parsing and validation."""

import dataclasses
import re
from typing import Optional

_PROJECT = re.compile(r'^[a-z0-9][a-z0-9.:-]*$')
_NAME = re.compile(r'^[\w$-]{1,1024}$')


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


def parse_table_spec(text: str, default_project: Optional[str] = None) -> 'TableSpec':
    """'project:dataset.table' or 'dataset.table' (with a default project) -> TableSpec; ValueError otherwise."""
    text = (text or '').strip()
    project, rest = (text.rsplit(':', 1) if ':' in text else (None, text))
    names = rest.split('.')
    if project is None and len(names) == 3:
        project, names = names[0], names[1:]
    if (len(names) != 2 or not all(_NAME.match(n) for n in names)
            or (project is not None and not _PROJECT.match(project))):
        raise ValueError('table must be PROJECT:DATASET.TABLE or DATASET.TABLE (got %r)' % text)
    project = project or default_project
    if not project:
        raise ValueError('table %r has no project; write PROJECT:DATASET.TABLE or set --bq_project' % text)
    return TableSpec(project, names[0], names[1])
