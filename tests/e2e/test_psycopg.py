"""psycopg 3 against a real laminar_pg server: simple and extended protocol, text and
binary, server-side cursors, pipeline mode, COPY, transactions and errors."""

from __future__ import annotations

import datetime as dt
import decimal
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


def test_connects_and_reports_parameters(conn: psycopg.Connection) -> None:
    assert conn.info.server_version == 150000
    assert conn.info.parameter_status("server_encoding") == "UTF8"
    assert conn.info.parameter_status("integer_datetimes") == "on"
    assert conn.info.parameter_status("standard_conforming_strings") == "on"
    assert conn.info.parameter_status("TimeZone") == "UTC"
    assert conn.info.backend_pid > 0


def test_select_expressions_text_and_binary(conn: psycopg.Connection) -> None:
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        row = cur.execute("SELECT 1, 2::int8, 'x'::text, 1.5::float8, true, NULL::int4").fetchone()
        assert row == (1, 2, "x", 1.5, True, None)
        assert [d.name for d in cur.description or []] == [
            "?column?", "int8", "text", "float8", "bool", "int4"
        ]


def test_column_names_follow_postgres(conn: psycopg.Connection) -> None:
    cur = conn.execute("SELECT 1 AS a, version(), current_database(), 7/2, 1 + 1")
    assert [d.name for d in cur.description or []] == [
        "a", "version", "current_database", "?column?", "?column?"
    ]
    a, version, db, half, two = cur.fetchone()  # type: ignore[misc]
    assert a == 1
    assert version.startswith("PostgreSQL 15")
    assert db == "laminar"
    assert half == 3  # integer division, as in PostgreSQL
    assert two == 2


def test_parameters_round_trip(conn: psycopg.Connection) -> None:
    values = [
        42,
        -(2**40),
        1.25,
        "héllo",
        True,
        decimal.Decimal("123.4500"),
        dt.date(2024, 2, 29),
        dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        b"\x00\x01\xff",
    ]
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        for value in values:
            got = cur.execute("SELECT %s", [value]).fetchone()
            assert got is not None and got[0] == value, (binary, value, got)


def test_values_and_generate_series(conn: psycopg.Connection) -> None:
    assert conn.execute("VALUES (1, 'a'), (2, 'b')").fetchall() == [(1, "a"), (2, "b")]
    rows = conn.execute("SELECT * FROM generate_series(1, 5) AS g(x) WHERE x % 2 = 1").fetchall()
    assert rows == [(1,), (3,), (5,)]


def test_large_result_streams(conn: psycopg.Connection) -> None:
    total = conn.execute("SELECT count(*), sum(x) FROM generate_series(1, 200000) g(x)").fetchone()
    assert total == (200000, 20000100000)
    cur = conn.execute("SELECT x, x * 2 FROM generate_series(1, 50000) g(x)")
    rows = cur.fetchall()
    assert len(rows) == 50000 and rows[-1] == (50000, 100000)
    assert cur.rowcount == 50000


def test_errors_leave_connection_usable(conn: psycopg.Connection) -> None:
    with pytest.raises(errors.SyntaxError) as info:
        conn.execute("SELEC 1")
    assert info.value.sqlstate == "42601"
    assert info.value.diag.statement_position == "1"
    with pytest.raises(errors.UndefinedTable):
        conn.execute("SELECT * FROM no_such_table")
    assert conn.execute("SELECT 2").fetchone() == (2,)


def test_transactions(server: LaminarServer) -> None:
    with psycopg.connect(server.dsn) as conn:  # not autocommit: psycopg sends BEGIN
        statuses = []
        conn.execute("SELECT 1")
        statuses.append(conn.info.transaction_status)
        with pytest.raises(errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        statuses.append(conn.info.transaction_status)
        assert statuses == [
            psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR
        ]
        with pytest.raises(errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT 3").fetchone() == (3,)
        conn.commit()


def test_set_show_reset(conn: psycopg.Connection) -> None:
    conn.execute("SET application_name = 'tour'")
    assert conn.info.parameter_status("application_name") == "tour"
    assert conn.execute("SHOW application_name").fetchone() == ("tour",)
    assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("tour",)
    conn.execute("SET extra_float_digits = 3")
    conn.execute("SET client_min_messages TO warning")
    conn.execute("RESET application_name")
    assert conn.info.parameter_status("application_name") == ""
    with pytest.raises(errors.UndefinedObject):
        conn.execute("SHOW no_such_setting")
    assert conn.execute("SHOW server_version").fetchone() == ("15.0",)


def test_server_side_cursor(server: LaminarServer) -> None:
    with psycopg.connect(server.dsn) as conn:
        with conn.cursor(name="big") as cur:
            cur.itersize = 1000
            cur.execute("SELECT x FROM generate_series(1, 10000) g(x)")
            seen = [r[0] for r in cur]
        assert seen == list(range(1, 10001))
        with conn.cursor(name="parts") as cur:
            cur.execute("SELECT x FROM generate_series(1, 10) g(x)")
            assert cur.fetchmany(3) == [(1,), (2,), (3,)]
            assert cur.fetchone() == (4,)
            assert cur.fetchall() == [(i,) for i in range(5, 11)]


def test_pipeline_mode(conn: psycopg.Connection) -> None:
    with conn.pipeline():
        curs = [conn.execute("SELECT %s::int4 * 2", [i]) for i in range(50)]
    assert [c.fetchone()[0] for c in curs] == [i * 2 for i in range(50)]  # type: ignore[index]


def test_prepared_statements(conn: psycopg.Connection) -> None:
    for i in range(10):
        assert conn.execute("SELECT %s::int8 + 1", [i], prepare=True).fetchone() == (i + 1,)
    conn.execute("PREPARE p(int4) AS SELECT $1 * 10")
    assert conn.execute("EXECUTE p(4)").fetchone() == (40,)
    conn.execute("DEALLOCATE p")
    with pytest.raises(errors.InvalidSqlStatementName):
        conn.execute("EXECUTE p(4)")


def test_copy_out_text_csv_binary(conn: psycopg.Connection) -> None:
    cur = conn.cursor()
    with cur.copy("COPY (SELECT x, 'a\tb' AS t, NULL::int4 AS n FROM generate_series(1, 3) g(x)) TO STDOUT") as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    # The query holds a real tab character: COPY's text format escapes it as \t.
    assert data == b"1\ta\\tb\t\\N\n2\ta\\tb\t\\N\n3\ta\\tb\t\\N\n"
    with cur.copy("COPY (SELECT 1 AS a, 'x,y' AS b, '' AS c) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    assert data == b'a,b,c\n1,"x,y",""\n'
    with cur.copy("COPY (SELECT x::int8, x::text FROM generate_series(1, 3) g(x)) TO STDOUT (FORMAT binary)") as copy:
        copy.set_types(["int8", "text"])
        rows = list(copy.rows())
    assert rows == [(1, "1"), (2, "2"), (3, "3")]


def test_empty_query_and_multiple_statements(server: LaminarServer) -> None:
    import subprocess

    out = subprocess.run(
        ["psql", "-X", "-A", "-t", "-h", server.host, "-p", str(server.port), "-U", "laminar",
         "-c", "SELECT 1; SELECT 'two'; ;"],
        capture_output=True, text=True, check=True, timeout=30,
    )
    assert out.stdout.split() == ["1", "two"]


def test_list_parameters_with_any_and_all(conn: psycopg.Connection, postgres: Any) -> None:
    """`col = ANY(%s)` with a Python list is how psycopg users write IN: the parameter is an
    array of the column's type (text[] when nothing says), as PostgreSQL infers it."""
    queries = [
        ("SELECT x FROM (VALUES ('a'), ('b'), ('c')) v(x) WHERE x = ANY(%s) ORDER BY x",
         (["a", "c"],)),
        ("SELECT x FROM (VALUES ('a'), ('b'), ('c')) v(x) WHERE x <> ALL(%s) ORDER BY x",
         (["a"],)),
        ("SELECT x FROM (VALUES (1), (2), (3)) v(x) WHERE x = ANY(%s) ORDER BY x", ([2, 3],)),
        ("SELECT %s = ANY(%s)", ("q", ["p", "q"])),
    ]
    with psycopg.connect(postgres.dsn, autocommit=True) as pg:
        for sql, params in queries:
            assert conn.execute(sql, params).fetchall() == pg.execute(sql, params).fetchall()
