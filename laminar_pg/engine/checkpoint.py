"""Checkpoints: operator state in RocksDB, one atomic manifest per checkpointed epoch.

Strategy (DESIGN.md "Semantics", docs/architecture.md "Checkpoints"):

- Capture, on the pipeline thread, right after a barrier has passed every operator (so
  every state is exactly as of that epoch): each dataflow's operators, node counters
  and source readers are pickled (protocol 5). Plan objects (compiled expressions,
  kernels, generators, change feeds: whatever the planner rebuilds from the definition)
  are pickled as a reference, never as data. Every large buffer (numpy arrays, Arrow
  buffers: all state lives in those) goes out of band and is copied, because the pipeline
  goes on mutating it; everything else is a small in-band payload. The copy is memcpy
  speed; nothing else happens on the pipeline thread.
- Write, on the checkpoint thread: buffers are cut into pages of PAGE_BYTES, each named
  by its SHA-256. A page already stored by a retained checkpoint is not written again, so
  a checkpoint writes only the pages its epochs changed (a state that did not change
  costs a hash, not a write); the payload is paged the same way. Then the flow records
  (page names), one WAL sync,
  a wait until the change log is durable up to the LSN the state reflects, and the
  manifest: a JSON file written to a temporary name, synced, renamed, directory synced.
  A checkpoint is complete exactly when its manifest exists; recovery never reads state
  that no manifest names.
- Prune: beyond `retained` manifests the oldest is deleted first, then its flow records
  and the pages no retained manifest needs (reference counts by page). At start, pages
  and records that no manifest names (a checkpoint cut short) are deleted too, so the
  directory does not grow without bound.
- Restore: the planner rebuilds each dataflow from its definition; `restore_flow`
  unpickles the saved tree and merges it into the fresh one: saved data replaces fresh
  data, plan references keep the fresh plan objects. A flow whose operators do not match
  the saved ones (another build of the planner) is not restored; it starts from scratch,
  which is still exact (sources replay from their first event).

Layout of `<data dir>/checkpoints/`: `state/` (a RocksDB: `page/<sha256>` -> bytes,
`flow/<epoch:20>/<oid>` -> the page names of its payload and of each buffer) and
`manifest-<epoch:20>.json`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import io
import json
import os
import pickle
import queue
import threading
import time
import types
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pyarrow as pa
import structlog
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from laminar_pg.crashpoints import crashpoint

log = structlog.get_logger("laminar_pg.checkpoint")

FORMAT = 1
PAGE_BYTES = 256 << 10
INLINE_BYTES = 16 << 10  # smaller buffers stay in the payload
WRITE_BATCH_BYTES = 4 << 20
NODE_FIELDS = ("rows_in", "rows_out", "chunks_in", "watermark")
_PAGE = b"page/"
_FLOW = b"flow/"


# ------------------------------------------------------------------ plan references


class _PlanRef:
    """Stands, in a saved tree, for an object the planner rebuilds (restore keeps the
    fresh one)."""

    def __repr__(self) -> str:
        return "<plan>"


PLAN = _PlanRef()


def _plan_types() -> tuple[type, ...]:
    from numba.core.dispatcher import Dispatcher

    from laminar_pg.engine.change_feed import ChangeFeed
    from laminar_pg.engine.expr.nodes import CompiledExpr
    from laminar_pg.engine.sources.base import Generator

    return (types.MethodType, functools.partial, Dispatcher, CompiledExpr, ChangeFeed,
            Generator, Future, type(threading.Lock()), type(threading.RLock()),
            threading.Event)


class _Pickler(pickle.Pickler):
    """Pickles plan objects as a reference. A module-level function pickles by name as
    usual (reduce functions are such, and must stay callable); a closure or lambda is
    the planner's and is a plan object."""

    plan_types: tuple[type, ...] = ()

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, self.plan_types):
            return "plan"
        if isinstance(obj, types.FunctionType) and "<" in obj.__qualname__:
            return "plan"
        return None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        if pid != "plan":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return PLAN


def _holds_plan(value: Any, memo: dict[int, bool]) -> bool:
    """Whether a saved value contains a plan reference anywhere (containers and plain
    objects are searched; arrays and scalars cannot hold one)."""
    if value is PLAN:
        return True
    key = id(value)
    if key in memo:
        return memo[key]
    memo[key] = False  # cycles
    if isinstance(value, (list, tuple, set, frozenset, collections.deque)):
        found = any(_holds_plan(v, memo) for v in value)
    elif isinstance(value, dict):
        found = any(_holds_plan(v, memo) for v in value.values())
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        found = any(_holds_plan(v, memo) for v in vars(value).values())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        found = any(_holds_plan(getattr(value, f.name), memo)
                    for f in dataclasses.fields(value))
    else:
        found = False
    memo[key] = found
    return found


def _merge(fresh: Any, saved: Any, memo: dict[int, bool]) -> Any:
    """The restored value: saved data, with the fresh plan objects where the saved tree
    holds plan references."""
    if saved is PLAN:
        return fresh
    if not _holds_plan(saved, memo):
        return saved
    if isinstance(saved, (list, tuple)):
        if not isinstance(fresh, (list, tuple)) or len(fresh) != len(saved):
            raise RestoreMismatch(f"a list of {len(saved)} plan objects became {fresh!r}")
        merged = [_merge(f, s, memo) for f, s in zip(fresh, saved, strict=True)]
        if isinstance(saved, tuple):
            return type(saved)(*merged) if hasattr(saved, "_fields") else tuple(merged)
        return merged
    if isinstance(saved, dict):
        if not isinstance(fresh, dict):
            raise RestoreMismatch("a mapping of plan objects changed shape")
        return {k: _merge(fresh.get(k), v, memo) for k, v in saved.items()}
    if isinstance(saved, (set, frozenset, collections.deque)):
        # no way to pair their plan objects with the fresh ones: start from scratch
        raise RestoreMismatch(f"a {type(saved).__name__} holds plan objects")
    if type(fresh) is not type(saved):
        raise RestoreMismatch(f"{type(saved).__name__} became {type(fresh).__name__}")
    _merge_into(fresh, saved, memo)
    return fresh


def _merge_into(fresh: Any, saved: Any, memo: dict[int, bool]) -> None:
    if hasattr(saved, "__dict__"):
        items = list(vars(saved).items())
    else:
        items = [(f.name, getattr(saved, f.name)) for f in dataclasses.fields(saved)]
    for name, value in items:
        object.__setattr__(fresh, name, _merge(getattr(fresh, name, None), value, memo))


class RestoreMismatch(Exception):
    """The saved state does not fit the dataflow the planner built now."""


# ------------------------------------------------------------------ capture / restore

WORDS_PER_PAGE = PAGE_BYTES // 8


@numba.njit(nogil=True, cache=True)
def page_fingerprints(words: np.ndarray) -> np.ndarray:
    """Per PAGE_BYTES of `words` (uint64), a 256-bit fingerprint: four lanes, each a
    chain of xor, multiply and rotate over every fourth word (a bijection of its state
    per word, so one changed word changes its lane). Reads at memory speed, several times
    faster than copying on this kind of machine: a capture fingerprints every mutable
    buffer and copies only the pages whose fingerprint changed since the last checkpoint
    (a page whose fingerprint matches is the page already stored under its SHA-256)."""
    n = words.shape[0]
    pages = (n + WORDS_PER_PAGE - 1) // WORDS_PER_PAGE
    out = np.empty((pages, 4), dtype=np.uint64)
    p1 = np.uint64(0x9E3779B97F4A7C15)
    p2 = np.uint64(0xC2B2AE3D27D4EB4F)
    r = np.uint64(29)
    rl = np.uint64(35)
    for page in range(pages):
        lo = page * WORDS_PER_PAGE
        hi = min(n, lo + WORDS_PER_PAGE)
        a0 = np.uint64(hi - lo)
        a1 = np.uint64(0x165667B19E3779F9)
        a2 = np.uint64(0x27D4EB2F165667C5)
        a3 = np.uint64(0x85EBCA77C2B2AE63)
        i = lo
        while i + 4 <= hi:
            a0 = (a0 ^ words[i]) * p1
            a0 = (a0 << r) | (a0 >> rl)
            a1 = (a1 ^ words[i + 1]) * p2
            a1 = (a1 << r) | (a1 >> rl)
            a2 = (a2 ^ words[i + 2]) * p1
            a2 = (a2 << r) | (a2 >> rl)
            a3 = (a3 ^ words[i + 3]) * p2
            a3 = (a3 << r) | (a3 >> rl)
            i += 4
        while i < hi:
            a0 = (a0 ^ words[i]) * p2
            a0 = (a0 << r) | (a0 >> rl)
            i += 1
        out[page, 0] = a0
        out[page, 1] = a1
        out[page, 2] = a2
        out[page, 3] = a3
    return out


@dataclasses.dataclass
class CapturedBuffer:
    """One out-of-band buffer of a capture: its pages, each either its content (copied,
    or a view of an immutable Arrow buffer) or, unchanged since the last checkpoint, the
    name that checkpoint stored it under."""

    size: int
    pages: list[bytes | bytearray | memoryview | Known]
    fingerprints: np.ndarray | None = None  # of a mutable buffer
    names: list[bytes] | None = None  # filled in once written


@dataclasses.dataclass(frozen=True, slots=True)
class Known:
    name: bytes


ZERO_PAGE = Known(hashlib.sha256(bytes(PAGE_BYTES)).digest())


@functools.cache
def _zero_print() -> np.ndarray:
    zero_print: np.ndarray = page_fingerprints(np.zeros(WORDS_PER_PAGE, dtype=np.uint64))[0]
    return zero_print


def _capture_buffer(raw: memoryview, previous: tuple[int, np.ndarray, list[bytes]] | None,
                    pool: list[bytearray] | None = None) -> CapturedBuffer:
    """`pool`: page buffers to copy into (warm memory: copying into fresh memory costs a
    page fault per 4 KiB, several times the copy itself); the writer gives them back."""
    size = raw.nbytes
    if raw.readonly:  # an Arrow buffer never changes: referenced, hashed by the writer
        return CapturedBuffer(size, [raw[i:i + PAGE_BYTES] for i in range(0, size, PAGE_BYTES)])
    whole = size // 8
    words = np.frombuffer(raw, dtype=np.uint64, count=whole)
    prints = page_fingerprints(words)
    if size % 8:  # the bytes past the last whole word, folded into the last page's print
        tail = int.from_bytes(raw[whole * 8:], "little") | (1 << 63)
        if prints.shape[0] * WORDS_PER_PAGE * 8 < size:  # they start a page of their own
            prints = np.vstack([prints, np.zeros((1, 4), dtype=np.uint64)])
        prints[-1, 0] ^= np.uint64(tail)
    pages: list[bytes | bytearray | memoryview | Known] = []
    same = np.zeros(prints.shape[0], dtype=np.bool_)
    if previous is not None:  # page by page: a grown array keeps its old pages in front
        common = min(previous[1].shape[0], prints.shape[0])
        same[:common] = (previous[1][:common] == prints[:common]).all(axis=1)
    # a full page of zeros (the unused capacity of a grown array) is the one zero page
    zero = (prints == _zero_print()).all(axis=1)
    for index, start in enumerate(range(0, size, PAGE_BYTES)):
        if same[index]:
            pages.append(Known(previous[2][index]))  # type: ignore[index]
        elif zero[index]:
            pages.append(ZERO_PAGE)
        elif pool is not None and start + PAGE_BYTES <= size:
            page = pool.pop() if pool else bytearray(PAGE_BYTES)
            page[:] = raw[start:start + PAGE_BYTES]  # copied: it goes on changing
            pages.append(page)
        else:
            pages.append(bytes(raw[start:start + PAGE_BYTES]))
    return CapturedBuffer(size, pages, prints)


@dataclasses.dataclass
class FlowState:
    """One dataflow's state as of a barrier (captured on the pipeline thread)."""

    oid: int
    name: str
    definition: str  # sha256 of the definition the flow was built from
    labels: list[str]
    payload: bytes
    buffers: list[CapturedBuffer]
    sources: list[dict[str, Any]]
    rows: int | None  # a view's row count

    @property
    def nbytes(self) -> int:
        return len(self.payload) + sum(b.size for b in self.buffers)

    @property
    def copied(self) -> int:
        """Bytes the capture copied (the pages that changed)."""
        return sum(len(p) for b in self.buffers if b.fingerprints is not None
                   for p in b.pages if isinstance(p, (bytes, bytearray)))


def definition_key(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


Fingerprints = dict[tuple[int, int], tuple[int, np.ndarray, list[bytes]]]


def capture_flow(flow: Any, definition: str, previous: Fingerprints | None = None,
                 pool: list[bytearray] | None = None) -> FlowState:
    """Pickle a dataflow's state (pipeline thread, right after a barrier). `previous`:
    per (flow, buffer index), the size, page fingerprints and page names of the last
    written checkpoint, whose unchanged pages are referenced instead of copied."""
    tree = {
        "nodes": [(node.operator, {f: getattr(node, f) for f in NODE_FIELDS})
                  for node in flow.nodes],
        "readers": [reader for reader, _ in flow.readers],
    }
    buffers: list[CapturedBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < INLINE_BYTES:
            return True  # in band
        last = previous.get((flow.oid, len(buffers))) if previous is not None else None
        buffers.append(_capture_buffer(raw, last, pool))
        return False

    out = io.BytesIO()
    pickler = _Pickler(out, protocol=5, buffer_callback=out_of_band)
    pickler.plan_types = _plan_types()
    pickler.dump(tree)
    sources = [{"source": node.source_oid, "positions": list(reader.positions),
                "events_read": reader.events_read, "done": reader.done}
               for reader, node in flow.readers]
    rows = getattr(flow.output, "rows", None)
    return FlowState(flow.oid, flow.name, definition, [n.label for n in flow.nodes],
                     out.getvalue(), buffers, sources, rows if isinstance(rows, int) else None)


def restore_flow(flow: Any, payload: bytes, buffers: list[bytearray], now: float) -> None:
    """Merge a saved state into a freshly planned dataflow (pipeline thread, before the
    flow is installed). Raises RestoreMismatch when the flow's shape differs."""
    tree = _Unpickler(io.BytesIO(payload), buffers=buffers).load()
    nodes = tree["nodes"]
    if len(nodes) != len(flow.nodes) or len(tree["readers"]) != len(flow.readers):
        raise RestoreMismatch("the dataflow has another number of operators or sources")
    for node, (saved, _) in zip(flow.nodes, nodes, strict=True):
        if type(saved) is not type(node.operator):
            raise RestoreMismatch(f"{node.label}: {type(saved).__name__} became "
                                  f"{type(node.operator).__name__}")
    memo: dict[int, bool] = {}
    for node, (saved, fields) in zip(flow.nodes, nodes, strict=True):
        _merge_into(node.operator, saved, memo)
        node.operator.after_restore()
        for name, value in fields.items():
            setattr(node, name, value)
    for (reader, _), saved in zip(flow.readers, tree["readers"], strict=True):
        _merge_into(reader, saved, memo)
        reader.resume(now)


def saved_view_contents(store: CheckpointStore, manifest: Manifest, oid: int,
                        schema: pa.Schema) -> pa.Table:
    """A view's contents as of a checkpoint (what its Materialize operator, the flow's
    last node, had published at that barrier)."""
    payload, buffers = store.read_flow(manifest, oid)
    tree = _Unpickler(io.BytesIO(payload), buffers=buffers).load()
    output = tree["nodes"][-1][0]
    pages = getattr(output, "pages", None)
    if pages is None:
        raise ValueError(f"checkpoint {manifest.epoch} holds no view contents for {oid}")
    return pa.Table.from_batches([b for b in pages if b is not None], schema=schema)


# ------------------------------------------------------------------ manifests


@dataclasses.dataclass
class Manifest:
    epoch: int
    timestamp_ms: int
    log_lsn: int  # the change log's records up to here are in the state
    started_at: float
    duration_ms: float
    capture_ms: float
    bytes_written: int
    pages_written: int
    state_bytes: int
    flows: dict[int, dict[str, Any]]
    catalog_lsn: int = 0  # the catalog version: the change-log LSN of its newest DDL

    def to_json(self) -> bytes:
        body = dataclasses.asdict(self)
        body["format"] = FORMAT
        body["flows"] = {str(k): v for k, v in self.flows.items()}
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        body = json.loads(data)
        if body.pop("format", None) != FORMAT:
            raise ValueError("unknown checkpoint manifest format")
        body["flows"] = {int(k): v for k, v in body["flows"].items()}
        return cls(**body)


@dataclasses.dataclass
class Capture:
    """What the pipeline hands to the checkpoint thread."""

    epoch: int
    timestamp_ms: int
    log_lsn: int
    started_at: float
    capture_ms: float
    flows: list[FlowState]
    waiters: list[Future[Manifest]]
    catalog_lsn: int = 0


@dataclasses.dataclass
class Outcome:
    """One checkpoint of this process, for laminar_catalog.checkpoints."""

    epoch: int
    started_at: float
    duration_ms: float
    bytes_written: int
    state_bytes: int
    status: str  # 'completed' or 'failed'
    capture_ms: float = 0.0
    timestamp_ms: int = 0  # the epoch's laminar_timestamp
    error: str | None = None


def _flow_key(epoch: int, oid: int) -> bytes:
    return _FLOW + f"{epoch:020d}/{oid}".encode()


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


POOL_PAGES = (1 << 30) // PAGE_BYTES  # at most 1 GiB of page buffers kept warm


def give_back(capture: Capture, pool: list[bytearray]) -> None:
    """After `capture` was written (or failed): its page buffers back to the pool."""
    for flow in capture.flows:
        for buffer in flow.buffers:
            for page in buffer.pages:
                if isinstance(page, bytearray) and len(pool) < POOL_PAGES:
                    pool.append(page)
            buffer.pages = []


def written_fingerprints(capture: Capture) -> Fingerprints:
    """After `capture` was written: what the next capture compares its pages with."""
    return {(flow.oid, index): (buffer.size, buffer.fingerprints, buffer.names)
            for flow in capture.flows for index, buffer in enumerate(flow.buffers)
            if buffer.fingerprints is not None and buffer.names is not None}


class CheckpointStore:
    """The checkpoints of one data directory."""

    def __init__(self, directory: Path, retained: int = 3) -> None:
        self.directory = directory
        self.retained = max(1, retained)
        directory.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        # Pages (256 KiB) go to blob files: compaction then moves their keys, not their
        # bytes (random SHA-256 keys would have every page rewritten level after level).
        options.set_enable_blob_files(True)
        options.set_min_blob_size(16 << 10)
        options.set_enable_blob_gc(True)
        self.db = Rdict(str(directory / "state"), options)
        self._nosync = WriteOptions()
        self._nosync.sync = False
        # A checkpoint's writes skip the WAL: a flush makes them durable before the
        # manifest is written (and without a manifest they are garbage anyway).
        self._nowal = WriteOptions()
        self._nowal.sync = False
        # a property at run time; rocksdict's stub declares it a method
        self._nowal.disable_wal = True  # type: ignore[method-assign, assignment]
        self.manifests: list[Manifest] = []
        self.page_refs: dict[bytes, int] = {}
        self._pages_of: dict[int, set[bytes]] = {}
        self._load()

    # ---- opening

    def _manifest_path(self, epoch: int) -> Path:
        return self.directory / f"manifest-{epoch:020d}.json"

    def _load(self) -> None:
        """Read the manifests, keep the complete ones, delete what none of them needs."""
        for stale in self.directory.glob("manifest-*.json.tmp"):
            stale.unlink()
        found = []
        for path in sorted(self.directory.glob("manifest-*.json")):
            try:
                manifest = Manifest.from_json(path.read_bytes())
                pages = self._pages_needed(manifest)
            except Exception as exc:
                log.warning("checkpoint.manifest_unusable", path=str(path), error=str(exc))
                path.unlink()
                continue
            found.append((manifest, pages))
        for manifest, pages in found:
            self.manifests.append(manifest)
            self._pages_of[manifest.epoch] = pages
            for page in pages:
                self.page_refs[page] = self.page_refs.get(page, 0) + 1
        self._collect_garbage()

    def _pages_needed(self, manifest: Manifest) -> set[bytes]:
        pages: set[bytes] = set()
        for oid in manifest.flows:
            raw = self.db.get(_flow_key(manifest.epoch, oid))
            if raw is None:
                raise ValueError(f"flow {oid} of epoch {manifest.epoch} is missing")
            page_lists, _ = pickle.loads(raw)
            for names in page_lists:
                pages.update(names)
        return pages

    def _collect_garbage(self) -> None:
        """Delete flow records and pages that no retained manifest names."""
        live_epochs = {m.epoch for m in self.manifests}
        batch = WriteBatch(raw_mode=True)
        dropped = 0
        it = self.db.iter()
        try:
            it.seek(_FLOW)
            while it.valid():
                key: bytes = it.key()
                if not key.startswith(_FLOW):
                    break
                if int(key[len(_FLOW):len(_FLOW) + 20]) not in live_epochs:
                    batch.delete(key)
                    dropped += 1
                it.next()
            it.seek(_PAGE)
            while it.valid():
                key = it.key()
                if not key.startswith(_PAGE):
                    break
                if key[len(_PAGE):] not in self.page_refs:
                    batch.delete(key)
                    dropped += 1
                it.next()
        finally:
            del it
        if dropped:
            self.db.write(batch, self._nosync)
            self.db.flush_wal(True)
            log.info("checkpoint.garbage_collected", keys=dropped)

    def latest(self) -> Manifest | None:
        return self.manifests[-1] if self.manifests else None

    def at_timestamp(self, stamp: int) -> Manifest | None:
        """The retained checkpoint of the epoch whose laminar_timestamp is `stamp`."""
        return next((m for m in list(self.manifests) if m.timestamp_ms == stamp), None)

    def read_flow(self, manifest: Manifest, oid: int) -> tuple[bytes, list[bytearray]]:
        """A saved flow's payload and its buffers (writable: the restored arrays are
        the operators' live state)."""
        raw = self.db.get(_flow_key(manifest.epoch, oid))
        if raw is None:
            raise ValueError(f"checkpoint {manifest.epoch} has no state for {oid}")
        page_lists, sizes = pickle.loads(raw)
        buffers = []
        for names, size in zip(page_lists, sizes, strict=True):
            buffer = bytearray(size)
            offset = 0
            for name in names:
                page = self.db.get(_PAGE + name)
                if page is None:
                    raise ValueError(f"checkpoint {manifest.epoch}: a state page is missing")
                buffer[offset:offset + len(page)] = page
                offset += len(page)
            if offset != size:
                raise ValueError(f"checkpoint {manifest.epoch}: a state buffer is short")
            buffers.append(buffer)
        return bytes(buffers[0]), buffers[1:]

    # ---- writing (the checkpoint thread)

    def write(self, capture: Capture, wait_log: Callable[[int], None]) -> Manifest:
        started = time.perf_counter()
        written = pages_written = 0
        pages: set[bytes] = set()
        new_pages: list[bytes] = []
        flows: dict[int, dict[str, Any]] = {}
        pending = 0
        try:
            for index, flow in enumerate(capture.flows):
                batch = WriteBatch(raw_mode=True)
                page_lists = []
                sizes = []
                payload = memoryview(flow.payload)
                payload_buffer = CapturedBuffer(len(payload), [
                    payload[i:i + PAGE_BYTES] for i in range(0, len(payload), PAGE_BYTES)])
                for buffer in [payload_buffer, *flow.buffers]:  # the payload is paged too
                    names = []
                    for page in buffer.pages:
                        if isinstance(page, Known):
                            name = page.name
                            if name not in pages and name not in self.page_refs:
                                if page is not ZERO_PAGE:
                                    raise ValueError("an unchanged page is no longer stored")
                                batch.put(_PAGE + name, bytes(PAGE_BYTES))
                                new_pages.append(name)
                                written += PAGE_BYTES
                                pages_written += 1
                        else:
                            name = hashlib.sha256(page).digest()
                            if name not in pages and name not in self.page_refs:
                                batch.put(_PAGE + name, bytes(page))
                                new_pages.append(name)
                                written += len(page)
                                pages_written += 1
                                pending += len(page)
                                if pending >= WRITE_BATCH_BYTES:
                                    # rocksdict holds the GIL while it writes a batch:
                                    # small batches keep the pipeline thread's waits short
                                    self.db.write(batch, self._nowal)
                                    batch = WriteBatch(raw_mode=True)
                                    pending = 0
                        names.append(name)
                        pages.add(name)
                    buffer.names = names
                    page_lists.append(names)
                    sizes.append(buffer.size)
                record = pickle.dumps((page_lists, sizes), protocol=5)
                batch.put(_flow_key(capture.epoch, flow.oid), record)
                written += len(record)
                self.db.write(batch, self._nowal)
                pending = 0
                if index == len(capture.flows) // 2:
                    crashpoint("mid_state_write")
                flows[flow.oid] = {"name": flow.name, "definition": flow.definition,
                                   "labels": flow.labels, "sources": flow.sources,
                                   "rows": flow.rows}
            self.db.flush(True)  # memtables to SST files, synced
            crashpoint("after_state_write")
            wait_log(capture.log_lsn)  # the state reflects commits that must be durable
            manifest = Manifest(
                capture.epoch, capture.timestamp_ms, capture.log_lsn, capture.started_at,
                round((time.perf_counter() - started) * 1000 + capture.capture_ms, 3),
                round(capture.capture_ms, 3), written, pages_written,
                sum(f.nbytes for f in capture.flows), flows, capture.catalog_lsn)
            path = self._manifest_path(capture.epoch)
            temporary = path.with_name(path.name + ".tmp")
            with open(temporary, "wb") as out:
                out.write(manifest.to_json())
                out.flush()
                os.fsync(out.fileno())
            crashpoint("before_manifest_rename")
            os.replace(temporary, path)
            _sync_dir(self.directory)
            crashpoint("after_manifest_rename")
        except BaseException:
            self._forget_pages(new_pages)
            raise
        self.manifests.append(manifest)
        self._pages_of[manifest.epoch] = pages
        for name in pages:
            self.page_refs[name] = self.page_refs.get(name, 0) + 1
        self._prune()
        return manifest

    def _forget_pages(self, names: list[bytes]) -> None:
        """Delete the pages a failed checkpoint wrote that nothing else needs."""
        try:
            batch = WriteBatch(raw_mode=True)
            for name in names:
                if name not in self.page_refs:
                    batch.delete(_PAGE + name)
            self.db.write(batch, self._nosync)
        except Exception:
            log.exception("checkpoint.cleanup_failed")

    def _prune(self) -> None:
        while len(self.manifests) > self.retained:
            old = self.manifests.pop(0)
            self._manifest_path(old.epoch).unlink(missing_ok=True)
            _sync_dir(self.directory)
            batch = WriteBatch(raw_mode=True)
            for oid in old.flows:
                batch.delete(_flow_key(old.epoch, oid))
            self.db.write(batch, self._nosync)
            crashpoint("mid_prune")
            batch = WriteBatch(raw_mode=True)
            for name in self._pages_of.pop(old.epoch, set()):
                count = self.page_refs[name] - 1
                if count:
                    self.page_refs[name] = count
                else:
                    del self.page_refs[name]
                    batch.delete(_PAGE + name)
            self.db.write(batch, self._nosync)

    def close(self) -> None:
        self.db.close()


# ------------------------------------------------------------------ the checkpoint thread


class Checkpointer:
    """Runs checkpoints on a thread of their own, one at a time, and keeps their history.

    The pipeline asks `due(now)` at each barrier; when it is, it captures and `submit`s.
    A checkpoint still being written when the next one is due delays it (the pipeline
    never waits for a write)."""

    HISTORY = 100

    def __init__(self, store: CheckpointStore, interval: float,
                 wait_log: Callable[[int], None]) -> None:
        self.store = store
        self.interval = interval
        self.wait_log = wait_log
        self.requests: list[Future[Manifest]] = []
        # the last written checkpoint's page fingerprints and names, per (flow, buffer):
        # read by the next capture (never while a write is in flight)
        self.fingerprints: Fingerprints = {}
        # page buffers captures copy into, given back after each write (kept warm)
        self.pool: list[bytearray] = []
        self.completed = 0
        self.failed = 0
        self.last: Manifest | None = store.latest()
        self.history: list[Outcome] = [
            Outcome(m.epoch, m.started_at, m.duration_ms, m.bytes_written, m.state_bytes,
                    "completed", m.capture_ms, m.timestamp_ms) for m in store.manifests]
        self._busy = False
        self._next = time.monotonic() + interval
        self._queue: queue.SimpleQueue[Capture | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="laminar-checkpoint",
                                        daemon=True)
        self._thread.start()

    def request(self) -> Future[Manifest]:
        """CHECKPOINT: a checkpoint at the next barrier (after the one in flight)."""
        future: Future[Manifest] = Future()
        self.requests.append(future)
        return future

    def due(self, now: float) -> bool:
        if self._busy:
            return False
        return bool(self.requests) or (self.interval > 0 and now >= self._next)

    def submit(self, capture: Capture) -> None:
        self._busy = True
        self._next = time.monotonic() + self.interval
        self._queue.put(capture)

    def _run(self) -> None:
        while True:
            capture = self._queue.get()
            if capture is None:
                return
            try:
                manifest = self.store.write(capture, self.wait_log)
            except Exception as exc:
                self.fingerprints = {}  # its pages may be gone: the next capture copies all
                self.failed += 1
                self._remember(Outcome(capture.epoch, capture.started_at, 0.0, 0, 0, "failed",
                                       capture.capture_ms, capture.timestamp_ms,
                                       str(exc)))
                log.exception("checkpoint.failed", epoch=capture.epoch)
                for future in capture.waiters:
                    future.set_exception(exc)
            else:
                self.fingerprints = written_fingerprints(capture)
                self.completed += 1
                self.last = manifest
                self._remember(Outcome(manifest.epoch, manifest.started_at,
                                       manifest.duration_ms, manifest.bytes_written,
                                       manifest.state_bytes, "completed",
                                       manifest.capture_ms, manifest.timestamp_ms))
                log.info("checkpoint.completed", epoch=manifest.epoch,
                         ms=manifest.duration_ms, capture_ms=manifest.capture_ms,
                         written=manifest.bytes_written, state=manifest.state_bytes)
                for future in capture.waiters:
                    future.set_result(manifest)
            finally:
                give_back(capture, self.pool)
                self._busy = False

    def _remember(self, outcome: Outcome) -> None:
        self.history = [*self.history[-(self.HISTORY - 1):], outcome]

    def retained_epochs(self) -> set[int]:
        return {m.epoch for m in self.store.manifests}

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
