"""HashAggregate: incremental GROUP BY over a change stream (Z-set in, Z-set out).

Strategy: group keys are encoded to int64 words (`engine.keys`) and mapped to slots of a
`StateTable`; every chunk updates the slot-indexed state with one numba kernel per
aggregate call, each row contributing weight x value (`aggregate_calls`), so insertions
and retractions are the same code. A group exists while its row count (the sum of its
rows' weights) is positive.

EMIT CHANGES (default): at a barrier, for each group the epoch touched, the current
result is compared with the row emitted before (kept in the state); a change emits the
old row with weight -1 and the new one with +1, and a group whose count fell to 0 is
retracted and its slot released. A global aggregate (no GROUP BY) always has exactly one
row, emitted at the first barrier even before any input.

EMIT ON WINDOW CLOSE (`close_column`): nothing is emitted at barriers; when the
watermark reaches a group's close value (its window_end) the group's final row is emitted
once (append-only output) and its state freed; a later row for a closed window is late:
dropped and counted in `late_rows`.

min/max over an input that may retract keep per-(group, value) counts in a pair index
with a lazily-pruned heap per group (amortised O(log n) a retraction of the extreme, O(1)
average an insertion); with `append_only=True` they keep only the current extreme.
DISTINCT uses the pair index too (see `aggregate_calls`), and so do string_agg and
array_agg (append-only or not: every value is needed to rebuild a group's result): at a
barrier they merge the epoch's changed pairs into the touched groups' stored sequences
and emit the groups whose result changed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from laminar_pg.engine.keys import ColumnCodec, IntegerCodec, KeyEncoder
from laminar_pg.engine.messages import Barrier, Chunk, Message, Watermark
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators import aggregate_kernels as k
from laminar_pg.engine.operators.aggregate_calls import (
    Accumulator,
    AggregateCall,
    ChunkInputs,
    PairIndex,
    codec_of,
    make_accumulator,
)
from laminar_pg.engine.operators.aggregate_order import CloseQueue
from laminar_pg.engine.state import StateColumn, StateTable

__all__ = ["AggregateCall", "HashAggregate"]

_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


class HashAggregate(Operator):
    """GROUP BY `group_by` computing `calls`; output: group columns then one per call."""

    name = "hash_aggregate"

    def __init__(self, input_schema: pa.Schema, group_by: list[int],
                 calls: list[AggregateCall], output_schema: pa.Schema, *,
                 close_column: int | None = None, append_only: bool = False,
                 forget_column: int | None = None) -> None:
        super().__init__(output_schema)
        if close_column is not None and forget_column is not None:
            raise ValueError("a window column either closes (final rows) or is forgotten")
        if len(output_schema) != len(group_by) + len(calls):
            raise ValueError("the output has one column per group key and per call")
        self.input_schema = input_schema
        self.group_by = list(group_by)
        self.calls = list(calls)
        self.append_only = append_only
        self.close_column = close_column
        self.forget_column = forget_column
        self.late_rows = 0
        self.forgotten_groups = 0  # groups released as their windows passed (EMIT CHANGES)
        fields = [input_schema.field(i) for i in self.group_by]
        self.encoder = KeyEncoder([f.type for f in fields], [f.nullable for f in fields])
        self._codecs: dict[int, ColumnCodec] = {}
        self.accumulators = [make_accumulator(i, c, input_schema, self._codecs, append_only)
                             for i, c in enumerate(self.calls)]
        self.pairs = self._pair_indexes()
        self.state = StateTable(self.encoder.width, self._state_columns(),
                                encoder=self.encoder)
        self._ones = np.ones(0, dtype=np.int64)
        self._true = np.ones(0, dtype=np.bool_)
        self._zeros = np.zeros(0, dtype=np.int64)
        self._global = not self.group_by
        if self._global:  # the one group exists from the start
            self.state.lookup(np.empty((1, 0), dtype=np.int64))
        self._queue: CloseQueue | None = None
        self._closed_upto: int | None = None  # windows ending at or before it are closed
        # EMIT CHANGES over windows with a watermark: a window's groups are forgotten
        # (their last rows stand) at the first barrier after the watermark passes its end,
        # and later rows for it are dropped as late, so state holds the open windows only.
        self._forget_upto: int | None = None
        self._held_watermark: int | None = None
        if close_column is not None:
            self._setup_close(close_column)
        elif forget_column is not None:
            self._setup_close(forget_column)

    # --- construction -------------------------------------------------------------------

    def _pair_indexes(self) -> list[PairIndex]:
        """One pair index per (argument, filter, NULL counted) that DISTINCT, retractable
        min/max, string_agg or array_agg need; ordered when min/max read it, listed when
        windows close (groups are dropped, string_agg / array_agg read whole groups),
        tracking its changes when string_agg / array_agg read it at barriers. DISTINCT
        aggregates of one argument that only count share one index across their filters,
        a lane per filter, unless windows close."""
        listed = self.close_column is not None or self.forget_column is not None
        users: dict[tuple[int, int | None, bool, bool], list[Accumulator]] = {}
        extremes: dict[tuple[int, int | None, bool, bool], set[str]] = {}
        for acc in self.accumulators:
            call = acc.call
            extreme = call.function in ("min", "max") and not self.append_only
            if acc.via_pairs or extreme or acc.reads_sequences:
                assert call.argument is not None
                shared = acc.via_pairs and not listed
                key = (call.argument, None if shared else call.filter,
                       acc.pairs_with_nulls, shared)
                users.setdefault(key, []).append(acc)
                if extreme:
                    extremes.setdefault(key, set()).add(call.function)
        indexes = []
        for key, accs in users.items():
            arg, filter, nulls, shared = key
            codec = codec_of(arg, self.input_schema, self._codecs)
            tracked = not listed and any(a.reads_sequences for a in accs)
            filters = list(dict.fromkeys(a.call.filter for a in accs)) if shared else [filter]
            index = PairIndex(arg, filters, codec, extremes.get(key, set()),
                              listed=listed, nulls=nulls, tracked=tracked,
                              append_only=shared and self.append_only)
            for acc in accs:
                acc.pairs = index
                acc.lane = filters.index(acc.call.filter) if shared else 0
            indexes.append(index)
        return indexes

    def _state_columns(self) -> list[StateColumn]:
        columns = [StateColumn("rows", np.int64), StateColumn("emitted", np.uint8)]
        for i, acc in enumerate(self.accumulators):
            columns += acc.columns
            if self.close_column is None:  # the row emitted last, to retract it
                columns += [StateColumn(f"out{i}", np.int64, width=acc.codec.width),
                            StateColumn(f"out{i}_valid", np.uint8)]
        return columns

    def _setup_close(self, close_column: int) -> None:
        if self._global or not 0 <= close_column < len(self.group_by):
            raise ValueError("close_column indexes a GROUP BY column")
        codec = self.encoder.codecs[close_column]
        close_type = self.encoder.types[close_column]
        if not isinstance(codec, IntegerCodec) or codec.unsigned64:
            raise ValueError(f"cannot close windows on a {close_type} column")
        self._close_word = self.encoder.offsets[close_column]
        self._close_mask = self.encoder.mask_bits.get(close_column)
        self._close_type = close_type
        self._queue = CloseQueue()

    # --- counters -----------------------------------------------------------------------

    @property
    def groups(self) -> int:
        """Groups currently held in state."""
        return len(self.state)

    def state_bytes(self) -> int:
        total = self.state.nbytes() + self.encoder.nbytes()
        total += sum(c.nbytes() for c in self._codecs.values())
        total += sum(p.nbytes() for p in self.pairs)
        total += sum(a.nbytes() for a in self.accumulators)
        if self._queue is not None:
            total += self._queue.nbytes()
        return total

    # --- input --------------------------------------------------------------------------

    def _buffers(self, n: int) -> None:
        if self._ones.shape[0] < n:
            size = max(n, 2 * self._ones.shape[0], 1024)
            self._ones = np.ones(size, dtype=np.int64)
            self._true = np.ones(size, dtype=np.bool_)
            self._zeros = np.zeros(size, dtype=np.int64)

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        n = batch.num_rows
        if n == 0:
            return []
        self._buffers(n)
        weights = self._ones[:n] if chunk.weights is None else \
            np.ascontiguousarray(chunk.weights, dtype=np.int64)
        if self.append_only and chunk.weights is not None and (weights < 0).any():
            raise ValueError("a retraction reached an aggregate planned as append-only")
        if self._global:
            slots = self._zeros[:n]
            self.state.touch(slots[:1])
        else:
            codes = self.encoder.encode([batch.column(i) for i in self.group_by])
            if self._closed_upto is not None:
                late = self._late(codes)
                if late is not None:
                    keep = ~late
                    self.late_rows += int(late.sum())
                    codes = np.ascontiguousarray(codes[keep])
                    batch = batch.filter(pa.array(keep))
                    weights = weights[keep]
                    n = batch.num_rows
                    if n == 0:
                        return []
            slots, new = self.state.lookup_new(codes)
            if self._queue is not None and new.shape[0]:
                self._enqueue(new)
        k.accumulate_count_all(slots, weights, self.state.column("rows"))
        inputs = ChunkInputs(batch, weights, self._codecs, self._true[:n])
        for acc in self.accumulators:
            if not acc.via_pairs:
                acc.update(self.state, slots, inputs)
        for index in self.pairs:
            index.update(slots, inputs)
        return []

    def _late(self, codes: np.ndarray) -> np.ndarray | None:
        assert self._closed_upto is not None
        late = codes[:, self._close_word] <= self._closed_upto
        if self._close_mask is not None:  # a NULL window end never closes
            word, bit = self._close_mask
            late &= ((codes[:, word] >> bit) & 1) == 0
        return late if late.any() else None

    def _enqueue(self, new: np.ndarray) -> None:
        assert self._queue is not None
        keys = self.state.keys.keys_of(new)
        if self._close_mask is not None:
            word, bit = self._close_mask
            valued = ((keys[:, word] >> bit) & 1) == 0
            keys, new = keys[valued], new[valued]
        self._queue.push(keys[:, self._close_word], new)

    # --- output -------------------------------------------------------------------------

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        out: list[Message] = []
        if self.close_column is None:
            self._reconcile_pairs()
            chunk = self._emit_changes()
            if chunk is not None:
                out.append(chunk)
            if self._forget_upto is not None:
                self._forget_windows(self._forget_upto)
                self._forget_upto = None
            if self._held_watermark is not None:  # after the changes it covers
                out.append(Watermark(self._held_watermark))
                self._held_watermark = None
        self.state.commit_epoch()
        for index in self.pairs:
            index.state.commit_epoch()
        return out

    def on_watermark(self, watermark: Watermark, port: int) -> list[Message]:
        advanced = self.input_watermark(watermark, port)
        if advanced is None:
            return []
        out: list[Message] = []
        if self.close_column is None:
            # EMIT CHANGES: this epoch's changes go out at the barrier, so the watermark
            # does too, after them (a downstream operator must not see it first)
            self._held_watermark = advanced
            if self._queue is not None:
                limit = self._watermark_in_units(advanced)
                self._closed_upto = limit if self._closed_upto is None else max(
                    limit, self._closed_upto)
                self._forget_upto = self._closed_upto
            return []
        if self._queue is not None:
            chunk = self._close_windows(self._watermark_in_units(advanced))
            if chunk is not None:
                out.append(chunk)
        out.append(Watermark(advanced))
        return out

    def _still_closing(self, popped: np.ndarray, limit: int) -> np.ndarray:
        """The popped groups that are live and whose window ends at or before `limit`: a
        group released early (its rows retracted) leaves its queue entry behind, and its
        slot may hold a later window's group by now."""
        closing = np.unique(popped)
        closing = closing[self.state.keys.live[closing] == 1]
        keys = self.state.keys.keys_of(closing)
        due = keys[:, self._close_word] <= limit
        if self._close_mask is not None:  # a NULL window end never closes
            word, bit = self._close_mask
            due &= ((keys[:, word] >> bit) & 1) == 0
        result: np.ndarray = closing[due]
        return result

    def _forget_windows(self, limit: int) -> None:
        """Release the groups of windows ending at or before `limit` (already emitted)."""
        assert self._queue is not None
        closing = self._queue.pop_upto(limit)
        if closing.shape[0] == 0:
            return
        closing = self._still_closing(closing, limit)
        for index in self.pairs:
            index.drop_groups(closing)
        for acc in self.accumulators:
            acc.forget(self.state, closing)
        self.state.release(closing)
        self.forgotten_groups += int(closing.shape[0])

    def _reconcile_pairs(self) -> None:
        """Apply the pairs that appeared or vanished to the DISTINCT accumulators."""
        for index in self.pairs:
            lanes = index.reconcile(self.state.capacity)
            for acc in self.accumulators:
                if not (acc.via_pairs and acc.pairs is index):
                    continue
                moves = lanes[acc.lane]
                if moves.deltas.shape[0]:
                    mask = np.ones(moves.deltas.shape[0], dtype=np.bool_)
                    acc.apply(self.state, moves.groups, moves.words, mask, moves.deltas, None)

    def _results(self, slots: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [acc.result(self.state, slots) for acc in self.accumulators]

    def _emit_changes(self) -> Chunk | None:
        state = self.state
        touched = state.touched_slots()
        if touched.shape[0] == 0:
            return None
        rows = state.column("rows")[touched]
        exists = np.ones(touched.shape[0], dtype=bool) if self._global else rows > 0
        existed = state.column("emitted")[touched] == 1
        results = self._results(touched)
        changed = exists != existed
        both = exists & existed
        previous = []
        for i, (words, valid) in enumerate(results):
            old_words = _rows2d(state.column(f"out{i}")[touched])
            old_valid = state.column(f"out{i}_valid")[touched] == 1
            previous.append((old_words, old_valid))
            differs = (old_valid != valid) | (old_words != words).any(axis=1)
            changed |= both & differs
        retract = changed & existed
        insert = changed & exists
        for i, (words, valid) in enumerate(results):
            out = state.column(f"out{i}")
            out[touched] = words if out.ndim == 2 else words[:, 0]
            state.column(f"out{i}_valid")[touched] = valid
        state.column("emitted")[touched] = exists
        chunk = None
        if retract.any() or insert.any():
            slots = np.concatenate([touched[retract], touched[insert]])
            values = [(np.concatenate([ow[retract], w[insert]]),
                       np.concatenate([ov[retract], v[insert]]))
                      for (ow, ov), (w, v) in zip(previous, results, strict=True)]
            weights = np.concatenate([np.full(int(retract.sum()), -1, dtype=np.int64),
                                      np.ones(int(insert.sum()), dtype=np.int64)])
            chunk = Chunk(self._batch(slots, values), weights)
        if not self._global:
            dead = touched[~exists]
            if dead.shape[0]:
                for acc in self.accumulators:
                    acc.forget(state, dead)
                state.release(dead)
                for index in self.pairs:
                    index.forget_groups(dead)
        return chunk

    def _close_windows(self, limit: int) -> Chunk | None:
        assert self._queue is not None
        self._closed_upto = limit if self._closed_upto is None else max(limit,
                                                                        self._closed_upto)
        closing = self._queue.pop_upto(limit)
        if closing.shape[0] == 0:
            return None
        self._reconcile_pairs()
        closing = self._still_closing(closing, limit)
        final = closing[self.state.column("rows")[closing] > 0]
        chunk = None
        if final.shape[0]:
            chunk = Chunk(self._batch(final, self._results(final)))
        for index in self.pairs:
            index.drop_groups(closing)
        for acc in self.accumulators:
            acc.forget(self.state, closing)
        self.state.release(closing)
        return chunk

    def _watermark_in_units(self, watermark_us: int) -> int:
        """The largest close value in the column's own unit that the watermark passed."""
        t = self._close_type
        if pa.types.is_timestamp(t) or pa.types.is_duration(t):
            per_second = _UNITS_PER_SECOND[t.unit]
            if per_second >= 1_000_000:
                return int(min(watermark_us * (per_second // 1_000_000), 2**63 - 1))
            return watermark_us // (1_000_000 // per_second)
        if pa.types.is_date32(t):
            return watermark_us // 86_400_000_000
        if pa.types.is_date64(t):
            return watermark_us // 1_000
        return watermark_us

    def _batch(self, slots: np.ndarray,
               values: list[tuple[np.ndarray, np.ndarray]]) -> pa.RecordBatch:
        """Output rows: the groups' key columns, then each call's result column."""
        columns: list[pa.Array] = []
        if not self._global:
            columns += self.encoder.decode(self.state.keys.keys_of(slots))
        for acc, (words, valid) in zip(self.accumulators, values, strict=True):
            columns.append(acc.codec.decode(words, None if valid.all() else valid))
        columns = [c if c.type == f.type else c.cast(f.type)
                   for c, f in zip(columns, self.schema, strict=True)]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)


def _rows2d(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, 1) if array.ndim == 1 else array
