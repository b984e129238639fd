"""Property tests: random batches (int64 extremes, NaN, infinities, -0.0, empty and unicode
strings, NULLs) evaluated here and by an independent oracle: exact Python arithmetic with
PostgreSQL's rules, or DuckDB over the same Arrow data."""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laminar_pg.errors import SqlError
from tests.engine.expr.harness import DuckDB, assert_same, duckdb_session, values

D = decimal.Decimal
SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

INT_BOUNDS = {pa.int16(): 2**15, pa.int32(): 2**31, pa.int64(): 2**63}


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDB]:
    yield from duckdb_session()


def integers(bits: int) -> st.SearchStrategy[int | None]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    edges = st.sampled_from([low, low + 1, -1, 0, 1, high - 1, high])
    return st.one_of(st.none(), edges, st.integers(-1000, 1000), st.integers(low, high))


def column_pairs(type: pa.DataType, bits: int) -> st.SearchStrategy[pa.RecordBatch]:
    return (
        st.integers(0, 12)
        .flatmap(
            lambda n: st.tuples(
                st.lists(integers(bits), min_size=n, max_size=n),
                st.lists(integers(bits), min_size=n, max_size=n),
            )
        )
        .map(
            lambda ab: pa.record_batch(
                [pa.array(ab[0], type), pa.array(ab[1], type)], names=["a", "b"]
            )
        )
    )


def postgres_integer_op(op: str, a: int, b: int) -> int:
    """PostgreSQL's integer operators on exact Python integers (before the range check)."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise ZeroDivisionError
    quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # toward zero
    return quotient if op == "/" else a - quotient * b


@pytest.mark.parametrize("type", [pa.int16(), pa.int32(), pa.int64()], ids=str)
@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%"])
@SETTINGS
@given(data=st.data())
def test_integer_arithmetic_is_exact_or_raises(
    type: pa.DataType, op: str, data: st.DataObject
) -> None:
    batch = data.draw(column_pairs(type, type.bit_width))
    bound = INT_BOUNDS[type]
    expected: list[int | None] = []
    error: str | None = None
    for a, b in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
        if a is None or b is None:
            expected.append(None)
            continue
        try:
            result = postgres_integer_op(op, a, b)
        except ZeroDivisionError:
            error = error or "22012"
            continue
        if not -bound <= result < bound:
            error = error or "22003"
        expected.append(result)
    sql = f"a {op} b"
    if error is None:
        assert values(sql, batch) == expected
    else:
        with pytest.raises(SqlError) as caught:
            values(sql, batch)
        assert caught.value.sqlstate in ("22003", "22012")


floats = st.one_of(
    st.none(),
    st.sampled_from(
        [0.0, -0.0, 1.0, -1.0, 0.5, 2.5, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
)


def float_batch() -> st.SearchStrategy[pa.RecordBatch]:
    return (
        st.integers(0, 10)
        .flatmap(
            lambda n: st.tuples(
                st.lists(floats, min_size=n, max_size=n),
                st.lists(floats, min_size=n, max_size=n),
                st.lists(integers(32), min_size=n, max_size=n),
            )
        )
        .map(
            lambda t: pa.record_batch(
                [
                    pa.array(t[0], pa.float64()),
                    pa.array(t[1], pa.float64()),
                    pa.array(t[2], pa.int32()),
                ],
                names=["x", "y", "i"],
            )
        )
    )


FLOAT_EXPRESSIONS = [
    "x = y",
    "x < y",
    "x >= y",
    "x <> y",
    "x = i",
    "x > i",
    "x IS DISTINCT FROM y",
    "x IN (y, 1.5, 'NaN')",
    "GREATEST(x, y)",
    "LEAST(x, y, 0)",
    "CASE WHEN x > y THEN x ELSE y END",
    "COALESCE(x, y, 0)",
    "NULLIF(x, y)",
    "x BETWEEN y AND 1e10",
    "(x < y) AND (i > 0)",
    "(x < y) OR (i > 0)",
    "NOT (x = y)",
    "abs(x)",
    "-x",
    "floor(x)",
    "ceil(x)",
    "sign(y)",
]


@SETTINGS
@given(batch=float_batch())
def test_floats_compare_and_combine_like_duckdb(batch: pa.RecordBatch, duck: DuckDB) -> None:
    for sql in FLOAT_EXPRESSIONS:
        assert_same(sql, values(sql, batch), duck.values(sql, batch))


@SETTINGS
@given(x=st.floats(allow_nan=True, allow_infinity=True, width=64))
def test_float_text_round_trips_in_postgresql_form(x: float) -> None:
    batch = pa.record_batch([pa.array([x], pa.float64())], names=["x"])
    (text,) = values("x::text", batch)
    (back,) = values("x::text::float8", batch)
    assert back == x or (math.isnan(back) and math.isnan(x))
    if math.isfinite(x) and x != 0:
        exponent = int(f"{abs(x):e}".split("e")[1])
        assert ("e" in text) == (exponent < -4 or exponent >= 15), text
        if "e" in text:
            assert len(text.split("e")[1]) >= 3  # e+15, e-07: at least two digits
    assert text not in ("inf", "-inf", "nan")  # PostgreSQL spells NaN, Infinity


@SETTINGS
@given(x=st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_real_text_round_trips(x: float) -> None:
    batch = pa.record_batch([pa.array([x], pa.float32())], names=["x"])
    assert values("x::text::real", batch) == [x]


text_alphabet = st.sampled_from([*list("abcXYZ %_\\.-,0é日ö"), "ß", "İ", "\n", "\xa0", "🙂"])
texts = st.one_of(st.none(), st.text(text_alphabet, max_size=8))


def text_batch() -> st.SearchStrategy[pa.RecordBatch]:
    return (
        st.integers(0, 8)
        .flatmap(
            lambda n: st.tuples(
                st.lists(texts, min_size=n, max_size=n),
                st.lists(texts, min_size=n, max_size=n),
                st.lists(st.one_of(st.none(), st.integers(-4, 10)), min_size=n, max_size=n),
            )
        )
        .map(
            lambda t: pa.record_batch(
                [
                    pa.array(t[0], pa.string()),
                    pa.array(t[1], pa.string()),
                    pa.array(t[2], pa.int32()),
                ],
                names=["s", "p", "k"],
            )
        )
    )


TEXT_EXPRESSIONS = [
    "length(s)",
    "reverse(s)",
    "s || p",
    "substring(s, 2, 3)",
    "substring(s, abs(k) + 1, 2)",
    "substring(s, 2, abs(k))",
    "strpos(s, p)",
    "strpos(s, 'é')",
    "left(s, k)",
    "right(s, k)",
    "left(s, 2)",
    "right(s, -1)",
    "replace(s, 'a', 'é')",
    "split_part(s, ',', 2)",
    "split_part(s, ' ', -1)",
    "concat_ws('|', s, p, k)",
    "md5(s)",
    "starts_with(s, p)",
    "s LIKE p ESCAPE '\\'",
    "s NOT LIKE p ESCAPE '#'",
    "s LIKE '%a_' ESCAPE '\\'",
    "s = p",
    "s < p",
    "s IN (p, 'a')",
    "repeat(s, k)",
    "rpad(s, abs(k), 'xé')",
    "lpad(s, abs(k), 'ab')",
    "trim(s, ' ')",
    "ltrim(s, 'a ')",
    "btrim(s, 'é')",
]


def duckdb_text_spelling(sql: str) -> str:
    # DuckDB's substring counts a negative start from the end, its lpad refuses an empty
    # fill and its trim() also trims non-breaking spaces, so those stay positive /
    # constant / explicit above; it has no btrim.
    return sql.replace("btrim(", "trim(")


@SETTINGS
@given(batch=text_batch())
def test_strings_like_duckdb(batch: pa.RecordBatch, duck: DuckDB) -> None:
    for sql in TEXT_EXPRESSIONS:
        try:
            ours = values(sql, batch)
        except SqlError as e:
            # PostgreSQL raises where DuckDB does not: a LIKE pattern ending in its escape
            assert e.sqlstate == "22025" and "LIKE" in sql, sql
            continue
        assert_same(sql, ours, duck.values(duckdb_text_spelling(sql), batch))


@SETTINGS
@given(batch=text_batch())
def test_case_mapping_is_per_code_point(batch: pa.RecordBatch) -> None:
    for s, lower, upper, initcap in zip(
        batch.column(0).to_pylist(),
        values("lower(s)", batch),
        values("upper(s)", batch),
        values("initcap(s)", batch),
        strict=True,
    ):
        if s is None:
            assert lower is upper is initcap is None
            continue
        assert len(lower) == len(upper) == len(initcap) == len(s)


timestamps = st.one_of(
    st.none(), st.datetimes(datetime.datetime(1900, 1, 1), datetime.datetime(2200, 1, 1))
)
months = st.integers(-300, 300)
days = st.integers(-1000, 1000)
micros = st.integers(-(10**12), 10**12)


@SETTINGS
@given(
    stamps=st.lists(timestamps, max_size=8),
    span=st.tuples(months, days, micros),
    unit=st.sampled_from(
        [
            "microsecond",
            "millisecond",
            "second",
            "minute",
            "hour",
            "day",
            "week",
            "month",
            "quarter",
            "year",
        ]
    ),
)
def test_timestamps_like_duckdb(
    stamps: list[datetime.datetime | None], span: tuple[int, int, int], unit: str, duck: DuckDB
) -> None:
    batch = pa.record_batch(
        [
            pa.array(stamps, pa.timestamp("us")),
            pa.array(
                [pa.MonthDayNano([span[0], span[1], span[2] * 1000])] * len(stamps),
                pa.month_day_nano_interval(),
            ),
        ],
        names=["ts", "iv"],
    )
    for sql in [
        "ts + iv",
        "ts - iv",
        f"date_trunc('{unit}', ts)",
        "extract(epoch FROM ts)",
        "extract(dow FROM ts)",
        "extract(doy FROM ts)",
        "extract(week FROM ts)",
        "ts::date",
        "ts::date + 7",
        "ts < ts + iv",
    ]:
        assert_same(sql, values(sql, batch), duck.values(sql, batch))


decimals = st.one_of(
    st.none(),
    st.decimals(
        min_value=-(10**8), max_value=10**8, places=3, allow_nan=False, allow_infinity=False
    ),
)


@SETTINGS
@given(a=st.lists(decimals, max_size=8), b=st.lists(decimals, max_size=8))
def test_numeric_arithmetic_is_exact(a: list[D | None], b: list[D | None]) -> None:
    size = min(len(a), len(b))
    batch = pa.record_batch(
        [pa.array(a[:size], pa.decimal128(12, 3)), pa.array(b[:size], pa.decimal128(12, 3))],
        names=["a", "b"],
    )
    pairs = list(zip(a[:size], b[:size], strict=True))
    exact: dict[str, Any] = {
        "a + b": lambda x, y: x + y,
        "a - b": lambda x, y: x - y,
        "a * b": lambda x, y: x * y,
    }
    for sql, fn in exact.items():
        assert values(sql, batch) == [
            None if x is None or y is None else fn(x, y) for x, y in pairs
        ]
    context = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_UP)
    quantum = D(1).scaleb(-16)
    if all(y != 0 for x, y in pairs if x is not None and y is not None):
        expected = [
            None
            if x is None or y is None
            else context.divide(x, y).quantize(quantum, rounding=decimal.ROUND_HALF_UP)
            for x, y in pairs
        ]
        assert values("a / b", batch) == expected
        remainders = [None if x is None or y is None else context.remainder(x, y) for x, y in pairs]
        assert values("a % b", batch) == remainders
    else:
        with pytest.raises(SqlError) as caught:
            values("a / b", batch)
        assert caught.value.sqlstate == "22012"


@SETTINGS
@given(batch=float_batch(), start=st.integers(0, 10), length=st.integers(0, 10))
def test_slices_evaluate_like_the_whole(batch: pa.RecordBatch, start: int, length: int) -> None:
    part = batch.slice(start, length)
    for sql in [
        "x + y",
        "x::text",
        "x::numeric(20, 4)",
        "i::text || '|' || x::text",
        "COALESCE(x, y) > i",
    ]:
        try:
            whole = values(sql, batch)
        except SqlError:
            continue
        assert_same(sql, values(sql, part), whole[start : start + length])
