"""The pipeline side of each path: its declaration (pipeline/path_specs.py: name, table flag, what "acknowledged"
means for it) with the branch that sends a record down it (and records what it sent, what was acknowledged and what
failed). Ships with the job; the comparison's side of a path (measures, cost, columns) is comparison/paths.

Adding a path: its transform in a package of transforms/, a branch in pipeline/branches.py, its PathSpec in
pipeline/path_specs.py (its name in --paths, its table flag) and one `register` here.
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

import apache_beam as beam

from pipeline.branches import DirectPath, OICPath, StorageWritePath
from pipeline.config import RunConfig
from pipeline.path_specs import DIRECT, OIC, STORAGE_WRITE, PathSpec, spec_of
from transforms.oic.sender.in_flight import METRICS_NAMESPACE as OIC_NAMESPACE
from transforms.run_record.tables import RunRecordTables
from transforms.storage_write.shard_writer import METRICS_NAMESPACE as STORAGE_WRITE_NAMESPACE
from transforms.storage_write.transform import COUNTERS as STORAGE_WRITE_COUNTERS

Attach = Callable[[beam.PCollection, RunConfig, Optional[RunRecordTables]], beam.PCollection]


@dataclasses.dataclass(frozen=True)
class PathMetrics:
    """A path's own Beam metrics: their namespace; whether the run record qualifies their names with it (names that
    say little alone, 'rows': storage_write_rows), else they keep their names (the OIC caller's start with 'oic_');
    and the line printed after the comparison: its title and the counters it shows even at 0 (a counter never
    incremented is not reported)."""
    namespace: str
    title: str
    qualified: bool = False
    counters: Tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        """What the path's metric names start with in the run record."""
        return self.namespace + '_'


@dataclasses.dataclass(frozen=True)
class PipelinePath:
    """A path as the pipeline runs it: its declaration `spec`, `attach`, which sends the valid records down the
    path (adding its steps to the pipeline) and returns its dead letters, and its own Beam metrics (None: none)."""
    spec: PathSpec
    attach: Attach
    metrics: Optional[PathMetrics] = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def acknowledged(self) -> str:
        """'answer' (each record answered, recorded as acks) or 'landed' (acknowledged = found in its table)."""
        return self.spec.acknowledged


def _attach_oic(valid: beam.PCollection, config: RunConfig, tables: Optional[RunRecordTables]) -> beam.PCollection:
    assert config.oic is not None, 'the oic path needs its settings (config.resolve gives them)'
    to_oic = valid
    # A bounded, unpaced source's records stay in the process that read or made them: spread, every process
    # posts (and its concurrency limit learns). On Dataflow the OIC path spreads them over its posting keys
    # instead (config.oic.budget_of says which, and why).
    if config.oic.spread == 'random':
        to_oic = to_oic | 'SpreadForOIC' >> beam.Reshuffle()
    return to_oic | 'OIC' >> OICPath(config.oic, config.out, tables=tables)


def _attach_direct(valid: beam.PCollection, config: RunConfig,
                   tables: Optional[RunRecordTables]) -> beam.PCollection:
    return valid | 'Direct' >> DirectPath(config.bigquery, config.out, tables=tables)


def _attach_storage_write(valid: beam.PCollection, config: RunConfig,
                          tables: Optional[RunRecordTables]) -> beam.PCollection:
    return valid | 'StorageWrite' >> StorageWritePath(config.bigquery, config.out, tables=tables)


_REGISTRY: Dict[str, PipelinePath] = {}


def register(path: PipelinePath) -> PipelinePath:
    _REGISTRY[path.name] = path
    return path


def of(name: str) -> PipelinePath:
    """The registered path `name`; KeyError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError('no path %r in the pipeline (known: %s)' % (name, ', '.join(_REGISTRY))) from None


def known() -> List[str]:
    return list(_REGISTRY)


def registered() -> List[PipelinePath]:
    """The registered paths, in registration order."""
    return list(_REGISTRY.values())


register(PipelinePath(spec_of(OIC), _attach_oic, PathMetrics(OIC_NAMESPACE, 'OIC caller')))
register(PipelinePath(spec_of(DIRECT), _attach_direct))
register(PipelinePath(spec_of(STORAGE_WRITE), _attach_storage_write, PathMetrics(
    STORAGE_WRITE_NAMESPACE, 'Storage Write writer', qualified=True, counters=STORAGE_WRITE_COUNTERS)))
