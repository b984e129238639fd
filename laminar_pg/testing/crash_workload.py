"""The crash-recovery scenario shared by tests/e2e/test_checkpoint_recovery.py and
bench/crash.py.

A server runs three bounded, paced nexmark sources (person, auction, bid) feeding an
aggregate view, window views and join views (sql_tests/nexmark), and a table that one
client changes with INSERT / UPDATE / DELETE (and small transactions) feeding an aggregate
view. The server is killed (SIGKILL from outside, or by itself at a named crash point),
restarted on the same data directory, and checked:

- the table equals the client's model after its last acknowledged commit, or after the
  one commit that was in flight when the server died (all of it, never part of it);
- once the sources are finished and after FLUSH, every nexmark view equals the batch
  answer over exactly the generated events (DuckDB in this process, over the generator's
  own output; the view's SELECT translated by the server's `plan_query`), and the table's
  view equals the same SELECT run by the server over the recovered table.

Each check returns a list of problems (empty: fine) so that the benchmark can count them
and the test can assert on them.
"""

from __future__ import annotations

import decimal
import math
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import sqlglot

from laminar_pg.crashpoints import POINTS
from laminar_pg.engine.sources import make_generator
from laminar_pg.engine.sources.nexmark import TABLE_FIELDS
from laminar_pg.session.engine import new_connection, open_engine
from laminar_pg.session.query import SessionValues, plan_query
from laminar_pg.sql.dialect import Laminar
from laminar_pg.testing.server import LaminarServer

NEXMARK_DIR = Path(__file__).resolve().parents[2] / "sql_tests" / "nexmark"
NEXMARK_TABLES = ("person", "auction", "bid")
SQL_TYPES = {pa.int64(): "BIGINT", pa.string(): "VARCHAR", pa.timestamp("us"): "TIMESTAMP"}

# The named points where the server kills itself (LAMINAR_PG_CRASHPOINT=<name>[:<n>]);
# those of a checkpoint are reached with CHECKPOINT statements.
CRASH_POINTS = POINTS
CHECKPOINT_CRASH_POINTS = ("mid_state_write", "after_state_write", "before_manifest_rename",
                           "after_manifest_rename", "mid_prune")

TABLE = "crash_t"
TABLE_VIEW = "crash_t_groups"
TABLE_VIEW_SQL = (f"SELECT grp, count(*) AS n, sum(val) AS total, min(val) AS lo, "
                  f"max(val) AS hi FROM {TABLE} GROUP BY grp")
# Views over the sources: an aggregate here, the window and join views from sql_tests.
STREAM_VIEWS = {
    "crash_bid_totals": "SELECT auction, count(*) AS bids, sum(price) AS total, "
                        "max(price) AS top, min(date_time) AS first_bid FROM bid "
                        "GROUP BY auction",
    "crash_counts": "SELECT count(*) AS bids, sum(price) AS total, count(DISTINCT bidder) "
                    "AS bidders FROM bid",
}
NEXMARK_QUERIES = ("q7_window", "q5_window", "q3", "q8")


@dataclass(frozen=True)
class SourceSettings:
    """The nexmark sources: same events whatever the pacing (DESIGN.md "Sources")."""

    events: int = 100_000
    events_per_second: int = 20_000
    seed: int = 3
    event_gap: str = "10ms"

    def options(self, table: str) -> dict[str, str]:
        return {"connector": "nexmark", "nexmark.table": table,
                "nexmark.events": str(self.events), "nexmark.seed": str(self.seed),
                "nexmark.event_gap": self.event_gap}

    def create_source(self, table: str) -> str:
        options = {**self.options(table),
                   "nexmark.events_per_second": str(self.events_per_second)}
        text = ", ".join(f"{k} = '{v}'" for k, v in options.items())
        return (f"CREATE SOURCE {table} ({nexmark_columns(table)}, WATERMARK FOR date_time "
                f"AS date_time - INTERVAL '4' SECOND) WITH ({text})")


def nexmark_columns(table: str) -> str:
    return ", ".join(f"{name} {SQL_TYPES[t]}" for name, t in TABLE_FIELDS[table].items())


def generated_events(settings: SourceSettings, table: str) -> pa.Table:
    """Every event the source `table` generates, straight from the generator."""
    return nexmark_events_of(table, settings.options(table))


def nexmark_events_of(table: str, options: dict[str, str]) -> pa.Table:
    """Every event a bounded nexmark source `table` with these WITH options generates."""
    generator = make_generator("nexmark", list(TABLE_FIELDS[table].items()), options, 1)
    batches = []
    position = 0
    while not generator.exhausted(0, position):
        batch, position = generator.read(0, position, 65_536)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=generator.schema)


def view_definitions() -> dict[str, str]:
    """View name -> its SELECT (the views over the sources)."""
    views = dict(STREAM_VIEWS)
    for name in NEXMARK_QUERIES:
        tree = sqlglot.parse_one((NEXMARK_DIR / f"{name}.sql").read_text(), dialect=Laminar)
        views[f"nexmark_{name}"] = tree.args["expression"].sql(dialect=Laminar)
    return views


# ------------------------------------------------------------------------- batch answers


def normalise(value: Any) -> Any:
    """Values compared across the two paths: floats to 9 significant digits, decimals as
    floats (a view's numeric may carry another scale than the batch's)."""
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else float(f"{value:.9g}")
    return value


def bag(rows: list[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(normalise(v) for v in row) for row in rows)


@cache
def expected_answers(settings: SourceSettings) -> dict[str, Counter[tuple[Any, ...]]]:
    """Each stream view's rows over every generated event, computed by DuckDB here."""
    values = SessionValues("laminar", "laminar", "15", os.getpid(), lambda name: None)
    con = new_connection(open_engine())
    con.execute("SET threads = 1")
    con.execute("SET arrow_lossless_conversion = false")  # hugeint sums as decimal (numeric)
    events = {table: generated_events(settings, table) for table in NEXMARK_TABLES}
    for table, data in events.items():
        con.register(table, data)
    answers = {}
    for view, select in view_definitions().items():
        sql = plan_query(sqlglot.parse_one(select, dialect=Laminar), (), values,
                         frozenset()).sql
        rows = [tuple(r.values()) for r in con.sql(sql).to_arrow_table().to_pylist()]
        answers[view] = bag(rows)
    con.close()
    return answers


def describe_difference(view: str, got: Counter[tuple[Any, ...]],
                        want: Counter[tuple[Any, ...]]) -> str:
    missing = list((want - got).items())[:3]
    extra = list((got - want).items())[:3]
    return (f"{view}: {got.total()} rows, batch answer {want.total()}; "
            f"missing {missing}; extra {extra}")


# ------------------------------------------------------------------------- the server side


def create_objects(conn: psycopg.Connection[Any], settings: SourceSettings) -> None:
    """The table, its view, the sources and their views."""
    conn.execute(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, grp int NOT NULL, "
                 f"val bigint NOT NULL)")
    conn.execute(f"CREATE MATERIALIZED VIEW {TABLE_VIEW} AS {TABLE_VIEW_SQL}")
    for table in NEXMARK_TABLES:
        conn.execute(settings.create_source(table))
    for view, select in view_definitions().items():
        conn.execute(f"CREATE MATERIALIZED VIEW {view} AS {select}")


def sources_finished(conn: psycopg.Connection[Any]) -> bool:
    rows = conn.execute("SELECT status FROM laminar_catalog.source_metrics").fetchall()
    return bool(rows) and all(status == "finished" for (status,) in rows)


def wait_sources_finished(conn: psycopg.Connection[Any], timeout: float = 120) -> None:
    """Wait until every reader of every source has read it to its end."""
    deadline = time.monotonic() + timeout
    while not sources_finished(conn):
        if time.monotonic() > deadline:
            rows = conn.execute("SELECT name, status, events FROM "
                                "laminar_catalog.source_metrics").fetchall()
            raise AssertionError(f"sources did not finish in {timeout}s: {rows}")
        time.sleep(0.05)


def events_read(conn: psycopg.Connection[Any]) -> int:
    """Events read so far, summed over every reader of every source."""
    row = conn.execute("SELECT sum(events) FROM laminar_catalog.source_metrics").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def current_epoch(conn: psycopg.Connection[Any]) -> tuple[int, Any] | None:
    """The newest completed epoch and its timestamp (laminar_catalog.pipeline_metrics)."""
    row = conn.execute("SELECT epoch, epoch_timestamp FROM laminar_catalog.pipeline_metrics"
                       ).fetchone()
    return None if row is None or row[0] is None else (int(row[0]), row[1])


def completed_checkpoints(conn: psycopg.Connection[Any]) -> list[int]:
    """Epochs of the retained, completed checkpoints."""
    rows = conn.execute("SELECT epoch FROM laminar_catalog.checkpoints "
                        "WHERE status = 'completed' ORDER BY epoch").fetchall()
    return [int(epoch) for (epoch,) in rows]


RESTORED = re.compile(r"checkpoint\.restored\b.*")


def log_field(line: str, name: str) -> int | None:
    """An integer field `name=N` (text log) or `"name": N` (JSON log) of a log line."""
    found = re.search(rf"\b{name}\W{{1,4}}(\d+)", line)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class Restore:
    """What a server log says its start restored: the checkpoint's epoch, and (when the
    server reports them) how many views came from the checkpoint and how many were
    rebuilt from scratch (their sources replayed from the first event)."""

    epoch: int
    flows_restored: int | None
    flows_rebuilt: int | None
    flows_not_restored: tuple[str, ...]  # `checkpoint.flow_not_restored` warnings


def restore_in(log: str) -> Restore | None:
    found = RESTORED.search(log)
    epoch = log_field(found.group(0), "epoch") if found else None
    if found is None or epoch is None:
        return None
    warnings = tuple(line[line.index("checkpoint.flow_not_restored"):].strip()
                     for line in log.splitlines() if "checkpoint.flow_not_restored" in line)
    return Restore(epoch, log_field(found.group(0), "restored"),
                   log_field(found.group(0), "rebuilt"), warnings)


KILLED_AT = re.compile(r"crashpoint\.kill\b.*?\bpoint\W{1,4}(\w+)")


def crash_point_hit(log: str) -> str | None:
    """The crash point a server log says the process killed itself at, if any."""
    found = KILLED_AT.search(log)
    return found.group(1) if found else None


def check_views(conn: psycopg.Connection[Any], settings: SourceSettings) -> list[str]:
    """After the sources finished and FLUSH: every view against its batch answer."""
    problems = []
    for view, want in expected_answers(settings).items():
        got = bag(conn.execute(f"SELECT * FROM {view}").fetchall())
        if got != want:
            problems.append(describe_difference(view, got, want))
        elif not want:
            problems.append(f"{view}: the batch answer is empty; the check proves nothing")
    got = bag(conn.execute(f"SELECT * FROM {TABLE_VIEW}").fetchall())
    want = bag(conn.execute(TABLE_VIEW_SQL).fetchall())
    if got != want:
        problems.append(describe_difference(TABLE_VIEW, got, want))
    return problems


# ------------------------------------------------------------------------- the table client

Rows = dict[int, tuple[int, int]]  # id -> (grp, val)


@dataclass
class TableModel:
    """What the table holds, as the writing client knows it.

    `acked` is the table after the last acknowledged commit; while a commit is in flight
    (its COMMIT, or its autocommit statement, may have reached the server) `in_flight`
    is the table if it committed. Attributes are replaced whole, so the thread that reads
    them after the writer stopped sees a consistent pair."""

    acked: Rows = field(default_factory=dict)
    in_flight: Rows | None = None
    next_id: int = 1
    commits: int = 0  # acknowledged commits, over every round
    sent: int = 0  # commits sent, over every round

    def settle(self, rows: Rows) -> str | None:
        """After a restart: fold the table's recovered rows into the model; None if they
        are allowed, else what is wrong."""
        pending, self.in_flight = self.in_flight, None
        if rows == self.acked:
            return None
        if pending is not None and rows == pending:
            self.acked = pending
            self.commits += 1
            return None
        lost = [i for i, v in self.acked.items() if rows.get(i) != v]
        strangers = [i for i in rows if i not in self.acked]
        in_flight = "none" if pending is None else f"{len(pending)} rows"
        return (f"table {TABLE}: {len(rows)} rows, {len(self.acked)} acknowledged "
                f"(in-flight commit: {in_flight}); acknowledged rows missing or different: "
                f"{lost[:10]} ({len(lost)}); rows never acknowledged: {strangers[:10]} "
                f"({len(strangers)})")


def table_rows(conn: psycopg.Connection[Any]) -> Rows:
    return {int(i): (int(g), int(v)) for i, g, v in
            conn.execute(f"SELECT id, grp, val FROM {TABLE}").fetchall()}


@dataclass
class Change:
    """One statement of a commit: its SQL, parameters, and its effect on the model."""

    sql: str
    params: tuple[Any, ...]

    def apply(self, rows: Rows) -> None:
        raise NotImplementedError


@dataclass
class Insert(Change):
    new: Rows = field(default_factory=dict)

    def apply(self, rows: Rows) -> None:
        rows.update(self.new)


@dataclass
class Update(Change):
    ids: list[int] = field(default_factory=list)
    grp: int | None = None
    delta: int = 0

    def apply(self, rows: Rows) -> None:
        for i in self.ids:
            if i in rows:
                grp, val = rows[i]
                rows[i] = (grp if self.grp is None else self.grp, val + self.delta)


@dataclass
class Delete(Change):
    ids: list[int] = field(default_factory=list)

    def apply(self, rows: Rows) -> None:
        for i in self.ids:
            rows.pop(i, None)


def random_change(rng: random.Random, rows: Rows, model: TableModel) -> Change:
    """An INSERT (1-5 rows), an UPDATE (one row, or every row of id % 11 = k), or a DELETE
    (one row, or the rows of a group with id % 5 = k), against the rows as they are."""
    pick = rng.random()
    if pick < 0.45 or len(rows) < 20:
        count = rng.randint(1, 5)
        new = {model.next_id + k: (rng.randrange(8), rng.randint(-1000, 1000))
               for k in range(count)}
        model.next_id += count
        values = ", ".join(["(%s, %s, %s)"] * count)
        params = tuple(x for i, (g, v) in new.items() for x in (i, g, v))
        return Insert(f"INSERT INTO {TABLE} (id, grp, val) VALUES {values}", params, new)
    if pick < 0.6:
        target = rng.choice(list(rows))
        delta = rng.randint(-50, 50)
        return Update(f"UPDATE {TABLE} SET val = val + %s WHERE id = %s", (delta, target),
                      [target], None, delta)
    if pick < 0.72:
        k, grp, delta = rng.randrange(11), rng.randrange(8), rng.randint(-9, 9)
        ids = [i for i in rows if i % 11 == k]
        return Update(f"UPDATE {TABLE} SET grp = %s, val = val + %s WHERE id %% 11 = %s",
                      (grp, delta, k), ids, grp, delta)
    if pick < 0.92:
        target = rng.choice(list(rows))
        return Delete(f"DELETE FROM {TABLE} WHERE id = %s", (target,), [target])
    k, grp = rng.randrange(5), rng.randrange(8)
    ids = [i for i, (g, _) in rows.items() if g == grp and i % 5 == k]
    return Delete(f"DELETE FROM {TABLE} WHERE grp = %s AND id %% 5 = %s", (grp, k), ids)


def write_forever(conn: psycopg.Connection[Any], model: TableModel, rng: random.Random,
                  pause: float, stop: threading.Event) -> None:
    """Autocommit statements and, one time in five, a transaction of 2-4 statements;
    `model` follows every acknowledged commit."""
    while not stop.is_set():
        rows = dict(model.acked)
        changes = [random_change(rng, rows, model)]
        changes[0].apply(rows)
        if rng.random() < 0.2:
            for _ in range(rng.randint(1, 3)):
                changes.append(random_change(rng, rows, model))
                changes[-1].apply(rows)
            conn.execute("BEGIN")
            for change in changes:
                conn.execute(change.sql, change.params)
            model.in_flight = rows
            model.sent += 1
            conn.execute("COMMIT")
        else:
            model.in_flight = rows
            model.sent += 1
            conn.execute(changes[0].sql, changes[0].params)
        model.acked = rows
        model.in_flight = None
        model.commits += 1
        if pause:
            time.sleep(rng.uniform(0, 2 * pause))


class TableWriter:
    """`write_forever` on a thread of its own, until the server dies or `stop`."""

    def __init__(self, dsn: str, model: TableModel, seed: int, pause: float = 0.002) -> None:
        self.dsn = dsn
        self.model = model
        self.rng = random.Random(seed)
        self.pause = pause
        self.error: BaseException | None = None
        self.started = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="table-writer", daemon=True)

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        if not self.started.wait(timeout):
            raise RuntimeError("the table writer did not connect")

    def _run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                self.started.set()
                write_forever(conn, self.model, self.rng, self.pause, self.stopping)
        except psycopg.OperationalError:
            pass  # the server died under us: expected when it does
        except BaseException as exc:
            self.error = exc
        finally:
            self.started.set()

    def join(self, timeout: float = 30) -> None:
        """Wait for the writer to end (the server died, or `stop` was called)."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("the table writer hung")
        if self.error is not None:
            raise AssertionError(f"the table writer failed: {self.error!r}") from self.error

    def stop(self) -> None:
        self.stopping.set()
        self.join()



# ------------------------------------------------------------------------- rounds


@dataclass
class RoundReport:
    """One kill and restart."""

    number: int
    how: str  # "SIGKILL after 1.234 s" or "crash point NAME[:n]"
    crash_point: str | None = None  # the crash point the server died at, if it did
    checkpoints_before: list[int] = field(default_factory=list)  # completed, seen before
    events_before: int | None = None  # source events read, sampled just before the kill
    epoch_before: tuple[int, Any] | None = None  # (epoch, its timestamp), sampled then
    epoch_after: tuple[int, Any] | None = None  # the same at the first query after restart
    restored: int | None = None  # the epoch the restart restored (server log)
    restore: Restore | None = None  # what the restart's log says it restored
    recovery_seconds: float | None = None  # restart to first successful query on a view
    events_after: int | None = None  # source events read at that first query
    acked_commits: int = 0  # acknowledged table commits, over every round so far
    in_flight: str = "none"  # the commit in flight at the kill: none, present, absent
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        def show(value: object) -> str:
            return "-" if value is None else str(value)

        recovery = "-" if self.recovery_seconds is None else f"{self.recovery_seconds:.2f}"
        last = self.checkpoints_before[-1] if self.checkpoints_before else None
        flows = "" if self.restore is None else (
            f" ({show(self.restore.flows_restored)} views restored, "
            f"{show(self.restore.flows_rebuilt)} rebuilt)")
        return (f"round {self.number:>3}  {self.how:<34} point hit {show(self.crash_point):<22} "
                f"checkpoint before {show(last):>5}  restored {show(self.restored):>5}{flows}  "
                f"recovery {recovery:>5} s  events {show(self.events_before)} -> "
                f"{show(self.events_after)}  commits {self.acked_commits} (in flight: "
                f"{self.in_flight})" + ("" if not self.problems else "  PROBLEMS"))


TORN = ("mid_state_write", "after_state_write", "before_manifest_rename")  # no manifest yet
IN_PLACE = ("after_manifest_rename", "mid_prune")  # the new manifest is in place


def checkpoint_problems(report: RoundReport, point: str | None) -> list[str]:
    """Whether the restart restored the checkpoint it had to, from checkpoint state.

    Every view here predates every checkpoint, so each must come back from the checkpoint
    and none be rebuilt from scratch (replaying its sources from their first event gives
    the right answer too, and proves nothing about checkpoints). The checkpoint restored is
    the newest one that completed before the kill (SIGKILL, or a crash point before the
    next manifest is in place), or the one whose manifest the crash point left in place.
    `point`: the crash point of the round (None: a kill from outside)."""
    if not report.checkpoints_before and point is None:
        return []  # killed before the first checkpoint completed: nothing to restore
    restore = report.restore
    if restore is None:
        return ["the restart restored no checkpoint"]
    problems = []
    if restore.flows_not_restored:
        problems.append(f"views not restored from checkpoint {restore.epoch}: "
                        + "; ".join(restore.flows_not_restored[:3]))
    if restore.flows_rebuilt:
        problems.append(f"{restore.flows_rebuilt} views rebuilt from scratch after restoring "
                        f"checkpoint {restore.epoch} ({restore.flows_restored} restored)")
    newest = report.checkpoints_before[-1] if report.checkpoints_before else None
    if newest is None:
        problems.append("no checkpoint completed before the crash point")
    elif point in TORN and restore.epoch != newest:
        problems.append(f"restored checkpoint {restore.epoch}, not {newest}, the newest one "
                        f"whose manifest was in place")
    elif point in IN_PLACE and restore.epoch <= newest:
        problems.append(f"the manifest of the checkpoint after {newest} was in place; "
                        f"restored {restore.epoch}")
    elif restore.epoch < newest:
        problems.append(f"checkpoint {newest} had completed before the kill; "
                        f"restored {restore.epoch}")
    return problems


class ServerDied(Exception):
    """The server process ended while we waited for it to."""


class CrashScenario:
    """The scenario on one data directory: set up once, then rounds of kill (or crash
    point) and restart, then a final check once the sources are finished."""

    def __init__(self, server: LaminarServer, settings: SourceSettings, seed: int,
                 writer_pause: float = 0.002) -> None:
        self.server = server
        self.settings = settings
        self.rng = random.Random(seed)
        self.model = TableModel()
        self.writer: TableWriter | None = None
        self.writer_pause = writer_pause
        self.rounds: list[RoundReport] = []
        self.fresh_start_seconds: float | None = None  # start to first query, empty dir

    # -- the server

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.server.dsn, autocommit=True)

    def alive(self) -> bool:
        process = self.server.process
        return process is not None and process.poll() is None

    def setup(self, crash_point: str | None = None) -> None:
        self.server.env = {"LAMINAR_PG_CRASHPOINT": crash_point} if crash_point else None
        started = time.monotonic()
        self.server.start()
        with self.connect() as conn:
            conn.execute("SELECT 1").fetchall()
            self.fresh_start_seconds = time.monotonic() - started
            create_objects(conn, self.settings)

    def start_writer(self) -> None:
        self.writer = TableWriter(self.server.dsn, self.model, self.rng.randrange(2**32),
                                  self.writer_pause)
        self.writer.start()

    def sample(self, report: RoundReport) -> None:
        """What the server has done so far: completed checkpoints, events read."""
        try:
            with self.connect() as conn:
                report.checkpoints_before = completed_checkpoints(conn)
                report.events_before = events_read(conn)
                report.epoch_before = current_epoch(conn)
        except psycopg.OperationalError:
            pass  # it died meanwhile (a crash point): what was seen before stands

    def kill(self) -> None:
        os.kill(self.server.pid, signal.SIGKILL)

    def wait_dead(self, timeout: float) -> int:
        """Wait for the process to end by itself; its return code."""
        process = self.server.process
        assert process is not None
        try:
            return int(process.wait(timeout))
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"the server did not die within {timeout}s") from exc

    def after_death(self, report: RoundReport) -> None:
        """The server is dead: the writer ends; the round's return code is checked by the
        caller."""
        if self.writer is not None:
            self.writer.join()
            self.writer = None
        report.acked_commits = self.model.commits

    def restart(self, report: RoundReport) -> None:
        """Start on the same data directory (no crash point armed); time the first
        successful query; settle the table model against the recovered rows."""
        self.server.stop()  # reaps the dead process
        self.server.env = None
        started = time.monotonic()
        self.server.start()
        with self.connect() as conn:
            conn.execute("SELECT count(*) FROM crash_counts").fetchall()
            report.recovery_seconds = time.monotonic() - started
            report.restore = restore_in(self.server.log())
            report.restored = None if report.restore is None else report.restore.epoch
            report.events_after = events_read(conn)
            report.epoch_after = current_epoch(conn)
            pending = self.model.in_flight is not None
            problem = self.model.settle(table_rows(conn))
        if report.epoch_before and report.epoch_after \
                and report.epoch_after[1] <= report.epoch_before[1]:
            report.problems.append(
                f"epoch timestamps went back across the restart: epoch {report.epoch_before[0]} "
                f"at {report.epoch_before[1]} before the kill, epoch {report.epoch_after[0]} "
                f"at {report.epoch_after[1]} after")
        if problem:
            report.problems.append(problem)
        elif pending:
            report.in_flight = "present" if self.model.commits > report.acked_commits else "absent"
        report.acked_commits = self.model.commits

    # -- rounds

    def random_kill_round(self, number: int, low: float, high: float) -> RoundReport:
        """Let it run (sources, writer, periodic checkpoints) for a random time, SIGKILL."""
        delay = self.rng.uniform(low, high)
        report = RoundReport(number, f"SIGKILL after {delay:.3f} s")
        self.start_writer()
        time.sleep(delay)
        self.sample(report)
        if not self.alive():
            raise ServerDied(f"round {number}: the server died before the kill:\n"
                             f"{self.server.log()[-3000:]}")
        self.kill()
        code = self.wait_dead(30)
        assert code == -signal.SIGKILL, f"round {number}: return code {code} after SIGKILL"
        report.crash_point = crash_point_hit(self.server.log())  # None, unless it beat us
        self.after_death(report)
        self.restart(report)
        self.rounds.append(report)
        return report

    def crash_point_round(self, number: int, point: str, timeout: float = 30) -> RoundReport:
        """On a server started with LAMINAR_PG_CRASHPOINT=point (`setup(armed_at_setup(
        point))`): drive it (CHECKPOINT statements, table writes) until it kills itself;
        restart without it. For after_restore: run, CHECKPOINT, SIGKILL, then start with the
        crash point (it must die while starting) and start again without it. For
        mid_changelog_batch: stop (SIGTERM), start with the crash point, CHECKPOINT, write
        until it dies."""
        name = point.split(":")[0]
        report = RoundReport(number, f"crash point {point}")
        if name == "mid_changelog_batch":
            # DDL goes through the change log too: arm it on a restart (clean stop), so
            # that `:n` counts the writer's commits only.
            time.sleep(self.rng.uniform(0.2, 1.0))
            assert self.server.stop() == 0, f"SIGTERM: {self.server.log()[-3000:]}"
            self.server.env = {"LAMINAR_PG_CRASHPOINT": point}
            self.server.start()
            time.sleep(self.rng.uniform(0.1, 0.5))
            with self.connect() as conn:
                conn.execute("CHECKPOINT")
            self.sample(report)
            self.start_writer()
        elif name == "after_restore":
            self.start_writer()
            time.sleep(self.rng.uniform(0.3, 1.0))
            with self.connect() as conn:
                conn.execute("CHECKPOINT")
            time.sleep(self.rng.uniform(0.1, 0.5))
            self.sample(report)
            self.kill()
            assert self.wait_dead(30) == -signal.SIGKILL
            self.after_death(report)
            self.server.stop()
            self.server.env = {"LAMINAR_PG_CRASHPOINT": point}
            try:
                self.server.start()
            except RuntimeError:
                pass  # it died while starting, before it was ready: as expected
            code = self.wait_dead(timeout)
            assert code == -signal.SIGKILL, f"starting with {point}: return code {code}, " \
                f"not SIGKILL by the crash point:\n{self.server.log()[-3000:]}"
            report.crash_point = crash_point_hit(self.server.log())
            self.restart(report)
            self.rounds.append(report)
            return report
        else:
            self.start_writer()
            time.sleep(self.rng.uniform(0.2, 1.0))
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            if name in CHECKPOINT_CRASH_POINTS:
                time.sleep(self.rng.uniform(0.1, 0.6))
                self.sample(report)
                try:
                    with self.connect() as conn:
                        conn.execute("CHECKPOINT")
                except psycopg.OperationalError:
                    break  # killed by the crash point while checkpointing
            else:
                time.sleep(0.05)
        code = self.wait_dead(max(1.0, deadline - time.monotonic()))
        assert code == -signal.SIGKILL, f"{point}: return code {code}, not SIGKILL by the " \
            f"crash point:\n{self.server.log()[-3000:]}"
        report.crash_point = crash_point_hit(self.server.log())
        self.after_death(report)
        self.restart(report)
        self.rounds.append(report)
        return report

    # -- the end

    def finish(self, write_seconds: float = 0.5) -> list[str]:
        """On the running server: a little more writing (the table still takes writes),
        then wait for the sources to finish, FLUSH, and check everything."""
        self.start_writer()
        time.sleep(write_seconds)
        assert self.writer is not None
        self.writer.stop()
        self.writer = None
        problems = []
        with self.connect() as conn:
            wait_sources_finished(conn)
            conn.execute("FLUSH")
            problem = self.model.settle(table_rows(conn))
            if problem:
                problems.append(problem)
            failed = conn.execute("SELECT name, status, error FROM laminar_catalog.view_metrics "
                                  "WHERE status <> 'running'").fetchall()
            problems += [f"view {n} is {s}: {e}" for n, s, e in failed]
            problems += check_views(conn, self.settings)
        return problems


def armed_at_setup(spec: str) -> str | None:
    """The crash point the first start has armed (the others are armed on a restart)."""
    return None if spec.split(":")[0] in ("mid_changelog_batch", "after_restore") else spec


def crash_point_spec(point: str, rng: random.Random) -> str:
    """`point` or `point:n`: the checkpoint points on the 2nd time they are reached (so a
    checkpoint completed before), mid_changelog_batch on a random commit."""
    if point == "mid_changelog_batch":
        return f"{point}:{rng.randint(1, 40)}"
    if point in ("mid_prune", "after_restore"):
        return point
    return f"{point}:2"
