"""HashAggregate against a plain-Python twin over the consolidated input.

The twin (`reference`) groups the accumulated multiset of input rows and evaluates each
aggregate the way PostgreSQL defines it; the operator's output change stream, integrated
after every barrier (or watermark, with EMIT ON WINDOW CLOSE), must equal it. string_agg
and array_agg, whose order PostgreSQL leaves unspecified without ORDER BY, are defined
here as ascending by value (strings by their UTF-8 bytes; array_agg's NULLs last).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.dataflow import Node, push
from laminar_pg.engine.messages import Barrier, Chunk, Message, Watermark
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators.aggregate_calls import SequenceAccumulator
from laminar_pg.engine.operators.hash_aggregate import AggregateCall, HashAggregate
from laminar_pg.errcodes import FeatureNotSupported, NumericValueOutOfRange, UndefinedFunction
from laminar_pg.sql.dialect import Laminar
from laminar_pg.sql.planner import Planner, Relation
from tests.engine.changes import Row, changes, integrate

SCHEMA = pa.schema([
    ("k1", pa.int64()), ("k2", pa.string()), ("vi", pa.int64()), ("vf", pa.float64()),
    ("vs", pa.string()), ("vb", pa.bool_()), ("vd", pa.decimal128(10, 2)),
    ("flag", pa.bool_()), ("wend", pa.timestamp("us")),
])
K1, K2, VI, VF, VS, VB, VD, FLAG, WEND = range(9)
EPOCH = datetime(1970, 1, 1)

VALUES: list[st.SearchStrategy[Any]] = [
    st.sampled_from([None, 0, 1, 2]),
    st.sampled_from([None, "a", "b"]),
    st.sampled_from([None, -3, -1, 0, 2, 5, 2**40]),
    st.sampled_from([None, -1.5, -0.0, 0.0, 0.5, 2.0, math.inf, -math.inf, math.nan]),
    st.sampled_from([None, "", "a", "ab", "b", "é", "Z", "a, b", "🙂x", "ß"]),
    st.sampled_from([None, True, False]),
    st.sampled_from([None, Decimal("-1.25"), Decimal("0.00"), Decimal("3.10"),
                     Decimal("99999999.99")]),
    st.sampled_from([None, True, False]),
    st.sampled_from([10, 20, 30, 40, 50]),
]
row_strategy = st.tuples(*VALUES)

# (function, argument, output type)
SIGNATURES: list[tuple[str, int | None, pa.DataType]] = [
    ("count_star", None, pa.int64()),
    *[("count", c, pa.int64()) for c in (VI, VF, VS, VB, VD)],
    ("sum", VI, pa.int64()), ("sum", VI, pa.decimal128(38, 0)), ("sum", VF, pa.float64()),
    ("sum", VD, pa.decimal128(38, 2)),
    ("avg", VI, pa.float64()), ("avg", VI, pa.decimal128(38, 4)), ("avg", VF, pa.float64()),
    ("avg", VD, pa.decimal128(38, 6)),
    *[(f, c, SCHEMA.field(c).type) for f in ("min", "max") for c in (VI, VF, VS, VB, VD, WEND)],
    ("bool_and", VB, pa.bool_()), ("bool_or", VB, pa.bool_()),
    ("string_agg", VS, pa.string()), ("string_agg", K2, pa.string()),
    *[("array_agg", c, pa.list_(SCHEMA.field(c).type)) for c in (VS, VI, VF, VD, WEND)],
]
SEPARATORS = [", ", "", ",", None, " → "]


@st.composite
def calls_strategy(draw: st.DrawFn) -> list[AggregateCall]:
    signatures = draw(st.lists(st.sampled_from(SIGNATURES), min_size=1, max_size=5))
    calls = []
    for i, (function, argument, output_type) in enumerate(signatures):
        distinct = function not in ("count_star", "bool_and", "bool_or") and draw(st.booleans())
        filter = draw(st.sampled_from([None, FLAG, VB]))  # VB: a second filter column
        ordered: dict[str, Any] = {}
        if function in ("string_agg", "array_agg"):
            ordered["descending"] = draw(st.booleans())
        if function == "string_agg":
            ordered["separator"] = draw(st.sampled_from(SEPARATORS))
        calls.append(AggregateCall(function=function, argument=argument,
                                   output_type=output_type, name=f"a{i}",
                                   distinct=distinct, filter=filter, **ordered))
    return calls


# --- the twin ---------------------------------------------------------------------------


def norm(value: Any) -> Any:
    """Identity of a value for grouping and comparison: NaN = NaN, -0.0 = 0.0."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else value + 0.0
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(microseconds=1)
    if isinstance(value, list):
        return tuple(norm(v) for v in value)
    return value


def norm_row(row: Row) -> Row:
    return tuple(norm(v) for v in row)


def order_key(value: Any) -> Any:
    if isinstance(value, float):
        return (1, 0.0) if math.isnan(value) else (0, value + 0.0)
    return value


def value_key(value: Any) -> Any:
    """string_agg / array_agg order: strings by their UTF-8 bytes, NULLs last."""
    if value is None:
        return (1, 0)
    return (0, value.encode() if isinstance(value, str) else order_key(value))


def evaluate_ordered(call: AggregateCall, rows: list[tuple[Row, int]]) -> Any:
    """string_agg (NULLs skipped) and array_agg (NULLs kept)."""
    assert call.argument is not None
    args = [(r[call.argument], m) for r, m in rows
            if call.function == "array_agg" or r[call.argument] is not None]
    if call.distinct:
        firsts: dict[Any, Any] = {}
        for value, _ in args:
            firsts.setdefault(norm(value), value)
        args = [(v, 1) for v in firsts.values()]
    values = sorted((v for v, m in args for _ in range(m)), key=value_key,
                    reverse=call.descending)
    if not values:
        return None
    if call.function == "array_agg":
        return values
    return (call.separator or "").join(values)


def evaluate(call: AggregateCall, members: list[tuple[Row, int]]) -> Any:
    rows = [(r, m) for r, m in members if call.filter is None or r[call.filter] is True]
    if call.function == "count_star":
        return sum(m for _, m in rows)
    if call.function in ("string_agg", "array_agg"):
        return evaluate_ordered(call, rows)
    assert call.argument is not None
    args = [(r[call.argument], m) for r, m in rows if r[call.argument] is not None]
    if call.distinct:
        firsts: dict[Any, Any] = {}
        for value, _ in args:
            firsts.setdefault(norm(value), value)
        args = [(v, 1) for v in firsts.values()]
    count = sum(m for _, m in args)
    if call.function == "count":
        return count
    if not args:
        return None
    if call.function in ("min", "max"):
        pick = max if call.function == "max" else min
        return pick((v for v, _ in args), key=order_key)
    if call.function in ("bool_and", "bool_or"):
        truth = [bool(v) for v, _ in args]
        return all(truth) if call.function == "bool_and" else any(truth)
    total = sum((v * m for v, m in args), start=type(args[0][0])())
    out = call.output_type
    if call.function == "sum":
        return Decimal(total) if pa.types.is_decimal(out) else total
    if pa.types.is_decimal(out):
        with localcontext() as ctx:
            ctx.prec = 80
            return (Decimal(total) / count).quantize(Decimal(1).scaleb(-out.scale),
                                                     rounding=ROUND_HALF_UP)
    return total / count


def reference(multiset: dict[Row, tuple[Row, int]], group_by: list[int],
              calls: list[AggregateCall]) -> Counter[Row]:
    groups: dict[Row, list[tuple[Row, int]]] = defaultdict(list)
    for row, m in multiset.values():
        if m > 0:
            groups[tuple(norm(row[i]) for i in group_by)].append((row, m))
    if not group_by and not groups:
        groups[()] = []
    expected: Counter[Row] = Counter()
    for key, members in groups.items():
        expected[key + tuple(norm(evaluate(c, members)) for c in calls)] += 1
    return expected


# --- driving the operator ---------------------------------------------------------------


def output_schema(group_by: list[int], calls: list[AggregateCall]) -> pa.Schema:
    return pa.schema([SCHEMA.field(i) for i in group_by]
                     + [pa.field(c.name, c.output_type) for c in calls])


def make_chunk(entries: list[tuple[Row, int]]) -> Chunk:
    columns = [[r[i] for r, _ in entries] for i in range(len(SCHEMA))]
    arrays = [pa.array(col, type=f.type) if i != WEND
              else pa.array(col, type=pa.int64()).cast(f.type)
              for i, (f, col) in enumerate(zip(SCHEMA, columns, strict=True))]
    weights = [w for _, w in entries]
    batch = pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)
    if all(w == 1 for w in weights):
        return Chunk(batch)
    return Chunk(batch, np.array(weights, dtype=np.int64))


@st.composite
def epoch_changes(draw: st.DrawFn, multiset: dict[Row, tuple[Row, int]],
                  append_only: bool) -> list[list[tuple[Row, int]]]:
    """One epoch's changes, split in chunks: inserts, deletes of present rows, pairs
    that cancel within the epoch (the retraction first), zero weights, duplicates."""
    entries = [(r, draw(st.integers(1, 2))) for r in draw(st.lists(row_strategy,
                                                                   max_size=8))]
    entries += [(r, 0) for r in draw(st.lists(row_strategy, max_size=1))]
    cancel: list[Row] = []
    if not append_only:
        present = [row for row, m in multiset.values() if m > 0]
        if present:
            for row in draw(st.lists(st.sampled_from(present), max_size=4, unique_by=norm_row)):
                entries.append((row, -draw(st.integers(1, multiset[norm_row(row)][1]))))
        cancel = draw(st.lists(row_strategy, max_size=2))
    entries = draw(st.permutations(entries))
    cuts = sorted(draw(st.lists(st.integers(0, len(entries)), max_size=2)))
    chunks = [entries[a:b] for a, b in zip([0, *cuts], [*cuts, len(entries)], strict=True)]
    for row in cancel:  # the retraction in the first chunk, its insertion in the last
        chunks[0].append((row, -1))
        chunks[-1].append((row, 1))
    return [c for c in chunks if c]


def add(multiset: dict[Row, tuple[Row, int]], entries: list[tuple[Row, int]]) -> None:
    for row, weight in entries:
        key = norm_row(row)
        old = multiset.get(key, (row, 0))
        multiset[key] = (old[0], old[1] + weight)


@given(st.data())
def test_emit_changes_matches_the_twin(data: st.DataObject) -> None:
    group_by = data.draw(st.sampled_from([[], [K1], [K2, K1]]), label="group_by")
    calls = data.draw(calls_strategy(), label="calls")
    append_only = data.draw(st.booleans(), label="append_only")
    op = HashAggregate(SCHEMA, group_by, calls, output_schema(group_by, calls),
                       append_only=append_only)
    multiset: dict[Row, tuple[Row, int]] = {}
    integrated: Counter[Row] = Counter()
    for epoch in range(data.draw(st.integers(1, 4), label="epochs")):
        chunks = data.draw(epoch_changes(multiset, append_only), label=f"epoch {epoch}")
        for entries in chunks:
            add(multiset, entries)
            assert op.on_chunk(make_chunk(entries), 0) == []
        out = op.on_barrier(Barrier(epoch + 1, epoch + 1))
        assert all(m.weights is not None for m in out if isinstance(m, Chunk))
        integrate(out, integrated, key=norm_row)
        assert all(w == 1 for w in integrated.values()), integrated
        assert integrated == reference(multiset, group_by, calls)
        assert op.groups == (1 if not group_by else len(integrated))
        assert all(m >= 0 for _, m in multiset.values())


@given(st.data())
def test_distinct_calls_sharing_an_argument_under_several_filters(data: st.DataObject) -> None:
    """Nexmark q16's shape: count(DISTINCT x) FILTER (...) for several filters and two
    arguments; the calls of one argument share a pair index with a lane per filter."""
    group_by = data.draw(st.sampled_from([[], [K1]]), label="group_by")
    calls = [AggregateCall(function=f, argument=a, output_type=t, name=f"a{i}",
                           distinct=True, filter=flt)
             for i, (f, a, t, flt) in enumerate([
                 ("count", VI, pa.int64(), None), ("count", VI, pa.int64(), FLAG),
                 ("count", VI, pa.int64(), VB), ("sum", VI, pa.int64(), FLAG),
                 ("count", VS, pa.int64(), None), ("count", VS, pa.int64(), VB),
                 ("avg", VF, pa.float64(), FLAG)])]
    append_only = data.draw(st.booleans(), label="append_only")
    op = HashAggregate(SCHEMA, group_by, calls, output_schema(group_by, calls),
                       append_only=append_only)
    assert sorted(len(index.filters) for index in op.pairs) == [1, 2, 3]
    assert all(index.append_only == append_only for index in op.pairs)
    multiset: dict[Row, tuple[Row, int]] = {}
    integrated: Counter[Row] = Counter()
    for epoch in range(data.draw(st.integers(1, 4), label="epochs")):
        for entries in data.draw(epoch_changes(multiset, append_only), label=f"epoch {epoch}"):
            add(multiset, entries)
            op.on_chunk(make_chunk(entries), 0)
        integrate(op.on_barrier(Barrier(epoch + 1, epoch + 1)), integrated, key=norm_row)
        assert integrated == reference(multiset, group_by, calls)


@given(st.data())
def test_emit_on_window_close_matches_the_twin(data: st.DataObject) -> None:
    group_by = data.draw(st.sampled_from([[WEND], [WEND, K1], [K2, WEND]]), label="group_by")
    calls = data.draw(calls_strategy(), label="calls")
    append_only = data.draw(st.booleans(), label="append_only")
    op = HashAggregate(SCHEMA, group_by, calls, output_schema(group_by, calls),
                       close_column=group_by.index(WEND), append_only=append_only)
    accepted: dict[Row, tuple[Row, int]] = {}
    closed_upto = -1
    late = 0
    expected: Counter[Row] = Counter()
    integrated: Counter[Row] = Counter()
    watermark = 0
    for step in range(data.draw(st.integers(1, 8), label="steps")):
        kind = data.draw(st.sampled_from(["chunk", "chunk", "watermark", "barrier"]))
        out: list[Message] = []
        if kind == "chunk":
            entries = data.draw(epoch_changes(accepted, append_only), label=f"step {step}")
            for part in entries:
                for row, weight in part:
                    if row[WEND] <= closed_upto:
                        late += 1
                    else:
                        add(accepted, [(row, weight)])
                out += op.on_chunk(make_chunk(part), 0)
        elif kind == "barrier":
            out += op.on_barrier(Barrier(step + 1, step + 1))
        else:
            watermark += data.draw(st.sampled_from([0, 5, 10, 25]))
            out += op.on_watermark(Watermark(watermark), 0)
            assert (out[-1] == Watermark(watermark)) if watermark > closed_upto else out == []
            if watermark > closed_upto:
                closing = {k: v for k, v in accepted.items() if v[0][WEND] <= watermark}
                expected += reference(closing, group_by, calls)
                for key in closing:
                    del accepted[key]
                closed_upto = watermark
        assert all(m.weights is None for m in out if isinstance(m, Chunk))
        integrate(out, integrated, key=norm_row)
        assert integrated == expected
        assert op.late_rows == late


@given(st.data())
def test_emit_changes_forgets_closed_windows(data: st.DataObject) -> None:
    """EMIT CHANGES over windows with a watermark: once it passes a window's end, the
    window's groups leave the state at the next barrier (their last rows stand) and later
    rows for it are dropped as late; the integrated output is that of every accepted row."""
    group_by = data.draw(st.sampled_from([[WEND], [WEND, K1], [K2, WEND]]), label="group_by")
    calls = data.draw(calls_strategy(), label="calls")
    append_only = data.draw(st.booleans(), label="append_only")
    op = HashAggregate(SCHEMA, group_by, calls, output_schema(group_by, calls),
                       forget_column=group_by.index(WEND), append_only=append_only)
    open_rows: dict[Row, tuple[Row, int]] = {}
    closed_rows: dict[Row, tuple[Row, int]] = {}
    closed_upto, late, watermark = -1, 0, 0
    integrated: Counter[Row] = Counter()
    for step in range(data.draw(st.integers(1, 10), label="steps")):
        kind = data.draw(st.sampled_from(["chunk", "chunk", "watermark", "barrier"]))
        if kind == "chunk":
            for part in data.draw(epoch_changes(open_rows, append_only), label=f"step {step}"):
                for row, weight in part:
                    if row[WEND] <= closed_upto:
                        late += 1
                    else:
                        add(open_rows, [(row, weight)])
                assert op.on_chunk(make_chunk(part), 0) == []
        elif kind == "watermark":
            watermark += data.draw(st.sampled_from([0, 5, 10, 25]))
            out = op.on_watermark(Watermark(watermark), 0)
            assert all(not isinstance(m, Chunk) for m in out)
            if watermark > closed_upto:
                for key in [k for k, v in open_rows.items() if v[0][WEND] <= watermark]:
                    closed_rows[key] = open_rows.pop(key)
                closed_upto = watermark
        else:
            integrate(op.on_barrier(Barrier(step + 1, step + 1)), integrated, key=norm_row)
            everything = {**closed_rows, **open_rows}
            assert integrated == reference(everything, group_by, calls)
            assert op.groups == len(reference(open_rows, group_by, calls))
        assert op.late_rows == late


# --- examples ---------------------------------------------------------------------------

S2 = pa.schema([("k", pa.int64()), ("v", pa.int64())])


INT64 = pa.int64()


def call(function: str, argument: int | None, output_type: pa.DataType = INT64,
         **kwargs: Any) -> AggregateCall:
    return AggregateCall(function=function, argument=argument, output_type=output_type,
                         name=f"{function}_{argument}", **kwargs)


def run(op: HashAggregate, *texts: str) -> list[Counter[Row]]:
    """Feed each text as one epoch; the integrated output after each barrier (lists
    become tuples)."""
    integrated: Counter[Row] = Counter()
    states = []
    for epoch, text in enumerate(texts, start=1):
        if text.strip():
            op.on_chunk(changes(text, op.input_schema), 0)
        integrate(op.on_barrier(Barrier(epoch, epoch)), integrated,
                  key=lambda row: tuple(tuple(v) if isinstance(v, list) else v for v in row))
        states.append(Counter(integrated))
    return states


def test_max_falls_back_to_the_next_value_after_retraction() -> None:
    op = HashAggregate(S2, [0], [call("max", 1), call("min", 1), call("count_star", None)],
                       pa.schema([("k", pa.int64()), ("mx", pa.int64()), ("mn", pa.int64()),
                                  ("n", pa.int64())]))
    states = run(op, """
        + 1 5
        + 1 9
        +2 1 7
        + 2 3
    """, """
        - 1 9
    """, """
        - 1 5
        -2 1 7
    """)
    assert states[0] == Counter({(1, 9, 5, 4): 1, (2, 3, 3, 1): 1})
    assert states[1] == Counter({(1, 7, 5, 3): 1, (2, 3, 3, 1): 1})
    assert states[2] == Counter({(2, 3, 3, 1): 1})
    assert op.groups == 1


def test_global_aggregate_has_one_row_from_the_first_barrier() -> None:
    op = HashAggregate(S2, [], [call("count_star", None), call("sum", 1), call("max", 1)],
                       pa.schema([("n", pa.int64()), ("s", pa.int64()), ("m", pa.int64())]))
    states = run(op, "", "+ 1 4", "- 1 4", "")
    assert states == [Counter({(0, None, None): 1}), Counter({(1, 4, 4): 1}),
                      Counter({(0, None, None): 1}), Counter({(0, None, None): 1})]


def test_untouched_and_unchanged_groups_emit_nothing() -> None:
    op = HashAggregate(S2, [0], [call("count_star", None)],
                       pa.schema([("k", pa.int64()), ("n", pa.int64())]))
    op.on_chunk(changes("+ 1 1\n+ 2 2", S2), 0)
    assert len(op.on_barrier(Barrier(1, 1))) == 1
    op.on_chunk(changes("+ 1 5\n- 1 5", S2), 0)  # touched, result unchanged
    assert op.on_barrier(Barrier(2, 2)) == []


def test_sum_overflow_is_22003_and_decimal_sum_is_exact() -> None:
    big = 2**62
    text = f"+ 1 {big}\n+ 1 {big}"
    op = HashAggregate(S2, [0], [call("sum", 1)],
                       pa.schema([("k", pa.int64()), ("s", pa.int64())]))
    op.on_chunk(changes(text, S2), 0)
    with pytest.raises(NumericValueOutOfRange):
        op.on_barrier(Barrier(1, 1))
    wide = HashAggregate(S2, [0], [call("sum", 1, pa.decimal128(38, 0))],
                         pa.schema([("k", pa.int64()), ("s", pa.decimal128(38, 0))]))
    assert run(wide, text, f"-1 1 {big}\n+5 1 -{big}")[-1] == Counter(
        {(1, Decimal(-4 * big)): 1})


def test_late_rows_are_dropped_and_counted() -> None:
    schema = pa.schema([("w", pa.timestamp("ms")), ("v", pa.int64())])
    op = HashAggregate(schema, [0], [call("count_star", None)],
                       pa.schema([("w", pa.timestamp("ms")), ("n", pa.int64())]),
                       close_column=0)
    assert op.on_chunk(changes("+ 1 1\n+ 2 1\n+ 2 5", schema), 0) == []
    out = op.on_watermark(Watermark(1_999), 0)  # 1.999 ms: window 1 closed, 2 open
    assert [m.batch.to_pylist() for m in out if isinstance(m, Chunk)] == [
        [{"w": datetime(1970, 1, 1, 0, 0, 0, 1000), "n": 1}]]
    assert out[-1] == Watermark(1_999)
    op.on_chunk(changes("+ 1 7\n+ 2 7", schema), 0)
    assert op.late_rows == 1
    out = op.on_watermark(Watermark(2_000), 0)
    assert out[0].batch.column(1).to_pylist() == [3]  # type: ignore[union-attr]
    assert op.groups == 0


def test_state_bytes_counts_the_arrays() -> None:
    op = HashAggregate(S2, [0], [call("count_star", None), call("max", 1)],
                       pa.schema([("k", pa.int64()), ("n", pa.int64()), ("m", pa.int64())]),
                       append_only=True)
    before = op.state_bytes()
    keys = np.arange(100_000, dtype=np.int64)
    op.on_chunk(Chunk(pa.RecordBatch.from_arrays([pa.array(keys), pa.array(keys)],
                                                 schema=S2)), 0)
    assert op.groups == 100_000
    assert op.state_bytes() > before + 100_000 * 8 * 4
    with pytest.raises(ValueError):
        op.on_chunk(changes("- 1 1", S2), 0)


@pytest.mark.parametrize("value_type", [pa.int64(), pa.string(), pa.decimal128(30, 2),
                                        pa.float64()])
def test_min_max_under_heavy_retraction(value_type: pa.DataType) -> None:
    """Thousands of values per group, the current extremes retracted epoch after epoch
    (heaps pruned lazily, compacted and repacked), against a plain multiset."""
    rng = np.random.default_rng(5)
    schema = pa.schema([("k", pa.int64()), ("v", value_type)])
    calls = [call("min", 1, value_type), call("max", 1, value_type),
             call("count", 1, distinct=True)]
    op = HashAggregate(schema, [0], calls,
                       pa.schema([("k", pa.int64()), ("mn", value_type), ("mx", value_type),
                                  ("d", pa.int64())]))

    def value(i: int) -> Any:
        if pa.types.is_string(value_type):
            return f"v{i:05d}"[::-1]  # byte order differs from numeric order
        if pa.types.is_decimal(value_type):
            return Decimal(i - 1500) * Decimal("1234567890123.25")
        return float(i - 1500) / 4 if pa.types.is_floating(value_type) else i * 7919 % 3001

    present: Counter[tuple[int, int]] = Counter()
    integrated: Counter[Row] = Counter()
    for epoch in range(12):
        entries: list[tuple[int, int, int]] = []
        for _ in range(1500 if epoch < 3 else 200):
            entries.append((int(rng.integers(0, 3)), int(rng.integers(0, 3000)), 1))
        for g in range(3):  # retract the extremes and some others
            values = sorted({v for (k, v), m in present.items() if k == g and m > 0},
                            key=value)
            for v in values[:40] + values[-40:] + values[40:-40:7]:
                entries.append((g, v, -present[(g, v)]))
        for g, v, w in entries:
            present[(g, v)] += w
        order = rng.permutation(len(entries))
        batch = pa.RecordBatch.from_arrays(
            [pa.array([entries[i][0] for i in order], type=pa.int64()),
             pa.array([value(entries[i][1]) for i in order], type=value_type)], schema=schema)
        op.on_chunk(Chunk(batch, np.array([entries[i][2] for i in order], np.int64)), 0)
        integrate(op.on_barrier(Barrier(epoch + 1, epoch + 1)), integrated)
        expected: Counter[Row] = Counter()
        for g in range(3):
            values = [value(v) for (k, v), m in present.items() if k == g and m > 0]
            if values:
                expected[(g, min(values), max(values), len(values))] += 1
        assert integrated == expected
    heaps = op.pairs[0].heaps.values()
    assert all(h.meta[2] > 0 for h in heaps)  # segments were compacted


def test_distinct_sum_and_avg_over_retractions() -> None:
    calls = [call("sum", 1, distinct=True), call("avg", 1, pa.float64(), distinct=True),
             call("count", 1, distinct=True), call("count", 1)]
    op = HashAggregate(S2, [], calls, pa.schema([(c.name + str(i), c.output_type)
                                                 for i, c in enumerate(calls)]))
    states = run(op, "+ 1 3\n+ 1 3\n+ 2 5\n+ 1 .", "- 1 3", "- 1 3\n+ 9 5", "-2 9 5")
    assert states == [Counter({(8, 4.0, 2, 3): 1}), Counter({(8, 4.0, 2, 2): 1}),
                      Counter({(5, 5.0, 1, 2): 1}), Counter({(None, None, 0, 0): 1})]


def test_decimal_average_rounds_half_away_from_zero_and_rescales() -> None:
    calls = [call("avg", 1, pa.decimal128(38, 0)), call("avg", 1, pa.decimal128(38, 20)),
             call("sum", 1, pa.decimal128(38, 19))]
    op = HashAggregate(S2, [0], calls, pa.schema(
        [("k", pa.int64())] + [(f"c{i}", c.output_type) for i, c in enumerate(calls)]))
    state = run(op, "+ 1 1\n+ 1 2\n+ 2 -1\n+ 2 -2\n+ 3 2\n+ 3 2\n+ 3 3")[-1]
    assert state == Counter({
        (1, Decimal(2), Decimal("1.5"), Decimal(3)): 1,
        (2, Decimal(-2), Decimal("-1.5"), Decimal(-3)): 1,
        (3, Decimal(2), Decimal("2.33333333333333333333"), Decimal(7)): 1,
    })
    too_big = HashAggregate(S2, [0], [call("sum", 1, pa.decimal128(20, 2))],
                            pa.schema([("k", pa.int64()), ("s", pa.decimal128(20, 2))]))
    too_big.on_chunk(changes(f"+ 1 {2**62}\n+ 1 {2**62}", S2), 0)
    with pytest.raises(NumericValueOutOfRange):
        too_big.on_barrier(Barrier(1, 1))


# --- string_agg / array_agg -------------------------------------------------------------

S3 = pa.schema([("k", pa.int64()), ("s", pa.string()), ("f", pa.bool_())])


def test_string_agg_orders_repeats_filters_and_retracts() -> None:
    calls = [call("string_agg", 1, pa.string(), separator=", "),
             call("string_agg", 1, pa.string(), separator="|", descending=True,
                  distinct=True),
             call("string_agg", 1, pa.string(), separator=None, filter=2),
             call("array_agg", 1, pa.list_(pa.string()), descending=True)]
    op = HashAggregate(S3, [0], calls, pa.schema(
        [("k", pa.int64())] + [(f"c{i}", c.output_type) for i, c in enumerate(calls)]))
    states = run(op, """
        + 1 b t
        +2 1 a f
        + 1 . t
        + 2 é t
        + 2 Z t
        + 1 c f
    """, """
        - 1 a f
        - 2 Z t
    """, """
        - 1 b t
        - 1 a f
        - 1 c f
        + 3 . t
    """)
    assert states[0] == Counter({  # DESC puts array_agg's NULLs first, as PostgreSQL does
        (1, "a, a, b, c", "c|b|a", "b", (None, "c", "b", "a", "a")): 1,
        (2, "Z, é", "é|Z", "Zé", ("é", "Z")): 1})
    assert states[1] == Counter({
        (1, "a, b, c", "c|b|a", "b", (None, "c", "b", "a")): 1,
        (2, "é", "é", "é", ("é",)): 1})
    assert states[2] == Counter({
        (1, None, None, None, (None,)): 1, (2, "é", "é", "é", ("é",)): 1,
        (3, None, None, None, (None,)): 1})


def test_string_agg_global_starts_null_and_returns_to_null() -> None:
    op = HashAggregate(S3, [], [call("string_agg", 1, pa.string(), separator="-")],
                       pa.schema([("s", pa.string())]))
    states = run(op, "", "+ 1 x t\n+ 1 . t\n+ 1 t t\n+2 9 t t", "- 1 x t\n-2 9 t t\n- 1 t t")
    assert states == [Counter({(None,): 1}), Counter({("t-t-t-x",): 1}),
                      Counter({(None,): 1})]


def test_string_agg_emits_nothing_when_only_the_pieces_change() -> None:
    """["a,b"] and ["a", "b"] join to the same string: the row stays; the content of
    its sequence is replaced under the same id."""
    op = HashAggregate(S3, [0], [call("string_agg", 1, pa.string(), separator=",")],
                       pa.schema([("k", pa.int64()), ("s", pa.string())]))
    assert len(op.on_chunk(changes("+ 1 a,b t", S3), 0)) == 0
    assert len(op.on_barrier(Barrier(1, 1))) == 1
    op.on_chunk(changes("- 1 a,b t\n+ 1 a t\n+ 1 b t", S3), 0)
    assert op.on_barrier(Barrier(2, 2)) == []
    op.on_chunk(changes("+ 1 a t", S3), 0)
    out = op.on_barrier(Barrier(3, 3))
    assert integrate(out) == Counter({(1, "a,b"): -1, (1, "a,a,b"): 1})


@pytest.mark.parametrize("distinct", [False, True])
@pytest.mark.parametrize("descending", [False, True])
def test_string_agg_and_array_agg_over_large_groups(distinct: bool, descending: bool) -> None:
    """Thousands of values a group, retractions epoch after epoch, against sorted plain
    lists: merged into the stored sequences at each barrier (EMIT CHANGES), and sorted
    whole (the merge sort's runs and merges) when the window closes."""
    rng = np.random.default_rng(7)
    schema = pa.schema([("k", pa.int64()), ("s", pa.string()), ("v", pa.int64()),
                        ("w", pa.int64())])
    opts = {"distinct": distinct, "descending": descending}
    calls = [call("string_agg", 1, pa.string(), separator=";", **opts),
             call("array_agg", 2, pa.list_(pa.int64()), **opts)]
    op = HashAggregate(schema, [0], calls, pa.schema(
        [("k", pa.int64()), ("s", pa.string()), ("a", pa.list_(pa.int64()))]))
    closing = HashAggregate(schema, [3, 0], calls, pa.schema(
        [("w", pa.int64()), ("k", pa.int64()), ("s", pa.string()),
         ("a", pa.list_(pa.int64()))]), close_column=0)
    alphabet = ["", "a", "b", "é", "Ω", "z", "🙂", "A"]
    present: Counter[tuple[int, int]] = Counter()
    integrated: Counter[Row] = Counter()

    def text(i: int) -> str:
        return "".join(alphabet[(i >> (3 * j)) % 8] for j in range(i % 4 + 1))

    for epoch in range(6):
        entries = [(int(rng.integers(0, 3)), int(rng.integers(0, 2000)), 1)
                   for _ in range(3000 if epoch == 0 else 300)]
        for g in range(3):
            live = sorted(v for (k, v), m in present.items() if k == g and m > 0)
            entries += [(g, v, -1) for v in live[::9]]
        for g, v, w in entries:
            present[(g, v)] += w
        batch = pa.RecordBatch.from_arrays(
            [pa.array([e[0] for e in entries], pa.int64()),
             pa.array([text(e[1]) for e in entries], pa.string()),
             pa.array([e[1] - 1000 for e in entries], pa.int64()),
             pa.array([7] * len(entries), pa.int64())], schema=schema)
        weights = np.array([e[2] for e in entries], np.int64)
        op.on_chunk(Chunk(batch, weights), 0)
        closing.on_chunk(Chunk(batch, weights), 0)
        integrate(op.on_barrier(Barrier(epoch + 1, epoch + 1)), integrated, key=norm_row)
        expected: Counter[Row] = Counter()
        for g in range(3):
            counted = [(v, m) for (k, v), m in present.items() if k == g and m > 0]
            texts = [text(v) for v, m in counted for _ in range(1 if distinct else m)]
            if distinct:
                texts = list(dict.fromkeys(texts))
            numbers = [v - 1000 for v, m in counted for _ in range(1 if distinct else m)]
            expected[(g, ";".join(sorted(texts, key=str.encode, reverse=descending)),
                      tuple(sorted(numbers, reverse=descending)))] += 1
        assert integrated == expected
    final = integrate(closing.on_watermark(Watermark(7), 0), key=norm_row)
    assert final == Counter({(7, *row): 1 for row in expected})


def test_string_agg_emits_each_window_once_when_it_closes() -> None:
    schema = pa.schema([("w", pa.timestamp("us")), ("s", pa.string()), ("f", pa.bool_())])
    calls = [call("string_agg", 1, pa.string(), separator="/", descending=True),
             call("string_agg", 1, pa.string(), separator="", distinct=True, filter=2)]
    op = HashAggregate(schema, [0], calls, pa.schema(
        [("w", pa.timestamp("us")), ("a", pa.string()), ("b", pa.string())]), close_column=0)
    op.on_chunk(changes("+ 10 b t\n+ 10 a f\n+2 10 c t\n+ 20 x t\n- 10 c t", schema), 0)
    assert op.on_barrier(Barrier(1, 1)) == []
    out = op.on_watermark(Watermark(10), 0)
    assert [m.batch.to_pylist() for m in out if isinstance(m, Chunk)] == [
        [{"w": datetime(1970, 1, 1, 0, 0, 0, 10), "a": "c/b/a", "b": "bc"}]]
    op.on_chunk(changes("+ 20 y f\n+ 30 z t", schema), 0)
    out = op.on_watermark(Watermark(30), 0)
    assert integrate(out) == Counter({(datetime(1970, 1, 1, 0, 0, 0, 20), "y/x", "x"): 1,
                                      (datetime(1970, 1, 1, 0, 0, 0, 30), "z", "z"): 1})
    assert op.groups == 0


def test_sequence_store_reuses_its_space_under_churn() -> None:
    op = HashAggregate(S3, [0], [call("string_agg", 1, pa.string(), separator=",")],
                       pa.schema([("k", pa.int64()), ("s", pa.string())]))
    keys = np.arange(200, dtype=np.int64)
    integrated: Counter[Row] = Counter()
    for epoch in range(60):
        values = pa.array([f"v{epoch}"] * 200)
        flags = pa.array([True] * 200)
        batch = pa.RecordBatch.from_arrays([pa.array(keys), values, flags], schema=S3)
        op.on_chunk(Chunk(batch), 0)
        if epoch:
            old = pa.array([f"v{epoch - 1}"] * 200)
            op.on_chunk(Chunk(pa.RecordBatch.from_arrays([pa.array(keys), old, flags],
                                                         schema=S3),
                              np.full(200, -1, np.int64)), 0)
        integrate(op.on_barrier(Barrier(epoch + 1, epoch + 1)), integrated)
    assert integrated == Counter({(k, "v59"): 1 for k in range(200)})
    acc = op.accumulators[0]
    assert isinstance(acc, SequenceAccumulator)
    assert len(acc.store) <= 400  # the current ids, and the ones retired last epoch
    assert acc.store.pool.shape[0] <= 4096


# --- the planner's mapping --------------------------------------------------------------

TABLE = pa.schema([("k", pa.int64()), ("s", pa.string()), ("n", pa.int64())])


class Collect(Operator):
    name = "collect"

    def __init__(self, schema: pa.Schema) -> None:
        super().__init__(schema)
        self.messages: list[Message] = []

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        self.messages.append(chunk)
        return []


def plan(sql: str) -> tuple[Node, Collect, list[AggregateCall]]:
    relation = Relation("table", 1, "t", TABLE, append_only=False)
    planner = Planner(lambda table: relation)
    result = planner.plan(sqlglot.parse_one(sql, dialect=Laminar))
    out = Collect(result.output.schema)
    result.output.node.connect(Node(out, "collect"))
    aggregates = [n.operator for n in result.nodes if isinstance(n.operator, HashAggregate)]
    return result.inputs[0].node, out, aggregates[0].calls


def test_planner_maps_string_agg_with_separator_and_order() -> None:
    entry, out, calls = plan(
        "SELECT k, string_agg(s, ', ' ORDER BY s DESC) AS names FROM t GROUP BY k")
    assert [(c.function, c.separator, c.descending, c.distinct) for c in calls] == [
        ("string_agg", ", ", True, False)]
    push(entry, changes("+ 1 b 0\n+ 1 a 0\n+ 1 c 0\n+ 2 x 0\n+ 2 . 0", TABLE))
    push(entry, Barrier(1, 1))
    push(entry, changes("- 1 c 0", TABLE))
    push(entry, Barrier(2, 2))
    assert integrate(out.messages) == Counter({(1, "b, a"): 1, (2, "x"): 1})
    _, _, calls = plan("SELECT string_agg(DISTINCT t.s, NULL ORDER BY s) FILTER "
                       "(WHERE n > 0), string_agg(s, 'a' || 'b') FROM t")
    assert [(c.separator, c.descending, c.distinct, c.filter is not None) for c in calls] == [
        (None, False, True, True), ("ab", False, False, False)]


@pytest.mark.parametrize(("sql", "error", "named"), [
    ("SELECT string_agg(s, ',' ORDER BY n) FROM t", FeatureNotSupported, "ordered by n"),
    ("SELECT string_agg(s, ',' ORDER BY s, n) FROM t", FeatureNotSupported, "ordered by n"),
    ("SELECT string_agg(s, s) FROM t", FeatureNotSupported, "non-constant separator"),
    ("SELECT string_agg(DISTINCT s, ',' ORDER BY n) FROM t", FeatureNotSupported,
     "DISTINCT"),
    ("SELECT sum(n ORDER BY n) FROM t", FeatureNotSupported, "ORDER BY in sum"),
    ("SELECT array_agg(n) FROM t", FeatureNotSupported, "array_agg"),
    ("SELECT string_agg(n, ',') FROM t", UndefinedFunction, "string_agg(bigint, text)"),
    ("SELECT string_agg(s, 1) FROM t", UndefinedFunction, "string_agg(text, integer)"),
    ("SELECT string_agg(s) FROM t", UndefinedFunction, "one argument"),
])
def test_planner_refuses_string_agg_it_cannot_answer(sql: str, error: type[Exception],
                                                     named: str) -> None:
    with pytest.raises(error) as caught:
        plan(sql)
    assert named in str(caught.value)
    if error is FeatureNotSupported:
        assert getattr(caught.value, "sqlstate", None) == "0A000"
