"""The embedded SQL engine (DuckDB) for ad-hoc queries, and its errors as SQLSTATEs.

Each session has its own DuckDB connection (a cursor of one shared database).  Queries run
in worker threads (DuckDB releases the GIL), so a long query never stalls the event loop;
cancellation interrupts the connection.
"""

from __future__ import annotations

import datetime
import re
import threading
from typing import Any, Protocol

import duckdb
import pyarrow as pa
from duckdb import sqltypes

from laminar_pg import errcodes
from laminar_pg.errors import SqlError, error_for

# SET on every new engine connection, so results match PostgreSQL (see FACTS.md).
CONNECTION_SETUP = (
    "SET integer_division = true",
    # DuckDB's own NULL order (NULLS LAST both ways): sqlglot writes every ORDER BY for
    # it, spelling out PostgreSQL's NULLS FIRST on DESC and leaving out a NULLS LAST that
    # DuckDB already applies, so a PostgreSQL-like default here would turn an explicit
    # `DESC NULLS LAST` into NULLS FIRST.
    "SET default_null_order = 'nulls_last'",
    "SET TimeZone = 'UTC'",
    "SET search_path = 'public'",
    "SET arrow_lossless_conversion = true",
)

class QueryContext(Protocol):
    """What the session functions need from the session that runs the query."""

    @property
    def cancel_event(self) -> threading.Event: ...

    def get_setting(self, name: str) -> str | None: ...

    def set_setting(self, name: str, value: str | None, is_local: bool = False) -> None: ...


# Session functions are DuckDB UDFs; DuckDB may call them on any of its threads, so the
# planner passes the session's process id and the UDF finds the session here.
_SESSIONS: dict[int, QueryContext] = {}


def register_session(pid: int, context: QueryContext) -> None:
    _SESSIONS[pid] = context


def unregister_session(pid: int) -> None:
    _SESSIONS.pop(pid, None)


def _session(pid: int | None) -> QueryContext:
    context = _SESSIONS.get(pid or 0)
    if context is None:
        raise errcodes.InternalError("session function called outside its session")
    return context


def _current_setting(name: str | None, missing_ok: bool | None, pid: int | None) -> str | None:
    if name is None:
        return None
    value = _session(pid).get_setting(name)
    if value is None and not missing_ok:
        raise errcodes.UndefinedObject(f'unrecognized configuration parameter "{name}"')
    return value


def _set_config(
    name: str | None, value: str | None, is_local: bool | None, pid: int | None
) -> str | None:
    if name is None:
        raise errcodes.NullValueNotAllowed("SET requires parameter name")
    context = _session(pid)
    context.set_setting(name, value, bool(is_local))
    return context.get_setting(name)


def _pg_sleep(seconds: float | None, pid: int | None) -> str:
    """pg_sleep(seconds), which a cancel request interrupts; returns void ('')."""
    if seconds is not None and seconds > 0:
        event = _session(pid).cancel_event
        if event.wait(seconds):
            raise errcodes.QueryCanceled("canceling statement due to user request")
    return ""


def _advance_clock(seconds: float | None, pid: int | None) -> str:
    """laminar_advance_clock(seconds): moves the manual clock (a server started with
    LAMINAR_PG_CLOCK=manual, for tests of now() in views); the next epoch has the new
    time. Returns it."""
    runtime = _session(pid).db.streaming.runtime  # type: ignore[attr-defined]
    if runtime.manual_clock_ms is None:
        raise errcodes.ObjectNotInPrerequisiteState(
            "the server's clock is the wall clock (start it with LAMINAR_PG_CLOCK=manual)")
    if seconds is None or seconds < 0:
        raise errcodes.InvalidParameterValue("the clock only moves forward")
    runtime.manual_clock_ms += int(seconds * 1000)
    return datetime.datetime.fromtimestamp(runtime.manual_clock_ms / 1000,
                                           datetime.UTC).isoformat()


def open_engine() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("CREATE SCHEMA public")  # PostgreSQL's default schema
    t = sqltypes
    udfs: list[tuple[str, Any, list[Any], Any]] = [
        ("laminar_pg_sleep", _pg_sleep, [t.DOUBLE, t.BIGINT], t.VARCHAR),
        ("laminar_advance_clock_", _advance_clock, [t.DOUBLE, t.BIGINT], t.VARCHAR),
        ("laminar_current_setting", _current_setting, [t.VARCHAR, t.BOOLEAN, t.BIGINT], t.VARCHAR),
        ("laminar_set_config", _set_config, [t.VARCHAR, t.VARCHAR, t.BOOLEAN, t.BIGINT], t.VARCHAR),
    ]
    for name, fn, args, ret in udfs:
        con.create_function(  # type: ignore[call-overload]
            name, fn, args, ret, null_handling="special", side_effects=True
        )
    from laminar_pg.session import pg_functions  # catalog functions (format_type ...)

    pg_functions.register(con)
    # Clients reach the engine only through SQL we translate, but DuckDB's own table
    # functions (read_csv('/etc/passwd'), glob, ...) would let them read the server's
    # files: PostgreSQL has no such functions, so the engine gets no file system.
    con.execute("SET enable_external_access = false")
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
    "uinteger": 26,  # only the catalog's oid columns have this type: PostgreSQL's oid
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
               1186: 1187, 2950: 2951, 114: 199, 26: 1028}


def type_modifier(t: Any, oid: int) -> int:
    """RowDescription's atttypmod: numeric(p, s) as PostgreSQL encodes it; -1 otherwise
    (and for DECIMAL(38, 10), the engine's stand-in for an unconstrained numeric)."""
    if oid != 1700 or getattr(t, "id", None) != "decimal":
        return -1
    spec = dict(t.children)
    precision, scale = int(spec["precision"]), int(spec["scale"])
    if (precision, scale) == (38, 10):
        return -1
    return ((precision << 16) | scale) + 4


def to_engine_value(value: Any) -> Any:
    """A decoded parameter as DuckDB's Python binding accepts it."""
    from laminar_pg.wire.types import Interval

    if isinstance(value, Interval):
        return f"{value.months} months {value.days} days {value.microseconds} microseconds"
    if isinstance(value, list):
        return [to_engine_value(v) for v in value]
    return value


def duck_type_name_oid(name: str) -> int:
    """The PostgreSQL type OID for a DuckDB type name (duckdb_columns().data_type)."""
    try:
        return duck_type_oid(duckdb.sqltype(name))
    except Exception:
        return 25


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


# DuckDB's error messages that have a PostgreSQL counterpart: (exception class, message
# pattern, SQLSTATE, PostgreSQL's message). Pinned to DuckDB 2.0.x (pyproject.toml);
# tests/e2e/test_errors.py checks each against a real PostgreSQL 15.
_MESSAGE_RULES: list[tuple[type[Exception], re.Pattern[str], str, str]] = [
    (duckdb.CatalogException, re.compile(r"Table with name (\S+) does not exist"),
     "42P01", 'relation "{0}" does not exist'),
    (duckdb.CatalogException, re.compile(r"(?:Scalar|Table|Aggregate) Function with name (\S+) "
                                         r"does not exist"),
     "42883", "function {0} does not exist"),
    (duckdb.BinderException, re.compile(r'column "([^"]+)" must appear in the GROUP BY clause'),
     "42803", 'column "{0}" must appear in the GROUP BY clause or be used in an aggregate '
     "function"),
    (duckdb.BinderException, re.compile(r'Ambiguous reference to column name "([^"]+)"'),
     "42702", 'column reference "{0}" is ambiguous'),
    (duckdb.BinderException, re.compile(r'Referenced table "([^"]+)" not found'),
     "42P01", 'missing FROM-clause entry for table "{0}"'),
    (duckdb.BinderException, re.compile(r'Referenced column "([^"]+)" (?:was )?not found'),
     "42703", 'column "{0}" does not exist'),
    (duckdb.BinderException, re.compile(r"WHERE clause cannot contain window functions"),
     "42P20", "window functions are not allowed in WHERE"),
    (duckdb.InvalidInputException, re.compile(r"More than one row returned by a subquery"),
     "21000", "more than one row returned by a subquery used as an expression"),
    (duckdb.ConversionException, re.compile(r'field value out of range: "([^"]+)"'),
     "22008", 'date/time field value out of range: "{0}"'),
    (duckdb.ConversionException, re.compile(r"Could not convert string '([^']*)' to (\w+)"),
     "22P02", 'invalid input syntax for type {1}: "{0}"'),
    (duckdb.OutOfRangeException, re.compile(r"Overflow in \w+ of (INT\d+)"),
     "22003", "{0} out of range"),
]
_UDF_ERROR = re.compile(r"while executing the UDF: (\w+): (.*)")
_PG_TYPE_NAMES = {"INT16": "smallint", "INT32": "integer", "INT64": "bigint",
                  "DOUBLE": "double precision", "FLOAT": "real", "BOOL": "boolean"}


def translate_error(exc: Exception) -> SqlError:
    """A DuckDB exception as the closest PostgreSQL error."""
    if isinstance(exc, SqlError):
        return exc
    text = str(exc)
    message = text.split(": ", 1)[1] if ": " in text.split("\n")[0] else text
    message = message.split("\n")[0].strip()
    if "Division by zero" in message or "division by zero" in message:
        return errcodes.DivisionByZero("division by zero")
    for kind, pattern, sqlstate, template in _MESSAGE_RULES:
        if isinstance(exc, kind) and (match := pattern.search(message)) is not None:
            groups = [_PG_TYPE_NAMES.get(g, g) for g in match.groups()]
            return error_for(sqlstate, template.format(*groups))
    if isinstance(exc, duckdb.PermissionException):
        return errcodes.InsufficientPrivilege(
            "permission denied: the server's files are not reachable from SQL")
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
        udf = _UDF_ERROR.search(text)
        if udf is not None:  # a session or catalog function raised a PostgreSQL error
            error_class = getattr(errcodes, udf.group(1), None)
            if isinstance(error_class, type) and issubclass(error_class, SqlError):
                return error_class(udf.group(2).strip())
        if "canceling statement" in text:
            return errcodes.QueryCanceled("canceling statement due to user request")
        if "unrecognized configuration parameter" in text:
            return errcodes.UndefinedObject(message[message.find("unrecognized"):].rstrip("'\""))
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
