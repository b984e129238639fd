"""pgjdbc's DatabaseMetaData against laminar_pg and a real PostgreSQL 15 holding the same tables.

MetaDataDump.java (compiled with plain `javac`, run with Debian's postgresql.jar, 42.5) prints
what each DatabaseMetaData call returns: its columns (label, JDBC type, type name) and rows.
It runs once against each server, and each call's answer is compared here: the same columns,
and for the objects of this test the same rows.

One difference is accepted and normalised: a catalog column read directly from its
relation is described as `name` as in PostgreSQL, but one that passes through a subquery
(pgjdbc's getPrimaryKeys, getIndexInfo, getImportedKeys) is `text` here (catalog names are
text in the engine); both are JDBC VARCHAR, which is what a JDBC application reads.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer
from tests.clients.test_java import PGJDBC_JAR, TIMEOUT_S, compile_with_pgjdbc

SOURCE = Path(__file__).parent / "java" / "MetaDataDump.java"


@dataclass
class CallResult:
    columns: list[str] = field(default_factory=list)  # "label:jdbcType:typeName"
    rows: list[list[str | None]] = field(default_factory=list)
    error: str | None = None


Dump = dict[str, CallResult]


def _unescape(value: str) -> str | None:
    if value == "\\N":
        return None
    out, chars = [], iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def parse_dump(output: str) -> Dump:
    calls: Dump = {}
    current: CallResult | None = None
    for line in output.splitlines():
        if line.startswith("@call "):
            current = calls.setdefault(line[len("@call "):], CallResult())
        elif line.startswith("@fatal"):
            raise AssertionError(output)
        elif current is None:
            continue
        elif line.startswith("@columns "):
            current.columns = line[len("@columns "):].split("\t")
        elif line.startswith("@error "):
            current.error = line[len("@error "):]
        else:
            current.rows.append([_unescape(v) for v in line.split("\t")])
    return calls


@dataclass(frozen=True)
class Names:
    parent: str
    child: str


def ddl(names: Names) -> list[str]:
    p, c = names.parent, names.child
    return [
        f"CREATE TABLE {p} (id int PRIMARY KEY, name varchar(20) NOT NULL UNIQUE, "
        "score numeric(10,2), tags text[], seen timestamptz DEFAULT now(), "
        "ratio double precision, day date, doc jsonb)",
        f"CREATE INDEX {p}_score ON {p} (score)",
        f"CREATE TABLE {c} (id serial PRIMARY KEY, parent int REFERENCES {p}(id), "
        "note text, code char(3))",
    ]


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_with_pgjdbc(SOURCE, tmp_path_factory.mktemp("java-metadata"))


def run_dump(classes: Path, url: str, names: Names) -> Dump:
    proc = subprocess.run(
        ["java", "-Dfile.encoding=UTF-8", "-cp", f"{classes}:{PGJDBC_JAR}", "MetaDataDump",
         url, names.parent, names.child],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return parse_dump(proc.stdout)


@dataclass(frozen=True)
class Dumps:
    laminar: Dump
    postgres: Dump
    names: Names


@pytest.fixture(scope="module")
def dumps(server: LaminarServer, postgres: PostgresServer, java_classes: Path) -> Iterator[Dumps]:
    tag = uuid.uuid4().hex[:6]
    names = Names(parent=f"jm{tag}_parent", child=f"jm{tag}_child")
    for dsn in (server.dsn, postgres.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in ddl(names):
                conn.execute(statement)
    lam = run_dump(java_classes, f"jdbc:postgresql://{server.host}:{server.port}/laminar"
                                 "?user=laminar", names)
    pg = run_dump(java_classes, f"jdbc:postgresql://{postgres.host}:{postgres.port}/"
                                f"{postgres.dbname}?user={postgres.user}", names)
    yield Dumps(lam, pg, names)
    for dsn in (server.dsn, postgres.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {names.child}, {names.parent}")


def normalised_columns(columns: list[str]) -> list[str]:
    return [c[: -len(":name")] + ":text" if c.endswith(":name") else c for c in columns]


ALL_CALLS = [
    "getTables", "getTables TABLE", "getTableTypes", "getColumns", "getPrimaryKeys",
    "getPrimaryKeys child", "getTypeInfo", "getSchemas", "getSchemas pattern", "getCatalogs",
    "getIndexInfo", "getIndexInfo unique", "getImportedKeys", "getExportedKeys",
    "getCrossReference", "getBestRowIdentifier", "getProcedures", "getFunctions", "getUDTs",
    "getColumnPrivileges", "getDatabaseProductName",
]

# Calls whose rows (for this test's objects) must equal PostgreSQL's exactly.
SAME_ROWS = [
    "getTables", "getTables TABLE", "getTableTypes", "getColumns", "getPrimaryKeys",
    "getPrimaryKeys child", "getSchemas pattern", "getIndexInfo", "getIndexInfo unique",
    "getImportedKeys", "getExportedKeys", "getCrossReference", "getBestRowIdentifier",
    "getProcedures", "getFunctions", "getUDTs", "getDatabaseProductName",
]


@pytest.mark.parametrize("call", ALL_CALLS)
def test_same_columns(dumps: Dumps, call: str) -> None:
    lam, pg = dumps.laminar[call], dumps.postgres[call]
    assert lam.error is None and pg.error is None, (lam.error, pg.error)
    assert normalised_columns(lam.columns) == normalised_columns(pg.columns)


@pytest.mark.parametrize("call", SAME_ROWS)
def test_same_rows(dumps: Dumps, call: str) -> None:
    lam, pg = dumps.laminar[call], dumps.postgres[call]
    assert lam.error is None, lam.error
    assert lam.rows == pg.rows


def test_tables_found(dumps: Dumps) -> None:
    """The comparison above is not vacuous: PostgreSQL lists both tables, their columns,
    keys and indexes."""
    pg = dumps.postgres
    assert [r[2] for r in pg["getTables TABLE"].rows] == [dumps.names.child, dumps.names.parent]
    assert len(pg["getColumns"].rows) >= 12
    assert [r[3] for r in pg["getPrimaryKeys"].rows] == ["id"]
    assert len(pg["getIndexInfo"].rows) == 3
    assert len(pg["getImportedKeys"].rows) == 1


def test_schemas(dumps: Dumps) -> None:
    lam = {r[0] for r in dumps.laminar["getSchemas"].rows}
    pg = {r[0] for r in dumps.postgres["getSchemas"].rows}
    assert {"information_schema", "pg_catalog", "public"} <= pg  # and other tests' schemas
    assert lam == pg | {"laminar_catalog"}


def test_catalogs_are_the_database(dumps: Dumps) -> None:
    assert dumps.laminar["getCatalogs"].rows == [["laminar"]]
    assert len(dumps.postgres["getCatalogs"].rows) == 1


def test_type_info(dumps: Dumps) -> None:
    """Every type laminar_pg has is one PostgreSQL has, described the same way (PostgreSQL
    has many more: geometric types, ranges, internal types)."""
    every = {str(r[0]): r for r in dumps.laminar["getTypeInfo"].rows}
    # the base types and their arrays (not the arrays of the row types of relations, which
    # other tests create on this server only)
    lam = {n: r for n, r in every.items() if not n.startswith("_") or n[1:] in every}
    pg = {r[0]: r for r in dumps.postgres["getTypeInfo"].rows}
    assert {"int4", "int8", "text", "varchar", "numeric", "timestamptz", "jsonb", "_int4",
            "_text", "bool", "bytea", "uuid", "date", "float8"} <= set(lam)
    assert set(lam) <= set(pg)
    assert {name: lam[name] for name in lam} == {name: pg[name] for name in lam}


def test_column_privileges_shape(dumps: Dumps) -> None:
    lam, pg = dumps.laminar["getColumnPrivileges"], dumps.postgres["getColumnPrivileges"]
    # one row per column and privilege (grantor and grantee differ: each server's own user)
    assert len(lam.rows) == len(pg.rows) > 0
    assert [(r[3], r[6]) for r in lam.rows] == [(r[3], r[6]) for r in pg.rows]
