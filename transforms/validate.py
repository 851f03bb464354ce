"""Checks every record against the data contract; invalid ones leave as dead letters before any network call."""

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from typing import Any, List

from transforms import records as rec
from transforms.records import METRICS_NAMESPACE

INVALID = 'invalid'


def invalid_letter(record: Any, errors: List[str]) -> dict:
    """The dead letter of an invalid record: why, and what came in (the original line when there is one)."""
    if not isinstance(record, dict):
        return rec.make_dead_letter(None, repr(record), INVALID, errors=errors)
    return rec.make_dead_letter(None, {k: v for k, v in record.items() if not k.startswith('_')}, INVALID,
                            errors=errors, source=record.get('_source'), line=record.get('_raw'))


class _ValidateFn(beam.DoFn):
    def __init__(self):
        self.valid = Metrics.counter(METRICS_NAMESPACE, 'valid')
        self.invalid = Metrics.counter(METRICS_NAMESPACE, 'invalid')

    def process(self, record):
        # A line that could not be parsed has its own reason; the field checks would only restate it.
        errors = (record.get('_errors') if isinstance(record, dict) else None) or rec.validation_errors(record)
        if errors:
            self.invalid.inc()
            yield pvalue.TaggedOutput(INVALID, invalid_letter(record, errors))
        else:
            self.valid.inc()
            yield rec.normalise(record)


class ValidateRecords(beam.PTransform):
    """Splits records into valid ones (main output, integers normalised) and dead letters (`.invalid`).

    Element in: a record dict, possibly from a file ({'WH_ID': 'WH1', 'Item_id': '107', …, '_source': 'f.csv:3'}).
    Main out:   the same record with integer fields as ints and nothing else.
    `.invalid`: {'reason': 'invalid', 'errors': ['Quantity_Available is negative: -5'], 'record': {…}, …}
    """

    def expand(self, records: beam.PCollection):  # -> DoOutputsTuple (not annotated: Beam would read it as a type hint)
        return records | 'Check' >> beam.ParDo(_ValidateFn()).with_outputs(INVALID, main='valid')
