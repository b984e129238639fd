"""Tests for laminar_pg.wire.types: registry, text/binary codecs and the Arrow column encoders.

Hypothesis example counts come from the project's "ci" profile (tests/conftest.py).
Three independent references keep the codecs honest:
* tables of exact text that a PostgreSQL 15 server printed (checked once with psql -At while
  writing them; the server is not needed to run these tests),
* psycopg 3's own loaders and dumpers (a separate implementation of the same formats),
* the per-value encoders, which the vectorised Arrow encoders must agree with byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import uuid
from decimal import Decimal
from typing import Any

import duckdb
import hypothesis.strategies as st
import numpy as np
import psycopg.adapt
import pyarrow as pa
import pytest
from hypothesis import given
from psycopg.pq import Format

from laminar_pg.errors import SqlError
from laminar_pg.wire.types import (
    TYPES_BY_NAME,
    TYPES_BY_OID,
    Interval,
    Oid,
    arrow_to_oid,
    column_encoder,
    decode_param,
    encode_binary,
    encode_text,
)

UTC = dt.UTC

# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

# (typname, oid, typlen, typcategory, typarray) from PostgreSQL 15's pg_type.
PG_TYPE_ROWS = [
    ("bool", 16, 1, "B", 1000),
    ("bytea", 17, -1, "U", 1001),
    ("char", 18, 1, "Z", 1002),
    ("name", 19, 64, "S", 1003),
    ("int8", 20, 8, "N", 1016),
    ("int2", 21, 2, "N", 1005),
    ("int4", 23, 4, "N", 1007),
    ("regproc", 24, 4, "N", 1008),
    ("text", 25, -1, "S", 1009),
    ("oid", 26, 4, "N", 1028),
    ("json", 114, -1, "U", 199),
    ("float4", 700, 4, "N", 1021),
    ("float8", 701, 8, "N", 1022),
    ("unknown", 705, -2, "X", 0),
    ("bpchar", 1042, -1, "S", 1014),
    ("varchar", 1043, -1, "S", 1015),
    ("date", 1082, 4, "D", 1182),
    ("time", 1083, 8, "D", 1183),
    ("timestamp", 1114, 8, "D", 1115),
    ("timestamptz", 1184, 8, "D", 1185),
    ("interval", 1186, 16, "T", 1187),
    ("numeric", 1700, -1, "N", 1231),
    ("regclass", 2205, 4, "N", 2210),
    ("regtype", 2206, 4, "N", 2211),
    ("record", 2249, -1, "P", 2287),
    ("void", 2278, 4, "P", 0),
    ("uuid", 2950, 16, "U", 2951),
    ("jsonb", 3802, -1, "U", 3807),
]


@pytest.mark.parametrize(("name", "oid", "typlen", "category", "array_oid"), PG_TYPE_ROWS)
def test_registry_matches_pg_type(
    name: str, oid: int, typlen: int, category: str, array_oid: int
) -> None:
    t = TYPES_BY_OID[oid]
    assert (t.name, t.typlen, t.category, t.array_oid) == (name, typlen, category, array_oid)
    assert TYPES_BY_NAME[name] is t
    if array_oid:
        arr = TYPES_BY_OID[array_oid]
        assert (arr.name, arr.element_oid, arr.category, arr.typlen) == ("_" + name, oid, "A", -1)
        assert (arr.input, arr.output, arr.receive, arr.send) == (
            "array_in",
            "array_out",
            "array_recv",
            "array_send",
        )


def test_registry_function_names_and_aliases() -> None:
    assert TYPES_BY_NAME["int4"].input == "int4in"
    assert TYPES_BY_NAME["int4"].send == "int4send"
    assert TYPES_BY_NAME["date"].receive == "date_recv"
    assert TYPES_BY_NAME["json"].output == "json_out"
    aliases = {
        "integer": 23, "int": 23, "bigint": 20, "smallint": 21, "real": 700,
        "double precision": 701, "boolean": 16, "decimal": 1700, "character varying": 1043,
        "character": 1042, "timestamp without time zone": 1114,
        "timestamp with time zone": 1184, "time without time zone": 1083, "integer[]": 1007,
    }  # fmt: skip
    for alias, oid in aliases.items():
        assert TYPES_BY_NAME[alias].oid == oid, alias
    assert {1000, 1001, 1002, 1003, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1028, 1115,
            1182, 1183, 1185, 1187, 1231, 2951, 199, 3807, 2210, 2211} <= set(TYPES_BY_OID)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Exact PostgreSQL 15 output (verified with psql -At against a PostgreSQL 15.x server)
# --------------------------------------------------------------------------------------------

PG_TEXT_OUTPUT: list[tuple[int, Any, str]] = [
    (Oid.BOOL, True, "t"),
    (Oid.BOOL, False, "f"),
    (Oid.FLOAT8, 1e20, "1e+20"),
    (Oid.FLOAT8, 1e-5, "1e-05"),
    (Oid.FLOAT8, 0.1, "0.1"),
    (Oid.FLOAT8, 1.5e300, "1.5e+300"),
    (Oid.FLOAT8, 123456789012345680000.0, "1.2345678901234568e+20"),
    (Oid.FLOAT8, math.inf, "Infinity"),
    (Oid.FLOAT8, -math.inf, "-Infinity"),
    (Oid.FLOAT8, math.nan, "NaN"),
    (Oid.FLOAT8, -0.0, "-0"),
    (Oid.FLOAT8, 1e15, "1e+15"),
    (Oid.FLOAT8, 999900000000000.0, "999900000000000"),
    (Oid.FLOAT8, 5e-324, "5e-324"),
    (Oid.FLOAT8, 100.0, "100"),
    (Oid.FLOAT4, 0.1, "0.1"),
    (Oid.FLOAT4, 1e6, "1e+06"),
    (Oid.FLOAT4, 123456.7, "123456.7"),
    (Oid.FLOAT4, 16777216.0, "1.6777216e+07"),
    (Oid.FLOAT4, 3.4028235e38, "3.4028235e+38"),
    (Oid.FLOAT4, 1e-45, "1e-45"),
    (Oid.FLOAT4, 0.0001, "0.0001"),
    (Oid.FLOAT4, math.nan, "NaN"),
    (Oid.NUMERIC, Decimal("1.500"), "1.500"),
    (Oid.NUMERIC, Decimal("-0.000"), "0.000"),
    (Oid.NUMERIC, Decimal("1E+5"), "100000"),
    (Oid.NUMERIC, Decimal("NaN"), "NaN"),
    (Oid.NUMERIC, Decimal("Infinity"), "Infinity"),
    (Oid.NUMERIC, Decimal("-Infinity"), "-Infinity"),
    (Oid.NUMERIC, Decimal("0.00001"), "0.00001"),
    (
        Oid.NUMERIC,
        Decimal("123456789012345678901234567890.123456789"),
        "123456789012345678901234567890.123456789",
    ),
    (Oid.BYTEA, b"\x0a\x0b", "\\x0a0b"),
    (Oid.BYTEA, b"", "\\x"),
    (Oid.INTERVAL, Interval(14, 3, 14706 * 10**6), "1 year 2 mons 3 days 04:05:06"),
    (Oid.INTERVAL, Interval(0, -1, 7200 * 10**6), "-1 days +02:00:00"),
    (Oid.INTERVAL, Interval(0, 0, 0), "00:00:00"),
    (Oid.INTERVAL, Interval(0, 0, 3600 * 10**6), "01:00:00"),
    (Oid.INTERVAL, Interval(0, 0, 10 * 10**6), "00:00:10"),
    (Oid.INTERVAL, Interval(0, 1, -7200 * 10**6), "1 day -02:00:00"),
    (Oid.INTERVAL, Interval(-14, 0, 0), "-1 years -2 mons"),
    (Oid.INTERVAL, Interval(25, 1, 0), "2 years 1 mon 1 day"),
    (Oid.INTERVAL, Interval(0, 0, 100 * 3600 * 10**6), "100:00:00"),
    (Oid.INTERVAL, Interval(0, 0, 500_000), "00:00:00.5"),
    (Oid.INTERVAL, Interval(0, 0, -1), "-00:00:00.000001"),
    (Oid.INTERVAL, Interval(1, -1, 0), "1 mon -1 days"),
    (Oid.TIMESTAMP, dt.datetime(2020, 1, 2, 3, 4, 5, 500000), "2020-01-02 03:04:05.5"),
    (Oid.TIMESTAMP, dt.datetime(2020, 1, 2, 3, 4, 5), "2020-01-02 03:04:05"),
    (Oid.TIMESTAMP, dt.datetime(2020, 1, 2, 3, 4, 5, 123456), "2020-01-02 03:04:05.123456"),
    (Oid.TIMESTAMP, dt.datetime.max, "infinity"),
    (Oid.TIMESTAMP, dt.datetime.min, "-infinity"),
    (Oid.TIMESTAMPTZ, dt.datetime(2020, 1, 2, 1, 4, 5, 250000, UTC), "2020-01-02 01:04:05.25+00"),
    (Oid.DATE, dt.date(2020, 2, 29), "2020-02-29"),
    (Oid.DATE, dt.date(999, 1, 1), "0999-01-01"),
    (Oid.DATE, dt.date.max, "infinity"),
    (Oid.TIME, dt.time(1, 2, 3, 500000), "01:02:03.5"),
    (Oid.TIME, dt.time(0, 0), "00:00:00"),
    (Oid.TIME, dt.time(23, 59, 59, 999999), "23:59:59.999999"),
    (Oid.INT4_ARRAY, [1, None, 3], "{1,NULL,3}"),
    (
        Oid.TEXT_ARRAY,
        ["a b", "", "NULL", "null", 'x"y', "back\\slash", "a,b", "{}", " lead", "plain", None],
        '{"a b","","NULL","null","x\\"y","back\\\\slash","a,b","{}"," lead",plain,NULL}',
    ),
    (Oid.INT4_ARRAY, [[1, 2], [3, 4]], "{{1,2},{3,4}}"),
    (Oid.INT4_ARRAY, [], "{}"),
    (Oid.BYTEA_ARRAY, [b"\x0a"], '{"\\\\x0a"}'),
    (Oid.TIMESTAMP_ARRAY, [dt.datetime(2020, 1, 1)], '{"2020-01-01 00:00:00"}'),
    (Oid.INTERVAL_ARRAY, [Interval(0, 1, 0)], '{"1 day"}'),
    (Oid.NUMERIC_ARRAY, [Decimal("1.5")], "{1.5}"),
    (Oid.BOOL_ARRAY, [True, False], "{t,f}"),
    (Oid.FLOAT8_ARRAY, [math.inf, 1e20], "{Infinity,1e+20}"),
    (
        Oid.UUID,
        uuid.UUID("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    ),
    (Oid.RECORD, (1, "a b", None, "", 'x"y'), '(1,"a b",,"","x""y")'),
]


@pytest.mark.parametrize(("oid", "value", "expected"), PG_TEXT_OUTPUT)
def test_text_output_matches_postgres(oid: int, value: Any, expected: str) -> None:
    assert encode_text(oid, value) == expected.encode()


@pytest.mark.parametrize(
    ("zone", "value", "expected"),
    [
        ("Asia/Kolkata", dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC), "2020-01-02 08:34:05+05:30"),
        ("America/New_York", dt.datetime(2020, 7, 2, 3, 4, 5, tzinfo=UTC),
         "2020-07-01 23:04:05-04"),
    ],
)  # fmt: skip
def test_timestamptz_in_session_zone(zone: str, value: dt.datetime, expected: str) -> None:
    from zoneinfo import ZoneInfo

    assert encode_text(Oid.TIMESTAMPTZ, value, tz=ZoneInfo(zone)) == expected.encode()
    encoder = column_encoder(Oid.TIMESTAMPTZ, 0, tz=ZoneInfo(zone))
    assert encoder(pa.array([value, None], pa.timestamp("us", "UTC"))) == [expected.encode(), None]


# Input text -> what PostgreSQL 15 prints after casting it (psql -At).
PG_INPUT_ROUND: list[tuple[int, str, str]] = [
    (Oid.INTERVAL, "1.5 years", "1 year 6 mons"),
    (Oid.INTERVAL, "1.5 months", "1 mon 15 days"),
    (Oid.INTERVAL, "1 week 2.5 days", "9 days 12:00:00"),
    (Oid.INTERVAL, "@ 1 hour ago", "-01:00:00"),
    (Oid.INTERVAL, "P1Y2M3DT4H5M6.5S", "1 year 2 mons 3 days 04:05:06.5"),
    (Oid.INTERVAL, "-1 day", "-1 days"),
    (Oid.INTERVAL, "1:30", "01:30:00"),
    (Oid.INTERVAL, "1 day 1:30:00", "1 day 01:30:00"),
    (Oid.INTERVAL, "P0.5M", "15 days"),
    (Oid.INTERVAL, "10", "00:00:10"),
    (Oid.INTERVAL, "1 year 2 mons 3 days 04:05:06.5", "1 year 2 mons 3 days 04:05:06.5"),
    (Oid.INTERVAL, "3 days -04:05:06", "3 days -04:05:06"),
    (Oid.INTERVAL, "-1 days +02:00:00", "-1 days +02:00:00"),
    (Oid.INTERVAL, "1 hour", "01:00:00"),
    (Oid.INTERVAL, "10 seconds", "00:00:10"),
    (Oid.INTERVAL, "1.5 hours", "01:30:00"),
    (Oid.INTERVAL, "2 weeks", "14 days"),
    (Oid.INTERVAL, "1 decade", "10 years"),
    (Oid.INTERVAL, "1 century 3 ms", "100 years 00:00:00.003"),
    (Oid.INTERVAL, "+5 minutes", "00:05:00"),
    (Oid.INTERVAL, "-1:00:00.25", "-01:00:00.25"),
    (Oid.INTERVAL, "1d 2h 3m 4s", "1 day 02:03:04"),
    (Oid.INTERVAL, "PT36H", "36:00:00"),
    (Oid.INTERVAL, "P1W", "7 days"),
    (Oid.INTERVAL, "0.1 mon", "3 days"),
    (Oid.INTERVAL, "1 year ago", "-1 years"),
    (Oid.TIMESTAMPTZ, "2020-01-02 03:04:05.5+02", "2020-01-02 01:04:05.5+00"),
    (Oid.TIMESTAMPTZ, "2020-01-02T03:04:05-0330", "2020-01-02 06:34:05+00"),
    (Oid.TIMESTAMPTZ, "2020-01-02 03:04:05 UTC", "2020-01-02 03:04:05+00"),
    (Oid.TIMESTAMPTZ, "2020-01-02", "2020-01-02 00:00:00+00"),
    (Oid.TIMESTAMPTZ, "2020-01-02 03:04 Europe/Paris", "2020-01-02 02:04:00+00"),
    (Oid.TIMESTAMPTZ, "2020-01-02 03:04:05.9999999", "2020-01-02 03:04:06+00"),
    (Oid.TIMESTAMP, "2020-01-02T03:04:05+07", "2020-01-02 03:04:05"),
    (Oid.DATE, "infinity", "infinity"),
    (Oid.BOOL, " t ", "t"),
    (Oid.BOOL, "TRUE", "t"),
    (Oid.BOOL, "yes", "t"),
    (Oid.BOOL, "on", "t"),
    (Oid.BOOL, "1", "t"),
    (Oid.BOOL, "f", "f"),
    (Oid.BOOL, "off", "f"),
    (Oid.BOOL, "No", "f"),
    (Oid.BOOL, "0", "f"),
    (Oid.INT4, " -42 ", "-42"),
    (Oid.INT8, "+9223372036854775807", "9223372036854775807"),
    (Oid.FLOAT8, "-inf", "-Infinity"),
    (Oid.FLOAT8, " NaN ", "NaN"),
    (Oid.FLOAT8, "Infinity", "Infinity"),
    (Oid.NUMERIC, "1e5", "100000"),
    (Oid.NUMERIC, " -1.50 ", "-1.50"),
    (Oid.NUMERIC, "inf", "Infinity"),
    (Oid.BYTEA, "\\x0A 0b", "\\x0a0b"),
    (Oid.BYTEA, "ab\\\\c\\001", "\\x61625c6301"),
    (Oid.UUID, "{a0eebc999c0b4ef8bb6d6bb9bd380a11}", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    (Oid.UUID, "A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    (Oid.INT4_ARRAY, "{1,2,NULL}", "{1,2,NULL}"),
    (Oid.TEXT_ARRAY, '{"a b","x\\"y", NULL ,  c d  ,"NULL"}', '{"a b","x\\"y",NULL,"c d","NULL"}'),
    (Oid.INT4_ARRAY, "[0:1]={1,2}", "{1,2}"),
    (Oid.INT4_ARRAY, " { { 1 , 2 } , { 3 , 4 } } ", "{{1,2},{3,4}}"),
    (Oid.TEXT_ARRAY, '{a\\,b,\\"}', '{"a,b","\\""}'),
]


@pytest.mark.parametrize(("oid", "text", "expected"), PG_INPUT_ROUND)
def test_text_input_matches_postgres(oid: int, text: str, expected: str) -> None:
    assert encode_text(oid, decode_param(oid, 0, text.encode())) == expected.encode()


def test_untyped_parameters_are_strings() -> None:
    assert decode_param(0, 0, b"42") == "42"
    assert decode_param(Oid.UNKNOWN, 0, b"x y") == "x y"
    assert decode_param(Oid.VARCHAR, 1, "é".encode()) == "é"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

ERRORS: list[tuple[int, int, bytes, str, str | None]] = [
    (Oid.INT4, 0, b"abc", "22P02", 'invalid input syntax for type integer: "abc"'),
    (Oid.INT4, 0, b"99999999999", "22003",
     'value "99999999999" is out of range for type integer'),
    (Oid.INT2, 0, b"40000", "22003", 'value "40000" is out of range for type smallint'),
    (Oid.INT8, 0, b"1.5", "22P02", 'invalid input syntax for type bigint: "1.5"'),
    (Oid.BOOL, 0, b"maybe", "22P02", 'invalid input syntax for type boolean: "maybe"'),
    (Oid.FLOAT8, 0, b"1e400", "22003", '"1e400" is out of range for type double precision'),
    (Oid.FLOAT8, 0, b"1_0", "22P02", None),
    (Oid.FLOAT4, 0, b"1e39", "22003", '"1e39" is out of range for type real'),
    (Oid.NUMERIC, 0, b"1..2", "22P02", 'invalid input syntax for type numeric: "1..2"'),
    (Oid.DATE, 0, b"2020-13-01", "22008", 'date/time field value out of range: "2020-13-01"'),
    (Oid.DATE, 0, b"xx", "22007", 'invalid input syntax for type date: "xx"'),
    (Oid.TIMESTAMP, 0, b"2020-01-01 25:00", "22008", None),
    (Oid.INTERVAL, 0, b"1 fortnight", "22007", None),
    (Oid.UUID, 0, b"123", "22P02", 'invalid input syntax for type uuid: "123"'),
    (Oid.JSON, 0, b"{a}", "22P02", 'invalid input syntax for type json: "{a}"'),
    (Oid.JSONB, 0, b"NaN", "22P02", None),
    (Oid.BYTEA, 0, b"\\x0", "22023", None),
    (Oid.BYTEA, 0, b"a\\b", "22P02", None),
    (Oid.INT4_ARRAY, 0, b"{1,{2}}", "22P02", 'malformed array literal: "{1,{2}}"'),
    (Oid.INT4_ARRAY, 0, b"1,2", "22P02", None),
    (Oid.INT4_ARRAY, 0, b"{1,x}", "22P02", 'invalid input syntax for type integer: "x"'),
    (Oid.TEXT, 0, b"\xff", "22021", None),
    (Oid.INT4, 1, b"\0\0\0", "08P01", None),
    (Oid.INT8, 1, b"\0" * 9, "08P01", None),
    (Oid.NUMERIC, 1, b"\0", "08P01", None),
    (Oid.NUMERIC, 1, struct.pack("!hhHHH", 1, 0, 0, 0, 10000), "22P03", None),
    (Oid.INT4_ARRAY, 1, struct.pack("!iiIii", 1, 0, 23, 1, 1), "08P01", None),
    (Oid.INT4_ARRAY, 1, struct.pack("!iiIiiii", 1, 0, 20, 1, 1, 4, 1), "42804", None),
    (Oid.JSONB, 1, b"\x02{}", "22P03", None),
    (Oid.INT4, 2, b"1", "08P01", None),
]  # fmt: skip


@pytest.mark.parametrize(("oid", "fmt", "data", "sqlstate", "message"), ERRORS)
def test_invalid_input_sqlstate(
    oid: int, fmt: int, data: bytes, sqlstate: str, message: str | None
) -> None:
    with pytest.raises(SqlError) as info:
        decode_param(oid, fmt, data)
    assert info.value.sqlstate == sqlstate
    if message is not None:
        assert info.value.message == message


def test_encode_errors() -> None:
    with pytest.raises(SqlError) as info:
        encode_binary(Oid.INT2, 40000)
    assert info.value.sqlstate == "22003"
    with pytest.raises(SqlError) as info:
        encode_text(Oid.INT4, "x")
    assert info.value.sqlstate == "42804"


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------

_finite_dates = st.dates(dt.date(1, 1, 2), dt.date(9999, 12, 30))
_naive = st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30))
_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))


def _float32s() -> st.SearchStrategy[float]:
    return st.floats(width=32, allow_nan=False)


STRATEGIES: dict[int, st.SearchStrategy[Any]] = {
    Oid.BOOL: st.booleans(),
    Oid.INT2: st.integers(-(2**15), 2**15 - 1),
    Oid.INT4: st.integers(-(2**31), 2**31 - 1),
    Oid.INT8: st.integers(-(2**63), 2**63 - 1),
    Oid.OID: st.integers(0, 2**32 - 1),
    Oid.REGCLASS: st.integers(0, 2**32 - 1),
    Oid.FLOAT4: _float32s(),
    Oid.FLOAT8: st.floats(allow_nan=False),
    Oid.NUMERIC: st.decimals(allow_nan=False, allow_infinity=True, places=None).map(
        lambda d: d if not d.is_finite() else abs(d) if d.is_zero() else d
    ),
    Oid.TEXT: _text,
    Oid.VARCHAR: _text,
    Oid.NAME: _text.filter(lambda s: len(s.encode()) <= 63),
    Oid.CHAR: st.characters(min_codepoint=1, max_codepoint=127),
    Oid.JSON: st.recursive(
        st.none() | st.booleans() | st.integers() | _text, lambda c: st.lists(c, max_size=3)
    ).map(json.dumps),
    Oid.BYTEA: st.binary(),
    Oid.DATE: _finite_dates | st.sampled_from([dt.date.max, dt.date.min]),
    Oid.TIME: st.times(),
    Oid.TIMESTAMP: _naive,
    Oid.TIMESTAMPTZ: _naive.map(lambda d: d.replace(tzinfo=UTC)),
    Oid.INTERVAL: st.builds(
        Interval,
        st.integers(-(2**31), 2**31 - 1),
        st.integers(-(2**31), 2**31 - 1),
        st.integers(-(2**63), 2**63 - 1),
    ),
    Oid.UUID: st.uuids(),
}
# jsonb text comes out canonical (non-ASCII as is, keys ordered): generate it so
STRATEGIES[Oid.JSONB] = st.recursive(
    st.none() | st.booleans() | st.integers() | _text, lambda c: st.lists(c, max_size=3)
).map(lambda v: json.dumps(v, ensure_ascii=False))
STRATEGIES[Oid.BPCHAR] = STRATEGIES[Oid.TEXT]


def _same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to NaN and -0.0 apart from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return (a.is_nan() and b.is_nan()) or (a == b and str(a) == str(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) and a == b)


@pytest.mark.parametrize("oid", sorted(STRATEGIES))
@pytest.mark.parametrize("fmt", [0, 1])
def test_round_trip(oid: int, fmt: int) -> None:
    encode = encode_text if fmt == 0 else encode_binary
    array_oid = TYPES_BY_OID[oid].array_oid

    @given(STRATEGIES[oid], st.lists(st.none() | STRATEGIES[oid], max_size=4))
    def check(value: Any, values: list[Any]) -> None:
        assert _same(decode_param(oid, fmt, encode(oid, value)), value)
        assert _same(decode_param(array_oid, fmt, encode(array_oid, values)), values)

    check()


def test_special_values_round_trip() -> None:
    for fmt, encode in ((0, encode_text), (1, encode_binary)):
        for oid, value in [
            (Oid.FLOAT8, math.nan), (Oid.FLOAT4, -math.inf), (Oid.NUMERIC, Decimal("NaN")),
            (Oid.NUMERIC, Decimal("-Infinity")), (Oid.TIMESTAMPTZ, dt.datetime.max.replace(tzinfo=UTC)),
            (Oid.TIMESTAMP, dt.datetime.min), (Oid.VOID, None), (Oid.INT4_ARRAY, [[1, None], [3, 4]]),
        ]:  # fmt: skip
            assert _same(decode_param(oid, fmt, encode(oid, value)), value), (oid, value)


@pytest.mark.parametrize(("stored", "shown"), [
    ('{"b": 1, "a": [1, 2]}', '{"a": [1, 2], "b": 1}'),
    ('{"a": 1, "a": 2}', '{"a": 2}'),
    ('{"aa":1.50,"b":1e2,"c":"\\u00e9"}', '{"b": 100, "c": "é", "aa": 1.50}'),
])
def test_jsonb_text_is_canonical(stored: str, shown: str) -> None:
    """jsonb_out: keys by length then bytes, the last duplicate wins, numbers as written."""
    assert encode_text(Oid.JSONB, stored) == shown.encode()


def test_timedelta_encodes_as_interval() -> None:
    td = dt.timedelta(days=-1, seconds=5)
    assert encode_text(Oid.INTERVAL, td) == b"-1 days +00:00:05"
    assert decode_param(Oid.INTERVAL, 1, encode_binary(Oid.INTERVAL, td)) == Interval(
        0, -1, 5 * 10**6
    )


def test_numeric_binary_layout() -> None:
    # 12345.678 = digits [1, 2345, 6780], weight 1, dscale 3 (numeric_send's own layout)
    assert encode_binary(Oid.NUMERIC, Decimal("-12345.678")) == struct.pack(
        "!hhHHHHH", 3, 1, 0x4000, 3, 1, 2345, 6780
    )
    assert encode_binary(Oid.NUMERIC, Decimal("NaN")) == struct.pack("!hhHH", 0, 0, 0xC000, 0)
    assert encode_binary(Oid.NUMERIC, Decimal("Infinity"))[4:6] == b"\xd0\x00"
    assert encode_binary(Oid.NUMERIC, Decimal("-Infinity"))[4:6] == b"\xf0\x00"
    assert encode_binary(Oid.NUMERIC, Decimal("0.00")) == struct.pack("!hhHH", 0, 0, 0, 2)


# --------------------------------------------------------------------------------------------
# psycopg 3 as an independent implementation
# --------------------------------------------------------------------------------------------

_tx = psycopg.adapt.Transformer()


def _psycopg_load(oid: int, fmt: int, data: bytes) -> Any:
    return _tx.get_loader(oid, Format.TEXT if fmt == 0 else Format.BINARY).load(data)


def _to_psycopg(oid: int, value: Any) -> Any:
    """Our value in psycopg's conventions (JSON parsed, intervals as timedelta)."""
    if oid in (Oid.JSON, Oid.JSONB):
        return json.loads(value)
    if isinstance(value, Interval):
        return dt.timedelta(days=value.days, microseconds=value.microseconds)
    if isinstance(value, list):
        return [None if v is None else _to_psycopg(TYPES_BY_OID[oid].element_oid, v) for v in value]
    return value


# psycopg has no loader for "char"/name/oid-as-int quirks worth comparing; infinities it rejects.
PSYCOPG_OIDS = [o for o in STRATEGIES if o not in (Oid.CHAR, Oid.REGCLASS, Oid.NAME, Oid.BPCHAR)]


def _psycopg_friendly(oid: int, value: Any) -> bool:
    if value in (dt.date.max, dt.date.min) or (
        isinstance(value, dt.datetime)
        and (value.replace(tzinfo=None) in (dt.datetime.max, dt.datetime.min))
    ):
        return False
    if isinstance(value, Interval):
        return (
            value.months == 0 and abs(value.days) < 999_999_999 and abs(value.microseconds) < 10**17
        )
    return True


@pytest.mark.parametrize("oid", PSYCOPG_OIDS)
@pytest.mark.parametrize("fmt", [0, 1])
def test_psycopg_loads_what_we_encode(oid: int, fmt: int) -> None:
    encode = encode_text if fmt == 0 else encode_binary

    @given(STRATEGIES[oid])
    def check(value: Any) -> None:
        if not _psycopg_friendly(oid, value):
            return
        loaded = _psycopg_load(oid, fmt, encode(oid, value))
        expected = _to_psycopg(oid, value)
        if oid == Oid.FLOAT4:
            loaded = struct.unpack("f", struct.pack("f", loaded))[0]
        assert _same(loaded, expected) or loaded == expected, (value, loaded)

    check()


_psycopg_values = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), _text, st.binary(),
    st.decimals(allow_nan=True, places=None), _finite_dates, st.times(), _naive,
    _naive.map(lambda d: d.replace(tzinfo=UTC)), st.uuids(),
    st.timedeltas(dt.timedelta(days=-99999), dt.timedelta(days=99999)),
    st.lists(st.none() | st.integers(-1000, 1000), max_size=4),
    st.lists(st.none() | _text, max_size=4),
)  # fmt: skip


@given(
    _psycopg_values, st.sampled_from([psycopg.adapt.PyFormat.TEXT, psycopg.adapt.PyFormat.BINARY])
)
def test_we_decode_what_psycopg_dumps(value: Any, fmt: psycopg.adapt.PyFormat) -> None:
    if isinstance(value, Decimal) and value.is_nan() and value.is_signed():
        return  # psycopg sends '-NaN', which PostgreSQL 15 rejects as we do
    if isinstance(value, bytes) and fmt == psycopg.adapt.PyFormat.TEXT:
        return  # without a connection psycopg escapes bytea for a literal, not for the wire
    dumper = _tx.get_dumper(value, fmt)
    data = bytes(dumper.dump(value) or b"")
    ours = decode_param(dumper.oid, 0 if fmt == psycopg.adapt.PyFormat.TEXT else 1, data)
    if isinstance(value, dt.timedelta):
        assert ours == Interval.from_timedelta(value)
    elif dumper.oid == 0:  # untyped ('x', or '{}' for an empty list): a str, as in PostgreSQL
        assert ours == data.decode()
    elif isinstance(value, Decimal) and value.is_finite():
        assert ours == value
    else:
        assert _same(ours, value) or ours == value, (value, ours)


# --------------------------------------------------------------------------------------------
# Arrow column encoders
# --------------------------------------------------------------------------------------------

_WITH_NULL = 0.2


def _arrow_columns() -> list[tuple[pa.DataType, st.SearchStrategy[Any]]]:
    def ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
        if signed:
            return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        return st.integers(0, 2**bits - 1)

    return [
        (pa.int8(), ints(8, True)), (pa.int16(), ints(16, True)), (pa.int32(), ints(32, True)),
        (pa.int64(), ints(64, True)), (pa.uint8(), ints(8, False)), (pa.uint16(), ints(16, False)),
        (pa.uint32(), ints(32, False)), (pa.uint64(), ints(64, False)),
        (pa.float32(), _float32s() | st.just(math.nan)), (pa.float64(), st.floats()),
        (pa.float64(), st.floats(1e-6, 1e17) | st.integers(-(10**16), 10**16).map(float)),
        (pa.decimal128(18, 3), st.decimals(-(10**14), 10**14, places=3)),
        (pa.decimal128(38, 0), st.integers(-(10**37), 10**37).map(Decimal)),
        (pa.string(), _text), (pa.large_string(), _text), (pa.string_view(), _text),
        (pa.binary(), st.binary()), (pa.large_binary(), st.binary()),
        (pa.bool_(), st.booleans()), (pa.date32(), _finite_dates), (pa.date64(), _finite_dates),
        (pa.time64("us"), st.times()), (pa.time32("ms"), st.times().map(
            lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))),
        (pa.timestamp("us"), _naive), (pa.timestamp("ms"), _naive.map(
            lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))),
        (pa.timestamp("us", "UTC"), _naive.map(lambda d: d.replace(tzinfo=UTC))),
        (pa.timestamp("us", "Europe/Paris"), _naive.filter(lambda d: d.year > 1900).map(
            lambda d: d.replace(tzinfo=UTC))),
        (pa.month_day_nano_interval(), st.builds(
            pa.MonthDayNano, st.tuples(st.integers(-(2**31), 2**31 - 1),
                                       st.integers(-(2**31), 2**31 - 1),
                                       st.integers(-(2**62), 2**62).map(lambda n: n // 1000 * 1000)))),
        (pa.duration("us"), st.timedeltas(dt.timedelta(days=-99999), dt.timedelta(days=99999))),
        (pa.binary(16), st.binary(min_size=16, max_size=16)),
        (pa.list_(pa.int32()), st.lists(st.none() | ints(32, True), max_size=3)),
        (pa.list_(pa.string()), st.lists(st.none() | _text, max_size=3)),
        (pa.null(), st.none()),
    ]  # fmt: skip


ARROW_COLUMNS = _arrow_columns()


@pytest.mark.parametrize(
    ("arrow_type", "values"), ARROW_COLUMNS, ids=[str(t) for t, _ in ARROW_COLUMNS]
)
@pytest.mark.parametrize("fmt", [0, 1])
def test_column_encoder_matches_per_value(
    arrow_type: pa.DataType, values: st.SearchStrategy[Any], fmt: int
) -> None:
    oid = arrow_to_oid(arrow_type)
    encoder = column_encoder(oid, fmt)
    encode = encode_text if fmt == 0 else encode_binary

    @given(st.lists(st.none() | values, max_size=20), st.integers(0, 3))
    def check(rows: list[Any], offset: int) -> None:
        arr = pa.array(rows, arrow_type)[offset:]
        expected = [None if v is None else encode(oid, v) for v in arr.to_pylist()]
        assert encoder(arr) == expected

    check()


def test_arrow_to_oid() -> None:
    cases = {
        pa.int8(): 21, pa.int16(): 21, pa.uint8(): 21, pa.int32(): 23, pa.uint16(): 23,
        pa.int64(): 20, pa.uint32(): 20, pa.uint64(): 1700, pa.float16(): 700,
        pa.float32(): 700, pa.float64(): 701, pa.decimal128(18, 3): 1700,
        pa.decimal256(50, 2): 1700, pa.string(): 25, pa.large_string(): 25, pa.string_view(): 25,
        pa.binary(): 17, pa.large_binary(): 17, pa.bool_(): 16, pa.date32(): 1082,
        pa.date64(): 1082, pa.time32("s"): 1083, pa.time64("ns"): 1083,
        pa.timestamp("ns"): 1114, pa.timestamp("us", "UTC"): 1184,
        pa.month_day_nano_interval(): 1186, pa.duration("s"): 1186, pa.binary(16): 2950,
        pa.null(): 25, pa.list_(pa.int64()): 1016, pa.large_list(pa.string()): 1009,
        pa.list_(pa.list_(pa.int32())): 1007, pa.dictionary(pa.int8(), pa.string()): 25,
        pa.uuid(): 2950, pa.json_(): 114,
    }  # fmt: skip
    for arrow_type, oid in cases.items():
        assert arrow_to_oid(arrow_type) == oid, arrow_type


# --------------------------------------------------------------------------------------------
# What DuckDB actually hands over
# --------------------------------------------------------------------------------------------

_DUCKDB_SQL = """
select 1::INTEGER i, 2::BIGINT b, 170141183460469231731687303715884105727::HUGEINT h,
  1.5::DECIMAL(18,3) d, 1.5::DOUBLE f, 'x y'::VARCHAR s, '\\x0a'::BLOB bl,
  date '2020-01-02' dt, time '01:02:03.5' t, timestamp '2020-01-02 03:04:05' ts,
  timestamptz '2020-01-02 03:04:05+00' tstz, interval '1 year 2 days 3 seconds' iv,
  '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID u, '{"a":1}'::JSON j, [1,2,NULL]::INTEGER[] arr,
  'infinity'::DATE dinf, '-infinity'::TIMESTAMP tsninf
"""
_DUCKDB_TEXT = [
    "1", "2", "170141183460469231731687303715884105727", "1.500", "1.5", "x y", "\\x0a",
    "2020-01-02", "01:02:03.5", "2020-01-02 03:04:05", "2020-01-02 03:04:05+00",
    "1 year 2 days 00:00:03", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", '{"a":1}', "{1,2,NULL}",
    "infinity", "-infinity",
]  # fmt: skip


@pytest.mark.parametrize("lossless", [False, True])
def test_duckdb_result_columns(lossless: bool) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if lossless:
        con.execute("SET arrow_lossless_conversion = true")
    table = con.sql(_DUCKDB_SQL).to_arrow_table()
    oids = [arrow_to_oid(f.type) for f in table.schema]
    expected_oids = [23, 20, 1700, 1700, 701, 25, 17, 1082, 1083, 1114, 1184, 1186,
                     2950 if lossless else 25, 114 if lossless else 25, 1007, 1082, 1114]  # fmt: skip
    assert oids == expected_oids
    texts = [column_encoder(o, 0)(table.column(i))[0] for i, o in enumerate(oids)]
    assert texts == [t.encode() for t in _DUCKDB_TEXT]
    binary = [column_encoder(o, 1)(table.column(i))[0] for i, o in enumerate(oids)]
    assert binary[-2:] == [struct.pack("!i", 2**31 - 1), struct.pack("!q", -(2**63))]
    assert decode_param(1186, 1, binary[11] or b"") == Interval(12, 2, 3_000_000)


def test_column_encoder_is_cached() -> None:
    assert column_encoder(Oid.INT4, 0) is column_encoder(Oid.INT4, 0)
    values = pa.chunked_array([pa.array([1, None]), pa.array([3], pa.int64())])
    assert column_encoder(Oid.INT8, 1)(values) == [b"\0" * 7 + b"\1", None, b"\0" * 7 + b"\3"]


def test_float_fast_path_edges() -> None:
    edges = [1e15, 999999999999999.9, 1e-4, 0.00009999999999999999, 1e14, 123456789.0, -0.0, 0.0]
    arr = pa.array([*edges, None, math.nan, math.inf], pa.float64())
    assert column_encoder(Oid.FLOAT8, 0)(arr) == [
        None if v is None else encode_text(Oid.FLOAT8, v) for v in arr.to_pylist()
    ]
    f32 = pa.array(np.array([1e6, 999999.94, 1e-4, 16777216.0, 0.1], dtype=np.float32))
    assert column_encoder(Oid.FLOAT4, 0)(f32) == [
        encode_text(Oid.FLOAT4, v) for v in f32.to_pylist()
    ]
