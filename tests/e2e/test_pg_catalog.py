"""pg_catalog as tools see it: psql 15's backslash commands and drivers' type introspection,
against a real server, compared with a real PostgreSQL 15 where the object exists there."""

from __future__ import annotations

import asyncio
import itertools
import os
import pty
import select
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest
from psycopg.types import TypeInfo

from laminar_pg.slt.runner import FileResult, Protocol, RunnerConfig, SltRunner
from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer

TABLE_DDL = (
    "CREATE TABLE {t} (id int PRIMARY KEY, name varchar(20) NOT NULL DEFAULT 'x', "
    "score numeric(10,2), tags text[], seen timestamptz DEFAULT now(), doc jsonb, "
    "code char(3), flag boolean, big bigint, ratio double precision, day date, u uuid)"
)


@dataclass(frozen=True)
class Objects:
    """Names of the objects one test module creates (unique on the shared server)."""

    table: str
    index: str
    serial_table: str
    source: str
    stream: str
    view: str
    child: str  # references serial_table, with CHECK constraints

    def child_ddl(self) -> str:
        return (f"CREATE TABLE {self.child} (id int CHECK (id > 0), parent int REFERENCES "
                f"{self.serial_table}(id), note text, lo int, hi int, CHECK (lo < hi), "
                f"FOREIGN KEY (note) REFERENCES {self.serial_table}(note))")


def psql(host: str, port: int, user: str, command: str, dbname: str | None = None,
         password: str | None = None) -> str:
    args = ["psql", "-X", "-h", host, "-p", str(port), "-U", user, "-c", command]
    if dbname:
        args += ["-d", dbname]
    env = None
    if password is not None:
        import os

        env = {**os.environ, "PGPASSWORD": password}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and not done.stderr, (command, done.stdout, done.stderr)
    return done.stdout


def lam(server: LaminarServer, command: str) -> str:
    return psql(server.host, server.port, "laminar", command)


def rows_of(output: str) -> list[list[str]]:
    """The body rows of psql's aligned output, as lists of stripped cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line) <= set("-+") and line)
    out = []
    for line in lines[start + 1:]:
        if "|" not in line:  # a blank line, "(n rows)" or a footer
            break
        out.append([cell.strip() for cell in line.split("|")])
    return out


@pytest.fixture(scope="module")
def objects(server: LaminarServer) -> Iterator[Objects]:
    tag = uuid.uuid4().hex[:8]
    names = Objects(f"cat_t_{tag}", f"cat_t_{tag}_name_idx", f"cat_s_{tag}", f"cat_bid_{tag}",
                    f"cat_stream_{tag}", f"cat_mv_{tag}", f"cat_c_{tag}")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(TABLE_DDL.format(t=names.table))
        conn.execute(f"CREATE INDEX {names.index} ON {names.table} (name)")
        conn.execute(f"CREATE TABLE {names.serial_table} (id serial PRIMARY KEY, note text UNIQUE)")
        conn.execute(names.child_ddl())
        conn.execute(
            f"CREATE SOURCE {names.source} (auction BIGINT, bidder BIGINT, price BIGINT, "
            "date_time TIMESTAMP) WITH (connector = 'nexmark', nexmark.table = 'bid', "
            "nexmark.events = '100')")
        conn.execute(f"CREATE STREAM {names.stream} AS SELECT auction, price FROM "
                     f"{names.source} WHERE price > 10")
        conn.execute(f"CREATE MATERIALIZED VIEW {names.view} AS SELECT auction, count(*) AS n, "
                     f"max(price) AS top FROM {names.source} GROUP BY auction")
    yield names


@pytest.fixture(scope="module")
def pg_objects(postgres: PostgresServer, objects: Objects) -> PostgresServer:
    """The same table and index on the real PostgreSQL 15."""
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(TABLE_DDL.format(t=objects.table))
        conn.execute(f"CREATE INDEX {objects.index} ON {objects.table} (name)")
        conn.execute(f"CREATE TABLE {objects.serial_table} (id serial PRIMARY KEY, note text UNIQUE)")
        conn.execute(objects.child_ddl())
    return postgres


def pg(postgres: PostgresServer, command: str) -> str:
    return psql(postgres.host, postgres.port, postgres.user, command, postgres.dbname,
                postgres.password)


# ------------------------------------------------------------------------- psql


def test_dt_lists_tables_like_postgres(server: LaminarServer, objects: Objects,
                                       pg_objects: PostgresServer) -> None:
    ours = {r[1]: r for r in rows_of(lam(server, r"\dt"))}
    theirs = {r[1]: r for r in rows_of(pg(pg_objects, r"\dt"))}
    for name in (objects.table, objects.serial_table):
        assert ours[name][:3] == theirs[name][:3] == ["public", name, "table"]
        assert ours[name][3] == "laminar"  # the owner: the connected user
    assert objects.view not in ours and objects.source not in ours  # only tables


def test_d_lists_every_kind_of_relation(server: LaminarServer, objects: Objects) -> None:
    kinds = {r[1]: r[2] for r in rows_of(lam(server, r"\d"))}
    assert kinds[objects.table] == "table"
    assert kinds[objects.view] == "materialized view"
    assert kinds[objects.source] == "foreign table"
    assert kinds[objects.stream] == "view"
    assert kinds[f"{objects.serial_table}_id_seq"] == "sequence"
    assert objects.index not in kinds  # \d lists no indexes


@pytest.mark.parametrize("command", [r"\d {t}", r"\d+ {t}", r"\d {s}", r"\d+ {s}", r"\d {c}"])
def test_describe_table_is_postgres_output(server: LaminarServer, objects: Objects,
                                           pg_objects: PostgresServer, command: str) -> None:
    """Columns, types, NOT NULL, defaults, primary key, indexes, CHECK and foreign-key
    constraints (and "Referenced by"): the same text."""
    text = command.format(t=objects.table, s=objects.serial_table, c=objects.child)
    ours, theirs = lam(server, text), pg(pg_objects, text)
    assert ours == theirs
    assert "PRIMARY KEY, btree (id)" in ours or "Foreign-key constraints:" in ours


def test_describe_table_shows_columns(server: LaminarServer, objects: Objects) -> None:
    rows = {r[0]: r for r in rows_of(lam(server, rf"\d {objects.table}"))}
    assert rows["id"][1:4] == ["integer", "", "not null"]
    assert rows["name"][1] == "character varying(20)"
    assert rows["name"][3:5] == ["not null", "'x'::character varying"]
    assert rows["score"][1] == "numeric(10,2)"
    assert rows["tags"][1] == "text[]"
    assert rows["seen"][1:] == ["timestamp with time zone", "", "", "now()"]
    assert rows["doc"][1] == "jsonb" and rows["code"][1] == "character(3)"


def test_describe_materialized_view(server: LaminarServer, objects: Objects) -> None:
    out = lam(server, rf"\d {objects.view}")
    assert f'Materialized view "public.{objects.view}"' in out
    assert [r[:2] for r in rows_of(out)] == [["auction", "bigint"], ["n", "bigint"],
                                             ["top", "bigint"]]
    verbose = lam(server, rf"\d+ {objects.view}")
    assert "View definition:" in verbose and "GROUP BY" in verbose


def test_describe_source_and_stream(server: LaminarServer, objects: Objects) -> None:
    out = lam(server, rf"\d {objects.source}")
    assert f'Foreign table "public.{objects.source}"' in out
    assert [r[:2] for r in rows_of(out)] == [
        ["auction", "bigint"], ["bidder", "bigint"], ["price", "bigint"],
        ["date_time", "timestamp without time zone"]]
    assert "Server: nexmark" in out and "\"nexmark.table\" 'bid'" in out
    stream = lam(server, rf"\d+ {objects.stream}")
    assert f'View "public.{objects.stream}"' in stream
    assert [r[:2] for r in rows_of(stream)] == [["auction", "bigint"], ["price", "bigint"]]
    assert "price > 10" in stream


def test_list_commands(server: LaminarServer, objects: Objects) -> None:
    assert [objects.view, "materialized view"] == next(
        r[1:3] for r in rows_of(lam(server, r"\dm")) if r[1] == objects.view)
    assert any(r[1] == objects.stream for r in rows_of(lam(server, r"\dv")))
    assert any(r[1] == f"{objects.serial_table}_id_seq" and r[2] == "sequence"
               for r in rows_of(lam(server, r"\ds")))
    indexes = {r[1]: r for r in rows_of(lam(server, r"\di"))}
    assert indexes[objects.index][2:] == ["index", "laminar", objects.table]
    assert indexes[f"{objects.table}_pkey"][4] == objects.table
    schemas = [r[0] for r in rows_of(lam(server, r"\dn"))]
    assert "public" in schemas and "laminar_catalog" in schemas
    assert rows_of(lam(server, r"\df")) == []  # no user-defined functions
    databases = rows_of(lam(server, r"\l"))
    assert [d[:3] for d in databases] == [["laminar", "laminar", "UTF8"]]
    roles = rows_of(lam(server, r"\du"))
    assert roles[0][0] == "laminar" and "Superuser" in roles[0][1]


def test_dt_plus_and_indexes_of_table_like_postgres(server: LaminarServer, objects: Objects,
                                                    pg_objects: PostgresServer) -> None:
    ours = {r[1]: r for r in rows_of(lam(server, r"\dt+"))}
    theirs = {r[1]: r for r in rows_of(pg(pg_objects, r"\dt+"))}
    # Schema, Name, Type, Persistence, Access method (sizes are not measured here yet)
    assert [ours[objects.table][i] for i in (0, 1, 2, 4, 5)] == \
        [theirs[objects.table][i] for i in (0, 1, 2, 4, 5)]
    ours_i = {r[1]: r[4] for r in rows_of(lam(server, r"\di"))}
    theirs_i = {r[1]: r[4] for r in rows_of(pg(pg_objects, r"\di"))}
    for name in (objects.index, f"{objects.table}_pkey", f"{objects.serial_table}_pkey",
                 f"{objects.serial_table}_note_key"):
        assert ours_i[name] == theirs_i[name]


def test_psql_tab_completion(server: LaminarServer, objects: Objects) -> None:
    """psql's completion queries (pg_class, pg_namespace, pg_attribute, pg_settings) run:
    a unique prefix of our table, then of its column, completes in a terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # child: psql on the pty
        os.environ["PAGER"] = "cat"
        os.execvp("psql", ["psql", "-X", "-h", server.host, "-p", str(server.port),
                           "-U", "laminar"])
    output = b""

    def read_until(marker: bytes, timeout: float = 20) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while marker not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    break
        assert marker in output, output.decode(errors="replace")

    try:
        read_until(b"=#")
        prefix = objects.table[:-3]  # "cat_t_1234" of "cat_t_1234abcd": only ours starts so
        os.write(fd, f"SELECT * FROM {prefix}".encode() + b"\t")
        read_until(objects.table.encode())
        os.write(fd, b" WHERE nam\t")
        read_until(b"WHERE name ")
        os.write(fd, b"\x15SET TimeZo\t")  # ^U clears the line
        read_until(b"timezone")  # from pg_settings
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


# ------------------------------------------------------------------------- SQL


def test_catalog_functions_and_casts(server: LaminarServer, objects: Objects,
                                     pg_objects: PostgresServer) -> None:
    query = (
        f"SELECT '{objects.table}'::regclass::text, "
        "format_type('int4'::regtype, -1), format_type(1043, 24), "
        "format_type('numeric'::regtype, 655366), 'text[]'::regtype::text, "
        f"pg_table_is_visible('{objects.table}'::regclass), quote_ident('Mixed Case'), "
        "quote_ident('plain'), pg_encoding_to_char(6), has_table_privilege("
        f"'{objects.table}', 'SELECT'), 'a' OPERATOR(pg_catalog.~) '^a$', "
        "'b' COLLATE pg_catalog.default, array_to_string(ARRAY['x', 'y'], ', ')")
    with psycopg.connect(server.dsn) as ours, psycopg.connect(pg_objects.dsn) as theirs:
        assert ours.execute(query).fetchone() == theirs.execute(query).fetchone()
        attnames = (f"SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM "
                    f"pg_attribute WHERE attrelid = '{objects.table}'::regclass AND attnum > 0 "
                    "ORDER BY attnum")
        assert ours.execute(attnames).fetchall() == theirs.execute(attnames).fetchall()


def test_missing_relation_in_regclass_is_an_error(server: LaminarServer) -> None:
    with psycopg.connect(server.dsn) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable, match="no_such_relation"):
            conn.execute("SELECT 'no_such_relation'::regclass")


def test_oids_are_the_catalog_ids(server: LaminarServer, objects: Objects) -> None:
    """pg_class.oid is the object's id in laminar_catalog and its index's indrelid."""
    with psycopg.connect(server.dsn) as conn:
        oid = conn.execute("SELECT oid FROM pg_class WHERE relname = %s",
                           [objects.table]).fetchone()
        assert oid is not None and oid[0] >= 16384
        index = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s AND i.indisprimary", [oid[0]]).fetchall()
        assert index == [(f"{objects.table}_pkey",)]
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                              "AND tablename = %s", [objects.table]).fetchall()
        assert tables == [(objects.table,)]
        views = conn.execute("SELECT matviewname FROM pg_matviews WHERE matviewname = %s",
                             [objects.view]).fetchall()
        assert views == [(objects.view,)]


def test_information_schema_like_postgres(server: LaminarServer, objects: Objects,
                                          pg_objects: PostgresServer) -> None:
    queries = [
        "SELECT table_schema, table_name, table_type, is_insertable_into FROM "
        "information_schema.tables WHERE table_name IN (%(t)s, %(s)s) ORDER BY table_name",
        "SELECT table_name, column_name, ordinal_position, column_default, is_nullable, "
        "data_type, character_maximum_length, character_octet_length, numeric_precision, "
        "numeric_precision_radix, numeric_scale, datetime_precision, udt_schema, udt_name, "
        "is_identity, is_generated, is_updatable FROM information_schema.columns "
        "WHERE table_name IN (%(t)s, %(s)s) ORDER BY table_name, ordinal_position",
        "SELECT tc.constraint_name, tc.constraint_type, kcu.column_name, kcu.ordinal_position "
        "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage "
        "kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name "
        "WHERE tc.table_name IN (%(t)s, %(s)s) ORDER BY 1, 3",
        "SELECT count(*) FROM information_schema.table_constraints WHERE constraint_type = "
        "'CHECK' AND table_name IN (%(t)s, %(s)s)",  # NOT NULL columns, as CHECKs
        "SELECT constraint_name, constraint_type FROM information_schema.table_constraints "
        "WHERE table_name = %(c)s AND constraint_name NOT LIKE '%%not_null' ORDER BY 1",
        "SELECT constraint_name, column_name, ordinal_position, position_in_unique_constraint "
        "FROM information_schema.key_column_usage WHERE table_name = %(c)s ORDER BY 1",
        "SELECT r.constraint_name, r.unique_constraint_name, r.match_option, r.update_rule, "
        "r.delete_rule FROM information_schema.referential_constraints r JOIN "
        "information_schema.table_constraints t ON t.constraint_name = r.constraint_name "
        "WHERE t.table_name = %(c)s ORDER BY 1",
    ]
    names = {"t": objects.table, "s": objects.serial_table, "c": objects.child}
    with psycopg.connect(server.dsn) as ours, psycopg.connect(pg_objects.dsn) as theirs:
        for query in queries:
            got = ours.execute(query, names).fetchall()
            assert got and got == theirs.execute(query, names).fetchall(), query


def test_information_schema_kinds(server: LaminarServer, objects: Objects) -> None:
    """Sources are FOREIGN tables, streams VIEWs; materialized views are not listed, as
    PostgreSQL lists none."""
    with psycopg.connect(server.dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_name "
            "IN (%s, %s, %s)", [objects.source, objects.stream, objects.view]).fetchall()
        kinds = {str(name): str(kind) for name, kind in rows}
        assert kinds == {objects.source: "FOREIGN", objects.stream: "VIEW"}
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
            "%s ORDER BY ordinal_position", [objects.source]).fetchall()
        assert columns == [("auction", "bigint"), ("bidder", "bigint"), ("price", "bigint"),
                           ("date_time", "timestamp without time zone")]


# ------------------------------------------------------------------------- slt scripts

CATALOG_SCRIPTS = sorted((Path(__file__).parents[2] / "sql_tests" / "catalog").glob("*.slt"))
_databases = itertools.count()


def _passed(result: FileResult) -> None:
    report = "\n".join(f.render() for f in result.failures)
    assert result.error is None, result.error
    assert result.failed == 0 and result.run > 0, f"{result.summary_line()}\n{report}"


@pytest.mark.parametrize("script", CATALOG_SCRIPTS, ids=[p.name for p in CATALOG_SCRIPTS])
@pytest.mark.parametrize("protocol", [Protocol.SIMPLE, Protocol.EXTENDED], ids=["simple",
                                                                                "extended"])
def test_catalog_script(server: LaminarServer, postgres: PostgresServer, script: Path,
                        protocol: Protocol) -> None:
    """sql_tests/catalog/*.slt: the same answers on PostgreSQL 15 and on laminar_pg."""
    database = f"catalog_{next(_databases)}_{uuid.uuid4().hex[:6]}"
    postgres.psql(f"CREATE DATABASE {database}")
    pg_url = postgres.url_for(postgres.user, dbname=database)
    _passed(SltRunner(RunnerConfig(url=pg_url, protocol=protocol, engine="postgresql"))
            .run_file(script))
    _passed(SltRunner(RunnerConfig(url=server.url, protocol=protocol, engine="laminar"))
            .run_file(script))


def test_catalog_inside_a_transaction(server: LaminarServer) -> None:
    """A table created in an open transaction is described to that transaction, with its
    columns and key, and is gone from the catalog after ROLLBACK."""
    name = f"cat_tx_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.dsn) as conn:
        conn.execute(f"CREATE TABLE {name} (a int PRIMARY KEY, b text)")
        columns = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
            f"WHERE attrelid = '{name}'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
        assert columns == [("a", "integer", True), ("b", "text", False)]
        keys = conn.execute("SELECT conname, contype FROM pg_constraint WHERE conrelid = "
                            f"'{name}'::regclass").fetchall()
        assert keys == [(f"{name}_pkey", "p")]
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = %s",
                            [name]).fetchone() == (0,)


def test_oids_survive_a_restart(own_server: LaminarServer) -> None:
    query = ("SELECT c.relname, c.oid, i.indexrelid, a.atttypid FROM pg_class c "
             "JOIN pg_index i ON i.indrelid = c.oid JOIN pg_attribute a ON a.attrelid = c.oid "
             "AND a.attnum = 1 WHERE c.relname = 'kept' ")
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE filler (x int)")
        conn.execute("CREATE TABLE kept (id bigint PRIMARY KEY)")
        before = conn.execute(query).fetchall()
    own_server.stop()
    own_server.start()
    with psycopg.connect(own_server.dsn) as conn:
        assert conn.execute(query).fetchall() == before
    assert before and before[0][1] > 16384 and before[0][3] == 20


# ------------------------------------------------------------------------- information_schema


def _answer(dsn: str, sql: str,
            params: tuple[Any, ...] = ()) -> tuple[list[str], list[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        assert cur.description is not None
        return [d.name for d in cur.description], cur.fetchall()


def test_referential_constraints_like_postgres(server: LaminarServer, objects: Objects,
                                               pg_objects: PostgresServer) -> None:
    """Foreign keys (one to a primary key, one to a UNIQUE column) as PostgreSQL 15 lists
    them (the catalog column names the database, which differs)."""
    sql = ("SELECT * FROM information_schema.referential_constraints "
           "WHERE constraint_name LIKE %s ORDER BY constraint_name")
    ours = _answer(server.dsn, sql, (f"{objects.child}%",))
    theirs = _answer(pg_objects.dsn, sql, (f"{objects.child}%",))
    assert ours[0] == theirs[0]
    drop = [0, 3]  # constraint_catalog, unique_constraint_catalog
    assert [[v for i, v in enumerate(r) if i not in drop] for r in ours[1]] == [
        [v for i, v in enumerate(r) if i not in drop] for r in theirs[1]]
    assert [r[5] for r in ours[1]] == [f"{objects.serial_table}_note_key",
                                       f"{objects.serial_table}_pkey"]


def test_routines_like_postgres(server: LaminarServer, postgres: PostgresServer) -> None:
    """information_schema.routines: PostgreSQL 15's columns; a function both have is
    described alike (specific_name and routine_definition name PostgreSQL's own OIDs
    and C symbols)."""
    sql = ("SELECT routine_schema, routine_name, routine_type, data_type, type_udt_schema, "
           "type_udt_name, dtd_identifier, routine_body, external_language, parameter_style, "
           "is_deterministic, sql_data_access, is_null_call, schema_level_routine, "
           "max_dynamic_result_sets, security_type, as_locator, is_udt_dependent "
           "FROM information_schema.routines WHERE routine_name = ANY(%s)")
    names = ["abs", "lower", "pg_sleep", "pg_backend_pid", "version", "row_number",
             "current_setting", "format_type", "pg_size_pretty", "array_recv", "int4in",
             "pg_terminate_backend"]
    ours = _answer(server.dsn, sql, (names,))
    theirs = _answer(postgres.dsn, sql, (names,))
    assert ours[0] == theirs[0]
    assert {r[1] for r in ours[1]} == set(names)
    assert set(ours[1]) <= set(theirs[1]), set(ours[1]) - set(theirs[1])
    everything = "SELECT * FROM information_schema.routines LIMIT 1"
    assert _answer(server.dsn, everything)[0] == _answer(postgres.dsn, everything)[0]


# ------------------------------------------------------------------------- COMMENT ON

_DESCRIPTIONS = ("SELECT d.objsubid, d.classoid::int, d.description, "
                 "obj_description(c.oid, 'pg_class'), col_description(c.oid, 2) "
                 "FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
                 "WHERE c.relname = %s ORDER BY 1")


def _sqlstate(conn: psycopg.Connection[Any], sql: str) -> str | None:
    try:
        conn.execute(sql)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


def test_comment_on_like_postgres(server: LaminarServer, postgres: PostgresServer) -> None:
    r"""COMMENT ON TABLE / COLUMN / SCHEMA: pg_description, obj_description,
    col_description, `\d+`, `\dt+` and `\dn+` as PostgreSQL 15 shows them; NULL and ''
    remove a comment; a rolled-back COMMENT leaves none; errors carry PostgreSQL's codes."""
    tag = uuid.uuid4().hex[:8]
    table, schema = f"cm_t_{tag}", f"cm_s_{tag}"
    statements = [
        f"CREATE TABLE {table} (id int PRIMARY KEY, note text, gone int)",
        f"CREATE SCHEMA {schema}",
        f"COMMENT ON TABLE {table} IS 'orders, one per row'",
        f"COMMENT ON COLUMN {table}.note IS 'what the buyer wrote'",
        f"COMMENT ON COLUMN public.{table}.id IS 'it''s the key'",
        f"COMMENT ON COLUMN {table}.gone IS 'soon none'",
        f"COMMENT ON COLUMN {table}.gone IS NULL",
        f"COMMENT ON COLUMN {table}.id IS 'replaced'",
        f"COMMENT ON SCHEMA {schema} IS 'a schema'",
        f"ALTER TABLE {table} RENAME COLUMN note TO memo",  # the comment follows
        f"ALTER TABLE {table} ADD COLUMN extra int",
        f"COMMENT ON COLUMN {table}.extra IS 'dropped with its column'",
        f"ALTER TABLE {table} DROP COLUMN extra",
        f"ALTER TABLE {table} ADD COLUMN extra int",
    ]
    errors = [f"COMMENT ON COLUMN {table}.nope IS 'x'", f"COMMENT ON TABLE nope_{tag} IS 'x'",
              f"COMMENT ON VIEW {table} IS 'x'", f"COMMENT ON SCHEMA nope_{tag} IS 'x'"]
    found = []
    for dsn in (server.dsn, postgres.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            tags = [conn.execute(sql).statusmessage for sql in statements]
            with conn.transaction(force_rollback=True):
                conn.execute(f"COMMENT ON TABLE {table} IS 'rolled back'")
            conn.execute(f"COMMENT ON COLUMN {table}.gone IS ''")
            rows = conn.execute(_DESCRIPTIONS, [table]).fetchall()
            schema_row = conn.execute(
                "SELECT obj_description(oid, 'pg_namespace'), obj_description(oid, 'pg_class') "
                "FROM pg_namespace WHERE nspname = %s", [schema]).fetchall()
            codes = [_sqlstate(conn, sql) for sql in errors]
            found.append((tags, rows, schema_row, codes))
    assert found[0] == found[1]
    assert found[0][1] == [(0, 1259, "orders, one per row", "orders, one per row",
                            "what the buyer wrote"),
                           (1, 1259, "replaced", "orders, one per row", "what the buyer wrote"),
                           (2, 1259, "what the buyer wrote", "orders, one per row",
                            "what the buyer wrote")]
    assert found[0][3] == ["42703", "42P01", "42809", "3F000"]
    assert lam(server, rf"\d+ {table}") == pg(postgres, rf"\d+ {table}")
    ours, theirs = rows_of(lam(server, rf"\dt+ {table}")), rows_of(pg(postgres, rf"\dt+ {table}"))
    assert ours[0][-1] == theirs[0][-1] == "orders, one per row"
    ours, theirs = rows_of(lam(server, rf"\dn+ {schema}")), rows_of(pg(postgres, rf"\dn+ {schema}"))
    assert ours[0][-1] == theirs[0][-1] == "a schema"


def test_comment_on_streaming_objects(server: LaminarServer) -> None:
    """Sources, streams (also as VIEW) and materialized views, and their columns."""
    tag = uuid.uuid4().hex[:8]
    source, stream, view = f"cm_bid_{tag}", f"cm_st_{tag}", f"cm_mv_{tag}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SOURCE {source} (auction BIGINT, price BIGINT) WITH ("
                     "connector = 'nexmark', nexmark.table = 'bid', nexmark.events = '10')")
        conn.execute(f"CREATE STREAM {stream} AS SELECT auction FROM {source}")
        conn.execute(f"CREATE MATERIALIZED VIEW {view} AS SELECT auction, count(*) AS n "
                     f"FROM {source} GROUP BY auction")
        conn.execute(f"COMMENT ON SOURCE {source} IS 'bids'")
        conn.execute(f"COMMENT ON COLUMN {source}.price IS 'in cents'")
        conn.execute(f"COMMENT ON STREAM {stream} IS 'auctions bid on'")
        conn.execute(f"COMMENT ON VIEW {stream} IS 'auctions, again'")
        conn.execute(f"COMMENT ON MATERIALIZED VIEW {view} IS 'bids per auction'")
        assert _sqlstate(conn, f"COMMENT ON TABLE {view} IS 'x'") == "42809"
        assert _sqlstate(conn, f"COMMENT ON COLUMN {view}.nope IS 'x'") == "42703"
        got = conn.execute(
            "SELECT c.relname, obj_description(c.oid, 'pg_class'), col_description(c.oid, 2) "
            "FROM pg_class c WHERE c.relname IN (%s, %s, %s) ORDER BY 1",
            [source, stream, view]).fetchall()
    assert got == [(source, "bids", "in cents"), (view, "bids per auction", None),
                   (stream, "auctions, again", None)]
    rows = {r[0]: r for r in rows_of(lam(server, rf"\d+ {source}"))}
    assert rows["price"][-1] == "in cents" and rows["auction"][-1] == ""
    assert rows_of(lam(server, rf"\dm+ {view}"))[0][-1] == "bids per auction"
    assert rows_of(lam(server, rf"\dv+ {stream}"))[0][-1] == "auctions, again"


def test_comments_survive_a_restart(own_server: LaminarServer) -> None:
    query = ("SELECT c.relname, d.objsubid, d.description FROM pg_description d "
             "JOIN pg_class c ON c.oid = d.objoid ORDER BY 1, 2")
    schemas = "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'k'"
    own_server.start()
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id bigint PRIMARY KEY, v text)")
        conn.execute("CREATE TABLE dropped (id int)")
        conn.execute("CREATE SCHEMA k")
        conn.execute("COMMENT ON TABLE kept IS 'kept'")
        conn.execute("COMMENT ON COLUMN kept.v IS 'a value'")
        conn.execute("COMMENT ON TABLE dropped IS 'gone soon'")
        conn.execute("COMMENT ON SCHEMA k IS 'k'")
        conn.execute("CREATE SOURCE bids (auction BIGINT, price BIGINT) WITH ("
                     "connector = 'nexmark', nexmark.table = 'bid', nexmark.events = '10')")
        conn.execute("COMMENT ON SOURCE bids IS 'from nexmark'")
        conn.execute("COMMENT ON COLUMN bids.price IS 'in cents'")
        conn.execute("COMMENT ON COLUMN kept.id IS 'renamed'")
        conn.execute("ALTER TABLE kept RENAME COLUMN id TO key")
        conn.execute("ALTER TABLE kept ADD COLUMN gone int")
        conn.execute("COMMENT ON COLUMN kept.gone IS 'dropped'")
        conn.execute("ALTER TABLE kept DROP COLUMN gone")
        conn.execute("ALTER TABLE kept ADD COLUMN gone int")
        conn.execute("INSERT INTO kept VALUES (1, 'x')")
        conn.execute("DROP TABLE dropped")
        before = conn.execute(query).fetchall()
    own_server.stop()
    own_server.start()
    with psycopg.connect(own_server.dsn) as conn:
        assert conn.execute(query).fetchall() == before
        assert conn.execute(schemas).fetchall() == [("k",)]
        assert conn.execute("SELECT * FROM kept").fetchall() == [(1, "x", None)]
    assert before == [("bids", 0, "from nexmark"), ("bids", 2, "in cents"), ("kept", 0, "kept"),
                      ("kept", 1, "renamed"), ("kept", 2, "a value")]


# ------------------------------------------------------------------------- drivers


def test_sqlalchemy_inspector_like_postgres(server: LaminarServer, objects: Objects,
                                            pg_objects: PostgresServer) -> None:
    """SQLAlchemy's reflection queries (pg8000 driver): the same answers as PostgreSQL's."""
    import sqlalchemy as sa

    def inspect(url: str) -> list[object]:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+pg8000://"))
        try:
            insp = sa.inspect(engine)
            found: list[object] = [
                "public" in insp.get_schema_names(),
                objects.table in insp.get_table_names(),
                objects.stream in insp.get_view_names(),
            ]
            for table in (objects.table, objects.serial_table, objects.child):
                found += [
                    [(c["name"], str(c["type"]), c["nullable"], c["default"])
                     for c in insp.get_columns(table)],
                    insp.get_pk_constraint(table), insp.get_foreign_keys(table),
                    insp.get_indexes(table), insp.get_unique_constraints(table),
                    insp.get_check_constraints(table),
                ]
            return found
        finally:
            engine.dispose()

    ours, theirs = inspect(server.url), inspect(pg_objects.url)
    assert ours[:2] == [True, True] and ours[3:] == theirs[3:]
    assert ours[2] is True  # a stream is a view; PostgreSQL has no such object here


def test_psycopg_type_info(server: LaminarServer, postgres: PostgresServer) -> None:
    def fetch(dsn: str) -> list[tuple[str, int, int] | None]:
        with psycopg.connect(dsn) as conn:
            found = []
            for name in ("int4", "text[]", "jsonb", "timestamptz", "no_such_type"):
                info = TypeInfo.fetch(conn, name)
                found.append(None if info is None else (info.name, info.oid, info.array_oid))
            return found

    ours = fetch(server.dsn)
    assert ours[0] == ("int4", 23, 1007)
    assert ours == fetch(postgres.dsn)


def test_asyncpg_introspects_jsonb_and_arrays_of_results(server: LaminarServer) -> None:
    async def go() -> tuple[object, object, object]:
        conn = await asyncpg.connect(host=server.host, port=server.port, user="laminar",
                                     database="laminar")
        try:
            return (await conn.fetchval("SELECT '{\"a\": 1}'::jsonb"),
                    await conn.fetchval("SELECT ARRAY[1, NULL, 3]::int4[]"),
                    await conn.fetchval("SELECT ARRAY['a', 'b c']::text[]"))
        finally:
            await conn.close()

    assert asyncio.run(go()) == ('{"a": 1}', [1, None, 3], ["a", "b c"])


# --------------------------------------------------- sessions, functions, system tables


def _described(conn: psycopg.Connection[Any], sql: str) -> list[tuple[str, int]]:
    cur = conn.execute(sql)
    assert cur.description is not None
    # name, "char", name[] and inet are text here, xid int8 (docs/catalog.md)
    same = {19: 25, 18: 25, 1003: 1009, 869: 25, 28: 20}
    return [(d.name, same.get(d.type_code, d.type_code)) for d in cur.description]


def test_pg_stat_activity_lists_the_sessions(server: LaminarServer,
                                             postgres: PostgresServer) -> None:
    """pg_stat_activity has PostgreSQL 15's columns and the sessions
    laminar_catalog.sessions lists: this one (active, running the query) and an idle one."""
    columns = "pid, usename, datname, application_name"
    with psycopg.connect(server.dsn, autocommit=True, application_name="idle one") as idle, \
            psycopg.connect(server.dsn, autocommit=True) as conn:
        me = conn.execute("SELECT pg_backend_pid()").fetchone()
        ours = conn.execute(f"SELECT {columns}, state, query FROM pg_stat_activity "
                            "ORDER BY pid").fetchall()
        sessions = conn.execute(f"SELECT {columns} FROM laminar_catalog.sessions "
                                "ORDER BY pid").fetchall()
        described = _described(conn, "SELECT * FROM pg_stat_activity")
        idle_pid = idle.info.backend_pid
    assert [r[:4] for r in ours] == sessions
    by_pid = {r[0]: r for r in ours}
    assert me is not None and by_pid[me[0]][4] == "active"
    assert by_pid[me[0]][5].startswith("SELECT pid, usename")
    assert by_pid[idle_pid][3:5] == ("idle one", "idle")
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        assert described == _described(conn, "SELECT * FROM pg_stat_activity")


@pytest.mark.parametrize("view", ["pg_stat_database", "pg_stat_user_tables",
                                  "pg_stat_all_tables", "pg_policies", "pg_get_keywords()"])
def test_statistics_views_have_postgres_columns(server: LaminarServer, postgres: PostgresServer,
                                                view: str) -> None:
    answers = []
    for dsn in (server.dsn, postgres.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            answers.append(_described(conn, f"SELECT * FROM {view}"))
    assert answers[0] == answers[1]


def test_current_schemas_like_postgres(server: LaminarServer, postgres: PostgresServer) -> None:
    sql = ("SELECT current_schemas(true), current_schemas(false), "
           "pg_catalog.current_schemas(true) AS q")
    answers = []
    for dsn in (server.dsn, postgres.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            answers.append(conn.execute(sql).fetchone())
    assert answers[0] == answers[1] == (["pg_catalog", "public"], ["public"],
                                        ["pg_catalog", "public"])


def test_df_lists_supported_functions(server: LaminarServer, postgres: PostgresServer) -> None:
    r"""\dfS prints the functions laminar_pg answers with PostgreSQL's argument and result
    types (PostgreSQL has more overloads of each)."""
    for pattern in ("lower", "generate_series", "sum", "array_to_string", "now"):
        ours = rows_of(lam(server, rf"\dfS {pattern}"))
        theirs = rows_of(pg(postgres, rf"\dfS {pattern}"))
        assert ours, pattern
        for row in ours:
            assert row in theirs, (pattern, row, theirs)


def test_system_tables_are_views_out_of_default_lists(server: LaminarServer,
                                                      objects: Objects) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        kinds = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE n.nspname = 'laminar_catalog' ORDER BY 1").fetchall()
        listed = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = "
                              "'laminar_catalog'").fetchone()
        attributes = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
            "attrelid = 'laminar_catalog.sessions'::regclass AND attnum > 0 ORDER BY attnum"
        ).fetchall()
        cur = conn.execute("SELECT * FROM laminar_catalog.sessions")
        assert cur.description is not None
        selected = [d.name for d in cur.description]
    names: dict[str, str] = dict(kinds)
    assert {"sources", "tables", "streams", "materialized_views", "sessions",
            "pipeline_metrics"} <= set(names)
    assert set(names.values()) == {"v"}
    assert listed == (0,)
    assert [a[0] for a in attributes] == selected
    assert ("backend_start", "timestamp with time zone") in attributes
    assert "laminar_catalog" not in lam(server, r"\d") + lam(server, r"\dt")
    assert "sessions" in lam(server, r"\dv laminar_catalog.*")


def test_pg_depend_like_postgres(server: LaminarServer, objects: Objects,
                                 pg_objects: PostgresServer) -> None:
    """What depends on a table, as (kind of object, dependency type, column) rows, equal to
    PostgreSQL's (its TOAST tables aside: laminar_pg has none)."""
    sql = ("SELECT classid::regclass::text, deptype, refobjsubid, objsubid FROM pg_depend "
           "WHERE refobjid = '{t}'::regclass AND NOT (classid = 'pg_class'::regclass AND "
           "deptype = 'i') ORDER BY 1, 2, 3")
    for table in (objects.table, objects.serial_table, objects.child):
        answers = []
        for dsn in (server.dsn, pg_objects.dsn):
            with psycopg.connect(dsn, autocommit=True) as conn:
                answers.append(conn.execute(sql.format(t=table)).fetchall())
        assert answers[0] == answers[1], table
        assert answers[0], table
