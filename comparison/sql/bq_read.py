"""Reads back what landed in BigQuery (or the emulator), scoped to the record ids a run sent."""

import datetime
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from google.cloud import bigquery

from transforms import records as rec
from transforms.tables import DATA_LAYOUT, Layout, TableSpec

ID_CHUNK = 10000
# Give up on an unreachable BigQuery instead of the client's 10-minute default retry.
DEADLINE_S = 180.0
EMULATOR_DEADLINE_S = 15.0  # The emulator answers at once or not at all.


def deadline_for(emulator_host: Optional[str]) -> float:
    return EMULATOR_DEADLINE_S if emulator_host else DEADLINE_S


def make_client(project: Optional[str], emulator_host: Optional[str] = None) -> bigquery.Client:
    """A google-cloud-bigquery Client: anonymous against an emulator, Application Default Credentials otherwise."""
    if emulator_host:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                               client_options=ClientOptions(api_endpoint=emulator_host))
    return bigquery.Client(project=project)


def layout_warning(client: Any, table: TableSpec, layout: Layout = DATA_LAYOUT) -> Optional[str]:
    """The one-line cost warning for a table that is not partitioned and clustered as this project's are (None
    when it is, or when the table cannot be read: the queries will say why)."""
    try:
        return layout.warning(client.get_table(table.dotted, retry=bigquery.DEFAULT_RETRY.with_deadline(30)))
    except Exception:  # Missing table, no permission: the reconciliation's own queries report it.
        return None


def event_window(event_times: Iterable[Any]) -> Optional[Tuple[datetime.datetime, datetime.datetime]]:
    """(first, last) event_time of the records a run sent, as datetimes; None when there are none."""
    moments = rec.parse_timestamps(event_times)
    return (moments[0], moments[-1]) if moments else None


def fetch_rows(client: Any, table: TableSpec, record_ids: Iterable[Optional[str]], columns: Sequence[str] = rec.FIELDS,
               deadline: float = DEADLINE_S, window: Optional[Tuple[Any, Any]] = None) -> List[dict]:
    """Every row of `table` (a TableSpec) whose record_id is among `record_ids`, as dicts (duplicates kept).

    window: (first, last) event_time of the run (datetimes): the query then reads only the partitions of those days.
    """
    ids = sorted(set(i for i in record_ids if i))
    found: list = []
    select = ', '.join('`%s`' % c for c in columns)
    where, window_params = 'record_id IN UNNEST(@ids)', []
    if window:
        where += ' AND event_time BETWEEN @window_start AND @window_end'
        window_params = [bigquery.ScalarQueryParameter('window_start', 'TIMESTAMP', window[0]),
                         bigquery.ScalarQueryParameter('window_end', 'TIMESTAMP', window[1])]
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start:start + ID_CHUNK]
        job = client.query(
            'SELECT %s FROM `%s` WHERE %s' % (select, table.dotted, where),
            job_config=bigquery.QueryJobConfig(
                query_parameters=[bigquery.ArrayQueryParameter('ids', 'STRING', chunk)] + window_params),
            retry=bigquery.DEFAULT_RETRY.with_deadline(deadline), job_retry=None, timeout=deadline)
        # A per-request timeout as well as the retry deadline: a server that takes the connection and never answers
        # (bqemulator can) would otherwise hold the report forever.
        found.extend(dict(row) for row in job.result(retry=bigquery.DEFAULT_RETRY.with_deadline(deadline),
                                                     timeout=deadline))
    return found
