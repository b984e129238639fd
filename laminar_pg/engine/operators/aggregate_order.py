"""Ordered indexes of the hash aggregate, in numba over flat numpy arrays.

`GroupHeaps` keeps, per group, the values present in a pair index (DISTINCT / min / max
over a retractable input) in a binary heap stored in that group's segment of one shared
pool, so that when a retraction removes a group's current minimum or maximum the next
one is at hand. Deletion is lazy: a value that vanishes stays in the heap until it
reaches the top (then it is popped, O(log n)) or until the group's segment holds more
than twice its live values (then the segment is compacted, O(segment), amortised O(1) a
retraction). Appending a value is an O(1)-average sift-up inside a contiguous segment, so
an insert-only stream pays little for the ordering. Each entry is (pair slot, value
words); an entry is valid while that pair slot is live, present and holds this group
and value (slots are reused, so all three are checked). Unordered, the same structure
lists a group's values, which EMIT ON WINDOW CLOSE uses to drop a closed window's pairs.

string_agg / array_agg need each group's values in order, repeated by their counts.
`SequenceStore` keeps the sequence each group last produced under a stable id (segments
of one pool, freed lazily and compacted), so an unchanged group keeps its id and the old
row can still be retracted. At a barrier `merge_sequences` brings the touched groups'
stored sequences up to date with the pairs whose counts changed in the epoch: the
changes are sorted (merge sort in numba, strings by their bytes), each is placed in the
stored sequence by binary search and replaces the run of its value, and the stretches
between are copied, so an epoch costs its changes' sorting plus the output's size, not
a sort of every touched group. With EMIT ON WINDOW CLOSE a group's result is computed
once, when its window closes: `group_sequences` sorts its whole list then.

`CloseQueue` is a binary min-heap of (close value, group slot) for EMIT ON WINDOW CLOSE:
a watermark pops every group whose window has ended.
"""

from __future__ import annotations

import numba
import numpy as np

from laminar_pg.engine.keys import bytes_less


@numba.njit(nogil=True, cache=True, inline="always")
def _before(pool: np.ndarray, a: int, b: int, is_max: bool, bytewise: bool,
            arena: np.ndarray, starts: np.ndarray) -> bool:
    """Whether entry a belongs above entry b in the heap (a larger value for a max-heap)."""
    if bytewise:
        x = pool[a, 1]
        y = pool[b, 1]
        if x == y:
            return False
        return bytes_less(y, x, arena, starts) if is_max else bytes_less(x, y, arena, starts)
    for j in range(1, pool.shape[1]):
        x = pool[a, j]
        y = pool[b, j]
        if x != y:
            return bool(x > y) if is_max else bool(x < y)
    return False


@numba.njit(nogil=True, cache=True, inline="always")
def _swap(pool: np.ndarray, a: int, b: int) -> None:
    for j in range(pool.shape[1]):
        t = pool[a, j]
        pool[a, j] = pool[b, j]
        pool[b, j] = t


@numba.njit(nogil=True, cache=True, inline="always")
def _sift_down(pool: np.ndarray, base: int, n: int, i: int, is_max: bool, bytewise: bool,
               arena: np.ndarray, starts: np.ndarray) -> None:
    while True:
        c = 2 * i + 1
        if c >= n:
            return
        if c + 1 < n and _before(pool, base + c + 1, base + c, is_max, bytewise, arena,
                                 starts):
            c += 1
        if not _before(pool, base + c, base + i, is_max, bytewise, arena, starts):
            return
        _swap(pool, base + c, base + i)
        i = c


@numba.njit(nogil=True, cache=True, inline="always")
def _valid(pool: np.ndarray, e: int, g: int, keys: np.ndarray, live: np.ndarray,
           present: np.ndarray) -> bool:
    slot = pool[e, 0]
    if not live[slot] or not present[slot] or keys[slot, 0] != g:
        return False
    for j in range(1, pool.shape[1]):
        if keys[slot, j] != pool[e, j]:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def heaps_push(groups: np.ndarray, entries: np.ndarray, begin: int, pool: np.ndarray,
               start: np.ndarray, length: np.ndarray, cap: np.ndarray,
               live_count: np.ndarray, meta: np.ndarray, ordered: bool, is_max: bool,
               bytewise: bool, arena: np.ndarray, starts: np.ndarray) -> int:
    """Append entries to their groups' heaps; returns the entry it stopped at when the
    pool is full (len(groups) when done). meta = [pool used, pool garbage]."""
    width = pool.shape[1]
    for i in range(begin, groups.shape[0]):
        g = groups[i]
        n = length[g]
        if n == cap[g]:
            grown = max(4, 2 * cap[g])
            if meta[0] + grown > pool.shape[0]:
                return i
            s = start[g]
            t = meta[0]
            for k in range(n):
                for j in range(width):
                    pool[t + k, j] = pool[s + k, j]
            meta[1] += cap[g]
            start[g] = t
            cap[g] = grown
            meta[0] += grown
        base = start[g]
        for j in range(width):
            pool[base + n, j] = entries[i, j]
        length[g] = n + 1
        live_count[g] += 1
        if ordered:
            k = n
            while k > 0:
                p = (k - 1) // 2
                if not _before(pool, base + k, base + p, is_max, bytewise, arena, starts):
                    break
                _swap(pool, base + k, base + p)
                k = p
    done: int = groups.shape[0]
    return done


@numba.njit(nogil=True, cache=True)
def _compact(g: int, pool: np.ndarray, start: np.ndarray, length: np.ndarray,
             live_count: np.ndarray, keys: np.ndarray, live: np.ndarray,
             present: np.ndarray, seen: np.ndarray, stamp: int, ordered: bool,
             is_max: bool, bytewise: bool, arena: np.ndarray, starts: np.ndarray) -> None:
    """Keep a group's valid entries, once each; re-heapify."""
    base = start[g]
    kept = 0
    for e in range(base, base + length[g]):
        slot = pool[e, 0]
        if _valid(pool, e, g, keys, live, present) and seen[slot] != stamp:
            seen[slot] = stamp
            if base + kept != e:
                for j in range(pool.shape[1]):
                    pool[base + kept, j] = pool[e, j]
            kept += 1
    length[g] = kept
    live_count[g] = kept
    if ordered:
        for i in range(kept // 2 - 1, -1, -1):
            _sift_down(pool, base, kept, i, is_max, bytewise, arena, starts)


@numba.njit(nogil=True, cache=True)
def heaps_vanish(groups: np.ndarray, pool: np.ndarray, start: np.ndarray,
                 length: np.ndarray, live_count: np.ndarray, keys: np.ndarray,
                 live: np.ndarray, present: np.ndarray, seen: np.ndarray,
                 meta: np.ndarray, ordered: bool, is_max: bool, bytewise: bool,
                 arena: np.ndarray, starts: np.ndarray) -> None:
    """One value of each group vanished: compact the groups whose heaps became mostly
    stale. meta[2] is the stamp counter of `seen`."""
    for i in range(groups.shape[0]):
        g = groups[i]
        live_count[g] -= 1
        if length[g] > 2 * live_count[g] + 8:
            meta[2] += 1
            _compact(g, pool, start, length, live_count, keys, live, present, seen,
                     meta[2], ordered, is_max, bytewise, arena, starts)


@numba.njit(nogil=True, cache=True)
def heaps_top(groups: np.ndarray, pool: np.ndarray, start: np.ndarray, length: np.ndarray,
              keys: np.ndarray, live: np.ndarray, present: np.ndarray, is_max: bool,
              bytewise: bool, arena: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group, the pair slot of its extreme value (-1 when none); stale tops are
    popped on the way."""
    out = np.full(groups.shape[0], -1, dtype=np.int64)
    for i in range(groups.shape[0]):
        g = groups[i]
        base = start[g]
        while length[g] > 0:
            if _valid(pool, base, g, keys, live, present):
                out[i] = pool[base, 0]
                break
            n = length[g] - 1
            length[g] = n
            if n > 0:
                for j in range(pool.shape[1]):
                    pool[base, j] = pool[base + n, j]
                _sift_down(pool, base, n, 0, is_max, bytewise, arena, starts)
    return out


@numba.njit(nogil=True, cache=True)
def heaps_entries(groups: np.ndarray, pool: np.ndarray, start: np.ndarray,
                  length: np.ndarray, keys: np.ndarray, live: np.ndarray,
                  present: np.ndarray) -> np.ndarray:
    """The pair slots of the valid entries of the groups (may repeat)."""
    total = 0
    for i in range(groups.shape[0]):
        total += length[groups[i]]
    out = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(groups.shape[0]):
        g = groups[i]
        for e in range(start[g], start[g] + length[g]):
            if _valid(pool, e, g, keys, live, present):
                out[k] = pool[e, 0]
                k += 1
    return out[:k]


@numba.njit(nogil=True, cache=True)
def heaps_repack(pool: np.ndarray, start: np.ndarray, length: np.ndarray, cap: np.ndarray,
                 fresh: np.ndarray) -> int:
    """Copy every group's segment into `fresh`, end to end; the space used."""
    used = 0
    for g in range(start.shape[0]):
        n = length[g]
        if cap[g] == 0:
            continue
        c = max(4, n + n // 2)
        for k in range(n):
            for j in range(pool.shape[1]):
                fresh[used + k, j] = pool[start[g] + k, j]
        start[g] = used
        cap[g] = c
        used += c
    return used


class GroupHeaps:
    """Per-group heaps (or plain lists) of (pair slot, value words) in one pool."""

    def __init__(self, width: int, *, ordered: bool, is_max: bool, bytewise: bool) -> None:
        self.ordered = ordered
        self.is_max = is_max
        self.bytewise = bytewise
        self.pool = np.zeros((64, 1 + width), dtype=np.int64)
        self.start = np.zeros(0, dtype=np.int64)
        self.length = np.zeros(0, dtype=np.int64)
        self.cap = np.zeros(0, dtype=np.int64)
        self.live_count = np.zeros(0, dtype=np.int64)
        self.meta = np.zeros(3, dtype=np.int64)  # pool used, pool garbage, stamp
        self.seen = np.zeros(0, dtype=np.int64)

    def nbytes(self) -> int:
        return int(self.pool.nbytes + self.start.nbytes * 4 + self.seen.nbytes)

    def fit(self, groups: int, pairs: int) -> None:
        """Make room for group slots below `groups` and pair slots below `pairs`."""
        old = self.start.shape[0]
        if groups > old:
            size = max(groups, 2 * old)
            for name in ("start", "length", "cap", "live_count"):
                grown = np.zeros(size, dtype=np.int64)
                grown[:old] = getattr(self, name)
                setattr(self, name, grown)
        if pairs > self.seen.shape[0]:
            grown = np.zeros(max(pairs, 2 * self.seen.shape[0]), dtype=np.int64)
            grown[: self.seen.shape[0]] = self.seen
            self.seen = grown

    def push(self, groups: np.ndarray, entries: np.ndarray,
             strings: tuple[np.ndarray, np.ndarray]) -> None:
        begin = 0
        while True:
            begin = heaps_push(groups, entries, begin, self.pool, self.start, self.length,
                               self.cap, self.live_count, self.meta, self.ordered,
                               self.is_max, self.bytewise, *strings)
            if begin >= groups.shape[0]:
                return
            self._make_room()

    def _make_room(self) -> None:
        """Repack the segments into a pool twice the size they need (garbage dropped)."""
        length = self.length[self.cap > 0]
        needed = int(np.maximum(4, length + length // 2).sum())
        size = max(64, 2 * needed + 8)
        fresh = np.zeros((size, self.pool.shape[1]), dtype=np.int64)
        self.meta[0] = heaps_repack(self.pool, self.start, self.length, self.cap, fresh)
        self.meta[1] = 0
        self.pool = fresh

    def vanish(self, groups: np.ndarray, keys: np.ndarray, live: np.ndarray,
               present: np.ndarray, strings: tuple[np.ndarray, np.ndarray]) -> None:
        heaps_vanish(groups, self.pool, self.start, self.length, self.live_count, keys,
                     live, present, self.seen, self.meta, self.ordered, self.is_max,
                     self.bytewise, *strings)

    def top(self, groups: np.ndarray, keys: np.ndarray, live: np.ndarray,
            present: np.ndarray, strings: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return heaps_top(groups, self.pool, self.start, self.length, keys, live, present,
                         self.is_max, self.bytewise, *strings)

    def entries(self, groups: np.ndarray, keys: np.ndarray, live: np.ndarray,
                present: np.ndarray) -> np.ndarray:
        return heaps_entries(groups, self.pool, self.start, self.length, keys, live,
                             present)

    def drop(self, groups: np.ndarray) -> None:
        """Forget the groups' segments (their slots will hold new groups)."""
        groups = groups[groups < self.start.shape[0]]
        self.meta[1] += int(self.cap[groups].sum())
        for name in ("start", "length", "cap", "live_count"):
            getattr(self, name)[groups] = 0


# ---------------------------------------------------------------------------------------
# Ordered sequences of a group's values (string_agg / array_agg).


@numba.njit(nogil=True, cache=True, inline="always")
def _value_less(x: np.ndarray, i: int, xo: int, y: np.ndarray, j: int, yo: int, width: int,
                nulls: bool, bytewise: bool, arena: np.ndarray, starts: np.ndarray) -> bool:
    """Whether the value in row i of x (words from column xo) sorts before the value in
    row j of y (from column yo): ascending, NULL (the flag word after the value words,
    when `nulls`) last."""
    if nulls:
        nx = x[i, xo + width]
        ny = y[j, yo + width]
        if nx != ny:
            return bool(nx < ny)
        if nx != 0:
            return False
    if bytewise:
        a = x[i, xo]
        b = y[j, yo]
        return a != b and bytes_less(a, b, arena, starts)
    for k in range(width):
        a = x[i, xo + k]
        b = y[j, yo + k]
        if a != b:
            return bool(a < b)
    return False


@numba.njit(nogil=True, cache=True, inline="always")
def _pair_less(keys: np.ndarray, a: int, b: int, width: int, nulls: bool, bytewise: bool,
               arena: np.ndarray, starts: np.ndarray) -> bool:
    """Whether the pair in row a of keys (group, value words) sorts before row b's."""
    return _value_less(keys, a, 1, keys, b, 1, width, nulls, bytewise, arena, starts)


@numba.njit(nogil=True, cache=True)
def _sort_pairs(idx: np.ndarray, tmp: np.ndarray, lo: int, hi: int, keys: np.ndarray,
                width: int, nulls: bool, bytewise: bool, arena: np.ndarray,
                starts: np.ndarray) -> None:
    """Sort the row numbers idx[lo:hi] of keys (group, value words) by value:
    insertion-sorted runs of 16, then bottom-up merges between idx and tmp."""
    run = 16
    for s in range(lo, hi, run):
        e = min(s + run, hi)
        for i in range(s + 1, e):
            v = idx[i]
            j = i - 1
            while j >= s and _pair_less(keys, v, idx[j], width, nulls, bytewise, arena,
                                        starts):
                idx[j + 1] = idx[j]
                j -= 1
            idx[j + 1] = v
    src = idx
    dst = tmp
    in_idx = True
    size = run
    while size < hi - lo:
        for s in range(lo, hi, 2 * size):
            m = min(s + size, hi)
            e = min(s + 2 * size, hi)
            i = s
            j = m
            k = s
            while i < m and j < e:
                if _pair_less(keys, src[j], src[i], width, nulls, bytewise, arena, starts):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < m:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < e:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        in_idx = not in_idx
        size *= 2
    if not in_idx:
        for i in range(lo, hi):
            idx[i] = src[i]


@numba.njit(nogil=True, cache=True)
def group_sequences(groups: np.ndarray, pool: np.ndarray, start: np.ndarray,
                    length: np.ndarray, keys: np.ndarray, live: np.ndarray,
                    present: np.ndarray, count: np.ndarray, width: int, nulls: bool,
                    distinct: bool, descending: bool, bytewise: bool, arena: np.ndarray,
                    starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group, its present values in order (descending: the reverse, so NULLs come
    first), each repeated by its count unless `distinct`: (value rows (n, width [+ null
    flag]), offsets (len(groups) + 1))."""
    m = groups.shape[0]
    total = 0
    for i in range(m):
        total += length[groups[i]]
    idx = np.empty(total, dtype=np.int64)
    ends = np.empty(m, dtype=np.int64)
    k = 0
    for i in range(m):
        g = groups[i]
        for e in range(start[g], start[g] + length[g]):
            if _valid(pool, e, g, keys, live, present):
                idx[k] = pool[e, 0]
                k += 1
        ends[i] = k
    tmp = np.empty(k, dtype=np.int64)
    offsets = np.zeros(m + 1, dtype=np.int64)
    w = 0  # compacted (sorted, deduplicated) write position: never ahead of the reads
    lo = 0
    n = 0
    for i in range(m):
        hi = ends[i]
        _sort_pairs(idx, tmp, lo, hi, keys, width, nulls, bytewise, arena, starts)
        for r in range(lo, hi):
            slot = idx[r]
            if r > lo and slot == idx[r - 1]:
                continue  # a list may hold a pair twice (it vanished and came back)
            idx[w] = slot
            w += 1
            n += 1 if distinct else max(count[slot], 0)
        ends[i] = w
        offsets[i + 1] = n
        lo = hi
    row = width + (1 if nulls else 0)
    out = np.empty((n, row), dtype=np.int64)
    o = 0
    lo = 0
    for i in range(m):
        hi = ends[i]
        for r in range(hi - lo):
            slot = idx[hi - 1 - r] if descending else idx[lo + r]
            times = 1 if distinct else max(count[slot], 0)
            for _ in range(times):
                for j in range(row):
                    out[o, j] = keys[slot, 1 + j]
                o += 1
        lo = hi
    return out, offsets


@numba.njit(nogil=True, cache=True)
def merge_sequences(current: np.ndarray, pool: np.ndarray, start: np.ndarray,
                    length: np.ndarray, positions: np.ndarray, changes: np.ndarray,
                    counts: np.ndarray, width: int, nulls: bool, distinct: bool,
                    descending: bool, bytewise: bool, arena: np.ndarray,
                    starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group i, its new sequence: the stored one (`current[i]`, -1: none; in output
    order) in which the run of each changed value is replaced by its count now. The
    changes are rows (group, value words) with their counts; positions[r] is the index
    of row r's group in `current` (-1: not asked for). (value rows, offsets) as
    `group_sequences`."""
    m = current.shape[0]
    row = width + (1 if nulls else 0)
    bounds = np.zeros(m + 1, dtype=np.int64)
    total = 0
    for r in range(positions.shape[0]):
        if positions[r] >= 0:
            bounds[positions[r] + 1] += 1
            total += 1 if distinct else max(counts[r], 0)
    for i in range(m):
        bounds[i + 1] += bounds[i]
        if current[i] >= 0:
            total += length[current[i]]
    order = np.empty(bounds[m], dtype=np.int64)
    fill = bounds[:m].copy()
    for r in range(positions.shape[0]):
        p = positions[r]
        if p >= 0:
            order[fill[p]] = r
            fill[p] += 1
    tmp = np.empty(bounds[m], dtype=np.int64)
    out = np.empty((total, row), dtype=np.int64)
    offsets = np.zeros(m + 1, dtype=np.int64)
    o = 0
    for i in range(m):
        lo = bounds[i]
        hi = bounds[i + 1]
        _sort_pairs(order, tmp, lo, hi, changes, width, nulls, bytewise, arena, starts)
        base = start[current[i]] if current[i] >= 0 else 0
        end = base + (length[current[i]] if current[i] >= 0 else 0)
        p = base
        for t in range(hi - lo):
            r = order[hi - 1 - t] if descending else order[lo + t]
            a = p  # binary search: the first stored value not before the change's
            b = end
            while a < b:
                c = (a + b) // 2
                if descending:
                    before = _value_less(changes, r, 1, pool, c, 0, width, nulls, bytewise,
                                         arena, starts)
                else:
                    before = _value_less(pool, c, 0, changes, r, 1, width, nulls, bytewise,
                                         arena, starts)
                if before:
                    a = c + 1
                else:
                    b = c
            for q in range(p, a):
                for j in range(row):
                    out[o, j] = pool[q, j]
                o += 1
            p = a
            while p < end:  # skip the value's old run
                same = True
                for j in range(row):
                    if pool[p, j] != changes[r, 1 + j]:
                        same = False
                        break
                if not same:
                    break
                p += 1
            times = (1 if counts[r] > 0 else 0) if distinct else max(counts[r], 0)
            for _ in range(times):
                for j in range(row):
                    out[o, j] = changes[r, 1 + j]
                o += 1
        for q in range(p, end):
            for j in range(row):
                out[o, j] = pool[q, j]
            o += 1
        offsets[i + 1] = o
    return out[:o], offsets


@numba.njit(nogil=True, cache=True, inline="always")
def _joined_byte(pool: np.ndarray, first: int, n: int, p: int, q: int, sep: np.ndarray,
                 arena: np.ndarray, starts: np.ndarray) -> tuple[int, int, int]:
    """The next byte of the joined string of strings pool[first:first+n, 0] at cursor
    (element p, byte q; q < 0: byte -q-1 of the separator before element p), and the
    advanced cursor."""
    while True:
        if q < 0:
            b = -q - 1
            if b < sep.shape[0]:
                return int(sep[b]), p, q - 1
            q = 0
        s = pool[first + p, 0]
        if starts[s] + q < starts[s + 1]:
            return int(arena[starts[s] + q]), p, q + 1
        p += 1
        q = -1
        if p >= n:
            return -1, p, q


@numba.njit(nogil=True, cache=True)
def _same_joined(pool: np.ndarray, a: int, na: int, b: int, nb: int, sep: np.ndarray,
                 arena: np.ndarray, starts: np.ndarray) -> bool:
    """Whether two sequences of string ids join to the same string."""
    pa_, qa, pb, qb = 0, 0, 0, 0
    while True:
        x, pa_, qa = _joined_byte(pool, a, na, pa_, qa, sep, arena, starts)
        y, pb, qb = _joined_byte(pool, b, nb, pb, qb, sep, arena, starts)
        if x != y:
            return False
        if x < 0:
            return True


@numba.njit(nogil=True, cache=True)
def sequences_put(current: np.ndarray, rows: np.ndarray, offsets: np.ndarray, begin: int,
                  out: np.ndarray, pool: np.ndarray, start: np.ndarray, length: np.ndarray,
                  free: np.ndarray, meta: np.ndarray, joined: bool, sep: np.ndarray,
                  arena: np.ndarray, starts: np.ndarray) -> int:
    """The id of each group's new sequence rows[offsets[i]:offsets[i + 1]] into out[i]:
    -1 when empty; the group's current id when it holds the same sequence (or, `joined`,
    one that joins to the same string: its content is replaced); else a fresh id.
    Returns the group it stopped at when the pool or the ids ran out (len(current) when
    done). meta = [pool used, pool garbage, ids ever handed out, free ids]."""
    width = pool.shape[1]
    for i in range(begin, current.shape[0]):
        lo = offsets[i]
        n = offsets[i + 1] - lo
        cur = current[i]
        if n == 0:
            out[i] = -1
            continue
        if cur >= 0 and length[cur] == n:
            same = True
            base = start[cur]
            for r in range(n):
                for j in range(width):
                    if pool[base + r, j] != rows[lo + r, j]:
                        same = False
                        break
                if not same:
                    break
            if same:
                out[i] = cur
                continue
        if meta[0] + n > pool.shape[0]:
            return i
        at = meta[0]
        for r in range(n):
            for j in range(width):
                pool[at + r, j] = rows[lo + r, j]
        if joined and cur >= 0 and _same_joined(pool, at, n, start[cur], length[cur], sep,
                                                arena, starts):
            meta[1] += length[cur]  # same string, other pieces: keep the id
            start[cur] = at
            length[cur] = n
            meta[0] += n
            out[i] = cur
            continue
        if meta[3] > 0:
            meta[3] -= 1
            new = free[meta[3]]
        elif meta[2] < start.shape[0]:
            new = meta[2]
            meta[2] += 1
        else:
            return i
        start[new] = at
        length[new] = n
        meta[0] += n
        out[i] = new
    done: int = current.shape[0]
    return done


@numba.njit(nogil=True, cache=True)
def sequences_repack(pool: np.ndarray, start: np.ndarray, length: np.ndarray, ids: int,
                     fresh: np.ndarray) -> int:
    """Copy the sequences of ids below `ids` (freed ones have length 0) end to end into
    `fresh`; the space used."""
    used = 0
    for s in range(ids):
        n = length[s]
        for r in range(n):
            for j in range(pool.shape[1]):
                fresh[used + r, j] = pool[start[s] + r, j]
        start[s] = used
        used += n
    return used


class SequenceStore:
    """Sequences of value rows under stable ids. An id retired (its group's result
    changed, or the group left) stays readable until the next `put`, so the row it
    stands for can still be retracted."""

    def __init__(self, width: int) -> None:
        self.pool = np.zeros((64, width), dtype=np.int64)
        self.start = np.zeros(16, dtype=np.int64)
        self.length = np.zeros(16, dtype=np.int64)
        self.free = np.zeros(16, dtype=np.int64)
        self.meta = np.zeros(4, dtype=np.int64)  # pool used, garbage, ids handed out, free
        self._retired: list[np.ndarray] = []

    def nbytes(self) -> int:
        return int(self.pool.nbytes + self.start.nbytes * 3)

    def __len__(self) -> int:
        """Ids in use."""
        return int(self.meta[2] - self.meta[3])

    def put(self, current: np.ndarray, rows: np.ndarray, offsets: np.ndarray,
            joined_by: np.ndarray | None, strings: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The ids of the new sequences of groups whose current ids are `current`
        (-1: none); ids replaced are retired. `joined_by`: string ids joined by these
        separator bytes compare as their joined strings."""
        self._release()
        m = current.shape[0]
        out = np.empty(m, dtype=np.int64)
        sep = np.empty(0, dtype=np.uint8) if joined_by is None else joined_by
        begin = 0
        while True:
            begin = sequences_put(current, rows, offsets, begin, out, self.pool, self.start,
                                  self.length, self.free, self.meta, joined_by is not None,
                                  sep, *strings)
            if begin >= m:
                break
            self._make_room(int(offsets[begin + 1] - offsets[begin]))
        self.retire(current[out != current])
        return out

    def retire(self, ids: np.ndarray) -> None:
        """These ids go at the next `put` (their rows may still be decoded until then)."""
        ids = ids[ids >= 0]
        if ids.shape[0]:
            self._retired.append(ids)

    def _release(self) -> None:
        if not self._retired:
            return
        ids = np.unique(np.concatenate(self._retired))
        self._retired = []
        self.meta[1] += int(self.length[ids].sum())
        self.length[ids] = 0
        n = int(self.meta[3])
        if n + ids.shape[0] > self.free.shape[0]:
            grown = np.zeros(max(n + ids.shape[0], 2 * self.free.shape[0]), dtype=np.int64)
            grown[:n] = self.free[:n]
            self.free = grown
        self.free[n: n + ids.shape[0]] = ids
        self.meta[3] = n + ids.shape[0]
        if self.meta[1] > max(1024, self.meta[0] // 2):
            self._repack(0)

    def _make_room(self, need: int) -> None:
        old = self.start.shape[0]
        if self.meta[3] == 0 and self.meta[2] == old:
            for name in ("start", "length", "free"):
                grown = np.zeros(2 * old, dtype=np.int64)
                grown[:old] = getattr(self, name)
                setattr(self, name, grown)
        if self.meta[0] + need > self.pool.shape[0]:
            self._repack(need)

    def _repack(self, need: int) -> None:
        """Drop the garbage; the pool gets room for twice what it holds plus `need`."""
        live = int(self.meta[0] - self.meta[1])
        size = max(64, 2 * (live + need))
        if size < self.pool.shape[0] // 4:
            size = self.pool.shape[0] // 2  # shrink gently
        fresh = np.zeros((max(size, live + need), self.pool.shape[1]), dtype=np.int64)
        self.meta[0] = sequences_repack(self.pool, self.start, self.length,
                                        int(self.meta[2]), fresh)
        self.meta[1] = 0
        self.pool = fresh


# ---------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True)
def heap_push(values: np.ndarray, slots: np.ndarray, new_values: np.ndarray,
              new_slots: np.ndarray, meta: np.ndarray) -> None:
    n = meta[0]
    for k in range(new_values.shape[0]):
        v = new_values[k]
        s = new_slots[k]
        i = n
        n += 1
        while i > 0:
            p = (i - 1) // 2
            if values[p] <= v:
                break
            values[i] = values[p]
            slots[i] = slots[p]
            i = p
        values[i] = v
        slots[i] = s
    meta[0] = n


@numba.njit(nogil=True, cache=True)
def heap_pop_upto(values: np.ndarray, slots: np.ndarray, limit: int,
                  meta: np.ndarray) -> np.ndarray:
    """Pop every entry with value <= limit; their slots."""
    out = np.empty(16, dtype=np.int64)
    k = 0
    n = meta[0]
    while n > 0 and values[0] <= limit:
        if k == out.shape[0]:
            grown = np.empty(2 * k, dtype=np.int64)
            grown[:k] = out
            out = grown
        out[k] = slots[0]
        k += 1
        n -= 1
        v = values[n]
        s = slots[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and values[c + 1] < values[c]:
                c += 1
            if values[c] >= v:
                break
            values[i] = values[c]
            slots[i] = slots[c]
            i = c
        values[i] = v
        slots[i] = s
    meta[0] = n
    return out[:k]


class CloseQueue:
    """Groups waiting for their window to close, smallest close value first."""

    def __init__(self) -> None:
        self.values = np.empty(64, dtype=np.int64)
        self.slots = np.empty(64, dtype=np.int64)
        self.meta = np.zeros(1, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.meta[0])

    def nbytes(self) -> int:
        return int(self.values.nbytes + self.slots.nbytes)

    def push(self, values: np.ndarray, slots: np.ndarray) -> None:
        need = int(self.meta[0]) + values.shape[0]
        if need > self.values.shape[0]:
            size = max(need, 2 * self.values.shape[0])
            for name in ("values", "slots"):
                grown = np.empty(size, dtype=np.int64)
                grown[: int(self.meta[0])] = getattr(self, name)[: int(self.meta[0])]
                setattr(self, name, grown)
        heap_push(self.values, self.slots, np.ascontiguousarray(values, dtype=np.int64),
                  np.ascontiguousarray(slots, dtype=np.int64), self.meta)

    def pop_upto(self, limit: int) -> np.ndarray:
        return heap_pop_upto(self.values, self.slots, limit, self.meta)
