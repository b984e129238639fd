"""Nexmark benchmark: laminar_pg's sinks beside a numba ceiling, bytewax and DuckDB.

laminar_pg's blackhole sinks over the built-in generator, beside the generator alone, a
hand-written numba kernel (the ceiling), bytewax and DuckDB computing the same answer in batch.

    python bench/nexmark.py                               # 10M events, every query
    laminar-pg bench nexmark --events 1000000 --queries q0,q7_window
    laminar-pg bench nexmark --events 1000000 --queries q0 --profile q0

For each query of sql_tests/nexmark (`--queries`, default all, in the order below), on one
`laminar-pg serve --workers 1` server started here:

- laminar_pg: a fresh bounded source `bid` of `--events` nexmark events (every kind: 46 of
  50 are bids; `--event-gap` apart, default 1ms, so that windows close: 10 s windows hold
  10,000 events), then `CREATE SINK ... AS <the query's SELECT> WITH (connector =
  'blackhole')`; `laminar_catalog.source_metrics` is polled every `--poll` (20 ms) until
  the source is finished, then FLUSH. events/s = events / (CREATE SINK to FLUSH done). The
  rates over the first and the last million events (a fifth of the events below 5M) are
  interpolated from the polled progress: cost must not grow with history. The sink's
  checksum (every column of every row, laminar_pg/engine/operators/blackhole.py) must equal
  the checksum of DuckDB's batch answer over the same events; MISMATCH is printed loudly.
  The sink and source are dropped after each query; each query first runs once over
  `--warmup-events` so that numba kernels are compiled or loaded before timing
  (`--rounds N`: the best of N timed runs; the machine may be shared).
  EMIT ON WINDOW CLOSE belongs to a view, not to a sink's SELECT: the sink gets the
  SELECT's changes as the planner emits them (its "changes" beside "rows" tell how many).
  `--sink-from-view` creates the view as written in sql_tests/nexmark (EMIT clause kept)
  and the sink FROM it instead.
- generator: bids with all 7 columns, generating only (65,536 events per read, as the
  server's reader), best of three, beside each query: every other figure includes it.
- numba ceiling: bench/nexmark_kernels.py, the generator plus a hand-written kernel with
  the sink's checksum, in this process, best of three ("n/a" for queries without one).
- bytewax: bench/nexmark_bytewax.py in a subprocess (`--bytewax-python`), for the queries
  it can express (q0, q1, q2, q5_window, q7_window), over at most `--bytewax-events`
  (1M: its keyed windows slow down with every key seen, q5_window takes minutes at 1M),
  with the count of bids it took in and of items its windowing called late.
- DuckDB: the query translated by the server's own `plan_query` and run on the server's
  engine settings, one thread, over an Arrow table of the same events (generated before,
  not timed): the batch answer and its rate.

The summary gives, per query, events/s of each, laminar / ceiling, and the targets of the
issue (one core, generator included: q0-q2 >= 5M events/s; q5/q7 windowed halves, q11,
q15-q17 >= 2M) with met / not met (a wrong checksum is never met).

`--server-env NAME=VALUE` sets the server's environment (glibc malloc's thresholds, say).
`--profile QUERY` runs that query once more with py-spy sampling the server
(`py-spy record --format raw --threads`) and prints, per server thread, how busy it was and
its top functions (with the line) by own time, then the operators' busy seconds
(laminar_catalog.operator_metrics).
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads this file by path without
# registering it in sys.modules, and dataclasses then cannot resolve string annotations.
import argparse
import collections
import dataclasses
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # run by path (`python bench/nexmark.py`, `laminar-pg bench nexmark`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import psycopg
import pyarrow as pa
import sqlglot

from bench import harness
from bench.nexmark_kernels import KERNELS, combine
from laminar_pg.engine.operators.blackhole import table_checksums
from laminar_pg.engine.sources import make_generator
from laminar_pg.session.engine import new_connection, open_engine
from laminar_pg.session.query import SessionValues, plan_query
from laminar_pg.sql.dialect import Laminar
from laminar_pg.testing.server import LaminarServer

ROOT = Path(__file__).resolve().parent.parent
QUERY_DIR = ROOT / "sql_tests" / "nexmark"
QUERIES = ("q0", "q1", "q2", "q10", "q11", "q14", "q15", "q16", "q17", "q21", "q22", "q5_window",
           "q7_window")
BYTEWAX_QUERIES = ("q0", "q1", "q2", "q5_window", "q7_window")
TARGETS = {"q0": 5e6, "q1": 5e6, "q2": 5e6, "q5_window": 2e6, "q7_window": 2e6,
           "q15": 2e6, "q16": 2e6, "q17": 2e6}  # events/s, one core, generator included
BID_COLUMNS = [("auction", "BIGINT", pa.int64()), ("bidder", "BIGINT", pa.int64()),
               ("price", "BIGINT", pa.int64()), ("channel", "VARCHAR", pa.string()),
               ("url", "VARCHAR", pa.string()), ("date_time", "TIMESTAMP", pa.timestamp("us")),
               ("extra", "VARCHAR", pa.string())]
READ_EVENTS = 65_536  # events per generator read, as the server's SourceReader
CEILING_ROUNDS = 3  # the kernels take a fraction of a second: best of three
GENERATOR_ROUNDS = 3
SINK, VIEW, SOURCE = "nexmark_sink", "nexmark_view", "bid"


@dataclass(frozen=True)
class Settings:
    events: int = 10_000_000
    event_gap: str = "1ms"
    warmup_events: int = 100_000
    poll: float = 0.02
    timeout: float = 1800.0
    sink_from_view: bool = False
    bytewax_python: str = sys.executable
    bytewax_wait: float = 60.0
    bytewax_batch: int = 8192
    bytewax_events: int = 1_000_000
    rounds: int = 1
    skip: tuple[str, ...] = ()

    @property
    def window(self) -> int:
        """Events of the first / last stretch whose rates are compared."""
        return 1_000_000 if self.events >= 5_000_000 else max(1, self.events // 5)


@dataclass
class Query:
    name: str
    select_sql: str  # the SELECT, Laminar dialect
    view_sql: str  # the CREATE MATERIALIZED VIEW as written (EMIT clause included)
    duck_sql: str  # the SELECT for DuckDB, through the server's plan_query


@dataclass
class Answer:
    """One engine's answer to one query: rate and checksum."""

    rate: float | None = None
    seconds: float | None = None
    rows: int | None = None
    checksum: int | None = None
    note: str = ""

    def matches(self, reference: "Answer | None") -> bool | None:
        if reference is None or reference.checksum is None or self.checksum is None:
            return None
        return self.checksum == reference.checksum


@dataclass
class Result:
    name: str
    duckdb: Answer | None = None
    laminar: Answer | None = None
    first_rate: float | None = None
    last_rate: float | None = None
    operators: list[tuple[str, int, int, float]] = field(default_factory=list)
    late_dropped: int = 0
    ceiling: Answer | None = None
    bytewax: Answer | None = None
    # DuckDB over the events bytewax read, when it reads fewer than the run (its checksum
    # reference; compared with the whole run's answer it differs by construction)
    bytewax_reference: Answer | None = None
    generator_rate: float | None = None

    def reference_for(self, label: str) -> Answer | None:
        if label == "bytewax" and self.bytewax_reference is not None:
            return self.bytewax_reference
        return self.duckdb


# --------------------------------------------------------------------------- queries


def load_queries(names: list[str]) -> list[Query]:
    values = SessionValues("laminar", "laminar", "15", os.getpid(), lambda name: None)
    queries = []
    for name in names:
        text = (QUERY_DIR / f"{name}.sql").read_text()
        tree = sqlglot.parse_one(text, dialect=Laminar)
        select = tree.args["expression"]
        tree.set("this", sqlglot.exp.to_table(VIEW))
        # a query DuckDB cannot run as written (SESSION windows) has a batch twin
        twin = QUERY_DIR / f"{name}.batch.sql"
        batch = sqlglot.parse_one(twin.read_text(), dialect=Laminar) if twin.exists() else select
        queries.append(Query(name, select.sql(dialect=Laminar), tree.sql(dialect=Laminar),
                             plan_query(batch, (), values, frozenset()).sql))
    return queries


def source_sql(events: int, gap: str) -> str:
    columns = ", ".join(f"{name} {sql}" for name, sql, _ in BID_COLUMNS)
    return (f"CREATE SOURCE {SOURCE} ({columns}, WATERMARK FOR date_time AS date_time - "
            f"INTERVAL '4' SECOND) WITH (connector = 'nexmark', nexmark.table = 'bid', "
            f"nexmark.events = '{events}', nexmark.seed = '1', nexmark.event_gap = '{gap}')")


def generator(events: int, gap: str, names: set[str] | None = None) -> Any:
    """The bid generator, for every column or only `names` (what the engine generates for
    a query: the columns it reads plus the event time)."""
    options = {"nexmark.table": "bid", "nexmark.events": str(events), "nexmark.seed": "1",
               "nexmark.event_gap": gap}
    columns = [(n, t) for n, _, t in BID_COLUMNS if names is None or n in names]
    return make_generator("nexmark", columns, options, 1)


def columns_read(query: Query) -> set[str] | None:
    """The bid columns a query reads (None: all), plus date_time (the watermark column)."""
    select = sqlglot.parse_one(query.select_sql, dialect=Laminar)
    used = set()
    for node in select.walk():
        if isinstance(node, sqlglot.exp.Star) and not isinstance(node.parent, sqlglot.exp.Count):
            return None
        if isinstance(node, sqlglot.exp.Column):
            used.add(node.name)
    return used | {"date_time"}


def checksum_of(table: pa.Table) -> int:
    return combine(np.array(table_checksums(table), dtype=np.uint64))


# --------------------------------------------------------------------------- generator, DuckDB


def generate_bids(settings: Settings) -> pa.Table:
    """All the bids of a run, for DuckDB."""
    gen = generator(settings.events, settings.event_gap)
    batches = []
    position = 0
    while not gen.exhausted(0, position):
        batch, position = gen.read(0, position, READ_EVENTS)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=gen.schema)


def generator_rate(settings: Settings) -> float:
    """The generator's events/s alone, best of GENERATOR_ROUNDS passes, measured beside each
    query (the machine may be shared: its load moves every figure alike)."""
    gen = generator(settings.events, settings.event_gap)
    gen.read(0, 0, 1000)  # compile or load the generator's kernels
    best = float("inf")
    for _ in range(GENERATOR_ROUNDS):
        position = 0
        started = time.perf_counter()
        while not gen.exhausted(0, position):
            _, position = gen.read(0, position, READ_EVENTS)
        best = min(best, time.perf_counter() - started)
    return settings.events / best


def duckdb_answers(queries: list[Query], bids: pa.Table,
                   events: int) -> dict[str, tuple[Answer, pa.Schema]]:
    """Each query's batch answer (and its Arrow schema: the types the ceiling casts to)."""
    con = new_connection(open_engine())
    con.execute("SET threads = 1")
    con.execute("SET arrow_lossless_conversion = false")  # hugeint sums as decimal (numeric)
    con.register(SOURCE, bids)
    answers = {}
    for query in queries:
        started = time.perf_counter()
        table = con.sql(query.duck_sql).to_arrow_table()
        seconds = time.perf_counter() - started
        answers[query.name] = (Answer(events / seconds, seconds, table.num_rows,
                                      checksum_of(table)), table.schema)
    con.close()
    return answers


# --------------------------------------------------------------------------- numba ceiling


def run_ceiling(query: Query, settings: Settings, schema: pa.Schema | None) -> Answer:
    make = KERNELS.get(query.name)
    if make is None:
        return Answer(note="n/a")
    names = columns_read(query)
    warm = generator(settings.warmup_events, settings.event_gap, names)
    kernel = make(schema)
    kernel.feed(warm.read(0, 0, READ_EVENTS)[0])  # compile or load the kernels
    kernel.finish()
    gen = generator(settings.events, settings.event_gap, names)
    best = Answer(note=f"best of {CEILING_ROUNDS}")
    for _ in range(CEILING_ROUNDS):
        kernel = make(schema)
        position = 0
        started = time.perf_counter()
        while not gen.exhausted(0, position):
            batch, position = gen.read(0, position, READ_EVENTS)
            kernel.feed(batch)
        rows, checksum = kernel.finish()
        seconds = time.perf_counter() - started
        if best.seconds is None or seconds < best.seconds:
            best = Answer(settings.events / seconds, seconds, rows, checksum, best.note)
    return best


# --------------------------------------------------------------------------- bytewax


def run_bytewax(query: Query, settings: Settings) -> Answer:
    if query.name not in BYTEWAX_QUERIES:
        return Answer(note="n/a")
    events = min(settings.events, settings.bytewax_events)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [settings.bytewax_python, str(ROOT / "bench" / "nexmark_bytewax.py"),
               "--query", query.name, "--events", str(events),
               "--event-gap", settings.event_gap, "--wait", str(settings.bytewax_wait),
               "--batch-events", str(settings.bytewax_batch)]
    done = subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=settings.timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        if "No module named 'bytewax'" in done.stderr:
            return Answer(note="n/a (bytewax not installed: pip install -e '.[bench]')")
        return Answer(note=f"failed: {last}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    note = (f"bytewax {out['bytewax']}, {events:,} events: {out['bids_in']:,} bids in, "
            f"{out['late']:,} late")
    return Answer(events / out["seconds"], out["seconds"], out["rows"], out["checksum"], note)


# --------------------------------------------------------------------------- laminar_pg


def time_at(samples: list[tuple[float, int]], events: int) -> float:
    """When the source had read `events` events, interpolated between polls."""
    previous = samples[0]
    for sample in samples:
        if sample[1] >= events:
            t0, e0 = previous
            t1, e1 = sample
            return t1 if e1 == e0 else t0 + (t1 - t0) * (events - e0) / (e1 - e0)
        previous = sample
    return samples[-1][0]


class ServerFailed(RuntimeError):
    pass


def drop_all(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"DROP SINK IF EXISTS {SINK}")
    conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {VIEW}")
    conn.execute(f"DROP SOURCE IF EXISTS {SOURCE}")


def create_sink(conn: psycopg.Connection[Any], query: Query, settings: Settings) -> None:
    if settings.sink_from_view:
        conn.execute(query.view_sql)
        conn.execute(f"CREATE SINK {SINK} FROM {VIEW} WITH (connector = 'blackhole')")
    else:
        conn.execute(f"CREATE SINK {SINK} AS {query.select_sql} WITH (connector = 'blackhole')")


def sink_status(conn: psycopg.Connection[Any]) -> tuple[int, int, int, str]:
    row = conn.execute("SELECT rows, changes, checksum, status FROM laminar_catalog.sinks "
                       "WHERE name = %s", (SINK,)).fetchone()
    if row is None:
        raise ServerFailed(f"sink {SINK} is not in laminar_catalog.sinks")
    return int(row[0]), int(row[1]), int(row[2]), str(row[3])


def run_to_end(conn: psycopg.Connection[Any], query: Query, events: int,
               settings: Settings) -> tuple[float, list[tuple[float, int]]]:
    """Create the source and the sink, poll until the source is read, FLUSH: (seconds from
    CREATE SINK to FLUSH done, progress samples (seconds, events read))."""
    drop_all(conn)
    conn.execute(source_sql(events, settings.event_gap))
    samples: list[tuple[float, int]] = [(0.0, 0)]
    started = time.perf_counter()
    create_sink(conn, query, settings)
    polls = 0
    while True:
        row = conn.execute("SELECT events, status FROM laminar_catalog.source_metrics "
                           "WHERE name = %s", (SOURCE,)).fetchone()
        now = time.perf_counter() - started
        if row is None:
            raise ServerFailed(f"source {SOURCE} is not in laminar_catalog.source_metrics")
        samples.append((now, int(row[0])))
        if row[1] == "finished":
            break
        polls += 1
        if polls % 50 == 0 and sink_status(conn)[3] == "failed":
            raise ServerFailed(f"{query.name}: the sink's dataflow failed after "
                               f"{row[0]:,} events")
        if now > settings.timeout:
            raise ServerFailed(f"{query.name}: source not finished after {now:.0f} s "
                               f"({row[0]:,} events read)")
        time.sleep(settings.poll)
    conn.execute("FLUSH")
    return time.perf_counter() - started, samples


def run_laminar(conn: psycopg.Connection[Any], query: Query, settings: Settings,
                result: Result) -> None:
    run_to_end(conn, query, settings.warmup_events, settings)  # compile / load kernels
    seconds, samples = run_to_end(conn, query, settings.events, settings)
    for _ in range(settings.rounds - 1):  # the best of --rounds (the last run is read)
        again, again_samples = run_to_end(conn, query, settings.events, settings)
        if again < seconds:
            seconds, samples = again, again_samples
    rows, changes, checksum, status = sink_status(conn)
    n, w = settings.events, settings.window
    result.first_rate = w / max(time_at(samples, w), 1e-9)
    result.last_rate = w / max(seconds - time_at(samples, n - w), 1e-9)
    note = f"{changes:,} changes" + (", sink status " + status if status != "running" else "")
    result.laminar = Answer(n / seconds, seconds, rows, checksum, note)
    late = conn.execute("SELECT late_events_dropped FROM laminar_catalog.source_metrics "
                        "WHERE name = %s", (SOURCE,)).fetchone()
    result.late_dropped = int(late[0]) if late else 0
    result.operators = [
        (str(r[0]), int(r[1]), int(r[2]), float(r[3])) for r in conn.execute(
            "SELECT operator, rows_in, rows_out, busy_seconds FROM "
            "laminar_catalog.operator_metrics WHERE view = %s ORDER BY operator_id",
            (SINK,)).fetchall()]
    drop_all(conn)


# --------------------------------------------------------------------------- profile

PROFILE_RATE = 200  # py-spy samples per second
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def short_path(path: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_query(conn: psycopg.Connection[Any], server: LaminarServer, query: Query,
                  settings: Settings, out: Path, top: int) -> None:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
        "py-spy")
    if py_spy is None:
        print("--profile: py-spy not found (pip install py-spy)", file=sys.stderr)
        return
    run_to_end(conn, query, settings.warmup_events, settings)
    drop_all(conn)
    spy = subprocess.Popen([py_spy, "record", "--format", "raw", "--threads", "--rate",
                            str(PROFILE_RATE),
                            "-o", str(out), "--pid", str(server.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    spy_started = time.perf_counter()
    time.sleep(1.0)  # py-spy attaches
    try:
        seconds, _ = run_to_end(conn, query, settings.events, settings)
        operators = conn.execute(
            "SELECT operator, rows_in, busy_seconds FROM laminar_catalog.operator_metrics "
            "WHERE view = %s ORDER BY operator_id", (SINK,)).fetchall()
        drop_all(conn)
    finally:
        spy.send_signal(signal.SIGINT)
        sampled = time.perf_counter() - spy_started
        spy_output = spy.communicate(timeout=60)[0].decode(errors="replace")
    print(f"\nprofile of {query.name} (server pid {server.pid}, {settings.events:,} events in "
          f"{seconds:.2f} s = {settings.events / seconds:,.0f} ev/s under py-spy; raw "
          f"samples in {out})")
    if not out.exists():
        print(f"  py-spy wrote nothing: {spy_output.strip()}")
        return
    print_profile(out, top, sampled, PROFILE_RATE)
    print("  operators (laminar_catalog.operator_metrics): " + "; ".join(
        f"{name} {rows:,} rows in, {busy:.2f} s busy" for name, rows, busy in operators))


# Leaf frames where a server thread waits for work: py-spy counts some of them as busy.
WAITING = (("threading.py", "Condition.wait"), ("threading.py", "Event.wait"),
           ("concurrent/futures/thread.py", "_worker"), ("asyncio/runners.py", "Runner.run"),
           ("selectors.py", "select"))


def print_profile(path: Path, top: int, seconds: float, rate: int) -> None:
    """Per thread (busiest first): the share of the `seconds` sampled it was busy, and its
    top functions by own time (leaf frames, with the line). Leaves in WAITING count as
    waiting, not busy (the asyncio thread's C event loop is among them: its own I/O work
    is then counted as waiting too)."""
    threads: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    waiting: collections.Counter[str] = collections.Counter()
    for text in path.read_text().splitlines():
        stack, _, count_text = text.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        frames = [f for f in frames if not f.startswith(("thread", "process"))]
        if not frames:
            continue
        match = FRAME.match(frames[-1])
        if match is not None and any(match["file"].endswith(f) and match["func"] == func
                                     for f, func in WAITING):
            waiting[thread] += int(count_text)
            continue
        leaf = frames[-1] if match is None else (
            f"{match['func']} ({short_path(match['file'])}:{match['line'] or '?'})")
        threads[thread][leaf] += int(count_text)
    total = sum(sum(c.values()) for c in threads.values())
    if not total:
        print("  no samples")
        return
    print(f"  {total:,} busy samples in {seconds:.1f} s at {rate}/s; per thread, busiest first:")
    ranked = sorted(threads.items(), key=lambda kv: -sum(kv[1].values()))
    for thread, leaves in ranked[:4]:
        n = sum(leaves.values())
        print(f"  {thread}: busy {100 * n / max(1.0, seconds * rate):.0f}% of the time "
              f"(waiting {100 * waiting[thread] / max(1.0, seconds * rate):.0f}%); "
              f"top by own time:")
        for leaf, count in leaves.most_common(top):
            print(f"    {100 * count / n:5.1f}%  {leaf}")


# --------------------------------------------------------------------------- printing


def rate_text(rate: float | int | None) -> str:
    return "n/a" if rate is None else f"{rate:,.0f}"


def check_text(answer: Answer | None, reference: Answer | None) -> str:
    if answer is None or answer.checksum is None:
        return "n/a"
    same = answer.matches(reference)
    return "no reference" if same is None else ("ok" if same else "MISMATCH")


def print_result(result: Result, settings: Settings) -> None:
    lam, duck = result.laminar, result.duckdb
    print(f"\n{result.name}")
    if result.generator_rate is not None:
        print(f"  generator    {result.generator_rate:>14,.0f} ev/s  (bids, all 7 columns, "
              f"alone, best of {GENERATOR_ROUNDS})")
    if lam is not None and lam.rate is not None:
        verdict = check_text(lam, duck)
        loud = "   <<<<<<<<<< MISMATCH" if verdict == "MISMATCH" else ""
        print(f"  laminar_pg   {lam.rate:>14,.0f} ev/s  ({lam.seconds:.2f} s; first "
              f"{settings.window:,}: {rate_text(result.first_rate)} ev/s, last "
              f"{settings.window:,}: {rate_text(result.last_rate)} ev/s)")
        print(f"               {lam.rows:,} rows, {lam.note}; checksum {lam.checksum} "
              f"{verdict}{loud}"
              + ("" if duck is None else f" (DuckDB {duck.checksum}, {duck.rows:,} rows)"))
        if result.late_dropped:
            print(f"               {result.late_dropped:,} events dropped as late by the "
                  f"source (in-order generator: expected none)")
        if result.operators:
            print("               operators: " + "; ".join(
                f"{name} {busy:.2f} s" for name, _, _, busy in result.operators))
    elif lam is not None:
        print(f"  laminar_pg   {lam.note}")
    for label, answer in (("ceiling", result.ceiling), ("bytewax", result.bytewax)):
        if answer is None:
            continue
        if answer.rate is None:
            print(f"  {label:<12} {answer.note}")
            continue
        print(f"  {label:<12} {answer.rate:>14,.0f} ev/s  ({answer.seconds:.2f} s; "
              f"{answer.rows:,} rows, checksum {check_text(answer, result.reference_for(label))})"
              + (f"; {answer.note}" if answer.note else ""))
    if duck is not None and duck.rate is not None:
        print(f"  DuckDB batch {duck.rate:>14,.0f} ev/s  ({duck.seconds:.2f} s, 1 thread, "
              f"generation not timed)")
    sys.stdout.flush()


def summary_table(results: list[Result]) -> str:
    header = ("| query | laminar_pg ev/s | first | last | generator | numba ceiling "
              "| laminar / ceiling | bytewax | DuckDB batch | rows | checksum | target | met |")
    lines = [header, "| --- " + "| ---: " * 10 + "| ---: | --- |"]
    for r in results:
        lam = r.laminar
        rate = lam.rate if lam is not None else None
        ceiling = r.ceiling.rate if r.ceiling is not None else None
        ratio = f"{rate / ceiling:.2f}" if rate and ceiling else "n/a"
        verdict = check_text(lam, r.duckdb)
        target = TARGETS.get(r.name)
        if target is None or rate is None:
            met = "-"
        elif verdict == "no reference":
            met = ("met" if rate >= target else "not met") + " (unchecked)"
        elif verdict != "ok":
            met = "not met (wrong answer)"
        else:
            met = "met" if rate >= target else "not met"
        lines.append(
            f"| {r.name} | {rate_text(rate)} | {rate_text(r.first_rate)} "
            f"| {rate_text(r.last_rate)} | {rate_text(r.generator_rate)} "
            f"| {rate_text(ceiling)} | {ratio} "
            f"| {rate_text(r.bytewax.rate if r.bytewax else None)} "
            f"| {rate_text(r.duckdb.rate if r.duckdb else None)} "
            f"| {rate_text(lam.rows if lam else None)} | {verdict} "
            f"| {'-' if target is None else f'{target / 1e6:g}M'} | {met} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000,
                        help="nexmark events per query (every kind; 46 of 50 are bids)")
    parser.add_argument("--event-gap", default="1ms", help="event time between events")
    parser.add_argument("--queries", action="append", default=[], metavar="NAMES",
                        help="comma-separated (repeatable): " + ", ".join(QUERIES))
    parser.add_argument("--warmup-events", type=int, default=100_000,
                        help="events of the untimed run before each timed one")
    parser.add_argument("--poll", type=float, default=0.02, help="progress poll interval, s")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per query, seconds")
    parser.add_argument("--sink-from-view", action="store_true",
                        help="sink FROM the view as written (EMIT clause kept)")
    parser.add_argument("--skip", action="append", default=[], metavar="PART",
                        help="leave out: laminar, ceiling, bytewax, duckdb (comma-separated)")
    parser.add_argument("--bytewax-python", default=sys.executable,
                        help="interpreter with bytewax installed (default: this one)")
    parser.add_argument("--bytewax-wait", type=float, default=60.0,
                        help="bytewax EventClock wait_for_system_duration, seconds")
    parser.add_argument("--bytewax-batch", type=int, default=8192,
                        help="events per bytewax source batch")
    parser.add_argument("--bytewax-events", type=int, default=1_000_000,
                        help="at most this many events for bytewax (its keyed windows cost "
                             "grows with the keys seen: q5_window takes minutes at 1M)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="laminar_pg: the best of this many timed runs per query")
    parser.add_argument("--profile", metavar="QUERY", action="append", default=[],
                        help="profile the server with py-spy during this query (repeatable)")
    parser.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where py-spy's raw samples go")
    parser.add_argument("--profile-top", type=int, default=20)
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server process (repeatable), "
                             "e.g. MALLOC_TRIM_THRESHOLD_=536870912")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names = [n.strip() for item in args.queries for n in item.split(",") if n.strip()]
    unknown = [n for n in names + args.profile if n not in QUERIES]
    if unknown:
        parser.error(f"unknown query {', '.join(unknown)}; known: {', '.join(QUERIES)}")
    names = [q for q in QUERIES if not names or q in names or q in args.profile]
    skip = tuple(p.strip() for item in args.skip for p in item.split(",") if p.strip())
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    server_env = dict(item.split("=", 1) for item in args.server_env)
    if any(p not in ("laminar", "ceiling", "bytewax", "duckdb") for p in skip):
        parser.error("--skip takes laminar, ceiling, bytewax, duckdb")
    if args.events < 10 or args.warmup_events < 1 or args.poll <= 0 or args.rounds < 1 \
            or args.bytewax_events < 1:
        parser.error("--events >= 10; --warmup-events, --rounds, --bytewax-events >= 1; "
                     "--poll > 0")
    settings = Settings(args.events, args.event_gap, args.warmup_events, args.poll,
                        args.timeout, args.sink_from_view, args.bytewax_python,
                        args.bytewax_wait, args.bytewax_batch, args.bytewax_events,
                        args.rounds, skip)
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[0]
    machine = harness.machine_description({"psycopg": psycopg.__version__})
    harness.print_machine(machine)
    queries = load_queries(names)
    answers = ({} if "duckdb" in skip
               else duckdb_answers(queries, generate_bids(settings), settings.events))
    results = [Result(q.name, answers[q.name][0] if q.name in answers else None)
               for q in queries]
    few = min(settings.events, settings.bytewax_events)
    if "bytewax" not in skip and "duckdb" not in skip and few < settings.events:
        fewer = dataclasses.replace(settings, events=few)
        subset = [q for q in queries if q.name in BYTEWAX_QUERIES]
        for name, (answer, _) in duckdb_answers(subset, generate_bids(fewer), few).items():
            next(r for r in results if r.name == name).bytewax_reference = answer
    with harness.stop_on_interrupt() as run:
        server = LaminarServer(env=server_env) if "laminar" not in skip else None
        try:
            if server is not None:
                server.start()
                print(f"server: laminar_pg (pid {server.pid}) on :{server.port}, --workers 1"
                      + (f", environment {server_env}" if server_env else ""),
                      file=sys.stderr, flush=True)
            conn = psycopg.connect(server.dsn, autocommit=True) if server else None
            for query, result in zip(queries, results, strict=True):
                if conn is not None:
                    try:
                        run_laminar(conn, query, settings, result)
                    except (ServerFailed, psycopg.Error) as error:
                        result.laminar = Answer(note=f"FAILED: {error}")
                        print(f"{query.name}: laminar_pg FAILED: {error}\n--- server log "
                              f"tail ---\n{server.log()[-3000:] if server else ''}",
                              file=sys.stderr, flush=True)
                        conn.close()
                        conn = psycopg.connect(server.dsn, autocommit=True) if server else None
                        if conn is not None:
                            drop_all(conn)
                result.generator_rate = generator_rate(settings)
                if "ceiling" not in skip:
                    schema = answers[query.name][1] if query.name in answers else None
                    result.ceiling = run_ceiling(query, settings, schema)
                if "bytewax" not in skip:
                    result.bytewax = run_bytewax(query, settings)
                print_result(result, settings)
                if query.name in args.profile and conn is not None and server is not None:
                    out = args.profile_dir / f"nexmark-{query.name}.pyspy.txt"
                    profile_query(conn, server, query, settings, out, args.profile_top)
            if conn is not None:
                conn.close()
        finally:
            if server is not None:
                server.cleanup()
    print()
    print(summary_table(results))
    print()
    if run.interrupted:
        print("(interrupted: the queries that finished)")
    rounds = f"best of {settings.rounds} runs" if settings.rounds > 1 else "one run"
    if server_env:
        rounds += ", server environment " + " ".join(f"{k}={v}" for k, v in server_env.items())
    print(f"{machine['cpus']} cores ({machine['cpu_model']}); {settings.events:,} events per "
          f"query, {settings.event_gap} apart; laminar_pg --workers 1 ({rounds}), sink "
          f"{'FROM the view' if settings.sink_from_view else 'AS SELECT'}, blackhole; first/"
          f"last = the first/last {settings.window:,} events; generator alone best of "
          f"{GENERATOR_ROUNDS}; ceiling best of {CEILING_ROUNDS}; bytewax over "
          f"{min(settings.events, settings.bytewax_events):,} events; DuckDB 1 thread; "
          f"{started:%Y-%m-%d %H:%M} UTC; load average {load_before:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (others' work on a shared machine shows here)")
    wrong = [r for r in results if check_text(r.laminar, r.duckdb) == "MISMATCH"]
    for r in wrong:
        assert r.laminar is not None and r.duckdb is not None
        print(f"MISMATCH {r.name}: laminar_pg checksum {r.laminar.checksum} ({r.laminar.rows} "
              f"rows) != DuckDB {r.duckdb.checksum} ({r.duckdb.rows} rows)")
    for r in results:
        for label, answer in (("ceiling", r.ceiling), ("bytewax", r.bytewax)):
            if check_text(answer, r.reference_for(label)) == "MISMATCH":
                print(f"MISMATCH {r.name}: the {label}'s checksum differs from DuckDB's "
                      f"(a bench bug)")
    if args.json is not None:
        payload = {"started": started.isoformat(), "machine": machine,
                   "load_average": [load_before, os.getloadavg()[0]],
                   "settings": asdict(settings), "server_env": server_env,
                   "interrupted": run.interrupted,
                   "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if run.interrupted:
        return 130
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
