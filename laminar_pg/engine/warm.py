"""Compile the engine's numba kernels into the on-disk cache (`make` runs this once).

Every kernel is `cache=True`; the first process to call one compiles it (0.1-0.5 s
each) and writes the machine code under NUMBA_CACHE_DIR. Running a small pipeline here,
at install time, means no server (nor test worker) pays that on its first view.
`python -m laminar_pg.engine.warm` prints how long it took.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import sqlglot
from sqlglot import exp

from laminar_pg.engine.expr import compile_expr
from laminar_pg.engine.messages import END_OF_TIME, Barrier, Chunk, Watermark
from laminar_pg.engine.operators.aggregate_calls import AggregateCall
from laminar_pg.engine.operators.blackhole import BlackholeSink
from laminar_pg.engine.operators.hash_aggregate import HashAggregate
from laminar_pg.engine.operators.materialize import Materialize
from laminar_pg.engine.operators.window_assign import WindowAssign
from laminar_pg.engine.sources import make_generator
from laminar_pg.engine.sources_driver import SourceReader

BID = [("auction", pa.int64()), ("bidder", pa.int64()), ("price", pa.int64()),
       ("channel", pa.string()), ("url", pa.string()), ("date_time", pa.timestamp("us")),
       ("extra", pa.string())]


def _aggregate(schema: pa.Schema, keys: list[int], append_only: bool,
               close: int | None) -> HashAggregate:
    price = schema.names.index("price")
    channel = schema.names.index("channel")
    calls = [
        AggregateCall(function="count_star", argument=None, output_type=pa.int64(), name="n"),
        AggregateCall(function="sum", argument=price, output_type=pa.decimal128(38, 0), name="s"),
        AggregateCall(function="avg", argument=price, output_type=pa.float64(), name="a"),
        AggregateCall(function="min", argument=price, output_type=pa.int64(), name="lo"),
        AggregateCall(function="max", argument=channel, output_type=pa.string(), name="hi"),
        AggregateCall(function="count", argument=price, distinct=True,
                      output_type=pa.int64(), name="d"),
    ]
    out = pa.schema([*(schema.field(k) for k in keys),
                     *(pa.field(c.name, c.output_type) for c in calls)])
    return HashAggregate(schema, keys, calls, out, close_column=close, append_only=append_only)


def warm() -> None:
    generator = make_generator("nexmark", BID, {"connector": "nexmark", "nexmark.table": "bid",
                                                "nexmark.events": "20000"}, 2)
    reader = SourceReader(generator, 5, 1_000_000, max_chunk=4096)
    batches = []
    while not reader.done:
        chunk, _ = reader.read(time.monotonic())
        if chunk is not None:
            batches.append(chunk.batch)
    batch = pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
    windowed = pa.schema([*batch.schema, pa.field("window_start", pa.timestamp("us")),
                          pa.field("window_end", pa.timestamp("us"))])
    for slide in (None, 1_000_000):
        assign = WindowAssign(windowed, 5, 2_000_000, slide)
        out = assign.on_chunk(Chunk(batch), 0)[0]
        assert isinstance(out, Chunk)
        for append_only in (True, False):
            aggregate = _aggregate(windowed, [0, 7, 8], append_only, None if not append_only else 2)
            aggregate.on_chunk(out, 0)
            if not append_only:
                aggregate.on_chunk(Chunk(out.batch, -np.ones(out.num_rows, dtype=np.int64)), 0)
            aggregate.on_watermark(Watermark(END_OF_TIME), 0)
            for result in aggregate.on_barrier(Barrier(1, 1)):
                if isinstance(result, Chunk):
                    view = Materialize(result.batch.schema)
                    view.on_chunk(result, 0)
                    view.on_barrier(Barrier(1, 1))
                    BlackholeSink(result.batch.schema).on_chunk(result, 0)
    for sql in ("price * 0.908 > 1000 AND auction % 7 = 0",
                "to_char(date_time, 'YYYY-MM-DD HH24:MI')",
                "split_part(url, '/', 4) || lower(channel)",
                "CASE WHEN extract(hour FROM date_time) < 8 THEN 'a' ELSE 'b' END",
                "date_trunc('minute', date_time) + INTERVAL '1' SECOND"):
        tree = sqlglot.parse_one(sql, read="postgres")
        assert isinstance(tree, exp.Expression)
        compile_expr(tree, batch.schema).evaluate(batch)


def main() -> None:
    started = time.perf_counter()
    warm()
    print(f"engine kernels compiled and cached in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
