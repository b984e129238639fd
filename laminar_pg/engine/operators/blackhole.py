"""The blackhole sink: discards what it receives, after checksumming it.

Benchmarks send a view's changes here (RisingWave's `connector = 'blackhole'`), so that
they measure the engine and not a client. To prove the engine computed every column of
every row, the sink keeps an order-independent checksum: per column, the weighted sum
(mod 2^64) of a 64-bit mix of each value (integers and times by value, floats by the
bits of their double, decimals by their exact value at scale 18, strings and binaries
by a hash of their bytes; NULL has its own word). A retraction subtracts what its insertion added, so the checksum
of a view's changes equals the checksum of its final contents, which `table_checksums`
computes from any Arrow table (the benchmark applies it to DuckDB's answer of the same
query).
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.messages import Chunk, Message
from laminar_pg.engine.operator import Operator

NULL_WORD = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(nogil=True, cache=True)
def _mix(x: np.uint64) -> np.uint64:
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


@numba.njit(nogil=True, cache=True)
def _sum_words(words: np.ndarray, valid: np.ndarray, weights: np.ndarray) -> np.uint64:
    total = np.uint64(0)
    for i in range(words.shape[0]):
        word = _mix(np.uint64(words[i])) if valid[i] else NULL_WORD
        total += word * np.uint64(weights[i])
    return total


@numba.njit(nogil=True, cache=True)
def _sum_bytes(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray,
               weights: np.ndarray) -> np.uint64:
    total = np.uint64(0)
    for i in range(offsets.shape[0] - 1):
        if not valid[i]:
            total += NULL_WORD * np.uint64(weights[i])
            continue
        h = np.uint64(0xCBF29CE484222325)
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * np.uint64(0x100000001B3)
        total += _mix(h) * np.uint64(weights[i])
    return total


def column_checksum(column: pa.Array, weights: np.ndarray) -> int:
    """The weighted checksum of one column (see the module docstring)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    valid = (np.ones(n, dtype=np.bool_) if column.null_count == 0
             else column.is_valid().to_numpy(zero_copy_only=False))
    t = column.type
    if pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
        t = column.type
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t):
        if pa.types.is_large_string(t):
            column = column.cast(pa.string())
        if column.offset:
            column = pa.concat_arrays([column])
        buffers = column.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int32)[: n + 1]
        data = (np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None
                else np.zeros(0, dtype=np.uint8))
        return int(_sum_bytes(offsets, data, valid, weights))
    if pa.types.is_boolean(t):
        words = pc.fill_null(column, False).cast(pa.int64()).to_numpy()
    elif pa.types.is_decimal(t):
        words = _decimal_words(column)
    elif pa.types.is_floating(t):
        values = pc.fill_null(column.cast(pa.float64()), 0).to_numpy(zero_copy_only=False)
        values = np.where(values == 0, 0.0, values)  # -0.0 == 0.0
        words = values.view(np.int64)
    else:
        words = pc.fill_null(column.cast(pa.int64()), 0).to_numpy()
    return int(_sum_words(np.ascontiguousarray(words), valid, weights))


CANONICAL_DECIMAL = pa.decimal128(38, 18)


def _decimal_words(column: pa.Array) -> np.ndarray:
    """One word per decimal value, equal for equal values whatever their scale: the
    value at scale 18 (exact), its two 64-bit halves mixed. A value too large for that
    scale falls back to its double's bits."""
    try:
        canonical = pc.fill_null(column.cast(CANONICAL_DECIMAL), pa.scalar(0, CANONICAL_DECIMAL))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = pc.fill_null(column.cast(pa.float64()), 0).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64).view(np.int64)
    if canonical.offset:
        canonical = pa.concat_arrays([canonical])
    halves = np.frombuffer(canonical.buffers()[1], dtype=np.int64)[: 2 * len(canonical)]
    halves = halves.reshape(-1, 2)
    return halves[:, 0] ^ (halves[:, 1] * np.int64(0x5BD1E995))


def table_checksums(table: pa.Table | pa.RecordBatch,
                    weights: np.ndarray | None = None) -> list[int]:
    """Per column checksums of a whole table (every row weight 1 unless given)."""
    if weights is None:
        weights = np.ones(table.num_rows, dtype=np.int64)
    return [column_checksum(table.column(i), weights) for i in range(table.num_columns)]


class BlackholeSink(Operator):
    name = "blackhole"

    def __init__(self, schema: pa.Schema) -> None:
        super().__init__(schema)
        self.checksums = [0] * len(schema)
        self.rows = 0  # net rows received (insertions minus retractions)
        self.changes = 0

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        weights = chunk.weight_array()
        for i, total in enumerate(table_checksums(chunk.batch, weights)):
            self.checksums[i] = (self.checksums[i] + total) % (1 << 64)
        self.rows += int(weights.sum())
        self.changes += chunk.num_rows
        return []

    def checksum(self) -> int:
        """One figure for the whole relation: the column checksums combined."""
        combined = 0
        for i, value in enumerate(self.checksums):
            combined = (combined * 1_000_003 + value + i) % (1 << 64)
        return combined
