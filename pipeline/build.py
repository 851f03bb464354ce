"""Assembles the Beam pipeline from a validated RunConfig."""

from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import paths
from pipeline.config import RunConfig, SourceConfig
from transforms.run_record import files as run_record
from transforms.dead_letters import WriteDeadLetters
from transforms.source.replay import ReadRecordFile
from transforms.run_record.record_run import RecordRun
from transforms.run_record.tables import create_emulator_tables
from transforms.source.synthetic import StopWhenAsked, StreamingSyntheticRecords, SyntheticRecords
from transforms.validate import ValidateRecords


def source_for(source: SourceConfig, run_id: str, stop_dir: Optional[str] = None) -> beam.PTransform:
    """The record source the flags ask for: a file replay, a stream at a rate, or a bounded batch. `stop_dir`: the
    local run directory whose stop signal ends a stream (the drain on Ctrl-C)."""
    if source.input:
        return ReadRecordFile(source.input, run_id)
    if source.streaming:
        return StreamingSyntheticRecords(source.rate, source.seed, run_id, limit=source.records, shards=source.shards,
                                         stop_dir=stop_dir)
    assert source.records is not None  # A batch always has a count (config.source.resolve_source).
    return SyntheticRecords(source.records, source.seed, run_id, rate=source.rate, stop_dir=stop_dir)


def build_pipeline(options: PipelineOptions, config: RunConfig) -> beam.Pipeline:
    """Read records, validate them, send the valid ones down each chosen path, and keep every dead letter."""
    pipeline = beam.Pipeline(options=options)
    tables = config.run_record_tables
    if tables is not None and tables.emulator_host:
        create_emulator_tables(tables)  # Real BigQuery: Beam creates them (partitioned, clustered) on first write.
    local = run_record.is_local(config.out)
    records = pipeline | 'Source' >> source_for(config.source, config.run_id, config.out if local else None)
    if local:  # The first Ctrl-C stops every source (a drain); Dataflow drains with its own command.
        records = records | 'StopWhenAsked' >> StopWhenAsked(config.out)
    checked = records | 'Validate' >> ValidateRecords()
    _ = checked.invalid | 'RecordInvalid' >> RecordRun(config.out, run_record.INVALID, tables)
    dead_letters = [checked.invalid]
    for name in config.paths:  # each path's branch, declared once in pipeline/paths.py
        dead_letters.append(paths.of(name).attach(checked.valid, config, tables))
    bigquery = config.bigquery
    if bigquery.dead_letter_table:
        _ = (dead_letters | 'AllDeadLetters' >> beam.Flatten()
             | 'WriteDeadLetters' >> WriteDeadLetters(bigquery.dead_letter_table, bigquery.emulator_host))
    return pipeline
