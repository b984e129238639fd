"""Nexmark's join and top-N queries (q3, q5, q7, q8, q9, q18, q19, q20) on laminar_pg.

    python -m bench.nexmark_joins [--events 1000000] [--queries q3,q20] [--rounds 1]

For each query: bounded person / auction / bid sources (the ones it reads, all their
columns, a 4 s watermark delay), a blackhole sink AS the query, timed from CREATE SINK
until every source is read to its end and FLUSH returns; the rate is the Nexmark
events the sources cover per second (all kinds, as `bench/nexmark.py` counts them),
generation included, one core. The sink's checksum (every column of every row, with
the weights of retractions) is checked against DuckDB's answer to the same SELECT over
the same events in tables, and DuckDB's own time (one thread, generation not timed) is
printed beside it. There is no hand-written ceiling or bytewax twin for these yet.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import sqlglot

from bench import harness
from bench.nexmark import QUERY_DIR, checksum_of
from laminar_pg.engine.sources import make_generator
from laminar_pg.engine.sources.nexmark import TABLE_FIELDS
from laminar_pg.session.engine import new_connection, open_engine
from laminar_pg.session.query import SessionValues, plan_query
from laminar_pg.sql.dialect import Laminar
from laminar_pg.testing.server import LaminarServer

QUERIES = ("q3", "q5", "q7", "q8", "q9", "q18", "q19", "q20")
TABLES = ("person", "auction", "bid")
SQL_TYPES = {pa.int64(): "BIGINT", pa.string(): "VARCHAR", pa.timestamp("us"): "TIMESTAMP"}
SINK = "nexmark_join_sink"
READ_EVENTS = 65_536


@dataclass
class Run:
    name: str
    tables: list[str]
    select: str
    duck_sql: str
    seconds: float = 0.0
    rows: int = 0
    checksum: int | None = None
    duck_seconds: float | None = None
    duck_rows: int | None = None
    duck_checksum: int | None = None
    note: str = ""


def load(names: list[str]) -> list[Run]:
    values = SessionValues("laminar", "laminar", "15", os.getpid(), lambda name: None)
    runs = []
    for name in names:
        tree = sqlglot.parse_one((QUERY_DIR / f"{name}.sql").read_text(), dialect=Laminar)
        select = tree.args["expression"]
        read = set()
        for table in select.find_all(sqlglot.exp.Table):
            if isinstance(table.this, sqlglot.exp.Anonymous):  # TUMBLE(person, ...)
                first = table.this.expressions[0]
                read.add(first.name.lower())
            else:
                read.add(table.name.lower())
        tables = [t for t in TABLES if t in read]
        runs.append(Run(name, tables, select.sql(dialect=Laminar),
                        plan_query(select, (), values, frozenset()).sql))
    return runs


def options(table: str, events: int, gap: str) -> dict[str, str]:
    return {"connector": "nexmark", "nexmark.table": table, "nexmark.events": str(events),
            "nexmark.seed": "1", "nexmark.event_gap": gap}


def source_sql(table: str, events: int, gap: str) -> str:
    columns = ", ".join(f"{n} {SQL_TYPES[t]}" for n, t in TABLE_FIELDS[table].items())
    listed = ", ".join(f"{k} = '{v}'" for k, v in options(table, events, gap).items())
    return (f"CREATE SOURCE {table} ({columns}, WATERMARK FOR date_time AS date_time - "
            f"INTERVAL '4' SECOND) WITH ({listed})")


def events_of(table: str, events: int, gap: str) -> pa.Table:
    gen = make_generator("nexmark", list(TABLE_FIELDS[table].items()),
                         options(table, events, gap), 1)
    batches, position = [], 0
    while not gen.exhausted(0, position):
        batch, position = gen.read(0, position, READ_EVENTS)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=gen.schema)


def duckdb_answers(runs: list[Run], events: int, gap: str) -> None:
    con = new_connection(open_engine())
    con.execute("SET threads = 1")
    con.execute("SET arrow_lossless_conversion = false")
    for table in TABLES:
        con.register(table, events_of(table, events, gap))
    for run in runs:
        started = time.perf_counter()
        answer = con.sql(run.duck_sql).to_arrow_table()
        run.duck_seconds = time.perf_counter() - started
        run.duck_rows, run.duck_checksum = answer.num_rows, checksum_of(answer)
    con.close()


def drop_all(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"DROP SINK IF EXISTS {SINK}")
    for table in TABLES:
        conn.execute(f"DROP SOURCE IF EXISTS {table}")


def run_once(conn: psycopg.Connection[Any], run: Run, events: int, gap: str,
             timeout: float) -> float:
    drop_all(conn)
    for table in run.tables:
        conn.execute(source_sql(table, events, gap))
    started = time.perf_counter()
    conn.execute(f"CREATE SINK {SINK} AS {run.select} WITH (connector = 'blackhole')")
    while True:
        statuses = [r[0] for r in conn.execute(
            "SELECT status FROM laminar_catalog.source_metrics WHERE name = ANY(%s)",
            (run.tables,)).fetchall()]
        if statuses and all(s == "finished" for s in statuses):
            break
        if any(s == "failed" for s in statuses) or time.perf_counter() - started > timeout:
            raise RuntimeError(f"{run.name}: sources {statuses}")
        time.sleep(0.02)
    conn.execute("FLUSH")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="Nexmark events (all kinds; 46 of 50 are bids)")
    parser.add_argument("--event-gap", default="1ms")
    parser.add_argument("--queries", action="append", default=[], metavar="NAMES",
                        help="comma-separated: " + ", ".join(QUERIES))
    parser.add_argument("--rounds", type=int, default=1, help="best of this many runs")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    names = [n.strip() for item in args.queries for n in item.split(",") if n.strip()]
    if any(n not in QUERIES for n in names):
        parser.error(f"known queries: {', '.join(QUERIES)}")
    runs = load([q for q in QUERIES if not names or q in names])
    harness.print_machine(harness.machine_description({"psycopg": psycopg.__version__}))
    load_before = os.getloadavg()[0]
    duckdb_answers(runs, args.events, args.event_gap)
    server = LaminarServer()
    try:
        server.start()
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            for run in runs:
                try:
                    run_once(conn, run, 10_000, args.event_gap, args.timeout)  # warm up
                    run.seconds = min(run_once(conn, run, args.events, args.event_gap,
                                               args.timeout) for _ in range(args.rounds))
                    row = conn.execute("SELECT rows, checksum FROM laminar_catalog.sinks "
                                       "WHERE name = %s", (SINK,)).fetchone()
                    assert row is not None
                    run.rows, run.checksum = int(row[0]), int(row[1])
                except (RuntimeError, psycopg.Error) as error:
                    run.note = f"FAILED: {error}"
                drop_all(conn)
                print_run(run, args.events)
    finally:
        server.cleanup()
    print()
    print("| query | sources | laminar_pg ev/s | seconds | rows | checksum | DuckDB batch ev/s |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for run in runs:
        ok = run.note or ("ok" if run.checksum == run.duck_checksum else "MISMATCH")
        rate = f"{args.events / run.seconds:,.0f}" if run.seconds else "n/a"
        duck = f"{args.events / run.duck_seconds:,.0f}" if run.duck_seconds else "n/a"
        print(f"| {run.name} | {', '.join(run.tables)} | {rate} | {run.seconds:.2f} | "
              f"{run.rows:,} | {ok} | {duck} |")
    print()
    print(f"{os.cpu_count()} cores; {args.events:,} events per query, {args.event_gap} apart; "
          f"laminar_pg --workers 1, best of {args.rounds}; DuckDB 1 thread; "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average "
          f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    return 0 if all(r.checksum == r.duck_checksum for r in runs) else 1


def print_run(run: Run, events: int) -> None:
    rate = f"{events / run.seconds:,.0f} ev/s ({run.seconds:.2f} s)" if run.seconds else "-"
    check = "ok" if run.checksum == run.duck_checksum else \
        f"MISMATCH (DuckDB {run.duck_checksum}, {run.duck_rows} rows)"
    print(f"{run.name}: laminar_pg {rate}; {run.rows:,} rows; checksum {check} {run.note}",
          file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
