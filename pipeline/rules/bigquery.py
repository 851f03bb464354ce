"""BigQuery's rules: each run path's table (from its declaration in pipeline/path_specs.py), the dead-letter table,
the run-record dataset, the emulator's addresses and the table probe (check_bigquery runs them all)."""

import dataclasses
import re
from typing import Dict, Mapping, Optional, Sequence, Tuple

from pipeline.flags import FlagValues
from pipeline.path_specs import GRPC, SPECS, STORAGE_WRITE, spec_of
from pipeline.rules.errors import UsageError
from transforms.tables import DatasetSpec, TableSpec, parse_dataset_spec, parse_table_spec

EMULATOR_PATTERN = re.compile(r'^https?://[^/\s]+$')
GRPC_HOST_PATTERN = re.compile(r'^[^/\s:]+:\d{1,5}$')


@dataclasses.dataclass(frozen=True)
class BigQueryChecks:
    """What checking BigQuery's flags found. tables: every declared path's table, None when the path does not run (or,
    for a table another system writes, when it cannot be read back for want of a project)."""
    tables: Mapping[str, Optional[TableSpec]]
    dead_letter_table: Optional[TableSpec]
    run_record_dataset: Optional[DatasetSpec]
    emulator_host: Optional[str]
    emulator_grpc_host: Optional[str]  # HOST:PORT of the emulator's Storage Write API, when a run path writes through it


def table(flag: str, text: str, project: Optional[str]) -> TableSpec:
    """A table spec, or UsageError naming the flag."""
    try:
        return parse_table_spec(text, project)
    except ValueError as err:
        raise UsageError('%s: %s' % (flag, err)) from None


def path_tables(flags: FlagValues, paths: Sequence[str],
                project: Optional[str]) -> Tuple[Dict[str, Optional[TableSpec]], Optional[str]]:
    """Each declared path's table by name, in the declarations' order, and the project of the tables and datasets
    the run only reads or adds (`lender`: `project`, else that of the first table the pipeline writes).

    A table the pipeline writes: for a path that runs, with `project` when its spec has none. A table another
    system writes (OIC's): whenever it can be read back, i.e. its spec names a project or `lender` is known."""
    written = {spec.name: table('--' + spec.table_flag, getattr(flags, spec.table_flag), project)
               for spec in SPECS if spec.written_by_pipeline and spec.name in paths}
    lender = project or next((t.project for t in written.values()), None)
    tables: Dict[str, Optional[TableSpec]] = {}
    for spec in SPECS:
        if spec.written_by_pipeline:
            tables[spec.name] = written.get(spec.name)
            continue
        text = getattr(flags, spec.table_flag)
        readable = text and (lender or ':' in text or text.count('.') == 2)
        tables[spec.name] = table('--' + spec.table_flag, text, lender) if readable else None
    return tables, lender


def grpc_paths(paths: Sequence[str]) -> Tuple[str, ...]:
    """The paths of `paths` whose declaration writes their table through the Storage Write API (gRPC)."""
    return tuple(name for name in paths if spec_of(name).writes_through == GRPC)


def check_emulator(flags: FlagValues, paths: Sequence[str]) -> None:
    """The emulator's REST address (with scheme) and, for a path written through the Storage Write API (the
    storage_write path), its gRPC address: both or neither."""
    emulator, grpc_host = flags.bigquery_emulator_host, flags.bigquery_emulator_grpc_host
    if emulator and not EMULATOR_PATTERN.match(emulator):
        raise UsageError('BIGQUERY_EMULATOR_HOST/--bigquery_emulator_host must be like http://127.0.0.1:9050 '
                         '(scheme included, no path); got %r' % emulator)
    through_grpc = grpc_paths(paths)
    if not through_grpc:
        return
    if grpc_host and not GRPC_HOST_PATTERN.match(grpc_host):
        raise UsageError('BIGQUERY_EMULATOR_GRPC_HOST/--bigquery_emulator_grpc_host must be HOST:PORT, e.g. '
                         '127.0.0.1:9060 (no scheme); got %r' % grpc_host)
    if grpc_host and not emulator:  # half on the emulator, half on BigQuery (or Dataflow)
        raise UsageError('--bigquery_emulator_grpc_host (BIGQUERY_EMULATOR_GRPC_HOST) is set but the emulator\'s REST '
                         'address is not: unset it to write to real BigQuery, or set --bigquery_emulator_host too')
    if emulator and not grpc_host:
        raise UsageError('the %s path on the emulator needs its gRPC address: '
                         '--bigquery_emulator_grpc_host HOST:PORT (the local stack sets BIGQUERY_EMULATOR_GRPC_HOST)'
                         % through_grpc[0])


def check_bigquery(flags: FlagValues, paths: Sequence[str], project: Optional[str]) -> BigQueryChecks:
    """Every rule of BigQuery's flags that needs no Beam, in order, with `project` Beam's --project; UsageError on
    the first mistake. (Whether real BigQuery takes a table, and the direct path's write method, are
    pipeline/config/bigquery.py's: they ask Beam.)"""
    if flags.probe_interval < 0:
        raise UsageError('--probe_interval must be >= 0 (0 = no probe)')
    check_emulator(flags, paths)
    if STORAGE_WRITE in paths and not flags.storage_write_wait > 0:
        raise UsageError('--storage_write_wait must be > 0 (seconds): with 0 a row in a stream would wait until its '
                         'batch filled or the stream drained')
    project = flags.bq_project or project
    tables, lender = path_tables(flags, paths, project)
    dead_letter_table = table('--dead_letter_table', flags.dead_letter_table, lender) \
        if flags.dead_letter_table else None
    run_record_dataset = None
    if flags.run_record_dataset:
        try:
            run_record_dataset = parse_dataset_spec(flags.run_record_dataset, lender)
        except ValueError as err:
            raise UsageError('--run_record_dataset: %s' % err) from None
    return BigQueryChecks(tables, dead_letter_table, run_record_dataset, flags.bigquery_emulator_host,
                          flags.bigquery_emulator_grpc_host if grpc_paths(paths) else None)
