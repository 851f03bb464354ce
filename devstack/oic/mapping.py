"""The seed integration's mapper: a trigger record -> the BigQuery tabledata.insertAll request body."""

from transforms import records

# Which integration stands behind the per-record trigger: the project's mapping (`strict`: a row BigQuery refuses
# fails the instance), or the seed's (`seed`: it answers "Submitted" whatever insertAll returns).
INTEGRATIONS = ('strict', 'seed')

# The seed maps Item_id and Backlog to strings (its BigQuery payload sample has "Item_id":"15", "Backlog":"-50");
# the emulator, like BigQuery, coerces such strings to INT64.
STRING_MAPPED = ('Item_id', 'Backlog')


def insert_all_request(record):
    """The insertAll body for one valid record; record_id becomes the insertId, event_time passes through."""
    clean = records.normalise(record)
    row = {}
    for name in records.SEED_FIELDS:
        row[name] = str(clean[name]) if name in STRING_MAPPED else clean[name]
    if 'record_id' in clean:
        row['record_id'] = str(clean['record_id'])
    if 'event_time' in clean:
        row['event_time'] = records.format_timestamp(records.parse_timestamp(str(clean['event_time'])))
    return {
        'ignoreUnknownValues': True,
        'kind': 'bigquery#tableDataInsertAllRequest',
        'rows': [{'insertId': str(clean.get('record_id', '')), 'json': row}],
        'skipInvalidRows': True,
        'templateSuffix': '',
    }
