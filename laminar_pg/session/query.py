"""Ad-hoc queries: a PostgreSQL query AST -> SQL for the embedded engine (DuckDB).

Strategy: sqlglot transpiles PostgreSQL to DuckDB; before that, this module does what a
transpiler without a catalog cannot: names result columns as PostgreSQL does
(FigureColname in parse_target.c), replaces session functions (version(),
current_user, current_setting(...)) by their values, infers the types of untyped
parameters, and remembers the PostgreSQL type of top-level casts to types DuckDB lacks
(name, json, varchar ...), so RowDescription says what PostgreSQL would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.session import pg_functions
from laminar_pg.session.relations import engine_name as relation_engine_name
from laminar_pg.wire import types

UNKNOWN = 0
TEXT = 25
VOID = 2278

# PostgreSQL types DuckDB has no name for, and what they become there.
_DUCK_TYPE_FOR: dict[str, str] = {
    "oid": "BIGINT",
    "regclass": "BIGINT",
    "regtype": "BIGINT",
    "regproc": "BIGINT",
    "name": "VARCHAR",
    "char": "VARCHAR",
    "bpchar": "VARCHAR",
    "jsonb": "JSON",
    "json": "JSON",
    "text": "VARCHAR",
    "varchar": "VARCHAR",
}


@dataclass(slots=True)
class QueryPlan:
    sql: str  # in DuckDB's dialect
    param_oids: tuple[int, ...]
    # Result position -> PostgreSQL type OID, where the engine's type would report another.
    oid_overrides: dict[int, int] = field(default_factory=dict)
    # Session relations the query reads (e.g. pg_cursors): registered before each run.
    session_relations: tuple[str, ...] = ()
    # True when the result can never change (no tables, no parameters, only immutable
    # functions): the engine computes it once and later executions reuse it.
    constant: bool = False
    cached: Any = None
    # The result's columns once described (Describe of a re-sent unnamed statement is free).
    described: Any = None
    # A point lookup by primary key that can skip the engine (session/lookup.py).
    lookup: Any = None
    catalog_version: int = -1  # the catalog it was planned against (stale after DDL)
    reads_views: bool = False  # materialized views are registered on the connection first


_JSON_BUILDERS = {"jsonb_build_object": 3802, "json_build_object": 114}


def pg_type_of(dtype: exp.DataType | exp.ObjectIdentifier) -> types.PgType | None:
    """The PostgreSQL type a sqlglot DataType names (None if we do not know it)."""
    name = dtype.sql("postgres").lower()
    base = name.split("(")[0].strip()
    if dtype.is_type(exp.DataType.Type.ARRAY) or base.endswith("[]"):
        elem = dtype.expressions[0] if dtype.expressions else None
        if isinstance(elem, (exp.DataType, exp.ObjectIdentifier)):  # oid[], regtype[] ...
            inner = pg_type_of(elem)
            if inner is not None and inner.array_oid:
                return types.TYPES_BY_OID.get(inner.array_oid)
        return None
    aliases = {"int": "int4", "integer": "int4", "smallint": "int2", "bigint": "int8",
               "real": "float4", "double precision": "float8", "boolean": "bool",
               "decimal": "numeric", "character varying": "varchar", "character": "bpchar",
               "char": "bpchar", '"char"': "char", "timestamp with time zone": "timestamptz",
               "timestamp without time zone": "timestamp", "time without time zone": "time",
               "timestamptz": "timestamptz", "json": "json", "jsonb": "jsonb"}
    base = aliases.get(base, base)
    return types.TYPES_BY_NAME.get(base)


def column_name(node: exp.Expr) -> str:
    """PostgreSQL's FigureColname for one select-list item."""
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Dot):
        return node.name
    if isinstance(node, exp.Cast):
        inner = column_name(node.this)
        if inner != "?column?" and not _names_by_type(node.this):
            return inner
        pg = pg_type_of(node.to)
        if pg is not None and pg.element_oid:
            pg = types.TYPES_BY_OID.get(pg.element_oid)
        return pg.name if pg is not None else "?column?"
    if isinstance(node, exp.Interval):
        return "interval"
    if isinstance(node, exp.Boolean):
        return "bool"
    if isinstance(node, exp.Case):
        return "case"
    if isinstance(node, exp.Exists):
        return "exists"
    if isinstance(node, exp.Array):
        return "array"
    if isinstance(node, exp.Tuple):
        return "row"
    if isinstance(node, (exp.Paren,)):
        return column_name(node.this)
    if isinstance(node, exp.CurrentTimestamp):
        return "now"  # sqlglot does not keep whether now() or CURRENT_TIMESTAMP was written
    if isinstance(node, exp.Func):
        if isinstance(node, exp.Anonymous):
            return str(node.this).lower()
        text = node.sql(dialect="postgres")
        name = text.split("(", 1)[0].strip().lower()
        return name if name.replace("_", "").isalnum() else "?column?"
    return "?column?"


def _names_by_type(node: exp.Expr) -> bool:
    """Whether a cast names this column by its type ('t'::regclass::oid is "oid"): the
    inner expression is itself a cast of a constant (FigureColname's weak strength)."""
    while isinstance(node, exp.Cast):
        node = node.this
        if not isinstance(node, exp.Cast):
            return isinstance(node, (exp.Literal, exp.Null))
    return False


@dataclass(slots=True)
class SessionValues:
    """What session functions evaluate to for one statement."""

    user: str
    database: str
    version: str
    pid: int
    setting: Callable[[str], str | None]


def substitute_session_functions(tree: exp.Expr, values: SessionValues) -> exp.Expr:
    def repl(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.CurrentVersion):
            return exp.Literal.string(values.version)
        if isinstance(node, (exp.CurrentUser, exp.SessionUser)) or (
            isinstance(node, exp.Column) and not node.table and not node.this.quoted
            and node.name.lower() in ("session_user", "current_role", "user")
        ):
            return exp.Literal.string(values.user)
        if isinstance(node, (exp.CurrentDatabase, exp.CurrentCatalog)):
            return exp.Literal.string(values.database)
        if isinstance(node, exp.CurrentSchema):
            return exp.Literal.string("public")
        if isinstance(node, exp.CurrentSchemas):
            # the search path; with implicit schemas, pg_catalog (always searched) first
            implicit = node.this
            schemas = ["public"]
            if isinstance(implicit, exp.Boolean) and implicit.this:
                schemas = ["pg_catalog", "public"]
            elif implicit is not None and not isinstance(implicit, exp.Boolean):
                return exp.Case(ifs=[exp.If(this=implicit, true=_text_array(
                    ["pg_catalog", "public"]))], default=_text_array(schemas))
            return _text_array(schemas)
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if name == "current_database" or name == "current_catalog":
                return exp.Literal.string(values.database)
            if name == "pg_backend_pid":
                return exp.Literal.number(values.pid)
            pid = exp.Literal.number(values.pid)
            if name == "current_setting":  # PostgreSQL's, on the session's settings
                args = list(node.expressions)
                if len(args) == 1:
                    args.append(exp.false())
                return exp.Anonymous(this="laminar_current_setting", expressions=[*args, pid])
            if name == "set_config":
                return exp.Anonymous(this="laminar_set_config", expressions=[*node.expressions, pid])
            if name == "pg_sleep":
                return exp.Anonymous(this="laminar_pg_sleep", expressions=[*node.expressions, pid])
            if name == "laminar_advance_clock":
                return exp.Anonymous(this="laminar_advance_clock_",
                                     expressions=[*node.expressions, pid])
            if name == "current_schemas" and len(node.expressions) == 1:
                return repl(exp.CurrentSchemas(this=node.expressions[0]))
        return node

    return tree.transform(repl, copy=False)


def _text_array(items: list[str]) -> exp.Expr:
    return exp.Array(expressions=[exp.Literal.string(i) for i in items])


def infer_param_types(
    tree: exp.Expr, given: Sequence[int], columns: dict[str, int] | None = None,
    positional: dict[int, int] | None = None,
) -> tuple[int, ...]:
    """Parameter OIDs: the client's where given, else from the context ($1::int4 -> int4,
    `col = $1` -> the column's type when `columns` maps the statement's column names to
    OIDs, `positional` what an INSERT's target columns give).

    Untyped parameters that nothing constrains become text, as in PostgreSQL.
    """
    count = len(given)
    found: dict[int, int] = {}
    for param in tree.find_all(exp.Parameter, exp.Placeholder):
        index = _param_index(param)
        if index is None:
            continue
        count = max(count, index)
        parent = param.parent
        if isinstance(parent, exp.Cast) and parent.this is param:
            pg = pg_type_of(parent.to)
            if pg is not None and pg.name.startswith("reg"):  # $1::regclass: a name, as text
                found.setdefault(index, TEXT)
            elif pg is not None:
                found.setdefault(index, pg.oid)
        elif isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Add,
                                 exp.Sub, exp.Mul, exp.Div)):
            other = parent.expression if parent.this is param else parent.this
            oid = literal_oid(other)
            if not oid and columns and isinstance(other, exp.Column):
                oid = columns.get(other.name, UNKNOWN)
            if oid:
                found.setdefault(index, oid)
        elif isinstance(parent, exp.Limit | exp.Offset):
            found.setdefault(index, 20)
        elif isinstance(quantified := _unparen(parent, param), (exp.Any, exp.All)) or (
                isinstance(quantified, exp.Anonymous) and str(quantified.this).upper() == "ALL"
                and len(quantified.expressions) == 1):
            # x = ANY($1), x <> ALL($1): an array of x's type (text[] when x says nothing)
            comparison = quantified.parent
            element = 0
            if isinstance(comparison, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
                other = comparison.this if comparison.expression is parent else \
                    comparison.expression
                element = literal_oid(other)
                if not element and columns and isinstance(other, exp.Column):
                    element = columns.get(other.name, UNKNOWN)
            known = types.TYPES_BY_OID.get(element) if element else None
            found.setdefault(index, known.array_oid if known is not None and known.array_oid
                             else 1009)
    for index, oid in (positional or {}).items():
        found.setdefault(index, oid)
    out = []
    for i in range(1, count + 1):
        oid = given[i - 1] if i <= len(given) else UNKNOWN
        out.append(oid if oid not in (UNKNOWN, 705) else found.get(i, TEXT))
    return tuple(out)


def _unparen(parent: exp.Expr | None, child: exp.Expr) -> exp.Expr | None:
    """The node above `child` and any parentheses around it."""
    while isinstance(parent, exp.Paren) and parent.this is child:
        child, parent = parent, parent.parent
    return parent


def literal_oid(node: exp.Expr) -> int:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return 0
        return 1700 if "." in node.this or "e" in node.this.lower() else (
            23 if abs(int(node.this)) < 2**31 else 20
        )
    if isinstance(node, exp.Cast):
        pg = pg_type_of(node.to)
        return pg.oid if pg else 0
    if isinstance(node, exp.Boolean):
        return 16
    return 0


def _param_index(node: exp.Expr) -> int | None:
    if isinstance(node, exp.Parameter):
        inner = node.this
        text = inner.this if isinstance(inner, (exp.Literal, exp.Var, exp.Identifier)) else None
        if text is not None and str(text).isdigit():
            return int(text)
    return None


def _session_relations(tree: exp.Expr, names: frozenset[str]) -> tuple[str, ...]:
    """Point references to system relations (session/relations.py) at their snapshot.

    An unqualified name is looked up in pg_catalog, which PostgreSQL always searches first."""
    used = []
    for table in list(tree.find_all(exp.Table)):
        name = table.name.lower()
        qualified = f"{table.db.lower() or 'pg_catalog'}.{name}"
        if qualified in names and not table.catalog:
            alias = table.alias or name
            table.set("db", None)
            table.set("this", exp.to_identifier(relation_engine_name(qualified), quoted=True))
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
            used.append(qualified)
    if used:  # pg_catalog.pg_class.relname: the relation is known by its alias now
        for column in tree.find_all(exp.Column):
            db = column.args.get("db")
            if db is not None and f"{column.text('db').lower()}.{column.table.lower()}" in used:
                column.set("db", None)
    return tuple(dict.fromkeys(used))


_IMMUTABLE_FUNCTIONS = (
    exp.Cast, exp.TryCast, exp.Abs, exp.Lower, exp.Upper, exp.Length, exp.Coalesce, exp.Concat,
    exp.Round, exp.Floor, exp.Ceil, exp.Substring, exp.Greatest, exp.Least, exp.Nullif,
    exp.Trim, exp.Sqrt, exp.Pow, exp.Ln, exp.Exp, exp.Sign, exp.Array, exp.If,
)
_IMMUTABLE_ANONYMOUS = frozenset({"replace", "left", "right", "lpad", "rpad", "reverse", "mod"})


def is_constant(tree: exp.Expr) -> bool:
    """No relation, no parameter, only immutable functions: the result never changes."""
    if not isinstance(tree, exp.Select) or tree.args.get("from_") or tree.args.get("from"):
        return False
    for node in tree.walk():
        if isinstance(node, (exp.Table, exp.Parameter, exp.Placeholder, exp.Subquery)):
            return False
        if isinstance(node, exp.Anonymous):
            if str(node.this).lower() not in _IMMUTABLE_ANONYMOUS:
                return False
        elif isinstance(node, exp.Func) and not isinstance(node, _IMMUTABLE_FUNCTIONS):
            return False
    return True


_STRFTIME_CODE = re.compile(r"%-?[A-Za-z%]")


def refuse_wrong_answers(tree: exp.Expr) -> None:
    """Constructs the engine would answer differently from PostgreSQL, refused (0A000)
    until they are translated: never a wrong answer (docs/sql.md lists them)."""
    for node in tree.walk():
        if node is not tree and isinstance(node, (exp.Insert, exp.Update, exp.Delete,
                                                  exp.Merge)):
            # The engine would run it, but its changes would miss the change log (and be
            # undone by a restart): refused until nested writes are captured too.
            raise errcodes.FeatureNotSupported(
                "data-modifying statements inside another statement (WITH ... INSERT / "
                "UPDATE / DELETE) are not supported yet")
        if isinstance(node, exp.TimeToStr):
            pattern = node.args.get("format")
            if isinstance(pattern, exp.Literal) and any(
                    ch.isalpha() for ch in _STRFTIME_CODE.sub("", pattern.this)):
                raise errcodes.FeatureNotSupported(
                    "to_char with this pattern is not supported yet",
                    hint="YYYY, MM, DD, HH24, HH12, MI and SS are supported.")
        if isinstance(node, (exp.DPipe, exp.EQ, exp.NEQ)) and any(
                isinstance(side, exp.Cast) and side.to.is_type(exp.DataType.Type.JSONB)
                for side in (node.this, node.expression)):
            raise errcodes.FeatureNotSupported(
                "jsonb concatenation and comparison are not supported yet")
    if isinstance(tree, exp.Select) and tree.args.get("distinct") is not None:
        distinct = tree.args["distinct"]
        order = tree.args.get("order")
        if order is not None and not distinct.args.get("on"):
            listed = {e.sql() for e in tree.expressions}
            listed |= {e.alias for e in tree.expressions if isinstance(e, exp.Alias)}
            listed |= {e.this.sql() for e in tree.expressions if isinstance(e, exp.Alias)}
            if not any(isinstance(e, exp.Star) for e in tree.expressions):
                for item in order.expressions:
                    key = item.this if isinstance(item, exp.Ordered) else item
                    if isinstance(key, exp.Literal) and not key.is_string:
                        continue  # ORDER BY 1: a position in the list
                    if key.sql() not in listed and not (
                            isinstance(key, exp.Column) and key.name in listed):
                        raise errcodes.InvalidColumnReference(
                            "for SELECT DISTINCT, ORDER BY expressions must appear in "
                            "select list")


def engine_rewrites(tree: exp.Expr, param_oids: Sequence[int], values: SessionValues,
                    columns: dict[str, int] | None) -> exp.Expr:
    """What DuckDB needs to answer as PostgreSQL would, applied in place (to a copy)."""
    refuse_wrong_answers(tree)
    _window_table_functions(tree)
    tree = pg_functions.rewrite(tree, values.pid)  # first: pg_catalog.version() -> version()
    tree = substitute_session_functions(tree, values)
    _cast_params(tree, param_oids)
    _int4_generate_series(tree)
    _array_literals(tree)
    _bytea_literals(tree)
    _boolean_literals(tree)
    _int4_functions(tree)
    _round_half_even(tree, columns)
    _int_sums(tree, columns)
    _postgres_functions(tree)
    _like_escape(tree)
    _numeric_casts(tree)
    _map_types(tree)
    _replace_now(tree)
    return tree


def _window_table_functions(tree: exp.Expr) -> None:
    """`FROM TUMBLE(rel, ts, size)` / `HOP(rel, ts, slide, size)` in ad-hoc SQL: the rows
    of `rel` with `window_start` / `window_end` (HOP repeats a row per window), windows
    aligned on the Unix epoch as the streaming engine aligns them, so a batch query over
    a table answers exactly what a view over the same rows holds."""
    for table in list(tree.find_all(exp.Table)):
        call = table.this
        if not isinstance(call, exp.Anonymous):
            continue
        name = str(call.this).lower()
        if name not in ("tumble", "hop"):
            continue
        args = list(call.expressions)
        if len(args) != (3 if name == "tumble" else 4) or not isinstance(args[0], exp.Column) \
                or not isinstance(args[1], exp.Column):
            raise errcodes.FeatureNotSupported(f"{name.upper()}(relation, time column, "
                                               f"{'size' if name == 'tumble' else 'slide, size'})"
                                               " with these arguments")
        from laminar_pg.sql.planner import interval_us

        sizes = [interval_us(a) for a in args[2:]]
        if any(v <= 0 for v in sizes):
            raise errcodes.InvalidParameterValue("window sizes must be positive")
        slide, size = (sizes[0], sizes[0]) if name == "tumble" else (sizes[0], sizes[1])
        if size % slide:
            raise errcodes.FeatureNotSupported("HOP with a size that is no multiple of its slide")
        relation = args[0].sql(dialect="duckdb")
        ts = exp.column(args[1].name, quoted=True).sql(dialect="duckdb")
        offset = f"((epoch_us({ts}) % {slide}) + {slide}) % {slide}"
        if name == "tumble":
            sql = (f"SELECT *, {ts} - to_microseconds({offset}) AS window_start, "
                   f"{ts} - to_microseconds({offset}) + to_microseconds({size}) AS window_end "
                   f"FROM {relation} WHERE {ts} IS NOT NULL")
        else:
            start = f"{ts} - to_microseconds({offset} + __hop.__hop_j * {slide})"
            sql = (f"SELECT * EXCLUDE (__hop_j), {start} AS window_start, "
                   f"{start} + to_microseconds({size}) AS window_end FROM {relation}, "
                   f"range({size // slide}) AS __hop(__hop_j) WHERE {ts} IS NOT NULL")
        inner = sqlglot.parse_one(sql, read="duckdb")
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
        table.replace(exp.Subquery(this=inner, alias=alias.copy()))


def prepare_tree(
    tree: exp.Expr, given_oids: Sequence[int], values: SessionValues,
    columns: dict[str, int] | None = None, positional: dict[int, int] | None = None,
) -> tuple[exp.Expr, tuple[int, ...]]:
    """A statement other than a query (INSERT, UPDATE, DELETE, their sources) rewritten
    for DuckDB, still as a tree: session functions, typed parameters, literals."""
    tree = tree.copy()
    param_oids = infer_param_types(tree, given_oids, columns, positional)
    tree = engine_rewrites(tree, param_oids, values, columns)
    return tree, param_oids


def plan_query(
    tree: exp.Expr,
    given_oids: Sequence[int],
    values: SessionValues,
    session_relations: frozenset[str] = frozenset(),
    columns: dict[str, int] | None = None,
) -> QueryPlan:
    """Prepare a read-only query (SELECT, VALUES, set operations) for DuckDB."""
    tree = tree.copy()
    param_oids = infer_param_types(tree, given_oids, columns)
    if isinstance(tree, exp.Values):
        tree = _values_as_select(tree)
    overrides: dict[int, int] = {}
    if isinstance(tree, exp.Select):
        catalog_tables = _catalog_tables(tree)
        projections: list[exp.Expr] = []
        for pos, item in enumerate(tree.expressions):
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and item.is_star):
                projections.append(item)
                overrides.clear()
                continue
            name = column_name(item)
            if isinstance(item, (exp.Alias, exp.Column)) and not _quoted_name(item):
                name = name.lower()  # `AS TABLE_SCHEM` names the column table_schem
            inner = item.this if isinstance(item, exp.Alias) else item
            if isinstance(inner, exp.Cast):
                pg = pg_type_of(inner.to)
                # reg* values are their names in results here (pg_functions.py): text
                if pg is not None and pg.name in _DUCK_TYPE_FOR and not pg.name.startswith("reg"):
                    overrides[pos] = pg.oid
                elif pg is not None and pg.element_oid and \
                        types.TYPES_BY_OID[pg.element_oid].name in _DUCK_TYPE_FOR and \
                        not types.TYPES_BY_OID[pg.element_oid].name.startswith("reg"):
                    overrides[pos] = pg.oid  # '{...}'::jsonb[] is jsonb[], not json[]
            elif isinstance(inner, exp.Array) and inner.expressions and all(
                    isinstance(e, exp.Cast) for e in inner.expressions):
                # ARRAY['{}'::jsonb, ...]: an array of the elements' PostgreSQL type
                element_types = {pg_type_of(e.to) for e in inner.expressions}
                element = element_types.pop() if len(element_types) == 1 else None
                if element is not None and element.name in ("json", "jsonb", "name") \
                        and element.array_oid:
                    overrides[pos] = element.array_oid
            elif isinstance(inner, exp.Column) and catalog_tables:
                oid = _catalog_column_type(inner, catalog_tables)
                if oid:
                    overrides[pos] = oid  # pg_class.relname is a name, as in PostgreSQL
            elif isinstance(inner, exp.Anonymous) and str(inner.this).lower() == "pg_sleep":
                overrides[pos] = VOID
            elif isinstance(inner, exp.Anonymous) and str(inner.this).lower() in _JSON_BUILDERS:
                overrides[pos] = _JSON_BUILDERS[str(inner.this).lower()]
            if isinstance(item, exp.Column) and item.name == name:
                projections.append(item)  # the engine names it the same; an alias would
                continue  # turn "no such column" into a confusing self-reference error
            node = inner if isinstance(item, exp.Alias) else item
            projections.append(exp.alias_(node, exp.to_identifier(name, quoted=True), copy=False))
        tree.set("expressions", projections)
        if any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and p.is_star)
               for p in projections):
            overrides = {}
    tree = engine_rewrites(tree, param_oids, values, columns)
    relations = _session_relations(tree, session_relations)
    constant = not relations and is_constant(tree)
    return QueryPlan(tree.sql(dialect="duckdb"), param_oids, overrides, relations, constant)


# Catalog column types the engine holds as text, and the type PostgreSQL describes them as
# (information_schema's domains by their base type, as PostgreSQL's RowDescription does).
_CATALOG_TEXT_TYPES = {"name": 19, "char": 18, "sql_identifier": 19, "character_data": 1043,
                       "yes_or_no": 1043}


def _catalog_tables(select: exp.Select) -> dict[str, list[tuple[str, str]]]:
    """The select's own FROM / JOIN items that are catalog relations: alias -> columns."""
    from laminar_pg.session import pg_catalog, pg_information_schema

    found: dict[str, list[tuple[str, str]]] = {}
    sources = [select.args.get("from_") or select.args.get("from")]
    sources += [join.this for join in select.args.get("joins") or []]
    for source in sources:
        table = source.this if isinstance(source, exp.From) else source
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            return {}  # a subquery or function among them: names are not resolved here
        schema, name = (table.db or "pg_catalog").lower(), table.name.lower()
        specs = (pg_catalog.COLUMNS if schema == "pg_catalog"
                 else pg_information_schema.COLUMNS if schema == "information_schema" else {})
        if name not in specs:
            return {}
        found[(table.alias or table.name).lower()] = specs[name]
    return found


def _catalog_column_type(column: exp.Column, tables: dict[str, list[tuple[str, str]]]) -> int:
    """The PostgreSQL type of a catalog column the engine holds as text (0: another)."""
    candidates = [tables.get(column.table.lower(), [])] if column.table else tables.values()
    name = column.name.lower()
    found = [pgtype for columns in candidates for col, pgtype in columns if col == name]
    return _CATALOG_TEXT_TYPES.get(found[0], 0) if len(found) == 1 else 0


def _quoted_name(item: exp.Alias | exp.Column) -> bool:
    """Whether the identifier naming a select-list item was quoted (PostgreSQL folds an
    unquoted one to lower case)."""
    ident = item.args.get("alias") if isinstance(item, exp.Alias) else item.this
    return isinstance(ident, exp.Identifier) and bool(ident.quoted)


def _values_as_select(values: exp.Values) -> exp.Select:
    """VALUES ... -> SELECT * FROM (VALUES ...) AS "*VALUES*"(column1, ...), as PostgreSQL names them."""
    first = values.expressions[0] if values.expressions else None
    width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
    alias = exp.TableAlias(
        this=exp.to_identifier("*VALUES*", quoted=True),
        columns=[exp.to_identifier(f"column{i + 1}", quoted=True) for i in range(width)],
    )
    values.set("alias", alias)
    return exp.select("*").from_(values)


def _int4_generate_series(tree: exp.Expr) -> None:
    """generate_series(int4, int4) yields int4 in PostgreSQL; DuckDB's yields BIGINT."""
    for series in list(tree.find_all(exp.ExplodingGenerateSeries)):
        table = series.parent
        args = [a for a in (series.args.get("start"), series.args.get("end"),
                            series.args.get("step")) if a is not None]
        if not all(literal_oid(a) in (21, 23) for a in args):
            continue
        if not isinstance(table, exp.Table):  # in the select list: a set of int4
            if not isinstance(table, exp.Cast):
                series.replace(exp.Cast(this=series.copy(), to=exp.DataType.build("INT")))
            continue
        inner = exp.select(
            exp.alias_(exp.cast(exp.column("generate_series"), "INT"), "generate_series")
        ).from_(exp.Table(this=series.copy()))
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier("generate_series"))
        if not alias.columns:  # FROM generate_series(1, 3) g: the column is g too
            alias = alias.copy()
            alias.set("columns", [alias.this.copy()])
        table.replace(exp.Subquery(this=inner, alias=alias))


def _replace_now(tree: exp.Expr) -> None:
    for node in list(tree.find_all(exp.CurrentTimestamp)):
        node.replace(exp.Anonymous(this="get_current_timestamp", expressions=[]))


def _cast_params(tree: exp.Expr, oids: Sequence[int]) -> None:
    """Give DuckDB each parameter's type: CAST($n AS type) unless already cast."""
    for param in list(tree.find_all(exp.Parameter)):
        index = _param_index(param)
        if index is None or index > len(oids):
            continue
        if isinstance(param.parent, exp.Cast):
            continue
        t = types.TYPES_BY_OID.get(oids[index - 1])
        if t is not None and t.name == "numeric":
            continue  # the engine takes the Decimal's own precision and scale
        param.replace(exp.Cast(this=param.copy(), to=engine_type(t)))


def engine_type(t: types.PgType | None) -> exp.DataType:
    """The engine's type for a PostgreSQL type (arrays as ELEMENT[])."""
    if t is not None and t.element_oid:
        elem = engine_type(types.TYPES_BY_OID.get(t.element_oid))
        return exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[elem], nested=True)
    if t is None or t.name in ("text", "unknown"):
        return exp.DataType.build("VARCHAR")
    if t.name == "numeric":
        return exp.DataType.build(UNCONSTRAINED_NUMERIC)
    return exp.DataType.build(_DUCK_TYPE_FOR.get(t.name, t.name), dialect="postgres")


def _like_escape(tree: exp.Expr) -> None:
    """LIKE / ILIKE escape with a backslash by default in PostgreSQL; DuckDB has no
    default escape character, so it is spelled out."""
    for node in list(tree.find_all(exp.Like, exp.ILike)):
        if isinstance(node.parent, exp.Escape) or not isinstance(node.expression, exp.Expr):
            continue
        node.replace(exp.Escape(this=node.copy(), expression=exp.Literal.string("\\")))


_INT4_FUNCTIONS = (exp.Length, exp.StrPosition, exp.ArraySize, exp.Ascii)
_INT4_ANONYMOUS = frozenset({"octet_length", "bit_length", "array_ndims", "array_lower",
                             "array_upper", "cardinality"})


def _int4_functions(tree: exp.Expr) -> None:
    """Functions PostgreSQL types int4 (length, position, array_length ...), which DuckDB
    returns as BIGINT: cast, so RowDescription and drivers see int4."""
    for node in list(tree.find_all(*_INT4_FUNCTIONS, exp.Anonymous)):
        if isinstance(node, exp.Anonymous) and str(node.this).lower() not in _INT4_ANONYMOUS:
            continue
        parent = node.parent
        if isinstance(parent, exp.Cast) and parent.this is node:
            continue
        typed: exp.Expr = exp.Cast(this=node.copy(), to=exp.DataType.build("INT"))
        if isinstance(node, exp.ArraySize):  # an empty array has no dimension: NULL
            typed = exp.Nullif(this=typed, expression=exp.Literal.number(0))
        node.replace(typed)


def _round_half_even(tree: exp.Expr, columns: dict[str, int] | None) -> None:
    """round(float8) is rint() in PostgreSQL: half to even (2.5 -> 2). DuckDB's round
    goes half away from zero, so a float argument (a cast, or a float column of the one
    table read) rounds with round_even."""
    for node in list(tree.find_all(exp.Round)):
        if node.args.get("decimals") is not None:
            continue
        arg = inner = node.this
        while isinstance(inner, (exp.Neg, exp.Paren)):
            inner = inner.this
        is_float = (isinstance(inner, exp.Cast) and inner.to.is_type(
            exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)) or (
            isinstance(inner, exp.Column) and columns is not None
            and columns.get(inner.name) in (700, 701))
        if is_float:
            node.replace(exp.Anonymous(this="round_even",
                                       expressions=[arg.copy(), exp.Literal.number(0)]))


def _int_sums(tree: exp.Expr, columns: dict[str, int] | None) -> None:
    """sum() of an int2 / int4 column is int8 in PostgreSQL; DuckDB's is HUGEINT (which
    would be numeric). Known for the columns of the one table a query reads."""
    if not columns:
        return
    for node in list(tree.find_all(exp.Sum)):
        arg = node.this
        if isinstance(arg, exp.Column) and columns.get(arg.name) in (21, 23):
            call: exp.Expr = node  # with its FILTER and OVER, which belong to the call
            while isinstance(call.parent, (exp.Filter, exp.Window)):
                call = call.parent
            if not isinstance(call.parent, exp.Cast):
                call.replace(exp.Cast(this=call.copy(), to=exp.DataType.build("BIGINT")))


def _width_bucket(x: exp.Expr, low: exp.Expr, high: exp.Expr, count: exp.Expr) -> exp.Expr:
    """width_bucket(operand, low, high, count): the 1-based bucket of equal width, 0 below
    the range and count + 1 at or above it (bounds may be given high to low)."""
    def sql(e: exp.Expr) -> str:
        return f"({e.sql(dialect='duckdb')})"

    v, lo, hi, n = sql(x), sql(low), sql(high), sql(count)
    ascending = (f"CASE WHEN {v} < {lo} THEN 0 WHEN {v} >= {hi} THEN {n} + 1 "
                 f"ELSE CAST(floor(({v} - {lo}) * {n} / ({hi} - {lo})) AS INT) + 1 END")
    descending = (f"CASE WHEN {v} > {lo} THEN 0 WHEN {v} <= {hi} THEN {n} + 1 "
                  f"ELSE CAST(floor(({lo} - {v}) * {n} / ({lo} - {hi})) AS INT) + 1 END")
    text = f"CAST(CASE WHEN {lo} < {hi} THEN {ascending} ELSE {descending} END AS INT)"
    return sqlglot.parse_one(text, read="duckdb")


def _postgres_functions(tree: exp.Expr) -> None:
    """PostgreSQL functions DuckDB spells differently: every() is bool_and();
    substring(text FROM pattern) is the first parenthesised match of a regular expression
    (or the whole match), NULL when nothing matches."""
    for node in list(tree.find_all(exp.Anonymous)):
        name = str(node.this).lower()
        if name == "every":
            node.set("this", "bool_and")
        elif name in ("jsonb_build_object", "json_build_object"):
            node.set("this", "json_object")
        elif name == "width_bucket" and len(node.expressions) == 4:
            node.replace(_width_bucket(*node.expressions))
    for bucket in list(tree.find_all(exp.WidthBucket)):
        parts = [bucket.this, bucket.args.get("min_value"), bucket.args.get("max_value"),
                 bucket.args.get("num_buckets")]
        if all(isinstance(p, exp.Expr) for p in parts):
            bucket.replace(_width_bucket(*parts))
    for sub in list(tree.find_all(exp.Substring)):
        pattern = sub.args.get("start")
        if not (isinstance(pattern, exp.Literal) and pattern.is_string) or sub.args.get("length"):
            continue
        group = 1 if re.search(r"(?<!\\)\((?!\?)", pattern.this) else 0
        text = sub.this
        sub.replace(exp.Case(ifs=[exp.If(
            this=exp.Anonymous(this="regexp_matches", expressions=[text.copy(), pattern.copy()]),
            true=exp.Anonymous(this="regexp_extract", expressions=[
                text.copy(), pattern.copy(), exp.Literal.number(group)]))]))


def _boolean_literals(tree: exp.Expr) -> None:
    """'on'::boolean, 'off', 'y', ' yes ' ...: PostgreSQL's boolin, not DuckDB's cast."""
    for cast in list(tree.find_all(exp.Cast)):
        literal = cast.this
        if not (isinstance(literal, exp.Literal) and literal.is_string):
            continue
        if not cast.to.is_type(exp.DataType.Type.BOOLEAN):
            continue
        value = types.decode_param(types.Oid.BOOL, 0, literal.this.encode())
        cast.replace(exp.Boolean(this=bool(value)))


def _bytea_literals(tree: exp.Expr) -> None:
    """'\\xdeadbeef'::bytea -> unhex('deadbeef'): PostgreSQL's hex format (DuckDB would
    read each backslash escape as one byte and the rest as characters)."""
    for cast in list(tree.find_all(exp.Cast)):
        literal = cast.this
        if not (isinstance(literal, exp.Literal) and literal.is_string):
            continue
        if not cast.to.is_type(exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY,
                               exp.DataType.Type.BLOB):
            continue
        value = types.decode_param(types.Oid.BYTEA, 0, literal.this.encode())
        cast.replace(exp.Anonymous(this="unhex", expressions=[
            exp.Literal.string(bytes(value).hex())]))


def _array_literals(tree: exp.Expr) -> None:
    """'{1,2}'::int4[] -> [1, 2]: PostgreSQL's array text syntax, which DuckDB lacks."""
    for cast in list(tree.find_all(exp.Cast)):
        literal = cast.this
        if not (isinstance(literal, exp.Literal) and literal.is_string):
            continue
        pg = pg_type_of(cast.to)
        if pg is None or not pg.element_oid:
            continue
        value = types.decode_param(pg.oid, 0, literal.this.encode())
        elem = types.TYPES_BY_OID[pg.element_oid]
        items = [
            exp.Null() if v is None else exp.Literal.string(types.encode_text(elem.oid, v).decode())
            for v in value
        ]
        array = exp.Array(expressions=items)
        cast.set("this", array)


UNCONSTRAINED_NUMERIC = "DECIMAL(38, 10)"


def _numeric_casts(tree: exp.Expr) -> None:
    """Unconstrained numeric: keep every digit of parameters and literals.

    DuckDB's NUMERIC is DECIMAL(18,3), which would round 1.23456 to 1.235.  A parameter
    (a Python Decimal) and a numeric literal carry their own precision and scale, so the
    cast is dropped; other expressions get DECIMAL(38, 10).
    """
    for cast in list(tree.find_all(exp.Cast)):
        to = cast.to
        if not to.is_type(exp.DataType.Type.DECIMAL) or to.expressions:
            continue
        inner = cast.this
        if isinstance(inner, exp.Literal) and not inner.is_string and inner.this.isdigit():
            # 2::numeric stays numeric (a bare 2 would divide as an integer)
            cast.set("to", exp.DataType.build("DECIMAL(38, 0)"))
            continue
        if isinstance(inner, exp.Parameter) or (
            isinstance(inner, exp.Literal) and not inner.is_string
        ):
            cast.replace(inner)
            continue
        if isinstance(inner, exp.Literal) and inner.is_string:
            try:
                value = types.decode_param(1700, 0, inner.this.encode())
            except Exception:
                value = None
            if value is not None and value.is_finite():
                cast.replace(exp.Literal.number(format(value, "f")))
                continue
        cast.set("to", exp.DataType.build(UNCONSTRAINED_NUMERIC))


def _map_types(tree: exp.Expr) -> None:
    for dtype in list(tree.find_all(exp.DataType)):
        name = dtype.sql("postgres").lower()
        if name in _DUCK_TYPE_FOR and name not in ("json", "text", "varchar"):
            dtype.replace(exp.DataType.build(_DUCK_TYPE_FOR[name]))
