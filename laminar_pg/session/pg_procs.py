"""`pg_catalog.pg_proc`: the functions laminar_pg answers, so `\\dfS` lists them with their
argument and result types, and the type I/O functions pg_type names (typinput,
typreceive ...), so drivers that join pg_type to pg_proc (Npgsql's type loader tells arrays
by `typreceive` = array_recv) find them.

Strategy: one row per signature, from a short table below (the SQL functions) and from
pg_type's rows (the I/O functions). OIDs are derived from the signature (crc32 into a
range of their own), so they are the same across restarts; they are not PostgreSQL's.
pg_get_function_arguments / pg_get_function_result / pg_get_function_identity_arguments
read the same table. regproc columns (pg_type.typreceive ...) hold the function's name
here; pg_functions.py turns `pg_proc.oid = pg_type.typreceive` into a comparison of names.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laminar_pg.catalog.pg_types import BOOTSTRAP_SUPERUSER_OID, format_type, pg_type_rows
from laminar_pg.session.pg_catalog import register_rows

if TYPE_CHECKING:
    from laminar_pg.session.pg_model import CatalogSnapshot
    from laminar_pg.session.session import PgSession

PG_CATALOG_OID = 11
_INTERNAL_LANGUAGE = 12
_PROC_OID_BASE = 0x70000000

# type OIDs used below
_BOOL, _BYTEA, _INT8, _INT2, _INT4, _TEXT, _OID, _FLOAT8 = 16, 17, 20, 21, 23, 25, 26, 701
_CSTRING, _INTERNAL, _ANYARRAY, _ANYELEMENT, _NUMERIC = 2275, 2281, 2277, 2283, 1700
_TIMESTAMP, _TIMESTAMPTZ, _INTERVAL, _DATE, _JSONB, _VARCHAR = 1114, 1184, 1186, 1082, 3802, 1043
_TEXT_ARRAY, _ANY, _VOID, _NAME, _NAME_ARRAY = 1009, 2276, 2278, 19, 1003


@dataclass(frozen=True)
class Proc:
    name: str
    args: tuple[int, ...]
    result: int
    kind: str = "f"  # f function, a aggregate, w window
    returns_set: bool = False
    volatile: str = "i"
    strict: bool = True  # proisstrict: NULL in, NULL out without a call

    @property
    def oid(self) -> int:
        signature = f"{self.name}({','.join(map(str, self.args))})"
        return _PROC_OID_BASE | (zlib.crc32(signature.encode()) & 0x0FFFFFFF)


# The SQL functions ad-hoc queries and views use most, with PostgreSQL 15's signatures.
_SQL_FUNCTIONS: list[Proc] = [
    Proc("abs", (_INT8,), _INT8), Proc("abs", (_FLOAT8,), _FLOAT8),
    Proc("abs", (_NUMERIC,), _NUMERIC), Proc("round", (_NUMERIC, _INT4), _NUMERIC),
    Proc("round", (_FLOAT8,), _FLOAT8), Proc("floor", (_FLOAT8,), _FLOAT8),
    Proc("ceil", (_FLOAT8,), _FLOAT8), Proc("sqrt", (_FLOAT8,), _FLOAT8),
    Proc("power", (_FLOAT8, _FLOAT8), _FLOAT8), Proc("mod", (_INT8, _INT8), _INT8),
    Proc("length", (_TEXT,), _INT4), Proc("lower", (_TEXT,), _TEXT),
    Proc("upper", (_TEXT,), _TEXT), Proc("substr", (_TEXT, _INT4, _INT4), _TEXT),
    Proc("replace", (_TEXT, _TEXT, _TEXT), _TEXT), Proc("concat", (_ANY,), _TEXT),
    Proc("split_part", (_TEXT, _TEXT, _INT4), _TEXT), Proc("btrim", (_TEXT,), _TEXT),
    Proc("left", (_TEXT, _INT4), _TEXT), Proc("right", (_TEXT, _INT4), _TEXT),
    Proc("strpos", (_TEXT, _TEXT), _INT4), Proc("md5", (_TEXT,), _TEXT),
    Proc("format", (_TEXT, _ANY), _TEXT),
    Proc("string_to_array", (_TEXT, _TEXT), _TEXT_ARRAY),
    Proc("array_to_string", (_ANYARRAY, _TEXT), _TEXT),
    Proc("array_length", (_ANYARRAY, _INT4), _INT4),
    Proc("unnest", (_ANYARRAY,), _ANYELEMENT, returns_set=True),
    Proc("generate_series", (_INT4, _INT4), _INT4, returns_set=True),
    Proc("generate_series", (_INT8, _INT8), _INT8, returns_set=True),
    Proc("now", (), _TIMESTAMPTZ, volatile="s"),
    Proc("date_trunc", (_TEXT, _TIMESTAMPTZ), _TIMESTAMPTZ, volatile="s"),
    Proc("date_trunc", (_TEXT, _TIMESTAMP), _TIMESTAMP),
    Proc("date_part", (_TEXT, _TIMESTAMP), _FLOAT8),
    Proc("to_timestamp", (_FLOAT8,), _TIMESTAMPTZ),
    Proc("age", (_TIMESTAMP, _TIMESTAMP), _INTERVAL),
    Proc("jsonb_build_object", (_ANY,), _JSONB, volatile="s"),
    Proc("jsonb_typeof", (_JSONB,), _TEXT),
    Proc("coalesce", (_ANYELEMENT,), _ANYELEMENT),
    Proc("count", (), _INT8, kind="a"), Proc("count", (_ANY,), _INT8, kind="a"),
    Proc("sum", (_INT8,), _NUMERIC, kind="a"), Proc("sum", (_INT4,), _INT8, kind="a"),
    Proc("sum", (_FLOAT8,), _FLOAT8, kind="a"), Proc("sum", (_NUMERIC,), _NUMERIC, kind="a"),
    Proc("avg", (_INT8,), _NUMERIC, kind="a"), Proc("avg", (_FLOAT8,), _FLOAT8, kind="a"),
    Proc("min", (_ANYELEMENT,), _ANYELEMENT, kind="a"),
    Proc("max", (_ANYELEMENT,), _ANYELEMENT, kind="a"),
    Proc("string_agg", (_TEXT, _TEXT), _TEXT, kind="a"),
    Proc("array_agg", (_ANYELEMENT,), _ANYARRAY, kind="a"),
    Proc("row_number", (), _INT8, kind="w"), Proc("rank", (), _INT8, kind="w"),
    Proc("dense_rank", (), _INT8, kind="w"),
    Proc("lag", (_ANYELEMENT,), _ANYELEMENT, kind="w"),
    Proc("lead", (_ANYELEMENT,), _ANYELEMENT, kind="w"),
    Proc("version", (), _TEXT, volatile="s"), Proc("current_database", (), _NAME, volatile="s"),
    Proc("current_schema", (), _NAME, volatile="s"),
    Proc("current_schemas", (_BOOL,), _NAME_ARRAY, volatile="s"),
    Proc("current_setting", (_TEXT,), _TEXT, volatile="s"),
    Proc("set_config", (_TEXT, _TEXT, _BOOL), _TEXT, volatile="v"),
    Proc("pg_backend_pid", (), _INT4, volatile="s"),
    Proc("pg_sleep", (_FLOAT8,), _VOID, volatile="v"),
    Proc("format_type", (_OID, _INT4), _TEXT, volatile="s", strict=False),
    Proc("pg_get_userbyid", (_OID,), _NAME, volatile="s"),
    Proc("pg_table_is_visible", (_OID,), _BOOL, volatile="s"),
    Proc("pg_get_indexdef", (_OID,), _TEXT, volatile="s"),
    Proc("pg_get_constraintdef", (_OID,), _TEXT, volatile="s"),
    Proc("pg_get_viewdef", (_OID,), _TEXT, volatile="s"),
    Proc("quote_ident", (_TEXT,), _TEXT), Proc("quote_literal", (_TEXT,), _TEXT),
    Proc("parse_ident", (_TEXT, _BOOL), _TEXT_ARRAY),
    Proc("pg_size_pretty", (_INT8,), _TEXT),
    Proc("pg_cancel_backend", (_INT4,), _BOOL, volatile="v"),
    Proc("pg_terminate_backend", (_INT4, _INT8), _BOOL, volatile="v"),
    Proc("obj_description", (_OID, _NAME), _TEXT, volatile="s"),
    Proc("col_description", (_OID, _INT4), _TEXT, volatile="s"),
]


def _io_functions() -> list[Proc]:
    """The input / output / receive / send functions pg_type's rows name, once each."""
    found: dict[str, Proc] = {}
    for row in pg_type_rows():
        generic = row["typelem"] != 0
        own = _ANYARRAY if generic else row["oid"]
        for column, args, result in (("typinput", (_CSTRING,), own),
                                     ("typoutput", (own,), _CSTRING),
                                     ("typreceive", (_INTERNAL,), own),
                                     ("typsend", (own,), _BYTEA)):
            name = row[column]
            if name and name != "-" and name not in found:
                found[name] = Proc(name, args, result, volatile="s" if generic else "i")
    return list(found.values())


PROCS: list[Proc] = _SQL_FUNCTIONS + _io_functions()
BY_OID: dict[int, Proc] = {p.oid: p for p in PROCS}
assert len(BY_OID) == len(PROCS), "two signatures share a derived OID"


def arguments(oid: int | None) -> str | None:
    """pg_get_function_arguments: the argument types, as \\df prints them."""
    proc = BY_OID.get(oid) if oid is not None else None
    if proc is None:
        return None
    return ", ".join(format_type(a, -1) or "" for a in proc.args)


def result(oid: int | None) -> str | None:
    """pg_get_function_result: the result type (SETOF for set-returning functions)."""
    proc = BY_OID.get(oid) if oid is not None else None
    if proc is None:
        return None
    text = format_type(proc.result, -1) or ""
    return f"SETOF {text}" if proc.returns_set else text


@register_rows("pg_proc")
def _procs(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{
        "oid": p.oid, "proname": p.name, "pronamespace": PG_CATALOG_OID,
        "proowner": BOOTSTRAP_SUPERUSER_OID, "prolang": _INTERNAL_LANGUAGE, "procost": 1.0,
        "prorows": 1000.0 if p.returns_set else 0.0, "prosupport": "-", "prokind": p.kind,
        "proisstrict": p.kind == "f" and p.strict, "proretset": p.returns_set, "provolatile": p.volatile,
        "proparallel": "s", "pronargs": len(p.args), "prorettype": p.result,
        "proargtypes": list(p.args), "prosrc": p.name,
    } for p in PROCS]
