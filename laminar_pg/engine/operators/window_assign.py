"""Window assignment: TUMBLE and HOP add `window_start` and `window_end` to each row.

TUMBLE(ts, size): the one window [start, start + size) holding ts, start a multiple of
size from the Unix epoch (floor division, so times before 1970 work too). HOP(ts, slide,
size): every window of length `size` starting at a multiple of `slide` that holds ts,
so each row is repeated size / slide times (size must be a multiple of slide). A NULL
time belongs to no window: the row is dropped, as a GROUP BY over its window would
give it a NULL key that no window query reports (PostgreSQL's date_bin gives NULL too).
Stateless: weights are repeated with their rows.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa

from laminar_pg.engine.messages import Chunk, Message
from laminar_pg.engine.operator import Operator


@numba.njit(nogil=True, cache=True)
def hop_assign(ts: np.ndarray, slide: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each time, the windows holding it: (row index, window start) pairs."""
    per = size // slide
    n = ts.shape[0]
    rows = np.empty(n * per, dtype=np.int64)
    starts = np.empty(n * per, dtype=np.int64)
    k = 0
    for i in range(n):
        last = ts[i] - (ts[i] % slide)  # the latest window start at or before ts (floor)
        for j in range(per):
            start = last - j * slide
            if start + size > ts[i]:
                rows[k] = i
                starts[k] = start
                k += 1
    return rows[:k], starts[:k]


class WindowAssign(Operator):
    name = "window_assign"

    def __init__(self, schema: pa.Schema, time_column: int, size_us: int,
                 slide_us: int | None = None) -> None:
        super().__init__(schema)
        self.time_column = time_column
        self.size = size_us
        self.slide = slide_us  # None: tumbling
        self._unit = schema.field(schema.names.index("window_start")).type

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        weights = chunk.weights
        column = batch.column(self.time_column)
        if column.null_count:
            keep = column.is_valid()
            batch = batch.filter(keep)
            if weights is not None:
                weights = weights[keep.to_numpy(zero_copy_only=False)]
            column = batch.column(self.time_column)
        ts = column.cast(pa.int64()).to_numpy()
        if self.slide is None:
            starts = ts - ts % self.size
        else:
            rows, starts = hop_assign(ts, self.slide, self.size)
            batch = batch.take(pa.array(rows))
            if weights is not None:
                weights = weights[rows]
        start_array = pa.array(starts, type=pa.int64()).cast(self._unit)
        end_array = pa.array(starts + self.size, type=pa.int64()).cast(self._unit)
        out = pa.RecordBatch.from_arrays([*batch.columns, start_array, end_array],
                                         schema=self.schema)
        return [Chunk(out, weights)]
