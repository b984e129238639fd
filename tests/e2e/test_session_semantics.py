"""Session behaviour found in review, each checked against what PostgreSQL 15 does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from laminar_pg.testing.server import LaminarServer


@pytest.fixture
def conn(server: LaminarServer) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.dsn, autocommit=True) as c:
        yield c


def test_queries_run_while_a_cursor_is_open(server: LaminarServer) -> None:
    with psycopg.connect(server.dsn) as c:
        c.execute("DECLARE c CURSOR FOR SELECT g FROM generate_series(1, 100000) g")
        assert c.execute("SELECT 42").fetchone() == (42,)
        assert c.execute("FETCH 3 c").fetchall() == [(1,), (2,), (3,)]
        assert c.execute("SELECT 43").fetchone() == (43,)
        assert c.execute("FETCH 2 c").fetchall() == [(4,), (5,)]
        with c.cursor(name="named") as cur:
            cur.execute("SELECT g FROM generate_series(1, 50000) g")
            first = cur.fetchmany(2)
            assert c.execute("SELECT 1").fetchone() == (1,)
            assert first + cur.fetchmany(2) == [(1,), (2,), (3,), (4,)]


def test_array_parameters(conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT 2 = ANY(%s)", ([1, 2],)).fetchone() == (True,)
    assert conn.execute("SELECT %s::int4[]", ([1, None],)).fetchone() == ([1, None],)


def test_generate_series_alias_names_the_column(conn: psycopg.Connection) -> None:
    cur = conn.execute("SELECT g FROM generate_series(1, 3) g")
    assert cur.fetchall() == [(1,), (2,), (3,)]
    assert cur.description is not None and cur.description[0].type_code == 23
    cur = conn.execute("SELECT * FROM generate_series(1, 2) g")
    assert [d.name for d in cur.description or []] == ["g"]


def test_reset_returns_to_startup_values(server: LaminarServer) -> None:
    dsn = server.dsn + " application_name=myapp options='-c extra_float_digits=2'"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET application_name = 'other'")
        c.execute("SET extra_float_digits = 0")
        c.execute("RESET ALL")
        assert c.execute("SHOW application_name").fetchone() == ("myapp",)
        assert c.execute("SHOW extra_float_digits").fetchone() == ("2",)
        assert c.info.parameter_status("application_name") == "myapp"


def test_statement_timeout_cancels(conn: psycopg.Connection) -> None:
    conn.execute("SET statement_timeout = '300ms'")
    started = time.monotonic()
    with pytest.raises(errors.QueryCanceled, match="statement timeout"):
        conn.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 3
    conn.execute("SET statement_timeout = 0")
    assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(errors.InvalidParameterValue):
        conn.execute("SET statement_timeout = 'soon'")


def test_hold_cursor_of_a_rolled_back_block_is_gone(conn: psycopg.Connection) -> None:
    conn.execute("BEGIN")
    conn.execute("DECLARE h CURSOR WITH HOLD FOR SELECT 1")
    conn.execute("ROLLBACK")
    with pytest.raises(errors.InvalidCursorName):
        conn.execute("FETCH ALL h")
    conn.execute("BEGIN")
    conn.execute("DECLARE h CURSOR WITH HOLD FOR SELECT 1")
    conn.execute("COMMIT")
    assert conn.execute("FETCH ALL h").fetchall() == [(1,)]
    conn.execute("CLOSE h")


def test_notice_comes_before_its_command_complete(server: LaminarServer) -> None:
    import socket

    from laminar_pg.wire import codec
    from laminar_pg.wire import messages as m

    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(m.StartupMessage({"user": "laminar"}).encode() + m.Query("COMMIT").encode())
        reader = codec.backend_reader()
        got: list[object] = []
        while sum(isinstance(x, m.ReadyForQuery) for x in got) < 2:  # startup's, then ours
            reader.feed(sock.recv(65536))
            while (msg := reader.next_message()) is not codec.NEED_DATA:
                got.append(msg)
    first_ready = next(i for i, x in enumerate(got) if isinstance(x, m.ReadyForQuery))
    after_startup = got[first_ready + 1 :]
    kinds = [type(x).__name__ for x in after_startup]
    assert kinds == ["NoticeResponse", "CommandComplete", "ReadyForQuery"]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("COPY (SELECT 1 AS a, 'x,y' AS b) TO STDOUT CSV HEADER", b'a,b\n1,"x,y"\n'),
        ("COPY (SELECT 1 AS a, 2 AS b) TO STDOUT (FORMAT csv, FORCE_QUOTE *)", b'"1","2"\n'),
        ("COPY (SELECT 1 AS a, 'q' AS b) TO STDOUT (FORMAT csv, FORCE_QUOTE (b))", b'1,"q"\n'),
    ],
)
def test_copy_option_forms(conn: psycopg.Connection, sql: str, expected: bytes) -> None:
    with conn.cursor().copy(sql) as copy:
        assert b"".join(bytes(block) for block in copy) == expected


def test_copy_with_binary_legacy_form(conn: psycopg.Connection) -> None:
    with conn.cursor().copy("COPY (SELECT 7::int4) TO STDOUT WITH BINARY") as copy:
        data = b"".join(bytes(block) for block in copy)
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00")


def test_settings_follow_transactions(conn: psycopg.Connection) -> None:
    def show(name: str = "application_name") -> str:
        row = conn.execute(f"SHOW {name}").fetchone()
        assert row is not None
        return str(row[0])

    conn.execute("BEGIN")
    conn.execute("SET LOCAL application_name = 'local'")
    assert show() == "local"
    conn.execute("COMMIT")
    assert show() == "" and conn.info.parameter_status("application_name") == ""

    conn.execute("BEGIN")
    conn.execute("SET application_name = 'undone'")
    conn.execute("ROLLBACK")
    assert show() == ""

    with pytest.raises(errors.DivisionByZero):  # one implicit transaction: the SET goes too
        conn.execute("SET application_name = 'a'; SELECT 1/0")
    assert show() == "" and conn.info.parameter_status("application_name") == ""

    conn.execute("BEGIN")
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    assert show("transaction_isolation") == "repeatable read"
    conn.execute("COMMIT")
    assert show("transaction_isolation") == "read committed"

    conn.execute("SET application_name = 'kept'")
    conn.execute("BEGIN")
    conn.execute("SELECT set_config('application_name', 'tmp', true)")
    assert show() == "tmp"
    conn.execute("COMMIT")
    assert show() == "kept"
    conn.execute("RESET application_name")


def test_idle_in_transaction_session_timeout_ends_the_session(server: LaminarServer) -> None:
    """A session idle inside a block longer than idle_in_transaction_session_timeout is
    terminated (FATAL 25P03), which also frees the writer lock it held: another writer
    proceeds. Outside a block, idling is fine."""
    t = "idle_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server.dsn, autocommit=True) as other:
        other.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
        idle = psycopg.connect(server.dsn, autocommit=True)
        idle.execute("SET idle_in_transaction_session_timeout = '300ms'")
        time.sleep(0.5)  # idle outside a block: nothing happens
        assert idle.execute("SELECT 1").fetchone() == (1,)
        idle.execute("BEGIN")
        idle.execute(f"INSERT INTO {t} VALUES (1)")  # holds the writer lock
        other.execute("SET statement_timeout = '10s'")
        other.execute(f"INSERT INTO {t} VALUES (2)")  # waits until the idle one is ended
        with pytest.raises(errors.IdleInTransactionSessionTimeout):
            idle.execute("SELECT 1")  # the FATAL that ended it, read now
        assert idle.closed
        idle.close()
        assert other.execute(f"SELECT id FROM {t} ORDER BY id").fetchall() == [(2,)]
