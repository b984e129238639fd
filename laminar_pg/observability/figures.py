"""Every `laminar_catalog.*` system table, built as an Arrow table from the server's state.

Strategy: one builder per table, each a function of the database (and, for `tables`, an
engine connection to ask for the tables' columns), returning a table whose columns and
types are fixed by `SCHEMAS` (the documented contract, checked by the tests, the same
for an empty table). The figures come from counters the pipeline thread keeps per batch
and per epoch (engine/runtime.py, dataflow.py, sources_driver.py): building a table reads
them, never waits for the pipeline, and the Prometheus exposition renders these same
tables, so the two never disagree.

Watermarks are event times (`timestamp`, as the sources' time columns); the end of time
(a finished bounded source) is `'infinity'`. Lags and ages are seconds (double).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa

from laminar_pg.engine.expr.types import pg_type_name
from laminar_pg.engine.messages import END_OF_TIME
from laminar_pg.engine.operators.blackhole import BlackholeSink
from laminar_pg.observability import activity
from laminar_pg.session.streaming import MAX_PENDING_ROWS

TEXT, BIGINT, FLOAT, BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()
TEXTS = pa.list_(pa.string())
TIMESTAMPTZ = pa.timestamp("us", tz="UTC")
EVENT_TIME = pa.timestamp("us")

_OBJECT = [("name", TEXT), ("id", BIGINT), ("schema", TEXT), ("definition", TEXT),
           ("columns", TEXTS), ("column_types", TEXTS), ("dependencies", TEXTS),
           ("dependents", TEXTS), ("created_at", TIMESTAMPTZ), ("status", TEXT),
           ("error", TEXT)]
_FLOW = [("name", TEXT), ("id", BIGINT), ("rows_in", BIGINT), ("rows_out", BIGINT),
         ("row_count", BIGINT), ("state_bytes", BIGINT), ("freshness_seconds", FLOAT),
         ("watermark", EVENT_TIME), ("event_time_lag_seconds", FLOAT),
         ("last_update", TIMESTAMPTZ), ("readers", BIGINT), ("subscribers", BIGINT),
         ("status", TEXT), ("error", TEXT)]

SCHEMAS: dict[str, pa.Schema] = {name: pa.schema(fields) for name, fields in {
    "sources": [*_OBJECT, ("connector", TEXT)],
    "streams": _OBJECT,
    "materialized_views": _OBJECT,
    "tables": _OBJECT,
    "sinks": [*_OBJECT, ("connector", TEXT), ("rows", BIGINT), ("changes", BIGINT),
              ("checksum", pa.decimal128(20, 0))],
    "pipeline_metrics": [
        ("state", TEXT), ("started_at", TIMESTAMPTZ), ("uptime_seconds", FLOAT),
        ("epoch", BIGINT), ("epoch_timestamp", TIMESTAMPTZ), ("events_ingested", BIGINT),
        ("events_emitted", BIGINT), ("batches", BIGINT), ("cycles", BIGINT),
        ("mean_cycle_seconds", FLOAT), ("max_cycle_seconds", FLOAT), ("busy_seconds", FLOAT),
        ("utilization", FLOAT),
        ("backpressure", FLOAT), ("pending_rows", BIGINT), ("dataflows", BIGINT),
        ("failed_dataflows", BIGINT), ("checkpoints_completed", BIGINT),
        ("checkpoints_failed", BIGINT), ("last_checkpoint_seconds", FLOAT),
        ("checkpoint_epoch", BIGINT)],
    "source_metrics": [
        ("name", TEXT), ("id", BIGINT), ("connector", TEXT), ("readers", BIGINT),
        ("splits", BIGINT), ("events", BIGINT), ("rows", BIGINT), ("bytes", BIGINT),
        ("events_per_second", FLOAT), ("watermark", EVENT_TIME), ("lag_seconds", FLOAT),
        ("late_events_dropped", BIGINT), ("parse_errors", BIGINT), ("status", TEXT),
        ("error", TEXT)],
    "view_metrics": _FLOW,
    "stream_metrics": _FLOW,
    "operator_metrics": [
        ("view", TEXT), ("view_id", BIGINT), ("operator_id", BIGINT), ("operator", TEXT),
        ("kind", TEXT), ("shard", BIGINT), ("rows_in", BIGINT), ("rows_out", BIGINT),
        ("chunks_in", BIGINT), ("busy_seconds", FLOAT), ("state_bytes", BIGINT),
        ("watermark", EVENT_TIME)],
    "watermarks": [
        ("kind", TEXT), ("name", TEXT), ("id", BIGINT), ("split", BIGINT),
        ("watermark", EVENT_TIME), ("lag_seconds", FLOAT)],
    "checkpoints": [
        ("epoch", BIGINT), ("laminar_timestamp", BIGINT), ("started_at", TIMESTAMPTZ),
        ("duration_ms", FLOAT),
        ("capture_ms", FLOAT), ("bytes_written", BIGINT), ("state_bytes", BIGINT),
        ("status", TEXT), ("retained", BOOL), ("error", TEXT)],
    "sessions": [
        ("pid", BIGINT), ("usename", TEXT), ("datname", TEXT), ("application_name", TEXT),
        ("backend_start", TIMESTAMPTZ), ("state", TEXT), ("query", TEXT),
        ("query_start", TIMESTAMPTZ)],
}.items()}

Rows = dict[str, list[Any]]


def _empty(table: str) -> Rows:
    return {name: [] for name in SCHEMAS[table].names}


def _table(table: str, rows: Rows) -> pa.Table:
    schema = SCHEMAS[table]
    return pa.table({f.name: pa.array(rows[f.name], type=f.type) for f in schema}, schema=schema)


def _wall(seconds: float | None) -> datetime.datetime | None:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def watermark_value(value: int | None) -> int | None:
    """A watermark as the event-time column holds it (END_OF_TIME is 'infinity')."""
    if value is None or value < 0:
        return None
    return value


def lag_seconds(watermark: int | None, now: float) -> float | None:
    """How far an event-time watermark is behind the wall clock (None at the end of time
    or before the first watermark)."""
    if watermark is None or watermark >= END_OF_TIME or watermark < 0:
        return None
    return now - watermark / 1e6


def lowest(marks: Iterable[int | None]) -> int | None:
    """The lowest watermark of several readers; None while one of them has none."""
    values = list(marks)
    if not values or any(m is None for m in values):
        return None
    return min(m for m in values if m is not None)


# ---------------------------------------------------------------- objects


def _qualified(db: Any, oid: int) -> str:
    obj = db.catalog.objects.get(oid)
    return f"{obj.schema}.{obj.name}" if obj is not None else str(oid)


def _dependents(db: Any, oid: int) -> list[str]:
    return sorted(_qualified(db, o.obj.oid) for o in db.streaming.dependents(oid))


def _object_rows(db: Any, kind: str, table: str,
                 extra: Callable[[Any, Rows], None] | None = None) -> pa.Table:
    """`sources`, `streams`, `materialized_views`, `sinks`: one row per object."""
    streaming = db.streaming
    rows = _empty(table)
    items = sorted((o for o in list(streaming.objects.values()) if o.kind == kind),
                   key=lambda o: o.obj.oid)
    for item in items:
        status, error = object_status(db, item)
        rows["name"].append(item.obj.name)
        rows["id"].append(item.obj.oid)
        rows["schema"].append(item.obj.schema)
        rows["definition"].append(item.definition)
        rows["columns"].append(list(item.schema.names))
        rows["column_types"].append([pg_type_name(f.type) for f in item.schema])
        rows["dependencies"].append(sorted(_qualified(db, d) for d in item.depends_on))
        rows["dependents"].append(_dependents(db, item.obj.oid))
        rows["created_at"].append(_wall(db.created_at.get(item.obj.oid, item.created_at)))
        rows["status"].append(status)
        rows["error"].append(error)
        if extra is not None:
            extra(item, rows)
    return _table(table, rows)


def source_readers(runtime: Any) -> dict[int, list[tuple[Any, Any]]]:
    """source oid -> (reader, dataflow) for every reader of every dataflow."""
    found: dict[int, list[tuple[Any, Any]]] = {}
    for flow in list(runtime.dataflows.values()):
        for reader, node in list(flow.readers):
            if node.source_oid is not None:
                found.setdefault(node.source_oid, []).append((reader, flow))
    return found


def object_status(db: Any, item: Any) -> tuple[str, str | None]:
    """running / finished / failed (with the error) / idle, by kind."""
    runtime = db.streaming.runtime
    oid = item.obj.oid
    if item.kind in ("materialized view", "sink"):
        flow = runtime.dataflows.get(oid)
        if flow is None:
            return "failed", "not running"
        if flow.failed is not None:
            return "failed", flow.failed
        return "running", None
    if item.kind == "source":
        return _source_status(source_readers(runtime).get(oid, []))
    readers = [flow for flow in list(runtime.dataflows.values())
               if oid in getattr(db.streaming.objects.get(flow.oid), "depends_on", ())]
    failed = [flow.failed for flow in readers if flow.failed is not None]
    if failed:
        return "failed", failed[0]
    return ("running" if readers else "idle"), None


def _active(readers: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """The readers that still read: a failed dataflow's reader stopped where it failed."""
    return [(reader, flow) for reader, flow in readers if flow.failed is None]


def _source_status(readers: list[tuple[Any, Any]]) -> tuple[str, str | None]:
    failures = [flow.failed for _, flow in readers
                if flow.failed is not None and flow.failed.startswith("source:")]
    if failures:
        return "failed", failures[0]
    readers = _active(readers)
    if not readers:
        return "idle", None
    if all(reader.done for reader, _ in readers):
        return "finished", None
    return "running", None


def sources(db: Any) -> pa.Table:
    def extra(item: Any, rows: Rows) -> None:
        rows["connector"].append(item.options.get("connector"))

    return _object_rows(db, "source", "sources", extra)


def streams(db: Any) -> pa.Table:
    return _object_rows(db, "stream", "streams")


def materialized_views(db: Any) -> pa.Table:
    return _object_rows(db, "materialized view", "materialized_views")


def sinks(db: Any) -> pa.Table:
    import decimal

    runtime = db.streaming.runtime

    def extra(item: Any, rows: Rows) -> None:
        flow = runtime.dataflows.get(item.obj.oid)
        sink = flow.output if flow is not None else None
        rows["connector"].append(item.options.get("connector"))
        if isinstance(sink, BlackholeSink):
            rows["rows"].append(sink.rows)
            rows["changes"].append(sink.changes)
            rows["checksum"].append(decimal.Decimal(sink.checksum()))
        else:
            rows["rows"].append(0)
            rows["changes"].append(0)
            rows["checksum"].append(None)

    return _object_rows(db, "sink", "sinks", extra)


def tables(db: Any, catalog: Any, duck: Any) -> pa.Table:
    """`tables`: every table of the catalog, its columns as the engine holds them."""
    rows = _empty("tables")
    found = sorted((o for o in catalog.objects.values() if o.kind == "table"),
                   key=lambda o: o.oid)
    if not found:
        return _table("tables", rows)
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, name, column, dtype in duck.execute(
            "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE NOT internal ORDER BY schema_name, table_name, column_index").fetchall():
        columns.setdefault((schema, name), []).append((column, _duck_type(str(dtype))))
    definitions = {(s, n): sql for s, n, sql in duck.execute(
        "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE NOT internal"
    ).fetchall()}
    for obj in found:
        key = (obj.schema, obj.name)
        rows["name"].append(obj.name)
        rows["id"].append(obj.oid)
        rows["schema"].append(obj.schema)
        rows["definition"].append(definitions.get(key))
        rows["columns"].append([c for c, _ in columns.get(key, [])])
        rows["column_types"].append([t for _, t in columns.get(key, [])])
        rows["dependencies"].append([])
        rows["dependents"].append(_dependents(db, obj.oid))
        rows["created_at"].append(_wall(db.created_at.get(obj.oid)))
        rows["status"].append("ready")
        rows["error"].append(None)
    return _table("tables", rows)


_DUCK_TYPES = {"varchar": "text", "double": "double precision", "float": "real",
               "timestamp": "timestamp without time zone",
               "timestamp with time zone": "timestamp with time zone", "blob": "bytea"}


def _duck_type(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("decimal"):
        return "numeric" + lowered[len("decimal"):]
    return _DUCK_TYPES.get(lowered, lowered)


# ---------------------------------------------------------------- metrics


def pipeline_metrics(db: Any, now: float | None = None) -> pa.Table:
    now = time.time() if now is None else now
    streaming = db.streaming
    runtime = streaming.runtime
    flows = list(runtime.dataflows.values())
    cycles = runtime.cycles
    snapshot = runtime.snapshot
    pending = streaming.pending_rows
    checkpointer = runtime.checkpointer
    last = checkpointer.last if checkpointer is not None else None
    rows = _empty("pipeline_metrics")
    values: dict[str, Any] = {
        "state": runtime.state,
        "started_at": _wall(runtime.started_at),
        "uptime_seconds": now - runtime.started_at,
        "epoch": snapshot.epoch,
        "epoch_timestamp": _wall(snapshot.timestamp_ms / 1000),
        "events_ingested": runtime.events_ingested,
        "events_emitted": runtime.events_emitted(),
        "batches": runtime.batches,
        "cycles": cycles,
        "mean_cycle_seconds": runtime.cycle_total_ns / cycles / 1e9 if cycles else 0.0,
        "max_cycle_seconds": runtime.cycle_max_ns / 1e9,
        "busy_seconds": runtime.busy_ns / 1e9,
        "utilization": runtime.last_cycle_utilization,
        "backpressure": min(1.0, max(0, pending) / MAX_PENDING_ROWS),
        "pending_rows": max(0, pending),
        "dataflows": len(flows),
        "failed_dataflows": sum(1 for f in flows if f.failed is not None),
        "checkpoints_completed": checkpointer.completed if checkpointer else 0,
        "checkpoints_failed": checkpointer.failed if checkpointer else 0,
        "last_checkpoint_seconds": last.duration_ms / 1000 if last else 0.0,
        "checkpoint_epoch": last.epoch if last else 0,
    }
    for key, value in values.items():
        rows[key].append(value)
    return _table("pipeline_metrics", rows)


def checkpoints(db: Any) -> pa.Table:
    """The retained checkpoints (those recovery can start from) and this process's
    checkpoints, completed or failed, newest last."""
    rows = _empty("checkpoints")
    checkpointer = db.streaming.runtime.checkpointer
    if checkpointer is None:
        return _table("checkpoints", rows)
    retained = checkpointer.retained_epochs()
    for outcome in checkpointer.history:
        rows["epoch"].append(outcome.epoch)
        rows["laminar_timestamp"].append(outcome.timestamp_ms)
        rows["started_at"].append(_wall(outcome.started_at))
        rows["duration_ms"].append(outcome.duration_ms)
        rows["capture_ms"].append(outcome.capture_ms)
        rows["bytes_written"].append(outcome.bytes_written)
        rows["state_bytes"].append(outcome.state_bytes)
        rows["status"].append(outcome.status)
        rows["retained"].append(outcome.epoch in retained and outcome.status == "completed")
        rows["error"].append(outcome.error)
    return _table("checkpoints", rows)


def source_metrics(db: Any, now: float | None = None) -> pa.Table:
    """Per source: what its readers read (a source read by several dataflows has a reader
    per dataflow, each from the first event: events are summed over readers, the
    watermark is the lowest)."""
    now = time.time() if now is None else now
    mono = time.monotonic()
    streaming = db.streaming
    readers = source_readers(streaming.runtime)
    rows = _empty("source_metrics")
    items = sorted((o for o in list(streaming.objects.values()) if o.kind == "source"),
                   key=lambda o: o.obj.oid)
    for item in items:
        mine = readers.get(item.obj.oid, [])
        status, error = _source_status(mine)
        active = _active(mine)
        mark = lowest(reader.watermark for reader, _ in active) if active else None
        rows["name"].append(item.obj.name)
        rows["id"].append(item.obj.oid)
        rows["connector"].append(item.options.get("connector"))
        rows["readers"].append(len(active))
        rows["splits"].append(max((len(r.positions) for r, _ in mine), default=0))
        rows["events"].append(sum(r.events_read for r, _ in mine))
        rows["rows"].append(sum(r.rows_read for r, _ in mine))
        rows["bytes"].append(sum(r.bytes_read for r, _ in mine))
        rows["events_per_second"].append(sum(r.events_per_second(mono) for r, _ in active))
        rows["watermark"].append(watermark_value(mark))
        rows["lag_seconds"].append(lag_seconds(mark, now))
        rows["late_events_dropped"].append(sum(r.late_dropped for r, _ in mine))
        rows["parse_errors"].append(0)  # generators produce typed rows: nothing to parse
        rows["status"].append(status)
        rows["error"].append(error)
    return _table("source_metrics", rows)


def view_metrics(db: Any, now: float | None = None) -> pa.Table:
    """Per materialized view: the figures of its dataflow and of its published version."""
    now = time.time() if now is None else now
    streaming = db.streaming
    runtime = streaming.runtime
    snapshot = runtime.snapshot
    rows = _empty("view_metrics")
    items = sorted((o for o in list(streaming.objects.values())
                    if o.kind == "materialized view"), key=lambda o: o.obj.oid)
    for item in items:
        oid = item.obj.oid
        flow = runtime.dataflows.get(oid)
        status, error = object_status(db, item)
        version = snapshot.views.get(oid)
        rows["name"].append(item.obj.name)
        rows["id"].append(oid)
        rows["row_count"].append(version.num_rows if version is not None else None)
        rows["readers"].append(len(streaming.dependents(oid)))
        feed = getattr(flow.output, "feed", None) if flow is not None else None
        rows["subscribers"].append(feed.subscribers if feed is not None else 0)
        rows["status"].append(status)
        rows["error"].append(error)
        _flow_figures(flow, rows, now)
    return _table("view_metrics", rows)


def _flow_figures(flow: Any, rows: Rows, now: float) -> None:
    if flow is None:
        for key in ("rows_in", "rows_out", "state_bytes", "freshness_seconds", "watermark",
                    "event_time_lag_seconds", "last_update"):
            rows[key].append(None)
        return
    inputs = [node for _, node in list(flow.readers)]
    for nodes in list(flow.tables.values()) + list(flow.views.values()):
        inputs.extend(nodes)
    out = flow.output_node
    mark = out.watermark if out is not None else None
    rows["rows_in"].append(sum(node.rows_in for node in inputs))
    rows["rows_out"].append(out.rows_in if out is not None else 0)
    rows["state_bytes"].append(sum(node.operator.state_bytes() for node in list(flow.nodes)))
    ingest = flow.published_ingest
    rows["freshness_seconds"].append(None if ingest is None else max(0.0, now - ingest))
    rows["watermark"].append(watermark_value(mark))
    rows["event_time_lag_seconds"].append(lag_seconds(mark, now))
    rows["last_update"].append(_wall(flow.last_update))


def stream_metrics(db: Any, now: float | None = None) -> pa.Table:
    """Per stream. A stream is a named query inlined into every view and sink that reads
    it, so it has no dataflow of its own: rows, state and freshness are not measured for
    it yet (NULL); its watermark is the lowest of the sources it reads."""
    now = time.time() if now is None else now
    streaming = db.streaming
    readers = source_readers(streaming.runtime)
    rows = _empty("stream_metrics")
    items = sorted((o for o in list(streaming.objects.values()) if o.kind == "stream"),
                   key=lambda o: o.obj.oid)
    for item in items:
        status, error = object_status(db, item)
        sources_read = [d for d in item.depends_on
                        if getattr(streaming.objects.get(d), "kind", None) == "source"]
        marks = [reader.watermark for d in sources_read
                 for reader, _ in _active(readers.get(d, []))]
        mark = lowest(marks) if marks else None
        rows["name"].append(item.obj.name)
        rows["id"].append(item.obj.oid)
        for key in ("rows_in", "rows_out", "row_count", "state_bytes", "freshness_seconds",
                    "last_update"):
            rows[key].append(None)
        rows["watermark"].append(watermark_value(mark))
        rows["event_time_lag_seconds"].append(lag_seconds(mark, now))
        rows["readers"].append(len(streaming.dependents(item.obj.oid)))
        rows["subscribers"].append(0)  # SUBSCRIBE takes a view, a table or a query
        rows["status"].append(status)
        rows["error"].append(error)
    return _table("stream_metrics", rows)


def operator_metrics(db: Any) -> pa.Table:
    """Per operator of every view and sink (one shard until Streaming engine II)."""
    rows = _empty("operator_metrics")
    for flow in sorted(list(db.streaming.runtime.dataflows.values()), key=lambda f: f.oid):
        for index, node in enumerate(list(flow.nodes)):
            rows["view"].append(flow.name)
            rows["view_id"].append(flow.oid)
            rows["operator_id"].append(index)
            rows["operator"].append(node.label)
            rows["kind"].append(node.operator.name)
            rows["shard"].append(0)
            rows["rows_in"].append(node.rows_in)
            rows["rows_out"].append(node.rows_out)
            rows["chunks_in"].append(node.chunks_in)
            rows["busy_seconds"].append(node.busy_ns / 1e9)
            rows["state_bytes"].append(node.operator.state_bytes())
            rows["watermark"].append(watermark_value(node.watermark))
    return _table("operator_metrics", rows)


def watermarks(db: Any, now: float | None = None) -> pa.Table:
    """Every watermark: per source and per split of it (lowest over the source's readers),
    per materialized view and per sink (what its output last received)."""
    now = time.time() if now is None else now
    streaming = db.streaming
    runtime = streaming.runtime
    readers = source_readers(runtime)
    rows = _empty("watermarks")

    def add(kind: str, name: str, oid: int, split: int | None, mark: int | None) -> None:
        rows["kind"].append(kind)
        rows["name"].append(name)
        rows["id"].append(oid)
        rows["split"].append(split)
        rows["watermark"].append(watermark_value(mark))
        rows["lag_seconds"].append(lag_seconds(mark, now))

    for item in sorted(list(streaming.objects.values()), key=lambda o: o.obj.oid):
        oid = item.obj.oid
        if item.kind == "source":
            mine = [reader for reader, _ in _active(readers.get(oid, []))]
            if not mine:
                continue
            add("source", item.obj.name, oid, None, lowest(r.watermark for r in mine))
            per_split = [r.split_watermarks() for r in mine]
            for split in range(min(len(marks) for marks in per_split)):
                add("source split", item.obj.name, oid, split,
                    lowest(marks[split] for marks in per_split))
        elif item.kind in ("materialized view", "sink"):
            flow = runtime.dataflows.get(oid)
            out = flow.output_node if flow is not None else None
            add(item.kind, item.obj.name, oid, None, out.watermark if out is not None else None)
    return _table("watermarks", rows)


def sessions(db: Any) -> pa.Table:
    rows = _empty("sessions")
    for session in activity.sessions(db):
        rows["pid"].append(session.process_id)
        rows["usename"].append(session.user)
        rows["datname"].append(session.database)
        rows["application_name"].append(session.get_setting("application_name") or "")
        rows["backend_start"].append(session.backend_start)
        rows["state"].append(activity.state_of(session))
        rows["query"].append(session.current_query or "")
        rows["query_start"].append(session.query_start)
    return _table("sessions", rows)
