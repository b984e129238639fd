"""The pipeline runtime: one thread that drives every dataflow, epoch by epoch.

Strategy: a single loop (per shard, when Streaming engine II adds shards) that
1. runs the commands queued by sessions, in order (create or drop a dataflow, feed a
   committed table transaction): one FIFO for both, so a view created over a table sees
   its snapshot and then exactly the transactions committed after it;
2. reads one paced chunk from every generator source reader and pushes it through its
   dataflow (backpressure: the next chunk is read only once this one is through);
3. every `barrier_interval`, or at once when a FLUSH waits, injects a barrier into every
   dataflow; when the barrier has passed every operator the epoch is complete and every
   view's new version is published at once, in one immutable `Snapshot`.

Sessions read `runtime.snapshot` (one attribute read: atomic) and never wait for the
pipeline. A dataflow whose operator raises is marked failed with the error text, and
its dependents with it; the others carry on.

Figures for the system tables (`laminar_catalog.pipeline_metrics`, `view_metrics`): the
loop counts batches, epochs (cycles), the time it spent working in each epoch and the
events its readers read; a dataflow remembers the wall time of the newest change it was
given and, at each barrier, what its published version reflects. All are plain fields
written per batch or per epoch by the pipeline thread alone and read without a lock.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import structlog

from laminar_pg.engine.checkpoint import Capture, Checkpointer, capture_flow
from laminar_pg.engine.dataflow import DataflowFailed, Node, push
from laminar_pg.engine.messages import Barrier, Chunk, Watermark
from laminar_pg.engine.sources_driver import SourceReader

log = structlog.get_logger("laminar_pg.runtime")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a reader sees: every view as of one completed epoch."""

    epoch: int
    timestamp_ms: int
    views: dict[int, pa.Table]
    failed: dict[int, tuple[str, str]]  # oid -> (error text, SQLSTATE)


@dataclass(eq=False)
class Dataflow:
    """The operators of one view, stream-reading view or sink, with its inputs."""

    oid: int
    name: str
    readers: list[tuple[SourceReader, Node]] = field(default_factory=list)
    tables: dict[int, list[Node]] = field(default_factory=dict)  # table oid -> input nodes
    views: dict[int, list[Node]] = field(default_factory=dict)  # upstream view oid -> inputs
    nodes: list[Node] = field(default_factory=list)  # every node, in build order
    output: Any = None  # the Materialize operator (views) or the sink
    output_node: Node | None = None
    failed: str | None = None
    failed_sqlstate: str = "XX000"
    created_ms: int = 0
    definition: str = ""  # definition_key of its CREATE statement (checkpoints match on it)
    restored_from: int | None = None  # the checkpoint epoch its state was restored from
    # wall time (seconds) of the newest change delivered to it / reflected by the version
    # it published at the last barrier; when that version last changed
    last_ingest: float | None = None
    published_ingest: float | None = None
    last_update: float | None = None
    on_failure: Callable[[str, str], None] = lambda error, sqlstate: None

    def roots(self) -> list[Node]:
        """Nodes that receive the runtime's barriers (view inputs get theirs upstream)."""
        nodes = [node for _, node in self.readers]
        for inputs in self.tables.values():
            nodes.extend(inputs)
        return nodes

    def sources_finished(self) -> bool:
        return all(reader.done for reader, _ in self.readers)


class Runtime:
    def __init__(self, barrier_interval: float = 0.2) -> None:
        self.barrier_interval = barrier_interval
        self.dataflows: dict[int, Dataflow] = {}
        self.snapshot = Snapshot(0, int(time.time() * 1000), {}, {})
        self.epoch = 0
        self._commands: collections.deque[tuple[Callable[[], Any], Future[Any] | None]] = (
            collections.deque())
        self._flush_waiters: list[Future[int]] = []
        self._wake = threading.Event()
        self._stopping = False
        self._last_timestamp_ms = self.snapshot.timestamp_ms
        self.cycles = 0
        self.batches = 0
        self.started_at = time.time()
        self.events_ingested = 0  # events read by every reader, dropped dataflows included
        self.emitted_by_removed = 0  # rows the outputs of dropped dataflows had received
        self.busy_ns = 0  # time the loop spent working (not waiting), since the start
        self.cycle_busy_ns = 0  # ... in the current epoch
        self.cycle_total_ns = 0  # sum over completed epochs of their busy time
        self.cycle_max_ns = 0
        self.last_cycle_utilization = 0.0  # busy share of the last epoch's wall time
        self._cycle_started = time.monotonic()
        # checkpoints (None: off); the newest change-log LSN whose changes were fed in
        self.checkpointer: Checkpointer | None = None
        self.fed_lsn = 0
        self.catalog_lsn: Callable[[], int] = lambda: 0  # the catalog's version now
        # a clock tests move by hand (LAMINAR_PG_CLOCK=manual): epochs' timestamps, and
        # so now() inside views, come from it instead of the wall clock
        self.manual_clock_ms: int | None = None
        self._thread = threading.Thread(target=self._run, name="laminar-pipeline", daemon=True)

    # ------------------------------------------------------------ called by sessions

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @property
    def state(self) -> str:
        """'starting' (thread not started), 'running', 'stopped', or 'failed' when the
        thread died on its own."""
        if self._stopping:
            return "stopped"
        if self._thread.ident is None:
            return "starting"
        return "running" if self._thread.is_alive() else "failed"

    def running(self) -> bool:
        """Whether queued work will still be done: started and alive, or not started yet."""
        if self._stopping:
            return False
        return self._thread.is_alive() or self._thread.ident is None

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run `fn` on the pipeline thread, in order with every other command."""
        future: Future[Any] = Future()
        self._commands.append((fn, future))
        self._wake.set()
        return future

    def feed(self, fn: Callable[[], Any]) -> None:
        """Queue work with no answer (a committed table transaction's changes)."""
        self._commands.append((fn, None))
        self._wake.set()

    def flush(self) -> Future[int]:
        """A barrier now; the future resolves with its epoch once it completes, so
        everything ingested and committed before it is in every view."""
        future: Future[int] = Future()

        def request() -> None:
            self._flush_waiters.append(future)

        self.call(request)
        return future

    def checkpoint(self) -> Future[Any]:
        """CHECKPOINT: resolves with the manifest of a checkpoint taken at a barrier
        after this call."""
        checkpointer = self.checkpointer
        if checkpointer is None:
            raise RuntimeError("checkpoints are off")
        future: Future[Any] = Future()

        def request() -> None:
            checkpointer.request().add_done_callback(
                lambda done: future.set_exception(exc) if (exc := done.exception())
                else future.set_result(done.result()))
            self._flush_waiters.append(Future())  # a barrier now

        self.call(request)
        return future

    def resume(self, epoch: int, timestamp_ms: int) -> None:
        """After recovery from a checkpoint: epochs and their timestamps go on from it."""
        self.epoch = max(self.epoch, epoch)
        self._last_timestamp_ms = max(self._last_timestamp_ms, timestamp_ms)

    # ------------------------------------------------------------ the pipeline thread

    def _run(self) -> None:
        next_barrier = time.monotonic() + self.barrier_interval
        while not self._stopping:
            began = time.perf_counter_ns()
            worked = self._run_commands()
            now = time.monotonic()
            for flow in list(self.dataflows.values()):
                if flow.failed is None:
                    worked |= self._read_sources(flow, now)
            now = time.monotonic()
            if now >= next_barrier or self._flush_waiters:
                self._run_commands()  # committed work queued meanwhile lands in this epoch
                self._barrier()
                self._end_cycle(time.perf_counter_ns() - began, time.monotonic())
                next_barrier = now + self.barrier_interval
                continue
            if worked:
                spent = time.perf_counter_ns() - began
                self.busy_ns += spent
                self.cycle_busy_ns += spent
            else:
                self._wake.wait(timeout=max(0.0, min(next_barrier - now, self.barrier_interval)))
                self._wake.clear()

    def _end_cycle(self, spent_ns: int, now: float) -> None:
        """An epoch is complete: its busy time (reading, pushing, the barrier) counts."""
        self.busy_ns += spent_ns
        busy = self.cycle_busy_ns + spent_ns
        self.cycle_busy_ns = 0
        self.cycle_total_ns += busy
        self.cycle_max_ns = max(self.cycle_max_ns, busy)
        elapsed = now - self._cycle_started
        self._cycle_started = now
        self.last_cycle_utilization = min(1.0, busy / 1e9 / elapsed) if elapsed > 0 else 0.0

    def events_emitted(self) -> int:
        """Rows (changes) received by every view's and sink's output, dropped ones included."""
        total = self.emitted_by_removed
        for flow in list(self.dataflows.values()):
            if flow.output_node is not None:
                total += flow.output_node.rows_in
        return total

    def _run_commands(self) -> bool:
        ran = False
        while self._commands:
            fn, future = self._commands.popleft()
            ran = True
            try:
                result = fn()
            except BaseException as exc:  # handed to the session that asked
                if future is not None:
                    future.set_exception(exc)
                else:
                    log.exception("pipeline command failed")
                continue
            if future is not None:
                future.set_result(result)
        return ran

    def _read_sources(self, flow: Dataflow, now: float) -> bool:
        worked = False
        for reader, node in flow.readers:
            if reader.done:
                continue
            before = reader.events_read
            try:
                chunk, watermark = reader.read(now)
            except Exception as exc:
                self.fail(flow, f"source: {getattr(exc, 'message', None) or exc}",
                          getattr(exc, "sqlstate", "XX000"))
                return True
            self.events_ingested += reader.events_read - before
            if chunk is None and watermark is None:
                continue
            worked = True
            self.batches += 1
            self.deliver(flow, node, chunk)
            if watermark is not None:
                self.deliver(flow, node, watermark)
        return worked

    def deliver(self, flow: Dataflow, node: Node, message: Chunk | Watermark | None) -> None:
        """Push into one dataflow; a failure fails that dataflow only."""
        if message is None or flow.failed is not None:
            return
        if isinstance(message, Chunk):
            flow.last_ingest = time.time()
        try:
            push(node, message)
        except DataflowFailed as exc:
            self.fail(flow, exc.message, exc.sqlstate)

    def fail(self, flow: Dataflow, error: str, sqlstate: str = "XX000") -> None:
        log.warning("dataflow failed", name=flow.name, error=error, sqlstate=sqlstate)
        flow.failed = error
        flow.failed_sqlstate = sqlstate
        for other in self.dataflows.values():  # readers of a failed view fail with it
            if flow.oid in other.views and other.failed is None:
                self.fail(other, f"upstream {flow.name} failed: {error}", sqlstate)

    def _barrier(self) -> None:
        self.epoch += 1
        clock = self.manual_clock_ms
        stamp = max(int(time.time() * 1000) if clock is None else clock,
                    self._last_timestamp_ms + 1)
        self._last_timestamp_ms = stamp
        barrier = Barrier(self.epoch, stamp)
        for flow in self.ordered():
            if flow.failed is not None:
                continue
            for node in flow.roots():
                try:
                    push(node, barrier)
                except DataflowFailed as exc:
                    self.fail(flow, exc.message, exc.sqlstate)
                    break
        views = dict(self.snapshot.views)
        failed = {}
        published = time.time()
        for flow in self.ordered():
            if flow.failed is not None:
                failed[flow.oid] = (flow.failed, flow.failed_sqlstate)
                continue
            self._published_ingest(flow)
            if flow.output is not None and hasattr(flow.output, "version"):
                version = flow.output.version()
                if views.get(flow.oid) is not version:
                    flow.last_update = published
                views[flow.oid] = version
        for oid in list(views):
            if oid not in self.dataflows:
                del views[oid]
        self.snapshot = Snapshot(self.epoch, stamp, views, failed)
        self.cycles += 1
        checkpointer = self.checkpointer
        if checkpointer is not None and checkpointer.due(time.monotonic()):
            self._checkpoint(checkpointer, barrier)
        waiters, self._flush_waiters = self._flush_waiters, []
        for future in waiters:
            future.set_result(self.epoch)

    def _checkpoint(self, checkpointer: Checkpointer, barrier: Barrier) -> None:
        """Capture every running dataflow's state as of this barrier and hand it to the
        checkpoint thread (the pipeline does not wait for the write)."""
        began = time.perf_counter()
        waiters, checkpointer.requests = checkpointer.requests, []
        try:
            flows = [capture_flow(flow, flow.definition, checkpointer.fingerprints,
                                  checkpointer.pool)
                     for flow in self.ordered() if flow.failed is None and flow.definition]
        except Exception as exc:
            log.exception("checkpoint.capture_failed", epoch=barrier.epoch)
            checkpointer.failed += 1
            for future in waiters:
                future.set_exception(exc)
            return
        checkpointer.submit(Capture(barrier.epoch, barrier.timestamp_ms, self.fed_lsn,
                                    time.time(), (time.perf_counter() - began) * 1000,
                                    flows, waiters, self.catalog_lsn()))

    def _published_ingest(self, flow: Dataflow) -> None:
        """What the version published now reflects: its own newest change, or a newer
        one of a view it reads (upstream views are visited first)."""
        newest = flow.last_ingest
        for upstream_oid in flow.views:
            upstream = self.dataflows.get(upstream_oid)
            if upstream is not None and upstream.published_ingest is not None:
                if newest is None or upstream.published_ingest > newest:
                    newest = upstream.published_ingest
        flow.published_ingest = newest

    def ordered(self) -> list[Dataflow]:
        """Dataflows with every upstream view before its readers."""
        done: dict[int, Dataflow] = {}

        def visit(flow: Dataflow) -> None:
            if flow.oid in done:
                return
            for upstream in flow.views:
                if upstream in self.dataflows:
                    visit(self.dataflows[upstream])
            done[flow.oid] = flow

        for flow in self.dataflows.values():
            visit(flow)
        return list(done.values())

    # ------------------------------------------------------------ commands

    def add(self, flow: Dataflow) -> None:
        """Install a built dataflow (on the pipeline thread, via `call`)."""
        flow.created_ms = int(time.time() * 1000)
        for node in flow.nodes:
            node.owner = flow
        flow.on_failure = functools.partial(self.fail, flow)
        self.dataflows[flow.oid] = flow

    def remove(self, oid: int) -> None:
        flow = self.dataflows.pop(oid, None)
        if flow is None:
            return
        if flow.output_node is not None:
            self.emitted_by_removed += flow.output_node.rows_in
        for other in self.dataflows.values():
            if other.output_node is not None:
                other.output_node.downstream = [
                    (n, p) for n, p in other.output_node.downstream if n not in flow.nodes]
