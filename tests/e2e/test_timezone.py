"""The session TimeZone shapes timestamptz input and output exactly as in PostgreSQL 15."""

from __future__ import annotations

import psycopg
import pytest

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer

QUERIES = [
    "SELECT '2024-01-01 12:00:00+00'::timestamptz::text",
    "SELECT '2024-06-01 00:00:00'::timestamptz::text",
    "SELECT '2024-01-01 12:00'::timestamp::text",
]
ZONES = ["UTC", "Asia/Kolkata", "America/New_York", "Europe/Paris"]


def answers(dsn: str, zone: str) -> list[object]:
    out: list[object] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET TimeZone = '{zone}'")
        out.append(conn.info.parameter_status("TimeZone"))
        for sql in QUERIES:
            row = conn.execute(sql).fetchone()
            out.append(row[0] if row else None)
        # the text the wire sends for a timestamptz column (not cast in SQL)
        cur = conn.cursor()
        with cur.copy("COPY (SELECT '2024-07-01 12:00:00+00'::timestamptz) TO STDOUT") as copy:
            out.append(b"".join(bytes(b) for b in copy))
    return out


@pytest.mark.parametrize("zone", ZONES)
def test_timestamptz_follows_timezone(
    zone: str, server: LaminarServer, postgres: PostgresServer
) -> None:
    assert answers(server.dsn, zone) == answers(postgres.dsn, zone)
