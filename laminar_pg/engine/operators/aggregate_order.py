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
