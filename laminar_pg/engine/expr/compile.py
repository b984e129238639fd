"""sqlglot expression -> CompiledExpr: the entry point of the expression language.

`compile_expr` walks the tree once, with one handler per sqlglot node class (a dict, not
an if-chain), resolving column references against the input schema and types with
PostgreSQL's rules.  What a streaming view cannot evaluate row by row is refused with
0A000 naming it: parameters, subqueries, aggregate and window functions, now() and other
non-deterministic functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.time
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres

from laminar_pg.engine.expr import functions, intervals, operators
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.casts import Typmod, cast, coerce, coerce_literal
from laminar_pg.engine.expr.control import CaseExpr, CoalesceExpr, fold_and, fold_or
from laminar_pg.engine.expr.nodes import (
    ColumnRef,
    CompiledExpr,
    Constant,
    Datum,
    make_call,
    null_scalar,
)
from laminar_pg.engine.expr.patterns import compile_like, compile_regex_match
from laminar_pg.engine.expr.strings import compile_concat_operator, function_error
from laminar_pg.errors import error_for

Resolver = Callable[[exp.Column], int]
Handler = Callable[["Compiler", exp.Expression], CompiledExpr]


def compile_expr(
    node: exp.Expression, schema: pa.Schema, *, resolve: Resolver | None = None
) -> CompiledExpr:
    """Compile a scalar expression over rows of `schema`.

    Columns are found by name (exactly as written, then lower-cased if unquoted; a table
    qualifier is ignored) unless `resolve` maps each `exp.Column` to its index.  An
    untyped literal at the top ('abc', NULL) is text, as PostgreSQL resolves it.
    """
    compiled = Compiler(schema, resolve).compile(node)
    if compiled.unknown:
        compiled = coerce_literal(compiled, T.TEXT)
    return compiled


def compile_predicate(
    node: exp.Expression,
    schema: pa.Schema,
    *,
    resolve: Resolver | None = None,
    clause: str = "WHERE",
) -> CompiledExpr:
    """A boolean condition (WHERE, HAVING, FILTER, JOIN ON): 42804 if it is not boolean."""
    compiled = Compiler(schema, resolve).compile(node)
    return operators.require_boolean(compiled, clause)


class Compiler:
    def __init__(self, schema: pa.Schema, resolve: Resolver | None) -> None:
        self.schema = schema
        self.resolve = resolve or self.resolve_by_name

    def compile(self, node: exp.Expression) -> CompiledExpr:
        handler = HANDLERS.get(type(node))
        if handler is None:
            raise _unsupported(node)
        return handler(self, node)

    def compile_all(self, nodes: Sequence[exp.Expression]) -> list[CompiledExpr]:
        return [self.compile(n) for n in nodes]

    def resolve_by_name(self, column: exp.Column) -> int:
        name = column.name
        names = self.schema.names
        matches = [i for i, n in enumerate(names) if n == name]
        identifier = column.this
        if not matches and isinstance(identifier, exp.Identifier) and not identifier.quoted:
            matches = [i for i, n in enumerate(names) if n == name.lower()]
        shown = f"{column.table}.{name}" if column.table else name
        if len(matches) > 1:
            raise error_for("42702", f'column reference "{shown}" is ambiguous')
        if not matches:
            quoted = shown if column.table else f'"{shown}"'
            raise error_for("42703", f"column {quoted} does not exist")
        return matches[0]


# --- refusals ---------------------------------------------------------------------------


def _unsupported(node: exp.Expression) -> Exception:
    if isinstance(node, exp.AggFunc):
        return error_for(
            "0A000",
            f"aggregate function {_function_name(node)}() is not allowed in this expression",
        )
    if isinstance(node, exp.Func):
        name = _function_name(node)
        if name in functions.REFUSED:
            return error_for("0A000", functions.REFUSED[name])
        return error_for("0A000", f"function {name}() is not supported in streaming expressions")
    sql = node.sql("postgres")
    return error_for(
        "0A000",
        f"{type(node).__name__} expressions are not supported in streaming expressions: {sql}",
    )


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return type(node).__name__.lower()


def _refuse(message: str) -> Handler:
    def handler(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
        raise error_for("0A000", message.format(sql=node.sql("postgres")))

    return handler


def _refuse_aggregate(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    raise _unsupported(node.this if isinstance(node, exp.Filter) else node)


# --- leaves -----------------------------------------------------------------------------


def _column(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    assert isinstance(node, exp.Column)
    if isinstance(node.this, exp.Star):
        raise error_for("0A000", f"{node.sql('postgres')} is not supported in a scalar expression")
    index = compiler.resolve(node)
    return ColumnRef(index, compiler.schema.field(index))


_INTEGER = re.compile(r"[0-9]+")


def number_literal(text: str) -> pa.Scalar:
    """PostgreSQL's numeric constants: integer (int4, else int8) or numeric."""
    if _INTEGER.fullmatch(text.lstrip("-")):
        value = int(text)
        for t in (T.INT32, T.INT64):
            low, high = T.INTEGER_BOUNDS[t]
            if low <= value <= high:
                return pa.scalar(value, t)
    decimal = Decimal(text)
    return pa.scalar(decimal, T.literal_decimal_type(decimal))


def _literal(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    assert isinstance(node, exp.Literal)
    if node.is_string:
        return Constant(pa.scalar(node.this, T.TEXT), unknown=True)
    return Constant(number_literal(node.this))


def _string_literal(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return Constant(pa.scalar(str(node.this), T.TEXT), unknown=True)


def _boolean(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return Constant(pa.scalar(bool(node.this), T.BOOL))


def _null(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return Constant(null_scalar(T.TEXT), unknown=True)


def _inner(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return compiler.compile(node.this)


def _interval(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    value = node.this
    if not isinstance(value, exp.Literal):
        raise error_for("0A000", f"interval values must be literals: {node.sql('postgres')}")
    unit = node.args.get("unit")
    if isinstance(unit, exp.IntervalSpan):
        unit_text: str | None = f"{unit.this.name} to {unit.expression.name}".lower()
    elif unit is not None:
        unit_text = unit.name.lower()
    else:
        unit_text = None
    parsed = intervals.parse_interval(str(value.this), unit_text)
    if unit_text is not None and not node.args.get("fraction_in_string"):
        parsed = intervals.truncate_to_qualifier(parsed, unit_text)
    return Constant(parsed)


# --- operators ----------------------------------------------------------------------------


def _binary(build: Callable[[CompiledExpr, CompiledExpr], CompiledExpr]) -> Handler:
    def handler(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
        right_node = node.expression
        if isinstance(right_node, exp.Any | exp.All):
            raise error_for(
                "0A000", f"ANY / ALL comparisons are not supported: {node.sql('postgres')}"
            )
        return build(compiler.compile(node.this), compiler.compile(right_node))

    return handler


def _arithmetic(op: str) -> Handler:
    return _binary(lambda left, right: operators.compile_arithmetic(op, left, right))


def _comparison(op: str) -> Handler:
    return _binary(lambda left, right: operators.compile_comparison(op, left, right))


def _negate(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    inner = node.this
    if isinstance(inner, exp.Literal) and not inner.is_string:
        return Constant(
            number_literal("-" + str(inner.this))
        )  # PostgreSQL folds -2147483648 into int4
    return operators.compile_negate(compiler.compile(inner))


def _and(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    left = operators.require_boolean(compiler.compile(node.this), "AND")
    right = operators.require_boolean(compiler.compile(node.expression), "AND")
    return fold_and(left, right)


def _or(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    left = operators.require_boolean(compiler.compile(node.this), "OR")
    right = operators.require_boolean(compiler.compile(node.expression), "OR")
    return fold_or(left, right)


def _not(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return operators.compile_not(compiler.compile(node.this))


def _like(ignore_case: bool) -> Handler:
    def handler(
        compiler: Compiler, node: exp.Expression, escape: exp.Expression | None = None
    ) -> CompiledExpr:
        if isinstance(node.expression, exp.Any | exp.All):
            raise error_for("0A000", f"LIKE ANY / ALL is not supported: {node.sql('postgres')}")
        return compile_like(
            compiler.compile(node.this),
            compiler.compile(node.expression),
            ignore_case=ignore_case,
            negate=bool(node.args.get("negate")),
            escape=None if escape is None else compiler.compile(escape),
        )

    return handler


def _escape(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    like = node.this
    if not isinstance(like, exp.Like | exp.ILike):
        raise _unsupported(node)
    return _like(isinstance(like, exp.ILike))(compiler, like, node.expression)  # type: ignore[call-arg]


def _regex(ignore_case: bool) -> Handler:
    def handler(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
        return compile_regex_match(
            compiler.compile(node.this),
            compiler.compile(node.expression),
            ignore_case=ignore_case,
            negate=False,
        )

    return handler


def _in(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    if node.args.get("query") is not None:
        raise error_for(
            "0A000",
            f"subqueries are not supported in streaming expressions: {node.sql('postgres')}",
        )
    if (
        node.args.get("unnest") is not None
        or node.args.get("field") is not None
        or not node.expressions
    ):
        raise error_for("0A000", f"this form of IN is not supported: {node.sql('postgres')}")
    return operators.compile_in(compiler.compile(node.this), compiler.compile_all(node.expressions))


def _between(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return operators.compile_between(
        compiler.compile(node.this),
        compiler.compile(node.args["low"]),
        compiler.compile(node.args["high"]),
        symmetric=bool(node.args.get("symmetric")),
    )


def _is(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    value = compiler.compile(node.this)
    target = node.expression
    if isinstance(target, exp.Null):
        result = operators.compile_is_null(value)
        return operators.compile_not(result) if node.args.get("negate") else result
    if isinstance(target, exp.Boolean):
        result = operators.compile_is_bool(value, bool(target.this))
        return operators.compile_not(result) if node.args.get("negate") else result
    raise _unsupported(node)


def _distinct(distinct: bool) -> Handler:
    return _binary(lambda left, right: operators.compile_distinct(left, right, distinct=distinct))


# --- conditionals ------------------------------------------------------------------------


def _case(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    operand = node.args.get("this")
    subject = compiler.compile(operand) if operand is not None else None
    conditions: list[CompiledExpr] = []
    results: list[CompiledExpr] = []
    for when in node.args.get("ifs") or []:
        test = compiler.compile(when.this)
        if subject is not None:
            condition = operators.compile_comparison("=", subject, test)
        else:
            condition = operators.require_boolean(test, "CASE/WHEN")
        conditions.append(condition)
        results.append(compiler.compile(when.args["true"]))
    default_node = node.args.get("default")
    default = compiler.compile(default_node) if default_node is not None else None
    everything = results + ([default] if default is not None else [])
    result_type = T.common_type([None if r.unknown else r.type for r in everything], "CASE")
    results = [coerce(r, result_type, "CASE") for r in results]
    if default is not None:
        default = coerce(default, result_type, "CASE")
    whens: list[tuple[CompiledExpr, CompiledExpr]] = []
    for condition, result in zip(conditions, results, strict=True):
        value = condition.constant
        if value is not None and not (value.is_valid and value.as_py()):
            continue  # never chosen
        if value is not None and not whens:
            return result  # the first WHEN that can be chosen is always TRUE
        whens.append((condition, result))
    if not whens:
        return default if default is not None else Constant(null_scalar(result_type))
    return CaseExpr(whens, default, result_type)


def _unify(compiler: Compiler, nodes: Sequence[exp.Expression], context: str) -> list[CompiledExpr]:
    args = compiler.compile_all(nodes)
    target = T.common_type([None if a.unknown else a.type for a in args], context)
    return [coerce(a, target, context) for a in args]


def _coalesce(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    args = _unify(compiler, [node.this, *node.expressions], "COALESCE")
    kept: list[CompiledExpr] = []
    for arg in args:
        value = arg.constant
        if value is not None and not value.is_valid:
            continue
        kept.append(arg)
        if not arg.nullable:
            break
    if not kept:
        return args[0]
    return kept[0] if len(kept) == 1 else CoalesceExpr(kept, kept[0].type)


def _nullif(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    left, right = operators.comparable(
        compiler.compile(node.this), compiler.compile(node.expression), "="
    )
    equal = operators.comparison_kernel("=", left.type, right.type)

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        same = pc.fill_null(equal(values, n), False)
        return pc.if_else(same, null_scalar(left.type), values[0])

    return make_call("nullif", kernel, [left, right], left.type, nullable=True)


def _extreme(greatest: bool) -> Handler:
    context = "GREATEST" if greatest else "LEAST"

    def handler(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
        args = _unify(compiler, [node.this, *node.expressions], context)
        if args[0].unknown:
            args = [coerce_literal(a, T.TEXT) for a in args]
        better = operators.comparison_kernel(">" if greatest else "<", args[0].type, args[0].type)

        def kernel(values: Sequence[Datum], n: int) -> Datum:
            best = values[0]
            for value in values[1:]:
                take = pc.and_(
                    pc.is_valid(value),
                    pc.or_(pc.is_null(best), pc.fill_null(better([value, best], n), False)),
                )
                best = pc.if_else(take, value, best)
            return best

        return make_call(
            context.lower(), kernel, args, args[0].type, nullable=all(a.nullable for a in args)
        )

    return handler


# --- casts and functions ------------------------------------------------------------------


def _cast(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    to = node.args["to"]
    if not isinstance(to, exp.DataType):
        raise error_for("0A000", f"type {to.sql('postgres')} is not supported in expressions")
    value = compiler.compile(node.this)
    if isinstance(to.this, exp.Interval):
        return cast(value, T.INTERVAL, eager=value.unknown)
    target = T.sql_type_to_arrow(to)
    modifier = T.type_modifier(to)
    is_text = target == T.TEXT and to.this != exp.DataType.Type.TEXT
    typmod = Typmod(
        length=modifier
        if is_text and to.this not in (exp.DataType.Type.JSON, exp.DataType.Type.JSONB)
        else None,
        precision=modifier if not is_text else None,
        unconstrained_numeric=T.is_unconstrained_numeric(to),
        blank_padded=to.this
        in (exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR, exp.DataType.Type.BPCHAR),
    )
    return cast(value, target, typmod, eager=value.unknown)


# sqlglot classes that are PostgreSQL functions by another name: class -> (name, arguments)
_FUNCTION_ARGS: dict[type[exp.Expression], tuple[str, tuple[str, ...]]] = {
    exp.Abs: ("abs", ("this",)),
    exp.Round: ("round", ("this", "decimals")),
    exp.Floor: ("floor", ("this",)),
    exp.Ceil: ("ceil", ("this",)),
    exp.Trunc: ("trunc", ("this", "decimals")),
    exp.Sqrt: ("sqrt", ("this",)),
    exp.Cbrt: ("cbrt", ("this",)),
    exp.Exp: ("exp", ("this",)),
    exp.Ln: ("ln", ("this",)),
    exp.Sign: ("sign", ("this",)),
    exp.Pow: ("power", ("this", "expression")),
    exp.Pi: ("pi", ()),
    exp.Degrees: ("degrees", ("this",)),
    exp.Radians: ("radians", ("this",)),
    exp.Lower: ("lower", ("this",)),
    exp.Upper: ("upper", ("this",)),
    exp.Length: ("length", ("this",)),
    exp.Substring: ("substring", ("this", "start", "length")),
    exp.StrPosition: ("strpos", ("this", "substr")),
    exp.Left: ("left", ("this", "expression")),
    exp.Right: ("right", ("this", "expression")),
    exp.Replace: ("replace", ("this", "expression", "replacement")),
    exp.SplitPart: ("split_part", ("this", "delimiter", "part_index")),
    exp.Repeat: ("repeat", ("this", "times")),
    exp.Reverse: ("reverse", ("this",)),
    exp.Initcap: ("initcap", ("this",)),
    exp.StartsWith: ("starts_with", ("this", "expression")),
    exp.MD5: ("md5", ("this",)),
    exp.UnixToTime: ("to_timestamp", ("this",)),
}


def _named_function(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    name, keys = _FUNCTION_ARGS[type(node)]
    if node.args.get("scale") is not None or node.args.get("format") is not None:
        raise _unsupported(node)
    args = [compiler.compile(node.args[k]) for k in keys if node.args.get(k) is not None]
    return functions.lookup(name)(args)


def _anonymous(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    name = str(node.name).lower()
    builder = functions.lookup(name)
    return builder(compiler.compile_all(node.expressions))


def _variadic(name: str) -> Handler:
    def handler(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
        return functions.lookup(name)(compiler.compile_all(node.expressions))

    return handler


def _trim(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    side = str(node.args.get("position") or "BOTH").lower()
    name = {"both": "btrim", "leading": "ltrim", "trailing": "rtrim"}[side]
    args = [compiler.compile(node.this)]
    if node.expression is not None:
        args.append(compiler.compile(node.expression))
    return functions.lookup(name)(args)


def _pad(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    name = "lpad" if node.args.get("is_left") else "rpad"
    keys = ("this", "expression", "fill_pattern")
    return functions.lookup(name)(
        [compiler.compile(node.args[k]) for k in keys if node.args.get(k) is not None]
    )


def _log(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    args = [compiler.compile(node.this)]
    if node.expression is not None:
        args.append(compiler.compile(node.expression))
    return functions.lookup("log")(args)


def _regexp_replace(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    keys = ("this", "expression", "replacement", "modifiers")
    if node.args.get("position") is not None or node.args.get("occurrence") is not None:
        raise _unsupported(node)
    return functions.lookup("regexp_replace")(
        [compiler.compile(node.args[k]) for k in keys if node.args.get(k) is not None]
    )


def _int_div(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return functions.lookup("div")([compiler.compile(node.this), compiler.compile(node.expression)])


def _mod(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    return operators.compile_arithmetic(
        "%", compiler.compile(node.this), compiler.compile(node.expression)
    )


def _unit_text(unit: exp.Expression | None) -> str:
    if isinstance(unit, exp.Literal | exp.Var):
        return str(unit.this)
    if isinstance(unit, exp.Column):
        return unit.name
    raise error_for("0A000", "the unit / field must be a constant")


def _date_trunc(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    if node.args.get("zone") is not None:
        raise error_for("0A000", "date_trunc with a time zone is not supported")
    value = compiler.compile(node.this)
    return functions.build_date_trunc(_unit_text(node.args.get("unit")), value, [value])


def _extract(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    value = compiler.compile(node.expression)
    return functions.build_extract(_unit_text(node.this), value, [value])


def _to_char(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    value = compiler.compile(node.this)
    fmt_node = node.args.get("format")
    if not isinstance(fmt_node, exp.Literal) or not fmt_node.is_string:
        raise error_for("0A000", "the format of to_char must be a constant")
    # sqlglot turned the template into strftime codes; map them back to PostgreSQL's.
    fmt = sqlglot.time.format_time(
        str(fmt_node.this), Postgres.INVERSE_TIME_MAPPING, Postgres.INVERSE_TIME_TRIE
    )
    return functions.build_to_char(value, fmt or "", [value])


def _at_time_zone(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    value = compiler.compile(node.this)
    zone = compiler.compile(node.args["zone"])
    zone_value = zone.constant
    if (
        zone_value is None
        or not zone_value.is_valid
        or str(zone_value.as_py()).upper() not in ("UTC", "GMT", "Z", "+00", "+00:00")
    ):
        raise error_for("0A000", "AT TIME ZONE is supported only with the constant zone 'UTC'")
    if value.unknown:
        value = coerce_literal(value, T.TIMESTAMPTZ)
    if value.type == T.TIMESTAMPTZ:
        return cast(value, T.TIMESTAMP)
    if value.type in (T.TIMESTAMP, T.DATE):
        return cast(value, T.TIMESTAMPTZ)
    raise function_error("timezone", [zone, value])


def _collate(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    collation = node.expression.name if node.expression is not None else ""
    if collation not in ("C", "POSIX", "default", "ucs_basic"):
        raise error_for(
            "0A000", f'collation "{collation}" is not supported (comparisons are bytewise, as "C")'
        )
    return compiler.compile(node.this)


def _typed_literal_handler(compiler: Compiler, node: exp.Expression) -> CompiledExpr:
    raise error_for("0A000", f"bit string constants are not supported: {node.sql('postgres')}")


HANDLERS: dict[type[exp.Expression], Handler] = {
    exp.Column: _column,
    exp.Literal: _literal,
    exp.ByteString: _string_literal,  # E'...' (escapes already decoded)
    exp.RawString: _string_literal,  # $$...$$
    exp.Boolean: _boolean,
    exp.Null: _null,
    exp.Paren: _inner,
    exp.Alias: _inner,
    exp.Interval: _interval,
    exp.Add: _arithmetic("+"),
    exp.Sub: _arithmetic("-"),
    exp.Mul: _arithmetic("*"),
    exp.Div: _arithmetic("/"),
    exp.Mod: _mod,
    exp.IntDiv: _int_div,
    exp.Neg: _negate,
    exp.DPipe: _binary(compile_concat_operator),
    exp.EQ: _comparison("="),
    exp.NEQ: _comparison("<>"),
    exp.LT: _comparison("<"),
    exp.LTE: _comparison("<="),
    exp.GT: _comparison(">"),
    exp.GTE: _comparison(">="),
    exp.NullSafeEQ: _distinct(False),
    exp.NullSafeNEQ: _distinct(True),
    exp.And: _and,
    exp.Or: _or,
    exp.Not: _not,
    exp.Like: _like(False),
    exp.ILike: _like(True),
    exp.Escape: _escape,
    exp.RegexpLike: _regex(False),
    exp.RegexpILike: _regex(True),
    exp.In: _in,
    exp.Between: _between,
    exp.Is: _is,
    exp.Case: _case,
    exp.Coalesce: _coalesce,
    exp.Nullif: _nullif,
    exp.Greatest: _extreme(True),
    exp.Least: _extreme(False),
    exp.Cast: _cast,
    exp.Anonymous: _anonymous,
    exp.Concat: _variadic("concat"),
    exp.ConcatWs: _variadic("concat_ws"),
    exp.Trim: _trim,
    exp.Pad: _pad,
    exp.Log: _log,
    exp.RegexpReplace: _regexp_replace,
    exp.TimestampTrunc: _date_trunc,
    exp.DateTrunc: _date_trunc,
    exp.Extract: _extract,
    exp.TimeToStr: _to_char,
    exp.AtTimeZone: _at_time_zone,
    exp.Collate: _collate,
    exp.HexString: _typed_literal_handler,
    exp.BitString: _typed_literal_handler,
    exp.Placeholder: _refuse("parameters are not supported in streaming expressions: {sql}"),
    exp.Parameter: _refuse("parameters are not supported in streaming expressions: {sql}"),
    exp.Subquery: _refuse("subqueries are not supported in streaming expressions: {sql}"),
    exp.Exists: _refuse("subqueries (EXISTS) are not supported in streaming expressions: {sql}"),
    exp.Select: _refuse("subqueries are not supported in streaming expressions: {sql}"),
    exp.Window: _refuse("window functions are not supported in this expression: {sql}"),
    exp.Filter: _refuse_aggregate,
    exp.CurrentTimestamp: _refuse(
        "now() / current_timestamp in a streaming query outside a temporal filter (WHERE ts > now() - INTERVAL '1' HOUR)"
    ),
    exp.CurrentDate: _refuse(
        "current_date is not supported in streaming expressions yet (temporal filters come later)"
    ),
    exp.CurrentTime: _refuse(
        "current_time is not supported in streaming expressions yet (temporal filters come later)"
    ),
    exp.Localtimestamp: _refuse(
        "localtimestamp is not supported in streaming expressions yet (temporal filters come later)"
    ),
    exp.Rand: _refuse(
        "random() is not supported in streaming expressions (results must be deterministic)"
    ),
    exp.SimilarTo: _refuse("SIMILAR TO is not supported yet: {sql}"),
    **{cls: _named_function for cls in _FUNCTION_ARGS},
}
for _name in ("Localtime", "CurrentDatetime"):
    if hasattr(exp, _name):
        HANDLERS[getattr(exp, _name)] = _refuse(
            f"{_name.lower()} is not supported in streaming expressions yet"
        )
