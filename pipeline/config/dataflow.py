"""The Dataflow pre-flight: every mistake that would make a submission fail or leak, found offline, as one line."""

import os
import re
import urllib.parse
from typing import Optional

from apache_beam.options.pipeline_options import (
    DebugOptions, DirectOptions, GoogleCloudOptions, PipelineOptions, SetupOptions, WorkerOptions)

from pipeline.config.bigquery import GCS_PATTERN
from pipeline.config.oic import OICConfig
from pipeline.rules.errors import UsageError
from pipeline.rules.run import is_dataflow
from transforms.oic.urls import is_loopback

PROJECT_PATTERN = re.compile(r'^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$')
REGION_PATTERN = re.compile(r'^[a-z]+-[a-z]+[0-9]+$')


def worker_count(options: PipelineOptions, runner: str) -> int:
    """How many workers the job's OIC budget is sized for: --max_num_workers on Dataflow (VMs, each with one SDK
    process per vCPU: sdk_process_per_vcpu), the processes of a multi-processing DirectRunner, else 1
    (transforms/oic/budget.py)."""
    if is_dataflow(runner):
        return options.view_as(WorkerOptions).max_num_workers or 1
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == 'multi_processing':
        return max(1, direct.direct_num_workers or os.cpu_count() or 1)
    return 1


def sdk_process_per_vcpu(options: PipelineOptions, runner: str) -> bool:
    """Whether each worker VM runs one SDK process per vCPU, each with its own request slots and rate cap: Dataflow's
    default for Python (Beam adds the use_multiple_sdk_containers experiment), unless
    --experiments=no_use_multiple_sdk_containers asks for one process per VM. The vCPUs are counted on the worker
    (the Budget's per_vcpu): without --machine_type Dataflow picks the machine type itself."""
    if not is_dataflow(runner):
        return False
    return 'no_use_multiple_sdk_containers' not in (options.view_as(DebugOptions).experiments or [])


def check_dataflow(options: PipelineOptions, oic: Optional[OICConfig], input_path: Optional[str], out: str,
                   emulator: Optional[str]) -> None:
    """Raises UsageError for anything that would make a Dataflow submission fail or leak (checked offline); `oic`:
    the OIC path's settings when it runs (its trigger must be reachable from the workers, its budget sized for them),
    else None."""
    gcp = options.view_as(GoogleCloudOptions)
    setup = options.view_as(SetupOptions)
    worker = options.view_as(WorkerOptions)
    if not gcp.project or not PROJECT_PATTERN.match(gcp.project):
        raise UsageError('Dataflow needs --project PROJECT_ID (6-30 lowercase letters, digits, hyphens; got %r)'
                         % gcp.project)
    if not gcp.region or not REGION_PATTERN.match(gcp.region):
        raise UsageError('Dataflow needs --region, e.g. us-central1 (got %r)' % gcp.region)
    for flag, value in (('--temp_location', gcp.temp_location), ('--staging_location', gcp.staging_location)):
        if (value or flag == '--temp_location') and not GCS_PATTERN.match(value or ''):
            raise UsageError('Dataflow needs %s gs://BUCKET/PATH (got %r)' % (flag, value))
    if not GCS_PATTERN.match(out or ''):
        raise UsageError('on Dataflow --out must be gs://BUCKET/PATH: workers cannot write to this machine '
                         '(got %r)' % out)
    if input_path and not GCS_PATTERN.match(input_path):
        raise UsageError('on Dataflow --input must be a gs:// file the workers can read (got %r)' % input_path)
    if emulator:
        raise UsageError('a BigQuery emulator is local only: unset BIGQUERY_EMULATOR_HOST/--bigquery_emulator_host '
                         'for Dataflow')
    if not setup.setup_file and not worker.sdk_container_image:
        raise UsageError('Dataflow workers need this project: pass --setup_file ./setup.py')
    if setup.setup_file and not os.path.isfile(setup.setup_file):
        raise UsageError('--setup_file: no such file: %s' % setup.setup_file)
    if oic is not None:
        host = urllib.parse.urlsplit(oic.url or '').hostname or ''
        if is_loopback(host):
            raise UsageError('--oic_url points at this machine (%s); Dataflow workers cannot reach it' % host)
        if not worker.max_num_workers or worker.max_num_workers < 1:
            raise UsageError('the oic path on Dataflow needs --max_num_workers: --oic_concurrency is the job\'s '
                             'total, divided among the processes that post (about one posting key per VM)')
