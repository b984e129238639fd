"""Load: 200 concurrent psycopg AsyncConnections, each running 100 mixed queries, against
the shared server (one worker process).  Every answer is checked.

The mix per connection cycles (starting at a per-connection offset, so at any moment the
server sees all kinds at once) through: a simple-protocol SELECT of expressions, a
parameterised extended-protocol query, a small generate_series, SET + SHOW, a short
transaction, and an intentional error followed by a good query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from psycopg import errors

from laminar_pg.testing.server import LaminarServer

CONNECTIONS = 200
QUERIES_PER_CONNECTION = 100
CONNECT_TIMEOUT_S = 30

Step = Callable[[psycopg.AsyncConnection[tuple[object, ...]], int, int], Awaitable[None]]


async def simple_expressions(conn: psycopg.AsyncConnection[tuple[object, ...]], c: int, i: int) -> None:
    cur = await conn.execute(f"SELECT {c} + {i} AS s, 'c{c}' || 'q{i}' AS t, {i} % 7 = 0 AS b")
    assert await cur.fetchall() == [(c + i, f"c{c}q{i}", i % 7 == 0)]


async def parameterised(conn: psycopg.AsyncConnection[tuple[object, ...]], c: int, i: int) -> None:
    cur = await conn.execute("SELECT %s::int4 * %s::int4, %s::text || '!'", [c, i, f"x{c}"])
    assert await cur.fetchall() == [(c * i, f"x{c}!")]


async def small_series(conn: psycopg.AsyncConnection[tuple[object, ...]], c: int, i: int) -> None:
    n = (c + i) % 20 + 1
    cur = await conn.execute(f"SELECT x, x * x FROM generate_series(1, {n}) g(x)")
    assert await cur.fetchall() == [(x, x * x) for x in range(1, n + 1)]


async def set_and_show(conn: psycopg.AsyncConnection[tuple[object, ...]], c: int, i: int) -> None:
    await conn.execute(f"SET application_name = 'load_{c}_{i}'")
    cur = await conn.execute("SHOW application_name")
    assert await cur.fetchall() == [(f"load_{c}_{i}",)]


def transaction_status(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> psycopg.pq.TransactionStatus:
    return conn.info.transaction_status


async def short_transaction(conn: psycopg.AsyncConnection[tuple[object, ...]], c: int, i: int) -> None:
    async with conn.transaction():
        assert transaction_status(conn) == psycopg.pq.TransactionStatus.INTRANS
        cur = await conn.execute("SELECT %s::int8 + 1", [c * 1000 + i])
        assert await cur.fetchall() == [(c * 1000 + i + 1,)]
    assert transaction_status(conn) == psycopg.pq.TransactionStatus.IDLE


async def error_then_good(conn: psycopg.AsyncConnection[tuple[object, ...]], c: int, i: int) -> None:
    try:
        await conn.execute(f"SELECT {i} / 0")
    except errors.DivisionByZero as exc:
        assert exc.sqlstate == "22012"
    else:
        raise AssertionError("SELECT i / 0 did not fail")
    cur = await conn.execute("SELECT %s::int4 AS ok", [i])
    assert await cur.fetchall() == [(i,)]


STEPS: list[Step] = [
    simple_expressions, parameterised, small_series, set_and_show, short_transaction,
    error_then_good,
]


async def one_client(dsn: str, c: int) -> int:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    try:
        for i in range(QUERIES_PER_CONNECTION):
            step = STEPS[(c + i) % len(STEPS)]
            try:
                await step(conn, c, i)
            except Exception as exc:
                raise AssertionError(f"connection {c}, query {i} ({step.__name__}): {exc!r}") from exc
        return QUERIES_PER_CONNECTION
    finally:
        await conn.close()


async def run_load(dsn: str) -> list[int]:
    return await asyncio.gather(*(one_client(dsn, c) for c in range(CONNECTIONS)))


@pytest.mark.slow  # ~22 s on 2 cores
def test_200_connections_100_mixed_queries_each(server: LaminarServer) -> None:
    # No time limit beyond a generous one against hangs: speed is bench/wire.py's business.
    done = asyncio.run(asyncio.wait_for(run_load(server.dsn), timeout=600))
    assert done == [QUERIES_PER_CONNECTION] * CONNECTIONS
    # The server is still fine afterwards.
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

