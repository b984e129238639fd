"""Pipeline observability through real clients: the laminar_catalog system tables, SHOW,
and the Prometheus endpoint (issue 8).

The documented contract is docs/observability.md: every table there, with its columns
and types, is checked against what the server answers, so the two cannot drift. Figures
are checked against what the pipeline did: a bounded nexmark source of N events, read
to its end, must report N events, say finished, and hold its watermark at the end of
time; each view's row count must be a COUNT(*) of it; /metrics must say the same.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
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

from laminar_pg.observability.http import respond
from laminar_pg.testing.server import LaminarServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
EVENTS = 20_000
TYPE_OIDS = {"text": 25, "bigint": 20, "double precision": 701, "numeric": 1700,
             "timestamp with time zone": 1184, "timestamp": 1114, "text[]": 1009}
TABLES = ("sources", "streams", "materialized_views", "tables", "sinks", "pipeline_metrics",
          "source_metrics", "view_metrics", "stream_metrics", "operator_metrics",
          "watermarks", "sessions")


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
            "checkpoints_completed, busy_seconds > 0 FROM laminar_catalog.pipeline_metrics"
        ).fetchone()
        emitted = conn.execute(
            "SELECT sum(rows_out) FROM laminar_catalog.view_metrics").fetchone()
        assert after == (5000, emitted[0] if emitted else None, 2, 0, True, True, True, True,
                         0.0, True, 0, True)
        operators = conn.execute(
            "SELECT count(*), sum(rows_in) FILTER (WHERE kind = 'materialize') "
            "FROM laminar_catalog.operator_metrics WHERE view = %s",
            (names["per_auction"],)).fetchone()
        out = conn.execute("SELECT rows_out FROM laminar_catalog.view_metrics WHERE name = %s",
                           (names["per_auction"],)).fetchone()
        assert operators is not None and out is not None
        assert operators[0] >= 3 and operators[1] == out[0]


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
    (b"GET /other HTTP/1.1", 404, False),
    (b"POST /metrics HTTP/1.1\r\nContent-Length: 0", 405, False),
    (b"GET /metrics", 400, False),
    (b"\x16\x03\x01 garbage", 400, False),
])
def test_metrics_requests_without_sockets(head: bytes, status: int, head_only: bool) -> None:
    response, only_head = respond(head, lambda: "# metrics\n")
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
