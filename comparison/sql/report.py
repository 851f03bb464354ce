"""The comparison report of a run with a run-record dataset, reconciled inside BigQuery (comparison/sql/reconcile.py),
over the run's time window or a slice of it (--since, --from/--to) while the run goes on."""

import datetime
import logging
import re
from typing import Any, Callable, List, Optional

from comparison import paths
from comparison.sql import bq_read
from comparison.cost import stated_rate
from comparison.cost import price_table
from comparison.cost import sender_requirements
from comparison.measures import throughput
from comparison.sql import reconcile as sql
from transforms import records as rec
from transforms.run_record import tables as rrt
from transforms.run_record.run_info import RunInfo
from transforms.tables import DatasetSpec, parse_dataset_spec, parse_table_spec

CLOCK_SKEW_S = 300.0  # Workers stamp event_time with their own clocks; the run's window is widened by this much.
DEFAULT_IN_FLIGHT_S = 300.0
_DURATION = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$')
_UNIT_S = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '1h', '2d' -> seconds; ValueError otherwise."""
    found = _DURATION.match(text or '')
    if not found or float(found.group(1)) <= 0:
        raise ValueError('a duration is a positive number with s, m, h or d (e.g. 1h); got %r' % text)
    return float(found.group(1)) * _UNIT_S[found.group(2)]


def parse_moment(text: str) -> datetime.datetime:
    """An ISO 8601 / RFC 3339 moment; UTC when it names no zone. ValueError otherwise."""
    try:
        return rec.parse_timestamp(text)
    except (TypeError, ValueError):
        raise ValueError('a time is ISO 8601, e.g. 2026-01-31T08:00:00Z; got %r' % text) from None


def run_window(run: RunInfo, now: datetime.datetime, since_s: Optional[float] = None,
               start: Optional[datetime.datetime] = None, end: Optional[datetime.datetime] = None,
               in_flight_s: float = DEFAULT_IN_FLIGHT_S) -> sql.Window:
    """The event_time window to compare. Default: the whole run (its start to its finish, or to now while it runs,
    widened by CLOCK_SKEW_S); --since: the last `since_s` seconds; --from/--to: as given (each clipped to the run).

    While the run goes on (no finished_at), records sent in the last `in_flight_s` seconds whose outcome is not
    known yet are in flight, not missing. ValueError when the window is empty."""
    skew = datetime.timedelta(seconds=CLOCK_SKEW_S)
    run_start = rec.parse_timestamp(run.started_at) - skew if run.started_at else None
    finished = rec.parse_timestamp(run.finished_at) if run.finished_at else None
    run_end = finished + skew if finished else now
    if since_s is not None:
        start = now - datetime.timedelta(seconds=since_s)
    start = max(start, run_start) if start and run_start else (start or run_start)
    end = min(end, run_end) if end else run_end
    if start is None:
        raise ValueError('the run record has no started_at; give --from')
    if end <= start:
        raise ValueError('the window %s .. %s is empty (the run: %s .. %s)' % (
            rec.format_timestamp(start), rec.format_timestamp(end), run.started_at,
            run.finished_at or 'running'))
    in_flight_after = None if finished else now - datetime.timedelta(seconds=in_flight_s)
    return sql.Window(start, end, in_flight_after)


def _scope(run: RunInfo, path: str, dataset) -> sql.PathScope:
    table_text = run.table(path)
    landed, check = None, 'done'
    if not run.landed_check:
        check = 'skipped: --no_landed_check'
    elif not table_text:
        check = 'skipped: no BigQuery table configured for this path'
    elif not paths.of(path).finds_rows(run):
        check = 'skipped: the seed payload carries no record_id to find rows by'
    else:
        landed = parse_table_spec(table_text)
    declared = paths.of(path)
    return sql.PathScope(run_id=run.run_id, path=path, dataset=dataset, landed=landed, landed_check=check,
                         row_fields=tuple(declared.row_fields(run)), body_fields=tuple(declared.body_fields(run)))


def layout_warnings(client: Any, run: RunInfo, dataset: DatasetSpec) -> List[str]:
    """One line for each table the comparison reads that is not partitioned and clustered as it should be."""
    found = []
    for path in run.paths:
        table = run.table(path)
        if table:
            found.append(bq_read.layout_warning(client, parse_table_spec(table)))
    for name in rrt.TABLES:
        found.append(bq_read.layout_warning(client, parse_table_spec('%s:%s.%s' % (
            dataset.project, dataset.dataset, name)), rrt.LAYOUT))
    return [w for w in found if w]


def requests_from_metrics(path: str, run: RunInfo, result: dict) -> dict:
    """The HTTP request figures the run-record tables cannot give, from the runner's metrics as the path's
    declaration counts them (sql_requests: the direct path's insertAll calls, as in memory; a batched OIC run's POSTs,
    whose records' attempts in the tables would count a batch once per record). {} when the tables' own count
    stands (OIC one record per request)."""
    counted = paths.of(path).sql_requests(run)
    if counted is None:
        return {}
    made, how = counted
    return {'http_requests': made, 'http_requests_counted': how,
            'http_requests_per_row': throughput.requests_per_row(made, result.get('sent'))}


def build_report_sql(run: RunInfo, window: sql.Window, client_factory: Callable = bq_read.make_client,
                     prices: Optional[dict] = None, sample: int = sql.SAMPLE_IDS,
                     at_rate: Optional[float] = None) -> dict:
    """The report of `run` (its run.json) over `window`, every figure computed by queries in BigQuery."""
    prices = prices or price_table.load_prices()
    rate = stated_rate.at_rate_for(run, stated_rate.check_at_rate(at_rate))
    assert run.run_record_dataset, 'the SQL reconciliation needs a run-record dataset (compare.sql_window)'
    dataset = parse_dataset_spec(run.run_record_dataset)
    client = client_factory(dataset.project, run.emulator_host)
    queries = sql.Queries(client, bq_read.deadline_for(run.emulator_host) * 4)
    warnings = layout_warnings(client, run, dataset)
    for warning in warnings:
        logging.getLogger(__name__).warning(warning)
    invalid, invalid_first = sql.invalid_records(queries, dataset, run.run_id, window)
    response_s, response_source = sql.oic_response_time(queries, dataset, run.run_id, window,
                                                        paths.timing_answers(run.paths))
    report = {
        'run_id': run.run_id, 'started_at': run.started_at, 'finished_at': run.finished_at,
        'state': run.state, 'runner': run.runner,
        'reconciliation': 'sql', 'run_record_dataset': str(dataset), 'window': window.describe(),
        'invalid': invalid, 'invalid_first': invalid_first,
        'prices': {k: v for k, v in prices.items() if not k.endswith('_note')},
        'warnings': warnings, 'paths': {}, 'sender_requirements': sender_requirements.for_report(paths.stated(run.paths)),
        'cost_at_rate': {'rate': rate[0], 'source': rate[1], 'oic_response_s': response_s,
                         'oic_response_source': response_source},
    }
    for path in run.paths:
        try:
            result = sql.reconcile_path_sql(queries, _scope(run, path, dataset), window, prices, sample, rate,
                                            response_s)
        except Exception as err:  # One path's failure (a missing table, a refused query) leaves the other standing.
            result = {'sent': 0, 'acked': 0, 'dead_lettered': 0, 'landed_check': 'failed: %s: %s' % (
                type(err).__name__, (str(err).splitlines() or [''])[0][:200])}
        result['wall_s'] = run.wall_s
        if 'sent' in result:
            result.update(requests_from_metrics(path, run, result))
        for view, why in paths.of(path).sql_skipped:  # e.g. OIC's monitoring view: in memory only
            result[view] = {'check': why}
        report['paths'][path] = result
    report['queries'] = sql.query_cost(queries, prices, bool(run.emulator_host))
    return report
