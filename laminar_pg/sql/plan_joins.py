"""Joins in a streaming SELECT: `FROM a [INNER | LEFT | RIGHT | FULL] JOIN b ON ...`,
`JOIN ... USING (...)`, `CROSS JOIN` and `FROM a, b WHERE a.x = b.y`, planned as a
left-deep tree of `HashJoin`s.

Names: each relation's columns are renamed `alias.column` inside the plan (unique even
when both sides have an `id`), and the SELECT is rewritten to those names before the
rest of the planner sees it: a qualified reference goes to its relation, an unqualified
one to the one relation that has it (42702 when several do), `*` and `t.*` expand to
the relations' columns under their own names, and a bare column in the SELECT list
keeps its name as PostgreSQL does. From there, WHERE, GROUP BY, windows and the SELECT
list are planned as over any other relation.

Equality conjuncts of ON that compare an expression of the left relations with one of
the right become the join keys, cast to a common type (the sides compute them in a
projection when they are not plain columns of that type); the rest of an inner join's ON
is a filter after the join. An outer join whose ON has anything but key equalities, a
NATURAL join and a join without any equality on an outer side are refused with 0A000.
A comma or CROSS join takes its keys from the WHERE conjuncts that link its two sides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.engine.expr import CompiledExpr, compile_expr, compile_predicate, pg_type_name
from laminar_pg.engine.expr.types import common_type
from laminar_pg.engine.operators.filter import Filter
from laminar_pg.engine.operators.join import HashJoin
from laminar_pg.engine.operators.join_expiry import Expiry
from laminar_pg.engine.operators.project import Project
from laminar_pg.errors import SqlError
from laminar_pg.sql.ast import split_and

if TYPE_CHECKING:
    from laminar_pg.engine.dataflow import Node
    from laminar_pg.sql.planner import Planned, Planner

Scope = dict[str, dict[str, str]]  # alias -> column -> internal name


def plan_joins(planner: Planner, original: exp.Select) -> tuple[Planned, exp.Select]:
    """Plan FROM with its joins: (the joined relation, a copy of the SELECT rewritten to
    its internal column names, without the joins). The relations are planned from the
    original tree, whose table names the resolver qualifies in place (the definition is
    logged that way); the rest of it is left as written."""
    from laminar_pg.sql.planner import unsupported

    select = original.copy()
    from_ = select.args.get("from_") or select.args.get("from")
    original_from = original.args.get("from_") or original.args.get("from")
    assert from_ is not None and original_from is not None
    joins: list[exp.Join] = list(select.args.get("joins") or [])
    items = [from_.this] + [j.this for j in joins]
    originals = [original_from.this] + [j.this for j in original.args.get("joins") or []]
    aliases = [_alias(item) for item in items]
    for i, alias in enumerate(aliases):
        if alias in aliases[:i]:
            raise errcodes.DuplicateAlias(f'table name "{alias}" specified more than once')
    scope: Scope = {}
    merged: dict[str, str] = {}  # USING column -> the internal name it stands for
    hidden: set[str] = set()  # internal names a USING merged away from `*`
    where = select.args.get("where")
    conjuncts = split_and(where.this) if where is not None else []
    # Without outer joins, a WHERE conjunct on one relation's columns filters that
    # relation before it is joined (Nexmark q20's `A.category = 10`): less join state.
    inner_only = all(not j.args.get("side") for j in joins)
    if originals[0].args.get("version") is not None:
        raise unsupported("FOR SYSTEM_TIME AS OF on the first relation",
                          hint="A temporal join puts it on the joined table: "
                               "FROM stream s JOIN t FOR SYSTEM_TIME AS OF PROCTIME() ON ...")
    planned = _side(planner, originals[0], aliases[0], select, scope)
    if inner_only:
        planned, conjuncts = _push_down(planner, planned, aliases[0], conjuncts, scope)
    for n, join in enumerate(joins, start=1):
        if join.args.get("method") or join.args.get("kind") in ("NATURAL", "LATERAL"):
            raise unsupported(f"{join.args.get('method') or join.args.get('kind')} JOIN")
        side = str(join.args.get("side") or "").lower()
        kind = {"": "inner", "left": "left", "right": "right", "full": "full"}[side]
        temporal = _temporal(originals[n], kind)
        if temporal and not planned.append_only:
            raise unsupported("a temporal join of a relation that can retract rows",
                              hint="FOR SYSTEM_TIME AS OF PROCTIME() joins a stream "
                                   "(append-only): its rows are not kept.")
        version = originals[n].args.get("version")
        originals[n].set("version", None)  # planned as a plain relation, then put back
        try:
            right = _side(planner, originals[n], aliases[n], select, scope)
        finally:
            originals[n].set("version", version)
        if inner_only:
            right, conjuncts = _push_down(planner, right, aliases[n], conjuncts, scope)
        left_aliases = set(aliases[:n])
        pairs: list[tuple[exp.Expr, exp.Expr]] = []
        residual: list[exp.Expr] = []
        using = join.args.get("using")
        on = join.args.get("on")
        if using:
            for ident in using:
                name = ident.name
                owners = [a for a in aliases[:n] if name in scope[a]]
                if len(owners) != 1 or name not in scope[aliases[n]]:
                    raise errcodes.UndefinedColumn(
                        f'column "{name}" specified in USING clause does not exist in '
                        f"{'left' if len(owners) != 1 else 'right'} table")
                if kind == "full":
                    raise unsupported("FULL JOIN ... USING (name the columns in ON)")
                left_name, right_name = scope[owners[0]][name], scope[aliases[n]][name]
                pairs.append((_ref(left_name), _ref(right_name)))
                merged[name] = right_name if kind == "right" else left_name
                hidden.add(left_name if kind == "right" else right_name)
        elif on is not None:
            for conjunct in split_and(_qualified(on.copy(), scope, aliases[: n + 1],
                                                  merged)):
                pair = _key_pair(conjunct, scope, left_aliases, aliases[n])
                if pair is None:
                    residual.append(conjunct)
                else:
                    pairs.append(pair)
        elif kind == "inner":  # comma / CROSS JOIN: keys from WHERE
            rest = []
            for conjunct in conjuncts:
                try:
                    qualified = _qualified(conjunct.copy(), scope, aliases[: n + 1], merged)
                except SqlError:
                    rest.append(conjunct)
                    continue
                pair = _key_pair(qualified, scope, left_aliases, aliases[n])
                if pair is None:
                    rest.append(conjunct)
                else:
                    pairs.append(pair)
            conjuncts = rest
        if kind != "inner" and (residual or not pairs):
            what = "a condition other than column equalities" if residual else "no equality"
            raise unsupported(f"{kind.upper()} JOIN with {what} in ON")
        linking = list(residual)
        if kind == "inner":  # WHERE conjuncts between the two sides bound the join too
            for conjunct in conjuncts:
                try:
                    qualified = _qualified(conjunct.copy(), scope, aliases[: n + 1], merged)
                except SqlError:
                    continue
                if aliases[n] in _owners(qualified, scope):
                    linking.append(qualified)
        planned = _join(planner, planned, right, pairs, kind, linking, temporal)
        if residual:
            condition = exp.and_(*residual) if len(residual) > 1 else residual[0]
            assert isinstance(condition, exp.Expression)
            compiled = compile_predicate(condition, planned.schema, clause="JOIN/ON")
            node = planner.node(Filter(planned.schema, compiled), planned.node)
            planned = _replace_node(planned, node)
    if where is not None:
        if conjuncts:
            where.set("this", exp.and_(*conjuncts) if len(conjuncts) > 1 else conjuncts[0])
        else:
            select.set("where", None)
    _rewrite_select(select, scope, aliases, merged, hidden)
    select.set("joins", None)
    return planned, select


# ---------------------------------------------------------------- relations and names


def _alias(item: exp.Expr) -> str:
    alias = item.alias_or_name if isinstance(item, (exp.Table, exp.Subquery)) else ""
    if not alias:
        from laminar_pg.sql.planner import unsupported

        raise unsupported(f"a join with {item.sql()} (give it an alias)")
    return str(alias)


def _side(planner: Planner, item: exp.Expr, alias: str, select: exp.Select,
          scope: Scope) -> Planned:
    planned = planner.plan_from(item, _used_by(select, alias))
    names = planned.schema.names
    scope[alias] = {name: f"{alias}.{name}" for name in names}
    return planner.renamed(planned, [scope[alias][name] for name in names])


def _push_down(planner: Planner, side: Planned, alias: str, conjuncts: list[exp.Expr],
               scope: Scope) -> tuple[Planned, list[exp.Expr]]:
    """Filter `side` by the conjuncts whose every column is qualified with `alias` (and
    that hold no aggregate, window or subquery); the other conjuncts stay."""
    mine, rest = [], []
    for conjunct in conjuncts:
        columns = list(conjunct.find_all(exp.Column))
        own = bool(columns) and all(c.table == alias and c.name in scope[alias]
                                    for c in columns)
        if own and not any(conjunct.find(t) for t in (exp.AggFunc, exp.Window,
                                                      exp.Subquery, exp.Exists)):
            mine.append(_qualified(conjunct.copy(), scope, [alias], {}))
        else:
            rest.append(conjunct)
    if not mine:
        return side, conjuncts
    condition = exp.and_(*mine) if len(mine) > 1 else mine[0]
    assert isinstance(condition, exp.Expression)
    return planner.filter(side, condition), rest


def _used_by(select: exp.Select, alias: str) -> set[str] | None:
    """Columns the query may read from relation `alias` (None: all of them)."""
    used: set[str] = set()
    for node in select.walk():
        if isinstance(node, exp.Star) and not isinstance(node.parent, (exp.Count, exp.Column)):
            return None
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                if node.table in ("", alias):
                    return None
                continue
            if node.table in ("", alias):
                used.add(node.name)
    return used


def _ref(internal: str) -> exp.Column:
    return exp.column(internal, quoted=True)


def _resolve(column: exp.Column, scope: Scope, visible: list[str],
             merged: dict[str, str]) -> str | None:
    """The internal name of a column reference; None if no relation has it."""
    if column.table:
        if column.table not in scope or column.table not in visible:
            raise errcodes.UndefinedTable(
                f'missing FROM-clause entry for table "{column.table}"')
        found = scope[column.table].get(column.name)
        if found is None:
            raise errcodes.UndefinedColumn(
                f'column {column.table}.{column.name} does not exist')
        return found
    owners = [a for a in visible if column.name in scope[a]]
    if len(owners) > 1 and column.name in merged:
        return merged[column.name]
    if len(owners) > 1:
        raise errcodes.AmbiguousColumn(f'column reference "{column.name}" is ambiguous')
    return scope[owners[0]][column.name] if owners else None


def _qualified(node: exp.Expr, scope: Scope, visible: list[str],
               merged: dict[str, str]) -> exp.Expr:
    """`node` with every column reference replaced by its internal name."""
    for column in list(node.find_all(exp.Column)):
        if isinstance(column.this, exp.Star):
            continue
        internal = _resolve(column, scope, visible, merged)
        if internal is not None:
            replacement = _ref(internal)
            if column is node:
                return replacement
            column.replace(replacement)
    return node


def _owners(node: exp.Expr, scope: Scope) -> set[str]:
    internal = {name: alias for alias, cols in scope.items() for name in cols.values()}
    return {internal[c.name] for c in node.find_all(exp.Column) if c.name in internal}


def _key_pair(conjunct: exp.Expr, scope: Scope, left: set[str],
              right: str) -> tuple[exp.Expr, exp.Expr] | None:
    if not isinstance(conjunct, exp.EQ):
        return None
    a, b = _owners(conjunct.left, scope), _owners(conjunct.right, scope)
    if a and b and a <= left and b == {right}:
        return conjunct.left, conjunct.right
    if a and b and b <= left and a == {right}:
        return conjunct.right, conjunct.left
    return None


def _rewrite_select(select: exp.Select, scope: Scope, aliases: list[str],
                    merged: dict[str, str], hidden: set[str]) -> None:
    items: list[exp.Expr] = []
    for item in select.expressions:
        if isinstance(item, exp.Star):  # USING's merged columns first, as PostgreSQL does
            items += [exp.alias_(_ref(internal), name, quoted=True)
                      for name, internal in merged.items()]
            shown = hidden | set(merged.values())
            for alias in aliases:
                items += [exp.alias_(_ref(internal), name, quoted=True)
                          for name, internal in scope[alias].items() if internal not in shown]
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            if item.table not in scope:
                raise errcodes.UndefinedTable(
                    f'missing FROM-clause entry for table "{item.table}"')
            items += [exp.alias_(_ref(internal), name, quoted=True)
                      for name, internal in scope[item.table].items()]
        elif isinstance(item, exp.Column):
            internal = _resolve(item, scope, aliases, merged)
            items.append(item if internal is None
                         else exp.alias_(_ref(internal), item.name, quoted=True))
        else:
            items.append(_qualified(item, scope, aliases, merged))
    select.set("expressions", items)
    for key in ("where", "group", "having"):
        clause = select.args.get(key)
        if clause is not None:
            select.set(key, _qualified(clause, scope, aliases, merged))


# ---------------------------------------------------------------- the join


def _replace_node(planned: Planned, node: Node) -> Planned:
    from dataclasses import replace

    return replace(planned, node=node)


def _temporal(item: exp.Expr, kind: str) -> bool:
    """Whether the joined `item` is `t FOR SYSTEM_TIME AS OF PROCTIME()` (a temporal
    join: each row of the left joins `t` as it is when the row arrives)."""
    from laminar_pg.sql.planner import unsupported

    version = item.args.get("version")
    if version is None:
        return False
    moment = version.args.get("expression")
    if str(version.args.get("kind") or "").upper() != "AS OF" or not (
            isinstance(moment, exp.Anonymous) and str(moment.this).lower() == "proctime"
            and not moment.expressions):
        raise unsupported(f"FOR SYSTEM_TIME {version.sql('postgres')}",
                          hint="A temporal join is FOR SYSTEM_TIME AS OF PROCTIME().")
    if kind not in ("inner", "left"):
        raise unsupported(f"a {kind.upper()} temporal join (JOIN or LEFT JOIN only)")
    return True


def _join(planner: Planner, left: Planned, right: Planned,
          pairs: list[tuple[exp.Expr, exp.Expr]], kind: str,
          conditions: list[exp.Expr], temporal: bool = False) -> Planned:
    from laminar_pg.sql.planner import Planned, unsupported

    types = []
    for lexpr, rexpr in pairs:
        lt = _compile(lexpr, left.schema).type
        rt = _compile(rexpr, right.schema).type
        types.append(common_type([lt, rt], "JOIN/ON"))
    left, left_keys = _with_keys(planner, left, [p[0] for p in pairs], types)
    right, right_keys = _with_keys(planner, right, [p[1] for p in pairs], types)
    fields = [f.with_nullable(True) for f in (*left.schema, *right.schema)]
    schema = pa.schema(fields)
    if temporal:
        if not pairs:
            raise unsupported("a temporal join without a key equality in ON")
        operator = HashJoin(left.schema, right.schema, left_keys, right_keys, kind, schema,
                            temporal=True)
        node = planner.node(operator, left.node, right.node)
        # the stream's rows, each once: its event time and watermark go on
        return Planned(node, schema, left.time_column, left.watermarked, True)
    close_key, close_shift = _window_key(left, right, left_keys, right_keys)
    expiry = _interval_expiry(left, right, conditions) if kind == "inner" else (None, None)
    operator = HashJoin(left.schema, right.schema, left_keys, right_keys, kind, schema,
                        close_key=close_key, close_shift=close_shift, expiry=expiry)
    node = planner.node(operator, left.node, right.node)
    return Planned(node, schema, None, left.watermarked and right.watermarked,
                   kind == "inner" and left.append_only and right.append_only)


def _interval_expiry(left: Planned, right: Planned,
                     conditions: list[exp.Expr]) -> tuple[Expiry | None, Expiry | None]:
    """Interval joins: from conditions bounding one side's event time by the other's
    columns, each side's expiry (the latest event time of the other side a row can still
    match; see engine/operators/join_expiry.py). Both sides need a watermark."""
    if not (left.watermarked and right.watermarked) or left.time_column is None \
            or right.time_column is None:
        return None, None
    lt, rt = left.schema.names[left.time_column], right.schema.names[right.time_column]
    lnames, rnames = set(left.schema.names), set(right.schema.names)
    bounds: tuple[list[exp.Expr], list[exp.Expr]] = ([], [])
    for condition in conditions:
        for column, op, other in _time_bounds(condition):
            refs = {c.name for c in other.find_all(exp.Column)}
            if column == rt and refs and refs <= lnames:
                if op == "<=":
                    bounds[0].append(other)  # right.t <= f(left): left rows expire at f
                elif (shifted := _shift(other, lt, rt)) is not None:
                    bounds[1].append(shifted)  # right.t >= left.t + c: right at right.t - c
            elif column == lt and refs and refs <= rnames:
                if op == "<=":
                    bounds[1].append(other)
                elif (shifted := _shift(other, rt, lt)) is not None:
                    bounds[0].append(shifted)
    out: list[Expiry | None] = []
    for side, found in ((left, bounds[0]), (right, bounds[1])):
        compiled = [c for c in (_compile(e, side.schema) for e in found)
                    if pa.types.is_timestamp(c.type)]
        out.append(Expiry(compiled, side.time_column, not side.append_only) if compiled
                   else None)
    return out[0], out[1]


def _time_bounds(condition: exp.Expr) -> list[tuple[str, str, exp.Expr]]:
    """(column name, '<=' or '>=', bound) for `col BETWEEN a AND b` and comparisons."""
    if isinstance(condition, exp.Between) and isinstance(condition.this, exp.Column):
        return [(condition.this.name, ">=", condition.args["low"]),
                (condition.this.name, "<=", condition.args["high"])]
    found = []
    ops = {exp.GTE: ">=", exp.GT: ">=", exp.LTE: "<=", exp.LT: "<="}
    flipped = {">=": "<=", "<=": ">="}
    for kind, op in ops.items():
        if isinstance(condition, kind):
            left, right = condition.this, condition.expression
            if isinstance(left, exp.Column):
                found.append((left.name, op, right))
            if isinstance(right, exp.Column):
                found.append((right.name, flipped[op], left))
    return found


def _shift(bound: exp.Expr, source: str, target: str) -> exp.Expr | None:
    """`source [+|- interval]` as the matching bound on `target` (x >= s + c means
    s <= x - c)."""
    if isinstance(bound, exp.Column) and bound.name == source:
        return _ref(target)
    if isinstance(bound, (exp.Add, exp.Sub)) and isinstance(bound.this, exp.Column) \
            and bound.this.name == source and isinstance(bound.expression, exp.Interval):
        other = exp.Sub if isinstance(bound, exp.Add) else exp.Add
        return other(this=_ref(target), expression=bound.expression.copy())
    return None


def _window_key(left: Planned, right: Planned, left_keys: list[int],
                right_keys: list[int]) -> tuple[int | None, int]:
    """The key that is a window bound on both sides, and its window's end after it: a
    join of two watermarked inputs on it drops each window's state once both watermarks
    passed its end. Prefers window_end (no shift)."""
    if not (left.watermarked and right.watermarked):
        return None, 0
    for i, (lk, rk) in enumerate(zip(left_keys, right_keys, strict=True)):
        if lk == left.window_end and rk == right.window_end and lk is not None:
            return i, 0
    for i, (lk, rk) in enumerate(zip(left_keys, right_keys, strict=True)):
        if lk == left.window_start and rk == right.window_start and lk is not None \
                and left.window_size is not None and right.window_size is not None:
            return i, max(left.window_size, right.window_size)
    return None, 0


def _with_keys(planner: Planner, side: Planned, exprs: list[exp.Expr],
               types: list[pa.DataType]) -> tuple[Planned, list[int]]:
    """The side's key columns: plain columns of the key type as they are, others added
    by a projection (cast to the key type)."""
    from laminar_pg.sql.planner import Planned

    names = side.schema.names
    keys: list[int | None] = []
    extra: list[exp.Expr] = []
    for expr, t in zip(exprs, types, strict=True):
        if isinstance(expr, exp.Column) and expr.name in names \
                and side.schema.field(expr.name).type == t:
            keys.append(names.index(expr.name))
        else:
            keys.append(None)
            extra.append(exp.Cast(this=expr.copy(), to=_sql_type(t)))
    if not extra:
        return side, [k for k in keys if k is not None]
    compiled = [compile_expr(exp.column(n, quoted=True), side.schema) for n in names]
    compiled += [_compile(e, side.schema) for e in extra]
    extra_names = [f"__key{len(planner.nodes)}_{j}" for j in range(len(extra))]
    schema = pa.schema([*side.schema, *[pa.field(n, c.type) for n, c in
                                        zip(extra_names, compiled[len(names):], strict=True)]])
    direct: list[int | None] = [*range(len(names)), *[None] * len(extra)]
    node = planner.node(Project(schema, compiled, direct), side.node)
    added = iter(range(len(names), len(schema)))
    indices = [k if k is not None else next(added) for k in keys]
    return Planned(node, schema, side.time_column, side.watermarked, side.append_only,
                   side.window_start, side.window_end, side.window_size), indices


def _sql_type(t: pa.DataType) -> exp.DataType:
    if pa.types.is_decimal(t):
        return exp.DataType.build(f"numeric({t.precision}, {t.scale})", dialect="postgres")
    return exp.DataType.build(pg_type_name(t), dialect="postgres")


def _compile(node: exp.Expr, schema: pa.Schema) -> CompiledExpr:
    assert isinstance(node, exp.Expression)
    return compile_expr(node, schema)
