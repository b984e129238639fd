"""The stateless operators (Filter, Project, UnionAll, WindowAssign) on random change streams.

Each test drives an operator through the dataflow (`push`) with a random stream of
chunks (int / float / string / timestamp columns with NULLs, duplicate rows, weights
that are negative, zero or absent (append-only), times before 1970 and out of order)
interleaved with watermarks that rows then fall behind (late events pass through a
stateless operator). It integrates the output (sum of weights per row) and compares it
with a twin applied to the integrated input: DuckDB evaluating the same WHERE / SELECT
list (Filter, Project), a multiset sum (UnionAll), and window arithmetic in plain Python
on microseconds (WindowAssign). Watermarks must come out as the running minimum over the
inputs, only when it rises (UnionAll: once both inputs have one).
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from laminar_pg.engine.dataflow import Node, push
from laminar_pg.engine.expr import CompiledExpr, compile_expr
from laminar_pg.engine.messages import Barrier, Chunk, Message, Watermark
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators.filter import Filter
from laminar_pg.engine.operators.project import Project
from laminar_pg.engine.operators.union import UnionAll
from laminar_pg.engine.operators.window_assign import WindowAssign
from laminar_pg.session.engine import CONNECTION_SETUP
from laminar_pg.sql.dialect import Laminar
from tests.engine.changes import changes, integrate

Row = tuple[Any, ...]
TS = pa.timestamp("us")
TS_UTC = pa.timestamp("us", tz="UTC")
INT64 = pa.int64()


def schema_with(time_type: pa.DataType = TS, int_type: pa.DataType = INT64) -> pa.Schema:
    return pa.schema([("i", int_type), ("f", pa.float64()), ("s", pa.string()),
                      ("ts", time_type)])


SCHEMA = schema_with()


class Key(enum.Enum):
    """NaN as a dict key (NaN is not equal to itself)."""

    NAN = "NaN"


def norm(row: Row) -> Row:
    return tuple(Key.NAN if isinstance(v, float) and math.isnan(v) else v for v in row)


def denorm(value: Any) -> Any:
    return math.nan if value is Key.NAN else value


def to_python(value: Any, data_type: pa.DataType) -> Any:
    """A raw test value (times as int microseconds) as Arrow's to_pylist gives it."""
    if value is None or not pa.types.is_timestamp(data_type):
        return value
    epoch = datetime(1970, 1, 1, tzinfo=UTC if data_type.tz else None)
    return epoch + timedelta(microseconds=value)


# ------------------------------------------------------------------ random change streams

ints = st.one_of(st.none(), st.integers(-5, 5), st.integers(-1_000_000, 1_000_000))
floats = st.one_of(
    st.none(),
    st.sampled_from([0.0, -0.0, 0.5, -2.5, 1e300, math.nan, math.inf, -math.inf]),
    st.floats(-1e6, 1e6, allow_nan=False),
)
strings = st.one_of(st.none(), st.sampled_from(["", "a", "b", "ab", "ba", "A", "é", "a%"]))
HOUR = 3_600_000_000
times_us = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([-HOUR, -HOUR - 1, HOUR - 1, 86_400_000_000, -86_400_000_000 - 7]),
    st.integers(-10**13, 10**13),  # 1653 .. 2286
)
rows = st.tuples(ints, floats, strings, st.one_of(st.none(), times_us))


@dataclass(frozen=True)
class Changes:
    """One input chunk as raw values: rows, and weights (None: append-only); `padding`
    rows before and after make the batch a slice of a larger one (non-zero offsets)."""

    rows: list[Row]
    weights: list[int] | None
    padding: list[Row] = field(default_factory=list)


Step = Changes | Watermark


def batch_of(rows_: Sequence[Row], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for index, column in enumerate(schema):
        values = [row[index] for row in rows_]
        if pa.types.is_timestamp(column.type):
            arrays.append(pa.array(values, type=pa.int64()).cast(column.type))
        else:
            arrays.append(pa.array(values, type=column.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def chunk_of(step: Changes, schema: pa.Schema) -> Chunk:
    pad, n = len(step.padding), len(step.rows)
    batch = batch_of([*step.padding, *step.rows, *step.padding], schema).slice(pad, n)
    if step.weights is None:
        return Chunk(batch)
    weights = np.array([7] * pad + step.weights + [7] * pad, dtype=np.int64)
    return Chunk(batch, weights[pad:pad + n])


@st.composite
def streams(draw: st.DrawFn, watermark_share: int = 3) -> list[Step]:
    """Chunks drawn from a small pool of rows (so rows repeat, and retractions meet the
    rows they retract), with watermarks in between."""
    pool = draw(st.lists(rows, min_size=1, max_size=6))
    steps: list[Step] = []
    for _ in range(draw(st.integers(0, 7))):
        if draw(st.integers(0, 9)) < watermark_share:
            steps.append(Watermark(draw(times_us)))
            continue
        picked = draw(st.lists(st.sampled_from(pool), max_size=8))
        padding = draw(st.lists(rows, max_size=2))
        if draw(st.booleans()):
            steps.append(Changes(picked, None, padding))
        else:
            weights = draw(st.lists(st.integers(-3, 3), min_size=len(picked),
                                    max_size=len(picked)))
            steps.append(Changes(picked, weights, padding))
    return steps


def nonzero(counter: Counter[Row]) -> Counter[Row]:
    """Without the rows of weight 0 (negative weights stay: a Z-set)."""
    return Counter({row: weight for row, weight in counter.items() if weight != 0})


def consolidated(steps: Sequence[Step]) -> Counter[Row]:
    """The integrated input: raw row -> sum of weights (NaN as Key.NAN)."""
    total: Counter[Row] = Counter()
    for step in steps:
        if isinstance(step, Changes):
            weights = step.weights if step.weights is not None else [1] * len(step.rows)
            for row, weight in zip(step.rows, weights, strict=True):
                total[norm(row)] += weight
    return nonzero(total)


# ------------------------------------------------------------------ driving an operator


class Collector(Operator):
    """A sink node: records every message the operator under test emits."""

    name = "collector"

    def __init__(self, schema: pa.Schema) -> None:
        super().__init__(schema)
        self.received: list[Message] = []

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        self.received.append(chunk)
        return []

    def on_watermark(self, watermark: Watermark, port: int) -> list[Message]:
        self.received.append(watermark)
        return []

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        self.received.append(barrier)
        return []


def run(operator: Operator, inputs: Sequence[Sequence[Step]],
        schemas: Sequence[pa.Schema]) -> list[Message]:
    """Push each input's steps (inputs interleaved round-robin), then a barrier on every
    port; return what the operator emitted."""
    node = Node(operator, operator.name)
    collector = Collector(operator.schema)
    node.connect(Node(collector, "collector"))
    cursors = [iter(steps) for steps in inputs]
    live = list(range(len(inputs)))
    while live:
        for port in list(live):
            step = next(cursors[port], None)
            if step is None:
                live.remove(port)
            elif isinstance(step, Watermark):
                push(node, step, port)
            else:
                push(node, chunk_of(step, schemas[port]), port)
    for port in range(len(inputs)):
        push(node, Barrier(1, 1), port)
    out = collector.received
    assert sum(isinstance(m, Barrier) for m in out) == 1  # aligned: one barrier out
    assert isinstance(out[-1], Barrier)
    for message in out:
        if isinstance(message, Chunk):
            assert message.batch.schema == operator.schema
            assert message.num_rows > 0  # the dataflow does not forward empty chunks
            if message.weights is not None:
                assert message.weights.dtype == np.int64
                assert len(message.weights) == message.num_rows
    return out


def expected_watermarks(inputs: Sequence[Sequence[Step]]) -> list[int]:
    """The minimum over the inputs of each input's highest watermark, each time it rises,
    once every input has one (inputs interleaved as `run` does)."""
    highest: list[int | None] = [None] * len(inputs)
    emitted: list[int] = []
    longest = max(len(steps) for steps in inputs)
    for position in range(longest):
        for port, steps in enumerate(inputs):
            if position >= len(steps):
                continue
            step = steps[position]
            if not isinstance(step, Watermark):
                continue
            current = highest[port]
            highest[port] = step.value if current is None else max(current, step.value)
            seen = [h for h in highest if h is not None]
            if len(seen) == len(inputs) and (not emitted or min(seen) > emitted[-1]):
                emitted.append(min(seen))
    return emitted


def watermarks(out: Sequence[Message]) -> list[int]:
    return [m.value for m in out if isinstance(m, Watermark)]


def output_rows(out: Sequence[Message]) -> Counter[Row]:
    return integrate(out, key=norm)


def python_rows(counter: Counter[Row], schema: pa.Schema) -> Counter[Row]:
    """Raw rows (times as microseconds) as Arrow gives them back."""
    total: Counter[Row] = Counter()
    for row, weight in counter.items():
        total[tuple(to_python(v, f.type) for v, f in zip(row, schema, strict=True))] += weight
    return nonzero(total)


# ------------------------------------------------------------------ the DuckDB twin


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    for statement in CONNECTION_SETUP:
        if "search_path" not in statement:
            connection.execute(statement)
    yield connection
    connection.close()


def duckdb_twin(connection: duckdb.DuckDBPyConnection, query: str,
                input_rows: Counter[Row], schema: pa.Schema) -> Counter[Row]:
    """`query` (over table t, selecting `w` last) on the consolidated input; the result
    integrated: output row -> sum of `w`."""
    items = list(input_rows.items())
    batch = batch_of([tuple(denorm(v) for v in row) for row, _ in items], schema)
    table = pa.Table.from_batches([batch]).append_column(
        "w", pa.array([w for _, w in items], type=pa.int64()))
    connection.register("t", table)
    try:
        result = connection.sql(query).to_arrow_table()
    finally:
        connection.unregister("t")
    total: Counter[Row] = Counter()
    for record in result.to_pylist():
        values = list(record.values())
        total[norm(tuple(values[:-1]))] += values[-1]
    return nonzero(total)


def parse(sql: str) -> exp.Expression:
    select = sqlglot.parse_one(f"SELECT {sql} FROM t", dialect=Laminar)
    assert isinstance(select, exp.Select)
    item: exp.Expression = select.expressions[0]
    return item


def compiled(sql: str, schema: pa.Schema) -> CompiledExpr:
    return compile_expr(parse(sql), schema)


# ------------------------------------------------------------------ Filter

PREDICATES = [
    "i > 0",
    "i % 3 = 1",
    "f < 0.5 OR s = 'b'",
    "f > 1",
    "f = f",
    "s LIKE 'a%'",
    "ts >= TIMESTAMP '1970-01-01 00:00:00'",
    "ts < TIMESTAMP '1969-12-31 23:00:00' OR ts IS NULL",
    "i IS NULL",
    "NOT (i BETWEEN -2 AND 2)",
    "coalesce(f, 0) > i",
    "s IS DISTINCT FROM 'a'",
    "i * 2 + 1 > f AND s <> ''",
    "TRUE",
    "FALSE",
    "NULL::boolean",
    "i > NULL",
]


@given(st.sampled_from(PREDICATES), streams())
def test_filter_integrates_to_the_where_clause(
        duck: duckdb.DuckDBPyConnection, predicate: str, steps: list[Step]) -> None:
    op = Filter(SCHEMA, compiled(predicate, SCHEMA))
    out = run(op, [steps], [SCHEMA])
    expected = duckdb_twin(duck, f"SELECT i, f, s, ts, w FROM t WHERE {predicate}",
                           consolidated(steps), SCHEMA)
    assert output_rows(out) == expected
    assert watermarks(out) == expected_watermarks([steps])


def test_filter_drops_null_and_false_rows_and_keeps_weights() -> None:
    schema = pa.schema([("k", pa.int64()), ("v", pa.int64())])
    chunk = changes("""
        +  1 10
        -2 2 .
        +3 . 5
        0  4 40
        -  5 50
    """, schema)
    out = Filter(schema, compiled("v > 9", schema)).on_chunk(chunk, 0)
    assert len(out) == 1 and isinstance(out[0], Chunk)
    assert out[0].batch.to_pylist() == [{"k": 1, "v": 10}, {"k": 4, "v": 40},
                                        {"k": 5, "v": 50}]
    assert out[0].weight_array().tolist() == [1, 0, -1]


# ------------------------------------------------------------------ Project

EXPRESSIONS = [
    "i", "s", "ts", "f",
    "i + 1",
    "i * 2 - 3",
    "i / 3",
    "i % 4",
    "abs(i)",
    "f * 2",
    "upper(s)",
    "s || 'x'",
    "length(s)",
    "coalesce(s, 'none')",
    "CASE WHEN i > 0 THEN 'pos' WHEN i < 0 THEN 'neg' ELSE 'zero' END",
    "i IS NULL",
    "i > 0 AND s = 'a'",
    "ts + INTERVAL '1 hour'",
    "date_trunc('hour', ts)",
    "i::text",
    "42",
    "'k'",
    "NULL",
]


def project_operator(sqls: Sequence[str], schema: pa.Schema) -> Project:
    """A Project as the planner builds one: plain columns are taken, not evaluated."""
    exprs = [parse(sql) for sql in sqls]
    compiled_ = [compile_expr(e, schema) for e in exprs]
    direct = [schema.names.index(e.name) if isinstance(e, exp.Column) else None
              for e in exprs]
    out_schema = pa.schema([pa.field(f"c{k}", c.type) for k, c in enumerate(compiled_)])
    return Project(out_schema, compiled_, direct)


@given(st.lists(st.sampled_from(EXPRESSIONS), max_size=5), streams())
def test_project_integrates_to_the_select_list(
        duck: duckdb.DuckDBPyConnection, sqls: list[str], steps: list[Step]) -> None:
    op = project_operator(sqls, SCHEMA)
    out = run(op, [steps], [SCHEMA])
    select = ", ".join([*(f"{sql} AS c{k}" for k, sql in enumerate(sqls)), "w"])
    expected = duckdb_twin(duck, f"SELECT {select} FROM t", consolidated(steps), SCHEMA)
    assert output_rows(out) == expected
    assert watermarks(out) == expected_watermarks([steps])


# ------------------------------------------------------------------ UnionAll

RIGHT_SCHEMA = schema_with(int_type=pa.int32())  # the union casts it to the left's types


@given(streams(), streams())
def test_union_all_integrates_to_the_multiset_sum(left: list[Step],
                                                  right: list[Step]) -> None:
    op = UnionAll(SCHEMA, 2)
    out = run(op, [left, right], [SCHEMA, RIGHT_SCHEMA])
    both = consolidated(left)
    both.update(consolidated(right))  # update adds, negative weights included
    expected = python_rows(both, SCHEMA)
    assert output_rows(out) == expected
    assert watermarks(out) == expected_watermarks([left, right])


def test_union_all_waits_for_a_watermark_on_both_inputs() -> None:
    op = UnionAll(SCHEMA, 2)
    assert op.on_watermark(Watermark(50), 0) == []
    assert op.on_watermark(Watermark(80), 0) == []
    assert op.on_watermark(Watermark(10), 1) == [Watermark(10)]
    assert op.on_watermark(Watermark(5), 1) == []  # an input going back changes nothing
    assert op.on_watermark(Watermark(100), 1) == [Watermark(80)]
    assert op.on_watermark(Watermark(90), 0) == [Watermark(90)]


# ------------------------------------------------------------------ WindowAssign


def tumble_windows(ts: int, size: int) -> list[int]:
    return [ts // size * size]


def hop_windows(ts: int, slide: int, size: int) -> list[int]:
    """Every start s, a multiple of slide, with s <= ts < s + size."""
    first = ((ts - size) // slide + 1) * slide
    return list(range(first, ts + 1, slide))


def windows_twin(input_rows: Counter[Row], schema: pa.Schema, size: int,
                 slide: int | None) -> Counter[Row]:
    out: Counter[Row] = Counter()
    time_type = schema.field("ts").type
    for row, weight in input_rows.items():
        ts = row[3]
        if ts is None:
            continue
        starts = tumble_windows(ts, size) if slide is None else hop_windows(ts, slide, size)
        for start in starts:
            assert start <= ts < start + size
            out[(*row, start, start + size)] += weight
    with_windows = pa.schema([*schema, pa.field("window_start", time_type),
                              pa.field("window_end", time_type)])
    return python_rows(out, with_windows)


def window_operator(schema: pa.Schema, size: int, slide: int | None) -> WindowAssign:
    time_type = schema.field("ts").type
    out_schema = pa.schema([*schema, pa.field("window_start", time_type),
                            pa.field("window_end", time_type)])
    return WindowAssign(out_schema, schema.names.index("ts"), size, slide)


sizes = st.one_of(st.sampled_from([1, 7, 1000, HOUR, 86_400_000_000]),
                  st.integers(1, 10**9))
time_types = st.sampled_from([TS, TS_UTC])


@given(sizes, time_types, streams())
def test_tumble_assigns_the_floor_window(size: int, time_type: pa.DataType,
                                         steps: list[Step]) -> None:
    schema = schema_with(time_type)
    out = run(window_operator(schema, size, None), [steps], [schema])
    assert output_rows(out) == windows_twin(consolidated(steps), schema, size, None)
    assert watermarks(out) == expected_watermarks([steps])


@given(st.one_of(st.sampled_from([1, 10, 1000, HOUR]), st.integers(1, 10**8)),
       st.integers(1, 5), time_types, streams())
def test_hop_assigns_every_window_holding_the_time(slide: int, per: int,
                                                   time_type: pa.DataType,
                                                   steps: list[Step]) -> None:
    schema = schema_with(time_type)
    size = slide * per
    out = run(window_operator(schema, size, slide), [steps], [schema])
    assert output_rows(out) == windows_twin(consolidated(steps), schema, size, slide)
    assert watermarks(out) == expected_watermarks([steps])


def test_windows_before_1970_floor_and_null_times_drop() -> None:
    schema = pa.schema([("k", pa.int64()), ("ts", TS)])
    chunk = changes("""
        +  1 -1
        -2 2 -10
        +  3 .
        +  4 9
    """, schema)
    tumble = WindowAssign(pa.schema([*schema, ("window_start", TS), ("window_end", TS)]),
                          1, 10)
    (out,) = tumble.on_chunk(chunk, 0)
    assert isinstance(out, Chunk)
    columns = [c.cast(pa.int64()).to_pylist() for c in out.batch.columns]
    assert list(zip(*columns, strict=True)) == [(1, -1, -10, 0), (2, -10, -10, 0),
                                                (4, 9, 0, 10)]
    assert out.weight_array().tolist() == [1, -2, 1]
    hop = WindowAssign(tumble.schema, 1, 30, 10)
    (out,) = hop.on_chunk(chunk, 0)
    assert isinstance(out, Chunk)
    starts = out.batch.column("window_start").cast(pa.int64()).to_pylist()
    assert starts == [-10, -20, -30, -10, -20, -30, 0, -10, -20]
    assert out.weight_array().tolist() == [1, 1, 1, -2, -2, -2, 1, 1, 1]
