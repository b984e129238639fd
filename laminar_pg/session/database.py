"""The state every session shares: configuration, the SQL engine, the change log, the
catalog, process ids."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from laminar_pg.catalog.objects import Catalog
from laminar_pg.config import Config
from laminar_pg.engine.checkpoint import Checkpointer, CheckpointStore
from laminar_pg.engine.runtime import Runtime
from laminar_pg.session import engine, tables
from laminar_pg.session.lookup import Lookups
from laminar_pg.session.streaming import Streaming, recover_streaming
from laminar_pg.storage.log import ChangeLog, ChangeOp, DdlOp

log = structlog.get_logger("laminar_pg.database")

PUBLIC_SCHEMA_OID = 2200  # PostgreSQL's OID of the public namespace


class Database:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.started_at = time.time()
        self.duck = engine.open_engine()
        # DuckDB releases the GIL while it runs: queries of several sessions overlap.
        # Threads mostly wait (pg_sleep) or run DuckDB without the GIL; a generous pool
        # keeps a few long queries from queueing everyone else's.
        self.executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="sql")
        self._pids = itertools.count((os.getpid() % 10000) * 100000 + 1)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = ChangeLog(config.data_dir / "log")
        self.catalog = Catalog()
        # One writing transaction at a time: the engine then never refuses a COMMIT for a
        # conflict after its log record is written (see docs/architecture.md, "Tables").
        self.write_lock = asyncio.Lock()
        self.lookups = Lookups()  # primary-key indexes for point lookups (session/lookup.py)
        self.applied_lsn = 0
        self.catalog_lsn = 0  # the LSN of the newest DDL: the catalog's version
        self.created_at: dict[int, float] = {}  # oid -> commit time of its CREATE
        self.streaming = Streaming(Runtime(config.barrier_interval), config.workers)
        if os.environ.get("LAMINAR_PG_CLOCK") == "manual":  # for tests of now() in views
            self.streaming.runtime.manual_clock_ms = int(time.time() * 1000)
        self.checkpoints: CheckpointStore | None = None
        try:
            self.checkpoints = CheckpointStore(config.data_dir / "checkpoints",
                                               config.checkpoints_retained)
            self._recover()
        except BaseException:
            self.streaming.runtime.stop()
            if self.checkpoints is not None:
                self.checkpoints.close()
            self.log.close()
            raise
        # checkpoints start once recovery is complete (a checkpoint of a half-recovered
        # pipeline would name the wrong change-log position)
        self.streaming.runtime.catalog_lsn = lambda: self.catalog_lsn
        self.streaming.runtime.checkpointer = Checkpointer(
            self.checkpoints, config.checkpoint_interval,
            lambda lsn: self.log.wait_durable_sync(lsn))

    def _recover(self) -> None:
        """Rebuild the tables and the catalog from the change log, record by record."""
        started = time.perf_counter()
        duck = engine.new_connection(self.duck)
        self.catalog.apply(PUBLIC_SCHEMA_OID, "schema:public")
        count = rows = 0
        replayer = tables.Replayer(duck, self.catalog)
        duck.execute("BEGIN TRANSACTION")
        try:
            for record in self.log.records():
                ddl = any(isinstance(op, DdlOp) for op in record.ops)
                if ddl:  # DDL in a transaction of its own, as when it ran (DuckDB refuses
                    replayer.flush()  # some DDL after writes to the same table in one)
                    duck.execute("COMMIT")
                    duck.execute("BEGIN TRANSACTION")
                for op in record.ops:
                    self.note_created(op, record.committed_at_ms)
                    replayer.apply(op)
                    if isinstance(op, ChangeOp):
                        rows += op.batch.num_rows
                if ddl:
                    duck.execute("COMMIT")
                    duck.execute("BEGIN TRANSACTION")
                self.applied_lsn = record.lsn
                if ddl:
                    self.catalog_lsn = record.lsn
                count += 1
            replayer.flush()
            duck.execute("COMMIT")
        except Exception:
            try:
                duck.execute("ROLLBACK")
            except Exception:
                pass
            raise
        tables.advance_sequences(duck, self.catalog, replayer.positions)
        self.streaming.runtime.start()
        recover_streaming(self, duck, replayer.streaming_ops)
        duck.close()
        if count:
            log.info("recovered", records=count, rows=rows, lsn=self.applied_lsn,
                     seconds=round(time.perf_counter() - started, 3))

    def note_created(self, op: Any, committed_at_ms: int) -> None:
        """Remember when each object was created (its first DDL record's commit time)."""
        if isinstance(op, DdlOp) and op.oid is not None:
            if op.name is None:
                self.created_at.pop(op.oid, None)
            else:
                self.created_at.setdefault(op.oid, committed_at_ms / 1000)

    def next_process_id(self) -> tuple[int, int]:
        return next(self._pids) & 0x7FFFFFFF, secrets.randbits(31)

    def close(self) -> None:
        runtime = self.streaming.runtime
        runtime.stop()
        if runtime.checkpointer is not None:
            runtime.checkpointer.stop()
        if self.checkpoints is not None:
            self.checkpoints.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.log.close()
        self.duck.close()

    def engine_connection(self) -> Any:
        return engine.new_connection(self.duck)
