"""The Laminar dialect: utility statements, script splitting and PostgreSQL's error positions.

Error positions in ERROR_CASES were read from PostgreSQL 15 (psycopg's
`e.diag.statement_position`) for the same query text.
"""

from __future__ import annotations

import logging

import pytest
from sqlglot import exp

from laminar_pg.errors import SqlError
from laminar_pg.sql import Laminar, Statement, parse_one_statement, parse_script
from laminar_pg.sql import ast as lam

# (sql, expected top-level class)
ROUND_TRIP_CASES: list[tuple[str, type[exp.Expr]]] = [
    ("SELECT 1 AS x", exp.Select),
    ("SELECT $1::int4", exp.Select),
    ("WITH a AS (SELECT 1) SELECT * FROM a", exp.Select),
    ("(SELECT 1)", exp.Subquery),
    ("VALUES (1), (2)", exp.Values),
    ("SELECT 1 UNION SELECT 2", exp.Union),
    ("INSERT INTO t SELECT 1", exp.Insert),
    ("CREATE TABLE t (a INT)", exp.Create),
    ("SET x = 1", lam.SetVariable),
    ("SET x TO 'a', 'b'", lam.SetVariable),
    ("SET SESSION x TO on", lam.SetVariable),
    ("SET LOCAL x TO 'y'", lam.SetVariable),
    ("SET x = DEFAULT", lam.SetVariable),
    ("SET TIME ZONE 'UTC'", lam.SetVariable),
    ("SET TIME ZONE LOCAL", lam.SetVariable),
    ("SET TIME ZONE INTERVAL '-08:00' HOUR TO MINUTE", lam.SetVariable),
    ("SET NAMES 'utf8'", lam.SetVariable),
    ("SET SCHEMA 'x'", lam.SetVariable),
    (
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        lam.SetVariable,
    ),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", lam.SetVariable),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY", lam.SetVariable),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY, DEFERRABLE", lam.SetVariable),
    ('SET search_path TO a, "B", public', lam.SetVariable),
    ("SET extra_float_digits = 3", lam.SetVariable),
    ("SET statement_timeout = '5s'", lam.SetVariable),
    ("SET application_name = 'x y'", lam.SetVariable),
    ("SET x = -3.5", lam.SetVariable),
    ('SET "My.Var" = true', lam.SetVariable),
    ("SET x = 'it''s'", lam.SetVariable),
    ("SET ROLE admin", lam.SetVariable),
    ("SET SESSION AUTHORIZATION DEFAULT", lam.SetVariable),
    ("SET SESSION AUTHORIZATION 'u'", lam.SetVariable),
    ("SET datestyle TO ISO, MDY", lam.SetVariable),
    ("SELECT abort, flush FROM checkpoint", exp.Select),
    ("UPDATE t SET a = 1 WHERE b = 2", exp.Update),
    ("SHOW x", lam.ShowVariable),
    ("SHOW TIME ZONE", lam.ShowVariable),
    ("SHOW TRANSACTION ISOLATION LEVEL", lam.ShowVariable),
    ("SHOW ALL", lam.ShowVariable),
    ("SHOW a.b", lam.ShowVariable),
    ("SHOW SOURCES", lam.ShowObjects),
    ("SHOW STREAMS", lam.ShowObjects),
    ("SHOW MATERIALIZED VIEWS", lam.ShowObjects),
    ("SHOW tables", lam.ShowObjects),
    ("SHOW SINKS", lam.ShowObjects),
    ("SHOW VIEWS", lam.ShowObjects),
    ("RESET x", lam.ResetVariable),
    ("RESET ALL", lam.ResetVariable),
    ("RESET TIME ZONE", lam.ResetVariable),
    ("BEGIN", exp.Transaction),
    ("BEGIN WORK", exp.Transaction),
    ("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", exp.Transaction),
    ("BEGIN ISOLATION LEVEL REPEATABLE READ READ WRITE NOT DEFERRABLE", exp.Transaction),
    ("START TRANSACTION", exp.Transaction),
    ("START TRANSACTION READ ONLY, DEFERRABLE", exp.Transaction),
    ("COMMIT", exp.Commit),
    ("COMMIT WORK", exp.Commit),
    ("END", exp.Commit),
    ("END TRANSACTION", exp.Commit),
    ("COMMIT AND NO CHAIN", exp.Commit),
    ("ROLLBACK", exp.Rollback),
    ("ROLLBACK WORK", exp.Rollback),
    ("ABORT", exp.Rollback),
    ("ABORT TRANSACTION", exp.Rollback),
    ("ROLLBACK TO SAVEPOINT a", exp.Rollback),
    ("ROLLBACK TO a", exp.Rollback),
    ("SAVEPOINT a", lam.Savepoint),
    ("RELEASE a", lam.ReleaseSavepoint),
    ('RELEASE SAVEPOINT "A b"', lam.ReleaseSavepoint),
    ("DISCARD ALL", lam.Discard),
    ("DISCARD PLANS", lam.Discard),
    ("DISCARD SEQUENCES", lam.Discard),
    ("DISCARD TEMP", lam.Discard),
    ("DISCARD TEMPORARY", lam.Discard),
    ("DEALLOCATE x", lam.Deallocate),
    ("DEALLOCATE PREPARE x", lam.Deallocate),
    ("DEALLOCATE ALL", lam.Deallocate),
    ("PREPARE p (int4, text) AS SELECT $1, $2", lam.Prepare),
    ("PREPARE p AS INSERT INTO t VALUES (1)", lam.Prepare),
    ("EXECUTE p (1, 'a')", lam.ExecutePrepared),
    ("EXECUTE p", lam.ExecutePrepared),
    ('DECLARE "c" CURSOR WITHOUT HOLD FOR SELECT 1', lam.DeclareCursor),
    (
        "DECLARE c BINARY INSENSITIVE NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t",
        lam.DeclareCursor,
    ),
    ("DECLARE c SCROLL CURSOR FOR VALUES (1)", lam.DeclareCursor),
    ("DECLARE c ASENSITIVE CURSOR FOR SELECT 1", lam.DeclareCursor),
    ("FETCH c", lam.FetchCursor),
    ("FETCH 10 c", lam.FetchCursor),
    ("FETCH 10 FROM c", lam.FetchCursor),
    ("FETCH FORWARD 10 IN c", lam.FetchCursor),
    ("FETCH ALL FROM c", lam.FetchCursor),
    ("FETCH FORWARD ALL c", lam.FetchCursor),
    ("FETCH BACKWARD 2 c", lam.FetchCursor),
    ("FETCH ABSOLUTE 3 c", lam.FetchCursor),
    ("FETCH RELATIVE -1 c", lam.FetchCursor),
    ("FETCH NEXT c", lam.FetchCursor),
    ("FETCH PRIOR FROM c", lam.FetchCursor),
    ("FETCH c WITH (timeout = '1s')", lam.FetchCursor),
    ("MOVE 5 c", lam.FetchCursor),
    ("MOVE LAST IN c", lam.FetchCursor),
    ("CLOSE c", lam.CloseCursor),
    ("CLOSE ALL", lam.CloseCursor),
    ("LISTEN x", lam.Listen),
    ("UNLISTEN x", lam.Unlisten),
    ("UNLISTEN *", lam.Unlisten),
    ("NOTIFY x", lam.Notify),
    ("NOTIFY x, 'hi'", lam.Notify),
    ("FLUSH", lam.FlushStatement),
    ("CHECKPOINT", lam.CheckpointStatement),
]


def parse(sql: str) -> exp.Expr:
    statement = parse_one_statement(sql)
    assert statement.ast is not None
    return statement.ast


def assert_no_command(tree: exp.Expr) -> None:
    assert not any(isinstance(node, exp.Command) for node in tree.walk())


@pytest.mark.parametrize(("sql", "kind"), ROUND_TRIP_CASES)
def test_round_trip(sql: str, kind: type[exp.Expr]) -> None:
    tree = parse(sql)
    assert type(tree) is kind
    assert_no_command(tree)
    generated = tree.sql(dialect=Laminar)
    again = parse(generated)
    assert again == tree, generated
    # sqlglot's equality folds the case of plain strings: compare the full dump too.
    assert repr(again) == repr(tree), generated
    assert again.sql(dialect=Laminar) == generated


def set_fields(sql: str) -> tuple[str, list[str] | None, bool]:
    tree = parse(sql)
    assert isinstance(tree, lam.SetVariable)
    return str(tree.this), tree.values, tree.local


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SET x = 1", ("x", ["1"], False)),
        ("SET X TO 'a', 'b'", ("x", ["a", "b"], False)),
        ("SET SESSION x TO On", ("x", ["on"], False)),
        ("SET LOCAL x = DEFAULT", ("x", None, True)),
        ("SET TIME ZONE 'UTC'", ("timezone", ["UTC"], False)),
        ("SET TIME ZONE LOCAL", ("timezone", None, False)),
        ("SET TIME ZONE DEFAULT", ("timezone", None, False)),
        ("SET NAMES 'utf8'", ("client_encoding", ["utf8"], False)),
        ("SET SCHEMA 'x'", ("search_path", ["x"], False)),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
            ("default_transaction_isolation", ["read committed"], False),
        ),
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            ("transaction_isolation", ["serializable"], False),
        ),
        ('SET search_path TO a, "B", Public', ("search_path", ["a", "B", "public"], False)),
        ("SET extra_float_digits = 3", ("extra_float_digits", ["3"], False)),
        ("SET x = -3.5", ("x", ["-3.5"], False)),
        ("SET x = 1e3", ("x", ["1e3"], False)),
        ("SET statement_timeout = '5s'", ("statement_timeout", ["5s"], False)),
        ("SET application_name = 'x y'", ("application_name", ["x y"], False)),
        ("SET x = 'it''s'", ("x", ["it's"], False)),
        ("SET x = $$dollar$$", ("x", ["dollar"], False)),
        ("SET x = true", ("x", ["true"], False)),
        ("SET my.custom = 'v'", ("my.custom", ["v"], False)),
    ],
)
def test_set_fields(sql: str, expected: tuple[str, list[str] | None, bool]) -> None:
    assert set_fields(sql) == expected


def test_set_transaction_with_several_modes() -> None:
    tree = parse("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY")
    assert isinstance(tree, lam.SetVariable)
    assert (tree.this, tree.values) == ("transaction_isolation", ["serializable"])
    (other,) = tree.args["others"]
    assert (other.this, other.values) == ("transaction_read_only", ["on"])


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SHOW x", "x"),
        ("SHOW TimeZone", "timezone"),
        ("SHOW TIME ZONE", "timezone"),
        ("SHOW TRANSACTION ISOLATION LEVEL", "transaction_isolation"),
        ("SHOW ALL", "all"),
        ("SHOW server_version", "server_version"),
    ],
)
def test_show_names(sql: str, name: str) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.ShowVariable)
    assert tree.this == name


def test_show_objects_kind() -> None:
    tree = parse("SHOW MATERIALIZED VIEWS")
    assert isinstance(tree, lam.ShowObjects)
    assert tree.args["kind"] == "materialized views"


@pytest.mark.parametrize(("sql", "name"), [("RESET x", "x"), ("RESET ALL", "all")])
def test_reset_names(sql: str, name: str) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.ResetVariable)
    assert tree.this == name


@pytest.mark.parametrize(
    ("sql", "modes"),
    [
        ("BEGIN", []),
        (
            "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY",
            ["ISOLATION LEVEL SERIALIZABLE", "READ ONLY"],
        ),
        (
            "start transaction isolation level read committed read write not deferrable",
            ["ISOLATION LEVEL READ COMMITTED", "READ WRITE", "NOT DEFERRABLE"],
        ),
    ],
)
def test_transaction_modes(sql: str, modes: list[str]) -> None:
    tree = parse(sql)
    assert isinstance(tree, exp.Transaction)
    assert (tree.args.get("modes") or []) == modes


def test_rollback_to_savepoint() -> None:
    tree = parse("ROLLBACK TO SAVEPOINT Sp")
    assert isinstance(tree, exp.Rollback)
    assert tree.args["savepoint"].name == "sp"
    assert parse("ABORT") == exp.Rollback()


@pytest.mark.parametrize(
    ("sql", "direction", "count", "name", "move"),
    [
        ("FETCH c", "next", 1, "c", False),
        ("FETCH 10 c", "forward", 10, "c", False),
        ("FETCH 10 FROM c", "forward", 10, "c", False),
        ("FETCH FORWARD 10 IN c", "forward", 10, "c", False),
        ("FETCH ALL FROM c", "forward", None, "c", False),
        ("FETCH FORWARD ALL c", "forward", None, "c", False),
        ("FETCH FORWARD c", "forward", 1, "c", False),
        ("FETCH BACKWARD 2 c", "backward", 2, "c", False),
        ("FETCH BACKWARD ALL c", "backward", None, "c", False),
        ("FETCH ABSOLUTE 3 c", "absolute", 3, "c", False),
        ("FETCH RELATIVE -1 c", "relative", -1, "c", False),
        ("FETCH NEXT c", "next", 1, "c", False),
        ("FETCH PRIOR FROM c", "prior", 1, "c", False),
        ("FETCH FIRST c", "first", 1, "c", False),
        ('FETCH LAST IN "Cur"', "last", 1, "Cur", False),
        ("MOVE 5 c", "forward", 5, "c", True),
        ("MOVE LAST IN c", "last", 1, "c", True),
    ],
)
def test_fetch_fields(sql: str, direction: str, count: int | None, name: str, move: bool) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.FetchCursor)
    assert (tree.direction, tree.count, tree.this, tree.move) == (direction, count, name, move)


def test_fetch_options() -> None:
    tree = parse("FETCH ALL c WITH (timeout = '1s')")
    assert isinstance(tree, lam.FetchCursor)
    assert tree.option_map == {"timeout": "1s"}


def test_declare_cursor_fields() -> None:
    tree = parse('DECLARE "c" CURSOR WITHOUT HOLD FOR SELECT 1')
    assert isinstance(tree, lam.DeclareCursor)
    assert tree.this == "c"
    assert not tree.args.get("binary")
    assert tree.args.get("scroll") is None
    assert not tree.args.get("hold")
    assert isinstance(tree.args["query"], exp.Select)
    tree = parse("DECLARE C BINARY NO SCROLL CURSOR WITH HOLD FOR SELECT 1")
    assert isinstance(tree, lam.DeclareCursor)
    assert (tree.this, tree.args["binary"], tree.args["scroll"], tree.args["hold"]) == (
        "c",
        True,
        False,
        True,
    )


def test_prepare_and_execute_fields() -> None:
    tree = parse("PREPARE p (int4, text) AS SELECT $1, $2")
    assert isinstance(tree, lam.Prepare)
    assert tree.this == "p"
    types = tree.expressions
    assert [t.sql(dialect=Laminar) for t in types] == ["INT", "TEXT"]
    assert all(isinstance(t, exp.DataType) for t in types)
    assert isinstance(tree.args["query"], exp.Select)
    tree = parse("EXECUTE p (1, 'a')")
    assert isinstance(tree, lam.ExecutePrepared)
    assert [e.sql() for e in tree.expressions] == ["1", "'a'"]
    tree = parse("DEALLOCATE ALL")
    assert isinstance(tree, lam.Deallocate)
    assert tree.args.get("this") is None


def test_placeholders_are_parameters() -> None:
    tree = parse("SELECT $1::int4")
    (parameter,) = list(tree.find_all(exp.Parameter))
    assert parameter.name == "1"


@pytest.mark.parametrize(
    ("script", "texts", "offsets"),
    [
        ("select 1;;select 2", ["select 1", "select 2"], [0, 10]),
        ("select 'a;b'; select 2;", ["select 'a;b'", "select 2"], [0, 14]),
        ("select $$x;y$$ ;select $t$;$t$", ["select $$x;y$$", "select $t$;$t$"], [0, 16]),
        ('select "a;b" from t', ['select "a;b" from t'], [0]),
        ("select 1 -- a;b\n; select 2", ["select 1 -- a;b", "select 2"], [0, 18]),
        ("select /* ; */ 1;  \n", ["select /* ; */ 1"], [0]),
        ("  select 1  ; -- trailing", ["select 1"], [2]),
        ("select E'\\';' ; select 2", ["select E'\\';'", "select 2"], [0, 16]),
    ],
)
def test_script_splitting(script: str, texts: list[str], offsets: list[int]) -> None:
    statements = parse_script(script)
    assert [s.text for s in statements] == texts
    assert [s.offset for s in statements] == offsets
    for statement in statements:
        assert script[statement.offset :].startswith(statement.text)


@pytest.mark.parametrize("script", ["", "   ", ";", " ; ; ", "-- only a comment", "/* c */"])
def test_empty_script(script: str) -> None:
    assert parse_script(script) == [Statement(None, "", 0)]


def test_extended_protocol_refuses_several_statements() -> None:
    with pytest.raises(SqlError) as info:
        parse_one_statement("select 1; select 2")
    assert info.value.sqlstate == "42601"
    assert info.value.message == "cannot insert multiple commands into a prepared statement"
    assert parse_one_statement("select 1;").text == "select 1"


# (sql, sqlstate, message, position): positions from PostgreSQL 15.
ERROR_CASES: list[tuple[str, str, str, int | None]] = [
    ("selec 1", "42601", 'syntax error at or near "selec"', 1),
    ("select 1 +", "42601", "syntax error at end of input", 11),
    ("select 1 + ", "42601", "syntax error at end of input", 12),
    ("select 1 + -- c", "42601", "syntax error at end of input", 16),
    ("select 1 +;", "42601", 'syntax error at or near ";"', 11),
    ("select (1", "42601", "syntax error at end of input", 10),
    ("select 1; selec 2", "42601", 'syntax error at or near "selec"', 11),
    ("select 'a;b' from", "42601", "syntax error at end of input", 18),
    ("  select\n  1 2", "42601", 'syntax error at or near "2"', 14),
    ("select 1 2 3", "42601", 'syntax error at or near "2"', 10),
    ("select 1;\n\n  select 2 2", "42601", 'syntax error at or near "2"', 23),
    ("select 1 'abc' 2", "42601", "syntax error at or near \"'abc'\"", 10),
    ("select 'abc", "42601", 'unterminated quoted string at or near "\'abc"', 8),
    ('select "abc', "42601", 'unterminated quoted identifier at or near ""abc"', 8),
    ("select 1 /* x", "42601", 'unterminated /* comment at or near "/* x"', 10),
    ("select $$abc", "42601", 'unterminated dollar-quoted string at or near "$$abc"', 8),
    ("foo", "42601", 'syntax error at or near "foo"', 1),
    ("select 1; foo; select 2", "42601", 'syntax error at or near "foo"', 11),
    ("SET x TO", "42601", "syntax error at end of input", 9),
    ("FETCH FORWARD c c", "42601", 'syntax error at or near "c"', 17),
    ("select ))", "42601", 'syntax error at or near ")"', 8),
    ("select 1 from t where", "42601", "syntax error at end of input", 22),
    ("DECLARE c CURSOR FOR", "42601", "syntax error at end of input", 21),
    ("select é frm t", "42601", 'syntax error at or near "t"', 14),
    ("PREPARE TRANSACTION 'x'", "0A000", "PREPARE TRANSACTION is not supported", 1),
    ("COMMIT PREPARED 'x'", "0A000", "COMMIT PREPARED is not supported", 1),
    ("ROLLBACK PREPARED 'x'", "0A000", "ROLLBACK PREPARED is not supported", 1),
    ("REINDEX TABLE t", "0A000", "REINDEX TABLE is not supported", 1),
    ("EXPLAIN", "42601", "syntax error at end of input", 8),
    ("VACUUM", "0A000", "VACUUM is not supported", 1),
    ("select 1; LOCK t", "0A000", "LOCK T is not supported", 11),
    ("GRANT SELECT ON t TO u", "0A000", "GRANT is not supported", 1),
]


@pytest.mark.parametrize(("sql", "sqlstate", "message", "position"), ERROR_CASES)
def test_errors(sql: str, sqlstate: str, message: str, position: int | None) -> None:
    with pytest.raises(SqlError) as info:
        parse_script(sql)
    assert (info.value.sqlstate, info.value.message, info.value.position) == (
        sqlstate,
        message,
        position,
    )


@pytest.mark.parametrize(
    "sql",
    [
        "ABORT",
        "FLUSH",
        "DISCARD ALL",
        "CLOSE c",
        "LISTEN x",
        "SHOW x",
        "FETCH 10 c",
        "EXECUTE p",
        "PREPARE p AS SELECT 1",
        "DECLARE c CURSOR FOR SELECT 1",
        "RESET x",
    ],
)
def test_no_bare_columns_or_commands(sql: str) -> None:
    tree = parse(sql)
    assert not isinstance(tree, exp.Column | exp.Alias | exp.Command)
    assert_no_command(tree)


def test_unsupported_statements_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sqlglot"), pytest.raises(SqlError):
        parse_script("CREATE FOO bar")
    assert caplog.records == []


def test_parses_are_cached() -> None:
    assert parse_script("select 42")[0] is parse_script("select 42")[0]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("INSERT INTO t VALUES ($1,$2)", "INSERT INTO t VALUES ($1, $2)"),  # psycopg's %s,%s
        ("SELECT $1,$2,$$a,b$$", "SELECT $1, $2, 'a,b'"),
        ("SELECT $tag$x$tag$,$10", "SELECT 'x', $10"),
    ],
)
def test_parameters_next_to_commas_are_not_dollar_quotes(sql: str, expected: str) -> None:
    (statement,) = parse_script(sql)
    assert statement.ast is not None
    assert statement.ast.sql(dialect="postgres") == expected


@pytest.mark.parametrize(
    ("sql", "options", "inner"),
    [
        ("EXPLAIN SELECT 1", {}, exp.Select),
        ("EXPLAIN ANALYZE VERBOSE SELECT 1", {"analyze": "true", "verbose": "true"}, exp.Select),
        ("EXPLAIN (ANALYZE, FORMAT text) SELECT 1", {"analyze": "true", "format": "text"},
         exp.Select),
        ("EXPLAIN INSERT INTO t VALUES (1)", {}, exp.Insert),
    ],
)
def test_explain(sql: str, options: dict[str, str], inner: type[exp.Expr]) -> None:
    (statement,) = parse_script(sql)
    assert isinstance(statement.ast, lam.Explain)
    assert statement.ast.args.get("options") == options
    assert isinstance(statement.ast.this, inner)


@pytest.mark.parametrize(("sql", "expected"), [
    # the whole string is the interval (sqlglot alone kept only the first `number unit`)
    ("SELECT INTERVAL '1 hour ago'", "SELECT INTERVAL '1 hour ago'"),
    ("SELECT INTERVAL '2 days 01:02:03'", "SELECT INTERVAL '2 days 01:02:03'"),
    ("SELECT INTERVAL '-1 days +02:00:00'", "SELECT INTERVAL '-1 days +02:00:00'"),
    ("SELECT INTERVAL '@ 1 minute'", "SELECT INTERVAL '@ 1 minute'"),
    # a `+` after an interval is an addition, not a second interval
    ("SELECT INTERVAL '1 day' + '2020-01-01'::timestamp",
     "SELECT INTERVAL '1 DAY' + CAST('2020-01-01' AS TIMESTAMP)"),
    # one `number unit`, or a unit after the string, stay as sqlglot reads them
    ("SELECT INTERVAL '4 seconds'", "SELECT INTERVAL '4 SECONDS'"),
    ("SELECT INTERVAL '10' SECOND", "SELECT INTERVAL '10 SECOND'"),
])
def test_interval_literals_keep_their_whole_text(sql: str, expected: str) -> None:
    tree = parse_one_statement(sql).ast
    assert tree is not None and tree.sql(dialect=Laminar) == expected
