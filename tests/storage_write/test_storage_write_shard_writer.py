"""One shard's appends against a fake Storage Write API: offsets, replays, lost answers, refused rows, limits."""

import pytest

from storage_write_fakes import FakeClient, FakeServer  # tests/storage_write/storage_write_fakes.py
from transforms.storage_write.client import StorageWriteError
from transforms.storage_write.limits import AppendLimits, split_appends
from transforms.storage_write.schema import RowSerializer
from transforms.storage_write.shard_writer import OffsetMismatch, RetryPolicy, ShardState, ShardWriter

SCHEMA = {'fields': [{'name': 'id', 'type': 'INT64', 'mode': 'REQUIRED'}, {'name': 'note', 'type': 'STRING'}]}
SERIALIZER = RowSerializer(SCHEMA)
TABLE = 'p:d.t'


def rows(first, count, note='n'):
    return [SERIALIZER.serialize({'id': i, 'note': note}) for i in range(first, first + count)]


def writer(server, limits=AppendLimits(), attempts=4):
    return ShardWriter(FakeClient(server), TABLE, SERIALIZER, limits, RetryPolicy(attempts, 0, 0),
                       sleep=lambda s: None)


def ids(server):
    return [SERIALIZER.deserialize(row)['id'] for row in server.rows()]


def test_batches_go_to_one_stream_at_consecutive_offsets():
    server = FakeServer(SCHEMA)
    shard = writer(server)
    first = shard.write(ShardState(), rows(0, 3))
    second = shard.write(first.state, rows(3, 2))
    assert len(server.streams) == 1 and second.state == ShardState(first.state.stream, 5)
    assert [(call[1], len(call[2])) for call in server.calls] == [(0, 3), (3, 2)]
    assert ids(server) == [0, 1, 2, 3, 4]
    assert first.counts['streams_created'] == 1 and 'streams_created' not in second.counts
    assert second.written == [{'table': TABLE, 'stream': first.state.stream, 'offset': 3, 'rows': 2,
                               'bytes': sum(map(len, rows(3, 2))), 'already_written': False}]


def test_a_replayed_batch_from_the_state_of_before_is_answered_already_exists_and_counts_as_written():
    server = FakeServer(SCHEMA)
    shard = writer(server)
    before = shard.write(ShardState(), rows(0, 2)).state
    shard.write(before, rows(2, 3))  # the bundle fails after this append: its state is never kept
    replay = shard.write(before, rows(2, 3))
    assert ids(server) == [0, 1, 2, 3, 4]
    assert replay.state.offset == 5 and replay.counts['already_exists'] == 1
    assert replay.written[0]['already_written'] is True


def test_a_lost_answer_is_retried_at_the_same_offset_and_unavailable_is_retried_too():
    server = FakeServer(SCHEMA)
    server.faults.extend(['lose', 'unavailable'])
    done = writer(server).write(ShardState(), rows(0, 4))
    assert ids(server) == [0, 1, 2, 3]
    assert [call[1] for call in server.calls] == [0, 0]  # 'unavailable' never reached the server
    assert done.counts['retries'] == 2 and done.counts['already_exists'] == 1 and done.counts['rows'] == 4


def test_an_append_whose_answer_stays_lost_fails_the_batch_without_a_state():
    server = FakeServer(SCHEMA)
    server.faults.extend(['unavailable'] * 4)
    with pytest.raises(StorageWriteError, match='no answer after 4 attempts'):
        writer(server, attempts=4).write(ShardState(), rows(0, 1))


def test_rows_bigquery_refuses_are_dead_lettered_with_its_reason_and_the_rest_written_at_the_same_offset():
    server = FakeServer(SCHEMA, refuse=lambda row: 'bad id' if SERIALIZER.deserialize(row)['id'] % 2 else None)
    done = writer(server).write(ShardState(), rows(0, 4))
    assert ids(server) == [0, 2] and done.state.offset == 2
    assert [(d['row'], d['reason'], d['detail']) for d in done.dead_letters] == [
        ({'id': 1, 'note': 'n'}, 'row_error', 'bad id'), ({'id': 3, 'note': 'n'}, 'row_error', 'bad id')]
    assert [call[1] for call in server.calls] == [0, 0] and done.counts['row_errors'] == 2


def test_appends_are_split_by_serialized_bytes_and_by_rows_in_order():
    data = rows(0, 10, note='x' * 100)
    limits = AppendLimits(max_bytes=3 * (len(data[0]) + 3), max_rows=2)
    assert [len(chunk) for chunk in split_appends(data, limits)] == [2] * 5
    limits = AppendLimits(max_bytes=3 * (len(data[0]) + 3), max_rows=100)
    assert [len(chunk) for chunk in split_appends(data, limits)] == [3, 3, 3, 1]
    server = FakeServer(SCHEMA)
    done = writer(server, limits).write(ShardState(), data)
    assert [call[1] for call in server.calls] == [0, 3, 6, 9] and ids(server) == list(range(10))
    assert done.counts['appends'] == 4


def test_a_row_over_the_request_limit_is_dead_lettered_before_sending():
    big, small = rows(0, 1, note='x' * 500)[0], rows(1, 1)[0]
    server = FakeServer(SCHEMA)
    done = writer(server, AppendLimits(max_bytes=200)).write(ShardState(), [big, small])
    assert ids(server) == [1]
    assert [d['reason'] for d in done.dead_letters] == ['row_too_large']


def test_a_stream_shorter_than_the_state_is_a_clear_error():
    server = FakeServer(SCHEMA)
    state = writer(server).write(ShardState(), rows(0, 2)).state
    with pytest.raises(OffsetMismatch, match='ends before offset 7'):
        writer(server).write(ShardState(state.stream, 7), rows(2, 1))


def test_a_lost_stream_is_replaced_and_the_append_goes_to_the_new_one_at_offset_zero():
    server = FakeServer(SCHEMA)
    shard = writer(server)
    state = shard.write(ShardState(), rows(0, 2)).state
    server.lost.add(state.stream)
    done = shard.write(state, rows(2, 2))
    assert done.state.stream != state.stream and done.state.offset == 2
    assert ids(server) == [0, 1, 2, 3] and done.counts['streams_lost'] == 1


def test_finalize_seals_the_stream_and_reports_its_rows():
    server = FakeServer(SCHEMA)
    shard = writer(server)
    state = shard.write(ShardState(), rows(0, 3)).state
    assert shard.finalize(state.stream) == 3 and server.finalized == [state.stream]


class _Answers:
    """A BigQueryWriteClient stand-in whose AppendRows call yields the given answers."""

    def __init__(self, *answers):
        self.answers = answers

    def append_rows(self, requests, **kwargs):
        list(requests)
        return iter(self.answers)


def _grpc_client(*answers):
    from google.cloud import bigquery_storage_v1
    from transforms.storage_write.client import GrpcAppendClient
    client = GrpcAppendClient.__new__(GrpcAppendClient)
    client._client, client._types, client._timeout_s = _Answers(*answers), bigquery_storage_v1.types, 1.0
    return client


def test_an_append_answer_the_writer_cannot_read_is_never_a_success():
    from google.protobuf import descriptor_pb2
    from google.cloud.bigquery_storage_v1 import types
    from transforms.storage_write.client import Outcome, TransientError
    descriptor = descriptor_pb2.DescriptorProto(name='Row')
    result = types.AppendRowsResponse(append_result=types.AppendRowsResponse.AppendResult(offset=7))
    assert _grpc_client(result).append('s', 7, [b'x'], descriptor).outcome is Outcome.OK
    with pytest.raises(TransientError, match='neither a result nor an error'):  # sent again at the same offset
        _grpc_client(types.AppendRowsResponse()).append('s', 7, [b'x'], descriptor)
    with pytest.raises(TransientError, match='without an answer'):
        _grpc_client().append('s', 7, [b'x'], descriptor)
