"""The gRPC fault proxy's HTTP/2 frame reading (pure): whole frames taken off a buffer, partial ones left."""

from devstack.fault_proxy import _frames


def frame(kind, stream, payload):
    return len(payload).to_bytes(3, 'big') + bytes([kind, 0]) + stream.to_bytes(4, 'big') + payload


def test_whole_frames_are_taken_with_their_type_and_stream_and_a_partial_one_waits():
    data = frame(4, 0, b'\x00' * 6) + frame(0, 3, b'answer') + frame(0, 5, b'later')
    buffer = bytearray(data[:-2])
    assert [(kind, stream) for kind, stream, _ in _frames(buffer)] == [(4, 0), (0, 3)]
    assert bytes(buffer) == frame(0, 5, b'later')[:-2]
    buffer += data[-2:]
    assert [(kind, stream, whole) for kind, stream, whole in _frames(buffer)] == [(0, 5, frame(0, 5, b'later'))]
    assert buffer == bytearray()


def test_the_reserved_bit_of_the_stream_id_is_ignored():
    raw = bytearray(frame(0, 7, b'x'))
    raw[5] |= 0x80
    assert [stream for _, stream, _ in _frames(raw)] == [7]
