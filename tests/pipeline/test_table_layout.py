"""Every table the project creates is partitioned by day and clustered by record_id; other tables get a warning."""

import logging

import pytest
from google.cloud import bigquery

from devstack import bq
from transforms import records as rec
from transforms.dead_letters import DEAD_LETTER_LAYOUT, create_emulator_table
from transforms.tables import DATA_LAYOUT, Layout, parse_table_spec


def test_beam_parameters_partition_by_day_and_cluster_by_record_id():
    assert DATA_LAYOUT.bq_parameters() == {'timePartitioning': {'type': 'DAY', 'field': 'event_time'},
                                           'clustering': {'fields': ['record_id']}}
    assert DEAD_LETTER_LAYOUT.bq_parameters()['timePartitioning']['field'] == 'error_time'


def test_ddl_names_every_column_the_partition_and_the_clustering():
    ddl = DATA_LAYOUT.ddl('p.d.t', rec.BIGQUERY_SCHEMA)
    assert ddl.startswith('CREATE TABLE IF NOT EXISTS `p.d.t` (')
    assert 'PARTITION BY DATE(`event_time`)' in ddl and 'CLUSTER BY `record_id`;' in ddl
    for field in rec.FIELDS:
        assert '`%s` %s' % (field, rec.BIGQUERY_TYPES[field]) in ddl
    assert '`WH_ID` STRING NOT NULL' in ddl and '`record_id` STRING,' in ddl


def test_warning_only_for_a_table_laid_out_otherwise():
    table = bigquery.Table('p.d.t')
    assert 'not partitioned by day on event_time and clustered by record_id' in DATA_LAYOUT.warning(table)
    DATA_LAYOUT.apply(table)
    assert DATA_LAYOUT.warning(table) is None
    assert 'clustered by record_id' in Layout(partition_field='event_time').warning(
        bigquery.Table('p.d.t')) and Layout().warning(table) is None


@pytest.mark.stack
def test_local_stack_tables_are_partitioned_and_clustered(local_stack):
    client = local_stack.bq_client()
    for spec in (local_stack.oic_table, local_stack.direct_table):
        table = client.get_table(bq.table_id(spec))
        assert table.time_partitioning.field == 'event_time' and table.time_partitioning.type_ == 'DAY'
        assert table.clustering_fields == ['record_id']


@pytest.mark.stack
def test_dead_letter_table_is_partitioned_on_error_time(local_stack):
    spec = parse_table_spec('%s:layout_test.errors' % local_stack.project)
    create_emulator_table(local_stack._stack.bq_endpoint, spec)  # pylint: disable=protected-access
    table = local_stack.bq_client().get_table(spec.dotted)
    assert table.time_partitioning.field == 'error_time' and table.clustering_fields == ['record_id']


@pytest.mark.stack
def test_an_existing_unpartitioned_table_is_kept_with_a_warning(local_stack, caplog):
    client = local_stack.bq_client()
    client.create_dataset('%s.layout_old' % local_stack.project, exists_ok=True)
    client.delete_table('%s.layout_old.inventory_direct' % local_stack.project, not_found_ok=True)
    client.create_table(bigquery.Table('%s.layout_old.inventory_direct' % local_stack.project,
                                       schema=bq.schema_fields()))
    with caplog.at_level(logging.WARNING):
        bq.create_tables(client, 'layout_old', ('inventory_direct',))
    assert client.get_table('%s.layout_old.inventory_direct' % local_stack.project).time_partitioning is None
    assert any('is not partitioned by day on event_time' in r.getMessage() for r in caplog.records)
