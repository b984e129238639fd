"""Helpers for the expression tests: parse, compile, evaluate, and ask DuckDB the same.

DuckDB is the oracle (configured as the ad-hoc engine is: laminar_pg.session.engine's
CONNECTION_SETUP, so integer division truncates).  Where PostgreSQL and DuckDB disagree
(FACTS.md), tests state PostgreSQL's answer as a literal instead.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from laminar_pg.engine.expr import CompiledExpr, compile_expr
from laminar_pg.errors import SqlError
from laminar_pg.session.engine import CONNECTION_SETUP
from laminar_pg.sql.dialect import Laminar

D = decimal.Decimal


def parse(sql: str) -> exp.Expression:
    """The expression `sql` as the planner would hand it over (a SELECT item)."""
    select = sqlglot.parse_one(f"SELECT {sql} FROM t", dialect=Laminar)
    assert isinstance(select, exp.Select)
    item: exp.Expression = select.expressions[0]
    return item


def compiled(sql: str, batch: pa.RecordBatch | pa.Schema) -> CompiledExpr:
    schema = batch if isinstance(batch, pa.Schema) else batch.schema
    return compile_expr(parse(sql), schema)


def evaluate(sql: str, batch: pa.RecordBatch) -> pa.Array:
    """Compile and evaluate, checking the result's length and declared type."""
    expr = compiled(sql, batch)
    result = expr.evaluate(batch)
    assert isinstance(result, pa.Array)
    assert len(result) == batch.num_rows
    assert result.type == expr.type, f"{sql}: declared {expr.type}, produced {result.type}"
    if not expr.nullable:
        assert result.null_count == 0, f"{sql}: declared not nullable"
    return result


def values(sql: str, batch: pa.RecordBatch) -> list[Any]:
    result: list[Any] = evaluate(sql, batch).to_pylist()
    return result


def one(sql: str) -> Any:
    """The value of a constant expression."""
    return values(sql, ONE_ROW)[0]


def sqlstate_of(sql: str, batch: pa.RecordBatch | None = None) -> str:
    """The SQLSTATE compiling or evaluating `sql` raises (fails the test if it does not)."""
    target = ONE_ROW if batch is None else batch
    with pytest.raises(SqlError) as caught:
        evaluate(sql, target)
    return caught.value.sqlstate


ONE_ROW = pa.record_batch([pa.array([0], pa.int32())], names=["_"])


class DuckDB:
    """One DuckDB connection set up like the ad-hoc engine's."""

    def __init__(self) -> None:
        self.connection = duckdb.connect()
        for statement in CONNECTION_SETUP:
            if "search_path" not in statement:
                self.connection.execute(statement)

    def values(self, sql: str, batch: pa.RecordBatch) -> list[Any]:
        self.connection.register("t", pa.Table.from_batches([batch]))
        try:
            table = self.connection.sql(f"SELECT {sql} AS v FROM t").to_arrow_table()
        finally:
            self.connection.unregister("t")
        result: list[Any] = table.column("v").to_pylist()
        return result

    def close(self) -> None:
        self.connection.close()


def duckdb_session() -> Iterator[DuckDB]:
    db = DuckDB()
    try:
        yield db
    finally:
        db.close()


def same_value(ours: Any, theirs: Any, *, rel: float = 0.0) -> bool:
    """Equal, with NaN equal to NaN, numbers compared by value (not type or scale)."""
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if isinstance(ours, float) or isinstance(theirs, float):
        a, b = float(ours), float(theirs)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or (rel > 0 and math.isclose(a, b, rel_tol=rel, abs_tol=1e-300))
    if isinstance(ours, D | int) and isinstance(theirs, D | int) and not isinstance(ours, bool):
        return D(ours) == D(theirs)
    if isinstance(ours, datetime.datetime) and isinstance(theirs, datetime.datetime):
        return ours.replace(tzinfo=None) == theirs.replace(tzinfo=None) and (
            (ours.tzinfo is None) == (theirs.tzinfo is None)
        )
    return bool(ours == theirs)


def assert_same(sql: str, ours: Sequence[Any], theirs: Sequence[Any], *, rel: float = 0.0) -> None:
    assert len(ours) == len(theirs), sql
    for row, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert same_value(a, b, rel=rel), f"{sql}: row {row}: ours {a!r}, duckdb {b!r}"


def _data() -> pa.RecordBatch:
    utc = datetime.UTC
    columns: dict[str, pa.Array] = {
        "i2": pa.array([1, -32768, 32767, None, 0, 7], pa.int16()),
        "i4": pa.array([3, -2147483648, 2147483647, None, -7, 0], pa.int32()),
        "i8": pa.array([-(2**63), 2**63 - 1, 10, None, -3, 2], pa.int64()),
        "f8": pa.array([1.5, float("nan"), -0.0, None, 1e300, -2.5], pa.float64()),
        "f4": pa.array([1.5, float("inf"), 0.1, None, -1e-30, 3.0], pa.float32()),
        "n": pa.array(
            [D("1.500"), D("-2.555"), D("0"), None, D("123456789.123"), D("-0.001")],
            pa.decimal128(12, 3),
        ),
        "s": pa.array(["Hello", "wörld ÉCOLE", "", None, "a%b_c\\d", "  x  "]),
        "b": pa.array([True, False, None, None, True, False]),
        "ts": pa.array(
            [
                datetime.datetime(2020, 1, 31, 12, 34, 56, 789000),
                datetime.datetime(1999, 12, 31, 23, 59, 59),
                datetime.datetime(2024, 2, 29),
                None,
                datetime.datetime(1970, 1, 1),
                datetime.datetime(2000, 6, 15, 6, 7, 8, 123456),
            ],
            pa.timestamp("us"),
        ),
        "tz": pa.array(
            [
                datetime.datetime(2020, 1, 31, 12, 34, 56, tzinfo=utc),
                None,
                datetime.datetime(2021, 3, 14, 2, 30, tzinfo=utc),
                None,
                datetime.datetime(1970, 1, 1, tzinfo=utc),
                datetime.datetime(2038, 1, 19, 3, 14, 8, tzinfo=utc),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        "d": pa.array(
            [
                datetime.date(2020, 1, 31),
                datetime.date(1999, 12, 31),
                datetime.date(2024, 2, 29),
                None,
                datetime.date(1970, 1, 1),
                datetime.date(2000, 3, 1),
            ],
            pa.date32(),
        ),
        "tm": pa.array(
            [
                datetime.time(12, 34, 56, 789000),
                datetime.time(0, 0),
                datetime.time(23, 59, 59, 999999),
                None,
                datetime.time(6, 0),
                datetime.time(18, 30),
            ],
            pa.time64("us"),
        ),
        "iv": pa.array(
            [
                pa.MonthDayNano([1, 2, 3_000_000_000]),
                pa.MonthDayNano([-14, 0, 0]),
                pa.MonthDayNano([0, -1, 7_200_000_000_000]),
                None,
                pa.MonthDayNano([0, 0, 0]),
                pa.MonthDayNano([0, 35, -90_061_000_000_000]),
            ],
            pa.month_day_nano_interval(),
        ),
        "bt": pa.array([b"abc", b"\x00\xff", b"", None, b"\\x", "ö".encode()], pa.binary()),
    }
    return pa.record_batch(list(columns.values()), names=list(columns))


# Six rows: NULLs, int extremes, NaN, -0.0, infinity, unicode, empty strings, leap days.
DATA = _data()
