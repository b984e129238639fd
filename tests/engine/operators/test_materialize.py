"""Materialize: a view's contents, published per epoch, equal the consolidated changes.

The twin is a Counter over the rows (plain Python over the consolidated input)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.messages import Barrier, Chunk
from laminar_pg.engine.operators.materialize import PAGE, Materialize

SCHEMA = pa.schema([("k", pa.int64()), ("s", pa.string()), ("f", pa.float64())])

rows = st.tuples(st.integers(-3, 3), st.one_of(st.none(), st.sampled_from(["a", "b", "é", ""])),
                 st.one_of(st.none(), st.sampled_from([0.5, -0.0, 1e300])))


def chunk_of(changes: list[tuple[tuple[Any, ...], int]]) -> Chunk:
    batch = pa.RecordBatch.from_pylist(
        [dict(zip(SCHEMA.names, row, strict=True)) for row, _ in changes], schema=SCHEMA)
    return Chunk(batch, np.array([w for _, w in changes], dtype=np.int64))


def contents(table: pa.Table) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r.values()) for r in table.to_pylist())


@given(st.lists(st.lists(st.lists(st.tuples(rows, st.integers(1, 3)), max_size=8),
                         max_size=4), max_size=6))
def test_versions_equal_the_consolidated_changes(epochs: list[list[list[Any]]]) -> None:
    op = Materialize(SCHEMA)
    held: Counter[tuple[Any, ...]] = Counter()
    for epoch, chunks in enumerate(epochs):
        sent = False
        for inserts in chunks:
            # each chunk inserts rows, then retracts some of what is held (never more)
            changes = [(row, w) for row, w in inserts]
            for row, w in inserts:
                held[row] += w
            retract = [(row, -1) for row in list(held)[:2] if held[row] > 0]
            for row, _ in retract:
                held[row] -= 1
            if not changes + retract:
                continue
            sent = True
            out = op.on_chunk(chunk_of(changes + retract), 0)
            assert out and isinstance(out[0], Chunk)  # passed on
            assert out[0].num_rows == len(changes) + len(retract)
        before = op.version()
        op.on_barrier(Barrier(epoch + 1, epoch + 1))
        assert contents(op.version()) == +held
        assert op.rows == sum(held.values())
        if not sent:
            assert op.version() is before  # nothing changed: the same version


def test_an_epoch_rebuilds_only_the_pages_it_touched() -> None:
    op = Materialize(pa.schema([("k", pa.int64())]))
    n = 3 * PAGE
    op.on_chunk(Chunk(pa.record_batch([pa.array(np.arange(n))], names=["k"])), 0)
    op.on_barrier(Barrier(1, 1))
    first = op.version()
    assert first.num_rows == n
    op.on_chunk(Chunk(pa.record_batch([pa.array([5, n + 7])], names=["k"]),
                      np.array([-1, 1], dtype=np.int64)), 0)
    op.on_barrier(Barrier(2, 2))
    second = op.version()
    assert second.num_rows == n
    old, new = first.column(0).chunks, second.column(0).chunks
    assert len(old) == len(new) == 4 or len(new) == len(old) + 1
    shared = sum(1 for a, b in zip(old, new, strict=False) if a is b or a.buffers()[1] == b.buffers()[1])
    assert shared >= 2  # the untouched middle pages are the same arrays
    assert set(second.column(0).to_pylist()) == (set(range(n)) - {5}) | {n + 7}
