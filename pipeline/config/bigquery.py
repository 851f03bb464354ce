"""The BigQuery piece: the tables of both paths and of dead letters, the emulator, the direct write method."""

import dataclasses
import re
from typing import Dict, Optional, Sequence

from pipeline.config.errors import UsageError
from pipeline.flags import DEFAULT_STORAGE_WRITE_WAIT_S
from pipeline.options import WarehouseOptions
from transforms.direct.bigquery import check_method
from transforms.storage_write.options import WriterOptions
from transforms.tables import DatasetSpec, TableSpec, parse_dataset_spec, parse_table_spec

EMULATOR_PATTERN = re.compile(r'^https?://[^/\s]+$')
GRPC_HOST_PATTERN = re.compile(r'^[^/\s:]+:\d{1,5}$')
GCS_PATTERN = re.compile(r'^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$')


@dataclasses.dataclass(frozen=True)
class BigQueryConfig:
    """Validated BigQuery settings. A table is None when its path does not run (or cannot be read back)."""
    oic_table: Optional[TableSpec]
    direct_table: Optional[TableSpec]
    dead_letter_table: Optional[TableSpec]
    emulator_host: Optional[str]
    direct_method: str
    landed_check: bool
    probe_interval: float
    run_record_dataset: Optional[DatasetSpec] = None  # Where the run record is also streamed (None: files only).
    storage_write_table: Optional[TableSpec] = None
    emulator_grpc_host: Optional[str] = None  # HOST:PORT of the emulator's Storage Write API (None: real BigQuery)
    storage_write_wait: float = DEFAULT_STORAGE_WRITE_WAIT_S  # s of event time a row waits for its append (stream)

    @property
    def tables(self) -> Dict[str, Optional[TableSpec]]:
        """Each path's table by path name (None: not written or not read back)."""
        return {'oic': self.oic_table, 'direct': self.direct_table, 'storage_write': self.storage_write_table}


def table(flag: str, text: str, project: Optional[str]) -> TableSpec:
    """A table spec, or UsageError naming the flag."""
    try:
        return parse_table_spec(text, project)
    except ValueError as err:
        raise UsageError('%s: %s' % (flag, err)) from None


def check_direct_method(method: str, streaming: bool, emulator: Optional[str], temp_location: Optional[str]) -> None:
    """Raises UsageError when the direct branch's write method cannot work with these flags (the rule itself is
    transforms.direct.bigquery.check_method; FILE_LOADS also needs a gs:// temp location)."""
    try:
        check_method(method, bool(emulator), streaming)
    except ValueError as err:
        raise UsageError('--direct_method: %s' % err) from None
    if method == 'FILE_LOADS' and not GCS_PATTERN.match(temp_location or ''):
        raise UsageError('--direct_method FILE_LOADS stages files in GCS: pass --temp_location gs://BUCKET/tmp')


def check_real_table(flag: str, spec: Optional[TableSpec]) -> None:
    """Raises UsageError unless real BigQuery (and Beam) would take the table spec."""
    if spec is None:
        return
    from apache_beam.io.gcp.bigquery_tools import parse_table_reference
    try:
        parse_table_reference(str(spec))
    except ValueError:
        raise UsageError('%s: %s is not a valid BigQuery table (PROJECT:DATASET.TABLE; project ids are '
                         'lowercase letters, digits and hyphens)' % (flag, spec)) from None


def resolve_bigquery(flags: WarehouseOptions, paths: Sequence[str], streaming: bool, project: Optional[str],
                     temp_location: Optional[str]) -> BigQueryConfig:
    """The BigQuery piece from WarehouseOptions `flags`; UsageError on any mistake."""
    if flags.probe_interval < 0:
        raise UsageError('--probe_interval must be >= 0 (0 = no probe)')
    emulator = flags.bigquery_emulator_host
    if emulator and not EMULATOR_PATTERN.match(emulator):
        raise UsageError('BIGQUERY_EMULATOR_HOST/--bigquery_emulator_host must be like http://127.0.0.1:9050 '
                         '(scheme included, no path); got %r' % emulator)
    project = flags.bq_project or project
    direct_table = table('--direct_table', flags.direct_table, project) if 'direct' in paths else None
    # OIC writes the OIC table itself; the pipeline only reads it to compare, so without a project it is skipped.
    oic_project = project or (direct_table.project if direct_table else None)
    oic_table = table('--oic_table', flags.oic_table, oic_project) if flags.oic_table and (
        oic_project or ':' in flags.oic_table or flags.oic_table.count('.') == 2) else None
    storage_write_table = table('--storage_write_table', flags.storage_write_table, project) \
        if 'storage_write' in paths else None
    grpc_host = flags.bigquery_emulator_grpc_host
    if 'storage_write' in paths and grpc_host and not GRPC_HOST_PATTERN.match(grpc_host):
        raise UsageError('BIGQUERY_EMULATOR_GRPC_HOST/--bigquery_emulator_grpc_host must be HOST:PORT, e.g. '
                         '127.0.0.1:9060 (no scheme); got %r' % grpc_host)
    if 'storage_write' in paths and grpc_host and not emulator:  # half on the emulator, half on BigQuery (or Dataflow)
        raise UsageError('--bigquery_emulator_grpc_host (BIGQUERY_EMULATOR_GRPC_HOST) is set but the emulator\'s REST '
                         'address is not: unset it to write to real BigQuery, or set --bigquery_emulator_host too')
    if 'storage_write' in paths and emulator and not grpc_host:
        raise UsageError('the storage_write path on the emulator needs its gRPC address: '
                         '--bigquery_emulator_grpc_host HOST:PORT (the local stack sets BIGQUERY_EMULATOR_GRPC_HOST)')
    if 'storage_write' in paths and not flags.storage_write_wait > 0:
        raise UsageError('--storage_write_wait must be > 0 (seconds): with 0 a row in a stream would wait until '
                         '%d rows filled a batch or the stream drained' % WriterOptions().batch_rows)
    if 'direct' in paths:
        check_direct_method(flags.direct_method, streaming, emulator, temp_location)
    if not emulator:
        for flag, spec in (('--direct_table', direct_table), ('--oic_table', oic_table),
                           ('--storage_write_table', storage_write_table)):
            check_real_table(flag, spec)
    dead_letter_table = table('--dead_letter_table', flags.dead_letter_table, oic_project) \
        if flags.dead_letter_table else None
    run_record_dataset = None
    if flags.run_record_dataset:
        try:
            run_record_dataset = parse_dataset_spec(flags.run_record_dataset, oic_project)
        except ValueError as err:
            raise UsageError('--run_record_dataset: %s' % err) from None
    return BigQueryConfig(oic_table=oic_table, direct_table=direct_table, dead_letter_table=dead_letter_table,
                          emulator_host=emulator, direct_method=flags.direct_method,
                          landed_check=not flags.no_landed_check, probe_interval=flags.probe_interval,
                          run_record_dataset=run_record_dataset, storage_write_table=storage_write_table,
                          emulator_grpc_host=grpc_host if 'storage_write' in paths else None,
                          storage_write_wait=float(flags.storage_write_wait))
