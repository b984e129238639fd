"""SUBSCRIBE through real clients: the snapshot then every change, epoch by epoch.

The check that matters: integrating a subscription's rows (each laminar_diff added to its
row) gives exactly the view's contents once the view stops changing, whatever happened
in between (inserts, updates, deletes, groups that vanish). Also: PROGRESS rows on idle
epochs, timestamps that never decrease, FETCH with a timeout, cancel, and the errors.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import psycopg
import pytest

from laminar_pg.testing.server import LaminarServer
from tests.e2e.test_streaming import unique


@pytest.fixture
def conn(server: LaminarServer) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        yield connection


def make_view(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    t, v = unique("t"), unique("v")
    conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, g int, x int)")
    conn.execute(f"INSERT INTO {t} VALUES (1, 1, 10), (2, 1, 20), (3, 2, 5)")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT g, count(*) AS n, sum(x) AS s "
                 f"FROM {t} GROUP BY g")
    return t, v


def contents(conn: psycopg.Connection[Any], view: str) -> Counter[tuple[str, ...]]:
    rows = conn.execute(f"SELECT g::text, n::text, s::text FROM {view}").fetchall()
    return Counter(tuple(r) for r in rows)


def test_copy_subscribe_integrates_to_the_view(server: LaminarServer,
                                               conn: psycopg.Connection[Any]) -> None:
    t, v = make_view(conn)
    done = threading.Event()

    def write() -> None:
        with psycopg.connect(server.dsn, autocommit=True) as w:
            for i in range(4, 40):
                w.execute(f"INSERT INTO {t} VALUES (%s, %s, %s)", (i, i % 3, i))
                if i % 5 == 0:
                    w.execute(f"DELETE FROM {t} WHERE id = %s", (i - 3,))
                if i % 7 == 0:
                    w.execute(f"UPDATE {t} SET g = 9 WHERE id = %s", (i - 1,))
            w.execute(f"DELETE FROM {t} WHERE g = 2")
            w.execute("FLUSH")
        done.set()

    integrated: Counter[tuple[str, ...]] = Counter()
    stamps: list[int] = []
    progressed = 0
    writer = threading.Thread(target=write)
    caught_up = False
    with psycopg.connect(server.dsn, autocommit=True) as sub:
        with pytest.raises(psycopg.errors.QueryCanceled):  # how a client ends it
            with sub.cursor().copy(f"COPY (SUBSCRIBE {v} WITH (PROGRESS)) TO STDOUT") as copy:
                writer.start()
                deadline = time.monotonic() + 60
                for row in copy.rows():
                    stamp, is_progress, diff, *values = row
                    stamps.append(int(stamp))
                    if is_progress == "t":
                        progressed += 1
                        if not caught_up and done.is_set() and integrated == contents(conn, v):
                            caught_up = True
                            sub.cancel()
                    elif not caught_up:
                        integrated[tuple(values)] += int(diff)
                        integrated = +integrated
                    assert time.monotonic() < deadline, "the subscription never caught up"
        assert sub.execute("SELECT 1").fetchone() == (1,)
    writer.join()
    assert caught_up
    assert integrated == contents(conn, v)
    assert stamps == sorted(stamps)  # laminar_timestamp never decreases
    assert progressed > 1


def test_cursor_fetch_with_timeout(conn: psycopg.Connection[Any],
                                   server: LaminarServer) -> None:
    t, v = make_view(conn)
    with psycopg.connect(server.dsn) as sub:  # a transaction block, as DECLARE needs
        sub.execute(f"DECLARE c CURSOR FOR SUBSCRIBE {v}")
        first = sub.execute("FETCH 100 c WITH (timeout = '2s')").fetchall()
        epoch = first[0][0]
        assert {(r[0], r[1]) for r in first} == {(epoch, 1)}
        assert abs(epoch / 1000 - time.time()) < 60  # milliseconds since 1970
        assert Counter((str(r[2]), str(r[3]), str(r[4])) for r in first) == contents(conn, v)
        started = time.monotonic()
        assert sub.execute("FETCH 100 c WITH (timeout = '300ms')").fetchall() == []
        assert time.monotonic() - started < 2  # the timeout ends an idle FETCH
        conn.execute(f"UPDATE {t} SET x = x + 1 WHERE id = 3")
        conn.execute("FLUSH")
        changes = sub.execute("FETCH 100 c WITH (timeout = '5s')").fetchall()
        assert sorted((r[1], r[2], r[3], int(r[4])) for r in changes) == [(-1, 2, 1, 5),
                                                                          (1, 2, 1, 6)]
        assert all(r[0] > epoch for r in changes)
        sub.rollback()


def test_asyncpg_cursor_over_subscribe(conn: psycopg.Connection[Any],
                                       server: LaminarServer) -> None:
    _, v = make_view(conn)

    async def go() -> list[Any]:
        aconn = await asyncpg.connect(host=server.host, port=server.port, user="laminar",
                                      database="laminar")
        try:
            seen = []
            async with aconn.transaction():
                async for record in aconn.cursor(f"SUBSCRIBE {v} WITH (PROGRESS)",
                                                 prefetch=2):
                    seen.append(tuple(record))
                    if len(seen) >= 5:
                        break
            return seen
        finally:
            await aconn.close()

    seen = asyncio.run(go())
    snapshot = [r for r in seen if r[1] is False]
    assert {(r[3], r[4], int(r[5])) for r in snapshot} <= {(1, 2, 30), (2, 1, 5)}
    assert any(r[1] is True for r in seen)


def test_cancel_ends_a_subscription(conn: psycopg.Connection[Any],
                                    server: LaminarServer) -> None:
    _, v = make_view(conn)
    with psycopg.connect(server.dsn, autocommit=True) as sub:
        threading.Timer(0.5, sub.cancel).start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            with sub.cursor().copy(f"COPY (SUBSCRIBE {v}) TO STDOUT") as copy:
                for _ in copy.rows():
                    pass
        assert sub.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize(("sql", "sqlstate"), [
    ("SUBSCRIBE nope_nothing", "42P01"),
    ("SUBSCRIBE (SELECT * FROM nope_nothing)", "42P01"),
    ("SUBSCRIBE {t} AS OF 1", "0A000"),
    ("SUBSCRIBE {v} WITH (SNAPSHOT = maybe)", "22023"),
    ("SUBSCRIBE {v} WITH (COLOUR = 'red')", "22023"),
])
def test_subscribe_errors(conn: psycopg.Connection[Any], sql: str, sqlstate: str) -> None:
    t, v = make_view(conn)
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql.format(t=t, v=v))
    assert info.value.sqlstate == sqlstate, info.value
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_snapshot_rows_come_once_with_their_multiplicity(conn: psycopg.Connection[Any],
                                                         server: LaminarServer) -> None:
    t, v = unique("t"), unique("v")
    conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, g text)")
    conn.execute(f"INSERT INTO {t} VALUES (1, 'a'), (2, 'a'), (3, 'a'), (4, 'b'), (5, NULL)")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT g FROM {t}")
    with psycopg.connect(server.dsn) as sub:
        sub.execute(f"DECLARE c CURSOR FOR SUBSCRIBE {v}")
        rows = sub.execute("FETCH 100 c WITH (timeout = '2s')").fetchall()
        assert sorted((r[2] or "", r[1]) for r in rows) == [("", 1), ("a", 3), ("b", 1)]
        sub.rollback()


def copy_rows(dsn: str, sql: str, until: Any, timeout: float = 30) -> list[tuple[Any, ...]]:
    """Rows of `COPY (sql) TO STDOUT` until `until(rows)` holds (then cancelled)."""
    rows: list[tuple[Any, ...]] = []
    with psycopg.connect(dsn, autocommit=True) as sub:
        with pytest.raises(psycopg.errors.QueryCanceled):
            with sub.cursor().copy(f"COPY ({sql}) TO STDOUT") as copy:
                deadline = time.monotonic() + timeout
                for row in copy.rows():
                    rows.append(tuple(row))
                    if until(rows):
                        sub.cancel()
                    assert time.monotonic() < deadline, f"{sql}: never done: {rows}"
    return rows


def integrate(rows: list[tuple[Any, ...]], start: Counter[tuple[str, ...]] | None = None,
              ) -> Counter[tuple[str, ...]]:
    """Rows (timestamp, progressed, diff, g, n, s) added up onto `start`."""
    total = Counter(start or {})
    for _, progressed, diff, *values in rows:
        if progressed != "t":
            total[tuple(values)] += int(diff)
    return +total


def change_view(conn: psycopg.Connection[Any], t: str) -> None:
    conn.execute(f"INSERT INTO {t} VALUES (10, 2, 7), (11, 3, 1)")
    conn.execute(f"DELETE FROM {t} WHERE id = 1")
    conn.execute(f"UPDATE {t} SET x = 100 WHERE id = 3")
    conn.execute("FLUSH")


def test_subscribe_as_of_a_checkpoint_resumes_without_gap_or_duplicate(
        own_server: LaminarServer) -> None:
    # a server of its own, checkpointing only when asked: no other test's checkpoints
    # prune this one's before it resumes from it
    own_server.extra_args = ["--checkpoint-interval", "0"]
    server = own_server.start()
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        resume_as_of_checkpoint(conn, server)


def resume_as_of_checkpoint(conn: psycopg.Connection[Any], server: LaminarServer) -> None:
    t, v = make_view(conn)
    conn.execute("CHECKPOINT")
    retained = [r[0] for r in conn.execute(
        "SELECT laminar_timestamp FROM laminar_catalog.checkpoints WHERE retained "
        "ORDER BY epoch")]
    epoch = retained[-1]  # the laminar_timestamp of the checkpoint's epoch
    seen = contents(conn, v)  # what a subscriber had read up to that epoch
    change_view(conn, t)
    now = contents(conn, v)
    assert now != seen
    resumed = copy_rows(server.dsn, f"SUBSCRIBE {v} WITH (SNAPSHOT = false, PROGRESS) "
                                    f"AS OF {epoch}",
                        lambda rows: integrate(rows, seen) == now and rows[-1][1] == "t")
    assert all(int(r[0]) > epoch for r in resumed)
    assert integrate(resumed, seen) == now
    # with the snapshot: the contents as of that epoch, stamped with it, then the rest
    whole = copy_rows(server.dsn, f"SUBSCRIBE {v} WITH (PROGRESS) AS OF {epoch}",
                      lambda rows: integrate(rows) == now and rows[-1][1] == "t")
    assert integrate([r for r in whole if int(r[0]) == epoch]) == seen
    assert integrate(whole) == now
    gone = epoch - 1  # a time between epochs, which no checkpoint holds
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute(f"SUBSCRIBE {v} AS OF {gone}")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute(f"SUBSCRIBE {v} AS OF {epoch + 1_000_000}")


def test_subscribe_as_of_an_epoch_the_feed_holds_replays_it_epoch_by_epoch(
        conn: psycopg.Connection[Any], server: LaminarServer) -> None:
    t, v = make_view(conn)
    with psycopg.connect(server.dsn) as keeper:  # an open subscription keeps the feed
        keeper.execute(f"DECLARE c CURSOR FOR SUBSCRIBE {v}")
        first = keeper.execute("FETCH 100 c WITH (timeout = '2s')").fetchall()
        epoch = first[0][0]
        seen = contents(conn, v)
        conn.execute(f"INSERT INTO {t} VALUES (20, 5, 1)")
        conn.execute("FLUSH")
        conn.execute(f"DELETE FROM {t} WHERE id = 20")
        conn.execute(f"INSERT INTO {t} VALUES (21, 6, 2)")
        conn.execute("FLUSH")
        now = contents(conn, v)
        resumed = copy_rows(server.dsn, f"SUBSCRIBE {v} WITH (SNAPSHOT = false) AS OF {epoch}",
                            lambda rows: integrate([(a, "f", *b) for a, *b in rows],
                                                   seen) == now)
        stamps = [int(r[0]) for r in resumed]
        assert stamps == sorted(stamps) and stamps[0] > epoch
        # epoch by epoch: the group inserted and deleted again shows both changes
        assert any(r[2:] == ("5", "1", "1") and r[1] == "1" for r in resumed)
        assert any(r[2:] == ("5", "1", "1") and r[1] == "-1" for r in resumed)
        keeper.rollback()


@pytest.mark.parametrize("target", ["{t}", "(SELECT g, sum(x) AS s FROM {t} GROUP BY g)"])
def test_subscribe_to_a_table_or_a_query(conn: psycopg.Connection[Any], server: LaminarServer,
                                         target: str) -> None:
    t, _ = make_view(conn)
    query = f"SELECT * FROM {t}" if target == "{t}" else target.format(t=t)[1:-1]

    def now() -> Counter[tuple[str, ...]]:
        rows = conn.execute(f"SELECT * FROM ({query}) q").fetchall()
        return Counter(tuple(str(v) for v in r) for r in rows)

    def write() -> None:
        time.sleep(0.3)
        change_view(conn, t)
        expected.append(now())

    flows = "SELECT dataflows FROM laminar_catalog.pipeline_metrics"
    before = conn.execute(flows).fetchone()
    expected: list[Counter[tuple[str, ...]]] = []
    writer = threading.Thread(target=write)
    writer.start()
    rows = copy_rows(server.dsn, f"SUBSCRIBE {target.format(t=t)} WITH (PROGRESS)",
                     lambda rows: bool(expected) and rows[-1][1] == "t"
                     and integrate(rows) == expected[0])
    writer.join()
    assert integrate(rows) == expected[0]
    assert len({r[0] for r in rows if r[1] != "t"}) >= 2  # the snapshot, then changes
    # the subscription's dataflow is gone with it
    deadline = time.monotonic() + 5
    while conn.execute(flows).fetchone() != before:
        assert time.monotonic() < deadline, "the subscription's dataflow was not removed"
        time.sleep(0.05)


def subscribers(conn: psycopg.Connection[Any], view: str) -> int:
    row = conn.execute("SELECT subscribers FROM laminar_catalog.view_metrics WHERE name = %s",
                       (view,)).fetchone()
    assert row is not None
    return int(row[0])


def test_psql_subscribers_share_the_feed_and_a_killed_one_is_let_go(
        conn: psycopg.Connection[Any], server: LaminarServer) -> None:
    """psql shows COPY (SUBSCRIBE ...) rows as they come; two subscribers count as two on
    one feed; a psql killed mid-stream (SIGKILL: no goodbye) is noticed and its
    subscription freed."""
    t, v = make_view(conn)
    # stdbuf: psql's stdout into a pipe is block-buffered (a terminal's is by line)
    command = ["stdbuf", "-oL", "psql", "-X", "-h", server.host, "-p", str(server.port), "-U", "laminar",
               "-d", "laminar", "-c", f"COPY (SUBSCRIBE {v} WITH (PROGRESS)) TO STDOUT"]
    clients = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        for client in clients:
            assert client.stdout is not None
            first = client.stdout.readline()  # the snapshot's first row, live
            assert first.split("\t")[1:3] == ["f", "1"]
        wait_until(lambda: subscribers(conn, v) == 2, "both subscriptions counted")
        clients[0].kill()
        clients[0].wait()
        conn.execute(f"INSERT INTO {t} VALUES (50, 1, 1)")
        conn.execute("FLUSH")
        wait_until(lambda: subscribers(conn, v) == 1, "the killed subscriber let go")
        # the other one goes on receiving the changes (killed after 30 s if it does not)
        assert clients[1].stdout is not None
        watchdog = threading.Timer(30, clients[1].kill)
        watchdog.start()
        changed = None
        for line in clients[1].stdout:
            _, progressed, diff, *values = line.rstrip("\n").split("\t")
            if progressed == "f" and values[0] == "1" and diff == "1":
                changed = values
                break
        watchdog.cancel()
        assert changed == ["1", "3", "31"]
    finally:
        for client in clients:
            client.kill()
            client.wait()
            if client.stdout is not None:
                client.stdout.close()
    wait_until(lambda: subscribers(conn, v) == 0, "killed subscribers let go")


def wait_until(test: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
