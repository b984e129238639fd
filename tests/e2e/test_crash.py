"""Crash safety of tables: SIGKILL the server while a client writes, restart it on the same
data directory, and check that
- every row whose commit the server acknowledged is there, and
- every statement or transaction that was in flight is entirely there or entirely absent
  (never half of a multi-row INSERT, of a transaction or of a COPY), and one whose COMMIT
  was never sent is absent.

The kill moment is random; the seed is printed (set LAMINAR_CRASH_SEED to replay a run).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from laminar_pg.testing.server import LaminarServer

COPY_ROWS = 50_000


@dataclass
class Unit:
    """One statement or transaction of the workload and the rows it inserts."""

    number: int
    kind: str
    ids: list[int]
    note: str
    commit_sent: bool = False  # the statement (or COMMIT, or CopyDone) may have reached it
    acked: bool = False  # the server answered: committed


@dataclass
class Workload:
    """What the client did, shared between the client thread and the test."""

    rng: random.Random
    next_id: int
    next_unit: int
    units: list[Unit] = field(default_factory=list)
    error: BaseException | None = None

    def unit(self, kind: str, rows: int, note: str) -> Unit:
        unit = Unit(self.next_unit, kind, list(range(self.next_id, self.next_id + rows)), note)
        self.next_id += rows
        self.next_unit += 1
        self.units.append(unit)
        return unit


def insert_sql(unit: Unit, ids: list[int], note: str | None = None) -> tuple[str, list[Any]]:
    values = ", ".join(["(%s, %s, %s)"] * len(ids))
    params: list[Any] = []
    for i in ids:
        params += [i, unit.number, unit.note if note is None else note]
    return f"INSERT INTO crash (id, unit, note) VALUES {values}", params


def statements_loop(conn: psycopg.Connection[Any], work: Workload) -> None:
    """Single-row INSERTs, 10-row INSERTs and multi-statement transactions, forever."""
    while True:
        pick = work.rng.random()
        if pick < 0.45:
            unit = work.unit("single", 1, "single")
            sql, params = insert_sql(unit, unit.ids)
            unit.commit_sent = True
            conn.execute(sql, params)
        elif pick < 0.8:
            unit = work.unit("multi", 10, "multi")
            sql, params = insert_sql(unit, unit.ids)
            unit.commit_sent = True
            conn.execute(sql, params)
        else:
            # Several INSERTs, then an UPDATE of every row they wrote: after a crash the
            # rows are either all absent or all present *and* updated.
            unit = work.unit("transaction", work.rng.randint(3, 12), "tx-done")
            conn.execute("BEGIN")
            chunks = [unit.ids[i : i + 3] for i in range(0, len(unit.ids), 3)]
            for chunk in chunks:
                conn.execute(*insert_sql(unit, chunk, "pending"))
            conn.execute("UPDATE crash SET note = %s WHERE unit = %s", (unit.note, unit.number))
            unit.commit_sent = True
            conn.execute("COMMIT")
        unit.acked = True


def copy_loop(conn: psycopg.Connection[Any], work: Workload) -> None:
    """COPY FROM STDIN of COPY_ROWS rows per statement, forever."""
    while True:
        unit = work.unit("copy", COPY_ROWS, "copy")
        data = "".join(f"{i}\t{unit.number}\tcopy\n" for i in unit.ids).encode()
        with conn.cursor().copy("COPY crash (id, unit, note) FROM STDIN") as copy:
            copy.write(data)
            unit.commit_sent = True  # CopyDone goes out when the block ends
        unit.acked = True


def run_client(dsn: str, work: Workload, loop: Callable[[psycopg.Connection[Any], Workload], None],
               ready: threading.Event) -> None:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            ready.set()
            loop(conn, work)
    except psycopg.OperationalError:
        pass  # the server was killed under us: expected
    except BaseException as exc:
        work.error = exc
    finally:
        ready.set()


def check_after_restart(dsn: str, work: Workload, settled: dict[int, set[int]],
                        context: str) -> None:
    """Compare the table with what the client knows; fold the in-flight units' fate into
    `settled` (unit number -> ids it must have from now on)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT id, unit, note FROM crash").fetchall()
    by_unit: dict[int, set[int]] = {}
    notes: dict[int, set[str]] = {}
    for row_id, unit_no, note in rows:
        by_unit.setdefault(unit_no, set()).add(row_id)
        notes.setdefault(unit_no, set()).add(note)
    problems: list[str] = []
    known = set(settled)
    for unit in work.units:
        known.add(unit.number)
        present = by_unit.get(unit.number, set())
        want = set(unit.ids)
        if unit.acked:
            ok = present == want
            rule = "acknowledged: all rows present"
        elif unit.commit_sent:
            ok = present in (set(), want)
            rule = "in flight: all rows or none"
        else:
            ok = not present
            rule = "COMMIT never sent: no rows"
        if ok and present and notes.get(unit.number) != {unit.note}:
            ok, rule = False, f"rows present with notes {notes.get(unit.number)}"
        if not ok:
            problems.append(f"unit {unit.number} ({unit.kind}, {len(want)} rows, "
                            f"{rule}): {len(present)} rows present")
        settled[unit.number] = present if ok else want
        if not unit.acked:
            fate = "present" if present else "absent"
            print(f"  in flight: unit {unit.number} ({unit.kind}, {len(want)} rows, "
                  f"commit sent: {unit.commit_sent}): {fate} after restart")
    for number, ids in settled.items():
        if number not in {u.number for u in work.units} and by_unit.get(number, set()) != ids:
            problems.append(f"unit {number} of an earlier cycle changed: "
                            f"{len(by_unit.get(number, set()))} rows, expected {len(ids)}")
    strangers = set(by_unit) - known
    if strangers:
        problems.append(f"rows of units the client never wrote: {sorted(strangers)[:10]}")
    assert not problems, f"{context}:\n" + "\n".join(problems)


def crash_cycles(own_server: LaminarServer, loop: Callable[[psycopg.Connection[Any], Workload], None],
                 cycles: int, name: str) -> None:
    seed = int(os.environ.get("LAMINAR_CRASH_SEED") or random.randrange(2**32))
    print(f"{name}: LAMINAR_CRASH_SEED={seed}")
    rng = random.Random(seed)
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE crash (id int8 PRIMARY KEY, unit int8 NOT NULL, note text)")
    settled: dict[int, set[int]] = {}
    next_id = next_unit = 1
    for cycle in range(1, cycles + 1):
        work = Workload(random.Random(rng.randrange(2**32)), next_id, next_unit)
        delay = rng.uniform(0.5, 2.0)
        context = f"seed {seed}, cycle {cycle}, killed after {delay:.3f} s"
        print(context)
        ready = threading.Event()
        client = threading.Thread(target=run_client, args=(own_server.dsn, work, loop, ready),
                                  daemon=True)
        client.start()
        assert ready.wait(30), context
        time.sleep(delay)
        assert client.is_alive(), f"{context}: the client stopped early: {work.error!r}"
        os.kill(own_server.pid, signal.SIGKILL)
        client.join(30)
        assert not client.is_alive(), f"{context}: the client hung after the kill"
        assert work.error is None, f"{context}: client failed: {work.error!r}"
        assert own_server.stop() == -signal.SIGKILL, context
        acked = sum(u.acked for u in work.units)
        print(f"  {len(work.units)} units sent, {acked} acknowledged")
        assert acked > 0, f"{context}: nothing was committed before the kill"
        own_server.start()
        check_after_restart(own_server.dsn, work, settled, context)
        next_id, next_unit = work.next_id, work.next_unit
    # The server still takes writes after its last recovery.
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO crash VALUES (0, 0, 'after')")


@pytest.mark.slow
def test_kill_during_inserts_and_transactions(own_server: LaminarServer) -> None:
    crash_cycles(own_server, statements_loop, cycles=3, name="inserts")


@pytest.mark.slow
def test_kill_during_copy(own_server: LaminarServer) -> None:
    crash_cycles(own_server, copy_loop, cycles=2, name="copy")
