"""Joins in materialized views, through a real client, against the batch oracle.

Three tables receive random inserts, updates (of join keys too) and deletes in
transactions; after each FLUSH every view must hold what its SELECT returns as a batch
query over the tables. The views cover inner, left, right and full outer joins, USING,
comma joins with the keys in WHERE, expression keys of different types, a residual
condition, three-way joins, a self-join, aggregates over joins and a join of views.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from laminar_pg.testing.server import LaminarServer
from tests.e2e.test_streaming import assert_same_rows, unique


@pytest.fixture
def conn(server: LaminarServer) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        yield connection


def test_join_views_follow_random_changes(conn: psycopg.Connection[Any]) -> None:
    u, o, c = unique("users"), unique("orders"), unique("cities")
    conn.execute(f"CREATE TABLE {u} (id int PRIMARY KEY, name text, city text, tier bigint)")
    conn.execute(f"CREATE TABLE {o} (oid int PRIMARY KEY, uid int, amount numeric(10,2), "
                 "note text)")
    conn.execute(f"CREATE TABLE {c} (city text PRIMARY KEY, country text)")
    conn.execute(f"INSERT INTO {u} VALUES (1, 'ann', 'paris', 1), (2, 'bob', 'rome', 2), "
                 "(3, 'cy', NULL, NULL)")
    conn.execute(f"INSERT INTO {o} VALUES (10, 1, 5.5, 'a'), (11, 1, 2, NULL), "
                 "(12, 2, 7, 'b'), (13, 9, 1, 'c')")
    conn.execute(f"INSERT INTO {c} VALUES ('paris', 'fr'), ('rome', 'it'), ('oslo', 'no')")
    views = {
        "inner": f"SELECT u.name, o.amount, o.oid FROM {u} u JOIN {o} o ON u.id = o.uid",
        "left": f"SELECT * FROM {u} u LEFT JOIN {o} o ON u.id = o.uid",
        "right": f"SELECT u.id, o.oid, o.note FROM {u} u RIGHT JOIN {o} o ON u.id = o.uid",
        "full": f"SELECT u.id, u.name, o.oid, o.amount FROM {u} u FULL JOIN {o} o "
                "ON u.id = o.uid",
        "using": f"SELECT * FROM {u} JOIN {c} USING (city)",
        "comma": f"SELECT name, oid FROM {u}, {o} WHERE {u}.id = {o}.uid AND amount > 3",
        "expr_keys": f"SELECT u.name, o.oid FROM {u} u JOIN {o} o "
                     "ON u.tier = o.uid::bigint + 0",
        "residual": f"SELECT u.id, o.oid FROM {u} u JOIN {o} o "
                    "ON u.id = o.uid AND o.amount > u.tier",
        "three_way": f"SELECT u.name, o.oid, c.country FROM {o} o JOIN {u} u ON o.uid = u.id "
                     f"LEFT JOIN {c} c ON c.city = u.city",
        "self": f"SELECT a.oid AS first, b.oid AS second FROM {o} a JOIN {o} b "
                "ON a.uid = b.uid AND a.oid < b.oid",
        "grouped": f"SELECT c.country, count(*) AS n, sum(o.amount) AS total, "
                   f"count(DISTINCT u.id) AS users FROM {o} o JOIN {u} u ON o.uid = u.id "
                   f"FULL JOIN {c} c ON u.city = c.city GROUP BY c.country",
    }
    names = {label: unique(label) for label in views}
    for label, sql in views.items():
        conn.execute(f"CREATE MATERIALIZED VIEW {names[label]} AS {sql}")
    # a join of two views (cascading)
    over = unique("over_views")
    conn.execute(f"CREATE MATERIALIZED VIEW {over} AS SELECT i.name, g.n FROM "
                 f"{names['inner']} i JOIN {names['grouped']} g ON i.amount = g.total")
    views["over"] = (f"SELECT i.name, g.n FROM ({views['inner']}) i "
                     f"JOIN ({views['grouped']}) g ON i.amount = g.total")
    names["over"] = over
    for label, sql in views.items():
        assert_same_rows(conn, names[label], sql)
    rng = random.Random(11)
    next_user, next_order = 4, 14
    cities = ["paris", "rome", "oslo", "lima", None]
    for _ in range(10):
        with conn.transaction():
            for _ in range(rng.randint(1, 12)):
                action = rng.random()
                if action < 0.25:
                    conn.execute(f"INSERT INTO {u} VALUES (%s, %s, %s, %s)",
                                 (next_user, rng.choice(["ann", "dee", "eve", None]),
                                  rng.choice(cities), rng.choice([None, 1, 2, 3, 12])))
                    next_user += 1
                elif action < 0.55:
                    conn.execute(f"INSERT INTO {o} VALUES (%s, %s, %s, %s)",
                                 (next_order, rng.choice([None, *range(1, next_user + 1)]),
                                  rng.choice([None, 1, 2.5, 7, 12]),
                                  rng.choice([None, "x", "y"])))
                    next_order += 1
                elif action < 0.7:
                    conn.execute(f"UPDATE {o} SET uid = %s WHERE oid %% 4 = %s",
                                 (rng.randint(1, next_user), rng.randint(0, 3)))
                elif action < 0.8:
                    conn.execute(f"UPDATE {u} SET city = %s, tier = tier + 1 WHERE id %% 3 = %s",
                                 (rng.choice(cities), rng.randint(0, 2)))
                elif action < 0.9:
                    conn.execute(f"DELETE FROM {u} WHERE id %% 5 = %s", (rng.randint(0, 4),))
                else:
                    conn.execute(f"DELETE FROM {o} WHERE oid %% 6 = %s", (rng.randint(0, 5),))
            if rng.random() < 0.3:
                conn.execute(f"UPDATE {c} SET country = upper(country) WHERE city = %s",
                             (rng.choice(cities),))
        conn.execute("FLUSH")
        for label, sql in views.items():
            assert_same_rows(conn, names[label], sql)
    conn.execute(f"DELETE FROM {o}")
    conn.execute("FLUSH")
    for label, sql in views.items():
        assert_same_rows(conn, names[label], sql)


@pytest.mark.parametrize(("sql", "sqlstate", "message"), [
    ("SELECT u.id FROM {u} u LEFT JOIN {o} o ON u.id = o.uid AND o.amount > 1", "0A000",
     "LEFT JOIN with a condition other than column equalities"),
    ("SELECT u.id FROM {u} u FULL JOIN {o} o ON true", "0A000", "FULL JOIN with a condition"),
    ("SELECT u.id FROM {u} u RIGHT JOIN {o} o USING (id)", "42703", "does not exist in right"),
    ("SELECT * FROM {u} NATURAL JOIN {o}", "0A000", "NATURAL JOIN"),
    ("SELECT oid FROM {o} a JOIN {o} b ON a.oid = b.uid", "42702",
     'column reference "oid" is ambiguous'),
    ("SELECT x.id FROM {u} u JOIN {o} o ON u.id = o.uid", "42P01",
     'missing FROM-clause entry for table "x"'),
    ("SELECT u.nope FROM {u} u JOIN {o} o ON u.id = o.uid", "42703", "u.nope does not exist"),
    ("SELECT * FROM {u} JOIN {o} USING (nope)", "42703", 'column "nope" specified in USING'),
    ("SELECT * FROM {u} a JOIN {o} a ON true", "42712", 'table name "a" specified more'),
    ("SELECT u.id FROM {u} u JOIN {o} o ON u.name = o.uid", "42804", "JOIN/ON"),
])
def test_join_errors(conn: psycopg.Connection[Any], sql: str, sqlstate: str,
                     message: str) -> None:
    u, o = unique("u"), unique("o")
    conn.execute(f"CREATE TABLE {u} (id int, name text)")
    conn.execute(f"CREATE TABLE {o} (oid int, uid int, amount int)")
    view = unique("v")
    with pytest.raises(psycopg.Error) as info:
        conn.execute(f"CREATE MATERIALIZED VIEW {view} AS " + sql.format(u=u, o=o))
    assert info.value.sqlstate == sqlstate, info.value
    assert message in str(info.value)
    # nothing was created, and the connection is usable
    assert conn.execute("SELECT count(*) FROM laminar_catalog.operator_metrics "
                        "WHERE view = %s", (view,)).fetchone() == (0,)


def test_a_join_view_keeps_its_definition_as_written(conn: psycopg.Connection[Any]) -> None:
    """The definition is logged and shown as written (table names qualified), and the same
    text planned again (a cached statement) plans the same."""
    a, b, view = unique("a"), unique("b"), unique("v")
    for _ in range(2):
        conn.execute(f"CREATE TABLE {a} (id int, name text)")
        conn.execute(f"CREATE TABLE {b} (x int)")
        conn.execute(f"INSERT INTO {a} VALUES (1, 'one'), (2, 'two')")
        conn.execute(f"INSERT INTO {b} VALUES (2)")
        conn.execute(f"CREATE MATERIALIZED VIEW {view} AS "
                     f"SELECT p.name FROM {a} p JOIN {b} q ON p.id = q.x")
        assert conn.execute(f"SELECT * FROM {view}").fetchall() == [("two",)]
        shown = conn.execute(f"SHOW CREATE MATERIALIZED VIEW {view}").fetchone()
        assert shown is not None
        assert f"JOIN public.{b} AS q ON p.id = q.x" in shown[-1], shown
        conn.execute(f"DROP MATERIALIZED VIEW {view}")
        conn.execute(f"DROP TABLE {a}, {b}")
