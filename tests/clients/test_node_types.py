"""node-postgres (pg 8.23.1) with its default pg-types parsers, laminar_pg against PostgreSQL 15.

node-postgres picks a parser by each result column's type OID (RowDescription), so arrays,
jsonb, timestamps and numeric reach the application as what PostgreSQL's OIDs make them:
arrays of numbers, parsed JSON objects, Date objects, numeric as strings. types_dump.js runs
the same queries on both servers and prints what the driver handed back (with each field's
dataTypeID); every query's answer must be equal. node-postgres sends no query of its own on
connect (startup parameters only), so connecting is covered by the dump running at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer
from tests.clients.test_node import NODE_DIR, require_node_pg

TIMEOUT_S = 120

QUERIES = [
    "int and text arrays", "float and numeric arrays", "timestamp arrays", "jsonb and json",
    "timestamps", "numeric and integers", "interval, bytea, uuid, bool", "table columns",
    "parameters",
]


def table_ddl(table: str) -> list[str]:
    return [
        f"CREATE TABLE {table} (id int PRIMARY KEY, a int4[], t text[], j jsonb, ts timestamp, "
        "tz timestamptz, n numeric(12,3), d date, f float8[])",
        f"INSERT INTO {table} VALUES (1, ARRAY[1,2], ARRAY['x','y'], '{{\"a\": [1, {{}}]}}', "
        "'2024-01-02 03:04:05.5', '2024-01-02 03:04:05.5+01', 12.5, '2024-03-01', "
        "ARRAY[0.5, -1]), (2, NULL, ARRAY[]::text[], 'null', NULL, NULL, NULL, NULL, NULL)",
    ]


def dump(host: str, port: int, user: str, database: str, table: str) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", "types_dump.js", host, str(port), user, database, table],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        env={**os.environ, "TZ": "UTC"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@dataclass(frozen=True)
class Dumps:
    laminar: dict[str, Any]
    postgres: dict[str, Any]


@pytest.fixture(scope="module")
def dumps(server: LaminarServer, postgres: PostgresServer) -> Iterator[Dumps]:
    require_node_pg()
    table = f"nt_{uuid.uuid4().hex[:8]}"
    for dsn in (server.dsn, postgres.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in table_ddl(table):
                conn.execute(statement)
    try:
        yield Dumps(dump(server.host, server.port, "laminar", "laminar", table),
                    dump(postgres.host, postgres.port, postgres.user, postgres.dbname, table))
    finally:
        for dsn in (server.dsn, postgres.dsn):
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP TABLE {table}")


def test_every_query_answered(dumps: Dumps) -> None:
    assert sorted(dumps.postgres) == sorted(QUERIES)
    assert all("error" not in v for v in dumps.postgres.values()), dumps.postgres


@pytest.mark.parametrize("query", QUERIES)
def test_same_parsed_values(dumps: Dumps, query: str) -> None:
    assert dumps.laminar[query] == dumps.postgres[query]


def test_parsers_were_used(dumps: Dumps) -> None:
    """The values compared above are parsed ones, not text: arrays are lists, jsonb an
    object, timestamps Dates, int8 and numeric strings (pg-types' defaults)."""
    arrays = dumps.postgres["int and text arrays"]["rows"][0]
    assert arrays[0] == [1, 2, None] and arrays[1] == ["1", "9007199254740993"]
    json_row = dumps.postgres["jsonb and json"]["rows"][0]
    assert json_row[0]["c"] == {"type": "object", "d": True}
    stamps = dumps.postgres["timestamps"]["rows"][0]
    assert stamps[1] == {"date": "2024-06-30T23:59:59.500Z"}
    assert dumps.postgres["numeric and integers"]["rows"][0][0] == "12345678901234567890.123456789"
