"""Checks the flags before anything runs and turns them into one validated, secret-free RunConfig of small pieces.

The rules on the values that need no Beam come first (pipeline/rules/, as launcher/check_flags runs them before Beam
is imported); then each piece is resolved by its own module (source, oic, bigquery; Dataflow's pre-flight in dataflow)
with what needs Beam, and each branch of the pipeline takes only its piece.
"""

import dataclasses
import os
import uuid
from typing import Mapping, Optional, Tuple

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import create_runner

from pipeline.config.bigquery import BigQueryConfig, resolve_bigquery
from pipeline.config.dataflow import check_dataflow, sdk_process_per_vcpu, worker_count
from pipeline.config.launch import LaunchConfig, resolve_launch
from pipeline.config.oic import OICConfig, resolve_oic
from pipeline.config.source import SourceConfig, resolve_source
from pipeline.options import WarehouseOptions
from pipeline.rules.errors import UsageError
from pipeline.rules.run import DEFAULT_RUNNER, BeamChoices
from pipeline.rules.values import check_values
from transforms.oic import budget as job_budget
from transforms.oic.urls import redact_url
from transforms.run_record.run_info import OICRunInfo, RunInfo
from transforms.run_record.tables import RunRecordTables

__all__ = ['BigQueryConfig', 'LaunchConfig', 'OICConfig', 'RunConfig', 'SourceConfig', 'UsageError', 'resolve']


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, validated, in pieces. Holds no password: only where the workers will read it from."""
    run_id: str
    runner: str
    paths: Tuple[str, ...]
    out: str
    workers: int
    source: SourceConfig
    bigquery: BigQueryConfig
    oic: Optional[OICConfig] = None  # None when the oic path does not run.
    launch: LaunchConfig = LaunchConfig()
    at_rate: Optional[float] = None  # records/s the report prices at; None = the run's rate, else the lab's 1/s.

    @property
    def run_record_tables(self) -> Optional[RunRecordTables]:
        """Where the run record is streamed in BigQuery, or None (--run_record_dataset not given)."""
        spec = self.bigquery.run_record_dataset
        return RunRecordTables(spec.project, spec.dataset, self.run_id, self.bigquery.emulator_host) if spec else None

    def describe(self) -> RunInfo:
        """The run record's header (run.json; transforms/run_record/run_info.py); no credentials."""
        bq, source = self.bigquery, self.source
        oic_info = None
        if self.oic is not None:
            oic = dataclasses.asdict(self.oic)
            oic['url'] = redact_url(self.oic.url)
            oic['token_url'] = redact_url(self.oic.token_url)
            del oic['ca_pem']  # Shipped with the job; the record names the file it came from.
            budget = oic.pop('budget')
            oic.update(concurrency=budget['total'], concurrency_mode=budget['mode'], max_rps=budget['max_rps'],
                       share_per_vcpu=budget['per_vcpu'], posting_keys=budget['posting_keys'])
            if not self.oic.budget.per_vcpu:  # each posting process's share, known here (else on the worker)
                share = job_budget.share(self.oic.budget, None)
                oic.update(posting_processes=share.posting, process_concurrency=share.concurrency,
                           process_max_rps=share.max_rps)
            oic_info = OICRunInfo(**oic)
        return RunInfo(
            run_id=self.run_id, runner=self.runner, paths=self.paths, out=self.out, workers=self.workers,
            streaming=source.streaming, records=source.records, rate=source.rate, seed=source.seed,
            input=source.input, source_shards=source.shards,
            tables={path: str(table) if table else None for path, table in bq.tables.items()},
            dead_letter_table=str(bq.dead_letter_table) if bq.dead_letter_table else None,
            emulator_host=bq.emulator_host, direct_method=bq.direct_method, landed_check=bq.landed_check,
            probe_interval=bq.probe_interval, at_rate=self.at_rate,
            run_record_dataset=str(bq.run_record_dataset) if bq.run_record_dataset else None,
            drain_timeout=self.launch.drain_timeout, oic=oic_info)


def _check_runner(name: str) -> None:
    try:
        create_runner(name)
    except (ValueError, ImportError) as err:
        raise UsageError('--runner: %s' % str(err).splitlines()[0]) from None


def resolve(options: PipelineOptions, environ: Optional[Mapping[str, str]] = None) -> RunConfig:
    """Validates `options` and returns a RunConfig; raises UsageError on any mistake: first the rules that need no
    Beam (pipeline/rules/values.py, as launcher/check_flags runs them before Beam is imported), then Beam's: the
    runner, an --input file, the budget among Beam's workers, BigQuery's tables and write method, Dataflow's
    pre-flight."""
    environ = os.environ if environ is None else environ
    flags = options.view_as(WarehouseOptions)
    standard = options.view_as(StandardOptions)
    gcp = options.view_as(GoogleCloudOptions)
    runner = standard.runner or DEFAULT_RUNNER
    streaming = bool(standard.streaming)
    beam = BeamChoices(streaming, runner, gcp.project)
    checked = check_values(flags, beam, environ)
    _check_runner(runner)
    paths = checked.paths
    workers = worker_count(options, runner)
    source = resolve_source(flags, streaming, checked.source)
    oic = (resolve_oic(flags, checked.oic, beam.on_dataflow, workers, source, sdk_process_per_vcpu(options, runner))
           if checked.oic is not None else None)
    bigquery = resolve_bigquery(flags, checked.bigquery, paths, streaming, gcp.temp_location)
    launch = resolve_launch(flags, checked.drain_timeout)
    if beam.on_dataflow:
        check_dataflow(options, oic, flags.input, flags.out, bigquery.emulator_host)
    return RunConfig(run_id=str(uuid.uuid4()), runner=runner, paths=paths, out=flags.out, workers=workers,
                     source=source, bigquery=bigquery, oic=oic, at_rate=checked.at_rate, launch=launch)
