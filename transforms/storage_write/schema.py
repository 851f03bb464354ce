"""Rows to protocol buffers from a BigQuery table schema (pure): the DescriptorProto the Storage Write API reads,
a row's serialized bytes, the way back for dead letters, and the check that a table and a schema agree."""

import dataclasses
import datetime
import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_EPOCH_DATE = datetime.date(1970, 1, 1)
_IDENTIFIER = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,299}$')
MESSAGE_NAME = 'Row'

# BigQuery's type names (legacy aliases folded in) and the proto type each is sent as. TIMESTAMP goes as INT64
# microseconds since the epoch and DATE as INT32 days, the encodings the Storage Write API documents; NUMERIC,
# BIGNUMERIC, DATETIME, TIME, JSON and GEOGRAPHY go as their canonical strings.
# https://cloud.google.com/bigquery/docs/supported-data-types
CANONICAL_TYPES = {'INTEGER': 'INT64', 'FLOAT': 'FLOAT64', 'BOOLEAN': 'BOOL'}
PROTO_TYPES = {
    'STRING': _F.TYPE_STRING, 'INT64': _F.TYPE_INT64, 'FLOAT64': _F.TYPE_DOUBLE, 'BOOL': _F.TYPE_BOOL,
    'BYTES': _F.TYPE_BYTES, 'TIMESTAMP': _F.TYPE_INT64, 'DATE': _F.TYPE_INT32, 'NUMERIC': _F.TYPE_STRING,
    'BIGNUMERIC': _F.TYPE_STRING, 'DATETIME': _F.TYPE_STRING, 'TIME': _F.TYPE_STRING, 'JSON': _F.TYPE_STRING,
    'GEOGRAPHY': _F.TYPE_STRING,
}
MODES = ('NULLABLE', 'REQUIRED', 'REPEATED')


class SchemaError(ValueError):
    """A schema this writer cannot send, or one that does not match the table."""


class RowError(ValueError):
    """A row that cannot be serialized for its schema (the message is the dead letter's reason)."""


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str  # canonical: INT64, FLOAT64, BOOL, not the legacy aliases
    mode: str = 'NULLABLE'


def columns_of(schema: Any) -> Tuple[Column, ...]:
    """Beam's dict form {'fields': [{'name', 'type', 'mode'}]} (or the list of fields) -> canonical columns;
    SchemaError for what this writer cannot send (RECORD columns, names that are not identifiers)."""
    fields = schema.get('fields') if isinstance(schema, Mapping) else schema
    if not fields:
        raise SchemaError('the schema has no fields')
    columns, seen = [], set()
    for field in fields:
        name, kind = field.get('name', ''), str(field.get('type', '')).upper()
        mode = str(field.get('mode') or 'NULLABLE').upper()
        kind = CANONICAL_TYPES.get(kind, kind)
        if not _IDENTIFIER.match(name):
            raise SchemaError('column %r is not a plain identifier (flexible column names are not supported)' % name)
        if name.lower() in seen:
            raise SchemaError('column %r appears twice' % name)
        if kind in ('RECORD', 'STRUCT'):
            raise SchemaError('column %r is a RECORD: nested columns are not supported by this writer' % name)
        if kind not in PROTO_TYPES:
            raise SchemaError('column %r has type %r, which this writer does not send' % (name, kind))
        if mode not in MODES:
            raise SchemaError('column %r has mode %r (expected one of %s)' % (name, mode, ', '.join(MODES)))
        seen.add(name.lower())
        columns.append(Column(name, kind, mode))
    return tuple(columns)


def descriptor_for(columns: Sequence[Column]) -> descriptor_pb2.DescriptorProto:
    """The proto2 message the rows are sent as: one optional (or repeated) field per column, numbered in order.
    REQUIRED is checked while serializing, so a missing value is a dead letter with a reason, not a server error."""
    message = descriptor_pb2.DescriptorProto(name=MESSAGE_NAME)
    for number, column in enumerate(columns, start=1):
        message.field.add(name=column.name, number=number, type=PROTO_TYPES[column.type],
                          label=_F.LABEL_REPEATED if column.mode == 'REPEATED' else _F.LABEL_OPTIONAL)
    return message


def _message_class(descriptor: descriptor_pb2.DescriptorProto) -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto(name='storage_write_row.proto', syntax='proto2',
                                                message_type=[descriptor]))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(MESSAGE_NAME))


# -- one value to its proto form ----------------------------------------------------------------------------------

def _int64(value: Any) -> int:
    if isinstance(value, bool):
        raise RowError('a bool is not an INT64')
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip('+-').isdigit():
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise RowError('%r is not an INT64' % (value,))
    if not -2 ** 63 <= number < 2 ** 63:
        raise RowError('%d is out of INT64 range' % number)
    return number


def _float64(value: Any) -> float:
    if isinstance(value, bool):
        raise RowError('a bool is not a FLOAT64')
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RowError('%r is not a FLOAT64' % (value,)) from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ('true', 'false'):
        return value.strip().lower() == 'true'
    raise RowError('%r is not a BOOL' % (value,))


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise RowError('%r is not a string' % (value,))


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise RowError('%r is not BYTES' % (value,))


def timestamp_micros(value: Any) -> int:
    """A TIMESTAMP as microseconds since the epoch: an aware datetime (naive means UTC), RFC 3339 text
    ('...Z', '+hh:mm', or 'YYYY-MM-DD HH:MM:SS[.f] UTC') or seconds since the epoch as a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise RowError('%r is not a TIMESTAMP' % (value,))
        return round(value * 1_000_000)
    if isinstance(value, str):
        text = value.strip().replace(' UTC', '+00:00')
        try:
            value = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise RowError('%r is not a TIMESTAMP' % (text,)) from None
    if not isinstance(value, datetime.datetime):
        raise RowError('%r is not a TIMESTAMP' % (value,))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return (value - _EPOCH) // datetime.timedelta(microseconds=1)


def _date_days(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value.strip())
        except ValueError:
            raise RowError('%r is not a DATE' % (value,)) from None
    if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
        raise RowError('%r is not a DATE' % (value,))
    return (value - _EPOCH_DATE).days


def _text(value: Any) -> str:
    """NUMERIC, DATETIME, TIME, JSON, GEOGRAPHY: their canonical text (numbers and civil times via str/isoformat)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool) or type(value).__name__ == 'Decimal':
        return str(value)
    raise RowError('%r cannot be sent as text' % (value,))


CONVERTERS: Dict[str, Callable[[Any], Any]] = {
    'STRING': _string, 'INT64': _int64, 'FLOAT64': _float64, 'BOOL': _bool, 'BYTES': _bytes,
    'TIMESTAMP': timestamp_micros, 'DATE': _date_days, 'NUMERIC': _text, 'BIGNUMERIC': _text, 'DATETIME': _text,
    'TIME': _text, 'JSON': _text, 'GEOGRAPHY': _text,
}


class RowSerializer:
    """Rows (dicts) to serialized proto messages for one schema, and back (for dead letters and tests)."""

    def __init__(self, schema: Any):
        self.columns = columns_of(schema)
        self.descriptor = descriptor_for(self.columns)
        self._message = _message_class(self.descriptor)
        self._names = {column.name for column in self.columns}

    def serialize(self, row: Any) -> bytes:
        """The row's proto bytes; RowError (a readable reason) for a row that does not fit the schema. Keys not in
        the schema are refused, not dropped: a silently dropped column is data lost."""
        if not isinstance(row, Mapping):
            raise RowError('the row is not a dict')
        unknown = sorted(set(row) - self._names)
        if unknown:
            raise RowError('not in the schema: %s' % ', '.join(unknown))
        message = self._message()
        for column in self.columns:
            value = row.get(column.name)
            if value is None or (column.mode == 'REPEATED' and value == []):
                if column.mode == 'REQUIRED':
                    raise RowError('%s is REQUIRED and missing' % column.name)
                continue
            convert = CONVERTERS[column.type]
            try:
                if column.mode == 'REPEATED':
                    if not isinstance(value, (list, tuple)):
                        raise RowError('is REPEATED and not a list')
                    getattr(message, column.name).extend(convert(item) for item in value)
                else:
                    setattr(message, column.name, convert(value))
            except (RowError, ValueError, TypeError) as error:
                raise RowError('%s: %s' % (column.name, error)) from None
        return message.SerializeToString()

    def deserialize(self, data: bytes) -> Dict[str, Any]:
        """The proto bytes as a dict of the fields set (TIMESTAMP as micros, DATE as days, as they were sent)."""
        message = self._message.FromString(data)
        row: Dict[str, Any] = {}
        for column in self.columns:
            if column.mode == 'REPEATED':
                row[column.name] = list(getattr(message, column.name))
            elif message.HasField(column.name):
                row[column.name] = getattr(message, column.name)
        return row


def schema_mismatches(writer: Sequence[Column], table: Sequence[Column]) -> List[str]:
    """Every way the writer's columns and the table's disagree, readable; empty when the rows fit the table.
    A column the writer has and the table lacks, a type or mode that differs, and a REQUIRED table column the
    writer never sends are mismatches; a NULLABLE table column the writer leaves out is not."""
    found = {column.name.lower(): column for column in table}
    problems = []
    for column in writer:
        there: Optional[Column] = found.pop(column.name.lower(), None)
        if there is None:
            problems.append('%s is not in the table' % column.name)
        elif there.type != column.type:
            problems.append('%s is %s in the table, %s in the schema' % (column.name, there.type, column.type))
        elif there.mode != column.mode and 'REPEATED' in (there.mode, column.mode):
            problems.append('%s is %s in the table, %s in the schema' % (column.name, there.mode, column.mode))
        elif there.mode == 'REQUIRED' and column.mode == 'NULLABLE':
            problems.append('%s is REQUIRED in the table, NULLABLE in the schema' % column.name)
    problems += ['%s is REQUIRED in the table and not in the schema' % column.name
                 for column in found.values() if column.mode == 'REQUIRED']
    return problems
