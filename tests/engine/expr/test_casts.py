"""CAST / :: and PostgreSQL's text input and output forms.

The literal expectations are PostgreSQL 15's answers (`SELECT (expr)::text`, TimeZone UTC,
IntervalStyle postgres), checked against a real server when written: DuckDB's casts differ
from PostgreSQL's in rounding, accepted spellings and text forms, so they are no oracle
here except where the table at the end says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal as D

import pyarrow as pa
import pytest

from laminar_pg.errors import SqlError
from tests.engine.expr.harness import (
    DATA,
    DuckDB,
    assert_same,
    compiled,
    duckdb_session,
    evaluate,
    one,
    sqlstate_of,
    values,
)


@dataclass(frozen=True)
class Err:
    sqlstate: str


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDB]:
    yield from duckdb_session()


POSTGRESQL_ANSWERS: list[tuple[str, str | Err]] = [
    ("2.5::float8::integer", "2"),
    ("3.5::float8::integer", "4"),
    ("-2.5::float8::integer", "-2"),
    ("2.5::numeric::integer", "3"),
    ("-2.5::integer", "-3"),
    ("1.5::smallint", "2"),
    ("32767.5::smallint", Err("22003")),
    ("2.675::float8::numeric(10,2)", "2.68"),
    ("0.125::float8::numeric(10,2)", "0.13"),
    ("1e-7::float8::numeric(10,8)", "0.00000010"),
    ("1.005::numeric(5,2)", "1.01"),
    ("-1.005::numeric(5,2)", "-1.01"),
    ("123.456::numeric(5,1)", "123.5"),
    ("12345.6::numeric(5,1)", Err("22003")),
    ("1::numeric", "1"),
    ("1.50::numeric", "1.50"),
    ("0.1::real::numeric(10,3)", "0.100"),
    ("1e300::float8::real", Err("22003")),
    ("1e-300::float8::real", Err("22003")),
    ("1::boolean", "true"),
    ("0::boolean", "false"),
    ("true::integer", "1"),
    ("'  42  '::integer", "42"),
    ("'+7'::int", "7"),
    ("'-0'::int", "0"),
    ("'1.5'::int", Err("22P02")),
    ("'abc'::int", Err("22P02")),
    ("''::int", Err("22P02")),
    ("'99999999999'::int", Err("22003")),
    ("'99999999999999999999'::bigint", Err("22003")),
    ("'40000'::smallint", Err("22003")),
    ("'1e3'::float8", "1000"),
    ("' NaN '::float8", "NaN"),
    ("'-Infinity'::float8", "-Infinity"),
    ("'inf'::float8", "Infinity"),
    ("'1e400'::float8", Err("22003")),
    ("'1.5e'::float8", Err("22P02")),
    ("'1.23456'::numeric(5,2)", "1.23"),
    ("' -1.005 '::numeric(5,2)", "-1.01"),
    ("'abc'::numeric", Err("22P02")),
    ("'1e3'::numeric", "1000"),
    ("'.5'::numeric", "0.5"),
    ("'yes'::boolean", "true"),
    ("'Off'::boolean", "false"),
    ("'  t '::boolean", "true"),
    ("'maybe'::boolean", Err("22P02")),
    ("'o'::boolean", Err("22P02")),
    ("'2020-01-02 03:04:05'::timestamp", "2020-01-02 03:04:05"),
    ("'2020-01-02T03:04:05.5'::timestamp", "2020-01-02 03:04:05.5"),
    ("'2020-01-02 03:04:05+02'::timestamp", "2020-01-02 03:04:05"),
    ("'2020-01-02 03:04:05+02'::timestamptz", "2020-01-02 01:04:05+00"),
    ("'2020-01-02 03:04:05-05:30'::timestamptz", "2020-01-02 08:34:05+00"),
    ("'2020-01-02 03:04:05'::timestamptz", "2020-01-02 03:04:05+00"),
    ("'2020-01-02 03:04:05 UTC'::timestamptz", "2020-01-02 03:04:05+00"),
    ("'2020-01-02'::timestamp", "2020-01-02 00:00:00"),
    ("'2020-1-2'::date", "2020-01-02"),
    ("' 2020-01-02 12:00 '::date", "2020-01-02"),
    ("'epoch'::timestamp", "1970-01-01 00:00:00"),
    ("'garbage'::timestamp", Err("22007")),
    ("'2020-13-01'::date", Err("22008")),
    ("'2020-02-30'::date", Err("22008")),
    ("'12:34'::time", "12:34:00"),
    ("'12:34:56.789'::time", "12:34:56.789"),
    ("'25:00'::time", Err("22008")),
    ("'noon'::time", Err("22007")),
    ("'\\x414243'::bytea", "\\x414243"),
    ("'abc'::bytea", "\\x616263"),
    ("'a\\\\b'::bytea", "\\x615c62"),
    ("'\\x4'::bytea", Err("22023")),
    ("'2020-01-31 12:34:56.789'::timestamp::date", "2020-01-31"),
    ("'1999-12-31 23:59:59'::timestamp::time", "23:59:59"),
    ("'2020-02-29'::date::timestamp", "2020-02-29 00:00:00"),
    ("'2020-02-29'::date::timestamptz", "2020-02-29 00:00:00+00"),
    ("'12:30'::time::interval", "12:30:00"),
    ("'26 hours'::interval::time", "02:00:00"),
    ("'2020-01-31 12:34:56.789123'::timestamp(0)", "2020-01-31 12:34:57"),
    ("'2020-01-31 12:34:56.789123'::timestamp(2)", "2020-01-31 12:34:56.79"),
    ("'2020-01-31 12:34:56.5'::timestamp(0)", "2020-01-31 12:34:57"),
    ("'12:34:56.789'::time(1)", "12:34:56.8"),
    ("'hello'::varchar(3)", "hel"),
    ("'hé'::char(1)", "h"),
    ("1.5::text", "1.5"),
    ("(-1.50)::text", "-1.50"),
    ("0.0000001::text", "0.0000001"),
    ("1e15::float8::text", "1e+15"),
    ("123456789012345::float8::text", "123456789012345"),
    ("1e16::float8::text", "1e+16"),
    ("0.0001::float8::text", "0.0001"),
    ("0.00001::float8::text", "1e-05"),
    ("1.5e-7::float8::text", "1.5e-07"),
    ("1e6::real::text", "1e+06"),
    ("123456::real::text", "123456"),
    ("0.1::real::text", "0.1"),
    ("(0.1::float8 + 0.2::float8)::text", "0.30000000000000004"),
    ("'NaN'::float8::text", "NaN"),
    ("'-Infinity'::float8::text", "-Infinity"),
    ("(-0.0::float8)::text", "-0"),
    ("true::text", "true"),
    ("'2020-01-31 12:34:56.5'::timestamp::text", "2020-01-31 12:34:56.5"),
    ("'2020-01-31 12:34:56'::timestamptz::text", "2020-01-31 12:34:56+00"),
    ("'12:00:00.25'::time::text", "12:00:00.25"),
    ("'2020-01-31'::date::text", "2020-01-31"),
    ("'\\xdeadbeef'::bytea::text", "\\xdeadbeef"),
    ("'1 year 2 mons 3 days 04:05:06.5'::interval::text", "1 year 2 mons 3 days 04:05:06.5"),
    ("'-1 days +02:00:00'::interval::text", "-1 days +02:00:00"),
    ("'1 day -2 hours'::interval::text", "1 day -02:00:00"),
    ("'-14 mons'::interval::text", "-1 years -2 mons"),
    ("'1 mon -1 day'::interval::text", "1 mon -1 days"),
    ("'100 hours'::interval::text", "100:00:00"),
    ("'-1 year -2 mons'::interval::text", "-1 years -2 mons"),
    ("'0 seconds'::interval::text", "00:00:00"),
    ("'1.5 months'::interval::text", "1 mon 15 days"),
    ("'-3 days -04:05:06'::interval::text", "-3 days -04:05:06"),
    ("'10 seconds'::interval", "00:00:10"),
    ("'1 day 2 hours'::interval", "1 day 02:00:00"),
    ("'1.5 hours'::interval", "01:30:00"),
    ("'-1 hour ago'::interval", "01:00:00"),
    ("'2 days 01:02:03'::interval", "2 days 01:02:03"),
    ("'P1Y2M3DT4H5M6S'::interval", "1 year 2 mons 3 days 04:05:06"),
    ("'1-2'::interval", "1 year 2 mons"),
    ("'1 week'::interval", "7 days"),
    ("'@ 3 days ago'::interval", "-3 days"),
    ("'1.5 years'::interval", "1 year 6 mons"),
    ("'0.5 days'::interval", "12:00:00"),
    ("'1 millisecond'::interval", "00:00:00.001"),
    ("'3 4:05:06'::interval", "3 days 04:05:06"),
    ("'xyz'::interval", Err("22007")),
    ("'1 fortnight'::interval", Err("22007")),
    ("INTERVAL '10' SECOND", "00:00:10"),
    ("INTERVAL '1.5' HOUR", "01:00:00"),
    ("INTERVAL '1.5' DAY", "1 day"),
    ("INTERVAL '1 hour 30 minutes'", "01:30:00"),
    ("INTERVAL '90' MINUTE", "01:30:00"),
    ("INTERVAL '1-2' YEAR TO MONTH", "1 year 2 mons"),
    ("1::int8::boolean", Err("42846")),
    ("'2020-01-01'::date::integer", Err("42846")),
    ("1::timestamp", Err("42846")),
]


@pytest.mark.parametrize(("sql", "expected"), POSTGRESQL_ANSWERS)
def test_casts_as_postgresql(sql: str, expected: str | Err) -> None:
    if isinstance(expected, Err):
        assert sqlstate_of(f"({sql})::text") == expected.sqlstate
    else:
        assert one(f"({sql})::text") == expected


def test_error_messages_quote_the_input() -> None:
    with pytest.raises(SqlError, match=r'^invalid input syntax for type integer: "abc"$'):
        one("'abc'::int")
    with pytest.raises(SqlError, match=r'^value "99999999999" is out of range for type integer$'):
        one("'99999999999'::int")
    with pytest.raises(SqlError, match=r'^invalid input syntax for type timestamp: "garbage"$'):
        one("'garbage'::timestamp")
    with pytest.raises(SqlError, match=r"^cannot cast type bigint to boolean$"):
        one("1::int8::boolean")


def test_a_column_of_text_reports_the_first_bad_value() -> None:
    batch = pa.record_batch([pa.array(["1", " 2 ", None, "x3", "y"])], names=["v"])
    with pytest.raises(SqlError, match='"x3"') as caught:
        values("v::int", batch)
    assert caught.value.sqlstate == "22P02"
    assert values("v::int", batch.slice(0, 3)) == [1, 2, None]


def test_bad_literals_fail_at_compile_time() -> None:
    # PostgreSQL rejects '1.5' as an integer when it parses the statement, not per row
    with pytest.raises(SqlError) as caught:
        compiled("i4 + '1.5'", DATA.slice(0, 0))
    assert caught.value.sqlstate == "22P02"


def test_casts_of_columns() -> None:
    assert values("f8::integer", DATA.slice(2, 1)) == [0]
    assert sqlstate_of("f8::integer", DATA) == "22003"  # NaN does not fit an integer
    assert values("n::integer", DATA) == [2, -3, 0, None, 123456789, 0]
    assert values("n::numeric(5,1)", DATA.slice(0, 4)) == [D("1.5"), D("-2.6"), D("0.0"), None]
    assert sqlstate_of("n::numeric(5,1)", DATA) == "22003"
    assert values("i8::text", DATA) == [
        "-9223372036854775808",
        "9223372036854775807",
        "10",
        None,
        "-3",
        "2",
    ]
    assert values("f8::text", DATA) == ["1.5", "NaN", "-0", None, "1e+300", "-2.5"]
    assert values("f4::text", DATA) == ["1.5", "Infinity", "0.1", None, "-1e-30", "3"]
    assert values("n::text", DATA) == ["1.500", "-2.555", "0.000", None, "123456789.123", "-0.001"]
    assert values("b::text", DATA) == ["true", "false", None, None, "true", "false"]
    assert values("bt::text", DATA) == ["\\x616263", "\\x00ff", "\\x", None, "\\x5c78", "\\xc3b6"]
    assert values("iv::text", DATA) == [
        "1 mon 2 days 00:00:03",
        "-1 years -2 mons",
        "-1 days +02:00:00",
        None,
        "00:00:00",
        "35 days -25:01:01",
    ]
    assert values("tm::text", DATA) == [
        "12:34:56.789",
        "00:00:00",
        "23:59:59.999999",
        None,
        "06:00:00",
        "18:30:00",
    ]
    assert values("ts::date", DATA)[:5] == values("d", DATA)[:5]
    assert values("s::varchar(2)", DATA) == ["He", "wö", "", None, "a%", "  "]
    assert values("i4::boolean", DATA) == [True, True, True, None, True, False]


def test_unconstrained_numeric_keeps_the_source_scale() -> None:
    # PostgreSQL's numeric keeps a scale per value; here a column has one, so an
    # unconstrained NUMERIC keeps an integer's or a numeric's scale, a literal's digits,
    # and is numeric(38, 10) for floats and text.
    assert compiled("i4::numeric", DATA).type == pa.decimal128(10, 0)
    assert compiled("n::numeric", DATA).type == pa.decimal128(12, 3)
    assert compiled("'1.23456'::numeric", DATA).type == pa.decimal128(6, 5)
    assert compiled("f8::numeric", DATA).type == pa.decimal128(38, 10)
    assert one("(0.1::float8 + 0.2::float8)::numeric") == D("0.3")  # 15 significant digits
    # Text with more digits than the scale is refused rather than rounded (22003)
    text = pa.record_batch([pa.array(["1.5", "0.12345678901"])], names=["v"])
    assert values("v::numeric", text.slice(0, 1)) == [D("1.5")]
    assert sqlstate_of("v::numeric", text) == "22003"
    assert values("v::numeric(12,2)", text) == [D("1.50"), D("0.12")]


def test_char_n_pads() -> None:
    # bpchar's output pads to n; the expression language has no bpchar type, so the
    # padded text is the value (PostgreSQL drops the padding when char(n) becomes text).
    assert one("'ab'::char(4)") == "ab  "
    assert one("'abcdef'::char(4)") == "abcd"


def test_numeric_nan_and_long_literals_are_refused() -> None:
    assert sqlstate_of("'NaN'::numeric") == "0A000"
    assert sqlstate_of("'NaN'::float8::numeric") == "0A000"
    assert sqlstate_of("1e-310") == "22003"  # more than 38 digits


DUCKDB_AGREES = [
    "i2::integer",
    "i4::bigint",
    "i4::double precision",
    "i2::real",
    "n::double precision",
    "i4::text",
    "s::varchar",
    "d::timestamp",
    "ts::date",
    "tz::timestamp",
    "ts::time",
    "b::integer",
    "i4::numeric(12,2)",
    "'  42 '::integer",
    "'1e3'::float8",
    "'-Infinity'::float8",
    "'yes'::boolean",
    "'2020-01-02'::date",
    "'2020-01-02 03:04:05.5'::timestamp",
    "'12:34:56'::time",
    "n::numeric(14,1)",
    "n::integer",
]


@pytest.mark.parametrize("sql", DUCKDB_AGREES)
def test_casts_match_duckdb(sql: str, duck: DuckDB) -> None:
    rows = DATA.slice(2)
    assert_same(sql, values(sql, rows), duck.values(sql, rows))


def test_untyped_null_casts_to_anything() -> None:
    for type_name in ("int", "numeric(5,2)", "text", "timestamp", "interval", "bytea", "boolean"):
        assert evaluate(f"NULL::{type_name}", DATA).null_count == DATA.num_rows
