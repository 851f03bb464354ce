"""Reconciliation inside BigQuery: the run record's tables (transforms/run_record/tables.py) joined to each path's
table by record_id, every table read only within the run's time window and for the run's id.

Same figures as the in-memory comparison (comparison/measures/reconcile.py, latency.py, throughput.py) for a run with a
run-record dataset, with memory that does not grow with the run: the queries return counts, percentiles, a per-minute
series and bounded samples of ids. Every table reference goes through `_scan`, which puts the partition filter
`event_time BETWEEN @window_start AND @window_end` on it (and `run_id = @run_id` on run-record tables), so BigQuery
reads only the day partitions of the window.

Written for GoogleSQL (real BigQuery); the local emulator (bqemulator 1.4 on DuckDB) runs the same text. One
emulator quirk shapes it: `APPROX_QUANTILES(x, n)[OFFSET(k)]` written on the aggregate itself is off by one there, so
the quantiles array is computed in a CTE and indexed outside it (the same result on BigQuery).
"""

import dataclasses
import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

from google.cloud import bigquery

from comparison import paths
from comparison.measures import latency
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.measures import throughput
from transforms import records as rec
from transforms.run_record import tables as rrt
from transforms.tables import DatasetSpec, TableSpec

SAMPLE_IDS = 100  # Ids listed per kind of difference (missing, mismatched); the counts are always complete.
MISMATCH_EXAMPLES = 50
INVALID_SHOWN = 5
WINDOW_FILTER = 'event_time BETWEEN @window_start AND @window_end'
RUN_FILTER = 'run_id = @run_id'
PATH_FILTER = 'path = @path'
PER_MINUTE_MAX = 1440  # Points of the per-minute series; a longer window is counted per hour instead.


@dataclasses.dataclass(frozen=True)
class Window:
    """The slice of event_time compared: [start, end], both inclusive, UTC. Records sent at or after
    `in_flight_after` whose outcome is not known yet are in flight, not missing (None: nothing is in flight)."""
    start: datetime.datetime
    end: datetime.datetime
    in_flight_after: Optional[datetime.datetime] = None

    def describe(self) -> dict:
        return {'from': rec.format_timestamp(self.start), 'to': rec.format_timestamp(self.end),
                'in_flight_after': rec.format_timestamp(self.in_flight_after) if self.in_flight_after else None}


@dataclasses.dataclass(frozen=True)
class PathScope:
    """One path of one run: where its run record and its landed rows are, and what its rows hold."""
    run_id: str
    path: str
    dataset: DatasetSpec
    landed: Optional[TableSpec]  # None: the landed check is skipped (see `landed_check`).
    landed_check: str = 'done'
    row_fields: Tuple[str, ...] = rec.FIELDS  # the fields that land in its table (its declaration's row_fields)
    body_fields: Tuple[str, ...] = ()  # the fields of the body it posts, () none (its declaration's body_fields)

    @property
    def acks_derived(self) -> bool:
        """True when the path acknowledges no single record (comparison/paths: its declaration)."""
        return paths.of(self.path).acks_derived

    def record_table(self, name: str) -> str:
        return '%s.%s.%s' % (self.dataset.project, self.dataset.dataset, name)


class Queries:
    """Runs parameterised queries and tallies what BigQuery says they processed and billed."""

    def __init__(self, client: Any, deadline: float = 180.0):
        self._client, self._deadline = client, deadline
        self.count = 0
        self.bytes_processed = 0
        self.bytes_billed = 0
        self.sql: List[str] = []

    def rows(self, sql: str, params: Sequence[Any]) -> List[dict]:
        retry = bigquery.DEFAULT_RETRY.with_deadline(self._deadline)
        job = self._client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=list(params)),
                                 retry=retry, job_retry=None, timeout=self._deadline)
        found = [dict(row) for row in job.result(retry=retry, timeout=self._deadline)]
        self.count += 1
        self.bytes_processed += int(job.total_bytes_processed or 0)
        self.bytes_billed += int(job.total_bytes_billed or 0)
        self.sql.append(sql)
        return found

    def one(self, sql: str, params: Sequence[Any]) -> dict:
        found = self.rows(sql, params)
        return found[0] if found else {}


# -- SQL text (pure) --------------------------------------------------------------------------------------------

def _scan(table: str, columns: str, run_record: bool, path: bool = True, extra: str = '') -> str:
    """SELECT `columns` FROM `table`, always within the window (the partition filter) and, for a run-record table,
    for this run (and path)."""
    where = [WINDOW_FILTER] + ([RUN_FILTER] + ([PATH_FILTER] if path else []) if run_record else [])
    return 'SELECT %s FROM `%s` WHERE %s%s' % (columns, table, ' AND '.join(where), (' AND ' + extra) if extra else '')


def sent_cte(scope: PathScope) -> str:
    return 'sent AS (%s GROUP BY record_id)' % _scan(
        scope.record_table(rrt.SENT), 'record_id, MIN(event_time) AS event_time', True, extra='record_id IS NOT NULL')


def _unresolved(scope: PathScope, acks_derived: bool) -> str:
    """A record with no known outcome yet: not landed (or, without the landed check, not acknowledged) and not
    dead-lettered."""
    if scope.landed is not None:
        return 'landed IS NULL AND dead IS NULL'
    return 'FALSE' if acks_derived else 'acks IS NULL AND dead IS NULL'  # Derived: acked = sent - dead-lettered.


def per_record_ctes(scope: PathScope) -> str:
    """CTEs sent, acks, dead, landed (if checked) and per: one row per record the path was handed."""
    ctes = [
        sent_cte(scope),
        'acks AS (%s GROUP BY record_id)' % _scan(
            scope.record_table(rrt.ACKS), 'record_id, COUNT(*) AS n, SUM(IFNULL(attempts, 1)) AS attempts', True),
        'dead AS (%s GROUP BY record_id)' % _scan(
            scope.record_table(rrt.DEAD_LETTERS), 'record_id, COUNT(*) AS n, SUM(IFNULL(attempts, 1)) AS attempts',
            True),
    ]
    landed_join = ''
    landed_col = 'CAST(NULL AS INT64) AS landed'
    if scope.landed is not None:
        ctes.append('landed AS (%s GROUP BY record_id)' % _scan(scope.landed.dotted, 'record_id, COUNT(*) AS n', False))
        landed_join = ' LEFT JOIN landed l USING (record_id)'
        landed_col = 'l.n AS landed'
    ctes.append('per AS (SELECT s.record_id, s.event_time, a.n AS acks, d.n AS dead, %s FROM sent s '
                'LEFT JOIN acks a USING (record_id) LEFT JOIN dead d USING (record_id)%s)' % (landed_col, landed_join))
    return 'WITH ' + ',\n'.join(ctes)


def summary_sql(scope: PathScope, acks_derived: bool) -> str:
    """Counts of one path: sent, acked, dead-lettered, landed, duplicates, missing, in flight, HTTP attempts."""
    unresolved = _unresolved(scope, acks_derived)
    return per_record_ctes(scope) + '''
SELECT
  COUNT(*) AS sent,
  COUNTIF(acks IS NOT NULL) AS acked,
  COUNTIF(dead IS NOT NULL) AS dead_lettered,
  COUNTIF(landed IS NOT NULL) AS landed,
  IFNULL(SUM(IF(landed IS NULL, 0, landed - 1)), 0) AS duplicates,
  COUNTIF(landed IS NOT NULL AND dead IS NOT NULL) AS landed_but_dead_lettered,
  COUNTIF({u} AND (@in_flight_after IS NULL OR event_time < @in_flight_after)) AS missing,
  COUNTIF({u} AND event_time >= @in_flight_after) AS in_flight,
  MIN(event_time) AS first_event,
  (SELECT COUNTIF(n > 1) FROM acks) AS acked_twice,
  (SELECT IFNULL(SUM(attempts), 0) FROM acks) + (SELECT IFNULL(SUM(attempts), 0) FROM dead) AS attempts
FROM per'''.format(u=unresolved)


def missing_sql(scope: PathScope, acks_derived: bool) -> str:
    """The first @sample missing ids (by id)."""
    return per_record_ctes(scope) + '''
SELECT record_id FROM per
WHERE {u} AND (@in_flight_after IS NULL OR event_time < @in_flight_after)
ORDER BY record_id LIMIT @sample'''.format(u=_unresolved(scope, acks_derived))


def dead_reasons_sql(scope: PathScope) -> str:
    """Dead letters of records the path was handed, by reason."""
    return 'WITH %s\nSELECT d.reason AS reason, COUNT(*) AS n FROM (%s) d JOIN sent USING (record_id)\n' \
           'GROUP BY reason ORDER BY reason' % (
               sent_cte(scope), _scan(scope.record_table(rrt.DEAD_LETTERS), 'record_id, reason', True))


def _pairs_cte(scope: PathScope) -> str:
    """Each landed row of a sent record beside what was sent, with one mismatch flag per field."""
    assert scope.landed is not None
    values = ', '.join('ANY_VALUE(`%s`) AS `%s`' % (f, f) for f in rec.FIELDS if f != 'record_id')
    sent_values = 'sent AS (%s GROUP BY record_id)' % _scan(
        scope.record_table(rrt.SENT), 'record_id, ' + values, True, extra='record_id IS NOT NULL')
    flags = ', '.join('s.`{f}` IS DISTINCT FROM l.`{f}` AS m_{f}'.format(f=f) for f in rec.FIELDS)
    shown = ', '.join('s.`{f}` AS s_{f}, l.`{f}` AS l_{f}'.format(f=f) for f in rec.FIELDS if f != 'record_id')
    landed = _scan(scope.landed.dotted, ', '.join('`%s`' % f for f in rec.FIELDS), False)
    return ('WITH %s,\npairs AS (SELECT l.record_id, %s, %s FROM (%s) l JOIN sent s USING (record_id)),\n'
            'mism AS (SELECT *, (%s) AS any_mismatch FROM pairs)' % (
                sent_values, flags, shown, landed, ' OR '.join('m_%s' % f for f in rec.FIELDS)))


def mismatch_counts_sql(scope: PathScope) -> str:
    """Rows differing per field (aliases n0, n1, … in rec.FIELDS order) and the records with any difference."""
    counts = ', '.join('COUNTIF(m_%s) AS n%d' % (f, i) for i, f in enumerate(rec.FIELDS))
    return _pairs_cte(scope) + '\nSELECT %s, COUNT(DISTINCT IF(any_mismatch, record_id, NULL)) AS mismatched ' \
                               'FROM mism' % counts


def mismatch_rows_sql(scope: PathScope) -> str:
    """The first @examples landed rows that differ from what was sent (by id), with both sides' values."""
    return _pairs_cte(scope) + '\nSELECT * FROM mism WHERE any_mismatch ORDER BY record_id LIMIT @examples'


def mismatch_ids_sql(scope: PathScope) -> str:
    return _pairs_cte(scope) + '\nSELECT DISTINCT record_id FROM mism WHERE any_mismatch ORDER BY record_id ' \
                               'LIMIT @sample'


def ack_latency_sql(scope: PathScope) -> str:
    """Count, max and 101 approximate quantiles of event_time -> first acknowledgement, in seconds."""
    return '''WITH {sent},
lat AS (SELECT TIMESTAMP_DIFF(MIN(a.ack_time), MIN(a.event_time), MICROSECOND) / 1e6 AS s
        FROM ({acks}) a JOIN sent USING (record_id) GROUP BY record_id),
q AS (SELECT APPROX_QUANTILES(s, 100) AS qs, COUNT(s) AS n, MAX(s) AS max_s FROM lat WHERE s IS NOT NULL)
SELECT n, max_s, qs FROM q'''.format(sent=sent_cte(scope), acks=_scan(
        scope.record_table(rrt.ACKS), 'record_id, event_time, ack_time', True))


def completions_sql(scope: PathScope) -> str:
    """Acknowledgements of sent records: how many, and the last one (the end of the throughput span)."""
    return 'WITH {sent}\nSELECT COUNT(a.ack_time) AS n, MAX(a.ack_time) AS last FROM ({acks}) a ' \
           'JOIN sent USING (record_id)'.format(sent=sent_cte(scope), acks=_scan(
               scope.record_table(rrt.ACKS), 'record_id, ack_time', True, extra='ack_time IS NOT NULL'))


def completion_series_sql(scope: PathScope) -> str:
    """Acknowledgements per bucket of @width_s seconds since @series_start (throughput.series, in BigQuery)."""
    return 'WITH {sent}\nSELECT CAST(FLOOR(TIMESTAMP_DIFF(a.ack_time, @series_start, MICROSECOND) / 1e6 / @width_s) ' \
           'AS INT64) AS bucket, COUNT(*) AS n FROM ({acks}) a JOIN sent USING (record_id)\n' \
           'WHERE a.ack_time BETWEEN @series_start AND @series_end GROUP BY bucket ORDER BY bucket'.format(
               sent=sent_cte(scope), acks=_scan(scope.record_table(rrt.ACKS), 'record_id, ack_time', True,
                                                extra='ack_time IS NOT NULL'))


def per_minute_sql(scope: PathScope, kind: str) -> str:
    """Records handed to the path ('sent') or acknowledged ('acks') per @bucket_s seconds of wall clock."""
    column = 'event_time' if kind == rrt.SENT else 'ack_time'
    return 'SELECT TIMESTAMP_SECONDS(DIV(UNIX_SECONDS(%s), @bucket_s) * @bucket_s) AS minute, COUNT(*) AS n ' \
           'FROM (%s) GROUP BY minute ORDER BY minute' % (
               column, _scan(scope.record_table(kind), column, True, extra='%s IS NOT NULL' % column))


def _string_bytes(column: str) -> str:
    return 'IF(`{c}` IS NULL, 0, 2 + BYTE_LENGTH(`{c}`))'.format(c=column)


def _json_length(column: str) -> str:
    """Length of json.dumps(value) for the record's fields (ASCII text; event_time is always 27 characters)."""
    kind = rec.BIGQUERY_TYPES[column]
    if kind == 'STRING':
        return 'IFNULL(LENGTH(TO_JSON_STRING(`%s`)), 4)' % column
    if kind == 'TIMESTAMP':
        return 'IF(`%s` IS NULL, 4, 29)' % column
    return 'IFNULL(LENGTH(CAST(`%s` AS STRING)), 4)' % column


def sizes_sql(scope: PathScope) -> str:
    """Average BigQuery row size (sizing.bigquery_row_bytes) of the fields that land in the path's table, and request
    body size (sizing.payload_bytes) of the fields it posts (0 when it posts none)."""
    row = ' + '.join(_string_bytes(f) if rec.BIGQUERY_TYPES[f] == 'STRING' else 'IF(`%s` IS NULL, 0, 8)' % f
                     for f in scope.row_fields)
    body = scope.body_fields
    payload = '%d + %s' % (2 + sum(len(f) + 4 for f in body) + 2 * (len(body) - 1),
                           ' + '.join(_json_length(f) for f in body)) if body else '0'
    return 'SELECT AVG(%s) AS row_bytes, AVG(%s) AS payload_bytes FROM (%s)' % (
        row, payload, _scan(scope.record_table(rrt.SENT), ', '.join('`%s`' % f for f in rec.FIELDS), True))


def invalid_sql(dataset: DatasetSpec) -> str:
    table = '%s.%s.%s' % (dataset.project, dataset.dataset, rrt.DEAD_LETTERS)
    return 'SELECT COUNT(*) AS n FROM (%s)' % _scan(table, 'record_id', True, path=False, extra='path IS NULL')


def invalid_first_sql(dataset: DatasetSpec) -> str:
    """The first @shown invalid records in input order (file, then line number)."""
    table = '%s.%s.%s' % (dataset.project, dataset.dataset, rrt.DEAD_LETTERS)
    return ("SELECT source, errors, reason FROM (%s)\nORDER BY source IS NULL, REGEXP_EXTRACT(source, r'^(.*):'), "
            "SAFE_CAST(REGEXP_EXTRACT(source, r':([0-9]+)$') AS INT64), source LIMIT @shown" % _scan(
                table, 'source, errors, reason', True, path=False, extra='path IS NULL'))


def oic_response_sql(dataset: DatasetSpec) -> str:
    """The mean of the first-attempt answer times (ms) of the paths in @timed (those whose answers size the requests
    in flight: OIC's) in the run."""
    table = '%s.%s.%s' % (dataset.project, dataset.dataset, rrt.ACKS)
    return 'SELECT COUNT(*) AS n, AVG(latency_ms) AS mean_ms FROM (%s)' % _scan(
        table, 'latency_ms', True, path=False,
        extra='path IN UNNEST(@timed) AND attempts = 1 AND latency_ms IS NOT NULL')


# -- Running them ----------------------------------------------------------------------------------------------

def _params(run_id: str, window: Window, path: Optional[str] = None, **extra: Any) -> List[Any]:
    found = [bigquery.ScalarQueryParameter('run_id', 'STRING', run_id),
             bigquery.ScalarQueryParameter('window_start', 'TIMESTAMP', window.start),
             bigquery.ScalarQueryParameter('window_end', 'TIMESTAMP', window.end),
             bigquery.ScalarQueryParameter('in_flight_after', 'TIMESTAMP', window.in_flight_after)]
    if path is not None:
        found.append(bigquery.ScalarQueryParameter('path', 'STRING', path))
    kinds = {int: 'INT64', float: 'FLOAT64', datetime.datetime: 'TIMESTAMP'}
    found.extend(bigquery.ScalarQueryParameter(k, kinds[type(v)], v) for k, v in extra.items())
    return found


def _shown(field: str, value: Any) -> Any:
    return rec.format_timestamp(value) if isinstance(value, datetime.datetime) else value


def _latency(queries: Queries, scope: PathScope, params: List[Any]) -> dict:
    if scope.acks_derived:
        return {'ack': None, 'ack_note': paths.of(scope.path).ack_note + ' (the run record holds no per-row '
                                                                        'completion time for it)'}
    found = queries.one(ack_latency_sql(scope), params)
    quantiles = [float(v) for v in (found.get('qs') or [])]
    summary: dict = {'count': int(found.get('n') or 0)}
    for p in latency.PERCENTILES:
        summary['p%d_s' % p] = round(quantiles[p], 3) if len(quantiles) == 101 else None
    summary['max_s'] = round(float(found['max_s']), 3) if found.get('max_s') is not None else None
    cdf = [(value, i / 100.0) for i, value in enumerate(quantiles) if i]
    return {'ack': summary, 'ack_cdf': cdf, 'ack_method': 'APPROX_QUANTILES(latency, 100) in BigQuery'}


def _throughput(queries: Queries, scope: PathScope, window: Window, params: List[Any], first_event: Any) -> dict:
    bucket_s = 60 if (window.end - window.start).total_seconds() / 60 <= PER_MINUTE_MAX else 3600
    per_bucket = {kind: [[rec.format_timestamp(r['minute']), int(r['n'])] for r in queries.rows(
        per_minute_sql(scope, kind), params + [bigquery.ScalarQueryParameter('bucket_s', 'INT64', bucket_s)])]
        for kind in ((rrt.SENT,) if scope.acks_derived else (rrt.SENT, rrt.ACKS))}
    extra = {'bucket_s': bucket_s, 'sent_per_bucket': per_bucket[rrt.SENT],
             'acked_per_bucket': per_bucket.get(rrt.ACKS)}
    if scope.acks_derived:
        return dict({'rows_per_s': None, 'span_s': None, 'basis': 'unknown without the probe', 'series': []}, **extra)
    done = queries.one(completions_sql(scope), params)
    if not done.get('n') or first_event is None:
        return dict({'rows_per_s': None, 'span_s': None, 'basis': 'acknowledgements', 'series': []}, **extra)
    span = (done['last'] - first_event).total_seconds()
    width = throughput.bucket_width(span)
    counts = [0] * (int(max(0.0, span) // width) + 1)
    for row in queries.rows(completion_series_sql(scope), params + [
            bigquery.ScalarQueryParameter('series_start', 'TIMESTAMP', first_event),
            bigquery.ScalarQueryParameter('series_end', 'TIMESTAMP', done['last']),
            bigquery.ScalarQueryParameter('width_s', 'FLOAT64', float(width))]):
        if row['bucket'] is not None and 0 <= row['bucket'] < len(counts):
            counts[row['bucket']] += int(row['n'])
    return dict({'rows_per_s': round(done['n'] / span, 2) if span > 0 else None, 'span_s': round(span, 3),
                 'rows': int(done['n']), 'basis': 'acknowledgements',
                 'series': [[round(i * width, 3), c / width] for i, c in enumerate(counts)]}, **extra)


def reconcile_path_sql(queries: Queries, scope: PathScope, window: Window, prices: dict,
                       sample: int = SAMPLE_IDS, at_rate: Tuple[Optional[float], Optional[str]] = (None, None),
                       response_s: float = sizing.DEFAULT_OIC_RESPONSE_S) -> dict:
    """One path's reconciliation, the keys of comparison.measures.reconcile.reconcile_path (ids as bounded samples, sorted),
    plus in_flight, latency, throughput and cost."""
    acks_derived = scope.acks_derived
    params = _params(scope.run_id, window, scope.path)
    counts = queries.one(summary_sql(scope, acks_derived), params)
    sent, dead = int(counts.get('sent') or 0), int(counts.get('dead_lettered') or 0)
    reasons = {r['reason'] or 'unknown': int(r['n']) for r in queries.rows(dead_reasons_sql(scope), params)}
    result: Dict[str, Any] = {
        'sent': sent,
        'acked': sent - dead if acks_derived else int(counts.get('acked') or 0),
        'acked_twice': int(counts.get('acked_twice') or 0),
        'dead_lettered': dead,
        'dead_lettered_by_reason': dict(sorted(reasons.items())),
        'acked_is_derived': acks_derived,
        'in_flight': int(counts.get('in_flight') or 0),
    }
    missing_ids = [r['record_id'] for r in queries.rows(
        missing_sql(scope, acks_derived), params + [bigquery.ScalarQueryParameter('sample', 'INT64', sample)])]
    missing = int(counts.get('missing') or 0)
    if scope.landed is None:
        result.update(landed=None, missing=missing, missing_ids=missing_ids, duplicates=None, mismatched=None,
                      mismatched_by_field={}, mismatched_ids=[], mismatch_examples=[])
    else:
        by_field = queries.one(mismatch_counts_sql(scope), params)
        examples: list = []
        for row in queries.rows(mismatch_rows_sql(scope), params + [
                bigquery.ScalarQueryParameter('examples', 'INT64', MISMATCH_EXAMPLES)]):
            examples.extend({'record_id': row['record_id'], 'field': f, 'sent': _shown(f, row['s_' + f]),
                             'landed': _shown(f, row['l_' + f])} for f in rec.FIELDS if row['m_' + f])
        result.update(
            landed=int(counts.get('landed') or 0), missing=missing, missing_ids=missing_ids,
            duplicates=int(counts.get('duplicates') or 0),
            landed_but_dead_lettered=int(counts.get('landed_but_dead_lettered') or 0),
            mismatched=int(by_field.get('mismatched') or 0),
            # Aliases by position: the emulator lower-cases aggregate aliases (n_WH_ID comes back as n_wh_id).
            mismatched_by_field={f: int(by_field['n%d' % rec.FIELDS.index(f)]) for f in sorted(rec.FIELDS)
                                 if by_field.get('n%d' % rec.FIELDS.index(f))},
            mismatched_ids=[r['record_id'] for r in queries.rows(mismatch_ids_sql(scope), params + [
                bigquery.ScalarQueryParameter('sample', 'INT64', sample)])],
            mismatch_examples=examples[:MISMATCH_EXAMPLES])
    result['ids_are_samples'] = 'the first %d ids of each kind, by id; the counts are complete' % sample
    result['landed_check'] = scope.landed_check
    result['latency'] = _latency(queries, scope, params)
    result['throughput'] = _throughput(queries, scope, window, params, counts.get('first_event'))
    result['throughput_rps'] = result['throughput']['rows_per_s']
    result['http_requests'] = int(counts.get('attempts') or 0) if not acks_derived else None
    result['http_requests_counted'] = ('one request per record and attempt (from acks and dead letters)'
                                       if not acks_derived else 'unknown: not in the run record (see the '
                                                                'runner\'s metrics)')
    result['http_requests_per_row'] = throughput.requests_per_row(result['http_requests'], sent)
    sizes = queries.one(sizes_sql(scope), params)
    row_bytes = round(sizes['row_bytes']) if sizes.get('row_bytes') is not None else 0
    payload = round(sizes['payload_bytes']) if scope.body_fields and sizes.get('payload_bytes') is not None else 0
    paths.of(scope.path).sql_views(result, payload, prices)  # its own views (OIC's billing)
    # Priced at the stated rate (never the run's burst): see comparison.cost.stated_rate.at_rate_for.
    result['cost'] = paths.of(scope.path).cost(paths.CostInputs(
        at_rate=at_rate[0], at_rate_source=at_rate[1], row_bytes=row_bytes, payload_bytes=payload, prices=prices,
        oic_response_s=response_s))
    return result


def invalid_records(queries: Queries, dataset: DatasetSpec, run_id: str, window: Window) -> tuple:
    """(how many invalid records the run refused, the first INVALID_SHOWN as {'source', 'errors'})."""
    import json
    params = _params(run_id, window)
    count = int(queries.one(invalid_sql(dataset), params).get('n') or 0)
    first = [{'source': r['source'], 'errors': json.loads(r['errors']) if r['errors'] else [r['reason']]}
             for r in queries.rows(invalid_first_sql(dataset), params + [
                 bigquery.ScalarQueryParameter('shown', 'INT64', INVALID_SHOWN)])]
    return count, first


def oic_response_time(queries: Queries, dataset: DatasetSpec, run_id: str, window: Window,
                      timed: Sequence[str]) -> Tuple[float, str]:
    """(seconds, where from) of OIC's answer time from the answers of the paths `timed` (the run's whose answers
    size the requests in flight: paths.timing_answers), as comparison.report.oic_response_time computes it in
    memory."""
    found = queries.one(oic_response_sql(dataset), _params(run_id, window) + [
        bigquery.ArrayQueryParameter('timed', 'STRING', list(timed))])
    if found.get('n'):
        return round(float(found['mean_ms']) / 1000.0, 4), 'measured: mean of %d first-attempt answers in this run' \
            % int(found['n'])
    return sizing.DEFAULT_OIC_RESPONSE_S, 'stated: %gs (this run measured no OIC answer)' % sizing.DEFAULT_OIC_RESPONSE_S


def query_cost(queries: Queries, prices: dict, emulated: bool) -> dict:
    """What the reconciliation's queries processed and cost (on-demand analysis pricing)."""
    billed = queries.bytes_billed or queries.bytes_processed
    usd = billed / price_table.TIB * prices['bigquery_query_usd_per_tib']
    found = {'queries': queries.count, 'bytes_processed': queries.bytes_processed, 'bytes_billed': billed,
             'usd': round(usd, 6),
             'formula': '%s bytes billed ÷ 1 TiB × $%g' % (
                 '{:,}'.format(billed), prices['bigquery_query_usd_per_tib'])}
    if emulated:
        found['note'] = ('the local emulator measures no bytes (it reports 0); on BigQuery each query reads only the '
                         'columns it names in the window\'s day partitions, billed at least 10 MB per table')
    return found
