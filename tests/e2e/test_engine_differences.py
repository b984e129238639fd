"""Where DuckDB, left alone, answers differently from PostgreSQL 15 (the tables issue's
list): each query runs on both servers and must give the same column types and values,
or the same SQLSTATE. What laminar_pg does not fix yet is a strict xfail naming the
difference (docs/sql.md lists them), so a fix shows up as an unexpected pass."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer

_NUMERIC = "avg, numeric literal division and extract are float8 / int8, not numeric"


def _known(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


CASES = [
    pytest.param("SELECT 7 / 2, -7 / 2, 7 % 3, 7.0 / 2 > 3", id="integer-division"),
    pytest.param("SELECT x FROM (VALUES (1), (NULL), (3)) v(x) ORDER BY x", id="nulls-last-asc"),
    pytest.param("SELECT x FROM (VALUES (1), (NULL), (3)) v(x) ORDER BY x DESC",
                 id="nulls-first-desc"),
    pytest.param("SELECT x FROM (VALUES (1), (NULL), (3)) v(x) ORDER BY x DESC NULLS LAST",
                 id="explicit-nulls-last-desc"),
    pytest.param("SELECT x FROM (VALUES (1), (NULL), (3)) v(x) ORDER BY x NULLS FIRST",
                 id="explicit-nulls-first-asc"),
    pytest.param("SELECT avg(x) FROM (VALUES (1), (2), (4)) v(x)", id="avg-of-integers",
                 marks=_known(_NUMERIC)),
    pytest.param("SELECT 1.5 + 1, 0.1 * 3, 2::numeric * 3", id="numeric-literal-arithmetic"),
    pytest.param("SELECT 10.0 / 4", id="numeric-literal-division", marks=_known(_NUMERIC)),
    pytest.param("SELECT extract(year FROM DATE '2024-03-01')", id="extract",
                 marks=_known(_NUMERIC)),
    pytest.param("SELECT 1 / 0", id="integer-division-by-zero"),
    pytest.param("SELECT 1.0 / 0", id="numeric-division-by-zero"),
    pytest.param("SELECT 1::float8 / 0", id="float-division-by-zero"),
    pytest.param("SELECT 1e308::float8 * 10", id="float-overflow",
                 marks=_known("float overflow gives Infinity instead of 22003")),
    pytest.param("SELECT round(2.5), round(2.345, 2), round(-2.5)", id="round-numeric"),
    pytest.param("SELECT round(2.5::float8), round(-2.5::float8), round(3.5::float8)",
                 id="round-float8-half-even"),
    pytest.param("SELECT '1' + 1", id="untyped-literal-arithmetic",
                 marks=_known("an untyped string literal in arithmetic is an error")),
    pytest.param("SELECT 'ab'::char(4)", id="char-padding",
                 marks=_known("char(n) does not pad with spaces")),
    pytest.param("SELECT 1::numeric, 1.0::numeric, 1.50::numeric", id="numeric-scale"),
    pytest.param("SELECT 1.23456789012345678901::numeric", id="numeric-keeps-every-digit"),
    pytest.param("SELECT g FROM generate_series(1, 3) g", id="generate-series-from"),
    pytest.param("SELECT generate_series(1, 3)", id="generate-series-select-list"),
    pytest.param("SELECT generate_series(1, 3) * 2 AS g, 'x'", id="generate-series-expression"),
    pytest.param("SELECT length('abc'), position('b' IN 'abc'), char_length('é')",
                 id="int4-functions"),
    pytest.param("SELECT count(*), min(x), max(x) FROM (VALUES (1), (2)) v(x)",
                 id="count-min-max"),
    pytest.param("SELECT sum(x) FROM (VALUES (1), (2)) v(x)", id="sum-of-int4",
                 marks=_known("sum of int4 outside a single-table query (here over VALUES) "
                              "is numeric (DuckDB's HUGEINT), not int8")),
    pytest.param("SELECT 'a_c' LIKE 'a\\_c', 'abc' LIKE 'a\\_c'", id="like-backslash-escape"),
    pytest.param("SELECT 'on'::boolean, 'off'::boolean, ' yes '::boolean", id="boolean-input"),
    pytest.param("SELECT 'x' || NULL, concat('x', NULL)", id="string-concat-null"),
]


def _answer(dsn: str, sql: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            cur = conn.execute(sql)
        except psycopg.Error as exc:
            return ("error", exc.sqlstate)
        return ([d.type_code for d in cur.description or []], cur.fetchall())


@pytest.mark.parametrize("sql", CASES)
def test_same_answer_as_postgres(sql: str, server: LaminarServer,
                                 postgres: PostgresServer) -> None:
    assert _answer(server.dsn, sql) == _answer(postgres.dsn, sql)
