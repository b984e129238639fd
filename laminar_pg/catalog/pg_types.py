"""PostgreSQL's view of the types laminar_pg supports: pg_type rows, format_type(), and the
PostgreSQL type of an Arrow column.

The wire's type registry (laminar_pg.wire.types) is the single list of supported types;
this module adds what pg_type and psql show about them (SQL names, type modifiers).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from laminar_pg.wire import types

PG_CATALOG_OID = 11  # PostgreSQL's OID of the pg_catalog namespace
BOOTSTRAP_SUPERUSER_OID = 10  # PostgreSQL's OID of the bootstrap superuser role
DEFAULT_COLLATION_OID = 100

# format_type()'s SQL names, where they differ from typname.
_SQL_NAMES = {
    "int2": "smallint", "int4": "integer", "int8": "bigint", "float4": "real",
    "float8": "double precision", "bool": "boolean", "varchar": "character varying",
    "bpchar": "character", "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone", "time": "time without time zone",
    "char": '"char"',
}
# Types whose values collate (pg_type.typcollation is the default collation).
_COLLATABLE = frozenset({"text", "varchar", "bpchar", "name"})
_TYPTYPE = {"record": "p", "void": "p", "unknown": "p"}
_ALIGN = {1: "c", 2: "s", 4: "i", 8: "d"}


# Pseudo-types pg_proc's signatures use (PostgreSQL's OIDs and names); no value has them.
_PSEUDO_TYPES = {2275: "cstring", 2276: '"any"', 2277: "anyarray", 2281: "internal",
                 2283: "anyelement"}


def format_type(oid: int | None, typmod: int | None) -> str | None:
    """PostgreSQL's format_type(type_oid, typemod): the SQL name, with modifiers."""
    if oid is None:
        return None
    pg = types.TYPES_BY_OID.get(oid)
    if pg is None:
        return _PSEUDO_TYPES.get(oid, "???")
    if pg.element_oid:
        inner = format_type(pg.element_oid, typmod)
        return f"{inner}[]"
    name = _SQL_NAMES.get(pg.name, pg.name)
    mod = -1 if typmod is None else typmod
    if pg.name in ("varchar", "bpchar") and mod >= 4:
        return f"{name}({mod - 4})"
    if pg.name == "numeric" and mod >= 4:
        packed = mod - 4
        return f"numeric({packed >> 16},{packed & 0xFFFF})"
    return name


def type_oid_by_name(text: str) -> int | None:
    """The type a name given to regtype / ::regtype denotes (None: no such type)."""
    name = " ".join(text.strip().lower().replace("pg_catalog.", "").split())
    pg = types.TYPES_BY_NAME.get(name)
    if pg is None:
        pg = types.TYPES_BY_NAME.get(name.split("(")[0].strip())
    if pg is None:
        for typname, sql in _SQL_NAMES.items():
            if name == sql:
                pg = types.TYPES_BY_NAME.get(typname)
    return pg.oid if pg is not None else None


def storage(oid: int) -> str:
    """pg_type.typstorage: 'p' plain for fixed-length types, 'm' main for numeric, 'x'
    extended for the other variable-length ones."""
    pg = types.TYPES_BY_OID.get(oid)
    if pg is None or pg.typlen == -1:
        return "m" if oid == 1700 else "x"
    return "p"


def pg_type_rows() -> list[dict[str, Any]]:
    """One pg_type row per type the wire supports (arrays included), PostgreSQL's OIDs."""
    rows = []
    for pg in sorted(types.TYPES_BY_OID.values(), key=lambda t: t.oid):
        rows.append({
            "oid": pg.oid, "typname": pg.name, "typnamespace": PG_CATALOG_OID,
            "typowner": BOOTSTRAP_SUPERUSER_OID, "typlen": pg.typlen, "typbyval": pg.typbyval,
            "typtype": _TYPTYPE.get(pg.name, "b"), "typcategory": pg.category,
            "typispreferred": pg.name in ("text", "float8", "bool", "timestamptz", "oid",
                                          "interval"),
            "typisdefined": True, "typdelim": pg.delimiter, "typrelid": 0,
            "typsubscript": "array_subscript_handler" if pg.element_oid else "-",
            "typelem": pg.element_oid, "typarray": pg.array_oid,
            "typinput": pg.input, "typoutput": pg.output, "typreceive": pg.receive,
            "typsend": pg.send, "typmodin": "-", "typmodout": "-", "typanalyze": "-",
            "typalign": "i" if pg.typlen < 0 and pg.element_oid
            else _ALIGN.get(pg.typlen, "i" if pg.typlen < 0 else "c"),
            "typstorage": storage(pg.oid), "typnotnull": False,
            "typbasetype": 0, "typtypmod": -1, "typndims": 0,
            "typcollation": DEFAULT_COLLATION_OID if pg.name in _COLLATABLE else 0,
        })
    return rows


def arrow_type_oid(t: pa.DataType) -> int:
    """The PostgreSQL type of an Arrow column of a source, stream or view."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        elem = types.TYPES_BY_OID.get(arrow_type_oid(t.value_type))
        return elem.array_oid if elem is not None and elem.array_oid else 1009
    checks: list[tuple[Any, int]] = [
        (pa.types.is_boolean, 16), (pa.types.is_int8, 21), (pa.types.is_int16, 21),
        (pa.types.is_int32, 23), (pa.types.is_int64, 20), (pa.types.is_uint8, 21),
        (pa.types.is_uint16, 23), (pa.types.is_uint32, 20), (pa.types.is_uint64, 1700),
        (pa.types.is_float16, 700), (pa.types.is_float32, 700), (pa.types.is_float64, 701),
        (pa.types.is_decimal, 1700), (pa.types.is_date, 1082), (pa.types.is_time, 1083),
        (pa.types.is_binary, 17), (pa.types.is_large_binary, 17),
        (pa.types.is_interval, 1186), (pa.types.is_duration, 1186),
    ]
    if pa.types.is_timestamp(t):
        return 1184 if t.tz else 1114
    for check, oid in checks:
        if check(t):
            return oid
    return 25


def arrow_type_modifier(t: pa.DataType) -> int:
    if pa.types.is_decimal(t) and (t.precision, t.scale) != (38, 10):
        return ((int(t.precision) << 16) | int(t.scale)) + 4
    return -1
