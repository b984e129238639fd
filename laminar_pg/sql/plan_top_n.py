"""Top-N in a streaming SELECT, planned as a `TopN` operator.

Two forms:
- `SELECT ... FROM (SELECT ..., ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) AS rn
  FROM ...) [AS t] WHERE rn <= N [AND ...]` (also `rn < N`, `rn = 1`, `N >= rn`; RANK()
  and DENSE_RANK() the same way, peers sharing a rank): the
  inner SELECT is planned without its ROW_NUMBER item, with its PARTITION BY and ORDER BY
  expressions as hidden columns; TopN keeps the first N rows of each partition and adds
  the row number under the item's name; the outer query goes on with the rest of its
  WHERE. A ROW_NUMBER that no such filter bounds, and other window functions, are still
  refused (0A000) where the planner meets them.
- `SELECT ... ORDER BY o LIMIT N [OFFSET M]` as the view's own query: the SELECT is
  planned without them and TopN keeps ranks M+1 .. M+N of its output (ORDER BY items name
  output columns, positions or expressions, which become hidden columns). ORDER BY
  without LIMIT is ignored, as a view's rows have no order when read.

The SELECTs are changed only for the time of planning (their items are put back), so the
definition that is logged and shown stays as written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.engine.operators.project import Project
from laminar_pg.engine.operators.top_n import SortKey, TopN
from laminar_pg.sql.ast import split_and

if TYPE_CHECKING:
    from laminar_pg.sql.planner import Planned, Planner

UNLIMITED = 2**62


RANKINGS: dict[type[exp.Expr], str] = {exp.RowNumber: "row_number", exp.Rank: "rank",
                                       exp.DenseRank: "dense_rank"}


def row_number_item(select: exp.Select) -> exp.Alias | None:
    """The `ROW_NUMBER() | RANK() | DENSE_RANK() OVER (...) AS name` item of a SELECT
    list, if any."""
    for item in select.expressions:
        if isinstance(item, exp.Alias) and isinstance(item.this, exp.Window) \
                and type(item.this.this) in RANKINGS and not item.this.this.expressions:
            return item
    return None


def _bound(conjunct: exp.Expr, name: str) -> int | None:
    """N when `conjunct` says `name <= N` (or <, =, >=, > the other way round)."""
    if not isinstance(conjunct, (exp.LTE, exp.LT, exp.EQ, exp.GTE, exp.GT)):
        return None
    left, right = conjunct.left, conjunct.right
    flipped = False
    if isinstance(right, exp.Column) and right.name == name:
        left, right, flipped = right, left, True
    if not (isinstance(left, exp.Column) and left.name == name):
        return None
    if not (isinstance(right, exp.Literal) and not right.is_string and right.is_int):
        return None
    n = int(right.this)
    kind: type[exp.Expr] = type(conjunct)
    if flipped:
        flips: dict[type[exp.Expr], type[exp.Expr]] = {
            exp.GTE: exp.LTE, exp.GT: exp.LT, exp.LTE: exp.GTE, exp.LT: exp.GT, exp.EQ: exp.EQ}
        kind = flips[kind]
    if kind is exp.LTE:
        return n
    if kind is exp.LT:
        return n - 1
    if kind is exp.EQ and n == 1:
        return 1
    return None


@contextmanager
def _items(select: exp.Select, items: list[exp.Expr], **clauses: exp.Expr | None) -> Iterator[None]:
    """`select` with other SELECT items and clauses while planning; put back after."""
    saved = list(select.expressions)
    saved_clauses = {k: select.args.get(k) for k in clauses}
    select.set("expressions", items)
    for key, value in clauses.items():
        select.set(key, value)
    try:
        yield
    finally:
        select.set("expressions", saved)
        for key, value in saved_clauses.items():
            select.set(key, value)


def _sort_key(ordered: exp.Ordered | exp.Expr, column: int) -> SortKey:
    if not isinstance(ordered, exp.Ordered):
        return SortKey(column)
    descending = bool(ordered.args.get("desc"))
    nulls = ordered.args.get("nulls_first")
    return SortKey(column, descending, None if nulls is None else bool(nulls))


def _hidden(expr: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(expr.copy(), exp.to_identifier(name, quoted=True))


def plan_row_number(planner: Planner, outer: exp.Select) -> tuple[Planned, exp.Expr | None] | None:
    """The top-N subquery of `outer`'s FROM, planned: (its relation, the rest of the outer
    WHERE); None when FROM is no such subquery."""
    from laminar_pg.sql.planner import unsupported

    from_ = outer.args.get("from_") or outer.args.get("from")
    if from_ is None or not isinstance(from_.this, exp.Subquery) \
            or not isinstance(from_.this.this, exp.Select) or outer.args.get("joins"):
        return None
    inner: exp.Select = from_.this.this
    item = row_number_item(inner)
    where = outer.args.get("where")
    if item is None or where is None:
        return None
    name = item.alias
    conjuncts = split_and(where.this)
    limits = [(c, n) for c in conjuncts if (n := _bound(c, name)) is not None]
    if not limits:
        return None
    limit = min(n for _, n in limits)
    rest = [c for c in conjuncts if all(c is not bound for bound, _ in limits)]
    window: exp.Window = item.this
    if inner.args.get("distinct"):
        raise unsupported(f"{window.this.sql('postgres')} in a SELECT DISTINCT")
    partition = list(window.args.get("partition_by") or [])
    order_node = window.args.get("order")
    ordered = list(order_node.expressions) if order_node is not None else []
    kept = [i for i in inner.expressions if i is not item]
    hidden = [_hidden(e, f"__partition{i}") for i, e in enumerate(partition)]
    hidden += [_hidden(o.this if isinstance(o, exp.Ordered) else o, f"__order{i}")
               for i, o in enumerate(ordered)]
    with _items(inner, kept + hidden):
        planned, names = planner.plan_query(inner)
    visible = len(names) - len(hidden)
    partition_cols = list(range(visible, visible + len(partition)))
    order_cols = [_sort_key(o, visible + len(partition) + i) for i, o in enumerate(ordered)]
    planned = planner.renamed(planned, names)
    top_schema = pa.schema([*planned.schema, pa.field(name, pa.int64())])
    top = TopN(planned.schema, partition_cols, order_cols, max(limit, 0), top_schema,
               rank_column=True, append_only=planned.append_only,
               ties=RANKINGS[type(window.this)])
    node = planner.node(top, planned.node)
    out_names = [*names[:visible], name]
    indices = [*range(visible), len(top_schema) - 1]
    rest_where = exp.and_(*rest) if len(rest) > 1 else (rest[0] if rest else None)
    return _projected(planner, node, top_schema, indices, out_names, planned), rest_where


def plan_order_limit(planner: Planner, select: exp.Select) -> tuple[Planned, list[str]]:
    """`select`'s own ORDER BY ... LIMIT / OFFSET, planned as TopN over its output."""
    from laminar_pg.sql.planner import unsupported

    limit = _count(select.args.get("limit"), "LIMIT")
    offset = _count(select.args.get("offset"), "OFFSET") or 0
    order_node = select.args.get("order")
    ordered = list(order_node.expressions) if order_node is not None else []
    with _items(select, list(select.expressions), order=None, limit=None, offset=None):
        if limit is None and offset == 0:  # ORDER BY alone: a view's rows have no order
            return planner.plan_query(select)
    from laminar_pg.session.query import column_name

    output = [column_name(i) for i in select.expressions]
    keys: list[int | str] = []
    hidden: list[exp.Expr] = []
    for o in ordered:
        expr = o.this if isinstance(o, exp.Ordered) else o
        if isinstance(expr, exp.Literal) and not expr.is_string and expr.is_int:
            position = int(expr.this)
            if not 1 <= position <= len(output):
                raise errcodes.InvalidColumnReference(
                    f"ORDER BY position {position} is not in select list")
            keys.append(position - 1)
        elif isinstance(expr, exp.Column) and not expr.table and output.count(expr.name) == 1:
            keys.append(output.index(expr.name))
        else:
            if select.args.get("distinct"):
                raise unsupported("ORDER BY an expression not in the SELECT DISTINCT list")
            keys.append(len(output) + len(hidden))
            hidden.append(_hidden(expr, f"__order{len(hidden)}"))
    with _items(select, list(select.expressions) + hidden, order=None, limit=None,
                offset=None):
        planned, names = planner.plan_query(select)
    planned = planner.renamed(planned, names)
    order = [_sort_key(o, k if isinstance(k, int) else 0) for o, k in zip(ordered, keys,
                                                                         strict=True)]
    top = TopN(planned.schema, [], order, UNLIMITED if limit is None else limit,
               planned.schema, offset=offset, append_only=planned.append_only)
    node = planner.node(top, planned.node)
    visible = len(names) - len(hidden)
    result = _projected(planner, node, planned.schema, list(range(visible)), names[:visible],
                        planned)
    return result, names[:visible]


def plan_distinct_on(planner: Planner, select: exp.Select) -> tuple[Planned, list[str]]:
    """`SELECT DISTINCT ON (p, ...) ... [ORDER BY p, ..., o, ...]`: the first row of each
    p by the rest of the ORDER BY (any row of it without one), a TopN of limit 1 over the
    SELECT's output, with p and o as hidden columns."""
    from laminar_pg.sql.planner import unsupported

    if select.args.get("limit") or select.args.get("offset"):
        raise unsupported("DISTINCT ON with LIMIT / OFFSET")
    distinct = select.args["distinct"]
    on_node = distinct.args["on"]
    on = list(on_node.expressions) if isinstance(on_node, exp.Tuple) else [on_node]
    order_node = select.args.get("order")
    ordered = list(order_node.expressions) if order_node is not None else []
    on_sql = {e.sql() for e in on}
    lead = ordered[: len(on)]
    if any((o.this if isinstance(o, exp.Ordered) else o).sql() not in on_sql for o in lead):
        raise errcodes.InvalidColumnReference(
            "SELECT DISTINCT ON expressions must match initial ORDER BY expressions")
    rest = ordered[len(lead):]
    hidden = [_hidden(e, f"__on{i}") for i, e in enumerate(on)]
    hidden += [_hidden(o.this if isinstance(o, exp.Ordered) else o, f"__order{i}")
               for i, o in enumerate(rest)]
    with _items(select, list(select.expressions) + hidden, order=None, distinct=None):
        planned, names = planner.plan_query(select)
    planned = planner.renamed(planned, names)
    visible = len(names) - len(hidden)
    partition = list(range(visible, visible + len(on)))
    keys = [_sort_key(o, visible + len(on) + i) for i, o in enumerate(rest)]
    top = TopN(planned.schema, partition, keys, 1, planned.schema,
               append_only=planned.append_only)
    node = planner.node(top, planned.node)
    result = _projected(planner, node, planned.schema, list(range(visible)), names[:visible],
                        planned)
    return result, names[:visible]


def _count(node: exp.Expr | None, what: str) -> int | None:
    from laminar_pg.sql.planner import unsupported

    if node is None:
        return None
    value = node.args.get("expression") if isinstance(node, (exp.Limit, exp.Offset)) else node
    sign = 1
    if isinstance(value, exp.Neg):
        sign, value = -1, value.this
    if isinstance(value, exp.Literal) and not value.is_string and value.is_int:
        if sign * int(value.this) < 0:
            error = (errcodes.InvalidRowCountInLimitClause if what == "LIMIT"
                     else errcodes.InvalidRowCountInResultOffsetClause)
            raise error(f"{what} must not be negative")
        return int(value.this)
    raise unsupported(f"{what} {value.sql() if value is not None else ''} (write a number)")


def _projected(planner: Planner, node: object, schema: pa.Schema, indices: list[int],
               names: list[str], like: Planned) -> Planned:
    from laminar_pg.engine.dataflow import Node
    from laminar_pg.engine.expr import compile_expr
    from laminar_pg.sql.planner import Planned

    assert isinstance(node, Node)
    if indices == list(range(len(schema))) and names == schema.names:
        return Planned(node, schema, None, like.watermarked, False)
    fields = [pa.field(n, schema.field(i).type) for n, i in zip(names, indices, strict=True)]
    compiled = [compile_expr(exp.column(schema.names[i], quoted=True), schema) for i in indices]
    out_schema = pa.schema(fields)
    direct: list[int | None] = list(indices)
    project = planner.node(Project(out_schema, compiled, direct), node)
    return Planned(project, out_schema, None, like.watermarked, False)
