"""What the writer emits: one acknowledgement per append on the main output, one dead letter per refused row."""

from typing import Any, Dict

DEAD_LETTER = 'dead_letter'  # the tagged output of rows the writer or BigQuery refused
WRITTEN = 'written'  # the main output: one acknowledgement per append

# Dead-letter reasons.
UNSERIALIZABLE = 'unserializable'  # the row does not fit the schema (caught before sending)
ROW_ERROR = 'row_error'  # BigQuery refused the row (AppendRowsResponse.row_errors)
TOO_LARGE = 'row_too_large'  # the row alone is over the request limit
DETAIL_LIMIT = 300  # characters of a server's message kept in a dead letter


def acknowledgement(table: str, stream: str, offset: int, rows: int, size: int, already_written: bool) -> Dict:
    """{'table', 'stream', 'offset' (of the append's first row), 'rows', 'bytes' (serialized rows),
    'already_written' (True: the server answered ALREADY_EXISTS, an earlier attempt had written it)}"""
    return {'table': table, 'stream': stream, 'offset': offset, 'rows': rows, 'bytes': size,
            'already_written': already_written}


def dead_letter(table: str, row: Any, reason: str, detail: str) -> Dict:
    """{'table', 'row' (as given; for a row BigQuery refused, decoded from what was sent: TIMESTAMP as
    microseconds), 'reason' (one of the reasons above), 'detail' (readable, at most 300 characters)}"""
    return {'table': table, 'row': row, 'reason': reason, 'detail': (detail or '')[:DETAIL_LIMIT]}
