"""Temporal filters: `WHERE ts > now() - INTERVAL ...` in a view, with now() the epoch's
timestamp, driven by a manual clock (LAMINAR_PG_CLOCK=manual; laminar_advance_clock(s)
moves it) instead of sleeping.

At every step the view must equal the same query run as a batch with now() replaced by
the timestamp of the epoch the view reflects (pipeline_metrics.epoch_timestamp), while
rows are inserted, updated and deleted before and after they expire.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from laminar_pg.testing.server import LaminarServer


@pytest.fixture
def clocked(own_server: LaminarServer) -> Iterator[psycopg.Connection[Any]]:
    own_server.env = {"LAMINAR_PG_CLOCK": "manual"}
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        yield conn


VIEWS = {
    "recent": "SELECT id, v FROM events WHERE ts > now() - INTERVAL '1' HOUR",
    "recent_count": "SELECT count(*) AS n, sum(v) AS total FROM events "
                    "WHERE now() - INTERVAL '10' MINUTE <= ts AND v > 0",
    "future": "SELECT id FROM events WHERE ts + INTERVAL '5' MINUTE > now()",
}


def rows(conn: psycopg.Connection[Any], sql: str) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r) for r in conn.execute(sql).fetchall())


def check(conn: psycopg.Connection[Any]) -> None:
    conn.execute("FLUSH")
    stamp = conn.execute("SELECT epoch_timestamp FROM laminar_catalog.pipeline_metrics "
                         "").fetchone()
    assert stamp is not None
    for name, sql in VIEWS.items():
        batch = sql.replace("now()", f"TIMESTAMP '{stamp[0].replace(tzinfo=None)}'")
        assert rows(conn, f"SELECT * FROM {name}") == rows(conn, batch), name


def test_rows_leave_a_view_as_its_clock_passes_their_expiry(
        clocked: psycopg.Connection[Any]) -> None:
    conn = clocked
    conn.execute("CREATE TABLE events (id int PRIMARY KEY, ts timestamp, v int)")
    for name, sql in VIEWS.items():
        conn.execute(f"CREATE MATERIALIZED VIEW {name} AS {sql}")
    now = conn.execute("SELECT laminar_advance_clock(0)").fetchone()
    assert now is not None
    start = f"TIMESTAMP '{now[0][:26].replace('T', ' ')}'"
    conn.execute(f"""INSERT INTO events VALUES
        (1, {start} - INTERVAL '30 minutes', 1), (2, {start} - INTERVAL '2 hours', 2),
        (3, {start} + INTERVAL '10 minutes', 3), (4, NULL, 4),
        (5, {start} - INTERVAL '5 minutes', 5), (6, {start} - INTERVAL '59 minutes', -6)""")
    check(conn)
    assert {r[0] for r in conn.execute("SELECT id FROM recent")} == {1, 3, 5, 6}
    conn.execute("SELECT laminar_advance_clock(120)")  # 2 minutes
    check(conn)
    conn.execute("UPDATE events SET v = v + 10 WHERE id IN (1, 5)")  # both still in
    conn.execute("SELECT laminar_advance_clock(600)")
    check(conn)
    conn.execute("DELETE FROM events WHERE id = 6")  # already expired from `recent`
    conn.execute(f"INSERT INTO events VALUES (7, {start}, 7)")
    check(conn)
    for _ in range(6):
        conn.execute("SELECT laminar_advance_clock(900)")
        check(conn)
    assert conn.execute("SELECT count(*) FROM recent").fetchone() == (0,)
    assert conn.execute("SELECT n FROM recent_count").fetchone() == (0,)
    conn.execute(f"UPDATE events SET ts = {start} + INTERVAL '3 hours' WHERE id = 2")
    check(conn)
    assert {r[0] for r in conn.execute("SELECT id FROM recent")} == {2}


def test_a_subscriber_sees_the_expiry_as_a_retraction(clocked: psycopg.Connection[Any],
                                                       own_server: LaminarServer) -> None:
    conn = clocked
    conn.execute("CREATE TABLE events (id int PRIMARY KEY, ts timestamp, v int)")
    conn.execute(f"CREATE MATERIALIZED VIEW recent AS {VIEWS['recent']}")
    conn.execute("INSERT INTO events VALUES (1, now()::timestamp, 1)")
    conn.execute("FLUSH")
    with psycopg.connect(own_server.dsn) as sub:
        sub.execute("DECLARE c CURSOR FOR SUBSCRIBE recent")
        first = sub.execute("FETCH 10 c WITH (timeout = '2s')").fetchall()
        assert [(r[1], r[2], r[3]) for r in first] == [(1, 1, 1)]
        conn.execute("SELECT laminar_advance_clock(7200)")
        conn.execute("FLUSH")
        gone = sub.execute("FETCH 10 c WITH (timeout = '5s')").fetchall()
        assert [(r[1], r[2], r[3]) for r in gone] == [(-1, 1, 1)]
        # laminar_timestamp moved with the clock (a stopped clock still gives each epoch
        # 1 ms more than the last, so the step is a little under 2 hours)
        assert 7_100_000 < gone[0][0] - first[0][0] <= 7_200_000
        sub.rollback()


@pytest.mark.parametrize("sql", [
    "SELECT id FROM events WHERE ts < now()",
    "SELECT id, now() AS t FROM events",
    "SELECT id FROM events WHERE ts > now() - INTERVAL '1' MONTH",
    "SELECT id FROM events WHERE ts > now() OR v > 1",
    "SELECT count(*) FROM events GROUP BY v HAVING max(ts) > now()",
])
def test_other_uses_of_now_are_refused(clocked: psycopg.Connection[Any], sql: str) -> None:
    conn = clocked
    conn.execute("CREATE TABLE IF NOT EXISTS events (id int PRIMARY KEY, ts timestamp, v int)")
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        conn.execute(f"CREATE MATERIALIZED VIEW refused AS {sql}")
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_wall_clock_cannot_be_moved(server: LaminarServer) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("SELECT laminar_advance_clock(10)")
