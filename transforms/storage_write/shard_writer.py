"""One shard's writes, without a runner: a batch of serialized rows appended to the shard's committed stream at
explicit offsets, retried at the same offsets, with ALREADY_EXISTS counted as written (the state in, the state out)."""

import collections
import dataclasses
import logging
import time
from typing import Callable, Counter, Dict, List, Sequence

from transforms.storage_write import results
from transforms.storage_write.client import AppendAnswer, AppendClient, Outcome, StorageWriteError, TransientError
from transforms.storage_write.limits import PER_ROW_OVERHEAD, AppendLimits, split_appends
from transforms.storage_write.schema import RowSerializer

_LOG = logging.getLogger(__name__)

# Counter names (the DoFn reports them as Beam metrics in the namespace below).
METRICS_NAMESPACE = 'storage_write'
APPENDS, ROWS, BYTES, RETRIES, ALREADY_EXISTS = 'appends', 'rows', 'bytes', 'retries', 'already_exists'
ROW_ERRORS, STREAMS_CREATED, STREAMS_LOST, STREAMS_FINALIZED = (
    'row_errors', 'streams_created', 'streams_lost', 'streams_finalized')


class OffsetMismatch(StorageWriteError):
    """The stream ends before the offset the writer's state holds: the state and the table disagree."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Attempts of one append whose answer was lost (transport errors, UNAVAILABLE), with doubling pauses."""
    attempts: int = 8
    first_delay_s: float = 0.2
    max_delay_s: float = 10.0

    def delays(self):
        delay = self.first_delay_s
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(self.max_delay_s, delay * 2)


@dataclasses.dataclass(frozen=True)
class ShardState:
    """What a shard keeps in Beam state between bundles: its stream ('' before the first) and next offset."""
    stream: str = ''
    offset: int = 0


@dataclasses.dataclass
class BatchResult:
    state: ShardState
    written: List[Dict] = dataclasses.field(default_factory=list)
    dead_letters: List[Dict] = dataclasses.field(default_factory=list)
    counts: Counter = dataclasses.field(default_factory=collections.Counter)


class ShardWriter:
    """Appends batches for the shards of one table through one client. Holds no offsets itself: every write starts
    from the ShardState it is given, so a replayed batch given the state of before re-appends at the same offsets."""

    def __init__(self, client: AppendClient, table: str, serializer: RowSerializer,
                 limits: AppendLimits = AppendLimits(), retry: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep):
        self._client, self._table, self._serializer = client, table, serializer
        self._limits, self._retry, self._sleep = limits, retry, sleep

    def write(self, state: ShardState, rows: Sequence[bytes]) -> BatchResult:
        """Appends `rows` in order from state.offset; returns the state to keep, the acknowledgements, the dead
        letters and the counts. Raises (and the caller must not keep any state) when the batch cannot be written."""
        result = BatchResult(state)
        fitting = []
        for row in rows:
            if len(row) + PER_ROW_OVERHEAD > self._limits.max_bytes:
                self._refuse(result, row, results.TOO_LARGE,
                             'the row is %d bytes; one append takes at most %d' % (len(row), self._limits.max_bytes))
            else:
                fitting.append(row)
        if not fitting:
            return result
        stream, offset = state.stream, state.offset
        if not stream:
            stream, offset = self._new_stream(result), 0
        for chunk in split_appends(fitting, self._limits):
            pending = chunk
            while pending:
                answer = self._append(result, stream, offset, pending)
                if answer.outcome in (Outcome.OK, Outcome.ALREADY_EXISTS):
                    again = answer.outcome is Outcome.ALREADY_EXISTS
                    size = sum(len(row) for row in pending)
                    result.counts.update({APPENDS: 1, ROWS: len(pending), BYTES: size, ALREADY_EXISTS: int(again)})
                    result.written.append(results.acknowledgement(self._table, stream, offset, len(pending), size,
                                                                  again))
                    offset += len(pending)
                    pending = []
                elif answer.outcome is Outcome.ROW_ERRORS:
                    pending = self._drop_refused(result, pending, answer)
                elif answer.outcome is Outcome.OUT_OF_RANGE:
                    raise OffsetMismatch(
                        'stream %s ends before offset %d, the next offset this shard\'s state holds: rows the state '
                        'counts as written are not in the stream (%s)' % (stream, offset, answer.detail))
                else:  # STREAM_LOST: a new stream, and this append again at its offset 0
                    _LOG.warning('stream %s is gone (%s); appending to a new stream', stream, answer.detail)
                    result.counts[STREAMS_LOST] += 1
                    stream, offset = self._new_stream(result), 0
        result.state = ShardState(stream, offset)
        return result

    def finalize(self, stream: str) -> int:
        """Seals a stream (its rows are already visible); the rows it holds, or -1 when it was already gone."""
        for delay in list(self._retry.delays()) + [None]:
            try:
                return self._client.finalize(stream)
            except TransientError:
                if delay is None:
                    raise
                self._sleep(delay)
            except Exception as error:  # NOT_FOUND and the like: nothing left to seal
                _LOG.warning('finalizing %s: %s', stream, error)
                return -1
        return -1

    def _new_stream(self, result: BatchResult) -> str:
        result.counts[STREAMS_CREATED] += 1
        return self._client.create_stream(self._table)

    def _append(self, result: BatchResult, stream: str, offset: int, rows: List[bytes]) -> AppendAnswer:
        """One append at `offset`, re-sent at the same offset while its answer is lost."""
        delays = self._retry.delays()
        while True:
            try:
                return self._client.append(stream, offset, rows, self._serializer.descriptor)
            except TransientError as error:
                delay = next(delays, None)
                if delay is None:
                    raise StorageWriteError('append of %d rows at offset %d of %s: no answer after %d attempts (%s)'
                                            % (len(rows), offset, stream, self._retry.attempts, error)) from None
                result.counts[RETRIES] += 1
                self._sleep(delay)

    def _drop_refused(self, result: BatchResult, rows: List[bytes], answer: AppendAnswer) -> List[bytes]:
        """Dead-letters the rows BigQuery refused; the rest go again at the same offset (none was written)."""
        refused = {index for index in answer.row_errors if 0 <= index < len(rows)}
        if not refused:
            raise StorageWriteError('BigQuery refused an append with row errors that name no row of it: %s'
                                    % answer.detail)
        for index in sorted(refused):
            self._refuse(result, rows[index], results.ROW_ERROR, answer.row_errors[index])
        return [row for index, row in enumerate(rows) if index not in refused]

    def _refuse(self, result: BatchResult, row: bytes, reason: str, detail: str) -> None:
        result.counts[ROW_ERRORS] += 1
        result.dead_letters.append(results.dead_letter(self._table, self._serializer.deserialize(row), reason,
                                                       detail))
