"""StateTable: the one state abstraction of stateful operators, committed per epoch.

Strategy: a `KeyTable` maps each key (a row of int64 words, see `engine.keys`) to a dense
slot; the table owns numpy columns indexed by that slot, which operator kernels read and
update in place (`column(name)`; re-fetch after a lookup, as growth reallocates them).
Every lookup marks its slots touched, in a per-slot flag and a slot list, so the epoch's
changes are known without scanning: `commit_epoch()` returns exactly the keys upserted
since the last commit (their current values) and the keys deleted (present at the last
commit, released since, and not present again), then starts the next epoch. A delta is
self-contained: it carries key words and values, and `delta_batches` decodes the keys to
Arrow with the table's `KeyEncoder`, so the checkpoint writer needs no slot numbers.

A released slot's values are reset to the column's fill value at once, so a slot handed
out again starts from a clean state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import pyarrow as pa

from laminar_pg.engine.hashtable import KeyTable
from laminar_pg.engine.keys import KeyEncoder


@dataclass(frozen=True)
class StateColumn:
    """A value column: `width` > 1 makes it a (capacity, width) array."""

    name: str
    dtype: np.dtype | type
    fill: int | float = 0
    width: int = 1


@dataclass(frozen=True)
class StateDelta:
    """One epoch's changes: upserted keys with their values, and deleted keys."""

    upsert_keys: np.ndarray  # (m, key width) int64
    upsert_values: dict[str, np.ndarray]  # name -> (m,) or (m, width)
    delete_keys: np.ndarray  # (d, key width) int64
    upsert_slots: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.int64))

    @property
    def empty(self) -> bool:
        return bool(self.upsert_keys.shape[0] == 0 and self.delete_keys.shape[0] == 0)


@dataclass(frozen=True)
class StateSnapshot:
    """The full contents of a table: every live key with its values."""

    slots: np.ndarray
    keys: np.ndarray
    values: dict[str, np.ndarray]


@numba.njit(nogil=True, cache=True)
def mark_touched(slots: np.ndarray, flags: np.ndarray, touched: np.ndarray,
                 meta: np.ndarray) -> None:
    """Add the slots not yet flagged to the touched list (meta[0] = its length)."""
    n = meta[0]
    for i in range(slots.shape[0]):
        s = slots[i]
        if not flags[s]:
            flags[s] = 1
            touched[n] = s
            n += 1
    meta[0] = n


@numba.njit(nogil=True, cache=True)
def live_unique(slots: np.ndarray, live: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The distinct live slots among `slots`, in first-seen order (`seen`: a zeroed
    scratch array as long as `live`, left zeroed)."""
    out = np.empty(slots.shape[0], dtype=np.int64)
    n = 0
    for i in range(slots.shape[0]):
        s = slots[i]
        if live[s] == 1 and seen[s] == 0:
            seen[s] = 1
            out[n] = s
            n += 1
    for i in range(n):
        seen[out[i]] = 0
    return out[:n]


class StateTable:
    """Keyed state: slot-indexed numpy columns, with the epoch's delta tracked."""

    def __init__(self, key_width: int, columns: Sequence[StateColumn], *,
                 encoder: KeyEncoder | None = None, capacity: int = 64) -> None:
        if encoder is not None and encoder.width != key_width:
            raise ValueError("the encoder's width must be the key width")
        self.encoder = encoder
        self.keys = KeyTable(key_width, capacity)
        self.specs = {c.name: c for c in columns}
        cap = self.keys.capacity
        self._columns = {c.name: self._new_column(c, cap) for c in columns}
        self._flags = np.zeros(cap, dtype=np.uint8)  # touched this epoch
        self._touched = np.empty(cap, dtype=np.int64)
        self._meta = np.zeros(1, dtype=np.int64)  # touched list length
        self._committed = np.zeros(cap, dtype=np.uint8)  # key existed at the last commit
        self._seen = np.zeros(cap, dtype=np.uint8)  # scratch for release()
        self._deleted: list[np.ndarray] = []

    def __getstate__(self) -> dict[str, object]:
        """A checkpoint keeps the touched list's used prefix only (usually empty after a
        barrier's commit) and none of release()'s scratch: the rest of those arrays is
        stale data that changes every epoch and would be written every time."""
        state = dict(vars(self))
        state["_touched"] = self._touched[: int(self._meta[0])].copy()
        state["_touched_capacity"] = int(self._touched.shape[0])
        state["_seen"] = int(self._seen.shape[0])
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        listed = state.pop("_touched")
        capacity = state.pop("_touched_capacity")
        seen = state.pop("_seen")
        assert isinstance(listed, np.ndarray) and isinstance(capacity, int)
        assert isinstance(seen, int)
        self.__dict__.update(state)
        self._touched = np.empty(capacity, dtype=np.int64)
        self._touched[: listed.shape[0]] = listed
        self._seen = np.zeros(seen, dtype=np.uint8)

    @staticmethod
    def _new_column(spec: StateColumn, length: int) -> np.ndarray:
        shape = (length,) if spec.width == 1 else (length, spec.width)
        return np.full(shape, spec.fill, dtype=spec.dtype)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def capacity(self) -> int:
        return self.keys.capacity

    def column(self, name: str) -> np.ndarray:
        """The slot-indexed array of a column (valid until the next lookup)."""
        return self._columns[name]

    def nbytes(self) -> int:
        return (self.keys.nbytes() + sum(c.nbytes for c in self._columns.values())
                + self._flags.nbytes + self._touched.nbytes + self._committed.nbytes)

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Slots of the keys (inserted when absent), all marked touched."""
        return self.lookup_new(codes)[0]

    def lookup_new(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(slots of the keys, the slots this call inserted); all marked touched."""
        slots, new = self.keys.find_or_insert_new(codes)
        if self.keys.capacity > self._flags.shape[0]:
            self._grow()
        mark_touched(slots, self._flags, self._touched, self._meta)
        return slots, new

    def find(self, codes: np.ndarray) -> np.ndarray:
        """Slots of the keys, -1 where absent (nothing is touched)."""
        return self.keys.find(codes)

    def fit(self) -> None:
        """Grow the value columns to the key table's capacity (after inserting through
        `keys` directly, which marks nothing touched)."""
        if self.keys.capacity > self._flags.shape[0]:
            self._grow()

    def touch(self, slots: np.ndarray) -> None:
        """Mark slots changed this epoch (lookup does it already)."""
        mark_touched(np.ascontiguousarray(slots, dtype=np.int64), self._flags, self._touched,
                     self._meta)

    def touched_slots(self) -> np.ndarray:
        """The live slots touched since the last commit, in first-touch order."""
        listed = self._touched[: int(self._meta[0])]
        live: np.ndarray = listed[self.keys.live[listed] == 1]
        return live

    def release(self, slots: np.ndarray) -> None:
        """Delete the keys of these slots; their values are reset to the fill values."""
        if self._seen.shape[0] < self.keys.live.shape[0]:
            self._seen = np.zeros(self.keys.live.shape[0], dtype=np.uint8)
        slots = live_unique(np.ascontiguousarray(slots, dtype=np.int64), self.keys.live,
                            self._seen)
        if slots.shape[0] == 0:
            return
        was = slots[self._committed[slots] == 1]
        if was.shape[0]:
            self._deleted.append(self.keys.keys_of(was))
            self._committed[was] = 0
        self.keys.release(slots)
        for name, column in self._columns.items():
            column[slots] = self.specs[name].fill

    def commit_epoch(self) -> StateDelta:
        """The epoch's upserts and deletes; the next epoch starts empty."""
        listed = self._touched[: int(self._meta[0])].copy()
        self._flags[listed] = 0
        self._meta[0] = 0
        upserted = listed[self.keys.live[listed] == 1]
        self._committed[upserted] = 1
        width = self.keys.width
        if self._deleted:
            gone = np.concatenate(self._deleted)
            self._deleted = []
            gone = gone[self.keys.find(gone) < 0]
        else:
            gone = np.empty((0, width), dtype=np.int64)
        return StateDelta(
            upsert_keys=self.keys.keys_of(upserted),
            upsert_values={name: c[upserted] for name, c in self._columns.items()},
            delete_keys=gone,
            upsert_slots=upserted,
        )

    def dump(self) -> StateSnapshot:
        """Every live key with its values (copies)."""
        slots = self.keys.live_slots()
        return StateSnapshot(
            slots=slots,
            keys=self.keys.keys_of(slots),
            values={name: c[slots] for name, c in self._columns.items()},
        )

    def delta_batches(self, delta: StateDelta) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """(upserts, deletes) as Arrow: key columns (decoded when the table has an
        encoder, else the raw words `key_0`...), then the value columns (`name` or
        `name_0`... for wide ones)."""
        up = self._key_arrays(delta.upsert_keys)
        for name, values in delta.upsert_values.items():
            if values.ndim == 1:
                up[name] = pa.array(values)
            else:
                for j in range(values.shape[1]):
                    up[f"{name}_{j}"] = pa.array(values[:, j])
        return (pa.RecordBatch.from_pydict(up),
                pa.RecordBatch.from_pydict(self._key_arrays(delta.delete_keys)))

    def _key_arrays(self, codes: np.ndarray) -> dict[str, pa.Array]:
        if self.encoder is not None:
            return {f"key_{i}": a for i, a in enumerate(self.encoder.decode(codes))}
        return {f"key_{j}": pa.array(codes[:, j]) for j in range(codes.shape[1])}

    def _grow(self) -> None:
        cap = self.keys.capacity
        for name, column in self._columns.items():
            grown = self._new_column(self.specs[name], cap)
            grown[: column.shape[0]] = column
            self._columns[name] = grown
        old = self._flags.shape[0]
        flags = np.zeros(cap, dtype=np.uint8)
        flags[:old] = self._flags
        self._flags = flags
        touched = np.empty(cap, dtype=np.int64)
        touched[:old] = self._touched
        self._touched = touched
        committed = np.zeros(cap, dtype=np.uint8)
        committed[:old] = self._committed
        self._committed = committed
