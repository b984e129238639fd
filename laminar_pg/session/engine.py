"""The embedded SQL engine (DuckDB) for ad-hoc queries, and its errors as SQLSTATEs.

Each session has its own DuckDB connection (a cursor of one shared database).  Queries run
in worker threads (DuckDB releases the GIL), so a long query never stalls the event loop;
cancellation interrupts the connection.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import duckdb
import pyarrow as pa
from duckdb import sqltypes

from laminar_pg import errcodes
from laminar_pg.errors import SqlError

# SET on every new engine connection, so results match PostgreSQL (see FACTS.md).
CONNECTION_SETUP = (
    "SET integer_division = true",
    "SET default_null_order = 'nulls_last_on_asc_first_on_desc'",
    "SET TimeZone = 'UTC'",
)

_local = threading.local()


def current_cancel_event() -> threading.Event | None:
    return getattr(_local, "cancel", None)


def set_cancel_event(event: threading.Event | None) -> None:
    _local.cancel = event


def _pg_sleep(seconds: float | None) -> None:
    """pg_sleep(seconds) that a cancel request interrupts (checked every few ms)."""
    if seconds is None or seconds <= 0:
        return None
    event = current_cancel_event()
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if event is not None and event.wait(min(left, 0.05)):
            raise errcodes.QueryCanceled("canceling statement due to user request")
        if event is None:
            time.sleep(min(left, 0.05))


def open_engine() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.create_function(
        "pg_sleep", _pg_sleep, [sqltypes.DOUBLE], sqltypes.VARCHAR, null_handling="special",
        side_effects=True,
    )
    return con


def new_connection(root: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    cur = root.cursor()
    for stmt in CONNECTION_SETUP:
        cur.execute(stmt)
    return cur


_DUCK_OIDS = {
    "boolean": 16,
    "tinyint": 21,
    "smallint": 21,
    "integer": 23,
    "bigint": 20,
    "utinyint": 21,
    "usmallint": 23,
    "uinteger": 20,
    "ubigint": 1700,
    "hugeint": 1700,
    "uhugeint": 1700,
    "decimal": 1700,
    "float": 700,
    "double": 701,
    "varchar": 25,
    "blob": 17,
    "date": 1082,
    "time": 1083,
    "timestamp": 1114,
    "timestamp_s": 1114,
    "timestamp_ms": 1114,
    "timestamp_ns": 1114,
    "timestamp with time zone": 1184,
    "interval": 1186,
    "uuid": 2950,
    "null": 25,
}
_ARRAY_OIDS = {16: 1000, 17: 1001, 21: 1005, 23: 1007, 20: 1016, 25: 1009, 700: 1021,
               701: 1022, 1700: 1231, 1082: 1182, 1083: 1183, 1114: 1115, 1184: 1185,
               1186: 1187, 2950: 2951, 114: 199}


def duck_type_oid(t: Any) -> int:
    """The PostgreSQL type OID for a DuckDB result type."""
    if str(t) == "JSON":
        return 114
    tid = t.id
    if tid == "list":
        child = dict(t.children)["child"]
        return _ARRAY_OIDS.get(duck_type_oid(child), 1009)
    oid = _DUCK_OIDS.get(tid)
    if oid is None:
        return 25  # structs, maps, enums...: rendered as text
    return oid


def translate_error(exc: Exception) -> SqlError:
    """A DuckDB exception as the closest PostgreSQL error."""
    if isinstance(exc, SqlError):
        return exc
    text = str(exc)
    message = text.split(": ", 1)[1] if ": " in text.split("\n")[0] else text
    message = message.split("\n")[0].strip()
    if isinstance(exc, duckdb.InterruptException):
        return errcodes.QueryCanceled("canceling statement due to user request")
    if isinstance(exc, duckdb.ParserException):
        return errcodes.SyntaxError(message)
    if isinstance(exc, duckdb.CatalogException):
        if "Table" in message and "does not exist" in message:
            return errcodes.UndefinedTable(message)
        if "Function" in message or "function" in message:
            return errcodes.UndefinedFunction(message)
        return errcodes.UndefinedObject(message)
    if isinstance(exc, duckdb.BinderException):
        if "not found in FROM clause" in message or "Referenced column" in message:
            return errcodes.UndefinedColumn(message)
        if "No function matches" in message:
            return errcodes.UndefinedFunction(message)
        return errcodes.SyntaxErrorOrAccessRuleViolation(message)
    if isinstance(exc, duckdb.ConversionException):
        if "out of range" in message.lower() or "overflow" in message.lower():
            return errcodes.NumericValueOutOfRange(message)
        return errcodes.InvalidTextRepresentation(message)
    if isinstance(exc, duckdb.OutOfRangeException):
        return errcodes.NumericValueOutOfRange(message)
    if isinstance(exc, duckdb.InvalidInputException):
        if "canceling statement" in text:
            return errcodes.QueryCanceled("canceling statement due to user request")
        return errcodes.InvalidParameterValue(message)
    if isinstance(exc, duckdb.NotImplementedException):
        return errcodes.FeatureNotSupported(message)
    if isinstance(exc, duckdb.Error):
        return errcodes.DataException(message)
    raise exc


def read_batches(reader: pa.RecordBatchReader, limit: int = 1) -> list[pa.RecordBatch]:
    """Up to `limit` batches (runs in a worker thread)."""
    out = []
    for _ in range(limit):
        try:
            out.append(reader.read_next_batch())
        except StopIteration:
            break
    return out
