"""A Python-native BigQuery Storage Write API sink: rows to proto, an append-client seam, and an exactly-once
PTransform over committed streams per shard (docs/storage-write.md)."""

from transforms.storage_write.client import GrpcClientFactory  # noqa: F401
from transforms.storage_write.limits import AppendLimits  # noqa: F401
from transforms.storage_write.results import DEAD_LETTER, WRITTEN  # noqa: F401
from transforms.storage_write.shard_writer import RetryPolicy  # noqa: F401
from transforms.storage_write.options import WriterOptions  # noqa: F401
from transforms.storage_write.transform import WriteToBigQueryStorage  # noqa: F401
