"""HashJoin: the incremental equi-join of two inputs (inner, left, right, full outer).

Z-set semantics: each input is a multiset of rows with signed weights, and the join is
bilinear, so a chunk of changes on one side joins the other side's current state and
then enters its own side's state: every pair (a, b) is produced once, when the later of
the two arrives, with weight w(a) * w(b). Retractions flow through unchanged.

State per side (`_Side`), in two `StateTable`s:
- rows: every column of a row encoded as words -> its consolidated weight, its join
  key's slot and its neighbours in that key's list (a doubly linked list through slot
  numbers, so a row leaves its list in O(1) when its weight reaches zero);
- keys: the join key's words -> the head of its row list, the number of rows and their
  total weight. Both sides encode keys with one shared `KeyEncoder`, so a key's words
  are the same on either side (string keys share one dictionary).

Rows whose key has a NULL never match (SQL's `=`), so they never enter the state: an
outer join pads them at once, an inner join drops them.

Outer joins: a preserved side's row whose key has no partner (the other side's total
weight for it is zero) is emitted padded with NULLs. When a chunk moves one side's total
for a key between zero and non-zero, the other side's rows of that key, if preserved,
are retracted as padded rows (now they match) or emitted padded (now they do not).

Windowed joins (`close_key`: a key column that is a window bound on both sides, its
window's end `close_shift` microseconds after it): a key's rows can neither change nor
find a partner once both inputs' watermarks passed that end, so each new key is queued
by its end and, as the combined watermark passes it, the key and its rows leave the
state of both sides. State then holds the open windows only.

Kernels (numba, nogil) walk the lists; output columns come from the chunk (`take`) and
from the other side's rows decoded from their words. A non-equality condition of an
inner join is a filter after the join (the planner adds it); outer joins with one are
refused by the planner.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa

from laminar_pg.engine.keys import KeyEncoder
from laminar_pg.engine.messages import Barrier, Chunk, Message, Watermark
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators.aggregate_order import CloseQueue
from laminar_pg.engine.operators.join_expiry import Expiry, micros
from laminar_pg.engine.operators.row_lists import link_row, unlink_row
from laminar_pg.engine.state import StateColumn, StateTable

KINDS = ("inner", "left", "right", "full")


@numba.njit(nogil=True, cache=True)
def _count_matches(key_slots: np.ndarray, head: np.ndarray, next_: np.ndarray) -> int:
    total = 0
    for i in range(key_slots.shape[0]):
        k = key_slots[i]
        if k >= 0:
            r = head[k]
            while r >= 0:
                total += 1
                r = next_[r]
    return total


@numba.njit(nogil=True, cache=True)
def _fill_matches(key_slots: np.ndarray, factors: np.ndarray, head: np.ndarray,
                  next_: np.ndarray, row_weight: np.ndarray, out_row: np.ndarray,
                  out_slot: np.ndarray, out_weight: np.ndarray) -> None:
    """For each i and each row r of key key_slots[i]: (i, r, factors[i] * weight(r))."""
    j = 0
    for i in range(key_slots.shape[0]):
        k = key_slots[i]
        if k >= 0:
            r = head[k]
            while r >= 0:
                out_row[j] = i
                out_slot[j] = r
                out_weight[j] = factors[i] * row_weight[r]
                j += 1
                r = next_[r]


@numba.njit(nogil=True, cache=True)
def _apply_rows(row_slots: np.ndarray, key_slots: np.ndarray, weights: np.ndarray,
                row_weight: np.ndarray, row_key: np.ndarray, next_: np.ndarray,
                prev: np.ndarray, head: np.ndarray, total: np.ndarray, count: np.ndarray,
                dead: np.ndarray) -> int:
    """Add the rows' weights; link new rows into their key's list, unlink rows whose
    weight reached zero (into `dead`, returning how many)."""
    for i in range(row_slots.shape[0]):
        r = row_slots[i]
        k = key_slots[i]
        if row_key[r] < 0:
            link_row(r, k, row_key, next_, prev, head, count)
        row_weight[r] += weights[i]
        total[k] += weights[i]
    n_dead = 0
    for i in range(row_slots.shape[0]):
        r = row_slots[i]
        if row_weight[r] == 0 and unlink_row(r, row_key, next_, prev, head, count) >= 0:
            dead[n_dead] = r
            n_dead += 1
    return n_dead


@numba.njit(nogil=True, cache=True)
def _unlink_rows(rows: np.ndarray, row_weight: np.ndarray, row_key: np.ndarray,
                 next_: np.ndarray, prev: np.ndarray, head: np.ndarray, total: np.ndarray,
                 count: np.ndarray, keys_out: np.ndarray) -> int:
    """Take rows out of their keys' lists (their weights out of the totals); the keys
    they left go to keys_out; returns how many."""
    n = 0
    for i in range(rows.shape[0]):
        r = rows[i]
        weight = row_weight[r]
        k = unlink_row(r, row_key, next_, prev, head, count)
        if k >= 0:
            total[k] -= weight
            keys_out[n] = k
            n += 1
    return n


class _Side:
    """One input's consolidated rows, listed per join key."""

    def __init__(self, schema: pa.Schema, key_columns: list[int], keys: KeyEncoder) -> None:
        self.schema = schema
        self.key_columns = key_columns
        self.encoder = KeyEncoder([f.type for f in schema])
        self.rows = StateTable(self.encoder.width, [
            StateColumn("weight", np.int64), StateColumn("key", np.int64, fill=-1),
            StateColumn("next", np.int64, fill=-1), StateColumn("prev", np.int64, fill=-1),
        ], encoder=self.encoder)
        self.row_slots = np.empty(0, np.int64)  # the last apply's row slots, per row
        self.new_rows = np.empty(0, np.int64)  # ... and the slots it created
        self.keys = StateTable(keys.width, [
            StateColumn("head", np.int64, fill=-1), StateColumn("total", np.int64),
            StateColumn("count", np.int64),
        ], encoder=keys)

    def nbytes(self) -> int:
        return self.rows.nbytes() + self.keys.nbytes() + self.encoder.nbytes()

    def matches(self, key_slots: np.ndarray,
                factors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input row i, row slot here, factor * its weight) for every row here under
        key_slots[i] (-1: none)."""
        head, next_ = self.keys.column("head"), self.rows.column("next")
        m = _count_matches(key_slots, head, next_)
        rows = np.empty(m, np.int64)
        slots = np.empty(m, np.int64)
        weights = np.empty(m, np.int64)
        if m:
            _fill_matches(key_slots, factors, head, next_, self.rows.column("weight"),
                          rows, slots, weights)
        return rows, slots, weights

    def totals(self, key_slots: np.ndarray) -> np.ndarray:
        """The total weight of each key slot (0 for -1)."""
        total = self.keys.column("total")
        return np.where(key_slots >= 0, total[np.maximum(key_slots, 0)], 0)

    def decode(self, slots: np.ndarray) -> list[pa.Array]:
        return self.encoder.decode(self.rows.keys.keys_of(slots))

    def apply(self, batch: pa.RecordBatch, codes: np.ndarray,
              weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add these rows (their key words `codes`): (the key slots they touched, the key
        slots that are new)."""
        row_codes = self.encoder.encode(list(batch.columns))
        row_slots, self.new_rows = self.rows.lookup_new(row_codes)
        self.row_slots = row_slots
        key_slots, new_keys = self.keys.lookup_new(codes)
        dead = np.empty(row_slots.shape[0], np.int64)
        n_dead = _apply_rows(row_slots, key_slots, weights, self.rows.column("weight"),
                             self.rows.column("key"), self.rows.column("next"),
                             self.rows.column("prev"), self.keys.column("head"),
                             self.keys.column("total"), self.keys.column("count"), dead)
        if n_dead:
            self.rows.release(dead[:n_dead])
        return key_slots, new_keys

    def drop_rows(self, slots: np.ndarray) -> None:
        """Forget these rows (expired); keys left without rows go too."""
        keys = np.empty(slots.shape[0], np.int64)
        n = _unlink_rows(slots, self.rows.column("weight"), self.rows.column("key"),
                         self.rows.column("next"), self.rows.column("prev"),
                         self.keys.column("head"), self.keys.column("total"),
                         self.keys.column("count"), keys)
        self.rows.release(slots)
        self.release_empty(keys[:n])

    def drop_keys(self, key_slots: np.ndarray) -> None:
        """Forget these keys and every row listed under them."""
        head, next_ = self.keys.column("head"), self.rows.column("next")
        m = _count_matches(key_slots, head, next_)
        if m:
            rows = np.empty(m, np.int64)
            slots = np.empty(m, np.int64)
            weights = np.empty(m, np.int64)
            _fill_matches(key_slots, np.ones(key_slots.shape[0], np.int64), head, next_,
                          self.rows.column("weight"), rows, slots, weights)
            self.rows.release(slots)
        self.keys.release(key_slots)

    def release_empty(self, key_slots: np.ndarray) -> None:
        empty = key_slots[self.keys.column("count")[key_slots] == 0]
        if empty.shape[0]:
            self.keys.release(empty)


class HashJoin(Operator):
    """`left JOIN right ON left[lk] = right[rk] ...`; output: left's columns, then
    right's (NULL-padded for outer joins). Port 0 is left, port 1 right. Key columns
    must have the same types on both sides (the planner casts them)."""

    name = "hash_join"

    def __init__(self, left: pa.Schema, right: pa.Schema, left_keys: list[int],
                 right_keys: list[int], kind: str, output_schema: pa.Schema, *,
                 close_key: int | None = None, close_shift: int = 0,
                 expiry: tuple[Expiry | None, Expiry | None] | None = None,
                 temporal: bool = False) -> None:
        super().__init__(output_schema, inputs=2)
        if kind not in KINDS:
            raise ValueError(f"join kind {kind}")
        if temporal and (kind not in ("inner", "left") or close_key is not None
                         or expiry is not None):
            raise ValueError("a temporal join is an inner or left join, nothing more")
        # FOR SYSTEM_TIME AS OF PROCTIME(): a left row joins the right side as it is when
        # the row arrives and is not kept; right changes update the state and emit nothing
        self.temporal = temporal
        if len(left_keys) != len(right_keys):
            raise ValueError("one right key per left key")
        types = [left.field(i).type for i in left_keys]
        if types != [right.field(i).type for i in right_keys]:
            raise ValueError("join keys must have the same types on both sides")
        if len(output_schema) != len(left) + len(right):
            raise ValueError("the output has the left's columns, then the right's")
        self.kind = kind
        self.keys = KeyEncoder(types)
        self.sides = (_Side(left, list(left_keys), self.keys),
                      _Side(right, list(right_keys), self.keys))
        self.expiry = tuple(expiry) if expiry is not None else (None, None)
        self._expire_due = False
        self.preserved = (kind in ("left", "full"), kind in ("right", "full"))
        self.close_key = close_key
        self.close_shift = close_shift
        self.queues = (CloseQueue(), CloseQueue())
        self.closed_keys = 0  # keys dropped as their windows closed (for tests, metrics)
        if close_key is not None and not pa.types.is_timestamp(types[close_key]):
            raise ValueError("a join closes windows on a timestamp key column")

    def state_bytes(self) -> int:
        return sum(s.nbytes() for s in self.sides) + sum(q.nbytes() for q in self.queues) \
            + sum(e.nbytes() for e in self.expiry if e is not None)

    def _expire(self) -> None:
        """Interval joins: forget the rows the other side's watermark has passed."""
        for port, expiry in enumerate(self.expiry):
            other_mark = self._watermarks[1 - port]
            if expiry is None or other_mark is None:
                continue
            side = self.sides[port]
            due = expiry.due(other_mark, side.rows.keys.live)
            if due.shape[0] == 0:
                continue
            if expiry.retractable and expiry.own_time is not None:
                own_mark = self._watermarks[port]
                times = micros(side.encoder.decode(side.rows.keys.keys_of(due),
                                                   [expiry.own_time])[0])
                safe = times < own_mark if own_mark is not None else \
                    np.zeros(due.shape[0], dtype=np.bool_)
                expiry.requeue(due[~safe])
                due = due[safe]
            if due.shape[0]:
                side.drop_rows(due)
                expiry.forget(due)

    def _close_times(self, key_slots: np.ndarray, side: _Side) -> np.ndarray:
        assert self.close_key is not None
        words = side.keys.keys.keys_of(key_slots)
        bound = self.keys.decode(words, [self.close_key])[0]
        return micros(bound) + self.close_shift  # NULL keys are never held

    def on_watermark(self, watermark: Watermark, port: int) -> list[Message]:
        if self.temporal:  # the stream's event time; the table has none
            if port == 1 or (self._emitted_watermark is not None
                             and watermark.value <= self._emitted_watermark):
                return []
            self._emitted_watermark = watermark.value
            return [watermark]
        advanced = self.input_watermark(watermark, port)
        if any(e is not None for e in self.expiry):
            self._expire_due = True  # once per epoch, at the barrier: fewer, larger drops
        if advanced is None:
            return []
        if self.close_key is not None:
            for side, queue in zip(self.sides, self.queues, strict=True):
                popped = queue.pop_upto(advanced)
                popped = np.unique(popped)
                popped = popped[side.keys.keys.live[popped] == 1]
                if popped.shape[0]:
                    # a slot may have been reused by a later window since it was queued
                    popped = popped[self._close_times(popped, side) <= advanced]
                    side.drop_keys(popped)
                    self.closed_keys += int(popped.shape[0])
        return [Watermark(advanced)]

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        if self._expire_due:
            self._expire_due = False
            self._expire()
        for side in self.sides:
            side.rows.commit_epoch()
            side.keys.commit_epoch()
        return []

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        n = batch.num_rows
        if n == 0:
            return []
        this, other = self.sides[port], self.sides[1 - port]
        weights = (np.ones(n, np.int64) if chunk.weights is None
                   else np.ascontiguousarray(chunk.weights, dtype=np.int64))
        key_arrays = [batch.column(i) for i in this.key_columns]
        null_key = np.zeros(n, dtype=np.bool_)
        for array in key_arrays:
            if array.null_count:
                null_key |= np.asarray(array.is_null(), dtype=np.bool_)
        codes = self.keys.encode(key_arrays) if key_arrays else np.zeros((n, 0), np.int64)
        other_keys = other.keys.find(codes)
        other_keys[null_key] = -1

        if self.temporal and port == 1:  # the table changed: later rows will see it
            keep = np.flatnonzero(~null_key)
            if keep.shape[0]:
                kept = batch.take(pa.array(keep)) if keep.shape[0] != n else batch
                key_slots, _ = this.apply(kept, codes[keep], weights[keep])
                this.release_empty(key_slots)
            return []
        # rows of this chunk x the other side's rows
        rows, slots, joined_w = other.matches(other_keys, weights)
        # this side preserved: rows with no partner, padded
        padded = np.empty(0, np.int64)
        if self.preserved[port]:
            padded = np.flatnonzero(other.totals(other_keys) == 0)
        # the state, and the other side's rows whose partners came or went
        flips_slots = flips_w = np.empty(0, np.int64)
        keep = np.flatnonzero(~null_key)
        if keep.shape[0] and not self.temporal:
            kept_codes = codes[keep]
            before_slots = this.keys.find(kept_codes)
            before = this.totals(before_slots)
            kept = batch.take(pa.array(keep)) if keep.shape[0] != n else batch
            key_slots, new_keys = this.apply(kept, kept_codes, weights[keep])
            expiry = self.expiry[port]
            if expiry is not None:
                expiry.track(kept, this.row_slots, this.new_rows)
            if self.close_key is not None and new_keys.shape[0]:
                self.queues[port].push(self._close_times(new_keys, this), new_keys)
            if self.preserved[1 - port]:
                after = this.keys.column("total")[key_slots]
                first = np.unique(key_slots, return_index=True)[1]
                came = (before[first] == 0) & (after[first] != 0)
                went = (before[first] != 0) & (after[first] == 0)
                sign = np.where(came, -1, 1)[came | went]
                flip_keys = other_keys[keep][first][came | went]
                _, flips_slots, flips_w = other.matches(flip_keys, sign.astype(np.int64))
            this.release_empty(key_slots)
        return self._output(port, batch, rows, slots, joined_w, padded, weights,
                            flips_slots, flips_w)

    def _output(self, port: int, batch: pa.RecordBatch, rows: np.ndarray,
                slots: np.ndarray, joined_w: np.ndarray, padded: np.ndarray,
                weights: np.ndarray, flips_slots: np.ndarray,
                flips_w: np.ndarray) -> list[Message]:
        total = rows.shape[0] + padded.shape[0] + flips_slots.shape[0]
        if total == 0:
            return []
        other = self.sides[1 - port]
        this_rows = np.concatenate([rows, padded])
        this_part = batch.take(pa.array(this_rows))
        this_cols: list[pa.Array] = []
        for column in this_part.columns:
            if flips_slots.shape[0]:
                column = pa.concat_arrays([column, pa.nulls(flips_slots.shape[0],
                                                            column.type)])
            this_cols.append(column)
        other_slots = np.concatenate([slots, flips_slots])
        decoded = other.decode(other_slots)
        other_cols: list[pa.Array] = []
        for field, column in zip(other.schema, decoded, strict=True):
            if column.type != field.type:
                column = column.cast(field.type)
            if padded.shape[0]:
                pad = pa.nulls(padded.shape[0], field.type)
                column = pa.concat_arrays([column[: slots.shape[0]], pad,
                                           column[slots.shape[0]:]])
            other_cols.append(column)
        out_w = np.concatenate([joined_w, weights[padded], flips_w])
        columns = this_cols + other_cols if port == 0 else other_cols + this_cols
        out = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        return [Chunk(out, None if (out_w == 1).all() else out_w)]
