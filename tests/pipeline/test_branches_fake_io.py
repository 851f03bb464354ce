"""PostToOIC, OICPath and DirectPath on literal records with fake I/O (no HTTP server, no BigQuery): TestPipeline and
assert_that, fast. The same transforms run against the real local services in test_pipeline_local.py."""


import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from pipeline.branches import DirectPath, OICPath
from pipeline.config import BigQueryConfig, OICConfig
from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.oic.budget import Budget
from transforms.oic.post import OICAuthError, PostToOIC, SpreadOverKeys
from transforms.oic.sender.settings import resolve
from transforms.oic.caller import Outcome

URL = 'http://127.0.0.1:9/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records'
RECORDS = [rec.make_record(seed=7, run_id='fake-run', index=i) for i in range(6)]


class FakeCaller:
    """Accepts every record whose Item_id is even; refuses the others with HTTP 400. Picklable, no network."""

    def call(self, record):
        if record['Item_id'] % 2 == 0:
            return Outcome('ack', 200, attempts=1, latency_s=0.01)
        return Outcome('dead', 400, attempts=1, latency_s=0.01, reason='http_400', detail='bad payload')

    def close(self):
        pass


class RefusingCaller(FakeCaller):
    """OIC refuses the credentials for every record."""

    def call(self, record):
        return Outcome('auth', 401, attempts=1, latency_s=0.01, reason='http_401')


def _ids(records, accepted):
    return sorted(r['record_id'] for r in records if (r['Item_id'] % 2 == 0) == accepted)


def test_post_to_oic_splits_acks_and_dead_letters():
    with TestPipeline() as pipeline:
        posted = (pipeline | beam.Create(RECORDS)
                  | PostToOIC(resolve(URL, 'user', concurrency=2), caller_factory=FakeCaller))
        assert_that(posted.acks | 'AckIds' >> beam.Map(lambda a: a['record_id']),
                    equal_to(_ids(RECORDS, True)), label='acks')
        assert_that(posted.dead_letter | 'DeadIds' >> beam.Map(lambda d: (d['record_id'], d['reason'], d['path'])),
                    equal_to([(i, 'http_400', 'oic') for i in _ids(RECORDS, False)]), label='dead')


def test_post_to_oic_stops_the_run_when_oic_refuses_the_credentials():
    with pytest.raises(OICAuthError, match='refused the credentials'):
        with TestPipeline() as pipeline:
            _ = pipeline | beam.Create(RECORDS) | PostToOIC(resolve(URL, 'user'), caller_factory=RefusingCaller)


def test_post_to_oic_keeps_the_url_rule_with_a_fake_caller():
    with pytest.raises(ValueError, match='plain http'):
        PostToOIC(resolve('http://oic.example.com/x', 'user'), caller_factory=FakeCaller)


def _oic_config(budget=Budget('adaptive', 4), spread='none'):
    return OICConfig(url=URL, username='user', password_secret=None, payload='extended',
                     budget=budget, spread=spread, connect_timeout=1.0, read_timeout=1.0, max_attempts=2,
                     deadline=5.0, allow_insecure_http=False, rate_limiter=None, rate_limit_domain='oic')


def _recorded(out, kind):
    return sorted(r['record_id'] for r in run_record.read_records(out, kind))


def test_oic_path_records_what_it_sent_acked_and_dead_lettered(tmp_path):
    out = str(tmp_path)
    with TestPipeline() as pipeline:
        dead = pipeline | beam.Create(RECORDS) | OICPath(_oic_config(), out, caller_factory=FakeCaller)
        assert_that(dead | beam.Map(lambda d: d['record_id']), equal_to(_ids(RECORDS, False)))
    assert _recorded(out, run_record.sent_kind('oic')) == sorted(r['record_id'] for r in RECORDS)
    assert _recorded(out, run_record.acks_kind('oic')) == _ids(RECORDS, True)
    assert _recorded(out, run_record.dead_letters_kind('oic')) == _ids(RECORDS, False)


@pytest.mark.parametrize('keys', [1, 3])
def test_oic_path_spread_over_its_posting_keys_settles_every_record_once(keys, tmp_path):
    # Dataflow's per-record shape: records move to their posting key's process (SpreadOverKeys), then post.
    out = str(tmp_path)
    config = _oic_config(Budget('fixed', 4, posting_keys=keys), spread='keys')
    with TestPipeline() as pipeline:
        dead = pipeline | beam.Create(RECORDS) | OICPath(config, out, caller_factory=FakeCaller)
        assert_that(dead | beam.Map(lambda d: d['record_id']), equal_to(_ids(RECORDS, False)))
    assert _recorded(out, run_record.acks_kind('oic')) == _ids(RECORDS, True)


def test_the_keyed_spread_moves_records_unchanged_and_keeps_their_timestamps():
    stamped = [window.TimestampedValue(record, 100 + i) for i, record in enumerate(RECORDS)]
    with TestPipeline() as pipeline:
        moved = (pipeline | beam.Create(stamped) | SpreadOverKeys(2)
                 | beam.Map(lambda r, t=beam.DoFn.TimestampParam: (r['record_id'], int(t))))
        assert_that(moved, equal_to([(r['record_id'], 100 + i) for i, r in enumerate(RECORDS)]))


class _FakeWrite(beam.PTransform):
    """Stands in for WriteDirect: BigQuery 'refuses' rows with an odd Item_id, as dead letters."""

    def expand(self, records):
        return (records | beam.Filter(lambda r: r['Item_id'] % 2)
                | beam.Map(lambda r: rec.make_dead_letter('direct', r, 'bigquery_invalid', detail='refused')))


def test_direct_path_records_what_it_sent_and_what_bigquery_refused(tmp_path):
    out = str(tmp_path)
    bigquery = BigQueryConfig(tables={}, dead_letter_table=None, emulator_host=None,
                              direct_method='STREAMING_INSERTS', landed_check=False, probe_interval=0.0)
    with TestPipeline() as pipeline:
        dead = pipeline | beam.Create(RECORDS) | DirectPath(bigquery, out, write=_FakeWrite())
        assert_that(dead | beam.Map(lambda d: (d['record_id'], d['reason'])),
                    equal_to([(i, 'bigquery_invalid') for i in _ids(RECORDS, False)]))
    assert _recorded(out, run_record.sent_kind('direct')) == sorted(r['record_id'] for r in RECORDS)
    letters = run_record.read_records(out, run_record.dead_letters_kind('direct'))
    # The one dead-letter shape, spelled out here rather than taken from make_dead_letter (which the fake used).
    assert sorted(letters[0]) == ['attempts', 'detail', 'error_time', 'errors', 'line', 'path', 'reason', 'record',
                                  'record_id', 'source', 'status', 'table']
