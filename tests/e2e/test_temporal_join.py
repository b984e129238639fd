"""Temporal joins: `stream JOIN table FOR SYSTEM_TIME AS OF PROCTIME()`.

Each row of the stream joins the table as it is when the row arrives; a later change of
the table does not rewrite rows already joined (the plain join beside it does, which is
the difference). A paced datagen source gives the stream; the test changes the table
while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from laminar_pg.testing.server import LaminarServer
from tests.e2e.test_streaming import unique


@pytest.fixture
def conn(server: LaminarServer) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        yield connection


def test_a_table_change_applies_to_later_rows_only(conn: psycopg.Connection[Any]) -> None:
    src, dim, temporal, plain, lefty = (unique(n) for n in
                                        ("gen", "dim", "temporal", "plain", "lefty"))
    conn.execute(f"CREATE SOURCE {src} (seq bigint) WITH (connector = 'datagen', "
                 f"fields.seq.kind = 'sequence', fields.seq.start = '1', "
                 f"fields.seq.end = '900', datagen.rows.per.second = '150')")
    conn.execute(f"CREATE TABLE {dim} (k int PRIMARY KEY, label text)")
    conn.execute(f"INSERT INTO {dim} VALUES (0, 'old0'), (1, 'old1')")
    on = "ON e.seq % 3 = d.k"
    conn.execute(f"CREATE MATERIALIZED VIEW {temporal} AS SELECT e.seq, d.label FROM {src} e "
                 f"JOIN {dim} FOR SYSTEM_TIME AS OF PROCTIME() AS d {on}")
    conn.execute(f"CREATE MATERIALIZED VIEW {plain} AS SELECT e.seq, d.label FROM {src} e "
                 f"JOIN {dim} AS d {on}")
    conn.execute(f"CREATE MATERIALIZED VIEW {lefty} AS SELECT e.seq, d.label FROM {src} e "
                 f"LEFT JOIN {dim} FOR SYSTEM_TIME AS OF PROCTIME() AS d {on}")
    deadline = time.monotonic() + 30
    while conn.execute(f"SELECT count(*) >= 30 FROM {lefty}").fetchone() != (True,):
        assert time.monotonic() < deadline, "the source never started"
        time.sleep(0.05)
    conn.execute(f"UPDATE {dim} SET label = 'new0' WHERE k = 0")
    conn.execute(f"INSERT INTO {dim} VALUES (2, 'new2')")
    conn.execute(f"DELETE FROM {dim} WHERE k = 1")
    deadline = time.monotonic() + 30
    while conn.execute(f"SELECT count(*) FROM {lefty}").fetchone() != (900,):
        assert time.monotonic() < deadline, "the source never finished"
        time.sleep(0.1)
    conn.execute("FLUSH")
    rows = dict(conn.execute(f"SELECT seq, label FROM {temporal}").fetchall())
    by_key: dict[int, list[tuple[int, str]]] = {0: [], 1: [], 2: []}
    for seq, label in sorted(rows.items()):
        by_key[seq % 3].append((seq, label))
    # key 0: old0 up to the update, new0 after it, never mixed back
    assert changes_once([label for _, label in by_key[0]], "old0", "new0")
    # key 1: joined while its row existed, those rows stay after its delete
    assert by_key[1] and {label for _, label in by_key[1]} == {"old1"}
    assert max(seq for seq, _ in by_key[1]) < 900 - 3
    # key 2: only rows that arrived after its insert
    assert by_key[2] and {label for _, label in by_key[2]} == {"new2"}
    assert min(seq for seq, _ in by_key[2]) > 3
    # the plain join rewrites the past: every row with the table as it is now
    now = dict(conn.execute(f"SELECT k, label FROM {dim}").fetchall())
    assert dict(conn.execute(f"SELECT seq, label FROM {plain}").fetchall()) == {
        seq: now[seq % 3] for seq in range(1, 901) if seq % 3 in now}
    # the left temporal join (its own reader of the source, so its own moments): every
    # row once; key 1 matched until its delete, then NULL; key 2 NULL until its insert
    left = sorted(conn.execute(f"SELECT seq, label FROM {lefty}").fetchall())
    assert [seq for seq, _ in left] == list(range(1, 901))
    assert changes_once([label for seq, label in left if seq % 3 == 0], "old0", "new0")
    assert changes_once([label for seq, label in left if seq % 3 == 1], "old1", None)
    assert changes_once([label for seq, label in left if seq % 3 == 2], None, "new2")


def changes_once(labels: list[str | None], before: str | None, after: str | None) -> bool:
    """`labels` is `before` a few times, then `after` to the end."""
    if after not in labels or labels[0] != before:
        return False
    switch = labels.index(after)
    return set(labels[:switch]) == {before} and set(labels[switch:]) == {after}


@pytest.mark.parametrize("sql", [
    "SELECT * FROM {dim} FOR SYSTEM_TIME AS OF PROCTIME()",
    "SELECT e.seq FROM {src} e JOIN {dim} FOR SYSTEM_TIME AS OF now() AS d ON e.seq = d.k",
    "SELECT e.seq FROM {src} e RIGHT JOIN {dim} FOR SYSTEM_TIME AS OF PROCTIME() AS d "
    "ON e.seq = d.k",
    "SELECT x.k FROM (SELECT k, count(*) AS c FROM {dim} GROUP BY k) x JOIN {dim} FOR "
    "SYSTEM_TIME AS OF PROCTIME() AS d ON x.k = d.k",
])
def test_temporal_join_refusals(conn: psycopg.Connection[Any], sql: str) -> None:
    src, dim = unique("gen"), unique("dim")
    conn.execute(f"CREATE SOURCE {src} (seq bigint) WITH (connector = 'datagen', "
                 f"fields.seq.kind = 'sequence', fields.seq.start = '1', "
                 f"fields.seq.end = '10')")
    conn.execute(f"CREATE TABLE {dim} (k int PRIMARY KEY, label text)")
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        conn.execute(f"CREATE MATERIALIZED VIEW {unique('v')} AS "
                     + sql.format(src=src, dim=dim))
    assert conn.execute("SELECT 1").fetchone() == (1,)
