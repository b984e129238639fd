"""The expression language: its API, operators, three-valued logic, conditionals, typing
rules and errors.  Values are checked against DuckDB running the same expression over the
same Arrow batch; where PostgreSQL and DuckDB differ, against PostgreSQL's answer."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal as D

import pyarrow as pa
import pytest
from sqlglot import exp

from laminar_pg.engine.expr import compile_expr, compile_predicate, sql_type_to_arrow
from laminar_pg.errors import SqlError
from tests.engine.expr.harness import (
    DATA,
    DuckDB,
    assert_same,
    compiled,
    duckdb_session,
    evaluate,
    one,
    parse,
    sqlstate_of,
    values,
)

NUMERIC = pa.decimal128


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDB]:
    yield from duckdb_session()


# --- API --------------------------------------------------------------------------------


def test_columns_type_and_nullability() -> None:
    expr = compiled("i4 + i8 * 2", DATA)
    assert expr.type == pa.int64()
    assert expr.nullable
    assert expr.columns() == {DATA.schema.get_field_index("i4"), DATA.schema.get_field_index("i8")}
    assert compiled("i4 IS NULL", DATA).nullable is False
    assert compiled("coalesce(i4, 0)", DATA).nullable is False
    assert compiled("1 + 2", DATA).columns() == set()


def test_not_null_fields_give_not_null_results() -> None:
    schema = pa.schema([pa.field("a", pa.int64(), nullable=False)])
    batch = pa.record_batch([pa.array([1, 2])], schema=schema)
    expr = compiled("a * 2 + 1", batch)
    assert not expr.nullable
    assert expr.evaluate(batch).to_pylist() == [3, 5]


def test_constants_broadcast_and_fold() -> None:
    expr = compiled("1 + 2 * 3", DATA)
    assert expr.constant is not None and expr.constant.as_py() == 7
    assert values("1 + 2 * 3", DATA) == [7] * DATA.num_rows
    assert values("NULL::int", DATA) == [None] * DATA.num_rows
    assert values("'abc'", DATA) == ["abc"] * DATA.num_rows


def test_untyped_literal_at_the_top_is_text() -> None:
    assert compiled("'abc'", DATA).type == pa.string()
    assert compiled("NULL", DATA).type == pa.string()


def test_empty_batch() -> None:
    empty = DATA.slice(0, 0)
    for sql in [
        "i4 + 1",
        "s || 'x'",
        "CASE WHEN i4 <> 0 THEN 10 / i4 END",
        "1",
        "md5(s)",
        "ts + INTERVAL '1 month'",
        "to_char(ts, 'YYYY')",
        "lpad(s, 5)",
        "f8::text",
    ]:
        assert evaluate(sql, empty).to_pylist() == []


@pytest.mark.parametrize(
    "sql",
    [
        "i4 + 1",
        "s || '!'",
        "substring(s, 2, 2)",
        "strpos(s, 'l')",
        "initcap(s)",
        "md5(s)",
        "f8::text",
        "iv::text",
        "ts + iv",
        "CASE WHEN i2 <> 0 THEN 100 / i2 END",
        "lpad(s, 6, 'ab')",
        "s LIKE s",
        "bt::text",
        "extract(epoch FROM iv)",
        "n * 2",
        "coalesce(i4 / nullif(i2, 0), -1)",
    ],
)
def test_sliced_batches_give_the_same_rows(sql: str) -> None:
    """Every slice of the batch (Arrow arrays with an offset) gives the rows one-row
    batches give, or raises when one of its rows does."""
    failed = object()
    singles: list[object] = []
    for row in range(DATA.num_rows):
        try:
            singles.append(values(sql, DATA.slice(row, 1))[0])
        except SqlError:
            singles.append(failed)
    for start in range(DATA.num_rows):
        for stop in range(start, DATA.num_rows + 1):
            part = DATA.slice(start, stop - start)
            expected = singles[start:stop]
            if any(v is failed for v in expected):
                with pytest.raises(SqlError):
                    values(sql, part)
            else:
                assert_same(sql, values(sql, part), expected)


def test_resolve_by_name_qualified_and_case() -> None:
    schema = pa.schema([pa.field("price", pa.int64()), pa.field("Mixed", pa.int64())])
    batch = pa.record_batch([pa.array([1, 2]), pa.array([10, 20])], schema=schema)
    assert values("t.price + PRICE", batch) == [2, 4]
    assert values('"Mixed"', batch) == [10, 20]
    assert sqlstate_of('"PRICE"', batch) == "42703"
    assert sqlstate_of("nope + 1", batch) == "42703"
    twice = pa.record_batch([pa.array([1]), pa.array([2])], names=["a", "a"])
    assert sqlstate_of("a", twice) == "42702"


def test_resolve_callback_maps_qualified_columns() -> None:
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("id", pa.int64())])
    batch = pa.record_batch([pa.array([1, 2]), pa.array([10, 20])], schema=schema)

    def resolve(column: exp.Column) -> int:
        return {"l": 0, "r": 1}[column.table]

    expr = compile_expr(parse("l.id + r.id"), schema, resolve=resolve)
    assert expr.evaluate(batch).to_pylist() == [11, 22]
    assert expr.columns() == {0, 1}


def test_input_columns_of_other_arrow_types_are_read_canonically() -> None:
    batch = pa.record_batch(
        [
            pa.array(["a", "b", "a"]).dictionary_encode(),
            pa.array([1, 2, 3], pa.int8()),
            pa.array([1, 2, 3], pa.uint64()),
            pa.array(["x", "y", "z"], pa.large_string()),
            pa.array([0, 1_500_000_000, 2_000_000_000], pa.timestamp("ns")),
            pa.array([0, 1000, 2000], pa.timestamp("ms", tz="Europe/Paris")),
        ],
        names=["dict", "tiny", "big", "large", "nanos", "paris"],
    )
    assert values("dict || large", batch) == ["ax", "by", "az"]
    assert values("tiny + 1", batch) == [2, 3, 4]
    assert compiled("tiny + 1", batch).type == pa.int32()
    assert values("big * 2", batch) == [D(2), D(4), D(6)]
    assert values("extract(epoch FROM nanos)", batch) == [0.0, 1.5, 2.0]
    assert values("paris::text", batch) == [
        "1970-01-01 00:00:00+00",
        "1970-01-01 00:00:01+00",
        "1970-01-01 00:00:02+00",
    ]


@pytest.mark.parametrize(
    ("sql_type", "arrow_type"),
    [
        ("BIGINT", pa.int64()),
        ("INT", pa.int32()),
        ("INTEGER", pa.int32()),
        ("SMALLINT", pa.int16()),
        ("REAL", pa.float32()),
        ("DOUBLE PRECISION", pa.float64()),
        ("FLOAT8", pa.float64()),
        ("NUMERIC(10,2)", NUMERIC(10, 2)),
        ("NUMERIC(5)", NUMERIC(5, 0)),
        ("NUMERIC", NUMERIC(38, 10)),
        ("DECIMAL(38,0)", NUMERIC(38, 0)),
        ("TEXT", pa.string()),
        ("VARCHAR(3)", pa.string()),
        ("CHAR(2)", pa.string()),
        ("BOOLEAN", pa.bool_()),
        ("TIMESTAMP", pa.timestamp("us")),
        ("TIMESTAMPTZ", pa.timestamp("us", tz="UTC")),
        ("TIMESTAMP WITH TIME ZONE", pa.timestamp("us", tz="UTC")),
        ("DATE", pa.date32()),
        ("TIME", pa.time64("us")),
        ("INTERVAL", pa.month_day_nano_interval()),
        ("BYTEA", pa.binary()),
        ("JSONB", pa.string()),
        ("JSON", pa.string()),
    ],
)
def test_sql_type_to_arrow(sql_type: str, arrow_type: pa.DataType) -> None:
    cast = parse(f"x::{sql_type}")
    assert isinstance(cast, exp.Cast)
    assert sql_type_to_arrow(cast.args["to"]) == arrow_type


@pytest.mark.parametrize("sql_type", ["NUMERIC(50, 2)", "UUID", "INT[]", "MONEY"])
def test_unsupported_types_are_refused(sql_type: str) -> None:
    cast = parse(f"x::{sql_type}")
    with pytest.raises(SqlError) as caught:
        sql_type_to_arrow(cast.args["to"])
    assert caught.value.sqlstate == "0A000"


def test_compile_predicate_requires_boolean() -> None:
    assert compile_predicate(parse("i4 > 0"), DATA.schema).type == pa.bool_()
    assert compile_predicate(parse("'t'"), DATA.schema).type == pa.bool_()
    with pytest.raises(SqlError) as caught:
        compile_predicate(parse("i4 + 1"), DATA.schema)
    assert caught.value.sqlstate == "42804"
    assert "argument of WHERE must be type boolean, not type integer" in caught.value.message


# --- arithmetic -----------------------------------------------------------------------------

ARITHMETIC = [
    # (expression, PostgreSQL's result type)
    ("i2 + i2", pa.int16()),
    ("i2 + 1", pa.int32()),
    ("i4 - 1", pa.int32()),
    ("i4 * 1", pa.int32()),
    ("i8 + 0", pa.int64()),
    ("i2 + i8", pa.int64()),
    ("i4 / 2", pa.int32()),
    ("i8 / -3", pa.int64()),
    ("i4 % 3", pa.int32()),
    ("i8 % -3", pa.int64()),
    ("-i2", pa.int16()),
    ("i2 * 2", pa.int32()),
    ("f8 + 1", pa.float64()),
    ("f8 * i4", pa.float64()),
    ("f8 / 2", pa.float64()),
    ("f4 + f4", pa.float32()),
    ("f4 * 2", pa.float64()),
    ("f4 - f8", pa.float64()),
    ("-f8", pa.float64()),
    ("n + 1", NUMERIC(14, 3)),
    ("n * 2", NUMERIC(22, 3)),
    ("n - n", NUMERIC(13, 3)),
    ("n * n", NUMERIC(24, 6)),
    ("n % 2", NUMERIC(12, 3)),
    ("i8 + 1.5", NUMERIC(21, 1)),
    ("1.5 * 2", NUMERIC(12, 1)),
    ("n + f8", pa.float64()),
    ("-n", NUMERIC(12, 3)),
]


# DuckDB's decimal products stop at 18 digits unless widened first
DUCKDB_SPELLING = {"n * n": "n::DECIMAL(24, 3) * n"}


@pytest.mark.parametrize(("sql", "arrow_type"), ARITHMETIC)
def test_arithmetic_matches_duckdb(sql: str, arrow_type: pa.DataType, duck: DuckDB) -> None:
    rows = DATA.slice(3)  # no overflowing extremes (tested below)
    assert compiled(sql, rows).type == arrow_type
    assert_same(sql, values(sql, rows), duck.values(DUCKDB_SPELLING.get(sql, sql), rows))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7 / -2", -3),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("-7 % -3", -1),
        ("(-9223372036854775807 - 1) % -1", 0),
        ("mod(-7, 3)", -1),
        ("5.5 % 2", D("1.5")),
        ("-5.5 % 2", D("-1.5")),
        ("1 / 3.0", D("0.3333333333333333")),
        ("2 / 3.0", D("0.6666666666666667")),  # half away from zero
        ("10.0 / 4", D("2.5")),
        ("1.5 + 2.25", D("3.75")),
        ("0.1 + 0.2", D("0.3")),
        ("-2147483648", -(2**31)),  # folded into an int4 constant, as PostgreSQL's grammar does
    ],
)
def test_integer_and_numeric_semantics(sql: str, expected: object) -> None:
    assert one(sql) == expected


def test_literal_typing() -> None:
    assert compiled("1", DATA).type == pa.int32()
    assert compiled("2147483648", DATA).type == pa.int64()
    assert compiled("9223372036854775808", DATA).type == NUMERIC(19, 0)
    assert compiled("1.50", DATA).type == NUMERIC(3, 2)
    assert compiled("1e3", DATA).type == NUMERIC(4, 0)
    assert compiled("'1' + 1", DATA).type == pa.int32()  # the literal takes the other side's type


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("32767::smallint + 1::smallint", "22003"),
        ("2147483647 + 1", "22003"),
        ("9223372036854775807 + 1", "22003"),
        ("-(-9223372036854775807 - 1)", "22003"),
        ("(-2147483647 - 1) / -1", "22003"),
        ("2147483647 * 2", "22003"),
        ("1 / 0", "22012"),
        ("1 % 0", "22012"),
        ("1.5 / 0", "22012"),
        ("1.5 % 0", "22012"),
        ("1::float8 / 0", "22012"),  # DuckDB: inf (PostgreSQL raises)
        ("1e300::float8 * 1e300::float8", "22003"),  # DuckDB: inf (PostgreSQL: overflow)
        ("1e-300::float8 * 1e-300::float8", "22003"),  # underflow
        ("i8 + 1", "22003"),
        ("i4 - 1", "22003"),
        ("abs(i4)", "22003"),
        ("-i2", "22003"),
    ],
)
def test_arithmetic_errors(sql: str, sqlstate: str) -> None:
    assert sqlstate_of(sql, DATA) == sqlstate


def test_overflow_messages_name_the_type() -> None:
    with pytest.raises(SqlError, match=r"^bigint out of range$"):
        values("i8 * 2", DATA)
    with pytest.raises(SqlError, match=r"^smallint out of range$"):
        values("i2 * i2", DATA)
    with pytest.raises(SqlError, match=r"^division by zero$"):
        values("i4 / i4", DATA)


# --- comparisons ----------------------------------------------------------------------------

COMPARISONS = [
    "i4 = i8",
    "i2 < i4",
    "i8 >= 3",
    "i4 <> 0",
    "f8 = f8",
    "f8 < 2",
    "f8 > 1",
    "f8 <= f4",
    "f4 >= 1.5",
    "n < 1",
    "n = 1.5",
    "n > i4",
    "n <= f8",
    "s < 'b'",
    "s = ''",
    "s >= s",
    "b = true",
    "b < true",
    "ts < '2000-01-01'",
    "ts = ts",
    "d < ts",
    "tz > ts",
    "d >= '2000-03-01'",
    "tm > '12:00'",
    "bt = bt",
    "f8 = 'NaN'",
    "'NaN'::float8 > f8",
    "f8 <> 'NaN'",
]


@pytest.mark.parametrize("sql", COMPARISONS)
def test_comparisons_match_duckdb(sql: str, duck: DuckDB) -> None:
    assert compiled(sql, DATA).type == pa.bool_()
    assert_same(sql, values(sql, DATA), duck.values(sql, DATA))


def test_nan_is_equal_to_itself_and_greatest() -> None:
    # PostgreSQL (and DuckDB): NaN = NaN, and NaN sorts above every number, -0 = 0
    assert values("f8 = 'NaN'", DATA) == [False, True, False, None, False, False]
    assert one("'NaN'::float8 > 'Infinity'::float8") is True
    assert one("'NaN'::float8 <= 'NaN'::float8") is True
    assert one("-0.0::float8 = 0::float8") is True
    assert one("-0.0::float8 IN (0::float8)") is True


def test_intervals_compare_as_postgresql() -> None:
    # 1 month = 30 days and 1 day = 24 hours when comparing (interval_cmp)
    assert one("INTERVAL '1 month' = INTERVAL '30 days'") is True
    assert one("INTERVAL '1 day' = INTERVAL '24 hours'") is True
    assert one("INTERVAL '1 day 1 second' > INTERVAL '24 hours'") is True
    assert values("iv > INTERVAL '1 day'", DATA) == [True, False, False, None, False, True]


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("i4 = s", "42883"),
        ("s + 1", "42883"),
        ("b + 1", "42883"),
        ("ts + ts", "42883"),
        ("ts * 2", "42883"),
        ("'a' + 'b'", "42725"),
        ("NULL + NULL", "42725"),
        ("d + i8", "42883"),
        ("i4 + 'abc'", "22P02"),
        ("ts - '1 day'", "22007"),
        ("i4 || i4", "42883"),
        ("f8 % 2", "42883"),
        ("bt < s", "42883"),
    ],
)
def test_operator_type_errors(sql: str, sqlstate: str) -> None:
    assert sqlstate_of(sql, DATA) == sqlstate


def test_operator_error_message_is_postgresqls() -> None:
    with pytest.raises(SqlError, match=r"^operator does not exist: text \+ integer$") as caught:
        values("s + 1", DATA)
    assert caught.value.hint is not None


def test_untyped_literals_take_their_context() -> None:
    assert one("'1' + 1") == 2
    assert values("i4 = '3'", DATA)[0] is True
    assert one("'2020-01-01'::timestamp + '1 day'") is not None  # + finds timestamp + interval
    assert (
        compiled("ts - '2000-01-01'", DATA).type == pa.month_day_nano_interval()
    )  # - keeps timestamp


# --- logic ------------------------------------------------------------------------------------

LOGIC = [
    "b AND i4 > 0",
    "b OR i4 > 0",
    "NOT b",
    "b AND NULL",
    "b OR NULL",
    "NULL AND false",
    "NULL OR true",
    "b IS NULL",
    "b IS NOT NULL",
    "b IS TRUE",
    "b IS NOT TRUE",
    "b IS FALSE",
    "b IS NOT FALSE",
    "b IS UNKNOWN",
    "b IS NOT UNKNOWN",
    "i4 IS DISTINCT FROM 3",
    "i4 IS NOT DISTINCT FROM NULL",
    "s IS DISTINCT FROM ''",
    "f8 IS NOT DISTINCT FROM 'NaN'",
    "i4 IN (3, 0, NULL)",
    "i4 NOT IN (3, 7)",
    "i4 NOT IN (3, NULL)",
    "i4 IN (i2, i8)",
    "s IN ('Hello', '')",
    "f8 IN ('NaN', 1.5)",
    "NULL IN (1, 2)",
    "1 NOT IN (2, NULL)",
    "i4 BETWEEN -7 AND 3",
    "i4 NOT BETWEEN 0 AND 3",
    "s BETWEEN 'a' AND 'z'",
    "n BETWEEN 0 AND 2",
    "ts BETWEEN '2000-01-01' AND '2021-01-01'",
]


@pytest.mark.parametrize("sql", LOGIC)
def test_three_valued_logic_matches_duckdb(sql: str, duck: DuckDB) -> None:
    assert_same(sql, values(sql, DATA), duck.values(sql, DATA))


def test_between_symmetric() -> None:
    # DuckDB has no BETWEEN SYMMETRIC; PostgreSQL swaps the bounds when needed
    assert values("i4 BETWEEN SYMMETRIC 3 AND -7", DATA) == [True, False, False, None, True, True]
    assert values("i4 NOT BETWEEN SYMMETRIC 3 AND -7", DATA) == [
        False,
        True,
        True,
        None,
        False,
        False,
    ]


def test_truth_tables() -> None:
    rows = pa.record_batch(
        [
            pa.array([True, True, True, False, False, False, None, None, None]),
            pa.array([True, False, None, True, False, None, True, False, None]),
        ],
        names=["p", "q"],
    )
    assert values("p AND q", rows) == [True, False, None, False, False, False, None, False, None]
    assert values("p OR q", rows) == [True, True, True, True, False, None, True, None, None]
    assert values("NOT p", rows) == [False] * 3 + [True] * 3 + [None] * 3


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("i4 AND true", "argument of AND must be type boolean, not type integer"),
        ("NOT s", "argument of NOT must be type boolean, not type text"),
        ("CASE WHEN i4 THEN 1 END", "argument of CASE/WHEN must be type boolean, not type integer"),
    ],
)
def test_boolean_arguments(sql: str, message: str) -> None:
    with pytest.raises(SqlError) as caught:
        values(sql, DATA)
    assert caught.value.sqlstate == "42804"
    assert caught.value.message == message


# --- conditionals -------------------------------------------------------------------------------

CONDITIONALS = [
    "CASE WHEN i4 > 0 THEN 'pos' WHEN i4 < 0 THEN 'neg' END",
    "CASE WHEN i4 > 0 THEN 'pos' ELSE 'other' END",
    "CASE i4 WHEN 3 THEN 1 WHEN 0 THEN 2 ELSE 0 END",
    "CASE WHEN b THEN i2 ELSE i8 END",
    "CASE WHEN b THEN f8 END",
    "CASE WHEN NULL THEN 1 ELSE 2 END",
    "CASE WHEN i4 <> 0 THEN 100 / i4 ELSE -1 END",
    "COALESCE(i4, i8, 0)",
    "COALESCE(s, 'none')",
    "COALESCE(NULL, i2)",
    "COALESCE(f8, n)",
    "NULLIF(i4, 3)",
    "NULLIF(s, '')",
    "NULLIF(f8, 'NaN')",
    "GREATEST(i4, i8, 0)",
    "LEAST(i2, i4)",
    "GREATEST(s, 'b')",
    "LEAST(NULL, i4)",
    "GREATEST(f8, 1)",
    "LEAST(f8, 1)",
    "GREATEST(ts, d)",
    "LEAST(n, 1)",
]


@pytest.mark.parametrize("sql", CONDITIONALS)
def test_conditionals_match_duckdb(sql: str, duck: DuckDB) -> None:
    assert_same(sql, values(sql, DATA), duck.values(sql, DATA))


@pytest.mark.parametrize(
    ("sql", "arrow_type"),
    [
        ("CASE WHEN b THEN 1 ELSE 2.5 END", NUMERIC(11, 1)),
        ("CASE WHEN b THEN i2 ELSE i8 END", pa.int64()),
        ("CASE WHEN b THEN 1 ELSE '2' END", pa.int32()),
        ("CASE WHEN b THEN 'x' END", pa.string()),
        ("CASE WHEN b THEN f4 ELSE i4 END", pa.float32()),
        ("CASE WHEN b THEN d ELSE ts END", pa.timestamp("us")),
        ("COALESCE(i2, 1.5)", NUMERIC(6, 1)),
        ("COALESCE(NULL, NULL)", pa.string()),
        ("GREATEST(i4, f8)", pa.float64()),
        ("NULLIF(1, 2.2)", NUMERIC(10, 0)),
    ],
)
def test_conditional_result_types(sql: str, arrow_type: pa.DataType) -> None:
    assert compiled(sql, DATA).type == arrow_type


def test_case_types_that_cannot_be_matched() -> None:
    assert sqlstate_of("CASE WHEN b THEN 1 ELSE s END", DATA) == "42804"
    assert sqlstate_of("COALESCE(i4, s)", DATA) == "42804"
    assert sqlstate_of("CASE WHEN b THEN 1 ELSE 'x' END", DATA) == "22P02"


def test_branches_not_taken_do_not_raise() -> None:
    # PostgreSQL evaluates a CASE branch, a COALESCE argument or the right of AND / OR only
    # for the rows that reach it.
    assert values("CASE WHEN i2 <> 0 THEN 100 / i2 END", DATA) == [100, 0, 0, None, None, 14]
    assert values("i2 <> 0 AND 100 / i2 > 1", DATA) == [True, False, False, None, False, True]
    assert values("i2 = 0 OR 100 / i2 > 1", DATA) == [True, False, False, None, True, True]
    assert values("COALESCE(i2 + 1, 1 / i2)", DATA) == [2, -32767, 32768, None, 1, 8]
    assert values("CASE WHEN i8 > 0 AND i8 < 100 THEN i8 * 2 END", DATA) == [
        None,
        None,
        20,
        None,
        None,
        4,
    ]
    assert values("CASE WHEN false THEN 1 / 0 ELSE 1 END", DATA) == [1] * 6
    assert values("CASE WHEN abs(f8) < 700 THEN exp(f8) END", DATA) == [
        math.exp(1.5),
        None,
        1.0,
        None,
        None,
        math.exp(-2.5),
    ]  # exp(1e300) would overflow
    assert values(
        "CASE WHEN s <> '' THEN s::int END",
        pa.record_batch([pa.array(["1", "", None])], names=["s"]),
    ) == [
        1,
        None,
        None,
    ]
    with pytest.raises(SqlError):
        values("CASE WHEN i2 >= 0 THEN 100 / i2 END", DATA)  # row 4 reaches the division


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("$1 + 1", "parameters"),
        ("(SELECT 1)", "subqueries"),
        ("EXISTS (SELECT 1)", "EXISTS"),
        ("i4 IN (SELECT 1)", "subqueries"),
        ("sum(i4)", "sum"),
        ("count(*)", "count"),
        ("avg(i4) + 1", "avg"),
        ("sum(i4) FILTER (WHERE b)", "aggregate function sum"),
        ("row_number() OVER ()", "window"),
        ("now()", "now()"),
        ("current_timestamp", "current_timestamp"),
        ("current_date", "current_date"),
        ("random()", "random()"),
        ("i4 = ANY(ARRAY[1])", "ANY"),
        ("s SIMILAR TO 'x'", "SIMILAR TO"),
        ("regexp_match(s, 'x')", "regexp_match"),
        ("to_char(i4, '999')", "to_char of numbers"),
        ("to_char(ts, 'RM')", "RM"),
        ("x'1F'", "bit string"),
        ("s::interval", "interval"),
        ("substring(s, 'x')", "regular expression"),
    ],
)
def test_refused_constructs_name_themselves(sql: str, named: str) -> None:
    with pytest.raises(SqlError) as caught:
        values(sql, DATA)
    assert caught.value.sqlstate == "0A000"
    assert named.lower() in caught.value.message.lower()


def test_unknown_function() -> None:
    with pytest.raises(SqlError, match=r"^function foo does not exist$") as caught:
        values("foo(i4)", DATA)
    assert caught.value.sqlstate == "42883"
    assert sqlstate_of("lower(i4)", DATA) == "42883"
    assert sqlstate_of("left(s, i8)", DATA) == "42883"  # no implicit bigint -> integer
