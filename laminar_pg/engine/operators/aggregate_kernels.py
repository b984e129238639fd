"""numba kernels of the hash aggregate: per-row accumulation into slot-indexed state, and
the per-group finishing arithmetic (128-bit sums, decimal rescaling and averages), and
the building of string_agg strings and array_agg lists from stored sequences.

Every update kernel takes the group slot of each row, a per-row mask (the argument is not
NULL and the FILTER holds) and the row's weight, and adds weight x contribution, so one
kernel serves insertions, retractions and the +1/-1 transitions of DISTINCT.

Integer and decimal sums are exact 128-bit integers kept as two int64 columns, in a split
form that makes the common add branch-free: value = signed(lo) + hi * 2^64, where lo is a
wrapping int64 sum and hi counts its wraps (`standard128` converts to two's complement
for the finishing kernels). Intermediate overflow never happens in practice (it would
take 2^64 rows) and retractions cancel exactly.
"""

from __future__ import annotations

import numba
import numpy as np

from laminar_pg.engine.keys import bytes_less

_M32 = np.uint64(0xFFFF_FFFF)
_S32 = np.uint64(32)
_S63 = np.int64(63)
_MIN = np.int64(np.iinfo(np.int64).min)


@numba.njit(nogil=True, cache=True, inline="always")
def _mul_u64(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    """The full 128-bit product of two uint64: (high, low)."""
    a0 = a & _M32
    a1 = a >> _S32
    b0 = b & _M32
    b1 = b >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    low = (p00 & _M32) | (mid << _S32)
    high = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return high, low


@numba.njit(nogil=True, cache=True, inline="always")
def mul128(vlo: np.int64, vhi: np.int64, w: np.int64) -> tuple[np.int64, np.int64]:
    """(vhi:vlo) * w modulo 2^128, as (low, high) int64 words."""
    ulo = np.uint64(vlo)
    high, low = _mul_u64(ulo, np.uint64(w))
    if w < 0:
        high -= ulo
    high += np.uint64(vhi) * np.uint64(w)
    return np.int64(low), np.int64(high)


@numba.njit(nogil=True, cache=True, inline="always")
def _add_small(lo: np.ndarray, hi: np.ndarray, s: int, p: np.int64) -> None:
    """sum += p for the split sum signed(lo) + hi * 2^64: lo wraps, hi counts the wraps
    (branch-free: a signed overflow happened when old and p agree in sign and new
    does not; its direction is p's sign)."""
    old = lo[s]
    new = old + p
    overflow = ((old ^ new) & (p ^ new)) >> _S63  # -1 or 0
    sign = p >> _S63
    hi[s] += (-overflow ^ sign) - sign
    lo[s] = new


@numba.njit(nogil=True, cache=True, inline="always")
def _add_wide(lo: np.ndarray, hi: np.ndarray, s: int, plo: np.int64, phi: np.int64) -> None:
    """sum += the two's-complement 128-bit value (phi:plo)."""
    _add_small(lo, hi, s, plo)
    hi[s] += phi - (plo >> _S63)


@numba.njit(nogil=True, cache=True, inline="never")
def _add_product(lo: np.ndarray, hi: np.ndarray, s: int, v: np.int64, w: np.int64) -> None:
    """sum += v * w in 128 bits (kept out of line: the hot loops stay small)."""
    plo, phi = mul128(v, v >> _S63, w)
    _add_wide(lo, hi, s, plo, phi)


def standard128(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The two's-complement high words of split sums (signed(lo) + hi * 2^64)."""
    high: np.ndarray = hi + (lo >> 63)
    return high


@numba.njit(nogil=True, cache=True)
def accumulate_count(slots: np.ndarray, mask: np.ndarray, weights: np.ndarray,
                     count: np.ndarray) -> None:
    for i in range(slots.shape[0]):
        if mask[i]:
            count[slots[i]] += weights[i]


@numba.njit(nogil=True, cache=True)
def first_seen(slots: np.ndarray, masks: np.ndarray, weights: np.ndarray, seen: np.ndarray,
               rows: np.ndarray, counts: np.ndarray) -> None:
    """Per lane l: the rows i (in order) where masks[l, i] holds, the weight is positive
    and slot slots[i] had not been seen in that lane; they are marked seen.
    rows[l, :counts[l]] receives them."""
    for lane in range(masks.shape[0]):
        c = 0
        for i in range(slots.shape[0]):
            if masks[lane, i] and weights[i] > 0 and seen[slots[i], lane] == 0:
                seen[slots[i], lane] = 1
                rows[lane, c] = i
                c += 1
        counts[lane] = c


@numba.njit(nogil=True, cache=True)
def accumulate_count_all(slots: np.ndarray, weights: np.ndarray, count: np.ndarray) -> None:
    for i in range(slots.shape[0]):
        count[slots[i]] += weights[i]


@numba.njit(nogil=True, cache=True)
def accumulate_sum_int(slots: np.ndarray, values: np.ndarray, mask: np.ndarray,
                       weights: np.ndarray, count: np.ndarray, lo: np.ndarray,
                       hi: np.ndarray) -> None:
    """count += w, sum += w * value for int64 values (split sums, see `_add_small`)."""
    for i in range(slots.shape[0]):
        if not mask[i]:
            continue
        s = slots[i]
        w = weights[i]
        v = values[i]
        count[s] += w
        if w == 1:
            p = v
        elif w == -1 and v != _MIN:
            p = -v
        else:
            _add_product(lo, hi, s, v, w)
            continue
        _add_small(lo, hi, s, p)  # once: a second inlined copy makes the loop 3x slower


@numba.njit(nogil=True, cache=True)
def accumulate_sum_int128(slots: np.ndarray, vlo: np.ndarray, vhi: np.ndarray,
                          mask: np.ndarray, weights: np.ndarray, count: np.ndarray,
                          lo: np.ndarray, hi: np.ndarray) -> None:
    """count += w, sum += w * value for 128-bit values given as (low, high) words."""
    for i in range(slots.shape[0]):
        if not mask[i]:
            continue
        s = slots[i]
        w = weights[i]
        count[s] += w
        plo, phi = mul128(vlo[i], vhi[i], w)
        _add_wide(lo, hi, s, plo, phi)


@numba.njit(nogil=True, cache=True)
def accumulate_sum_float(slots: np.ndarray, values: np.ndarray, mask: np.ndarray,
                         weights: np.ndarray, count: np.ndarray, total: np.ndarray,
                         nan: np.ndarray, pinf: np.ndarray, ninf: np.ndarray) -> None:
    """Finite values add into `total`; NaN and infinities are counted apart, so that a
    retraction of an infinity or a NaN restores the finite sum exactly."""
    for i in range(slots.shape[0]):
        if not mask[i]:
            continue
        s = slots[i]
        w = weights[i]
        x = values[i]
        count[s] += w
        if x - x == 0.0:
            total[s] += w * x
        elif x != x:
            nan[s] += w
        elif x > 0:
            pinf[s] += w
        else:
            ninf[s] += w


@numba.njit(nogil=True, cache=True)
def accumulate_bool(slots: np.ndarray, values: np.ndarray, mask: np.ndarray,
                    weights: np.ndarray, count: np.ndarray, trues: np.ndarray) -> None:
    for i in range(slots.shape[0]):
        if mask[i]:
            s = slots[i]
            count[s] += weights[i]
            if values[i] != 0:
                trues[s] += weights[i]


@numba.njit(nogil=True, cache=True, inline="always")
def _words_better(words: np.ndarray, i: int, best: np.ndarray, s: int,
                  is_max: bool) -> bool:
    for j in range(words.shape[1]):
        a = words[i, j]
        b = best[s, j]
        if a != b:
            return bool(a > b) if is_max else bool(a < b)
    return False


@numba.njit(nogil=True, cache=True)
def accumulate_extreme(slots: np.ndarray, words: np.ndarray, mask: np.ndarray,
                       weights: np.ndarray, count: np.ndarray, best: np.ndarray,
                       is_max: bool) -> None:
    """Append-only min/max over ordered words (rows with weight 0 are no rows)."""
    width = words.shape[1]
    for i in range(slots.shape[0]):
        if not mask[i] or weights[i] == 0:
            continue
        s = slots[i]
        if count[s] == 0 or _words_better(words, i, best, s, is_max):
            for j in range(width):
                best[s, j] = words[i, j]
        count[s] += weights[i]


@numba.njit(nogil=True, cache=True)
def accumulate_extreme_bytes(slots: np.ndarray, ids: np.ndarray, mask: np.ndarray,
                             weights: np.ndarray, count: np.ndarray, best: np.ndarray,
                             is_max: bool, arena: np.ndarray, starts: np.ndarray) -> None:
    """Append-only min/max over interned strings, compared bytewise."""
    for i in range(slots.shape[0]):
        if not mask[i] or weights[i] == 0:
            continue
        s = slots[i]
        v = ids[i]
        if count[s] == 0:
            best[s, 0] = v
        elif v != best[s, 0]:
            if is_max:
                if bytes_less(best[s, 0], v, arena, starts):
                    best[s, 0] = v
            elif bytes_less(v, best[s, 0], arena, starts):
                best[s, 0] = v
        count[s] += weights[i]


# ---------------------------------------------------------------------------------------
# Finishing: from accumulated state to output words, per touched group.

@numba.njit(nogil=True, cache=True)
def abs_below(lo: np.ndarray, hi: np.ndarray, bound_lo: np.uint64,
              bound_hi: np.uint64) -> bool:
    """Whether every 128-bit value has |v| < bound (bound given as unsigned words)."""
    for i in range(lo.shape[0]):
        ulo = np.uint64(lo[i])
        uhi = np.uint64(hi[i])
        if hi[i] < 0:  # negate
            ulo = ~ulo + np.uint64(1)
            uhi = ~uhi + (np.uint64(1) if ulo == 0 else np.uint64(0))
        if uhi > bound_hi or (uhi == bound_hi and ulo >= bound_lo):
            return False
    return True


@numba.njit(nogil=True, cache=True)
def scale128(lo: np.ndarray, hi: np.ndarray, factor: np.int64) -> bool:
    """Multiply 128-bit values in place by a positive factor; False on overflow."""
    ok = True
    for i in range(lo.shape[0]):
        negative = hi[i] < 0
        ulo = np.uint64(lo[i])
        uhi = np.uint64(hi[i])
        if negative:
            ulo = ~ulo + np.uint64(1)
            uhi = ~uhi + (np.uint64(1) if ulo == 0 else np.uint64(0))
        carry, nlo = _mul_u64(ulo, np.uint64(factor))
        top, nhi = _mul_u64(uhi, np.uint64(factor))
        nhi2 = nhi + carry
        if top != 0 or nhi2 < nhi or nhi2 >= np.uint64(1) << np.uint64(63):
            ok = False
        if negative:
            nlo = ~nlo + np.uint64(1)
            nhi2 = ~nhi2 + (np.uint64(1) if nlo == 0 else np.uint64(0))
        lo[i] = np.int64(nlo)
        hi[i] = np.int64(nhi2)
    return ok


@numba.njit(nogil=True, cache=True)
def divide128_round(lo: np.ndarray, hi: np.ndarray, divisor: np.ndarray) -> None:
    """In place: v / divisor rounded half away from zero (divisor > 0), for 128-bit v."""
    for i in range(lo.shape[0]):
        d = np.uint64(divisor[i])
        negative = hi[i] < 0
        ulo = np.uint64(lo[i])
        uhi = np.uint64(hi[i])
        if negative:
            ulo = ~ulo + np.uint64(1)
            uhi = ~uhi + (np.uint64(1) if ulo == 0 else np.uint64(0))
        qhi = np.uint64(0)
        qlo = np.uint64(0)
        r = np.uint64(0)
        for bit in range(127, -1, -1):
            if bit >= 64:
                b = (uhi >> np.uint64(bit - 64)) & np.uint64(1)
            else:
                b = (ulo >> np.uint64(bit)) & np.uint64(1)
            r = (r << np.uint64(1)) | b
            if r >= d:
                r -= d
                if bit >= 64:
                    qhi |= np.uint64(1) << np.uint64(bit - 64)
                else:
                    qlo |= np.uint64(1) << np.uint64(bit)
        if r >= d - r:  # 2r >= d: round the magnitude up
            qlo += np.uint64(1)
            if qlo == 0:
                qhi += np.uint64(1)
        if negative:
            qlo = ~qlo + np.uint64(1)
            qhi = ~qhi + (np.uint64(1) if qlo == 0 else np.uint64(0))
        lo[i] = np.int64(qlo)
        hi[i] = np.int64(qhi)


@numba.njit(nogil=True, cache=True)
def float_sum_result(total: np.ndarray, nan: np.ndarray, pinf: np.ndarray,
                     ninf: np.ndarray) -> np.ndarray:
    out = np.empty(total.shape[0], dtype=np.float64)
    for i in range(total.shape[0]):
        if nan[i] > 0 or (pinf[i] > 0 and ninf[i] > 0):
            out[i] = np.nan
        elif pinf[i] > 0:
            out[i] = np.inf
        elif ninf[i] > 0:
            out[i] = -np.inf
        else:
            out[i] = total[i]
    return out


# ---------------------------------------------------------------------------------------
# string_agg / array_agg: from stored sequences (`aggregate_order.SequenceStore`) to
# Arrow buffers, for the rows emitted.

@numba.njit(nogil=True, cache=True)
def join_sequences(ids: np.ndarray, valid: np.ndarray, pool: np.ndarray, start: np.ndarray,
                   length: np.ndarray, arena: np.ndarray, starts: np.ndarray,
                   sep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The strings of sequences of interned string ids joined by `sep`: (offsets, bytes)."""
    m = ids.shape[0]
    offsets = np.empty(m + 1, dtype=np.int64)
    offsets[0] = 0
    total = 0
    for i in range(m):
        if valid[i]:
            s = ids[i]
            n = length[s]
            for r in range(start[s], start[s] + n):
                e = pool[r, 0]
                total += starts[e + 1] - starts[e]
            total += sep.shape[0] * max(n - 1, 0)
        offsets[i + 1] = total
    data = np.empty(total, dtype=np.uint8)
    o = 0
    for i in range(m):
        if not valid[i]:
            continue
        s = ids[i]
        for r in range(start[s], start[s] + length[s]):
            if r > start[s]:
                for j in range(sep.shape[0]):
                    data[o + j] = sep[j]
                o += sep.shape[0]
            e = pool[r, 0]
            for j in range(starts[e], starts[e + 1]):
                data[o] = arena[j]
                o += 1
    return offsets, data


@numba.njit(nogil=True, cache=True)
def gather_sequences(ids: np.ndarray, valid: np.ndarray, pool: np.ndarray, start: np.ndarray,
                     length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of sequences end to end: (offsets, rows)."""
    m = ids.shape[0]
    offsets = np.empty(m + 1, dtype=np.int64)
    offsets[0] = 0
    total = 0
    for i in range(m):
        if valid[i]:
            total += length[ids[i]]
        offsets[i + 1] = total
    rows = np.empty((total, pool.shape[1]), dtype=np.int64)
    for i in range(m):
        if valid[i]:
            b = start[ids[i]]
            for r in range(offsets[i + 1] - offsets[i]):
                for j in range(pool.shape[1]):
                    rows[offsets[i] + r, j] = pool[b + r, j]
    return offsets, rows
