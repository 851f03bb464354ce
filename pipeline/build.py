"""Assembles the Beam pipeline from a validated RunConfig."""

import apache_beam as beam

from pipeline.branches import DirectPath, OICPath
from transforms.dead_letters import WriteDeadLetters
from transforms.file_source import ReadRecordFile
from transforms.run_record import RecordRun
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
    """Read records, validate them, send the valid ones down each chosen path, and keep every dead letter."""
    pipeline = beam.Pipeline(options=options)
    checked = pipeline | 'Source' >> source_for(config) | 'Validate' >> ValidateRecords()
    _ = checked.invalid | 'RecordInvalid' >> RecordRun(config.out, 'invalid')
    dead_letters = [checked.invalid]
    if 'oic' in config.paths:
        dead_letters.append(checked.valid | 'OIC' >> OICPath(config))
    if 'direct' in config.paths:
        dead_letters.append(checked.valid | 'Direct' >> DirectPath(config))
    if config.dead_letter_table:
        _ = (dead_letters | 'AllDeadLetters' >> beam.Flatten()
             | 'WriteDeadLetters' >> WriteDeadLetters(config.dead_letter_table, config.emulator_host))
    return pipeline
