"""HashJoin on random change streams on both inputs, against a nested-loop twin.

Each side receives random chunks: inserts of rows with NULL-able, duplicated keys of two
columns (an integer and a string), retractions of rows it holds (some twice over, with
weights above one), and zero weights. After every chunk the integrated output must equal
the twin's join of the two integrated inputs: SQL's join semantics (NULL keys never
match) with outer joins padding unmatched rows, as a multiset.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.messages import Barrier, Chunk, Watermark
from laminar_pg.engine.operators.join import HashJoin

LEFT = pa.schema([("k1", pa.int64()), ("k2", pa.string()), ("a", pa.float64())])
RIGHT = pa.schema([("b", pa.string()), ("k2", pa.string()), ("k1", pa.int64())])
OUT = pa.schema([pa.field(f"l_{f.name}", f.type) for f in LEFT]
                + [pa.field(f"r_{f.name}", f.type) for f in RIGHT])
Row = tuple[Any, ...]

ints = st.sampled_from([None, 1, 2, 3])
strs = st.sampled_from([None, "x", "yy", ""])
left_rows = st.tuples(ints, strs, st.sampled_from([None, 0.5, -1.0]))
right_rows = st.tuples(st.sampled_from(["p", "q", None]), strs, ints)


def twin(kind: str, left: Counter[Row], right: Counter[Row]) -> Counter[Row]:
    out: Counter[Row] = Counter()
    matched_right: set[Row] = set()
    for lrow, lw in left.items():
        hit = False
        for rrow, rw in right.items():
            if lrow[0] is not None and lrow[1] is not None and \
                    (lrow[0], lrow[1]) == (rrow[2], rrow[1]):
                out[lrow + rrow] += lw * rw
                hit = True
                matched_right.add(rrow)
        if not hit and kind in ("left", "full"):
            out[(*lrow, None, None, None)] += lw
    if kind in ("right", "full"):
        for rrow, rw in right.items():
            if rrow not in matched_right:
                out[(None, None, None, *rrow)] += rw
    return Counter({k: v for k, v in out.items() if v})


def chunk_of(rows: list[tuple[Row, int]], schema: pa.Schema) -> Chunk:
    columns = [pa.array([r[i] for r, _ in rows], f.type) for i, f in enumerate(schema)]
    weights = np.array([w for _, w in rows], np.int64)
    return Chunk(pa.RecordBatch.from_arrays(columns, schema=schema),
                 None if (weights == 1).all() else weights)


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[int, list[Row], list[int]]]:
    """(port, rows, weights) chunks; retractions only of rows the side holds."""
    held: list[Counter[Row]] = [Counter(), Counter()]
    out = []
    for _ in range(draw(st.integers(1, 12))):
        port = draw(st.integers(0, 1))
        rows: list[Row] = []
        weights: list[int] = []
        for _ in range(draw(st.integers(1, 6))):
            present = [r for r, w in held[port].items() if w > 0]
            if draw(st.booleans()) and present:
                row = draw(st.sampled_from(present))
                w = -draw(st.integers(1, held[port][row]))
            else:
                row = draw(left_rows if port == 0 else right_rows)
                w = draw(st.sampled_from([1, 1, 2, 0]))
            held[port][row] += w
            rows.append(row)
            weights.append(w)
        out.append((port, rows, weights))
    return out


@pytest.mark.parametrize("kind", ["inner", "left", "right", "full"])
@given(script=steps())
def test_join_matches_the_twin(kind: str, script: list[tuple[int, list[Row], list[int]]]) -> None:
    op = HashJoin(LEFT, RIGHT, [0, 1], [2, 1], kind, OUT)
    inputs: list[Counter[Row]] = [Counter(), Counter()]
    integrated: Counter[Row] = Counter()
    for epoch, (port, rows, weights) in enumerate(script):
        schema = LEFT if port == 0 else RIGHT
        for out in op.on_chunk(chunk_of(list(zip(rows, weights, strict=True)), schema), port):
            assert isinstance(out, Chunk)
            ws = [1] * out.batch.num_rows if out.weights is None else out.weights.tolist()
            for row, w in zip(zip(*[c.to_pylist() for c in out.batch.columns], strict=True),
                              ws, strict=True):
                integrated[row] += w
        for row, w in zip(rows, weights, strict=True):
            inputs[port][row] += w
        integrated = Counter({k: v for k, v in integrated.items() if v})
        assert integrated == twin(kind, +inputs[0], +inputs[1]), f"after step {epoch}"
        op.on_barrier(Barrier(epoch + 1, epoch + 1))
    # every row retracted: no state is left behind
    if all(not (+c) for c in inputs):
        assert all(len(s.rows) == 0 and len(s.keys) == 0 for s in op.sides)


def test_rows_leave_the_state_when_retracted() -> None:
    op = HashJoin(LEFT, RIGHT, [0, 1], [2, 1], "full", OUT)
    row = (1, "x", 0.5)
    op.on_chunk(chunk_of([(row, 2)], LEFT), 0)
    op.on_chunk(chunk_of([(("p", "x", 1), 1)], RIGHT), 1)
    assert len(op.sides[0].rows) == 1 and len(op.sides[0].keys) == 1
    out = op.on_chunk(chunk_of([(row, -2)], LEFT), 0)
    assert len(op.sides[0].rows) == 0 and len(op.sides[0].keys) == 0
    # the right row lost its partner: the joined rows go, the padded right row comes
    got: Counter[Row] = Counter()
    for chunk in out:
        assert isinstance(chunk, Chunk) and chunk.weights is not None
        for r, w in zip(zip(*[c.to_pylist() for c in chunk.batch.columns], strict=False),
                        chunk.weights.tolist(), strict=True):
            got[r] += w
    assert got == Counter({(1, "x", 0.5, "p", "x", 1): -2, (None, None, None, "p", "x", 1): 1})


def test_keys_must_have_the_same_types() -> None:
    with pytest.raises(ValueError, match="same types"):
        HashJoin(LEFT, RIGHT, [0], [1], "inner", OUT)


WL = pa.schema([("w", pa.timestamp("us")), ("k", pa.int64()), ("a", pa.int64())])
WR = pa.schema([("k", pa.int64()), ("w", pa.timestamp("us")), ("b", pa.int64())])
WOUT = pa.schema([pa.field(f"l_{f.name}", f.type) for f in WL]
                 + [pa.field(f"r_{f.name}", f.type) for f in WR])


@pytest.mark.parametrize("kind", ["inner", "left", "full"])
@given(data=st.data())
def test_windowed_join_forgets_closed_windows(kind: str, data: st.DataObject) -> None:
    """Keys on a window bound: once both watermarks pass a window's end its rows leave the
    state, and the output is still the join of everything (rows come only for windows
    that are still open, as late rows are dropped upstream)."""
    size = 10
    op = HashJoin(WL, WR, [0, 1], [1, 0], kind, WOUT, close_key=0, close_shift=size)
    inputs: list[Counter[Row]] = [Counter(), Counter()]
    integrated: Counter[Row] = Counter()
    marks = [0, 0]
    for step in range(data.draw(st.integers(1, 25), label="steps")):
        port = data.draw(st.integers(0, 1), label=f"port {step}")
        if data.draw(st.booleans(), label=f"watermark {step}"):
            marks[port] += data.draw(st.sampled_from([0, 5, 10, 20]), label="advance")
            op.on_watermark(Watermark(marks[port]), port)
            low = min(marks)
            for side in op.sides:
                ends = op._close_times(side.keys.keys.live_slots(), side)
                assert (ends > low).all(), "a closed window is still held"
            continue
        # a window that neither watermark has closed; the row's own side may retract
        start = min(marks) // size * size + size * data.draw(st.integers(0, 2), label="w")
        held = [r for r, w in inputs[port].items() if w > 0 and r[0 if port == 0 else 1]
                >= min(marks) - size + 1]
        if data.draw(st.booleans(), label="retract") and held:
            row, weight = data.draw(st.sampled_from(held), label="row"), -1
        else:
            key, value = data.draw(st.integers(0, 2), label="k"), data.draw(
                st.integers(0, 3), label="v")
            row = (start, key, value) if port == 0 else (key, start, value)
            weight = 1
        schema = WL if port == 0 else WR
        columns = [pa.array([row[i]], pa.int64()).cast(f.type) for i, f in enumerate(schema)]
        chunk = Chunk(pa.RecordBatch.from_arrays(columns, schema=schema),
                      np.array([weight], np.int64))
        inputs[port][row] += weight
        for out in op.on_chunk(chunk, port):
            assert isinstance(out, Chunk)
            ws = [1] * out.batch.num_rows if out.weights is None else out.weights.tolist()
            values = zip(*[c.cast(pa.int64()).to_pylist() if pa.types.is_timestamp(c.type)
                           else c.to_pylist() for c in out.batch.columns], strict=True)
            for r, w in zip(values, ws, strict=True):
                integrated[r] += w
        integrated = Counter({k: v for k, v in integrated.items() if v})
        assert integrated == window_twin(kind, +inputs[0], +inputs[1])


def window_twin(kind: str, left: Counter[Row], right: Counter[Row]) -> Counter[Row]:
    out: Counter[Row] = Counter()
    matched: set[Row] = set()
    for lrow, lw in left.items():
        hit = False
        for rrow, rw in right.items():
            if (lrow[0], lrow[1]) == (rrow[1], rrow[0]):
                out[lrow + rrow] += lw * rw
                hit = True
                matched.add(rrow)
        if not hit and kind in ("left", "full"):
            out[(*lrow, None, None, None)] += lw
    if kind == "full":
        for rrow, rw in right.items():
            if rrow not in matched:
                out[(None, None, None, *rrow)] += rw
    return Counter({k: v for k, v in out.items() if v})


IL = pa.schema([("t", pa.timestamp("us")), ("k", pa.int64())])
IR = pa.schema([("k", pa.int64()), ("u", pa.timestamp("us"))])
IOUT = pa.schema([pa.field(f"l_{f.name}", f.type) for f in IL]
                 + [pa.field(f"r_{f.name}", f.type) for f in IR])


@given(data=st.data())
def test_interval_join_forgets_rows_past_their_bound(data: st.DataObject) -> None:
    """`r.u BETWEEN l.t AND l.t + 10`: a left row expires at t + 10, a right row at u
    (planner's derivation); rows come at or after their side's watermark. Once the other
    side's watermark passes a row's expiry it leaves the state, and the joined pairs that
    satisfy the condition are exactly the twin's."""
    import sqlglot

    from laminar_pg.engine.expr import compile_expr
    from laminar_pg.engine.operators.join_expiry import Expiry

    left_expr = sqlglot.parse_one("t + INTERVAL '10 microseconds'", dialect="postgres")
    right_expr = sqlglot.parse_one("u", dialect="postgres")
    assert isinstance(left_expr, sqlglot.exp.Expression)
    assert isinstance(right_expr, sqlglot.exp.Expression)
    left_bound = compile_expr(left_expr, IL)
    right_bound = compile_expr(right_expr, IR)
    op = HashJoin(IL, IR, [1], [0], "inner", IOUT,
                  expiry=(Expiry([left_bound], 0, False), Expiry([right_bound], 1, False)))
    held: list[list[Row]] = [[], []]
    pairs: Counter[Row] = Counter()
    marks = [0, 0]
    for step in range(data.draw(st.integers(1, 40), label="steps")):
        port = data.draw(st.integers(0, 1), label=f"port {step}")
        if data.draw(st.booleans(), label=f"mark {step}"):
            marks[port] += data.draw(st.integers(0, 8), label="advance")
            op.on_watermark(Watermark(marks[port]), port)
            op.on_barrier(Barrier(step + 1, step + 1))  # expired rows go at the barrier
            for side, bound, other in ((0, 10, 1), (1, 0, 0)):
                times = [r[0] if side == 0 else r[1] for r in held[side]]
                alive = {int(x) for x in op.sides[side].decode(
                    op.sides[side].rows.keys.live_slots())[0 if side == 0 else 1]
                    .cast(pa.int64()).to_pylist()}
                for x in times:
                    if x + bound < marks[other]:
                        assert x not in alive, "an expired row is still held"
            continue
        at = marks[port] + data.draw(st.integers(0, 12), label="time")
        key = data.draw(st.integers(0, 1), label="key")
        row = (at, key) if port == 0 else (key, at)
        held[port].append(row)
        schema = IL if port == 0 else IR
        columns = [pa.array([row[i]], pa.int64()).cast(f.type) for i, f in enumerate(schema)]
        for out in op.on_chunk(Chunk(pa.RecordBatch.from_arrays(columns, schema=schema)), port):
            assert isinstance(out, Chunk)
            ws = [1] * out.batch.num_rows if out.weights is None else out.weights.tolist()
            for r, w in zip(zip(*[c.cast(pa.int64()).to_pylist() for c in out.batch.columns],
                                strict=True), ws, strict=True):
                if r[0] <= r[3] <= r[0] + 10:  # the planner's filter after the join
                    pairs[r] += w
    want: Counter[Row] = Counter()
    for lrow in held[0]:
        for rrow in held[1]:
            if lrow[1] == rrow[0] and lrow[0] <= rrow[1] <= lrow[0] + 10:
                want[lrow + rrow] += 1
    assert pairs == want
