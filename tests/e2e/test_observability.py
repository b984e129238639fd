"""Pipeline observability through real clients: the laminar_catalog system tables, SHOW,
EXPLAIN [ANALYZE] of running objects, the Prometheus endpoint, the live pipeline page
(rendered in headless Chromium) and its JSON, and the sample Grafana dashboard (issue 8).

The documented contract is docs/observability.md: every table there, with its columns
and types, is checked against what the server answers, so the two cannot drift. Figures
are checked against what the pipeline did: a bounded nexmark source of N events, read
to its end, must report N events, say finished, and hold its watermark at the end of
time; each view's row count must be a COUNT(*) of it; /metrics must say the same.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from laminar_pg.observability.http import Endpoints, respond
from laminar_pg.testing.server import LaminarServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
EVENTS = 20_000
TYPE_OIDS = {"text": 25, "bigint": 20, "double precision": 701, "numeric": 1700,
             "timestamp with time zone": 1184, "timestamp": 1114, "text[]": 1009, "boolean": 16}
TABLES = ("sources", "streams", "materialized_views", "tables", "sinks", "pipeline_metrics",
          "source_metrics", "view_metrics", "stream_metrics", "operator_metrics",
          "watermarks", "checkpoints", "sessions")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def documented_columns() -> dict[str, list[tuple[str, str]]]:
    """docs/observability.md: `### laminar_catalog.<table>` then a table whose rows start
    with | `column` | type |."""
    tables: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"^### `?laminar_catalog\.(\w+)`?", line)
        if heading:
            current = tables.setdefault(heading.group(1), [])
            continue
        if line.startswith("#"):
            current = None
            continue
        row = re.match(r"^\| `(\w+)` \| ([a-z \[\]]+?) \|", line)
        if row and current is not None:
            current.append((row.group(1), row.group(2)))
    return tables


@pytest.fixture
def conn(server: LaminarServer) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def metrics_server() -> Iterator[LaminarServer]:
    """A server of this module's own, with /metrics on a free port: its pipeline figures
    move only with what these tests do."""
    srv = LaminarServer(metrics=True).start()
    try:
        yield srv
    finally:
        srv.cleanup()


def wait_until(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...],
               want: Any, timeout: float = 120) -> None:
    """Poll a query until it returns `want` (a condition, not a duration)."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(sql, params).fetchone()
        if row is not None and row[0] == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql} {params}: {row}, waited for {want!r}")
        time.sleep(0.05)


def bounded_pipeline(conn: psycopg.Connection[Any], events: int = EVENTS) -> dict[str, str]:
    """A bounded nexmark bid source with a watermark, a stream over it, a view over the
    stream and a view over that view; read to its end and flushed."""
    names = {k: unique(k) for k in ("bid", "cheap", "per_auction", "busy")}
    conn.execute(
        f"CREATE SOURCE {names['bid']} (auction BIGINT, bidder BIGINT, price BIGINT, "
        "date_time TIMESTAMP, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) "
        f"WITH (connector = 'nexmark', nexmark.table = 'bid', nexmark.events = '{events}', "
        "nexmark.seed = '3', nexmark.splits = '2')")
    conn.execute(f"CREATE STREAM {names['cheap']} AS SELECT auction, price, date_time "
                 f"FROM {names['bid']} WHERE price < 5000")
    conn.execute(f"CREATE MATERIALIZED VIEW {names['per_auction']} AS SELECT auction, "
                 f"count(*) AS bids FROM {names['cheap']} GROUP BY auction")
    conn.execute(f"CREATE MATERIALIZED VIEW {names['busy']} AS SELECT auction FROM "
                 f"{names['per_auction']} WHERE bids > 3")
    wait_until(conn, "SELECT status FROM laminar_catalog.source_metrics WHERE name = %s",
               (names["bid"],), "finished")
    conn.execute("FLUSH")
    return names


# ---------------------------------------------------------------- the contract


def test_every_documented_table_answers_with_its_documented_columns_and_types(
        conn: psycopg.Connection[Any]) -> None:
    documented = documented_columns()
    assert set(documented) == set(TABLES)
    for table, columns in documented.items():
        cursor = conn.execute(f"SELECT * FROM laminar_catalog.{table} LIMIT 0")
        assert cursor.description is not None
        got = [(d.name, d.type_code) for d in cursor.description]
        want = [(name, TYPE_OIDS[kind]) for name, kind in columns]
        assert got == want, table


def test_every_table_reads_through_asyncpg_binary(server: LaminarServer) -> None:
    """asyncpg reads results in binary: arrays, timestamps and numerics all decode."""
    async def main() -> dict[str, list[asyncpg.Record]]:
        connection = await asyncpg.connect(server.url)
        try:
            return {t: await connection.fetch(f"SELECT * FROM laminar_catalog.{t}")
                    for t in TABLES}
        finally:
            await connection.close()

    with psycopg.connect(server.dsn, autocommit=True) as c:
        table = unique("t")
        c.execute(f"CREATE TABLE {table} (k int, v text)")
        c.execute(f"CREATE MATERIALIZED VIEW {table}_v AS SELECT k, count(*) AS n FROM {table} "
                  "GROUP BY k")
    found = asyncio.run(main())
    tables = {r["name"]: r for r in found["tables"]}
    assert tables[table]["columns"] == ["k", "v"]
    assert tables[table]["column_types"] == ["integer", "text"]
    assert tables[table]["dependents"] == [f"public.{table}_v"]
    assert len(found["pipeline_metrics"]) == 1
    assert found["sessions"], "the asyncpg session itself is connected"


# ---------------------------------------------------------------- figures


def test_a_finished_bounded_source_reports_what_the_pipeline_did(
        conn: psycopg.Connection[Any]) -> None:
    names = bounded_pipeline(conn)
    source = conn.execute(
        "SELECT events, rows, bytes, late_events_dropped, splits, readers, status, error, "
        "watermark = 'infinity'::timestamp, lag_seconds, events_per_second, parse_errors "
        "FROM laminar_catalog.source_metrics WHERE name = %s", (names["bid"],)).fetchone()
    assert source is not None
    events, rows, size, late, splits, readers, status, error, at_end, lag, rate, parse = source
    assert (events, splits, readers, status, error) == (EVENTS, 2, 1, "finished", None)
    assert at_end is True and lag is None
    assert rate == 0.0 and parse == 0
    assert 0 < rows <= EVENTS and size > 0
    # what the view's input received is every bid the source read, less the late ones
    view_in = conn.execute("SELECT rows_in FROM laminar_catalog.view_metrics WHERE name = %s",
                           (names["per_auction"],)).fetchone()
    assert view_in == (rows - late,)

    marks = conn.execute(
        "SELECT kind, split, watermark = 'infinity'::timestamp, lag_seconds "
        "FROM laminar_catalog.watermarks WHERE name IN (%s, %s) ORDER BY kind, split",
        (names["bid"], names["per_auction"])).fetchall()
    assert marks == [("materialized view", None, True, None), ("source", None, True, None),
                     ("source split", 0, True, None), ("source split", 1, True, None)]

    for view in (names["per_auction"], names["busy"]):
        count = conn.execute(f"SELECT count(*) FROM {view}").fetchone()
        figures = conn.execute(
            "SELECT row_count, rows_out >= row_count, status, freshness_seconds >= 0, "
            "last_update IS NOT NULL FROM laminar_catalog.view_metrics WHERE name = %s",
            (view,)).fetchone()
        assert figures == (count[0] if count else None, True, "running", True, True)

    stream = conn.execute(
        "SELECT readers, status, watermark = 'infinity'::timestamp, rows_in "
        "FROM laminar_catalog.stream_metrics WHERE name = %s", (names["cheap"],)).fetchone()
    assert stream == (1, "running", True, None)


def test_pipeline_totals_move_with_the_pipeline(own_server: LaminarServer) -> None:
    """On a server of its own, the pipeline's totals are exactly this test's."""
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        before = conn.execute("SELECT state, events_ingested, events_emitted, dataflows "
                              "FROM laminar_catalog.pipeline_metrics").fetchone()
        assert before == ("running", 0, 0, 0)
        names = bounded_pipeline(conn, events=5000)
        after = conn.execute(
            "SELECT events_ingested, events_emitted, dataflows, failed_dataflows, "
            "cycles >= 1, epoch >= 1, max_cycle_seconds >= mean_cycle_seconds, "
            "utilization BETWEEN 0 AND 1, backpressure, uptime_seconds > 0, "
            "checkpoints_completed = (SELECT count(*) FROM laminar_catalog.checkpoints "
            "WHERE status = 'completed'), busy_seconds > 0 FROM laminar_catalog.pipeline_metrics"
        ).fetchone()
        emitted = conn.execute(
            "SELECT sum(rows_out) FROM laminar_catalog.view_metrics").fetchone()
        assert after == (5000, emitted[0] if emitted else None, 2, 0, True, True, True, True,
                         0.0, True, True, True)
        operators = conn.execute(
            "SELECT count(*), sum(rows_in) FILTER (WHERE kind = 'materialize') "
            "FROM laminar_catalog.operator_metrics WHERE view = %s",
            (names["per_auction"],)).fetchone()
        out = conn.execute("SELECT rows_out FROM laminar_catalog.view_metrics WHERE name = %s",
                           (names["per_auction"],)).fetchone()
        assert operators is not None and out is not None
        assert operators[0] >= 3 and operators[1] == out[0]


def test_checkpoint_figures_after_a_checkpoint(own_server: LaminarServer) -> None:
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        bounded_pipeline(conn, events=5000)
        conn.execute("CHECKPOINT")
        newest = conn.execute(
            "SELECT epoch, status, retained, error IS NULL, duration_ms >= capture_ms, "
            "capture_ms > 0, bytes_written > 0, state_bytes > 0, "
            "started_at <= now() FROM laminar_catalog.checkpoints ORDER BY epoch DESC "
            "LIMIT 1").fetchone()
        assert newest is not None
        assert newest[1:] == ("completed", True, True, True, True, True, True, True)
        pipeline = conn.execute(
            "SELECT checkpoint_epoch, checkpoints_completed >= 1, checkpoints_failed, "
            "last_checkpoint_seconds > 0 FROM laminar_catalog.pipeline_metrics").fetchone()
        assert pipeline == (newest[0], True, 0, True)
        # a second checkpoint of an unchanged pipeline writes (almost) nothing new
        conn.execute("CHECKPOINT")
        second = conn.execute("SELECT bytes_written, state_bytes FROM "
                              "laminar_catalog.checkpoints ORDER BY epoch DESC LIMIT 1").fetchone()
        assert second is not None and second[0] < second[1] / 2


def test_created_at_is_the_create_commit_time_and_survives_a_restart(
        own_server: LaminarServer) -> None:
    own_server.start()
    query = ("SELECT name, created_at FROM laminar_catalog.tables UNION ALL "
             "SELECT name, created_at FROM laminar_catalog.materialized_views ORDER BY name")
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        before = conn.execute("SELECT now()").fetchone()
        conn.execute("CREATE TABLE made (k int)")
        time.sleep(0.05)
        conn.execute("CREATE MATERIALIZED VIEW made_count AS SELECT count(*) AS n FROM made")
        after = conn.execute("SELECT now()").fetchone()
        created = conn.execute(query).fetchall()
    assert before is not None and after is not None
    assert [name for name, _ in created] == ["made", "made_count"]
    assert all(before[0] <= at <= after[0] for _, at in created), created
    assert created[0][1] < created[1][1]
    own_server.stop()
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        assert conn.execute(query).fetchall() == created


def test_a_view_over_a_table_moves_with_each_commit(conn: psycopg.Connection[Any]) -> None:
    table = unique("t")
    view = f"{table}_keys"
    conn.execute(f"CREATE TABLE {table} (k int, v text)")
    conn.execute(f"CREATE MATERIALIZED VIEW {view} AS SELECT k, count(*) AS n FROM {table} "
                 "GROUP BY k")
    query = ("SELECT rows_in, rows_out, row_count, last_update, freshness_seconds "
             "FROM laminar_catalog.view_metrics WHERE name = %s")
    empty = conn.execute(query, (view,)).fetchone()
    assert empty is not None and empty[:3] == (0, 0, 0) and empty[4] is None
    conn.execute(f"INSERT INTO {table} VALUES (1, 'a'), (1, 'b'), (2, 'c')")
    conn.execute("FLUSH")
    first = conn.execute(query, (view,)).fetchone()
    assert first is not None and first[:3] == (3, 2, 2)
    assert first[3] is not None and first[4] is not None and first[4] >= 0
    conn.execute(f"DELETE FROM {table} WHERE k = 2")
    conn.execute(f"INSERT INTO {table} VALUES (3, 'd')")
    conn.execute("FLUSH")
    second = conn.execute(query, (view,)).fetchone()
    # the delete retracts group 2, the insert adds group 3: 2 more rows in, 2 changes out
    assert second is not None and second[:3] == (5, 4, 2)
    assert second[3] > first[3]
    counted = conn.execute(f"SELECT count(*) FROM {view}").fetchone()
    assert counted == (second[2],)


def test_a_failed_view_says_why(conn: psycopg.Connection[Any]) -> None:
    table = unique("t")
    view = f"{table}_ratio"
    conn.execute(f"CREATE TABLE {table} (a int)")
    conn.execute(f"CREATE MATERIALIZED VIEW {view} AS SELECT 10 / a AS r FROM {table}")
    conn.execute(f"INSERT INTO {table} VALUES (0)")
    conn.execute("FLUSH")
    status = conn.execute("SELECT status, error FROM laminar_catalog.materialized_views "
                          "WHERE name = %s", (view,)).fetchone()
    assert status is not None and status[0] == "failed"
    assert "division by zero" in status[1]
    assert conn.execute("SELECT status FROM laminar_catalog.view_metrics WHERE name = %s",
                        (view,)).fetchone() == ("failed",)
    shown = dict((r[0], r[2]) for r in conn.execute("SHOW MATERIALIZED VIEWS").fetchall())
    assert shown[view] == "failed"


def test_sessions_show_each_client_and_its_statement(server: LaminarServer) -> None:
    app = unique("app")
    with psycopg.connect(server.dsn, autocommit=True, application_name=app) as idle, \
            psycopg.connect(server.dsn, autocommit=True) as watcher:
        idle.execute("BEGIN")
        idle.execute("SELECT 1")
        before = dt.datetime.now(dt.UTC)
        rows = watcher.execute(
            "SELECT application_name, state, query, query_start, backend_start "
            "FROM laminar_catalog.sessions WHERE application_name = %s "
            "OR query LIKE '%%watching sessions%%' ORDER BY state -- watching sessions",
            (app,)).fetchall()
        assert [(r[0], r[1]) for r in rows] == [("", "active"), (app, "idle in transaction")]
        assert "watching sessions" in rows[0][2]
        assert rows[0][3] >= rows[1][3] and rows[1][4] <= before
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        wait_until(conn, "SELECT count(*) FROM laminar_catalog.sessions "
                   "WHERE application_name = %s", (app,), 0)


# ---------------------------------------------------------------- SHOW and psql


def test_show_lists_sorted_names_and_psql_prints_every_table(server: LaminarServer,
                                                              conn: psycopg.Connection[Any]) -> None:
    schema = unique("show")
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path = {schema}")
    for name in ("zeta", "alpha", "mid"):
        conn.execute(f"CREATE TABLE {name}_t (a int)")
        conn.execute(f"CREATE MATERIALIZED VIEW {name}_v AS SELECT count(*) AS n FROM {name}_t")
    assert [r[0] for r in conn.execute("SHOW TABLES").fetchall()] == [
        "alpha_t", "mid_t", "zeta_t"]
    assert conn.execute("SHOW MATERIALIZED VIEWS").fetchall() == [
        ("alpha_v", schema, "running"), ("mid_v", schema, "running"),
        ("zeta_v", schema, "running")]
    statements = [f"SET search_path = {schema}", "SHOW MATERIALIZED VIEWS",
                  *(f"SELECT * FROM laminar_catalog.{t}" for t in TABLES)]
    args = ["psql", "-h", server.host, "-p", str(server.port), "-U", "laminar", "-d", "laminar",
            "-X", "-v", "ON_ERROR_STOP=1", "-x"]
    for statement in statements:
        args += ["-c", statement]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.search(r"name\s+\| alpha_v", out.stdout)
    assert re.search(r"state\s+\| running", out.stdout)


# ---------------------------------------------------------------- /metrics


def scrape(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode("utf-8")
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(families: dict[str, Any], family: str, **labels: str) -> float:
    found = [s.value for s in families[family].samples
             if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (family, labels, families[family].samples)
    value: float = found[0]
    return value


def test_metrics_endpoint_says_what_the_tables_say(metrics_server: LaminarServer) -> None:
    with psycopg.connect(metrics_server.dsn, autocommit=True) as conn:
        names = bounded_pipeline(conn)
        table = conn.execute("SELECT events, bytes, late_events_dropped FROM "
                             "laminar_catalog.source_metrics WHERE name = %s",
                             (names["bid"],)).fetchone()
        rows = conn.execute(f"SELECT count(*) FROM {names['per_auction']}").fetchone()
        families = scrape(metrics_server.metrics_url)
        pipeline = conn.execute("SELECT events_ingested, cycles FROM "
                                "laminar_catalog.pipeline_metrics").fetchone()
    assert table is not None and rows is not None and pipeline is not None
    bid = {"source": names["bid"]}
    assert sample(families, "laminar_source_events", **bid) == EVENTS == table[0]
    assert sample(families, "laminar_source_bytes", **bid) == table[1]
    assert sample(families, "laminar_source_late_events_dropped", **bid) == table[2]
    assert sample(families, "laminar_source_watermark_seconds", **bid) == float("inf")
    assert sample(families, "laminar_source_status", status="finished", **bid) == 1
    assert sample(families, "laminar_view_rows", view=names["per_auction"]) == rows[0]
    assert families["laminar_source_events"].type == "counter"
    assert families["laminar_view_rows"].type == "gauge"
    assert sample(families, "laminar_pipeline_events_ingested") == pipeline[0]
    assert 1 <= sample(families, "laminar_pipeline_cycles") <= pipeline[1]
    operators = families["laminar_operator_rows_in"].samples
    assert {s.labels["view"] for s in operators} >= {names["per_auction"], names["busy"]}
    assert sample(families, "laminar_pipeline_state", state="running") == 1
    assert sample(families, "laminar_sessions") >= 1
    # the usual process figures
    assert sample(families, "process_resident_memory_bytes") > 10 * 2**20
    assert sample(families, "process_open_fds") > 0
    assert sample(families, "process_cpu_seconds") > 0
    started = sample(families, "process_start_time_seconds")
    assert time.time() - 3600 < started <= time.time()


def test_metrics_labels_keep_any_name(metrics_server: LaminarServer) -> None:
    """Label values are escaped: a view named with a quote and a backslash parses back."""
    table = unique("t")
    view = f'odd "{table}" \\ name'
    quoted = '"' + view.replace('"', '""') + '"'
    with psycopg.connect(metrics_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (a int)")
        conn.execute(f"INSERT INTO {table} VALUES (1), (2)")
        conn.execute(f"CREATE MATERIALIZED VIEW {quoted} AS SELECT a FROM {table}")
        families = scrape(metrics_server.metrics_url)
    assert sample(families, "laminar_view_rows", view=view) == 2
    assert sample(families, "laminar_view_status", view=view, status="running") == 1


def test_metrics_endpoint_answers_only_metrics(metrics_server: LaminarServer) -> None:
    base = metrics_server.metrics_url.removesuffix("/metrics")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(base + "/nope", timeout=30)
    missing.value.close()
    assert missing.value.code == 404
    request = urllib.request.Request(metrics_server.metrics_url, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as posted:
        urllib.request.urlopen(request, timeout=30)
    posted.value.close()
    assert posted.value.code == 405


def test_metrics_port_off_and_taken(server: LaminarServer, metrics_server: LaminarServer,
                                    own_server: LaminarServer) -> None:
    """The test harness runs without metrics (server.json says so); a metrics port in
    use stops the start with one clear line."""
    assert server.metrics_port is None
    own_server.extra_args = ["--metrics-port", str(metrics_server.metrics_port)]
    with pytest.raises(RuntimeError) as failed:
        own_server.start()
    assert "could not listen for metrics" in str(failed.value)
    assert "--metrics-port off" in str(failed.value)


@pytest.mark.parametrize(("head", "status", "head_only"), [
    (b"GET /metrics HTTP/1.1\r\nHost: x", 200, False),
    (b"GET /metrics?name[]=x HTTP/1.0", 200, False),
    (b"HEAD /metrics HTTP/1.1", 200, True),
    (b"GET / HTTP/1.1", 200, False),
    (b"GET /api/pipeline HTTP/1.1", 200, False),
    (b"GET /api/explain?id=7 HTTP/1.1", 200, False),
    (b"GET /api/explain?id=8 HTTP/1.1", 404, False),
    (b"GET /api/explain?id=x HTTP/1.1", 400, False),
    (b"GET /api/explain HTTP/1.1", 400, False),
    (b"GET /other HTTP/1.1", 404, False),
    (b"POST /metrics HTTP/1.1\r\nContent-Length: 0", 405, False),
    (b"GET /metrics", 400, False),
    (b"\x16\x03\x01 garbage", 400, False),
])
def test_metrics_requests_without_sockets(head: bytes, status: int, head_only: bool) -> None:
    endpoints = Endpoints(metrics=lambda: "# metrics\n", pipeline=lambda: {"objects": []},
                          explain=lambda oid: {"text": "x"} if oid == 7 else None)
    response, only_head = respond(head, endpoints)
    assert (response.status, only_head) == (status, head_only)
    encoded = response.encode(only_head)
    assert encoded.startswith(f"HTTP/1.1 {status} ".encode())
    assert f"Content-Length: {len(response.body)}".encode() in encoded
    assert encoded.endswith(b"\r\n\r\n") if head_only else encoded.endswith(response.body)


def test_a_view_over_a_finished_view_inherits_its_watermark(
        conn: psycopg.Connection[Any]) -> None:
    """A view created after its input view's watermark reached the end of time starts
    with that watermark (it would never come again otherwise)."""
    names = bounded_pipeline(conn)
    late = unique("late")
    conn.execute(f"CREATE MATERIALIZED VIEW {late} AS SELECT auction FROM "
                 f"{names['per_auction']} WHERE bids > 1")
    conn.execute("FLUSH")
    row = conn.execute(
        "SELECT watermark = 'infinity'::timestamp FROM laminar_catalog.watermarks "
        "WHERE name = %s", (late,)).fetchone()
    assert row == (True,)


# ---------------------------------------------------------------- EXPLAIN of running objects


def explain(conn: psycopg.Connection[Any], sql: str, prepare: bool = False) -> list[str]:
    return [row[0] for row in conn.execute(sql, prepare=prepare).fetchall()]


def operator_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.lstrip().startswith("-> ")]


def test_explain_materialized_view_draws_the_running_graph_as_explain_create_planned_it(
        conn: psycopg.Connection[Any]) -> None:
    names = bounded_pipeline(conn, events=2_000)
    definition = (f"SELECT auction, count(*) AS bids FROM {names['cheap']} GROUP BY auction")
    planned = explain(conn, f"EXPLAIN CREATE MATERIALIZED VIEW {unique('v')} AS {definition}")
    for prepare in (False, True):
        running = explain(conn, f"EXPLAIN MATERIALIZED VIEW {names['per_auction']}", prepare)
        assert running[0] == f"materialized view public.{names['per_auction']}"
        assert running[1] == (f"  -> materialize {names['per_auction']} (auction, bids) "
                              "[state: a count per distinct row]")
        # below the output, the very operators EXPLAIN CREATE planned, keys and state too
        assert [line[2:] for line in running[2:]] == planned[1:]
    assert any("[group key: " in line and "state: a row per group" in line for line in planned)
    assert planned[-1].strip() == f"-> source {names['bid']} (auction, price, date_time)"
    # a view over a view stops at its input: the upstream view's operators are its own
    busy = explain(conn, f"EXPLAIN MATERIALIZED VIEW {names['busy']}")
    assert busy[-1].strip() == f"-> materialized view {names['per_auction']} (auction, bids)"
    assert not any("hash_aggregate" in line for line in busy)


def test_explain_analyze_gives_each_operator_the_figures_operator_metrics_has(
        conn: psycopg.Connection[Any]) -> None:
    names = bounded_pipeline(conn, events=2_000)
    view = names["per_auction"]
    lines = explain(conn, f"EXPLAIN ANALYZE MATERIALIZED VIEW {view}")
    assert lines[0].startswith(f"materialized view public.{view} (status: running; "
                               "operators: 6; shards: 1; freshness: ")
    listed: list[tuple[str, int, int]] = []
    found: dict[str, tuple[int, int, str]] = {}
    for operator, figures in zip(lines[1::2], lines[2::2], strict=True):
        label = operator.strip().removeprefix("-> ").split(" (")[0]
        match = re.match(r"\s+rows in: (\d+), out: (\d+); chunks: \d+; busy: [\d.]+ ms; "
                         r"state: (.+); watermark: end of time$", figures)
        assert match, figures
        listed.append((label, int(match.group(1)), int(match.group(2))))
        found[label] = (int(match.group(1)), int(match.group(2)), match.group(3))
    table = conn.execute("SELECT operator, rows_in, rows_out FROM "
                         "laminar_catalog.operator_metrics WHERE view = %s", (view,)).fetchall()
    assert sorted(listed) == sorted(table)
    count = conn.execute(f"SELECT count(*) FROM {view}").fetchone()
    assert count is not None
    # the aggregate keeps a group per auction; materialize a count per distinct row
    assert found["hash_aggregate"][2].startswith(f"{count[0]} keys, ")
    assert found[f"materialize {view}"][2].startswith(f"{count[0]} keys, ")
    assert found["filter"][2] == "none"
    events = conn.execute("SELECT rows FROM laminar_catalog.source_metrics WHERE name = %s",
                          (names["bid"],)).fetchone()
    assert events is not None and found[f"source {names['bid']}"][0] == events[0]


def test_explain_stream_and_sink(conn: psycopg.Connection[Any]) -> None:
    names = bounded_pipeline(conn, events=2_000)
    sink = unique("k")
    conn.execute(f"CREATE SINK {sink} FROM {names['busy']} WITH (connector = 'blackhole')")
    stream = explain(conn, f"EXPLAIN STREAM {names['cheap']}")
    assert stream[0] == f"stream public.{names['cheap']} (auction, price, date_time)"
    assert [line.strip().split(" (")[0] for line in stream[1:-1]] == [
        "-> filter", f"-> source {names['bid']}"]
    assert stream[-1] == f"inlined into: public.{names['per_auction']}"
    analyzed = explain(conn, f"EXPLAIN ANALYZE STREAM {names['cheap']}")
    assert analyzed[-1].startswith("a stream has no operators of its own")
    lines = explain(conn, f"EXPLAIN (ANALYZE) SINK {sink}")
    assert lines[0].startswith(f"sink public.{sink} (status: running;")
    assert lines[1].strip() == (f"-> sink {sink} (auction) "
                                "[checksum of every change, rows discarded]")
    rows = conn.execute(f"SELECT count(*) FROM {names['busy']}").fetchone()
    assert rows is not None
    assert lines[2].strip().startswith(f"rows in: {rows[0]}, out: 0;")


def test_explain_of_what_is_not_there(conn: psycopg.Connection[Any]) -> None:
    names = bounded_pipeline(conn, events=1_000)
    with pytest.raises(psycopg.errors.UndefinedTable) as missing:
        conn.execute("EXPLAIN MATERIALIZED VIEW no_such_view_here")
    assert str(missing.value) == 'materialized view "no_such_view_here" does not exist'
    with pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("EXPLAIN ANALYZE SINK no_such_sink_here")
    with pytest.raises(psycopg.errors.WrongObjectType) as wrong:
        conn.execute(f"EXPLAIN SINK {names['per_auction']}")
    assert wrong.value.diag.message_hint == "Use EXPLAIN MATERIALIZED VIEW."
    with pytest.raises(psycopg.errors.SyntaxError):
        conn.execute("EXPLAIN MATERIALIZED VIEW")


# ---------------------------------------------------------------- the pipeline page


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.read())


def test_pipeline_json_describes_every_object_and_operator(
        metrics_server: LaminarServer) -> None:
    base = metrics_server.metrics_url.removesuffix("/metrics")
    with psycopg.connect(metrics_server.dsn, autocommit=True) as conn:
        names = bounded_pipeline(conn, events=2_000)
        ids: dict[str, int] = dict(conn.execute(
            "SELECT name, id FROM laminar_catalog.sources UNION ALL "
            "SELECT name, id FROM laminar_catalog.streams UNION ALL "
            "SELECT name, id FROM laminar_catalog.materialized_views").fetchall())
        operators = conn.execute(
            "SELECT operator, rows_in FROM laminar_catalog.operator_metrics WHERE view = %s "
            "ORDER BY operator_id", (names["busy"],)).fetchall()
        rows = conn.execute(f"SELECT count(*) FROM {names['per_auction']}").fetchone()
        document = get_json(base + "/api/pipeline")
        analyzed = explain(conn, f"EXPLAIN ANALYZE MATERIALIZED VIEW {names['busy']}")
    objects = {o["name"]: o for o in document["objects"]}
    bid, cheap = objects[names["bid"]], objects[names["cheap"]]
    per_auction, busy = objects[names["per_auction"]], objects[names["busy"]]
    assert (bid["kind"], bid["status"], bid["events"], bid["end_of_time"]) == (
        "source", "finished", 2_000, True)
    assert cheap["kind"] == "stream" and cheap["inputs"] == [ids[names["bid"]]]
    assert per_auction["kind"] == "materialized view"
    assert set(per_auction["inputs"]) == {ids[names["bid"]], ids[names["cheap"]]}
    assert busy["inputs"] == [ids[names["per_auction"]]]
    assert rows is not None and per_auction["rows"] == rows[0]
    assert [(o["label"], o["rows_in"]) for o in busy["operators"]] == operators
    labels = [o["label"] for o in busy["operators"]]
    last = busy["operators"][-1]
    assert last["label"] == f"materialize {names['busy']}"
    assert [labels[i] for i in last["inputs"]] == ["project"]
    assert document["pipeline"]["state"] == "running"
    # a click on a view: its EXPLAIN ANALYZE, the same graph the SQL statement draws
    answer = get_json(f"{base}/api/explain?id={busy['id']}")
    assert (answer["name"], answer["kind"]) == (names["busy"], "materialized view")
    assert operator_lines(answer["text"].split("\n")) == operator_lines(analyzed)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base}/api/explain?id=1", timeout=30)
    missing.value.close()
    assert missing.value.code == 404


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: `make install` installs Debian's package")
    return found


def render(url: str, tmp_path: Path) -> str:
    """The page's DOM after its script ran (headless Chromium, virtual time: no waiting
    on the wall clock for the page's polls)."""
    out = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=4000",
         "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_pipeline_page_draws_the_pipeline_in_chromium(metrics_server: LaminarServer,
                                                      tmp_path: Path) -> None:
    base = metrics_server.metrics_url.removesuffix("/metrics")
    with psycopg.connect(metrics_server.dsn, autocommit=True) as conn:
        names = bounded_pipeline(conn, events=2_000)
        sink = unique("k")
        conn.execute(f"CREATE SINK {sink} FROM {names['busy']} WITH (connector = 'blackhole')")
    with urllib.request.urlopen(base + "/", timeout=30) as response:
        page = response.read().decode()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from outside
    dom = render(f"{base}/?select={sink}", tmp_path)
    svg = dom[dom.index("<svg"):dom.index("</svg>")]
    drawn = {name: kind for kind, name in re.findall(
        r'<g class="node [^"]*" [^>]*data-kind="([^"]+)" data-name="([^"]+)"', svg)}
    assert {name: drawn.get(name) for name in (*names.values(), sink)} == {
        names["bid"]: "source", names["cheap"]: "stream",
        names["per_auction"]: "materialized view", names["busy"]: "materialized view",
        sink: "sink"}
    for name in (*names.values(), sink):
        assert f'<text class="title" x="12" y="30">{name}</text>' in svg
    # an edge per input: bid -> cheap, bid and cheap -> per_auction, per_auction -> busy,
    # busy -> the sink, among the others of this server
    edges = re.findall(r'<path class="edge" data-from="(\d+)" data-to="(\d+)"', svg)
    ids = {m.group(2): m.group(1) for m in re.finditer(
        r'data-id="(\d+)" data-kind="[^"]+" data-name="([^"]+)"', svg)}
    mine = {(ids[a], ids[b]) for a, b in [(names["bid"], names["cheap"]),
                                          (names["bid"], names["per_auction"]),
                                          (names["cheap"], names["per_auction"]),
                                          (names["per_auction"], names["busy"]),
                                          (names["busy"], sink)]}
    assert mine <= set(edges)
    # each operator of the view drawn with its figures (rates need two polls a second
    # apart on the server's clock: under virtual time they may not be there yet, "-")
    assert re.search(r'<text class="operator[^"]*"[^>]*>hash_aggregate\s+(\S+|-) rows/s\s+'
                     r'[\d.]+ [kMG]?B wm: end\s+busy (\d+%|-)</text>', svg)
    # ?select=: the sink's EXPLAIN ANALYZE beside the graph
    assert f"EXPLAIN ANALYZE SINK public.{sink}</h2>" in dom
    assert f"-&gt; sink {sink} (auction)" in dom


# ---------------------------------------------------------------- the Grafana dashboard


DASHBOARD = DOCS.parent / "grafana-dashboard.json"
METRIC = re.compile(r"\b((?:laminar|process)_[a-z_]+)\b(\{[^}]*\})?")


def dashboard_queries() -> list[str]:
    """Every PromQL text of docs/grafana-dashboard.json: panel targets and variables."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]
    queries += [variable["definition"] for variable in dashboard["templating"]["list"]]
    return queries


def test_grafana_dashboard_asks_only_for_what_metrics_exposes(
        metrics_server: LaminarServer) -> None:
    with psycopg.connect(metrics_server.dsn, autocommit=True) as conn:
        names = bounded_pipeline(conn, events=1_000)
        conn.execute(f"CREATE SINK {unique('k')} FROM {names['busy']} "
                     "WITH (connector = 'blackhole')")
        # a source still running, so that lags (NULL at the end of time) have samples too
        live, view = unique("live"), unique("live_count")
        conn.execute(
            f"CREATE SOURCE {live} (auction BIGINT, date_time TIMESTAMP, WATERMARK FOR "
            "date_time AS date_time - INTERVAL '1' SECOND) WITH (connector = 'nexmark', "
            "nexmark.table = 'bid', nexmark.events = '1000000000')")
        conn.execute(f"CREATE MATERIALIZED VIEW {view} AS SELECT count(*) FROM {live}")
        wait_until(conn, "SELECT lag_seconds IS NOT NULL FROM laminar_catalog.source_metrics "
                   "WHERE name = %s", (live,), True)
        with urllib.request.urlopen(metrics_server.metrics_url, timeout=30) as response:
            text = response.read().decode("utf-8")
        conn.execute(f"DROP SOURCE {live} CASCADE")
    exposed = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample_ in family.samples:
            labels.setdefault(sample_.name, set()).update(sample_.labels)
    used: dict[str, set[str]] = {}
    for query in dashboard_queries():
        for name, selector in METRIC.findall(query):
            keys = set(re.findall(r"(\w+)\s*[=!]~?", selector)) if selector else set()
            used.setdefault(name, set()).update(keys)
    assert len(used) >= 30, sorted(used)  # the dashboard covers the exposition
    assert sorted(set(used) - exposed) == []
    # each label a selector filters on is one the family's samples carry
    assert {name: keys - labels.get(name, set()) for name, keys in used.items()
            if keys - labels.get(name, set())} == {}


def test_operator_counters_switched_off_count_nothing_and_change_no_result(
        own_server: LaminarServer, conn: psycopg.Connection[Any]) -> None:
    """`--operator-metrics off` (for bench/metrics_cost.py): the views hold what they hold
    with the counters on, and operator_metrics reads zeros."""
    own_server.extra_args = ["--operator-metrics", "off"]
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as off:
        names = bounded_pipeline(off, events=2_000)
        counted = off.execute(
            "SELECT count(*), sum(rows_in), sum(rows_out), sum(chunks_in), sum(busy_seconds) "
            "FROM laminar_catalog.operator_metrics WHERE view = %s",
            (names["per_auction"],)).fetchone()
        answer = off.execute(f"SELECT auction, bids FROM {names['per_auction']} "
                             "ORDER BY auction").fetchall()
        watermark = off.execute("SELECT watermark = 'infinity'::timestamp FROM "
                                "laminar_catalog.watermarks WHERE name = %s",
                                (names["per_auction"],)).fetchone()
    assert counted == (6, 0, 0, 0, 0.0)
    assert watermark == (True,)  # watermarks are kept: the views need them
    on = bounded_pipeline(conn, events=2_000)
    assert conn.execute(f"SELECT auction, bids FROM {on['per_auction']} "
                        "ORDER BY auction").fetchall() == answer


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 5)
    os.close(fd)
    return moved


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (`--remote-debugging-pipe`: JSON messages separated by NUL bytes, the browser reading
    fd 3 and writing fd 4), so no WebSocket client and nothing downloaded."""

    def __init__(self, profile: Path) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()
        # the browser's ends above 4, so that putting them at 3 and 4 overwrites neither
        to_browser, from_browser = (_above_four(fd) for fd in (to_browser, from_browser))
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}',
             chromium(), *args], pass_fds=(to_browser, from_browser),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0

    def send(self, method: str, session: str | None = None, **params: Any) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:  # events and other answers are passed over
            while b"\0" not in self._buffer:
                data = os.read(self._read, 65536)
                if not data:
                    raise AssertionError(f"chromium closed the pipe during {method}")
                self._buffer += data
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                return answer["result"]

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except AssertionError:
            pass
        self.process.wait(timeout=60)
        os.close(self._write)
        os.close(self._read)


CLICK_AND_READ = """
(async () => {
  const until = async (test) => {  // the page polls /api/pipeline: wait for a condition
    for (let i = 0; i < 600; i++) {
      const found = test();
      if (found) return found;
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    throw new Error("condition never met");
  };
  const box = await until(() => document.querySelector('g.node[data-name="NAME"]'));
  box.dispatchEvent(new MouseEvent("click", {bubbles: true}));
  await until(() => document.getElementById("explain").textContent.includes("rows in: "));
  // the graph is drawn again by the poll the click starts: wait for that drawing
  await until(() => document.querySelector('g.node[data-name="NAME"]')
                      .classList.contains("selected"));
  return [document.getElementById("detail-title").textContent,
          document.getElementById("explain").textContent,
          document.querySelector('g.node[data-name="NAME"]').getAttribute("class")];
})()
"""


def test_clicking_a_view_on_the_page_shows_its_explain_analyze(
        metrics_server: LaminarServer, tmp_path: Path) -> None:
    base = metrics_server.metrics_url.removesuffix("/metrics")
    with psycopg.connect(metrics_server.dsn, autocommit=True) as conn:
        names = bounded_pipeline(conn, events=2_000)
        analyzed = explain(conn, f"EXPLAIN ANALYZE MATERIALIZED VIEW {names['per_auction']}")
    browser = DevTools(tmp_path / "chromium")
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target,
                               flatten=True)["sessionId"]
        browser.send("Page.navigate", session, url=base + "/")  # answers once committed
        result = browser.send("Runtime.evaluate", session,
                              expression=CLICK_AND_READ.replace("NAME", names["per_auction"]),
                              awaitPromise=True, returnByValue=True)
    finally:
        browser.close()
    assert "exceptionDetails" not in result, result
    title, text, classes = result["result"]["value"]
    assert title == f"EXPLAIN ANALYZE MATERIALIZED VIEW public.{names['per_auction']}"
    assert operator_lines(text.split("\n")) == operator_lines(analyzed)
    assert "selected" in classes.split()


def test_servers_on_free_ports_take_free_metrics_ports(tmp_path: Path) -> None:
    """`--port 0` without `--metrics-port`: the metrics endpoint takes a free port too
    (both in server.json), so two such servers do not fight over 6876."""
    processes = []
    try:
        for name in ("a", "b"):
            data = tmp_path / name
            processes.append((data, subprocess.Popen(
                [sys.executable, "-m", "laminar_pg", "serve", "--port", "0", "--data-dir",
                 str(data), "--workers", "1"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)))
        ports = []
        for data, process in processes:
            info_path = data / "server.json"
            deadline = time.monotonic() + 60
            while not info_path.exists():
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "no server.json"
                time.sleep(0.05)
            info = json.loads(info_path.read_text())
            ports.append(info["metrics_port"])
            with urllib.request.urlopen(f"http://127.0.0.1:{info['metrics_port']}/metrics",
                                        timeout=30) as response:
                assert response.status == 200
        assert len(set(ports)) == 2 and 6876 not in ports
    finally:
        for _, process in processes:
            process.terminate()
            process.wait(timeout=30)
