"""The pipeline runtime: table changes fed in, flushed, published per epoch; failures.

Dataflows are built by hand the way the planner and the streaming session build them
(laminar_pg/sql/planner.py, laminar_pg/session/streaming.py): a Passthrough entry node
per table read, operators, a Materialize at the end, installed with `runtime.add` on the
pipeline thread; a committed transaction is one `runtime.feed` that delivers its chunks
to every node reading the table. The twin of a view is plain Python over the
consolidated table (sum of weights per row, filtered for a filtered view).
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from laminar_pg.engine.dataflow import Node
from laminar_pg.engine.expr import compile_expr
from laminar_pg.engine.messages import Barrier, Chunk, Message
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators.filter import Filter
from laminar_pg.engine.operators.materialize import Materialize
from laminar_pg.engine.runtime import Dataflow, Runtime, Snapshot
from laminar_pg.engine.sources import Generator, make_generator
from laminar_pg.engine.sources_driver import SourceReader
from laminar_pg.sql.dialect import Laminar
from laminar_pg.sql.planner import Passthrough

Row = tuple[Any, ...]
SCHEMA = pa.schema([("k", pa.int64()), ("s", pa.string())])
TABLE = 100  # the oid of the table every view reads
TIMEOUT = 10.0


@contextmanager
def running(barrier_interval: float = 3600.0) -> Iterator[Runtime]:
    """A started runtime (with the default interval, barriers come from flushes only)."""
    runtime = Runtime(barrier_interval)
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()


def chain(first: Node, operators: Sequence[Operator]) -> list[Node]:
    nodes = [first]
    for op in operators:
        node = Node(op, op.name)
        nodes[-1].connect(node)
        nodes.append(node)
    return nodes


def finish(flow: Dataflow, nodes: list[Node], materialize: Materialize | None = None) -> Dataflow:
    """Append the view's Materialize, as StreamingSession.plan_view does."""
    output = materialize if materialize is not None else Materialize(nodes[-1].operator.schema)
    out_node = Node(output, f"materialize {flow.name}")
    nodes[-1].connect(out_node)
    flow.nodes = [*nodes, out_node]
    flow.output = output
    flow.output_node = out_node
    return flow


def table_view(oid: int, name: str, *operators: Operator,
               materialize: Materialize | None = None) -> Dataflow:
    """A view over the table: table -> operators -> Materialize."""
    flow = Dataflow(oid, name)
    entry = Node(Passthrough(SCHEMA), "table t")
    flow.tables = {TABLE: [entry]}
    return finish(flow, chain(entry, operators), materialize)


def view_view(oid: int, name: str, upstream: Dataflow, *operators: Operator) -> Dataflow:
    """A view reading another view."""
    flow = Dataflow(oid, name)
    entry = Node(Passthrough(SCHEMA), f"materialized view {upstream.name}")
    flow.views = {upstream.oid: [entry]}
    return finish(flow, chain(entry, operators))


def install(runtime: Runtime, flow: Dataflow) -> None:
    """On the pipeline thread, as StreamingSession.install does: a view reading a view
    starts from its current contents and then follows its output node."""

    def run() -> None:
        for upstream_oid, nodes in flow.views.items():
            upstream = runtime.dataflows[upstream_oid]
            assert upstream.output_node is not None
            contents = upstream.output.current()
            for node in nodes:
                for batch in contents.to_batches():
                    runtime.deliver(flow, node, Chunk(batch))
                upstream.output_node.connect(node)
        runtime.add(flow)

    runtime.call(run).result(timeout=TIMEOUT)


def commit(runtime: Runtime, chunks: Sequence[Chunk]) -> None:
    """One committed transaction's changes, as StreamingSession.feed_commit queues them."""

    def apply() -> None:
        for chunk in chunks:
            for flow in list(runtime.dataflows.values()):
                for node in flow.tables.get(TABLE, []):
                    runtime.deliver(flow, node, chunk)

    runtime.feed(apply)


def chunk_of(changes: Sequence[tuple[Row, int]], append_only: bool = False) -> Chunk:
    batch = pa.RecordBatch.from_arrays(
        [pa.array([row[i] for row, _ in changes], type=f.type) for i, f in enumerate(SCHEMA)],
        schema=SCHEMA)
    if append_only:
        assert all(w == 1 for _, w in changes)
        return Chunk(batch)
    return Chunk(batch, np.array([w for _, w in changes], dtype=np.int64))


def flush(runtime: Runtime) -> Snapshot:
    epoch = runtime.flush().result(timeout=TIMEOUT)
    snapshot = runtime.snapshot
    assert snapshot.epoch >= epoch
    return snapshot


def contents(table: pa.Table) -> Counter[Row]:
    return Counter(tuple(r.values()) for r in table.to_pylist())


def positive_k() -> Filter:
    predicate = sqlglot.parse_one("k > 0", dialect=Laminar)
    assert isinstance(predicate, exp.Expression)
    return Filter(SCHEMA, compile_expr(predicate, SCHEMA))


# ------------------------------------------------------------------ views follow the table

table_rows = st.tuples(st.one_of(st.none(), st.integers(-3, 3)),
                       st.one_of(st.none(), st.sampled_from(["a", "b", ""])))


@given(st.data())
def test_views_equal_the_consolidated_table_after_each_flush(data: st.DataObject) -> None:
    held: Counter[Row] = Counter()
    snapshots: list[Snapshot] = []
    with running() as runtime:
        everything = table_view(201, "everything")
        positives = table_view(202, "positives", positive_k())
        install(runtime, everything)
        install(runtime, positives)
        for _ in range(data.draw(st.integers(1, 6), label="transactions")):
            chunks = []
            for _ in range(data.draw(st.integers(1, 3))):
                inserts = data.draw(st.lists(st.tuples(table_rows, st.integers(0, 3)),
                                             max_size=6))
                for row, weight in inserts:
                    held[row] += weight
                retract = data.draw(st.lists(st.sampled_from(sorted(held, key=repr)),
                                             max_size=4) if held else st.just([]))
                retractions = []
                for row in retract:
                    if held[row] > 0:
                        held[row] -= 1
                        retractions.append((row, -1))
                changes = inserts + retractions
                if data.draw(st.booleans()) and all(w == 1 for _, w in changes):
                    chunks.append(chunk_of(changes, append_only=True))
                else:
                    chunks.append(chunk_of(changes))
            commit(runtime, chunks)
            if data.draw(st.booleans()):
                snapshots.append(check_views(runtime, held))
        snapshots.append(check_views(runtime, held))
    epochs = [s.epoch for s in snapshots]
    stamps = [s.timestamp_ms for s in snapshots]
    assert epochs == list(range(1, len(snapshots) + 1))  # one barrier per flush here
    assert all(a < b for a, b in itertools.pairwise(stamps))


def check_views(runtime: Runtime, held: Counter[Row]) -> Snapshot:
    snapshot = flush(runtime)
    assert snapshot.failed == {}
    assert contents(snapshot.views[201]) == +held
    assert contents(snapshot.views[202]) == +Counter(
        {row: n for row, n in held.items() if row[0] is not None and row[0] > 0})
    return snapshot


def test_a_flush_waits_for_the_feeds_queued_before_it() -> None:
    with running() as runtime:
        install(runtime, table_view(201, "everything"))
        first = flush(runtime)
        release = threading.Event()
        blocked = runtime.call(lambda: release.wait(TIMEOUT))  # hold the pipeline thread
        commit(runtime, [chunk_of([((1, "a"), 1)]), chunk_of([((2, "b"), 2)])])
        commit(runtime, [chunk_of([((1, "a"), -1), ((3, None), 1)])])
        flushed = runtime.flush()
        assert not flushed.done()  # queued behind the blocked command and the feeds
        release.set()
        assert blocked.result(timeout=TIMEOUT) is True
        epoch = flushed.result(timeout=TIMEOUT)
        snapshot = runtime.snapshot
        assert epoch == snapshot.epoch == first.epoch + 1
        assert snapshot.timestamp_ms > first.timestamp_ms
        # both transactions, whole: the first's row 1 is retracted by the second
        assert contents(snapshot.views[201]) == Counter({(2, "b"): 2, (3, None): 1})


class RecordingMaterialize(Materialize):
    """A Materialize that records every barrier it completes and the version it publishes."""

    def __init__(self, schema: pa.Schema) -> None:
        super().__init__(schema)
        self.published: list[tuple[Barrier, Counter[Row]]] = []

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        out = super().on_barrier(barrier)
        self.published.append((barrier, contents(self.version())))
        return out


def test_with_periodic_barriers_a_transaction_lands_in_one_epoch() -> None:
    recorder = RecordingMaterialize(SCHEMA)
    parts = 4
    with running(barrier_interval=0.001) as runtime:
        install(runtime, table_view(201, "everything", materialize=recorder))
        for tx in range(40):
            # one transaction: several chunks, each one of its rows
            commit(runtime, [chunk_of([((tx, f"part {p}"), 1)]) for p in range(parts)])
            if tx % 10 == 9:
                flush(runtime)
            else:
                runtime.call(lambda: None).result(timeout=TIMEOUT)  # let the loop turn
        final = flush(runtime)
    assert len(recorder.published) >= 4
    epochs = [barrier.epoch for barrier, _ in recorder.published]
    assert epochs == list(range(epochs[0], epochs[0] + len(epochs)))  # every barrier, in order
    stamps = [barrier.timestamp_ms for barrier, _ in recorder.published]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert final.epoch == epochs[-1]
    seen = 0
    for _, version in recorder.published:
        per_tx = Counter(k for k, _ in version)
        assert set(per_tx.values()) <= {parts}, "a transaction split across epochs"
        assert len(per_tx) >= seen  # nothing published is lost later
        seen = len(per_tx)
    assert seen == 40


# ------------------------------------------------------------------ failures


class FailOn(Operator):
    """Passes chunks through, but raises on a chunk holding k = `bad` (or, with
    `at_barrier`, at the first barrier after such a chunk)."""

    name = "fail_on"

    def __init__(self, bad: int, at_barrier: bool = False) -> None:
        super().__init__(SCHEMA)
        self.bad = bad
        self.at_barrier = at_barrier
        self.armed = False

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        if self.bad in chunk.batch.column("k").to_pylist():
            if not self.at_barrier:
                raise ValueError(f"cannot handle k = {self.bad}")
            self.armed = True
        return [chunk]

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        if self.armed:
            raise RuntimeError(f"barrier {barrier.epoch} after k = {self.bad}")
        return []


def insert(*keys: int) -> list[Chunk]:
    return [chunk_of([((k, "x"), 1) for k in keys])]


def keys_of(snapshot: Snapshot, oid: int) -> list[int]:
    return sorted(k for k, _ in contents(snapshot.views[oid]).elements())


def test_a_failing_operator_fails_its_dataflow_and_its_readers_only() -> None:
    with running() as runtime:
        fragile = table_view(201, "fragile", FailOn(13))
        sturdy = table_view(202, "sturdy", positive_k())
        install(runtime, fragile)
        install(runtime, sturdy)
        commit(runtime, insert(1, 2))
        flush(runtime)
        reader = view_view(203, "reads_fragile", fragile)  # starts from fragile's contents
        picky = view_view(204, "reads_sturdy", sturdy, FailOn(7))
        install(runtime, reader)
        install(runtime, picky)
        snapshot = flush(runtime)
        assert snapshot.failed == {}
        assert keys_of(snapshot, 201) == keys_of(snapshot, 203) == [1, 2]
        assert keys_of(snapshot, 202) == keys_of(snapshot, 204) == [1, 2]

        commit(runtime, insert(13, 3))
        snapshot = flush(runtime)
        assert set(snapshot.failed) == {201, 203}
        assert snapshot.failed[201] == ("fail_on: cannot handle k = 13", "XX000")
        assert snapshot.failed[203] == (
            "upstream fragile failed: fail_on: cannot handle k = 13", "XX000")
        assert keys_of(snapshot, 202) == keys_of(snapshot, 204) == [1, 2, 3, 13]

        # a view failing on what its upstream view sends fails alone
        commit(runtime, insert(7, -5))
        snapshot = flush(runtime)
        assert set(snapshot.failed) == {201, 203, 204}
        assert snapshot.failed[204] == ("fail_on: cannot handle k = 7", "XX000")
        assert keys_of(snapshot, 202) == [1, 2, 3, 7, 13]

        commit(runtime, insert(4))
        later = flush(runtime)
        assert later.epoch > snapshot.epoch
        assert set(later.failed) == {201, 203, 204}
        assert keys_of(later, 202) == [1, 2, 3, 4, 7, 13]


def test_a_failure_at_a_barrier_fails_the_dataflow_and_its_readers() -> None:
    with running() as runtime:
        fragile = table_view(201, "fragile", FailOn(13, at_barrier=True))
        sturdy = table_view(202, "sturdy")
        install(runtime, fragile)
        install(runtime, sturdy)
        install(runtime, view_view(203, "reads_fragile", fragile))
        commit(runtime, insert(1, 13))
        snapshot = flush(runtime)
        assert set(snapshot.failed) == {201, 203}
        assert snapshot.failed[201] == ("fail_on: barrier 1 after k = 13", "XX000")
        assert snapshot.failed[203] == (
            "upstream fragile failed: fail_on: barrier 1 after k = 13", "XX000")
        assert keys_of(snapshot, 202) == [1, 13]
        commit(runtime, insert(2))
        assert keys_of(flush(runtime), 202) == [1, 2, 13]


def test_a_failure_keeps_the_sqlstate_of_its_cause() -> None:
    predicate = sqlglot.parse_one("10 / k > 1", dialect=Laminar)
    assert isinstance(predicate, exp.Expression)
    with running() as runtime:
        divides = table_view(201, "divides", Filter(SCHEMA, compile_expr(predicate, SCHEMA)))
        install(runtime, divides)
        install(runtime, view_view(202, "reads_divides", divides))
        commit(runtime, insert(1, 2))
        assert keys_of(flush(runtime), 202) == [1, 2]
        commit(runtime, insert(0))
        snapshot = flush(runtime)
        text, sqlstate = snapshot.failed[201]
        assert sqlstate == "22012" and text.startswith("filter: ")
        assert "division by zero" in text
        assert snapshot.failed[202] == (f"upstream divides failed: {text}", "22012")


def test_a_failing_command_answers_its_caller_and_the_runtime_goes_on() -> None:
    with running() as runtime:
        install(runtime, table_view(201, "everything"))
        with pytest.raises(ZeroDivisionError):
            runtime.call(lambda: 1 // 0).result(timeout=TIMEOUT)
        commit(runtime, insert(1))
        assert keys_of(flush(runtime), 201) == [1]


def test_a_removed_view_leaves_the_snapshot() -> None:
    with running() as runtime:
        install(runtime, table_view(201, "everything"))
        install(runtime, table_view(202, "other"))
        commit(runtime, insert(1))
        assert set(flush(runtime).views) == {201, 202}
        runtime.call(functools.partial(runtime.remove, 201)).result(timeout=TIMEOUT)
        commit(runtime, insert(2))
        snapshot = flush(runtime)
        assert set(snapshot.views) == {202}
        assert keys_of(snapshot, 202) == [1, 2]


# ------------------------------------------------------------------ source readers


class BrokenAfter(Generator):
    """A bounded generator of ids 0..n-1 that raises once asked for event `broken`."""

    def __init__(self, events: int, broken: int) -> None:
        self.schema = pa.schema([("id", pa.int64())])
        self.event_time_column = None
        self.events_per_second = None
        self.splits = 1
        self.events = events
        self.broken = broken

    def events_in(self, split: int) -> int | None:
        return self.events

    def _columns(self, split: int, start: int, stop: int) -> list[pa.Array]:
        if start <= self.broken < stop:
            raise OSError(f"event {self.broken} is unreadable")
        return [pa.array(range(start, stop), pa.int64())]


def source_view(oid: int, name: str, generator: Generator) -> Dataflow:
    flow = Dataflow(oid, name)
    entry = Node(Passthrough(generator.schema), f"source {name}")
    entry.source_oid = oid + 1000
    flow.readers = [(SourceReader(generator, None, 0, max_chunk=64), entry)]
    return finish(flow, [entry])


def read_sources_to_end(runtime: Runtime, flow: Dataflow) -> None:
    """Let the pipeline loop turn (one command per turn) until the readers are done or
    the dataflow failed."""
    for _ in range(10_000):
        if runtime.call(lambda: flow.sources_finished() or flow.failed).result(TIMEOUT):
            return
    raise AssertionError("the sources never finish")


def test_a_source_dataflow_reads_its_bounded_source_to_the_end() -> None:
    generator = make_generator("datagen", [("id", pa.int64())], {
        "fields.id.kind": "sequence", "datagen.rows": "500", "datagen.split.num": "2"}, 1)
    with running() as runtime:
        flow = source_view(201, "ids", generator)
        install(runtime, flow)
        read_sources_to_end(runtime, flow)
        snapshot = flush(runtime)
        assert snapshot.failed == {}
        assert sorted(r[0] for r in contents(snapshot.views[201]).elements()) == list(range(500))
        assert flow.readers[0][0].done and runtime.batches >= 500 // 64


def test_a_source_that_raises_fails_its_dataflow_only() -> None:
    with running() as runtime:
        broken = source_view(201, "broken", BrokenAfter(1000, 300))
        install(runtime, broken)
        install(runtime, table_view(202, "everything"))
        read_sources_to_end(runtime, broken)
        commit(runtime, insert(1))
        snapshot = flush(runtime)
        assert set(snapshot.failed) == {201}
        assert snapshot.failed[201] == ("source: event 300 is unreadable", "XX000")
        assert keys_of(snapshot, 202) == [1]
