"""TopN: the first rows of each partition in an order, kept up to date under retractions.

It serves `ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) <= N` (with the row number as
an output column) and `ORDER BY o LIMIT N [OFFSET M]` (one partition, no rank column).
Rows are instances: a row of weight 2 takes two consecutive row numbers, as two equal
rows would in a batch query.

State: every row of the input, consolidated (all its columns encoded as words -> its
weight), listed per partition (doubly linked through slot numbers, as in `HashJoin`),
and per row the ranks it was last emitted with (`first`, `n`: instances first..first+n-1
were emitted). Chunks only add weights and note the partitions they touched. At a
barrier, the rows of the touched partitions are sorted in one pass (partition, then each
order key with PostgreSQL's NULL placement: last ascending, first descending), their new
ranks counted from the weights, and only the rows whose ranks changed are retracted and
re-emitted; rows whose weight reached zero leave the state. An append-only input also
forgets rows ranked past the limit, which can never come back, so its state stays at N
rows per partition. Ties in the order are broken by the order rows arrived in (as any
order of ties is a correct ROW_NUMBER).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.keys import KeyEncoder
from laminar_pg.engine.messages import Barrier, Chunk, Message, Watermark
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators.join import _count_matches, _fill_matches
from laminar_pg.engine.operators.row_lists import link_row, unlink_row
from laminar_pg.engine.state import StateColumn, StateTable


@dataclass(frozen=True)
class SortKey:
    column: int
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default for the direction

    @property
    def nulls_go_first(self) -> bool:
        return self.descending if self.nulls_first is None else self.nulls_first


@numba.njit(nogil=True, cache=True)
def _add_rows(row_slots: np.ndarray, part_slots: np.ndarray, weights: np.ndarray,
              row_weight: np.ndarray, row_part: np.ndarray, next_: np.ndarray,
              prev: np.ndarray, head: np.ndarray, count: np.ndarray) -> None:
    for i in range(row_slots.shape[0]):
        r = row_slots[i]
        if row_part[r] < 0:
            link_row(r, part_slots[i], row_part, next_, prev, head, count)
        row_weight[r] += weights[i]


@numba.njit(nogil=True, cache=True)
def _unlink(rows: np.ndarray, row_part: np.ndarray, next_: np.ndarray, prev: np.ndarray,
            head: np.ndarray, count: np.ndarray) -> None:
    for i in range(rows.shape[0]):
        unlink_row(rows[i], row_part, next_, prev, head, count)


@numba.njit(nogil=True, cache=True)
def _ranks(parts: np.ndarray, weights: np.ndarray, low: int, high: int,
           first: np.ndarray, n: np.ndarray, beyond: np.ndarray) -> None:
    """Rows sorted by partition then order: per row, its first rank inside [low, high]
    and how many of its instances fall there; `beyond`: all of its instances rank past
    `high`."""
    position = 0
    for i in range(parts.shape[0]):
        if i == 0 or parts[i] != parts[i - 1]:
            position = 0
        w = max(weights[i], 0)
        start = position + 1  # its instances rank start .. position + w
        position += w
        lo = max(start, low)
        hi = min(position, high)
        if hi >= lo:
            first[i] = lo
            n[i] = hi - lo + 1
        else:
            first[i] = -1
            n[i] = 0
        beyond[i] = start > high


@numba.njit(nogil=True, cache=True)
def _tied_ranks(parts: np.ndarray, weights: np.ndarray, new_peer: np.ndarray, dense: bool,
                high: int, first: np.ndarray, n: np.ndarray, beyond: np.ndarray) -> None:
    """RANK / DENSE_RANK over rows sorted by partition then order (`new_peer[i]`: row i's
    order keys differ from row i-1's): every instance of a row, and every row of a peer
    group, has the group's rank (RANK: 1 + the instances before the group; DENSE_RANK:
    1 + the groups before it). Rows of weight <= 0 (leaving) take no rank."""
    position = 0
    groups = 0
    rank = 0
    pending = True  # a new peer group whose rank is set by its first live row
    for i in range(parts.shape[0]):
        if i == 0 or parts[i] != parts[i - 1]:
            position = 0
            groups = 0
            pending = True
        elif new_peer[i]:
            pending = True
        w = weights[i]
        if w <= 0:
            first[i] = -1
            n[i] = 0
            beyond[i] = False
            continue
        if pending:
            groups += 1
            rank = groups if dense else position + 1
            pending = False
        position += w
        if rank <= high:
            first[i] = rank
            n[i] = w
        else:
            first[i] = -1
            n[i] = 0
        beyond[i] = rank > high


class TopN(Operator):
    """Ranks `offset + 1 .. offset + limit` of each partition by `order`. Output: the
    input's columns, plus the rank (int64) when `rank_column`. `ties`: 'row_number'
    (ties broken by arrival), 'rank' or 'dense_rank' (peers share a rank, every peer of
    a rank within the limit is kept; no offset)."""

    name = "top_n"

    def __init__(self, input_schema: pa.Schema, partition: list[int], order: list[SortKey],
                 limit: int, output_schema: pa.Schema, *, offset: int = 0,
                 rank_column: bool = False, append_only: bool = False,
                 ties: str = "row_number") -> None:
        super().__init__(output_schema)
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset are not negative")
        if ties not in ("row_number", "rank", "dense_rank") or (ties != "row_number"
                                                                 and offset):
            raise ValueError(f"ties {ties!r} (with offset {offset})")
        self.ties = ties
        if len(output_schema) != len(input_schema) + (1 if rank_column else 0):
            raise ValueError("the output is the input's columns, then the rank")
        self.input_schema = input_schema
        self.partition = list(partition)
        self.order = list(order)
        self.limit = limit
        self.offset = offset
        self.rank_column = rank_column
        self.append_only = append_only
        self.rows_encoder = KeyEncoder([f.type for f in input_schema])
        self.part_encoder = KeyEncoder([input_schema.field(i).type for i in partition])
        self.rows = StateTable(self.rows_encoder.width, [
            StateColumn("weight", np.int64), StateColumn("part", np.int64, fill=-1),
            StateColumn("next", np.int64, fill=-1), StateColumn("prev", np.int64, fill=-1),
            StateColumn("first", np.int64, fill=-1), StateColumn("n", np.int64),
        ], encoder=self.rows_encoder)
        self.parts = StateTable(self.part_encoder.width, [
            StateColumn("head", np.int64, fill=-1), StateColumn("count", np.int64),
        ], encoder=self.part_encoder)
        self._touched: list[np.ndarray] = []
        self._held_watermark: int | None = None
        self._order_columns = sorted({k.column for k in order})

    def state_bytes(self) -> int:
        return self.rows.nbytes() + self.parts.nbytes() + self.rows_encoder.nbytes() \
            + self.part_encoder.nbytes()

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        n = batch.num_rows
        if n == 0:
            return []
        weights = (np.ones(n, np.int64) if chunk.weights is None
                   else np.ascontiguousarray(chunk.weights, dtype=np.int64))
        if self.partition:
            codes = self.part_encoder.encode([batch.column(i) for i in self.partition])
        else:
            codes = np.zeros((n, 0), np.int64)
        if self.append_only and self.ties == "row_number":  # peers of the last rank
            keep = self._chunk_candidates(batch, codes, weights)   # may lie past it
            if keep is not None:
                batch = batch.take(pa.array(keep))
                codes, weights = codes[keep], weights[keep]
        row_slots = self.rows.lookup(self.rows_encoder.encode(list(batch.columns)))
        part_slots = self.parts.lookup(codes)
        r = self.rows
        _add_rows(row_slots, part_slots, weights, r.column("weight"), r.column("part"),
                  r.column("next"), r.column("prev"), self.parts.column("head"),
                  self.parts.column("count"))
        self._touched.append(np.unique(part_slots))
        return []

    def _chunk_candidates(self, batch: pa.RecordBatch, codes: np.ndarray,
                          weights: np.ndarray) -> np.ndarray | None:
        """Append-only input: the rows of the chunk that can still rank within the limit
        of their partition, in arrival order (a row that offset + limit rows of its own
        chunk precede never can, as nothing is ever deleted); None keeps them all. The
        state then never sees, nor encodes, most rows of a busy partition."""
        n = batch.num_rows
        keep_n = self.offset + self.limit
        if keep_n >= n:
            return None
        if codes.shape[1] == 0:
            part = np.zeros(n, np.int64)
        elif codes.shape[1] == 1:
            part = np.ascontiguousarray(codes[:, 0])
        else:
            part = np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)
        columns: dict[str, Any] = {"part": pa.array(part)}
        sort_keys: list[tuple[str, str]] = [("part", "ascending")]
        for i, key in enumerate(self.order):
            values = batch.column(key.column)
            if values.null_count:
                columns[f"n{i}"] = values.is_null()
                sort_keys.append((f"n{i}", "descending" if key.nulls_go_first else "ascending"))
            columns[f"v{i}"] = values
            sort_keys.append((f"v{i}", "descending" if key.descending else "ascending"))
        columns["arrival"] = pa.array(np.arange(n))
        sort_keys.append(("arrival", "ascending"))
        order = pc.sort_indices(pa.table(columns), sort_keys=sort_keys).to_numpy()
        sorted_part = part[order]
        w = np.maximum(weights[order], 0)
        before = np.cumsum(w) - w  # instances ahead of each row, over the whole chunk
        starts = np.flatnonzero(np.concatenate(([True], sorted_part[1:] != sorted_part[:-1])))
        lengths = np.diff(np.append(starts, n))
        ahead = before - np.repeat(before[starts], lengths)  # ... within its partition
        keep = order[ahead < keep_n]
        if keep.shape[0] == n:
            return None
        kept: np.ndarray = np.sort(keep)
        return kept

    def on_watermark(self, watermark: Watermark, port: int) -> list[Message]:
        """Held until the barrier: the changes it covers go out there, before it."""
        advanced = self.input_watermark(watermark, port)
        if advanced is not None:
            self._held_watermark = advanced
        return []

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        out: list[Message] = []
        if self._touched:
            touched = np.unique(np.concatenate(self._touched))
            self._touched = []
            chunk = self._rerank(touched)
            if chunk is not None:
                out.append(chunk)
        if self._held_watermark is not None:
            out.append(Watermark(self._held_watermark))
            self._held_watermark = None
        self.rows.commit_epoch()
        self.parts.commit_epoch()
        return out

    # ---------------------------------------------------------------- ranking

    def _rerank(self, parts: np.ndarray) -> Chunk | None:
        r = self.rows
        m = _count_matches(parts, self.parts.column("head"), r.column("next"))
        owner = np.empty(m, np.int64)
        slots = np.empty(m, np.int64)
        weights = np.empty(m, np.int64)
        _fill_matches(parts, np.ones(parts.shape[0], np.int64), self.parts.column("head"),
                      r.column("next"), r.column("weight"), owner, slots, weights)
        # Rows in arrival order within a partition: the lists are newest first.
        slots = slots[::-1].copy()
        owner = owner[::-1].copy()
        weights = weights[::-1].copy()
        order, new_peer = self._sorted(parts[owner], slots)
        slots, weights, owner_parts = slots[order], weights[order], parts[owner][order]
        count = slots.shape[0]
        first = np.empty(count, np.int64)
        n = np.empty(count, np.int64)
        beyond = np.empty(count, np.bool_)
        if self.ties == "row_number":
            _ranks(owner_parts, weights, self.offset + 1, self.offset + self.limit,
                   first, n, beyond)
        else:
            _tied_ranks(owner_parts, weights, new_peer, self.ties == "dense_rank",
                        self.limit, first, n, beyond)
        old_first = r.column("first")[slots]
        old_n = r.column("n")[slots]
        changed = (old_first != first) | (old_n != n)
        chunk = self._changes(slots[changed], old_first[changed], old_n[changed],
                              first[changed], n[changed])
        r.column("first")[slots] = first
        r.column("n")[slots] = n
        gone = slots[(weights <= 0) | (beyond & self.append_only)]
        if gone.shape[0]:
            r.touch(gone)
            _unlink(gone, r.column("part"), r.column("next"), r.column("prev"),
                    self.parts.column("head"), self.parts.column("count"))
            r.release(gone)
            empty = parts[self.parts.column("count")[parts] == 0]
            if empty.shape[0]:
                self.parts.release(empty)
        return chunk

    def _sorted(self, owner_parts: np.ndarray, slots: np.ndarray,
                ) -> tuple[np.ndarray, np.ndarray]:
        """The order of the rows (partition, then the order keys, then arrival), and for
        RANK / DENSE_RANK, per sorted row, whether its order keys differ from the row
        before (NULLs are peers of NULLs, NaNs of NaNs, as PostgreSQL sorts them)."""
        if slots.shape[0] == 0:
            return np.empty(0, np.int64), np.empty(0, np.bool_)
        decoded = dict(zip(self._order_columns,
                           self.rows_encoder.decode(self.rows.keys.keys_of(slots),
                                                    self._order_columns), strict=True))
        columns: dict[str, pa.Array] = {"part": pa.array(owner_parts)}
        sort_keys: list[tuple[str, str]] = [("part", "ascending")]
        for i, key in enumerate(self.order):
            values = decoded[key.column]
            if values.null_count:
                columns[f"n{i}"] = values.is_null()
                sort_keys.append((f"n{i}", "descending" if key.nulls_go_first else "ascending"))
            columns[f"v{i}"] = values
            sort_keys.append((f"v{i}", "descending" if key.descending else "ascending"))
        columns["arrival"] = pa.array(np.arange(slots.shape[0]))
        sort_keys.append(("arrival", "ascending"))
        indices: np.ndarray = pc.sort_indices(pa.table(columns),
                                              sort_keys=sort_keys).to_numpy()
        new_peer = np.zeros(indices.shape[0], np.bool_)
        if self.ties != "row_number" and indices.shape[0] > 1:
            taken = pa.array(indices)
            for key in self.order:
                values = decoded[key.column].take(taken)
                after, before = values.slice(1), values.slice(0, len(values) - 1)
                same = pc.fill_null(pc.equal(after, before), False).to_numpy(
                    zero_copy_only=False)
                nulls = (after.is_null().to_numpy(zero_copy_only=False)
                         & before.is_null().to_numpy(zero_copy_only=False))
                same = same | nulls
                if pa.types.is_floating(values.type):
                    same = same | (pc.fill_null(pc.is_nan(after), False).to_numpy(
                        zero_copy_only=False) & pc.fill_null(pc.is_nan(before), False)
                        .to_numpy(zero_copy_only=False))
                new_peer[1:] |= ~same
        return indices, new_peer

    def _changes(self, slots: np.ndarray, old_first: np.ndarray, old_n: np.ndarray,
                 first: np.ndarray, n: np.ndarray) -> Chunk | None:
        if slots.shape[0] == 0:
            return None
        if self.rank_column:
            # each instance is its own output row: retract the old ranks, emit the new
            # (under RANK / DENSE_RANK every instance of a row has the same rank)
            expand = _expand if self.ties == "row_number" else np.repeat
            rows = np.concatenate([np.repeat(slots, old_n), np.repeat(slots, n)])
            ranks = np.concatenate([expand(old_first, old_n), expand(first, n)])
            weights = np.concatenate([np.full(int(old_n.sum()), -1, np.int64),
                                      np.ones(int(n.sum()), np.int64)])
        else:
            delta = n - old_n
            keep = delta != 0
            rows, weights, ranks = slots[keep], delta[keep], np.empty(0, np.int64)
        if rows.shape[0] == 0:
            return None
        columns = self.rows_encoder.decode(self.rows.keys.keys_of(rows))
        columns = [c if c.type == f.type else c.cast(f.type)
                   for c, f in zip(columns, self.input_schema, strict=True)]
        if self.rank_column:
            columns.append(pa.array(ranks - self.offset, pa.int64()))
        batch = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        return Chunk(batch, None if (weights == 1).all() else weights)


def _expand(first: np.ndarray, n: np.ndarray) -> np.ndarray:
    """first[i], first[i] + 1, ... n[i] values per row."""
    total = int(n.sum())
    if total == 0:
        return np.empty(0, np.int64)
    starts = np.repeat(first - np.concatenate(([0], np.cumsum(n)[:-1])), n)
    return starts + np.arange(total)
