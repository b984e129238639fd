"""The functions, casts and operators catalog queries use (format_type, pg_get_userbyid,
'name'::regclass, OPERATOR(pg_catalog.~), COLLATE pg_catalog.default ...), for DuckDB.

Strategy: `rewrite(tree, pid)` turns each into what DuckDB has, on the parsed query:
pg_catalog-qualified calls lose their qualifier; functions that need the catalog become
calls of Python UDFs (registered on the engine by `register`) that read the session's
`CatalogSnapshot` (session/pg_model.py), found by the session's process id as the other
session functions are; the rest become plain expressions. A reg* cast of a string
becomes the OID it names (an error if nothing has that name); a reg* cast of an OID is
its name where the text is what the query wants (a select-list item, a cast to text) and
the OID otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.catalog.pg_types import format_type, type_oid_by_name
from laminar_pg.session import pg_model, pg_text_functions

_REG_TYPES = ("regclass", "regtype", "regproc", "regprocedure", "regnamespace", "regrole")


def _snapshot(pid: int | None) -> tuple[Any, pg_model.CatalogSnapshot]:
    from laminar_pg.session import engine

    session: Any = engine._session(pid)
    # Called on an engine thread while a query runs: shapes are read on a fresh engine
    # connection if the snapshot was not built for this query already.
    snap = pg_model.snapshot(session, engine=session.db.engine_connection)
    return session, snap


def _regclass_out(oid: int | None, pid: int | None) -> str | None:
    if oid is None:
        return None
    if oid == 0:
        return "-"
    session, snap = _snapshot(pid)
    name = snap.relation_name(oid, session.search_path())
    return name if name is not None else str(oid)


def _regclass_in(text: str | None, pid: int | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    session, snap = _snapshot(pid)
    rel = snap.find_relation(text, session.search_path())
    if rel is None:
        raise errcodes.UndefinedTable(f'relation "{text}" does not exist')
    return rel.oid


def _regtype_out(oid: int | None) -> str | None:
    if oid is None:
        return None
    if oid == 0:
        return "-"
    name = format_type(oid, -1)
    return str(oid) if name == "???" else name


def _regtype_in(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    oid = type_oid_by_name(text)
    if oid is None:
        raise errcodes.UndefinedObject(f'type "{text}" does not exist')
    return oid


def _to_regtype(text: str | None) -> int | None:
    return None if text is None else type_oid_by_name(text)


def _to_regclass(text: str | None, pid: int | None) -> int | None:
    if text is None:
        return None
    session, snap = _snapshot(pid)
    rel = snap.find_relation(text, session.search_path())
    return rel.oid if rel is not None else None


def _regnamespace_out(oid: int | None, pid: int | None) -> str | None:
    if oid is None:
        return None
    _, snap = _snapshot(pid)
    ns = snap.namespace_by_oid.get(oid)
    return pg_model.quote_ident(ns.name) if ns is not None else str(oid)


def _regnamespace_in(text: str | None, pid: int | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    _, snap = _snapshot(pid)
    parts = pg_model.identifier_parts(text)
    ns = snap.namespace_by_name.get(parts[0]) if len(parts) == 1 else None
    if ns is None:
        raise errcodes.UndefinedObject(f'schema "{text}" does not exist')
    return ns.oid


def _format_type(oid: int | None, typmod: int | None) -> str | None:
    return format_type(oid, typmod)


def _get_userbyid(oid: int | None, pid: int | None) -> str | None:
    from laminar_pg.catalog.pg_types import BOOTSTRAP_SUPERUSER_OID
    from laminar_pg.session import engine

    if oid is None:
        return None
    if oid == BOOTSTRAP_SUPERUSER_OID:
        session: Any = engine._session(pid)
        return str(session.user or "laminar")
    return f"unknown (OID={oid})"


def _table_is_visible(oid: int | None, pid: int | None) -> bool | None:
    if oid is None:
        return None
    session, snap = _snapshot(pid)
    return snap.is_visible(oid, session.search_path())


def _type_is_visible(oid: int | None) -> bool | None:
    from laminar_pg.wire import types

    return None if oid is None else oid in types.TYPES_BY_OID


def _get_indexdef(oid: int | None, column: int | None, pid: int | None) -> str | None:
    if oid is None:
        return None
    _, snap = _snapshot(pid)
    index = snap.index_by_oid.get(oid)
    if index is None:
        return None
    if column:
        table = snap.by_oid[index.table_oid]
        if 0 < column <= len(index.columns):
            return pg_model.quote_ident(table.columns[index.columns[column - 1] - 1].name)
        return ""
    return index.definition(snap)


def _get_constraintdef(oid: int | None, pretty: bool | None, pid: int | None) -> str | None:
    if oid is None:
        return None
    session, snap = _snapshot(pid)
    con = snap.constraint_by_oid.get(oid)
    if con is None:
        return None
    return con.definition(snap, session.search_path(), bool(pretty))


def _get_viewdef(oid: int | None, pid: int | None) -> str | None:
    if oid is None:
        return None
    _, snap = _snapshot(pid)
    rel = snap.by_oid.get(oid)
    return rel.definition if rel is not None else None


def _quote_ident(text: str | None) -> str | None:
    return None if text is None else pg_model.quote_ident(text)


def _quote_literal(text: str | None) -> str | None:
    return None if text is None else pg_text_functions.quote_literal(text)


def _size_pretty(size: int | None) -> str | None:
    """PostgreSQL's pg_size_pretty: bytes, kB, MB ... each unit from 10 240 of the one
    below, rounded half away from zero."""
    if size is None:
        return None
    value = size
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(value) < 10 * 1024 or unit == "TB":
            return f"{value} {unit}"
        value = (abs(value) // 512 + 1) // 2 * (1 if value >= 0 else -1)
    return f"{value} PB"


def _postmaster_start_time(pid: int | None) -> Any:
    import datetime as dt

    from laminar_pg.session import engine

    session: Any = engine._session(pid)
    return dt.datetime.fromtimestamp(session.db.started_at, dt.UTC)


def _encoding_to_char(encoding: int | None) -> str | None:
    if encoding is None:
        return None
    return {0: "SQL_ASCII", 6: "UTF8"}.get(encoding, "")


def _function_arguments(oid: int | None) -> str | None:
    from laminar_pg.session import pg_procs

    return pg_procs.arguments(oid)


def _function_result(oid: int | None) -> str | None:
    from laminar_pg.session import pg_procs

    return pg_procs.result(oid)


def _obj_description(oid: int | None, catalog: str | None, pid: int | None) -> str | None:
    """obj_description(oid, 'pg_class'): the comment on the object (COMMENT ON); with
    no catalog name (the deprecated one-argument form), any object's."""
    if oid is None:
        return None
    _, snap = _snapshot(pid)
    found = snap.descriptions.get((oid, 0))
    if found is None:
        return None
    if catalog is not None:
        name = catalog.split(".")[-1].strip('"')
        if pg_model.SYSTEM_RELATION_OIDS.get(name) != found[0]:
            return None
    return found[1]


def _col_description(oid: int | None, attnum: int | None, pid: int | None) -> str | None:
    if oid is None or attnum is None or attnum == 0:
        return None
    _, snap = _snapshot(pid)
    found = snap.descriptions.get((oid, attnum))
    return None if found is None else found[1]


def _signal_backend(target: int | None, terminate: bool, pid: int | None) -> bool | None:
    """pg_cancel_backend / pg_terminate_backend (signalfuncs.c): true once the session
    with process id `target` is signalled; a WARNING and false when there is none.
    Every user is a superuser here, so any session may be signalled."""
    from laminar_pg.wire.server import signal_backend

    if target is None:
        return None
    if signal_backend(int(target), terminate):
        return True
    from laminar_pg.session import engine

    session: Any = engine._session(pid)
    session.notice(f"PID {target} is not a PostgreSQL backend process", "01000", "WARNING")
    return False


def _cancel_backend(target: int | None, pid: int | None) -> bool | None:
    return _signal_backend(target, False, pid)


def _terminate_backend(target: int | None, pid: int | None) -> bool | None:
    return _signal_backend(target, True, pid)


def register(con: Any) -> None:
    """Create the UDFs on an engine connection (its cursors share them)."""
    import duckdb
    from duckdb import sqltypes as t

    text_list = duckdb.list_type(t.VARCHAR)

    udfs: list[tuple[str, Any, list[Any], Any]] = [
        ("laminar_regclass_out", _regclass_out, [t.BIGINT, t.BIGINT], t.VARCHAR),
        ("laminar_regclass_in", _regclass_in, [t.VARCHAR, t.BIGINT], t.BIGINT),
        ("laminar_regtype_out", _regtype_out, [t.BIGINT], t.VARCHAR),
        ("laminar_regtype_in", _regtype_in, [t.VARCHAR], t.BIGINT),
        ("laminar_to_regtype", _to_regtype, [t.VARCHAR], t.BIGINT),
        ("laminar_to_regclass", _to_regclass, [t.VARCHAR, t.BIGINT], t.BIGINT),
        ("laminar_regnamespace_out", _regnamespace_out, [t.BIGINT, t.BIGINT], t.VARCHAR),
        ("laminar_regnamespace_in", _regnamespace_in, [t.VARCHAR, t.BIGINT], t.BIGINT),
        ("laminar_format_type", _format_type, [t.BIGINT, t.BIGINT], t.VARCHAR),
        ("laminar_pg_get_userbyid", _get_userbyid, [t.BIGINT, t.BIGINT], t.VARCHAR),
        ("laminar_pg_table_is_visible", _table_is_visible, [t.BIGINT, t.BIGINT], t.BOOLEAN),
        ("laminar_pg_type_is_visible", _type_is_visible, [t.BIGINT], t.BOOLEAN),
        ("laminar_pg_get_indexdef", _get_indexdef, [t.BIGINT, t.BIGINT, t.BIGINT],
         t.VARCHAR),
        ("laminar_pg_get_constraintdef", _get_constraintdef, [t.BIGINT, t.BOOLEAN, t.BIGINT],
         t.VARCHAR),
        ("laminar_pg_get_viewdef", _get_viewdef, [t.BIGINT, t.BIGINT], t.VARCHAR),
        ("laminar_quote_ident", _quote_ident, [t.VARCHAR], t.VARCHAR),
        ("laminar_quote_literal", _quote_literal, [t.VARCHAR], t.VARCHAR),
        ("laminar_pg_size_pretty", _size_pretty, [t.BIGINT], t.VARCHAR),
        ("laminar_pg_postmaster_start_time", _postmaster_start_time, [t.BIGINT],
         t.TIMESTAMP_TZ),
        ("laminar_pg_encoding_to_char", _encoding_to_char, [t.BIGINT], t.VARCHAR),
        ("laminar_format", pg_text_functions.format_text, [t.VARCHAR, text_list], t.VARCHAR),
        ("laminar_parse_ident", pg_text_functions.parse_ident, [t.VARCHAR], text_list),
        ("laminar_pg_get_function_arguments", _function_arguments, [t.BIGINT], t.VARCHAR),
        ("laminar_pg_get_function_result", _function_result, [t.BIGINT], t.VARCHAR),
        ("laminar_pg_cancel_backend", _cancel_backend, [t.BIGINT, t.BIGINT], t.BOOLEAN),
        ("laminar_pg_terminate_backend", _terminate_backend, [t.BIGINT, t.BIGINT],
         t.BOOLEAN),
        ("laminar_obj_description", _obj_description, [t.BIGINT, t.VARCHAR, t.BIGINT],
         t.VARCHAR),
        ("laminar_col_description", _col_description, [t.BIGINT, t.BIGINT, t.BIGINT],
         t.VARCHAR),
    ]
    for name, fn, args, ret in udfs:
        con.create_function(name, fn, args, ret, null_handling="special", side_effects=True)


# ------------------------------------------------------------------------- rewriting

_OPERATORS: dict[str, Callable[[exp.Expr, exp.Expr], exp.Expr]] = {
    "~": lambda a, b: exp.RegexpLike(this=a, expression=b),
    "!~": lambda a, b: exp.Not(this=exp.RegexpLike(this=a, expression=b)),
    "~*": lambda a, b: exp.RegexpILike(this=a, expression=b),
    "!~*": lambda a, b: exp.Not(this=exp.RegexpILike(this=a, expression=b)),
    "~~": lambda a, b: exp.Like(this=a, expression=b),
    "!~~": lambda a, b: exp.Not(this=exp.Like(this=a, expression=b)),
    "~~*": lambda a, b: exp.ILike(this=a, expression=b),
    "!~~*": lambda a, b: exp.Not(this=exp.ILike(this=a, expression=b)),
    "=": lambda a, b: exp.EQ(this=a, expression=b),
    "<>": lambda a, b: exp.NEQ(this=a, expression=b),
    "!=": lambda a, b: exp.NEQ(this=a, expression=b),
    "<": lambda a, b: exp.LT(this=a, expression=b),
    "<=": lambda a, b: exp.LTE(this=a, expression=b),
    ">": lambda a, b: exp.GT(this=a, expression=b),
    ">=": lambda a, b: exp.GTE(this=a, expression=b),
    "||": lambda a, b: exp.DPipe(this=a, expression=b),
    "+": lambda a, b: exp.Add(this=a, expression=b),
    "-": lambda a, b: exp.Sub(this=a, expression=b),
}

# Functions that always answer the same here: every user is a superuser (trust or a
# password file; no GRANT), and laminar_pg stores no shared comments, publications or
# extended statistics.
_CONSTANT_FUNCTIONS: dict[str, exp.Expr] = {
    "pg_relation_is_publishable": exp.false(),
    "pg_has_role": exp.true(),
    "pg_function_is_visible": exp.true(),
    "pg_is_in_recovery": exp.false(),  # no standby servers
}
_NULL_TEXT_FUNCTIONS = frozenset({
    "shobj_description",
    "pg_get_statisticsobjdef_columns", "pg_get_triggerdef",
    "pg_get_ruledef", "pg_get_partkeydef", "pg_get_serial_sequence",
})
# Storage sizes in bytes are not measured yet: NULL (psql prints an empty Size), not a guess.
_UNMEASURED_SIZE_FUNCTIONS = frozenset({
    "pg_table_size", "pg_relation_size", "pg_total_relation_size", "pg_indexes_size",
    "pg_database_size",
    "pg_stat_get_numscans",  # index scans are not counted yet either
})


def _is_pg_catalog(node: Any) -> bool:
    return isinstance(node, exp.Identifier) and node.name.lower() == "pg_catalog"


def _is_schema(node: Any, schema: str) -> bool:
    return isinstance(node, (exp.Identifier, exp.Column, exp.Var)) and node.name.lower() == schema


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast_target(dtype: exp.DataType) -> str:
    """The type a cast names, without a pg_catalog qualifier, lower case."""
    if dtype.this == exp.DataType.Type.USERDEFINED:
        kind = dtype.args.get("kind")
        if isinstance(kind, exp.Dot) and _is_pg_catalog(kind.this):
            return str(kind.expression.name).lower()
        if isinstance(kind, str):
            return kind.split(".")[-1].strip('"').lower()
        if isinstance(kind, exp.Expr):
            return kind.name.lower()
    return dtype.sql("postgres").lower()


def _object_identifier_types(nodes: list[exp.Expr]) -> None:
    """oid[] / regtype[] elements and non-reg casts to oid: the engine's BIGINT."""
    for node in nodes:
        parent = node.parent
        if isinstance(parent, exp.DataType):  # an array's element
            node.replace(exp.DataType.build("BIGINT"))
        elif isinstance(parent, exp.Cast) and node.name.lower() == "oid":
            node.replace(exp.DataType.build("BIGINT"))


def _unqualify_types(dtypes: list[exp.Expr]) -> None:
    for dtype in dtypes:
        assert isinstance(dtype, exp.DataType)
        if dtype.this != exp.DataType.Type.USERDEFINED:
            continue
        kind = dtype.args.get("kind")
        is_qualified = (isinstance(kind, exp.Dot) and _is_pg_catalog(kind.this)) or (
            isinstance(kind, str) and kind.lower().startswith("pg_catalog."))
        if not is_qualified:
            continue
        name = _cast_target(dtype)
        if name in _REG_TYPES:
            continue  # handled by _reg_casts
        try:
            dtype.replace(exp.DataType.build(name, dialect="postgres"))
        except Exception:
            raise errcodes.UndefinedObject(f'type "pg_catalog.{name}" does not exist') from None


def _wants_text(cast: exp.Cast) -> bool:
    """Whether the reg* value's text is what the query uses (output or a cast to text)."""
    node: exp.Expr = cast
    parent = cast.parent
    if isinstance(parent, exp.Cast):
        return _cast_target(parent.to) in ("text", "varchar", "name", "character varying")
    if isinstance(parent, exp.Alias):
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and any(e is node for e in parent.expressions)


def _reg_casts(casts: list[exp.Expr], pid: exp.Expr) -> None:
    for cast in casts:
        assert isinstance(cast, exp.Cast)
        target = _cast_target(cast.to)
        if target not in _REG_TYPES and target != "oid":
            continue
        value = cast.this
        is_string = isinstance(value, exp.Literal) and value.is_string
        is_text_param = isinstance(value, exp.Cast) and _cast_target(value.to) in ("text",
                                                                                 "varchar")
        # a name built in the query (Metabase: format('%I.%I', schema, table)::regclass)
        is_text_param = is_text_param or isinstance(value, (exp.Format, exp.DPipe, exp.Concat))
        if isinstance(value, exp.Parameter):  # a name (or an OID's digits) as text
            value = exp.Cast(this=value, to=exp.DataType.build("VARCHAR"))
            is_text_param = True
        if target == "oid":
            if isinstance(value, exp.Literal) and value.is_string:
                cast.set("to", exp.DataType.build("BIGINT"))
            continue
        if is_string or is_text_param:
            if target == "regclass":
                oid = _call("laminar_regclass_in", value, pid.copy())
            elif target == "regtype":
                oid = _call("laminar_regtype_in", value)
            elif target == "regnamespace":
                oid = _call("laminar_regnamespace_in", value, pid.copy())
            elif target in ("regproc", "regprocedure"):
                oid = value  # regproc columns hold names here, unqualified as PostgreSQL
                if is_string and str(value.this).lower().startswith("pg_catalog."):
                    oid = exp.Literal.string(str(value.this)[len("pg_catalog."):])
            else:
                raise errcodes.FeatureNotSupported(f"casts to {target} are not supported yet")
            if _wants_text(cast) and target != "regproc":  # 'T'::regclass shown: its name
                out = {"regclass": "laminar_regclass_out", "regtype": "laminar_regtype_out",
                       "regnamespace": "laminar_regnamespace_out"}[target]
                oid = _call(out, oid, *([] if target == "regtype" else [pid.copy()]))
            cast.replace(oid)
            continue
        if target in ("regproc", "regprocedure"):
            cast.replace(value)
            continue
        if _wants_text(cast):
            if target == "regclass":
                text = _call("laminar_regclass_out", value, pid.copy())
            elif target == "regtype":
                text = _call("laminar_regtype_out", value)
            elif target == "regnamespace":
                text = _call("laminar_regnamespace_out", value, pid.copy())
            else:
                raise errcodes.FeatureNotSupported(f"casts to {target} are not supported yet")
            cast.replace(text)
        else:
            cast.replace(exp.Cast(this=value, to=exp.DataType.build("BIGINT")))


def _function(node: exp.Anonymous, pid: exp.Expr) -> exp.Expr | None:
    """The DuckDB expression for a catalog function call, None if it is not one."""
    name = str(node.this).lower()
    args = list(node.expressions)
    if name == "version" and not args:  # pg_catalog.version(): the session function
        return exp.CurrentVersion()
    if name == "current_schema" and not args:
        return exp.CurrentSchema()
    if name in _CONSTANT_FUNCTIONS:
        return _CONSTANT_FUNCTIONS[name].copy()
    if name.startswith("has_") and name.endswith("_privilege"):
        return exp.true()
    if name in _NULL_TEXT_FUNCTIONS:
        return exp.Cast(this=exp.Null(), to=exp.DataType.build("VARCHAR"))
    if name == "pg_cancel_backend" and len(args) == 1:
        return _call("laminar_pg_cancel_backend", args[0], pid.copy())
    if name == "pg_terminate_backend" and len(args) in (1, 2):  # (pid, timeout): not waited
        return _call("laminar_pg_terminate_backend", args[0], pid.copy())
    if name == "obj_description" and len(args) in (1, 2):
        catalog = exp.Cast(this=args[1], to=exp.DataType.build("VARCHAR")) if len(args) == 2 \
            else exp.Cast(this=exp.Null(), to=exp.DataType.build("VARCHAR"))
        return _call("laminar_obj_description", args[0], catalog, pid.copy())
    if name == "col_description" and len(args) == 2:
        return _call("laminar_col_description", args[0], args[1], pid.copy())
    if name in _UNMEASURED_SIZE_FUNCTIONS:
        return exp.Cast(this=exp.Null(), to=exp.DataType.build("BIGINT"))
    if name == "pg_size_pretty" and len(args) == 1:
        return _call("laminar_pg_size_pretty", exp.Cast(this=args[0],
                                                        to=exp.DataType.build("BIGINT")))
    if name == "pg_postmaster_start_time" and not args:
        return _call("laminar_pg_postmaster_start_time", pid.copy())
    if name == "format_type" and len(args) == 2:
        return _call("laminar_format_type", *args)
    if name == "pg_get_userbyid" and len(args) == 1:
        return _call("laminar_pg_get_userbyid", args[0], pid.copy())
    if name == "pg_table_is_visible" and len(args) == 1:
        return _call("laminar_pg_table_is_visible", args[0], pid.copy())
    if name == "pg_type_is_visible" and len(args) == 1:
        return _call("laminar_pg_type_is_visible", args[0])
    if name == "pg_get_expr" and len(args) in (2, 3):
        text: exp.Expr = args[0]  # adbin holds the expression's text already
        return text
    if name == "pg_get_indexdef" and len(args) in (1, 3):
        column = args[1] if len(args) == 3 else exp.Literal.number(0)
        return _call("laminar_pg_get_indexdef", args[0], column, pid.copy())
    if name == "pg_get_constraintdef" and len(args) in (1, 2):
        pretty = args[1] if len(args) == 2 else exp.false()
        return _call("laminar_pg_get_constraintdef", args[0], pretty, pid.copy())
    if name == "pg_get_viewdef" and len(args) in (1, 2):
        target = args[0]
        if isinstance(target, exp.Literal) and target.is_string:
            target = _call("laminar_regclass_in", target, pid.copy())
        return _call("laminar_pg_get_viewdef", target, pid.copy())
    if name == "pg_partition_ancestors" and len(args) == 1:
        # no partitioned tables: a relation's only ancestor is itself
        return exp.Cast(this=args[0], to=exp.DataType.build("BIGINT"))
    if name == "to_regtype" and len(args) == 1:
        return _call("laminar_to_regtype", args[0])
    if name == "to_regclass" and len(args) == 1:
        return _call("laminar_to_regclass", args[0], pid.copy())
    if name == "quote_ident" and len(args) == 1:
        return _call("laminar_quote_ident", args[0])
    if name == "quote_literal" and len(args) == 1:
        return _call("laminar_quote_literal", exp.Cast(this=args[0],
                                                       to=exp.DataType.build("VARCHAR")))
    if name in ("pg_get_function_arguments", "pg_get_function_identity_arguments") \
            and len(args) == 1:
        return _call("laminar_pg_get_function_arguments", args[0])
    if name == "pg_get_function_result" and len(args) == 1:
        return _call("laminar_pg_get_function_result", args[0])
    if name == "parse_ident" and len(args) == 1:
        return _call("laminar_parse_ident", exp.Cast(this=args[0],
                                                     to=exp.DataType.build("VARCHAR")))
    if name == "pg_tablespace_location" and len(args) == 1:
        return exp.Literal.string("")  # pg_default and pg_global live in the data directory
    if name == "pg_encoding_to_char" and len(args) == 1:
        return _call("laminar_pg_encoding_to_char", args[0])
    if name in ("array_upper", "array_lower") and len(args) == 2:
        if not (isinstance(args[1], exp.Literal) and args[1].this == "1"):
            return exp.Cast(this=exp.Null(), to=exp.DataType.build("INT"))  # one dimension
        length = exp.Anonymous(this="len", expressions=[args[0]])
        bound = length if name == "array_upper" else exp.Literal.number(1)
        return exp.Cast(this=exp.Case(ifs=[exp.If(this=exp.GT(this=length.copy(),
                                                                expression=exp.Literal.number(0)),
                                                   true=bound)]),
                        to=exp.DataType.build("INT"))
    return None


def _partition_ancestors(table: exp.Table) -> None:
    """FROM pg_partition_ancestors(rel) [WITH ORDINALITY]: no table is partitioned here, so
    a relation's only ancestor is itself (at depth 1)."""
    call = table.this
    assert isinstance(call, exp.Anonymous)
    if len(call.expressions) != 1:
        raise errcodes.UndefinedFunction("function pg_partition_ancestors does not exist")
    relid = call.expressions[0].sql(dialect="duckdb")
    extra = ", 1 AS ordinality" if table.args.get("ordinality") else ""
    inner = sqlglot.parse_one(f"SELECT CAST({relid} AS BIGINT) AS relid{extra}", read="duckdb")
    alias = table.args.get("alias") or exp.TableAlias(
        this=exp.to_identifier("pg_partition_ancestors"))
    table.replace(exp.Subquery(this=inner, alias=alias.copy()))


def _options_to_table(table: exp.Table) -> None:
    """FROM pg_options_to_table(options): the 'name=value' items as (option_name,
    option_value) rows."""
    call = table.this
    assert isinstance(call, exp.Anonymous)
    if len(call.expressions) != 1:
        raise errcodes.UndefinedFunction("function pg_options_to_table does not exist")
    options = call.expressions[0].sql(dialect="duckdb")
    inner = sqlglot.parse_one(
        "SELECT split_part(o, '=', 1) AS option_name, substr(o, strpos(o, '=') + 1) AS "
        f"option_value FROM (SELECT unnest({options}) AS o) AS _options", read="duckdb")
    alias = table.args.get("alias") or exp.TableAlias(
        this=exp.to_identifier("pg_options_to_table"))
    table.replace(exp.Subquery(this=inner, alias=alias.copy()))


_REWRITTEN = (exp.Dot, exp.Table, exp.Operator, exp.Collate, exp.DataType, exp.Cast,
              exp.ObjectIdentifier, exp.Anonymous, exp.Format, exp.StringToArray, exp.EQ,
              exp.Bracket)

# int2vector / oidvector columns: PostgreSQL subscripts them from 0, the engine's lists
# from 1 (i_indoption is pgjdbc's alias of pg_index.indoption in getIndexInfo).
_ZERO_BASED_VECTORS = frozenset({
    "indkey", "indclass", "indcollation", "indoption", "proargtypes", "stxkeys",
    "partattrs", "i_indoption",
})

# Columns of type regproc: they hold the function's name here (pg_procs.py).
_REGPROC_COLUMNS = frozenset({
    "typinput", "typoutput", "typreceive", "typsend", "typmodin", "typmodout",
    "typanalyze", "typsubscript", "amhandler", "rngcanonical", "rngsubdiff", "prosupport",
    "aggfnoid", "aggtransfn", "aggfinalfn", "oprcode", "oprrest", "oprjoin",
})


def _regproc_joins(equalities: list[exp.Expr], tables: list[exp.Expr]) -> None:
    """`proc.oid = typ.typreceive`, where proc is pg_proc: regproc columns hold names here,
    so the join compares proc.proname (pg_proc's names of the functions pg_type refers to
    are unique)."""
    procs = {t.alias_or_name.lower() for t in tables
             if isinstance(t, exp.Table) and t.name.lower() == "pg_proc"}
    if not procs:
        return
    for eq in equalities:
        for side, other in ((eq.this, eq.expression), (eq.expression, eq.this)):
            if isinstance(side, exp.Column) and side.name.lower() == "oid" and \
                    side.table.lower() in procs and isinstance(other, exp.Column) and \
                    other.name.lower() in _REGPROC_COLUMNS:
                side.set("this", exp.to_identifier("proname"))

def rewrite(tree: exp.Expr, pid: int) -> exp.Expr:
    """Catalog functions, reg* casts, qualified operators and collations for DuckDB."""
    found: dict[type, list[exp.Expr]] = {kind: [] for kind in _REWRITTEN}
    for node in tree.walk():  # one walk: the tree is large for catalog queries
        bucket = found.get(type(node))
        if bucket is not None:
            bucket.append(node)
    pid_literal = exp.Literal.number(pid)
    for dot in found[exp.Dot]:  # pg_catalog.f(...) -> f(...)
        if _is_pg_catalog(dot.this) and isinstance(dot.expression, exp.Func):
            dot.replace(dot.expression)
        elif _is_schema(dot.this, "information_schema") and \
                isinstance(dot.expression, exp.Anonymous) and \
                str(dot.expression.this).lower() == "_pg_expandarray" and \
                len(dot.expression.expressions) == 1:
            dot.replace(pg_text_functions.expand_array(dot.expression.expressions[0]))
    for table in found[exp.Table]:  # FROM pg_catalog.unnest(...)
        assert isinstance(table, exp.Table)
        if isinstance(table.this, exp.Func) and table.db.lower() == "pg_catalog":
            table.set("db", None)
        if isinstance(table.this, exp.Anonymous) and \
                str(table.this.this).lower() == "pg_options_to_table":
            _options_to_table(table)
        elif isinstance(table.this, exp.Anonymous) and \
                str(table.this.this).lower() == "pg_partition_ancestors":
            _partition_ancestors(table)
        elif isinstance(table.this, exp.Anonymous) and \
                str(table.this.this).lower() == "pg_get_keywords" and \
                not table.this.expressions:  # a relation here (pg_stat.py)
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier("pg_get_keywords")))
            table.set("this", exp.to_identifier("pg_get_keywords"))
            table.set("db", exp.to_identifier("pg_catalog"))
    for op in found[exp.Operator]:
        symbol = str(op.args.get("operator") or "").split(".")[-1].strip()
        make = _OPERATORS.get(symbol)
        if make is None:
            raise errcodes.FeatureNotSupported(f"operator OPERATOR({op.args.get('operator')}) "
                                               "is not supported yet")
        op.replace(make(op.this, op.expression))
    for collate in found[exp.Collate]:
        collation = collate.expression
        name = collation.name.lower() if isinstance(collation, (exp.Column, exp.Identifier,
                                                                exp.Var)) else ""
        if isinstance(collation, exp.Literal):
            name = collation.this.lower()
        if name in ("default", "c", "posix"):  # the engine compares strings bytewise
            collate.replace(collate.this)
    _unqualify_types(found[exp.DataType])
    _reg_casts(found[exp.Cast], pid_literal)
    _object_identifier_types(found[exp.ObjectIdentifier])
    _regproc_joins(found[exp.EQ], found[exp.Table])
    for bracket in found[exp.Bracket]:
        vector = bracket.this
        if isinstance(vector, exp.Column) and vector.name.lower() in _ZERO_BASED_VECTORS \
                and len(bracket.expressions) == 1:
            bracket.set("expressions", [exp.Add(this=bracket.expressions[0],
                                                expression=exp.Literal.number(1))])
    for fmt in found[exp.Format]:
        assert isinstance(fmt, exp.Format)
        fmt.replace(pg_text_functions.format_call(fmt))
    for split in found[exp.StringToArray]:
        if split.args.get("null") is None and split.expression is not None:
            array = pg_text_functions.string_to_array(split.this, split.expression)
            source = split.parent
            if isinstance(source, exp.Table) and source.this is split:
                # FROM string_to_array(...) s: one row, its column named as the alias
                # (Grafana's search-path query)
                alias = source.alias_or_name or "string_to_array"
                inner = exp.select(exp.alias_(array, alias, quoted=True))
                source.replace(exp.Subquery(this=inner, alias=exp.TableAlias(
                    this=exp.to_identifier(alias))))
            else:
                split.replace(array)
    for node in found[exp.Anonymous]:
        assert isinstance(node, exp.Anonymous)
        params = list(node.find_all(exp.Parameter))
        replacement = _function(node, pid_literal)
        if replacement is not None:
            node.replace(_keeping_parameters(replacement, params))
    return tree


def _keeping_parameters(result: exp.Expr, params: list[exp.Parameter]) -> exp.Expr:
    """`result`, still referring to the parameters of the call it replaces (a client binds
    every parameter the statement has, even an argument the answer does not depend on)."""
    kept = {id(p) for p in result.find_all(exp.Parameter)}
    dropped = [p for p in params if id(p) not in kept]
    if not dropped:
        return result
    condition: exp.Expr = exp.Is(this=dropped[0], expression=exp.Null())
    for param in dropped[1:]:
        condition = exp.Or(this=condition, expression=exp.Is(this=param, expression=exp.Null()))
    return exp.Case(ifs=[exp.If(this=condition, true=result.copy())], default=result)
