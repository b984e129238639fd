"""Wire-protocol benchmark: laminar_pg side by side with a local PostgreSQL 15.

Same client libraries, same machine, one connection per measurement. Each measurement runs
for a fixed wall time after a short warm-up and reports operations per second (round trips
or rows). PostgreSQL and laminar_pg take turns (PG, laminar, PG, laminar, ...) so that drift
in the machine's load hits both; the table gives medians, the median of the per-round ratios
laminar/PostgreSQL and the min-max of those ratios.

    python -m bench.wire                      # from the repository root
    python -m bench.wire --only select1_simple --only copy_out --rounds 3 --json /tmp/w.json

Strategy: both servers are started here (a throwaway `initdb` cluster and a `laminar-pg serve
--workers 1` subprocess) and stopped in a `finally`, also on Ctrl-C. Every measurement first
checks that the server returns the right answer (a fast wrong answer is no benchmark).
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads this file by path without
# registering it in sys.modules, and dataclasses then cannot resolve string annotations.
import argparse
import asyncio
import dataclasses
import datetime
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if not __package__:  # run by path (`python bench/wire.py`, `laminar-pg bench wire`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import psycopg

from bench import harness
from bench.harness import Figures, Measurement, Target, expect, rate
from laminar_pg.testing.postgres import start_postgres
from laminar_pg.testing.server import LaminarServer

SELECT_ROWS = 200_000
WARMUP_SECONDS = 0.3


@dataclass(frozen=True)
class Settings:
    """What the command line asked for."""

    rounds: int = 5
    seconds: float = 2.0
    copy_rows: int = 1_000_000
    warmup: float = WARMUP_SECONDS


# A workload: `run(target, settings)` returns units (round trips or rows) per second.
Run = Callable[[Target, Settings], float]


# --------------------------------------------------------------------------- timing loops


async def _arun_for(op: Callable[[], Awaitable[int]], seconds: float) -> tuple[int, float]:
    """`harness.run_for` for a coroutine function (asyncpg)."""
    start = time.perf_counter()
    deadline = start + seconds
    units = 0
    while True:
        units += await op()
        now = time.perf_counter()
        if now >= deadline:
            return units, now - start


async def _arate(op: Callable[[], Awaitable[int]], settings: Settings) -> float:
    await _arun_for(op, settings.warmup)
    units, elapsed = await _arun_for(op, settings.seconds)
    return units / elapsed


def _run_async(coro_fn: Callable[[], Coroutine[Any, Any, float]]) -> float:
    """Run an asyncpg measurement on a fresh event loop (uvloop when installed, as the server)."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a project dependency
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro_fn())


# --------------------------------------------------------------------------- workloads


def _select1_simple(target: Target, settings: Settings) -> float:
    """`SELECT 1` over the simple protocol: one Query message, one ReadyForQuery per round trip.

    psycopg 3 (checked in 3.3, psycopg/_cursor_base.py `_execute_send`) sends a query with no
    parameters, text results and no pipeline with `PQsendQuery`, i.e. the simple Query ('Q')
    message. `prepare=False` matters: with the default `prepare=None` psycopg's PrepareManager
    (psycopg/_preparing.py) would switch the statement to a server-side prepared statement
    after `prepare_threshold` (5) executions, which is the extended protocol.
    """
    with psycopg.connect(target.dsn, autocommit=True) as conn, conn.cursor() as cur:
        expect("SELECT 1", cur.execute("SELECT 1", prepare=False).fetchone(), (1,))

        def op() -> int:
            cur.execute("SELECT 1", prepare=False)
            return 1

        return rate(op, settings)


def _select1_prepared(target: Target, settings: Settings) -> float:
    """`SELECT 1` over the extended protocol from psycopg: `prepare=True` makes one Parse,
    then each round trip is libpq's PQsendQueryPrepared: Bind, Describe portal, Execute, Sync."""
    with psycopg.connect(target.dsn, autocommit=True) as conn, conn.cursor() as cur:
        expect("SELECT 1 prepared", cur.execute("SELECT 1", prepare=True).fetchone(), (1,))

        def op() -> int:
            cur.execute("SELECT 1", prepare=True)
            return 1

        return rate(op, settings)


async def _asyncpg_connect(target: Target) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=target.host, port=target.port, user=target.user, database=target.dbname, ssl=False
    )


def _asyncpg_select1(target: Target, settings: Settings) -> float:
    """asyncpg `fetchval("SELECT 1")`: prepared once and cached by asyncpg, then each round trip
    is Bind, Execute, Sync (binary results)."""

    async def measure() -> float:
        conn = await _asyncpg_connect(target)
        try:
            expect("asyncpg SELECT 1", await conn.fetchval("SELECT 1"), 1)

            async def op() -> int:
                await conn.fetchval("SELECT 1")
                return 1

            return await _arate(op, settings)
        finally:
            await conn.close()

    return _run_async(measure)


def _asyncpg_param(target: Target, settings: Settings) -> float:
    """asyncpg `fetchval("SELECT $1::int4 + 1", i)`: a cached prepared statement with one binary
    int4 parameter; Bind (with the value), Execute, Sync per round trip."""

    async def measure() -> float:
        conn = await _asyncpg_connect(target)
        try:
            expect("asyncpg SELECT $1::int4 + 1", await conn.fetchval("SELECT $1::int4 + 1", 41), 42)
            counter = 0

            async def op() -> int:
                nonlocal counter
                counter = (counter + 1) & 0xFFFF
                await conn.fetchval("SELECT $1::int4 + 1", counter)
                return 1

            return await _arate(op, settings)
        finally:
            await conn.close()

    return _run_async(measure)


def _copy_out(target: Target, settings: Settings) -> float:
    """Rows/s of COPY (SELECT ...) TO STDOUT read block by block through `cursor.copy()`."""
    n = settings.copy_rows
    sql = f"COPY (SELECT x, x::text, x * 0.5 FROM generate_series(1, {n}) g(x)) TO STDOUT"
    with psycopg.connect(target.dsn, autocommit=True) as conn, conn.cursor() as cur:

        def op() -> int:
            rows = 0
            with cur.copy(sql) as copy:
                for block in copy:
                    rows += bytes(block).count(b"\n")  # text format: one line per row
            expect("COPY rows", rows, n)
            return rows

        return rate(op, settings)


def _select_fetchall(target: Target, settings: Settings) -> float:
    """Rows/s of a plain SELECT of 200,000 rows fetched with `fetchall()` (simple protocol,
    text results: `prepare=False` so that psycopg does not switch to a prepared statement
    after five runs)."""
    sql = f"SELECT x, x::text FROM generate_series(1, {SELECT_ROWS}) g(x)"
    with psycopg.connect(target.dsn, autocommit=True) as conn, conn.cursor() as cur:
        first = cur.execute(sql, prepare=False).fetchall()
        expect("SELECT rows", (len(first), first[0], first[-1]),
                (SELECT_ROWS, (1, "1"), (SELECT_ROWS, str(SELECT_ROWS))))

        def op() -> int:
            return len(cur.execute(sql, prepare=False).fetchall())

        return rate(op, settings)


MEASUREMENTS: tuple[Measurement[Run], ...] = (
    Measurement("select1_simple", "round trips/s", "psycopg SELECT 1, simple protocol",
                _select1_simple),
    Measurement("select1_prepared", "round trips/s", "psycopg SELECT 1, prepared (extended)",
                _select1_prepared),
    Measurement("asyncpg_select1", "round trips/s", "asyncpg fetchval SELECT 1",
                _asyncpg_select1),
    Measurement("asyncpg_param", "round trips/s", "asyncpg fetchval SELECT $1::int4 + 1",
                _asyncpg_param),
    Measurement("copy_out", "rows/s", "psycopg COPY (SELECT 3 cols) TO STDOUT", _copy_out),
    Measurement("select_fetchall", "rows/s", "psycopg SELECT 200k rows, fetchall",
                _select_fetchall),
)  # fmt: skip


# --------------------------------------------------------------------------- running


def _measure(figures: Figures[Run], targets: tuple[Target, Target], settings: Settings) -> None:
    """Interleaved rounds: PostgreSQL then laminar_pg, `settings.rounds` times."""
    postgres, laminar = targets
    m = figures.measurement
    for i in range(1, settings.rounds + 1):
        figures.postgres.append(m.run(postgres, settings))
        figures.laminar.append(m.run(laminar, settings))
        harness.print_round(figures, i, settings.rounds, width=17)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="laminar-pg bench wire",
        description="SELECT 1 round trips and bulk row rates: laminar_pg vs PostgreSQL 15.",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="timed wall time per round per server (default 2)")
    parser.add_argument("--copy-rows", type=int, default=1_000_000,
                        help="rows in the COPY TO STDOUT measurement (default 1,000,000)")
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS,
                        help=f"warm-up wall time before each timed run (default {WARMUP_SECONDS})")
    harness.add_only_argument(parser, MEASUREMENTS)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.copy_rows < 1 or args.warmup < 0:
        parser.error("--rounds, --seconds and --copy-rows must be positive, --warmup >= 0")
    settings = Settings(args.rounds, args.seconds, args.copy_rows, args.warmup)
    selected = harness.selected(args.only, MEASUREMENTS, parser)
    started = datetime.datetime.now(datetime.UTC)
    machine = harness.machine_description(
        {"psycopg": psycopg.__version__, "asyncpg": asyncpg.__version__}
    )
    results = [Figures(m) for m in selected]
    harness.print_machine(machine)
    with harness.stop_on_interrupt() as run, ExitStack() as stack:
        pg = stack.enter_context(start_postgres())
        lam = stack.enter_context(LaminarServer())
        targets = (harness.postgres_target(pg), harness.laminar_target(lam))
        print(f"servers: PostgreSQL 15 on :{pg.port}, laminar_pg (pid {lam.pid}) on "
              f":{lam.port}", file=sys.stderr, flush=True)  # fmt: skip
        for figures in results:
            _measure(figures, targets, settings)
    print()
    print(harness.format_table(results))
    print()
    if run.interrupted:
        print("(interrupted: medians over the rounds that finished)")
    print(f"{settings.rounds} interleaved rounds of {settings.seconds:g} s per server "
          f"(after {settings.warmup:g} s warm-up), COPY of {settings.copy_rows:,} rows; "
          f"{machine['cpus']} CPUs; {started:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    if args.json is not None:
        harness.write_json(
            args.json,
            started=started,
            machine=machine,
            settings=dataclasses.asdict(settings),
            interrupted=run.interrupted,
            results=results,
        )
    return 130 if run.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
