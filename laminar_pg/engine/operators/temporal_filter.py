"""TemporalFilter: `WHERE t > now() - INTERVAL '1' HOUR`, rows that leave as time passes.

Inside a view, now() is the timestamp of the epoch (DESIGN.md "Semantics"): a view's
version of epoch E holds exactly the rows whose expiry is after E's timestamp. A row's
expiry is a function of the row alone (`t + 1 hour`; one microsecond later for `>=`),
so the operator needs no row identity:
- a change (insertion or retraction) whose expiry is at or before the last barrier's
  timestamp is dropped: it was never visible, or it was already taken back;
- any other change passes at once and is kept, with its weight, in a queue ordered by
  expiry;
- at each barrier (timestamp T) the queued changes with expiry <= T are emitted again
  with their weights negated, before the barrier: whatever a row added is taken back in
  the epoch it expires in.

State: the kept changes as Arrow batches, each sorted by expiry, with their expiries and
weights as numpy arrays; a barrier pops each batch's expired prefix (a binary search),
and batches are merged when they pile up. A NULL time never passes (NULL > x is not
true). The output can retract, whatever the input.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from laminar_pg.engine.expr import CompiledExpr
from laminar_pg.engine.messages import Barrier, Chunk, Message
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators.join_expiry import NEVER, micros

MERGE_AT = 64  # queued batches before they are merged into one


class TemporalFilter(Operator):
    name = "temporal_filter"

    def __init__(self, schema: pa.Schema, time: CompiledExpr, offset_us: int) -> None:
        """Keeps a row while now() < time(row) + offset_us."""
        super().__init__(schema)
        self.time = time
        self.offset = offset_us
        self.now: int | None = None  # the last barrier's timestamp, microseconds
        self.queue: list[tuple[pa.RecordBatch, np.ndarray, np.ndarray]] = []
        self.queued_rows = 0

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        expiry = micros(self.time.evaluate(batch))
        valid = expiry != NEVER
        expiry = np.where(valid, expiry + self.offset, NEVER)
        keep = valid if self.now is None else valid & (expiry > self.now)
        weights = chunk.weight_array()
        if not keep.all():
            mask = pa.array(keep)
            batch = batch.filter(mask)
            expiry, weights = expiry[keep], weights[keep]
        if batch.num_rows == 0:
            return []
        order = np.argsort(expiry, kind="stable")
        self.queue.append((batch.take(pa.array(order)), expiry[order], weights[order]))
        self.queued_rows += batch.num_rows
        if len(self.queue) > MERGE_AT:
            self._merge()
        return [Chunk(batch, None if chunk.weights is None and keep.all() else weights)]

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        now = barrier.timestamp_ms * 1000
        self.now = now
        out: list[Message] = []
        kept = []
        for batch, expiry, weights in self.queue:
            due = int(np.searchsorted(expiry, now, side="right"))
            if due:
                out.append(Chunk(batch.slice(0, due), -weights[:due]))
                self.queued_rows -= due
            if due < batch.num_rows:
                kept.append((batch.slice(due), expiry[due:], weights[due:]))
        self.queue = kept
        return out

    def _merge(self) -> None:
        batches, expiries, weights = zip(*self.queue, strict=True)
        table = pa.Table.from_batches(list(batches), schema=self.schema)
        expiry = np.concatenate(expiries)
        order = np.argsort(expiry, kind="stable")
        merged = table.take(pa.array(order)).combine_chunks()
        batch = merged.to_batches()[0] if merged.num_rows else pa.RecordBatch.from_pylist(
            [], schema=self.schema)
        self.queue = [(batch, expiry[order], np.concatenate(weights)[order])]

    def state_bytes(self) -> int:
        return sum(b.nbytes + e.nbytes + w.nbytes for b, e, w in self.queue)
