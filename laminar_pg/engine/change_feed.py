"""A view's changes, epoch by epoch, for its subscribers (SUBSCRIBE).

The view's `Materialize` operator records into its feed while someone subscribes: at
each barrier, the epoch's changes consolidated (each distinct row once, with the sum of
its weights, zero sums left out) as one Arrow batch with a `laminar_diff` column, or None
for an epoch that changed nothing (subscribers asking for PROGRESS still see it pass).
The pipeline thread appends; sessions read under a lock held only to copy references.

The feed keeps the last `max_epochs` epochs and at most `max_bytes` of batches: a
subscriber that falls further behind gets an error instead of slowing the pipeline or
growing memory without bound.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import pyarrow as pa

DIFF = "laminar_diff"


class FellBehind(Exception):
    """The epochs a subscriber needs are no longer retained."""


@dataclass(eq=False)
class ChangeFeed:
    max_epochs: int = 4096
    max_bytes: int = 64 << 20
    subscribers: int = 0
    # (epoch, its timestamp in ms, its changes or None)
    entries: collections.deque[tuple[int, int, pa.RecordBatch | None]] = field(
        default_factory=collections.deque)
    bytes: int = 0
    # the epoch just before the oldest recorded one (when recording started, or the last
    # epoch dropped): every epoch after it is held
    origin: tuple[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def active(self) -> bool:
        return self.subscribers > 0

    def record(self, epoch: int, stamp: int, batch: pa.RecordBatch | None) -> None:
        """Pipeline thread: the changes of a completed epoch (timestamp `stamp`)."""
        with self._lock:
            self.entries.append((epoch, stamp, batch))
            if batch is not None:
                self.bytes += batch.nbytes
            while self.entries and (len(self.entries) > self.max_epochs
                                    or self.bytes > self.max_bytes):
                epoch, stamp, dropped = self.entries.popleft()
                self.origin = (epoch, stamp)
                if dropped is not None:
                    self.bytes -= dropped.nbytes

    def epoch_at(self, stamp: int) -> int | None:
        """The newest recorded epoch whose timestamp is at most `stamp` (None when the
        feed holds no epoch that old)."""
        with self._lock:
            if self.origin is None or self.origin[1] > stamp:
                return None
            found = self.origin[0]
            for epoch, at, _ in self.entries:
                if at > stamp:
                    break
                found = epoch
            return found

    def start(self, epoch: int, stamp: int) -> None:
        """Pipeline thread: recording starts after this epoch (a first subscriber)."""
        with self._lock:
            if self.origin is None:
                self.origin = (epoch, stamp)

    def clear(self) -> None:
        with self._lock:
            self.origin = None
            self.entries.clear()
            self.bytes = 0

    def since(self, epoch: int) -> list[tuple[int, int, pa.RecordBatch | None]]:
        """The recorded epochs after `epoch`, in order (FellBehind if some are gone)."""
        with self._lock:
            if not self.entries or self.entries[-1][0] <= epoch:
                return []
            if self.entries[0][0] > epoch + 1:
                raise FellBehind(f"epochs {epoch + 1} to {self.entries[0][0] - 1} are no "
                                 "longer retained")
            return [e for e in self.entries if e[0] > epoch]
