"""pg8000, a pure-Python driver that speaks the extended protocol in text format."""

from __future__ import annotations

import datetime as dt
import decimal

import pg8000.native
import pytest

from laminar_pg.testing.server import LaminarServer


def test_pg8000_queries_params_and_errors(server: LaminarServer) -> None:
    conn = pg8000.native.Connection("laminar", host=server.host, port=server.port, database="laminar")
    try:
        assert conn.run("SELECT 1 + 1") == [[2]]
        assert conn.run("SELECT :a::int8 * 2, :b::text", a=21, b="x") == [[42, "x"]]
        row = conn.run("SELECT CAST(:d AS numeric), CAST(:t AS timestamp), CAST(:dd AS date)",
                       d=decimal.Decimal("1.50"), t=dt.datetime(2021, 5, 6, 7, 8, 9), dd=dt.date(2021, 5, 6))
        assert row == [[decimal.Decimal("1.50"), dt.datetime(2021, 5, 6, 7, 8, 9), dt.date(2021, 5, 6)]]
        assert conn.run("VALUES (1, 'a'), (2, NULL)") == [[1, "a"], [2, None]]
        with pytest.raises(pg8000.native.DatabaseError) as info:
            conn.run("SELECT * FROM missing_table")
        assert info.value.args[0]["C"] == "42P01"
        assert conn.run("SELECT 'ok'") == [["ok"]]
        conn.run("BEGIN")
        assert conn.run("SELECT 5") == [[5]]
        conn.run("COMMIT")
        assert conn.run("SELECT 'a' AS x") == [["a"]] and conn.columns[0]["name"] == "x"
    finally:
        conn.close()
