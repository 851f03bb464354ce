"""Each path's declaration where the flags and the configuration read it, Beam-free: its name, whether the default run
takes it, its table flag, and what "acknowledged" means for it. pipeline/flags.py makes `--paths` and the BigQuery
group's table flags from SPECS, pipeline/rules/bigquery.py resolves each run path's table from them, and
pipeline/paths.py registers each one's branch (the comparison's side of a path is comparison/paths).

Adding a path: one PathSpec in SPECS here, its branch registered in pipeline/paths.py (and its comparison side).
"""

import dataclasses
from typing import Dict, Tuple

OIC = 'oic'
DIRECT = 'direct'
STORAGE_WRITE = 'storage_write'

# The BigQuery API the pipeline writes a path's table through (PathSpec.writes_through), hence the address it calls on
# the local emulator: REST (tabledata.insertAll, load jobs: --bigquery_emulator_host) or gRPC (the Storage Write API:
# --bigquery_emulator_grpc_host). NOT_WRITTEN: another system writes the table (OIC's integration).
REST, GRPC, NOT_WRITTEN = 'rest', 'grpc', ''


@dataclasses.dataclass(frozen=True)
class TableFlag:
    """A path's table flag, --<path>_table: the environment variable that overrides its default (the local stack's
    stack.env), the default PROJECT:DATASET.TABLE (or DATASET.TABLE) and its help."""
    env: str
    default: str
    help: str


@dataclasses.dataclass(frozen=True)
class PathSpec:
    """One path as the flags and the configuration know it.

    by_default: the run takes it when --paths is not given. acknowledged: 'answer' (each record answered, recorded as
    acks) or 'landed' (no per-record answer: acknowledged = found in its table). writes_through: the BigQuery API
    the pipeline writes the path's table through, REST or GRPC (so the run checks that address before it starts), or
    NOT_WRITTEN when another system writes it (OIC's integration) and the pipeline only reads it back to compare.
    """
    name: str
    table: TableFlag
    by_default: bool
    acknowledged: str
    writes_through: str = REST

    @property
    def written_by_pipeline(self) -> bool:
        """The pipeline writes the path's table itself (so it needs a project for it); else it only reads it back to
        compare, skipping it when no project is known."""
        return self.writes_through != NOT_WRITTEN

    @property
    def table_flag(self) -> str:
        """The table flag's name (its destination), without dashes."""
        return self.name + '_table'


SPECS: Tuple[PathSpec, ...] = (
    PathSpec(OIC, TableFlag(
        'OIC_TABLE', 'warehouse.inventory_oic',
        'Table that OIC writes to, PROJECT:DATASET.TABLE (env OIC_TABLE); read by the comparison.'),
        by_default=True, acknowledged='answer', writes_through=NOT_WRITTEN),
    PathSpec(DIRECT, TableFlag(
        'DIRECT_TABLE', 'warehouse.inventory_direct',
        'Table the direct branch writes to, PROJECT:DATASET.TABLE (env DIRECT_TABLE).'),
        by_default=True, acknowledged='landed'),
    # docs/storage-write.md: why storage_write is not in the default run.
    PathSpec(STORAGE_WRITE, TableFlag(
        'STORAGE_WRITE_TABLE', 'warehouse.inventory_storage_write',
        'Table the storage_write branch writes to through the Storage Write API, PROJECT:DATASET.TABLE (env '
        'STORAGE_WRITE_TABLE); it must exist with the records\' schema.'),
        by_default=False, acknowledged='landed', writes_through=GRPC),
)
PATHS = tuple(spec.name for spec in SPECS)  # in the canonical order
DEFAULT_PATHS = tuple(spec.name for spec in SPECS if spec.by_default)
_BY_NAME: Dict[str, PathSpec] = {spec.name: spec for spec in SPECS}


def spec_of(name: str) -> PathSpec:
    """The declared path `name`; KeyError naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError('no path %r (known: %s)' % (name, ', '.join(PATHS))) from None

