"""Hand-written numba kernels for the Nexmark queries of bench/nexmark.py: the ceiling.

Each kernel answers one query over the bid batches of the same generator the server reads
(all 7 declared columns, 65,536 events per read, in the benchmark's process) and keeps the
blackhole sink's checksum of the answer (laminar_pg/engine/operators/blackhole.py): per
output column the sum, mod 2^64, of `_mix` of each value's 64-bit word, strings hashed
(FNV-1a) straight from their bytes. So a kernel does what the server's sink dataflow must
do at the least (read the generator, compute, checksum every column of every row) and
nothing else: no Arrow output, no change rows, no per-chunk Python beyond one call.

Strategy: stateless queries (q0, q1, q2, q10, q14, q21, q22) fold each batch into the
column sums in one pass. Windowed queries (q5_window, q7_window) keep an open-addressing
hash table of (window start, key) -> (count, max), drop late events as the server's source
reader does (an event is late below the highest time seen minus the watermark delay),
close the windows whose end is at or below the watermark after each batch and checksum
what they emit: the final contents, once per group (what EMIT ON WINDOW CLOSE gives, the
least work any emit policy can do). q17 (grouped, never closes) aggregates in the same
table and builds its small answer as Arrow at the end, checksummed with the sink's own
`table_checksums` (the answer's types, e.g. numeric sum, come from DuckDB's answer).

Kernels take numpy arrays and return numpy arrays (CONVENTIONS.md rule 4); the classes
below only take the batches apart.
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads bench files by path.
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from laminar_pg.engine.operators.blackhole import NULL_WORD, _mix, table_checksums

U64 = np.uint64
FNV_OFFSET = U64(0xCBF29CE484222325)
FNV_PRIME = U64(0x100000001B3)
NO_TIME = np.iinfo(np.int64).min
END_OF_TIME = np.iinfo(np.int64).max
MIN_VALUE = np.iinfo(np.int64).min
US_PER_DAY = 86_400_000_000
US_PER_MINUTE = 60_000_000
US_PER_HOUR = 3_600_000_000
WATERMARK_DELAY_US = 4_000_000  # the source's WATERMARK FOR date_time AS date_time - '4' s


def combine(sums: np.ndarray) -> int:
    """One figure from the per-column sums, as BlackholeSink.checksum() combines them."""
    combined = 0
    for i, value in enumerate(sums.tolist()):
        combined = (combined * 1_000_003 + int(value) + i) % (1 << 64)
    return combined


# --------------------------------------------------------------------------- helpers


@njit(inline="always", nogil=True, cache=True)
def _word(value: int) -> np.uint64:
    return _mix(U64(value))


@njit(inline="always", nogil=True, cache=True)
def _fnv(data: np.ndarray, start: int, stop: int) -> np.uint64:
    h = FNV_OFFSET
    for j in range(start, stop):
        h = (h ^ U64(data[j])) * FNV_PRIME
    return h


@njit(inline="always", nogil=True, cache=True)
def _fnv_digits(h: np.uint64, value: int, width: int) -> np.uint64:
    """Continue an FNV-1a hash with `value` written as `width` decimal digits."""
    divisor = 1
    for _ in range(width - 1):
        divisor *= 10
    for _ in range(width):
        digit = (value // divisor) % 10
        h = (h ^ U64(48 + digit)) * FNV_PRIME
        divisor //= 10
    return h


@njit(inline="always", nogil=True, cache=True)
def _fnv_char(h: np.uint64, char: int) -> np.uint64:
    return (h ^ U64(char)) * FNV_PRIME


@njit(nogil=True, cache=True)
def _date_hash(day: int) -> np.uint64:
    """FNV-1a of to_char(day, 'YYYY-MM-DD') for a day number since 1970-01-01
    (civil_from_days, Howard Hinnant's algorithm)."""
    z = day + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    h = _fnv_digits(FNV_OFFSET, y, 4)
    h = _fnv_char(h, 45)
    h = _fnv_digits(h, m, 2)
    h = _fnv_char(h, 45)
    return _fnv_digits(h, d, 2)


@njit(nogil=True, cache=True)
def _time_hash(minute_of_day: int) -> np.uint64:
    """FNV-1a of to_char(t, 'HH24:MI')."""
    h = _fnv_digits(FNV_OFFSET, minute_of_day // 60, 2)
    h = _fnv_char(h, 58)
    return _fnv_digits(h, minute_of_day % 60, 2)


@njit(inline="always", nogil=True, cache=True)
def _thousandths_word(unscaled: int | np.int64) -> np.int64:
    """The sink's word for a decimal of scale 3 (`unscaled` thousandths, >= 0): its value
    at scale 18 as a 128-bit integer, the two halves mixed (blackhole._decimal_words)."""
    a = U64(unscaled)
    b = U64(10 ** 15)
    mask = U64(0xFFFFFFFF)
    a_lo, a_hi, b_lo, b_hi = a & mask, a >> U64(32), b & mask, b >> U64(32)
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> U64(32)) + (p1 & mask) + (p2 & mask)
    lo = (p0 & mask) | (mid << U64(32))
    hi = p3 + (p1 >> U64(32)) + (p2 >> U64(32)) + (mid >> U64(32))
    return np.int64(lo) ^ (np.int64(hi) * np.int64(0x5BD1E995))


@njit(inline="always", nogil=True, cache=True)
def _price_word(price: int, scratch: np.ndarray, bits: np.ndarray) -> np.uint64:
    """0.908 * price is numeric of scale 3 (price * 908 thousandths). `scratch` and
    `bits` are unused (kept for the callers' signature)."""
    return _word(_thousandths_word(price * 908))


# --------------------------------------------------------------------------- stateless


@njit(nogil=True, cache=True)
def q0_batch(auction: np.ndarray, bidder: np.ndarray, price: np.ndarray, ts: np.ndarray,
             sums: np.ndarray) -> int:
    for i in range(auction.shape[0]):
        sums[0] += _word(auction[i])
        sums[1] += _word(bidder[i])
        sums[2] += _word(price[i])
        sums[3] += _word(ts[i])
    return int(auction.shape[0])


@njit(nogil=True, cache=True)
def q1_batch(auction: np.ndarray, bidder: np.ndarray, price: np.ndarray, ts: np.ndarray,
             sums: np.ndarray) -> int:
    n = auction.shape[0]
    for i in range(n):
        sums[0] += _word(auction[i])
        sums[1] += _word(bidder[i])
        sums[2] += _word(_thousandths_word(price[i] * 908))
        sums[3] += _word(ts[i])
    return int(n)


@njit(nogil=True, cache=True)
def q2_batch(auction: np.ndarray, price: np.ndarray, sums: np.ndarray) -> int:
    rows = 0
    for i in range(auction.shape[0]):
        a = auction[i]
        if a == 1007 or a == 1020 or a == 2001 or a == 2019 or a == 2087:
            sums[0] += _word(a)
            sums[1] += _word(price[i])
            rows += 1
    return rows


@njit(nogil=True, cache=True)
def q10_batch(auction: np.ndarray, bidder: np.ndarray, price: np.ndarray, ts: np.ndarray,
              sums: np.ndarray) -> int:
    last_day = NO_TIME
    last_minute = NO_TIME
    date_word = U64(0)
    time_word = U64(0)
    for i in range(auction.shape[0]):
        t = ts[i]
        day = t // US_PER_DAY
        minute = t // US_PER_MINUTE
        if day != last_day:
            date_word = _mix(_date_hash(day))
            last_day = day
        if minute != last_minute:
            time_word = _mix(_time_hash((t - day * US_PER_DAY) // US_PER_MINUTE))
            last_minute = minute
        sums[0] += _word(auction[i])
        sums[1] += _word(bidder[i])
        sums[2] += _word(price[i])
        sums[3] += _word(t)
        sums[4] += date_word
        sums[5] += time_word
    return int(auction.shape[0])


@njit(nogil=True, cache=True)
def q14_batch(auction: np.ndarray, bidder: np.ndarray, price: np.ndarray, ts: np.ndarray,
              extra_offsets: np.ndarray, extra_data: np.ndarray, type_words: np.ndarray,
              sums: np.ndarray) -> int:
    rows = 0
    scratch = np.empty(1, dtype=np.float64)
    bits = scratch.view(np.int64)
    for i in range(auction.shape[0]):
        scaled = price[i] * 908  # 0.908 * price in thousandths
        if not (scaled > 1_000_000_000 and scaled < 50_000_000_000):
            continue
        t = ts[i]
        hour = ((t % US_PER_DAY) + US_PER_DAY) % US_PER_DAY // US_PER_HOUR
        if 8 <= hour <= 18:
            kind = 0
        elif hour <= 6 or hour >= 20:
            kind = 1
        else:
            kind = 2
        c_count = 0
        for j in range(extra_offsets[i], extra_offsets[i + 1]):
            if extra_data[j] == 99:  # 'c'
                c_count += 1
        sums[0] += _word(auction[i])
        sums[1] += _word(bidder[i])
        sums[2] += _price_word(price[i], scratch, bits)
        sums[3] += type_words[kind]
        sums[4] += _word(t)
        sums[5] += _word(c_count)
        rows += 1
    return rows


@njit(inline="always", nogil=True, cache=True)
def _lower_equals(data: np.ndarray, start: int, stop: int, word: np.ndarray) -> bool:
    if stop - start != word.shape[0]:
        return False
    for j in range(word.shape[0]):
        c = data[start + j]
        if 65 <= c <= 90:
            c += 32
        if c != word[j]:
            return False
    return True


@njit(inline="always", nogil=True, cache=True)
def _find(data: np.ndarray, start: int, stop: int, needle: np.ndarray) -> int:
    """The first position of `needle` in data[start:stop], or -1."""
    m = needle.shape[0]
    for j in range(start, stop - m + 1):
        k = 0
        while k < m and data[j + k] == needle[k]:
            k += 1
        if k == m:
            return j
    return -1


@njit(nogil=True, cache=True)
def q21_batch(auction: np.ndarray, bidder: np.ndarray, price: np.ndarray,
              channel_offsets: np.ndarray, channel_data: np.ndarray,
              url_offsets: np.ndarray, url_data: np.ndarray,
              hot_names: np.ndarray, hot_lengths: np.ndarray, hot_words: np.ndarray,
              needle: np.ndarray, sums: np.ndarray) -> int:
    """hot_names: the lowercase names apple, google, facebook, baidu (rows of a padded
    byte matrix, lengths apart); hot_words: the words of '0'..'3'."""
    rows = 0
    m = needle.shape[0]
    for i in range(auction.shape[0]):
        c0, c1 = channel_offsets[i], channel_offsets[i + 1]
        hot = -1
        for k in range(hot_names.shape[0]):
            if _lower_equals(channel_data, c0, c1, hot_names[k, : hot_lengths[k]]):
                hot = k
                break
        u0, u1 = url_offsets[i], url_offsets[i + 1]
        # split_part(url, 'channel_id=', 2): from the first delimiter to the next (or end)
        found = _find(url_data, u0, u1, needle)
        id_word = NULL_WORD
        has_id = False
        if found >= 0:
            start = found + m
            stop = _find(url_data, start, u1, needle)
            if stop < 0:
                stop = u1
            if stop > start:
                has_id = True
                id_word = _mix(_fnv(url_data, start, stop))
        if hot < 0 and not has_id:
            continue
        sums[0] += _word(auction[i])
        sums[1] += _word(bidder[i])
        sums[2] += _word(price[i])
        sums[3] += _mix(_fnv(channel_data, c0, c1))
        sums[4] += hot_words[hot] if hot >= 0 else id_word
        rows += 1
    return rows


@njit(nogil=True, cache=True)
def q22_batch(auction: np.ndarray, bidder: np.ndarray, price: np.ndarray,
              channel_offsets: np.ndarray, channel_data: np.ndarray,
              url_offsets: np.ndarray, url_data: np.ndarray, sums: np.ndarray) -> int:
    """split_part(url, '/', 4 / 5 / 6): the 4th to 6th '/'-separated fields ('' if none)."""
    empty = _mix(FNV_OFFSET)
    for i in range(auction.shape[0]):
        sums[0] += _word(auction[i])
        sums[1] += _word(bidder[i])
        sums[2] += _word(price[i])
        sums[3] += _mix(_fnv(channel_data, channel_offsets[i], channel_offsets[i + 1]))
        field = 1
        h = FNV_OFFSET
        done = 0
        for j in range(url_offsets[i], url_offsets[i + 1]):
            c = url_data[j]
            if c == 47:  # '/'
                if 4 <= field <= 6:
                    sums[field] += _mix(h)
                    done += 1
                    if field == 6:
                        break
                field += 1
                h = FNV_OFFSET
            elif 4 <= field <= 6:
                h = (h ^ U64(c)) * FNV_PRIME
        if field <= 6 and done < 3:  # the last field ran to the end of the url
            if field >= 4:
                sums[field] += _mix(h)
                done += 1
            for k in range(4 + done, 7):
                sums[k] += empty
    return int(auction.shape[0])


# --------------------------------------------------------------------------- hash table


@njit(inline="always", nogil=True, cache=True)
def _slot(a: int, b: int, mask: int) -> np.int64:
    return np.int64(_mix(U64(a) * U64(0x9E3779B97F4A7C15) ^ U64(b)) & U64(mask))


@njit(inline="always", nogil=True, cache=True)
def _find_or_insert(table: np.ndarray, used: np.ndarray, a: int,
                    b: int) -> tuple[np.int64, bool]:
    """The slot of key (a, b) (columns 0 and 1), inserted if new (values left to the caller)."""
    mask = table.shape[0] - 1
    i = _slot(a, b, mask)
    while used[i]:
        if table[i, 0] == a and table[i, 1] == b:
            return i, False
        i = (i + 1) & mask
    used[i] = 1
    table[i, 0] = a
    table[i, 1] = b
    return i, True


@njit(nogil=True, cache=True)
def _rehash(table: np.ndarray, used: np.ndarray, capacity: int,
            drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A table of `capacity` slots holding the used rows not marked in `drop`."""
    fresh = np.empty((capacity, table.shape[1]), dtype=np.int64)
    fresh_used = np.zeros(capacity, dtype=np.uint8)
    for j in range(table.shape[0]):
        if used[j] and not drop[j]:
            i, _ = _find_or_insert(fresh, fresh_used, table[j, 0], table[j, 1])
            fresh[i, 2:] = table[j, 2:]
    return fresh, fresh_used


# --------------------------------------------------------------------------- windows

LAYOUT_COUNT_BY_KEY = 0  # q5: key, count, window_start, window_end
LAYOUT_MAX = 1  # q7: max(value), window_start, window_end
NO_WINDOW = np.iinfo(np.int64).min


@njit(nogil=True, cache=True)
def _grow_windows(keys: np.ndarray, values: np.ndarray, used: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window's table at twice the capacity."""
    ring, capacity = keys.shape
    bigger = 2 * capacity
    mask = bigger - 1
    new_keys = np.empty((ring, bigger), dtype=np.int64)
    new_values = np.empty((ring, bigger, 2), dtype=np.int64)
    new_used = np.zeros((ring, bigger), dtype=np.uint8)
    for s in range(ring):
        for i in range(capacity):
            if used[s, i]:
                k = np.int64(_mix(U64(keys[s, i])) & U64(mask))
                while new_used[s, k]:
                    k = (k + 1) & mask
                new_used[s, k] = 1
                new_keys[s, k] = keys[s, i]
                new_values[s, k, 0] = values[s, i, 0]
                new_values[s, k, 1] = values[s, i, 1]
    return new_keys, new_values, new_used


@njit(nogil=True, cache=True)
def _close_windows(keys: np.ndarray, values: np.ndarray, used: np.ndarray,
                   windows: np.ndarray, fill: np.ndarray, slide: int, size: int,
                   watermark: int, layout: int, sums: np.ndarray) -> tuple[int, int]:
    """Checksum and clear the windows ending at or below `watermark`; returns (rows
    emitted, the lowest end of a window still open)."""
    emitted = 0
    next_end = END_OF_TIME
    for s in range(windows.shape[0]):
        w = windows[s]
        if w == NO_WINDOW:
            continue
        start = w * slide
        if start + size > watermark:
            next_end = min(next_end, start + size)
            continue
        for i in range(keys.shape[1]):
            if not used[s, i]:
                continue
            if layout == LAYOUT_COUNT_BY_KEY:
                sums[0] += _word(keys[s, i])
                sums[1] += _word(values[s, i, 0])
                sums[2] += _word(start)
                sums[3] += _word(start + size)
            else:
                sums[0] += _word(values[s, i, 1])
                sums[1] += _word(start)
                sums[2] += _word(start + size)
            used[s, i] = 0
            emitted += 1
        windows[s] = NO_WINDOW
        fill[s] = 0
    return emitted, next_end


@njit(nogil=True, cache=True)
def window_batch(ts: np.ndarray, key: np.ndarray, value: np.ndarray, keys: np.ndarray,
                 values: np.ndarray, used: np.ndarray, windows: np.ndarray, fill: np.ndarray,
                 state: np.ndarray, slide: int, size: int, delay: int, final: bool,
                 layout: int, sums: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """count(*) and max(value) per key per window of `size` every `slide` (aligned on the
    epoch), each window closed, checksummed and cleared as soon as the watermark (the
    highest time seen minus `delay`) reaches its end; all of them at the end when `final`.

    Windows live in a ring of hash tables (keys / values / used: [ring, capacity]), window
    number w in slot w % ring; `windows` holds each slot's window number, `fill` its keys.
    state: [highest time seen, lowest end of an open window]. Returns the tables (grown
    when one passed half full) and the rows emitted."""
    hops = size // slide
    ring = windows.shape[0]
    running_max = state[0]
    next_end = state[1]
    emitted = 0
    for r in range(ts.shape[0]):
        t = ts[r]
        if running_max != NO_TIME and t < running_max - delay:
            continue  # late: the source reader drops it
        if t > running_max:
            running_max = t
            if running_max - delay >= next_end:
                closed, next_end = _close_windows(keys, values, used, windows, fill, slide,
                                                  size, running_max - delay, layout, sums)
                emitted += closed
        k = key[r]
        v = value[r]
        h = _mix(U64(k))
        last = t // slide
        for w in range(last - hops + 1, last + 1):
            s = w % ring
            if windows[s] != w:
                if windows[s] != NO_WINDOW:
                    raise ValueError("window ring too small")
                windows[s] = w
                next_end = min(next_end, w * slide + size)
            if 2 * (fill[s] + 1) > keys.shape[1]:
                keys, values, used = _grow_windows(keys, values, used)
            mask = keys.shape[1] - 1
            i = np.int64(h & U64(mask))
            while used[s, i] and keys[s, i] != k:
                i = (i + 1) & mask
            if not used[s, i]:
                used[s, i] = 1
                keys[s, i] = k
                values[s, i, 0] = 0
                values[s, i, 1] = v
                fill[s] += 1
            values[s, i, 0] += 1
            if v > values[s, i, 1]:
                values[s, i, 1] = v
    if final:
        closed, next_end = _close_windows(keys, values, used, windows, fill, slide, size,
                                          END_OF_TIME, layout, sums)
        emitted += closed
    state[0] = running_max
    state[1] = next_end
    return keys, values, used, emitted


# --------------------------------------------------------------------------- q17


@njit(nogil=True, cache=True)
def q17_batch(ts: np.ndarray, auction: np.ndarray, price: np.ndarray, table: np.ndarray,
              used: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (day, auction): count, three price-rank counts, min, max, sum (columns 2-8)."""
    live = state[0]
    for r in range(ts.shape[0]):
        if 2 * (live + 1) > table.shape[0]:
            table, used = _rehash(table, used, 2 * table.shape[0],
                                  np.zeros(table.shape[0], dtype=np.uint8))
        p = price[r]
        i, fresh = _find_or_insert(table, used, ts[r] // US_PER_DAY, auction[r])
        if fresh:
            live += 1
            table[i, 2:] = 0
            table[i, 6] = p
            table[i, 7] = p
        table[i, 2] += 1
        if p < 10000:
            table[i, 3] += 1
        elif p < 1000000:
            table[i, 4] += 1
        else:
            table[i, 5] += 1
        if p < table[i, 6]:
            table[i, 6] = p
        if p > table[i, 7]:
            table[i, 7] = p
        table[i, 8] += p
    state[0] = live
    return table, used


# --------------------------------------------------------------------------- drivers


def _ints(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    values: np.ndarray = column.to_numpy()
    return values


def _strings(batch: pa.RecordBatch, name: str) -> tuple[np.ndarray, np.ndarray]:
    column = batch.column(name)
    if column.offset:
        column = pa.concat_arrays([column])
    buffers = column.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[: len(column) + 1]
    data = (np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None
            else np.zeros(0, dtype=np.uint8))
    return offsets, data


def _string_words(texts: list[str]) -> np.ndarray:
    """The sink's word of each string (its checksum as a one-row column)."""
    return np.array([table_checksums(pa.table({"s": [t]}))[0] for t in texts], dtype=np.uint64)


class Ceiling:
    """One query's kernel: `feed` each generator batch, then `finish` -> (rows, checksum)."""

    columns = 0

    def __init__(self, reference_schema: pa.Schema | None = None) -> None:
        self.sums = np.zeros(self.columns, dtype=np.uint64)
        self.rows = 0
        self.reference_schema = reference_schema

    def feed(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def finish(self) -> tuple[int, int]:
        return self.rows, combine(self.sums)


class Q0(Ceiling):
    columns = 4

    def feed(self, batch: pa.RecordBatch) -> None:
        self.rows += q0_batch(_ints(batch, "auction"), _ints(batch, "bidder"),
                              _ints(batch, "price"), _ints(batch, "date_time"), self.sums)


class Q1(Ceiling):
    columns = 4

    def feed(self, batch: pa.RecordBatch) -> None:
        self.rows += q1_batch(_ints(batch, "auction"), _ints(batch, "bidder"),
                              _ints(batch, "price"), _ints(batch, "date_time"), self.sums)


class Q2(Ceiling):
    columns = 2

    def feed(self, batch: pa.RecordBatch) -> None:
        self.rows += q2_batch(_ints(batch, "auction"), _ints(batch, "price"), self.sums)


class Q10(Ceiling):
    columns = 6

    def feed(self, batch: pa.RecordBatch) -> None:
        self.rows += q10_batch(_ints(batch, "auction"), _ints(batch, "bidder"),
                               _ints(batch, "price"), _ints(batch, "date_time"), self.sums)


class Q14(Ceiling):
    columns = 6

    def __init__(self, reference_schema: pa.Schema | None = None) -> None:
        super().__init__(reference_schema)
        self.type_words = _string_words(["dayTime", "nightTime", "otherTime"])

    def feed(self, batch: pa.RecordBatch) -> None:
        offsets, data = _strings(batch, "extra")
        self.rows += q14_batch(_ints(batch, "auction"), _ints(batch, "bidder"),
                               _ints(batch, "price"), _ints(batch, "date_time"), offsets, data,
                               self.type_words, self.sums)


class Q21(Ceiling):
    columns = 5
    HOT = ("apple", "google", "facebook", "baidu")

    def __init__(self, reference_schema: pa.Schema | None = None) -> None:
        super().__init__(reference_schema)
        width = max(len(h) for h in self.HOT)
        self.hot_names = np.zeros((len(self.HOT), width), dtype=np.uint8)
        for k, name in enumerate(self.HOT):
            self.hot_names[k, : len(name)] = np.frombuffer(name.encode(), dtype=np.uint8)
        self.hot_lengths = np.array([len(h) for h in self.HOT], dtype=np.int64)
        self.hot_words = _string_words([str(k) for k in range(len(self.HOT))])
        self.needle = np.frombuffer(b"channel_id=", dtype=np.uint8)

    def feed(self, batch: pa.RecordBatch) -> None:
        channel = _strings(batch, "channel")
        url = _strings(batch, "url")
        self.rows += q21_batch(_ints(batch, "auction"), _ints(batch, "bidder"),
                               _ints(batch, "price"), *channel, *url, self.hot_names,
                               self.hot_lengths, self.hot_words, self.needle, self.sums)


class Q22(Ceiling):
    columns = 7

    def feed(self, batch: pa.RecordBatch) -> None:
        channel = _strings(batch, "channel")
        url = _strings(batch, "url")
        self.rows += q22_batch(_ints(batch, "auction"), _ints(batch, "bidder"),
                               _ints(batch, "price"), *channel, *url, self.sums)


class WindowCeiling(Ceiling):
    slide = size = 0
    layout = LAYOUT_MAX

    def __init__(self, reference_schema: pa.Schema | None = None) -> None:
        super().__init__(reference_schema)
        # open windows at once: those the watermark delay keeps open, those an event opens
        ring = 1 << int(np.ceil(np.log2((self.size + WATERMARK_DELAY_US) // self.slide
                                        + self.size // self.slide + 2)))
        capacity = 256
        self.keys = np.empty((ring, capacity), dtype=np.int64)
        self.values = np.empty((ring, capacity, 2), dtype=np.int64)
        self.used = np.zeros((ring, capacity), dtype=np.uint8)
        self.windows = np.full(ring, NO_WINDOW, dtype=np.int64)
        self.fill = np.zeros(ring, dtype=np.int64)
        self.state = np.array([NO_TIME, END_OF_TIME], dtype=np.int64)

    def _arrays(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _step(self, ts: np.ndarray, key: np.ndarray, value: np.ndarray, final: bool) -> None:
        self.keys, self.values, self.used, emitted = window_batch(
            ts, key, value, self.keys, self.values, self.used, self.windows, self.fill,
            self.state, self.slide, self.size, WATERMARK_DELAY_US, final, self.layout,
            self.sums)
        self.rows += emitted

    def feed(self, batch: pa.RecordBatch) -> None:
        self._step(*self._arrays(batch), False)

    def finish(self) -> tuple[int, int]:
        empty = np.zeros(0, dtype=np.int64)
        empty.flags.writeable = False  # as the batches' arrays: one compiled signature
        self._step(empty, empty, empty, True)
        return super().finish()


class Q5Window(WindowCeiling):
    """HOP(bid, date_time, 2 s, 10 s): count(*) per auction per window."""

    columns = 4
    slide, size = 2_000_000, 10_000_000
    layout = LAYOUT_COUNT_BY_KEY

    def _arrays(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        auction = _ints(batch, "auction")
        return _ints(batch, "date_time"), auction, auction


class Q7Window(WindowCeiling):
    """TUMBLE(bid, date_time, 10 s): max(price) per window."""

    columns = 3
    slide = size = 10_000_000
    layout = LAYOUT_MAX

    def _arrays(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ts = _ints(batch, "date_time")
        return ts, np.zeros(len(ts), dtype=np.int64), _ints(batch, "price")


class Q17(Ceiling):
    """GROUP BY auction, to_char(date_time, 'YYYY-MM-DD'): the answer is built at the end
    (it has a row per auction and day) and cast to the reference answer's types."""

    columns = 10

    def __init__(self, reference_schema: pa.Schema | None = None) -> None:
        super().__init__(reference_schema)
        self.table = np.empty((1024, 9), dtype=np.int64)
        self.used = np.zeros(1024, dtype=np.uint8)
        self.state = np.zeros(1, dtype=np.int64)

    def feed(self, batch: pa.RecordBatch) -> None:
        self.table, self.used = q17_batch(_ints(batch, "date_time"), _ints(batch, "auction"),
                                          _ints(batch, "price"), self.table, self.used,
                                          self.state)

    def finish(self) -> tuple[int, int]:
        rows = self.table[self.used.astype(bool)]
        days = pa.array(rows[:, 0] * US_PER_DAY, type=pa.timestamp("us"))
        count = pa.array(rows[:, 2])
        answer = pa.table({
            "auction": pa.array(rows[:, 1]),
            "day": pc.strftime(days, format="%Y-%m-%d"),
            "total_bids": count,
            "rank1_bids": pa.array(rows[:, 3]),
            "rank2_bids": pa.array(rows[:, 4]),
            "rank3_bids": pa.array(rows[:, 5]),
            "min_price": pa.array(rows[:, 6]),
            "max_price": pa.array(rows[:, 7]),
            "avg_price": pa.array(rows[:, 8] / rows[:, 2]),
            "sum_price": pa.array(rows[:, 8]),
        })
        if self.reference_schema is not None:
            answer = answer.cast(self.reference_schema)
        self.sums = np.array(table_checksums(answer), dtype=np.uint64)
        return answer.num_rows, combine(self.sums)


KERNELS: dict[str, Callable[[pa.Schema | None], Ceiling]] = {
    "q0": Q0, "q1": Q1, "q2": Q2, "q10": Q10, "q14": Q14, "q17": Q17, "q21": Q21,
    "q22": Q22, "q5_window": Q5Window, "q7_window": Q7Window,
}
