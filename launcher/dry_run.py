"""What a --dry_run built: the Dataflow job assembled offline and never submitted, summarised in a few lines."""

import argparse
import os
from typing import Any, Dict, List

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.options import WarehouseOptions


def staged_artifacts(job: Any) -> Dict[str, str]:
    """{name the workers see: local file} of what the job stages (the project's sdist is workflow.tar.gz)."""
    from apache_beam.portability.api import beam_runner_api_pb2
    found = {}
    for env in job.proto_pipeline.components.environments.values():
        for dep in env.dependencies:
            try:
                role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload)
                path = beam_runner_api_pb2.ArtifactFilePayload.FromString(dep.type_payload).path
            except Exception:  # An artifact of another kind (a URL): nothing local to measure.
                continue
            found[role.staged_name] = path
    return found


def own_flags(options: PipelineOptions) -> List[str]:
    """The pipeline's own flags the job runs with (defaults included, unset ones left out), as `--name value`
    (switches as `--name`)."""
    scratch = argparse.ArgumentParser(add_help=False)
    WarehouseOptions._add_argparse_args(scratch)  # pylint: disable=protected-access
    dests = {action.dest for action in scratch._actions}  # pylint: disable=protected-access
    values = options.get_all_options(retain_unknown_options=False)
    flags = []
    for name in sorted(dests & set(values)):
        value = values[name]
        if value is None or value is False:
            continue
        flags.append('--%s' % name if value is True else '--%s %s' % (name, value))
    return flags


def _wrapped(words: List[str], first: str, indent: str, width: int = 118) -> List[str]:
    lines, line = [], first
    for word in words:
        if len(line) + 1 + len(word) > width and line.strip():
            lines.append(line)
            line = indent
        line += ('' if line.endswith(' ') else ' ') + word
    lines.append(line)
    return lines


def _size(path: str) -> str:
    try:
        size = os.path.getsize(path)
    except OSError:
        return 'size unknown'
    return '%.1f kB' % (size / 1000) if size >= 1000 else '%d B' % size


def describe(result: Any, options: PipelineOptions) -> str:
    """The lines printed at the end of a dry run."""
    job = getattr(result, 'job', None)
    lines = ['dry run: the Dataflow job was built offline; nothing was submitted']
    if job is None:
        return lines[0]
    kind = job.proto.type_.name.replace('JOB_TYPE_', '').lower()
    transforms = job.proto_pipeline.components.transforms.values()
    steps = sum(1 for t in transforms if not t.subtransforms)
    google = options.get_all_options()
    lines.append('  job      %s (%s) in project %s, region %s' % (job.proto.name, kind, google.get('project'),
                                                                    google.get('region')))
    lines.append('  graph    %d steps (%d transforms with the composites)' % (steps, len(transforms)))
    artifacts = staged_artifacts(job)
    for name, path in sorted(artifacts.items(), key=lambda item: item[0] != 'workflow.tar.gz'):
        what = ' (this project, from --setup_file %s)' % google.get('setup_file') if name == 'workflow.tar.gz' else ''
        lines.append('  staged   %s, %s%s' % (name, _size(path), what))
    lines.extend(_wrapped(own_flags(options), '  flags    ', '           '))
    return '\n'.join(lines)
