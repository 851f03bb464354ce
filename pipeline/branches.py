"""The paths a record can take to BigQuery, each recording what it sent, what was acknowledged and what failed
(pipeline/paths.py registers each one)."""

import functools
from typing import Callable, Optional

import apache_beam as beam

from pipeline.config import BigQueryConfig, OICConfig
from pipeline.path_specs import DIRECT, OIC, STORAGE_WRITE
from transforms.run_record import files as run_record
from transforms.direct.bigquery import WriteDirect
from transforms.oic.credentials import PasswordRef
from transforms.oic.post import Caller, PostToOIC
from transforms.oic.batch.post import PostBatchesToOIC
from transforms.oic.auth import CLIENT_SECRET_ENV, OAuthClient
from transforms.oic.rate_limit import GlobalRateLimit
from transforms.oic.retry import RetryPolicy
from transforms.oic.sender.settings import SenderSettings
from transforms.run_record.record_run import RecordRun
from transforms.run_record.tables import RunRecordTables
from transforms import records as rec
from transforms.storage_write import DEAD_LETTER, WRITTEN, GrpcClientFactory, WriteToBigQueryStorage, WriterOptions


class OICPath(beam.PTransform[beam.PCollection[dict], beam.PCollection[dict]]):
    """Posts records to OIC and records sent records, acknowledgements and dead letters under `out/oic/` (and in the
    run-record dataset when `tables` is given).

    Element in: a valid record dict. Out: the path's dead letters (already recorded).
    """

    def __init__(self, oic: OICConfig, out: str, caller_factory: Optional[Callable[[], Caller]] = None,
                 tables: Optional[RunRecordTables] = None):
        super().__init__()
        self._oic, self._out, self._caller_factory, self._tables = oic, out, caller_factory, tables

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        c = self._oic
        _ = records | 'RecordSent' >> RecordRun(self._out, run_record.sent_kind(OIC), self._tables)
        post: Callable[..., beam.PTransform] = functools.partial(PostToOIC, spread=c.spread == 'keys')
        url = c.url
        if c.batch_kb:  # batches of at most batch_kb KB to the batch trigger (docs/oic-batching.md)
            post = functools.partial(PostBatchesToOIC, max_kb=c.batch_kb, wait_s=c.batch_wait, streaming=c.streaming)
            url = c.batch_url or c.url
        settings = SenderSettings(
            url, c.username,
            password_ref=PasswordRef(secret=c.password_secret) if c.password_secret else PasswordRef(),
            payload_shape=c.payload, budget=c.budget,
            connect_timeout_s=c.connect_timeout, read_timeout_s=c.read_timeout,
            policy=RetryPolicy(max_attempts=c.max_attempts, deadline_s=c.deadline),
            allow_insecure_http=c.allow_insecure_http, oauth=_oauth_client(c), ca_pem=c.ca_pem,
            live_dir=self._out if run_record.is_local(self._out) else None)
        posted = records | 'Post' >> post(
            settings, caller_factory=self._caller_factory,
            rate_limit=(GlobalRateLimit.for_url(c.rate_limiter, c.rate_limit_domain, c.url)
                        if c.rate_limiter else None))
        _ = posted.acks | 'RecordAcks' >> RecordRun(self._out, run_record.acks_kind(OIC), self._tables)
        _ = posted.dead_letter | 'RecordDeadLetters' >> RecordRun(
            self._out, run_record.dead_letters_kind(OIC), self._tables)
        _ = posted.limits | 'RecordLimits' >> RecordRun(self._out, run_record.limits_kind(OIC))
        return posted.dead_letter


def _oauth_client(c: OICConfig) -> Optional[OAuthClient]:
    """The OAuth client of an --oic_auth oauth run (its secret read on the workers), else None."""
    if c.auth != 'oauth' or not (c.token_url and c.client_id and c.scope):
        return None
    where = (PasswordRef(env=None, secret=c.client_secret_secret, what='the OAuth client secret')
             if c.client_secret_secret else PasswordRef(env=CLIENT_SECRET_ENV, what='the OAuth client secret'))
    return OAuthClient(c.token_url, c.client_id, c.scope, where)


class DirectPath(beam.PTransform[beam.PCollection[dict], beam.PCollection[dict]]):
    """Streams records into the direct table and records sent records and refused rows under `out/direct/` (and in
    the run-record dataset when `tables` is given).

    Element in: a valid record dict. Out: the rows BigQuery refused, as dead letters (already recorded).
    """

    def __init__(self, bigquery: BigQueryConfig, out: str, write: Optional[beam.PTransform] = None,
                 tables: Optional[RunRecordTables] = None):
        """`write` replaces the BigQuery write (element in: a record; out: dead letters), e.g. with a fake in tests."""
        super().__init__()
        self._bigquery, self._out, self._write, self._tables = bigquery, out, write, tables

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        c = self._bigquery
        _ = records | 'RecordSent' >> RecordRun(self._out, run_record.sent_kind(DIRECT), self._tables)
        write = self._write
        if write is None:
            table = c.table(DIRECT)
            assert table is not None, 'the direct path needs its table (config.resolve gives it one)'
            write = WriteDirect(table, emulator_host=c.emulator_host, method=c.direct_method)
        failed = records | 'Write' >> write
        _ = failed | 'RecordDeadLetters' >> RecordRun(self._out, run_record.dead_letters_kind(DIRECT), self._tables)
        return failed


class StorageWritePath(beam.PTransform[beam.PCollection[dict], beam.PCollection[dict]]):
    """Writes records to the storage_write table through the Storage Write API (transforms/storage_write, exactly
    once) and records sent records, each append's acknowledgement and refused rows under `out/storage_write/` (sent
    and dead letters also in the run-record dataset when `tables` is given).

    Element in: a valid record dict. Out: the rows the writer or BigQuery refused, as dead letters (already recorded).
    """

    def __init__(self, bigquery: BigQueryConfig, out: str, write: Optional[beam.PTransform] = None,
                 tables: Optional[RunRecordTables] = None):
        """`write` replaces the writer (element in: a row; out: {'written', 'dead_letter'}), e.g. with a fake."""
        super().__init__()
        self._bigquery, self._out, self._write, self._tables = bigquery, out, write, tables

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        c, name = self._bigquery, STORAGE_WRITE
        _ = records | 'RecordSent' >> RecordRun(self._out, run_record.sent_kind(name), self._tables)
        write = self._write
        if write is None:
            table = c.table(name)
            assert table is not None, 'the storage_write path needs its table (config.resolve)'
            write = WriteToBigQueryStorage(str(table), rec.BIGQUERY_SCHEMA,
                                           client_factory=GrpcClientFactory(c.emulator_grpc_host),
                                           options=WriterOptions(max_buffering_s=c.storage_write_wait))
        result = records | 'Write' >> write
        _ = result[WRITTEN] | 'RecordAppends' >> RecordRun(self._out, run_record.appends_kind(name))
        failed = result[DEAD_LETTER] | 'AsDeadLetters' >> beam.Map(storage_write_dead_letter)
        _ = failed | 'RecordDeadLetters' >> RecordRun(self._out, run_record.dead_letters_kind(name), self._tables)
        return failed


def storage_write_dead_letter(letter: dict) -> dict:
    """The writer's {'table', 'row', 'reason', 'detail'} -> the run's dead-letter shape (transforms.records)."""
    row = letter.get('row') if isinstance(letter.get('row'), dict) else {}
    return rec.make_dead_letter(STORAGE_WRITE, row, 'storage_write_' + str(letter.get('reason')),
                                detail=str(letter.get('detail') or ''), table=letter.get('table'))
