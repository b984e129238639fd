"""Checkpoints in-process: a dataflow's state captured at a barrier, written to the
checkpoint store, read back and restored into a freshly planned dataflow, goes on to the
same final contents as the dataflow that never stopped; and the store keeps what its
retained manifests need, and nothing else.

Every query of sql_tests/nexmark (aggregates, windows, joins, top-N, DISTINCT, session
windows) is checked, cut at several points of its input.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import sqlglot

from laminar_pg.catalog.objects import CatalogObject
from laminar_pg.engine.checkpoint import (
    Capture,
    CheckpointStore,
    Fingerprints,
    RestoreMismatch,
    capture_flow,
    give_back,
    restore_flow,
    written_fingerprints,
)
from laminar_pg.engine.dataflow import push
from laminar_pg.engine.messages import Barrier
from laminar_pg.engine.runtime import Dataflow, Runtime
from laminar_pg.engine.sources.nexmark import TABLE_FIELDS
from laminar_pg.session.streaming import Streaming
from laminar_pg.sql import ast
from laminar_pg.sql.dialect import Laminar

NEXMARK_DIR = Path(__file__).resolve().parents[2] / "sql_tests" / "nexmark"
EVENTS = 30_000
SQL_TYPES = {pa.int64(): "BIGINT", pa.string(): "VARCHAR", pa.timestamp("us"): "TIMESTAMP"}
QUERIES = sorted(p.stem for p in NEXMARK_DIR.glob("q*.sql") if not p.name.endswith(".batch.sql"))
EXTRA = {
    "session": "CREATE MATERIALIZED VIEW session AS SELECT bidder, count(*) AS n, "
               "max(price) AS top FROM bid GROUP BY bidder, SESSION(date_time, INTERVAL '1' SECOND)",
    # the harness's barriers are stamped with their epoch number: now() is in 1970, so
    # this keeps every row, and checks that the filter's queue survives a restore
    "temporal": "CREATE MATERIALIZED VIEW temporal AS SELECT auction, price FROM bid "
                "WHERE date_time > now() - INTERVAL '1' SECOND",
    "rank": "CREATE MATERIALIZED VIEW rank AS SELECT * FROM (SELECT auction, price, RANK() "
            "OVER (PARTITION BY auction ORDER BY price DESC) AS r FROM bid) x WHERE r <= 2",
}


def streaming_with_sources() -> tuple[Streaming, Any]:
    streaming = Streaming(Runtime(), workers=2)
    names: dict[str, int] = {}
    for oid, table in enumerate(("person", "auction", "bid"), start=100):
        columns = ", ".join(f"{n} {SQL_TYPES[t]}" for n, t in TABLE_FIELDS[table].items())
        sql = (f"CREATE SOURCE {table} ({columns}, WATERMARK FOR date_time AS date_time - "
               f"INTERVAL '4' SECOND) WITH (connector = 'nexmark', nexmark.table = '{table}', "
               f"nexmark.events = '{EVENTS}', nexmark.seed = '7', nexmark.event_gap = '1ms')")
        tree = sqlglot.parse_one(sql, dialect=Laminar)
        assert isinstance(tree, ast.CreateSource)
        obj = CatalogObject(oid, "source", "public", table)
        streaming.objects[oid] = streaming.define_source(tree, obj)
        names[table] = oid

    def resolve(table: Any) -> Any:
        return streaming.relation(streaming.objects[names[table.name]])

    return streaming, resolve


def plan(streaming: Streaming, resolve: Any, definition: str) -> Dataflow:
    tree = sqlglot.parse_one(definition, dialect=Laminar)
    flow, _, _, _ = streaming.plan_view(tree.args["expression"], tree.args.get("emit"),
                                        resolve, 1, "v")
    flow.definition = "v"
    return flow


def step(flow: Dataflow, epoch: int) -> bool:
    """Read one chunk from every reader, then a barrier; False once all are done."""
    now = time.monotonic()
    for reader, node in flow.readers:
        chunk, watermark = reader.read(now)
        for message in (chunk, watermark):
            if message is not None:
                push(node, message)
    for node in flow.roots():
        push(node, Barrier(epoch, epoch))
    return not flow.sources_finished()


def contents(flow: Dataflow) -> Counter[tuple[Any, ...]]:
    table = flow.output.version()
    return Counter(tuple(row.values()) for row in table.to_pylist())


PREVIOUS: dict[Path, Fingerprints] = {}  # per store: the last capture's fingerprints
POOL: list[bytearray] = []  # page buffers, reused from capture to capture


def roundtrip(store: CheckpointStore, flow: Dataflow, epoch: int) -> tuple[bytes, list[bytearray]]:
    """Capture (copying only the pages changed since this store's last capture, into
    reused page buffers), write, read back."""
    state = capture_flow(flow, "v", PREVIOUS.get(store.directory), POOL)
    capture = Capture(epoch, epoch, 0, time.time(), 0.0, [state], [])
    manifest = store.write(capture, lambda lsn: None)
    PREVIOUS[store.directory] = written_fingerprints(capture)
    give_back(capture, POOL)
    return store.read_flow(manifest, flow.oid)


def definitions() -> list[tuple[str, str]]:
    items = [(name, (NEXMARK_DIR / f"{name}.sql").read_text()) for name in QUERIES]
    return items + sorted(EXTRA.items())


@pytest.mark.parametrize(("name", "definition"), definitions(), ids=lambda v: v[:12])
def test_restored_flow_ends_like_the_uninterrupted_one(tmp_path: Path, name: str,
                                                       definition: str) -> None:
    streaming, resolve = streaming_with_sources()
    reference = plan(streaming, resolve, definition)
    for reader, _ in reference.readers:
        reader.max_chunk = 2_000
    epoch = 0
    while step(reference, epoch := epoch + 1):
        pass
    expected = contents(reference)

    store = CheckpointStore(tmp_path / "checkpoints", retained=2)
    for cut in (1, 3, 7):  # restore after this many epochs, then again 2 epochs later
        flow = plan(streaming, resolve, definition)
        for reader, _ in flow.readers:
            reader.max_chunk = 2_000
        epoch = 0
        restores = (cut, cut + 2)
        running = True
        while running:
            running = step(flow, epoch := epoch + 1)
            if epoch in restores and running:
                payload, buffers = roundtrip(store, flow, epoch)
                flow = plan(streaming, resolve, definition)
                restore_flow(flow, payload, buffers, time.monotonic())
        assert contents(flow) == expected, f"{name}: restored at epochs {restores}"
    store.close()


def test_a_restore_into_another_plan_is_refused(tmp_path: Path) -> None:
    streaming, resolve = streaming_with_sources()
    flow = plan(streaming, resolve, EXTRA["session"])
    step(flow, 1)
    store = CheckpointStore(tmp_path, retained=1)
    payload, buffers = roundtrip(store, flow, 1)
    other = plan(streaming, resolve, (NEXMARK_DIR / "q5.sql").read_text())
    with pytest.raises(RestoreMismatch):
        restore_flow(other, payload, buffers, time.monotonic())
    store.close()


def state_keys(store: CheckpointStore) -> tuple[int, int]:
    pages = flows = 0
    for key in store.db.keys():
        assert isinstance(key, bytes)
        pages += key.startswith(b"page/")
        flows += key.startswith(b"flow/")
    return pages, flows


def test_store_writes_only_new_pages_prunes_and_collects_garbage(tmp_path: Path) -> None:
    streaming, resolve = streaming_with_sources()
    flow = plan(streaming, resolve, (NEXMARK_DIR / "q16.sql").read_text())
    step(flow, 1)
    store = CheckpointStore(tmp_path, retained=2)
    state = capture_flow(flow, "v")
    first = store.write(Capture(1, 1, 0, time.time(), 0.0, [state], []), lambda lsn: None)
    again = store.write(Capture(2, 2, 0, time.time(), 0.0, [state], []), lambda lsn: None)
    assert first.pages_written > 0
    assert again.pages_written == 0, "an unchanged state wrote pages again"
    # a capture compares its pages with the last written one's: unchanged, none copied
    unchanged = capture_flow(flow, "v", written_fingerprints(
        Capture(2, 2, 0, 0.0, 0.0, [state], [])))
    assert state.copied > 0 and unchanged.copied == 0
    assert unchanged.nbytes == state.nbytes
    for epoch in range(3, 6):
        step(flow, epoch)
        store.write(Capture(epoch, epoch, 0, time.time(), 0.0, [capture_flow(flow, "v")], []),
                    lambda lsn: None)
    assert [m.epoch for m in store.manifests] == [4, 5]
    assert sorted(p.name for p in tmp_path.glob("manifest-*")) == [
        f"manifest-{e:020d}.json" for e in (4, 5)]
    live = set().union(*store._pages_of.values())
    pages, flows = state_keys(store)
    assert (pages, flows) == (len(live), 2)
    # a checkpoint cut short (state written, no manifest) leaves garbage that the next
    # start deletes; the manifests it has stay usable
    store.db.put(b"flow/" + b"9".zfill(20) + b"/1", b"x")
    store.db.put(b"page/" + bytes(32), np.zeros(10).tobytes())
    (tmp_path / f"manifest-{9:020d}.json.tmp").write_bytes(b"{")
    store.close()
    reopened = CheckpointStore(tmp_path, retained=2)
    assert [m.epoch for m in reopened.manifests] == [4, 5]
    assert state_keys(reopened) == (len(live), 2)
    assert not list(tmp_path.glob("*.tmp"))
    payload, buffers = reopened.read_flow(reopened.manifests[-1], 1)
    restored = plan(streaming, resolve, (NEXMARK_DIR / "q16.sql").read_text())
    restore_flow(restored, payload, buffers, time.monotonic())
    assert contents(restored) == contents(flow)
    reopened.close()


def test_a_torn_manifest_is_never_used(tmp_path: Path) -> None:
    streaming, resolve = streaming_with_sources()
    flow = plan(streaming, resolve, (NEXMARK_DIR / "q17.sql").read_text())
    step(flow, 1)
    store = CheckpointStore(tmp_path, retained=3)
    store.write(Capture(1, 1, 0, time.time(), 0.0, [capture_flow(flow, "v")], []),
                lambda lsn: None)
    store.close()
    (tmp_path / f"manifest-{2:020d}.json").write_bytes(b'{"epoch": 2, "flo')
    reopened = CheckpointStore(tmp_path, retained=3)
    assert [m.epoch for m in reopened.manifests] == [1]
    reopened.close()


def test_zero_pages_are_not_copied_and_stored_once(tmp_path: Path) -> None:
    """The unused capacity of a grown array (whole pages of zeros) is one stored page."""
    from laminar_pg.engine.checkpoint_capture import PAGE_BYTES, ZERO_PAGE, _capture_buffer

    array = np.zeros(4 * PAGE_BYTES // 8, dtype=np.int64)
    array[:10] = 7  # the first page holds data, the other three are zeros
    captured = _capture_buffer(memoryview(array.data).cast("B"), None)
    assert [p is ZERO_PAGE for p in captured.pages] == [False, True, True, True]
    assert isinstance(captured.pages[0], bytes)
    store = CheckpointStore(tmp_path, retained=1)
    state = capture_flow(plan(*streaming_with_sources(), EXTRA["session"]), "v")
    state.buffers.append(captured)
    manifest = store.write(Capture(1, 1, 0, time.time(), 0.0, [state], []), lambda lsn: None)
    assert state_keys(store)[0] == len(store._pages_of[1])
    _, buffers = store.read_flow(manifest, state.oid)
    assert bytes(buffers[-1]) == array.tobytes()
    store.close()
