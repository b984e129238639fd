"""Math functions with PostgreSQL's variants and rounding: round() is half to even for
double precision and half away from zero for numeric, round(int) is double precision,
errors carry PostgreSQL's SQLSTATEs.  The literal table holds PostgreSQL 15's answers
(checked against a real server when written); columns are also compared with DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D

import pyarrow as pa
import pytest

from tests.engine.expr.harness import (
    DATA,
    DuckDB,
    assert_same,
    compiled,
    duckdb_session,
    one,
    sqlstate_of,
    values,
)
from tests.engine.expr.test_casts import Err


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDB]:
    yield from duckdb_session()


POSTGRESQL_ANSWERS: list[tuple[str, str | Err]] = [
    ("abs(-5)", "5"),
    ("abs(-5::smallint)", "5"),
    ("abs(-5::bigint)", "5"),
    ("abs(-2.5)", "2.5"),
    ("abs(-2.5::float8)", "2.5"),
    ("abs(-2.5::real)", "2.5"),
    ("abs((-2147483647 - 1)::int)", Err("22003")),
    ("round(2.5)", "3"),
    ("round(-2.5)", "-3"),
    ("round(2.5::float8)", "2"),
    ("round(3.5::float8)", "4"),
    ("round(-2.5::float8)", "-2"),
    ("round(0.5::float8)", "0"),
    ("round(5)", "5"),
    ("round(2.345, 2)", "2.35"),
    ("round(-2.345, 2)", "-2.35"),
    ("round(2.344, 2)", "2.34"),
    ("round(1234.5, -2)", "1200"),
    ("round(1250, -2)", "1300"),
    ("round(2.5, 0)", "3"),
    ("round(99.95, 1)", "100.0"),
    ("round(2.5::float8, 1)", Err("42883")),
    ("trunc(2.7)", "2"),
    ("trunc(-2.7)", "-2"),
    ("trunc(-2.7::float8)", "-2"),
    ("trunc(2.789, 2)", "2.78"),
    ("trunc(5)", "5"),
    ("floor(-2.5)", "-3"),
    ("floor(-2.5::float8)", "-3"),
    ("floor(7)", "7"),
    ("ceil(-2.5)", "-2"),
    ("ceil(2.1::float8)", "3"),
    ("ceiling(2.000)", "2"),
    ("mod(-7, 3)", "-1"),
    ("mod(7, -3)", "1"),
    ("mod(7.5, 2)", "1.5"),
    ("mod(-7.5, 2)", "-1.5"),
    ("mod(7::smallint, 2::smallint)", "1"),
    ("mod(9223372036854775807, 10)", "7"),
    ("mod(1, 0)", Err("22012")),
    ("mod(1.5::float8, 1)", Err("42883")),
    ("power(2, 10)", "1024"),
    ("power(2, -1)", "0.5"),
    ("power(2.0, 3)", "8.0000000000000000"),
    ("power(-8, 1.0/3)", Err("2201F")),
    ("power(0, -1)", Err("2201F")),
    ("power(0::float8, 0)", "1"),
    ("power(-2::float8, 3)", "-8"),
    ("2 ^ 3", "8"),
    ("power(10::float8, 400)", Err("22003")),
    ("sqrt(16)", "4"),
    ("sqrt(2::float8)", "1.4142135623730951"),
    ("sqrt(-1)", Err("2201F")),
    ("sqrt(0)", "0"),
    ("exp(1)", "2.718281828459045"),
    ("exp(0)", "1"),
    ("exp(1000)", Err("22003")),
    ("exp(-1000)", Err("22003")),
    ("ln(10)", "2.302585092994046"),
    ("ln(1)", "0"),
    ("ln(0)", Err("2201E")),
    ("ln(-1)", Err("2201E")),
    ("log(100)", "2"),
    ("log(1000::float8)", "3"),
    ("log(2, 8)", "3.0000000000000000"),
    ("log(2.0, 64.0)", "6.0000000000000000"),
    ("log(1, 10)", Err("22012")),
    ("log(0)", Err("2201E")),
    ("log(-10)", Err("2201E")),
    ("sign(-2)", "-1"),
    ("sign(0::float8)", "0"),
    ("sign(2.5::float8)", "1"),
    ("sign(-2.5)", "-1"),
    ("sign(0.0)", "0"),
    ("cbrt(-8)", "-2"),
    ("pi()", "3.141592653589793"),
    ("degrees(1)", "57.29577951308232"),
    ("radians(180)", "3.141592653589793"),
    ("div(9, 4)", "2"),
    ("div(-9, 4)", "-2"),
    ("div(9.5, 2)", "4"),
    ("div(1, 0)", Err("22012")),
    ("10 / 4.0", "2.5000000000000000"),
    ("-7.5 / 2", "-3.7500000000000000"),
    ("1::float8 / 3", "0.3333333333333333"),
]


@pytest.mark.parametrize(("sql", "expected"), POSTGRESQL_ANSWERS)
def test_math_as_postgresql(sql: str, expected: str | Err) -> None:
    if isinstance(expected, Err):
        assert sqlstate_of(f"({sql})::text") == expected.sqlstate
    else:
        assert one(f"({sql})::text") == expected


def test_numeric_division_keeps_sixteen_decimals() -> None:
    # PostgreSQL picks the scale per value (0.33333333333333333333 has 20 digits); an
    # Arrow column has one, so numeric / numeric keeps max(16, both scales), rounded half
    # away from zero.
    assert one("1.0 / 3") == D("0.3333333333333333")
    assert one("2.0 / 3") == D("0.6666666666666667")
    assert one("-2.0 / 3") == D("-0.6666666666666667")
    assert compiled("n / 3", DATA).type == pa.decimal128(38, 16)


def test_numeric_math_through_double_precision() -> None:
    # sqrt / exp / ln / log / power of numeric return numeric computed in double precision
    # (15 significant digits), where PostgreSQL computes every digit.
    assert compiled("sqrt(n)", DATA).type == pa.decimal128(38, 16)
    assert one("sqrt(2.0)") == D("1.4142135623731000")
    assert one("power(2.0, 10)") == D("1024.0000000000000000")
    assert compiled("sqrt(i4)", DATA).type == pa.float64()


DUCKDB_AGREES = [
    "abs(i2)",
    "abs(f8)",
    "abs(n)",
    "round(n)",
    "round(n, 1)",
    "round(n, 2)",
    "trunc(n, 1)",
    "floor(n)",
    "ceil(n)",
    "floor(f8)",
    "ceil(f8)",
    "trunc(f8)",
    "mod(i4, 7)",
    "i8 % 3",
    "mod(n, 2)",
    "sqrt(abs(f8))",
    "ln(abs(f8) + 1)",
    "exp(i2 % 5)",
    "power(i2 % 3, 2)",
    "sign(i4)",
    "sign(f8)",
]


@pytest.mark.parametrize("sql", DUCKDB_AGREES)
def test_math_matches_duckdb(sql: str, duck: DuckDB) -> None:
    rows = DATA.slice(2)
    assert_same(sql, values(sql, rows), duck.values(sql, rows), rel=1e-15)


def test_float_rounding_is_half_to_even() -> None:
    # DuckDB rounds 2.5::double to 3; PostgreSQL (rint) to 2
    assert_same(
        "round(f8)", values("round(f8)", DATA), [2.0, float("nan"), -0.0, None, 1e300, -2.0]
    )
    assert one("round(0.5::float8)") == 0.0
    assert one("round(1.5::float8)") == 2.0


@pytest.mark.parametrize(
    ("sql", "arrow_type"),
    [
        ("abs(i2)", pa.int16()),
        ("abs(f4)", pa.float32()),
        ("abs(n)", pa.decimal128(12, 3)),
        ("round(i4)", pa.float64()),
        ("round(f4)", pa.float64()),
        ("round(n)", pa.decimal128(10, 0)),
        ("round(n, 1)", pa.decimal128(11, 1)),
        ("round(i4, 2)", pa.decimal128(13, 2)),
        ("floor(n)", pa.decimal128(10, 0)),
        ("mod(i2, i4)", pa.int32()),
        ("power(i4, 2)", pa.float64()),
        ("sign(n)", pa.decimal128(1, 0)),
        ("sign(i4)", pa.float64()),
        ("ln(i8)", pa.float64()),
        ("log(2, i4)", pa.decimal128(38, 16)),
        ("div(i4, 2)", pa.decimal128(22, 0)),
    ],
)
def test_math_result_types(sql: str, arrow_type: pa.DataType) -> None:
    assert compiled(sql, DATA).type == arrow_type


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("round(f8, 1)", "42883"),
        ("log(f8, 2)", "42883"),
        ("mod(f8, 2)", "42883"),
        ("abs(s)", "42883"),
        ("sqrt(f8)", "2201F"),
        ("ln(n)", "2201E"),
        ("round(n, i4)", "0A000"),
    ],
)
def test_math_errors(sql: str, sqlstate: str) -> None:
    assert sqlstate_of(sql, DATA) == sqlstate
