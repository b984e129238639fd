"""When a joined row can no longer find a partner: interval joins' state cleanup.

An interval join (`b.ts BETWEEN a.ts AND a.ts + INTERVAL '10' SECOND`, Nexmark q7's
`B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time`, q9's
`B.date_time BETWEEN A.date_time AND A.expires`) bounds, for each row of one side, the
event times of the other side's rows it can match. The planner turns those bounds into
an expiry expression per side (`sql/plan_joins.py`): the latest event time of the other
side that the row can still match. Rows from then on arrive at or after that side's
watermark, so once the other side's watermark passes a row's expiry the row can never
match again; it leaves the join's state (after its own side's watermark has also passed
its event time, if that side can retract it).

Each side keeps its rows' expiries in a slot-indexed array and a heap of (expiry, slot);
a slot reused by a later row is told apart by comparing the array with the heap entry.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from laminar_pg.engine.expr import CompiledExpr
from laminar_pg.engine.operators.aggregate_order import CloseQueue

NEVER = np.iinfo(np.int64).max


def micros(values: pa.Array) -> np.ndarray:
    """Timestamps as int64 microseconds (NULL: never)."""
    unit = values.type.unit if pa.types.is_timestamp(values.type) else "us"
    raw: np.ndarray = values.cast(pa.int64()).fill_null(NEVER).to_numpy(zero_copy_only=False)
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1}.get(unit)
    kept = raw != NEVER
    out = raw.copy()
    if scale is not None:
        out[kept] = raw[kept] * scale
    else:  # ns
        out[kept] = raw[kept] // 1_000
    return out


class Expiry:
    """The expiries of one side's rows: the minimum of `bounds` evaluated on the row.
    `own_time`: the side's event-time column, checked against its own watermark before a
    row of a retractable side is dropped."""

    def __init__(self, bounds: list[CompiledExpr], own_time: int | None,
                 retractable: bool) -> None:
        self.bounds = bounds
        self.own_time = own_time
        self.retractable = retractable
        self.queue = CloseQueue()
        self.expires = np.full(64, NEVER, dtype=np.int64)
        self.dropped = 0  # rows forgotten because they expired

    def nbytes(self) -> int:
        return int(self.expires.nbytes) + self.queue.nbytes()

    def track(self, batch: pa.RecordBatch, row_slots: np.ndarray, new_slots: np.ndarray) -> None:
        """Rows just added (their slots); queue the slots that are new."""
        if new_slots.shape[0] == 0:
            return
        values = np.full(batch.num_rows, NEVER, dtype=np.int64)
        for bound in self.bounds:
            values = np.minimum(values, micros(bound.evaluate(batch)))
        need = int(row_slots.max()) + 1
        if need > self.expires.shape[0]:
            grown = np.full(max(need, 2 * self.expires.shape[0]), NEVER, dtype=np.int64)
            grown[: self.expires.shape[0]] = self.expires
            self.expires = grown
        fresh = np.isin(row_slots, new_slots)
        self.expires[row_slots[fresh]] = values[fresh]
        slots, first = np.unique(row_slots[fresh], return_index=True)
        self.queue.push(values[fresh][first], slots)

    def due(self, other_watermark: int, live: np.ndarray) -> np.ndarray:
        """Slots whose rows expired before `other_watermark` (still live, not reused)."""
        popped = self.queue.pop_upto(other_watermark - 1)  # a slot twice: harmless
        if popped.shape[0] == 0:
            return popped
        popped = popped[live[popped] == 1]
        due: np.ndarray = popped[self.expires[popped] < other_watermark]
        return due

    def forget(self, slots: np.ndarray) -> None:
        self.expires[slots] = NEVER
        self.dropped += int(slots.shape[0])

    def requeue(self, slots: np.ndarray) -> None:
        """Expired rows a retraction may still reach: looked at again next time."""
        if slots.shape[0]:
            self.queue.push(self.expires[slots], slots)
