"""Tests of the durable change log: encoding, ordering, group commit, failures, crashes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from rocksdict import Options, Rdict

from laminar_pg.storage.log import (
    FORMAT_VERSION,
    WEIGHT_COLUMN,
    ChangeLog,
    ChangeOp,
    DdlOp,
    LogClosedError,
    LogFormatError,
    LogRecord,
    LogWriteError,
    Op,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def weighted(columns: dict[str, pa.Array], weights: list[int] | pa.Array) -> pa.RecordBatch:
    """A change batch: the given columns plus the trailing weight column."""
    return pa.record_batch({**columns, WEIGHT_COLUMN: pa.array(weights, pa.int64())})


def all_types_batch() -> pa.RecordBatch:
    return weighted(
        {
            "i32": pa.array([1, None, -3], pa.int32()),
            "i64": pa.array([2**40, None, -(2**62)], pa.int64()),
            "f64": pa.array([1.5, None, float("inf")], pa.float64()),
            "s": pa.array(["a", None, "ünïcode ✓"], pa.string()),
            "b": pa.array([True, None, False], pa.bool_()),
            "d": pa.array([Decimal("12345678.90"), None, Decimal("-0.01")], pa.decimal128(10, 2)),
            "dt": pa.array([date(2024, 2, 29), None, date(1970, 1, 1)], pa.date32()),
            "ts": pa.array(
                [datetime(2024, 1, 2, 3, 4, 5, 678901), None, datetime(1999, 12, 31)],
                pa.timestamp("us"),
            ),
            "tstz": pa.array(
                [datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None, None],
                pa.timestamp("us", tz="UTC"),
            ),
        },
        [1, -1, 3],
    )


def big_batch(rows: int) -> pa.RecordBatch:
    ids = pa.array(range(rows), pa.int64())
    return weighted(
        {
            "id": ids,
            "x": pc.multiply(pc.cast(ids, pa.float64()), 0.5),
            "s": pc.cast(ids, pa.string()),
        },
        pc.if_else(pc.equal(pc.bit_wise_and(ids, 1), 0), 1, -1).cast(pa.int64()),
    )


def one_row(value: int) -> ChangeOp:
    return ChangeOp("public.t", 16384, 1, weighted({"v": pa.array([value], pa.int64())}, [1]))


def commit(log: ChangeLog, ops: list[Op], committed_at_ms: int | None = None) -> int:
    lsn = log.reserve()
    log.submit(lsn, ops, committed_at_ms)
    log.wait_durable_sync(lsn, timeout=10)
    return lsn


def lsns(records: list[LogRecord]) -> list[int]:
    return [r.lsn for r in records]


def assert_ops_equal(got: tuple[Op, ...], want: list[Op]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if isinstance(w, ChangeOp):
            assert isinstance(g, ChangeOp)
            assert (g.table, g.oid, g.schema_version) == (w.table, w.oid, w.schema_version)
            assert g.batch.schema == w.batch.schema
            assert g.batch.equals(w.batch)
        else:
            assert g == w


def test_round_trip_all_types_and_ranges(tmp_path: Path) -> None:
    typed = all_types_batch()
    big = big_batch(200_000)
    empty = weighted({"v": pa.array([], pa.int64())}, [])
    written: dict[int, list[Op]] = {}
    with ChangeLog(tmp_path / "log") as log:
        assert (log.durable_lsn, log.assigned_lsn) == (0, 0)
        records: list[list[Op]] = [
            [DdlOp("CREATE TABLE public.t (i32 INTEGER)", oid=16384, name="public.t")],
            [ChangeOp("public.t", 16384, 1, typed), DdlOp("ALTER TABLE public.t ADD c INT")],
            [ChangeOp("public.big", 16390, 3, big)],
            [],
            [ChangeOp("public.e", 16400, 1, empty), DdlOp("DROP TABLE x")],
        ]
        for i, ops in enumerate(records):
            written[commit(log, ops, committed_at_ms=1_700_000_000_000 + i)] = ops
        assert log.durable_lsn == log.assigned_lsn == 5

        got = list(log.records())
        assert lsns(got) == [1, 2, 3, 4, 5]
        for i, record in enumerate(got):
            assert record.committed_at_ms == 1_700_000_000_000 + i
            assert_ops_equal(record.ops, written[record.lsn])

        # The 200k-row batch is stored as several keys, yet comes back as one op.
        it = log._db.iter()
        it.seek(b"log/" + (3).to_bytes(8, "big"))
        keys = 0
        while it.valid() and it.key()[4:12] == (3).to_bytes(8, "big"):
            keys += 1
            it.next()
        del it
        assert keys > 2

        assert lsns(list(log.records(start_lsn=3))) == [3, 4, 5]
        assert lsns(list(log.records(end_lsn=2))) == [1, 2]
        assert lsns(list(log.records(2, 4))) == [2, 3, 4]
        assert lsns(list(log.records(4, 4))) == [4]
        assert list(log.records(5, 4)) == []
        assert list(log.records(6)) == []


def test_reopen_continues_lsns_and_keeps_records_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with ChangeLog(path) as log:
        for i in range(3):
            commit(log, [one_row(i)])
        log.put_meta("next_oid", b"16500")
        log.put_meta("format", b"not the format marker")
        assert log.get_meta("missing") is None
    with ChangeLog(path) as log:
        assert (log.durable_lsn, log.assigned_lsn) == (3, 3)
        assert log.reserve() == 4
        log.submit(4, [one_row(3)])
        log.wait_durable_sync(4, timeout=10)
        values = [r.ops[0].batch.column(0)[0].as_py() for r in log.records()]  # type: ignore[union-attr]
        assert values == [0, 1, 2, 3]
        assert log.get_meta("next_oid") == b"16500"
        assert log.get_meta("format") == b"not the format marker"


def test_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log"
    ChangeLog(path).close()
    db = Rdict(str(path), Options(raw_mode=True))
    db.put(b"meta/format", b"99")
    db.close()
    for _ in range(2):  # a refused open must release the database lock
        with pytest.raises(
            LogFormatError, match=rf"format version 99.*reads format version {FORMAT_VERSION}"
        ):
            ChangeLog(path)

    db = Rdict(str(path), Options(raw_mode=True))
    db.put(b"meta/format", b"garbage")
    db.close()
    with pytest.raises(LogFormatError, match="unreadable"):
        ChangeLog(path)


def test_group_commit_shares_syncs(tmp_path: Path) -> None:
    threads, per_thread = 8, 50
    committed: list[list[int]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)
    with ChangeLog(tmp_path / "log") as log:

        def worker(n: int) -> None:
            start.wait()
            for i in range(per_thread):
                lsn = log.reserve()
                log.submit(lsn, [one_row(n * 1000 + i)])
                log.wait_durable_sync(lsn, timeout=30)
                assert log.durable_lsn >= lsn
                committed[n].append(lsn)

        workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        total = threads * per_thread
        assert sorted(x for c in committed for x in c) == list(range(1, total + 1))
        records = list(log.records())
        assert lsns(records) == list(range(1, total + 1))
        values = {r.ops[0].batch.column(0)[0].as_py() for r in records}  # type: ignore[union-attr]
        assert values == {n * 1000 + i for n in range(threads) for i in range(per_thread)}
        assert 0 < log.sync_writes < total


def test_cancelled_reservation_leaves_gap(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with ChangeLog(path) as log:
        a, b = log.reserve(), log.reserve()
        log.submit(b, [one_row(2)])
        log.submit(a, None)
        log.wait_durable_sync(b, timeout=10)
        log.wait_durable_sync(a, timeout=10)  # cancelled: returns once its predecessors are
        assert lsns(list(log.records())) == [b]

        # A bad op fails that submit and gives its LSN up instead of blocking later ones.
        c = log.reserve()
        with pytest.raises(ValueError, match=WEIGHT_COLUMN):
            log.submit(c, [ChangeOp("public.t", 1, 1, pa.record_batch({"v": [1]}))])
        with pytest.raises(ValueError, match="not an outstanding reservation"):
            log.submit(c, None)
        d = commit(log, [one_row(4)])
        assert lsns(list(log.records())) == [b, d]

        tail = log.reserve()  # cancelled at the tail: its LSN must never be reused
        log.submit(tail, None)
        log.wait_durable_sync(tail, timeout=10)
        assert log.durable_lsn == tail
    with ChangeLog(path) as log:
        assert log.reserve() == tail + 1
        log.submit(tail + 1, None)


def test_later_lsn_waits_for_earlier_reservation(tmp_path: Path) -> None:
    with ChangeLog(tmp_path / "log") as log:
        a, b = log.reserve(), log.reserve()
        log.submit(b, [one_row(2)])
        with pytest.raises(TimeoutError):
            log.wait_durable_sync(b, timeout=0.2)
        assert log.durable_lsn < a
        assert list(log.records()) == []
        log.submit(a, [one_row(1)])
        log.wait_durable_sync(b, timeout=10)
        assert lsns(list(log.records())) == [a, b]
        with pytest.raises(ValueError, match="never reserved"):
            log.wait_durable_sync(b + 1)
        with pytest.raises(ValueError, match="not an outstanding reservation"):
            log.submit(b, [one_row(3)])


def test_wait_durable_from_event_loop(tmp_path: Path) -> None:
    with ChangeLog(tmp_path / "log") as log:

        async def commit_async(i: int) -> int:
            lsn = log.reserve()
            log.submit(lsn, [DdlOp(f"CREATE TABLE t{i} (a INTEGER)", oid=20000 + i)])
            await log.wait_durable(lsn)
            assert log.durable_lsn >= lsn
            return lsn

        async def main() -> None:
            done = await asyncio.gather(*(commit_async(i) for i in range(20)))
            assert sorted(done) == list(range(1, 21))

            held = log.reserve()  # nothing after it can become durable while it is held
            later = log.reserve()
            log.submit(later, [one_row(1)])
            waiter = asyncio.create_task(log.wait_durable(later))
            ticks = 0
            for _ in range(10):  # the loop keeps running while the waiter waits
                await asyncio.sleep(0.005)
                ticks += 1
            assert ticks == 10 and not waiter.done()
            log.submit(held, [one_row(0)])
            await asyncio.wait_for(waiter, 10)
            await log.wait_durable(held)  # already durable: returns at once

        asyncio.run(main())
        assert lsns(list(log.records())) == list(range(1, 23))


def test_truncate_below(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with ChangeLog(path) as log:
        for i in range(5):
            commit(log, [one_row(i), ChangeOp("public.big", 2, 1, big_batch(70_000))])
        assert log.truncate_below(3) == 2
        assert lsns(list(log.records())) == [3, 4, 5]
        assert log.truncate_below(3) == 0
        pending = log.reserve()  # not yet durable: never truncated
        assert log.truncate_below(100) == 3
        assert list(log.records()) == []
        log.submit(pending, [one_row(6)])
        log.wait_durable_sync(pending, timeout=10)
        assert lsns(list(log.records())) == [pending]
        assert log.truncate_below(pending + 1) == 1
    with ChangeLog(path) as log:  # everything truncated: LSNs still continue
        assert log.durable_lsn == pending
        assert log.reserve() == pending + 1
        log.submit(pending + 1, None)


def test_close_drains_and_cancels_abandoned_reservations(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = ChangeLog(path)
    abandoned = log.reserve()
    after = log.reserve()
    log.submit(after, [one_row(2)])
    log.close(timeout=0.2)  # waits for `abandoned`, then gives it up and writes `after`
    with pytest.raises(LogClosedError):
        log.submit(abandoned, [one_row(1)])
    with pytest.raises(LogClosedError):
        log.reserve()
    with pytest.raises(LogClosedError):
        list(log.records())
    with ChangeLog(path) as log:
        assert lsns(list(log.records())) == [after]


class FailingDb:
    """Wraps the real Rdict; every write raises, as a failing disk would."""

    def __init__(self, real: Rdict) -> None:
        self._real = real

    def write(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("simulated fsync failure")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_write_failure_stops_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = ChangeLog(tmp_path / "log")
    try:
        ok = commit(log, [one_row(1)])
        monkeypatch.setattr(log, "_db", FailingDb(log._db))

        async def main() -> None:
            first, second = log.reserve(), log.reserve()
            async_waiter = asyncio.create_task(log.wait_durable(second))
            await asyncio.sleep(0.01)
            sync_errors: list[BaseException] = []

            def wait_in_thread() -> None:
                try:
                    log.wait_durable_sync(first, timeout=10)
                except BaseException as exc:
                    sync_errors.append(exc)

            thread = threading.Thread(target=wait_in_thread)
            thread.start()
            log.submit(second, [one_row(3)])
            log.submit(first, [one_row(2)])
            with pytest.raises(LogWriteError, match="simulated fsync failure"):
                await asyncio.wait_for(async_waiter, 10)
            thread.join()
            assert len(sync_errors) == 1 and isinstance(sync_errors[0], LogWriteError)

        asyncio.run(main())
        with pytest.raises(LogWriteError):
            log.wait_durable_sync(log.assigned_lsn)
        with pytest.raises(LogWriteError):
            log.reserve()
        log.wait_durable_sync(ok)  # what was durable before the failure stays durable
        assert log.durable_lsn == ok
    finally:
        monkeypatch.undo()
        log.close()
        log.close()  # idempotent


_CRASHING_WRITER = """
import os, sys
import pyarrow as pa
from laminar_pg.storage.log import ChangeLog, ChangeOp, DdlOp
log = ChangeLog(sys.argv[1])
for i in range(25):
    lsn = log.reserve()
    batch = pa.record_batch({"v": pa.array([i] * 1000, pa.int64()),
                             "_laminar_weight": pa.array([1] * 1000, pa.int64())})
    log.submit(lsn, [DdlOp(f"-- {i}"), ChangeOp("public.t", 1, 1, batch)])
    log.wait_durable_sync(lsn)
    print(lsn, flush=True)
for i in range(5):  # submitted but never waited for: may or may not survive
    log.submit(log.reserve(), [DdlOp("-- unacknowledged")])
os._exit(0)
"""


def test_durable_across_hard_kill(tmp_path: Path) -> None:
    path = tmp_path / "log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    acknowledged = [int(line) for line in proc.stdout.split()]
    assert acknowledged == list(range(1, 26))
    with ChangeLog(path) as log:
        assert log.durable_lsn >= 25
        records = list(log.records(end_lsn=25))
        assert lsns(records) == acknowledged
        for i, record in enumerate(records):
            ddl, change = record.ops
            assert ddl == DdlOp(f"-- {i}")
            assert isinstance(change, ChangeOp)
            assert change.batch.column(0).to_pylist() == [i] * 1000
        nxt = log.reserve()
        assert nxt == log.durable_lsn + 1
        log.submit(nxt, None)
