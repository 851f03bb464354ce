"""The time-to-queryable probe's incremental poll (a fake BigQuery, no clock): it reads only rows at or above its
watermark, and of those only the event-time slices whose count changed; it falls back to reading every row when one
landed below the watermark, and sees every row in the same poll as the whole-table read it replaced."""

import collections
import datetime
import json
import re

import pytest
from google.cloud import bigquery

from transforms.run_record.run_info import RunInfo
from comparison import probe as probe_mod

T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


class FakeTable:
    """A table of (record_id, event_time) answering its parts of the probe's queries the way BigQuery would.
    `queries`: each part asked of it, ('incremental' or 'full', {'since', 'mark'}); `returned`: the rows each
    part returned (the emulator's cost grows with them)."""

    def __init__(self):
        self.rows, self.queries, self.returned = [], [], []

    def answer(self, path, part, params):
        found = self._answer(path, part, params)
        self.returned.append(sum(1 for row in found if row['record_id']))
        return found

    def _answer(self, path, part, params):
        marks = re.findall(r'event_time >= @(mark\d+)', part)
        if marks:
            mark, known = params[marks[0]], set(params[re.search(r'UNNEST\(@(known\d+)\)', part).group(1)])
            self.queries.append(('incremental', {'since': params['since'], 'mark': mark}))
            counts = collections.Counter(probe_mod.slice_of(t) for _, t in self.rows if t >= mark)
            changed = {n for n, c in counts.items() if '%d:%d' % (n, c) not in known}
            above = [{'path': path, 'record_id': r, 'event_time': t, 'below': None}
                     for r, t in self.rows if t >= mark and probe_mod.slice_of(t) in changed]
            count = sum(1 for _, t in self.rows if params['since'] <= t < mark)
            return above + [{'path': path, 'record_id': None, 'event_time': None, 'below': count}]
        self.queries.append(('full', {'since': params['since']}))
        return [{'path': path, 'record_id': r, 'event_time': t, 'below': None}
                for r, t in self.rows if t >= params['since']]


class FakeBigQuery:
    """Tables by name; a query is one part per table (joined by UNION ALL lines), each answered by its table."""

    def __init__(self, **tables):
        self.tables, self.jobs = tables, 0

    def query(self, sql, job_config, **_):
        self.jobs += 1
        params = {p.name: p.values if isinstance(p, bigquery.ArrayQueryParameter) else p.value
                  for p in job_config.query_parameters}
        answer = []
        for part in sql.split('\nUNION ALL\n'):
            path = re.match(r"SELECT '(\w+)'", part).group(1)
            name = re.search(r'FROM `([^`]+)`', part).group(1)
            answer += self.tables[name].answer(path, part, params)
        return type('Job', (), {'result': lambda self, **_: answer})()


def make_probe(tmp_path, tables=None):
    tables = tables or {'oic': 'p:d.t'}
    run = RunInfo(paths=tuple(tables), tables=tables, started_at='2026-12-01T12:00:00Z')
    probe = probe_mod.Probe(str(tmp_path), run)
    probe._file = open(tmp_path / 'probe.jsonl', 'a', encoding='utf-8')
    return probe


@pytest.fixture
def now(monkeypatch):
    """The polls' start and end: a clock the test moves (now[0] = at(seconds))."""
    moment = [at(0)]
    monkeypatch.setattr(probe_mod.rec, 'utc_now', lambda: moment[0])
    return moment


def summary_at_exit(probe, tmp_path):
    """What the probe writes to probe.json when it stops."""
    probe._file.close()
    probe._write_summary()
    return json.loads((tmp_path / 'probe.json').read_text())


def sightings(tmp_path):
    return [json.loads(line)['record_id'] for line in (tmp_path / 'probe.jsonl').read_text().splitlines()]


def test_polls_read_from_the_watermark_and_a_late_row_is_still_seen_at_once(tmp_path, now):
    table = FakeTable()
    probe, client = make_probe(tmp_path), FakeBigQuery(**{'p.d.t': table})
    table.rows = [('old', at(-5))] + [('r%d' % i, at(i * 0.1)) for i in range(10)]  # 'old': before the run
    now[0] = at(1)
    probe._poll_all(client)
    assert table.queries[-1][0] == 'full' and sightings(tmp_path) == ['r%d' % i for i in range(10)]
    # Time passes: rows keep landing just behind "now"; the watermark trails the newest by the lag.
    for second in range(2, 40):
        now[0] = at(second)
        table.rows.append(('s%d' % second, at(second - 0.5)))
        probe._poll_all(client)
        assert sightings(tmp_path)[-1] == 's%d' % second  # seen by the poll right after it landed
    kinds = [kind for kind, _ in table.queries]
    assert kinds.count('full') == 1
    mark = table.queries[-1][1]['mark']  # set by the poll before: its start less the lag
    assert mark == at(38) - datetime.timedelta(seconds=probe_mod.WATERMARK_LAG_MIN_S)
    # A retried row lands late, far below the watermark: the count differs, that poll reads everything.
    table.rows.append(('late', at(3)))
    now[0] = at(40)
    probe._poll_all(client)
    assert sightings(tmp_path)[-1] == 'late'
    assert [kind for kind, _ in table.queries[-2:]] == ['incremental', 'full']
    # A duplicate of a seen row above the watermark changes nothing; the next polls are incremental again.
    table.rows.append(('s39', at(38.5)))
    now[0] = at(41)
    probe._poll_all(client)
    assert table.queries[-1][0] == 'incremental'
    assert len(sightings(tmp_path)) == len(set(sightings(tmp_path))) == 10 + 38 + 1
    summary = summary_at_exit(probe, tmp_path)
    assert (summary['polls'], summary['full_reads'], summary['errors']) == (41, 2, 0)


def test_the_lag_grows_with_the_slowest_landing(tmp_path, now):
    table = FakeTable()
    probe, client = make_probe(tmp_path), FakeBigQuery(**{'p.d.t': table})
    table.rows = [('slow', at(1))]
    now[0] = at(31)  # first seen 30 s after its event time
    probe._poll_all(client)
    first_mark = at(31 - probe_mod.WATERMARK_LAG_MIN_S)  # set before the slow row was known
    now[0] = at(32)
    probe._poll_all(client)
    assert table.queries[-1][1]['mark'] == first_mark
    now[0] = at(80)
    probe._poll_all(client)
    assert table.queries[-1][1]['mark'] == first_mark  # 32 - 2 x 30 s: the watermark never moves down
    now[0] = at(95)
    probe._poll_all(client)
    assert table.queries[-1][1]['mark'] == first_mark  # set at 80: 80 - 60 s, still below it
    now[0] = at(96)
    probe._poll_all(client)
    assert table.queries[-1][1]['mark'] == at(95 - 60)  # now 2 x 30 s behind the poll
    assert sightings(tmp_path) == ['slow']
    assert [kind for kind, _ in table.queries] == ['full'] + ['incremental'] * 4


def test_every_table_is_polled_in_one_query_and_only_a_table_with_a_late_row_is_read_whole(tmp_path, now):
    oic, direct = FakeTable(), FakeTable()
    client = FakeBigQuery(**{'p.d.oic': oic, 'p.d.direct': direct})
    probe = make_probe(tmp_path, {'oic': 'p:d.oic', 'direct': 'p:d.direct'})
    for second in range(1, 21):
        now[0] = at(second)
        oic.rows.append(('o%d' % second, at(second - 0.5)))
        direct.rows.append(('d%d' % second, at(second - 0.5)))
        probe._poll_all(client)
        assert sightings(tmp_path)[-2:] == ['o%d' % second, 'd%d' % second]  # both seen by the poll after
    assert client.jobs == 20  # one job a poll for both tables
    assert [kind for kind, _ in oic.queries] == [kind for kind, _ in direct.queries] == ['full'] + ['incremental'] * 19
    direct.rows.append(('late', at(2)))  # far below the watermark: direct's count changes
    now[0] = at(21)
    probe._poll_all(client)
    assert client.jobs == 22 and sightings(tmp_path)[-1] == 'late'
    assert oic.queries[-1][0] == 'incremental' and [kind for kind, _ in direct.queries[-2:]] == ['incremental', 'full']
    summary = summary_at_exit(probe, tmp_path)
    assert (summary['polls'], summary['full_reads'], summary['errors']) == (42, 3, 0)


def test_a_steady_stream_is_read_about_once_a_row_not_once_a_poll_for_the_whole_lag(tmp_path, now):
    table = FakeTable()
    probe, client = make_probe(tmp_path), FakeBigQuery(**{'p.d.t': table})
    landed = 0
    for poll in range(1, 61):  # 30 s of 200 rows/s, landing 0.3 s after their event time, polled every 0.5 s
        now[0] = at(poll * 0.5)
        while landed * 0.005 + 0.3 <= poll * 0.5:
            table.rows.append(('r%d' % landed, at(landed * 0.005)))
            landed += 1
        probe._poll_all(client)
        assert (tmp_path / 'probe.jsonl').read_text().count('\n') == landed  # each seen by the poll after it landed
    assert landed > 5900 and len(set(sightings(tmp_path))) == landed
    # Reading every row above the watermark (10 s behind) each poll returned ~2,000 rows a poll; slices whose count
    # changed return the last 0.5 s of rows and the slice each end: ~150.
    assert max(table.returned[1:]) <= 200 and sum(table.returned) < 1.5 * landed
    # A row landing late in a slice above the watermark is read with its slice only; a duplicate is no new sighting.
    table.rows += [('late', at(25.1)), ('r5000', at(25.0))]
    now[0] = at(30.5)
    probe._poll_all(client)
    assert sightings(tmp_path)[-1] == 'late' and table.returned[-1] == 50 + 2 and table.queries[-1][0] == 'incremental'
