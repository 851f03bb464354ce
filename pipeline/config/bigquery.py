"""The BigQuery piece: each path's table and that of dead letters, the emulator, the direct write method. The rules
that need no Beam are pipeline/rules/bigquery.py's; what asks Beam (a table real BigQuery would take, the direct
path's write method) is here."""

import dataclasses
import re
from typing import Mapping, Optional, Sequence

from pipeline.flags import DEFAULT_STORAGE_WRITE_WAIT_S
from pipeline.options import WarehouseOptions
from pipeline.path_specs import DIRECT, spec_of
from pipeline.rules.bigquery import BigQueryChecks
from pipeline.rules.errors import UsageError
from transforms.direct.bigquery import check_method
from transforms.tables import DatasetSpec, TableSpec

GCS_PATTERN = re.compile(r'^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$')


@dataclasses.dataclass(frozen=True)
class BigQueryConfig:
    """Validated BigQuery settings. tables: every declared path's table by name (pipeline/path_specs.py), None when
    the path does not run (or its table cannot be read back)."""
    tables: Mapping[str, Optional[TableSpec]]
    dead_letter_table: Optional[TableSpec]
    emulator_host: Optional[str]
    direct_method: str
    landed_check: bool
    probe_interval: float
    run_record_dataset: Optional[DatasetSpec] = None  # Where the run record is also streamed (None: files only).
    emulator_grpc_host: Optional[str] = None  # HOST:PORT of the emulator's Storage Write API (None: real BigQuery)
    storage_write_wait: float = DEFAULT_STORAGE_WRITE_WAIT_S  # s of event time a row waits for its append (stream)

    def table(self, path: str) -> Optional[TableSpec]:
        """The table of path `path` (None: not written or not read back)."""
        return self.tables.get(path)


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


def resolve_bigquery(flags: WarehouseOptions, checked: BigQueryChecks, paths: Sequence[str], streaming: bool,
                     temp_location: Optional[str]) -> BigQueryConfig:
    """The BigQuery piece from WarehouseOptions `flags`, which the rules checked (`checked`:
    pipeline/rules/bigquery.py); UsageError when real BigQuery would refuse a table or the direct path's method
    cannot work."""
    if DIRECT in paths:
        check_direct_method(flags.direct_method, streaming, checked.emulator_host, temp_location)
    if not checked.emulator_host:
        for name, spec in checked.tables.items():
            check_real_table('--' + spec_of(name).table_flag, spec)
    return BigQueryConfig(tables=checked.tables, dead_letter_table=checked.dead_letter_table,
                          emulator_host=checked.emulator_host, direct_method=flags.direct_method,
                          landed_check=not flags.no_landed_check, probe_interval=flags.probe_interval,
                          run_record_dataset=checked.run_record_dataset,
                          emulator_grpc_host=checked.emulator_grpc_host,
                          storage_write_wait=float(flags.storage_write_wait))
