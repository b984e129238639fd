"""SessionAssign against a plain-Python twin over every row received so far.

The twin (`sessionize`) sorts each key's rows by time and splits them where the next row
comes `gap` or more after the previous one; each row gets (first time, last time + gap)
of its run. Integrating the operator's output must give the twin's (row, window_start,
window_end) multiset: after every barrier with EMIT CHANGES, after every watermark with
EMIT ON WINDOW CLOSE (the twin's sessions ending at or before the watermark).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.messages import END_OF_TIME, Barrier, Chunk, Message, Watermark
from laminar_pg.engine.operators.session_assign import SessionAssign
from tests.engine.changes import Row, changes, integrate

K, S, T, V = range(4)  # key, second key, time, value
GAP = 10  # in the time column's unit
EPOCH = datetime(1970, 1, 1)
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_UNIT = {"us": 1, "ms": 1_000}


def input_schema(time_type: pa.DataType) -> pa.Schema:
    return pa.schema([("k", pa.int64()), ("s", pa.string()), ("ts", time_type),
                      ("v", pa.int64())])


def output_schema(time_type: pa.DataType) -> pa.Schema:
    return pa.schema([*input_schema(time_type), pa.field("window_start", time_type),
                      pa.field("window_end", time_type)])


def in_units(value: Any, unit: str) -> Any:
    """A timestamp from the output as an integer in the column's unit."""
    if not isinstance(value, datetime):
        return value
    epoch = EPOCH_UTC if value.tzinfo is not None else EPOCH
    return (value - epoch) // timedelta(microseconds=US_PER_UNIT[unit])


# --- the twin -----------------------------------------------------------------------------


def sessionize(rows: Counter[Row], key_columns: list[int], gap: int) -> Counter[Row]:
    """Every row with the bounds of its session: row + (window_start, window_end)."""
    by_key: dict[Row, list[tuple[Row, int]]] = defaultdict(list)
    for row, m in rows.items():
        if m > 0 and row[T] is not None:
            by_key[tuple(row[i] for i in key_columns)].append((row, m))
    out: Counter[Row] = Counter()
    for members in by_key.values():
        members.sort(key=lambda entry: int(entry[0][T]))
        runs: list[list[tuple[Row, int]]] = []
        for entry in members:
            if runs and entry[0][T] - runs[-1][-1][0][T] < gap:
                runs[-1].append(entry)
            else:
                runs.append([entry])
        for run in runs:
            start, end = run[0][0][T], run[-1][0][T] + gap
            for row, m in run:
                out[(*row, start, end)] += m
    return out


# --- driving the operator -----------------------------------------------------------------


def make_chunk(entries: list[tuple[Row, int]], time_type: pa.DataType) -> Chunk:
    schema = input_schema(time_type)
    arrays = [pa.array([r[K] for r, _ in entries], type=pa.int64()),
              pa.array([r[S] for r, _ in entries], type=pa.string()),
              pa.array([r[T] for r, _ in entries], type=pa.int64()).cast(time_type),
              pa.array([r[V] for r, _ in entries], type=pa.int64())]
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    weights = [w for _, w in entries]
    if all(w == 1 for w in weights):
        return Chunk(batch)
    return Chunk(batch, np.array(weights, dtype=np.int64))


@st.composite
def chunk_entries(draw: st.DrawFn, watermark: int) -> list[tuple[Row, int]]:
    """Rows at or after the watermark, out of order; a few NULL times, NULL keys, zero
    weights, duplicates and (when a watermark passed) late rows below it."""
    entries = []
    for _ in range(draw(st.integers(1, 8))):
        time = draw(st.one_of(st.integers(watermark, watermark + 4 * GAP),
                              st.just(None), st.integers(watermark - GAP, watermark - 1)))
        row = (draw(st.sampled_from([None, 0, 1, 2])), draw(st.sampled_from([None, "a", "b"])),
               time, draw(st.integers(0, 2)))
        entries.append((row, draw(st.sampled_from([1, 1, 1, 2, 0]))))
    return entries


def draw_operator(data: st.DataObject, emit_final: bool) -> tuple[SessionAssign, list[int],
                                                                  pa.DataType]:
    key_columns = data.draw(st.sampled_from([[K], [K, S], [S, K], []]), label="keys")
    unit = data.draw(st.sampled_from(["us", "ms"]), label="unit")
    time_type = pa.timestamp(unit, tz=data.draw(st.sampled_from([None, "UTC"]), label="tz"))
    op = SessionAssign(output_schema(time_type), key_columns, T, GAP * US_PER_UNIT[unit],
                       emit_final=emit_final)
    if data.draw(st.booleans(), label="eager housekeeping"):
        op.rows.compact_min = 1  # compact (and rewrite sparse batches) at every release
        op.merged_limit = 0  # resolve merged sessions after every chunk
    return op, key_columns, time_type


def run_stream(data: st.DataObject, emit_final: bool) -> None:
    op, key_columns, time_type = draw_operator(data, emit_final)
    unit = time_type.unit

    def norm(row: Row) -> Row:
        return tuple(in_units(v, unit) for v in row)

    received: Counter[Row] = Counter()  # the rows on time, with their weights
    integrated: Counter[Row] = Counter()
    watermark = 0  # in the column's unit; every later row is at or after it
    passed: int | None = None
    late = 0
    epoch = 0
    steps = data.draw(st.integers(1, 12), label="steps")
    for step in range(steps + 1):
        last = step == steps
        kind = "end" if last else data.draw(
            st.sampled_from(["chunk", "chunk", "chunk", "watermark", "barrier"]))
        out: list[Message] = []
        if kind == "chunk":
            entries = data.draw(chunk_entries(watermark), label=f"chunk {step}")
            for row, weight in entries:
                if weight == 0 or row[T] is None:  # no row; a row in no session
                    continue
                if passed is not None and row[T] < passed:
                    late += 1
                else:
                    received[row] += weight
            out = op.on_chunk(make_chunk(entries, time_type), 0)
            assert out == []
        elif kind == "barrier":
            epoch += 1
            out = op.on_barrier(Barrier(epoch, epoch))
        else:
            if kind == "end":
                watermark_us = int(END_OF_TIME)
            else:
                watermark += data.draw(st.sampled_from([0, 3, 10, 25]))
                watermark_us = watermark * US_PER_UNIT[unit]
            out = op.on_watermark(Watermark(watermark_us), 0)
            rose = passed is None or watermark_us // US_PER_UNIT[unit] > passed
            assert out[-1:] == ([Watermark(watermark_us)] if rose else [])
            assert all(isinstance(m, Chunk) for m in out[:-1])
            passed = watermark if kind != "end" else int(END_OF_TIME)
        if emit_final:
            assert all(m.weights is None or (m.weights > 0).all()
                       for m in out if isinstance(m, Chunk))
        integrate(out, integrated, key=norm)
        assert all(w > 0 for w in integrated.values()), integrated
        assert op.late_rows == late
        expected = sessionize(received, key_columns, GAP)
        if emit_final and kind in ("watermark", "end"):
            assert passed is not None
            closed = Counter({r: m for r, m in expected.items() if r[-1] <= passed})
            assert integrated == closed
        if not emit_final and kind == "barrier":
            assert integrated == expected
    if not emit_final:
        integrate(op.on_barrier(Barrier(epoch + 1, epoch + 1)), integrated, key=norm)
        assert integrated == sessionize(received, key_columns, GAP)
    assert op.open_sessions == 0 and op.stored_rows == 0


@given(st.data())
def test_emit_on_window_close_matches_the_twin(data: st.DataObject) -> None:
    run_stream(data, emit_final=True)


@given(st.data())
def test_emit_changes_matches_the_twin(data: st.DataObject) -> None:
    run_stream(data, emit_final=False)


# --- examples -----------------------------------------------------------------------------

US = pa.timestamp("us")
SCHEMA = pa.schema([("k", pa.int64()), ("ts", US), ("v", pa.int64())])
OUT = pa.schema([*SCHEMA, pa.field("window_start", US), pa.field("window_end", US)])


def rows(messages: list[Message]) -> Counter[Row]:
    return integrate(messages, key=lambda r: tuple(in_units(v, "us") for v in r))


def test_a_bridging_row_merges_two_sessions_and_an_early_row_extends_backwards() -> None:
    op = SessionAssign(OUT, [0], 1, GAP, emit_final=False)
    op.on_chunk(changes("+ 1 0 1\n+ 1 18 2\n+ 2 5 3", SCHEMA), 0)
    assert rows(op.on_barrier(Barrier(1, 1))) == Counter(
        {(1, 0, 1, 0, 10): 1, (1, 18, 2, 18, 28): 1, (2, 5, 3, 5, 15): 1})
    op.on_chunk(changes("+ 1 9 4", SCHEMA), 0)  # within 10 of both: one session
    assert rows(op.on_barrier(Barrier(2, 2))) == Counter(
        {(1, 0, 1, 0, 10): -1, (1, 18, 2, 18, 28): -1,
         (1, 0, 1, 0, 28): 1, (1, 18, 2, 0, 28): 1, (1, 9, 4, 0, 28): 1})
    op.on_chunk(changes("+ 1 -5 5\n+ 1 15 6", SCHEMA), 0)  # earlier start; a row inside
    assert rows(op.on_barrier(Barrier(3, 3))) == Counter(
        {(1, 0, 1, 0, 28): -1, (1, 18, 2, 0, 28): -1, (1, 9, 4, 0, 28): -1,
         (1, 0, 1, -5, 28): 1, (1, 18, 2, -5, 28): 1, (1, 9, 4, -5, 28): 1,
         (1, -5, 5, -5, 28): 1, (1, 15, 6, -5, 28): 1})
    op.on_chunk(changes("+ 1 12 7", SCHEMA), 0)  # bounds unchanged: only the new row
    assert rows(op.on_barrier(Barrier(4, 4))) == Counter({(1, 12, 7, -5, 28): 1})
    assert op.on_barrier(Barrier(5, 5)) == []
    assert op.open_sessions == 2


def test_a_row_exactly_gap_after_the_last_starts_a_new_session() -> None:
    op = SessionAssign(OUT, [0], 1, GAP, emit_final=True)
    op.on_chunk(changes("+ 1 0 1\n+ 1 10 2\n+ 1 19 3", SCHEMA), 0)
    out = op.on_watermark(Watermark(END_OF_TIME), 0)
    assert out[-1] == Watermark(END_OF_TIME)
    assert rows(out) == Counter({(1, 0, 1, 0, 10): 1, (1, 10, 2, 10, 29): 1,
                                 (1, 19, 3, 10, 29): 1})


def test_watermark_closes_sessions_and_late_rows_are_dropped_and_counted() -> None:
    op = SessionAssign(OUT, [0], 1, GAP, emit_final=True)
    op.on_chunk(changes("+ 1 0 1\n+ . 3 2\n+ 1 . 3\n+ . 30 4", SCHEMA), 0)
    assert op.on_barrier(Barrier(1, 1)) == []
    out = op.on_watermark(Watermark(12), 0)  # closes [0, 10) of 1, not [3, 13) of NULL
    assert out[-1] == Watermark(12) and len(out) == 2
    assert rows(out) == Counter({(1, 0, 1, 0, 10): 1})
    op.on_chunk(changes("+ . 12 5\n+ 1 9 6\n+ 1 12 7", SCHEMA), 0)  # 9 < 12: late
    assert op.late_rows == 1
    out = op.on_watermark(Watermark(39), 0)
    assert rows(out) == Counter({(None, 3, 2, 3, 22): 1, (None, 12, 5, 3, 22): 1,
                                 (1, 12, 7, 12, 22): 1})
    assert op.open_sessions == 1  # key NULL at 30 ends at 40
    assert op.on_watermark(Watermark(39), 0) == []
    assert rows(op.on_watermark(Watermark(END_OF_TIME), 0)) == Counter(
        {(None, 30, 4, 30, 40): 1})
    assert op.open_sessions == 0 and op.stored_rows == 0


def test_weights_are_carried_and_retractions_refused() -> None:
    op = SessionAssign(OUT, [0], 1, GAP, emit_final=True)
    op.on_chunk(changes("+2 1 0 1\n+ 1 3 2\n0 1 40 3", SCHEMA), 0)
    out = op.on_watermark(Watermark(END_OF_TIME), 0)
    assert isinstance(out[0], Chunk) and out[0].weights is not None
    assert rows(out) == Counter({(1, 0, 1, 0, 13): 2, (1, 3, 2, 0, 13): 1})
    with pytest.raises(ValueError, match="append-only"):
        op.on_chunk(changes("+ 1 50 1\n- 1 50 1", SCHEMA), 0)


def test_a_long_session_is_released_once_the_watermark_passes_its_end() -> None:
    gap = 1_000_000
    op = SessionAssign(OUT, [0], 1, gap, emit_final=True)
    rng = np.random.default_rng(1)
    empty = op.state_bytes()
    time = 0
    for _ in range(50):  # one key active for a long time, never a gap of a second
        times = time + np.sort(rng.integers(0, 500_000, 2000))
        time = int(times[-1])
        keys = pa.array(rng.integers(0, 3, 2000))
        batch = pa.RecordBatch.from_arrays(
            [keys, pa.array(times).cast(US), pa.array(np.arange(2000))], schema=SCHEMA)
        op.on_chunk(Chunk(batch), 0)
        op.on_watermark(Watermark(max(0, int(times[0]) - gap)), 0)
    held = op.state_bytes()
    assert op.open_sessions == 3 and op.stored_rows == 100_000
    assert held > empty + 100_000 * 8 * 4
    out = op.on_watermark(Watermark(time + gap), 0)
    assert sum(m.num_rows for m in out if isinstance(m, Chunk)) == 100_000
    assert op.open_sessions == 0 and op.stored_rows == 0
    assert op.state_bytes() < held // 10


def integrate_raw(messages: list[Message], into: Counter[Row]) -> None:
    """Like `integrate`, with timestamps as their int64 values (any year)."""
    for message in messages:
        if isinstance(message, Chunk):
            columns = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c
                       for c in message.batch.columns]
            values = zip(*(c.to_pylist() for c in columns), strict=True)
            for row, weight in zip(values, message.weight_array().tolist(), strict=True):
                into[row] += weight
    for row in [r for r, w in into.items() if w == 0]:
        del into[row]


@pytest.mark.parametrize("emit_final", [True, False])
def test_a_large_stream_matches_the_twin(emit_final: bool) -> None:
    """Big chunks with hot keys (a slot's rows sorted by argsort), then small chunks of
    times billions of gaps apart among many keys (packed words overflow: lexsort)."""
    rng = np.random.default_rng(3)
    op = SessionAssign(OUT, [0], 1, GAP, emit_final=emit_final)
    op.rows.compact_min = 64
    received: Counter[Row] = Counter()
    integrated: Counter[Row] = Counter()
    chunks = []
    for i in range(12):
        n = 3000
        keys = np.where(rng.random(n) < 0.3, rng.integers(0, 3, n), rng.integers(0, 300, n))
        chunks.append((keys, i * 2000 + rng.integers(0, 8000, n)))
    for _ in range(6):
        chunks.append((rng.integers(0, 300, 10), rng.integers(-(2**61), 2**61, 10)))
    for epoch, (keys, times) in enumerate(chunks, start=1):
        values = rng.integers(0, 4, keys.shape[0])
        batch = pa.RecordBatch.from_arrays(
            [pa.array(keys), pa.array(times).cast(US), pa.array(values)], schema=SCHEMA)
        for row in np.stack([keys, times, values], axis=1).tolist():
            received[tuple(row)] += 1
        assert op.on_chunk(Chunk(batch), 0) == []
        integrate_raw(op.on_barrier(Barrier(epoch, epoch)), integrated)
        if not emit_final and epoch % 5 == 0:
            assert integrated == sessionize_rows(received)
    integrate_raw(op.on_watermark(Watermark(END_OF_TIME), 0), integrated)
    assert integrated == sessionize_rows(received)
    assert op.open_sessions == 0 and op.stored_rows == 0


def sessionize_rows(rows: Counter[Row]) -> Counter[Row]:
    """The twin over (k, ts, v) rows (`sessionize` takes (k, s, ts, v))."""
    wide = Counter({(k, None, t, v): m for (k, t, v), m in rows.items()})
    return Counter({(k, t, v, start, end): m
                    for (k, _, t, v, start, end), m in sessionize(wide, [K], GAP).items()})


def test_the_schema_and_gap_are_checked() -> None:
    with pytest.raises(ValueError, match="window_start"):
        SessionAssign(SCHEMA, [0], 1, GAP, emit_final=True)
    ms = pa.schema([("ts", pa.timestamp("ms")), ("window_start", pa.timestamp("ms")),
                    ("window_end", pa.timestamp("ms"))])
    with pytest.raises(ValueError, match="gap"):
        SessionAssign(ms, [], 0, 1_500, emit_final=True)
    SessionAssign(ms, [], 0, 2_000, emit_final=True)
