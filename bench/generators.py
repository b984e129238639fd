"""Generator benchmark: events (and rows) per second of the built-in sources on one core.

    python bench/generators.py                 # from the repository root
    laminar-pg bench generators --events 2000000 --chunk 16384

For each Nexmark table with every column declared, a q0-like bid projection, and a datagen
source with a column of every type, reads `--events` events of split 0 of a one-split
source (`--chunk` events per read, as the runtime would) and reports the best of
`--rounds` rounds. Nexmark events count all kinds (a person source reads 50 events per
person row), so rows/s is events/s times the table's share. Numba compiles (or loads from
its cache) before anything is timed. The last column is the ratio to the 5M events/s the
engine needs end to end.
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads this file by path.
import argparse
import sys
import time
from pathlib import Path

if not __package__:  # run by path (`python bench/generators.py`, `laminar-pg bench generators`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa

from laminar_pg.engine.sources import Generator, make_generator

ENGINE_BUDGET = 5_000_000  # events/s the engine needs end to end (q0)

DATAGEN_COLUMNS = [
    ("id", pa.int64()),
    ("small", pa.int16()),
    ("n", pa.int32()),
    ("x", pa.float64()),
    ("r", pa.float32()),
    ("name", pa.string()),
    ("flag", pa.bool_()),
    ("ts", pa.timestamp("us")),
]
DATAGEN_OPTIONS = {
    "fields.id.kind": "sequence",
    "fields.n.min": "0",
    "fields.n.max": "1000000",
    "fields.ts.basetime": "2024-01-01 00:00:00",
}
Q0_COLUMNS = [
    ("auction", pa.int64()),
    ("bidder", pa.int64()),
    ("price", pa.int64()),
    ("date_time", pa.timestamp("us")),
]


def workloads(events: int) -> list[tuple[str, Generator, int]]:
    """(label, generator, events to read)."""

    def nexmark(table: str, columns: list[tuple[str, pa.DataType]] | None = None) -> Generator:
        return make_generator("nexmark", columns or [], {"nexmark.table": table}, 1)

    return [
        ("nexmark bid (all 7 columns)", nexmark("bid"), events),
        ("nexmark bid (q0: 4 columns)", nexmark("bid", Q0_COLUMNS), events),
        ("nexmark auction (all 10)", nexmark("auction"), events),
        ("nexmark person (all 8)", nexmark("person"), events),
        ("datagen (8 columns, all types)", make_generator("datagen", DATAGEN_COLUMNS, DATAGEN_OPTIONS, 1), events // 2),
    ]  # fmt: skip


def measure(gen: Generator, events: int, chunk: int, rounds: int) -> tuple[float, int, int]:
    """Best seconds over `rounds`, rows and Arrow bytes of one round."""
    gen.read(0, 0, 1000)  # compile or load the kernels
    best = float("inf")
    rows = nbytes = 0
    for _ in range(rounds):
        rows = nbytes = 0
        position = 0
        started = time.perf_counter()
        while position < events:
            batch, position = gen.read(0, position, min(chunk, events - position))
            rows += batch.num_rows
            nbytes += batch.nbytes
        best = min(best, time.perf_counter() - started)
    return best, rows, nbytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events per round")
    parser.add_argument("--chunk", type=int, default=65_536, help="events per read")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    args = parser.parse_args(argv)
    if args.events < 1 or args.chunk < 1 or args.rounds < 1:
        parser.error("--events, --chunk and --rounds must be positive")
    header = f"{'source':32} {'events/s':>12} {'rows/s':>12} {'MB/s':>8} {'x 5M/s':>7}"
    print(header)
    print("-" * len(header))
    for label, gen, events in workloads(args.events):
        seconds, rows, nbytes = measure(gen, events, args.chunk, args.rounds)
        rate = events / seconds
        print(
            f"{label:32} {rate:12,.0f} {rows / seconds:12,.0f} {nbytes / seconds / 1e6:8,.0f} "
            f"{rate / ENGINE_BUDGET:7.2f}",
            flush=True,
        )
    print(
        f"\none core, split 0 of 1, {args.chunk:,} events per read, best of {args.rounds}; "
        f"{args.events:,} events per round (datagen {args.events // 2:,} rows)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
