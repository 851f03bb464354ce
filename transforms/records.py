"""The warehouse record: data contract, synthetic generation, validation, payload and dead-letter shapes (pure).

The home of every record shape the pipeline passes on: the record itself, its BigQuery row, its OIC payload and
the dead letter of a record that could not be delivered.
"""

import datetime
import random
import uuid
from typing import Any, Iterable, List, Optional, Sequence, Tuple

# Synthetic catalog, as in the seed's sample data (data/poultry.csv, a copy of the lab's sample).
# The request that carried a record on the batched OIC path, on its acknowledgement and dead letter: written by
# transforms/oic/batch/send.py, read by comparison/cost/billing.py.
BATCH_ID, BATCH_RECORDS, BATCH_BYTES = 'batch_id', 'batch_records', 'batch_bytes'
# A batch_id is '<group>.<round>': the group names the batch as first sent, the round each request of it (rows sent
# again go in a later round, a subset of the one before). comparison/measures/throughput.py counts requests by it.
BATCH_ROUND_SEPARATOR = '.'


def batch_round_id(group: str, round_: int) -> str:
    """The batch_id of round `round_` (1 for the first request) of the batch `group`."""
    return '%s%s%d' % (group, BATCH_ROUND_SEPARATOR, round_)


def batch_group(batch_id: str) -> str:
    """The batch a batch_id's request belongs to (the id itself when it names no round)."""
    group, separator, round_ = str(batch_id).rpartition(BATCH_ROUND_SEPARATOR)
    return group if separator and round_.isdigit() else str(batch_id)

# Beam metrics namespace of the record-level counters (generated, valid, invalid, the direct path's writes).
METRICS_NAMESPACE = 'warehouse'

CATALOG = {
    100: 'Mechanically Separated',
    101: 'Whole Ground',
    102: 'Chicken By-Product Meal',
    103: 'Poultry By-Product Meal',
    104: 'Shelf-Stable, Pathogen Negative Meat Slurry',
    105: 'Poultry Fat',
    106: 'Chicken Fat',
    107: 'Chicken Meal',
}
WAREHOUSES = tuple('WH%d' % i for i in range(1, 9))

# The seed's six business fields, in the seed's order, then the two fields this product adds.
SEED_FIELDS = ('WH_ID', 'Item_Name', 'Item_id', 'Quantity_Available', 'Quantity_Requested', 'Backlog')
FIELDS = SEED_FIELDS + ('record_id', 'event_time')
INT_FIELDS = ('Item_id', 'Quantity_Available', 'Quantity_Requested', 'Backlog')
NON_NEGATIVE_FIELDS = ('Quantity_Available', 'Quantity_Requested')
MAX_LENGTH = {'WH_ID': 64, 'Item_Name': 256}

BIGQUERY_TYPES = {
    'WH_ID': 'STRING', 'Item_Name': 'STRING', 'Item_id': 'INT64', 'Quantity_Available': 'INT64',
    'Quantity_Requested': 'INT64', 'Backlog': 'INT64', 'record_id': 'STRING', 'event_time': 'TIMESTAMP',
}
# Beam's dict form of the table schema (WriteToBigQuery accepts it as is).
BIGQUERY_SCHEMA = {
    'fields': [
        {'name': name, 'type': BIGQUERY_TYPES[name],
         'mode': 'NULLABLE' if name in ('record_id', 'event_time') else 'REQUIRED'}
        for name in FIELDS
    ]
}
PAYLOAD_SHAPES = ('extended', 'seed')

# Fixed namespace so record ids are UUIDs derived from (run, index): stable across bundle retries, new every run.
_RECORD_NAMESPACE = uuid.UUID('6f1c3f1e-3b8e-4d8e-9a57-0c3d2b1f7a10')


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def format_timestamp(moment: datetime.datetime) -> str:
    """RFC 3339 UTC with microseconds, the form BigQuery's JSON API accepts for TIMESTAMP."""
    moment = moment.astimezone(datetime.timezone.utc)
    return '%04d-%s' % (moment.year, moment.strftime('%m-%dT%H:%M:%S.%fZ'))  # %Y does not pad years < 1000.


def parse_timestamp(text: str) -> datetime.datetime:
    """Inverse of format_timestamp; also accepts '+00:00' offsets and 'YYYY-MM-DD HH:MM:SS[.f] UTC'."""
    text = text.strip().replace(' UTC', '+00:00').replace('Z', '+00:00')
    moment = datetime.datetime.fromisoformat(text.replace(' ', 'T', 1))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def parse_timestamps(texts: Iterable[Any]) -> List[datetime.datetime]:
    """The readable timestamps among `texts`, sorted (unreadable and missing ones skipped)."""
    found = []
    for text in texts:
        try:
            found.append(parse_timestamp(str(text)))
        except (TypeError, ValueError):
            continue
    return sorted(found)


def record_id_for(run_id: str, index: int) -> str:
    """The record's UUID: the same for the same (run, index) on every retry, different in every run."""
    return str(uuid.uuid5(_RECORD_NAMESPACE, '%s/%d' % (run_id, index)))


def backlog(available: int, requested: int) -> int:
    """The seed data's rule: a shortfall is negative, no shortfall is 0."""
    return min(0, available - requested)


def synthetic_fields(seed: int, index: int) -> dict:
    """The business fields of synthetic record `index`; the same (seed, index) always gives the same fields."""
    rng = random.Random('%s/%d' % (seed, index))
    item_id = rng.choice(sorted(CATALOG))
    available = rng.randint(500, 10000)
    requested = max(0, available + rng.randint(-1000, 1000))
    return {
        'WH_ID': rng.choice(WAREHOUSES),
        'Item_Name': CATALOG[item_id],
        'Item_id': item_id,
        'Quantity_Available': available,
        'Quantity_Requested': requested,
        'Backlog': backlog(available, requested),
    }


def stamp(fields: dict, run_id: str, index: int, moment: Optional[datetime.datetime] = None) -> dict:
    """Adds record_id and event_time to business fields: done once, at the source."""
    record = dict(fields)
    record['record_id'] = record_id_for(run_id, index)
    record['event_time'] = format_timestamp(moment or utc_now())
    return record


def make_record(seed: int, run_id: str, index: int, moment: Optional[datetime.datetime] = None) -> dict:
    """A complete synthetic record."""
    return stamp(synthetic_fields(seed, index), run_id, index, moment)


def _as_int(value):
    """Strict integer coercion: ints, and strings of an optional sign and digits; never bools or floats."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text and text.lstrip('+-').isdigit():
            return int(text)
    raise ValueError


def validation_errors(record: Any) -> List[str]:
    """Every way `record` breaks the data contract, as readable strings; empty when it is valid."""
    if not isinstance(record, dict):
        return ['record is not an object']
    errors = []
    for name in SEED_FIELDS:
        if name not in record or record[name] is None:
            errors.append('%s is missing' % name)
    for name, limit in MAX_LENGTH.items():
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append('%s must be a string' % name)
        elif not value.strip():
            errors.append('%s is empty' % name)
        elif len(value) > limit:
            errors.append('%s is longer than %d characters' % (name, limit))
    for name in INT_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        try:
            number = _as_int(value)
        except ValueError:
            errors.append('%s is not an integer: %r' % (name, value))
            continue
        if name in NON_NEGATIVE_FIELDS and number < 0:
            errors.append('%s is negative: %d' % (name, number))
        elif abs(number) >= 2 ** 63:
            errors.append('%s is out of INT64 range' % name)
    if record.get('record_id') is not None:
        try:
            uuid.UUID(str(record['record_id']))
        except ValueError:
            errors.append('record_id is not a UUID')
    if record.get('event_time') is not None:
        try:
            parse_timestamp(str(record['event_time']))
        except (ValueError, OverflowError):
            errors.append('event_time is not a timestamp')
    return errors


def normalise(record: dict) -> dict:
    """A valid record with integer fields as ints (CSV gives strings); call only when validation_errors is empty."""
    clean = {name: record[name] for name in FIELDS if record.get(name) is not None}
    for name in INT_FIELDS:
        clean[name] = _as_int(clean[name])
    return clean


def payload_fields(shape: str = 'extended') -> Tuple[str, ...]:
    """The fields of the JSON body posted to the OIC REST trigger: all eight, or exactly the seed's six."""
    if shape == 'extended':
        return FIELDS
    if shape == 'seed':
        return SEED_FIELDS
    raise ValueError('unknown OIC payload shape %r (expected one of %s)' % (shape, ', '.join(PAYLOAD_SHAPES)))


def oic_payload(record: dict, shape: str = 'extended') -> dict:
    """The JSON body posted to the OIC REST trigger: all eight fields, or exactly the seed's six (payload_fields)."""
    return {name: record[name] for name in payload_fields(shape)}


def bigquery_row(record: dict) -> dict:
    """The row the direct branch inserts: the eight contract fields, nothing else."""
    return {name: record[name] for name in FIELDS}


DETAIL_LIMIT = 300  # Characters of an error's detail kept in a dead letter (answers can be long; never credentials).


def make_dead_letter(path: Optional[str], record: Any, reason: str, *, status: Optional[int] = None,
                     attempts: Optional[int] = None, detail: str = '', errors: Optional[Sequence[str]] = None,
                     source: Optional[str] = None, line: Optional[str] = None, table: Optional[str] = None) -> dict:
    """A dead letter, the same keys whichever step refused the record (the run record and the error table rely on them).

    {'path': the path's name ('oic', 'direct', …) or None (invalid), 'record_id', 'reason', 'status', 'attempts',
     'detail', 'record', 'errors' (contract violations), 'source' (file:line), 'line' (the raw input line), 'table',
     'error_time'}
    """
    record_id = record.get('record_id') if isinstance(record, dict) else None
    return {
        'path': path, 'record_id': record_id, 'reason': reason, 'status': status, 'attempts': attempts,
        'detail': (detail or '')[:DETAIL_LIMIT], 'record': record, 'errors': list(errors) if errors else None,
        'source': source, 'line': line, 'table': table, 'error_time': format_timestamp(utc_now()),
    }
