"""Sources, streams and materialized views through a real client.

The oracle: after FLUSH, a view holds exactly what the same SELECT gives when run as a
batch query (on the embedded SQL engine, through the same server) over everything its
inputs received. Tables get random inserts, updates and deletes; nexmark sources are
bounded and read to their end (the batch side loads the very same events into a table).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
import sqlglot
from psycopg import errors
from sqlglot import exp

from laminar_pg.engine.sources import make_generator
from laminar_pg.sql.dialect import Laminar
from laminar_pg.testing.crash_workload import (
    NEXMARK_TABLES,
    bag,
    nexmark_columns,
    nexmark_events_of,
)
from laminar_pg.testing.server import LaminarServer

NEXMARK_DIR = Path(__file__).resolve().parents[2] / "sql_tests" / "nexmark"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def conn(server: LaminarServer) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        yield connection


def assert_same_rows(conn: psycopg.Connection[Any], view: str, batch_sql: str) -> int:
    got = conn.execute(f"SELECT * FROM {view}").fetchall()
    want = conn.execute(batch_sql).fetchall()
    got_bag, want_bag = bag(got), bag(want)
    if got_bag != want_bag:
        missing = list((want_bag - got_bag).items())[:5]
        extra = list((got_bag - want_bag).items())[:5]
        raise AssertionError(f"{view}: {len(got)} rows, batch {len(want)}; "
                             f"missing {missing}; extra {extra}")
    return len(got)


def select_of(definition: str) -> exp.Expr:
    tree = sqlglot.parse_one(definition, dialect=Laminar)
    query = tree.args["expression"]
    assert isinstance(query, exp.Expr)
    return query


def renamed(query: exp.Expr, names: dict[str, str]) -> str:
    """The query reading other relations: table names and the relation argument of a
    window table function."""
    query = query.copy()
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier) and table.name in names:
            table.set("this", exp.to_identifier(names[table.name]))
        elif isinstance(table.this, exp.Anonymous):
            first = table.this.expressions[0]
            if isinstance(first, exp.Column) and first.name in names:
                first.set("this", exp.to_identifier(names[first.name]))
    return query.sql(dialect=Laminar)


def wait_finished(conn: psycopg.Connection[Any], source: str, timeout: float = 120) -> None:
    """Wait until every reader of a bounded source has read it to its end."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute("SELECT status FROM laminar_catalog.source_metrics WHERE name = %s",
                           (source,)).fetchone()
        if row is not None and row[0] == "finished":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"source {source} did not finish: {row}")
        time.sleep(0.05)


# ---------------------------------------------------------------- views over tables


def test_views_over_a_table_follow_random_changes(conn: psycopg.Connection[Any]) -> None:
    t = unique("t")
    conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, g int, v bigint, s text, f double precision)")
    conn.execute(f"INSERT INTO {t} VALUES (1, 1, 10, 'a', 1.5), (2, 1, 20, 'b', NULL), "
                 "(3, 2, NULL, NULL, 2.25)")
    views = {
        "grouped": f"SELECT g, count(*) AS n, count(v) AS nv, sum(v) AS sv, min(v) AS lo, "
                   f"max(v) AS hi, min(s) AS first_s, max(s) AS last_s, count(DISTINCT s) AS ds, "
                   f"sum(f) AS sf FROM {t} GROUP BY g",
        "filtered": f"SELECT id, v * 2 AS double_v, upper(s) AS s FROM {t} WHERE v > 15 OR s = 'a'",
        "total": f"SELECT count(*) AS n, sum(v) AS sv, max(v) AS hi, bool_or(v > 100) AS big FROM {t}",
        "distinct_g": f"SELECT DISTINCT g FROM {t}",
        "having": f"SELECT g, count(*) AS n FROM {t} GROUP BY g HAVING count(*) > 1",
    }
    names = {}
    for label, sql in views.items():
        names[label] = unique(label)
        conn.execute(f"CREATE MATERIALIZED VIEW {names[label]} AS {sql}")
    # a view created over a table that holds rows starts from them
    for label, sql in views.items():
        assert_same_rows(conn, names[label], sql)
    rng = random.Random(7)
    next_id = 4
    for _ in range(12):
        with conn.transaction():
            for _ in range(rng.randint(1, 15)):
                action = rng.random()
                if action < 0.5:
                    conn.execute(f"INSERT INTO {t} VALUES (%s, %s, %s, %s, %s)",
                                 (next_id, rng.randint(0, 4),
                                  rng.choice([None, rng.randint(-50, 200)]),
                                  rng.choice([None, "a", "b", "c", "dd"]),
                                  rng.choice([None, rng.random() * 10])))
                    next_id += 1
                elif action < 0.8:
                    conn.execute(f"UPDATE {t} SET v = v + %s, g = %s WHERE id %% 3 = %s",
                                 (rng.randint(-30, 30), rng.randint(0, 4), rng.randint(0, 2)))
                else:
                    conn.execute(f"DELETE FROM {t} WHERE id %% 5 = %s", (rng.randint(0, 4),))
        conn.execute("FLUSH")
        for label, sql in views.items():
            assert_same_rows(conn, names[label], sql)
    conn.execute(f"TRUNCATE {t}")
    conn.execute("FLUSH")
    for label, sql in views.items():
        assert_same_rows(conn, names[label], sql)
    assert conn.execute(f"SELECT n, sv FROM {names['total']}").fetchall() == [(0, None)]


def test_cascading_views_and_union(conn: psycopg.Connection[Any]) -> None:
    t, a, b, c = unique("t"), unique("a"), unique("b"), unique("c")
    conn.execute(f"CREATE TABLE {t} (k int, v int)")
    conn.execute(f"INSERT INTO {t} VALUES (1, 1), (1, 2), (2, 5)")
    conn.execute(f"CREATE MATERIALIZED VIEW {a} AS SELECT k, sum(v) AS s FROM {t} GROUP BY k")
    conn.execute(f"CREATE MATERIALIZED VIEW {b} AS SELECT count(*) AS groups, sum(s) AS total FROM {a}")
    conn.execute(f"CREATE MATERIALIZED VIEW {c} AS SELECT k FROM {t} WHERE v > 1 "
                 f"UNION ALL SELECT k FROM {a}")
    conn.execute(f"INSERT INTO {t} VALUES (3, 7), (1, 10)")
    conn.execute(f"DELETE FROM {t} WHERE k = 2")
    conn.execute("FLUSH")
    assert conn.execute(f"SELECT * FROM {b}").fetchall() == [(2, 20)]
    assert_same_rows(conn, c, f"SELECT k FROM {t} WHERE v > 1 UNION ALL "
                              f"SELECT k FROM (SELECT k, sum(v) AS s FROM {t} GROUP BY k) x")
    # every view reads the same epoch: a's total always matches b's
    for _ in range(5):
        rows = conn.execute(f"SELECT (SELECT sum(s) FROM {a}), (SELECT total FROM {b})").fetchone()
        assert rows is not None and rows[0] == rows[1]


# ---------------------------------------------------------------- nexmark oracle


NEXMARK_OPTIONS = {"connector": "nexmark", "nexmark.events": "100000", "nexmark.seed": "3",
                   "nexmark.event_gap": "10ms"}
def nexmark_events(table: str) -> pa.Table:
    return nexmark_events_of(table, {**NEXMARK_OPTIONS, "nexmark.table": table})


@pytest.mark.slow
def test_nexmark_views_equal_their_batch_answer(conn: psycopg.Connection[Any]) -> None:
    """Every query of sql_tests/nexmark over bounded person / auction / bid sources,
    against the same SELECT over tables holding the same events."""
    sources = {t: unique(t) for t in NEXMARK_TABLES}
    tables = {t: unique(f"{t}_batch") for t in NEXMARK_TABLES}
    for table, source in sources.items():
        options = ", ".join(f"{k} = '{v}'" for k, v in NEXMARK_OPTIONS.items())
        conn.execute(f"CREATE SOURCE {source} ({nexmark_columns(table)}, WATERMARK FOR "
                     f"date_time AS date_time - INTERVAL '4' SECOND) "
                     f"WITH ({options}, nexmark.table = '{table}')")
    queries = {}
    for path in sorted(NEXMARK_DIR.glob("q*.sql")):
        if path.name.endswith(".batch.sql"):
            continue
        query = select_of(path.read_text())
        view = unique(path.stem)
        definition = path.read_text().replace(f"nexmark_{path.stem}", view)
        conn.execute(renamed_definition(definition, sources))
        # a query the batch engine cannot run as written (SESSION windows) has a twin
        twin = path.with_name(f"{path.stem}.batch.sql")
        if twin.exists():
            query = sqlglot.parse_one(twin.read_text(), dialect=Laminar)
        queries[view] = (path.stem, renamed(query, tables))
    # the batch side: the same events, in tables
    counts = {}
    for table, name in tables.items():
        events = nexmark_events(table)
        counts[table] = events.num_rows
        conn.execute(f"CREATE TABLE {name} ({nexmark_columns(table)})")
        with conn.cursor().copy(f"COPY {name} FROM STDIN") as copy:
            for row in events.to_pylist():
                copy.write_row(list(row.values()))
    for source in sources.values():
        wait_finished(conn, source)
    conn.execute("FLUSH")
    for view, (name, batch_sql) in queries.items():
        count = assert_same_rows(conn, view, batch_sql)
        if name == "q7_window":
            assert count >= 100, f"only {count} windows closed"
        if name == "q0":
            assert count == counts["bid"]
        if name in ("q3", "q5", "q7", "q8", "q9", "q18", "q19", "q20"):
            assert count >= 20, f"{name}: only {count} rows joined"


def renamed_definition(definition: str, names: dict[str, str]) -> str:
    tree = sqlglot.parse_one(definition, dialect=Laminar)
    query = tree.args["expression"]
    tree.set("expression", sqlglot.parse_one(renamed(query, names), dialect=Laminar))
    return tree.sql(dialect=Laminar)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("sql", "sqlstate"), [
    ("CREATE SOURCE {x} (a int) WITH (connector = 'kafka')", "0A000"),
    ("CREATE SOURCE {x} (nope bigint) WITH (connector = 'nexmark', nexmark.table = 'bid')", "42703"),
    ("CREATE SOURCE {x} (price varchar) WITH (connector = 'nexmark', nexmark.table = 'bid')", "42804"),
    ("CREATE SOURCE {x} (price bigint) WITH (connector = 'nexmark', nexmark.table = 'bid', "
     "nexmark.bogus = '1')", "22023"),
    ("CREATE SOURCE {x} (price bigint)", "42601"),  # WITH (connector = ...) is required
])
def test_source_definition_errors(conn: psycopg.Connection[Any], sql: str, sqlstate: str) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql.format(x=unique("s")))
    assert info.value.sqlstate == sqlstate, info.value
    assert conn.execute("SELECT 1").fetchone() == (1,)


def make_bid_source(conn: psycopg.Connection[Any], events: int | None = 1000,
                    watermark: bool = True) -> str:
    name = unique("bid")
    wm = ", WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND" if watermark else ""
    limit = f", nexmark.events = '{events}'" if events is not None else ""
    conn.execute(f"CREATE SOURCE {name} (auction bigint, bidder bigint, price bigint, "
                 f"date_time timestamp{wm}) WITH (connector = 'nexmark', nexmark.table = 'bid'"
                 f"{limit})")
    return name


def test_streaming_refusals(conn: psycopg.Connection[Any]) -> None:
    bid = make_bid_source(conn, watermark=False)
    t = unique("t")
    conn.execute(f"CREATE TABLE {t} (a int)")
    cases = [
        (f"SELECT * FROM {bid}", "0A000"),
        (f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT max(price) FROM "
         f"TUMBLE({bid}, date_time, INTERVAL '10' SECOND) GROUP BY window_end EMIT ON WINDOW CLOSE",
         "0A000"),
        (f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT * FROM {bid} ORDER BY price LIMIT auction",
         "0A000"),
        (f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT * FROM {bid} FULL JOIN {t} ON true",
         "0A000"),
        (f"CREATE STREAM {unique('s')} AS SELECT auction, count(*) FROM {bid} GROUP BY auction",
         "0A000"),
        (f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT nope FROM {bid}", "42703"),
        (f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT auction FROM {unique('missing')}",
         "42P01"),
        (f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT auction, price FROM {bid} "
         f"GROUP BY auction", "42803"),
    ]
    for sql, sqlstate in cases:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql)
        assert info.value.sqlstate == sqlstate, (sql, info.value)
    with conn.transaction():
        with pytest.raises(errors.ActiveSqlTransaction):
            conn.execute(f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT auction FROM {bid}")
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_drop_with_dependents(conn: psycopg.Connection[Any]) -> None:
    bid = make_bid_source(conn)
    t = unique("t")
    conn.execute(f"CREATE TABLE {t} (a int)")
    s, v, w, tv = unique("s"), unique("v"), unique("w"), unique("tv")
    conn.execute(f"CREATE STREAM {s} AS SELECT auction, price FROM {bid} WHERE price > 100")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT auction, count(*) AS n FROM {s} GROUP BY auction")
    conn.execute(f"CREATE MATERIALIZED VIEW {w} AS SELECT sum(n) AS total FROM {v}")
    conn.execute(f"CREATE MATERIALIZED VIEW {tv} AS SELECT count(*) AS n FROM {t}")
    for sql in (f"DROP SOURCE {bid}", f"DROP STREAM {s}", f"DROP MATERIALIZED VIEW {v}",
                f"DROP TABLE {t}"):
        with pytest.raises(errors.DependentObjectsStillExist):
            conn.execute(sql)
    with pytest.raises(errors.WrongObjectType):
        conn.execute(f"DROP STREAM {v}")
    conn.execute(f"DROP TABLE {t} CASCADE")
    conn.execute(f"DROP SOURCE {bid} CASCADE")
    for name in (v, w, tv):
        with pytest.raises(errors.UndefinedTable):
            conn.execute(f"SELECT * FROM {name}")
    conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {v}")
    shown = {r[0] for r in conn.execute("SHOW MATERIALIZED VIEWS").fetchall()}
    assert not shown & {v, w, tv}


def test_emit_on_window_close_emits_each_window_once(conn: psycopg.Connection[Any]) -> None:
    bid = make_bid_source(conn, events=20_000)
    v = unique("v")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT window_start, count(*) AS n, "
                 f"max(price) AS hi FROM TUMBLE({bid}, date_time, INTERVAL '100' MILLISECOND) "
                 f"GROUP BY window_start EMIT ON WINDOW CLOSE")
    wait_finished(conn, bid)
    conn.execute("FLUSH")
    rows = conn.execute(f"SELECT window_start, n FROM {v}").fetchall()
    starts = [r[0] for r in rows]
    assert len(starts) == len(set(starts)) > 1
    read = conn.execute("SELECT rows FROM laminar_catalog.source_metrics WHERE name = %s",
                        (bid,)).fetchone()
    assert read is not None and sum(r[1] for r in rows) == read[0]


def test_views_survive_a_restart(own_server: LaminarServer) -> None:
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (k int, v int)")
        conn.execute("INSERT INTO t VALUES (1, 1), (2, 2), (2, 3)")
        conn.execute("CREATE MATERIALIZED VIEW totals AS SELECT k, sum(v) AS s FROM t GROUP BY k")
        conn.execute("CREATE SOURCE bid (auction bigint, price bigint) WITH "
                     "(connector = 'nexmark', nexmark.table = 'bid', nexmark.events = '5000')")
        conn.execute("CREATE MATERIALIZED VIEW bids AS SELECT count(*) AS n, sum(price) AS p FROM bid")
        wait_finished(conn, "bid")
        conn.execute("FLUSH")
        before = conn.execute("SELECT * FROM bids").fetchall()
    own_server.stop()
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        assert sorted(conn.execute("SELECT * FROM totals").fetchall()) == [(1, 1), (2, 5)]
        conn.execute("INSERT INTO t VALUES (1, 10)")
        conn.execute("FLUSH")
        assert sorted(conn.execute("SELECT * FROM totals").fetchall()) == [(1, 11), (2, 5)]
        wait_finished(conn, "bid")
        conn.execute("FLUSH")
        assert conn.execute("SELECT * FROM bids").fetchall() == before
        assert {r[0] for r in conn.execute("SHOW SOURCES").fetchall()} == {"bid"}
        assert {r[0] for r in conn.execute("SHOW MATERIALIZED VIEWS").fetchall()} == {"totals", "bids"}


def operator_rows(conn: psycopg.Connection[Any], view: str) -> dict[str, int]:
    rows = conn.execute("SELECT operator, rows_in FROM laminar_catalog.operator_metrics "
                        "WHERE view = %s ORDER BY operator_id", (view,)).fetchall()
    return {f"{i}:{name}": count for i, (name, count) in enumerate(rows)}


def test_work_is_incremental(conn: psycopg.Connection[Any]) -> None:
    """Each operator's rows in for an epoch are that epoch's changes, never a recompute."""
    t, v = unique("t"), unique("v")
    conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, g int, x int)")
    conn.execute(f"INSERT INTO {t} SELECT i, i % 10, i FROM generate_series(1, 5000) AS s(i)")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT g, sum(x) AS s FROM {t} "
                 f"WHERE x > 0 GROUP BY g")
    before = operator_rows(conn, v)
    entry = next(k for k in before if k.endswith(f"table {t}"))
    assert before[entry] == 5000  # the snapshot, once
    conn.execute(f"INSERT INTO {t} VALUES (6000, 3, 1), (6001, 4, 1)")
    conn.execute(f"UPDATE {t} SET x = x + 1 WHERE id = 7")
    conn.execute("FLUSH")
    after = operator_rows(conn, v)
    assert after[entry] - before[entry] == 4  # two inserts, one update = -old +new
    aggregate = next(k for k in after if k.endswith("hash_aggregate"))
    assert after[aggregate] - before[aggregate] == 4
    materialize = next(k for k in after if "materialize" in k)
    # three groups changed: each is a retraction and an insertion
    assert after[materialize] - before[materialize] == 6
    assert_same_rows(conn, v, f"SELECT g, sum(x) AS s FROM {t} WHERE x > 0 GROUP BY g")


@pytest.mark.slow
def test_reading_a_large_view_never_stalls_the_pipeline(conn: psycopg.Connection[Any]) -> None:
    """A view past a million rows is read again and again while its source runs at full
    speed: every read answers from a completed epoch (counts never go back), and the
    source keeps advancing between reads."""
    bid, v = unique("bid"), unique("v")
    conn.execute(f"CREATE SOURCE {bid} (auction bigint, bidder bigint, price bigint, "
                 f"date_time timestamp) WITH (connector = 'nexmark', nexmark.table = 'bid', "
                 f"nexmark.events = '4000000')")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT * FROM {bid}")
    counts: list[int] = []
    events: list[int] = []
    big_reads = 0
    while True:
        status = conn.execute("SELECT events, status FROM laminar_catalog.source_metrics "
                              "WHERE name = %s", (bid,)).fetchone()
        assert status is not None
        row = conn.execute(f"SELECT count(*), sum(price) > 0 FROM {v}").fetchone()
        assert row is not None
        counts.append(row[0])
        events.append(status[0])
        if status[1] == "finished":
            break
        if row[0] >= 1_000_000:
            big_reads += 1
    assert counts == sorted(counts)
    assert big_reads >= 2, (counts, events)  # read at 1M+ rows while the source ran
    assert len(set(events)) >= 3  # and the source advanced meanwhile
    conn.execute("FLUSH")
    final = conn.execute(f"SELECT count(*) FROM {v}").fetchone()
    assert final is not None and final[0] == 4_000_000 // 50 * 46
    conn.execute(f"DROP SOURCE {bid} CASCADE")


def test_a_failing_view_fails_alone(conn: psycopg.Connection[Any]) -> None:
    t, bad, good, reader = unique("t"), unique("bad"), unique("good"), unique("reader")
    conn.execute(f"CREATE TABLE {t} (x int)")
    conn.execute(f"INSERT INTO {t} VALUES (1), (2)")
    conn.execute(f"CREATE MATERIALIZED VIEW {bad} AS SELECT 10 / x AS q FROM {t}")
    conn.execute(f"CREATE MATERIALIZED VIEW {reader} AS SELECT count(*) AS n FROM {bad}")
    conn.execute(f"CREATE MATERIALIZED VIEW {good} AS SELECT count(*) AS n FROM {t}")
    conn.execute(f"INSERT INTO {t} VALUES (0)")
    conn.execute("FLUSH")
    for view in (bad, reader):
        with pytest.raises(errors.DivisionByZero) as info:
            conn.execute(f"SELECT * FROM {view}")
        assert "division by zero" in str(info.value)
    assert conn.execute(f"SELECT n FROM {good}").fetchone() == (3,)
    # a view whose first contents already fail is not created
    with pytest.raises(errors.DivisionByZero):
        conn.execute(f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT 1 / x FROM {t}")
    conn.execute(f"DROP MATERIALIZED VIEW {bad} CASCADE")
    conn.execute(f"INSERT INTO {t} VALUES (5)")
    conn.execute("FLUSH")
    assert conn.execute(f"SELECT n FROM {good}").fetchone() == (4,)


def late_twin(times: list[int | None], delay: int) -> list[bool]:
    """DESIGN.md's rule, row by row: late when below the highest time seen earlier minus
    the delay (one split)."""
    highest: int | None = None
    late = []
    for t in times:
        if t is None:
            late.append(False)
            continue
        late.append(highest is not None and t < highest - delay)
        highest = t if highest is None else max(highest, t)
    return late


def test_late_events_are_dropped_and_counted(conn: psycopg.Connection[Any]) -> None:
    src, v = unique("gen"), unique("v")
    options = {"connector": "datagen", "datagen.rows": "20000", "datagen.split.num": "1",
               "fields.id.kind": "sequence", "fields.ts.max_past": "60s",
               "fields.ts.basetime": "2024-01-01 00:00:00", "fields.ts.seed": "9"}
    listed = ", ".join(f"{k} = '{val}'" for k, val in options.items())
    conn.execute(f"CREATE SOURCE {src} (id bigint, ts timestamp, WATERMARK FOR ts AS "
                 f"ts - INTERVAL '50' SECOND) WITH ({listed})")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT id FROM {src}")
    wait_finished(conn, src)
    conn.execute("FLUSH")
    generator = make_generator("datagen", [("id", pa.int64()), ("ts", pa.timestamp("us"))],
                               dict(options), 1)
    batch, _ = generator.read(0, 0, 20_000)
    times = batch.column(1).cast(pa.int64()).to_pylist()
    late = late_twin(times, 50_000_000)
    assert 0 < sum(late) < len(late)  # the case exercises the rule
    kept = {i for i, dropped in zip(batch.column(0).to_pylist(), late, strict=True) if not dropped}
    got = {r[0] for r in conn.execute(f"SELECT id FROM {v}").fetchall()}
    assert got == kept
    counted = conn.execute("SELECT late_events_dropped FROM laminar_catalog.source_metrics "
                           "WHERE name = %s", (src,)).fetchone()
    assert counted == (sum(late),)


def test_session_windows_emit_on_close_equal_emit_changes(conn: psycopg.Connection[Any]) -> None:
    bid, changes, final = unique("bid"), unique("changes"), unique("final")
    conn.execute(f"CREATE SOURCE {bid} (bidder bigint, date_time timestamp, WATERMARK FOR "
                 f"date_time AS date_time - INTERVAL '2' SECOND) WITH (connector = 'nexmark', "
                 f"nexmark.table = 'bid', nexmark.events = '30000', nexmark.event_gap = '5ms')")
    body = (f"SELECT bidder, count(*) AS n, window_start, window_end FROM {bid} "
            f"GROUP BY bidder, SESSION(date_time, INTERVAL '3' SECOND)")
    conn.execute(f"CREATE MATERIALIZED VIEW {changes} AS {body}")
    conn.execute(f"CREATE MATERIALIZED VIEW {final} AS {body} EMIT ON WINDOW CLOSE")
    wait_finished(conn, bid)
    conn.execute("FLUSH")
    rows = conn.execute(f"SELECT * FROM {changes}").fetchall()
    assert bag(rows) == bag(conn.execute(f"SELECT * FROM {final}").fetchall())
    assert sum(r[1] for r in rows) == 30_000 // 50 * 46
    assert all(r[3] > r[2] for r in rows)
    with pytest.raises(errors.FeatureNotSupported):
        t = unique("t")
        conn.execute(f"CREATE TABLE {t} (k int, ts timestamp)")
        conn.execute(f"CREATE MATERIALIZED VIEW {unique('v')} AS SELECT k, count(*) FROM {t} "
                     f"GROUP BY k, SESSION(ts, INTERVAL '1' SECOND)")


def test_show_create_and_columns(conn: psycopg.Connection[Any]) -> None:
    t, v, src = unique("t"), unique("v"), unique("src")
    conn.execute(f"CREATE TABLE {t} (a int NOT NULL, b text)")
    conn.execute(f"CREATE MATERIALIZED VIEW {v} AS SELECT a, count(*) AS n FROM {t} GROUP BY a")
    conn.execute(f"CREATE SOURCE {src} (auction bigint, date_time timestamp) "
                 f"WITH (connector = 'nexmark', nexmark.table = 'bid')")
    for prepare in (False, True):
        row = conn.execute(f"SHOW CREATE MATERIALIZED VIEW {v}", prepare=prepare).fetchone()
        assert row is not None and row[0] == f"public.{v}"
        assert row[1].startswith(f"CREATE MATERIALIZED VIEW {v} AS SELECT a, COUNT(*) AS n "
                                 f"FROM public.{t}")  # names as resolved at CREATE
        columns = conn.execute(f"SHOW COLUMNS FROM {v}", prepare=prepare).fetchall()
        assert [(c[0], c[2]) for c in columns] == [("a", "integer"), ("n", "bigint")]
    assert conn.execute(f"SHOW COLUMNS FROM {src}").fetchall() == [
        ("auction", True, "bigint"), ("date_time", True, "timestamp without time zone")]
    created = conn.execute(f"SHOW CREATE SOURCE {src}").fetchone()
    assert created is not None and "connector = 'nexmark'" in created[1]
    with pytest.raises(errors.UndefinedTable):
        conn.execute(f"SHOW CREATE SOURCE {v}")


def test_explain_create_shows_the_dataflow_and_creates_nothing(
        conn: psycopg.Connection[Any]) -> None:
    bid, v = unique("bid"), unique("v")
    conn.execute(f"CREATE SOURCE {bid} (auction bigint, price bigint, date_time timestamp, "
                 f"WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) WITH "
                 f"(connector = 'nexmark', nexmark.table = 'bid')")
    sql = (f"EXPLAIN CREATE MATERIALIZED VIEW {v} AS SELECT auction, count(*) AS n "
           f"FROM TUMBLE({bid}, date_time, INTERVAL '10' SECOND) WHERE price > 10 "
           f"GROUP BY auction, window_start EMIT ON WINDOW CLOSE")
    for prepare in (False, True):
        lines = [r[0] for r in conn.execute(sql, prepare=prepare).fetchall()]
        assert lines[0] == "materialize (auction, n)"
        assert [line.strip().split(" (")[0] for line in lines[1:]] == [
            "-> project", "-> hash_aggregate", "-> project", "-> filter", "-> window_assign",
            f"-> source {bid}"]
        assert "[emit on window close]" in lines[2]
        assert lines[-1].endswith("(auction, price, date_time)")  # the columns it reads
    with pytest.raises(errors.UndefinedTable):
        conn.execute(f"SELECT * FROM {v}")


def test_sources_generate_only_the_columns_a_view_reads(conn: psycopg.Connection[Any]) -> None:
    bid = unique("bid")
    conn.execute(f"CREATE SOURCE {bid} (auction bigint, bidder bigint, price bigint, "
                 f"channel varchar, url varchar, date_time timestamp, extra varchar, "
                 f"WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) "
                 f"WITH (connector = 'nexmark', nexmark.table = 'bid')")
    cases = {
        f"SELECT channel, count(*) AS n, count(DISTINCT bidder) AS b FROM {bid} GROUP BY channel":
            "(bidder, channel, date_time)",  # count(*) reads no column; the watermark's does
        f"SELECT * FROM {bid}": "(auction, bidder, price, channel, url, date_time, extra)",
        f"SELECT {bid}.price FROM {bid} WHERE auction > 3": "(auction, price, date_time)",
    }
    for query, columns in cases.items():
        lines = conn.execute(f"EXPLAIN CREATE MATERIALIZED VIEW {unique('v')} AS {query}"
                             ).fetchall()
        assert lines[-1][0].strip() == f"-> source {bid} {columns}", lines
