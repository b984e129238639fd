"""Bytewax 0.21 flows for the Nexmark queries of bench/nexmark.py: the Python streaming peer.

    python bench/nexmark_bytewax.py --query q5_window --events 1000000 --event-gap 1ms

Runs one query as a bytewax dataflow on one worker (`bytewax.testing.run_main`, in this
process) over the same bids the server reads (laminar_pg's nexmark generator, all 7
columns, `--batch-events` events per read), and prints one JSON object: seconds (from
running the built flow to the last output row checksummed), rows, the blackhole sink's checksum
of the answer, the bids the flow took in and the items its windowing operator called late.

The stateless queries (q0, q1, q2) move Arrow batches through `op.map` (bytewax's advice
for throughput) and checksum each output batch as laminar_pg's sink does. The windowed
queries move one Python tuple per bid, as bytewax's windowing operators need: q5_window is
`count_window` over `SlidingWindower(10 s, 2 s)` keyed by auction, q7_window `max_window`
over `TumblingWindower(10 s)` under one key, windows aligned on the Unix epoch (as the
server aligns them). The EventClock waits `--wait` seconds (default 60) of system time: its
watermark is the highest event time minus that wait plus the system time since, so a short
wait drops in-order events as late under fast replay (FACTS.md); the late count shows it.

bench/nexmark.py runs this file with `--bytewax-python` (default: its own interpreter) and
reads the JSON line, so bytewax may live in another environment than the server.
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads bench files by path.
import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if not __package__:  # run by path (`python bench/nexmark_bytewax.py`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.operators.blackhole import table_checksums
from laminar_pg.engine.sources import make_generator

BID_COLUMNS = [("auction", pa.int64()), ("bidder", pa.int64()), ("price", pa.int64()),
               ("channel", pa.string()), ("url", pa.string()),
               ("date_time", pa.timestamp("us")), ("extra", pa.string())]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Q2_AUCTIONS = pa.array([1007, 1020, 2001, 2019, 2087], type=pa.int64())
QUERIES = ("q0", "q1", "q2", "q5_window", "q7_window")


class Checksum:
    """The blackhole sink's per-column sums and its combination (BlackholeSink.checksum)."""

    def __init__(self) -> None:
        self.sums: list[int] = []
        self.rows = 0

    def add(self, table: pa.Table | pa.RecordBatch) -> None:
        sums = table_checksums(table)
        if not self.sums:
            self.sums = [0] * len(sums)
        self.sums = [(a + b) % (1 << 64) for a, b in zip(self.sums, sums, strict=True)]
        self.rows += table.num_rows

    def value(self) -> int:
        combined = 0
        for i, value in enumerate(self.sums):
            combined = (combined * 1_000_003 + value + i) % (1 << 64)
        return combined


def generator_options(events: int, gap: str) -> dict[str, str]:
    return {"nexmark.table": "bid", "nexmark.events": str(events), "nexmark.seed": "1",
            "nexmark.event_gap": gap}


def build_flow(query: str, events: int, gap: str, batch_events: int, wait: float,
               checksum: Checksum, counters: dict[str, int],
               collected: list[tuple[Any, ...]]) -> Any:
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.inputs import DynamicSource, StatelessSourcePartition
    from bytewax.operators import windowing as win
    from bytewax.outputs import DynamicSink, StatelessSinkPartition

    class BidPartition(StatelessSourcePartition[pa.RecordBatch]):
        def __init__(self) -> None:
            self.generator = make_generator("nexmark", BID_COLUMNS,
                                            generator_options(events, gap), 1)
            self.position = 0

        def next_batch(self) -> list[pa.RecordBatch]:
            if self.generator.exhausted(0, self.position):
                raise StopIteration
            batch, self.position = self.generator.read(0, self.position, batch_events)
            return [batch]

    class BidSource(DynamicSource[pa.RecordBatch]):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> BidPartition:
            return BidPartition()

    class BatchPartition(StatelessSinkPartition[pa.RecordBatch]):
        def write_batch(self, items: list[pa.RecordBatch]) -> None:
            for item in items:
                checksum.add(item)

    class RowPartition(StatelessSinkPartition[tuple[Any, ...]]):
        def write_batch(self, items: list[tuple[Any, ...]]) -> None:
            collected.extend(items)

    class Sink(DynamicSink[Any]):
        def __init__(self, partition: Callable[[], StatelessSinkPartition[Any]]) -> None:
            self.partition = partition

        def build(self, step_id: str, worker_index: int,
                  worker_count: int) -> StatelessSinkPartition[Any]:
            return self.partition()

    def thousandths(price: pa.Array) -> pa.Array:
        """price * 0.908 as decimal128(38, 3): the unscaled 128-bit integers price * 908."""
        unscaled = price.to_numpy(zero_copy_only=False).astype(np.int64) * 908
        words = np.empty((len(unscaled), 2), dtype=np.int64)
        words[:, 0] = unscaled
        words[:, 1] = np.where(unscaled < 0, -1, 0)
        return pa.Array.from_buffers(pa.decimal128(38, 3), len(unscaled),
                                     [None, pa.py_buffer(words.tobytes())])

    flow = Dataflow(f"nexmark_{query}")
    bids = op.input("bids", flow, BidSource())
    if query in ("q0", "q1", "q2"):
        project: Callable[[pa.RecordBatch], pa.RecordBatch] = {
            "q0": lambda b: b.select(["auction", "bidder", "price", "date_time"]),
            "q1": lambda b: pa.RecordBatch.from_arrays(
                [b.column("auction"), b.column("bidder"),
                 # 0.908 * price, a numeric of scale 3 (the sink checksums its exact value)
                 thousandths(b.column("price")),
                 b.column("date_time")],
                names=["auction", "bidder", "price", "date_time"]),
            "q2": lambda b: b.filter(pc.is_in(b.column("auction"), value_set=Q2_AUCTIONS))
                             .select(["auction", "price"]),
        }[query]
        def counted(batch: pa.RecordBatch) -> pa.RecordBatch:
            counters["bids_in"] += batch.num_rows
            return project(batch)

        op.output("sink", op.map("project", bids, counted), Sink(BatchPartition))
        return flow

    def to_rows(batch: pa.RecordBatch) -> Iterable[tuple[int, int, datetime]]:
        counters["bids_in"] += batch.num_rows
        times = batch.column("date_time").cast(pa.timestamp("us", tz="UTC")).to_pylist()
        return zip(batch.column("auction").to_pylist(), batch.column("price").to_pylist(),
                   times, strict=True)

    rows = op.flat_map("rows", bids, to_rows)
    clock: win.EventClock[tuple[int, int, datetime]] = win.EventClock(
        lambda r: r[2], wait_for_system_duration=timedelta(seconds=wait))

    def count_late(step_id: str, item: Any) -> None:
        counters["late"] += 1

    if query == "q5_window":
        slide, size = 2_000_000, 10_000_000
        counts = win.count_window(
            "count", rows, clock,
            win.SlidingWindower(timedelta(seconds=10), timedelta(seconds=2), EPOCH),
            key=lambda r: str(r[0]))
        op.inspect("late", counts.late, count_late)
        out: Any = op.map("row", counts.down,
                     lambda kv: (int(kv[0]), kv[1][1], kv[1][0] * slide,
                                 kv[1][0] * slide + size))
    else:
        size = 10_000_000
        keyed = op.key_on("one_key", rows, lambda r: "all")
        maxima = win.max_window("max", keyed, clock,
                                win.TumblingWindower(timedelta(seconds=10), EPOCH),
                                by=lambda r: r[1])
        op.inspect("late", maxima.late, count_late)
        out = op.map("row", maxima.down,
                     lambda kv: (kv[1][1][1], kv[1][0] * size, kv[1][0] * size + size))
    op.output("sink", out, Sink(RowPartition))
    return flow


def rows_table(query: str, rows: list[tuple[Any, ...]]) -> pa.Table:
    ts = pa.timestamp("us")
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else []
    if query == "q5_window":
        names, types = ["auction", "num", "starttime", "endtime"], [pa.int64(), pa.int64(), ts, ts]
    else:
        names, types = ["maxprice", "window_start", "window_end"], [pa.int64(), ts, ts]
    if not columns:
        columns = [[] for _ in names]
    return pa.table([pa.array(np.asarray(c, dtype=np.int64)).cast(t)
                     for c, t in zip(columns, types, strict=True)], names=names)


def run(query: str, events: int, gap: str, batch_events: int, wait: float) -> dict[str, Any]:
    from importlib.metadata import version

    from bytewax.testing import run_main

    checksum = Checksum()
    counters = {"bids_in": 0, "late": 0}
    collected: list[tuple[Any, ...]] = []
    flow = build_flow(query, events, gap, batch_events, wait, checksum, counters, collected)
    make_generator("nexmark", BID_COLUMNS, generator_options(1000, gap), 1).read(0, 0, 1000)
    table_checksums(pa.table({"x": [1]}))  # numba kernels compiled or loaded before timing
    started = time.perf_counter()
    run_main(flow)  # type: ignore[no-untyped-call]
    if query not in ("q0", "q1", "q2"):
        checksum.add(rows_table(query, collected))
    seconds = time.perf_counter() - started
    return {"query": query, "events": events, "seconds": seconds, "rows": checksum.rows,
            "checksum": checksum.value(), "bids_in": counters["bids_in"],
            "late": counters["late"], "bytewax": version("bytewax")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--query", required=True, choices=QUERIES)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--event-gap", default="1ms")
    parser.add_argument("--batch-events", type=int, default=8192, help="events per read")
    parser.add_argument("--wait", type=float, default=60.0,
                        help="EventClock wait_for_system_duration, seconds")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.query, args.events, args.event_gap, args.batch_events,
                         args.wait)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
