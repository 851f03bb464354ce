"""A fake Storage Write API for fast tests (committed streams with strict offsets, refusable rows, lost answers), and
OneShard, which runs the writer's two stateful steps bundle by bundle as a runner does, retries included."""

import collections
import dataclasses
import itertools
import threading
import uuid
from typing import Callable, Dict, List, Optional

from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp

from transforms.storage_write.client import AppendAnswer, Outcome, TransientError
from transforms.storage_write.schema import columns_of

_SERVERS: Dict[str, 'FakeServer'] = {}  # by id: the DoFns a runner unpickles find the test's server here


class FakeServer:
    """Streams of one table as lists of rows. Faults are scripted per append call, in order: 'lose' writes the
    rows and loses the answer, 'unavailable' loses the request, 'fail_bundle' writes the rows and fails the bundle;
    `refuse(row bytes)` -> a reason refuses a row."""

    def __init__(self, table_fields, refuse: Optional[Callable[[bytes], Optional[str]]] = None):
        self.id = uuid.uuid4().hex
        self.table_fields = table_fields
        self.refuse = refuse or (lambda row: None)
        self.streams: Dict[str, List[bytes]] = {}
        self.finalized: List[str] = []
        self.lost: set = set()
        self.faults: collections.deque = collections.deque()
        self.calls: List[tuple] = []  # (stream, offset, rows) of every append that reached the server
        self.closed = 0
        self._lock = threading.Lock()
        self._names = itertools.count()
        _SERVERS[self.id] = self

    def rows(self) -> List[bytes]:
        return [row for stream in self.streams.values() for row in stream]

    def append(self, stream, offset, rows):
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
            if fault == 'unavailable':
                raise TransientError('UNAVAILABLE (fake)')
            self.calls.append((stream, offset, list(rows)))
            if stream in self.lost or stream in self.finalized:
                return AppendAnswer(Outcome.STREAM_LOST, 'stream %s not found' % stream)
            held = self.streams[stream]
            if offset < len(held):
                answer = AppendAnswer(Outcome.ALREADY_EXISTS, 'offset %d < %d' % (offset, len(held)))
            elif offset > len(held):
                answer = AppendAnswer(Outcome.OUT_OF_RANGE, 'offset %d > %d' % (offset, len(held)))
            else:
                errors = {i: self.refuse(row) for i, row in enumerate(rows) if self.refuse(row)}
                if errors:
                    return AppendAnswer(Outcome.ROW_ERRORS, 'row errors', errors)
                held.extend(rows)
                answer = AppendAnswer(Outcome.OK)
            if fault == 'lose':
                raise TransientError('connection cut after the append (fake)')
            if fault == 'fail_bundle' and answer.outcome is Outcome.OK:
                raise RuntimeError('the bundle fails after its append was accepted (fake)')
            return answer


@dataclasses.dataclass(frozen=True)
class FakeClientFactory:
    server_id: str

    def __call__(self):
        return FakeClient(_SERVERS[self.server_id])


class FakeClient:
    def __init__(self, server: FakeServer):
        self.server = server

    def table_schema(self, table):
        return columns_of(self.server.table_fields)

    def create_stream(self, table):
        name = '%s/streams/%04d' % (table, next(self.server._names))
        self.server.streams[name] = []
        return name

    def append(self, stream, offset, rows, descriptor):
        assert descriptor.field, 'every append carries the writer schema'
        return self.server.append(stream, offset, rows)

    def finalize(self, stream):
        self.server.finalized.append(stream)
        return len(self.server.streams.get(stream, []))

    def close(self):
        self.server.closed += 1


class _State:
    """One ReadModifyWriteState cell (or, with a list, a BagState): the test plays the runner with them."""

    def __init__(self, value=None):
        self.value = value

    def read(self):
        return self.value

    def write(self, value):
        self.value = value

    def add(self, value):
        self.value.append(value)

    def clear(self):
        self.value = [] if isinstance(self.value, list) else None


class _Timer:
    def set(self, timestamp):
        self.at = timestamp


class OneShard:
    """Runs bundles of the two stateful steps (batching, appending) for shard 0 as a runner does: from the
    committed state; a bundle that succeeds commits its state, a failed one leaves the committed state as it was."""

    def __init__(self, batches, append, stream):
        self.batches, self.append, self.streams = batches, append, {0: stream}
        self.committed = {'buffer': [], 'waiting': None, 'shard': None, 'stream': None, 'offset': None}

    def bundle(self, rows, commit=True, end=False):
        cells = {name: _State(list(value) if name == 'buffer' else value) for name, value in self.committed.items()}
        self.batches.start_bundle()
        batching = dict(buffer=cells['buffer'], waiting=cells['waiting'], shard_state=cells['shard'])
        emitted = [out for row in rows for out in self.batches.process(
            (0, row), window=GlobalWindow(), timestamp=Timestamp(0), end=_Timer(), **batching)]
        if end:
            emitted += list(self.batches.on_end(**batching))
        acks = [ack for batch in emitted for ack in self.append.process(
            batch, self.streams, stream=cells['stream'], offset=cells['offset'])]
        if commit:
            self.committed = {name: cell.value for name, cell in cells.items()}
        return acks
