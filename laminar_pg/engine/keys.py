"""Key encoding: Arrow columns <-> rows of int64 words that hash tables and kernels use.

Strategy: each column type has a codec that turns a value into a fixed number of int64
words such that equal SQL values (GROUP BY equality: NULLs equal, -0.0 = 0.0, NaN = NaN)
get equal words and, for every type but strings, comparing the words lexicographically
as signed integers orders the values as SQL does (so min/max kernels and ordered state
need no type-specific code):

- integers, bool, dates, times, timestamps, durations: the value itself (uint64 with its
  top bit flipped so that signed order is unsigned order);
- floats: the IEEE bits of the float64 value (-0.0 -> 0.0, every NaN -> one NaN) mapped
  to a signed-ordered integer; NaN sorts above +inf, as in PostgreSQL;
- decimal128(p <= 18): the unscaled integer; decimal128(p > 18): (high word, low word
  with its top bit flipped), the 128-bit unscaled integer in two ordered words;
- strings and binaries: a dense id from a persistent interning dictionary kept in numba
  arrays (hash, arena of bytes): the cost is one hashed probe per row inside a kernel,
  no Python per row or per value. Ids are not ordered; `bytes_less` compares two ids'
  bytes (PostgreSQL's "C" collation order).

NULL is a sentinel word where the type leaves one free (narrow integers, floats, bools,
decimals, strings); for full-range 64-bit types (int64, timestamps, ...) a `KeyEncoder`
appends a null-mask word (one bit per such nullable column). The interning dictionary
only grows: ids stay valid forever (state and deltas may hold them), at the cost of
keeping every distinct string ever seen in a key.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa

INT64_MIN = np.iinfo(np.int64).min
_SIGN = np.int64(INT64_MIN)
_LOW63 = np.int64(0x7FFF_FFFF_FFFF_FFFF)
_CANONICAL_NAN_BITS = np.int64(0x7FF8_0000_0000_0000)
FLOAT_NULL_WORD = np.int64(0x7FF0_0000_0000_0001)  # a NaN pattern no float maps to (ordered)


def validity(arr: pa.Array) -> np.ndarray | None:
    """Per-row validity as a bool array, or None when the array has no nulls."""
    if arr.null_count == 0:
        return None
    if pa.types.is_null(arr.type):
        return np.zeros(len(arr), dtype=bool)
    bitmap = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    bits = np.unpackbits(bitmap, bitorder="little")[arr.offset: arr.offset + len(arr)]
    return bits.view(np.bool_)


def _validity_buffer(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def fixed_values(arr: pa.Array, dtype: np.dtype) -> np.ndarray:
    """The data buffer of a fixed-width array as numpy (garbage at null positions)."""
    buf = arr.buffers()[1]
    return np.frombuffer(buf, dtype=dtype)[arr.offset: arr.offset + len(arr)]


def float_words(values: np.ndarray) -> np.ndarray:
    """Float64 values -> ordered int64 words (-0.0 -> 0.0, NaN canonical, NaN largest)."""
    v = values.astype(np.float64, copy=False) + 0.0  # -0.0 + 0.0 == +0.0
    bits = v.view(np.int64).copy()
    bits[np.isnan(v)] = _CANONICAL_NAN_BITS
    return bits ^ ((bits >> 63) & _LOW63)


def float_values(words: np.ndarray) -> np.ndarray:
    """Ordered int64 words -> float64 values (inverse of `float_words`)."""
    bits = words ^ ((words >> 63) & _LOW63)
    values: np.ndarray = bits.view(np.float64)
    return values


class ColumnCodec:
    """Maps one Arrow type to `width` int64 words per value and back."""

    width = 1
    null_word: np.int64 | None = np.int64(INT64_MIN)  # in-band NULL (word 0); None: no room
    ordered = True  # signed lexicographic order of the words is SQL order

    def __init__(self, type: pa.DataType) -> None:
        self.type = type

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        """(words (n, width) int64, validity or None). NULL rows hold `null_word` in
        word 0 (and 0 elsewhere), or zeros when the type has no in-band NULL."""
        raise NotImplementedError

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        """Arrow values of this codec's type from words (m, width); `valid` None = all."""
        raise NotImplementedError

    def nbytes(self) -> int:
        return 0

    def _null_fill(self, words: np.ndarray, valid: np.ndarray | None) -> None:
        if valid is not None:
            invalid = ~valid
            words[invalid] = 0
            if self.null_word is not None:
                words[invalid, 0] = self.null_word


class IntegerCodec(ColumnCodec):
    """Integers and everything stored as one: bool, dates, times, timestamps, durations."""

    def __init__(self, type: pa.DataType) -> None:
        super().__init__(type)
        if pa.types.is_boolean(type):
            self.dtype = np.dtype(np.bool_)
        else:
            bits = type.bit_width
            unsigned = pa.types.is_unsigned_integer(type)
            self.dtype = np.dtype(f"{'u' if unsigned else 'i'}{bits // 8}")
        self.unsigned64 = self.dtype == np.dtype(np.uint64)
        if self.dtype.itemsize == 8:
            self.null_word = None  # every int64 is a value

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        valid = validity(arr)
        if self.dtype == np.bool_:
            values = arr.fill_null(False).to_numpy(zero_copy_only=False)
        else:
            values = fixed_values(arr, self.dtype)
        if self.unsigned64:
            words = values.view(np.int64) ^ _SIGN
        elif valid is None and self.dtype == np.int64:
            words = values  # zero copy (read-only)
        else:
            words = values.astype(np.int64)  # a fresh, writable array
        words = words.reshape(-1, 1)
        self._null_fill(words, valid)
        return words, valid

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        column = np.ascontiguousarray(words[:, 0])
        if self.dtype == np.bool_:
            mask = None if valid is None else ~valid
            return pa.array(column != 0, type=pa.bool_(), mask=mask)
        if self.unsigned64:
            column = column ^ _SIGN
        values = column.astype(self.dtype)
        return pa.Array.from_buffers(
            self.type, len(values), [_validity_buffer(valid), pa.py_buffer(values)]
        )


class FloatCodec(ColumnCodec):
    null_word = FLOAT_NULL_WORD

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        valid = validity(arr)
        dtype = np.float32 if pa.types.is_float32(arr.type) else np.float64
        if pa.types.is_float16(arr.type):
            values = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            values = fixed_values(arr, np.dtype(dtype))
        words = float_words(values).reshape(-1, 1)
        self._null_fill(words, valid)
        return words, valid

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        values = float_values(np.ascontiguousarray(words[:, 0]))
        mask = None if valid is None else ~valid
        return pa.array(values, type=pa.float64(), mask=mask).cast(self.type)


_POW10_18 = 10**18


class DecimalCodec(ColumnCodec):
    """decimal128: one word (the unscaled value) up to precision 18, else two."""

    def __init__(self, type: pa.DataType) -> None:
        super().__init__(type)
        if not isinstance(type, pa.Decimal128Type):
            raise NotImplementedError(f"decimal type {type}")
        self.width = 1 if type.precision <= 18 else 2

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        valid = validity(arr)
        buf = np.frombuffer(arr.buffers()[1], dtype=np.int64).reshape(-1, 2)
        pairs = buf[arr.offset: arr.offset + len(arr)]
        if self.width == 1:
            words = pairs[:, 0].copy().reshape(-1, 1)
        else:
            words = np.empty((len(arr), 2), dtype=np.int64)
            words[:, 0] = pairs[:, 1]
            words[:, 1] = pairs[:, 0] ^ _SIGN
        self._null_fill(words, valid)
        return words, valid

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        m = words.shape[0]
        pairs = np.empty((m, 2), dtype=np.int64)
        if self.width == 1:
            pairs[:, 0] = words[:, 0]
            pairs[:, 1] = words[:, 0] >> 63
        else:
            pairs[:, 0] = words[:, 1] ^ _SIGN
            pairs[:, 1] = words[:, 0]
        if valid is not None:
            pairs[~valid] = 0
        return pa.Array.from_buffers(
            self.type, m, [_validity_buffer(valid), pa.py_buffer(pairs)]
        )


class NullCodec(ColumnCodec):
    """The NULL type: every value is NULL, one constant word."""

    null_word = np.int64(0)

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        return np.zeros((len(arr), 1), dtype=np.int64), np.zeros(len(arr), dtype=bool)

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        return pa.nulls(words.shape[0])


# ---------------------------------------------------------------------------------------
# String interning in numba: arena of bytes, start offset per id, open-addressing index.

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


@numba.njit(nogil=True, cache=True, inline="always")
def _hash_bytes(data: np.ndarray, lo: int, hi: int) -> np.uint64:
    h = _FNV_OFFSET
    for j in range(lo, hi):
        h = (h ^ np.uint64(data[j])) * _FNV_PRIME
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


@numba.njit(nogil=True, cache=True)
def _intern(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, start: int,
            out: np.ndarray, index: np.ndarray, arena: np.ndarray, starts: np.ndarray,
            hashes: np.ndarray, meta: np.ndarray) -> int:
    """Ids of rows start.. into `out`; returns the row it stopped at (n when done) when
    an array needs to grow. meta = [count, arena bytes used]."""
    n: int = out.shape[0]
    mask = np.uint64(index.shape[0] - 1)
    count = meta[0]
    used = meta[1]
    last = -1  # the previous valid row: runs of one value (a day, a key) skip the hash
    for i in range(start, n):
        if not valid[i]:
            out[i] = -1
            continue
        lo = offsets[i]
        hi = offsets[i + 1]
        length = hi - lo
        if last >= 0 and offsets[last + 1] - offsets[last] == length:
            plo = offsets[last]
            same = True
            for j in range(length):
                if data[plo + j] != data[lo + j]:
                    same = False
                    break
            if same:
                out[i] = out[last]
                continue
        last = i
        h = _hash_bytes(data, lo, hi)
        pos = h & mask
        while True:
            e = index[pos]
            if e < 0:
                if (count + 1) * 2 > index.shape[0] or count + 2 > starts.shape[0] \
                        or used + length > arena.shape[0]:
                    meta[0] = count
                    meta[1] = used
                    return i
                arena[used: used + length] = data[lo:hi]
                used += length
                hashes[count] = h
                starts[count + 1] = used
                index[pos] = count
                out[i] = count
                count += 1
                break
            if hashes[e] == h and starts[e + 1] - starts[e] == length:
                s = starts[e]
                same = True
                for j in range(length):
                    if arena[s + j] != data[lo + j]:
                        same = False
                        break
                if same:
                    out[i] = e
                    break
            pos = (pos + np.uint64(1)) & mask
    meta[0] = count
    meta[1] = used
    return n


@numba.njit(nogil=True, cache=True)
def _rehash_ids(index: np.ndarray, hashes: np.ndarray, count: int) -> None:
    mask = np.uint64(index.shape[0] - 1)
    index[:] = -1
    for e in range(count):
        pos = hashes[e] & mask
        while index[pos] >= 0:
            pos = (pos + np.uint64(1)) & mask
        index[pos] = e


@numba.njit(nogil=True, cache=True)
def _gather_bytes(ids: np.ndarray, valid: np.ndarray, arena: np.ndarray,
                  starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = ids.shape[0]
    offsets = np.empty(m + 1, dtype=np.int64)
    offsets[0] = 0
    total = 0
    for i in range(m):
        if valid[i]:
            e = ids[i]
            total += starts[e + 1] - starts[e]
        offsets[i + 1] = total
    data = np.empty(total, dtype=np.uint8)
    for i in range(m):
        if valid[i]:
            e = ids[i]
            data[offsets[i]: offsets[i + 1]] = arena[starts[e]: starts[e + 1]]
    return offsets, data


@numba.njit(nogil=True, cache=True, inline="always")
def bytes_less(a: int, b: int, arena: np.ndarray, starts: np.ndarray) -> bool:
    """Whether interned value a sorts before b (bytewise, shorter prefix first)."""
    sa = starts[a]
    la = starts[a + 1] - sa
    sb = starts[b]
    lb = starts[b + 1] - sb
    for j in range(min(la, lb)):
        x = arena[sa + j]
        y = arena[sb + j]
        if x != y:
            return bool(x < y)
    return bool(la < lb)


class StringCodec(ColumnCodec):
    """Strings and binaries: a dense id per distinct value (persistent dictionary)."""

    null_word = np.int64(-1)
    ordered = False

    def __init__(self, type: pa.DataType) -> None:
        super().__init__(type)
        self._index = np.full(1024, -1, dtype=np.int64)
        self.arena = np.empty(4096, dtype=np.uint8)
        self.starts = np.zeros(513, dtype=np.int64)  # starts[id], starts[id + 1] = end
        self._hashes = np.empty(512, dtype=np.uint64)
        self._meta = np.zeros(2, dtype=np.int64)
        self._ones = np.ones(0, dtype=np.bool_)

    def __getstate__(self) -> dict[str, object]:
        """A checkpoint leaves the hash index out (random writes: nearly every page of it
        changes between checkpoints); `__setstate__` rebuilds it from the hashes."""
        state = dict(vars(self))
        state["_index"] = int(self._index.shape[0])
        state["_ones"] = np.ones(0, dtype=np.bool_)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        length = state.pop("_index")
        assert isinstance(length, int)
        self.__dict__.update(state)
        self._index = np.empty(length, dtype=np.int64)
        _rehash_ids(self._index, self._hashes, int(self._meta[0]))

    def __len__(self) -> int:
        return int(self._meta[0])

    def nbytes(self) -> int:
        return int(self._index.nbytes + self.arena.nbytes + self.starts.nbytes
                   + self._hashes.nbytes)

    def encode(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(arr, pa.DictionaryArray):
            return self._encode_dictionary(arr)
        valid = validity(arr)
        offsets, data = self._raw(arr)
        out = np.empty(len(arr), dtype=np.int64)
        self.intern(offsets, data, self._all_valid(len(arr)) if valid is None else valid, out)
        return out.reshape(-1, 1), valid

    def _encode_dictionary(self, arr: pa.DictionaryArray) -> tuple[np.ndarray,
                                                                    np.ndarray | None]:
        ids, _ = self.encode(arr.dictionary)
        valid = validity(arr)
        indices = arr.indices.fill_null(0).to_numpy().astype(np.int64)
        words = ids[indices].reshape(-1, 1) if len(ids) else np.zeros((len(arr), 1), np.int64)
        self._null_fill(words, valid)
        return words, valid

    def _all_valid(self, n: int) -> np.ndarray:
        if self._ones.shape[0] < n:
            self._ones = np.ones(max(n, 2 * self._ones.shape[0]), dtype=np.bool_)
        return self._ones[:n]

    @staticmethod
    def _raw(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        t = arr.type
        if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
            arr = arr.cast(pa.large_binary())
            t = arr.type
        bufs = arr.buffers()
        n = len(arr)
        if pa.types.is_fixed_size_binary(t):
            width = t.byte_width
            offsets = np.arange(arr.offset, arr.offset + n + 1, dtype=np.int64) * width
            data_buf = bufs[1]
        else:
            dtype = np.int64 if (pa.types.is_large_string(t) or pa.types.is_large_binary(t)) \
                else np.int32
            offsets = np.frombuffer(bufs[1], dtype=dtype)[arr.offset: arr.offset + n + 1]
            data_buf = bufs[2]
        data = (np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None
                else np.empty(0, dtype=np.uint8))
        return offsets, data

    def intern(self, offsets: np.ndarray, data: np.ndarray, valid: np.ndarray,
               out: np.ndarray) -> None:
        start = 0
        n = out.shape[0]
        while True:
            start = _intern(offsets, data, valid, start, out, self._index, self.arena,
                            self.starts, self._hashes, self._meta)
            if start >= n:
                return
            length = int(offsets[start + 1] - offsets[start])
            self._grow(length)

    def _grow(self, length: int) -> None:
        count, used = int(self._meta[0]), int(self._meta[1])
        if used + length > self.arena.shape[0]:
            arena = np.empty(max(2 * self.arena.shape[0], used + length), dtype=np.uint8)
            arena[:used] = self.arena[:used]
            self.arena = arena
        if count + 2 > self.starts.shape[0]:
            starts = np.empty(2 * self.starts.shape[0], dtype=np.int64)
            starts[: count + 1] = self.starts[: count + 1]
            self.starts = starts
            hashes = np.empty(starts.shape[0] - 1, dtype=np.uint64)
            hashes[:count] = self._hashes[:count]
            self._hashes = hashes
        if (count + 1) * 2 > self._index.shape[0]:
            self._index = np.empty(2 * self._index.shape[0], dtype=np.int64)
            _rehash_ids(self._index, self._hashes, count)

    def decode(self, words: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        ids = np.ascontiguousarray(words[:, 0])
        m = ids.shape[0]
        v = self._all_valid(m) if valid is None else valid
        offsets, data = _gather_bytes(ids, v, self.arena, self.starts)
        t = self.type
        validity = _validity_buffer(valid)
        if pa.types.is_fixed_size_binary(t):
            return pa.Array.from_buffers(t, m, [validity, pa.py_buffer(data)])
        text = pa.types.is_string(t) or pa.types.is_large_string(t) \
            or pa.types.is_string_view(t)
        narrow = (pa.types.is_string(t) or pa.types.is_binary(t)) and offsets[-1] < 2**31
        if narrow:
            base, off = (pa.string() if text else pa.binary()), offsets.astype(np.int32)
        else:
            base, off = (pa.large_string() if text else pa.large_binary()), offsets
        out = pa.Array.from_buffers(base, m, [validity, pa.py_buffer(off), pa.py_buffer(data)])
        return out if base == t else out.cast(t)


def codec_for(type: pa.DataType) -> ColumnCodec:
    """A codec for one column type (a fresh dictionary for string-like types)."""
    if isinstance(type, pa.DictionaryType):
        return codec_for(type.value_type)
    if (pa.types.is_integer(type) or pa.types.is_boolean(type) or pa.types.is_temporal(type)) \
            and not pa.types.is_interval(type):
        return IntegerCodec(type)
    if pa.types.is_floating(type):
        return FloatCodec(type)
    if pa.types.is_decimal(type):
        return DecimalCodec(type)
    if (pa.types.is_string(type) or pa.types.is_large_string(type)
            or pa.types.is_binary(type) or pa.types.is_large_binary(type)
            or pa.types.is_fixed_size_binary(type) or pa.types.is_string_view(type)
            or pa.types.is_binary_view(type)):
        return StringCodec(type)
    if pa.types.is_null(type):
        return NullCodec(type)
    raise NotImplementedError(f"no key encoding for type {type}")


class KeyEncoder:
    """Several key columns <-> one row of int64 words per key (see module docstring).

    `nullable[i]` False promises column i has no NULLs (then no mask bit is spent on it;
    a NULL there raises ValueError). The default treats every column as nullable.
    """

    def __init__(self, types: list[pa.DataType], nullable: list[bool] | None = None) -> None:
        self.types = list(types)
        self.codecs = [codec_for(t) for t in self.types]
        flags = [True] * len(self.types) if nullable is None else list(nullable)
        if len(flags) != len(self.types):
            raise ValueError("one nullable flag per key column")
        self.nullable = flags
        self.offsets: list[int] = []
        width = 0
        for codec in self.codecs:
            self.offsets.append(width)
            width += codec.width
        # columns whose NULL needs a mask bit: (column, mask word, bit)
        masked = [i for i, c in enumerate(self.codecs) if flags[i] and c.null_word is None]
        self.mask_bits: dict[int, tuple[int, int]] = {
            col: (width + j // 63, j % 63) for j, col in enumerate(masked)
        }
        self.width = width + (len(masked) + 62) // 63

    def nbytes(self) -> int:
        """Bytes held by the interning dictionaries."""
        return sum(c.nbytes() for c in self.codecs)

    def encode(self, columns: list[pa.Array] | list[pa.ChunkedArray]) -> np.ndarray:
        """Rows of words, shape (n, width), C-contiguous int64."""
        arrays = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c
                  for c in columns]
        if len(arrays) != len(self.codecs):
            raise ValueError(f"expected {len(self.codecs)} key columns, got {len(arrays)}")
        n = len(arrays[0]) if arrays else 0
        if len(arrays) == 1 and self.width == 1:
            words, valid = self.codecs[0].encode(arrays[0])
            if valid is not None and not self.nullable[0]:
                raise ValueError("NULL in a key column declared NOT NULL")
            return np.ascontiguousarray(words)
        out = np.zeros((n, self.width), dtype=np.int64)
        for i, (codec, arr) in enumerate(zip(self.codecs, arrays, strict=True)):
            words, valid = codec.encode(arr)
            o = self.offsets[i]
            out[:, o: o + codec.width] = words
            if valid is None:
                continue
            if not self.nullable[i]:
                raise ValueError("NULL in a key column declared NOT NULL")
            if i in self.mask_bits:
                word, bit = self.mask_bits[i]
                out[:, word] |= (~valid).astype(np.int64) << bit
        return out

    def decode(self, codes: np.ndarray, which: list[int] | None = None) -> list[pa.Array]:
        """The key columns (or those listed in `which`), with their original types, from
        rows of words."""
        columns = []
        for i, codec in enumerate(self.codecs):
            if which is not None and i not in which:
                continue
            o = self.offsets[i]
            words = codes[:, o: o + codec.width]
            if i in self.mask_bits:
                word, bit = self.mask_bits[i]
                valid: np.ndarray | None = ((codes[:, word] >> bit) & 1) == 0
            elif codec.null_word is not None and self.nullable[i]:
                valid = words[:, 0] != codec.null_word
            else:
                valid = None
            if isinstance(codec, NullCodec):
                valid = None
            columns.append(codec.decode(words, valid))
        return columns
