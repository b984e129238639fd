"""The Laminar dialect's streaming statements: CREATE SOURCE / STREAM / MATERIALIZED VIEW /
SINK, SUBSCRIBE, DROP and SHOW of streaming objects, and the window functions' shapes.

Every statement parses into a real expression (never exp.Command), generates SQL that
parses back into an equal tree, and malformed variants fail with a positioned 42601.
"""

from __future__ import annotations

import pytest
from sqlglot import exp

from laminar_pg.errors import SqlError
from laminar_pg.sql import Laminar, parse_one_statement, parse_script
from laminar_pg.sql import ast as lam

NEXMARK_BID = (
    "CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP, "
    "WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) "
    "WITH (connector = 'nexmark', nexmark.table = 'bid', nexmark.events = '10000000', "
    "nexmark.seed = '1')"
)

Q5 = (
    "CREATE MATERIALIZED VIEW q5 AS SELECT auction, COUNT(*) AS bids, window_start, window_end "
    "FROM bid GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), auction EMIT ON WINDOW CLOSE"
)

# (sql, expected top-level class); function names are written as sqlglot generates them
# (upper case) so that the dumps of the two parses compare equal too.
ROUND_TRIP_CASES: list[tuple[str, type[exp.Expr]]] = [
    (NEXMARK_BID, lam.CreateSource),
    ("CREATE SOURCE c WITH (connector = 'datagen', fields.v.kind = 'sequence')", lam.CreateSource),
    ("CREATE SOURCE IF NOT EXISTS c WITH (connector = 'datagen')", lam.CreateSource),
    ("CREATE SOURCE s (a INT NOT NULL, b TEXT) WITH (connector = 'datagen')", lam.CreateSource),
    ('CREATE SOURCE "My Source" ("Ts" TIMESTAMP) WITH (x = 1)', lam.CreateSource),
    ("CREATE SOURCE laminar.s (ts TIMESTAMP, WATERMARK FOR ts AS ts) WITH (x = 'y')",
     lam.CreateSource),
    ("CREATE SOURCE s WITH (a = true, b = FALSE, c = -2.5, d = on, e = 'it''s', f = \"Kept\")",
     lam.CreateSource),
    ('CREATE SOURCE s WITH ("odd key".x = 1, nexmark.table = \'person\')', lam.CreateSource),
    ("CREATE SOURCE s (watermark INT, source TEXT) WITH (connector = 'datagen')",
     lam.CreateSource),
    ("CREATE STREAM s AS SELECT * FROM bid WHERE price > 10", lam.CreateStream),
    ("CREATE STREAM IF NOT EXISTS s AS SELECT a FROM t UNION ALL SELECT a FROM u",
     lam.CreateStream),
    ('CREATE STREAM "S"."x" AS WITH c AS (SELECT 1 AS a) SELECT a FROM c', lam.CreateStream),
    (Q5, lam.CreateMaterializedView),
    ("CREATE MATERIALIZED VIEW m AS SELECT * FROM t", lam.CreateMaterializedView),
    ("CREATE MATERIALIZED VIEW IF NOT EXISTS s.m AS SELECT a FROM t EMIT CHANGES",
     lam.CreateMaterializedView),
    ("CREATE MATERIALIZED VIEW m AS SELECT 1 EMIT CHANGES", lam.CreateMaterializedView),
    ("CREATE MATERIALIZED VIEW m AS SELECT * FROM a JOIN b emit ON a.x = emit.x EMIT CHANGES",
     lam.CreateMaterializedView),
    ("CREATE MATERIALIZED VIEW m AS SELECT * FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND) "
     "EMIT ON WINDOW CLOSE", lam.CreateMaterializedView),
    ("CREATE SINK k FROM mv WITH (connector = 'postgres', table = 'out')", lam.CreateSink),
    ("CREATE SINK IF NOT EXISTS k FROM s.mv WITH (connector = 'postgres')", lam.CreateSink),
    ("CREATE SINK k AS SELECT * FROM t WITH (connector = 'postgres')", lam.CreateSink),
    ("CREATE SINK k AS SELECT a FROM t AS x WHERE a > 1 WITH (connector = 'postgres')",
     lam.CreateSink),
    ("SUBSCRIBE mv", lam.Subscribe),
    ("SUBSCRIBE TO mv", lam.Subscribe),
    ('SUBSCRIBE TO "My View"', lam.Subscribe),
    ("SUBSCRIBE laminar_catalog.pipeline_metrics", lam.Subscribe),
    ("SUBSCRIBE (SELECT a FROM t WHERE a > 1)", lam.Subscribe),
    ("SUBSCRIBE TO (SELECT 1)", lam.Subscribe),
    ("SUBSCRIBE mv WITH (SNAPSHOT = false, PROGRESS)", lam.Subscribe),
    ("SUBSCRIBE mv WITH (PROGRESS = true) AS OF 1700000000000", lam.Subscribe),
    ("SUBSCRIBE mv AS OF 5", lam.Subscribe),
    ("DECLARE c CURSOR FOR SUBSCRIBE mv WITH (SNAPSHOT = false)", lam.DeclareCursor),
    ("DECLARE c CURSOR WITH HOLD FOR SUBSCRIBE (SELECT 1)", lam.DeclareCursor),
    ("COPY (SUBSCRIBE mv) TO STDOUT", exp.Copy),
    ("COPY (SUBSCRIBE TO (SELECT a FROM t) WITH (PROGRESS)) TO STDOUT WITH (FORMAT binary)",
     exp.Copy),
    ("EXPLAIN CREATE MATERIALIZED VIEW m AS SELECT 1", lam.Explain),
    ("DROP SOURCE bid", lam.DropObject),
    ("DROP STREAM IF EXISTS a, s.b CASCADE", lam.DropObject),
    ("DROP MATERIALIZED VIEW q5 RESTRICT", lam.DropObject),
    ('DROP SINK "K"', lam.DropObject),
    ("SHOW CREATE SOURCE bid", lam.ShowCreate),
    ("SHOW CREATE STREAM s.x", lam.ShowCreate),
    ("SHOW CREATE MATERIALIZED VIEW q5", lam.ShowCreate),
    ("SHOW CREATE TABLE t", lam.ShowCreate),
    ("SHOW CREATE VIEW v", lam.ShowCreate),
    ('SHOW CREATE SINK "K"', lam.ShowCreate),
    ("SHOW COLUMNS FROM bid", lam.ShowColumns),
    ("SHOW COLUMNS FROM laminar_catalog.sources", lam.ShowColumns),
    ("SHOW SOURCES", lam.ShowObjects),
    ("FLUSH", lam.FlushStatement),
    ("CHECKPOINT", lam.CheckpointStatement),
    ("SELECT * FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)", exp.Select),
    ("SELECT * FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS h",
     exp.Select),
    ("SELECT * FROM SESSION(bid, date_time, INTERVAL '5' SECOND)", exp.Select),
    ("SELECT window_start, window_end, auction, COUNT(*) FROM bid "
     "GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), auction", exp.Select),
    ("SELECT COUNT(*) FROM bid GROUP BY SESSION(date_time, INTERVAL '10' SECOND), bidder",
     exp.Select),
    # Unchanged by the streaming grammar.
    ("CREATE TABLE t (a INT, watermark INT, source TEXT)", exp.Create),
    ("CREATE VIEW v AS SELECT 1", exp.Create),
    ("DROP TABLE IF EXISTS t CASCADE", exp.Drop),
    ("DROP VIEW v", exp.Drop),
    ("DROP SCHEMA s", exp.Drop),
    ("SELECT a, flush, checkpoint, subscribe, emit FROM t", exp.Select),
    ("SELECT * FROM t emit", exp.Select),
    ("SELECT 1 FROM a JOIN b emit ON a.x = emit.x", exp.Select),
    ("SELECT SESSION_USER, session FROM session", exp.Select),
    ("SET SESSION x TO 'y'", lam.SetVariable),
    ("SET SESSION AUTHORIZATION DEFAULT", lam.SetVariable),
    ("ALTER TABLE t DROP COLUMN source", exp.Alter),
]


def parse(sql: str) -> exp.Expr:
    statement = parse_one_statement(sql)
    assert statement.ast is not None
    return statement.ast


@pytest.mark.parametrize(("sql", "kind"), ROUND_TRIP_CASES)
def test_round_trip(sql: str, kind: type[exp.Expr]) -> None:
    tree = parse(sql)
    assert type(tree) is kind
    assert not any(isinstance(node, exp.Command) for node in tree.walk())
    generated = tree.sql(dialect=Laminar)
    again = parse(generated)
    assert again == tree, generated
    # sqlglot's equality folds the case of plain strings: compare the full dump too.
    assert repr(again) == repr(tree), generated
    assert again.sql(dialect=Laminar) == generated


# What SHOW CREATE prints and the catalog keeps: (sql, canonical text).
CANONICAL_CASES: list[tuple[str, str]] = [
    (
        NEXMARK_BID,
        "CREATE SOURCE bid (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP, "
        "WATERMARK FOR date_time AS date_time - INTERVAL '4 SECOND') "
        "WITH (connector = 'nexmark', nexmark.table = 'bid', nexmark.events = 10000000, "
        "nexmark.seed = 1)",
    ),
    (
        "create source if not exists C with (Connector='datagen', Fields.V.Kind='sequence')",
        "CREATE SOURCE IF NOT EXISTS C WITH (connector = 'datagen', fields.v.kind = 'sequence')",
    ),
    (
        "CREATE SOURCE s WITH (a = TRUE, b = 'true', c = '1s', d = 'x''y', \"E\".f = 2)",
        "CREATE SOURCE s WITH (a = true, b = true, c = '1s', d = 'x''y', e.f = 2)",
    ),
    (
        "create stream s as select * from bid where price > 10",
        "CREATE STREAM s AS SELECT * FROM bid WHERE price > 10",
    ),
    (
        Q5.replace("COUNT", "count"),
        "CREATE MATERIALIZED VIEW q5 AS SELECT auction, COUNT(*) AS bids, window_start, "
        "window_end FROM bid GROUP BY TUMBLE(date_time, INTERVAL '10 SECOND'), auction "
        "EMIT ON WINDOW CLOSE",
    ),
    (
        "create materialized view if not exists m as select a from t emit changes",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT a FROM t EMIT CHANGES",
    ),
    ("create sink k from mv with (connector = 'postgres')",
     "CREATE SINK k FROM mv WITH (connector = 'postgres')"),
    ("create sink k as select 1 with (connector = 'postgres')",
     "CREATE SINK k AS SELECT 1 WITH (connector = 'postgres')"),
    ("subscribe mv with (snapshot = false, progress) as of 7",
     "SUBSCRIBE TO mv WITH (snapshot = false, progress = true) AS OF 7"),
    ("subscribe to (select 1)", "SUBSCRIBE (SELECT 1)"),
    ("copy (subscribe mv) to stdout", "COPY (SUBSCRIBE TO mv) TO STDOUT"),
    ("declare c cursor for subscribe mv", "DECLARE c CURSOR WITHOUT HOLD FOR SUBSCRIBE TO mv"),
    ("drop materialized view if exists a, b cascade",
     "DROP MATERIALIZED VIEW IF EXISTS a, b CASCADE"),
    ("drop sink k restrict", "DROP SINK k"),
    ("show create materialized view q5", "SHOW CREATE MATERIALIZED VIEW q5"),
    ("show columns from s.t", "SHOW COLUMNS FROM s.t"),
]


@pytest.mark.parametrize(("sql", "canonical"), CANONICAL_CASES)
def test_canonical_text(sql: str, canonical: str) -> None:
    assert parse(sql).sql(dialect=Laminar) == canonical


# -- accessors ---------------------------------------------------------------------------


def test_create_source_fields() -> None:
    tree = parse(NEXMARK_BID)
    assert isinstance(tree, lam.CreateSource)
    assert tree.this.name == "bid"
    assert isinstance(tree.this, exp.Table)
    assert not tree.args.get("exists")
    assert tree.options_dict == {
        "connector": "nexmark",
        "nexmark.table": "bid",
        "nexmark.events": "10000000",
        "nexmark.seed": "1",
    }
    columns = tree.expressions
    assert all(isinstance(column, exp.ColumnDef) for column in columns)
    assert [column.name for column in columns] == ["auction", "bidder", "price", "date_time"]
    assert [column.args["kind"].sql(dialect=Laminar) for column in columns] == [
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "TIMESTAMP",
    ]
    assert tree.watermark_column == "date_time"
    watermark = tree.args["watermark"]
    assert isinstance(watermark, lam.WatermarkFor)
    assert isinstance(watermark.this, exp.Identifier)
    delay = watermark.expression
    assert isinstance(delay, exp.Sub)
    assert isinstance(delay.expression, exp.Interval)
    options = tree.args["options"]
    assert all(isinstance(option, lam.SourceOption) for option in options)
    assert (options[1].this, options[1].expression) == ("nexmark.table", "bid")


@pytest.mark.parametrize(
    ("sql", "options"),
    [
        ("CREATE SOURCE s WITH (Connector = 'Nexmark')", {"connector": "Nexmark"}),
        ("CREATE SOURCE s WITH (NEXMARK.Table = 'bid')", {"nexmark.table": "bid"}),
        ("CREATE SOURCE s WITH (a = 10, b = -3, c = 1.5)", {"a": "10", "b": "-3", "c": "1.5"}),
        ("CREATE SOURCE s WITH (a = TRUE, b = false, c = On)",
         {"a": "true", "b": "false", "c": "on"}),
        ("CREATE SOURCE s WITH (a = Word, b = \"Quoted\")", {"a": "word", "b": "Quoted"}),
        ("CREATE SOURCE s WITH (fields.v.kind = 'sequence', fields.v.start = '1')",
         {"fields.v.kind": "sequence", "fields.v.start": "1"}),
        ("CREATE SOURCE s WITH (a = 'x', a = 'y')", {"a": "y"}),
    ],
)
def test_source_options(sql: str, options: dict[str, str]) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.CreateSource)
    assert tree.options_dict == options
    assert tree.expressions == []
    assert tree.watermark_column is None


def test_create_source_if_not_exists_and_quoted_names() -> None:
    tree = parse('CREATE SOURCE IF NOT EXISTS s."Bid" ("Ts" TIMESTAMP, '
                 'WATERMARK FOR "Ts" AS "Ts") WITH (x = 1)')
    assert isinstance(tree, lam.CreateSource)
    assert tree.args["exists"] is True
    table = tree.this
    assert isinstance(table, exp.Table)
    assert (table.db, table.name, table.this.quoted) == ("s", "Bid", True)
    assert tree.watermark_column == "Ts"


def test_create_stream_fields() -> None:
    tree = parse("CREATE STREAM IF NOT EXISTS s AS SELECT * FROM bid")
    assert isinstance(tree, lam.CreateStream)
    assert (tree.this.name, tree.args["exists"]) == ("s", True)
    assert isinstance(tree.expression, exp.Select)


@pytest.mark.parametrize(
    ("sql", "emit"),
    [
        ("CREATE MATERIALIZED VIEW m AS SELECT * FROM t", None),
        ("CREATE MATERIALIZED VIEW m AS SELECT * FROM t EMIT CHANGES", "changes"),
        (Q5, "window_close"),
        ("create materialized view m as select 1 emit on window close", "window_close"),
    ],
)
def test_materialized_view_emit(sql: str, emit: str | None) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.CreateMaterializedView)
    assert tree.emit == emit
    assert tree.args.get("emit") == emit
    assert isinstance(tree.expression, exp.Select)
    assert tree.this.name in ("m", "q5")


def test_create_sink_fields() -> None:
    tree = parse("CREATE SINK k FROM s.mv WITH (connector = 'postgres', table = 'out')")
    assert isinstance(tree, lam.CreateSink)
    source = tree.args["source"]
    assert isinstance(source, exp.Table)
    assert (source.db, source.name) == ("s", "mv")
    assert tree.args.get("expression") is None
    assert tree.options_dict == {"connector": "postgres", "table": "out"}
    tree = parse("CREATE SINK IF NOT EXISTS k AS SELECT * FROM t WITH (connector = 'postgres')")
    assert isinstance(tree, lam.CreateSink)
    assert tree.args.get("source") is None
    assert isinstance(tree.expression, exp.Select)
    assert tree.args["exists"] is True
    assert tree.options_dict == {"connector": "postgres"}


@pytest.mark.parametrize(
    ("sql", "relation", "options", "as_of"),
    [
        ("SUBSCRIBE mv", exp.Table, {}, None),
        ("SUBSCRIBE TO mv", exp.Table, {}, None),
        ("SUBSCRIBE (SELECT 1)", exp.Select, {}, None),
        ("SUBSCRIBE TO (SELECT 1 UNION SELECT 2)", exp.Union, {}, None),
        ("SUBSCRIBE mv WITH (SNAPSHOT = false, PROGRESS)", exp.Table,
         {"snapshot": "false", "progress": "true"}, None),
        ("SUBSCRIBE mv WITH (progress = FALSE) AS OF 1700000000123", exp.Table,
         {"progress": "false"}, 1700000000123),
    ],
)
def test_subscribe_fields(
    sql: str, relation: type[exp.Expr], options: dict[str, str], as_of: int | None
) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.Subscribe)
    assert type(tree.this) is relation
    assert tree.options_dict == options
    assert tree.as_of == as_of


def test_subscribe_names_an_object() -> None:
    tree = parse('SUBSCRIBE TO s."My View"')
    assert isinstance(tree, lam.Subscribe)
    assert isinstance(tree.this, exp.Table)
    assert (tree.this.db, tree.this.name) == ("s", "My View")


def test_subscribe_in_a_cursor_and_in_copy() -> None:
    tree = parse("DECLARE c CURSOR FOR SUBSCRIBE mv WITH (SNAPSHOT = false)")
    assert isinstance(tree, lam.DeclareCursor)
    query = tree.args["query"]
    assert isinstance(query, lam.Subscribe)
    assert query.options_dict == {"snapshot": "false"}
    tree = parse("COPY (SUBSCRIBE mv WITH (PROGRESS)) TO STDOUT")
    assert isinstance(tree, exp.Copy)
    assert isinstance(tree.this, lam.Subscribe)
    assert tree.this.options_dict == {"progress": "true"}
    assert not tree.args.get("kind")  # TO
    assert [file.name for file in tree.args["files"]] == ["STDOUT"]


@pytest.mark.parametrize(
    ("sql", "kind", "names", "exists", "cascade"),
    [
        ("DROP SOURCE bid", "source", ["bid"], False, False),
        ("DROP STREAM IF EXISTS a, s.b CASCADE", "stream", ["a", "s.b"], True, True),
        ("DROP MATERIALIZED VIEW q5 RESTRICT", "materialized view", ["q5"], False, False),
        ('drop sink if exists "K" cascade', "sink", ['"K"'], True, True),
    ],
)
def test_drop_object_fields(
    sql: str, kind: str, names: list[str], exists: bool, cascade: bool
) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.DropObject)
    assert tree.args["kind"] == kind
    assert kind in lam.DROP_OBJECT_KINDS
    assert all(isinstance(name, exp.Table) for name in tree.expressions)
    assert [name.sql(dialect=Laminar) for name in tree.expressions] == names
    assert (tree.args["exists"], tree.args["cascade"]) == (exists, cascade)


@pytest.mark.parametrize(
    ("sql", "kind", "name"),
    [
        ("SHOW CREATE SOURCE bid", "source", "bid"),
        ("show create stream s", "stream", "s"),
        ("SHOW CREATE MATERIALIZED VIEW q5", "materialized view", "q5"),
        ("SHOW CREATE TABLE t", "table", "t"),
        ("SHOW CREATE VIEW v", "view", "v"),
        ("SHOW CREATE SINK k", "sink", "k"),
    ],
)
def test_show_create_fields(sql: str, kind: str, name: str) -> None:
    tree = parse(sql)
    assert isinstance(tree, lam.ShowCreate)
    assert tree.args["kind"] == kind
    assert kind in lam.SHOW_CREATE_KINDS
    assert isinstance(tree.this, exp.Table)
    assert tree.this.name == name


def test_show_columns_and_variables_named_like_them() -> None:
    tree = parse("SHOW COLUMNS FROM s.t")
    assert isinstance(tree, lam.ShowColumns)
    assert isinstance(tree.this, exp.Table)
    assert (tree.this.db, tree.this.name) == ("s", "t")
    # Without FROM, `columns` stays a variable name.
    tree = parse("SHOW columns")
    assert isinstance(tree, lam.ShowVariable)
    assert tree.this == "columns"


# -- window functions: the shapes the planner relies on ----------------------------------


def test_window_table_functions_in_from() -> None:
    """In FROM, TUMBLE/HOP/SESSION are an exp.Table whose `this` is an exp.Anonymous
    (name as written, compare case-insensitively) with the relation as an exp.Column (a
    subquery as exp.Subquery), the time column as exp.Column and exp.Interval sizes;
    an alias is the Table's TableAlias."""
    tree = parse("SELECT * FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)")
    table = tree.args["from_"].this
    assert isinstance(table, exp.Table)
    call = table.this
    assert isinstance(call, exp.Anonymous)
    assert call.name == "TUMBLE"
    relation, column, size = call.expressions
    assert isinstance(relation, exp.Column) and relation.name == "bid"
    assert isinstance(column, exp.Column) and column.name == "date_time"
    assert isinstance(size, exp.Interval)
    unit = size.unit
    assert unit is not None
    assert (size.this.name, unit.name) == ("10", "SECOND")

    tree = parse("select * from hop(s.bid, date_time, interval '2' second, "
                 "interval '10' second) as h")
    table = tree.args["from_"].this
    assert isinstance(table, exp.Table) and isinstance(table.this, exp.Anonymous)
    assert table.this.name == "hop"  # as written
    assert table.alias == "h"
    relation = table.this.expressions[0]
    assert isinstance(relation, exp.Column)
    assert (relation.table, relation.name) == ("s", "bid")
    assert [type(arg) for arg in table.this.expressions[1:]] == [
        exp.Column, exp.Interval, exp.Interval
    ]

    tree = parse("SELECT * FROM SESSION((SELECT * FROM bid), date_time, INTERVAL '5' SECOND)")
    table = tree.args["from_"].this
    assert isinstance(table, exp.Table) and isinstance(table.this, exp.Anonymous)
    assert table.this.name == "SESSION"
    assert isinstance(table.this.expressions[0], exp.Subquery)


def test_window_functions_in_group_by() -> None:
    """In GROUP BY, TUMBLE(ts, size), HOP(ts, slide, size) and SESSION(ts, gap) are
    exp.Anonymous among the group keys; window_start / window_end are plain exp.Column."""
    tree = parse(
        "SELECT window_start, window_end, auction, COUNT(*) FROM bid "
        "GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), auction"
    )
    window, auction = tree.args["group"].expressions
    assert isinstance(window, exp.Anonymous) and window.name == "TUMBLE"
    assert [type(arg) for arg in window.expressions] == [exp.Column, exp.Interval]
    assert isinstance(auction, exp.Column)
    start, end = tree.expressions[:2]
    assert isinstance(start, exp.Column) and start.name == "window_start"
    assert isinstance(end, exp.Column) and end.name == "window_end"

    tree = parse("SELECT 1 FROM bid GROUP BY HOP(date_time, INTERVAL '2' SECOND, "
                 "INTERVAL '10' SECOND)")
    (window,) = tree.args["group"].expressions
    assert isinstance(window, exp.Anonymous) and window.name == "HOP"
    assert [type(arg) for arg in window.expressions] == [exp.Column, exp.Interval, exp.Interval]

    tree = parse("SELECT 1 FROM bid GROUP BY session(date_time, INTERVAL '10' SECOND), bidder")
    window, _ = tree.args["group"].expressions
    assert isinstance(window, exp.Anonymous) and window.name == "session"


def test_session_stays_a_word_elsewhere() -> None:
    tree = parse("SELECT session_user, session FROM session")
    assert isinstance(tree.expressions[0], exp.SessionUser)
    assert isinstance(tree.expressions[1], exp.Column)
    assert tree.args["from_"].this.name == "session"
    tree = parse("SET SESSION statement_timeout = '5s'")
    assert isinstance(tree, lam.SetVariable)
    assert (tree.this, tree.values) == ("statement_timeout", ["5s"])


# -- statements the streaming grammar leaves alone ----------------------------------------


def test_create_table_and_view_stay_create() -> None:
    tree = parse("CREATE TABLE t (watermark INT, source TEXT)")
    assert isinstance(tree, exp.Create)
    assert tree.args["kind"] == "TABLE"
    tree = parse("CREATE VIEW v AS SELECT 1")
    assert isinstance(tree, exp.Create)
    assert tree.args["kind"] == "VIEW"


@pytest.mark.parametrize(
    ("sql", "kind"),
    [("DROP TABLE t", "TABLE"), ("DROP VIEW v", "VIEW"), ("DROP SCHEMA s", "SCHEMA"),
     ("DROP INDEX i", "INDEX")],
)
def test_other_drops_stay_drop(sql: str, kind: str) -> None:
    tree = parse(sql)
    assert isinstance(tree, exp.Drop)
    assert tree.args["kind"] == kind


def test_words_as_columns_and_aliases() -> None:
    tree = parse("SELECT a, flush, subscribe FROM t emit")
    assert isinstance(tree, exp.Select)
    assert [e.name for e in tree.expressions] == ["a", "flush", "subscribe"]
    assert tree.args["from_"].this.alias == "emit"
    tree = parse("SELECT 1 emit")
    assert tree.expressions[0].alias == "emit"


# -- errors --------------------------------------------------------------------------------

# (sql, message, 1-based position)
ERROR_CASES: list[tuple[str, str, int]] = [
    ("CREATE SOURCE s WITH (connector)", 'syntax error at or near ")"', 32),
    ("CREATE SOURCE s WITH ()", 'syntax error at or near ")"', 23),
    ("CREATE SOURCE s WITH (a = 'b',)", 'syntax error at or near ")"', 31),
    ("CREATE SOURCE s WITH (a = )", 'syntax error at or near ")"', 27),
    ("CREATE SOURCE s WITH a = 'b'", 'syntax error at or near "a"', 22),
    ("CREATE SOURCE s (a INT)", "syntax error at end of input", 24),
    ("CREATE SOURCE s (a) WITH (x = 1)", 'syntax error at or near "a"', 18),
    ("CREATE SOURCE s (a INT,) WITH (x = 1)", 'syntax error at or near ")"', 24),
    ("CREATE SOURCE s (ts TIMESTAMP, WATERMARK FOR ts) WITH (x = 1)",
     'syntax error at or near ")"', 48),
    ("CREATE SOURCE s (ts TIMESTAMP, WATERMARK FOR AS ts) WITH (x = 1)",
     'syntax error at or near "AS"', 46),
    ("CREATE SOURCE s (a INT, WATERMARK FOR a AS a, WATERMARK FOR a AS a) WITH (x = 1)",
     'syntax error at or near "FOR"', 57),
    ("CREATE SOURCE", "syntax error at end of input", 14),
    ("CREATE STREAM s AS INSERT INTO t VALUES (1)", 'syntax error at or near "INSERT"', 20),
    ("CREATE STREAM s SELECT 1", 'syntax error at or near "SELECT"', 17),
    ("CREATE STREAM s AS SELECT 1 FROM t EMIT CHANGES", 'syntax error at or near "EMIT"', 36),
    ("CREATE MATERIALIZED VIEW m AS SELECT 1 FROM t EMIT ON", "syntax error at end of input",
     54),
    ("CREATE MATERIALIZED VIEW m AS SELECT 1 EMIT ON WINDOW", "syntax error at end of input",
     54),
    ("CREATE MATERIALIZED VIEW m AS SELECT 1 EMIT ON CLOSE", 'syntax error at or near "CLOSE"',
     48),
    ("CREATE MATERIALIZED VIEW m AS SELECT a FROM t GROUP BY a EMIT",
     "syntax error at end of input", 62),
    ("CREATE MATERIALIZED VIEW m AS SELECT a FROM t GROUP BY a EMIT NOW",
     'syntax error at or near "NOW"', 63),
    ("CREATE MATERIALIZED VIEW m AS", "syntax error at end of input", 30),
    ("CREATE SINK k WITH (connector = 'postgres')", 'syntax error at or near "WITH"', 15),
    ("CREATE SINK k FROM mv", "syntax error at end of input", 22),
    ("SUBSCRIBE", "syntax error at end of input", 10),
    ("SUBSCRIBE WITH (PROGRESS)", 'syntax error at or near "WITH"', 11),
    ("SUBSCRIBE (SELECT 1", "syntax error at end of input", 20),
    ("SUBSCRIBE (INSERT INTO t VALUES (1))", 'syntax error at or near "INSERT"', 12),
    ("SUBSCRIBE mv WITH (SNAPSHOT = )", 'syntax error at or near ")"', 31),
    ("SUBSCRIBE mv AS OF", "syntax error at end of input", 19),
    ("SUBSCRIBE mv AS OF -1", 'syntax error at or near "-"', 20),
    ("SUBSCRIBE mv extra", 'syntax error at or near "extra"', 14),
    ("DECLARE c CURSOR FOR SUBSCRIBE", "syntax error at end of input", 31),
    ("COPY (SUBSCRIBE mv) FROM STDIN", 'syntax error at or near "FROM"', 21),
    ("DROP SOURCE", "syntax error at end of input", 12),
    ("DROP STREAM a,", "syntax error at end of input", 15),
    ("SHOW CREATE", "syntax error at end of input", 12),
    ("SHOW CREATE FOO x", 'syntax error at or near "FOO"', 13),
    ("SHOW CREATE SOURCE", "syntax error at end of input", 19),
    ("SHOW COLUMNS FROM", "syntax error at end of input", 18),
]


@pytest.mark.parametrize(("sql", "message", "position"), ERROR_CASES)
def test_errors(sql: str, message: str, position: int) -> None:
    with pytest.raises(SqlError) as info:
        parse_script(sql)
    assert (info.value.sqlstate, info.value.message, info.value.position) == (
        "42601",
        message,
        position,
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE OR REPLACE MATERIALIZED VIEW m AS SELECT 1",
         "CREATE OR REPLACE MATERIALIZED VIEW is not supported"),
        ("create or replace source s with (a = 'b')", "CREATE OR REPLACE SOURCE is not supported"),
    ],
)
def test_or_replace_is_not_supported(sql: str, message: str) -> None:
    with pytest.raises(SqlError) as info:
        parse_script(sql)
    assert (info.value.sqlstate, info.value.message, info.value.position) == ("0A000", message, 1)
