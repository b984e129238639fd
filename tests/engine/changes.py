"""Change batches written as text in tests, RisingWave style.

    chunk = changes('''
        + 1 4
        - 7 5
        +3 2 .
    ''', schema)

Each line is a sign with an optional count (the weight: `+` is +1, `-2` is -2, `0` is a
zero weight) then one value per column; `.` or `NULL` is NULL, `t`/`f` are booleans,
timestamps are integers in the column's unit. `integrate` sums the weights of every
output row, the way a view accumulates a change stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

from laminar_pg.engine.messages import Chunk, Message


def _value(text: str, type: pa.DataType) -> Any:
    if text in (".", "NULL"):
        return None
    if pa.types.is_boolean(type):
        return text.lower() in ("t", "true")
    if pa.types.is_integer(type) or pa.types.is_temporal(type):
        return int(text)
    if pa.types.is_floating(type):
        return float(text)
    if pa.types.is_decimal(type):
        return Decimal(text)
    return text


def changes(text: str, schema: pa.Schema, *, append_only: bool = False) -> Chunk:
    """A chunk from text lines; `append_only` gives weights=None (every line `+`)."""
    weights: list[int] = []
    columns: list[list[Any]] = [[] for _ in schema]
    for line in text.strip().splitlines():
        sign, *values = line.split()
        if len(values) != len(schema):
            raise ValueError(f"{line!r}: expected {len(schema)} values")
        if sign in ("+", "-"):
            sign += "1"
        weights.append(int(sign))
        for i, (field, value) in enumerate(zip(schema, values, strict=True)):
            columns[i].append(_value(value, field.type))
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        t = field.type
        if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
            storage = pa.int32() if t.bit_width == 32 else pa.int64()
            arrays.append(pa.array(values, type=storage).cast(t))
        else:
            arrays.append(pa.array(values, type=t))
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    if append_only:
        if any(w != 1 for w in weights):
            raise ValueError("an append-only chunk has only + lines")
        return Chunk(batch)
    return Chunk(batch, np.array(weights, dtype=np.int64))


Row = tuple[Any, ...]


def integrate(messages: Iterable[Message], into: Counter[Row] | None = None,
              key: Callable[[Row], Row] | None = None) -> Counter[Row]:
    """Sum of weights per row over the chunks of `messages` (rows of weight 0 removed);
    `key` normalises a row first (NaN is not equal to itself as a dict key)."""
    total: Counter[Row] = Counter() if into is None else into
    for message in messages:
        if not isinstance(message, Chunk):
            continue
        rows = message.batch.to_pylist()
        names = message.batch.schema.names
        for row, weight in zip(rows, message.weight_array().tolist(), strict=True):
            values = tuple(row[n] for n in names)
            total[values if key is None else key(values)] += weight
    for row in [r for r, w in total.items() if w == 0]:
        del total[row]
    return total
