"""Errors raised inside the embedded engine carry PostgreSQL's SQLSTATE and message:
each case runs on laminar_pg and on a real PostgreSQL 15 and the two must agree."""

from __future__ import annotations

import psycopg
import pytest

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer

CASES = [
    "SELECT * FROM nosuch",
    "SELECT nosuchcol",
    "SELECT x FROM (VALUES (1)) a(x), (VALUES (2)) b(x)",
    "SELECT t.* FROM (VALUES (1)) s(x)",
    "SELECT (SELECT * FROM (VALUES (1), (2)) v(a))",
    "SELECT '2020-13-01'::date",
    "SELECT 'abc'::int",
    "SELECT 'x'::bigint",
    "SELECT 2147483647::int + 1",
    "SELECT 1 / 0",
]


def error_of(dsn: str, sql: str) -> tuple[str | None, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql)
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection lives on
    return info.value.sqlstate, str(info.value.diag.message_primary)


@pytest.mark.parametrize("sql", CASES)
def test_error_matches_postgres(sql: str, server: LaminarServer, postgres: PostgresServer) -> None:
    assert error_of(server.dsn, sql) == error_of(postgres.dsn, sql)


# PostgreSQL's message has details the engine does not give (argument types, the
# qualified column name): the SQLSTATE must agree.
SQLSTATE_ONLY = [
    ("SELECT nosuchfn(1)", "42883"),
    ("SELECT x, count(*) FROM (VALUES (1, 2)) t(x, y)", "42803"),
]


@pytest.mark.parametrize(("sql", "sqlstate"), SQLSTATE_ONLY)
def test_sqlstate_matches_postgres(
    sql: str, sqlstate: str, server: LaminarServer, postgres: PostgresServer
) -> None:
    assert error_of(server.dsn, sql)[0] == error_of(postgres.dsn, sql)[0] == sqlstate


def test_the_engines_file_functions_are_not_reachable(server: LaminarServer) -> None:
    """DuckDB's read_csv / read_parquet would read the server's files; PostgreSQL has no such
    functions, and the engine has no file system access (42501)."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for sql in ("SELECT * FROM read_csv('/etc/hostname')", "SELECT * FROM read_parquet('/etc/hostname')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        assert conn.execute("SELECT 1").fetchone() == (1,)
