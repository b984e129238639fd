"""Reading a generator source inside a dataflow: pacing, late events and watermarks.

A `SourceReader` reads its generator's splits round-robin from the first event (every
dataflow reads a source from its first event, DESIGN.md "Sources"), drops late events and
emits the source's watermark:

- An event is late when its time is below the highest event time seen earlier in its
  split minus the watermark delay. Per split, the running maximum is carried across
  chunks and computed inside a chunk as a prefix maximum, so which events are dropped never
  depends on how the splits are cut into chunks. Dropped events are counted.
- The watermark of a split is its highest event time minus the delay; the source's is the
  minimum over its splits, and jumps to the end of time when a bounded source is done.
- Pacing (`events_per_second`) only decides when events are read, never their times.

Its figures (events, rows and bytes read, late events dropped, a sample of the event count
about once a second for the recent rate) are updated once per chunk, on the pipeline
thread; readers of the system tables only read them.
"""

from __future__ import annotations

import time
from typing import Any

import numba
import numpy as np
import pyarrow as pa

from laminar_pg.engine.messages import END_OF_TIME, Chunk, Watermark

NO_TIME = np.iinfo(np.int64).min
RATE_WINDOW = 10.0  # seconds over which `events_per_second` is measured


@numba.njit(nogil=True, cache=True)
def late_mask(ts: np.ndarray, valid: np.ndarray, running_max: int, delay: int) -> tuple[np.ndarray, int]:
    """keep[i] = event i is not late; the running maximum after the chunk.

    A NULL time (valid[i] false) is kept and does not move the maximum: no window will
    hold it, and dropping it is the window operator's business."""
    n = ts.shape[0]
    keep = np.ones(n, dtype=np.bool_)
    current = running_max
    for i in range(n):
        if not valid[i]:
            continue
        t = ts[i]
        if current != NO_TIME and t < current - delay:
            keep[i] = False
        elif t > current:
            current = t
    return keep, current


class SourceReader:
    """One dataflow's reader of one generator source."""

    def __init__(self, generator: Any, time_column: int | None, delay_us: int,
                 max_chunk: int = 65_536) -> None:
        self.generator = generator
        self.time_column = time_column
        self.delay = delay_us
        self.max_chunk = max_chunk
        splits = generator.splits
        self.positions = [0] * splits
        self.maxima = [int(NO_TIME)] * splits
        self.finished = [False] * splits
        self.next_split = 0
        self.events_read = 0
        self.rows_read = 0
        self.late_dropped = 0
        self.bytes_read = 0
        self.started = time.monotonic()
        # (monotonic time, events read) about once a second over the last RATE_WINDOW:
        # replaced as a whole (one attribute write), so a reader on another thread sees a
        # consistent tuple.
        self.rate_samples: tuple[tuple[float, int], ...] = ((self.started, 0),)
        self.watermark: int | None = None
        self.done = False

    def resume(self, now: float) -> None:
        """After its state was restored from a checkpoint: pacing goes on from the events
        already read, as if they had been read just now at the requested rate."""
        rate = self.generator.events_per_second
        self.started = now - (self.events_read / rate if rate else 0.0)
        self.rate_samples = ((now, self.events_read),)

    def budget(self, now: float) -> int:
        """Events the pacing allows to read now (all of a chunk when unpaced)."""
        rate = self.generator.events_per_second
        if rate is None:
            return self.max_chunk
        allowed = int((now - self.started) * rate) - self.events_read
        return max(0, min(allowed, self.max_chunk))

    def read(self, now: float) -> tuple[Chunk | None, Watermark | None]:
        """Read the next chunk the pacing allows: (chunk or None, new watermark or None)."""
        if self.done:
            return None, None
        budget = self.budget(now)
        if budget <= 0:
            return None, None
        splits = len(self.positions)
        for _ in range(splits):
            split = self.next_split
            self.next_split = (self.next_split + 1) % splits
            if not self.finished[split]:
                break
        else:
            return None, None
        start = self.positions[split]
        batch, position = self.generator.read(split, start, max(1, budget // splits))
        self.events_read += position - start
        self.positions[split] = position
        self._sample(now)
        if self.generator.exhausted(split, position):
            self.finished[split] = True
        chunk = None
        if batch.num_rows:
            self.rows_read += batch.num_rows
            self.bytes_read += batch.get_total_buffer_size()  # O(columns), not O(rows)
            batch = self._drop_late(split, batch)
            if batch.num_rows:
                chunk = Chunk(batch)
        return chunk, self._advance_watermark()

    def _sample(self, now: float) -> None:
        samples = self.rate_samples
        if now - samples[-1][0] < 1.0:
            return
        kept = tuple(s for s in samples if now - s[0] <= RATE_WINDOW)
        self.rate_samples = (*kept, (now, self.events_read))

    def events_per_second(self, now: float) -> float:
        """Events read per second over the last RATE_WINDOW seconds (fewer just after
        the start); 0 once the source is done."""
        if self.done:
            return 0.0
        samples = self.rate_samples
        oldest = next((s for s in samples if now - s[0] <= RATE_WINDOW), samples[-1])
        elapsed = now - oldest[0]
        if elapsed <= 0:
            return 0.0
        return (self.events_read - oldest[1]) / elapsed

    def split_watermarks(self) -> list[int | None]:
        """Per split: its own watermark (highest event time minus the delay), the end of
        time once it is exhausted, None before its first event (or without a watermark)."""
        marks: list[int | None] = []
        for highest, finished in zip(self.maxima, self.finished, strict=True):
            if finished:
                marks.append(int(END_OF_TIME))
            elif self.time_column is None or highest == NO_TIME:
                marks.append(None)
            else:
                marks.append(highest - self.delay)
        return marks

    def _drop_late(self, split: int, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.time_column is None:
            return batch
        column = batch.column(self.time_column)
        ts = column.cast(pa.int64()).fill_null(0).to_numpy()
        valid = (np.ones(len(ts), dtype=np.bool_) if not column.null_count
                 else column.is_valid().to_numpy(zero_copy_only=False))
        keep, self.maxima[split] = late_mask(ts, valid, self.maxima[split], self.delay)
        dropped = len(keep) - int(keep.sum())
        if dropped:
            self.late_dropped += dropped
            return batch.filter(pa.array(keep))
        return batch

    def _advance_watermark(self) -> Watermark | None:
        if all(self.finished):
            self.done = True
            if self.time_column is None and self.watermark is None:
                return Watermark(END_OF_TIME)
            self.watermark = END_OF_TIME
            return Watermark(END_OF_TIME)
        if self.time_column is None:
            return None
        if any(m == NO_TIME for m, f in zip(self.maxima, self.finished, strict=True) if not f):
            return None
        lowest = min(m for m, f in zip(self.maxima, self.finished, strict=True) if not f)
        value = lowest - self.delay
        if self.watermark is not None and value <= self.watermark:
            return None
        self.watermark = value
        return Watermark(value)

    @property
    def status(self) -> str:
        return "finished" if self.done else "running"
