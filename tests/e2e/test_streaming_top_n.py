"""Top-N views through a real client, against the batch oracle.

A table receives random inserts, updates and deletes; after each FLUSH every view must
hold what its SELECT returns as a batch query: ROW_NUMBER() <= N per partition (with the
row number as a column, and without), RANK() and DENSE_RANK() <= N (ties kept: their
orders are not total, and peers share a rank), ORDER BY ... LIMIT / OFFSET, DISTINCT ON,
a top-N over an aggregate, and a top-N over a join. Every ROW_NUMBER and LIMIT order is
total (it ends with the key), so the batch answer is unique.
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


def test_top_n_views_follow_random_changes(conn: psycopg.Connection[Any]) -> None:
    t, g = unique("t"), unique("groups")
    conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, g text, v int, s text)")
    conn.execute(f"CREATE TABLE {g} (g text PRIMARY KEY, label text)")
    conn.execute(f"INSERT INTO {g} VALUES ('a', 'first'), ('b', 'second'), ('c', 'third')")
    views = {
        "per_group": f"SELECT * FROM (SELECT id, g, v, ROW_NUMBER() OVER (PARTITION BY g "
                     f"ORDER BY v DESC, id) AS rn FROM {t}) x WHERE rn <= 2",
        "first_only": f"SELECT id, g FROM (SELECT id, g, ROW_NUMBER() OVER (PARTITION BY g "
                      f"ORDER BY s NULLS FIRST, id DESC) AS r FROM {t}) x WHERE r = 1",
        "limit": f"SELECT id, v FROM {t} ORDER BY v DESC NULLS LAST, id LIMIT 3",
        "offset": f"SELECT id FROM {t} ORDER BY id LIMIT 2 OFFSET 2",
        "hidden_key": f"SELECT id, g FROM {t} ORDER BY v * -1, id LIMIT 4",
        "of_groups": f"SELECT g, n FROM (SELECT g, count(*) AS n, ROW_NUMBER() OVER "
                     f"(ORDER BY count(*) DESC, g) AS r FROM {t} GROUP BY g) x WHERE r <= 2",
        "distinct_on": f"SELECT DISTINCT ON (g) g, id, v FROM {t} ORDER BY g, v DESC, id",
        "distinct_on_two": f"SELECT DISTINCT ON (s, g) s, g, id FROM {t} "
                           f"ORDER BY g, s, id DESC",
        # ties are not broken: peers share a rank, and all peers of a kept rank stay
        "rank": f"SELECT * FROM (SELECT id, g, v, RANK() OVER (PARTITION BY g ORDER BY v "
                f"DESC) AS rk FROM {t}) x WHERE rk <= 2",
        "dense_rank": f"SELECT * FROM (SELECT id, s, v, DENSE_RANK() OVER (PARTITION BY s "
                      f"ORDER BY v NULLS FIRST) AS dr FROM {t}) x WHERE dr <= 3",
        "rank_of_groups": f"SELECT g, n, r FROM (SELECT g, count(*) AS n, RANK() OVER "
                          f"(ORDER BY count(*) DESC) AS r FROM {t} GROUP BY g) x "
                          f"WHERE r = 1",
        "of_join": f"SELECT label, id FROM (SELECT l.label, x.id, ROW_NUMBER() OVER "
                   f"(PARTITION BY l.label ORDER BY x.v, x.id) AS r FROM {t} x JOIN {g} l "
                   f"ON x.g = l.g) y WHERE r <= 1",
    }
    names = {label: unique(label) for label in views}
    for label, sql in views.items():
        conn.execute(f"CREATE MATERIALIZED VIEW {names[label]} AS {sql}")
    rng = random.Random(5)
    next_id = 1
    for _ in range(12):
        with conn.transaction():
            for _ in range(rng.randint(1, 15)):
                action = rng.random()
                if action < 0.55:
                    conn.execute(f"INSERT INTO {t} VALUES (%s, %s, %s, %s)",
                                 (next_id, rng.choice(["a", "b", "c", None]),
                                  rng.choice([None, *range(-5, 20)]),
                                  rng.choice([None, "x", "y", "zz"])))
                    next_id += 1
                elif action < 0.8:
                    conn.execute(f"UPDATE {t} SET v = v + %s WHERE id %% 4 = %s",
                                 (rng.randint(-10, 10), rng.randint(0, 3)))
                else:
                    conn.execute(f"DELETE FROM {t} WHERE id %% 5 = %s", (rng.randint(0, 4),))
        conn.execute("FLUSH")
        for label, sql in views.items():
            assert_same_rows(conn, names[label], sql)


@pytest.mark.parametrize(("sql", "sqlstate"), [
    ("SELECT id, ROW_NUMBER() OVER (ORDER BY v) AS r FROM {t}", "0A000"),
    ("SELECT * FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY v) AS r FROM {t}) x WHERE r > 2",
     "0A000"),
    ("SELECT * FROM (SELECT id, RANK() OVER (ORDER BY v) AS r FROM {t}) x WHERE r > 2",
     "0A000"),
    ("SELECT * FROM (SELECT id, NTILE(2) OVER (ORDER BY v) AS r FROM {t}) x WHERE r <= 2",
     "0A000"),
    ("SELECT id FROM {t} ORDER BY v LIMIT -1", "2201W"),
    ("SELECT id FROM {t} ORDER BY 3 LIMIT 1", "42P10"),
    ("SELECT DISTINCT ON (id) id, v FROM {t} ORDER BY v, id", "42P10"),
    ("SELECT DISTINCT ON (id) id, v FROM {t} ORDER BY id LIMIT 3", "0A000"),
])
def test_top_n_refusals(conn: psycopg.Connection[Any], sql: str, sqlstate: str) -> None:
    t = unique("t")
    conn.execute(f"CREATE TABLE {t} (id int, v int)")
    with pytest.raises(psycopg.Error) as info:
        conn.execute(f"CREATE MATERIALIZED VIEW {unique('v')} AS " + sql.format(t=t))
    assert info.value.sqlstate == sqlstate, info.value
    assert conn.execute("SELECT 1").fetchone() == (1,)
