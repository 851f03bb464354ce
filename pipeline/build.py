"""Assembles the Beam pipeline from a validated RunConfig."""

import apache_beam as beam

from pipeline.branches import DirectPath, OICPath
from transforms.file_source import ReadRecordFile
from transforms.recording import RecordRun
from transforms.source import StreamingSyntheticRecords, SyntheticRecords
from transforms.validate import ValidateRecords


def source_for(config):
    """The record source the flags ask for: a file replay, a stream at a rate, or a bounded batch."""
    if config.input:
        return ReadRecordFile(config.input, config.run_id)
    if config.streaming:
        return StreamingSyntheticRecords(config.rate, config.seed, config.run_id, limit=config.records,
                                         shards=config.source_shards)
    return SyntheticRecords(config.records, config.seed, config.run_id, rate=config.rate)


def build_pipeline(options, config):
    """Read records, validate them, and send the valid ones down each chosen path; returns the Pipeline."""
    pipeline = beam.Pipeline(options=options)
    checked = pipeline | 'Source' >> source_for(config) | 'Validate' >> ValidateRecords()
    _ = checked.invalid | 'RecordInvalid' >> RecordRun(config.out, 'invalid')
    if 'oic' in config.paths:
        _ = checked.valid | 'OIC' >> OICPath(config)
    if 'direct' in config.paths:
        _ = checked.valid | 'Direct' >> DirectPath(config)
    return pipeline
