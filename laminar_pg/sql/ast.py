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
    """`SHOW SOURCES|STREAMS|MATERIALIZED VIEWS|TABLES|SINKS|VIEWS`.

    kind: 'sources', 'streams', 'materialized views', 'tables', 'sinks' or 'views'.
    """

    arg_types = {"kind": True}


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


class LiteralInsert(LaminarStatement):
    """`INSERT INTO t [(cols)] VALUES (...), ...` of literals only, read without sqlglot
    (sql/literal_insert.py): `rows` is a LiteralRows, `text` the statement's SQL."""

    arg_types = {"rows": True, "text": True}


class CheckpointStatement(LaminarStatement):
    """`CHECKPOINT`."""

    arg_types: t.ClassVar[dict[str, bool]] = {}
