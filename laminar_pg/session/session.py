"""One client's session: settings, transaction state, prepared statements, cursors, and
statement execution (utility statements here, queries on the embedded engine).

It implements `laminar_pg.wire.session.Session`; the wire never sees anything else.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import functools
import threading
import weakref
import zoneinfo
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlglot import exp

from laminar_pg import __version__, errcodes
from laminar_pg.catalog.objects import Catalog
from laminar_pg.errors import SqlError
from laminar_pg.observability import activity
from laminar_pg.session import (  # noqa: F401  (pg_catalog, system_relations register relations)
    engine,
    pg_catalog,
    pg_comments,
    relations,
    streaming_ddl,
    subscribe,
    system_relations,
    tables,
)
from laminar_pg.session.copy_in import CopyInCollector
from laminar_pg.session.database import Database
from laminar_pg.session.lookup import MAX_ROWS, LookupPlan, PkIndex, plan_lookup
from laminar_pg.session.query import (
    QueryPlan,
    SessionValues,
    engine_type,
    infer_param_types,
    plan_query,
)
from laminar_pg.session.settings import SessionSettings, canonical_name, parse_timeout
from laminar_pg.session.writes import WRITE_TYPES, Writes
from laminar_pg.sql import ast, literal_insert
from laminar_pg.sql.script import Statement, parse_one_statement, parse_script
from laminar_pg.wire.session import (
    Column,
    CommandResult,
    CopyFormat,
    CopyInResult,
    Description,
    Notice,
    Prepared,
    Result,
    RowsResult,
)

BATCH_ROWS = 8192
FIRST_READ_ROWS = 2 * BATCH_ROWS
PLAN_CACHE_SIZE = 256
VERSION_STRING = (
    f"PostgreSQL 15.0 (laminar_pg {__version__}) on x86_64-pc-linux-gnu, "
    "compiled by Python, 64-bit"
)
_TRANSACTION_SCOPED = frozenset(
    {"transaction_isolation", "transaction_read_only", "transaction_deferrable"}
)
QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Subquery)


@dataclass(slots=True)
class PreparedStatement:
    """A parsed statement with its parameter types; the plan is made once and cached."""

    sql: str
    statement: Statement
    param_oids: tuple[int, ...]
    plan: QueryPlan | None = None
    description: Description | None = None

    @property
    def is_empty(self) -> bool:
        return self.statement.ast is None


@dataclass(slots=True, weakref_slot=True)
class Cursor:
    """DECLARE ... CURSOR: a result read on demand by FETCH."""

    name: str
    statement: str
    created: datetime.datetime
    columns: tuple[Column, ...]
    batches: AsyncIterator[pa.RecordBatch]
    hold: bool
    binary: bool
    pending: list[pa.RecordBatch] = field(default_factory=list)
    position: int = 0
    exhausted: bool = False
    in_block: bool = False  # declared in the transaction block still open
    subscription: Any = None  # DECLARE ... CURSOR FOR SUBSCRIBE: FETCH reads it

    async def take(self, count: int | None) -> AsyncIterator[pa.RecordBatch]:
        """The next `count` rows (None: all), streamed: FETCH ALL of a large cursor never
        holds its rows in memory at once."""
        want = count
        while want is None or want > 0:
            if self.pending:
                batch = self.pending.pop(0)
            else:
                batch = None if self.exhausted else await anext(self.batches, None)
                if batch is None:
                    self.exhausted = True
                    break
            if want is not None and batch.num_rows > want:
                self.pending.insert(0, batch.slice(want))
                batch = batch.slice(0, want)
            self.position += batch.num_rows
            if want is not None:
                want -= batch.num_rows
            yield batch


class PgSession:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.process_id, self.secret_key = db.next_process_id()
        self.settings = SessionSettings()
        self.user = ""
        self.database = ""
        self._status = "I"  # 'I' idle, 'T' in a block, 'E' failed block
        self._implicit_failed = False  # a statement of the implicit transaction failed
        self._notices: list[Notice] = []
        self._cancel = threading.Event()
        self._duck: Any = None  # the session's engine connection (describe, short queries)
        # A DuckDB connection holds one open result; a cursor or suspended portal keeps its
        # own, and the next query takes an idle one (made on demand) from here.
        self._engines: list[Any] = []
        self._idle_engines: list[Any] = []
        # engine connection -> its (TimeZone, search_path)
        self._engine_zones: dict[int, tuple[str, str]] = {}
        self.sql_prepared: dict[str, PreparedStatement] = {}
        self.cursors: dict[str, Cursor] = {}
        self.current_query: str | None = None
        # for laminar_catalog.sessions (observability/activity.py)
        self.backend_start = datetime.datetime.now(datetime.UTC)
        self.query_start: datetime.datetime | None = None
        self._plans: dict[tuple[str, tuple[int, ...], int, str], QueryPlan] = {}
        self._cancel_reason = "user request"
        self.writes = Writes(self)
        self._column_oids: dict[tuple[int, str, str], dict[str, int] | None] = {}
        self._lookup_shapes: dict[tuple[int, int, tuple[str, ...] | None], Any] = {}

    # ---------------------------------------------------------------- Session protocol

    @property
    def transaction_status(self) -> str:
        return self._status

    @property
    def idle_in_transaction_timeout(self) -> float | None:
        """idle_in_transaction_session_timeout: a writer that sits idle in its block
        holds the writer lock, so this is what ends it (0 = no limit, the default)."""
        seconds = parse_timeout(
            self.settings.get_or_none("idle_in_transaction_session_timeout") or "0")
        return seconds if seconds > 0 else None

    async def startup(self, parameters: dict[str, str]) -> list[tuple[str, str]]:
        self.user = parameters["user"]
        self.database = parameters.get("database", self.user)
        self.settings.set("session_authorization", self.user, startup=True)
        for key, value in parameters.items():
            if key in ("user", "database"):
                continue
            if key == "options":
                self._apply_options(value)
                continue
            try:
                self.settings.set(key, value, startup=True)
            except SqlError:
                if key in ("client_encoding",):
                    raise
        self._duck = engine.new_connection(self.db.duck)
        self._engines = [self._duck]
        self._idle_engines = [self._duck]
        engine.register_session(self.process_id, self)
        activity.connected(self.db, self)
        self.settings.take_changes()
        return self.settings.reported()

    def _apply_options(self, options: str) -> None:
        """libpq's options='-c name=value ...' (PGOPTIONS)."""
        parts = options.split()
        for i, part in enumerate(parts):
            if part == "-c" and i + 1 < len(parts) and "=" in parts[i + 1]:
                name, value = parts[i + 1].split("=", 1)
                self.settings.set(name, value, startup=True)
            elif part.startswith("--") and "=" in part:
                name, value = part[2:].split("=", 1)
                self.settings.set(name.replace("-", "_"), value, startup=True)

    def take_parameter_changes(self) -> list[tuple[str, str]]:
        return self.settings.take_changes()

    def take_notices(self) -> list[Notice]:
        out, self._notices = self._notices, []
        return out

    def notice(self, message: str, sqlstate: str = "00000", severity: str = "NOTICE") -> None:
        self._notices.append(Notice(severity, sqlstate, message))

    async def parse_script(self, sql: str) -> list[PreparedStatement]:
        if sql[:40].lstrip()[:6].lower() == "insert" and (rows := await self._scan_literals(sql)):
            # a bulk INSERT of literals: read in one pass, not by sqlglot (sql/literal_insert.py)
            tree = ast.LiteralInsert(rows=rows, text=sql.strip())
            return [PreparedStatement(sql, Statement(tree, sql.strip(), 0), ())]
        return [PreparedStatement(sql, s, ()) for s in parse_script(sql)]

    async def _scan_literals(self, sql: str) -> literal_insert.LiteralRows | None:
        """A long statement is scanned in a worker thread, off the event loop."""
        if len(sql) < 4096:
            return literal_insert.scan(sql)
        found: literal_insert.LiteralRows | None = await self._in_thread(literal_insert.scan, sql)
        return found

    async def prepare(self, sql: str, param_oids: Sequence[int]) -> PreparedStatement:
        if not param_oids and sql[:40].lstrip()[:6].lower() == "insert" and (
                rows := await self._scan_literals(sql)):
            self._refuse_in_failed_block(None)
            tree = ast.LiteralInsert(rows=rows, text=sql.strip())
            return PreparedStatement(sql, Statement(tree, sql.strip(), 0), ())
        statement = parse_one_statement(sql)
        self._refuse_in_failed_block(statement.ast)  # as exec_parse_message does
        prepared = PreparedStatement(sql, statement, tuple(param_oids))
        if statement.ast is not None and isinstance(statement.ast, QUERY_TYPES):
            prepared.plan = self._plan(statement.ast, param_oids, statement.text)
            prepared.param_oids = prepared.plan.param_oids
        elif statement.ast is not None and isinstance(statement.ast, WRITE_TYPES):
            prepared.param_oids = self._dml_param_oids(statement.ast, param_oids)
        else:
            prepared.param_oids = tuple(oid or 25 for oid in param_oids)
        return prepared

    def _revalidate(self, prepared: PreparedStatement) -> None:
        """A statement planned before a DDL is planned again, as PostgreSQL revalidates
        its cached plans (plancache.c): its result may now have other columns."""
        plan = prepared.plan
        if plan is None or plan.catalog_version == self._catalog().version:
            return
        tree = prepared.statement.ast
        if tree is not None and isinstance(tree, QUERY_TYPES):
            prepared.plan = self._plan(tree, prepared.param_oids, prepared.statement.text)
            prepared.description = None

    async def describe(self, prepared: Prepared) -> Description:
        assert isinstance(prepared, PreparedStatement)
        self._revalidate(prepared)
        if prepared.description is not None:
            return prepared.description
        description = await self._describe(prepared)
        # FETCH and EXECUTE describe whatever the cursor or statement is now: never cached.
        if not isinstance(prepared.statement.ast, (ast.FetchCursor, ast.ExecutePrepared)):
            prepared.description = description
        return description

    async def execute(self, prepared: Prepared, params: Sequence[Any]) -> Result:
        assert isinstance(prepared, PreparedStatement)
        tree = prepared.statement.ast
        assert tree is not None
        self._refuse_in_failed_block(tree)
        self._cancel.clear()
        self._cancel_reason = "user request"
        self.current_query = prepared.statement.text
        self.query_start = datetime.datetime.now(datetime.UTC)
        self.settings.begin()  # the implicit transaction of a statement, or the block's
        timer = self._arm_statement_timeout()
        try:
            result = await self._dispatch(prepared, tree, params)
            if isinstance(result, RowsResult):
                result.timezone = session_zone(self.settings.values["timezone"])
            return result
        except Exception:
            if self._status == "T":
                self._status = "E"
            elif self._status == "I":
                self._implicit_failed = True
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _refuse_in_failed_block(self, tree: exp.Expr | None) -> None:
        if self._status == "E" and not isinstance(tree, (exp.Commit, exp.Rollback)):
            raise errcodes.InFailedSqlTransaction(
                "current transaction is aborted, commands ignored until end of transaction block"
            )

    def _arm_statement_timeout(self) -> asyncio.TimerHandle | None:
        """statement_timeout (ms, or with a unit): cancel the statement when it expires."""
        seconds = parse_timeout(self.settings.get_or_none("statement_timeout") or "0")
        if seconds <= 0:
            return None

        def expire() -> None:
            self._cancel_reason = "statement timeout"
            self.cancel()

        return asyncio.get_running_loop().call_later(seconds, expire)

    def cancel(self) -> None:
        self._cancel.set()
        for duck in self._engines:
            if duck not in self._idle_engines:
                try:
                    duck.interrupt()
                except Exception:
                    pass

    def _take_engine(self) -> Any:
        if self._idle_engines:
            return self._idle_engines.pop()
        duck = engine.new_connection(self.db.duck)
        self._engines.append(duck)
        return duck

    def _return_engine(self, duck: Any) -> None:
        if duck in self._engines and duck not in self._idle_engines:
            self._idle_engines.append(duck)

    async def sync(self) -> None:
        """End of a simple query or an extended-protocol Sync: outside a block, this ends
        the implicit transaction (rolled back if one of its statements failed)."""
        failed = self._implicit_failed
        self._implicit_failed = False
        self.current_query = None
        if self._status == "I":
            self.settings.end(committed=not failed)
            await self.writes.finish(commit=not failed)

    # engine.QueryContext, for the session functions that run inside the engine
    @property
    def cancel_event(self) -> threading.Event:
        return self._cancel

    def get_setting(self, name: str) -> str | None:
        return self.settings.get_or_none(name)

    def set_setting(self, name: str, value: str | None, is_local: bool = False) -> None:
        if is_local:
            self.settings.set_local(name, value)
        else:
            self.settings.set(name, value)

    async def close(self) -> None:
        try:
            await self.writes.finish(commit=False)
        except Exception:
            pass
        engine.unregister_session(self.process_id)
        activity.disconnected(self.db, self)
        self.cursors.clear()
        self._duck = None
        engines, self._engines, self._idle_engines = self._engines, [], []
        for duck in engines:
            self.db.streaming.forget_connection(duck)
            duck.close()

    # ---------------------------------------------------------------- helpers

    def _plan(
        self, tree: exp.Expr, param_oids: Sequence[int], text: str | None = None
    ) -> QueryPlan:
        """Plans are cached per session by statement text and parameter types."""
        key = (text or "", tuple(param_oids), self._catalog().version,
               self.settings.get_or_none("search_path") or "")
        plan = self._plans.get(key) if text is not None else None
        if plan is None:
            tree = self._expand_using_star(tree)
            columns = self._single_table_columns(tree)
            reads_views = self._check_streaming_reads(tree)
            plan = plan_query(tree, param_oids, self._values(), relations.names(), columns)
            plan.catalog_version = self._catalog().version
            plan.reads_views = reads_views
            if columns:
                _declared_overrides(tree, columns, plan)
                plan.lookup = self._lookup_plan(tree, columns)
            if text is None:
                return plan
            if len(self._plans) >= PLAN_CACHE_SIZE:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = plan
        return plan

    def _check_streaming_reads(self, tree: exp.Expr) -> bool:
        """Whether a query reads materialized views; a source or stream is refused (it
        holds no rows), and a failed view reports its error."""
        streaming = self.db.streaming
        if not streaming.objects:
            return False
        reads = False
        catalog = self._catalog()
        path = self.search_path()
        for table in tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                continue
            item = streaming.find(catalog, table, path)
            if item is not None:
                streaming.check_readable(item)
                reads = True
        return reads

    def search_path(self) -> list[str]:
        """The session's search_path as schema names ("$user" is the user's schema)."""
        text = self.settings.get_or_none("search_path") or ""
        names = []
        for part in text.split(","):
            name = part.strip().strip('"')
            if name == "$user":
                name = self.user
            if name:
                names.append(name)
        return names

    def _prepare_engine(self, duck: Any) -> None:
        """Bring an engine connection to the session's TimeZone and search_path."""
        zone = self.settings.values["timezone"]
        schemas = ",".join(n for n in self.search_path()
                           if self.db.catalog.find("schema", "", n) is not None) or "public"
        state = (zone, schemas)
        if self._engine_zones.get(id(duck), ("UTC", "public")) != state:
            duck.execute(f"SET TimeZone = '{zone}'")  # a validated IANA zone name
            duck.execute("SET search_path = " + "'" + schemas.replace("'", "''") + "'")
            self._engine_zones[id(duck)] = state

    def _describe_engine(self) -> Any:
        state = self.writes.state
        return state.duck if state is not None else self._duck

    def _catalog(self) -> Catalog:
        state = self.writes.state
        return state.catalog if state is not None else self.db.catalog

    def _table_column_oids(self, table: exp.Table) -> dict[str, int] | None:
        """Column name -> type OID of a table the statement names (None: not a table)."""
        catalog = self._catalog()
        key = (catalog.version, table.db, table.name)
        if key in self._column_oids:
            return self._column_oids[key]
        found = None
        for schema in [table.db] if table.db else self.search_path():
            obj = catalog.find("table", schema, table.name)
            if obj is None:
                continue
            rows = self._describe_engine().execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE "
                "schema_name = $1 AND table_name = $2 ORDER BY column_index",
                [obj.schema, obj.name]).fetchall()
            found = {name: (tables.declared_oid(str(comment)) if comment else 0)
                     or engine.duck_type_name_oid(dtype) for name, dtype, comment in rows}
            break
        if len(self._column_oids) > 256:
            self._column_oids.clear()
        self._column_oids[key] = found
        return found

    def _single_table_columns(self, tree: exp.Expr) -> dict[str, int] | None:
        if not isinstance(tree, exp.Select) or tree.args.get("joins"):
            return None
        source = tree.args.get("from_")
        table = source.this if isinstance(source, exp.From) else None
        return self._table_column_oids(table) if isinstance(table, exp.Table) else None

    def _expand_using_star(self, tree: exp.Expr) -> exp.Expr:
        """SELECT * FROM a JOIN b USING (k) | NATURAL JOIN: PostgreSQL lists the join
        columns first, then a's other columns, then b's; DuckDB keeps a's order. With
        both tables' columns known, the star is spelled out in PostgreSQL's order."""
        if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or not isinstance(
                tree.expressions[0], exp.Star):
            return tree
        joins = tree.args.get("joins") or []
        source = tree.args.get("from_")
        if len(joins) != 1 or not isinstance(source, exp.From) or tree.args.get("with_"):
            return tree  # (a CTE could shadow a table's name)
        join = joins[0]
        left, right = source.this, join.this
        natural = str(join.args.get("method") or "").upper() == "NATURAL"
        if not isinstance(left, exp.Table) or not isinstance(right, exp.Table) or not (
                join.args.get("using") or natural):
            return tree
        left_cols = self._table_column_oids(left)
        right_cols = self._table_column_oids(right)
        if not left_cols or not right_cols:
            return tree
        if natural:
            keys = [c for c in left_cols if c in right_cols]
        else:
            keys = [k.name for k in join.args["using"]]
        if not keys or any(k not in left_cols or k not in right_cols for k in keys):
            return tree
        side = str(join.args.get("side") or "").upper()
        la, ra = left.alias_or_name, right.alias_or_name

        def col(table: str, name: str) -> exp.Column:
            return exp.column(name, table=table, quoted=True)

        items: list[exp.Expr] = []
        for k in keys:
            value: exp.Expr = (exp.Coalesce(this=col(la, k), expressions=[col(ra, k)])
                               if side == "FULL" else col(ra if side == "RIGHT" else la, k))
            items.append(exp.alias_(value, exp.to_identifier(k, quoted=True)))
        items += [exp.alias_(col(la, c), exp.to_identifier(c, quoted=True))
                  for c in left_cols if c not in keys]
        items += [exp.alias_(col(ra, c), exp.to_identifier(c, quoted=True))
                  for c in right_cols if c not in keys]
        expanded = tree.copy()
        expanded.set("expressions", items)
        return expanded

    def _lookup_plan(self, tree: exp.Expr, columns: dict[str, int]) -> LookupPlan | None:
        """SELECT ... FROM t WHERE pk = value on a table with an integer primary key."""
        if not isinstance(tree, exp.Select) or not isinstance(tree.args.get("where"), exp.Where):
            return None
        source = tree.args.get("from_")
        table = source.this if isinstance(source, exp.From) else None
        if not isinstance(table, exp.Table):
            return None
        catalog = self._catalog()
        obj = None
        for schema in [table.db] if table.db else self.search_path():
            obj = catalog.find("table", schema, table.name)
            if obj is not None:
                break
        if obj is None:
            return None
        def single_column_key() -> str | None:
            rows = self._describe_engine().execute(
                "SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name "
                "= $1 AND table_name = $2 AND constraint_type = 'PRIMARY KEY'",
                [obj.schema, obj.name]).fetchall()
            return str(rows[0][0][0]) if rows and len(rows[0][0]) == 1 else None

        key_column = catalog.shape("primary_key", obj, single_column_key)
        if key_column is None or columns.get(key_column) not in (20, 21, 23):
            return None
        return plan_lookup(tree, obj.oid, obj.version, key_column, list(columns))

    async def _lookup(self, plan: QueryPlan, params: Sequence[Any]) -> RowsResult | None:
        """The fast path of a primary-key lookup (session/lookup.py), or None to take the
        engine: the index is built on first use, under the writer lock."""
        spec: LookupPlan = plan.lookup
        key = spec.key_literal if spec.key_param is None else (
            params[spec.key_param - 1] if spec.key_param <= len(params) else None)
        if not isinstance(key, int) or isinstance(key, bool) or not -(2**63) <= key < 2**63:
            return None
        lookups = self.db.lookups
        index = lookups.get(spec)
        if index is None:
            lock = self.db.write_lock
            if lock.locked():
                return None  # a writer is busy: the engine answers this one
            async with lock:
                index = lookups.get(spec)
                if index is None:
                    obj = self.db.catalog.objects.get(spec.table_oid)
                    if obj is None or obj.version != spec.table_version:
                        return None
                    index = await self._in_thread(self._build_index, obj, spec)
                    if index is None:
                        return None
                    lookups.indexes[spec.table_oid] = index
        if plan.described is None:  # one shape per table version and column list
            shape_key = (spec.table_oid, spec.table_version, spec.columns)
            plan.described = self._lookup_shapes.get(shape_key)
            if plan.described is None:
                nulls = [describe_sample(oid) for oid in plan.param_oids]
                try:
                    rel = await self._in_thread(_relation, self._duck, plan.sql, nulls)
                except Exception:
                    return None
                plan.described = self._columns(rel.columns, rel.types, plan)
                if len(self._lookup_shapes) > 256:
                    self._lookup_shapes.clear()
                self._lookup_shapes[shape_key] = plan.described
        found = index.get(key)
        if spec.columns is not None:
            found = found.select(list(spec.columns))

        await self.writes.wait_visible_durable()
        return RowsResult(plan.described, _many(found.to_batches()))

    def _build_index(self, obj: Any, spec: LookupPlan) -> PkIndex | None:
        duck = engine.new_connection(self.db.duck)
        try:
            count = duck.execute(f"SELECT count(*) FROM {tables.qualified_sql(obj)}").fetchall()
            if count[0][0] > MAX_ROWS:
                return None
            rows = duck.sql(f"SELECT * FROM {tables.qualified_sql(obj)}").to_arrow_table()
        finally:
            duck.close()
        return PkIndex(rows, spec.key_column, spec.table_version)

    def _dml_param_oids(self, tree: exp.Expr, given: Sequence[int]) -> tuple[int, ...]:
        """Parameters of INSERT / UPDATE / DELETE typed by the columns they meet."""
        schema_node = tree.this
        table = schema_node.this if isinstance(schema_node, exp.Schema) else schema_node
        columns = self._table_column_oids(table) if isinstance(table, exp.Table) else None
        positional: dict[int, int] = {}
        if columns and isinstance(tree, exp.Insert):
            names = ([c.name for c in schema_node.expressions]
                     if isinstance(schema_node, exp.Schema) else list(columns))
            source = tree.expression
            if isinstance(source, exp.Values):
                for row in source.expressions:
                    items = row.expressions if isinstance(row, exp.Tuple) else [row]
                    for name, item in zip(names, items, strict=False):
                        if isinstance(item, exp.Parameter) and item.name.isdigit():
                            positional[int(item.name)] = columns.get(name, 0)
        if columns and isinstance(tree, exp.Update):
            for eq in tree.expressions:
                if isinstance(eq, exp.EQ) and isinstance(eq.expression, exp.Parameter):
                    if eq.expression.name.isdigit():
                        positional[int(eq.expression.name)] = columns.get(eq.this.name, 0)
        return infer_param_types(tree, given, columns, positional)

    def describe_cursor(self, name: str) -> Description | None:
        """A DECLAREd cursor is also a protocol-level portal (psycopg describes it)."""
        cursor = self.cursors.get(name)
        return None if cursor is None else Description((), cursor.columns)

    def session_relation(self, qualified: str) -> pa.Table:
        return relations.build(qualified, self)

    def _values(self) -> SessionValues:
        return SessionValues(
            user=self.user,
            database=self.database,
            version=VERSION_STRING,
            pid=self.process_id,
            setting=self.settings.get_or_none,
        )

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()

        return await loop.run_in_executor(self.db.executor, fn, *args)

    # ---------------------------------------------------------------- dispatch

    async def _dispatch(
        self, prepared: PreparedStatement, tree: exp.Expr, params: Sequence[Any]
    ) -> Result:
        if isinstance(tree, QUERY_TYPES):
            return await self._run_query(prepared, params)
        if isinstance(tree, WRITE_TYPES):
            self._refuse_if_read_only(tree)
            if isinstance(tree, (exp.Drop, exp.Alter)) and self.db.streaming.objects:
                await streaming_ddl.table_dependents(self, tree)
            return await self.writes.run(tree, params, prepared.param_oids)
        if isinstance(tree, ast.LiteralInsert):
            self._refuse_if_read_only(tree)
            return await self.writes.literal_insert(tree)
        handler = _HANDLERS.get(type(tree))
        if handler is not None:
            result: Result = await handler(self, tree, params)
            return result
        if isinstance(tree, exp.Copy):
            return await self._copy(tree, params)
        raise errcodes.FeatureNotSupported(
            f"{_statement_name(tree)} is not supported yet",
            hint="laminar_pg runs SELECT, VALUES and session statements so far.",
        )

    async def _run_query(self, prepared: PreparedStatement, params: Sequence[Any]) -> RowsResult:
        self._revalidate(prepared)
        if prepared.plan is None:
            assert prepared.statement.ast is not None
            prepared.plan = self._plan(
                prepared.statement.ast, prepared.param_oids, prepared.statement.text
            )
        return await self.run_plan(prepared.plan, params)

    async def run_plan(self, plan: QueryPlan, params: Sequence[Any]) -> RowsResult:
        if plan.cached is not None:  # a constant query: computed once by the engine
            columns, batches = plan.cached
            return RowsResult(columns, _many(batches))
        state = self.writes.state
        if plan.lookup is not None and state is None:
            fast = await self._lookup(plan, params)
            if fast is not None:
                return fast
        duck_params = [engine.to_engine_value(p) for p in params]
        # In a transaction that has written, queries read its engine transaction (and are
        # read whole: the next statement needs the connection).
        duck = state.duck if state is not None else self._take_engine()
        try:
            self._prepare_engine(duck)
            for name in plan.session_relations:
                duck.register(relations.engine_name(name), self.session_relation(name))
            if plan.reads_views:
                self.db.streaming.register_views(duck)
            start = await self._in_thread(_start_query, duck, plan.sql, duck_params,
                                          state is not None)
        except Exception as exc:
            if state is None:
                self._return_engine(duck)
            raise self._engine_error(exc) from None
        if state is None:
            await self.writes.wait_visible_durable()
        if start.reader is None and state is None:
            self._return_engine(duck)
        columns = self._columns(start.names, start.types, plan)
        if start.reader is None and plan.constant:
            plan.cached = (columns, start.batches)
        return RowsResult(columns, self._batches(start.batches, start.reader, duck))

    async def _batches(
        self, first: list[pa.RecordBatch], reader: pa.RecordBatchReader | None, duck: Any
    ) -> AsyncIterator[pa.RecordBatch]:
        """The result, streamed; its engine connection is free again once it is read or
        abandoned (the generator is closed)."""
        try:
            for batch in first:
                yield batch
            while reader is not None:
                try:
                    more = await self._in_thread(engine.read_batches, reader, 4)
                except Exception as exc:
                    raise self._engine_error(exc) from None
                if not more:
                    return
                for batch in more:
                    yield batch
        finally:
            if reader is not None:
                self._return_engine(duck)

    def _engine_error(self, exc: Exception) -> SqlError:
        if self._cancel.is_set():
            return errcodes.QueryCanceled(f"canceling statement due to {self._cancel_reason}")
        return engine.translate_error(exc)

    def _columns(self, names: Sequence[str], dtypes: Sequence[Any], plan: QueryPlan) -> tuple[Column, ...]:
        cols = []
        for i, (name, t) in enumerate(zip(names, dtypes, strict=True)):
            oid = plan.oid_overrides.get(i) or engine.duck_type_oid(t)
            cols.append(Column(name, oid, type_modifier=engine.type_modifier(t, oid)))
        return tuple(cols)

    async def _describe(self, prepared: PreparedStatement) -> Description:
        tree = prepared.statement.ast
        if tree is None:
            return Description(prepared.param_oids, None)
        if isinstance(tree, QUERY_TYPES):
            plan = prepared.plan
            assert plan is not None
            if plan.described is not None:
                return Description(plan.param_oids, plan.described)
            nulls = [describe_sample(oid) for oid in plan.param_oids]
            try:
                duck = self._describe_engine()
                self._prepare_engine(duck)
                if plan.reads_views:
                    self.db.streaming.register_views(duck)
                for name in plan.session_relations:
                    duck.register(relations.engine_name(name), self.session_relation(name))
                rel = await self._in_thread(_relation, duck, plan.sql, nulls)
            except Exception as exc:
                raise self._engine_error(exc) from None
            plan.described = self._columns(rel.columns, rel.types, plan)
            return Description(plan.param_oids, plan.described)
        if isinstance(tree, ast.ShowVariable):
            name = str(tree.this)
            if name == "all":
                return Description(prepared.param_oids, _SHOW_ALL_COLUMNS)
            return Description(prepared.param_oids, (Column(canonical_name(name), 25),))
        if isinstance(tree, ast.Subscribe):
            sub = subscribe.Subscription(self, tree)
            columns = sub.columns(await subscribe.describe_view(self, sub))
            return Description(prepared.param_oids, columns)
        if isinstance(tree, ast.FetchCursor) and not tree.args.get("move"):
            cursor = self.cursors.get(str(tree.this))
            if cursor is not None:
                return Description(prepared.param_oids, cursor.columns)
        if isinstance(tree, ast.ExecutePrepared):
            target = self.sql_prepared.get(str(tree.this))
            if target is not None:
                inner = await self.describe(target)
                return Description(prepared.param_oids, inner.columns)
        if isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
            return Description(prepared.param_oids, await self.writes.describe_returning(tree))
        if isinstance(tree, ast.Explain):
            return Description(prepared.param_oids, _EXPLAIN_COLUMNS)
        if isinstance(tree, ast.ShowObjects):
            return Description(prepared.param_oids, streaming_ddl.show_objects_columns(
                str(tree.args.get("kind")).lower()))
        if isinstance(tree, ast.ShowCreate):
            return Description(prepared.param_oids, streaming_ddl.SHOW_CREATE_COLUMNS)
        if isinstance(tree, ast.ShowColumns):
            return Description(prepared.param_oids, streaming_ddl.SHOW_COLUMNS_COLUMNS)
        return Description(prepared.param_oids, None)

    # ---------------------------------------------------------------- utility statements

    async def _set(self, tree: ast.SetVariable, params: Sequence[Any]) -> Result:
        for item in [tree, *(tree.args.get("others") or [])]:
            name = str(item.this)
            values = item.args.get("expressions")
            value = None if values is None else ", ".join(str(v) for v in values)
            if name in ("transaction_isolation", "default_transaction_isolation") and value:
                value = value.lower()
            if item.args.get("local") or name in _TRANSACTION_SCOPED:
                if self._status == "I":
                    what = "SET TRANSACTION" if name in _TRANSACTION_SCOPED else "SET LOCAL"
                    self.notice(f"{what} can only be used in transaction blocks", "25P01",
                                "WARNING")
                self.settings.set_local(name, value)
            else:
                self.settings.set(name, value)
        return CommandResult("SET")

    async def _show(self, tree: ast.ShowVariable, params: Sequence[Any]) -> Result:
        name = str(tree.this)
        if name == "all":
            rows = sorted(
                (canonical_name(k), v) for k, v in self.settings.values.items()
            )
            batch = pa.record_batch(
                [pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows]),
                 pa.array([""] * len(rows))],
                names=["name", "setting", "description"],
            )
            return RowsResult(_SHOW_ALL_COLUMNS, _many([batch]), tag_override="SHOW")
        value = self.settings.get(name)
        column = canonical_name(name)
        batch = pa.record_batch([pa.array([value])], names=[column])
        return RowsResult((Column(column, 25),), _many([batch]), tag_override="SHOW")

    async def _reset(self, tree: ast.ResetVariable, params: Sequence[Any]) -> Result:
        name = str(tree.this)
        if name == "all":
            self.settings.reset_all()
        else:
            self.settings.set(name, None)
        return CommandResult("RESET")

    async def _begin(self, tree: exp.Transaction, params: Sequence[Any]) -> Result:
        if self._status != "I":
            self.notice("there is already a transaction in progress", "25001", "WARNING")
            return CommandResult("BEGIN")
        self._status = "T"
        for mode in tree.args.get("modes") or []:
            mode = str(mode).upper()
            if mode in ("READ ONLY", "READ WRITE"):
                self.settings.set_local("transaction_read_only",
                                        "on" if mode == "READ ONLY" else "off")
            elif mode.startswith("ISOLATION LEVEL "):
                self.settings.set_local("transaction_isolation",
                                        mode.removeprefix("ISOLATION LEVEL ").lower())
        return CommandResult("BEGIN")

    def _refuse_if_read_only(self, tree: exp.Expr) -> None:
        """Writes in a READ ONLY transaction (BEGIN READ ONLY, SET TRANSACTION READ ONLY,
        default_transaction_read_only) are 25006, as in PostgreSQL."""
        flag = self.settings.get_or_none("transaction_read_only")
        if flag != "on" and not (self._status == "I" and self.settings.get_or_none(
                "default_transaction_read_only") == "on"):
            return
        if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() == "TABLE":
            props = tree.args.get("properties")
            if props is not None and any(isinstance(p, exp.TemporaryProperty)
                                         for p in props.expressions):
                return  # refused later for its own reason
        raise errcodes.ReadOnlySqlTransaction(
            f"cannot execute {_statement_name(tree)} in a read-only transaction")

    async def _commit(self, tree: exp.Commit, params: Sequence[Any]) -> Result:
        if self._status == "I":
            self.notice("there is no transaction in progress", "25P01", "WARNING")
            return CommandResult("COMMIT")
        failed = self._status == "E"
        self._end_transaction(committed=not failed)
        await self.writes.finish(commit=not failed)
        return CommandResult("ROLLBACK" if failed else "COMMIT")

    async def _rollback(self, tree: exp.Rollback, params: Sequence[Any]) -> Result:
        if tree.args.get("savepoint"):
            if self._status == "I":
                raise errcodes.NoActiveSqlTransaction(
                    "ROLLBACK TO SAVEPOINT can only be used in transaction blocks"
                )
            raise errcodes.FeatureNotSupported("savepoints are not supported yet")
        if self._status == "I":
            self.notice("there is no transaction in progress", "25P01", "WARNING")
        self._end_transaction()
        await self.writes.finish(commit=False)
        return CommandResult("ROLLBACK")

    def _end_transaction(self, committed: bool = False) -> None:
        """Cursors without HOLD end with the block; WITH HOLD ones survive a COMMIT, but
        not a rollback of the block that declared them (portalmem.c AtAbort_Portals)."""
        self._status = "I"
        self.settings.end(committed)
        for name, cursor in list(self.cursors.items()):
            if not cursor.hold or (cursor.in_block and not committed):
                del self.cursors[name]
            else:
                cursor.in_block = False

    async def _savepoint(self, tree: exp.Expr, params: Sequence[Any]) -> Result:
        if self._status == "I":
            raise errcodes.NoActiveSqlTransaction("SAVEPOINT can only be used in transaction blocks")
        raise errcodes.FeatureNotSupported("savepoints are not supported yet")

    async def _discard(self, tree: ast.Discard, params: Sequence[Any]) -> Result:
        what = str(tree.this).lower()
        if what == "all":
            if self._status != "I":
                raise errcodes.ActiveSqlTransaction(
                    "DISCARD ALL cannot run inside a transaction block"
                )
            self.settings.reset_all()
            self.sql_prepared.clear()
            self.cursors.clear()
            self._plans.clear()
        elif what == "plans":
            self._plans.clear()
            for p in self.sql_prepared.values():
                p.plan = None
                p.description = None
        return CommandResult("DISCARD " + ("TEMP" if what == "temporary" else what.upper()))

    async def _deallocate(self, tree: ast.Deallocate, params: Sequence[Any]) -> Result:
        name = tree.this
        if name is None:
            self.sql_prepared.clear()
            return CommandResult("DEALLOCATE ALL")
        if self.sql_prepared.pop(str(name), None) is None:
            raise errcodes.InvalidSqlStatementName(f'prepared statement "{name}" does not exist')
        return CommandResult("DEALLOCATE")

    async def _prepare_sql(self, tree: ast.Prepare, params: Sequence[Any]) -> Result:
        name = str(tree.this)
        if name in self.sql_prepared:
            raise errcodes.DuplicatePreparedStatement(f'prepared statement "{name}" already exists')
        from laminar_pg.session.query import pg_type_of

        oids = []
        for dtype in tree.args.get("expressions") or []:
            pg = pg_type_of(dtype)
            if pg is None:
                raise errcodes.UndefinedObject(f'type "{dtype.sql("postgres")}" does not exist')
            oids.append(pg.oid)
        query = tree.args["query"]
        text = query.sql(dialect="postgres")
        prepared = PreparedStatement(text, Statement(query, text, 0), tuple(oids))
        if isinstance(query, QUERY_TYPES):
            prepared.plan = self._plan(query, oids)
            prepared.param_oids = prepared.plan.param_oids
        self.sql_prepared[name] = prepared
        return CommandResult("PREPARE")

    async def _execute_sql(self, tree: ast.ExecutePrepared, params: Sequence[Any]) -> Result:
        name = str(tree.this)
        target = self.sql_prepared.get(name)
        if target is None:
            raise errcodes.InvalidSqlStatementName(f'prepared statement "{name}" does not exist')
        args = tree.args.get("expressions") or []
        if len(args) != len(target.param_oids):
            raise errcodes.SyntaxError(
                f'wrong number of parameters for prepared statement "{name}"',
                detail=f"Expected {len(target.param_oids)} parameters but got {len(args)}.",
            )
        values = await self._evaluate_constants(args, target.param_oids)
        assert target.statement.ast is not None
        return await self._dispatch(target, target.statement.ast, values)

    async def _evaluate_constants(
        self, args: Sequence[exp.Expr], oids: Sequence[int]
    ) -> list[Any]:
        """EXECUTE's arguments, evaluated by the engine and cast to the parameter types."""
        if not args:
            return []
        from laminar_pg.wire import types as pgtypes

        items = [
            exp.Cast(this=arg.copy(), to=engine_type(pgtypes.TYPES_BY_OID.get(oid)))
            for arg, oid in zip(args, oids, strict=True)
        ]
        plan = self._plan(exp.select(*items), ())
        result = await self.run_plan(plan, ())
        rows: list[Any] = []
        async for batch in result.batches:
            rows.extend(batch.to_pylist())
        return list(rows[0].values())

    async def _declare(self, tree: ast.DeclareCursor, params: Sequence[Any]) -> Result:
        name = str(tree.this)
        hold = bool(tree.args.get("hold"))
        if self._status == "I" and not hold:
            raise errcodes.NoActiveSqlTransaction(
                "DECLARE CURSOR can only be used in transaction blocks"
            )
        if name in self.cursors:
            raise errcodes.DuplicateCursor(f'cursor "{name}" already exists')
        query = tree.args["query"]
        if isinstance(query, ast.Subscribe):
            return await self._declare_subscription(tree, name, query)
        if not isinstance(query, QUERY_TYPES):
            raise errcodes.SyntaxError("DECLARE CURSOR must be followed by a query")
        plan = self._plan(query, [0] * len(params))
        result = await self.run_plan(plan, params)
        batches = result.batches
        if hold:  # WITH HOLD: materialise now, as PostgreSQL does at commit
            held = [b async for b in result.batches]
            batches = _many(held)
        self.cursors[name] = Cursor(
            name, self.current_query or "", datetime.datetime.now(datetime.UTC), result.columns,
            batches, hold, bool(tree.args.get("binary")), in_block=self._status == "T",
        )
        return CommandResult("DECLARE CURSOR")

    async def _declare_subscription(self, tree: ast.DeclareCursor, name: str,
                                    query: ast.Subscribe) -> Result:
        if tree.args.get("hold"):
            raise errcodes.FeatureNotSupported("DECLARE ... WITH HOLD CURSOR FOR SUBSCRIBE")
        if self._status != "T":
            raise errcodes.NoActiveSqlTransaction(
                "DECLARE CURSOR can only be used in transaction blocks")
        sub = subscribe.Subscription(self, query)
        columns = sub.columns(await subscribe.describe_view(self, sub))
        await sub.open()
        cursor = Cursor(name, self.current_query or "", datetime.datetime.now(datetime.UTC),
                        columns, _many([]), False, bool(tree.args.get("binary")),
                        in_block=True, subscription=sub)
        weakref.finalize(cursor, sub.close)  # however the cursor goes, the view is left
        self.cursors[name] = cursor
        return CommandResult("DECLARE CURSOR")

    async def _subscribe(self, tree: ast.Subscribe, params: Sequence[Any]) -> RowsResult:
        sub = subscribe.Subscription(self, tree)
        columns = sub.columns(await subscribe.describe_view(self, sub))
        await sub.open()
        return RowsResult(columns, sub.batches(), tag_prefix="SUBSCRIBE", live=True)

    async def _fetch_subscription(self, cursor: Cursor, tree: ast.FetchCursor,
                                  count: int | None) -> Result:
        """FETCH n from a subscription: waits (up to `timeout`) for the first rows, then
        returns up to n of those ready."""
        timeout: float | None = None
        for option in tree.args.get("options") or []:
            key = str(option.this).lower()
            if key != "timeout":
                raise errcodes.InvalidParameterValue(f'unrecognized FETCH option "{key}"')
            timeout = parse_timeout(str(option.args["value"].this))
        ready = cursor.pending or await cursor.subscription.wait(timeout)
        out: list[pa.RecordBatch] = []
        want = count
        while ready and (want is None or want > 0):
            batch = ready.pop(0)
            if want is not None and batch.num_rows > want:
                ready.insert(0, batch.slice(want))
                batch = batch.slice(0, want)
            out.append(batch)
            if want is not None:
                want -= batch.num_rows
        cursor.pending = ready
        return RowsResult(cursor.columns, _many(out), tag_prefix="FETCH")

    async def _fetch(self, tree: ast.FetchCursor, params: Sequence[Any]) -> Result:
        name = str(tree.this)
        cursor = self.cursors.get(name)
        if cursor is None:
            raise errcodes.InvalidCursorName(f'cursor "{name}" does not exist')
        direction = str(tree.args.get("direction") or "forward").lower()
        count = tree.args.get("count")
        count = None if count is None else int(count)
        if direction in ("next",):
            count = 1
        elif direction not in ("forward",):
            raise errcodes.FeatureNotSupported(
                f"FETCH {direction.upper()} is not supported: cursors are forward-only",
                hint="Use FETCH [FORWARD] n or FETCH ALL.",
            )
        if count is not None and count < 0:
            raise errcodes.FeatureNotSupported("cursor can only scan forward")
        if cursor.subscription is not None and not tree.args.get("move"):
            return await self._fetch_subscription(cursor, tree, count)
        if tree.args.get("move"):
            moved = 0
            async for batch in cursor.take(count):
                moved += batch.num_rows
            return CommandResult(f"MOVE {moved}")
        return RowsResult(cursor.columns, cursor.take(count), tag_prefix="FETCH")

    async def _close_cursor(self, tree: ast.CloseCursor, params: Sequence[Any]) -> Result:
        name = tree.this
        if name is None:
            self.cursors.clear()
        elif self.cursors.pop(str(name), None) is None:
            raise errcodes.InvalidCursorName(f'cursor "{name}" does not exist')
        return CommandResult("CLOSE CURSOR" if name is not None else "CLOSE CURSOR ALL")

    async def _explain(self, tree: ast.Explain, params: Sequence[Any]) -> Result:
        """The engine's plan of a query, one line a row in the column "QUERY PLAN" (of a
        streaming CREATE: the dataflow it would build; of a running streaming object: its
        dataflow, with each operator's figures under ANALYZE)."""
        inner = tree.this
        options = tree.args.get("options") or {}
        analyze = options.get("analyze", "false") in ("true", "on", "1")
        plan_lines: list[str] | None = None
        if isinstance(inner, ast.ExplainObject):  # a running object's dataflow
            plan_lines = streaming_ddl.explain_object(self, inner, analyze)
        elif isinstance(inner, (ast.CreateMaterializedView, ast.CreateStream, ast.CreateSink)):
            plan_lines = streaming_ddl.explain_streaming(self, inner)
        if plan_lines is not None:
            table = pa.table({"QUERY PLAN": pa.array(plan_lines, pa.string())})
            return RowsResult(_EXPLAIN_COLUMNS, _many(table.to_batches()), tag_override="EXPLAIN")
        if not isinstance(inner, QUERY_TYPES):
            raise errcodes.FeatureNotSupported(
                f"EXPLAIN of {_statement_name(inner)} is not supported yet",
                hint="EXPLAIN works on queries (SELECT, VALUES, set operations).")
        plan = self._plan(inner, [0] * len(params))
        prefix = "EXPLAIN ANALYZE " if analyze else "EXPLAIN "
        explained = QueryPlan(prefix + plan.sql, plan.param_oids)
        result = await self.run_plan(explained, params)
        lines: list[str] = []
        async for batch in result.batches:
            for value in batch.column(batch.num_columns - 1).to_pylist():
                lines.extend(str(value).rstrip("\n").split("\n"))
        table = pa.table({"QUERY PLAN": pa.array(lines, pa.string())})
        return RowsResult(_EXPLAIN_COLUMNS, _many(table.to_batches()), tag_override="EXPLAIN")

    async def _refuse(self, tree: exp.Expr, params: Sequence[Any]) -> Result:
        raise errcodes.FeatureNotSupported(f"{_statement_name(tree)} is not supported yet")

    async def _copy(self, tree: exp.Copy, params: Sequence[Any]) -> Result:
        target = tree.this
        if not tree.args.get("kind") and isinstance(target, ast.Subscribe):
            files = tree.args.get("files") or []
            if not files or files[0].sql().upper() != "STDOUT":
                raise errcodes.FeatureNotSupported("COPY TO a file is not supported; use STDOUT")
            result = await self._subscribe(target, params)
            result.copy = copy_format(tree)
            return result
        if not tree.args.get("kind"):  # COPY ... TO
            query = target.this if isinstance(target, exp.Subquery) else None
            if query is None:  # COPY t [(cols)] TO STDOUT: the table's rows
                table = target.this if isinstance(target, exp.Schema) else target
                if not isinstance(table, exp.Table) or self._table_column_oids(table) is None:
                    name = table.sql("postgres") if isinstance(table, exp.Expr) else "?"
                    raise errcodes.UndefinedTable(f'relation "{name}" does not exist')
                cols: list[exp.Expr] = (
                    [exp.column(c.name, quoted=True) for c in target.expressions]
                    if isinstance(target, exp.Schema) else [exp.Star()])
                query = exp.select(*cols).from_(table.copy())
            files = tree.args.get("files") or []
            if not files or files[0].sql().upper() != "STDOUT":
                raise errcodes.FeatureNotSupported("COPY TO a file is not supported; use STDOUT")
            copy = copy_format(tree)
            plan = self._plan(query, ())
            result = await self.run_plan(plan, params)
            result.copy = copy
            return result
        return await self._copy_from(tree)

    async def _copy_from(self, tree: exp.Copy) -> Result:
        files = tree.args.get("files") or []
        if not files or files[0].sql().upper() != "STDIN":
            raise errcodes.FeatureNotSupported("COPY FROM a file is not supported; use STDIN")
        fmt = copy_format(tree)
        target = tree.this
        table = target.this if isinstance(target, exp.Schema) else target
        assert isinstance(table, exp.Table)
        columns = self._table_column_oids(table)
        if columns is None:
            raise errcodes.UndefinedTable(f'relation "{table.sql("postgres")}" does not exist')
        names = ([c.name for c in target.expressions] if isinstance(target, exp.Schema)
                 else list(columns))
        for name in names:
            if name not in columns:
                raise errcodes.UndefinedColumn(
                    f'column "{name}" of relation "{table.name}" does not exist')

        async def load(rows: pa.Table) -> int:
            state = await self.writes.begin()
            obj = tables.resolve_table(state, table)
            count: int = await self.writes.call(tables.insert_arrow, state, obj, names, rows)
            return count

        return CopyInResult(len(names), fmt, CopyInCollector(fmt, names, load, self._in_thread))


_LEGACY_COPY_FLAGS = {"csv": ("format", "csv"), "binary": ("format", "binary"),
                      "text": ("format", "text"), "header": ("header", "true")}


def copy_format(tree: exp.Copy) -> CopyFormat:
    """COPY's options, in the parenthesised form and the legacy one (`WITH CSV HEADER`,
    `WITH BINARY`, which psql's \\copy sends), as copy.c's ProcessCopyOptions reads them."""
    opts: dict[str, str] = {}
    force_quote: tuple[str, ...] | bool = ()
    for param in tree.args.get("params") or []:
        key = param.this.name.lower() if isinstance(param.this, exp.Expr) else str(param.this).lower()
        value = param.args.get("expression")
        if key == "force_quote":
            items = param.args.get("expressions") or []
            force_quote = True if isinstance(value, exp.Star) else tuple(i.name for i in items)
            continue
        boolean = isinstance(value, (exp.Var, exp.Literal, exp.Boolean)) and (
            value.name.lower() in ("true", "false", "on", "off", "1", "0", "match"))
        if key == "header" and boolean:  # HEADER true | on | 1 ... (copy.c defGetCopyHeader)
            assert isinstance(value, exp.Expr)
            opts["header"] = "false" if value.name.lower() in ("false", "off", "0") else "true"
            continue
        if key in _LEGACY_COPY_FLAGS and (value is None or isinstance(value, exp.Var)):
            name, flag = _LEGACY_COPY_FLAGS[key]
            opts[name] = flag
            if isinstance(value, exp.Var):  # `csv header`: the next flag read as a value
                follower = value.name.lower()
                if follower not in _LEGACY_COPY_FLAGS:
                    raise errcodes.SyntaxError(f'syntax error at or near "{value.name}"')
                name, flag = _LEGACY_COPY_FLAGS[follower]
                opts[name] = flag
            continue
        if value is None:
            opts[key] = "true"
        elif isinstance(value, exp.Literal):
            opts[key] = value.this
        else:
            opts[key] = value.sql().strip("'").lower() if isinstance(value, exp.Expr) else str(value)
    fmt = opts.get("format", "text").lower()
    if fmt not in ("text", "csv", "binary"):
        raise errcodes.InvalidParameterValue(f'COPY format "{fmt}" not recognized')
    header = opts.get("header", "false").lower() in ("true", "on", "1", "")
    delimiter = opts.get("delimiter", "," if fmt == "csv" else "\t")
    null = opts.get("null", "" if fmt == "csv" else "\\N")
    quote = opts.get("quote", '"')
    if force_quote and fmt != "csv":
        raise errcodes.FeatureNotSupported("COPY force quote available only in CSV mode")
    return CopyFormat(fmt, delimiter, null, header, quote, opts.get("escape", quote), force_quote)


@dataclass(slots=True)
class QueryStart:
    names: list[str]
    types: list[Any]
    batches: list[pa.RecordBatch]
    reader: pa.RecordBatchReader | None  # None: the result is complete in `batches`


def _start_query(duck: Any, sql: str, params: list[Any], whole: bool = False) -> QueryStart:
    """Run a query and read its first rows, in one trip to a worker thread: a small result
    comes back complete, a large one is streamed by later reads (unless `whole`)."""
    rel = duck.sql(sql, params=params or None)
    reader: pa.RecordBatchReader | None = rel.to_arrow_reader(BATCH_ROWS)
    batches: list[pa.RecordBatch] = []
    rows = 0
    while whole or rows < FIRST_READ_ROWS:
        try:
            batch = reader.read_next_batch()  # type: ignore[union-attr]
        except StopIteration:
            reader = None
            break
        batches.append(batch)
        rows += batch.num_rows
    return QueryStart(rel.columns, rel.types, batches, reader)


def _relation(duck: Any, sql: str, params: list[Any]) -> Any:
    rel = duck.sql(sql, params=params or None)
    rel.types  # noqa: B018 - binds the query
    return rel


_ENGINE_TYPED = frozenset({1043, 1042, 3802})  # declared types the engine cannot report


def _declared_overrides(tree: exp.Expr, columns: dict[str, int], plan: QueryPlan) -> None:
    """SELECT * / plain columns of one table: RowDescription says varchar, bpchar or jsonb
    where the column was declared so (the engine's type is VARCHAR or JSON)."""
    if not isinstance(tree, exp.Select) or not any(o in _ENGINE_TYPED for o in columns.values()):
        return
    position = 0
    for item in tree.expressions:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and item.is_star):
            for oid in columns.values():
                if oid in _ENGINE_TYPED:
                    plan.oid_overrides.setdefault(position, oid)
                position += 1
            continue
        inner = item.this if isinstance(item, exp.Alias) else item
        if isinstance(inner, exp.Column) and columns.get(inner.name, 0) in _ENGINE_TYPED:
            plan.oid_overrides.setdefault(position, columns[inner.name])
        position += 1


async def _many(batches: list[pa.RecordBatch]) -> AsyncIterator[pa.RecordBatch]:
    for b in batches:
        yield b


@functools.lru_cache(maxsize=64)
def session_zone(name: str) -> datetime.tzinfo | None:
    """The TimeZone setting as a tzinfo (None for UTC, the encoders' default)."""
    return None if name == "UTC" else zoneinfo.ZoneInfo(name)


def describe_sample(oid: int) -> Any:
    """A stand-in parameter value for describing a statement before it is bound.

    Parameters the engine types by value (numeric) need a value of the right type; the
    others are cast explicitly, so NULL does.
    """
    return decimal.Decimal(0) if oid == 1700 else None


def _statement_name(tree: exp.Expr) -> str:
    if isinstance(tree, (exp.Create, exp.Drop, exp.Alter)):
        kind = str(tree.args.get("kind") or "").upper()
        return f"{tree.key.upper()} {kind}".strip()
    if isinstance(tree, ast.LiteralInsert):
        return "INSERT"
    if isinstance(tree, exp.TruncateTable):
        return "TRUNCATE TABLE"
    return tree.key.upper().replace("_", " ")


_SHOW_ALL_COLUMNS = (Column("name", 25), Column("setting", 25), Column("description", 25))

_EXPLAIN_COLUMNS = (Column("QUERY PLAN", 25),)
_HANDLERS: dict[type, Any] = {
    ast.SetVariable: PgSession._set,
    ast.ShowVariable: PgSession._show,
    ast.ResetVariable: PgSession._reset,
    exp.Transaction: PgSession._begin,
    exp.Commit: PgSession._commit,
    exp.Rollback: PgSession._rollback,
    ast.Savepoint: PgSession._savepoint,
    ast.ReleaseSavepoint: PgSession._savepoint,
    ast.Discard: PgSession._discard,
    ast.Deallocate: PgSession._deallocate,
    ast.Prepare: PgSession._prepare_sql,
    ast.ExecutePrepared: PgSession._execute_sql,
    ast.DeclareCursor: PgSession._declare,
    ast.Subscribe: PgSession._subscribe,
    ast.FetchCursor: PgSession._fetch,
    ast.CloseCursor: PgSession._close_cursor,
    ast.Explain: PgSession._explain,
    ast.ShowObjects: streaming_ddl.show_objects,
    ast.CreateSource: streaming_ddl.create_source,
    ast.CreateStream: streaming_ddl.create_stream,
    ast.CreateMaterializedView: streaming_ddl.create_view,
    ast.CreateSink: streaming_ddl.create_sink,
    ast.DropObject: streaming_ddl.drop_objects,
    ast.FlushStatement: streaming_ddl.flush,
    ast.CheckpointStatement: streaming_ddl.checkpoint,
    ast.ShowCreate: streaming_ddl.show_create,
    ast.ShowColumns: streaming_ddl.show_columns,
    exp.Comment: pg_comments.comment_on,
    ast.Listen: PgSession._refuse,
    ast.Unlisten: PgSession._refuse,
    ast.Notify: PgSession._refuse,
}
