"""TopN on random change streams against a sorting twin.

Random chunks insert rows (duplicates too, weights above one, zero weights) and retract
rows the input holds, on append-only input or not; after every barrier the integrated
output must equal the twin: per partition (NULL is a partition of its own), the row
instances sorted with PostgreSQL's NULL placement, ranks offset+1 .. offset+limit, with
the rank as a column or without. The order covers every column, so it is total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.messages import Barrier, Chunk
from laminar_pg.engine.operators.top_n import SortKey, TopN

SCHEMA = pa.schema([("p", pa.int64()), ("x", pa.float64()), ("s", pa.string())])
Row = tuple[Any, ...]
rows_strategy = st.tuples(st.sampled_from([None, 1, 2]),
                          st.sampled_from([None, -1.5, 0.0, 2.0, 7.25]),
                          st.sampled_from([None, "a", "b", "ab", ""]))


def sort_value(value: Any, descending: bool) -> tuple[int, Any]:
    """PostgreSQL: NULLs sort as larger than any value (last ascending, first descending)."""
    if value is None:
        return (1, 0) if not descending else (0, 0)
    if isinstance(value, (int, float)):
        value = -value if descending else value
    elif isinstance(value, str):
        encoded = value.encode()
        value = (*(-b for b in encoded), 1) if descending else tuple(encoded)
    return (0, value) if not descending else (1, value)


def twin(rows: Counter[Row], order: list[SortKey], limit: int, offset: int,
         rank: bool) -> Counter[Row]:
    out: Counter[Row] = Counter()
    partitions: dict[Any, list[Row]] = {}
    for row, weight in rows.items():
        partitions.setdefault(row[0], []).extend([row] * max(weight, 0))
    for members in partitions.values():
        members.sort(key=lambda r: tuple(sort_value(r[k.column], k.descending) for k in order))
        for position, row in enumerate(members, start=1):
            if offset < position <= offset + limit:
                out[(*row, position - offset) if rank else row] += 1
    return out


@st.composite
def scripts(draw: st.DrawFn, append_only: bool) -> list[list[tuple[Row, int]]]:
    held: Counter[Row] = Counter()
    chunks = []
    for _ in range(draw(st.integers(1, 10))):
        chunk = []
        for _ in range(draw(st.integers(1, 8))):
            present = [r for r, w in held.items() if w > 0]
            if not append_only and draw(st.booleans()) and present:
                row = draw(st.sampled_from(present))
                weight = -draw(st.integers(1, held[row]))
            else:
                row = draw(rows_strategy)
                weight = draw(st.sampled_from([1, 1, 2, 0] if not append_only else [1]))
            held[row] += weight
            chunk.append((row, weight))
        chunks.append(chunk)
    return chunks


ORDERS = [
    [SortKey(1, descending=True), SortKey(2), SortKey(0)],
    [SortKey(2, descending=True), SortKey(1), SortKey(0, descending=True)],
]


@pytest.mark.parametrize("append_only", [False, True])
@pytest.mark.parametrize("rank", [False, True])
@given(data=st.data())
def test_top_n_matches_the_twin(append_only: bool, rank: bool, data: st.DataObject) -> None:
    order = data.draw(st.sampled_from(ORDERS), label="order")
    limit = data.draw(st.integers(0, 4), label="limit")
    offset = 0 if rank else data.draw(st.integers(0, 2), label="offset")
    partition = data.draw(st.sampled_from([[], [0]]), label="partition")
    out_schema = pa.schema([*SCHEMA, pa.field("rank", pa.int64())]) if rank else SCHEMA
    op = TopN(SCHEMA, partition, order, limit, out_schema, offset=offset,
              rank_column=rank, append_only=append_only)
    held = drive(op, data.draw(scripts(append_only), label="chunks"), append_only,
                 lambda held: twin(held, order, limit, offset, rank) if partition
                 else twin_global(held, order, limit, offset, rank))
    if append_only:  # rows ranked past the limit are forgotten
        distinct = Counter(r[0] if partition else "all" for r, w in held.items() if w > 0)
        assert len(op.rows) <= sum(min(n, limit + offset) for n in distinct.values())


def drive(op: TopN, chunks: list[list[tuple[Row, int]]], append_only: bool,
          want: Callable[[Counter[Row]], Counter[Row]]) -> Counter[Row]:
    """Feed `chunks` to `op`, a barrier after each; after each barrier, the output added
    up must equal `want` of the rows held. Returns the rows held at the end."""
    held: Counter[Row] = Counter()
    integrated: Counter[Row] = Counter()
    for epoch, chunk in enumerate(chunks):
        columns = [pa.array([r[i] for r, _ in chunk], f.type) for i, f in enumerate(SCHEMA)]
        weights = np.array([w for _, w in chunk], np.int64)
        batch = pa.RecordBatch.from_arrays(columns, schema=SCHEMA)
        assert op.on_chunk(Chunk(batch, None if append_only else weights), 0) == []
        for row, weight in chunk:
            held[row] += weight
        for out in op.on_barrier(Barrier(epoch + 1, epoch + 1)):
            assert isinstance(out, Chunk)
            ws = [1] * out.batch.num_rows if out.weights is None else out.weights.tolist()
            values = zip(*[c.to_pylist() for c in out.batch.columns], strict=True)
            for row, w in zip(values, ws, strict=True):
                integrated[row] += w
        integrated = Counter({k: v for k, v in integrated.items() if v})
        assert integrated == want(held), f"epoch {epoch}"
    return held


def twin_global(rows: Counter[Row], order: list[SortKey], limit: int, offset: int,
                rank: bool) -> Counter[Row]:
    """One partition: every row."""
    everything: Counter[Row] = Counter()
    for row, weight in rows.items():
        everything[("all", *row)] += weight
    shifted = [SortKey(k.column + 1, k.descending, k.nulls_first) for k in order]
    ranked = twin(everything, shifted, limit, offset, rank)
    return Counter({key[1:]: w for key, w in ranked.items()})


def test_a_deleted_top_row_is_replaced_by_the_next() -> None:
    out_schema = pa.schema([*SCHEMA, pa.field("rank", pa.int64())])
    op = TopN(SCHEMA, [0], [SortKey(1, descending=True)], 2, out_schema, rank_column=True)
    batch = pa.RecordBatch.from_pylist(
        [{"p": 1, "x": v, "s": str(v)} for v in (1.0, 2.0, 3.0)], schema=SCHEMA)
    first = op.on_barrier(Barrier(1, 1)) + op.on_chunk(Chunk(batch), 0) + \
        op.on_barrier(Barrier(2, 2))
    assert [c.batch.column("x").to_pylist() for c in first if isinstance(c, Chunk)] == \
        [[3.0, 2.0]]
    gone = Chunk(batch.slice(2, 1), np.array([-1], np.int64))
    op.on_chunk(gone, 0)
    changes = op.on_barrier(Barrier(3, 3))
    assert len(changes) == 1 and isinstance(changes[0], Chunk)
    got: Counter[tuple[Any, ...]] = Counter()
    for row, w in zip(zip(changes[0].batch.column("x").to_pylist(),
                          changes[0].batch.column("rank").to_pylist(), strict=True),
                      changes[0].weights.tolist() if changes[0].weights is not None else [],
                      strict=True):
        got[row] += w
    assert got == Counter({(3.0, 1): -1, (2.0, 2): -1, (2.0, 1): 1, (1.0, 2): 1})
    assert len(op.rows) == 2


TIED_ORDERS = [[SortKey(1, descending=True)], [SortKey(2), SortKey(1, descending=True)],
               [SortKey(2, nulls_first=True)]]


def tied_twin(rows: Counter[Row], order: list[SortKey], limit: int, dense: bool,
              partition: bool) -> Counter[Row]:
    """RANK / DENSE_RANK <= limit as a batch query: peers (equal order keys) share a
    rank; every instance of a row is its own output row."""
    out: Counter[Row] = Counter()
    groups: dict[Any, list[Row]] = {}
    for row, weight in rows.items():
        groups.setdefault(row[0] if partition else "all", []).extend([row] * max(weight, 0))

    def value_key(value: Any, k: SortKey) -> tuple[int, Any]:
        if k.nulls_first is None or k.nulls_first == k.descending:  # the default place
            return sort_value(value, k.descending)
        return (0, 0) if value is None else (1, sort_value(value, k.descending)[1])

    def key(row: Row) -> tuple[Any, ...]:
        return tuple(value_key(row[k.column], k) for k in order)

    for members in groups.values():
        members.sort(key=key)
        keys = [key(r) for r in members]
        for i, row in enumerate(members):
            before = [k for k in keys[:i] if k != keys[i]]
            rank = len(set(before)) + 1 if dense else len(before) + 1
            if rank <= limit:
                out[(*row, rank)] += 1
    return out


@pytest.mark.parametrize("append_only", [False, True])
@pytest.mark.parametrize("ties", ["rank", "dense_rank"])
@given(data=st.data())
def test_rank_and_dense_rank_match_the_twin(append_only: bool, ties: str,
                                            data: st.DataObject) -> None:
    order = data.draw(st.sampled_from(TIED_ORDERS), label="order")
    limit = data.draw(st.integers(0, 4), label="limit")
    partition = data.draw(st.sampled_from([[], [0]]), label="partition")
    out_schema = pa.schema([*SCHEMA, pa.field("rank", pa.int64())])
    op = TopN(SCHEMA, partition, order, limit, out_schema, rank_column=True,
              append_only=append_only, ties=ties)
    drive(op, data.draw(scripts(append_only), label="chunks"), append_only,
          lambda held: tied_twin(held, order, limit, ties == "dense_rank", bool(partition)))
