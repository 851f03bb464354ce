"""check_values: every rule on the flags' values that needs no Beam, in one pass, as the run applies them (pipeline/
config's resolve starts with it; launcher/check_flags runs it before Beam is imported)."""

import dataclasses
from typing import Mapping, Optional, Tuple

from pipeline.flags import FlagValues
from pipeline.path_specs import OIC
from pipeline.rules.bigquery import BigQueryChecks, check_bigquery
from pipeline.rules.oic import OICChecks, check_oic
from pipeline.rules.run import BeamChoices, check_at_rate, drain_timeout, parse_paths
from pipeline.rules.source import SourceCounts, source_counts


@dataclasses.dataclass(frozen=True)
class CheckedValues:
    """What the Beam-free rules found, piece by piece; `oic` None when the oic path does not run."""
    paths: Tuple[str, ...]
    source: SourceCounts
    oic: Optional[OICChecks]
    bigquery: BigQueryChecks
    drain_timeout: float
    at_rate: Optional[float]


def check_values(flags: FlagValues, beam: BeamChoices, environ: Mapping[str, str]) -> CheckedValues:
    """The flags' values (`flags`: WarehouseOptions or add_flags' argparse Namespace) checked with Beam's standard
    options `beam` and the environment `environ` (where the OIC password or client secret may be); UsageError, one
    line, on the first mistake."""
    paths = parse_paths(flags.paths)
    source = source_counts(flags, beam.streaming)
    oic = check_oic(flags, beam.on_dataflow, environ) if OIC in paths else None
    bigquery = check_bigquery(flags, paths, beam.project)
    return CheckedValues(paths, source, oic, bigquery, drain_timeout(flags.drain_timeout), check_at_rate(flags.at_rate))
