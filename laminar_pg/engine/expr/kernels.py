"""numba kernels over the buffers of Arrow string / binary arrays.

Strategy: pyarrow.compute has no kernel for some PostgreSQL functions (md5, initcap with
PostgreSQL's word rule, per-row substring bounds, PostgreSQL's float output format) or
needs a constant argument (LIKE pattern).  These kernels take plain numpy arrays (the
offsets as int64 and the UTF-8 bytes as uint8 of a string array) and return numpy
arrays; `string_buffers` / `string_array` convert at the edges.  No pyarrow inside a
kernel (CONVENTIONS.md rule 4).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt
import pyarrow as pa

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]
STRING = pa.string()

_jit = numba.njit(cache=True, nogil=True)


# --- buffers <-> arrays ---------------------------------------------------------------


def string_buffers(array: pa.Array) -> tuple[I64, U8]:
    """(offsets as int64 of length n+1, the data bytes) of a string or binary array."""
    n = len(array)
    buffers = array.buffers()
    if buffers[1] is None:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[array.offset : array.offset + n + 1]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    return offsets.astype(np.int64), data


def validity_buffer(valid: Bools | None) -> pa.Buffer | None:
    if valid is None:
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def string_array(
    offsets: I64, data: U8, valid: Bools | None, type: pa.DataType = STRING
) -> pa.Array:
    """A string (or binary) array from int64 offsets, bytes and a validity mask."""
    n = len(offsets) - 1
    if offsets[-1] >= 2**31:
        raise OverflowError("string result larger than 2 GiB")
    null_count = 0 if valid is None else int(n - valid.sum())
    return pa.Array.from_buffers(
        type,
        n,
        [validity_buffer(valid), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)],
        null_count=null_count,
    )


# --- UTF-8 slicing ----------------------------------------------------------------------


@_jit
def _codepoint_count(data: U8, start: int, stop: int) -> int:
    count = 0
    for i in range(start, stop):
        if (data[i] & 0xC0) != 0x80:
            count += 1
    return count


@_jit
def _byte_at_codepoint(data: U8, start: int, stop: int, index: int) -> int:
    """Byte position of code point `index` (clamped to the string) in data[start:stop]."""
    seen = 0
    for i in range(start, stop):
        if (data[i] & 0xC0) != 0x80:
            if seen == index:
                return i
            seen += 1
    return stop


@_jit
def slice_codepoints(offsets: I64, data: U8, starts: I64, stops: I64) -> tuple[I64, U8]:
    """Per-row s[start:stop] in code points, with Python's slice rules for negatives."""
    n = len(offsets) - 1
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(offsets[n] - offsets[0], dtype=np.uint8)
    pos = 0
    for row in range(n):
        lo, hi = offsets[row], offsets[row + 1]
        length = _codepoint_count(data, lo, hi)
        start, stop = starts[row], stops[row]
        if start < 0:
            start = max(start + length, 0)
        if stop < 0:
            stop = max(stop + length, 0)
        start = min(start, length)
        stop = min(stop, length)
        if stop > start:
            b0 = _byte_at_codepoint(data, lo, hi, start)
            b1 = _byte_at_codepoint(data, lo, hi, stop)
            out[pos : pos + b1 - b0] = data[b0:b1]
            pos += b1 - b0
        out_offsets[row + 1] = pos
    return out_offsets, out[:pos]


@_jit
def find_codepoint(offsets: I64, data: U8, needle_offsets: I64, needle_data: U8) -> I64:
    """1-based code-point position of each needle in its string, 0 if absent (strpos)."""
    n = len(offsets) - 1
    result = np.zeros(n, dtype=np.int64)
    for row in range(n):
        lo, hi = offsets[row], offsets[row + 1]
        nlo, nhi = needle_offsets[row], needle_offsets[row + 1]
        width = nhi - nlo
        for i in range(lo, hi - width + 1):
            match = True
            for j in range(width):
                if data[i + j] != needle_data[nlo + j]:
                    match = False
                    break
            if match:
                result[row] = _codepoint_count(data, lo, i) + 1
                break
    return result


def codepoint_positions(offsets: I64, data: U8, byte_index: I64) -> I64:
    """Code points before byte `byte_index` of each string (byte index relative to it)."""
    lead = (data & 0xC0) != 0x80
    cumulative = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(lead, out=cumulative[1:])
    starts = offsets[:-1]
    return np.asarray(cumulative[starts + byte_index] - cumulative[starts], dtype=np.int64)


# --- LIKE with a per-row pattern ------------------------------------------------------------


@_jit
def _char_width(first: int) -> int:
    if first < 0x80:
        return 1
    if first < 0xE0:
        return 2
    if first < 0xF0:
        return 3
    return 4


@_jit
def like_match(
    offsets: I64, data: U8, pattern_offsets: I64, pattern_data: U8, escape: int, valid: Bools
) -> tuple[Bools, int]:
    """SQL LIKE of each string against its own pattern (escape < 0: no escape character).

    Backtracking on the last '%' (linear in practice); '_' matches one code point.
    Returns (matches, the first valid row whose pattern ends in the escape character, or -1).
    """
    n = len(offsets) - 1
    result = np.zeros(n, dtype=np.bool_)
    for row in range(n):
        if valid[row] and escape >= 0:
            q, q_end = pattern_offsets[row], pattern_offsets[row + 1]
            while q < q_end:
                if pattern_data[q] == escape:
                    if q + 1 >= q_end:
                        return result, row
                    q += 1
                q += 1
        s, s_end = offsets[row], offsets[row + 1]
        p, p_end = pattern_offsets[row], pattern_offsets[row + 1]
        star_p, star_s = -1, -1
        matched = True
        while True:
            if p < p_end:
                c = pattern_data[p]
                if c == 37:  # '%'
                    star_p, star_s = p + 1, s
                    p += 1
                    continue
                if s < s_end:
                    if c == 95:  # '_'
                        s += _char_width(data[s])
                        p += 1
                        continue
                    literal_p = p
                    if escape >= 0 and c == escape and p + 1 < p_end:
                        literal_p = p + 1
                    width = _char_width(pattern_data[literal_p])
                    same = s + width <= s_end
                    if same:
                        for k in range(width):
                            if data[s + k] != pattern_data[literal_p + k]:
                                same = False
                                break
                    if same:
                        s += width
                        p = literal_p + width
                        continue
            elif s >= s_end:
                break
            if star_p >= 0 and star_s < s_end:
                star_s += _char_width(data[star_s])
                s, p = star_s, star_p
                continue
            matched = False
            break
        result[row] = matched
    return result, -1


# --- PostgreSQL's float output ----------------------------------------------------------


@_jit
def _emit(out: U8, pos: int, text: bytes) -> int:
    for ch in text:
        out[pos] = ch
        pos += 1
    return pos


@_jit
def pg_float_text(offsets: I64, data: U8, exponent_limit: int) -> tuple[I64, U8]:
    """Rewrite Arrow's shortest float text ('1.5e-7', 'inf', 'nan') as PostgreSQL prints it.

    PostgreSQL (float8out / float4out, extra_float_digits = 1) prints the shortest exact
    digits, in exponent form when the exponent is < -4 or >= 15 (real: 6), with at least
    two exponent digits: 1e+15, 1.5e-07, 123456789012345, NaN, Infinity, -0.
    """
    n = len(offsets) - 1
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(n * 32 + (offsets[n] - offsets[0]), dtype=np.uint8)
    digits = np.empty(40, dtype=np.uint8)
    pos = 0
    for row in range(n):
        i, end = offsets[row], offsets[row + 1]
        negative = i < end and data[i] == 45
        if negative:
            i += 1
        if i < end and (data[i] == 110 or data[i] == 78):  # nan
            pos = _emit(out, pos, b"NaN")
            out_offsets[row + 1] = pos
            continue
        if negative:
            out[pos] = 45
            pos += 1
        if i < end and (data[i] == 105 or data[i] == 73):  # inf
            pos = _emit(out, pos, b"Infinity")
            out_offsets[row + 1] = pos
            continue
        count = 0  # significant digits collected
        point = 0  # digits before the decimal point, counting from the first significant one
        seen_point = False
        leading_zeros_after_point = 0
        while i < end and data[i] != 101 and data[i] != 69:  # until 'e'
            ch = data[i]
            if ch == 46:
                seen_point = True
            elif count == 0 and ch == 48:
                if seen_point:
                    leading_zeros_after_point += 1
            else:
                digits[count] = ch
                count += 1
                if not seen_point:
                    point += 1
            i += 1
        exponent = 0
        if i < end:  # exponent part
            i += 1
            sign = 1
            if data[i] == 45:
                sign = -1
                i += 1
            elif data[i] == 43:
                i += 1
            while i < end:
                exponent = exponent * 10 + (data[i] - 48)
                i += 1
            exponent *= sign
        while count > 0 and digits[count - 1] == 48:
            count -= 1
        if count == 0:
            out[pos] = 48
            pos += 1
            out_offsets[row + 1] = pos
            continue
        # value = 0.d1d2... * 10**(point + exponent), so d1's power of ten is:
        e10 = point + exponent - 1 if point > 0 else exponent - leading_zeros_after_point - 1
        if e10 < -4 or e10 >= exponent_limit:
            out[pos] = digits[0]
            pos += 1
            if count > 1:
                out[pos] = 46
                pos += 1
                for k in range(1, count):
                    out[pos] = digits[k]
                    pos += 1
            out[pos] = 101
            out[pos + 1] = 45 if e10 < 0 else 43
            pos += 2
            magnitude = -e10 if e10 < 0 else e10
            if magnitude >= 100:
                out[pos] = 48 + magnitude // 100
                pos += 1
            out[pos] = 48 + (magnitude // 10) % 10
            out[pos + 1] = 48 + magnitude % 10
            pos += 2
        elif e10 >= 0:
            for k in range(e10 + 1):
                out[pos] = digits[k] if k < count else 48
                pos += 1
            if count > e10 + 1:
                out[pos] = 46
                pos += 1
                for k in range(e10 + 1, count):
                    out[pos] = digits[k]
                    pos += 1
        else:
            out[pos] = 48
            out[pos + 1] = 46
            pos += 2
            for _ in range(-e10 - 1):
                out[pos] = 48
                pos += 1
            for k in range(count):
                out[pos] = digits[k]
                pos += 1
        out_offsets[row + 1] = pos
    return out_offsets, out[:pos]


# --- hex, md5, bytea input ------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@_jit
def hex_encode(offsets: I64, data: U8, prefix: U8, hex_digits: U8) -> tuple[I64, U8]:
    """Each value as `prefix` + lowercase hex (bytea output: prefix b'\\x')."""
    n = len(offsets) - 1
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(n * len(prefix) + 2 * (offsets[n] - offsets[0]), dtype=np.uint8)
    pos = 0
    for row in range(n):
        for ch in prefix:
            out[pos] = ch
            pos += 1
        for i in range(offsets[row], offsets[row + 1]):
            out[pos] = hex_digits[data[i] >> 4]
            out[pos + 1] = hex_digits[data[i] & 15]
            pos += 2
        out_offsets[row + 1] = pos
    return out_offsets, out


@_jit
def _hex_value(ch: int) -> int:
    if 48 <= ch <= 57:
        return ch - 48
    if 97 <= ch <= 102:
        return ch - 87
    if 65 <= ch <= 70:
        return ch - 55
    return -1


@_jit
def parse_bytea(offsets: I64, data: U8, valid: Bools) -> tuple[I64, U8, int]:
    """PostgreSQL bytea input: '\\x' hex (whitespace between pairs allowed) or escape format.

    Returns (offsets, bytes, index of the first invalid row or -1).
    """
    n = len(offsets) - 1
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(offsets[n] - offsets[0], dtype=np.uint8)
    pos = 0
    for row in range(n):
        i, end = offsets[row], offsets[row + 1]
        if valid[row]:
            if end - i >= 2 and data[i] == 92 and data[i + 1] == 120:  # \x
                i += 2
                while i < end:
                    ch = data[i]
                    if ch == 32 or ch == 9 or ch == 10 or ch == 13:
                        i += 1
                        continue
                    if i + 1 >= end:
                        return out_offsets, out, row
                    hi, lo = _hex_value(ch), _hex_value(data[i + 1])
                    if hi < 0 or lo < 0:
                        return out_offsets, out, row
                    out[pos] = hi * 16 + lo
                    pos += 1
                    i += 2
            else:
                while i < end:
                    ch = data[i]
                    if ch != 92:
                        out[pos] = ch
                        pos += 1
                        i += 1
                    elif i + 1 < end and data[i + 1] == 92:
                        out[pos] = 92
                        pos += 1
                        i += 2
                    elif (
                        i + 3 < end
                        and 48 <= data[i + 1] <= 51
                        and 48 <= data[i + 2] <= 55
                        and 48 <= data[i + 3] <= 55
                    ):
                        out[pos] = (
                            (data[i + 1] - 48) * 64 + (data[i + 2] - 48) * 8 + data[i + 3] - 48
                        )
                        pos += 1
                        i += 4
                    else:
                        return out_offsets, out, row
        out_offsets[row + 1] = pos
    return out_offsets, out[:pos], -1


_MD5_SHIFTS = np.array(
    [7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4,
    dtype=np.uint32,
)
_MD5_TABLE = np.array(
    [int(abs(np.sin(i + 1)) * 2**32) & 0xFFFFFFFF for i in range(64)], dtype=np.uint32
)


@_jit
def _rotl(x: np.uint32, c: np.uint32) -> np.uint32:
    return np.uint32((x << c) | (x >> np.uint32(32 - c)))


@_jit
def md5_digests(
    offsets: I64, data: U8, shifts: npt.NDArray[np.uint32], table: npt.NDArray[np.uint32]
) -> U8:
    """The 16-byte MD5 digest of each value (RFC 1321), concatenated."""
    n = len(offsets) - 1
    out = np.empty(n * 16, dtype=np.uint8)
    block = np.zeros(64, dtype=np.uint8)
    words = np.zeros(16, dtype=np.uint32)
    for row in range(n):
        start, end = offsets[row], offsets[row + 1]
        length = end - start
        a0, b0 = np.uint32(0x67452301), np.uint32(0xEFCDAB89)
        c0, d0 = np.uint32(0x98BADCFE), np.uint32(0x10325476)
        total = ((length + 8) // 64 + 1) * 64
        for offset in range(0, total, 64):
            for k in range(64):
                idx = offset + k
                if idx < length:
                    block[k] = data[start + idx]
                elif idx == length:
                    block[k] = 0x80
                elif idx >= total - 8:
                    block[k] = ((length * 8) >> (8 * (idx - (total - 8)))) & 0xFF
                else:
                    block[k] = 0
            for k in range(16):
                words[k] = (
                    np.uint32(block[4 * k])
                    | (np.uint32(block[4 * k + 1]) << np.uint32(8))
                    | (np.uint32(block[4 * k + 2]) << np.uint32(16))
                    | (np.uint32(block[4 * k + 3]) << np.uint32(24))
                )
            a, b, c, d = a0, b0, c0, d0
            for i in range(64):
                if i < 16:
                    f = (b & c) | (~b & d)
                    g = i
                elif i < 32:
                    f = (d & b) | (~d & c)
                    g = (5 * i + 1) % 16
                elif i < 48:
                    f = b ^ c ^ d
                    g = (3 * i + 5) % 16
                else:
                    f = c ^ (b | ~d)
                    g = (7 * i) % 16
                f = np.uint32(f + a + table[i] + words[g])
                a, d, c = d, c, b
                b = np.uint32(b + _rotl(f, shifts[i]))
            a0, b0 = np.uint32(a0 + a), np.uint32(b0 + b)
            c0, d0 = np.uint32(c0 + c), np.uint32(d0 + d)
        for k, word in enumerate((a0, b0, c0, d0)):
            for j in range(4):
                out[row * 16 + 4 * k + j] = (word >> np.uint32(8 * j)) & np.uint32(0xFF)
    return out


def md5_hex(offsets: I64, data: U8) -> tuple[I64, U8]:
    digests = md5_digests(offsets, data, _MD5_SHIFTS, _MD5_TABLE)
    n = len(offsets) - 1
    digest_offsets = np.arange(0, 16 * (n + 1), 16, dtype=np.int64)
    return hex_encode(digest_offsets, digests, np.zeros(0, dtype=np.uint8), _HEX)


def hex_with_prefix(offsets: I64, data: U8, prefix: bytes) -> tuple[I64, U8]:
    return hex_encode(offsets, data, np.frombuffer(prefix, dtype=np.uint8), _HEX)


# --- initcap ------------------------------------------------------------------------------


@_jit
def _is_word_byte(first: int) -> bool:
    """ASCII letters and digits, and (approximately) every non-ASCII character."""
    return (48 <= first <= 57) or (65 <= first <= 90) or (97 <= first <= 122) or first >= 0x80


@_jit
def initcap_merge(lower_offsets: I64, lower: U8, upper_offsets: I64, upper: U8) -> tuple[I64, U8]:
    """Take each code point from `upper` when it starts a word, else from `lower`.

    `lower` and `upper` are the same strings lower- and upper-cased (one code point for
    one, as Arrow's utf8_lower / utf8_upper map them).  A word starts after a character
    that is not a letter or digit, as in PostgreSQL's initcap.
    """
    n = len(lower_offsets) - 1
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(
        max(lower_offsets[n] - lower_offsets[0], upper_offsets[n] - upper_offsets[0]) * 2,
        dtype=np.uint8,
    )
    pos = 0
    for row in range(n):
        i, i_end = lower_offsets[row], lower_offsets[row + 1]
        j = upper_offsets[row]
        previous_is_word = False
        while i < i_end:
            wl = _char_width(lower[i])
            wu = _char_width(upper[j])
            if previous_is_word:
                out[pos : pos + wl] = lower[i : i + wl]
                pos += wl
            else:
                out[pos : pos + wu] = upper[j : j + wu]
                pos += wu
            previous_is_word = _is_word_byte(lower[i])
            i += wl
            j += wu
        out_offsets[row + 1] = pos
    return out_offsets, out[:pos]
