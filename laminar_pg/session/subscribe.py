"""SUBSCRIBE: a relation's contents, then its changes as they happen.

`SUBSCRIBE [TO] view | table | (query) [WITH (SNAPSHOT = true|false, PROGRESS =
true|false)] [AS OF epoch]`, as a
statement (rows stream until the client cancels or disconnects), as `COPY (SUBSCRIBE
...) TO STDOUT`, and as `DECLARE c CURSOR FOR SUBSCRIBE ...` read with `FETCH n c [WITH
(timeout = '1s')]`. Each row carries, before the view's columns, `laminar_timestamp`
(its epoch's timestamp: milliseconds since 1970, strictly increasing from epoch to epoch,
across restarts too), `laminar_progressed` (with PROGRESS: true on a row that
only says an epoch completed) and `laminar_diff` (+n inserted, -n deleted). The snapshot
comes first (at the epoch the subscription started), then every later epoch whole.

A subscription joins the view's `Materialize` operator at a barrier and reads its
`ChangeFeed`; leaving (end, cancel, disconnect) lets the operator stop recording when
no one is left. A table or a query gets a dataflow of its own, planned like a view,
started under the writer lock (as CREATE MATERIALIZED VIEW starts one) and removed when
the subscription ends. `AS OF e` resumes a view's subscription after epoch `e` (see
`_resume`). A subscriber further behind than the feed retains gets SQLSTATE 53400
and can subscribe again.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.engine.change_feed import DIFF, FellBehind
from laminar_pg.engine.checkpoint import saved_view_contents
from laminar_pg.errors import error_for
from laminar_pg.sql import ast
from laminar_pg.wire import types
from laminar_pg.wire.session import Column

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

POLL_SECONDS = 0.005
_TEMPORARY_IDS = itertools.count(1)  # a subscription's own dataflow: ids -1, -2, ...
META = ("laminar_timestamp", "laminar_progressed", "laminar_diff")


def _flag(options: dict[str, str], name: str, default: bool) -> bool:
    value = options.pop(name, None)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "on", "1", "yes"):
        return True
    if lowered in ("false", "off", "0", "no"):
        return False
    raise errcodes.InvalidParameterValue(f'invalid value for option "{name}": "{value}"')


class Subscription:
    """One client's subscription to one view."""

    def __init__(self, session: PgSession, tree: ast.Subscribe) -> None:
        self.session = session
        target = tree.this
        streaming = session.db.streaming
        self.temporary: Any = None  # the dataflow of a table or query subscribed to
        item = None
        if isinstance(target, exp.Table):
            item = streaming.find(session._catalog(), target, session.search_path())
        if item is not None and item.obj.kind == "materialized view":
            self.oid = item.obj.oid
            self.name = item.obj.qualified
            self.schema = item.schema
        elif item is not None:
            raise errcodes.FeatureNotSupported(
                f"SUBSCRIBE to a {item.obj.kind} is not supported",
                hint="Subscribe to a materialized view over it, or to a query with the "
                     "aggregate you need: SUBSCRIBE (SELECT ... FROM it GROUP BY ...).")
        else:
            if isinstance(target, exp.Table) and session._table_column_oids(target) is None:
                raise errcodes.UndefinedTable(
                    f'relation "{target.sql("postgres")}" does not exist')
            query = (exp.select("*").from_(target.copy()) if isinstance(target, exp.Table)
                     else target.copy())
            self._plan_temporary(query)
        self.as_of = tree.as_of
        options = {str(o.this).lower(): str(o.args.get("expression") or "true")
                   for o in tree.args.get("options") or []}
        self.snapshot = _flag(options, "snapshot", True)
        self.progress = _flag(options, "progress", False)
        if options:
            raise errcodes.InvalidParameterValue(
                f'unrecognized SUBSCRIBE option "{next(iter(options))}"')
        if self.as_of is not None and self.temporary is not None:
            raise errcodes.FeatureNotSupported(
                "SUBSCRIBE ... AS OF needs a materialized view",
                hint="A table or query subscribed to has no history to resume from.")
        self.feed: Any = None
        self.epoch = 0
        self._ready: list[pa.RecordBatch] = []
        self._closed = False
        self._joined = False

    def _plan_temporary(self, query: exp.Expr) -> None:
        """A table or query: planned as a view of its own, which lives as long as the
        subscription (never logged, never checkpointed)."""
        from laminar_pg.session import tables
        from laminar_pg.session.streaming import make_resolver

        session = self.session
        streaming = session.db.streaming
        state = tables.WriteState(session._describe_engine(), session._catalog(),
                                  session.search_path())
        self.oid = -next(_TEMPORARY_IDS)
        self.name = "subscription"
        flow, schema, _, snapshots = streaming.plan_view(
            query, None, make_resolver(streaming, state), self.oid, self.name)
        self.schema = schema
        self.temporary = (flow, snapshots)

    async def _install_temporary(self) -> None:
        """Start the dataflow from the current rows of what it reads, under the writer
        lock, so that every later commit reaches it as a change (as CREATE does)."""
        from laminar_pg.session import tables
        from laminar_pg.session.streaming import table_snapshots

        session = self.session
        if session.writes.state is not None:
            raise errcodes.FeatureNotSupported(
                "SUBSCRIBE to a table or query in a transaction that has written",
                hint="Subscribe before writing, or in a transaction of its own.")
        db = session.db
        flow, snapshots = self.temporary
        async with db.write_lock:
            duck = db.engine_connection()
            try:
                state = tables.WriteState(duck, session._catalog(), session.search_path())
                rows = await session._in_thread(table_snapshots, state, snapshots)
            finally:
                duck.close()
            installed = db.streaming.runtime.call(
                lambda: db.streaming.install(flow, rows))
        await asyncio.wrap_future(installed)

    def _remove_temporary(self) -> None:
        if self.temporary is not None:
            runtime = self.session.db.streaming.runtime
            runtime.call(functools.partial(runtime.remove, self.oid))

    # ---------------------------------------------------------------- columns

    def columns(self, view_columns: tuple[Column, ...]) -> tuple[Column, ...]:
        meta = [Column("laminar_timestamp", types.TYPES_BY_NAME["int8"].oid)]
        if self.progress:
            meta.append(Column("laminar_progressed", types.TYPES_BY_NAME["bool"].oid))
        meta.append(Column("laminar_diff", types.TYPES_BY_NAME["int8"].oid))
        return (*meta, *view_columns)

    def _rows(self, stamp: int, data: pa.RecordBatch | pa.Table, diff: pa.Array) -> pa.RecordBatch:
        n = data.num_rows
        arrays: list[pa.Array] = [pa.array([stamp] * n, pa.int64())]
        if self.progress:
            arrays.append(pa.array([False] * n, pa.bool_()))
        arrays.append(diff)
        for column in data.columns[: len(self.schema)]:
            arrays.append(column.combine_chunks() if isinstance(column, pa.ChunkedArray)
                          else column)
        return pa.RecordBatch.from_arrays(arrays, names=self._names())

    def _progress_row(self, stamp: int) -> pa.RecordBatch:
        arrays: list[pa.Array] = [pa.array([stamp], pa.int64()), pa.array([True]),
                                  pa.nulls(1, pa.int64())]
        arrays += [pa.nulls(1, f.type) for f in self.schema]
        return pa.RecordBatch.from_arrays(arrays, names=self._names())

    def _names(self) -> list[str]:
        meta = [m for m in META if self.progress or m != "laminar_progressed"]
        return [*meta, *self.schema.names]

    # ---------------------------------------------------------------- the stream

    async def open(self) -> None:
        """Join the view at the next barrier (forced now): its contents as of then."""
        runtime = self.session.db.streaming.runtime
        if self.temporary is not None:
            await self._install_temporary()
            try:
                await self._join(runtime)
            except BaseException:
                self._remove_temporary()
                raise
            return
        await self._join(runtime)

    async def _join(self, runtime: Any) -> None:
        flow = runtime.dataflows.get(self.oid)
        if flow is None or flow.output is None or not hasattr(flow.output, "subscribe"):
            raise errcodes.ObjectNotInPrerequisiteState(
                f'materialized view "{self.name}" is not running')
        joined: Future[Any] = Future()
        output = flow.output
        runtime.call(lambda: output.subscribe(joined))
        runtime.flush()
        cancel = self.session.cancel_event
        while not joined.done():  # the next barrier of the view's dataflow
            if cancel.is_set():
                joined.cancel()
                raise errcodes.QueryCanceled("canceling statement due to user request")
            failed = runtime.snapshot.failed.get(self.oid)
            if failed is not None or self.oid not in runtime.dataflows:
                joined.cancel()
                self._poll_failure()
            await asyncio.sleep(POLL_SECONDS)
        epoch, stamp, version, feed = joined.result()
        self._joined = True
        self.feed, self.epoch = feed, epoch
        self._output = output
        if self.as_of is not None:
            self._resume(self.as_of, epoch, stamp, version)
        elif self.snapshot and version.num_rows:
            rows, counts = _consolidated(version)
            self._ready.append(self._rows(stamp, rows, counts))
        if self.progress:
            self._ready.append(self._progress_row(stamp))

    def _resume(self, as_of: int, epoch: int, stamp: int, version: pa.Table) -> None:
        """AS OF `as_of` (a laminar_timestamp): (with SNAPSHOT) the contents as of then,
        then every change after it up to `epoch` (timestamp `stamp`), where the
        subscription joined. Epoch by epoch when the view's feed still holds them (another
        subscriber kept it recording); else from the retained checkpoint of exactly that
        timestamp, the changes since in one step at `stamp` (no gap, no duplicate; the
        epochs in between are compacted into one)."""
        if as_of > stamp:
            raise errcodes.InvalidParameterValue(
                f"AS OF {as_of}: that time has not completed (the latest epoch's "
                f"laminar_timestamp is {stamp})")
        if as_of == stamp:
            if self.snapshot and version.num_rows:
                rows, counts = _consolidated(version)
                self._ready.append(self._rows(stamp, rows, counts))
            return
        after = self.feed.epoch_at(as_of)
        entries = self._feed_between(after, epoch) if after is not None else None
        if entries is not None:
            if self.snapshot:
                older = [_as_changes(version, 1)] + [
                    _negated(batch) for _, _, batch in entries if batch is not None]
                rows, counts = _sum_changes(older, self.schema)
                if rows.num_rows:
                    self._ready.append(self._rows(as_of, rows, counts))
            for _, entry_stamp, batch in entries:
                if batch is not None:
                    self._ready.append(self._rows(entry_stamp, batch,
                                                  batch.column(batch.num_columns - 1)))
                if self.progress:
                    self._ready.append(self._progress_row(entry_stamp))
            return
        store = self.session.db.checkpoints
        manifest = store.at_timestamp(as_of) if store is not None else None
        if store is None or manifest is None or self.oid not in manifest.flows:
            retained = [m.timestamp_ms for m in store.manifests] if store is not None else []
            raise errcodes.InvalidParameterValue(
                f"AS OF {as_of}: the changes of {self.name} since then are no longer "
                "retained",
                hint="AS OF accepts the laminar_timestamp of a retained checkpoint "
                     f"({', '.join(map(str, retained)) or 'none yet'}; see "
                     "laminar_catalog.checkpoints) or one the view's change feed still "
                     "holds (while another subscription keeps it).")
        old = saved_view_contents(store, manifest, self.oid, self.schema)
        if self.snapshot and old.num_rows:
            rows, counts = _consolidated(old)
            self._ready.append(self._rows(as_of, rows, counts))
        rows, counts = _sum_changes([_as_changes(version, 1), _as_changes(old, -1)],
                                    self.schema)
        if rows.num_rows:
            self._ready.append(self._rows(stamp, rows, counts))

    def _feed_between(self, after: int, upto: int) -> list[tuple[int, int, Any]] | None:
        """The feed's epochs in (after, upto], or None when it does not hold all of them."""
        try:
            entries = [e for e in self.feed.since(after) if e[0] <= upto]
        except FellBehind:
            return None
        if not entries or entries[0][0] != after + 1 or entries[-1][0] != upto:
            return None
        return entries

    def close(self) -> None:
        if self._joined and not self._closed:
            self._closed = True
            output = self._output
            self.session.db.streaming.runtime.call(output.unsubscribe)
            self._remove_temporary()

    def _poll_failure(self) -> None:
        """Raise if the view failed or was dropped."""
        runtime = self.session.db.streaming.runtime
        failed = runtime.snapshot.failed.get(self.oid)
        if failed is not None:
            raise error_for(failed[1], f'materialized view "{self.name}" failed: {failed[0]}')
        if self.oid not in runtime.dataflows:
            raise errcodes.UndefinedTable(f'materialized view "{self.name}" was dropped')

    def _poll(self) -> None:
        """Move what the feed has after our epoch into the ready list."""
        self._poll_failure()
        try:
            entries = self.feed.since(self.epoch)
        except FellBehind as exc:
            raise errcodes.ConfigurationLimitExceeded(
                f"the subscription to {self.name} fell too far behind: {exc}",
                hint="Read faster, or SUBSCRIBE again (WITH (SNAPSHOT = true)).") from None
        for epoch, stamp, batch in entries:
            if batch is not None:
                diff = batch.column(batch.num_columns - 1)
                self._ready.append(self._rows(stamp, batch, diff))
            if self.progress:
                self._ready.append(self._progress_row(stamp))
            self.epoch = epoch

    async def wait(self, timeout: float | None) -> list[pa.RecordBatch]:
        """The batches ready now, waiting up to `timeout` seconds (None: until some
        are) for the first; [] when the time ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        cancel = self.session.cancel_event
        while True:
            if not self._ready:
                self._poll()
            if self._ready:
                ready, self._ready = self._ready, []
                return ready
            if cancel.is_set():
                raise errcodes.QueryCanceled("canceling statement due to user request")
            if deadline is not None and time.monotonic() >= deadline:
                return []
            await asyncio.sleep(POLL_SECONDS)

    async def batches(self) -> AsyncIterator[pa.RecordBatch]:
        """Every row from now on, until the client stops reading."""
        try:
            while True:
                for batch in await self.wait(None):
                    yield batch
        finally:
            self.close()


def _as_changes(table: pa.Table | pa.RecordBatch, weight: int) -> pa.Table:
    """Rows as changes of weight `weight` each."""
    changes = pa.table(table) if isinstance(table, pa.RecordBatch) else table
    return changes.append_column(DIFF, pa.array([weight] * changes.num_rows, pa.int64()))


def _negated(batch: pa.RecordBatch) -> pa.Table:
    """An epoch's changes (last column: diff) undone."""
    table = pa.table(batch)
    diff = pa.compute.negate(table.column(table.num_columns - 1))
    return table.set_column(table.num_columns - 1, DIFF, diff)


def _sum_changes(parts: list[pa.Table], schema: pa.Schema) -> tuple[pa.Table, pa.Array]:
    """Changes summed per distinct row (NULLs group together), zero sums left out."""
    names = [*schema.names, DIFF]
    tables = [t.rename_columns(names).cast(pa.schema([*schema, pa.field(DIFF, pa.int64())]))
              for t in parts]
    con = duckdb.connect(":memory:")
    try:
        con.register("changes", pa.concat_tables(tables))
        columns = ", ".join(f'"{i}"' for i in range(len(schema)))
        quoted = ", ".join(f'"{n}" AS "{i}"' for i, n in enumerate(
            [n.replace('"', '""') for n in schema.names]))
        result: pa.Table = con.sql(
            f"SELECT {columns}, sum(d)::BIGINT AS d FROM (SELECT {quoted}, "
            f'"{DIFF}" AS d FROM changes) GROUP BY ALL HAVING sum(d) <> 0').to_arrow_table()
    finally:
        con.close()
    rows = pa.Table.from_arrays(result.columns[: len(schema)], schema=schema) \
        if len(schema) else result.select([])
    return rows, result.column(len(schema)).combine_chunks()


def _consolidated(table: pa.Table) -> tuple[pa.Table, pa.Array]:
    """Each distinct row once with how many times the view holds it (a view keeps a row
    of multiplicity n as n rows); as it is when its columns cannot be grouped."""
    if table.num_columns == 0:
        return table.slice(0, 1), pa.array([table.num_rows], pa.int64())
    try:
        grouped = table.group_by(table.column_names, use_threads=False).aggregate(
            [([], "count_all")])
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return table, pa.array([1] * table.num_rows, pa.int64())
    counts = grouped.column("count_all").combine_chunks().cast(pa.int64())
    return grouped.select(table.column_names), counts


async def describe_view(session: PgSession, subscription: Subscription) -> tuple[Column, ...]:
    """The view's columns as a SELECT of it describes them (a table or query subscribed
    to: its dataflow's columns, as the SQL engine types them)."""
    if subscription.temporary is not None:
        from laminar_pg.session import engine

        con = duckdb.connect(":memory:")
        try:
            rel = con.from_arrow(subscription.schema.empty_table())
            return tuple(Column(name, engine.duck_type_oid(t),
                                type_modifier=engine.type_modifier(t, engine.duck_type_oid(t)))
                         for name, t in zip(rel.columns, rel.types, strict=True))
        finally:
            con.close()
    schema, _, name = subscription.name.partition(".")
    query = exp.select("*").from_(exp.table_(name, db=schema, quoted=True)).limit(0)
    plan = session._plan(query, ())
    result = await session.run_plan(plan, ())
    async for _ in result.batches:
        pass
    columns: tuple[Column, ...] = result.columns
    return columns
