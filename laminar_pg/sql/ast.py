"""sqlglot expression classes for PostgreSQL utility statements sqlglot does not model.

Names (variables, cursors, prepared statements, channels) are plain `str` after
PostgreSQL's case folding: unquoted words are lowercased, quoted identifiers kept as
written.  Setting values are plain strings, exactly what PostgreSQL's SET hands to the
GUC machinery (string-literal contents, numbers as written, folded identifiers).

The Laminar dialect (`laminar_pg.sql.dialect`) parses and generates these; see there.
Every class sets `_hash_raw_args` so that equality of two trees is case-sensitive on
those strings (sqlglot otherwise lowercases string arguments when hashing).
"""

from __future__ import annotations

import typing as t

from sqlglot import exp


class LaminarStatement(exp.Expression):
    """Base of the utility statements below (so callers can test one class)."""

    _hash_raw_args = True


class SetVariable(LaminarStatement):
    """`SET [SESSION|LOCAL] name {TO|=} value, ...` and its special forms.

    this: variable name (lowercased); expressions: list[str] values, absent for DEFAULT
    (and for SET TIME ZONE LOCAL); local: SET LOCAL.  others: further SetVariable nodes
    set by the same statement (SET TRANSACTION with several modes).
    """

    arg_types = {"this": True, "expressions": False, "local": False, "others": False}

    @property
    def values(self) -> list[str] | None:
        """The values, or None for DEFAULT."""
        values = self.args.get("expressions")
        return list(values) if values else None

    @property
    def local(self) -> bool:
        return bool(self.args.get("local"))


class ShowVariable(LaminarStatement):
    """`SHOW name` / `SHOW ALL` (this = 'all')."""

    arg_types = {"this": True}


class ShowObjects(LaminarStatement):
    """`SHOW SOURCES|STREAMS|MATERIALIZED VIEWS|TABLES|SINKS|VIEWS [{FROM | IN} schema]`.

    kind: 'sources', 'streams', 'materialized views', 'tables', 'sinks' or 'views';
    schema: the schema's name (None: the schemas of search_path).
    """

    arg_types = {"kind": True, "schema": False}


class ResetVariable(LaminarStatement):
    """`RESET name` / `RESET ALL` (this = 'all')."""

    arg_types = {"this": True}


class Savepoint(LaminarStatement):
    """`SAVEPOINT name`."""

    arg_types = {"this": True}


class ReleaseSavepoint(LaminarStatement):
    """`RELEASE [SAVEPOINT] name`."""

    arg_types = {"this": True}


class Discard(LaminarStatement):
    """`DISCARD ALL|PLANS|SEQUENCES|TEMP|TEMPORARY` (this lowercased)."""

    arg_types = {"this": True}


class Deallocate(LaminarStatement):
    """`DEALLOCATE [PREPARE] name` (this absent for ALL)."""

    arg_types = {"this": False}


class Prepare(LaminarStatement):
    """`PREPARE name [(type, ...)] AS statement`.

    expressions: list of exp.DataType (may be empty); query: the prepared statement.
    """

    arg_types = {"this": True, "expressions": False, "query": True}


class ExecutePrepared(LaminarStatement):
    """`EXECUTE name [(arg, ...)]` (expressions: the argument expressions)."""

    arg_types = {"this": True, "expressions": False}


class DeclareCursor(LaminarStatement):
    """`DECLARE name [BINARY] [ASENSITIVE|INSENSITIVE] [[NO] SCROLL] CURSOR
    [{WITH|WITHOUT} HOLD] FOR query`.

    scroll: True for SCROLL, False for NO SCROLL, absent when not said.
    """

    arg_types = {
        "this": True,
        "binary": False,
        "insensitive": False,
        "scroll": False,
        "hold": False,
        "query": True,
    }


FETCH_DIRECTIONS = (
    "next",
    "prior",
    "first",
    "last",
    "absolute",
    "relative",
    "forward",
    "backward",
)


class FetchCursor(LaminarStatement):
    """`FETCH` / `MOVE` [direction] [FROM|IN] cursor [WITH (key = 'value', ...)].

    direction: one of FETCH_DIRECTIONS.  count: int (the row count for forward/backward,
    the position for absolute/relative, 1 for next/prior/first/last) or None for ALL.
    move: True for MOVE.  options: list of exp.Property (key Var, value string Literal).
    """

    arg_types = {
        "this": True,
        "direction": True,
        "count": False,
        "move": False,
        "options": False,
    }

    @property
    def direction(self) -> str:
        return str(self.args["direction"])

    @property
    def count(self) -> int | None:
        count = self.args.get("count")
        return None if count is None else int(count)

    @property
    def move(self) -> bool:
        return bool(self.args.get("move"))

    @property
    def option_map(self) -> dict[str, str]:
        """The WITH (...) options as key -> string value."""
        return {prop.name: prop.args["value"].name for prop in self.args.get("options") or []}


class CloseCursor(LaminarStatement):
    """`CLOSE name` (this absent for ALL)."""

    arg_types = {"this": False}


class Listen(LaminarStatement):
    """`LISTEN channel`."""

    arg_types = {"this": True}


class Unlisten(LaminarStatement):
    """`UNLISTEN channel` (this absent for `UNLISTEN *`)."""

    arg_types = {"this": False}


class Notify(LaminarStatement):
    """`NOTIFY channel [, 'payload']`."""

    arg_types = {"this": True, "payload": False}


class FlushStatement(LaminarStatement):
    """Bare `FLUSH` (RisingWave's: wait until pending changes are visible)."""

    arg_types: t.ClassVar[dict[str, bool]] = {}


class Explain(LaminarStatement):
    """`EXPLAIN [ANALYZE] [VERBOSE] statement` or `EXPLAIN (option [value], ...) statement`.

    options: lower-case option name -> value text ('true' when given bare).
    """

    arg_types = {"this": True, "options": False}


EXPLAIN_OBJECT_KINDS = ("materialized view", "stream", "sink")


class ExplainObject(LaminarStatement):
    """What `EXPLAIN [ANALYZE] {MATERIALIZED VIEW|STREAM|SINK} name` explains: an existing
    object's running dataflow (the inner statement of an `Explain`).

    kind: one of EXPLAIN_OBJECT_KINDS; this: exp.Table.
    """

    arg_types = {"kind": True, "this": True}


class LiteralInsert(LaminarStatement):
    """`INSERT INTO t [(cols)] VALUES (...), ...` of literals only, read without sqlglot
    (sql/literal_insert.py): `rows` is a LiteralRows, `text` the statement's SQL."""

    arg_types = {"rows": True, "text": True}


class CheckpointStatement(LaminarStatement):
    """`CHECKPOINT`."""

    arg_types: t.ClassVar[dict[str, bool]] = {}


# -- streaming statements --------------------------------------------------------------


class LaminarClause(exp.Expression):
    """Base of the clauses the streaming statements below are made of (not statements)."""

    _hash_raw_args = True


class SourceOption(LaminarClause):
    """One `key = value` of a WITH (...) list.

    this: the dotted key, lowercased ('nexmark.table'); expression: the value as a str
    (string-literal contents, a number as written, a folded word: 'true', 'false').
    """

    arg_types = {"this": True, "expression": True}


class WatermarkFor(LaminarClause):
    """`WATERMARK FOR column AS expression` in a CREATE SOURCE column list.

    this: exp.Identifier (the event-time column); expression: the watermark expression.
    """

    arg_types = {"this": True, "expression": True}


class OptionsStatement(LaminarStatement):
    """A statement with a WITH (key = value, ...) list in `options`."""

    arg_types = {"this": True, "options": False}

    @property
    def options_dict(self) -> dict[str, str]:
        """The options as key -> value (a repeated key: the last one wins)."""
        return {
            str(option.this): str(option.expression) for option in self.args.get("options") or []
        }


class CreateSource(OptionsStatement):
    """`CREATE SOURCE [IF NOT EXISTS] name [(column type [NOT NULL], ...,
    WATERMARK FOR column AS expression)] WITH (key = value, ...)`.

    this: exp.Table; expressions: exp.ColumnDef list (empty without a column list);
    watermark: WatermarkFor or None; options: SourceOption list; exists: IF NOT EXISTS.
    """

    arg_types = {
        "this": True,
        "expressions": False,
        "watermark": False,
        "options": True,
        "exists": False,
    }

    @property
    def watermark_column(self) -> str | None:
        """The name of the watermarked column as written, or None."""
        watermark = self.args.get("watermark")
        return None if watermark is None else str(watermark.this.name)


class CreateStream(LaminarStatement):
    """`CREATE STREAM [IF NOT EXISTS] name AS query`.

    this: exp.Table; expression: the query; exists: IF NOT EXISTS.
    """

    arg_types = {"this": True, "expression": True, "exists": False}


EMIT_MODES = ("window_close", "changes")


class CreateMaterializedView(LaminarStatement):
    """`CREATE MATERIALIZED VIEW [IF NOT EXISTS] name AS query
    [EMIT ON WINDOW CLOSE | EMIT CHANGES]`.

    this: exp.Table; expression: the query; emit: one of EMIT_MODES or None;
    exists: IF NOT EXISTS.
    """

    arg_types = {"this": True, "expression": True, "emit": False, "exists": False}

    @property
    def emit(self) -> str | None:
        emit = self.args.get("emit")
        return None if emit is None else str(emit)


class CreateSink(OptionsStatement):
    """`CREATE SINK [IF NOT EXISTS] name {FROM object | AS query} WITH (key = value, ...)`.

    this: exp.Table; source: exp.Table (FROM) or None; expression: the query (AS) or
    None; options: SourceOption list; exists: IF NOT EXISTS.
    """

    arg_types = {
        "this": True,
        "source": False,
        "expression": False,
        "options": True,
        "exists": False,
    }


class Subscribe(OptionsStatement):
    """`SUBSCRIBE [TO] {object | (query)} [WITH (option [= value], ...)] [AS OF epoch]`.

    this: exp.Table for an object, else the query (exp.Query) without its parentheses;
    options: SourceOption list (a bare option is 'true'); as_of: int or None.
    """

    arg_types = {"this": True, "options": False, "as_of": False}

    @property
    def as_of(self) -> int | None:
        as_of = self.args.get("as_of")
        return None if as_of is None else int(as_of)


DROP_OBJECT_KINDS = ("source", "stream", "materialized view", "sink")


class DropObject(LaminarStatement):
    """`DROP {SOURCE|STREAM|MATERIALIZED VIEW|SINK} [IF EXISTS] name, ... [CASCADE|RESTRICT]`.

    kind: one of DROP_OBJECT_KINDS; expressions: exp.Table list; exists: IF EXISTS;
    cascade: CASCADE (RESTRICT is the default and is not kept).
    """

    arg_types = {"kind": True, "expressions": True, "exists": False, "cascade": False}


SHOW_CREATE_KINDS = ("source", "stream", "materialized view", "table", "view", "sink")


class ShowCreate(LaminarStatement):
    """`SHOW CREATE {SOURCE|STREAM|MATERIALIZED VIEW|TABLE|VIEW|SINK} name`.

    kind: one of SHOW_CREATE_KINDS; this: exp.Table.
    """

    arg_types = {"kind": True, "this": True}


class ShowColumns(LaminarStatement):
    """`SHOW COLUMNS FROM name` (this: exp.Table)."""

    arg_types = {"this": True}


def split_and(condition: exp.Expr) -> list[exp.Expr]:
    """The operands of a chain of ANDs (parentheses looked through), in order."""
    if isinstance(condition, exp.And):
        return split_and(condition.this) + split_and(condition.expression)
    if isinstance(condition, exp.Paren):
        return split_and(condition.this)
    return [condition]
