"""The sqllogictest runner: parser units on inline scripts, runner end to end on PostgreSQL 15.

The runner is proven against a real PostgreSQL before laminar_pg has tables: our smoke script
and SQLite's select1-5 corpus must pass there in both protocols, and a wrong expectation must
be reported with its file:line.
"""

from __future__ import annotations

import hashlib
import itertools
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from laminar_pg.slt.cli import main as slt_main
from laminar_pg.slt.parser import (
    Condition,
    ExpectedHash,
    ExpectedValues,
    Halt,
    HashThreshold,
    Location,
    Query,
    SltParseError,
    SortMode,
    Statement,
    parse,
)
from laminar_pg.slt.runner import (
    FileResult,
    Outcome,
    Protocol,
    RunnerConfig,
    SltRunner,
    ValueTypeError,
    format_value,
    hash_values,
)
from laminar_pg.testing.postgres import (
    PostgresServer,
    postgres_unavailable_reason,
    start_postgres,
)

REPO_ROOT = Path(__file__).parents[2]
SQL_TESTS = REPO_ROOT / "sql_tests"
CORPORA = REPO_ROOT.parent / "shared" / "corpora"
SQLITE_CORPUS = CORPORA / "sqlite"

_PG_MISSING = postgres_unavailable_reason()
needs_postgres = pytest.mark.skipif(
    _PG_MISSING is not None, reason=f"needs a real PostgreSQL 15: {_PG_MISSING}"
)


def _script(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --------------------------------------------------------------------------- parser


def test_statement_records() -> None:
    records = parse(
        _script(
            """
            statement ok
            CREATE TABLE t(a INTEGER)

            statement error
            DROP TABLE nope

            statement error relation "nope" does not exist
            SELECT * FROM nope

            statement error
            SELECT 1 / 0
            ----
            division by zero

            statement count 3
            INSERT INTO t VALUES (1), (2), (3)
            """
        ),
        "inline.slt",
    )
    assert records == [
        Statement(Location("inline.slt", 1), (), "CREATE TABLE t(a INTEGER)"),
        Statement(Location("inline.slt", 4), (), "DROP TABLE nope", expect_error=True),
        Statement(
            Location("inline.slt", 7),
            (),
            "SELECT * FROM nope",
            expect_error=True,
            error_pattern='relation "nope" does not exist',
        ),
        Statement(
            Location("inline.slt", 10),
            (),
            "SELECT 1 / 0",
            expect_error=True,
            error_text="division by zero",
        ),
        Statement(
            Location("inline.slt", 15), (), "INSERT INTO t VALUES (1), (2), (3)", expected_count=3
        ),
    ]


def test_query_header_and_multiline_sql() -> None:
    (record,) = parse(
        _script(
            """
            query ITR rowsort label-7
            SELECT a,
                   b, c
            FROM t
            ----
            1
            x
            2.000
            """
        )
    )
    assert record == Query(
        Location("<string>", 1),
        (),
        "SELECT a,\n       b, c\nFROM t",
        "ITR",
        SortMode.ROWSORT,
        "label-7",
        ExpectedValues(("1", "x", "2.000")),
    )


@pytest.mark.parametrize(
    ("header", "sort_mode", "label"),
    [
        ("query I", SortMode.NOSORT, None),
        ("query I nosort", SortMode.NOSORT, None),
        ("query I rowsort", SortMode.ROWSORT, None),
        ("query I valuesort", SortMode.VALUESORT, None),
        ("query I valuesort my-label", SortMode.VALUESORT, "my-label"),
    ],
)
def test_query_sort_modes(header: str, sort_mode: SortMode, label: str | None) -> None:
    (record,) = parse(f"{header}\nSELECT 1\n----\n1\n")
    assert isinstance(record, Query)
    assert (record.sort_mode, record.label) == (sort_mode, label)


def test_value_per_line_and_row_per_line_layouts() -> None:
    per_value, per_row = parse(
        _script(
            """
            query IT
            SELECT 1, 'a' UNION ALL SELECT 2, 'b'
            ----
            1
            a
            2
            b

            query IT
            SELECT 1, 'a' UNION ALL SELECT 2, 'b'
            ----
            1 a
            2   b
            """
        )
    )
    assert isinstance(per_value, Query) and isinstance(per_row, Query)
    assert isinstance(per_value.expected, ExpectedValues)
    assert isinstance(per_row.expected, ExpectedValues)
    assert not per_value.expected.is_row_layout(2)
    assert per_row.expected.is_row_layout(2)
    assert per_value.expected.values(2) == per_row.expected.values(2) == ("1", "a", "2", "b")
    # A single column is always one value per line, even when a value holds a space.
    assert not ExpectedValues(("a b",)).is_row_layout(1)


def test_hashed_and_empty_results() -> None:
    hashed, empty, no_separator = parse(
        _script(
            """
            query I rowsort
            SELECT * FROM t
            ----
            30 values hashing to 3C3BBD6A6F5B1A8B3E2F0F4F6E0A2C1D

            query I
            SELECT * FROM t WHERE false
            ----

            query I
            SELECT * FROM t WHERE false
            """
        )
    )
    assert isinstance(hashed, Query) and isinstance(empty, Query)
    assert isinstance(no_separator, Query)
    assert hashed.expected == ExpectedHash(30, "3c3bbd6a6f5b1a8b3e2f0f4f6e0a2c1d")
    assert empty.expected == no_separator.expected == ExpectedValues(())
    assert empty.location.line == 6 and no_separator.location.line == 10


def test_control_records_conditions_and_comments() -> None:
    records = parse(
        _script(
            """
            # a comment before anything
            hash-threshold 8

            skipif mysql # a trailing comment
            onlyif postgresql
            # a comment between the conditions and the record
            statement ok
            CREATE TABLE t(a INTEGER)
            # a comment inside the SQL is dropped

            onlyif mssql  # this is allowed
            halt

            halt
            """
        ),
        "c.test",
    )
    conditions = (Condition("skipif", "mysql"), Condition("onlyif", "postgresql"))
    assert records == [
        HashThreshold(Location("c.test", 2), 8),
        Statement(Location("c.test", 7), conditions, "CREATE TABLE t(a INTEGER)"),
        Halt(Location("c.test", 12), (Condition("onlyif", "mssql"),)),
        Halt(Location("c.test", 14), ()),
    ]


def test_conditions_allow() -> None:
    assert Condition("skipif", "mysql").allows("postgresql")
    assert not Condition("skipif", "postgresql").allows("postgresql")
    assert Condition("onlyif", "postgresql").allows("postgresql")
    assert not Condition("onlyif", "sqlite").allows("postgresql")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("statement ok\nSELECT 1\n\nfrobnicate\n", 4, "unknown record type"),
        ("query X\nSELECT 1\n", 1, "column types"),
        ("\n\nquery I sideways\nSELECT 1\n", 3, "sort mode"),
        ("statement maybe\nSELECT 1\n", 1, "statement ok|error"),
        ("query I\n----\n1\n", 1, "no SQL"),
        ("hash-threshold many\n", 1, "hash-threshold"),
    ],
)
def test_parse_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(SltParseError, match=message) as caught:
        parse(text, "bad.slt")
    assert caught.value.location == Location("bad.slt", line)
    assert str(caught.value).startswith(f"bad.slt:{line}: ")


def test_smoke_script_parses() -> None:
    records = parse((SQL_TESTS / "smoke.slt").read_text(), "smoke.slt")
    kinds = {type(record) for record in records}
    assert kinds == {Statement, Query, HashThreshold}


# --------------------------------------------------------------------------- value rendering


@pytest.mark.parametrize(
    ("raw", "column_type", "rendered"),
    [
        (None, "I", "NULL"),
        (None, "T", "NULL"),
        ("", "T", "(empty)"),
        ("42", "I", "42"),
        ("-7", "I", "-7"),
        ("3.0000", "I", "3"),  # an integral numeric
        ("1e+20", "I", "100000000000000000000"),  # an integral float8
        ("2.5", "R", "2.500"),
        ("-3", "R", "-3.000"),
        ("0.0005", "R", "0.001"),
        ("a b  c", "T", "a b  c"),
        ("tab\there\nnewline", "T", "tab@here@newline"),
        ("t", "T", "t"),
        ("café", "T", "café"),
    ],
)
def test_format_value(raw: str | None, column_type: str, rendered: str) -> None:
    assert format_value(raw, column_type) == rendered


@pytest.mark.parametrize(
    ("raw", "column_type"),
    [("2.5", "I"), ("t", "I"), ("abc", "I"), ("NaN", "I"), ("Infinity", "I"), ("x", "R")],
)
def test_format_value_rejects_wrong_types(raw: str, column_type: str) -> None:
    with pytest.raises(ValueTypeError):
        format_value(raw, column_type)


def test_hash_is_md5_of_newline_terminated_values() -> None:
    expected = hashlib.md5(b"1\nNULL\n(empty)\n", usedforsecurity=False).hexdigest()
    assert hash_values(["1", "NULL", "(empty)"]) == expected


# --------------------------------------------------------------------------- runner on PostgreSQL


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL 15 for this module."""
    if _PG_MISSING is not None:
        pytest.skip(f"needs a real PostgreSQL 15: {_PG_MISSING}")
    with start_postgres() as server:
        yield server


_database_numbers = itertools.count()

FreshUrl = Callable[[], str]


@pytest.fixture
def fresh_url(postgres: PostgresServer) -> FreshUrl:
    """Makes a new empty database (a script expects to start from nothing); returns its URL."""

    def make() -> str:
        name = f"slt_{next(_database_numbers)}"
        postgres.psql(f"CREATE DATABASE {name}")
        return postgres.url_for(postgres.user, dbname=name)

    return make


def _run(url: str, path: Path, protocol: Protocol = Protocol.SIMPLE) -> FileResult:
    return SltRunner(RunnerConfig(url=url, protocol=protocol)).run_file(path)


def _write(tmp_path: Path, text: str, name: str = "case.slt") -> Path:
    path = tmp_path / name
    path.write_text(_script(text))
    return path


def _assert_passed(result: FileResult) -> None:
    report = "\n".join(failure.render() for failure in result.failures)
    assert result.failed == 0, f"{result.summary_line()}\n{report}"


@needs_postgres
@pytest.mark.parametrize("protocol", list(Protocol))
def test_smoke_script_passes_on_postgres(fresh_url: FreshUrl, protocol: Protocol) -> None:
    result = _run(fresh_url(), SQL_TESTS / "smoke.slt", protocol)
    _assert_passed(result)
    assert result.run == 21 and result.passed == 21 and result.skipped == 2


@needs_postgres
def test_wrong_expected_result_is_reported_with_file_and_line(
    fresh_url: FreshUrl, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        """
        query I
        SELECT 1
        ----
        1

        query IT
        SELECT 2, 'two'
        ----
        2 three

        query I
        SELECT 3
        ----
        3
        """,
    )
    result = _run(fresh_url(), path)
    assert (result.run, result.passed, result.failed) == (3, 2, 1)
    (failure,) = result.failures
    assert failure.location == Location(str(path), 6)
    rendered = failure.render()
    assert rendered.startswith(f"{path}:6: result differs")
    assert "SELECT 2, 'two'" in rendered
    assert "2 three" in rendered and "2 two" in rendered


@needs_postgres
def test_wrong_hash_is_reported(fresh_url: FreshUrl, tmp_path: Path) -> None:
    right = hash_values(str(i) for i in range(1, 6))
    wrong = hash_values(str(i) for i in range(2, 7))
    path = _write(
        tmp_path,
        f"""
        hash-threshold 2

        query I
        SELECT * FROM generate_series(1, 5) ORDER BY 1
        ----
        5 values hashing to {right}

        query I
        SELECT * FROM generate_series(1, 5) ORDER BY 1
        ----
        5 values hashing to {wrong}

        query I
        SELECT * FROM generate_series(1, 5) ORDER BY 1
        ----
        4 values hashing to {right}
        """,
    )
    result = _run(fresh_url(), path)
    assert [failure.location.line for failure in result.failures] == [8, 13]
    assert result.failures[0].expected == (f"5 values hashing to {wrong}",)
    assert result.failures[0].actual[:2] == (f"5 values hashing to {right}", "1")


@needs_postgres
def test_query_without_results_expects_an_empty_set(fresh_url: FreshUrl, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        query I
        SELECT 1 WHERE false

        query I
        SELECT 1
        """,
    )
    result = _run(fresh_url(), path)
    assert [record.outcome for record in result.records] == [Outcome.PASSED, Outcome.FAILED]


@needs_postgres
def test_failures_do_not_stop_the_script(fresh_url: FreshUrl, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        statement ok
        CREATE TABLE t(a INTEGER)

        statement ok
        INSERT INTO missing VALUES (1)

        statement error
        INSERT INTO t VALUES (1)

        statement error no such thing
        SELECT 1 / 0

        statement ok
        INSERT INTO t VALUES (2)

        query I
        SELECT 2.5

        query II
        SELECT a FROM t

        query I
        SELECT a FROM t
        ----
        1
        2
        """,
    )
    result = _run(fresh_url(), path)
    reasons = {failure.location.line: failure.reason for failure in result.failures}
    assert set(reasons) == {4, 7, 10, 16, 19}
    assert reasons[4].startswith("statement failed: [42P01]")
    assert reasons[7] == "statement succeeded but an error was expected"
    assert "does not match 'no such thing'" in reasons[10]
    assert reasons[16] == "wrong value type: '2.5' in an I column is not an integer"
    assert reasons[19] == "query returned 1 columns, expected 2 (II)"
    assert result.records[-1].outcome is Outcome.PASSED


@needs_postgres
def test_labels_must_agree(fresh_url: FreshUrl, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        query I nosort same
        SELECT 1
        ----
        1

        query I nosort same
        SELECT 1 + 0
        ----
        1

        query I nosort same
        SELECT 2
        ----
        2
        """,
    )
    result = _run(fresh_url(), path)
    (failure,) = result.failures
    assert failure.location.line == 11
    assert failure.reason == f"label same gave a different result than at {path}:1"


@needs_postgres
def test_halt_and_conditions(fresh_url: FreshUrl, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        onlyif sqlite
        halt

        query I
        SELECT 1
        ----
        1

        skipif postgresql
        query I
        SELECT nonsense

        halt

        query I
        SELECT nonsense
        """,
    )
    result = _run(fresh_url(), path)
    assert [record.outcome for record in result.records] == [
        Outcome.PASSED,
        Outcome.SKIPPED,
        Outcome.SKIPPED,
    ]
    assert result.halted_at == Location(str(path), 13)


@needs_postgres
@pytest.mark.parametrize(
    ("protocol", "prepared"), [(Protocol.SIMPLE, "f"), (Protocol.EXTENDED, "t")]
)
def test_protocol_choice(
    fresh_url: FreshUrl, tmp_path: Path, protocol: Protocol, prepared: str
) -> None:
    """Under `extended` the query itself is a prepared statement while it runs."""
    path = _write(
        tmp_path,
        f"""
        query T
        SELECT count(*) > 0 FROM pg_prepared_statements
        ----
        {prepared}
        """,
    )
    _assert_passed(_run(fresh_url(), path, protocol))


@needs_postgres
def test_cli_reports_failures_and_writes_junit(
    fresh_url: FreshUrl, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        """
        statement ok
        CREATE TABLE t(a INTEGER)

        query I
        SELECT 41
        ----
        42
        """,
    )
    junit = tmp_path / "report.xml"
    status = slt_main([str(path), "--url", fresh_url(), "--verbose", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert status == 1
    assert f"{path}:4: result differs" in out
    assert "    42" in out and "    41" in out
    assert "1 file(s): 2 run, 1 passed, 1 failed, 0 skipped" in out
    suites = ET.parse(junit).getroot()
    assert suites.get("failures") == "1"
    cases = suites.findall("./testsuite/testcase")
    assert [case.get("name") for case in cases] == ["statement at line 1", "query at line 4"]
    assert cases[1].find("failure") is not None


@needs_postgres
def test_cli_passes_smoke_and_fails_fast(fresh_url: FreshUrl, tmp_path: Path) -> None:
    smoke = str(SQL_TESTS / "smoke.slt")
    assert slt_main([smoke, "--url", fresh_url(), "--protocol", "extended"]) == 0
    bad = _write(tmp_path, "query I\nSELECT 1\n----\n2\n")
    assert slt_main([str(bad), smoke, "--url", fresh_url(), "--fail-fast"]) == 1


def test_cli_reports_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    assert slt_main([str(SQL_TESTS / "smoke.slt"), "--url", url]) == 1
    assert "cannot connect" in capsys.readouterr().out


# --------------------------------------------------------------------------- SQLite's corpus


@needs_postgres
@pytest.mark.parametrize("protocol", list(Protocol))
def test_sqlite_select1_passes_on_postgres(fresh_url: FreshUrl, protocol: Protocol) -> None:
    result = _run(fresh_url(), SQLITE_CORPUS / "select1.test", protocol)
    _assert_passed(result)
    assert result.run == 1031 and result.skipped == 0


@needs_postgres
@pytest.mark.slow
@pytest.mark.parametrize("name", ["select2", "select3", "select4", "select5"])
def test_sqlite_select2_to_5_pass_on_postgres(fresh_url: FreshUrl, name: str) -> None:
    result = _run(fresh_url(), SQLITE_CORPUS / f"{name}.test")
    _assert_passed(result)
    assert result.run > 1000
