"""The pipeline side of each path: its declaration (pipeline/path_specs.py: name, table flag, what "acknowledged"
means for it) with the branch that sends a record down it (and records what it sent, what was acknowledged and what
failed). Ships with the job; the comparison's side of a path (measures, cost, columns) is comparison/paths.

Adding a path: its transform in a package of transforms/, a branch in pipeline/branches.py, its PathSpec in
pipeline/path_specs.py (its name in --paths, its table flag) and one `register` here.
"""

import dataclasses
from typing import Callable, Dict, List, Optional

import apache_beam as beam

from pipeline.branches import DirectPath, OICPath, StorageWritePath
from pipeline.config import RunConfig
from pipeline.path_specs import DIRECT, OIC, STORAGE_WRITE, PathSpec, spec_of
from transforms.run_record.tables import RunRecordTables

Attach = Callable[[beam.PCollection, RunConfig, Optional[RunRecordTables]], beam.PCollection]


@dataclasses.dataclass(frozen=True)
class PipelinePath:
    """A path as the pipeline runs it: its declaration `spec` and `attach`, which sends the valid records down the
    path (adding its steps to the pipeline) and returns its dead letters."""
    spec: PathSpec
    attach: Attach

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


register(PipelinePath(spec_of(OIC), _attach_oic))
register(PipelinePath(spec_of(DIRECT), _attach_direct))
register(PipelinePath(spec_of(STORAGE_WRITE), _attach_storage_write))
