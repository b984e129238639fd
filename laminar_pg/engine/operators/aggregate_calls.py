"""The aggregate functions of `HashAggregate`: their state columns, per-chunk update and
per-group result.

Each `AggregateCall` becomes an accumulator that declares the state columns it needs in
the group `StateTable` (names prefixed `c<i>_`), adds a chunk's rows into them with one
kernel call (`apply`: group slots, argument words, mask, weights), and computes the
result words of a set of groups (`result`) in its output codec's format, so results are
compared with what was emitted and decoded to Arrow uniformly.

Values that need per-(group, value) counts live in a `PairIndex`: count(DISTINCT x) and
sum/avg(DISTINCT x) are the plain accumulators fed, at each barrier, with the pairs that
appeared (+1) or vanished (-1); min/max over a retractable input read the smallest or
largest live pair of the group from the index's per-group heaps
(`aggregate_order.GroupHeaps`).

string_agg / array_agg keep the sequence each group last produced (its values in order,
repeated by their counts) in a `SequenceStore`; the result word is its id, unchanged
while the sequence is, so unchanged groups emit nothing, and strings and lists are built
only for the rows emitted (`codec.decode`). At a barrier the touched groups' sequences
are merged with the pairs whose counts changed (the index keeps them, `tracked`); with
EMIT ON WINDOW CLOSE a closing group's sequence is read whole from the index's per-group
lists. array_agg keeps NULLs, so its index has a NULL flag word after the value words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.keys import (
    ColumnCodec,
    DecimalCodec,
    FloatCodec,
    IntegerCodec,
    StringCodec,
    codec_for,
    fixed_values,
    float_values,
    float_words,
    validity,
)
from laminar_pg.engine.operators import aggregate_kernels as k
from laminar_pg.engine.operators.aggregate_order import (
    GroupHeaps,
    SequenceStore,
    group_sequences,
    merge_sequences,
)
from laminar_pg.engine.state import StateColumn, StateTable, mark_touched
from laminar_pg.errcodes import FeatureNotSupported, NumericValueOutOfRange

FUNCTIONS = ("count_star", "count", "sum", "avg", "min", "max", "bool_and", "bool_or",
             "string_agg", "array_agg")
_SIGN = np.int64(np.iinfo(np.int64).min)


@dataclass(frozen=True, kw_only=True)
class AggregateCall:
    """One aggregate of a GROUP BY: `function(argument)`, optionally DISTINCT, over the
    rows where the boolean column `filter` is TRUE. The planner picks `output_type`.

    string_agg joins with `separator` (None: nothing between the values, as PostgreSQL
    does for a NULL delimiter); string_agg and array_agg order the values ascending
    (bytewise for strings; array_agg puts NULLs last), or descending (`descending`,
    NULLs first)."""

    function: str
    argument: int | None
    output_type: pa.DataType
    name: str
    distinct: bool = False
    filter: int | None = None
    separator: str | None = None
    descending: bool = False


class ChunkInputs:
    """Per-chunk cache of argument words, validity and masks shared by the calls."""

    def __init__(self, batch: pa.RecordBatch, weights: np.ndarray,
                 codecs: dict[int, ColumnCodec], ones: np.ndarray) -> None:
        self.batch = batch
        self.weights = weights
        self.codecs = codecs
        self.ones = ones
        self._valid: dict[int, np.ndarray | None] = {}
        self._words: dict[int, np.ndarray] = {}
        self._masks: dict[tuple[int | None, int | None], np.ndarray] = {}

    def valid(self, arg: int) -> np.ndarray | None:
        if arg not in self._valid:
            self._valid[arg] = validity(self.batch.column(arg))
        return self._valid[arg]

    def words(self, arg: int) -> np.ndarray:
        """The argument's codec words, (n, width)."""
        if arg not in self._words:
            words, valid = self.codecs[arg].encode(self.batch.column(arg))
            self._words[arg] = words
            self._valid[arg] = valid
        return self._words[arg]

    def floats(self, arg: int) -> np.ndarray:
        column = self.batch.column(arg)
        if pa.types.is_float64(column.type):
            return fixed_values(column, np.dtype(np.float64))
        values: np.ndarray = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return values

    def mask(self, arg: int | None, filter: int | None) -> np.ndarray:
        """True where the argument is not NULL and the filter is TRUE."""
        key = (arg, filter)
        if key not in self._masks:
            mask: np.ndarray | None = None if arg is None else self.valid(arg)
            if filter is not None:
                column = self.batch.column(filter)
                keep = pc.fill_null(column, False).to_numpy(zero_copy_only=False)
                mask = keep if mask is None else (mask & keep)
            self._masks[key] = self.ones if mask is None else np.ascontiguousarray(mask)
        return self._masks[key]


class Transitions:
    """Pairs that appeared (+1) or vanished (-1) since the last reconciliation."""

    def __init__(self, groups: np.ndarray, words: np.ndarray, deltas: np.ndarray) -> None:
        self.groups = groups
        self.words = words
        self.deltas = deltas


class PairIndex:
    """Per-(group, value) multiplicities of one argument under one FILTER, with the
    per-group heaps that min/max need (`extremes`: "min", "max") and, when windows close
    (`listed`), a list of each group's values. `tracked`: each reconciliation keeps the
    pairs whose counts changed (`changes`), for string_agg / array_agg. `nulls`: NULL is
    a value too, told apart by a flag word after the value words.

    DISTINCT aggregates of one argument under several FILTERs (Nexmark q16 has four per
    argument) share one index with a count lane per filter (`filters`): a row is looked
    up once, whatever the number of filters. Lanes exist only without heaps, listing or
    tracking, which read one lane's presence.

    `append_only`: no retraction ever comes, so a pair needs no count, only a bit per
    lane saying it was seen; rows whose pair is new in a lane are kept as that lane's
    appearances until the barrier, and only those pairs are marked changed."""

    def __init__(self, arg: int, filters: list[int | None], codec: ColumnCodec,
                 extremes: set[str], listed: bool, nulls: bool = False,
                 tracked: bool = False, append_only: bool = False) -> None:
        if (len(filters) != 1 or append_only) and (extremes or listed or tracked):
            raise ValueError("filter lanes and append-only pairs are for DISTINCT only")
        self.append_only = append_only
        lanes_n = len(filters)
        self._appeared: list[list[tuple[np.ndarray, np.ndarray]]] = \
            [[] for _ in range(lanes_n)]
        self.arg = arg
        self.filters = list(filters)
        self.codec = codec
        self.nulls = nulls
        self.tracked = tracked
        width = codec.width + (1 if nulls else 0)  # value words of a pair
        # the last reconciliation's changed pairs: (rows (group, value words), counts)
        self.changes = (np.empty((0, 1 + width), np.int64), np.empty(0, np.int64))
        self._position = np.full(0, -1, dtype=np.int64)  # group slot -> index, scratch
        lanes = [StateColumn("count", np.int64), StateColumn("present", np.uint8)]
        for lane in range(1, len(filters)):
            lanes += [StateColumn(f"count{lane}", np.int64),
                      StateColumn(f"present{lane}", np.uint8)]
        if append_only:
            lanes = [StateColumn("seen", np.uint8, width=len(filters))]
        self.state = StateTable(1 + width, lanes)
        self._counts = ["count"] + [f"count{i}" for i in range(1, len(filters))]
        self._present = ["present"] + [f"present{i}" for i in range(1, len(filters))]
        bytewise = not codec.ordered
        self.heaps = {name == "max": GroupHeaps(width, ordered=True,
                                                is_max=name == "max", bytewise=bytewise)
                      for name in sorted(extremes)}
        if listed and not self.heaps:
            self.heaps[False] = GroupHeaps(width, ordered=False, is_max=False,
                                           bytewise=bytewise)
        if isinstance(codec, StringCodec):
            self._strings_of: StringCodec | None = codec
        else:
            self._strings_of = None
        self._no_strings = (np.empty(0, dtype=np.uint8), np.zeros(1, dtype=np.int64))
        self._dirty_flags = np.zeros(0, dtype=np.uint8)
        self._dirty = np.empty(0, dtype=np.int64)
        self._dirty_meta = np.zeros(1, dtype=np.int64)

    def nbytes(self) -> int:
        heaps = sum(h.nbytes() for h in self.heaps.values())
        changes = self.changes[0].nbytes + self.changes[1].nbytes + self._position.nbytes
        return (self.state.nbytes() + heaps + self._dirty_flags.nbytes + self._dirty.nbytes
                + changes)

    def strings(self) -> tuple[np.ndarray, np.ndarray]:
        """The argument's interned bytes (arena, starts), or empty arrays."""
        if self._strings_of is not None:
            return self._strings_of.arena, self._strings_of.starts
        return self._no_strings

    def _pair_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (self.state.keys.keys, self.state.keys.live,
                self.state.column("present"))

    def update(self, groups: np.ndarray, inputs: ChunkInputs) -> None:
        arg = None if self.nulls else self.arg
        masks = [inputs.mask(arg, f) for f in self.filters]
        mask = masks[0]
        for other in masks[1:]:
            mask = inputs.ones if other is inputs.ones or mask is inputs.ones \
                else mask | other
        words = inputs.words(self.arg)
        weights = inputs.weights
        null = inputs.valid(self.arg) if self.nulls else None
        if null is not None:
            null = ~null
        if mask is not inputs.ones:
            keep = np.flatnonzero(mask)
            groups, words, weights = groups[keep], words[keep], weights[keep]
            null = None if null is None else null[keep]
            masks = [m if m is inputs.ones else m[keep] for m in masks]
        width = self.codec.width
        codes = np.empty((groups.shape[0], self.state.keys.width), dtype=np.int64)
        codes[:, 0] = groups
        codes[:, 1: 1 + width] = words
        if self.nulls:
            codes[:, 1 + width] = 0 if null is None else null
        if self.append_only:
            self._update_append_only(codes, words, weights, masks, groups, inputs.ones)
            return
        slots = self.state.lookup(codes)
        if len(masks) == 1:
            k.accumulate_count_all(slots, weights, self.state.column("count"))
        else:
            for lane, lane_mask in enumerate(masks):
                counts = self.state.column(self._counts[lane])
                if lane_mask is inputs.ones:
                    k.accumulate_count_all(slots, weights, counts)
                else:
                    k.accumulate_count(slots, np.ascontiguousarray(lane_mask), weights,
                                       counts)
        capacity = self.state.capacity
        if self._dirty_flags.shape[0] < capacity:
            flags = np.zeros(capacity, dtype=np.uint8)
            flags[: self._dirty_flags.shape[0]] = self._dirty_flags
            dirty = np.empty(capacity, dtype=np.int64)
            dirty[: self._dirty.shape[0]] = self._dirty
            self._dirty_flags, self._dirty = flags, dirty
        mark_touched(slots, self._dirty_flags, self._dirty, self._dirty_meta)

    def _update_append_only(self, codes: np.ndarray, words: np.ndarray,
                            weights: np.ndarray, masks: list[np.ndarray], groups: np.ndarray,
                            ones: np.ndarray) -> None:
        n = codes.shape[0]
        slots, _ = self.state.keys.find_or_insert_new(codes)
        self.state.fit()
        seen = self.state.column("seen")
        seen2 = seen.reshape(-1, 1) if seen.ndim == 1 else seen
        lanes = np.empty((len(masks), n), dtype=np.bool_)
        for lane, mask in enumerate(masks):
            lanes[lane] = True if mask is ones else mask
        rows = np.empty((len(masks), n), dtype=np.int64)
        counts = np.zeros(len(masks), dtype=np.int64)
        k.first_seen(slots, lanes, weights, seen2, rows, counts)
        for lane in range(len(masks)):
            first = rows[lane, : int(counts[lane])]
            if first.shape[0]:
                self.state.touch(slots[first])
                self._appeared[lane].append((groups[first], words[first]))

    def _appearances(self) -> list[Transitions]:
        moves = []
        for lane, parts in enumerate(self._appeared):
            width = self.codec.width
            groups = np.concatenate([g for g, _ in parts]) if parts else \
                np.empty(0, np.int64)
            words = np.concatenate([w for _, w in parts]) if parts else \
                np.empty((0, width), np.int64)
            self._appeared[lane] = []
            moves.append(Transitions(groups, np.ascontiguousarray(words),
                                     np.ones(groups.shape[0], np.int64)))
        return moves

    def reconcile(self, group_capacity: int) -> list[Transitions]:
        """Bring presence (count > 0), the heaps and the table up to date with the counts
        changed since the last call; per lane, the pairs that appeared or vanished."""
        if self.append_only:
            return self._appearances()
        listed = self._dirty[: int(self._dirty_meta[0])].copy()
        self._dirty_flags[listed] = 0
        self._dirty_meta[0] = 0
        listed = listed[self.state.keys.live[listed] == 1]
        if len(self.filters) > 1:
            return self._reconcile_lanes(listed)
        return [self._reconcile_one(listed, group_capacity)]

    def _reconcile_lanes(self, listed: np.ndarray) -> list[Transitions]:
        moves = []
        unused = np.ones(listed.shape[0], dtype=np.bool_)
        for counts, presence in zip(self._counts, self._present, strict=True):
            count = self.state.column(counts)[listed]
            present = self.state.column(presence)[listed] == 1
            now = count > 0
            unused &= ~now
            appear = listed[now & ~present]
            vanish = listed[~now & present]
            self.state.column(presence)[appear] = 1
            self.state.column(presence)[vanish] = 0
            keys = self.state.keys.keys_of(np.concatenate([appear, vanish]))
            deltas = np.concatenate([np.ones(appear.shape[0], np.int64),
                                     np.full(vanish.shape[0], -1, np.int64)])
            moves.append(Transitions(keys[:, 0].copy(), np.ascontiguousarray(keys[:, 1:]),
                                     deltas))
        self.state.release(listed[unused])
        return moves

    def _reconcile_one(self, listed: np.ndarray, group_capacity: int) -> Transitions:
        count = self.state.column("count")[listed]
        present = self.state.column("present")[listed] == 1
        now = count > 0
        appear = listed[now & ~present]
        vanish = listed[~now & present]
        self.state.column("present")[appear] = 1
        self.state.column("present")[vanish] = 0
        if self.tracked:
            self.changes = (self.state.keys.keys_of(listed), count)
        changed = np.concatenate([appear, vanish])
        keys = self.state.keys.keys_of(changed)
        groups = keys[:, 0].copy()
        if self.heaps and changed.shape[0]:
            entries = keys.copy()
            entries[:, 0] = changed  # (pair slot, value words)
            n_appear = appear.shape[0]
            for heap in self.heaps.values():
                heap.fit(group_capacity, self.state.capacity)
                heap.push(groups[:n_appear], entries[:n_appear], self.strings())
                heap.vanish(groups[n_appear:], *self._pair_arrays(), self.strings())
        deltas = np.concatenate([np.ones(appear.shape[0], np.int64),
                                 np.full(vanish.shape[0], -1, np.int64)])
        self.state.release(listed[count == 0])
        return Transitions(groups, np.ascontiguousarray(keys[:, 1:]), deltas)

    def extremes(self, groups: np.ndarray, is_max: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per group, the words of its smallest / largest present value, and whether it
        has one."""
        heap = self.heaps[is_max]
        heap.fit(int(groups.max()) + 1 if groups.shape[0] else 0, self.state.capacity)
        slots = heap.top(groups, *self._pair_arrays(), self.strings())
        found = slots >= 0
        words = self.state.keys.keys[np.where(found, slots, 0), 1:]
        return words, found

    def merged(self, groups: np.ndarray, current: np.ndarray, store: SequenceStore,
               distinct: bool, descending: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per group, its sequence after the last reconciliation's changes, from the one
        stored under its id in `current` (-1: none): as `sequences`."""
        need = int(groups.max()) + 1 if groups.shape[0] else 0
        if self._position.shape[0] < need:
            self._position = np.full(max(need, 2 * self._position.shape[0]), -1, np.int64)
        rows, counts = self.changes
        self._position[groups] = np.arange(groups.shape[0])
        owners = rows[:, 0]
        positions = np.where(owners < self._position.shape[0],
                             self._position[np.minimum(owners, self._position.shape[0] - 1)],
                             -1)
        self._position[groups] = -1
        return merge_sequences(current, store.pool, store.start, store.length, positions,
                               rows, counts, self.codec.width, self.nulls, distinct,
                               descending, not self.codec.ordered, *self.strings())

    def sequences(self, groups: np.ndarray, distinct: bool,
                  descending: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per group, its present values in order, each repeated by its count unless
        `distinct`: (value rows (n, pair value width), offsets (len(groups) + 1))."""
        heap = next(iter(self.heaps.values()))
        heap.fit(int(groups.max()) + 1 if groups.shape[0] else 0, self.state.capacity)
        rows, offsets = group_sequences(
            groups, heap.pool, heap.start, heap.length, *self._pair_arrays(),
            self.state.column("count"), self.codec.width, self.nulls, distinct, descending,
            not self.codec.ordered, *self.strings())
        return rows, offsets

    def drop_groups(self, groups: np.ndarray) -> None:
        """Forget every pair of these groups (closed windows); call after reconcile."""
        heap = next(iter(self.heaps.values()))
        heap.fit(int(groups.max()) + 1 if groups.shape[0] else 0, self.state.capacity)
        slots = heap.entries(groups, *self._pair_arrays())
        self.state.release(slots)
        self.forget_groups(groups)

    def forget_groups(self, groups: np.ndarray) -> None:
        """The groups' slots are released: free their heap segments."""
        for heap in self.heaps.values():
            heap.drop(groups)


# ---------------------------------------------------------------------------------------


class Accumulator:
    """One aggregate call's state, update and result."""

    columns: list[StateColumn]
    codec: ColumnCodec  # the result's codec (words <-> Arrow)

    def __init__(self, index: int, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        self.call = call
        self.prefix = f"c{index}_"
        self.arg_type = arg_type
        self.columns = []
        self.pairs: PairIndex | None = None  # set when fed by / reading a pair index
        self.lane = 0  # which of its filter lanes feeds this call

    reads_sequences = False  # reads each group's values in order from a pair index
    pairs_with_nulls = False  # ... in which NULL is a value

    def nbytes(self) -> int:
        """Bytes held outside the group state table."""
        return 0

    def forget(self, state: StateTable, slots: np.ndarray) -> None:
        """These groups are about to be released (after their rows were emitted)."""

    def col(self, name: str) -> str:
        return self.prefix + name

    @property
    def via_pairs(self) -> bool:
        """Fed with DISTINCT transitions at barriers rather than with rows."""
        return self.call.distinct

    def update(self, state: StateTable, slots: np.ndarray, inputs: ChunkInputs) -> None:
        call = self.call
        words = None
        if self.needs_words:
            assert call.argument is not None
            words = inputs.words(call.argument)
        mask = inputs.mask(call.argument, call.filter)
        self.apply(state, slots, words, mask, inputs.weights, inputs)

    needs_words = True

    def apply(self, state: StateTable, slots: np.ndarray, words: np.ndarray | None,
              mask: np.ndarray, weights: np.ndarray, inputs: ChunkInputs | None) -> None:
        raise NotImplementedError

    def result(self, state: StateTable, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(words (m, codec width), valid (m,) bool) for these group slots."""
        raise NotImplementedError


class CountAccumulator(Accumulator):
    """count(*), count(x), count(DISTINCT x): a signed multiplicity per group."""

    needs_words = False

    def __init__(self, index: int, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(index, call, arg_type)
        self.codec = IntegerCodec(pa.int64())
        self.uses_rows = call.function == "count_star" and call.filter is None
        if not self.uses_rows:
            self.columns = [StateColumn(self.col("n"), np.int64)]

    def update(self, state: StateTable, slots: np.ndarray, inputs: ChunkInputs) -> None:
        if not self.uses_rows:
            super().update(state, slots, inputs)

    def apply(self, state: StateTable, slots: np.ndarray, words: np.ndarray | None,
              mask: np.ndarray, weights: np.ndarray, inputs: ChunkInputs | None) -> None:
        k.accumulate_count(slots, mask, weights, state.column(self.col("n")))

    def result(self, state: StateTable, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = state.column("rows" if self.uses_rows else self.col("n"))[slots]
        return n.reshape(-1, 1), np.ones(slots.shape[0], dtype=bool)


class ExactSumAccumulator(Accumulator):
    """sum / avg of integers and decimals: an exact 128-bit sum and a count."""

    def __init__(self, index: int, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(index, call, arg_type)
        assert arg_type is not None
        self.columns = [StateColumn(self.col("n"), np.int64),
                        StateColumn(self.col("lo"), np.int64),
                        StateColumn(self.col("hi"), np.int64)]
        self.arg_codec = codec_for(arg_type)
        self.wide = self.arg_codec.width == 2 or pa.types.is_uint64(arg_type)
        self.in_scale = arg_type.scale if pa.types.is_decimal(arg_type) else 0
        out = call.output_type
        if pa.types.is_decimal(out):
            self.codec = DecimalCodec(out)
            if out.scale < self.in_scale:
                raise FeatureNotSupported(f"{call.function} to a scale below its argument's")
        elif pa.types.is_floating(out):
            self.codec = FloatCodec(pa.float64())
        elif call.function == "sum" and pa.types.is_integer(out):
            self.codec = IntegerCodec(pa.int64())
        else:
            raise FeatureNotSupported(f"{call.function}({arg_type}) as {out}")

    def apply(self, state: StateTable, slots: np.ndarray, words: np.ndarray | None,
              mask: np.ndarray, weights: np.ndarray, inputs: ChunkInputs | None) -> None:
        assert words is not None
        n, lo, hi = (state.column(self.col(c)) for c in ("n", "lo", "hi"))
        if not self.wide:
            k.accumulate_sum_int(slots, np.ascontiguousarray(words[:, 0]), mask, weights,
                                 n, lo, hi)
        elif self.arg_codec.width == 2:  # decimal words: (high, low ^ sign)
            k.accumulate_sum_int128(slots, words[:, 1] ^ _SIGN,
                                    np.ascontiguousarray(words[:, 0]), mask, weights,
                                    n, lo, hi)
        else:  # uint64 words: value ^ sign
            k.accumulate_sum_int128(slots, words[:, 0] ^ _SIGN,
                                    np.zeros(words.shape[0], np.int64), mask, weights,
                                    n, lo, hi)

    def result(self, state: StateTable, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = state.column(self.col("n"))[slots]
        lo = state.column(self.col("lo"))[slots]
        hi = k.standard128(lo, state.column(self.col("hi"))[slots])
        valid = n > 0
        lo[~valid] = 0
        hi[~valid] = 0
        out = self.call.output_type
        average = self.call.function == "avg"
        if isinstance(self.codec, FloatCodec):
            fits = hi == (lo >> 63)  # the common case: exact in int64
            total = np.where(fits, lo.astype(np.float64),
                             hi.astype(np.float64) * 2.0**64
                             + lo.view(np.uint64).astype(np.float64))
            if self.in_scale:
                total = total / 10.0**self.in_scale
            if average:
                total = total / np.where(valid, n, 1)
            return float_result_words(total, valid)
        if isinstance(self.codec, IntegerCodec):
            if not (hi == (lo >> 63)).all():
                raise NumericValueOutOfRange("bigint out of range")
            return lo.reshape(-1, 1), valid
        shift = out.scale - self.in_scale
        while shift > 0:  # rescale by at most 10^18 (an int64) at a time
            step = min(shift, 18)
            if not k.scale128(lo, hi, np.int64(10**step)):
                raise NumericValueOutOfRange("numeric field overflow")
            shift -= step
        if average:
            k.divide128_round(lo, hi, np.where(valid, n, 1))
        bound = 10**out.precision
        if not k.abs_below(lo, hi, np.uint64(bound & (2**64 - 1)), np.uint64(bound >> 64)):
            raise NumericValueOutOfRange("numeric field overflow",
                                         detail=f"A field with precision {out.precision}, "
                                         f"scale {out.scale} must round to an absolute "
                                         f"value less than 10^{out.precision - out.scale}.")
        if self.codec.width == 1:
            return lo.reshape(-1, 1), valid
        return np.stack([hi, lo ^ _SIGN], axis=1), valid


def float_result_words(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 results as FloatCodec words (zero where NULL)."""
    words = float_words(np.where(valid, values, 0.0))
    return words.reshape(-1, 1), valid


class FloatSumAccumulator(Accumulator):
    """sum / avg of floats: the finite sum, NaN and infinities counted apart."""

    needs_words = False

    def __init__(self, index: int, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(index, call, arg_type)
        self.columns = [StateColumn(self.col(c), np.int64 if c != "total" else np.float64)
                        for c in ("n", "total", "nan", "pinf", "ninf")]
        self.codec = FloatCodec(pa.float64())
        if not pa.types.is_floating(call.output_type):
            raise FeatureNotSupported(f"{call.function}({arg_type}) as {call.output_type}")

    def update(self, state: StateTable, slots: np.ndarray, inputs: ChunkInputs) -> None:
        call = self.call
        assert call.argument is not None
        mask = inputs.mask(call.argument, call.filter)
        self._add(state, slots, inputs.floats(call.argument), mask, inputs.weights)

    def apply(self, state: StateTable, slots: np.ndarray, words: np.ndarray | None,
              mask: np.ndarray, weights: np.ndarray, inputs: ChunkInputs | None) -> None:
        assert words is not None  # DISTINCT transitions carry the value words
        self._add(state, slots, float_values(np.ascontiguousarray(words[:, 0])), mask, weights)

    def _add(self, state: StateTable, slots: np.ndarray, values: np.ndarray, mask: np.ndarray,
             weights: np.ndarray) -> None:
        k.accumulate_sum_float(slots, values, mask, weights,
                               *(state.column(self.col(c))
                                 for c in ("n", "total", "nan", "pinf", "ninf")))

    def result(self, state: StateTable, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = state.column(self.col("n"))[slots]
        total = k.float_sum_result(*(state.column(self.col(c))[slots]
                                     for c in ("total", "nan", "pinf", "ninf")))
        valid = n > 0
        if self.call.function == "avg":
            total = total / np.where(valid, n, 1)
        return float_result_words(total, valid)


class ExtremeAccumulator(Accumulator):
    """min / max. Append-only input: the current extreme per group (O(1) state).
    Otherwise: read from the pair index's per-group heap (set `pairs` before use)."""

    def __init__(self, index: int, call: AggregateCall, arg_type: pa.DataType | None,
                 codec: ColumnCodec, retractable: bool) -> None:
        super().__init__(index, call, arg_type)
        self.codec = codec  # the argument's codec: results are argument values
        self.is_max = call.function == "max"
        self.retractable = retractable
        if not retractable:
            self.columns = [StateColumn(self.col("n"), np.int64),
                            StateColumn(self.col("best"), np.int64, width=codec.width)]

    @property
    def via_pairs(self) -> bool:
        return False

    def update(self, state: StateTable, slots: np.ndarray, inputs: ChunkInputs) -> None:
        if not self.retractable:
            super().update(state, slots, inputs)

    def apply(self, state: StateTable, slots: np.ndarray, words: np.ndarray | None,
              mask: np.ndarray, weights: np.ndarray, inputs: ChunkInputs | None) -> None:
        assert words is not None
        n = state.column(self.col("n"))
        best = state.column(self.col("best"))
        best2 = best.reshape(-1, 1) if best.ndim == 1 else best
        if isinstance(self.codec, StringCodec):
            k.accumulate_extreme_bytes(slots, np.ascontiguousarray(words[:, 0]), mask,
                                       weights, n, best2, self.is_max, self.codec.arena,
                                       self.codec.starts)
        else:
            k.accumulate_extreme(slots, words, mask, weights, n, best2, self.is_max)

    def result(self, state: StateTable, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.retractable:
            assert self.pairs is not None
            words, valid = self.pairs.extremes(slots, self.is_max)
        else:
            valid = state.column(self.col("n"))[slots] > 0
            best = state.column(self.col("best"))[slots]
            words = best.reshape(-1, self.codec.width)
        words = np.where(valid[:, None], words, 0)
        return words, valid


class BoolAccumulator(Accumulator):
    """bool_and / bool_or: counts of non-NULL and of TRUE values."""

    def __init__(self, index: int, call: AggregateCall, arg_type: pa.DataType | None) -> None:
        super().__init__(index, call, arg_type)
        self.columns = [StateColumn(self.col("n"), np.int64),
                        StateColumn(self.col("t"), np.int64)]
        self.codec = IntegerCodec(pa.bool_())

    @property
    def via_pairs(self) -> bool:
        return False

    def apply(self, state: StateTable, slots: np.ndarray, words: np.ndarray | None,
              mask: np.ndarray, weights: np.ndarray, inputs: ChunkInputs | None) -> None:
        assert words is not None
        k.accumulate_bool(slots, np.ascontiguousarray(words[:, 0]), mask, weights,
                          state.column(self.col("n")), state.column(self.col("t")))

    def result(self, state: StateTable, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = state.column(self.col("n"))[slots]
        t = state.column(self.col("t"))[slots]
        value = (t == n) if self.call.function == "bool_and" else (t > 0)
        valid = n > 0
        return (value & valid).astype(np.int64).reshape(-1, 1), valid


class SequenceAccumulator(Accumulator):
    """string_agg / array_agg: each touched group's values in order, from a pair index
    (set `pairs` before use: tracked, or listed when windows close), kept in a
    `SequenceStore`; the result word is the sequence's id (state column `id`, -1 for
    NULL), and the codec builds the strings / lists of the ids that are emitted."""

    reads_sequences = True
    needs_words = False

    def __init__(self, index: int, call: AggregateCall, arg_type: pa.DataType,
                 arg_codec: ColumnCodec) -> None:
        super().__init__(index, call, arg_type)
        out = call.output_type
        self.pairs_with_nulls = call.function == "array_agg"
        self.columns = [StateColumn(self.col("id"), np.int64, fill=-1)]
        self.store = SequenceStore(arg_codec.width + (1 if self.pairs_with_nulls else 0))
        self.joined_by: np.ndarray | None = None
        if call.function == "string_agg":
            text = pa.types.is_string(arg_type) or pa.types.is_large_string(arg_type) \
                or pa.types.is_string_view(arg_type)
            if not isinstance(arg_codec, StringCodec) or not text:
                raise FeatureNotSupported(f"string_agg({arg_type})")
            if not (pa.types.is_string(out) or pa.types.is_large_string(out)):
                raise FeatureNotSupported(f"string_agg as {out}")
            separator = (call.separator or "").encode()
            self.joined_by = np.frombuffer(separator, dtype=np.uint8).copy()
            self.codec = JoinedStrings(out, self.store, arg_codec, self.joined_by)
        else:
            if not pa.types.is_list(out) or out.value_type != arg_type:
                raise FeatureNotSupported(f"array_agg({arg_type}) as {out}")
            self.codec = ValueLists(out, self.store, arg_codec)

    @property
    def via_pairs(self) -> bool:
        return False

    def update(self, state: StateTable, slots: np.ndarray, inputs: ChunkInputs) -> None:
        pass  # the pair index takes the rows

    def result(self, state: StateTable, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pairs = self.pairs
        assert pairs is not None
        column = state.column(self.col("id"))
        current = column[slots]
        if pairs.tracked:
            rows, offsets = pairs.merged(slots, current, self.store, self.call.distinct,
                                         self.call.descending)
        else:
            rows, offsets = pairs.sequences(slots, self.call.distinct, self.call.descending)
        ids = self.store.put(current, rows, offsets, self.joined_by, pairs.strings())
        column[slots] = ids
        return ids.reshape(-1, 1), ids >= 0

    def forget(self, state: StateTable, slots: np.ndarray) -> None:
        self.store.retire(state.column(self.col("id"))[slots])

    def nbytes(self) -> int:
        return self.store.nbytes()


class JoinedStrings(ColumnCodec):
    """string_agg results: sequence ids -> their strings joined by the separator."""

    null_word = np.int64(-1)
    ordered = False

    def __init__(self, type: pa.DataType, store: SequenceStore, strings: StringCodec,
                 separator: np.ndarray) -> None:
        super().__init__(type)
        self.store = store
        self.strings = strings
        self.separator = separator

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError("string_agg results are not encoded")

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        ids = np.ascontiguousarray(words[:, 0])
        m = ids.shape[0]
        store = self.store
        offsets, data = k.join_sequences(ids, ids >= 0 if valid is None else valid,
                                         store.pool, store.start, store.length,
                                         self.strings.arena, self.strings.starts,
                                         self.separator)
        mask = None if valid is None or valid.all() else \
            pa.py_buffer(np.packbits(valid, bitorder="little"))
        if offsets[-1] < 2**31:
            base, off = pa.string(), offsets.astype(np.int32)
        else:
            base, off = pa.large_string(), offsets
        out = pa.Array.from_buffers(base, m, [mask, pa.py_buffer(off), pa.py_buffer(data)])
        return out if base == self.type else out.cast(self.type)


class ValueLists(ColumnCodec):
    """array_agg results: sequence ids -> lists of the argument's values (NULLs kept)."""

    null_word = np.int64(-1)
    ordered = False

    def __init__(self, type: pa.DataType, store: SequenceStore, values: ColumnCodec) -> None:
        super().__init__(type)
        self.store = store
        self.values = values

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError("array_agg results are not encoded")

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        ids = np.ascontiguousarray(words[:, 0])
        valid = ids >= 0 if valid is None else valid
        store = self.store
        offsets, rows = k.gather_sequences(ids, valid, store.pool, store.start,
                                           store.length)
        width = self.values.width
        present = rows[:, width] == 0
        values = self.values.decode(np.ascontiguousarray(rows[:, :width]),
                                    None if present.all() else present)
        if values.type != self.type.value_type:
            values = values.cast(self.type.value_type)
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values,
                                        type=self.type,
                                        mask=None if valid.all() else pa.array(~valid))


def make_accumulator(index: int, call: AggregateCall, input_schema: pa.Schema,
                     codecs: dict[int, ColumnCodec], append_only: bool) -> Accumulator:
    """The accumulator of one call (argument codecs are shared through `codecs`)."""
    f = call.function
    if f not in FUNCTIONS:
        raise FeatureNotSupported(f"aggregate function {f}")
    if (call.argument is None) != (f == "count_star"):
        raise ValueError(f"{f}: wrong argument {call.argument}")
    arg_type = None if call.argument is None else input_schema.field(call.argument).type
    if f in ("count_star", "count"):
        if call.distinct and call.argument is not None:
            codec_of(call.argument, input_schema, codecs)
        return CountAccumulator(index, call, arg_type)
    assert call.argument is not None and arg_type is not None
    codec = codec_of(call.argument, input_schema, codecs)
    if f in ("sum", "avg"):
        if isinstance(codec, FloatCodec):
            return FloatSumAccumulator(index, call, arg_type)
        if isinstance(codec, DecimalCodec) or (
                isinstance(codec, IntegerCodec) and pa.types.is_integer(arg_type)):
            return ExactSumAccumulator(index, call, arg_type)
        raise FeatureNotSupported(f"{f}({arg_type})")
    if f in ("min", "max"):
        return ExtremeAccumulator(index, call, arg_type, codec, retractable=not append_only)
    if f in ("string_agg", "array_agg"):
        return SequenceAccumulator(index, call, arg_type, codec)
    if not pa.types.is_boolean(arg_type):
        raise FeatureNotSupported(f"{f}({arg_type})")
    return BoolAccumulator(index, call, arg_type)


def codec_of(arg: int, input_schema: pa.Schema, codecs: dict[int, ColumnCodec]) -> ColumnCodec:
    if arg not in codecs:
        codecs[arg] = codec_for(input_schema.field(arg).type)
    return codecs[arg]
