"""PostgreSQL types as Arrow types, and PostgreSQL's rules for combining them.

Each PostgreSQL type the engine evaluates has one canonical Arrow type (`sql_type_to_arrow`);
input columns of other Arrow types are read as the nearest canonical type
(`canonical_type`).  The rules mirror PostgreSQL's parse_coerce.c: implicit casts run
int2 -> int4 -> int8 -> numeric -> float4 -> float8 and date -> timestamp -> timestamptz, a
string literal is of type "unknown" until its context gives it one, and
`select_common_type` picks the type CASE / COALESCE / IN / GREATEST unify to.

NUMERIC is `decimal128(p, s)`.  PostgreSQL keeps a scale per value; Arrow has one per
column, so an unconstrained NUMERIC column or cast is `decimal128(38, 10)`, except where
the value's scale is known (integers, literals, other numerics keep theirs).
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from sqlglot import exp

from laminar_pg.errors import error_for

INT16 = pa.int16()
INT32 = pa.int32()
INT64 = pa.int64()
FLOAT32 = pa.float32()
FLOAT64 = pa.float64()
BOOL = pa.bool_()
TEXT = pa.string()
BYTEA = pa.binary()
DATE = pa.date32()
TIME = pa.time64("us")
TIMESTAMP = pa.timestamp("us")
TIMESTAMPTZ = pa.timestamp("us", tz="UTC")
INTERVAL = pa.month_day_nano_interval()

MAX_PRECISION = 38
DEFAULT_NUMERIC_SCALE = 10
NUMERIC = pa.decimal128(MAX_PRECISION, DEFAULT_NUMERIC_SCALE)

# Digits an integer type needs as a numeric (PostgreSQL's int -> numeric casts are exact).
INTEGER_PRECISION = {INT16: 5, INT32: 10, INT64: 19}
INTEGER_BOUNDS = {
    INT16: (-(2**15), 2**15 - 1),
    INT32: (-(2**31), 2**31 - 1),
    INT64: (-(2**63), 2**63 - 1),
}
INTEGER_NAMES = {INT16: "smallint", INT32: "integer", INT64: "bigint"}

# PostgreSQL's implicit-cast order inside the numeric category (parse_coerce.c).
_NUMERIC_RANK = {"int16": 0, "int32": 1, "int64": 2, "decimal": 3, "float32": 4, "float64": 5}


def is_integer(t: pa.DataType) -> bool:
    return bool(t in INTEGER_PRECISION)


def is_float(t: pa.DataType) -> bool:
    return bool(t == FLOAT32 or t == FLOAT64)


def is_decimal(t: pa.DataType) -> bool:
    return isinstance(t, pa.Decimal128Type)


def is_numeric(t: pa.DataType) -> bool:
    return is_integer(t) or is_float(t) or is_decimal(t)


def is_text(t: pa.DataType) -> bool:
    return bool(t == TEXT)


def is_timestamp(t: pa.DataType) -> bool:
    return bool(t == TIMESTAMP or t == TIMESTAMPTZ)


def is_datetime(t: pa.DataType) -> bool:
    """date, timestamp or timestamptz (PostgreSQL's datetime category, less time)."""
    return bool(t == DATE) or is_timestamp(t)


def numeric_rank(t: pa.DataType) -> int:
    if is_decimal(t):
        return _NUMERIC_RANK["decimal"]
    return _NUMERIC_RANK[
        {INT16: "int16", INT32: "int32", INT64: "int64", FLOAT32: "float32"}.get(t, "float64")
    ]


def pg_type_name(t: pa.DataType | None) -> str:
    """The name PostgreSQL prints for a type in messages (None: an untyped literal)."""
    if t is None:
        return "unknown"
    if is_decimal(t):
        return "numeric"
    names = {
        INT16: "smallint",
        INT32: "integer",
        INT64: "bigint",
        FLOAT32: "real",
        FLOAT64: "double precision",
        BOOL: "boolean",
        TEXT: "text",
        BYTEA: "bytea",
        DATE: "date",
        TIME: "time without time zone",
        TIMESTAMP: "timestamp without time zone",
        TIMESTAMPTZ: "timestamp with time zone",
        INTERVAL: "interval",
    }
    return names.get(t, str(t))


def canonical_type(t: pa.DataType) -> pa.DataType:
    """The canonical type an input column of Arrow type `t` is evaluated as.

    Raises 0A000 for Arrow types with no PostgreSQL counterpart here (lists, structs...).
    """
    if pa.types.is_dictionary(t):
        return canonical_type(t.value_type)
    if t in (INT16, INT32, INT64, FLOAT32, FLOAT64, BOOL, TEXT, BYTEA, DATE, TIME, INTERVAL):
        return t
    if is_decimal(t):
        return t
    if pa.types.is_decimal(t):  # decimal256 / 32 / 64
        if t.precision <= MAX_PRECISION:
            return pa.decimal128(t.precision, t.scale)
    elif pa.types.is_int8(t) or pa.types.is_uint8(t):
        return INT16
    elif pa.types.is_uint16(t):
        return INT32
    elif pa.types.is_uint32(t):
        return INT64
    elif pa.types.is_uint64(t):
        return pa.decimal128(20, 0)
    elif pa.types.is_float16(t):
        return FLOAT32
    elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return TEXT
    elif (
        pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    ):
        return BYTEA
    elif pa.types.is_timestamp(t):
        return TIMESTAMP if t.tz is None else TIMESTAMPTZ
    elif pa.types.is_date64(t):
        return DATE
    elif pa.types.is_time(t):
        return TIME
    elif pa.types.is_null(t):
        return TEXT
    raise error_for("0A000", f"columns of Arrow type {t} are not supported in expressions")


def integer_decimal(t: pa.DataType) -> pa.Decimal128Type:
    """The exact numeric an integer (or numeric) type converts to."""
    if is_decimal(t):
        assert isinstance(t, pa.Decimal128Type)
        return t
    return pa.decimal128(INTEGER_PRECISION[t], 0)


def decimal_type(precision: int, scale: int) -> pa.Decimal128Type:
    """decimal128(precision, scale) with the precision capped at 38 (scale kept)."""
    scale = max(0, min(scale, MAX_PRECISION))
    precision = max(1, scale, min(precision, MAX_PRECISION))
    return pa.decimal128(precision, scale)


def common_decimal(a: pa.DataType, b: pa.DataType) -> pa.Decimal128Type:
    """The numeric both an integer or numeric `a` and `b` fit in (capped at 38 digits)."""
    da, db = integer_decimal(a), integer_decimal(b)
    scale = max(da.scale, db.scale)
    return decimal_type(max(da.precision - da.scale, db.precision - db.scale) + scale, scale)


def numeric_promote(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type both numeric operands of an operator are converted to (PostgreSQL's choice).

    Integers widen to the wider; an integer with a numeric is numeric; real with real is
    real; any other float is double precision (float8 is the numeric category's
    preferred type, so `int + real` and `numeric + real` resolve to the float8 operator).
    """
    if is_float(a) or is_float(b):
        return FLOAT32 if a == FLOAT32 and b == FLOAT32 else FLOAT64
    if is_decimal(a) or is_decimal(b):
        return common_decimal(a, b)
    return a if numeric_rank(a) >= numeric_rank(b) else b


def datetime_promote(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """date < timestamp < timestamptz."""
    order = [DATE, TIMESTAMP, TIMESTAMPTZ]
    return order[max(order.index(a), order.index(b))]


def common_type(types: list[pa.DataType | None], context: str) -> pa.DataType:
    """PostgreSQL's select_common_type: None stands for an untyped literal (unknown).

    All unknown -> text.  Otherwise every known type must share a category, and the
    result is the one the others implicitly cast to.  `context` names the construct in
    the 42804 message ("CASE", "COALESCE", "IN", ...).
    """
    known = [t for t in types if t is not None]
    if not known:
        return TEXT
    result = known[0]
    for t in known[1:]:
        if t == result:
            continue
        if is_numeric(result) and is_numeric(t):
            result = _numeric_common(result, t)
        elif is_datetime(result) and is_datetime(t):
            result = datetime_promote(result, t)
        else:
            raise error_for(
                "42804",
                f"{context} types {pg_type_name(result)} and {pg_type_name(t)} cannot be matched",
            )
    return result


def _numeric_common(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """Common type for CASE / UNION branches: unlike operators, real with int stays real."""
    winner = a if numeric_rank(a) >= numeric_rank(b) else b
    return common_decimal(a, b) if is_decimal(winner) else winner


def literal_decimal_type(value: Decimal) -> pa.Decimal128Type:
    """The exact numeric a numeric literal or parsed value needs; 22003 beyond 38 digits."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent)
    precision = max(1, integer_digits + scale)
    if precision > MAX_PRECISION:
        raise error_for(
            "22003",
            "value overflows numeric format",
            detail=f"{value} has more than {MAX_PRECISION} digits",
        )
    return pa.decimal128(precision, scale)


# --- SQL type names -> Arrow -----------------------------------------------------------

_T = exp.DataType.Type
_SIMPLE_TYPES: dict[object, pa.DataType] = {
    _T.BIGINT: INT64,
    _T.INT: INT32,
    _T.SMALLINT: INT16,
    _T.FLOAT: FLOAT32,
    _T.DOUBLE: FLOAT64,
    _T.TEXT: TEXT,
    _T.VARCHAR: TEXT,
    _T.CHAR: TEXT,
    _T.NCHAR: TEXT,
    _T.NVARCHAR: TEXT,
    _T.NAME: TEXT,
    _T.BPCHAR: TEXT,
    _T.JSON: TEXT,
    _T.JSONB: TEXT,
    _T.BOOLEAN: BOOL,
    _T.TIMESTAMP: TIMESTAMP,
    _T.TIMESTAMPTZ: TIMESTAMPTZ,
    _T.TIMESTAMPLTZ: TIMESTAMPTZ,
    _T.DATE: DATE,
    _T.TIME: TIME,
    _T.INTERVAL: INTERVAL,
    _T.VARBINARY: BYTEA,
    _T.BINARY: BYTEA,
}


def _type_params(datatype: exp.DataType) -> list[int]:
    params: list[int] = []
    for param in datatype.expressions:
        value = param.this if isinstance(param, exp.DataTypeParam) else param
        if not (isinstance(value, exp.Literal) and not value.is_string):
            raise error_for("42601", f"invalid type modifier in {datatype.sql('postgres')}")
        params.append(int(value.this))
    return params


def sql_type_to_arrow(datatype: exp.DataType) -> pa.DataType:
    """The Arrow type of a PostgreSQL type name.

    NUMERIC(p, s) -> decimal128(p, s), NUMERIC(p) -> decimal128(p, 0), unconstrained
    NUMERIC -> decimal128(38, 10).  Precision above 38 and types with no Arrow twin here
    (arrays, uuid, money, ...) are refused with 0A000.
    """
    kind = datatype.this
    if kind == _T.DECIMAL or kind == _T.BIGDECIMAL:
        params = _type_params(datatype)
        if not params:
            return NUMERIC
        precision, scale = params[0], params[1] if len(params) > 1 else 0
        if not 1 <= precision <= 1000:
            raise error_for("22023", f"NUMERIC precision {precision} must be between 1 and 1000")
        if precision > MAX_PRECISION:
            raise error_for(
                "0A000",
                f"NUMERIC precision {precision} exceeds the supported maximum {MAX_PRECISION}",
            )
        if not 0 <= scale <= precision:
            raise error_for(
                "0A000", f"NUMERIC scale {scale} must be between 0 and precision {precision}"
            )
        return pa.decimal128(precision, scale)
    arrow_type = _SIMPLE_TYPES.get(kind) if isinstance(kind, exp.DataType.Type) else None
    if arrow_type is None:
        raise error_for("0A000", f"type {datatype.sql('postgres')} is not supported in expressions")
    return arrow_type


def type_modifier(datatype: exp.DataType) -> int | None:
    """The length of varchar(n) / char(n), or the precision of timestamp(p) / time(p)."""
    if datatype.this in (
        _T.VARCHAR,
        _T.CHAR,
        _T.NCHAR,
        _T.NVARCHAR,
        _T.BPCHAR,
        _T.TIMESTAMP,
        _T.TIMESTAMPTZ,
        _T.TIME,
    ):
        params = _type_params(datatype)
        if params:
            return params[0]
        if datatype.this == _T.CHAR:
            return 1  # PostgreSQL: CHAR without a length is char(1)
    return None


def is_unconstrained_numeric(datatype: exp.DataType) -> bool:
    return datatype.this in (_T.DECIMAL, _T.BIGDECIMAL) and not datatype.expressions


__all__ = [
    "BOOL",
    "BYTEA",
    "DATE",
    "FLOAT32",
    "FLOAT64",
    "INT16",
    "INT32",
    "INT64",
    "INTERVAL",
    "NUMERIC",
    "TEXT",
    "TIME",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "common_type",
    "pg_type_name",
    "sql_type_to_arrow",
]
