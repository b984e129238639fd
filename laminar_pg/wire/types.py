"""PostgreSQL data types on the wire: the type registry and the text and binary codecs.

What lives here:

* `PgType`, `TYPES_BY_OID`, `TYPES_BY_NAME`: the subset of PostgreSQL 15's `pg_type` that
  laminar_pg speaks, with the real OIDs, lengths, categories and I/O function names, so that
  RowDescription, ParameterDescription and catalog queries tell clients the truth.  The rows
  were checked by hand against `select ... from pg_type` on a PostgreSQL 15 server.
* `decode_param`: a Bind parameter (text or binary format) to a Python value.
* `encode_text` / `encode_binary`: a Python value to PostgreSQL's output bytes.
* `arrow_to_oid` / `column_encoder`: the hot path for result rows, encoding a whole Arrow
  column at once.

Python value conventions: bool; int (int2/int4/int8/oid/reg*); float (float4/float8);
decimal.Decimal (numeric, NaN and +-Infinity included); str (text family, "char", name, json,
jsonb: JSON is kept as its text); bytes (bytea); datetime.date / time / datetime (naive for
timestamp, aware for timestamptz); `Interval` (datetime.timedelta accepted when encoding);
uuid.UUID; lists, possibly nested, with None elements, for arrays.

Infinities: PostgreSQL's date and timestamp 'infinity' / '-infinity' decode to the sentinels
`date.max` / `date.min`, `datetime.max` / `datetime.min` (UTC-aware for timestamptz), and those
sentinels encode back to 'infinity' / '-infinity'.  The price is that the real values
9999-12-31 and 0001-01-01 (and the extreme timestamps) cannot be sent as such; Arrow dates or
timestamps at or beyond those bounds (DuckDB exports its infinities as INT32_MAX / INT64_MAX)
are rendered as infinities too.  BC dates and years after 9999 are out of scope.

Strategy: every type has four small functions (text in, text out, binary in, binary out) held
in dict tables keyed by OID; arrays reuse the element type's functions.  The Arrow encoders
use pyarrow.compute casts and numpy byte views wherever Arrow's output is byte-identical to
PostgreSQL's, and fall back to the per-value encoders elsewhere (the fallback is also the
reference the tests compare the fast paths with).
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import json
import math
import re
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg import errcodes
from laminar_pg.errors import SqlError

# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


class Oid(IntEnum):
    """The OIDs of the types laminar_pg knows, as in PostgreSQL 15's pg_type."""

    UNSPECIFIED = 0
    BOOL = 16
    BYTEA = 17
    CHAR = 18
    NAME = 19
    INT8 = 20
    INT2 = 21
    INT4 = 23
    REGPROC = 24
    TEXT = 25
    OID = 26
    JSON = 114
    JSON_ARRAY = 199
    FLOAT4 = 700
    FLOAT8 = 701
    UNKNOWN = 705
    BOOL_ARRAY = 1000
    BYTEA_ARRAY = 1001
    CHAR_ARRAY = 1002
    NAME_ARRAY = 1003
    INT2_ARRAY = 1005
    INT4_ARRAY = 1007
    REGPROC_ARRAY = 1008
    TEXT_ARRAY = 1009
    BPCHAR_ARRAY = 1014
    VARCHAR_ARRAY = 1015
    INT8_ARRAY = 1016
    FLOAT4_ARRAY = 1021
    FLOAT8_ARRAY = 1022
    OID_ARRAY = 1028
    BPCHAR = 1042
    VARCHAR = 1043
    DATE = 1082
    TIME = 1083
    TIMESTAMP = 1114
    TIMESTAMP_ARRAY = 1115
    DATE_ARRAY = 1182
    TIME_ARRAY = 1183
    TIMESTAMPTZ = 1184
    TIMESTAMPTZ_ARRAY = 1185
    INTERVAL = 1186
    INTERVAL_ARRAY = 1187
    NUMERIC_ARRAY = 1231
    NUMERIC = 1700
    REGCLASS = 2205
    REGTYPE = 2206
    REGCLASS_ARRAY = 2210
    REGTYPE_ARRAY = 2211
    RECORD = 2249
    VOID = 2278
    RECORD_ARRAY = 2287
    UUID = 2950
    UUID_ARRAY = 2951
    JSONB = 3802
    JSONB_ARRAY = 3807


@dataclass(frozen=True, slots=True)
class PgType:
    """One row of pg_type, reduced to what the wire and the catalog need.

    `element_oid` is typelem for array types and 0 otherwise (pg_type itself also gives
    `name` a typelem of 18, which nothing here needs).
    """

    oid: int
    name: str
    typlen: int
    typbyval: bool
    category: str
    array_oid: int
    element_oid: int
    delimiter: str
    input: str
    output: str
    receive: str
    send: str

    @property
    def is_array(self) -> bool:
        """True for the one-dimensional-or-more array types (typcategory 'A')."""
        return self.category == "A"


def _scalar(
    oid: int, name: str, typlen: int, byval: bool, cat: str, array_oid: int, io: str
) -> PgType:
    """A base type whose I/O functions are named `<io>in`, `<io>out`, ... as most are."""
    sep = "_" if io.endswith("_") else ""
    base = io.rstrip("_")
    return PgType(
        oid, name, typlen, byval, cat, array_oid, 0, ",",
        f"{base}{sep}in", f"{base}{sep}out", f"{base}{sep}recv", f"{base}{sep}send",
    )  # fmt: skip


# (oid, typname, typlen, typbyval, typcategory, typarray, I/O function stem); "x_" means the
# functions are x_in / x_out / x_recv / x_send.  Verified against PostgreSQL 15.
_SCALARS: tuple[PgType, ...] = (
    _scalar(16, "bool", 1, True, "B", 1000, "bool"),
    _scalar(17, "bytea", -1, False, "U", 1001, "bytea"),
    _scalar(18, "char", 1, True, "Z", 1002, "char"),
    _scalar(19, "name", 64, False, "S", 1003, "name"),
    _scalar(20, "int8", 8, True, "N", 1016, "int8"),
    _scalar(21, "int2", 2, True, "N", 1005, "int2"),
    _scalar(23, "int4", 4, True, "N", 1007, "int4"),
    _scalar(24, "regproc", 4, True, "N", 1008, "regproc"),
    _scalar(25, "text", -1, False, "S", 1009, "text"),
    _scalar(26, "oid", 4, True, "N", 1028, "oid"),
    _scalar(114, "json", -1, False, "U", 199, "json_"),
    _scalar(700, "float4", 4, True, "N", 1021, "float4"),
    _scalar(701, "float8", 8, True, "N", 1022, "float8"),
    _scalar(705, "unknown", -2, False, "X", 0, "unknown"),
    _scalar(1042, "bpchar", -1, False, "S", 1014, "bpchar"),
    _scalar(1043, "varchar", -1, False, "S", 1015, "varchar"),
    _scalar(1082, "date", 4, True, "D", 1182, "date_"),
    _scalar(1083, "time", 8, True, "D", 1183, "time_"),
    _scalar(1114, "timestamp", 8, True, "D", 1115, "timestamp_"),
    _scalar(1184, "timestamptz", 8, True, "D", 1185, "timestamptz_"),
    _scalar(1186, "interval", 16, False, "T", 1187, "interval_"),
    _scalar(1700, "numeric", -1, False, "N", 1231, "numeric_"),
    _scalar(2205, "regclass", 4, True, "N", 2210, "regclass"),
    _scalar(2206, "regtype", 4, True, "N", 2211, "regtype"),
    _scalar(2249, "record", -1, False, "P", 2287, "record_"),
    _scalar(2278, "void", 4, True, "P", 0, "void_"),
    _scalar(2950, "uuid", 16, False, "U", 2951, "uuid_"),
    _scalar(3802, "jsonb", -1, False, "U", 3807, "jsonb_"),
)


def _array_of(elem: PgType) -> PgType:
    """The array type over `elem`, as pg_type describes every array type."""
    return PgType(
        elem.array_oid, "_" + elem.name, -1, False, "A", 0, elem.oid, ",",
        "array_in", "array_out", "array_recv", "array_send",
    )  # fmt: skip


_ALIASES: dict[str, str] = {
    "integer": "int4",
    "int": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "real": "float4",
    "float": "float8",
    "double precision": "float8",
    "boolean": "bool",
    "decimal": "numeric",
    "character varying": "varchar",
    "character": "bpchar",
    '"char"': "char",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
}


def _build_registry() -> tuple[dict[int, PgType], dict[str, PgType]]:
    """TYPES_BY_OID and TYPES_BY_NAME (typnames, SQL aliases, and `x[]` spellings)."""
    by_oid: dict[int, PgType] = {}
    for t in _SCALARS:
        by_oid[t.oid] = t
        if t.array_oid:
            by_oid[t.array_oid] = _array_of(t)
    by_name = {t.name: t for t in by_oid.values()}
    for alias, target in _ALIASES.items():
        by_name[alias] = by_name[target]
    for name, t in list(by_name.items()):
        if not t.is_array and t.array_oid:
            by_name[name + "[]"] = by_oid[t.array_oid]
    return by_oid, by_name


TYPES_BY_OID, TYPES_BY_NAME = _build_registry()

_INT_RANGES: dict[int, tuple[int, int, str]] = {
    Oid.INT2: (-(2**15), 2**15 - 1, "smallint"),
    Oid.INT4: (-(2**31), 2**31 - 1, "integer"),
    Oid.INT8: (-(2**63), 2**63 - 1, "bigint"),
}
_OID_LIKE = frozenset({Oid.OID, Oid.REGPROC, Oid.REGCLASS, Oid.REGTYPE})
_TEXT_LIKE = frozenset(
    {Oid.UNSPECIFIED, Oid.TEXT, Oid.VARCHAR, Oid.BPCHAR, Oid.NAME, Oid.UNKNOWN, Oid.CHAR}
)

# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """A PostgreSQL interval: months, days and microseconds are kept apart, as PostgreSQL does.

    '1 mon' is not '30 days' and '1 day' is not '24:00:00' across a DST change, so a
    timedelta cannot hold every interval.
    """

    months: int = 0
    days: int = 0
    microseconds: int = 0

    @classmethod
    def from_timedelta(cls, td: dt.timedelta) -> Interval:
        """Days stay days, the rest becomes microseconds (timedelta's own normal form)."""
        return cls(0, td.days, td.seconds * 1_000_000 + td.microseconds)


UTC = dt.UTC
_PG_EPOCH_DATE = dt.date(2000, 1, 1)
_PG_EPOCH_ORDINAL = _PG_EPOCH_DATE.toordinal()
_PG_EPOCH = dt.datetime(2000, 1, 1)
_UNIX_TO_PG_DAYS = 10957  # days from 1970-01-01 to 2000-01-01
_UNIX_TO_PG_US = _UNIX_TO_PG_DAYS * 86_400_000_000
_INT32_MAX, _INT32_MIN = 2**31 - 1, -(2**31)
_INT64_MAX, _INT64_MIN = 2**63 - 1, -(2**63)
_DATE_MAX_UNIX_DAYS = (dt.date.max - dt.date(1970, 1, 1)).days
_DATE_MIN_UNIX_DAYS = (dt.date.min - dt.date(1970, 1, 1)).days
_TS_MAX_UNIX_US = (dt.datetime.max - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
_TS_MIN_UNIX_US = (dt.datetime.min - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
_TSTZ_MAX = dt.datetime.max.replace(tzinfo=UTC)
_TSTZ_MIN = dt.datetime.min.replace(tzinfo=UTC)

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _syntax(typname: str, text: str) -> SqlError:
    """22P02, worded as PostgreSQL words it."""
    return errcodes.InvalidTextRepresentation(f'invalid input syntax for type {typname}: "{text}"')


def _datetime_syntax(typname: str, text: str) -> SqlError:
    """22007: PostgreSQL reports bad date/time syntax as an invalid datetime format."""
    return errcodes.InvalidDatetimeFormat(f'invalid input syntax for type {typname}: "{text}"')


def _binary_error(detail: str) -> SqlError:
    """08P01; the connection rewrites it to 22P03 naming the bind parameter."""
    return errcodes.ProtocolViolation("incorrect binary data format", detail=detail)


def _cannot_encode(value: Any, oid: int) -> SqlError:
    """A value of the wrong Python type for its column: our bug, not the client's."""
    name = TYPES_BY_OID[oid].name if oid in TYPES_BY_OID else str(oid)
    return errcodes.DatatypeMismatch(
        f"cannot encode a Python {type(value).__name__} as type {name}"
    )


def _utf8(data: bytes) -> str:
    """Bytes from the client as text, refusing invalid UTF-8 and NUL as PostgreSQL does."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = data[err.start : err.start + 1].hex()
        raise errcodes.CharacterNotInRepertoire(
            f'invalid byte sequence for encoding "UTF8": 0x{bad}'
        ) from None
    if "\x00" in text:
        raise errcodes.CharacterNotInRepertoire('invalid byte sequence for encoding "UTF8": 0x00')
    return text


# --------------------------------------------------------------------------------------------
# Text input (PostgreSQL's *in functions)
# --------------------------------------------------------------------------------------------

_BOOL_WORDS = {
    **{w: True for w in ("t", "tr", "tru", "true", "y", "ye", "yes", "on", "1")},
    **{w: False for w in ("f", "fa", "fal", "fals", "false", "n", "no", "off", "0")},
}
_INT_RE = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
_FLOAT_RE = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\s*", re.ASCII | re.I
)
_NUMERIC_RE = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
_NUMERIC_SPECIAL = {
    "nan": Decimal("NaN"),
    "infinity": Decimal("Infinity"),
    "+infinity": Decimal("Infinity"),
    "inf": Decimal("Infinity"),
    "+inf": Decimal("Infinity"),
    "-infinity": Decimal("-Infinity"),
    "-inf": Decimal("-Infinity"),
}
_UUID_RE = re.compile(r"\{?[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}\}?", re.ASCII)
_TZ_PART = r"(?P<tz>[zZ]|UTC|GMT|[+-]\d{1,2}(?::?\d{2}(?::?\d{2})?)?|[A-Za-z][A-Za-z0-9_/+-]*)"
_TIME_PART = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d*))?)?"
_DATE_RE = re.compile(r"\s*(?P<y>\d{4,})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})\s*", re.ASCII)
_TIME_RE = re.compile(rf"\s*{_TIME_PART}\s*{_TZ_PART}?\s*", re.ASCII)
_TIMESTAMP_RE = re.compile(
    rf"\s*(?P<y>\d{{4,}})-(?P<mo>\d{{1,2}})-(?P<d>\d{{1,2}})"
    rf"(?:(?:[Tt]|\s+){_TIME_PART})?\s*{_TZ_PART}?\s*",
    re.ASCII,
)


def _bool_in(text: str) -> bool:
    """boolin: t/true/yes/on/1 and f/false/no/off/0, any unique prefix, any case."""
    word = text.strip().lower()
    if word in _BOOL_WORDS:
        return _BOOL_WORDS[word]
    raise _syntax("boolean", text)


def _int_in(oid: int) -> Callable[[str], int]:
    """int2in / int4in / int8in: optional sign and surrounding whitespace, range-checked."""
    lo, hi, typname = _INT_RANGES[oid]

    def parse(text: str) -> int:
        if not _INT_RE.fullmatch(text):
            raise _syntax(typname, text)
        value = int(text)
        if not lo <= value <= hi:
            raise errcodes.NumericValueOutOfRange(
                f'value "{text}" is out of range for type {typname}'
            )
        return value

    return parse


def _oid_in(text: str) -> int:
    """oidin (also used for reg* types given as numbers): unsigned 32-bit, negatives wrap."""
    if not _INT_RE.fullmatch(text):
        raise _syntax("oid", text)
    value = int(text)
    if not -(2**31) <= value <= 2**32 - 1:
        raise errcodes.NumericValueOutOfRange(f'value "{text}" is out of range for type oid')
    return value & 0xFFFFFFFF


def _reg_in(typname: str) -> Callable[[str], int]:
    """regclassin & co.: only numeric OIDs; names need the catalog, which the wire lacks."""

    def parse(text: str) -> int:
        if not _INT_RE.fullmatch(text):
            err = _syntax(typname, text)
            err.hint = "The wire layer accepts only numeric OIDs for this type."
            raise err
        return _oid_in(text)

    return parse


def _float_in(oid: int) -> Callable[[str], float]:
    """float4in / float8in: decimal forms plus Infinity, inf, NaN; range-checked."""
    typname = "real" if oid == Oid.FLOAT4 else "double precision"

    def parse(text: str) -> float:
        if not _FLOAT_RE.fullmatch(text):
            raise _syntax(typname, text)
        value = float(text)
        out_of_range = math.isinf(value) and "inf" not in text.lower()
        if value == 0.0 and re.search(r"[1-9]", text.lower().split("e")[0]):
            out_of_range = True  # underflow to zero
        if oid == Oid.FLOAT4 and not out_of_range:
            value, out_of_range = _round_float4(value)
        if out_of_range:
            raise errcodes.NumericValueOutOfRange(
                f'"{text.strip()}" is out of range for type {typname}'
            )
        return value

    return parse


_F32 = struct.Struct("<f")


def _round_float4(value: float) -> tuple[float, bool]:
    """`value` rounded to float32, and whether that overflowed or underflowed."""
    if math.isnan(value) or math.isinf(value):
        return value, False
    try:
        rounded: float = _F32.unpack(_F32.pack(value))[0]
    except OverflowError:
        return value, True
    return rounded, rounded == 0.0 and value != 0.0


def _numeric_in(text: str) -> Decimal:
    """numeric_in: plain or exponent notation, NaN, +-Infinity; scale as written, never < 0."""
    special = _NUMERIC_SPECIAL.get(text.strip().lower())
    if special is not None:
        return special
    if not _NUMERIC_RE.fullmatch(text):
        raise _syntax("numeric", text)
    value = Decimal(text.strip())
    return _numeric_normal(value)


def _numeric_normal(value: Decimal) -> Decimal:
    """PostgreSQL's form of a finite Decimal: no negative zero, no positive exponent."""
    if not value.is_finite():
        return value
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if value.adjusted() >= 131072 or exponent < -16383:
        raise errcodes.NumericValueOutOfRange("value overflows numeric format")
    if exponent > 0:
        value = Decimal(int(value))
    if value.is_zero() and value.is_signed():
        value = -value
    return value


def _bytea_in(data: bytes) -> bytes:
    """byteain: '\\x' hex format, else the escape format (\\\\ and \\ooo octal)."""
    if data[:2] == b"\\x":
        hexpart = re.sub(rb"\s+", b"", data[2:])
        if len(hexpart) % 2:
            raise errcodes.InvalidParameterValue("invalid hexadecimal data: odd number of digits")
        try:
            return binascii.unhexlify(hexpart)
        except binascii.Error:
            bad = re.search(rb"[^0-9a-fA-F]", hexpart)
            char = bad.group().decode("latin-1") if bad else "?"
            raise errcodes.InvalidParameterValue(f'invalid hexadecimal digit: "{char}"') from None
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c != 0x5C:
            out.append(c)
            i += 1
        elif data[i + 1 : i + 2] == b"\\":
            out.append(0x5C)
            i += 2
        elif re.fullmatch(rb"[0-3][0-7][0-7]", data[i + 1 : i + 4]):
            out.append(int(data[i + 1 : i + 4], 8))
            i += 4
        else:
            raise errcodes.InvalidTextRepresentation("invalid input syntax for type bytea")
    return bytes(out)


def _char_in(text: str) -> str:
    """charin: the first character ("char" is one byte in PostgreSQL; here one character)."""
    return text[:1]


def _name_in(text: str) -> str:
    """namein: truncated to NAMEDATALEN-1 = 63 bytes, on a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= 63:
        return text
    return raw[:63].decode("utf-8", errors="ignore")


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_in(typname: str) -> Callable[[str], str]:
    """json_in / jsonb_in: validated, then kept as the client's text."""

    def parse(text: str) -> str:
        try:
            json.loads(text, parse_constant=_reject_constant)
        except ValueError:
            raise _syntax(typname, text) from None
        return text

    return parse


def _uuid_in(text: str) -> uuid.UUID:
    """uuid_in: 32 hex digits, optional hyphens between groups of four, optional braces."""
    if not _UUID_RE.fullmatch(text) or text.startswith("{") != text.endswith("}"):
        raise _syntax("uuid", text)
    return uuid.UUID(hex=text.strip("{}").replace("-", ""))


def _special_datetime(text: str) -> str | None:
    word = text.strip().lower()
    return word if word in ("infinity", "+infinity", "-infinity", "epoch") else None


def _date_in(text: str) -> dt.date:
    """date_in for ISO 'YYYY-MM-DD' and the words infinity, -infinity, epoch."""
    special = _special_datetime(text)
    if special is not None:
        return {"epoch": dt.date(1970, 1, 1), "-infinity": dt.date.min}.get(special, dt.date.max)
    m = _DATE_RE.fullmatch(text)
    if m is None:
        raise _datetime_syntax("date", text)
    return _make_date(m, text)


def _make_date(m: re.Match[str], text: str) -> dt.date:
    year, month, day = int(m["y"]), int(m["mo"]), int(m["d"])
    if year > 9999 or year == 0:
        raise errcodes.DatetimeFieldOverflow(f'date out of range: "{text}"')
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise errcodes.DatetimeFieldOverflow(
            f'date/time field value out of range: "{text}"'
        ) from None


def _time_of(m: re.Match[str], text: str) -> tuple[dt.time, int]:
    """The time of day in `m`, plus a carry of one day when rounding reached 24:00."""
    hour, minute, second = int(m["h"]), int(m["mi"]), int(m["s"] or 0)
    micro = round(float("0." + m["f"]) * 1e6) if m["f"] else 0
    if hour > 23 or minute > 59 or second > 59:
        raise errcodes.DatetimeFieldOverflow(f'date/time field value out of range: "{text}"')
    total = ((hour * 60 + minute) * 60 + second) * 1_000_000 + micro
    carry, total = divmod(total, 86_400_000_000)
    return _time_from_us(total), carry


def _time_from_us(us: int) -> dt.time:
    seconds, micro = divmod(us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return dt.time(hour, minute, second, micro)


def _tzinfo_of(name: str, text: str) -> dt.tzinfo:
    """A zone written after a time: Z, UTC, +hh[:mm[:ss]], +hhmm, or an IANA name."""
    if name.upper() in ("Z", "UTC", "GMT"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?:?(\d{2})?", name)
    if m is not None:
        hours, minutes, seconds = int(m[2]), int(m[3] or 0), int(m[4] or 0)
        if hours > 15 or minutes > 59 or seconds > 59:
            raise errcodes.DatetimeFieldOverflow(f'time zone displacement out of range: "{text}"')
        delta = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
        return dt.timezone(-delta if m[1] == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise errcodes.InvalidParameterValue(f'time zone "{name}" not recognized') from None


def _time_in(text: str) -> dt.time:
    """time_in: 'HH:MM[:SS[.frac]]'; a zone, if given, is ignored as PostgreSQL does."""
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise _datetime_syntax("time without time zone", text)
    value, carry = _time_of(m, text)
    if carry:
        raise errcodes.DatetimeFieldOverflow(f'date/time field value out of range: "{text}"')
    return value


def _timestamp_in(with_tz: bool, tz: dt.tzinfo = UTC) -> Callable[[str], dt.datetime]:
    """timestamp_in / timestamptz_in for ISO forms ('T' or space), with an optional zone.

    timestamp ignores a written zone (as PostgreSQL does); timestamptz applies it, or `tz`
    (the session's TimeZone) when none is written, and returns a UTC-aware datetime.
    """
    typname = "timestamp with time zone" if with_tz else "timestamp without time zone"

    def parse(text: str) -> dt.datetime:
        special = _special_datetime(text)
        if special is not None:
            if special == "epoch":
                return dt.datetime(1970, 1, 1, tzinfo=UTC if with_tz else None)
            if special == "-infinity":
                return _TSTZ_MIN if with_tz else dt.datetime.min
            return _TSTZ_MAX if with_tz else dt.datetime.max
        m = _TIMESTAMP_RE.fullmatch(text)
        if m is None:
            raise _datetime_syntax(typname, text)
        day = _make_date(m, text)
        clock, carry = _time_of(m, text) if m["h"] else (dt.time(), 0)
        value = dt.datetime.combine(day, clock)
        try:
            value += dt.timedelta(days=carry)
            if not with_tz:
                return value
            zone = _tzinfo_of(m["tz"], text) if m["tz"] else tz
            return value.replace(tzinfo=zone).astimezone(UTC)
        except OverflowError:
            raise errcodes.DatetimeFieldOverflow(f'timestamp out of range: "{text}"') from None

    return parse


# Interval input ------------------------------------------------------------------------------

_US = {
    "microsecond": 1, "microseconds": 1, "us": 1, "usec": 1, "usecs": 1, "useconds": 1,
    "millisecond": 1000, "milliseconds": 1000, "ms": 1000, "msec": 1000, "msecs": 1000,
    "second": 10**6, "seconds": 10**6, "s": 10**6, "sec": 10**6, "secs": 10**6,
    "minute": 60 * 10**6, "minutes": 60 * 10**6, "m": 60 * 10**6, "min": 60 * 10**6,
    "mins": 60 * 10**6,
    "hour": 3600 * 10**6, "hours": 3600 * 10**6, "h": 3600 * 10**6, "hr": 3600 * 10**6,
    "hrs": 3600 * 10**6,
}  # fmt: skip
_DAYS = {"day": 1, "days": 1, "d": 1, "week": 7, "weeks": 7, "w": 7}
_MONTHS = {
    "month": 1, "months": 1, "mon": 1, "mons": 1,
    "year": 12, "years": 12, "y": 12, "yr": 12, "yrs": 12,
    "decade": 120, "decades": 120, "century": 1200, "centuries": 1200,
    "millennium": 12000, "millennia": 12000, "millenniums": 12000,
}  # fmt: skip
_IV_TOKEN = re.compile(
    r"\s*(?:(?P<time>[+-]?\d+:\d{1,2}(?::\d{1,2}(?:\.\d*)?)?)"
    r"|(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>[a-zA-Z]+)?"
    r"|(?P<ago>ago))\s*",
    re.ASCII,
)
_IV_ISO = re.compile(
    r"P(?:(?P<Y>[+-]?\d+(?:\.\d+)?)Y)?(?:(?P<M>[+-]?\d+(?:\.\d+)?)M)?"
    r"(?:(?P<W>[+-]?\d+(?:\.\d+)?)W)?(?:(?P<D>[+-]?\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>[+-]?\d+(?:\.\d+)?)H)?(?:(?P<m>[+-]?\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>[+-]?\d+(?:\.\d+)?)S)?)?",
    re.ASCII,
)
_ISO_UNITS = {"Y": "year", "M": "month", "W": "week", "D": "day", "h": "hour", "m": "minute",
              "s": "second"}  # fmt: skip


class _IntervalSum:
    """Accumulates interval fields the way PostgreSQL's DecodeInterval cascades fractions."""

    def __init__(self) -> None:
        self.months = 0
        self.days = 0
        self.us = Decimal(0)

    def add(self, value: Decimal, unit: str) -> bool:
        """Adds `value` `unit`s; False if the unit is unknown."""
        if unit in _US:
            self.us += value * _US[unit]
        elif unit in _DAYS:
            days = value * _DAYS[unit]
            whole = int(days)
            self.days += whole
            self.us += (days - whole) * 86_400_000_000
        elif unit in ("month", "months", "mon", "mons"):
            whole = int(value)
            self.months += whole
            days = (value - whole) * 30
            self.days += int(days)
            self.us += (days - int(days)) * 86_400_000_000
        elif unit in _MONTHS:
            months = value * _MONTHS[unit]
            self.months += int(months.to_integral_value(ROUND_HALF_EVEN))
        else:
            return False
        return True

    def result(self, negate: bool, text: str) -> Interval:
        us = int(self.us.to_integral_value(ROUND_HALF_EVEN))
        value = Interval(self.months, self.days, us)
        if negate:
            value = Interval(-value.months, -value.days, -value.microseconds)
        if not (
            _INT32_MIN <= value.months <= _INT32_MAX
            and _INT32_MIN <= value.days <= _INT32_MAX
            and _INT64_MIN <= value.microseconds <= _INT64_MAX
        ):
            raise errcodes.DatetimeFieldOverflow(f'interval field value out of range: "{text}"')
        return value


def _interval_in(text: str) -> Interval:
    """interval_in: 'postgres' style ('1 year 2 mons -3 days 04:05:06.5 ago') and ISO 8601."""
    stripped = text.strip()
    if stripped.startswith("P"):
        return _interval_iso(stripped, text)
    acc = _IntervalSum()
    pos = 1 if stripped.startswith("@") else 0
    negate = seen = False
    while pos < len(stripped):
        m = _IV_TOKEN.match(stripped, pos)
        if m is None or negate:
            raise _datetime_syntax("interval", text)
        pos, seen = m.end(), True
        if m["ago"]:
            negate = True
        elif m["time"]:
            sign = -1 if m["time"].startswith("-") else 1
            parts = m["time"].lstrip("+-").split(":")
            seconds = Decimal(parts[2]) if len(parts) > 2 else Decimal(0)
            acc.us += sign * ((int(parts[0]) * 60 + int(parts[1])) * 60 + seconds) * 10**6
        elif not acc.add(Decimal(m["num"]), (m["unit"] or "second").lower()):
            raise _datetime_syntax("interval", text)
    if not seen:
        raise _datetime_syntax("interval", text)
    return acc.result(negate, text)


def _interval_iso(stripped: str, text: str) -> Interval:
    m = _IV_ISO.fullmatch(stripped)
    if m is None or not any(m.groupdict().values()) or stripped.endswith("T"):
        raise _datetime_syntax("interval", text)
    acc = _IntervalSum()
    for key, unit in _ISO_UNITS.items():
        if m[key] is not None:
            acc.add(Decimal(m[key]), unit)
    return acc.result(False, text)


# --------------------------------------------------------------------------------------------
# Text output (PostgreSQL's *out functions)
# --------------------------------------------------------------------------------------------


def _bool_out(value: Any) -> str:
    if not isinstance(value, bool | np.bool_):
        raise _cannot_encode(value, Oid.BOOL)
    return "t" if value else "f"


def _check_int(value: Any, oid: int) -> int:
    """`value` as an int within the range of `oid`'s type, else 22003 as PostgreSQL says."""
    if not isinstance(value, int | np.integer):
        raise _cannot_encode(value, oid)
    number = int(value)
    if oid in _INT_RANGES:
        lo, hi, typname = _INT_RANGES[oid]
        if not lo <= number <= hi:
            raise errcodes.NumericValueOutOfRange(f"{typname} out of range")
    elif not 0 <= number <= 0xFFFFFFFF:
        raise errcodes.NumericValueOutOfRange("OID out of range")
    return number


def _pg_float_format(shortest: str, max_exp: int) -> str:
    """PostgreSQL's float output from a shortest round-trip repr (Python's repr syntax).

    PostgreSQL (Ryu, extra_float_digits >= 1) prints fixed notation when the decimal
    exponent is in [-4, max_exp) (15 for float8, 6 for float4), else d.ddde+XX.
    """
    mantissa, _, exp = shortest.partition("e")
    sign = ""
    if mantissa.startswith("-"):
        sign, mantissa = "-", mantissa[1:]
    intpart, _, frac = mantissa.partition(".")
    digits = intpart + frac
    point = len(intpart) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return sign + "0"
    e10 = point - 1
    if -4 <= e10 < max_exp:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{head}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"


def _float_special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return None


def _float8_out(value: Any) -> str:
    """float8out with extra_float_digits = 1: the shortest repr that reads back exactly."""
    if not isinstance(value, float | int | np.floating):
        raise _cannot_encode(value, Oid.FLOAT8)
    value = float(value)
    return _float_special(value) or _pg_float_format(repr(value), 15)


def _float4_shortest(value: float) -> str:
    """The shortest decimal (in %e form) that reads back to the float32 `value`."""
    for precision in range(9):
        candidate = f"{value:.{precision}e}"
        try:
            if _F32.unpack(_F32.pack(float(candidate)))[0] == value:
                return candidate
        except OverflowError:
            continue
    return f"{value:.8e}"


def _float4_out(value: Any) -> str:
    """float4out: the shortest decimal that reads back to the same float32."""
    if not isinstance(value, float | int | np.floating):
        raise _cannot_encode(value, Oid.FLOAT4)
    value, overflow = _round_float4(float(value))
    if overflow:
        raise errcodes.NumericValueOutOfRange("value out of range: overflow")
    return _float_special(value) or _pg_float_format(_float4_shortest(value), 6)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else Decimal(value)
    raise _cannot_encode(value, Oid.NUMERIC)


def _numeric_out(value: Any) -> str:
    """numeric_out: plain notation with the value's own scale, never an exponent."""
    d = _to_decimal(value)
    if d.is_nan():
        if d.is_snan():
            raise _cannot_encode(value, Oid.NUMERIC)
        return "NaN"
    if d.is_infinite():
        return "-Infinity" if d < 0 else "Infinity"
    d = _numeric_normal(d)
    return format(d, "f")


def _bytea_out(value: Any) -> str:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise _cannot_encode(value, Oid.BYTEA)
    return "\\x" + bytes(value).hex()


def _str_out(oid: int) -> Callable[[Any], str]:
    def out(value: Any) -> str:
        if not isinstance(value, str):
            raise _cannot_encode(value, oid)
        return value

    return out


class _JsonNumber(str):
    """A JSON number kept as written (jsonb prints 1.50 as 1.50, 1e2 as 100)."""


def _jsonb_number(text: str) -> _JsonNumber:
    return _JsonNumber(format(Decimal(text), "f") if "e" in text.lower() else text)


def _jsonb_render(value: Any) -> str:
    if isinstance(value, dict):
        # jsonb orders keys by length, then bytewise; the last of duplicate keys wins
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_jsonb_render(value[k])}"
                               for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_render(v) for v in value) + "]"
    if isinstance(value, _JsonNumber):
        return str.__str__(value)
    return json.dumps(value, ensure_ascii=False)


def jsonb_out(value: Any) -> str:
    """jsonb_out: the canonical text of a JSON document stored as written."""
    if not isinstance(value, str):
        raise _cannot_encode(value, Oid.JSONB)
    try:
        parsed = json.loads(value, parse_float=_jsonb_number, parse_int=_jsonb_number)
    except ValueError:
        return value
    return _jsonb_render(parsed)


def _uuid_value(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bytes) and len(value) == 16:
        return uuid.UUID(bytes=value)
    if isinstance(value, str):
        return _uuid_in(value)
    raise _cannot_encode(value, Oid.UUID)


def _uuid_out(value: Any) -> str:
    return str(_uuid_value(value))


def _date_out(value: Any) -> str:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise _cannot_encode(value, Oid.DATE)
    if value == dt.date.max:
        return "infinity"
    if value == dt.date.min:
        return "-infinity"
    return value.isoformat()


def _fraction(micro: int) -> str:
    """'.ffffff' with trailing zeros trimmed, or '' when there is no fraction."""
    return f".{micro:06d}".rstrip("0") if micro else ""


def _time_out(value: Any) -> str:
    if not isinstance(value, dt.time):
        raise _cannot_encode(value, Oid.TIME)
    return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}"


def _clock(value: dt.datetime) -> str:
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}"
    )


def _timestamp_out(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        raise _cannot_encode(value, Oid.TIMESTAMP)
    value = value.replace(tzinfo=None)
    if value == dt.datetime.max:
        return "infinity"
    if value == dt.datetime.min:
        return "-infinity"
    return _clock(value)


def _offset_text(offset: dt.timedelta) -> str:
    """A UTC offset as PostgreSQL prints it: +00, -05, +05:30, +00:09:21."""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}"
    if minutes or secs:
        text += f":{minutes:02d}"
    if secs:
        text += f":{secs:02d}"
    return text


def _timestamptz_out(value: Any, tz: dt.tzinfo | None = None) -> str:
    """timestamptz_out in zone `tz` (UTC by default); a naive value is taken as UTC."""
    if not isinstance(value, dt.datetime):
        raise _cannot_encode(value, Oid.TIMESTAMPTZ)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value == _TSTZ_MAX:
        return "infinity"
    if value == _TSTZ_MIN:
        return "-infinity"
    local = value.astimezone(tz or UTC)
    offset = local.utcoffset()
    return _clock(local) + _offset_text(offset if offset is not None else dt.timedelta(0))


def _interval_value(value: Any) -> Interval:
    if isinstance(value, Interval):
        return value
    if isinstance(value, dt.timedelta):
        return Interval.from_timedelta(value)
    if isinstance(value, pa.MonthDayNano) or (
        hasattr(value, "months") and hasattr(value, "nanoseconds")
    ):
        return Interval(value.months, value.days, value.nanoseconds // 1000)
    raise _cannot_encode(value, Oid.INTERVAL)


def _interval_out(value: Any) -> str:
    """interval_out with IntervalStyle 'postgres' (EncodeInterval, INTSTYLE_POSTGRES)."""
    iv = _interval_value(value)
    years = int(iv.months / 12) if iv.months else 0  # C truncation toward zero
    months = iv.months - years * 12
    parts: list[str] = []
    before_negative = False
    for count, unit in ((years, "year"), (months, "mon"), (iv.days, "day")):
        if count:
            plus = "+" if before_negative and count > 0 else ""
            parts.append(f"{plus}{count} {unit}{'' if count == 1 else 's'}")
            before_negative = count < 0
    us = iv.microseconds
    if us or not parts:
        sign = "-" if us < 0 else ("+" if before_negative else "")
        seconds, micro = divmod(abs(us), 1_000_000)
        minutes, second = divmod(seconds, 60)
        hours, minute = divmod(minutes, 60)
        parts.append(f"{sign}{hours:02d}:{minute:02d}:{second:02d}{_fraction(micro)}")
    return " ".join(parts)


_ARRAY_SPECIAL = re.compile(r'[,{}"\\\s]|^$|^null$', re.IGNORECASE)


def _array_element_text(text: str) -> str:
    """An array element, quoted (with " and \\ escaped) when array_in would misread it."""
    if _ARRAY_SPECIAL.search(text) is None:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_out(elem_oid: int, value: Any, tz: dt.tzinfo | None) -> str:
    """array_out: '{...}' with NULL for None and nested braces for nested lists."""
    if not isinstance(value, list | tuple):
        raise _cannot_encode(value, TYPES_BY_OID[elem_oid].array_oid)
    _array_shape(value)
    parts = []
    for item in value:
        if item is None:
            parts.append("NULL")
        elif isinstance(item, list):
            parts.append(_array_out(elem_oid, item, tz))
        else:
            parts.append(_array_element_text(_text_out(elem_oid, item, tz)))
    return "{" + ",".join(parts) + "}"


_RECORD_SPECIAL = re.compile(r'[,()"\\\s]')


def _record_out(value: Any, tz: dt.tzinfo | None) -> str:
    """record_out for a tuple: '(1,"a b",)', field types inferred from the Python values."""
    if not isinstance(value, tuple):
        raise _cannot_encode(value, Oid.RECORD)
    parts = []
    for item in value:
        if item is None:
            parts.append("")
            continue
        text = _text_out(infer_oid(item), item, tz)
        if text == "" or _RECORD_SPECIAL.search(text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'
        parts.append(text)
    return "(" + ",".join(parts) + ")"


def _void_out(value: Any) -> str:
    return ""


_TEXT_OUT: dict[int, Callable[[Any], str]] = {
    Oid.BOOL: _bool_out,
    Oid.BYTEA: _bytea_out,
    Oid.FLOAT4: _float4_out,
    Oid.FLOAT8: _float8_out,
    Oid.NUMERIC: _numeric_out,
    Oid.UUID: _uuid_out,
    Oid.DATE: _date_out,
    Oid.TIME: _time_out,
    Oid.TIMESTAMP: _timestamp_out,
    Oid.INTERVAL: _interval_out,
    Oid.VOID: _void_out,
    **{oid: _str_out(oid) for oid in (*_TEXT_LIKE, Oid.JSON)},
    Oid.JSONB: jsonb_out,
    **{
        oid: functools.partial(lambda o, v: str(_check_int(v, o)), oid)
        for oid in (*_INT_RANGES, *_OID_LIKE)
    },
}


def _text_out(oid: int, value: Any, tz: dt.tzinfo | None) -> str:
    """The text form of `value` as type `oid` (arrays and timestamptz need `tz`)."""
    out = _TEXT_OUT.get(oid)
    if out is not None:
        return out(value)
    if oid == Oid.TIMESTAMPTZ:
        return _timestamptz_out(value, tz)
    if oid == Oid.RECORD:
        return _record_out(value, tz)
    t = TYPES_BY_OID.get(oid)
    if t is not None and t.is_array:
        return _array_out(t.element_oid, value, tz)
    raise errcodes.FeatureNotSupported(f"no text output for type OID {oid}")


def encode_text(oid: int, value: Any, *, tz: dt.tzinfo | None = None) -> bytes:
    """`value` in PostgreSQL's text output format for type `oid`, UTF-8 encoded.

    `tz` is the zone timestamptz values are shown in (the session's TimeZone; UTC if None).
    """
    return _text_out(oid, value, tz).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Binary (PostgreSQL's *recv / *send functions)
# --------------------------------------------------------------------------------------------

_BIN_INT: dict[int, struct.Struct] = {Oid.INT2: struct.Struct("!h"), Oid.INT4: struct.Struct("!i"),
            Oid.INT8: struct.Struct("!q")}  # fmt: skip
_U32 = struct.Struct("!I")
_I32 = struct.Struct("!i")
_I64 = struct.Struct("!q")
_F4 = struct.Struct("!f")
_F8 = struct.Struct("!d")
_NUMERIC_HEAD = struct.Struct("!hhHH")
_INTERVAL = struct.Struct("!qii")
_NUMERIC_SIGNS = {0x0000: 0, 0x4000: 1}
_NUMERIC_NAN, _NUMERIC_PINF, _NUMERIC_NINF = 0xC000, 0xD000, 0xF000


def _fixed(data: bytes, size: int, typname: str) -> None:
    if len(data) != size:
        raise _binary_error(f"{typname} needs exactly {size} bytes, got {len(data)}")


def _numeric_recv(data: bytes) -> Decimal:
    """numeric_recv: ndigits, weight, sign, dscale, then base-10000 digits."""
    if len(data) < 8:
        raise _binary_error("numeric header needs 8 bytes")
    ndigits, weight, sign, dscale = _NUMERIC_HEAD.unpack_from(data)
    if sign == _NUMERIC_NAN:
        return Decimal("NaN")
    if sign in (_NUMERIC_PINF, _NUMERIC_NINF):
        return Decimal("Infinity" if sign == _NUMERIC_PINF else "-Infinity")
    if sign not in _NUMERIC_SIGNS or ndigits < 0 or dscale > 0x3FFF:
        raise errcodes.InvalidBinaryRepresentation('invalid sign in external "numeric" value')
    if len(data) != 8 + 2 * ndigits:
        raise _binary_error(f"numeric with {ndigits} digits has {len(data) - 8} digit bytes")
    groups = struct.unpack_from(f"!{ndigits}H", data, 8)
    if any(g > 9999 for g in groups):
        raise errcodes.InvalidBinaryRepresentation('invalid digit in external "numeric" value')
    digits = "".join(f"{g:04d}" for g in groups) or "0"
    exponent = (weight - ndigits + 1) * 4 if ndigits else 0
    value = Decimal((_NUMERIC_SIGNS[sign], tuple(map(int, digits)), exponent))
    with localcontext() as ctx:
        ctx.prec = len(digits) + abs(exponent) + dscale + 1
        value = value.quantize(Decimal((0, (1,), -dscale)), rounding=ROUND_HALF_EVEN)
    return _numeric_normal(value)


def _numeric_send(value: Any) -> bytes:
    """numeric_send: base-10000 digit groups aligned on the decimal point."""
    d = _to_decimal(value)
    if d.is_nan():
        return _NUMERIC_HEAD.pack(0, 0, _NUMERIC_NAN, 0)
    if d.is_infinite():
        return _NUMERIC_HEAD.pack(0, 0, _NUMERIC_NINF if d < 0 else _NUMERIC_PINF, 0)
    d = _numeric_normal(d)
    sign, digit_tuple, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    dscale = -exponent
    digits = "".join(map(str, digit_tuple))
    if len(digits) < dscale:
        digits = "0" * (dscale - len(digits)) + digits
    intpart, frac = digits[: len(digits) - dscale], digits[len(digits) - dscale :]
    intpart = "0" * (-len(intpart) % 4) + intpart
    frac += "0" * (-len(frac) % 4)
    groups = [int(s[i : i + 4]) for s in (intpart, frac) for i in range(0, len(s), 4)]
    weight = len(intpart) // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight, sign = 0, 0
    head = _NUMERIC_HEAD.pack(len(groups), weight, 0x4000 if sign else 0, dscale)
    return head + struct.pack(f"!{len(groups)}H", *groups)


def _date_recv(data: bytes) -> dt.date:
    _fixed(data, 4, "date")
    days = _I32.unpack(data)[0]
    if days == _INT32_MAX:
        return dt.date.max
    if days == _INT32_MIN:
        return dt.date.min
    try:
        return dt.date.fromordinal(_PG_EPOCH_ORDINAL + days)
    except (ValueError, OverflowError):
        raise errcodes.DatetimeFieldOverflow("date out of range") from None


def _date_send(value: Any) -> bytes:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise _cannot_encode(value, Oid.DATE)
    if value == dt.date.max:
        return _I32.pack(_INT32_MAX)
    if value == dt.date.min:
        return _I32.pack(_INT32_MIN)
    return _I32.pack(value.toordinal() - _PG_EPOCH_ORDINAL)


def _time_recv(data: bytes) -> dt.time:
    _fixed(data, 8, "time")
    us = _I64.unpack(data)[0]
    if not 0 <= us < 86_400_000_000:
        raise errcodes.DatetimeFieldOverflow("time out of range")
    return _time_from_us(us)


def _time_send(value: Any) -> bytes:
    if not isinstance(value, dt.time):
        raise _cannot_encode(value, Oid.TIME)
    us = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    return _I64.pack(us)


def _timestamp_recv(with_tz: bool) -> Callable[[bytes], dt.datetime]:
    """timestamp_recv / timestamptz_recv: int64 microseconds since 2000-01-01 (UTC for tz)."""

    def recv(data: bytes) -> dt.datetime:
        _fixed(data, 8, "timestamp")
        us = _I64.unpack(data)[0]
        if us == _INT64_MAX:
            return _TSTZ_MAX if with_tz else dt.datetime.max
        if us == _INT64_MIN:
            return _TSTZ_MIN if with_tz else dt.datetime.min
        try:
            value = _PG_EPOCH + dt.timedelta(microseconds=us)
        except OverflowError:
            raise errcodes.DatetimeFieldOverflow("timestamp out of range") from None
        return value.replace(tzinfo=UTC) if with_tz else value

    return recv


def _timestamp_send(with_tz: bool) -> Callable[[Any], bytes]:
    def send(value: Any) -> bytes:
        if not isinstance(value, dt.datetime):
            raise _cannot_encode(value, Oid.TIMESTAMPTZ if with_tz else Oid.TIMESTAMP)
        if with_tz and value.tzinfo is not None:
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=None)
        if value == dt.datetime.max:
            return _I64.pack(_INT64_MAX)
        if value == dt.datetime.min:
            return _I64.pack(_INT64_MIN)
        return _I64.pack((value - _PG_EPOCH) // dt.timedelta(microseconds=1))

    return send


def _interval_recv(data: bytes) -> Interval:
    _fixed(data, 16, "interval")
    us, days, months = _INTERVAL.unpack(data)
    return Interval(months, days, us)


def _interval_send(value: Any) -> bytes:
    iv = _interval_value(value)
    try:
        return _INTERVAL.pack(iv.microseconds, iv.days, iv.months)
    except struct.error:
        raise errcodes.DatetimeFieldOverflow("interval out of range") from None


def _int_recv(oid: int) -> Callable[[bytes], int]:
    codec = _BIN_INT[oid] if oid in _BIN_INT else _U32

    def recv(data: bytes) -> int:
        _fixed(data, codec.size, TYPES_BY_OID[oid].name)
        return int(codec.unpack(data)[0])

    return recv


def _int_send(oid: int) -> Callable[[Any], bytes]:
    codec = _BIN_INT[oid] if oid in _BIN_INT else _U32

    def send(value: Any) -> bytes:
        return codec.pack(_check_int(value, oid))

    return send


def _float_recv(oid: int) -> Callable[[bytes], float]:
    codec = _F4 if oid == Oid.FLOAT4 else _F8

    def recv(data: bytes) -> float:
        _fixed(data, codec.size, TYPES_BY_OID[oid].name)
        return float(codec.unpack(data)[0])

    return recv


def _float_send(oid: int) -> Callable[[Any], bytes]:
    codec = _F4 if oid == Oid.FLOAT4 else _F8

    def send(value: Any) -> bytes:
        if not isinstance(value, float | int | np.floating):
            raise _cannot_encode(value, oid)
        try:
            return codec.pack(float(value))
        except OverflowError:
            raise errcodes.NumericValueOutOfRange("value out of range: overflow") from None

    return send


def _bool_recv(data: bytes) -> bool:
    _fixed(data, 1, "boolean")
    return data != b"\x00"


def _uuid_recv(data: bytes) -> uuid.UUID:
    _fixed(data, 16, "uuid")
    return uuid.UUID(bytes=data)


def _jsonb_recv(data: bytes) -> str:
    if data[:1] != b"\x01":
        raise errcodes.InvalidBinaryRepresentation("unsupported jsonb version number")
    return _json_in("jsonb")(_utf8(data[1:]))


def _char_recv(data: bytes) -> str:
    _fixed(data, 1, '"char"')
    return data.decode("latin-1")


def _char_send(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _cannot_encode(value, Oid.CHAR)
    raw = value.encode("utf-8")[:1]
    return raw or b"\x00"


def _text_send(oid: int) -> Callable[[Any], bytes]:
    out = _str_out(oid)
    return lambda value: out(value).encode("utf-8")


def _array_shape(value: list[Any] | tuple[Any, ...]) -> list[int]:
    """Dimensions of a nested list, which must be rectangular (PostgreSQL arrays are)."""
    if not value:
        return []
    nested = [isinstance(v, list) for v in value]
    if not any(nested):
        return [len(value)]
    if not all(nested):
        raise errcodes.InvalidTextRepresentation(
            "multidimensional arrays must have array expressions with matching dimensions"
        )
    shapes = [_array_shape(v) for v in value]
    if any(s != shapes[0] for s in shapes) or not shapes[0]:
        raise errcodes.InvalidTextRepresentation(
            "multidimensional arrays must have array expressions with matching dimensions"
        )
    if len(shapes[0]) >= 6:
        raise errcodes.ProgramLimitExceeded("number of array dimensions exceeds the maximum (6)")
    return [len(value), *shapes[0]]


def _flatten(value: list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    for item in value:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def _array_send(elem_oid: int, value: Any) -> bytes:
    """array_send: ndim, has-null flag, element OID, (size, lower bound 1) per dimension."""
    if not isinstance(value, list | tuple):
        raise _cannot_encode(value, TYPES_BY_OID[elem_oid].array_oid)
    shape = _array_shape(value)
    elems = list(_flatten(value))
    has_null = any(v is None for v in elems)
    out = [struct.pack("!iiI", len(shape), int(has_null), elem_oid)]
    out.extend(struct.pack("!ii", n, 1) for n in shape)
    for item in elems:
        if item is None:
            out.append(b"\xff\xff\xff\xff")
        else:
            raw = _bin_out(elem_oid, item)
            out.append(_I32.pack(len(raw)) + raw)
    return b"".join(out)


def _array_recv(elem_oid: int, data: bytes) -> list[Any]:
    """array_recv; lower bounds are dropped (Python lists start at 0)."""
    try:
        ndim, flags, got_oid = struct.unpack_from("!iiI", data)
        if not 0 <= ndim <= 6 or flags not in (0, 1):
            raise errcodes.InvalidBinaryRepresentation(
                f"invalid number of dimensions: {ndim}" if flags in (0, 1)
                else "invalid array flags"
            )  # fmt: skip
        if got_oid != elem_oid and elem_oid != Oid.UNSPECIFIED:
            raise errcodes.DatatypeMismatch(
                f"binary data has array element type {got_oid} instead of expected {elem_oid}"
            )
        dims = [struct.unpack_from("!ii", data, 12 + 8 * i)[0] for i in range(ndim)]
        pos = 12 + 8 * ndim
        flat: list[Any] = []
        for _ in range(math.prod(dims) if dims else 0):
            (size,) = _I32.unpack_from(data, pos)
            pos += 4
            if size == -1:
                flat.append(None)
                continue
            if size < 0 or pos + size > len(data):
                raise _binary_error("array element length runs past the end of the data")
            flat.append(_bin_in(got_oid, data[pos : pos + size]))
            pos += size
    except struct.error:
        raise _binary_error("insufficient data left in message") from None
    if pos != len(data):
        raise _binary_error("array has trailing bytes")
    return _nest(flat, dims)


def _nest(flat: list[Any], dims: list[int]) -> list[Any]:
    if len(dims) <= 1:
        return flat
    step = len(flat) // dims[0]
    return [_nest(flat[i : i + step], dims[1:]) for i in range(0, len(flat), step)]


def _record_send(value: Any) -> bytes:
    """record_send for a tuple: field count, then (OID, length, bytes) per field."""
    if not isinstance(value, tuple):
        raise _cannot_encode(value, Oid.RECORD)
    out = [_I32.pack(len(value))]
    for item in value:
        oid = infer_oid(item) if item is not None else Oid.TEXT
        if item is None:
            out.append(struct.pack("!Ii", oid, -1))
        else:
            raw = _bin_out(oid, item)
            out.append(struct.pack("!Ii", oid, len(raw)) + raw)
    return b"".join(out)


_BIN_IN: dict[int, Callable[[bytes], Any]] = {
    Oid.BOOL: _bool_recv,
    Oid.BYTEA: bytes,
    Oid.CHAR: _char_recv,
    Oid.NUMERIC: _numeric_recv,
    Oid.DATE: _date_recv,
    Oid.TIME: _time_recv,
    Oid.TIMESTAMP: _timestamp_recv(False),
    Oid.TIMESTAMPTZ: _timestamp_recv(True),
    Oid.INTERVAL: _interval_recv,
    Oid.UUID: _uuid_recv,
    Oid.JSON: lambda data: _json_in("json")(_utf8(data)),
    Oid.JSONB: _jsonb_recv,
    Oid.VOID: lambda data: None,
    **{oid: _utf8 for oid in _TEXT_LIKE if oid != Oid.CHAR},
    **{oid: _int_recv(oid) for oid in (*_INT_RANGES, *_OID_LIKE)},
    **{oid: _float_recv(oid) for oid in (Oid.FLOAT4, Oid.FLOAT8)},
}

_BIN_OUT: dict[int, Callable[[Any], bytes]] = {
    Oid.BOOL: lambda v: b"\x01" if _bool_out(v) == "t" else b"\x00",
    Oid.BYTEA: lambda v: bytes(v) if _bytea_out(v) else b"",
    Oid.CHAR: _char_send,
    Oid.NUMERIC: _numeric_send,
    Oid.DATE: _date_send,
    Oid.TIME: _time_send,
    Oid.TIMESTAMP: _timestamp_send(False),
    Oid.TIMESTAMPTZ: _timestamp_send(True),
    Oid.INTERVAL: _interval_send,
    Oid.UUID: lambda v: _uuid_value(v).bytes,
    Oid.JSONB: lambda v: b"\x01" + jsonb_out(v).encode("utf-8"),
    Oid.RECORD: _record_send,
    Oid.VOID: lambda v: b"",
    **{oid: _text_send(oid) for oid in (*_TEXT_LIKE, Oid.JSON) if oid != Oid.CHAR},
    **{oid: _int_send(oid) for oid in (*_INT_RANGES, *_OID_LIKE)},
    **{oid: _float_send(oid) for oid in (Oid.FLOAT4, Oid.FLOAT8)},
}


def _bin_in(oid: int, data: bytes) -> Any:
    recv = _BIN_IN.get(oid)
    if recv is not None:
        return recv(data)
    t = TYPES_BY_OID.get(oid)
    if t is not None and t.is_array:
        return _array_recv(t.element_oid, data)
    raise errcodes.FeatureNotSupported(f"no binary input for type OID {oid}")


def _bin_out(oid: int, value: Any) -> bytes:
    send = _BIN_OUT.get(oid)
    if send is not None:
        return send(value)
    t = TYPES_BY_OID.get(oid)
    if t is not None and t.is_array:
        return _array_send(t.element_oid, value)
    raise errcodes.FeatureNotSupported(f"no binary output for type OID {oid}")


def encode_binary(oid: int, value: Any) -> bytes:
    """`value` in PostgreSQL's binary (send) format for type `oid`."""
    return _bin_out(oid, value)


# --------------------------------------------------------------------------------------------
# Array text input
# --------------------------------------------------------------------------------------------

_ARRAY_DIMS = re.compile(r"\s*(?:\[\s*[+-]?\d+\s*(?::\s*[+-]?\d+\s*)?\])+\s*=", re.ASCII)
_ARRAY_SPACE = " \t\n\r\v\f"


class _ArrayParser:
    """array_in's grammar: '{a,"b c",NULL,{nested}}', backslash escapes, optional '[1:3]='."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, detail: str) -> SqlError:
        err = errcodes.InvalidTextRepresentation(f'malformed array literal: "{self.text}"')
        err.detail = detail
        return err

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _ARRAY_SPACE:
            self.pos += 1

    def parse(self) -> list[Any]:
        m = _ARRAY_DIMS.match(self.text)
        if m is not None:
            self.pos = m.end()
        self.skip_space()
        if not self.text.startswith("{", self.pos):
            raise self.fail('Array value must start with "{" or dimension information.')
        result = self.level()
        self.skip_space()
        if self.pos != len(self.text):
            raise self.fail("Junk after closing right brace.")
        try:
            _array_shape(result)
        except SqlError:
            raise self.fail(
                "Multidimensional arrays must have sub-arrays with matching dimensions."
            ) from None
        return result

    def level(self) -> list[Any]:
        self.pos += 1  # the "{"
        items: list[Any] = []
        self.skip_space()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return items
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                raise self.fail("Unexpected end of input.")
            char = self.text[self.pos]
            if char == "{":
                items.append(self.level())
            elif char == '"':
                items.append(self.quoted())
            else:
                items.append(self.unquoted())
            self.skip_space()
            if self.pos >= len(self.text):
                raise self.fail("Unexpected end of input.")
            char = self.text[self.pos]
            self.pos += 1
            if char == "}":
                return items
            if char != ",":
                raise self.fail(f'Unexpected "{char}" character.')

    def quoted(self) -> str:
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == '"':
                self.pos += 1
                return "".join(out)
            else:
                out.append(char)
                self.pos += 1
        raise self.fail("Unexpected end of input.")

    def unquoted(self) -> str | None:
        out: list[str] = []
        keep = 0  # length of `out` up to the last escaped or non-space character
        escaped_any = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in ",}":
                break
            if char in '{"':
                raise self.fail(f'Unexpected "{char}" character.')
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self.fail("Unexpected end of input.")
                out.append(self.text[self.pos + 1])
                self.pos += 2
                keep, escaped_any = len(out), True
                continue
            out.append(char)
            self.pos += 1
            if char not in _ARRAY_SPACE:
                keep = len(out)
        word = "".join(out[:keep])
        if not word and not escaped_any:
            raise self.fail('Unexpected "," character.')
        if not escaped_any and word.upper() == "NULL":
            return None
        return word


def _array_in(elem_oid: int, text: str, tz: dt.tzinfo) -> list[Any]:
    raw = _ArrayParser(text).parse()

    def convert(items: list[Any]) -> list[Any]:
        return [
            None if v is None else convert(v) if isinstance(v, list) else _text_in(elem_oid, v, tz)
            for v in items
        ]

    return convert(raw)


# --------------------------------------------------------------------------------------------
# decode_param
# --------------------------------------------------------------------------------------------

_TEXT_IN: dict[int, Callable[[str], Any]] = {
    Oid.BOOL: _bool_in,
    Oid.BYTEA: lambda text: _bytea_in(text.encode("utf-8")),
    Oid.CHAR: _char_in,
    Oid.NAME: _name_in,
    Oid.FLOAT4: _float_in(Oid.FLOAT4),
    Oid.FLOAT8: _float_in(Oid.FLOAT8),
    Oid.NUMERIC: _numeric_in,
    Oid.OID: _oid_in,
    Oid.REGPROC: _reg_in("regproc"),
    Oid.REGCLASS: _reg_in("regclass"),
    Oid.REGTYPE: _reg_in("regtype"),
    Oid.JSON: _json_in("json"),
    Oid.JSONB: _json_in("jsonb"),
    Oid.UUID: _uuid_in,
    Oid.DATE: _date_in,
    Oid.TIME: _time_in,
    Oid.TIMESTAMP: _timestamp_in(False),
    Oid.INTERVAL: _interval_in,
    Oid.VOID: lambda text: None,
    **{oid: str for oid in (Oid.UNSPECIFIED, Oid.UNKNOWN, Oid.TEXT, Oid.VARCHAR, Oid.BPCHAR)},
    **{oid: _int_in(oid) for oid in _INT_RANGES},
}


def _text_in(oid: int, text: str, tz: dt.tzinfo) -> Any:
    parse = _TEXT_IN.get(oid)
    if parse is not None:
        return parse(text)
    if oid == Oid.TIMESTAMPTZ:
        return _timestamp_in(True, tz)(text)
    t = TYPES_BY_OID.get(oid)
    if t is not None and t.is_array:
        return _array_in(t.element_oid, text, tz)
    raise errcodes.FeatureNotSupported(
        f"input of type {t.name if t else oid} parameters is not supported"
    )


def decode_param(oid: int, fmt: int, data: bytes, *, tz: dt.tzinfo | None = None) -> Any:
    """A Bind parameter value (format 0 text, 1 binary) as the Python value for type `oid`.

    OID 0 (unspecified) and 705 (unknown) decode to str.  `tz` is the session's TimeZone,
    used for timestamptz text without a written zone (UTC if None).  Malformed binary data
    raises 08P01, which the connection reports as 22P03 naming the parameter.
    """
    if fmt == 0:
        if oid == Oid.BYTEA:
            return _bytea_in(data)
        return _text_in(oid, _utf8(data), tz or UTC)
    if fmt == 1:
        return _bin_in(oid, bytes(data))
    raise errcodes.ProtocolViolation(f"unsupported format code: {fmt}")


# --------------------------------------------------------------------------------------------
# Python values to OIDs
# --------------------------------------------------------------------------------------------


def infer_oid(value: Any) -> int:
    """The type PostgreSQL would give a Python value (for records and untyped results)."""
    checks: tuple[tuple[type | tuple[type, ...], int], ...] = (
        (bool, Oid.BOOL),
        (int, Oid.INT8),
        (float, Oid.FLOAT8),
        (Decimal, Oid.NUMERIC),
        (str, Oid.TEXT),
        ((bytes, bytearray), Oid.BYTEA),
        (dt.datetime, Oid.TIMESTAMP),
        (dt.date, Oid.DATE),
        (dt.time, Oid.TIME),
        ((Interval, dt.timedelta), Oid.INTERVAL),
        (uuid.UUID, Oid.UUID),
        (tuple, Oid.RECORD),
    )
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return Oid.TIMESTAMPTZ
    for kind, oid in checks:
        if isinstance(value, kind):
            return oid
    if isinstance(value, list):
        elem = next((v for v in _flatten(value) if v is not None), None)
        return TYPES_BY_OID[infer_oid(elem) if elem is not None else Oid.TEXT].array_oid
    raise errcodes.FeatureNotSupported(f"no PostgreSQL type for Python {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# Arrow
# --------------------------------------------------------------------------------------------

_DUCKDB_WIDE_INTS = ("hugeint", "uhugeint")


def _extension_oid(t: pa.BaseExtensionType) -> int | None:
    """OIDs for the extension types DuckDB emits with arrow_lossless_conversion = true."""
    name = t.extension_name
    if name == "arrow.uuid":
        return Oid.UUID
    if name == "arrow.json":
        return Oid.JSON
    if name == "arrow.opaque" and getattr(t, "type_name", "") in _DUCKDB_WIDE_INTS:
        return Oid.NUMERIC
    return None


_ARROW_SIMPLE: tuple[tuple[Callable[[pa.DataType], bool], int], ...] = (
    (pa.types.is_boolean, Oid.BOOL),
    (lambda t: t in (pa.int8(), pa.int16(), pa.uint8()), Oid.INT2),
    (lambda t: t in (pa.int32(), pa.uint16()), Oid.INT4),
    (lambda t: t in (pa.int64(), pa.uint32()), Oid.INT8),
    (lambda t: t == pa.uint64(), Oid.NUMERIC),
    (lambda t: t in (pa.float16(), pa.float32()), Oid.FLOAT4),
    (pa.types.is_float64, Oid.FLOAT8),
    (pa.types.is_decimal, Oid.NUMERIC),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)
     or pa.types.is_string_view(t), Oid.TEXT),
    (lambda t: pa.types.is_fixed_size_binary(t) and t.byte_width == 16, Oid.UUID),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t)
     or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t), Oid.BYTEA),
    (pa.types.is_date, Oid.DATE),
    (pa.types.is_time, Oid.TIME),
    (lambda t: pa.types.is_timestamp(t) and t.tz is None, Oid.TIMESTAMP),
    (pa.types.is_timestamp, Oid.TIMESTAMPTZ),
    (lambda t: pa.types.is_interval(t) or pa.types.is_duration(t), Oid.INTERVAL),
    (pa.types.is_null, Oid.TEXT),
    (pa.types.is_struct, Oid.RECORD),
)  # fmt: skip


def arrow_to_oid(t: pa.DataType) -> int:
    """The PostgreSQL type a column of Arrow type `t` is sent as (see module docstring)."""
    if isinstance(t, pa.BaseExtensionType):
        oid = _extension_oid(t)
        return oid if oid is not None else arrow_to_oid(t.storage_type)
    if pa.types.is_dictionary(t):
        return arrow_to_oid(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        elem = arrow_to_oid(t.value_type)
        if TYPES_BY_OID[elem].is_array:
            return elem  # PostgreSQL arrays are multidimensional, not arrays of arrays
        array_oid = TYPES_BY_OID[elem].array_oid
        if not array_oid:
            raise errcodes.FeatureNotSupported(f"no PostgreSQL array type for Arrow {t}")
        return array_oid
    for test, oid in _ARROW_SIMPLE:
        if test(t):
            return oid
    raise errcodes.FeatureNotSupported(f"no PostgreSQL type for Arrow type {t}")


ColumnEncoder = Callable[[pa.Array], list[bytes | None]]


def _normalize(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array in a canonical physical type (µs times, plain strings, ...)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if isinstance(t, pa.BaseExtensionType):
        if t.extension_name == "arrow.opaque" and getattr(t, "type_name", "") in (
            _DUCKDB_WIDE_INTS
        ):
            signed = t.type_name == "hugeint"
            values = [
                None if v is None else Decimal(int.from_bytes(v, "little", signed=signed))
                for v in arr.storage.to_pylist()
            ]
            return pa.array(values, pa.decimal256(39, 0))
        if t.extension_name == "arrow.bool8":  # DuckDB's lossless BOOLEAN: int8 storage
            return pc.not_equal(arr.storage, 0)
        return _normalize(arr.storage)
    if pa.types.is_dictionary(t):
        return _normalize(arr.dictionary_decode())
    if pa.types.is_string_view(t):
        return arr.cast(pa.string())
    if pa.types.is_binary_view(t):
        return arr.cast(pa.binary())
    if pa.types.is_float16(t):
        return arr.cast(pa.float32())
    if pa.types.is_date64(t):
        return arr.cast(pa.date32())
    if pa.types.is_timestamp(t) and t.unit != "us":
        return arr.cast(pa.timestamp("us", t.tz), safe=False)
    if pa.types.is_time(t) and t != pa.time64("us"):
        return arr.cast(pa.time64("us"), safe=False)
    if pa.types.is_duration(t) and t.unit != "us":
        return arr.cast(pa.duration("us"), safe=False)
    return arr


def _bytes_of(arr: pa.Array) -> list[bytes | None]:
    """The values of a string or binary array as bytes (None for null), without copies per row
    in Python: pyarrow builds the list in C."""
    target = pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()
    if pa.types.is_large_binary(arr.type) or pa.types.is_fixed_size_binary(arr.type):
        target = arr.type
    result: list[bytes | None] = arr.cast(target).to_pylist()
    return result


def _with_nulls(arr: pa.Array, values: list[bytes | None]) -> list[bytes | None]:
    if arr.null_count:
        for i in np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False)):
            values[i] = None
    return values


def _numpy_values(arr: pa.Array, dtype: str) -> np.ndarray[Any, Any]:
    """The array's values as numpy `dtype` with nulls as zero (they are masked later)."""
    if pa.types.is_boolean(arr.type) or pa.types.is_date32(arr.type):
        arr = arr.cast(pa.int8() if pa.types.is_boolean(arr.type) else pa.int32())
    elif pa.types.is_temporal(arr.type):
        arr = arr.cast(pa.int64())
    filled = arr.fill_null(0) if arr.null_count else arr
    return np.asarray(filled.to_numpy(zero_copy_only=False)).astype(dtype, copy=False)


def _fixed_width(arr: pa.Array, values: np.ndarray[Any, Any]) -> list[bytes | None]:
    """Each element of big-endian `values` as its own bytes object (one C-level tolist)."""
    width = values.dtype.itemsize
    out: list[bytes | None] = np.ascontiguousarray(values).view(f"V{width}").tolist()
    return _with_nulls(arr, out)


def _patch(out: list[bytes | None], mask: np.ndarray[Any, Any], value: bytes) -> None:
    for i in np.flatnonzero(mask):
        out[i] = value


_TRIM_FRACTION = (r"(\.\d*?[1-9])0+$", r"\1")
_DROP_FRACTION = (r"\.0+$", "")


def _trimmed_strings(arr: pa.Array) -> pa.Array:
    """Arrow's '... 03:04:05.500000' as PostgreSQL's '... 03:04:05.5'."""
    text = pc.cast(arr, pa.string())
    text = pc.replace_substring_regex(
        text, pattern=_TRIM_FRACTION[0], replacement=_TRIM_FRACTION[1]
    )
    return pc.replace_substring_regex(
        text, pattern=_DROP_FRACTION[0], replacement=_DROP_FRACTION[1]
    )


def _float_text(arr: pa.Array, max_exp: int, single: bool) -> list[bytes | None]:
    """float4/float8 text from Arrow's shortest-digit strings, used only where their layout
    is PostgreSQL's; the rest (NaN, infinities, layout disagreements) goes per value.

    Arrow and PostgreSQL pick the same shortest digits but switch to exponent notation at
    different magnitudes, and Arrow writes 'e-7' where PostgreSQL writes 'e-07'.
    """
    values = _numpy_values(arr, "f4" if single else "f8")
    magnitude = np.abs(values)
    low = np.float32(1e-4) if single else 1e-4
    with np.errstate(invalid="ignore"):
        fixed_range = ((magnitude >= low) & (magnitude < 10.0**max_exp)) | (magnitude == 0)
    text = pc.cast(arr, pa.string())
    has_exponent = np.asarray(
        pc.fill_null(pc.match_substring(text, "e"), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    scientific = ~fixed_range & has_exponent & np.isfinite(values)
    if scientific.any():
        text = pc.replace_substring_regex(text, pattern=r"e([+-])(\d)$", replacement=r"e\10\2")
    out = _bytes_of(text)
    encode = _float4_out if single else _float8_out
    for i in np.flatnonzero(~((fixed_range & ~has_exponent) | scientific)):
        if out[i] is not None:
            out[i] = encode(float(values[i])).encode()
    return out


def _per_value(oid: int, fmt: int, tz: dt.tzinfo | None) -> ColumnEncoder:
    """The reference path: to_pylist, then encode_text / encode_binary per value."""
    if fmt == 0:

        def text(arr: pa.Array) -> list[bytes | None]:
            return [None if v is None else encode_text(oid, v, tz=tz) for v in arr.to_pylist()]

        return text

    def binary(arr: pa.Array) -> list[bytes | None]:
        return [None if v is None else encode_binary(oid, v) for v in arr.to_pylist()]

    return binary


def _date_text(arr: pa.Array) -> list[bytes | None]:
    days = _numpy_values(arr, "i8")
    pinf, ninf = days >= _DATE_MAX_UNIX_DAYS, days <= _DATE_MIN_UNIX_DAYS
    if pinf.any() or ninf.any():
        arr = pc.if_else(pa.array(pinf | ninf), pa.scalar(0, pa.date32()), arr)
    out = _bytes_of(pc.cast(arr, pa.string()))
    _patch(out, pinf & arr.is_valid().to_numpy(zero_copy_only=False), b"infinity")
    _patch(out, ninf & arr.is_valid().to_numpy(zero_copy_only=False), b"-infinity")
    return out


def _timestamp_text(arr: pa.Array, suffix: str) -> list[bytes | None]:
    us = _numpy_values(arr, "i8")
    pinf, ninf = us >= _TS_MAX_UNIX_US, us <= _TS_MIN_UNIX_US
    naive = arr.cast(pa.timestamp("us"))
    if pinf.any() or ninf.any():
        naive = pc.if_else(pa.array(pinf | ninf), pa.scalar(0, pa.timestamp("us")), naive)
    text = _trimmed_strings(naive)
    if suffix:
        text = pc.binary_join_element_wise(text, suffix, "")
    out = _bytes_of(text)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    _patch(out, pinf & valid, b"infinity")
    _patch(out, ninf & valid, b"-infinity")
    return out


def _temporal_binary(arr: pa.Array, oid: int) -> list[bytes | None]:
    """date / time / timestamp(tz) send, from Arrow's Unix-epoch integers, in bulk."""
    if oid == Oid.DATE:
        days = _numpy_values(arr, "i8")
        pg = days - _UNIX_TO_PG_DAYS
        pg[days >= _DATE_MAX_UNIX_DAYS] = _INT32_MAX
        pg[days <= _DATE_MIN_UNIX_DAYS] = _INT32_MIN
        return _fixed_width(arr, pg.astype(">i4"))
    us = _numpy_values(arr, "i8")
    if oid == Oid.TIME:
        return _fixed_width(arr, us.astype(">i8"))
    pg = us - _UNIX_TO_PG_US
    pg[us >= _TS_MAX_UNIX_US] = _INT64_MAX
    pg[us <= _TS_MIN_UNIX_US] = _INT64_MIN
    return _fixed_width(arr, pg.astype(">i8"))


_MDN = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])


def _interval_binary(arr: pa.Array) -> list[bytes | None]:
    """interval send from month_day_nano (its buffer read as a record array) or duration."""
    if pa.types.is_duration(arr.type):
        us = _numpy_values(arr, "i8")
        days, rest = np.divmod(us, 86_400_000_000)
        months = np.zeros_like(days)
    else:
        raw = np.frombuffer(arr.buffers()[1], dtype=_MDN, count=len(arr), offset=arr.offset * 16)
        months, days, rest = raw["months"], raw["days"], raw["nanos"] // 1000
    packed = np.empty(len(arr), dtype=[("us", ">i8"), ("days", ">i4"), ("months", ">i4")])
    packed["us"], packed["days"], packed["months"] = rest, days, months
    return _fixed_width(arr, packed)


_BINARY_NUMPY: dict[int, str] = {Oid.INT2: ">i2", Oid.INT4: ">i4", Oid.INT8: ">i8", Oid.FLOAT4: ">f4",
                 Oid.FLOAT8: ">f8", **{oid: ">u4" for oid in _OID_LIKE}}  # fmt: skip


def _is_int(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t))


_PADDED_NUMERIC = pa.decimal128(38, 10)


def _unconstrained_numeric_text(a: pa.Array) -> list[bytes | None]:
    """DECIMAL(38, 10) is how the engine stores an unconstrained `numeric` column: its
    trailing zeros are storage padding, not the value's scale (PostgreSQL prints 1.5, not
    1.5000000000). Trailing zeros a client typed (1.50) are lost with the padding."""
    text = pc.cast(a, pa.string())
    if pc.any(pc.match_substring(text, "E")).as_py():  # Arrow writes tiny values as 1E-10
        text = pa.array([None if v is None else format(v, "f") for v in a.to_pylist()],
                        pa.string())
    text = pc.replace_substring_regex(text, pattern=r"(\.[0-9]*?)0+$", replacement=r"\1")
    return _bytes_of(pc.replace_substring_regex(text, pattern=r"\.$", replacement=""))


def _text_fast(oid: int, t: pa.DataType, tz: dt.tzinfo | None) -> ColumnEncoder | None:
    """A vectorised text encoder for (oid, Arrow type), or None if none matches PostgreSQL."""
    is_str = pa.types.is_string(t) or pa.types.is_large_string(t)
    if oid in (*_INT_RANGES, *_OID_LIKE, Oid.NUMERIC) and _is_int(t):
        return lambda a: _bytes_of(pc.cast(a, pa.string()))
    if oid == Oid.NUMERIC and pa.types.is_decimal(t) and t.scale >= 0:
        return lambda a: _bytes_of(pc.cast(a, pa.string()))
    if oid == Oid.BOOL and pa.types.is_boolean(t):
        return lambda a: _bytes_of(pc.if_else(a, "t", "f"))
    if oid == Oid.FLOAT8 and pa.types.is_float64(t):
        return lambda a: _float_text(a, 15, single=False)
    if oid == Oid.FLOAT4 and pa.types.is_float32(t):
        return lambda a: _float_text(a, 6, single=True)
    if (oid in _TEXT_LIKE or oid in (Oid.JSON, Oid.UUID)) and is_str:
        return _bytes_of
    if oid == Oid.BYTEA and (pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return lambda a: [None if v is None else b"\\x" + binascii.hexlify(v) for v in _bytes_of(a)]
    if oid == Oid.DATE and pa.types.is_date32(t):
        return _date_text
    if oid == Oid.TIME and t == pa.time64("us"):
        return lambda a: _bytes_of(_trimmed_strings(a))
    if oid == Oid.TIMESTAMP and pa.types.is_timestamp(t):
        return lambda a: _timestamp_text(a, "")
    if oid == Oid.TIMESTAMPTZ and pa.types.is_timestamp(t) and tz in (None, UTC):
        return lambda a: _timestamp_text(a, "+00")
    if pa.types.is_null(t):
        return lambda a: [None] * len(a)
    return None


def _binary_fast(oid: int, t: pa.DataType) -> ColumnEncoder | None:
    """A vectorised binary encoder for (oid, Arrow type), or None."""
    numeric_source = _is_int(t) or pa.types.is_floating(t)
    if oid in _BINARY_NUMPY and numeric_source:
        dtype = _BINARY_NUMPY[oid]
        return lambda a: _fixed_width(a, _numpy_values(a, dtype))
    if oid == Oid.BOOL and pa.types.is_boolean(t):
        return lambda a: _fixed_width(a, _numpy_values(a, "u1"))
    is_bytes = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
    is_bytes = is_bytes or pa.types.is_large_binary(t)
    if (oid in _TEXT_LIKE and oid != Oid.CHAR) or oid in (Oid.JSON, Oid.BYTEA):
        return _bytes_of if is_bytes else None
    if oid == Oid.JSONB and is_bytes:
        return lambda a: [None if v is None else b"\x01" + v for v in _bytes_of(a)]
    if oid == Oid.UUID and pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
        return _bytes_of
    if oid == Oid.DATE and pa.types.is_date32(t):
        return lambda a: _temporal_binary(a, Oid.DATE)
    if oid == Oid.TIME and t == pa.time64("us"):
        return lambda a: _temporal_binary(a, Oid.TIME)
    if oid in (Oid.TIMESTAMP, Oid.TIMESTAMPTZ) and pa.types.is_timestamp(t):
        return lambda a: _temporal_binary(a, oid)
    if oid == Oid.INTERVAL and (pa.types.is_interval(t) or pa.types.is_duration(t)):
        return _interval_binary
    if pa.types.is_null(t):
        return lambda a: [None] * len(a)
    return None


_SMALL_ARRAY = 16


def _plain_scalar(t: pa.DataType) -> bool:
    """Types whose to_pylist() values the per-value encoders take as they are (temporal
    types are excluded: DuckDB's infinities overflow Python's date and datetime)."""
    return bool(
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
        or pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
        or pa.types.is_large_binary(t) or pa.types.is_decimal(t)
    )


class _ColumnEncoder:
    """Encodes Arrow arrays for one (oid, format, zone); picks a strategy per Arrow type."""

    __slots__ = ("_fallback", "_fmt", "_oid", "_strategies", "_tz")

    def __init__(self, oid: int, fmt: int, tz: dt.tzinfo | None) -> None:
        if fmt not in (0, 1):
            raise errcodes.ProtocolViolation(f"unsupported format code: {fmt}")
        self._oid, self._fmt, self._tz = oid, fmt, tz
        self._fallback = _per_value(oid, fmt, tz)
        self._strategies: dict[pa.DataType, ColumnEncoder] = {}

    def __call__(self, arr: pa.Array | pa.ChunkedArray) -> list[bytes | None]:
        arr = _normalize(arr)
        if self._fmt == 0 and arr.type == _PADDED_NUMERIC and self._oid == Oid.NUMERIC:
            return _unconstrained_numeric_text(arr)
        if len(arr) <= _SMALL_ARRAY and _plain_scalar(arr.type):
            # A pyarrow.compute call costs tens of microseconds whatever the length:
            # for a handful of values (a typical OLTP-sized result) per value is faster.
            return self._fallback(arr)
        strategy = self._strategies.get(arr.type)
        if strategy is None:
            fast = (
                _text_fast(self._oid, arr.type, self._tz)
                if self._fmt == 0
                else _binary_fast(self._oid, arr.type)
            )
            strategy = fast or self._per_value_for(arr.type)
            self._strategies[arr.type] = strategy
        return strategy(arr)

    def _per_value_for(self, t: pa.DataType) -> ColumnEncoder:
        if not pa.types.is_struct(t):
            return self._fallback
        encode = encode_text if self._fmt == 0 else encode_binary
        kwargs = {"tz": self._tz} if self._fmt == 0 else {}

        def records(arr: pa.Array) -> list[bytes | None]:
            rows = arr.to_pylist()
            return [None if v is None else encode(Oid.RECORD, tuple(v.values()), **kwargs)
                    for v in rows]  # fmt: skip

        return records


@functools.lru_cache(maxsize=1024)
def _cached_encoder(oid: int, fmt: int, tz: dt.tzinfo | None) -> _ColumnEncoder:
    return _ColumnEncoder(oid, fmt, tz)


def column_encoder(oid: int, fmt: int, *, tz: dt.tzinfo | None = None) -> ColumnEncoder:
    """A function from an Arrow array to each row's encoded value (None for NULL).

    Cached per (oid, fmt, tz).  `tz` is the zone timestamptz text is rendered in (UTC if None).
    """
    return _cached_encoder(int(oid), fmt, tz)
