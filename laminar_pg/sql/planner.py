"""The streaming planner: the SELECT of a view or stream, as a dataflow of operators.

Strategy: a direct walk over the sqlglot tree, relation by relation, building engine
nodes as it goes (`Planned` carries the node that emits the relation, its schema, the
column that holds its event time and whether it can retract). For each SELECT:

    FROM (source | table | stream | view | TUMBLE/HOP table function | subquery)
      -> WHERE (Filter)
      -> window keys in GROUP BY (WindowAssign adds window_start / window_end)
      -> pre-projection of group keys, aggregate arguments and FILTER conditions (Project)
      -> HashAggregate
      -> HAVING (Filter) -> SELECT list (Project)

UNION ALL joins relations; DISTINCT and UNION are an aggregate over every column.
Joins are planned in `sql.plan_joins`. Everything else not built yet (ORDER BY / LIMIT, window functions,
subqueries in expressions, SESSION windows) is refused here with 0A000 naming it, so a
view is never answered wrongly later. Expressions are compiled by `engine.expr`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.engine.dataflow import Node
from laminar_pg.engine.expr import CompiledExpr, compile_expr, compile_predicate, pg_type_name
from laminar_pg.engine.expr.types import common_type as pg_common_type
from laminar_pg.engine.operator import Operator
from laminar_pg.engine.operators.filter import Filter
from laminar_pg.engine.operators.hash_aggregate import AggregateCall, HashAggregate
from laminar_pg.engine.operators.project import Project
from laminar_pg.engine.operators.union import UnionAll
from laminar_pg.engine.operators.window_assign import WindowAssign
from laminar_pg.errors import SqlError

MICROS_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Relation:
    """What the planner needs to know of a named relation."""

    kind: str  # 'source', 'table', 'stream', 'materialized view'
    oid: int
    name: str
    schema: pa.Schema
    time_column: str | None = None  # the column its watermark is on
    delay_us: int = 0
    definition: exp.Expr | None = None  # a stream's query
    make_generator: Callable[..., Any] | None = None  # a source's generator (column names)
    append_only: bool = True


@dataclass(slots=True)
class Input:
    """A dataflow input the runtime feeds: a source reader, a table or a view."""

    relation: Relation
    node: Node


@dataclass(slots=True)
class Planned:
    node: Node
    schema: pa.Schema
    time_column: int | None  # index of the event-time column, if any survives
    watermarked: bool  # watermarks flow on this relation
    append_only: bool
    window_start: int | None = None  # columns a window assignment added, while they last
    window_end: int | None = None
    window_size: int | None = None  # microseconds from window_start to window_end (fixed)


@dataclass(slots=True)
class PlanResult:
    """A planned query: the node emitting its rows, and what the dataflow needs."""

    output: Planned
    names: list[str]
    inputs: list[Input] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    depends_on: set[int] = field(default_factory=set)


class Passthrough(Operator):
    """The entry node of an input: forwards what the runtime feeds it."""

    name = "input"


def unsupported(what: str, hint: str | None = None) -> SqlError:
    return errcodes.FeatureNotSupported(f"{what} is not supported in a streaming query yet",
                                        hint=hint)


class Planner:
    def __init__(self, resolve: Callable[[exp.Table], Relation]) -> None:
        self.resolve = resolve
        self.result_inputs: list[Input] = []
        self.nodes: list[Node] = []
        self.depends_on: set[int] = set()
        self._stream_depth = 0
        self.emit_on_close = False  # the view says EMIT ON WINDOW CLOSE
        self.closed_window = False  # an aggregate of the plan closes windows on watermarks

    # ---------------------------------------------------------------- entry

    def plan(self, query: exp.Expr) -> PlanResult:
        planned, names = self.plan_query(query)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise errcodes.DuplicateColumn(f'column "{dup}" specified more than once')
        return PlanResult(planned, names, self.result_inputs, self.nodes, self.depends_on)

    def node(self, operator: Operator, *upstream: Node, label: str = "") -> Node:
        node = Node(operator, label or operator.name)
        for port, up in enumerate(upstream):
            up.connect(node, port)
        self.nodes.append(node)
        return node

    def plan_query(self, query: exp.Expr) -> tuple[Planned, list[str]]:
        if isinstance(query, exp.Subquery):
            return self.plan_query(query.this)
        if isinstance(query, exp.Union):
            return self.plan_union(query)
        if isinstance(query, (exp.Intersect, exp.Except)):
            raise unsupported(type(query).__name__.upper())
        if isinstance(query, exp.Select):
            return self.plan_select(query)
        raise unsupported(type(query).__name__)

    # ---------------------------------------------------------------- set operations

    def plan_union(self, union: exp.Union) -> tuple[Planned, list[str]]:
        left, names = self.plan_query(union.left)
        right, right_names = self.plan_query(union.right)
        if len(names) != len(right_names):
            raise errcodes.SyntaxError("each UNION query must have the same number of columns")
        fields = []
        for name, a, b in zip(names, left.schema, right.schema, strict=True):
            fields.append(pa.field(name, pg_common_type([a.type, b.type], "UNION")))
        schema = pa.schema(fields)
        node = self.node(UnionAll(schema, 2), left.node, right.node)
        planned = Planned(node, schema, None, left.watermarked and right.watermarked,
                          left.append_only and right.append_only)
        if union.args.get("distinct"):
            planned = self.distinct(planned)
        return planned, names

    # ---------------------------------------------------------------- SELECT

    def plan_select(self, select: exp.Select) -> tuple[Planned, list[str]]:
        for key, what in (("windows", "WINDOW"), ("qualify", "QUALIFY"),
                          ("laterals", "LATERAL"), ("with_", "WITH")):
            if select.args.get(key):
                raise unsupported(what)
        if select.args.get("distinct") and select.args["distinct"].args.get("on"):
            from laminar_pg.sql.plan_top_n import plan_distinct_on

            return plan_distinct_on(self, select)
        if any(select.args.get(k) for k in ("order", "limit", "offset")):
            from laminar_pg.sql.plan_top_n import plan_order_limit

            return plan_order_limit(self, select)
        from_ = select.args.get("from_") or select.args.get("from")
        if from_ is None:
            raise unsupported("a view without FROM",
                              hint="A streaming view reads a source, table, stream or view.")
        from laminar_pg.sql.plan_top_n import plan_row_number

        where = select.args.get("where")
        condition = where.this if where is not None else None
        ranked = plan_row_number(self, select)
        if ranked is not None:  # FROM (SELECT ..., ROW_NUMBER() ... AS rn) WHERE rn <= N
            source, condition = ranked
        elif select.args.get("joins"):
            from laminar_pg.sql.plan_joins import plan_joins

            source, select = plan_joins(self, select)
            from_ = select.args.get("from_") or select.args.get("from")
            assert from_ is not None
            where = select.args.get("where")
            condition = where.this if where is not None else None
        else:
            source = self.plan_from(from_.this, _columns_used(select))
        for node in select.find_all(exp.Window):
            if ranked is None or not _inside(node, from_.this):
                raise unsupported(f"window function {node.this.sql()}",
                                  hint="ROW_NUMBER() is supported in a subquery whose rows "
                                       "the outer query filters with row_number <= N.")
        for sub in select.find_all(exp.Subquery, exp.Exists):
            if sub is not from_.this and not _inside(sub, from_.this):
                raise unsupported("a subquery in an expression")
        if condition is not None:
            if _has_aggregate(condition):
                raise errcodes.GroupingError("aggregate functions are not allowed in WHERE")
            source = self.filter(source, condition)
        projections = self.expand_star(select.expressions, source.schema)
        group = select.args.get("group")
        having = select.args.get("having")
        aggregates = [a for p in projections for a in _aggregates(p)]
        if having is not None:
            aggregates += _aggregates(having.this)
        if group is not None or aggregates:
            keys = list(group.expressions) if group is not None else []
            planned, names = self.aggregate(source, keys, projections,
                                            having.this if having is not None else None)
        else:
            if having is not None:
                raise errcodes.GroupingError("HAVING needs GROUP BY or an aggregate")
            planned, names = self.project(source, projections)
        if select.args.get("distinct"):
            planned = self.distinct(planned)
        return planned, names

    def expand_star(self, items: list[exp.Expr], schema: pa.Schema) -> list[exp.Expr]:
        out: list[exp.Expr] = []
        for item in items:
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column)
                                              and isinstance(item.this, exp.Star)):
                out.extend(exp.column(name, quoted=True) for name in schema.names)
            else:
                out.append(item)
        return out

    # ---------------------------------------------------------------- FROM

    def plan_from(self, item: exp.Expr, used: set[str] | None = None) -> Planned:
        """`used`: the column names the query reads (None: all of them), so that a
        source generates only those (plus its event time)."""
        if isinstance(item, exp.Subquery):
            planned, names = self.plan_query(item.this)
            return self.renamed(planned, names)
        if isinstance(item, exp.Table) and item.args.get("version") is not None:
            raise unsupported(f"FOR SYSTEM_TIME {item.args['version'].sql('postgres')} "
                              "here", hint="A temporal join is FROM stream s JOIN t FOR "
                                           "SYSTEM_TIME AS OF PROCTIME() ON ...")
        if isinstance(item, exp.Table) and isinstance(item.this, exp.Anonymous):
            return self.window_function(item.this, used)
        if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier):
            return self.relation(item, used)
        raise unsupported(f"FROM {item.sql()}")

    def relation(self, table: exp.Table, used: set[str] | None = None) -> Planned:
        rel = self.resolve(table)
        self.depends_on.add(rel.oid)
        if rel.kind == "source" and used is not None and rel.make_generator is not None:
            rel = _pruned(rel, used)
        if rel.kind == "stream":
            if self._stream_depth > 32:
                raise errcodes.InvalidRecursion("streams nest too deeply")
            assert rel.definition is not None
            self._stream_depth += 1
            try:
                planned, names = self.plan_query(rel.definition.copy())
            finally:
                self._stream_depth -= 1
            return self.renamed(planned, names)
        node = self.node(Passthrough(rel.schema), label=f"{rel.kind} {rel.name}")
        self.result_inputs.append(Input(rel, node))
        time_column = (rel.schema.names.index(rel.time_column)
                       if rel.time_column is not None else None)
        return Planned(node, rel.schema, time_column,
                       rel.kind == "source" and rel.time_column is not None, rel.append_only)

    def window_function(self, call: exp.Anonymous, used: set[str] | None = None) -> Planned:
        name = str(call.this).lower()
        args = list(call.expressions)
        if name == "session":
            raise unsupported("SESSION windows")
        if name not in ("tumble", "hop") or len(args) != (3 if name == "tumble" else 4):
            raise unsupported(f"table function {call.sql()}")
        relation_arg = args[0]
        if not isinstance(relation_arg, exp.Column):
            raise errcodes.SyntaxError(f"{name.upper()} takes a relation name first")
        table = exp.Table(this=relation_arg.this.copy(),
                          db=relation_arg.args.get("table"))
        source = self.relation(table, None if used is None else used | {args[1].name})
        if table.args.get("db") is not None:  # the resolver qualified the name
            relation_arg.set("table", table.args["db"].copy())
        return self.assign_windows(source, name, args[1:])

    def assign_windows(self, source: Planned, name: str, args: list[exp.Expr]) -> Planned:
        time_arg = args[0]
        if not isinstance(time_arg, exp.Column):
            raise unsupported(f"{name.upper()} over an expression (name a column)")
        index = self.column_index(time_arg, source.schema)
        time_type = source.schema.field(index).type
        if not pa.types.is_timestamp(time_type):
            raise errcodes.DatatypeMismatch(
                f"{name.upper()} needs a timestamp column, {time_arg.name} is {time_type}")
        sizes = [interval_us(a) for a in args[1:]]
        if name == "tumble":
            slide, size = None, sizes[0]
        else:
            slide, size = sizes
            if size % slide:
                raise unsupported("HOP with a size that is no multiple of its slide")
        for value in sizes:
            if value <= 0:
                raise errcodes.InvalidParameterValue("window sizes must be positive")
        schema = pa.schema([*[f for f in source.schema
                              if f.name not in ("window_start", "window_end")],
                            pa.field("window_start", time_type),
                            pa.field("window_end", time_type)])
        if len(schema) != len(source.schema) + 2:
            raise errcodes.DuplicateColumn("the relation already has window_start / window_end")
        node = self.node(WindowAssign(schema, index, size, slide), source.node)
        return Planned(node, schema, len(schema) - 1 if source.time_column is not None else None,
                       source.watermarked, source.append_only, len(schema) - 2, len(schema) - 1,
                       size)

    def assign_sessions(self, source: Planned, keys: list[exp.Expr],
                        args: list[exp.Expr]) -> Planned:
        """GROUP BY keys..., SESSION(ts, gap): each row gets the bounds of its key's session
        (rows within `gap` of each other); sessions merge as rows bridge them."""
        from laminar_pg.engine.operators.session_assign import SessionAssign

        if len(args) != 2 or not isinstance(args[0], exp.Column):
            raise unsupported("SESSION(expression, ...): write SESSION(time_column, gap)")
        if not source.append_only:
            raise unsupported("SESSION windows over a relation that can retract rows",
                              hint="Read an append-only source or stream.")
        key_columns = []
        for key in keys:
            if not isinstance(key, exp.Column) or key.name not in source.schema.names:
                raise unsupported("SESSION windows grouped by a computed key (group by columns)")
            key_columns.append(source.schema.names.index(key.name))
        index = self.column_index(args[0], source.schema)
        time_type = source.schema.field(index).type
        if not pa.types.is_timestamp(time_type):
            raise errcodes.DatatypeMismatch(
                f"SESSION needs a timestamp column, {args[0].name} is {pg_type_name(time_type)}")
        gap = interval_us(args[1])
        if gap <= 0:
            raise errcodes.InvalidParameterValue("a session gap must be positive")
        if any(f.name in ("window_start", "window_end") for f in source.schema):
            raise errcodes.DuplicateColumn("the relation already has window_start / window_end")
        schema = pa.schema([*source.schema, pa.field("window_start", time_type),
                            pa.field("window_end", time_type)])
        operator = SessionAssign(schema, key_columns, index, gap, emit_final=self.emit_on_close)
        node = self.node(operator, source.node)
        return Planned(node, schema, len(schema) - 1 if source.time_column is not None else None,
                       source.watermarked, self.emit_on_close, len(schema) - 2, len(schema) - 1)

    # ---------------------------------------------------------------- expressions

    def compile(self, node: exp.Expr, schema: pa.Schema) -> CompiledExpr:
        assert isinstance(node, exp.Expression)
        return compile_expr(node, schema)

    def column_index(self, column: exp.Column, schema: pa.Schema) -> int:
        if column.name not in schema.names:
            raise errcodes.UndefinedColumn(f'column "{column.name}" does not exist')
        index: int = schema.names.index(column.name)
        return index

    def filter(self, source: Planned, predicate: exp.Expr, clause: str = "WHERE") -> Planned:
        assert isinstance(predicate, exp.Expression)
        temporal: list[exp.Expr] = []
        if clause == "WHERE":
            from laminar_pg.sql.plan_temporal import split_temporal

            rest, temporal = split_temporal(predicate)
        else:
            rest = predicate
        node = source.node
        if rest is not None:
            assert isinstance(rest, exp.Expression)
            compiled = compile_predicate(rest, source.schema, clause=clause)
            node = self.node(Filter(source.schema, compiled), node)
        for conjunct in temporal:
            from laminar_pg.engine.operators.temporal_filter import TemporalFilter
            from laminar_pg.sql.plan_temporal import temporal_bound

            time, offset = temporal_bound(conjunct, interval_us)
            compiled_time = self.compile(time, source.schema)
            if not pa.types.is_timestamp(compiled_time.type):
                raise errcodes.DatatypeMismatch(
                    f"a temporal filter compares a timestamp with now(), not "
                    f"{compiled_time.type}")
            node = self.node(TemporalFilter(source.schema, compiled_time, offset), node)
        return Planned(node, source.schema, source.time_column, source.watermarked,
                       source.append_only and not temporal, source.window_start,
                       source.window_end, source.window_size)

    def project(self, source: Planned, items: list[exp.Expr]) -> tuple[Planned, list[str]]:
        from laminar_pg.session.query import column_name

        names = [column_name(item) for item in items]
        exprs = [item.this if isinstance(item, exp.Alias) else item for item in items]
        compiled = [self.compile(e, source.schema) for e in exprs]
        direct: list[int | None] = []
        time_column = window_start = window_end = None
        for e in exprs:
            if isinstance(e, exp.Column) and e.name in source.schema.names:
                index = source.schema.names.index(e.name)
                direct.append(index)
                if index == source.time_column and time_column is None:
                    time_column = len(direct) - 1
                if index == source.window_start and window_start is None:
                    window_start = len(direct) - 1
                if index == source.window_end and window_end is None:
                    window_end = len(direct) - 1
            else:
                direct.append(None)
        schema = pa.schema([pa.field(n, c.type) for n, c in zip(names, compiled, strict=True)])
        if direct == list(range(len(source.schema))) and names == source.schema.names:
            return source, names
        node = self.node(Project(schema, compiled, direct), source.node)
        return Planned(node, schema, time_column, source.watermarked, source.append_only,
                       window_start, window_end,
                       source.window_size if window_start is not None else None), names

    # ---------------------------------------------------------------- aggregates

    def aggregate(self, source: Planned, keys: list[exp.Expr], items: list[exp.Expr],
                  having: exp.Expr | None) -> tuple[Planned, list[str]]:
        from laminar_pg.session.query import column_name

        # Window keys first become columns of the input.
        plain_keys: list[exp.Expr] = []
        window_keys = [k for k in keys if isinstance(k, exp.Anonymous)
                       and str(k.this).lower() in ("tumble", "hop", "session")]
        if len(window_keys) > 1:
            raise unsupported("more than one window in GROUP BY")
        for key in keys:
            if key in window_keys:
                continue
            if isinstance(key, exp.Literal) and not key.is_string:
                position = int(key.this)
                if not 1 <= position <= len(items):
                    raise errcodes.InvalidColumnReference(
                        f"GROUP BY position {position} is not in select list")
                item = items[position - 1]
                key = item.this if isinstance(item, exp.Alias) else item
            elif isinstance(key, exp.Column) and key.name not in source.schema.names:
                aliased = [i.this for i in items
                           if isinstance(i, exp.Alias) and i.alias == key.name]
                if aliased:
                    key = aliased[0]
            if _has_aggregate(key):
                raise errcodes.GroupingError("aggregate functions are not allowed in GROUP BY")
            plain_keys.append(key)
        if window_keys:
            call = window_keys[0]
            name = str(call.this).lower()
            if name == "session":
                source = self.assign_sessions(source, plain_keys, list(call.expressions))
            else:
                source = self.assign_windows(source, name, list(call.expressions))
            plain_keys += [exp.column("window_start"), exp.column("window_end")]
            window_key_sql = call.sql()
        else:
            window_key_sql = None
        # A window's rows are final once the watermark passes its end: find window_end
        # among the keys (added, hidden, when only window_start is grouped by).
        def key_column(index: int | None) -> int | None:
            if index is None:
                return None
            name = source.schema.names[index]
            for i, key in enumerate(plain_keys):
                if isinstance(key, exp.Column) and key.name == name:
                    return i
            return None

        end_key = key_column(source.window_end)
        if end_key is None and key_column(source.window_start) is not None \
                and source.window_end is not None:
            plain_keys.append(exp.column(source.schema.names[source.window_end]))
            end_key = len(plain_keys) - 1

        # Pre-projection: keys, then each aggregate's argument and FILTER condition.
        pre_exprs: list[exp.Expr] = list(plain_keys)
        calls: list[tuple[exp.Expr, str, int | None, bool, int | None]] = []
        found = [a for item in items for a in _aggregates(item)]
        if having is not None:
            found += _aggregates(having)
        agg_index: dict[str, int] = {}
        for agg in found:
            text = agg.sql()
            if text in agg_index:
                continue
            function, argument, distinct, condition = _describe_aggregate(agg)
            arg_pos = None
            if argument is not None:
                pre_exprs.append(argument)
                arg_pos = len(pre_exprs) - 1
            filter_pos = None
            if condition is not None:
                pre_exprs.append(condition)
                filter_pos = len(pre_exprs) - 1
            agg_index[text] = len(calls)
            calls.append((agg, function, arg_pos, distinct, filter_pos))
        pre_compiled = [self.compile(e, source.schema) for e in pre_exprs]
        pre_names = [f"_k{i}" for i in range(len(plain_keys))] + [
            f"_a{i}" for i in range(len(pre_exprs) - len(plain_keys))]
        pre_schema = pa.schema([pa.field(n, c.type)
                                for n, c in zip(pre_names, pre_compiled, strict=True)])
        direct = [source.schema.names.index(e.name)
                  if isinstance(e, exp.Column) and e.name in source.schema.names else None
                  for e in pre_exprs]
        pre_node = self.node(Project(pre_schema, pre_compiled, direct), source.node)

        agg_calls = []
        out_fields = [pa.field(f"_k{i}", pre_schema.field(i).type) for i in range(len(plain_keys))]
        for i, (agg, function, arg_pos, distinct, filter_pos) in enumerate(calls):
            arg_type = pre_schema.field(arg_pos).type if arg_pos is not None else None
            output_type = aggregate_type(function, arg_type, agg)
            if filter_pos is not None and not pa.types.is_boolean(pre_schema.field(filter_pos).type):
                raise errcodes.DatatypeMismatch(
                    f"argument of FILTER must be type boolean, not type "
                    f"{pg_type_name(pre_schema.field(filter_pos).type)}")
            agg_calls.append(AggregateCall(function=function, argument=arg_pos,
                                           distinct=distinct, filter=filter_pos,
                                           output_type=output_type, name=f"_g{i}",
                                           **aggregate_options(agg)))
            out_fields.append(pa.field(f"_g{i}", output_type))
        out_schema = pa.schema(out_fields)
        close_column = None
        if self.emit_on_close and end_key is not None:
            close_column = end_key
        forget_column = None
        if close_column is None and end_key is not None and source.watermarked:
            forget_column = end_key
        aggregate = HashAggregate(pre_schema, list(range(len(plain_keys))), agg_calls,
                                  out_schema, close_column=close_column,
                                  append_only=source.append_only, forget_column=forget_column)
        agg_node = self.node(aggregate, pre_node)
        if close_column is not None:
            self.closed_window = True
        start_key = key_column(source.window_start)
        agg_planned = Planned(agg_node, out_schema, end_key, source.watermarked,
                              close_column is not None, start_key, end_key,
                              source.window_size if start_key is not None else None)

        # Rewrite the select list and HAVING over the aggregate's output.
        key_sql = {k.sql(): i for i, k in enumerate(plain_keys)}
        key_names = {k.name: i for i, k in enumerate(plain_keys) if isinstance(k, exp.Column)}

        def rewrite(node: exp.Expr) -> exp.Expr:
            def replace(sub: exp.Expr) -> exp.Expr:
                text = sub.sql()
                if text in agg_index and _is_aggregate_node(sub):
                    return exp.column(f"_g{agg_index[text]}", quoted=True)
                if text in key_sql:
                    return exp.column(f"_k{key_sql[text]}", quoted=True)
                if window_key_sql is not None and text == window_key_sql:
                    return exp.column(f"_k{len(plain_keys) - 2}", quoted=True)
                if isinstance(sub, exp.Column):
                    if sub.name in key_names:
                        return exp.column(f"_k{key_names[sub.name]}", quoted=True)
                    raise errcodes.GroupingError(
                        f'column "{sub.name}" must appear in the GROUP BY clause or be used '
                        "in an aggregate function")
                return sub

            return node.copy().transform(replace)

        planned = agg_planned
        if having is not None:
            planned = self.filter(planned, rewrite(having), "HAVING")
        names = [column_name(item) for item in items]
        rewritten = [rewrite(item.this if isinstance(item, exp.Alias) else item)
                     for item in items]
        aliased = [exp.alias_(e, n, quoted=True) for e, n in zip(rewritten, names, strict=True)]
        result, _ = self.project(planned, aliased)
        return result, names

    def renamed(self, planned: Planned, names: list[str]) -> Planned:
        """A subquery's or stream's rows under their output names (relabelled, not copied)."""
        if names == planned.schema.names:
            return planned
        schema = pa.schema([pa.field(n, f.type)
                            for n, f in zip(names, planned.schema, strict=True)])
        node = self.node(_Rename(schema), planned.node)
        return Planned(node, schema, planned.time_column, planned.watermarked,
                       planned.append_only, planned.window_start, planned.window_end,
                       planned.window_size)

    def distinct(self, source: Planned) -> Planned:
        """DISTINCT: one row per distinct row (an aggregate over every column)."""
        keys = list(range(len(source.schema)))
        schema = pa.schema(list(source.schema))
        node = self.node(HashAggregate(source.schema, keys, [], schema,
                                       append_only=source.append_only), source.node)
        return Planned(node, schema, None, source.watermarked, False)


# -------------------------------------------------------------------- helpers


def _inside(node: exp.Expr, container: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is container:
            return True
        parent = parent.parent
    return False


def _columns_used(select: exp.Select) -> set[str] | None:
    """The names of the columns a SELECT reads from its FROM relation; None when it
    reads them all (`*`, `t.*`)."""
    used: set[str] = set()
    for node in select.walk():
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            return None  # SELECT *; count(*) reads no column
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                return None
            used.add(node.name)
    return used


def _pruned(rel: Relation, used: set[str]) -> Relation:
    """A source relation that generates only the columns in `used` and its event time."""
    keep = [f for f in rel.schema if f.name in used or f.name == rel.time_column]
    if len(keep) == len(rel.schema) or not keep:
        return rel
    make = rel.make_generator
    assert make is not None
    names = [f.name for f in keep]
    return replace(rel, schema=pa.schema(keep), make_generator=lambda: make(names))

AGGREGATE_CLASSES: dict[type[exp.Expr], str] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
    exp.LogicalAnd: "bool_and",
    exp.LogicalOr: "bool_or",
    exp.GroupConcat: "string_agg",
    exp.ArrayAgg: "array_agg",
}
ORDERED_AGGREGATES = ("string_agg", "array_agg")  # their ORDER BY matters


def _is_aggregate_node(node: exp.Expr) -> bool:
    return isinstance(node, exp.Filter) or isinstance(node, exp.AggFunc)


def _aggregates(node: exp.Expr) -> list[exp.Expr]:
    """The outermost aggregate calls inside `node` (a FILTER wraps its aggregate)."""
    found: list[exp.Expr] = []

    def visit(sub: exp.Expr) -> None:
        if isinstance(sub, exp.Filter) and isinstance(sub.this, exp.AggFunc):
            found.append(sub)
            return
        if isinstance(sub, exp.AggFunc):
            found.append(sub)
            return
        if isinstance(sub, exp.Subquery):
            return
        for child in sub.iter_expressions():
            visit(child)

    visit(node)
    return found


def _has_aggregate(node: exp.Expr) -> bool:
    return bool(_aggregates(node))


def _describe_aggregate(node: exp.Expr) -> tuple[str, exp.Expr | None, bool, exp.Expr | None]:
    condition = None
    if isinstance(node, exp.Filter):
        condition = node.expression.this if isinstance(node.expression, exp.Where) else node.expression
        node = node.this
    function = AGGREGATE_CLASSES.get(type(node))
    if function is None:
        name = node.sql().split("(")[0]
        raise unsupported(f"aggregate function {name}")
    argument = node.this
    order = None
    if isinstance(argument, exp.Order):
        if function not in ORDERED_AGGREGATES:
            raise unsupported(f"ORDER BY in {function}()")
        order, argument = argument, argument.this
    distinct = False
    if isinstance(argument, exp.Distinct):
        if len(argument.expressions) != 1:
            raise unsupported("DISTINCT over several arguments")
        distinct = True
        argument = argument.expressions[0]
    if function == "count" and isinstance(argument, exp.Star):
        return "count_star", None, False, condition
    if distinct and function not in ("count", *ORDERED_AGGREGATES):
        raise unsupported(f"{function}(DISTINCT ...)")
    if argument is None:
        raise errcodes.UndefinedFunction(f"{function}() needs an argument")
    for sub in argument.walk():
        if isinstance(sub, exp.AggFunc):
            raise errcodes.GroupingError("aggregate function calls cannot be nested")
    if order is not None:
        _order_direction(function, argument, order, distinct)
    if function == "string_agg":
        _separator(node)
    return function, argument, distinct, condition


def aggregate_options(node: exp.Expr) -> dict[str, Any]:
    """What an `AggregateCall` needs beyond its function and argument: string_agg's
    separator and, for string_agg / array_agg, whether they order descending (checked
    by `_describe_aggregate` first)."""
    if isinstance(node, exp.Filter):
        node = node.this
    function = AGGREGATE_CLASSES.get(type(node))
    if function not in ORDERED_AGGREGATES:
        return {}
    options: dict[str, Any] = {"descending": False}
    argument = node.this
    if isinstance(argument, exp.Order):
        order, argument = argument, argument.this
        distinct = isinstance(argument, exp.Distinct)
        if distinct:
            argument = argument.expressions[0]
        options["descending"] = _order_direction(function, argument, order, distinct)
    if function == "string_agg":
        options["separator"] = _separator(node)
    return options


def _order_direction(function: str, argument: exp.Expr, order: exp.Order,
                     distinct: bool) -> bool:
    """Whether `function(argument ORDER BY ...)` orders descending; 0A000 unless every
    key is the argument itself (with PostgreSQL's default NULLS placement for
    array_agg, which keeps NULLs)."""
    keys = list(order.expressions)
    for key in keys:
        if not _same_expression(key.this, argument):
            if distinct:
                raise unsupported(
                    f"{function}(DISTINCT ...) with an ORDER BY on {key.this.sql()}",
                    hint="With DISTINCT, ORDER BY can only name the aggregated argument.")
            raise unsupported(f"{function}() ordered by {key.this.sql()}",
                              hint=f"{function} can only be ordered by its argument.")
    descending = bool(keys[0].args.get("desc"))
    nulls_first = keys[0].args.get("nulls_first")
    if function == "array_agg" and nulls_first is not None and bool(nulls_first) != descending:
        raise unsupported(f"{function}() with NULLS {'FIRST' if nulls_first else 'LAST'}")
    return descending


def _same_expression(a: exp.Expr, b: exp.Expr) -> bool:
    """Equal expressions, column qualifiers aside."""
    def bare(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column):
            return exp.Column(this=node.this.copy())
        return node

    return bool(a.copy().transform(bare) == b.copy().transform(bare))


def _separator(node: exp.Expr) -> str | None:
    """string_agg's separator, a constant string (None: NULL, no separator)."""
    separator = node.args.get("separator")
    if separator is None:
        raise errcodes.UndefinedFunction(
            "function string_agg with one argument does not exist",
            hint="string_agg takes a value and a separator: string_agg(x, ', ').")
    if any(isinstance(sub, (exp.Column, exp.AggFunc, exp.Subquery, exp.Window))
           for sub in separator.walk()):
        raise unsupported(f"string_agg with a non-constant separator ({separator.sql()})",
                          hint="The separator must be a constant string.")
    compiled = compile_expr(separator, pa.schema([]))
    if not (pa.types.is_string(compiled.type) or pa.types.is_large_string(compiled.type)
            or pa.types.is_null(compiled.type)):
        raise errcodes.UndefinedFunction(
            f"function string_agg(text, {pg_type_name(compiled.type)}) does not exist",
            hint="The separator must be text.")
    value = compiled.evaluate(pa.record_batch([pa.array([0])], names=["_"]))[0].as_py()
    return None if value is None else str(value)


def aggregate_type(function: str, arg: pa.DataType | None, node: exp.Expr) -> pa.DataType:
    """The result type, as the ad-hoc engine gives it for the same query (the oracle)."""
    if function in ("count", "count_star"):
        return pa.int64()
    assert arg is not None
    if function in ("bool_and", "bool_or"):
        if not pa.types.is_boolean(arg):
            raise errcodes.UndefinedFunction(f"function {function}({arg}) does not exist")
        return pa.bool_()
    if function in ("min", "max"):
        return arg
    if function == "string_agg":
        if pa.types.is_string(arg) or pa.types.is_large_string(arg) \
                or pa.types.is_string_view(arg):
            return pa.string()
        raise errcodes.UndefinedFunction(
            f"function string_agg({pg_type_name(arg)}, text) does not exist",
            hint="Cast the value to text.")
    if function == "array_agg":
        raise unsupported("array_agg", hint="A view cannot hold arrays yet; string_agg "
                          "can stand in.")
    if function == "sum":
        if pa.types.is_integer(arg):
            return pa.int64() if arg.bit_width < 64 else pa.decimal128(38, 0)
        if pa.types.is_floating(arg):
            return pa.float64()
        if pa.types.is_decimal(arg):
            return pa.decimal128(38, arg.scale)
        raise errcodes.UndefinedFunction(f"function sum({arg}) does not exist")
    if function == "avg":
        if pa.types.is_integer(arg) or pa.types.is_floating(arg) or pa.types.is_decimal(arg):
            return pa.float64()
        raise errcodes.UndefinedFunction(f"function avg({arg}) does not exist")
    raise unsupported(f"aggregate function {function}")


def interval_us(node: exp.Expr) -> int:
    """A constant interval in microseconds (months are refused: windows need a fixed size)."""
    assert isinstance(node, exp.Expression)
    compiled = compile_expr(node, pa.schema([]))
    value = compiled.evaluate(pa.record_batch([pa.array([0])], names=["_"]))
    scalar = value[0].as_py()
    if scalar is None:
        raise errcodes.InvalidParameterValue("a window size cannot be NULL")
    if hasattr(scalar, "months"):
        if scalar.months:
            raise unsupported("a window size in months")
        return int(scalar.days) * MICROS_PER_DAY + int(scalar.nanoseconds) // 1000
    if hasattr(scalar, "total_seconds"):
        return int(round(scalar.total_seconds() * 1_000_000))  # noqa: RUF046
    raise errcodes.DatatypeMismatch(f"a window size must be an interval, not {compiled.type}")


class _Rename(Operator):
    """Renames columns (a subquery's output names): batches are relabelled, not copied."""

    name = "rename"

    def on_chunk(self, chunk: Any, port: int) -> list[Any]:
        from laminar_pg.engine.messages import Chunk

        batch = pa.RecordBatch.from_arrays(chunk.batch.columns, schema=self.schema)
        return [Chunk(batch, chunk.weights)]
