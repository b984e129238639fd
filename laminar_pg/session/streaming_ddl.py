"""CREATE / DROP of sources, streams and materialized views, and FLUSH, for a session.

Streaming DDL runs on its own: inside BEGIN ... COMMIT it is refused with 25001, as
DESIGN.md says. It takes the writer lock (so no table commit interleaves with a view's
snapshot of that table), logs its definition as a `DdlOp`, installs the dataflow on the
pipeline thread and waits for the next epoch, so that a view is readable, with its
initial contents, when CREATE returns.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.catalog.objects import CatalogObject
from laminar_pg.engine.checkpoint import definition_key
from laminar_pg.engine.expr import pg_type_name
from laminar_pg.errors import error_for
from laminar_pg.observability import explain
from laminar_pg.session import tables
from laminar_pg.session.streaming import (
    STREAMING_KINDS,
    StreamingObject,
    make_resolver,
    sink_query,
    table_snapshots,
    view_ddl,
    view_relation,
    wait,
)
from laminar_pg.sql import ast
from laminar_pg.sql.dialect import Laminar, quote_name
from laminar_pg.sql.planner import Planner
from laminar_pg.wire.session import Column, CommandResult, RowsResult

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession
    from laminar_pg.session.tables import WriteState

RELATION_KINDS = ("table", *STREAMING_KINDS)


def _refuse_in_block(session: PgSession, what: str) -> None:
    if session.transaction_status != "I" or session.writes.active:
        raise errcodes.ActiveSqlTransaction(f"{what} cannot run inside a transaction block")


def _target(state: WriteState, table: exp.Table) -> tuple[str, str]:
    if table.db:
        if state.catalog.find("schema", "", table.db) is None:
            raise errcodes.InvalidSchemaName(f'schema "{table.db}" does not exist')
        return table.db, table.name
    # PostgreSQL creates in the first schema of search_path that exists
    for schema in state.search_path:
        if state.catalog.find("schema", "", schema) is not None:
            return schema, table.name
    raise errcodes.InvalidSchemaName("no schema has been selected to create in")


def _exists(session: PgSession, state: WriteState, schema: str, name: str) -> bool:
    for kind in RELATION_KINDS:
        if state.catalog.find(kind, schema, name) is not None:
            return True
    found = state.duck.execute(
        "SELECT 1 FROM duckdb_views() WHERE schema_name = $1 AND view_name = $2 "
        "AND NOT internal", [schema, name]).fetchall()
    return bool(found)


Undo = Callable[[], None]


async def _create(session: PgSession, tree: ast.LaminarStatement, tag: str, kind: str,
                  build: Callable[[WriteState, CatalogObject], Awaitable[Undo | None]],
                  ) -> CommandResult:
    """The frame every streaming CREATE shares: on its own (25001 in a block), under the
    writer lock, IF NOT EXISTS, a fresh OID; `build` defines, logs and installs the
    object and returns how to take it out of the runtime if the commit fails."""
    _refuse_in_block(session, tag)
    state = await session.writes.begin()
    undo: Undo | None = None
    try:
        state.ensure_begun()
        schema, name = _target(state, tree.this)
        if _exists(session, state, schema, name):
            if not tree.args.get("exists"):
                raise errcodes.DuplicateTable(f'relation "{name}" already exists')
            session.notice(f'relation "{name}" already exists, skipping', "42P07")
            await session.writes.finish(commit=False)
            return CommandResult(tag)
        obj = CatalogObject(state.catalog.allocate_oid(), kind, schema, name)
        undo = await build(state, obj)
        await session.writes.finish(commit=True)
    except BaseException:
        if undo is not None:
            undo()
        await session.writes.finish(commit=False)
        raise
    return CommandResult(tag)


def _forget(session: PgSession, oid: int, running: bool) -> Undo:
    """Take a created object back out (of the runtime too when it has a dataflow)."""
    streaming = session.db.streaming

    def undo() -> None:
        streaming.objects.pop(oid, None)
        if running:
            streaming.runtime.call(functools.partial(streaming.runtime.remove, oid))

    return undo


async def create_source(session: PgSession, tree: ast.CreateSource, params: Any) -> CommandResult:
    async def build(state: WriteState, obj: CatalogObject) -> Undo:
        item = session.db.streaming.define_source(tree, obj)
        state.ddl(item.definition, obj.oid, obj.key)
        session.db.streaming.objects[obj.oid] = item
        return _forget(session, obj.oid, running=False)

    return await _create(session, tree, "CREATE SOURCE", "source", build)


async def create_stream(session: PgSession, tree: ast.CreateStream, params: Any) -> CommandResult:
    """A stream is a named query: planned now (to refuse what cannot stream), inlined into
    every view that reads it."""
    async def build(state: WriteState, obj: CatalogObject) -> Undo:
        streaming = session.db.streaming
        item = streaming.define_stream(tree, obj, make_resolver(streaming, state))
        state.ddl(item.definition, obj.oid, obj.key)
        streaming.objects[obj.oid] = item
        return _forget(session, obj.oid, running=False)

    return await _create(session, tree, "CREATE STREAM", "stream", build)


async def create_view(session: PgSession, tree: ast.CreateMaterializedView,
                      params: Any) -> CommandResult:
    async def build(state: WriteState, obj: CatalogObject) -> Undo:
        streaming = session.db.streaming
        flow, out, depends, snapshots = streaming.plan_view(
            tree.expression, tree.args.get("emit"), make_resolver(streaming, state), obj.oid,
            obj.name)
        table_rows = table_snapshots(state, snapshots)
        item = StreamingObject(obj, tree.sql(dialect=Laminar), tree, out, depends)
        state.duck.register(view_relation(obj.oid), out.empty_table())
        state.duck.execute(view_ddl(obj))
        state.ddl(item.definition, obj.oid, obj.key)
        flow.definition = definition_key(item.definition)
        await wait(streaming.runtime.call(functools.partial(streaming.install, flow, table_rows)))
        streaming.objects[obj.oid] = item
        undo = _forget(session, obj.oid, running=True)
        try:
            await wait(streaming.runtime.flush())  # readable, with its first contents, at once
        except BaseException:
            undo()
            raise
        failure = streaming.runtime.snapshot.failed.get(obj.oid)
        if failure is not None:  # its first contents already failed: CREATE fails
            undo()
            raise error_for(failure[1], failure[0])
        return undo

    return await _create(session, tree, "CREATE MATERIALIZED VIEW", "materialized view", build)


SINK_CONNECTORS = ("blackhole",)
NOT_BUILT_SINKS = ("postgres", "kafka", "file", "iceberg")


async def create_sink(session: PgSession, tree: ast.CreateSink, params: Any) -> CommandResult:
    """CREATE SINK k FROM v | AS SELECT ... WITH (connector = 'blackhole')."""
    options = tree.options_dict
    connector = options.get("connector")
    if connector not in SINK_CONNECTORS:
        if connector in NOT_BUILT_SINKS:
            raise errcodes.FeatureNotSupported(f"sink connector '{connector}' is not built yet")
        raise errcodes.FeatureNotSupported(
            f"unknown sink connector {connector!r}" if connector else "CREATE SINK needs a connector",
            hint="Built in: connector = 'blackhole'.")

    async def build(state: WriteState, obj: CatalogObject) -> Undo:
        streaming = session.db.streaming
        query = sink_query(tree)
        flow, depends, snapshots = streaming.plan_sink(
            query, make_resolver(streaming, state), obj.oid, obj.name)
        table_rows = table_snapshots(state, snapshots)
        if tree.args.get("source") is not None:
            from_ = query.args.get("from_") or query.args["from"]
            tree.set("source", from_.this.copy())  # as the resolver qualified it
        item = StreamingObject(obj, tree.sql(dialect=Laminar), tree, pa.schema([]), depends,
                               options=options)
        state.ddl(item.definition, obj.oid, obj.key)
        flow.definition = definition_key(item.definition)
        await wait(streaming.runtime.call(functools.partial(streaming.install, flow, table_rows)))
        streaming.objects[obj.oid] = item
        return _forget(session, obj.oid, running=True)

    return await _create(session, tree, "CREATE SINK", "sink", build)


_DROP_TAGS = {"source": "DROP SOURCE", "stream": "DROP STREAM",
              "materialized view": "DROP MATERIALIZED VIEW", "sink": "DROP SINK"}


async def drop_objects(session: PgSession, tree: ast.DropObject, params: Any) -> CommandResult:
    kind = str(tree.args["kind"]).lower()
    _refuse_in_block(session, _DROP_TAGS[kind])
    streaming = session.db.streaming
    state = await session.writes.begin()
    try:
        state.ensure_begun()
        targets: list[StreamingObject] = []
        for table in tree.expressions:
            item = streaming.find(state.catalog, table, state.search_path, (kind,))
            if item is None:
                if tree.args.get("exists"):
                    session.notice(f'{kind} "{table.name}" does not exist, skipping', "00000")
                    continue
                other = streaming.find(state.catalog, table, state.search_path)
                if other is not None:
                    raise errcodes.WrongObjectType(f'"{table.name}" is not a {kind}',
                                                   hint=f"Use DROP {other.kind.upper()}.")
                raise errcodes.UndefinedTable(f'{kind} "{table.name}" does not exist')
            targets.append(item)
        await drop_with_dependents(session, state, targets, bool(tree.args.get("cascade")))
    except BaseException:
        await session.writes.finish(commit=False)
        raise
    await session.writes.finish(commit=True)
    return CommandResult(_DROP_TAGS[kind])


async def drop_with_dependents(session: PgSession, state: WriteState,
                               targets: list[StreamingObject], cascade: bool,
                               dropping: set[int] | None = None) -> None:
    """Drop `targets` (and with CASCADE, everything that reads them, readers first);
    without CASCADE a dependent is SQLSTATE 2BP01."""
    streaming = session.db.streaming
    order: list[StreamingObject] = []
    seen: set[int] = set(dropping or ())

    def visit(item: StreamingObject, root: StreamingObject) -> None:
        if item.obj.oid in seen:
            return
        seen.add(item.obj.oid)
        for dependent in streaming.dependents(item.obj.oid):
            if dependent.obj.oid in seen:
                continue
            if not cascade:
                raise errcodes.DependentObjectsStillExist(
                    f"cannot drop {root.kind} {root.obj.name} because other objects depend on it",
                    detail=f"{dependent.kind} {dependent.obj.name} depends on {item.kind} "
                           f"{item.obj.name}",
                    hint="Use DROP ... CASCADE to drop the dependent objects too.")
            visit(dependent, root)
        order.append(item)

    for item in targets:
        visit(item, item)
    for item in order:
        if cascade and item not in targets:
            session.notice(f"drop cascades to {item.kind} {item.obj.name}", "00000")
    for item in order:
        await remove_object(session, state, item)


async def remove_object(session: PgSession, state: WriteState, item: StreamingObject) -> None:
    streaming = session.db.streaming
    oid = item.obj.oid
    if item.kind == "materialized view":
        state.duck.execute(f"DROP VIEW IF EXISTS {tables.qualified_sql(item.obj)}")
    if item.kind in ("materialized view", "sink"):
        await wait(streaming.runtime.call(lambda: streaming.runtime.remove(oid)))
    state.ddl("", oid, None)
    streaming.objects.pop(oid, None)


async def table_dependents(session: PgSession, tree: exp.Expr) -> None:
    """Before DROP TABLE / ALTER TABLE / DROP SCHEMA: views reading the table block it
    (2BP01); DROP ... CASCADE drops them first."""
    streaming = session.db.streaming
    if not streaming.objects:
        return
    state = await session.writes.begin()
    state.ensure_begun()
    targets: list[CatalogObject] = []
    if isinstance(tree, exp.Drop):
        kind = str(tree.args.get("kind") or "").upper()
        names = tables._drop_targets(tree)
        if kind == "TABLE":
            targets = [o for t in names if isinstance(t, exp.Table)
                       and (o := tables.resolve(state, t)) is not None]
        elif kind == "SCHEMA":
            schemas = {t.name for t in names if isinstance(t, exp.Table)} | {
                t.db for t in names if isinstance(t, exp.Table) and t.db}
            targets = [o for o in state.catalog.objects.values()
                       if o.schema in schemas and o.kind in RELATION_KINDS]
        cascade = bool(tree.args.get("cascade"))
    elif isinstance(tree, exp.Alter):
        table = tree.this
        obj = tables.resolve(state, table) if isinstance(table, exp.Table) else None
        targets = [obj] if obj is not None else []
        cascade = False
    for obj in targets:
        dependents = streaming.dependents(obj.oid)
        if obj.oid in streaming.objects:  # a streaming object in a dropped schema
            dependents = [streaming.objects[obj.oid]]
        if not dependents:
            continue
        if not cascade:
            first = dependents[0]
            verb = "alter" if isinstance(tree, exp.Alter) else "drop"
            raise errcodes.DependentObjectsStillExist(
                f"cannot {verb} table {obj.name} because other objects depend on it",
                detail=f"{first.kind} {first.obj.name} depends on table {obj.name}",
                hint=None if verb == "alter" else "Use DROP ... CASCADE to drop them too.")
        await drop_with_dependents(session, state, dependents, True)


async def checkpoint(session: PgSession, tree: ast.CheckpointStatement,
                     params: Any) -> CommandResult:
    """CHECKPOINT: returns once a checkpoint taken after it is durable (its manifest
    written), so everything ingested and committed before it survives a crash without
    replay."""
    _refuse_in_block(session, "CHECKPOINT")
    runtime = session.db.streaming.runtime
    if runtime.checkpointer is None:
        raise errcodes.ObjectNotInPrerequisiteState("checkpoints are not running")
    await session.writes.wait_visible_durable()
    await wait(runtime.checkpoint())
    return CommandResult("CHECKPOINT")


async def flush(session: PgSession, tree: ast.FlushStatement, params: Any) -> CommandResult:
    """FLUSH: returns once everything ingested and committed before it is in every view."""
    await session.writes.wait_visible_durable()
    await wait(session.db.streaming.runtime.flush())
    return CommandResult("FLUSH")




SHOW_CREATE_COLUMNS = (Column("name", 25), Column("create_sql", 25))
SHOW_COLUMNS_COLUMNS = (Column("name", 25), Column("nullable", 16), Column("type", 25))


async def show_create(session: PgSession, tree: ast.ShowCreate, params: Any) -> RowsResult:
    """SHOW CREATE {SOURCE|STREAM|MATERIALIZED VIEW|SINK|TABLE|VIEW} name: the definition
    (streaming objects as logged, names qualified; tables and views as the engine keeps
    them)."""
    kind = str(tree.args["kind"]).lower()
    table = tree.this
    catalog = session._catalog()
    path = session.search_path()
    if kind in STREAMING_KINDS:
        item = session.db.streaming.find(catalog, table, path, (kind,))
        if item is None:
            raise errcodes.UndefinedTable(f'{kind} "{table.name}" does not exist')
        name, sql = f"{item.obj.schema}.{item.obj.name}", item.definition
    else:
        schemas = [table.db] if table.db else path
        function = "duckdb_tables()" if kind == "table" else "duckdb_views()"
        column = "table_name" if kind == "table" else "view_name"
        found = None
        duck = session._describe_engine()
        for schema in schemas:
            rows = duck.execute(f"SELECT schema_name, sql FROM {function} WHERE schema_name = $1 "
                                f"AND {column} = $2 AND NOT internal", [schema, table.name]
                                ).fetchall()
            if rows:
                found = rows[0]
                break
        if found is None or (kind == "view" and found[1] and "__laminar_mv_" in found[1]):
            raise errcodes.UndefinedTable(f'{kind} "{table.name}" does not exist')
        name, sql = f"{found[0]}.{table.name}", found[1]
    data = pa.table({"name": pa.array([name]), "create_sql": pa.array([sql])})
    return RowsResult(SHOW_CREATE_COLUMNS, _many(data.to_batches()), tag_override="SHOW")


async def show_columns(session: PgSession, tree: ast.ShowColumns, params: Any) -> RowsResult:
    """SHOW COLUMNS FROM name: every column of a table, view, source or stream."""
    table = tree.this
    streaming = session.db.streaming
    item = streaming.find(session._catalog(), table, session.search_path(),
                          ("source", "stream", "materialized view"))
    if item is not None:
        names = [f.name for f in item.schema]
        nullable = [f.nullable for f in item.schema]
        types = [pg_type_name(f.type) for f in item.schema]
    else:
        duck = session._describe_engine()
        session._prepare_engine(duck)
        qualified = ".".join(quote_name(p) for p in (table.db, table.name) if p)
        try:
            described = duck.execute(f"DESCRIBE {qualified}").fetchall()
        except Exception:
            raise errcodes.UndefinedTable(
                f'relation "{table.sql("postgres")}" does not exist') from None
        names = [r[0] for r in described]
        nullable = [r[2] != "NO" for r in described]
        types = [str(r[1]).lower() for r in described]
    data = pa.table({"name": pa.array(names, pa.string()),
                     "nullable": pa.array(nullable, pa.bool_()),
                     "type": pa.array(types, pa.string())})
    return RowsResult(SHOW_COLUMNS_COLUMNS, _many(data.to_batches()), tag_override="SHOW")


async def _many(batches: list[pa.RecordBatch]) -> Any:
    for batch in batches:
        yield batch


def explain_streaming(session: PgSession, tree: ast.LaminarStatement) -> list[str]:
    """EXPLAIN CREATE MATERIALIZED VIEW | STREAM | SINK: the dataflow the planner would
    build, output first, each operator over its inputs, with the columns it emits."""
    from types import SimpleNamespace

    tree = tree.copy()  # the resolver qualifies names in place
    state = SimpleNamespace(catalog=session._catalog(), search_path=session.search_path(),
                            duck=session._describe_engine())
    planner = Planner(make_resolver(session.db.streaming, state))
    if isinstance(tree, ast.CreateMaterializedView):
        planner.emit_on_close = tree.args.get("emit") == "window_close"
        query = tree.expression
        top = "materialize"
    elif isinstance(tree, ast.CreateSink):
        query = sink_query(tree)
        top = f"sink ({tree.options_dict.get('connector')})"
    else:
        query = tree.expression
        top = "stream"
    result = planner.plan(query)
    return explain.tree_lines(result.output.node, result.nodes,
                              f"{top} ({', '.join(result.names)})")


def explain_object(session: PgSession, tree: ast.ExplainObject, analyze: bool) -> list[str]:
    """EXPLAIN [ANALYZE] {MATERIALIZED VIEW | STREAM | SINK} name: the operator graph of
    the running object (ANALYZE: with each operator's figures). A stream has no dataflow
    of its own (it is inlined into each reader): its planned graph, and who reads it."""
    kind = str(tree.args["kind"]).lower()
    table = tree.this
    streaming = session.db.streaming
    catalog = session._catalog()
    path = session.search_path()
    item = streaming.find(catalog, table, path, (kind,))
    if item is None:
        other = streaming.find(catalog, table, path)
        if other is not None:
            raise errcodes.WrongObjectType(f'"{table.name}" is not a {kind}',
                                           hint=f"Use EXPLAIN {other.kind.upper()}.")
        raise errcodes.UndefinedTable(f'{kind} "{table.name}" does not exist')
    qualified = f"{item.obj.schema}.{item.obj.name}"
    if kind == "stream":
        assert isinstance(item.tree, ast.CreateStream)
        lines = explain_streaming(session, item.tree)
        readers = sorted(f"{o.obj.schema}.{o.obj.name}" for o in streaming.dependents(item.obj.oid))
        lines[0] = f"stream {qualified} ({', '.join(item.schema.names)})"
        lines.append(f"inlined into: {', '.join(readers) if readers else 'no reader yet'}")
        if analyze:
            lines.append("a stream has no operators of its own: its figures are those of "
                         "its operators in each reader (EXPLAIN ANALYZE of the reader)")
        return lines
    flow = streaming.runtime.dataflows.get(item.obj.oid)
    if flow is None:
        raise errcodes.ObjectNotInPrerequisiteState(f'{kind} "{item.obj.name}" is not running')
    return explain.explain_dataflow(flow, kind, qualified, analyze)


_SHOW_KINDS = {"sources": "source", "streams": "stream", "materialized views": "materialized view",
               "tables": "table", "sinks": "sink", "views": "view"}
_NAME, _SCHEMA = Column("name", 25), Column("schema", 25)


def show_objects_columns(kind: str) -> tuple[Column, ...]:
    """What SHOW <kind> prints: name and schema, then the connector of a source or sink
    and the status of a streaming object (as laminar_catalog.* says it)."""
    if kind in ("sources", "sinks"):
        return (_NAME, _SCHEMA, Column("connector", 25), Column("status", 25))
    if kind in ("streams", "materialized views"):
        return (_NAME, _SCHEMA, Column("status", 25))
    return (_NAME, _SCHEMA)


async def show_objects(session: PgSession, tree: ast.ShowObjects, params: Any) -> RowsResult:
    """SHOW SOURCES | STREAMS | MATERIALIZED VIEWS | TABLES | SINKS | VIEWS [FROM schema]:
    the objects of that kind in that schema (else the schemas of search_path), sorted by
    name (then schema)."""
    from laminar_pg.observability import figures

    kind = str(tree.args.get("kind")).lower()
    columns = show_objects_columns(kind)
    catalog = session._catalog()
    schema = tree.args.get("schema")
    if schema is not None:
        if (catalog.find("schema", "", str(schema)) is None
                and schema not in ("pg_catalog", "information_schema", "laminar_catalog")):
            raise errcodes.InvalidSchemaName(f'schema "{schema}" does not exist')
        schemas = [str(schema)]
    else:
        schemas = session.search_path()
    found: list[tuple[str, str]]
    if kind == "views":
        views = session.db.streaming.objects
        rows = session._describe_engine().execute(
            "SELECT view_name, schema_name FROM duckdb_views() WHERE NOT internal").fetchall()
        mvs = {(o.obj.schema, o.obj.name) for o in views.values()}
        found = [(n, s) for n, s in rows if s in schemas and (s, n) not in mvs]
    else:
        found = [(o.name, o.schema) for o in catalog.objects.values()
                 if o.kind == _SHOW_KINDS[kind] and o.schema in schemas]
    found.sort()
    data: dict[str, list[Any]] = {"name": [n for n, _ in found], "schema": [s for _, s in found]}
    names = {c.name for c in columns}
    if "status" in names:
        items = [session.db.streaming.find(catalog, exp.table_(n, db=s), [s],
                                           (_SHOW_KINDS[kind],)) for n, s in found]
        data["status"] = [figures.object_status(session.db, item)[0] if item is not None
                          else "unknown" for item in items]
        if "connector" in names:
            data["connector"] = [item.options.get("connector") if item is not None else None
                                 for item in items]
    table = pa.table({c.name: pa.array(data[c.name], pa.string()) for c in columns})
    return RowsResult(columns, _many(table.to_batches()), tag_override="SHOW")
