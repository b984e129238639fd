"""What the live pipeline page draws: every object and its operators, as JSON-ready data.

Strategy: `/api/pipeline` answers one document: the pipeline's figures, then every
source, table read by a view, stream, materialized view and sink with the ids of the
objects it reads (the edges of the graph), and for each view and sink its operators
with the ids of their inputs (the graph inside it). Counters are cumulative, as the
system tables give them; the page turns two polls into rates (rows/s, busy share), so
any number of open pages never disturb one another. Built from the same runtime fields
as `laminar_catalog.*` (and with figures.py's helpers), on the event loop, without
waiting for the pipeline. `/api/explain?id=N` is EXPLAIN ANALYZE of one object.
"""

from __future__ import annotations

import time
from typing import Any

from laminar_pg.engine.messages import END_OF_TIME
from laminar_pg.observability import explain, figures
from laminar_pg.session.streaming import MAX_PENDING_ROWS

Json = dict[str, Any]


def watermark_json(mark: int | None, now: float) -> Json:
    """A watermark as the page shows it: microseconds (None before the first one), whether
    it reached the end of time, and its lag behind the wall clock in seconds."""
    if mark is not None and mark < 0:
        mark = None
    return {"watermark_us": None if mark is None or mark >= END_OF_TIME else mark,
            "end_of_time": mark is not None and mark >= END_OF_TIME,
            "lag_seconds": figures.lag_seconds(mark, now)}


def _pipeline(db: Any, now: float) -> Json:
    runtime = db.streaming.runtime
    flows = list(runtime.dataflows.values())
    pending = max(0, db.streaming.pending_rows)
    return {"state": runtime.state, "epoch": runtime.snapshot.epoch,
            "uptime_seconds": now - runtime.started_at,
            "events_ingested": runtime.events_ingested,
            "events_emitted": runtime.events_emitted(),
            "busy_seconds": runtime.busy_ns / 1e9,
            "utilization": runtime.last_cycle_utilization,
            "backpressure": min(1.0, pending / MAX_PENDING_ROWS), "pending_rows": pending,
            "dataflows": len(flows),
            "failed_dataflows": sum(1 for f in flows if f.failed is not None)}


def operators_json(flow: Any, now: float) -> list[Json]:
    """The operators of one dataflow, each with its counters and the operators feeding it
    (by index in the dataflow; nodes of an upstream view are left out)."""
    nodes = list(flow.nodes)
    index = {id(node): i for i, node in enumerate(nodes)}
    inputs = explain.inputs_of(nodes)
    found: list[Json] = []
    for i, node in enumerate(nodes):
        op = node.operator
        found.append({
            "id": i, "label": node.label, "kind": op.name,
            "details": explain.operator_details(op).strip(" []"),
            "inputs": [index[id(n)] for n in inputs.get(id(node), []) if id(n) in index],
            "rows_in": node.rows_in, "rows_out": node.rows_out, "chunks_in": node.chunks_in,
            "busy_seconds": node.busy_ns / 1e9, "state_bytes": op.state_bytes(),
            "state_keys": explain.state_keys(op), **watermark_json(node.watermark, now)})
    return found


def _object(db: Any, item: Any, readers: dict[int, list[Any]], now: float) -> Json:
    streaming = db.streaming
    oid = item.obj.oid
    status, error = figures.object_status(db, item)
    found: Json = {"id": oid, "name": item.obj.name, "schema": item.obj.schema,
                   "kind": item.kind, "status": status, "error": error,
                   "inputs": sorted(item.depends_on), "columns": list(item.schema.names)}
    if item.kind == "source":
        active = [r for r, flow in readers.get(oid, []) if flow.failed is None]
        found["events"] = sum(r.events_read for r, _ in readers.get(oid, []))
        mono = time.monotonic()
        found["events_per_second"] = sum(r.events_per_second(mono) for r in active)
        found.update(watermark_json(
            figures.lowest(r.watermark for r in active) if active else None, now))
    elif item.kind == "stream":
        marks = [r.watermark for d in item.depends_on for r, flow in readers.get(d, [])
                 if flow.failed is None]
        found.update(watermark_json(figures.lowest(marks) if marks else None, now))
    else:
        flow = streaming.runtime.dataflows.get(oid)
        version = streaming.runtime.snapshot.views.get(oid)
        found["rows"] = version.num_rows if version is not None else None
        if item.kind == "sink" and flow is not None:
            found["rows"] = getattr(flow.output, "rows", None)
        out = flow.output_node if flow is not None else None
        found["rows_in"] = out.rows_in if out is not None else 0
        found["operators"] = operators_json(flow, now) if flow is not None else []
        found["state_bytes"] = sum(o["state_bytes"] for o in found["operators"])
        ingest = flow.published_ingest if flow is not None else None
        found["freshness_seconds"] = None if ingest is None else max(0.0, now - ingest)
        found.update(watermark_json(out.watermark if out is not None else None, now))
    return found


def pipeline_document(db: Any, now: float | None = None) -> Json:
    """`/api/pipeline`: the pipeline, and every object with its inputs and operators."""
    now = time.time() if now is None else now
    streaming = db.streaming
    readers = figures.source_readers(streaming.runtime)
    items = sorted(list(streaming.objects.values()), key=lambda o: o.obj.oid)
    objects = [_object(db, item, readers, now) for item in items]
    known = {o["id"] for o in objects}
    catalog = db.catalog
    for oid in sorted({d for o in objects for d in o["inputs"]} - known):
        table = catalog.objects.get(oid)  # a table a view reads
        if table is not None:
            objects.append({"id": oid, "name": table.name, "schema": table.schema,
                            "kind": table.kind, "status": "ready", "error": None,
                            "inputs": [], "columns": []})
    return {"now": now, "pipeline": _pipeline(db, now), "objects": objects}


def explain_document(db: Any, oid: int) -> Json | None:
    """`/api/explain?id=N`: EXPLAIN ANALYZE of a view or sink (a stream: its definition
    and readers); None when no streaming object has that id."""
    streaming = db.streaming
    item = streaming.objects.get(oid)
    if item is None:
        return None
    qualified = f"{item.obj.schema}.{item.obj.name}"
    flow = streaming.runtime.dataflows.get(oid)
    if flow is not None:
        lines = explain.explain_dataflow(flow, item.kind, qualified, analyze=True)
    else:
        readers = sorted(f"{o.obj.schema}.{o.obj.name}" for o in streaming.dependents(oid))
        lines = [f"{item.kind} {qualified}", item.definition]
        if item.kind == "stream":
            lines.append(f"inlined into: {', '.join(readers) if readers else 'no reader yet'}")
        elif item.kind == "source":
            lines.append(f"read by: {', '.join(readers) if readers else 'no reader yet'}")
    return {"id": oid, "name": item.obj.name, "schema": item.obj.schema, "kind": item.kind,
            "text": "\n".join(lines)}
