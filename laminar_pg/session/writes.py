"""A session's write transaction: the writer lock, the engine transaction, the commit.

Commit protocol (docs/architecture.md, "Tables"). One transaction writes at a time: it
takes the database's writer lock at its first write and keeps it to its end, so the
engine (DuckDB, optimistic concurrency) can never refuse its COMMIT for a conflict once
its log record exists. At COMMIT: reserve the next LSN, COMMIT in the engine, hand the
record to the log's group committer, release the lock, then wait until the record is
durable before the client hears "COMMIT". The next writer runs while the fsync is in
flight, so concurrent writers share fsyncs. A reader that might see a commit whose record
is not yet durable waits for it (`wait_visible_durable`), so no client ever sees data that
a crash could take back.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import pyarrow as pa
import structlog
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.errors import SqlError
from laminar_pg.session import engine, tables
from laminar_pg.session.query import plan_query, prepare_tree
from laminar_pg.sql import ast
from laminar_pg.sql.literal_insert import LiteralRows
from laminar_pg.sql.script import parse_one_statement
from laminar_pg.storage.log import ChangeOp, DdlOp
from laminar_pg.wire.session import Column, CommandResult, Result, RowsResult

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession


WRITE_TYPES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter,
               exp.TruncateTable)


class Writes:
    def __init__(self, session: PgSession) -> None:
        self.session = session
        self.db = session.db
        self.state: tables.WriteState | None = None
        self._rewritten: dict[tuple[int, tuple[int, ...]], tuple[exp.Expr, exp.Expr]] = {}

    @property
    def active(self) -> bool:
        return self.state is not None

    async def begin(self) -> tables.WriteState:
        if self.state is not None:
            return self.state
        await self._acquire()
        try:
            duck = self.session._take_engine()
            self.session._prepare_engine(duck)
        except BaseException:
            self.db.write_lock.release()
            raise
        self.state = tables.WriteState(duck, self.db.catalog.copy(), self.session.search_path())
        return self.state

    async def call(self, fn: Any, *args: Any) -> Any:
        """Run a tables.* function in a worker thread, inside the engine transaction."""
        state = self.state
        assert state is not None
        return await self.session._in_thread(_in_transaction, state, fn, *args)

    async def _acquire(self) -> None:
        """The writer lock; a cancel request or statement_timeout ends the wait."""
        lock = self.db.write_lock
        if not lock.locked():
            await lock.acquire()
            return
        waiter = asyncio.ensure_future(lock.acquire())
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=0.05)
                if done:
                    waiter.result()
                    return
                if self.session.cancel_event.is_set():
                    raise self.session._engine_error(RuntimeError("canceled"))
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                lock.release()
            else:
                waiter.cancel()
            raise

    async def finish(self, commit: bool) -> None:
        """End the write transaction: commit (durably) or roll back."""
        state = self.state
        if state is None:
            return
        self.state = None
        log = self.db.log
        lsn = 0
        try:
            if not state.begun:
                pass  # nothing reached the engine
            elif commit and state.ops:
                if any(o.kind == "sequence" for o in state.catalog.objects.values()):
                    await self.session._in_thread(tables.record_sequence_positions, state)
                lsn = log.reserve()
                try:
                    await self.session._in_thread(state.duck.execute, "COMMIT")
                except Exception as exc:
                    log.submit(lsn, None)
                    lsn = 0
                    await self._rollback_quietly(state)
                    raise tables.translate_write_error(exc) from None
                stamp = int(time.time() * 1000)
                try:
                    if sum(op.batch.num_rows for op in state.ops
                           if isinstance(op, ChangeOp)) > 50_000:
                        # encoding a large record takes milliseconds: not on the event loop
                        await self.session._in_thread(log.submit, lsn, state.ops, stamp)
                    else:
                        log.submit(lsn, state.ops, stamp)
                except Exception as exc:
                    _panic(exc)
                self.db.lookups.apply_commit(state.ops)  # still under the writer lock
                self.db.streaming.feed_commit(state.ops, lsn)  # in commit order, to the views
                if state.catalog_changed:
                    self.db.catalog = state.catalog
                if any(isinstance(op, DdlOp) for op in state.ops):
                    self.db.catalog_lsn = lsn
                    for op in state.ops:
                        self.db.note_created(op, stamp)
            elif commit:
                await self.session._in_thread(state.duck.execute, "COMMIT")
            else:
                await self._rollback_quietly(state)
        finally:
            if not state.catalog_changed:  # keep what the transaction learned of the tables
                self.db.catalog.shapes.update(state.catalog.shapes)
            self.session._return_engine(state.duck)
            self.db.write_lock.release()
        if lsn:
            try:
                await log.wait_durable(lsn)
            except Exception as exc:
                _panic(exc)
            self.db.applied_lsn = max(self.db.applied_lsn, lsn)
            await self.db.streaming.wait_for_room()

    async def _rollback_quietly(self, state: tables.WriteState) -> None:
        try:
            await self.session._in_thread(state.duck.execute, "ROLLBACK")
        except Exception:
            pass  # the engine had already ended it (a failed statement)

    async def wait_visible_durable(self) -> None:
        """Before a reader's result goes out: every commit it could have seen is durable."""
        log = self.db.log
        target = log.assigned_lsn
        if target > log.durable_lsn:
            await log.wait_durable(target)

    # ------------------------------------------------------------------ statements

    async def run(self, tree: exp.Expr, params: Sequence[Any],
                  param_oids: Sequence[int] = ()) -> Result:
        session = self.session
        if isinstance(tree, exp.Create):
            kind = str(tree.args.get("kind") or "").upper()
            if kind not in ("TABLE", "SCHEMA", "INDEX"):
                raise errcodes.FeatureNotSupported(f"CREATE {kind} is not supported yet")
            query_sql = None
            if kind == "TABLE" and tree.expression is not None:
                query_sql = session._plan(tree.expression, ()).sql
            state = await self.begin()
            if kind == "TABLE":
                result = await self.call(
                    tables.create_table, state, tree, query_sql, list(params))
            elif kind == "SCHEMA":
                result = await self.call(tables.create_schema, state, tree)
            else:
                result = await self.call(tables.create_index, state, tree)
            return self._command(result)
        if isinstance(tree, exp.Drop):
            state = await self.begin()
            return self._command(await self.call(tables.drop, state, tree))
        if isinstance(tree, exp.Alter):
            if str(tree.args.get("kind") or "").upper() != "TABLE":
                raise errcodes.FeatureNotSupported("only ALTER TABLE is supported")
            state = await self.begin()
            return self._command(await self.call(tables.alter_table, state, tree))
        if isinstance(tree, exp.TruncateTable):
            state = await self.begin()
            return self._command(await self.call(tables.truncate, state, tree))
        return await self._dml(tree, params, param_oids)

    async def literal_insert(self, tree: ast.LiteralInsert) -> Result:
        """INSERT ... VALUES of literals, loaded like COPY rows when every literal suits
        its column as the engine would cast it; else the general path."""
        rows: LiteralRows = tree.args["rows"]
        text: str = tree.args["text"]
        state = await self.begin()
        table = exp.Table(this=exp.to_identifier(rows.table[-1], quoted=True),
                          db=exp.to_identifier(rows.table[0], quoted=True)
                          if len(rows.table) == 2 else None)
        obj = tables.resolve(state, table)
        loaded = None
        if obj is not None:
            loaded = await self.call(tables.insert_literal_rows, state, obj, rows)
        if loaded is None:
            general = parse_one_statement(text).ast
            assert general is not None
            return await self.run(general, ())
        return CommandResult(f"INSERT 0 {loaded}")

    def _command(self, result: tables.WriteResult) -> CommandResult:
        for sqlstate, message in result.notices:
            self.session.notice(message, sqlstate)
        return CommandResult(result.tag)

    async def _dml(self, tree: exp.Expr, params: Sequence[Any],
                   param_oids: Sequence[int]) -> Result:
        session = self.session
        state = await self.begin()
        oids = tuple(param_oids if len(param_oids) >= len(params) else [0] * len(params))
        # A statement executed again (executemany, a prepared INSERT) reuses its rewritten
        # tree: parsed trees are shared objects, so their identity is the key (the entry
        # holds the tree, so the identity cannot be reused while cached).
        key = (id(tree), oids)
        cached = self._rewritten.get(key)
        if cached is None or cached[0] is not tree:
            if len(self._rewritten) >= 256:
                self._rewritten.clear()
            cached = self._rewritten[key] = (tree, prepare_tree(tree, oids, session._values())[0])
        prepared = cached[1]
        fn: Any = {exp.Insert: tables.insert, exp.Update: tables.update,
                   exp.Delete: tables.delete}[type(tree)]  # type: ignore[index]
        values = [engine.to_engine_value(p) for p in params]
        result, returning, alias = await self.call(fn, state, prepared, values)
        for sqlstate, message in result.notices:
            session.notice(message, sqlstate)
        if returning is None:
            return CommandResult(result.tag)
        rows = result.returning if result.returning is not None else pa.table({})
        query = exp.select(*[e.copy() for e in returning.expressions]).from_(
            exp.Table(this=exp.to_identifier(tables.STAGE),
                      alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
        plan = plan_query(query, [], session._values())
        out = await session._in_thread(_run_over, state.duck, plan.sql, rows)
        columns = tuple(
            Column(name, plan.oid_overrides.get(i) or engine.duck_type_oid(t))
            for i, (name, t) in enumerate(zip(out[0], out[1], strict=True))
        )
        prefix, _, _ = result.tag.rpartition(" ")
        return RowsResult(columns, _many(out[2]), tag_prefix=prefix)

    async def describe_returning(self, tree: exp.Expr) -> tuple[Column, ...] | None:
        """The row shape of INSERT / UPDATE / DELETE ... RETURNING (Describe)."""
        returning = tree.args.get("returning")
        if not isinstance(returning, exp.Returning):
            return None
        schema_node = tree.this
        table = schema_node.this if isinstance(schema_node, exp.Schema) else schema_node
        if not isinstance(table, exp.Table):
            return None
        alias = tables._target_alias(table)
        source = table.copy()
        source.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        query = exp.select(*[e.copy() for e in returning.expressions]).from_(source).limit(0)
        plan = self.session._plan(query, ())
        duck = self.session._describe_engine()
        try:
            names, dtypes = await self.session._in_thread(_shape, duck, plan.sql)
        except SqlError:
            raise
        except Exception as exc:
            raise tables.translate_write_error(exc) from None
        return tuple(
            Column(name, plan.oid_overrides.get(i) or engine.duck_type_oid(t))
            for i, (name, t) in enumerate(zip(names, dtypes, strict=True))
        )


def _panic(exc: Exception) -> NoReturn:
    """The engine has committed a transaction the log could not make durable: the only
    consistent state left is the log's, so the process stops at once (as PostgreSQL
    PANICs when its WAL cannot be written) and the next start replays the log."""
    structlog.get_logger("laminar_pg.writes").critical(
        "change_log_write_failed", error=f"{type(exc).__name__}: {exc}")
    os._exit(3)


def _in_transaction(state: tables.WriteState, fn: Any, *args: Any) -> Any:
    state.ensure_begun()
    return fn(*args)


def _run_over(duck: Any, sql: str, rows: pa.Table) -> tuple[list[str], list[Any], list[pa.RecordBatch]]:
    duck.register(tables.STAGE, rows)
    try:
        rel = duck.sql(sql)
        table = rel.to_arrow_table()
        return rel.columns, rel.types, table.to_batches()
    except Exception as exc:
        raise tables.translate_write_error(exc) from None
    finally:
        tables._unregister(duck)


def _shape(duck: Any, sql: str) -> tuple[list[str], list[Any]]:
    rel = duck.sql(sql)
    return rel.columns, rel.types


async def _many(batches: list[pa.RecordBatch]) -> Any:
    for b in batches:
        yield b
