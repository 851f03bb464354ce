"""Reading a Dataflow job built offline (--dry_run): what its graph carries, as the service would receive it."""

import base64
import bz2
import zlib

from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2


def dofn_bytes(job):
    """Every ParDo's pickled DoFn, decompressed (Beam stores them compressed, bz2 or zlib, and base64-encoded)."""
    found = []
    for transform in job.proto_pipeline.components.transforms.values():
        if transform.spec.urn == common_urns.primitives.PAR_DO.urn:
            payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload).do_fn.payload
            raw = base64.b64decode(payload)
            for decompress in (bz2.decompress, zlib.decompress):
                try:
                    raw = decompress(raw)
                    break
                except (OSError, ValueError, zlib.error):
                    continue
            found.append(raw)
    return b'\n'.join(found)
