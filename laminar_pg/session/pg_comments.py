"""COMMENT ON: descriptions of tables, views, sources, streams, schemas and columns.

Strategy: a comment is catalog state, like a name, so it lives in the durable catalog
(`Catalog.comments`, by object OID and column name) and reaches the change log as a
DDL record of its own (`tables.COMMENT_OP`) holding the statement with the target
named by OID-resolved, schema-qualified names. Replay (`replay_comment`) parses that
statement again and applies it to the object the record's OID names. pg_description,
obj_description and col_description read the comments through the catalog snapshot.

PostgreSQL's rules (commands/comment.c CommentObject, objectaddress.c): COMMENT ON TABLE
names a table (42809 for another kind of relation), COMMENT ON COLUMN any relation with
columns; an empty string removes the comment, as NULL does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.catalog.objects import Catalog, CatalogObject
from laminar_pg.session import tables
from laminar_pg.session.tables import WriteState, quote

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

# COMMENT ON <kind>: the catalog kinds it may name (PostgreSQL: views are streams here).
_TARGET_KINDS = {
    "TABLE": ("table",),
    "VIEW": ("stream",),
    "STREAM": ("stream",),
    "MATERIALIZED VIEW": ("materialized view",),
    "SOURCE": ("source",),
    "INDEX": ("index",),
    "SEQUENCE": ("sequence",),
}
_WITH_COLUMNS = ("table", "stream", "materialized view", "source")
_RELATION_KINDS = ("table", "stream", "materialized view", "source", "index", "sequence")
_KIND_NAMES = {"table": "a table", "stream": "a view", "materialized view":
               "a materialized view", "source": "a source", "index": "an index",
               "sequence": "a sequence"}


def _kind(tree: exp.Comment) -> str:
    kind = str(tree.args.get("kind") or "").upper()
    return f"MATERIALIZED {kind}" if tree.args.get("materialized") else kind


def _text(tree: exp.Comment) -> str | None:
    value = tree.expression
    if isinstance(value, exp.Null):
        return None
    return str(value.name) or None  # '' removes the comment, as in PostgreSQL


def _relation(state: WriteState, table: exp.Table, kinds: tuple[str, ...]) -> CatalogObject:
    """The relation `table` names (search path order), of one of `kinds`."""
    schemas = [table.db] if table.db else state.search_path
    for schema in schemas:
        for kind in _RELATION_KINDS:
            obj = state.catalog.find(kind, schema, table.name)
            if obj is None:
                continue
            if kind not in kinds:
                raise errcodes.WrongObjectType(
                    f'"{table.name}" is not {_KIND_NAMES[kinds[0]]}')
            return obj
    raise errcodes.UndefinedTable(f'relation "{table.sql("postgres")}" does not exist')


def _columns(session: PgSession, state: WriteState, obj: CatalogObject) -> list[str]:
    item = session.db.streaming.objects.get(obj.oid)
    if item is not None:
        return [f.name for f in item.schema if not f.name.startswith("_laminar")]
    return tables._column_names(state, obj)


def _target(session: PgSession, state: WriteState,
            tree: exp.Comment) -> tuple[CatalogObject, str, str]:
    """(object, column or "", the statement as logged)."""
    kind = _kind(tree)
    target = tree.this
    text = _text(tree)
    literal = "NULL" if text is None else "'" + text.replace("'", "''") + "'"
    if kind == "SCHEMA":
        name = target.name
        schema = state.catalog.find("schema", "", name)
        if schema is None:
            raise errcodes.InvalidSchemaName(f'schema "{name}" does not exist')
        return schema, "", f"COMMENT ON SCHEMA {quote(name)} IS {literal}"
    if kind == "COLUMN":
        if not isinstance(target, exp.Column) or not target.table:
            raise errcodes.SyntaxError("column name must be qualified")
        table = exp.Table(this=target.args.get("table"), db=target.args.get("db"))
        obj = _relation(state, table, _WITH_COLUMNS)
        column = target.name
        if column not in _columns(session, state, obj):
            raise errcodes.UndefinedColumn(
                f'column "{column}" of relation "{obj.name}" does not exist')
        return obj, column, (f"COMMENT ON COLUMN {tables.qualified_sql(obj)}.{quote(column)}"
                             f" IS {literal}")
    kinds = _TARGET_KINDS.get(kind)
    if kinds is None or not isinstance(target, exp.Table):
        raise errcodes.FeatureNotSupported(f"COMMENT ON {kind} is not supported")
    obj = _relation(state, target, kinds)
    return obj, "", f"COMMENT ON {kind} {tables.qualified_sql(obj)} IS {literal}"


def _comment(session: PgSession, state: WriteState, tree: exp.Comment) -> None:
    obj, column, sql = _target(session, state, tree)
    state.comment(sql, obj.oid, column, _text(tree))


async def comment_on(session: PgSession, tree: exp.Comment, params: Any) -> Any:
    """The COMMENT statement: recorded in the session's write transaction."""
    session._refuse_if_read_only(tree)
    writes = session.writes
    state = await writes.begin()
    await writes.call(_comment, session, state, tree)
    return writes._command(tables.WriteResult("COMMENT"))


def replay_comment(catalog: Catalog, oid: int, sql: str) -> None:
    """Apply a logged COMMENT ON record to object `oid` (recovery)."""
    from laminar_pg.sql.dialect import Laminar

    tree = sqlglot.parse_one(sql, dialect=Laminar, error_level=sqlglot.ErrorLevel.RAISE)
    if not isinstance(tree, exp.Comment):
        raise RuntimeError(f"change log: a comment record holds {sql!r}")
    column = tree.this.name if _kind(tree) == "COLUMN" else ""
    catalog.set_comment(oid, column, _text(tree))
