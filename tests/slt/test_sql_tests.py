"""The project's own sqllogictest files (sql_tests/*.slt), on PostgreSQL 15 and on laminar_pg.

Every file must pass on a real PostgreSQL 15 first (that proves the expected results are
PostgreSQL's), then on laminar_pg, over both the simple and the extended query protocol.
Each file creates the tables it needs under names of its own and drops them at the end, so
every laminar_pg run shares the worker's one server; each PostgreSQL run gets an empty
database of its own.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from laminar_pg.slt.runner import FileResult, Protocol, RunnerConfig, SltRunner
from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer

SQL_TESTS = Path(__file__).parents[2] / "sql_tests"
SCRIPTS = sorted(SQL_TESTS.glob("*.slt"))
PROTOCOLS = [Protocol.SIMPLE, Protocol.EXTENDED]
LAMINAR_ENGINE = "laminar"
POSTGRES_ENGINE = "postgresql"

parametrize_scripts = pytest.mark.parametrize(
    "script", SCRIPTS, ids=[path.name for path in SCRIPTS]
)
parametrize_protocols = pytest.mark.parametrize(
    "protocol", PROTOCOLS, ids=[protocol.value for protocol in PROTOCOLS]
)

_database_numbers = itertools.count()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """The URL of a new empty database: a script starts from nothing."""
    name = f"sql_tests_{next(_database_numbers)}"
    postgres.psql(f"CREATE DATABASE {name}")
    return postgres.url_for(postgres.user, dbname=name)


def _run(url: str, script: Path, protocol: Protocol, engine: str) -> FileResult:
    config = RunnerConfig(url=url, protocol=protocol, engine=engine)
    return SltRunner(config).run_file(script)


def _assert_all_passed(result: FileResult, where: str) -> None:
    failures = [failure.render() for failure in result.failures]
    if result.error is not None:
        failures.insert(0, result.error)
    report = "\n".join(failures)
    assert result.failed == 0, f"on {where}: {result.summary_line()}\n{report}"
    assert result.run > 0, f"on {where}: {result.summary_line()}: no record ran"


def test_scripts_are_found() -> None:
    assert len(SCRIPTS) >= 9, [path.name for path in SCRIPTS]


@parametrize_scripts
@parametrize_protocols
def test_script_passes_on_postgres(postgres_url: str, script: Path, protocol: Protocol) -> None:
    result = _run(postgres_url, script, protocol, POSTGRES_ENGINE)
    _assert_all_passed(result, f"PostgreSQL 15 ({protocol.value} protocol)")


@parametrize_scripts
@parametrize_protocols
def test_script_passes_on_laminar(server: LaminarServer, script: Path, protocol: Protocol) -> None:
    result = _run(server.url, script, protocol, LAMINAR_ENGINE)
    _assert_all_passed(result, f"laminar_pg ({protocol.value} protocol)")


# Streaming statements have no PostgreSQL counterpart: these scripts run on laminar_pg only.
STREAMING_SCRIPTS = sorted((SQL_TESTS / "streaming").glob("*.slt"))


def test_streaming_scripts_are_found() -> None:
    assert len(STREAMING_SCRIPTS) >= 3, [path.name for path in STREAMING_SCRIPTS]


@pytest.mark.parametrize("script", STREAMING_SCRIPTS, ids=[p.name for p in STREAMING_SCRIPTS])
@parametrize_protocols
def test_streaming_script_passes_on_laminar(server: LaminarServer, script: Path,
                                            protocol: Protocol) -> None:
    result = _run(server.url, script, protocol, LAMINAR_ENGINE)
    _assert_all_passed(result, f"laminar_pg ({protocol.value} protocol)")
