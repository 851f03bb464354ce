"""BigQuery tables: PROJECT:DATASET.TABLE specs, and the layout (partitioning, clustering) every table gets."""

import dataclasses
import re
from typing import Any, Optional, Tuple

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
    def dotted(self) -> str:
        """project.dataset.table, the form google-cloud-bigquery takes."""
        return '%s.%s.%s' % (self.project, self.dataset, self.table)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    project: str
    dataset: str

    def __str__(self):
        return '%s:%s' % (self.project, self.dataset)


def parse_dataset_spec(text: str, default_project: Optional[str] = None) -> 'DatasetSpec':
    """'project:dataset', 'project.dataset' or 'dataset' (with a default project) -> DatasetSpec; ValueError
    otherwise."""
    text = (text or '').strip()
    named, _, dataset = text.rpartition(':') if ':' in text else text.rpartition('.')
    project = named or default_project
    if not _NAME.match(dataset or '') or '-' in dataset:
        raise ValueError('dataset must be PROJECT:DATASET or DATASET (letters, digits, underscores; got %r)' % text)
    if not project:
        raise ValueError('dataset %r has no project; write PROJECT:DATASET or set --bq_project' % text)
    if not _PROJECT.match(project):
        raise ValueError('dataset %r: %r is not a project id' % (text, project))
    return DatasetSpec(project, dataset)


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


# How every table of this project is laid out: one partition per day of `event_time` (a query filtered on the run's
# time window reads only the days it covers) and clustered by `record_id` (a lookup or join by id reads only the
# blocks holding those ids). https://cloud.google.com/bigquery/docs/partitioned-tables,
# https://cloud.google.com/bigquery/docs/clustered-tables
PARTITION_FIELD = 'event_time'
PARTITION_TYPE = 'DAY'
CLUSTER_FIELDS: Tuple[str, ...] = ('record_id',)


@dataclasses.dataclass(frozen=True)
class Layout:
    """A table's partitioning column (DAY) and clustering columns."""
    partition_field: str = PARTITION_FIELD
    cluster_fields: Tuple[str, ...] = CLUSTER_FIELDS

    def bq_parameters(self) -> dict:
        """WriteToBigQuery's `additional_bq_parameters`: used when Beam creates the table (CREATE_IF_NEEDED)."""
        return {'timePartitioning': {'type': PARTITION_TYPE, 'field': self.partition_field},
                'clustering': {'fields': list(self.cluster_fields)}}

    def apply(self, table: Any) -> Any:
        """Sets partitioning and clustering on a google.cloud.bigquery.Table before create_table; returns it."""
        from google.cloud import bigquery
        table.time_partitioning = bigquery.TimePartitioning(type_=PARTITION_TYPE, field=self.partition_field)
        table.clustering_fields = list(self.cluster_fields)
        return table

    def ddl(self, dotted: str, schema: dict) -> str:
        """The CREATE TABLE statement for users who create the table themselves (GoogleSQL)."""
        columns = ',\n'.join('  `%s` %s%s' % (f['name'], f['type'], ' NOT NULL' if f.get('mode') == 'REQUIRED' else '')
                             for f in schema['fields'])
        return ('CREATE TABLE IF NOT EXISTS `%s` (\n%s\n)\nPARTITION BY DATE(`%s`)\nCLUSTER BY %s;'
                % (dotted, columns, self.partition_field, ', '.join('`%s`' % f for f in self.cluster_fields)))

    def warning(self, table: Any) -> Optional[str]:
        """One line on what a table laid out otherwise costs (None when it matches): `table` is a fetched
        google.cloud.bigquery.Table."""
        partitioning = getattr(table, 'time_partitioning', None)
        partitioned = partitioning is not None and partitioning.field == self.partition_field
        clustered = list(getattr(table, 'clustering_fields', None) or [])[:len(self.cluster_fields)] == \
            list(self.cluster_fields)
        if partitioned and clustered:
            return None
        missing = ' and '.join(([] if partitioned else ['partitioned by day on %s' % self.partition_field])
                               + ([] if clustered else ['clustered by %s' % ', '.join(self.cluster_fields)]))
        return ('table %s is not %s: every query of the comparison reads the whole table (%s bytes), not just the '
                'run\'s days; see docs/comparison-at-scale.md for the DDL' % (
                    table.full_table_id if hasattr(table, 'full_table_id') else table, missing,
                    '{:,}'.format(getattr(table, 'num_bytes', None) or 0)))


DATA_LAYOUT = Layout()
