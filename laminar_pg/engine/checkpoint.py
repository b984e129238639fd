"""Checkpoints: operator state in RocksDB, one atomic manifest per checkpointed epoch.

Strategy (DESIGN.md "Semantics", docs/architecture.md "Checkpoints and recovery"); the
capture on the pipeline thread and the restore are in engine/checkpoint_capture.py:

- Write, on the checkpoint thread: a capture's pages (and its payload, paged the same
  way) are named by their SHA-256 and stored in a RocksDB (blob files: compaction moves
  keys, not 256 KiB values). A page any retained checkpoint stored is not written again.
  Then the flow records (page names); the writes skip the WAL and a flush makes them
  durable; then a wait until the change log is durable up to the LSN the state reflects,
  and the manifest: a JSON file written to a temporary name, synced, renamed, directory
  synced. A checkpoint is complete exactly when its manifest exists; recovery never
  reads state that no manifest names.
- Prune: beyond `retained` manifests the oldest is deleted first, then its flow records
  and the pages no retained manifest needs (reference counts by page). At start, pages
  and records that no manifest names (a checkpoint cut short) are deleted too, so the
  directory does not grow without bound.

Layout of `<data dir>/checkpoints/`: `state/` (a RocksDB: `page/<sha256>` -> bytes,
`flow/<epoch:20>/<oid>` -> the page names of its payload and of each buffer) and
`manifest-<epoch:20>.json`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pyarrow as pa
import structlog
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from laminar_pg.crashpoints import crashpoint
from laminar_pg.engine.checkpoint_capture import (
    PAGE_BYTES,
    ZERO_PAGE,
    CapturedBuffer,
    Fingerprints,
    FlowState,
    Known,
    RestoreMismatch,
    capture_flow,
    definition_key,
    load_tree,
    restore_flow,
)

__all__ = ["PAGE_BYTES", "ZERO_PAGE", "Capture", "CapturedBuffer", "CheckpointStore",
           "Checkpointer", "Fingerprints", "FlowState", "Manifest", "RestoreMismatch",
           "capture_flow", "definition_key", "give_back", "restore_flow",
           "saved_view_contents", "written_fingerprints"]

log = structlog.get_logger("laminar_pg.checkpoint")

FORMAT = 1
WRITE_BATCH_BYTES = 4 << 20
_PAGE = b"page/"
_FLOW = b"flow/"


def saved_view_contents(store: CheckpointStore, manifest: Manifest, oid: int,
                        schema: pa.Schema) -> pa.Table:
    """A view's contents as of a checkpoint (what its Materialize operator, the flow's
    last node, had published at that barrier)."""
    payload, buffers = store.read_flow(manifest, oid)
    tree = load_tree(payload, buffers)
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
