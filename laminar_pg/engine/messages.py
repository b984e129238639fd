"""What flows between operators: change chunks, watermarks and barriers.

Strategy: a chunk is an Arrow record batch (the relation's columns) plus a weight per
row, kept beside the batch as an int64 numpy array rather than as an extra Arrow column,
so kernels read it without a conversion and operators that do not change rows pass it
through untouched (Z-set semantics: +n inserts a row n times, -n retracts it). An
append-only chunk has `weights=None`, meaning every row +1; operators that see only
such chunks skip retraction work.

A watermark says that no later row of the stream carries an event time below `value`
(microseconds since the Unix epoch, the Arrow `timestamp[us]` domain), for the stream's
event-time column. A barrier ends an epoch: every operator emits what it owes for the
epoch before passing the barrier on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

END_OF_TIME = np.iinfo(np.int64).max  # the watermark of an exhausted bounded source


@dataclass(frozen=True, slots=True)
class Chunk:
    batch: pa.RecordBatch
    weights: np.ndarray | None = None  # int64 per row; None = every row +1

    @property
    def num_rows(self) -> int:
        rows: int = self.batch.num_rows
        return rows

    @property
    def append_only(self) -> bool:
        return self.weights is None

    def weight_array(self) -> np.ndarray:
        """The weights as an int64 array (ones for an append-only chunk)."""
        if self.weights is None:
            return np.ones(self.batch.num_rows, dtype=np.int64)
        return self.weights

    def net_rows(self) -> int:
        """Sum of weights: rows inserted minus rows retracted."""
        return self.batch.num_rows if self.weights is None else int(self.weights.sum())


@dataclass(frozen=True, slots=True)
class Watermark:
    value: int  # microseconds; no later row has an event time below it


@dataclass(frozen=True, slots=True)
class Barrier:
    epoch: int
    timestamp_ms: int  # the epoch's timestamp (laminar_timestamp), strictly increasing


Message = Chunk | Watermark | Barrier
