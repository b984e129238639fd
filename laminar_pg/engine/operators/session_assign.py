"""SESSION windows: each row is given the session of its key that holds it.

Measured (the 2-core dev machine, single-threaded, best of 3): 1M rows of 10k int64 keys
in 65536-row chunks, about 1000 rows per event-time second up to 5 s out of order, gap
10 s, a watermark (the minimum future time) and a barrier after every chunk, every row
emitted once: EMIT ON WINDOW CLOSE about 6.5M rows/s (0.15 s; 3.5-4M rows/s while other
jobs loaded the machine); EMIT CHANGES 4.5-6.7M rows/s (1.2M output rows). Most of it is
Arrow `take` of the closing rows and the key hash table; the sort and scan kernels take
about 2 ms a chunk.

A session of a key is a maximal run of its rows, in time order, in which every row comes
less than `gap` after the one before; its window_start is its first time and its
window_end its last time + gap (the bounds of Flink and RisingWave). A row at exactly
last + gap starts a new session, as in RisingWave's session frame (a row joins while its
time is below `minimal_next_start` = last + gap): the window is [start, end), and that is
what makes a session with window_end <= watermark final, since no later row can reach it.
A NULL time belongs to no session (the row is dropped, as TUMBLE and HOP do); NULL keys
group together. The planner puts a HashAggregate grouped by (keys..., window_start,
window_end) after this operator.

Strategy: key columns are encoded to words (`engine.keys`) and mapped to slots of a
`StateTable` whose one column is the head of the key's list of open sessions. Sessions are
rows of slot-indexed numpy arrays (`_Sessions`: key, start, last time, list link, union-find
parent, lowest window_end emitted), no Python object per session. Each chunk is sorted by
(key slot, time) and one numba kernel (`assign_sessions`) scans it: runs of a key's rows
closer than `gap` are merged with the key's open sessions they touch (kept sorted by start,
newest first, so in-order data stops at the head); a run touching two sessions merges them,
the newer absorbing the older through a union-find parent, so rows already stored need no
rewrite until a `resolve_sessions` pass points them at their roots (before every emission,
or when merged sessions pile up).

The rows of open sessions stay columnar (`_RowStore`): the input batches as received,
and per stored row flat numpy arrays (session, weight, batch number, index in the batch;
in EMIT CHANGES also the bounds it was last emitted with). Flat order is arrival order,
so the rows of a batch are contiguous and emitting is one `take` per batch. Released rows
are marked dead; a batch with no live row is dropped at once, and when dead rows outnumber
live ones the arrays are compacted and sparse batches rewritten.

EMIT ON WINDOW CLOSE (`emit_final=True`): nothing is emitted at barriers; a watermark
closes every session with window_end <= watermark, emits its rows once with their final
bounds (weights None when all are 1), releases them, then passes the watermark on.
EMIT CHANGES: at a barrier, the rows of every session created, extended or merged in the
epoch are retracted with the bounds they were emitted with and inserted with the new
ones (a row whose bounds did not change is not re-emitted). A watermark W first flushes
that change for the sessions it closes and for the open sessions a row of which was
emitted with a window_end <= W (per session, `emitted_end` keeps the lowest), then
releases the closed ones: downstream, W closes every group with window_end <= W and a
later row of one is late, so the retraction of bounds a session outgrew must come before
W, never at the next barrier (else the stale group stays, depending on how the epochs cut
the input). In both modes a row with a time below the watermark passed on is late:
dropped and counted in `late_rows`; no output row after W has a window_end <= W.
The input must be append-only (weights None or positive; a zero weight is no row).

Limitations: the session and row state is not yet in a `StateTable` (only the per-key
heads are), so it is not checkpointed; times within a few gaps of the int64 limits are
not supported (differences would overflow); window_end saturates at the int64 maximum.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pyarrow as pa

from laminar_pg.engine.keys import KeyEncoder
from laminar_pg.engine.messages import Barrier, Chunk, Message, Watermark
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.state import StateColumn, StateTable

INT64_MAX = np.iinfo(np.int64).max
_UNITS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}

# session states
_FREE, _OPEN, _MERGED = 0, 1, 2


# --- kernels ------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True)
def assign_sessions(slots: np.ndarray, times: np.ndarray, order: np.ndarray, gap: int,
                    head: np.ndarray, s_key: np.ndarray, s_start: np.ndarray,
                    s_last: np.ndarray, s_next: np.ndarray, s_parent: np.ndarray,
                    s_state: np.ndarray, s_changed: np.ndarray, s_emitted_end: np.ndarray,
                    free: np.ndarray, meta: np.ndarray, out: np.ndarray) -> None:
    """Session of every row into `out`; `order` sorts the rows by (slot, time). A key's
    open sessions are a list from head[slot] through s_next, by start, newest first.
    s_emitted_end is the lowest window_end a session's rows were emitted with (INT64_MAX:
    none); a merge keeps the lower of the two. meta = [next unused id, free count, open
    count, merged count]; the caller makes sure there are ids for one new session per
    row."""
    n = order.shape[0]
    i = 0
    while i < n:
        first = order[i]
        k = slots[first]
        a = times[first]
        b = a
        j = i + 1
        while j < n and slots[order[j]] == k and times[order[j]] - b < gap:
            b = times[order[j]]
            j += 1
        # merge the run [a, b] with the sessions it touches
        target = -1
        prev = -1
        s = head[k]
        while s >= 0:
            nxt = s_next[s]
            if s_start[s] - b >= gap:  # wholly after the run
                prev = s
            elif a - s_last[s] >= gap:  # wholly before the run, and so are the rest
                break
            elif target < 0:
                target = s
                prev = s
            else:  # a second session the run touches: older, absorbed into the target
                s_start[target] = min(s_start[target], s_start[s])  # its last is lower
                s_emitted_end[target] = min(s_emitted_end[target], s_emitted_end[s])
                s_parent[s] = target
                s_state[s] = _MERGED
                s_changed[s] = 0
                s_next[prev] = nxt
                meta[2] -= 1
                meta[3] += 1
            s = nxt
        if target < 0:
            if meta[1] > 0:
                meta[1] -= 1
                target = free[meta[1]]
            else:
                target = meta[0]
                meta[0] += 1
            s_key[target] = k
            s_start[target] = a
            s_last[target] = b
            s_parent[target] = -1
            s_state[target] = _OPEN
            s_emitted_end[target] = INT64_MAX
            meta[2] += 1
            if prev < 0:
                s_next[target] = head[k]
                head[k] = target
            else:
                s_next[target] = s_next[prev]
                s_next[prev] = target
        else:
            s_start[target] = min(s_start[target], a)
            s_last[target] = max(s_last[target], b)
        s_changed[target] = 1
        for r in range(i, j):
            out[order[r]] = target
        i = j


@numba.njit(nogil=True, cache=True)
def resolve_sessions(row_session: np.ndarray, s_parent: np.ndarray, s_state: np.ndarray,
                     free: np.ndarray, meta: np.ndarray) -> None:
    """Point every stored row at the root of its session, then free merged sessions."""
    for i in range(row_session.shape[0]):
        s = row_session[i]
        if s < 0 or s_parent[s] < 0:
            continue
        root = s
        while s_parent[root] >= 0:
            root = s_parent[root]
        while s_parent[s] >= 0:  # path compression
            nxt = s_parent[s]
            s_parent[s] = root
            s = nxt
        row_session[i] = root
    for s in range(meta[0]):
        if s_state[s] == _MERGED:
            s_state[s] = _FREE
            s_parent[s] = -1
            free[meta[1]] = s
            meta[1] += 1
    meta[3] = 0


@numba.njit(nogil=True, cache=True)
def window_ends(last: np.ndarray, gap: int) -> np.ndarray:
    """last + gap, saturating at the int64 maximum."""
    out = np.empty_like(last)
    limit = INT64_MAX - gap
    for i in range(last.shape[0]):
        out[i] = INT64_MAX if last[i] > limit else last[i] + gap
    return out


@numba.njit(nogil=True, cache=True)
def closable_sessions(s_state: np.ndarray, s_last: np.ndarray, count: int, gap: int,
                      limit: int) -> np.ndarray:
    """Open sessions whose window_end (last + gap) is at or below `limit`."""
    out = np.empty(count, dtype=np.int64)
    k = 0
    for s in range(count):
        if s_state[s] == _OPEN and (s_last[s] <= limit - gap or limit == INT64_MAX):
            out[k] = s
            k += 1
    return out[:k]


@numba.njit(nogil=True, cache=True)
def sessions_to_flush(s_state: np.ndarray, s_changed: np.ndarray, s_last: np.ndarray,
                      s_emitted_end: np.ndarray, count: int, gap: int,
                      limit: int) -> np.ndarray:
    """Open sessions changed since they were last emitted that a watermark at `limit`
    makes owe their change now: those it closes (window_end <= limit), and those with a
    row emitted with a window_end <= limit (bounds emitted before the session grew), whose
    retraction must not come after the watermark (downstream, the group is closed)."""
    out = np.empty(count, dtype=np.int64)
    k = 0
    for s in range(count):
        if s_state[s] != _OPEN or s_changed[s] == 0:
            continue
        if (s_emitted_end[s] <= limit or s_last[s] <= limit - gap
                or limit == INT64_MAX):
            out[k] = s
            k += 1
    return out[:k]


@numba.njit(nogil=True, cache=True)
def drop_sessions(ids: np.ndarray, head: np.ndarray, s_key: np.ndarray, s_next: np.ndarray,
                  s_state: np.ndarray, s_changed: np.ndarray, free: np.ndarray,
                  meta: np.ndarray) -> np.ndarray:
    """Free the open sessions `ids` and unlink them from their keys' lists; returns the
    key slots left with no open session."""
    for i in range(ids.shape[0]):
        s = ids[i]
        s_state[s] = _FREE
        s_changed[s] = 0
        free[meta[1]] = s
        meta[1] += 1
        meta[2] -= 1
    done = np.zeros(head.shape[0], dtype=np.uint8)
    empty = np.empty(ids.shape[0], dtype=np.int64)
    n_empty = 0
    for i in range(ids.shape[0]):
        k = s_key[ids[i]]
        if done[k]:
            continue
        done[k] = 1
        prev = -1
        s = head[k]
        while s >= 0:
            nxt = s_next[s]
            if s_state[s] != _OPEN:
                if prev < 0:
                    head[k] = nxt
                else:
                    s_next[prev] = nxt
            else:
                prev = s
            s = nxt
        if head[k] < 0:
            empty[n_empty] = k
            n_empty += 1
    return empty[:n_empty]


@numba.njit(nogil=True, cache=True)
def order_by_slot_time(slots: np.ndarray, times: np.ndarray, n_slots: int) -> np.ndarray:
    """Row order by (slot, time): a counting sort on the slot, then each slot's rows by
    time (insertion sort for a few rows, else argsort)."""
    n = slots.shape[0]
    bounds = np.zeros(n_slots + 1, dtype=np.int64)
    for i in range(n):
        bounds[slots[i] + 1] += 1
    for k in range(n_slots):
        bounds[k + 1] += bounds[k]
    fill = bounds[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = slots[i]
        order[fill[k]] = i
        fill[k] += 1
    for k in range(n_slots):
        lo = bounds[k]
        hi = bounds[k + 1]
        if hi - lo > 16:
            group = order[lo:hi].copy()
            order[lo:hi] = group[np.argsort(times[group])]
        else:
            for a in range(lo + 1, hi):
                row = order[a]
                t = times[row]
                b = a - 1
                while b >= lo and times[order[b]] > t:
                    order[b + 1] = order[b]
                    b -= 1
                order[b + 1] = row
    return order


@numba.njit(nogil=True, cache=True)
def rows_of_sessions(row_session: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Positions of the live rows whose session is flagged, in flat order."""
    n = row_session.shape[0]
    count = 0
    for i in range(n):
        s = row_session[i]
        if s >= 0 and flags[s]:
            count += 1
    out = np.empty(count, dtype=np.int64)
    k = 0
    for i in range(n):
        s = row_session[i]
        if s >= 0 and flags[s]:
            out[k] = i
            k += 1
    return out


# --- state --------------------------------------------------------------------------------


def _grown(array: np.ndarray, length: int, fill: int) -> np.ndarray:
    out = np.full(length, fill, dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


class _Sessions:
    """Open sessions as slot-indexed arrays (ids are reused through a free stack)."""

    FILLS = {"key": -1, "start": 0, "last": 0, "next": -1, "parent": -1,
             "emitted_end": int(INT64_MAX)}

    def __init__(self, capacity: int = 64) -> None:
        self.key = np.full(capacity, -1, dtype=np.int64)
        self.start = np.zeros(capacity, dtype=np.int64)
        self.last = np.zeros(capacity, dtype=np.int64)
        self.next = np.full(capacity, -1, dtype=np.int64)
        self.parent = np.full(capacity, -1, dtype=np.int64)
        # the lowest window_end the session's rows were emitted with (EMIT CHANGES)
        self.emitted_end = np.full(capacity, INT64_MAX, dtype=np.int64)
        self.state = np.zeros(capacity, dtype=np.uint8)
        self.changed = np.zeros(capacity, dtype=np.uint8)
        self.free = np.empty(capacity, dtype=np.int64)
        self.meta = np.zeros(4, dtype=np.int64)  # next unused, free, open, merged

    @property
    def used(self) -> int:
        """One past the highest id ever used."""
        return int(self.meta[0])

    @property
    def open(self) -> int:
        return int(self.meta[2])

    @property
    def merged(self) -> int:
        return int(self.meta[3])

    def reserve(self, n: int) -> None:
        """Make room for n new sessions."""
        capacity = self.key.shape[0]
        if int(self.meta[1]) + capacity - self.used >= n:
            return
        length = max(2 * capacity, self.used + n)
        for name, fill in self.FILLS.items():
            setattr(self, name, _grown(getattr(self, name), length, fill))
        self.state = _grown(self.state, length, _FREE)
        self.changed = _grown(self.changed, length, 0)
        self.free = _grown(self.free, length, 0)

    def ends(self, ids: np.ndarray, gap: int) -> np.ndarray:
        ends: np.ndarray = window_ends(self.last[ids], gap)
        return ends

    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.key, self.start, self.last, self.next,
                                          self.parent, self.emitted_end, self.state,
                                          self.changed, self.free, self.meta)))


class _RowStore:
    """The rows of open sessions: input batches plus flat per-row arrays (see module)."""

    COLUMNS = ("session", "weight", "batch", "index")
    EMITTED = ("emitted", "emitted_start", "emitted_end")

    def __init__(self, track_emitted: bool) -> None:
        self.names = self.COLUMNS + (self.EMITTED if track_emitted else ())
        self.arrays: dict[str, np.ndarray] = {
            name: np.zeros(0, dtype=np.uint8 if name == "emitted" else np.int64)
            for name in self.names}
        self.size = 0  # rows stored, live or dead
        self.dead = 0
        self.compact_min = 4096  # dead rows before a compaction is worth it
        self.batches: list[pa.RecordBatch | None] = []
        self.batch_live = np.zeros(0, dtype=np.int64)

    def __getitem__(self, name: str) -> np.ndarray:
        """The first `size` entries of a per-row array (a view)."""
        return self.arrays[name][: self.size]

    @property
    def live(self) -> int:
        return self.size - self.dead

    def nbytes(self) -> int:
        held = sum(b.get_total_buffer_size() for b in self.batches if b is not None)
        return int(held + sum(a.nbytes for a in self.arrays.values())
                   + self.batch_live.nbytes)

    def append(self, batch: pa.RecordBatch, sessions: np.ndarray,
               weights: np.ndarray) -> None:
        n = batch.num_rows
        end = self.size + n
        if end > self.arrays["session"].shape[0]:
            length = max(end, 2 * self.arrays["session"].shape[0], 1024)
            self.arrays = {name: _grown(a, length, 0) for name, a in self.arrays.items()}
        number = len(self.batches)
        self.batches.append(batch)
        if number >= self.batch_live.shape[0]:
            self.batch_live = _grown(self.batch_live, max(64, 2 * number), 0)
        self.batch_live[number] = n
        self.arrays["session"][self.size: end] = sessions
        self.arrays["weight"][self.size: end] = weights
        self.arrays["batch"][self.size: end] = number
        self.arrays["index"][self.size: end] = np.arange(n, dtype=np.int64)
        if "emitted" in self.arrays:
            self.arrays["emitted"][self.size: end] = 0
        self.size = end

    def take(self, positions: np.ndarray) -> pa.RecordBatch | None:
        """The input rows at `positions` (any order; one take per run of a batch)."""
        if positions.shape[0] == 0:
            return None
        numbers = self["batch"][positions]
        indices = self["index"][positions]
        cuts = np.flatnonzero(numbers[1:] != numbers[:-1]) + 1
        bounds = [0, *cuts.tolist(), positions.shape[0]]
        parts = []
        for lo, hi in itertools.pairwise(bounds):
            batch = self.batches[int(numbers[lo])]
            assert batch is not None
            parts.append(batch.take(pa.array(indices[lo:hi])))
        return parts[0] if len(parts) == 1 else pa.concat_batches(parts)

    def release(self, positions: np.ndarray) -> None:
        if positions.shape[0] == 0:
            return
        self["session"][positions] = -1
        self.dead += positions.shape[0]
        count = len(self.batches)
        gone = np.bincount(self["batch"][positions], minlength=count)
        self.batch_live[:count] -= gone
        for number in np.flatnonzero((gone > 0) & (self.batch_live[:count] == 0)).tolist():
            self.batches[number] = None
        if (self.dead > self.live and self.dead >= self.compact_min) or self.live == 0:
            self.compact()

    def compact(self) -> None:
        """Drop dead rows and empty batches; rewrite batches less than half live."""
        keep = self["session"] >= 0
        live = int(keep.sum())
        length = max(1024, 2 * live)
        shrink = self.arrays["session"].shape[0] > 4 * length  # else reuse the arrays
        for name, array in self.arrays.items():
            kept = array[: self.size][keep]
            if shrink:
                array = np.zeros(length, dtype=array.dtype)
                self.arrays[name] = array
            array[:live] = kept
        self.size = live
        self.dead = 0
        count = len(self.batches)
        counts = self.batch_live[:count]
        kept = np.flatnonzero(counts > 0)
        numbers = self["batch"]
        indices = self["index"]
        for old in kept.tolist():
            batch = self.batches[old]
            assert batch is not None
            if 2 * int(counts[old]) < batch.num_rows:
                lo, hi = np.searchsorted(numbers, [old, old + 1])
                self.batches[old] = batch.take(pa.array(indices[lo:hi]))
                indices[lo:hi] = np.arange(hi - lo, dtype=np.int64)
        renumber = np.full(max(count, 1), -1, dtype=np.int64)
        renumber[kept] = np.arange(kept.shape[0], dtype=np.int64)
        numbers[:] = renumber[numbers]
        self.batches = [self.batches[i] for i in kept.tolist()]
        self.batch_live = _grown(counts[kept], max(64, 2 * kept.shape[0]), 0)


# --- the operator ---------------------------------------------------------------------------


class SessionAssign(Operator):
    """Adds window_start and window_end (the row's session) to each input row."""

    name = "session_assign"

    def __init__(self, schema: pa.Schema, key_columns: list[int], time_column: int,
                 gap_us: int, *, emit_final: bool) -> None:
        super().__init__(schema)
        self.key_columns = list(key_columns)
        self.time_column = time_column
        self.emit_final = emit_final
        self.late_rows = 0
        self._time_type = schema.field(time_column).type
        if not pa.types.is_timestamp(self._time_type):
            raise ValueError(f"SESSION needs a timestamp time column, not {self._time_type}")
        if schema.names[-2:] != ["window_start", "window_end"] or any(
                schema.field(i).type != self._time_type for i in (-2, -1)):
            raise ValueError("the schema ends with window_start, window_end of the time type")
        self.input_names = schema.names[:-2]
        per_second = _UNITS_PER_SECOND[self._time_type.unit]
        gap = gap_us * per_second
        if gap_us <= 0 or gap % 1_000_000:
            raise ValueError(f"a session gap of {gap_us} us is not a positive whole number "
                             f"of the time column's unit ({self._time_type.unit})")
        self.gap = gap // 1_000_000  # in the time column's unit
        self._per_second = per_second
        fields = [schema.field(i) for i in self.key_columns]
        self.encoder = (KeyEncoder([f.type for f in fields], [f.nullable for f in fields])
                        if fields else None)
        width = self.encoder.width if self.encoder is not None else 1
        self.keys = StateTable(width, [StateColumn("head", np.int64, fill=-1)],
                               encoder=self.encoder)
        self.sessions = _Sessions()
        self.rows = _RowStore(track_emitted=not emit_final)
        self._late_below: int | None = None  # times below it are late (column unit)
        # EMIT ON WINDOW CLOSE: merged sessions that wait before a resolve pass frees
        # their ids (None: 1024 or one per 8 stored rows, so the pass is amortised)
        self.merged_limit: int | None = None

    # --- counters -------------------------------------------------------------------------

    @property
    def open_sessions(self) -> int:
        return self.sessions.open

    @property
    def stored_rows(self) -> int:
        return self.rows.live

    def state_bytes(self) -> int:
        encoder = self.encoder.nbytes() if self.encoder is not None else 0
        return self.keys.nbytes() + encoder + self.sessions.nbytes() + self.rows.nbytes()

    # --- input ----------------------------------------------------------------------------

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        n = batch.num_rows
        if n == 0:
            return []
        if batch.num_columns != len(self.input_names):
            raise ValueError(f"expected {len(self.input_names)} input columns, "
                             f"got {batch.num_columns}")
        column = batch.column(self.time_column)
        keep = None
        if column.null_count:
            keep = column.is_valid().to_numpy(zero_copy_only=False)
            column = column.fill_null(pa.scalar(0, self._time_type))
        times = column.cast(pa.int64()).to_numpy()
        if chunk.weights is None:
            weights = np.ones(n, dtype=np.int64)
        else:
            weights = np.ascontiguousarray(chunk.weights, dtype=np.int64)
            if (weights < 0).any():
                raise ValueError("SESSION windows need an append-only input: a retraction "
                                 "(negative weight) reached session_assign")
            if (weights == 0).any():
                keep = weights > 0 if keep is None else keep & (weights > 0)
        if self._late_below is not None:
            late = times < self._late_below
            if keep is not None:
                late &= keep
            if late.any():
                self.late_rows += int(late.sum())
                keep = ~late if keep is None else keep & ~late
        if keep is not None:
            batch = batch.filter(pa.array(keep))
            times = np.ascontiguousarray(times[keep])
            weights = np.ascontiguousarray(weights[keep])
            n = batch.num_rows
            if n == 0:
                return []
        slots = self._key_slots(batch)
        sessions = np.empty(n, dtype=np.int64)
        self.sessions.reserve(n)
        s = self.sessions
        assign_sessions(slots, times, self._sort_order(slots, times), self.gap,
                        self.keys.column("head"), s.key, s.start, s.last, s.next, s.parent,
                        s.state, s.changed, s.emitted_end, s.free, s.meta, sessions)
        self.rows.append(batch, sessions, weights)
        limit = self.merged_limit
        if limit is None:
            limit = max(1024, self.rows.live // 8)
        if self.emit_final and s.merged > limit:
            self._resolve()  # free the merged sessions' ids
        return []

    def _key_slots(self, batch: pa.RecordBatch) -> np.ndarray:
        if self.encoder is None:
            codes = np.zeros((batch.num_rows, 1), dtype=np.int64)
        else:
            codes = self.encoder.encode([batch.column(i) for i in self.key_columns])
        return self.keys.lookup(codes)

    def _sort_order(self, slots: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Row order by (slot, time): a counting sort while slots are few against the
        rows, else one argsort of packed words (or a lexsort when they do not fit)."""
        high = self.keys.keys.high_water
        if high <= 4 * slots.shape[0]:
            counted: np.ndarray = order_by_slot_time(slots, times, high)
            return counted
        lowest = int(times.min())
        bits = (int(times.max()) - lowest).bit_length()
        if bits + high.bit_length() <= 63:
            packed: np.ndarray = np.argsort((slots << bits) | (times - lowest))
            return packed
        order: np.ndarray = np.lexsort((times, slots))
        return order

    def _resolve(self) -> None:
        s = self.sessions
        if s.merged:
            resolve_sessions(self.rows["session"], s.parent, s.state, s.free, s.meta)

    # --- output ---------------------------------------------------------------------------

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        out: list[Message] = []
        if not self.emit_final:
            self._resolve()
            s = self.sessions
            changed = np.flatnonzero((s.changed[: s.used] == 1) & (s.state[: s.used] == _OPEN))
            chunk = self._emit_changes(changed)
            s.changed[: s.used] = 0
            if chunk is not None:
                out.append(chunk)
        self.keys.commit_epoch()
        return out

    def on_watermark(self, watermark: Watermark, port: int) -> list[Message]:
        advanced = self.input_watermark(watermark, port)
        if advanced is None:
            return []
        limit = self._in_units(advanced)
        self._late_below = limit if self._late_below is None else max(limit,
                                                                       self._late_below)
        out: list[Message] = []
        chunk = self._close(limit)
        if chunk is not None:
            out.append(chunk)
        out.append(Watermark(advanced))
        return out

    def _close(self, limit: int) -> Chunk | None:
        """Emit what the sessions ending at or before `limit` owe, then free them."""
        self._resolve()
        s = self.sessions
        chunk = None
        if not self.emit_final:
            # Downstream, the watermark closes every group with window_end <= limit (a
            # later row of it is dropped as late): first flush the change of every session
            # it closes, and of every open session a row of which was emitted with such a
            # bound before the session grew, or its retraction would come too late.
            due = sessions_to_flush(s.state, s.changed, s.last, s.emitted_end, s.used,
                                    self.gap, limit)
            chunk = self._emit_changes(due)
            s.changed[due] = 0
        closing = closable_sessions(s.state, s.last, s.used, self.gap, limit)
        if closing.shape[0] == 0:
            return chunk
        positions = rows_of_sessions(self.rows["session"], self._flags(closing))
        if self.emit_final:
            chunk = self._emit_final(positions)
        self.rows.release(positions)
        empty = drop_sessions(closing, self.keys.column("head"), s.key, s.next, s.state,
                              s.changed, s.free, s.meta)
        self.keys.release(empty)
        return chunk

    def _flags(self, ids: np.ndarray) -> np.ndarray:
        flags = np.zeros(self.sessions.key.shape[0], dtype=np.uint8)
        flags[ids] = 1
        return flags

    def _emit_final(self, positions: np.ndarray) -> Chunk | None:
        rows = self.rows.take(positions)
        if rows is None:
            return None
        ids = self.rows["session"][positions]
        weights = self.rows["weight"][positions]
        batch = self._with_bounds(rows, self.sessions.start[ids],
                                  self.sessions.ends(ids, self.gap))
        return Chunk(batch, None if (weights == 1).all() else weights)

    def _emit_changes(self, ids: np.ndarray) -> Chunk | None:
        """Retract the rows of sessions `ids` as last emitted, insert them as they are;
        rows whose bounds did not change are left alone."""
        if ids.shape[0] == 0:
            return None
        store = self.rows
        positions = rows_of_sessions(store["session"], self._flags(ids))
        sessions = store["session"][positions]
        starts = self.sessions.start[sessions]
        ends = self.sessions.ends(sessions, self.gap)
        emitted = store["emitted"][positions] == 1
        old_starts = store["emitted_start"][positions]
        old_ends = store["emitted_end"][positions]
        moved = ~emitted | (old_starts != starts) | (old_ends != ends)
        retract = emitted & moved
        weights = store["weight"][positions]
        parts = []
        if retract.any():
            old = self.rows.take(positions[retract])
            assert old is not None
            parts.append(self._with_bounds(old, old_starts[retract], old_ends[retract]))
        inserted = positions[moved]
        new = self.rows.take(inserted)
        if new is not None:
            parts.append(self._with_bounds(new, starts[moved], ends[moved]))
            store["emitted"][inserted] = 1
            store["emitted_start"][inserted] = starts[moved]
            store["emitted_end"][inserted] = ends[moved]
        self.sessions.emitted_end[ids] = self.sessions.ends(ids, self.gap)
        if not parts:
            return None
        batch = parts[0] if len(parts) == 1 else pa.concat_batches(parts)
        return Chunk(batch, np.concatenate([-weights[retract], weights[moved]]))

    def _with_bounds(self, rows: pa.RecordBatch, starts: np.ndarray,
                     ends: np.ndarray) -> pa.RecordBatch:
        n = rows.num_rows
        bounds = [pa.Array.from_buffers(self._time_type, n,
                                        [None, pa.py_buffer(np.ascontiguousarray(v))])
                  for v in (starts, ends)]
        return pa.RecordBatch.from_arrays([*rows.columns, *bounds], schema=self.schema)

    def _in_units(self, watermark_us: int) -> int:
        """The watermark in the time column's unit (floor; saturating)."""
        if self._per_second >= 1_000_000:
            return int(min(watermark_us * (self._per_second // 1_000_000), INT64_MAX))
        return watermark_us // (1_000_000 // self._per_second)
