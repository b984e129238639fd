"""Sources, streams and materialized views: their catalog, their DDL, and reading views.

Strategy: a streaming object is a catalog object (an OID, a schema, a name, logged as a
`DdlOp` whose `sql` is its definition in the Laminar dialect) plus what only this module
knows: the parsed definition, the Arrow schema and, for a view, its dataflow on the
pipeline runtime. The change log replays the definitions on start (tables first, then the
streaming objects in creation order), so the catalog survives restarts; views rebuild
their contents from their inputs (sources replay from their first event, tables and views
give their current rows as a snapshot), until checkpoints (issue 7) restore state.

A view is read by the embedded SQL engine through a DuckDB view `schema.name` over a
per-connection registered Arrow table `__laminar_mv_<oid>`: before a query runs, the
session registers, on its engine connection, the versions of the runtime's current
snapshot that the connection does not hold yet (zero copy). Every view is read as of
the same completed epoch. Sources and streams hold no rows: a SELECT from one is refused
with a hint. Their figures (`laminar_catalog.*`) are built by laminar_pg.observability.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import sqlglot
import structlog
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.catalog.objects import Catalog, CatalogObject
from laminar_pg.crashpoints import crashpoint
from laminar_pg.engine.checkpoint import (
    CheckpointStore,
    Manifest,
    RestoreMismatch,
    definition_key,
    restore_flow,
)
from laminar_pg.engine.dataflow import Node
from laminar_pg.engine.expr import sql_type_to_arrow
from laminar_pg.engine.messages import Chunk, Watermark
from laminar_pg.engine.operators.blackhole import BlackholeSink
from laminar_pg.engine.operators.materialize import Materialize
from laminar_pg.engine.runtime import Dataflow, Runtime
from laminar_pg.engine.sources import make_generator
from laminar_pg.engine.sources_driver import SourceReader
from laminar_pg.errors import SqlError, error_for
from laminar_pg.sql import ast
from laminar_pg.sql.dialect import Laminar, quote_name
from laminar_pg.sql.planner import Planner, Relation, interval_us
from laminar_pg.storage.log import ChangeOp, DdlOp

log = structlog.get_logger("laminar_pg.streaming")

STREAMING_KINDS = ("source", "stream", "materialized view", "sink")
VIEW_RELATION_PREFIX = "__laminar_mv_"
MAX_PENDING_ROWS = 1_000_000
WEIGHT = "_laminar_weight"


@dataclass(eq=False)
class StreamingObject:
    obj: CatalogObject
    definition: str  # the CREATE statement, in the Laminar dialect
    tree: exp.Expr
    schema: pa.Schema
    depends_on: set[int] = field(default_factory=set)
    time_column: str | None = None
    delay_us: int = 0
    options: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        return self.obj.kind


def view_relation(oid: int) -> str:
    return f"{VIEW_RELATION_PREFIX}{oid}"


class Streaming:
    """The streaming objects of a database and the runtime that keeps views current."""

    def __init__(self, runtime: Runtime, workers: int) -> None:
        self.runtime = runtime
        self.workers = workers
        self.objects: dict[int, StreamingObject] = {}
        self.tables_read: set[int] = set()  # oids of tables some dataflow reads
        # Committed table rows queued for the pipeline: writers wait while there are more
        # than MAX_PENDING_ROWS (backpressure: a slow view slows the tables it reads).
        self.pending_rows = 0
        self._pending_lock = threading.Lock()
        # per engine connection: oid -> the version registered on it
        self._registered: dict[int, dict[int, pa.Table]] = {}

    # ------------------------------------------------------------ resolution

    def find(self, catalog: Catalog, table: exp.Table, search_path: list[str],
             kinds: tuple[str, ...] = STREAMING_KINDS) -> StreamingObject | None:
        schemas = [table.db] if table.db else search_path
        for schema in schemas:
            for kind in kinds:
                obj = catalog.find(kind, schema, table.name)
                if obj is not None and obj.oid in self.objects:
                    return self.objects[obj.oid]
        return None

    def dependents(self, oid: int) -> list[StreamingObject]:
        return [o for o in self.objects.values() if oid in o.depends_on]

    # ------------------------------------------------------------ definitions

    def define_source(self, tree: ast.CreateSource, obj: CatalogObject) -> StreamingObject:
        columns: list[tuple[str, pa.DataType]] = []
        for column in tree.expressions:
            kind = column.args.get("kind")
            if kind is None:
                raise errcodes.SyntaxError(f'column "{column.name}" needs a type')
            columns.append((column.name, sql_type_to_arrow(kind)))
        options = tree.options_dict
        connector = options.get("connector")
        if connector is None:
            raise errcodes.InvalidParameterValue(
                "CREATE SOURCE needs WITH (connector = '...')",
                hint="Built in: connector = 'nexmark' or 'datagen'.")
        generator = make_generator(connector, columns, options, self.workers)
        schema = generator.schema
        if connector == "datagen":
            pin_datagen_basetime(tree, schema, options)
        watermark = tree.args.get("watermark")
        time_column = None
        delay = 0
        if watermark is not None:
            time_column = tree.watermark_column
            if time_column is None or time_column not in schema.names:
                raise errcodes.UndefinedColumn(
                    f'watermark column "{time_column}" is not a column of the source')
            if not pa.types.is_timestamp(schema.field(time_column).type):
                raise errcodes.DatatypeMismatch(
                    f'watermark column "{time_column}" must be a timestamp')
            delay = watermark_delay(watermark.expression, time_column)
        definition = tree.sql(dialect=Laminar)
        return StreamingObject(obj, definition, tree, schema, set(), time_column, delay,
                               options)

    def define_stream(self, tree: Any, obj: CatalogObject, resolve: Any) -> StreamingObject:
        """A stream's query, planned to refuse what cannot stream (a query that can
        retract) and to learn its columns; views plan it again, inlined."""
        result = Planner(resolve).plan(tree.args["expression"])
        if not result.output.append_only:
            raise errcodes.FeatureNotSupported(
                "a stream must be append-only, and this query can retract rows",
                hint="Use CREATE MATERIALIZED VIEW for aggregates without EMIT ON WINDOW CLOSE "
                     "and for queries over tables.")
        schema = pa.schema([pa.field(n, f.type)
                            for n, f in zip(result.names, result.output.schema, strict=True)])
        time_name = (result.names[result.output.time_column]
                     if result.output.time_column is not None else None)
        return StreamingObject(obj, tree.sql(dialect=Laminar), tree, schema, result.depends_on,
                               time_name)

    def relation(self, item: StreamingObject, catalog_schema: pa.Schema | None = None) -> Relation:
        if item.kind == "source":
            tree = item.tree
            assert isinstance(tree, ast.CreateSource)

            schema = item.schema

            def make(names: list[str] | None = None) -> Any:
                """The source's generator, for every column or only `names`."""
                fields = [f for f in schema if names is None or f.name in names]
                options = tree.options_dict
                if names is not None:  # per-column options of the columns left out go too
                    options = {k: v for k, v in options.items() if not k.startswith("fields.")
                               or k[len("fields."):].rpartition(".")[0] in names}
                return make_generator(options["connector"], [(f.name, f.type) for f in fields],
                                      options, self.workers)

            return Relation("source", item.obj.oid, item.obj.name, item.schema,
                            item.time_column, item.delay_us, make_generator=make)
        if item.kind == "stream":
            return Relation("stream", item.obj.oid, item.obj.name, item.schema,
                            definition=item.tree.args["expression"])
        return Relation(item.kind, item.obj.oid, item.obj.name, item.schema,
                        append_only=False)

    def plan_view(self, query: exp.Expr, emit: str | None, resolve: Any,
                  oid: int, name: str) -> tuple[Dataflow, pa.Schema, set[int], Any]:
        planner = Planner(resolve)
        planner.emit_on_close = emit == "window_close"
        result = planner.plan(query)
        if emit == "window_close" and not result.output.watermarked:
            raise errcodes.FeatureNotSupported(
                "EMIT ON WINDOW CLOSE needs an input with a watermark",
                hint="Declare WATERMARK FOR <column> AS <column> - INTERVAL '...' on the source.")
        if emit == "window_close" and not planner.closed_window:
            raise errcodes.FeatureNotSupported(
                "EMIT ON WINDOW CLOSE needs an aggregate grouped by a window "
                "(GROUP BY TUMBLE(...) / HOP(...), or window_start / window_end of one)")
        schema = pa.schema([pa.field(n, f.type)
                            for n, f in zip(result.names, result.output.schema, strict=True)])
        flow = Dataflow(oid, name)
        flow.nodes = result.nodes
        materialize = Materialize(schema)
        out_node = Node(materialize, f"materialize {name}")
        result.output.node.connect(out_node)
        flow.nodes.append(out_node)
        flow.output = materialize
        flow.output_node = out_node
        snapshots = self._inputs(flow, result.inputs)
        return flow, schema, result.depends_on, snapshots

    def _inputs(self, flow: Dataflow, inputs: list[Any]) -> list[tuple[Node, Relation]]:
        """Wire a dataflow's inputs: a reader per source, the tables and views it reads
        (those start from a snapshot)."""
        snapshots: list[tuple[Node, Relation]] = []
        for item in inputs:
            rel = item.relation
            if rel.kind == "source":
                assert rel.make_generator is not None
                generator = rel.make_generator()
                index = rel.schema.names.index(rel.time_column) if rel.time_column else None
                item.node.source_oid = rel.oid
                flow.readers.append((SourceReader(generator, index, rel.delay_us), item.node))
            elif rel.kind == "table":
                flow.tables.setdefault(rel.oid, []).append(item.node)
                snapshots.append((item.node, rel))
            else:
                flow.views.setdefault(rel.oid, []).append(item.node)
                snapshots.append((item.node, rel))
        return snapshots

    def plan_sink(self, query: exp.Expr, resolve: Any, oid: int,
                  name: str) -> tuple[Dataflow, set[int], Any]:
        """A blackhole sink: the query's changes, checksummed and discarded."""
        planner = Planner(resolve)
        result = planner.plan(query)
        schema = pa.schema([pa.field(n, f.type)
                            for n, f in zip(result.names, result.output.schema, strict=True)])
        flow = Dataflow(oid, name)
        flow.nodes = result.nodes
        sink = BlackholeSink(schema)
        out_node = Node(sink, f"sink {name}")
        result.output.node.connect(out_node)
        flow.nodes.append(out_node)
        flow.output = sink
        flow.output_node = out_node
        snapshots = self._inputs(flow, result.inputs)
        return flow, result.depends_on, snapshots

    # ------------------------------------------------------------ the runtime side

    def install(self, flow: Dataflow, table_rows: dict[int, pa.Table]) -> None:
        """On the pipeline thread: start a dataflow from the current rows of the tables
        and views it reads, then their changes."""
        runtime = self.runtime
        for upstream_oid, nodes in flow.views.items():
            upstream = runtime.dataflows.get(upstream_oid)
            if upstream is None or upstream.output_node is None:
                raise errcodes.ObjectNotInPrerequisiteState(
                    f"materialized view {upstream_oid} is not running")
            if upstream.failed is not None:
                raise errcodes.ObjectNotInPrerequisiteState(
                    f"materialized view {upstream.name} failed: {upstream.failed}")
            contents = upstream.output.current()
            watermark = upstream.output_node.watermark
            for node in nodes:
                if contents.num_rows:
                    for batch in contents.to_batches():
                        runtime.deliver(flow, node, Chunk(batch))
                if watermark is not None:  # the upstream's watermark will not come again
                    runtime.deliver(flow, node, Watermark(watermark))
                upstream.output_node.connect(node)
        for table_oid, nodes in flow.tables.items():
            rows = table_rows.get(table_oid)
            if rows is not None and rows.num_rows:
                for node in nodes:
                    for batch in rows.to_batches(max_chunksize=65_536):
                        runtime.deliver(flow, node, Chunk(batch))
        runtime.add(flow)
        self.tables_read.update(flow.tables)

    def feed_commit(self, ops: list[Any], lsn: int = 0) -> None:
        """After a commit (log record `lsn`): its table changes, into every dataflow
        reading those tables."""
        changes = [op for op in ops if isinstance(op, ChangeOp) and op.oid in self.tables_read]
        if not changes:
            return
        runtime = self.runtime
        rows = sum(op.batch.num_rows for op in changes)
        with self._pending_lock:
            self.pending_rows += rows

        def apply() -> None:
            try:
                self.deliver_changes(changes)
                runtime.fed_lsn = max(runtime.fed_lsn, lsn)
            finally:
                with self._pending_lock:
                    self.pending_rows -= rows

        runtime.feed(apply)

    def restore(self, flow: Dataflow, payload: bytes, buffers: list[bytearray],
                epoch: int) -> None:
        """On the pipeline thread: start a dataflow from its checkpointed state; its
        upstream views (restored from the same checkpoint) go on from there, so they give
        no snapshot."""
        runtime = self.runtime
        upstreams = []
        for upstream_oid in flow.views:
            upstream = runtime.dataflows.get(upstream_oid)
            if upstream is None or upstream.output_node is None or upstream.failed is not None:
                raise RestoreMismatch(f"upstream view {upstream_oid} is not running")
            upstreams.append(upstream)
        restore_flow(flow, payload, buffers, time.monotonic())
        for upstream in upstreams:
            assert upstream.output_node is not None
            for node in flow.views[upstream.oid]:
                upstream.output_node.connect(node)
        flow.restored_from = epoch
        runtime.add(flow)
        self.tables_read.update(flow.tables)

    def deliver_changes(self, changes: list[ChangeOp], only: set[int] | None = None) -> None:
        """On the pipeline thread: table changes into the dataflows reading them (all, or
        the ones in `only`)."""
        runtime = self.runtime
        for op in changes:
            batch = op.batch
            weights = batch.column(batch.num_columns - 1).to_numpy().astype(np.int64)
            chunk = Chunk(engine_arrow(batch.drop_columns([WEIGHT])), weights)
            for flow in list(runtime.dataflows.values()):
                if only is not None and flow.oid not in only:
                    continue
                for node in flow.tables.get(op.oid, []):
                    runtime.deliver(flow, node, chunk)

    async def wait_for_room(self) -> None:
        """Before a commit is acknowledged: wait while the pipeline is more than
        MAX_PENDING_ROWS committed rows behind (the commit itself is durable already)."""
        while (self.pending_rows > MAX_PENDING_ROWS and self.runtime.running()):
            await asyncio.sleep(0.002)

    # ------------------------------------------------------------ reading views

    def register_views(self, duck: Any) -> None:
        """Give an engine connection the views of the current snapshot."""
        snapshot = self.runtime.snapshot
        held = self._registered.setdefault(id(duck), {})
        for oid, table in snapshot.views.items():
            if held.get(oid) is not table:
                duck.register(view_relation(oid), table)
                held[oid] = table

    def forget_connection(self, duck: Any) -> None:
        self._registered.pop(id(duck), None)

    def check_readable(self, item: StreamingObject) -> None:
        if item.kind in ("source", "stream"):
            raise errcodes.FeatureNotSupported(
                f"cannot SELECT from {item.kind} {item.obj.name}: it holds no rows",
                hint="Create a materialized view over it, or SUBSCRIBE to it.")
        if item.kind == "materialized view":
            failure = self.runtime.snapshot.failed.get(item.obj.oid)
            if failure is not None:
                error, sqlstate = failure
                raise error_for(sqlstate, f'materialized view "{item.obj.name}" failed: {error}',
                                hint=f"DROP MATERIALIZED VIEW {item.obj.name} and create it again.")


T = TypeVar("T", pa.Table, pa.RecordBatch)


def engine_arrow(data: T) -> T:
    """Rows from the SQL engine in the types the streaming engine computes with: DuckDB's
    lossless Arrow extensions (bool8 for BOOLEAN, json, uuid) become their plain types."""
    if not any(isinstance(f.type, pa.ExtensionType) or isinstance(f.type, pa.BaseExtensionType)
               for f in data.schema):
        return data
    columns = []
    fields = []
    for field_, column in zip(data.schema, data.columns, strict=True):
        if isinstance(field_.type, pa.BaseExtensionType):
            if isinstance(column, pa.ChunkedArray):
                storage = pa.chunked_array([c.storage for c in column.chunks],
                                           type=field_.type.storage_type)
            else:
                storage = column.storage
            if field_.type.extension_name == "arrow.bool8":
                storage = storage.cast(pa.bool_())
            column = storage
        columns.append(column)
        fields.append(pa.field(field_.name, column.type))
    return type(data).from_arrays(columns, schema=pa.schema(fields))


def make_resolver(streaming: Streaming, state: Any) -> Any:
    """Names in a streaming query -> relations, as seen by a write transaction `state`.
    Each resolved name is qualified in place, so a definition logged after planning
    names its inputs exactly (a later search_path cannot change what it reads)."""
    from laminar_pg.session import tables

    def resolve(table: exp.Table) -> Relation:
        item = streaming.find(state.catalog, table, state.search_path)
        if item is not None:
            if item.kind == "sink":
                raise errcodes.WrongObjectType(f'"{table.name}" is a sink, not a relation')
            table.set("db", exp.to_identifier(item.obj.schema))
            return streaming.relation(item)
        obj = tables.resolve(state, table)
        if obj is None:
            raise errcodes.UndefinedTable(f'relation "{table.sql("postgres")}" does not exist')
        table.set("db", exp.to_identifier(obj.schema))
        rows = tables._arrow_sql(state.duck, f"SELECT * FROM {tables.qualified_sql(obj)} LIMIT 0")
        return Relation("table", obj.oid, obj.name, engine_arrow(rows).schema, append_only=False)

    return resolve


def table_snapshots(state: Any, snapshots: list[tuple[Node, Relation]]) -> dict[int, pa.Table]:
    """The current rows of every table a new view reads (under the writer lock)."""
    from laminar_pg.session import tables

    rows: dict[int, pa.Table] = {}
    for _, rel in snapshots:
        if rel.kind == "table" and rel.oid not in rows:
            obj = state.catalog.objects[rel.oid]
            rows[rel.oid] = engine_arrow(
                tables._arrow_sql(state.duck, f"SELECT * FROM {tables.qualified_sql(obj)}"))
    return rows


def recover_streaming(db: Any, duck: Any, ops: list[DdlOp]) -> None:
    """On start: rebuild the sources, streams and views the log defines, in creation
    order, and wait for the first epoch so that every view is readable.

    A view or sink the newest checkpoint holds (same definition, and every view it reads
    restored too) starts from its saved state: its sources resume at their saved offsets
    and the tables it reads replay the change log after the checkpoint's LSN. Any other
    starts from scratch (sources from their first event, tables and views from their
    current rows), which is exact too, only slower."""
    from laminar_pg.session import tables

    live: dict[int, DdlOp] = {}
    for op in ops:
        assert op.oid is not None
        if op.name is None:
            live.pop(op.oid, None)
        else:
            live[op.oid] = op
    streaming: Streaming = db.streaming
    runtime = streaming.runtime
    store: CheckpointStore | None = getattr(db, "checkpoints", None)
    manifest = store.latest() if store is not None else None
    if manifest is not None:
        runtime.resume(manifest.epoch, manifest.timestamp_ms)
        runtime.fed_lsn = manifest.log_lsn
    if not live:
        return
    state = tables.WriteState(duck, db.catalog, ["public"])
    restored: set[int] = set()
    for oid in sorted(live):
        op = live[oid]
        obj = db.catalog.objects[oid]
        tree = parse_definition(op.sql)
        try:
            if obj.kind == "source":
                assert isinstance(tree, ast.CreateSource)
                streaming.objects[oid] = streaming.define_source(tree, obj)
            elif obj.kind == "stream":
                streaming.objects[oid] = streaming.define_stream(
                    tree, obj, make_resolver(streaming, state))
            elif obj.kind in ("materialized view", "sink"):
                _start(streaming, state, _planner(streaming, state, obj, op.sql, tree), op.sql,
                       store, manifest, restored)
                if obj.kind == "materialized view":
                    duck.register(view_relation(oid),
                                  streaming.objects[oid].schema.empty_table())
                    duck.execute(view_ddl(obj))
        except Exception as exc:  # the object stays (DROP works); its view reports why
            log.error("could not rebuild", kind=obj.kind, name=obj.name, error=error_text(exc))
            streaming.objects[oid] = StreamingObject(obj, op.sql, tree, pa.schema([]))
            if obj.kind == "materialized view":
                failed = Dataflow(oid, obj.name, failed=f"could not rebuild: {error_text(exc)}")
                runtime.call(functools.partial(runtime.add, failed)).result()
    if manifest is not None:
        replayed = _replay_log_tail(db, streaming, manifest, restored)
        log.info("checkpoint.restored", epoch=manifest.epoch, restored=len(restored),
                 rebuilt=sum(1 for f in runtime.dataflows.values() if f.oid not in restored),
                 log_records_replayed=replayed)
        crashpoint("after_restore")
    runtime.flush().result(timeout=600)


def _planner(streaming: Streaming, state: Any, obj: CatalogObject, sql: str,
             tree: exp.Expr) -> Callable[[], tuple[Dataflow, Any]]:
    """Plans the view or sink `sql` defines (again each time it is called) and records
    its streaming object."""
    def plan() -> tuple[Dataflow, Any]:
        resolver = make_resolver(streaming, state)
        if obj.kind == "sink":
            assert isinstance(tree, ast.CreateSink)
            flow, depends, snapshots = streaming.plan_sink(sink_query(tree), resolver,
                                                           obj.oid, obj.name)
            streaming.objects[obj.oid] = StreamingObject(
                obj, sql, tree, pa.schema([]), depends, options=tree.options_dict)
            return flow, snapshots
        flow, out, depends, snapshots = streaming.plan_view(
            tree.args["expression"], tree.args.get("emit"), resolver, obj.oid, obj.name)
        streaming.objects[obj.oid] = StreamingObject(obj, sql, tree, out, depends)
        return flow, snapshots

    return plan


def _start(streaming: Streaming, state: Any, plan: Callable[[], tuple[Dataflow, Any]],
           sql: str, store: CheckpointStore | None, manifest: Manifest | None,
           restored: set[int]) -> None:
    """Install a planned view or sink: from the checkpoint when it holds the flow, else
    from scratch."""
    runtime = streaming.runtime
    flow, snapshots = plan()
    flow.definition = definition_key(sql)
    saved = manifest.flows.get(flow.oid) if manifest is not None else None
    if (saved is not None and store is not None and manifest is not None
            and saved["definition"] == flow.definition
            and all(upstream in restored for upstream in flow.views)):
        try:
            payload, buffers = store.read_flow(manifest, flow.oid)
            runtime.call(functools.partial(streaming.restore, flow, payload, buffers,
                                           manifest.epoch)).result()
            restored.add(flow.oid)
            return
        except Exception as exc:
            log.warning("checkpoint.flow_not_restored", name=flow.name, epoch=manifest.epoch,
                        error=error_text(exc))
            flow, snapshots = plan()  # the failed restore may have changed the fresh one
            flow.definition = definition_key(sql)
    rows = table_snapshots(state, snapshots)
    runtime.call(functools.partial(streaming.install, flow, rows)).result()


def _replay_log_tail(db: Any, streaming: Streaming, manifest: Manifest,
                     restored: set[int]) -> int:
    """The table changes committed after the checkpoint, into the restored flows (the
    ones started from scratch read the tables' current rows already)."""
    runtime = streaming.runtime
    wanted = {table for oid in restored for table in runtime.dataflows[oid].tables}
    if not wanted:
        return 0
    records = 0
    pending: list[ChangeOp] = []
    for record in db.log.records(manifest.log_lsn + 1):
        records += 1
        pending.extend(op for op in record.ops
                       if isinstance(op, ChangeOp) and op.oid in wanted)
        if len(pending) >= 64:
            runtime.call(functools.partial(streaming.deliver_changes, pending,
                                           restored)).result()
            pending = []
    if pending:
        runtime.call(functools.partial(streaming.deliver_changes, pending, restored)).result()
    runtime.fed_lsn = max(runtime.fed_lsn, db.log.durable_lsn)
    return records


def sink_query(tree: Any) -> exp.Expr:
    """What a sink receives: its query, or every column of the object it is FROM."""
    query: exp.Expr | None = tree.args.get("expression")
    if query is not None:
        return query
    return exp.select("*").from_(tree.args["source"])


def pin_datagen_basetime(tree: ast.CreateSource, schema: pa.Schema,
                         options: dict[str, str]) -> None:
    """A random timestamp column without `basetime` draws around the time the source is
    created (RisingWave's default): that time is written into the definition, so every
    view reads the same events, before and after a restart."""
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    for field_ in schema:
        if not pa.types.is_timestamp(field_.type):
            continue
        prefix = f"fields.{field_.name}."
        if (options.get(prefix + "kind", "random") != "random"
                or options.get(prefix + "max_past_mode", "absolute") == "relative"
                or prefix + "basetime" in options):
            continue
        tree.append("options", ast.SourceOption(this=prefix + "basetime", expression=now))
        options[prefix + "basetime"] = now


def watermark_delay(expression: exp.Expr, column: str) -> int:
    """The delay of `WATERMARK FOR col AS col - INTERVAL '...'` in microseconds."""
    if isinstance(expression, exp.Column) and expression.name == column:
        return 0
    if (isinstance(expression, exp.Sub) and isinstance(expression.this, exp.Column)
            and expression.this.name == column):
        delay = interval_us(expression.expression)
        if delay < 0:
            raise errcodes.InvalidParameterValue("a watermark delay cannot be negative")
        return delay
    raise errcodes.FeatureNotSupported(
        "a watermark other than <column> - INTERVAL '...'",
        hint=f"Write WATERMARK FOR {column} AS {column} - INTERVAL '5' SECOND.")


def parse_definition(sql: str) -> exp.Expr:
    tree = sqlglot.parse_one(sql, dialect=Laminar)
    assert tree is not None
    return tree


def view_ddl(obj: CatalogObject) -> str:
    """The engine view through which ad-hoc SQL reads a materialized view."""
    return (f"CREATE VIEW {quote_name(obj.schema)}.{quote_name(obj.name)} AS "
            f"SELECT * FROM {view_relation(obj.oid)}")


async def wait(future: Any) -> Any:
    return await asyncio.wrap_future(future)


def error_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SqlError) else str(exc)
