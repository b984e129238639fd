"""The one-pass reader of INSERT ... VALUES of literals (sql/literal_insert.py)."""

from __future__ import annotations

import pytest

from laminar_pg.sql.literal_insert import scan


def test_reads_rows_column_wise_with_kinds() -> None:
    rows = scan("INSERT INTO t1(e,c,b) VALUES(NULL,102,'it''s'), (-1.5e3, +7, '')")
    assert rows is not None
    assert rows.table == ["t1"]
    assert rows.columns == ["e", "c", "b"]
    assert rows.values == [[None, "-1.5e3"], ["102", "+7"], ["it's", ""]]
    assert rows.kinds == [{"null", "number"}, {"integer"}, {"string"}]


def test_names_fold_like_postgresql() -> None:
    rows = scan('insert into "My Schema".Tab ("Col", other) values (TRUE, false);')
    assert rows is not None
    assert rows.table == ["My Schema", "tab"]
    assert rows.columns == ["Col", "other"]
    assert rows.values == [["true"], ["false"]]
    assert rows.kinds == [{"boolean"}, {"boolean"}]


def test_no_column_list() -> None:
    rows = scan("INSERT INTO t VALUES (1)")
    assert rows is not None and rows.columns is None and rows.values == [["1"]]


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES (1, now())",  # an expression
    "INSERT INTO t VALUES (E'a\\nb')",  # escape string
    "INSERT INTO t VALUES ('1'::int)",  # a cast
    "INSERT INTO t VALUES ($1, $2)",  # parameters
    "INSERT INTO t VALUES (DEFAULT)",
    "INSERT INTO t VALUES (1) RETURNING *",
    "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
    "INSERT INTO t VALUES (1), (1, 2)",  # ragged rows: PostgreSQL's error, not ours to give
    "INSERT INTO t VALUES (1); SELECT 1",  # two statements
    "INSERT INTO t VALUES (1) -- comment",
    "INSERT INTO t SELECT 1",
    "INSERT INTO t VALUES (1",
    "INSERT INTO t VALUES (nulls)",
    "INSERT INTO t VALUES ('unterminated)",
])
def test_anything_else_takes_the_general_path(sql: str) -> None:
    assert scan(sql) is None
