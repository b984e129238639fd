"""The tables' durable change log: every transaction commits by becoming durable here.

Layout inside one RocksDB (rocksdict, raw bytes keys and values)::

    meta/format                     b"1" (ASCII) - the on-disk format version
    meta/lsn_hwm                    8-byte big-endian LSN: highest LSN ever resolved
    meta/user/<key>                 put_meta()/get_meta() values
    log/<lsn:8><op:4><chunk:4>      one key per op (or per chunk of a large ChangeOp)

Integers in keys are big-endian so that byte order is LSN order. ``op`` 0 / ``chunk`` 0 is
the record header (commit time, op count); ops are numbered from 1. A record's keys all go
into one WriteBatch, so a record is either entirely present or absent after a crash.

Why the commit is ``write(sync=False)`` followed by ``flush_wal(sync=True)`` rather than one
``write(sync=True)``: rocksdict holds the GIL for the whole of ``Rdict.write`` (fsync
included) but releases it in ``flush_wal``. Writing and then syncing the WAL is RocksDB's
documented equivalent of a synced write, except that the data becomes visible to readers
before the sync; ``records()`` therefore never reads past ``durable_lsn``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import os
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.ipc
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from laminar_pg.crashpoints import crashpoint

__all__ = [
    "FORMAT_VERSION",
    "WEIGHT_COLUMN",
    "ChangeLog",
    "ChangeOp",
    "DdlOp",
    "LogClosedError",
    "LogCorruptionError",
    "LogFormatError",
    "LogRecord",
    "LogWriteError",
    "Op",
]

FORMAT_VERSION = 1
WEIGHT_COLUMN = "_laminar_weight"

_META_FORMAT = b"meta/format"
_META_HWM = b"meta/lsn_hwm"
_META_USER = b"meta/user/"
_LOG_PREFIX = b"log/"
_LOG_END = b"log0"  # the first key after every b"log/..." key ("0" follows "/")
_KEY_LEN = len(_LOG_PREFIX) + 16

_RECORD_HEAD = struct.Struct(">cqI")  # b"R", committed_at_ms, op count
_CHANGE_HEAD = struct.Struct(">cII")  # b"C", chunk count, JSON header length
_KIND_RECORD = b"R"
_KIND_DDL = b"D"
_KIND_CHANGE = b"C"

# A ChangeOp batch is split so that no single RocksDB value gets huge (a 1M-row COPY
# would otherwise be one value of tens of MB, which RocksDB handles poorly).
_CHUNK_ROWS = 65_536
_CHUNK_BYTES = 8 << 20
# The committer stops adding records to one WriteBatch beyond this many bytes, so a flood of
# large COPY commits does not build one enormous batch (a single record may exceed it).
_GROUP_BYTES = 64 << 20


class LogFormatError(Exception):
    """The data directory was written in a format this build cannot read."""


class LogCorruptionError(Exception):
    """Stored log keys do not form well-shaped records (should never happen)."""


class LogWriteError(Exception):
    """Writing or syncing the log failed; the log refuses all further work.

    As with PostgreSQL's PANIC on a failed fsync, whether the failed group reached disk is
    unknown, so continuing could acknowledge commits that are later lost.
    """


class LogClosedError(RuntimeError):
    """The log has been closed (or is closing) and takes no more reservations."""


@dataclass(frozen=True, slots=True)
class DdlOp:
    """A DDL statement to re-run on replay."""

    sql: str
    oid: int | None = None
    name: str | None = None
    position: int | None = None  # a sequence's last value handed out (serial columns)


@dataclass(frozen=True, slots=True)
class ChangeOp:
    """A batch of weighted row changes to one table (last column ``_laminar_weight``)."""

    table: str
    oid: int
    schema_version: int
    batch: pa.RecordBatch


Op = DdlOp | ChangeOp


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One committed transaction."""

    lsn: int
    committed_at_ms: int
    ops: tuple[Op, ...]


def _log_key(lsn: int, op_no: int, chunk: int) -> bytes:
    return (
        _LOG_PREFIX + lsn.to_bytes(8, "big") + op_no.to_bytes(4, "big") + chunk.to_bytes(4, "big")
    )


# ---------------------------------------------------------------------------------- encoding


@dataclass(slots=True)
class _Encoded:
    """A record turned into RocksDB entries, ready for the committer."""

    entries: list[tuple[bytes, bytes]]
    nbytes: int


def _encode_change(op: ChangeOp) -> list[bytes]:
    batch = op.batch
    if not isinstance(batch, pa.RecordBatch):
        raise TypeError(f"ChangeOp.batch must be a pyarrow.RecordBatch, not {type(batch).__name__}")
    schema = batch.schema
    if (
        len(schema) == 0
        or schema.field(len(schema) - 1).name != WEIGHT_COLUMN
        or schema.field(len(schema) - 1).type != pa.int64()
    ):
        raise ValueError(f"ChangeOp.batch must end with an int64 column {WEIGHT_COLUMN!r}")
    header = json.dumps(
        {"table": op.table, "oid": op.oid, "schema_version": op.schema_version},
        separators=(",", ":"),
    ).encode()
    rows = batch.num_rows
    per_chunk = _CHUNK_ROWS
    nbytes = batch.nbytes
    if rows and nbytes > _CHUNK_BYTES:
        per_chunk = min(per_chunk, max(1, rows * _CHUNK_BYTES // nbytes))
    n_chunks = max(1, -(-rows // per_chunk))
    prefix = _CHANGE_HEAD.pack(_KIND_CHANGE, n_chunks, len(header)) + header
    values = []
    for i in range(n_chunks):
        sink = pa.BufferOutputStream()
        sink.write(prefix)
        with pa.ipc.new_stream(sink, schema, options=_IPC_OPTIONS) as writer:
            writer.write_batch(batch.slice(i * per_chunk, per_chunk))
        values.append(sink.getvalue().to_pybytes())
    return values


# zstd-compressed IPC buffers: a 1M-row COPY record shrinks from 52 MB to 12 MB, which
# RocksDB then writes (and fsyncs) 4x faster than it compresses (readers need no option).
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def _encode_ddl(op: DdlOp) -> bytes:
    if not isinstance(op.sql, str):
        raise TypeError("DdlOp.sql must be a str")
    body: dict[str, Any] = {"sql": op.sql, "oid": op.oid, "name": op.name}
    if op.position is not None:
        body["pos"] = op.position
    return _KIND_DDL + json.dumps(body, separators=(",", ":")).encode()


def _encode_record(lsn: int, ops: Sequence[Op], committed_at_ms: int) -> _Encoded:
    entries = [(_log_key(lsn, 0, 0), _RECORD_HEAD.pack(_KIND_RECORD, committed_at_ms, len(ops)))]
    for op_no, op in enumerate(ops, start=1):
        if isinstance(op, ChangeOp):
            for chunk, value in enumerate(_encode_change(op)):
                entries.append((_log_key(lsn, op_no, chunk), value))
        elif isinstance(op, DdlOp):
            entries.append((_log_key(lsn, op_no, 0), _encode_ddl(op)))
        else:
            raise TypeError(f"log ops must be DdlOp or ChangeOp, not {type(op).__name__}")
    return _Encoded(entries, sum(len(k) + len(v) for k, v in entries))


def _decode_op(lsn: int, op_no: int, values: list[bytes]) -> Op:
    kind = values[0][:1]
    if kind == _KIND_DDL:
        if len(values) != 1:
            raise LogCorruptionError(f"LSN {lsn} op {op_no}: DDL op split into chunks")
        body = json.loads(values[0][1:])
        return DdlOp(sql=body["sql"], oid=body["oid"], name=body["name"],
                     position=body.get("pos"))
    if kind != _KIND_CHANGE:
        raise LogCorruptionError(f"LSN {lsn} op {op_no}: unknown op kind {kind!r}")
    batches: list[pa.RecordBatch] = []
    meta: dict[str, Any] = {}
    for value in values:
        _, n_chunks, header_len = _CHANGE_HEAD.unpack_from(value)
        if n_chunks != len(values):
            raise LogCorruptionError(
                f"LSN {lsn} op {op_no}: expected {n_chunks} chunks, found {len(values)}"
            )
        start = _CHANGE_HEAD.size
        meta = json.loads(value[start : start + header_len])
        # Zero-copy: the batch's buffers point into `value`, which the Buffer keeps alive.
        reader = pa.ipc.open_stream(pa.py_buffer(value).slice(start + header_len))
        batches.extend(reader)
    batch = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
    return ChangeOp(
        table=meta["table"], oid=meta["oid"], schema_version=meta["schema_version"], batch=batch
    )


def _decode_record(lsn: int, header: bytes, parts: list[tuple[int, int, bytes]]) -> LogRecord:
    kind, committed_at_ms, n_ops = _RECORD_HEAD.unpack(header)
    if kind != _KIND_RECORD:
        raise LogCorruptionError(f"LSN {lsn}: bad record header")
    ops: list[Op] = []
    for op_no, group in itertools.groupby(parts, key=lambda p: p[0]):
        chunks = list(group)
        if op_no != len(ops) + 1 or [c[1] for c in chunks] != list(range(len(chunks))):
            raise LogCorruptionError(f"LSN {lsn}: op {op_no} out of sequence")
        ops.append(_decode_op(lsn, op_no, [c[2] for c in chunks]))
    if len(ops) != n_ops:
        raise LogCorruptionError(f"LSN {lsn}: header says {n_ops} ops, found {len(ops)}")
    return LogRecord(lsn=lsn, committed_at_ms=committed_at_ms, ops=tuple(ops))


# ---------------------------------------------------------------------------------- the log


def _resolve_future(fut: asyncio.Future[None], error: BaseException | None) -> None:
    """Runs on the waiter's event loop (scheduled with call_soon_threadsafe)."""
    if fut.done():  # the awaiting task was cancelled
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)


class ChangeLog:
    """Durable, LSN-ordered change log with group commit on one committer thread.

    Use: ``lsn = reserve()`` (decides the commit order), then ``submit(lsn, ops)`` (or
    ``submit(lsn, None)`` to give the LSN up), then ``wait_durable[_sync](lsn)``: the
    transaction is committed exactly when that returns. Records become durable in LSN order,
    so an LSN that is reserved but never submitted holds back every later one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        db = Rdict(self._path, options)
        try:
            self._check_format(db)
            last = self._find_last_lsn(db)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._nosync = WriteOptions()
        self._nosync.sync = False

        self._lock = threading.Lock()
        self._work_cv = threading.Condition(self._lock)  # the committer waits here
        self._durable_cv = threading.Condition(self._lock)  # wait_durable_sync waits here
        self._assigned = last  # highest LSN handed out by reserve()
        self._queued = last  # highest LSN taken by the committer (all below resolved)
        self._durable = last  # highest LSN such that every LSN <= it is durable or cancelled
        self._pending: dict[int, _Encoded | None] = {}  # submitted, not yet taken
        self._async_waiters: list[
            tuple[int, int, asyncio.AbstractEventLoop, asyncio.Future[None]]
        ] = []
        self._waiter_seq = itertools.count()
        self._error: BaseException | None = None
        self._closing = False  # no more reserve(); set by close()
        self._closed = False
        self._sync_writes = 0
        self._thread = threading.Thread(
            target=self._committer, name=f"laminar-changelog:{self._path}", daemon=True
        )
        self._thread.start()

    # ---- opening

    def _check_format(self, db: Rdict) -> None:
        raw = db.get(_META_FORMAT)
        if raw is None:
            it = db.iter()
            it.seek_to_first()
            empty = not it.valid()
            del it
            if not empty:
                raise LogFormatError(
                    f"{self._path} holds data but no {_META_FORMAT.decode()} marker; "
                    f"it was not written by laminar_pg (this build reads format {FORMAT_VERSION})"
                )
            db.put(_META_FORMAT, str(FORMAT_VERSION).encode(), self._sync_options())
            return
        try:
            version = int(bytes(raw).decode("ascii"))
        except ValueError:
            raise LogFormatError(
                f"{self._path}: unreadable change-log format version {bytes(raw)!r}; "
                f"this build reads format version {FORMAT_VERSION}"
            ) from None
        if not 1 <= version <= FORMAT_VERSION:
            raise LogFormatError(
                f"{self._path}: change log has format version {version}, but this build of "
                f"laminar_pg reads format version {FORMAT_VERSION} (and older); "
                "use a newer laminar_pg to open this data directory"
            )

    @staticmethod
    def _sync_options() -> WriteOptions:
        options = WriteOptions()
        options.sync = True
        return options

    @staticmethod
    def _find_last_lsn(db: Rdict) -> int:
        last = 0
        hwm = db.get(_META_HWM)
        if hwm is not None:
            last = int.from_bytes(hwm, "big")
        it = db.iter()
        it.seek_for_prev(_LOG_END)
        if it.valid():
            key: bytes = it.key()
            if key.startswith(_LOG_PREFIX) and len(key) == _KEY_LEN:
                last = max(last, int.from_bytes(key[4:12], "big"))
        del it
        return last

    # ---- state

    @property
    def path(self) -> str:
        return self._path

    @property
    def durable_lsn(self) -> int:
        """Every LSN up to this one is durable (or was cancelled); 0 for an empty log."""
        with self._lock:
            return self._durable

    @property
    def assigned_lsn(self) -> int:
        with self._lock:
            return self._assigned

    @property
    def sync_writes(self) -> int:
        """How many group commits (one WriteBatch + one WAL sync each) this log has made."""
        with self._lock:
            return self._sync_writes

    # ---- writing

    def _raise_if_failed(self) -> None:
        """Call with the lock held."""
        if self._error is not None:
            raise LogWriteError(
                f"change log {self._path} is failed: {self._error!r}"
            ) from self._error

    def reserve(self) -> int:
        """Hand out the next LSN; commit order is reservation order."""
        with self._lock:
            self._raise_if_failed()
            if self._closing:
                raise LogClosedError(f"change log {self._path} is closed")
            self._assigned += 1
            return self._assigned

    def _check_submittable(self, lsn: int) -> None:
        """Call with the lock held."""
        self._raise_if_failed()
        if not self._queued < lsn <= self._assigned or lsn in self._pending:
            if self._closed or (self._closing and lsn <= self._queued):
                raise LogClosedError(f"change log {self._path} is closed (LSN {lsn} was dropped)")
            raise ValueError(f"LSN {lsn} is not an outstanding reservation")

    def submit(
        self, lsn: int, ops: Sequence[Op] | None, committed_at_ms: int | None = None
    ) -> None:
        """Give the committer the record for a reserved LSN; ``ops=None`` cancels it.

        Encoding happens here, on the caller's thread, so a bad op fails this transaction
        (its reservation is then cancelled automatically) instead of the shared committer.
        """
        with self._lock:
            self._check_submittable(lsn)
        encoded: _Encoded | None = None
        if ops is not None:
            if committed_at_ms is None:
                committed_at_ms = time.time_ns() // 1_000_000
            try:
                encoded = _encode_record(lsn, ops, committed_at_ms)
            except BaseException:
                self._resolve(lsn, None, quiet=True)
                raise
        self._resolve(lsn, encoded, quiet=False)

    def _resolve(self, lsn: int, encoded: _Encoded | None, *, quiet: bool) -> None:
        with self._lock:
            try:
                self._check_submittable(lsn)
            except Exception:
                if quiet:
                    return
                raise
            self._pending[lsn] = encoded
            if lsn == self._queued + 1:
                self._work_cv.notify()

    def _take_group(self) -> list[tuple[int, _Encoded | None]]:
        """Call with the lock held: the contiguous run of submitted LSNs after _queued."""
        group: list[tuple[int, _Encoded | None]] = []
        size = 0
        lsn = self._queued + 1
        while lsn in self._pending and (not group or size < _GROUP_BYTES):
            item = self._pending.pop(lsn)
            group.append((lsn, item))
            if item is not None:
                size += item.nbytes
            lsn += 1
        if group:
            self._queued = group[-1][0]
        return group

    def _committer(self) -> None:
        while True:
            with self._lock:
                while True:
                    if self._error is not None:
                        return
                    group = self._take_group()
                    if group:
                        break
                    if self._closing and self._queued == self._assigned:
                        return
                    self._work_cv.wait()
            last = group[-1][0]
            try:
                batch = WriteBatch(raw_mode=True)
                for _, item in group:
                    if item is not None:
                        for key, value in item.entries:
                            batch.put(key, value)
                # The high-water mark makes cancelled and truncated LSNs never be reused.
                batch.put(_META_HWM, last.to_bytes(8, "big"))
                self._db.write(batch, self._nosync)
                crashpoint("mid_changelog_batch")
                self._db.flush_wal(True)  # fsync, with the GIL released
            except BaseException as exc:
                self._fail(exc)
                return
            self._advance(last)

    def _advance(self, lsn: int) -> None:
        ready: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        with self._lock:
            self._durable = lsn
            self._sync_writes += 1
            self._durable_cv.notify_all()
            waiters = self._async_waiters
            while waiters and waiters[0][0] <= lsn:
                _, _, loop, fut = heapq.heappop(waiters)
                ready.append((loop, fut))
        for loop, fut in ready:
            self._wake(loop, fut, None)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._error = exc
            waiters, self._async_waiters = self._async_waiters, []
            self._pending.clear()
            self._durable_cv.notify_all()
        for _, _, loop, fut in waiters:
            error = LogWriteError(f"change log {self._path} write failed: {exc!r}")
            error.__cause__ = exc
            self._wake(loop, fut, error)

    @staticmethod
    def _wake(
        loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None], error: BaseException | None
    ) -> None:
        try:
            loop.call_soon_threadsafe(_resolve_future, fut, error)
        except RuntimeError:  # that event loop is closed; nobody is waiting any more
            pass

    # ---- waiting

    def _check_waitable(self, lsn: int) -> bool:
        """Call with the lock held: True when already durable, raises when it never will be."""
        if lsn <= self._durable:
            return True
        self._raise_if_failed()
        if lsn > self._assigned:
            raise ValueError(f"LSN {lsn} was never reserved (highest is {self._assigned})")
        if self._closed:
            raise LogClosedError(f"change log {self._path} closed before LSN {lsn} was durable")
        return False

    def wait_durable_sync(self, lsn: int, timeout: float | None = None) -> None:
        """Block until ``lsn`` is durable (or cancelled with everything before it durable).

        Raises TimeoutError after ``timeout`` seconds, LogWriteError if the log failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._check_waitable(lsn):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"LSN {lsn} not durable after {timeout} s (durable: {self._durable})"
                    )
                self._durable_cv.wait(remaining)

    async def wait_durable(self, lsn: int) -> None:
        """``wait_durable_sync`` for asyncio: the committer resolves a future on this loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._check_waitable(lsn):
                return
            fut: asyncio.Future[None] = loop.create_future()
            heapq.heappush(self._async_waiters, (lsn, next(self._waiter_seq), loop, fut))
        await fut

    # ---- reading and maintenance

    def _open_db(self) -> Rdict:
        if self._closed:
            raise LogClosedError(f"change log {self._path} is closed")
        return self._db

    def records(self, start_lsn: int = 1, end_lsn: int | None = None) -> Iterator[LogRecord]:
        """Durable records with ``start_lsn <= lsn <= end_lsn``, in LSN order.

        Reads a consistent snapshot taken at the first ``next()``; finish or close the
        iterator before closing the log (an open RocksDB iterator keeps the database open).
        """
        with self._lock:
            db = self._open_db()
            limit = self._durable
        if end_lsn is not None:
            limit = min(limit, end_lsn)
        start = max(start_lsn, 1)
        if start > limit:
            return
        it = db.iter()
        try:
            it.seek(_log_key(start, 0, 0))
            lsn = 0
            header: bytes | None = None
            parts: list[tuple[int, int, bytes]] = []
            while it.valid():
                key: bytes = it.key()
                if len(key) != _KEY_LEN or not key.startswith(_LOG_PREFIX):
                    break
                key_lsn = int.from_bytes(key[4:12], "big")
                if key_lsn > limit:
                    break
                op_no = int.from_bytes(key[12:16], "big")
                if op_no == 0:
                    if header is not None:
                        yield _decode_record(lsn, header, parts)
                    lsn, header, parts = key_lsn, it.value(), []
                elif key_lsn != lsn or header is None:
                    raise LogCorruptionError(f"LSN {key_lsn}: op keys without a record header")
                else:
                    parts.append((op_no, int.from_bytes(key[16:20], "big"), it.value()))
                it.next()
            if header is not None:
                yield _decode_record(lsn, header, parts)
        finally:
            del it

    def truncate_below(self, lsn: int) -> int:
        """Delete durable records with LSN < ``lsn``; returns how many were deleted."""
        with self._lock:
            db = self._open_db()
            bound = min(lsn, self._durable + 1)
        if bound <= 1:
            return 0
        count = 0
        it = db.iter()
        try:
            it.seek(_LOG_PREFIX)
            while it.valid():
                key: bytes = it.key()
                if len(key) != _KEY_LEN or not key.startswith(_LOG_PREFIX):
                    break
                key_lsn = int.from_bytes(key[4:12], "big")
                if key_lsn >= bound:
                    break
                count += 1
                it.seek(_log_key(key_lsn + 1, 0, 0))  # skip this record's op keys
        finally:
            del it
        if count:
            batch = WriteBatch(raw_mode=True)
            batch.delete_range(_LOG_PREFIX, _log_key(bound, 0, 0))
            self._durable_write(db, batch)
        return count

    def _durable_write(self, db: Rdict, batch: WriteBatch) -> None:
        db.write(batch, self._nosync)
        db.flush_wal(True)

    def put_meta(self, key: str, value: bytes) -> None:
        """Durably store a small value (synced before returning)."""
        if not isinstance(value, bytes):
            raise TypeError("meta values must be bytes")
        with self._lock:
            db = self._open_db()
        batch = WriteBatch(raw_mode=True)
        batch.put(_META_USER + key.encode(), value)
        self._durable_write(db, batch)

    def get_meta(self, key: str) -> bytes | None:
        with self._lock:
            db = self._open_db()
        value = db.get(_META_USER + key.encode())
        return None if value is None else bytes(value)

    # ---- closing

    def close(self, timeout: float = 10.0) -> None:
        """Make every submitted record durable, stop the committer and close the database.

        Reservations still unsubmitted after ``timeout`` seconds are cancelled (their
        late ``submit`` raises LogClosedError). Idempotent; does not raise a stored write
        error (its waiters have already been told).
        """
        with self._lock:
            if self._closed:
                return
            self._closing = True
            self._work_cv.notify()
            deadline = time.monotonic() + timeout
            while self._error is None and self._queued < self._assigned:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    for lsn in range(self._queued + 1, self._assigned + 1):
                        self._pending.setdefault(lsn, None)
                    self._work_cv.notify()
                    break
                self._durable_cv.wait(remaining)
        self._thread.join()
        with self._lock:
            self._closed = True
            self._durable_cv.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        for _, _, loop, fut in waiters:  # only cancelled LSNs' waiters can be left
            self._wake(loop, fut, LogClosedError(f"change log {self._path} is closed"))
        self._db.close()

    def __enter__(self) -> ChangeLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
