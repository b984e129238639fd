"""EXPLAIN [ANALYZE] of a running dataflow: its operator tree, and each operator's figures.

Strategy: the tree is drawn from the Node graph the runtime runs (engine/dataflow.py),
output first, each operator over its inputs, as EXPLAIN CREATE draws the planned graph
(the same `tree_lines`, so the two read alike). What an operator is keyed by and what it
keeps comes from the operator's own fields (`operator_details`); the live figures are
the per-batch counters `laminar_catalog.operator_metrics` reads, read without a lock and
without waiting for the pipeline. Pure: no session, no asyncio.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from typing import Any

from laminar_pg.engine.messages import END_OF_TIME
from laminar_pg.engine.state import StateTable


def _names(schema: Any, columns: Sequence[int]) -> str:
    return ", ".join(schema.field(i).name for i in columns)


def operator_details(op: Any) -> str:
    """What an operator is keyed by and what state it keeps, as `[key: ...; state: ...]`
    ('' for a stateless operator with nothing to say)."""
    parts: list[str] = []
    name = getattr(op, "name", "")
    if name == "hash_aggregate":
        keys = _names(op.input_schema, op.group_by)
        parts.append(f"group key: {keys}" if keys else "no group key")
        parts.append(f"aggregates: {len(op.calls)}")
        parts.append("state: a row per group")
    elif name == "hash_join":
        left, right = op.sides
        pairs = [f"{left.schema.field(a).name} = {right.schema.field(b).name}"
                 for a, b in zip(left.key_columns, right.key_columns, strict=True)]
        parts.append(f"{op.kind} join on {' AND '.join(pairs) or 'true'}")
        parts.append("state: each side's rows by key")
    elif name == "top_n":
        partition = _names(op.input_schema, op.partition)
        parts.append(f"partition key: {partition}" if partition else "no partition key")
        parts.append(f"limit: {op.limit}" + (f" offset {op.offset}" if op.offset else ""))
        parts.append("state: every row by partition")
    elif name == "session_assign":
        parts.append(f"key: {_names(op.schema, op.key_columns) or 'none'}")
        parts.append("state: open sessions and their rows per key")
    elif name == "window_assign":
        kind = "tumble" if op.slide is None else f"hop every {op.slide / 1e6:g} s"
        parts.append(f"{kind} over {op.schema.field(op.time_column).name}, "
                     f"size {op.size / 1e6:g} s")
    elif name == "materialize":
        parts.append("state: a count per distinct row")
    elif name == "blackhole":
        parts.append("checksum of every change, rows discarded")
    return f" [{'; '.join(parts)}]" if parts else ""


def closing_marker(op: Any) -> str:
    """` [emit on window close]` for an operator that emits only when a window closes."""
    if (getattr(op, "close_column", None) is not None
            or getattr(op, "emit_final", False)):
        return " [emit on window close]"
    return ""


def state_keys(op: Any) -> int | None:
    """Keys held in an operator's keyed state (groups, distinct rows, join keys of both
    sides, partitions, session keys); None for an operator without keyed state."""
    tables = [t for t in (getattr(op, "state", None), getattr(op, "keys", None),
                          getattr(op, "parts", None)) if isinstance(t, StateTable)]
    for side in getattr(op, "sides", ()):
        keys = getattr(side, "keys", None)
        if isinstance(keys, StateTable):
            tables.append(keys)
    if not tables:
        return None
    return sum(len(t) for t in tables)


def inputs_of(nodes: Sequence[Any]) -> dict[int, list[Any]]:
    """id(node) -> the nodes among `nodes` that feed it, in port order of connection."""
    found: dict[int, list[Any]] = {}
    for node in nodes:
        for target, _ in node.downstream:
            found.setdefault(id(target), []).append(node)
    return found


def tree_lines(top: Any, nodes: Sequence[Any], head: str,
               annotate: Callable[[Any], list[str]] | None = None) -> list[str]:
    """`head`, then `top` and everything feeding it, indented by depth (`-> label
    (columns) [details]`); `annotate(node)` adds lines under an operator."""
    inputs = inputs_of(nodes)
    lines = [head]

    def show(node: Any, depth: int) -> None:
        op = node.operator
        columns = ", ".join(op.schema.names)
        pad = "  " * depth
        lines.append(f"{pad}-> {node.label} ({columns}){closing_marker(op)}"
                     f"{operator_details(op)}")
        if annotate is not None:
            lines.extend(f"{pad}     {text}" for text in annotate(node))
        for upstream in inputs.get(id(node), []):
            show(upstream, depth + 1)

    show(top, 1)
    return lines


# ---------------------------------------------------------------- figures


def size_text(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def watermark_text(mark: int | None, now: float) -> str:
    """An event-time watermark (microseconds) and how far it is behind the wall clock."""
    if mark is None or mark < 0:
        return "none yet"
    if mark >= END_OF_TIME:
        return "end of time"
    when = datetime.datetime.fromtimestamp(mark / 1e6, datetime.UTC).replace(tzinfo=None)
    return f"{when.isoformat(sep=' ')} (lag {now - mark / 1e6:.1f} s)"


def node_figures(node: Any, now: float) -> list[str]:
    """EXPLAIN ANALYZE's line under an operator: its counters as they stand."""
    op = node.operator
    keys = state_keys(op)
    nbytes = op.state_bytes()
    state = ("none" if keys is None and nbytes == 0
             else f"{keys if keys is not None else 0} keys, {size_text(nbytes)}")
    return [f"rows in: {node.rows_in}, out: {node.rows_out}; chunks: {node.chunks_in}; "
            f"busy: {node.busy_ns / 1e6:.3f} ms; state: {state}; "
            f"watermark: {watermark_text(node.watermark, now)}"]


def explain_dataflow(flow: Any, kind: str, qualified: str, analyze: bool,
                     now: float | None = None) -> list[str]:
    """EXPLAIN [ANALYZE] {MATERIALIZED VIEW | SINK} of a running dataflow: a head line
    naming it, then its operators from the output down to its inputs."""
    now = time.time() if now is None else now
    top = flow.output_node
    if top is None:
        return [f"{kind} {qualified}: no operators"]
    nodes = list(flow.nodes)
    head = f"{kind} {qualified}"
    if analyze:
        status = "failed: " + flow.failed if flow.failed is not None else "running"
        freshness = ("never updated" if flow.published_ingest is None
                     else f"{max(0.0, now - flow.published_ingest):.3f} s")
        head += (f" (status: {status}; operators: {len(nodes)}; shards: 1; "
                 f"freshness: {freshness})")
    annotate = (lambda node: node_figures(node, now)) if analyze else None
    return tree_lines(top, nodes, head, annotate)
