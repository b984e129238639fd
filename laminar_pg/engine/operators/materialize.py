"""Materialize: a view's contents (an arrangement), published as one immutable Arrow
table per epoch, at a cost in proportion to the epoch's changes.

Strategy: every distinct row is a key of a `StateTable` (the row's columns encoded to
int64 words by a `KeyEncoder`) whose one value is its multiplicity (the sum of the
weights seen); the table tracks what each epoch changed, for checkpoints. Slots are grouped in pages of `PAGE` slots; a page's rows are one Arrow
record batch, decoded from the key words of its live slots (a row of multiplicity n
appears n times). A chunk only marks the pages its slots fall in; at the barrier the
dirty pages are rebuilt and the new version is the list of page batches, so an epoch
that touches a few rows of a million-row view rebuilds a few pages and shares the rest
with the previous version (zero copy). Readers hold versions; nothing mutates them.

The operator passes its input on unchanged: views reading this view follow its changes.
While someone subscribes (SUBSCRIBE), it also records each epoch's consolidated changes
into a `ChangeFeed`; a subscription starts at a barrier, with the contents published
there, so the feed's first epoch follows that version exactly.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import numba
import numpy as np
import pyarrow as pa

from laminar_pg.engine.change_feed import DIFF, ChangeFeed
from laminar_pg.engine.keys import KeyEncoder
from laminar_pg.engine.messages import Barrier, Chunk, Message
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.state import StateColumn, StateTable

PAGE_BITS = 16
PAGE = 1 << PAGE_BITS


@numba.njit(nogil=True, cache=True)
def accumulate(counts: np.ndarray, slots: np.ndarray, weights: np.ndarray,
               dirty: np.ndarray) -> int:
    """counts[slot] += weight; marks each touched page; returns the net row change."""
    net = 0
    for i in range(slots.shape[0]):
        slot = slots[i]
        counts[slot] += weights[i]
        net += weights[i]
        dirty[slot >> PAGE_BITS] = True
    return net


class NegativeMultiplicity(Exception):
    """A retraction of a row the view does not hold: an engine bug, never user error."""


class Materialize(Operator):
    name = "materialize"
    derived = ("_version",)  # the pages, concatenated

    def __init__(self, schema: pa.Schema) -> None:
        super().__init__(schema)
        self.encoder = KeyEncoder([f.type for f in schema])
        self.state = StateTable(max(1, self.encoder.width), [StateColumn("count", np.int64)],
                                encoder=self.encoder if self.encoder.width else None)
        self.table = self.state.keys
        self.dirty = np.zeros(1, dtype=np.bool_)
        self.pages: list[pa.RecordBatch | None] = []
        self.rows = 0
        self._version = schema.empty_table()
        self._touched_since_version = False
        self.feed = ChangeFeed()
        self._epoch_slots: list[np.ndarray] = []
        self._epoch_weights: list[np.ndarray] = []
        self._joining: list[Future[Any]] = []  # subscriptions that start at the next barrier

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        if batch.num_rows == 0:
            return []
        if self.encoder.width:
            codes = self.encoder.encode(list(batch.columns))
        else:  # a relation with no columns: every row is the same (empty) row
            codes = np.zeros((batch.num_rows, 1), dtype=np.int64)
        slots = self.state.lookup(codes)
        capacity = self.table.capacity
        pages = (capacity >> PAGE_BITS) + 1
        if self.dirty.shape[0] < pages:
            grown_dirty = np.zeros(pages, dtype=np.bool_)
            grown_dirty[: self.dirty.shape[0]] = self.dirty
            self.dirty = grown_dirty
        weights = chunk.weight_array()
        self.rows += accumulate(self.state.column("count"), slots, weights, self.dirty)
        if self.feed.active:
            self._epoch_slots.append(slots)
            self._epoch_weights.append(np.asarray(weights, dtype=np.int64))
        self._touched_since_version = True
        return [chunk]

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        if self.feed.active:
            self.feed.record(barrier.epoch, barrier.timestamp_ms, self._epoch_changes())
        self._publish()
        self.state.commit_epoch()  # the epoch's delta: persisted once checkpoints exist
        if self._joining:
            joining, self._joining = self._joining, []
            for future in joining:
                if future.set_running_or_notify_cancel():  # not given up meanwhile
                    self.feed.start(barrier.epoch, barrier.timestamp_ms)
                    self.feed.subscribers += 1
                    future.set_result((barrier.epoch, barrier.timestamp_ms, self._version, self.feed))
        return []

    def subscribe(self, future: Future[Any]) -> None:
        """Pipeline thread: start a subscription at the next barrier; `future` gets
        (epoch, its timestamp, the contents as of it, the feed that carries the epochs
        after it)."""
        self._joining.append(future)

    def unsubscribe(self) -> None:
        """Pipeline thread: a subscription ended."""
        self.feed.subscribers = max(0, self.feed.subscribers - 1)
        if not self.feed.active:
            self.feed.clear()
            self._epoch_slots, self._epoch_weights = [], []

    def _epoch_changes(self) -> pa.RecordBatch | None:
        """This epoch's changes, consolidated, before dead rows leave the state."""
        if not self._epoch_slots:
            return None
        slots = np.concatenate(self._epoch_slots)
        weights = np.concatenate(self._epoch_weights)
        self._epoch_slots, self._epoch_weights = [], []
        distinct, inverse = np.unique(slots, return_inverse=True)
        sums = np.zeros(distinct.shape[0], dtype=np.int64)
        np.add.at(sums, inverse, weights)
        keep = sums != 0
        if not keep.any():
            return None
        distinct, sums = distinct[keep], sums[keep]
        if self.encoder.width:
            columns = self.encoder.decode(self.table.keys_of(distinct))
        else:
            columns = []
        columns = [c if c.type == f.type else c.cast(f.type)
                   for c, f in zip(columns, self.schema, strict=True)]
        fields = [*self.schema, pa.field(DIFF, pa.int64())]
        return pa.RecordBatch.from_arrays([*columns, pa.array(sums)], schema=pa.schema(fields))

    def _publish(self) -> None:
        if not self._touched_since_version:
            return
        self._touched_since_version = False
        high = self.table.high_water
        all_counts = self.state.column("count")
        for page in np.flatnonzero(self.dirty):
            self.dirty[page] = False
            lo, hi = int(page) << PAGE_BITS, min(high, (int(page) + 1) << PAGE_BITS)
            counts = all_counts[lo:hi]
            if (counts < 0).any():
                raise NegativeMultiplicity("a view would hold a row a negative number of times")
            dead = np.flatnonzero((counts == 0) & (self.table.live[lo:hi] == 1)) + lo
            if len(dead):
                self.state.release(dead)
            slots = np.flatnonzero(counts > 0) + lo
            while len(self.pages) <= page:
                self.pages.append(None)
            if len(slots) == 0:
                self.pages[page] = None
                continue
            repeats = all_counts[slots]
            if (repeats > 1).any():
                slots = np.repeat(slots, repeats)
            if self.encoder.width:
                columns = self.encoder.decode(self.table.keys_of(slots))
                self.pages[page] = pa.RecordBatch.from_arrays(columns, schema=self.schema)
            else:
                self.pages[page] = pa.RecordBatch.from_arrays(
                    [pa.nulls(len(slots))], names=["_"]).select([])
        self._version = pa.Table.from_batches(
            [b for b in self.pages if b is not None], schema=self.schema)

    def after_restore(self) -> None:
        self._version = pa.Table.from_batches(
            [b for b in self.pages if b is not None], schema=self.schema)

    def version(self) -> pa.Table:
        """The contents as of the last barrier (immutable)."""
        return self._version

    def current(self) -> pa.Table:
        """The contents now, the current epoch's changes included (pipeline thread only)."""
        self._publish()
        return self._version

    def state_bytes(self) -> int:
        return self.state.nbytes() + self.encoder.nbytes()
