"""asyncpg: prepared statements (binary protocol) and every wire type through SELECT $1::type."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import uuid
from typing import Any

import asyncpg
import pytest

from laminar_pg.testing.server import LaminarServer

UTC = dt.UTC

# (type, value sent, value expected back); asyncpg encodes and decodes binary.
ROUND_TRIPS: list[tuple[str, Any, Any]] = [
    ("bool", True, True),
    ("int2", -32768, -32768),
    ("int4", 2147483647, 2147483647),
    ("int8", -(2**63), -(2**63)),
    ("float4", 1.5, 1.5),
    ("float8", 1e300, 1e300),
    ("numeric", decimal.Decimal("-12345678901234567890.000123"), decimal.Decimal("-12345678901234567890.000123")),
    ("text", "héllo wörld", "héllo wörld"),
    ("varchar", "v", "v"),
    ("bpchar", "c", "c"),
    ("name", "pg_name", "pg_name"),
    ("bytea", b"\x00\xffabc", b"\x00\xffabc"),
    ("date", dt.date(1999, 12, 31), dt.date(1999, 12, 31)),
    ("time", dt.time(23, 59, 58, 123456), dt.time(23, 59, 58, 123456)),
    ("timestamp", dt.datetime(2020, 2, 29, 12, 0, 1, 5), dt.datetime(2020, 2, 29, 12, 0, 1, 5)),
    ("timestamptz", dt.datetime(2020, 2, 29, 12, 0, 1, tzinfo=UTC), dt.datetime(2020, 2, 29, 12, 0, 1, tzinfo=UTC)),
    ("interval", dt.timedelta(days=3, seconds=7, microseconds=9), dt.timedelta(days=3, seconds=7, microseconds=9)),
    ("uuid", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
    ("json", json.dumps({"a": [1, 2]}), json.dumps({"a": [1, 2]})),
    ("jsonb", json.dumps({"a": 1}), json.dumps({"a": 1})),
    ("oid", 4294967295, 4294967295),
    ("int4[]", [1, None, 3], [1, None, 3]),
    ("text[]", ["a", "b c", None, ""], ["a", "b c", None, ""]),
    ("float8[]", [1.5, -2.0], [1.5, -2.0]),
    ("bool[]", [True, False], [True, False]),
    ("int8[]", [2**40], [2**40]),
    ("date[]", [dt.date(2020, 1, 1)], [dt.date(2020, 1, 1)]),
]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


ROUND_TRIP_PARAMS = [
    pytest.param(*r, id=r[0])
    for r in ROUND_TRIPS
]


@pytest.mark.parametrize(("pgtype", "sent", "expected"), ROUND_TRIP_PARAMS)
def test_type_round_trip(server: LaminarServer, pgtype: str, sent: Any, expected: Any) -> None:
    async def go() -> Any:
        conn = await asyncpg.connect(host=server.host, port=server.port, user="laminar", database="laminar")
        try:
            stmt = await conn.prepare(f"SELECT $1::{pgtype} AS v")
            assert stmt.get_attributes()[0].type.name == pgtype.replace("[]", "").replace("bpchar", "bpchar") or pgtype.endswith("[]")
            return await stmt.fetchval(sent)
        finally:
            await conn.close()

    assert run(go()) == expected


def test_prepared_statement_reuse_and_many_rows(server: LaminarServer) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(host=server.host, port=server.port, user="laminar", database="laminar")
        try:
            stmt = await conn.prepare("SELECT x, x::text || $1 AS s FROM generate_series(1, $2::int8) g(x)")
            rows = await stmt.fetch("!", 1000)
            assert len(rows) == 1000 and rows[-1]["s"] == "1000!"
            assert await stmt.fetchval("?", 3, column=1) == "1?"
            async with conn.transaction():
                got = [r["x"] async for r in stmt.cursor("", 2500, prefetch=100)]
            assert got == list(range(1, 2501))
            assert await conn.fetchval("SELECT $1::int4 + $2::int4", 2, 3) == 5
            with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
                await conn.fetchval("SELECT 1 / $1::int4", 0)
            assert await conn.fetchval("SELECT 'still fine'") == "still fine"
        finally:
            await conn.close()

    run(go())


def test_concurrent_connections(server: LaminarServer) -> None:
    async def one(i: int) -> int:
        conn = await asyncpg.connect(host=server.host, port=server.port, user="laminar", database="laminar")
        try:
            return int(await conn.fetchval("SELECT $1::int4 * 2", i))
        finally:
            await conn.close()

    async def go() -> list[int]:
        return list(await asyncio.gather(*(one(i) for i in range(20))))

    assert run(go()) == [i * 2 for i in range(20)]
