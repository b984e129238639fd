"""A dataflow: operators wired into a graph, driven synchronously by the runtime.

Strategy: push-based and single-threaded per dataflow. `push(node, message, port)`
hands a message to an operator and routes what it returns to its downstream nodes,
depth-first, so a chunk travels from a source to every view before the next one is
read (memory stays bounded: backpressure is the call stack). Barriers are aligned: a node
runs `on_barrier` once the barrier has arrived on all its inputs, then passes it on.
Every node counts rows in and out and the time its operator spent, per chunk, and keeps
the last watermark it passed on: plain integer fields written by the pipeline thread only,
so a system table reads them without a lock and without stalling the pipeline.

The per-operator counters can be switched off (`--operator-metrics off`, for measuring
what they cost: bench/metrics_cost.py): `count_operators(False)` makes `push` skip the
row counts and the two clock reads per operator call; watermarks are still kept (the
runtime needs them), and operator_metrics then reads zeros.

A failure inside an operator fails the dataflow it belongs to (`DataflowFailed` carries
the error text); the runtime marks the views of that dataflow failed and carries on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from laminar_pg.engine.messages import Chunk, Message, Watermark
from laminar_pg.engine.operator import Operator

_counting = True  # the per-operator counters (module-wide: one switch per process)


def count_operators(enabled: bool) -> None:
    """Turn the per-operator counters (rows in / out, chunks, busy time) on or off."""
    global _counting
    _counting = enabled


class DataflowFailed(Exception):
    """An operator raised: the dataflow stops and its views are marked failed. The
    SQLSTATE of the cause is kept (a division by zero in a view is 22012)."""

    def __init__(self, message: str, sqlstate: str = "XX000") -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate


@dataclass(eq=False)
class Node:
    operator: Operator
    label: str = ""
    downstream: list[tuple[Node, int]] = field(default_factory=list)
    rows_in: int = 0
    rows_out: int = 0
    chunks_in: int = 0
    busy_ns: int = 0
    barrier_arrivals: int = 0
    watermark: int | None = None  # the last watermark this node passed on (microseconds)
    source_oid: int | None = None  # the source a reader's entry node reads
    owner: Any = None  # the runtime's Dataflow this node belongs to

    def connect(self, target: Node, port: int = 0) -> None:
        self.downstream.append((target, port))


def push(node: Node, message: Message, port: int = 0) -> None:
    """Deliver `message` to `node` on `port` and everything it causes downstream.

    Where an edge leads into another dataflow (a view reading a view), a failure
    downstream fails that dataflow, not this one."""
    owner = node.owner
    if owner is not None and owner.failed is not None:
        return
    counting = _counting
    out = _run(node, message, port) if counting else _deliver(node, message, port)
    for item in out:
        if isinstance(item, Chunk):
            if item.num_rows == 0:
                continue
            if counting:
                node.rows_out += item.num_rows
        elif isinstance(item, Watermark):
            node.watermark = item.value
        for target, target_port in node.downstream:
            if target.owner is owner or target.owner is None:
                push(target, item, target_port)
                continue
            try:
                push(target, item, target_port)
            except DataflowFailed as exc:
                target.owner.on_failure(exc.message, exc.sqlstate)


def _run(node: Node, message: Message, port: int) -> list[Message]:
    """`_deliver`, counted: rows and chunks in, and the time the operator took."""
    started = time.perf_counter_ns()
    try:
        if isinstance(message, Chunk):
            node.rows_in += message.num_rows
            node.chunks_in += 1
        return _deliver(node, message, port)
    finally:
        node.busy_ns += time.perf_counter_ns() - started


def _deliver(node: Node, message: Message, port: int) -> list[Message]:
    op = node.operator
    try:
        if isinstance(message, Chunk):
            return op.on_chunk(message, port)
        if isinstance(message, Watermark):
            return op.on_watermark(message, port)
        node.barrier_arrivals += 1
        if node.barrier_arrivals < op.inputs:
            return []
        node.barrier_arrivals = 0
        return [*op.on_barrier(message), message]
    except DataflowFailed:
        raise
    except Exception as exc:
        text = getattr(exc, "message", None) or str(exc)
        raise DataflowFailed(f"{node.label or op.name}: {text}",
                             getattr(exc, "sqlstate", "XX000")) from exc
