"""The append-client seam: a small Protocol (table schema, create stream, append at an offset, finalize), its
answers as plain values, and the real one over google-cloud-bigquery-storage's BigQueryWriteClient (gRPC)."""

import dataclasses
import enum
from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple

from google.protobuf import descriptor_pb2

from transforms.storage_write.schema import Column, columns_of
from transforms.tables import parse_table_spec

ENV_EMULATOR = 'BIGQUERY_EMULATOR_GRPC_HOST'  # host:port of a local emulator's plaintext gRPC port


def table_path(table: str) -> str:
    """'project:dataset.table' (or 'project.dataset.table') -> 'projects/P/datasets/D/tables/T'."""
    spec = parse_table_spec(table)
    return 'projects/%s/datasets/%s/tables/%s' % (spec.project, spec.dataset, spec.table)


class Outcome(enum.Enum):
    """What the server said to one append (transport failures are raised as TransientError instead)."""
    OK = 'ok'
    ALREADY_EXISTS = 'already_exists'  # the offset was written before: by an earlier attempt of this append
    OUT_OF_RANGE = 'out_of_range'  # the offset is past the stream's end: the stream and the writer's state disagree
    STREAM_LOST = 'stream_lost'  # the stream is gone or finalized (NOT_FOUND, FAILED_PRECONDITION)
    ROW_ERRORS = 'row_errors'  # BigQuery refused some rows; none of the append was written


@dataclasses.dataclass(frozen=True)
class AppendAnswer:
    outcome: Outcome
    detail: str = ''
    row_errors: Dict[int, str] = dataclasses.field(default_factory=dict)  # index in the append -> reason


class TransientError(Exception):
    """The append's answer was not read (cut connection, UNAVAILABLE, deadline): it may or may not have landed."""


class AppendClient(Protocol):
    """What the writer needs from the Storage Write API; fakes implement it for fast tests."""

    def table_schema(self, table: str) -> Tuple[Column, ...]: ...

    def create_stream(self, table: str) -> str: ...

    def append(self, stream: str, offset: int, rows: Sequence[bytes],
               descriptor: descriptor_pb2.DescriptorProto) -> AppendAnswer: ...

    def finalize(self, stream: str) -> int: ...

    def close(self) -> None: ...


ClientFactory = Callable[[], AppendClient]

# gRPC status codes (google.rpc.Code) as the answers they are.
_STATUS_OUTCOMES = {6: Outcome.ALREADY_EXISTS, 11: Outcome.OUT_OF_RANGE, 5: Outcome.STREAM_LOST,
                    9: Outcome.STREAM_LOST}
_TRANSIENT_CODES = {1, 4, 8, 10, 13, 14}  # CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL,
#                                            UNAVAILABLE: the request may or may not have been applied; retry it.


class StorageWriteError(RuntimeError):
    """An answer the writer cannot act on (a refused request that is not about offsets or rows)."""


def answer_from_status(code: int, message: str, row_errors: Dict[int, str]) -> AppendAnswer:
    """An append's status (from an in-stream error or a closed call) as the writer's answer; raises for the rest."""
    if row_errors:
        return AppendAnswer(Outcome.ROW_ERRORS, message, row_errors)
    if code == 0:
        return AppendAnswer(Outcome.OK)
    if code in _STATUS_OUTCOMES:
        return AppendAnswer(_STATUS_OUTCOMES[code], message)
    if code in _TRANSIENT_CODES:
        raise TransientError('status %d: %s' % (code, message))
    raise StorageWriteError('the Storage Write API refused an append (status %d): %s' % (code, message))


def _bounded_retry(give_up_s: float) -> Any:
    """GAPIC's retry of GetWriteStream and FinalizeWriteStream (the same errors and backoff), but giving up after
    `give_up_s` in all instead of 600 s: an unreachable endpoint is an error within a minute."""
    from google.api_core import exceptions, retry
    return retry.Retry(initial=0.1, maximum=60.0, multiplier=1.3, timeout=give_up_s,
                       predicate=retry.if_exception_type(exceptions.DeadlineExceeded, exceptions.ResourceExhausted,
                                                         exceptions.ServiceUnavailable))


class GrpcAppendClient:
    """The real client: one BigQueryWriteClient (one gRPC channel) per DoFn instance; one AppendRows call per
    append, so a cut connection costs exactly that append's answer and nothing is left half-sent on a stream."""

    def __init__(self, emulator_host: Optional[str] = None, timeout_s: float = 60.0, give_up_s: float = 60.0):
        from google.cloud import bigquery_storage_v1
        if emulator_host:  # plaintext to a local emulator; client_options alone would open TLS
            import grpc
            from google.auth.credentials import AnonymousCredentials
            from google.cloud.bigquery_storage_v1.services.big_query_write.transports import (
                BigQueryWriteGrpcTransport)
            self._channel = grpc.insecure_channel(emulator_host)
            transport = BigQueryWriteGrpcTransport(channel=self._channel, credentials=AnonymousCredentials())
            self._client = bigquery_storage_v1.BigQueryWriteClient(transport=transport)
        else:  # application default credentials, Google's endpoint
            self._channel = None
            self._client = bigquery_storage_v1.BigQueryWriteClient()
        self._types = bigquery_storage_v1.types
        self._timeout_s = timeout_s
        self._bounded_retry = _bounded_retry(give_up_s)

    def table_schema(self, table: str) -> Tuple[Column, ...]:
        types = self._types
        stream = self._client.get_write_stream(request=types.GetWriteStreamRequest(
            name=table_path(table) + '/streams/_default', view=types.WriteStreamView.FULL),
            retry=self._bounded_retry, timeout=self._timeout_s)
        return columns_of([{'name': f.name, 'type': types.TableFieldSchema.Type(f.type_).name,
                            'mode': types.TableFieldSchema.Mode(f.mode).name}
                           for f in stream.table_schema.fields])

    def create_stream(self, table: str) -> str:
        types = self._types
        stream = self._client.create_write_stream(
            parent=table_path(table), write_stream=types.WriteStream(type_=types.WriteStream.Type.COMMITTED),
            timeout=self._timeout_s)
        return stream.name

    def append(self, stream: str, offset: int, rows: Sequence[bytes],
               descriptor: descriptor_pb2.DescriptorProto) -> AppendAnswer:
        from google.api_core import exceptions
        types = self._types
        request = types.AppendRowsRequest(
            write_stream=stream, offset=offset,
            proto_rows=types.AppendRowsRequest.ProtoData(
                writer_schema=types.ProtoSchema(proto_descriptor=descriptor),
                rows=types.ProtoRows(serialized_rows=list(rows))))
        try:  # retry=None: the writer re-sends at the same offset itself and counts it
            answers = self._client.append_rows(iter([request]), retry=None, timeout=self._timeout_s,
                                               metadata=(('x-goog-request-params', 'write_stream=' + stream),))
            answer = next(iter(answers), None)
        except exceptions.GoogleAPICallError as error:
            code = error.grpc_status_code.value[0] if error.grpc_status_code is not None else 2
            return answer_from_status(code, error.message or str(error), {})
        except Exception as error:  # a cut connection surfaces from grpc as its own error types
            raise TransientError('%s: %s' % (type(error).__name__, error)) from None
        if answer is None:
            raise TransientError('the AppendRows call ended without an answer')
        row_errors = {int(e.index): e.message or str(e.code) for e in answer.row_errors}
        if 'error' in answer:
            return answer_from_status(answer.error.code, answer.error.message, row_errors)
        if 'append_result' not in answer and not row_errors:
            # Neither a result nor an error: not an answer the writer can read, so never a success. Sent again at
            # the same offset (ALREADY_EXISTS if it did land).
            raise TransientError('an AppendRows answer with neither a result nor an error')
        return answer_from_status(0, '', row_errors)

    def finalize(self, stream: str) -> int:
        return int(self._client.finalize_write_stream(name=stream, retry=self._bounded_retry,
                                                      timeout=self._timeout_s).row_count)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        else:
            self._client.transport.close()


@dataclasses.dataclass(frozen=True)
class GrpcClientFactory:
    """The picklable factory the writer calls in DoFn.setup(): the emulator at `emulator_host` (host:port, e.g.
    from env BIGQUERY_EMULATOR_GRPC_HOST) or, when it is empty, BigQuery with application default credentials.
    `timeout_s`: each call's deadline; `give_up_s`: how long the schema read and a finalize retry in all."""
    emulator_host: Optional[str] = None
    timeout_s: float = 60.0
    give_up_s: float = 60.0

    def __call__(self) -> AppendClient:
        return GrpcAppendClient(self.emulator_host, self.timeout_s, self.give_up_s)
