"""Ad-hoc queries: a PostgreSQL query AST -> SQL for the embedded engine (DuckDB).

Strategy: sqlglot transpiles PostgreSQL to DuckDB; before that, this module does what a
transpiler without a catalog cannot: names result columns as PostgreSQL does
(FigureColname in parse_target.c), replaces session functions (version(),
current_user, current_setting(...)) by their values, infers the types of untyped
parameters, and remembers the PostgreSQL type of top-level casts to types DuckDB lacks
(name, json, varchar ...), so RowDescription says what PostgreSQL would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.wire import types

UNKNOWN = 0
TEXT = 25

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


def pg_type_of(dtype: exp.DataType) -> types.PgType | None:
    """The PostgreSQL type a sqlglot DataType names (None if we do not know it)."""
    name = dtype.sql("postgres").lower()
    base = name.split("(")[0].strip()
    if dtype.is_type(exp.DataType.Type.ARRAY) or base.endswith("[]"):
        elem = dtype.expressions[0] if dtype.expressions else None
        if isinstance(elem, exp.DataType):
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


def column_name(node: exp.Expression) -> str:
    """PostgreSQL's FigureColname for one select-list item."""
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Dot):
        return node.name
    if isinstance(node, exp.Cast):
        inner = column_name(node.this)
        if inner != "?column?":
            return inner
        pg = pg_type_of(node.to)
        return pg.name if pg is not None else "?column?"
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
        return "now" if node.meta.get("pg_call") else "current_timestamp"
    if isinstance(node, exp.Func):
        if isinstance(node, exp.Anonymous):
            return str(node.this).lower()
        return node.sql_name().lower() if not node.sql_names() else node.sql_names()[0].lower()
    return "?column?"


@dataclass(slots=True)
class SessionValues:
    """What session functions evaluate to for one statement."""

    user: str
    database: str
    version: str
    pid: int
    setting: Callable[[str], str | None]


def substitute_session_functions(tree: exp.Expression, values: SessionValues) -> exp.Expression:
    def repl(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentVersion):
            return exp.Literal.string(values.version)
        if isinstance(node, exp.CurrentUser) or (
            isinstance(node, exp.Column) and node.name.lower() in ("session_user", "current_role")
            and not node.table
        ):
            return exp.Literal.string(values.user)
        if isinstance(node, exp.CurrentSchema):
            return exp.Literal.string("public")
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if name == "current_database" or name == "current_catalog":
                return exp.Literal.string(values.database)
            if name == "pg_backend_pid":
                return exp.Literal.number(values.pid)
            if name == "current_setting":
                return _current_setting(node, values)
            if name == "current_schemas":
                return exp.Array(expressions=[exp.Literal.string("public")])
        return node

    return tree.transform(repl, copy=False)


def _current_setting(node: exp.Anonymous, values: SessionValues) -> exp.Expression:
    args = node.expressions
    if not args or not isinstance(args[0], exp.Literal) or not args[0].is_string:
        raise errcodes.FeatureNotSupported("current_setting() needs a constant setting name")
    missing_ok = len(args) > 1 and isinstance(args[1], exp.Boolean) and args[1].this
    value = values.setting(args[0].this)
    if value is None:
        if missing_ok:
            return exp.Null()
        raise errcodes.UndefinedObject(
            f'unrecognized configuration parameter "{args[0].this}"'
        )
    return exp.Literal.string(value)


def infer_param_types(tree: exp.Expression, given: Sequence[int]) -> tuple[int, ...]:
    """Parameter OIDs: the client's where given, else from the context ($1::int4 -> int4).

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
            if pg is not None:
                found.setdefault(index, pg.oid)
        elif isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Add,
                                 exp.Sub, exp.Mul, exp.Div)):
            other = parent.expression if parent.this is param else parent.this
            oid = literal_oid(other)
            if oid:
                found.setdefault(index, oid)
        elif isinstance(parent, exp.Limit | exp.Offset):
            found.setdefault(index, 20)
    out = []
    for i in range(1, count + 1):
        oid = given[i - 1] if i <= len(given) else UNKNOWN
        out.append(oid if oid not in (UNKNOWN, 705) else found.get(i, TEXT))
    return tuple(out)


def literal_oid(node: exp.Expression) -> int:
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


def _param_index(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Parameter):
        inner = node.this
        text = inner.this if isinstance(inner, (exp.Literal, exp.Var, exp.Identifier)) else None
        if text is not None and str(text).isdigit():
            return int(text)
    return None


def plan_query(
    tree: exp.Expression, given_oids: Sequence[int], values: SessionValues
) -> QueryPlan:
    """Prepare a read-only query (SELECT, VALUES, set operations) for DuckDB."""
    tree = tree.copy()
    param_oids = infer_param_types(tree, given_oids)
    overrides: dict[int, int] = {}
    if isinstance(tree, exp.Select):
        projections = []
        for pos, item in enumerate(tree.expressions):
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and item.is_star):
                projections.append(item)
                overrides.clear()
                continue
            name = column_name(item)
            inner = item.this if isinstance(item, exp.Alias) else item
            if isinstance(inner, exp.Cast):
                pg = pg_type_of(inner.to)
                if pg is not None and pg.name in _DUCK_TYPE_FOR:
                    overrides[pos] = pg.oid
            node = inner if isinstance(item, exp.Alias) else item
            projections.append(exp.alias_(node, exp.to_identifier(name, quoted=True), copy=False))
        tree.set("expressions", projections)
        if any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and p.is_star)
               for p in projections):
            overrides = {}
    tree = substitute_session_functions(tree, values)
    _cast_params(tree, param_oids)
    _map_types(tree)
    return QueryPlan(tree.sql(dialect="duckdb"), param_oids, overrides)


def _cast_params(tree: exp.Expression, oids: Sequence[int]) -> None:
    """Give DuckDB each parameter's type: CAST($n AS type) unless already cast."""
    for param in list(tree.find_all(exp.Parameter)):
        index = _param_index(param)
        if index is None or index > len(oids):
            continue
        if isinstance(param.parent, exp.Cast):
            continue
        t = types.TYPES_BY_OID.get(oids[index - 1])
        if t is None or t.name in ("text", "unknown"):
            dtype = exp.DataType.build("VARCHAR")
        else:
            dtype = exp.DataType.build(_DUCK_TYPE_FOR.get(t.name, t.name), dialect="postgres")
        param.replace(exp.Cast(this=param.copy(), to=dtype))


def _map_types(tree: exp.Expression) -> None:
    for dtype in list(tree.find_all(exp.DataType)):
        name = dtype.sql("postgres").lower()
        if name in _DUCK_TYPE_FOR and name not in ("json", "text", "varchar"):
            dtype.replace(exp.DataType.build(_DUCK_TYPE_FOR[name]))
