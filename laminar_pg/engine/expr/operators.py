"""Arithmetic and comparison operators: PostgreSQL's operator resolution and kernels.

Resolution follows PostgreSQL's (parse_oper.c, "Operator Type Resolution"): an untyped
literal takes the other operand's type when an operator exists for that type pair, else
the one candidate that fits; typed operands convert implicitly (int2 -> int4 -> int8 ->
numeric -> float4 -> float8; date -> timestamp -> timestamptz).  Integer arithmetic is
checked (22003 "integer out of range"), integer division truncates toward zero, `%`
takes the dividend's sign, division by zero is 22012 for every type, and float results
that overflow or underflow are 22003 as in PostgreSQL (float8_pl and friends).  Floats
compare with NaN equal to itself and above every other value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import temporal
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.casts import can_coerce, coerce, coerce_literal
from laminar_pg.engine.expr.control import fold_and, fold_or
from laminar_pg.engine.expr.decimals import round_decimal
from laminar_pg.engine.expr.nodes import (
    BoolMask,
    CompiledExpr,
    Datum,
    Kernel,
    arrow_error,
    is_null_datum,
    make_call,
    null_scalar,
    numpy_kernel,
)
from laminar_pg.errors import SqlError, error_for

ARITHMETIC = ("+", "-", "*", "/", "%")
COMPARISONS = {
    "=": "equal",
    "<>": "not_equal",
    "<": "less",
    "<=": "less_equal",
    ">": "greater",
    ">=": "greater_equal",
}


def operator_error(op: str, left: CompiledExpr | None, right: CompiledExpr) -> SqlError:
    def name(node: CompiledExpr) -> str:
        return "unknown" if node.unknown else T.pg_type_name(node.type)

    shown = f"{op} {name(right)}" if left is None else f"{name(left)} {op} {name(right)}"
    return error_for(
        "42883",
        f"operator does not exist: {shown}",
        hint="No operator matches the given name and argument types. You might need to add explicit type casts.",
    )


def not_unique(op: str, left: CompiledExpr, right: CompiledExpr) -> SqlError:
    lname = "unknown" if left.unknown else T.pg_type_name(left.type)
    rname = "unknown" if right.unknown else T.pg_type_name(right.type)
    return error_for(
        "42725",
        f"operator is not unique: {lname} {op} {rname}",
        hint="Could not choose a best candidate operator. You might need to add explicit type casts.",
    )


# --- arithmetic -------------------------------------------------------------------------


def _numeric_operator_exists(op: str, left: pa.DataType, right: pa.DataType) -> bool:
    if not (T.is_numeric(left) and T.is_numeric(right)):
        return False
    return op != "%" or not T.is_float(T.numeric_promote(left, right))


def compile_arithmetic(op: str, left: CompiledExpr, right: CompiledExpr) -> CompiledExpr:
    left, right = _resolve_untyped(op, left, right)
    if T.is_numeric(left.type) and T.is_numeric(right.type):
        if not _numeric_operator_exists(op, left.type, right.type):
            raise operator_error(op, left, right)
        result = T.numeric_promote(left.type, right.type)
        if T.is_decimal(result):
            left = coerce(left, T.integer_decimal(left.type), op)
            right = coerce(right, T.integer_decimal(right.type), op)
        else:
            left, right = coerce(left, result, op), coerce(right, result, op)
        kernel, out_type = numeric_kernel(op, left.type, right.type)
        return make_call(_OP_NAMES[op], kernel, [left, right], out_type, fallible=True)
    signature = _best_signature(op, left, right)
    if signature is None:
        raise operator_error(op, left, right)
    left, right = coerce(left, signature.left, op), coerce(right, signature.right, op)
    return make_call(
        _OP_NAMES[op], signature.kernel, [left, right], signature.result, fallible=True
    )


_OP_NAMES = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "mod"}


def _resolve_untyped(
    op: str, left: CompiledExpr, right: CompiledExpr
) -> tuple[CompiledExpr, CompiledExpr]:
    """Give an untyped literal operand a type (PostgreSQL's unknown-literal rules)."""
    if left.unknown and right.unknown:
        raise not_unique(op, left, right)
    if left.unknown:
        return _type_untyped(op, left, right.type, untyped_is_left=True, other=right), right
    if right.unknown:
        return left, _type_untyped(op, right, left.type, untyped_is_left=False, other=left)
    return left, right


def _type_untyped(
    op: str,
    literal: CompiledExpr,
    known: pa.DataType,
    *,
    untyped_is_left: bool,
    other: CompiledExpr,
) -> CompiledExpr:
    if _numeric_operator_exists(op, known, known) or _signature_exists(op, known, known):
        return coerce_literal(literal, known)
    candidates = {
        (s.left if untyped_is_left else s.right)
        for s in temporal.OPERATORS
        if s.op == op and can_coerce(known, s.right if untyped_is_left else s.left)
    }
    pair = (literal, other) if untyped_is_left else (other, literal)
    if not candidates:
        raise operator_error(op, *pair)
    if len(candidates) > 1:
        raise not_unique(op, *pair)
    return coerce_literal(literal, candidates.pop())


def _signature_exists(op: str, left: pa.DataType, right: pa.DataType) -> bool:
    return any(s.op == op and s.left == left and s.right == right for s in temporal.OPERATORS)


def _best_signature(op: str, left: CompiledExpr, right: CompiledExpr) -> temporal.Signature | None:
    best: temporal.Signature | None = None
    best_exact = -1
    for s in temporal.OPERATORS:
        if s.op == op and can_coerce(left.type, s.left) and can_coerce(right.type, s.right):
            exact = (left.type == s.left) + (right.type == s.right)
            if exact > best_exact:
                best, best_exact = s, exact
    return best


def numeric_kernel(op: str, left: pa.DataType, right: pa.DataType) -> tuple[Kernel, pa.DataType]:
    """The kernel and result type of a numeric operator on already-converted operands."""
    if T.is_decimal(left):
        assert isinstance(left, pa.Decimal128Type) and isinstance(right, pa.Decimal128Type)
        out = decimal_result_type(op, left, right)
        return _DECIMAL_KERNELS[op](left, right, out), out
    if T.is_float(left):
        return numpy_kernel(_float_arithmetic(op), left), left
    return _integer_kernel(op, left), left


def _integer_kernel(op: str, type: pa.DataType) -> Kernel:
    message = f"{T.INTEGER_NAMES[type]} out of range"
    if op == "%":
        return numpy_kernel(_integer_mod, type, fills=(0, 1))
    function = {
        "+": pc.add_checked,
        "-": pc.subtract_checked,
        "*": pc.multiply_checked,
        "/": pc.divide_checked,
    }[op]

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        try:
            return function(*values)
        except pa.ArrowInvalid as e:
            raise arrow_error(e, overflow=message) from e

    return kernel


def _integer_mod(a: np.ndarray, b: np.ndarray, live: BoolMask) -> np.ndarray:
    if np.any(live & (b == 0)):
        raise error_for("22012", "division by zero")
    safe = np.where((b == 0) | (b == -1), 1, b)  # x % -1 is 0; INT_MIN % -1 must not trap
    return np.asarray(np.fmod(a, safe))


def _float_arithmetic(op: str) -> Callable[..., np.ndarray]:
    def compute(a: np.ndarray, b: np.ndarray, live: BoolMask) -> np.ndarray:
        with np.errstate(all="ignore"):
            if op == "/" and np.any(live & (b == 0)):
                raise error_for("22012", "division by zero")
            result = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op](a, b)
            if np.any(live & np.isinf(result) & ~np.isinf(a) & ~np.isinf(b)):
                raise error_for("22003", "value out of range: overflow")
            if op == "*" and np.any(live & (result == 0) & (a != 0) & (b != 0)):
                raise error_for("22003", "value out of range: underflow")
            if op == "/" and np.any(live & (result == 0) & (a != 0) & ~np.isinf(b)):
                raise error_for("22003", "value out of range: underflow")
        return np.asarray(result)

    return compute


# --- numeric (decimal) arithmetic -------------------------------------------------------

DIVISION_SCALE = 16  # PostgreSQL gives at least 16 significant digits; we give 16 decimals
PRODUCT_MAX_SCALE = 20


def decimal_result_type(op: str, a: pa.Decimal128Type, b: pa.Decimal128Type) -> pa.Decimal128Type:
    """The numeric type of `a op b`: PostgreSQL's scale rules within 38 digits.

    + and - keep the larger scale, * adds the scales (at most 20 digits, then rounds half
    away from zero), / keeps max(16, both scales) digits (PostgreSQL's scale varies per
    value), % keeps the larger scale.
    """
    integer_a, integer_b = a.precision - a.scale, b.precision - b.scale
    if op in ("+", "-"):
        scale = max(a.scale, b.scale)
        return T.decimal_type(max(integer_a, integer_b) + 1 + scale, scale)
    if op == "*":
        scale = a.scale + b.scale
        if scale > PRODUCT_MAX_SCALE:
            scale = max(a.scale, b.scale, PRODUCT_MAX_SCALE)
        return T.decimal_type(integer_a + integer_b + scale, scale)
    if op == "/":
        scale = max(DIVISION_SCALE, a.scale, b.scale)
        return T.decimal_type(T.MAX_PRECISION, scale)
    scale = max(a.scale, b.scale)
    return T.decimal_type(min(integer_a, integer_b) + scale, scale)


def _wide(value: Datum, precision: int | None = None) -> Datum:
    """A decimal128 datum as decimal256 (optionally declaring another precision)."""
    t = value.type
    p = t.precision if precision is None else precision
    if isinstance(value, pa.Scalar):
        return pa.scalar(value.as_py(), pa.decimal256(p, t.scale))
    wide = pc.cast(value, pa.decimal256(t.precision, t.scale))
    return wide if p == t.precision else wide.view(pa.decimal256(p, t.scale))


def _narrow(value: Datum, out: pa.Decimal128Type) -> Datum:
    try:
        if isinstance(value, pa.Scalar):
            return pc.cast(_round_scalar(value, out.scale), out)
        return pc.cast(round_decimal(value, out.scale), out)
    except pa.ArrowInvalid as e:
        raise error_for("22003", "value overflows numeric format") from e


def _round_scalar(value: pa.Scalar, scale: int) -> pa.Scalar:
    if value.type.scale <= scale:
        return value
    return pc.round(value, ndigits=scale, round_mode="half_towards_infinity")


def _decimal_kernel(
    compute: Callable[[Datum, Datum, pa.Decimal128Type, pa.Decimal128Type], Datum],
) -> Callable[[pa.Decimal128Type, pa.Decimal128Type, pa.Decimal128Type], Kernel]:
    def build(
        a_type: pa.Decimal128Type, b_type: pa.Decimal128Type, out: pa.Decimal128Type
    ) -> Kernel:
        def kernel(values: Sequence[Datum], n: int) -> Datum:
            a, b = values
            if is_null_datum(a) or is_null_datum(b):
                return null_scalar(out)
            try:
                return _narrow(compute(a, b, a_type, b_type), out)
            except pa.ArrowInvalid as e:
                raise arrow_error(e, overflow="value overflows numeric format") from e

        return kernel

    return build


def _decimal_add(a: Datum, b: Datum, at: pa.Decimal128Type, bt: pa.Decimal128Type) -> Datum:
    return pc.add(_wide(a), _wide(b))


def _decimal_subtract(a: Datum, b: Datum, at: pa.Decimal128Type, bt: pa.Decimal128Type) -> Datum:
    return pc.subtract(_wide(a), _wide(b))


def _decimal_multiply(a: Datum, b: Datum, at: pa.Decimal128Type, bt: pa.Decimal128Type) -> Datum:
    # Arrow declares precision p1 + p2 + 1; two 38-digit operands would claim 77 > 76.
    pa_, pb = at.precision, bt.precision
    if pa_ + pb + 1 > 76:
        pa_, pb = min(pa_, 37), min(pb, 38)
    return pc.multiply(_wide(a, pa_), _wide(b, pb))


def _decimal_quotient(
    a: Datum, b: Datum, at: pa.Decimal128Type, bt: pa.Decimal128Type, scale: int
) -> Datum:
    """a / b with at least scale + 1 decimals, truncated (Arrow's decimal division).

    Arrow's quotient scale is max(4, s1 + p2 - s2 + 1); declaring the divisor's precision
    as `scale + s2 - s1` (or more) buys the digits we want.
    """
    divisor_precision = min(76, max(bt.precision, scale + bt.scale - at.scale))
    dividend_precision = min(at.precision, 75 - divisor_precision)
    return pc.divide(_wide(a, max(dividend_precision, 1)), _wide(b, divisor_precision))


def _decimal_divide(a: Datum, b: Datum, at: pa.Decimal128Type, bt: pa.Decimal128Type) -> Datum:
    out = decimal_result_type("/", at, bt)
    return _decimal_quotient(a, b, at, bt, out.scale)


def _decimal_mod(a: Datum, b: Datum, at: pa.Decimal128Type, bt: pa.Decimal128Type) -> Datum:
    quotient = pc.trunc(_decimal_quotient(a, b, at, bt, 0))
    integer_digits = max(1, at.precision - at.scale + bt.scale)
    whole = pc.cast(quotient, pa.decimal256(min(integer_digits, 76), 0))
    return pc.subtract(_wide(a), pc.multiply(whole, _wide(b)))


_DECIMAL_KERNELS = {
    "+": _decimal_kernel(_decimal_add),
    "-": _decimal_kernel(_decimal_subtract),
    "*": _decimal_kernel(_decimal_multiply),
    "/": _decimal_kernel(_decimal_divide),
    "%": _decimal_kernel(_decimal_mod),
}


# --- unary minus ------------------------------------------------------------------------


def compile_negate(arg: CompiledExpr) -> CompiledExpr:
    if arg.unknown:
        if arg.constant is not None and not arg.constant.is_valid:
            raise not_unique("-", arg, arg)
        raise error_for("42725", "operator is not unique: - unknown")
    if T.is_integer(arg.type):
        message = f"{T.INTEGER_NAMES[arg.type]} out of range"

        def negate_int(values: Sequence[Datum], n: int) -> Datum:
            try:
                return pc.negate_checked(values[0])
            except pa.ArrowInvalid as e:
                raise arrow_error(e, overflow=message) from e

        return make_call("negate", negate_int, [arg], arg.type, fallible=True)
    if T.is_float(arg.type) or T.is_decimal(arg.type):
        return make_call("negate", lambda v, n: pc.negate(v[0]), [arg], arg.type)
    if arg.type == T.INTERVAL:
        return make_call("negate", temporal.negate_interval, [arg], arg.type)
    raise operator_error("-", None, arg)


# --- comparisons --------------------------------------------------------------------------


def comparable(
    left: CompiledExpr, right: CompiledExpr, op: str
) -> tuple[CompiledExpr, CompiledExpr]:
    """Both operands converted to the type PostgreSQL compares them as (42883 if none).

    Integers compared with numerics become exact numerics (the kernel widens both to a
    common decimal256, so no value is rounded or overflows).
    """
    if left.unknown and right.unknown:
        return coerce_literal(left, T.TEXT), coerce_literal(right, T.TEXT)
    if left.unknown:
        return coerce_literal(left, right.type), right
    if right.unknown:
        return left, coerce_literal(right, left.type)
    a, b = left.type, right.type
    if a == b:
        return left, right
    if T.is_numeric(a) and T.is_numeric(b):
        target = T.numeric_promote(a, b)
        if T.is_decimal(target):
            return coerce(left, T.integer_decimal(a), op), coerce(right, T.integer_decimal(b), op)
        return coerce(left, target, op), coerce(right, target, op)
    if T.is_datetime(a) and T.is_datetime(b):
        target = T.datetime_promote(a, b)
        return coerce(left, target, op), coerce(right, target, op)
    raise operator_error(op, left, right)


def comparison_kernel(op: str, left: pa.DataType, right: pa.DataType) -> Kernel:
    """`op` (=, <>, <, <=, >, >=) over operands of the given (comparable) types."""
    if T.is_float(left):
        return _float_comparison(op)
    if left == T.INTERVAL:
        return temporal.interval_comparison(op)
    function = getattr(pc, COMPARISONS[op])
    if T.is_decimal(left) and left != right:
        assert isinstance(left, pa.Decimal128Type) and isinstance(right, pa.Decimal128Type)
        scale = max(left.scale, right.scale)
        wide = pa.decimal256(
            min(76, max(left.precision - left.scale, right.precision - right.scale) + scale), scale
        )
        return lambda values, n: function(pc.cast(values[0], wide), pc.cast(values[1], wide))
    return lambda values, n: function(values[0], values[1])


def _float_comparison(op: str) -> Kernel:
    """IEEE comparison corrected to PostgreSQL's: NaN = NaN, and NaN > every number."""
    function = getattr(pc, COMPARISONS[op])

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        a, b = values
        base = function(a, b)
        a_nan, b_nan = pc.is_nan(a), pc.is_nan(b)
        if op == "=":
            return pc.or_(base, pc.and_(a_nan, b_nan))
        if op == "<>":
            return pc.invert(pc.or_(pc.equal(a, b), pc.and_(a_nan, b_nan)))
        if op == "<":
            return pc.or_(base, pc.and_(pc.invert(a_nan), b_nan))
        if op == "<=":
            return pc.or_(base, b_nan)
        if op == ">":
            return pc.or_(base, pc.and_(a_nan, pc.invert(b_nan)))
        return pc.or_(base, a_nan)

    return kernel


def compile_comparison(op: str, left: CompiledExpr, right: CompiledExpr) -> CompiledExpr:
    left, right = comparable(left, right, op)
    kernel = comparison_kernel(op, left.type, right.type)
    return make_call(COMPARISONS[op], kernel, [left, right], T.BOOL)


def compile_distinct(left: CompiledExpr, right: CompiledExpr, *, distinct: bool) -> CompiledExpr:
    """IS [NOT] DISTINCT FROM: equality where NULL equals NULL; never NULL itself."""
    left, right = comparable(left, right, "=")
    equal = comparison_kernel("=", left.type, right.type)

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        a, b = values
        a_null, b_null = pc.is_null(a), pc.is_null(b)
        same = pc.if_else(
            pc.and_(a_null, b_null),
            True,
            pc.if_else(pc.or_(a_null, b_null), False, equal(values, n)),
        )
        return pc.invert(same) if distinct else same

    name = "is_distinct_from" if distinct else "is_not_distinct_from"
    return make_call(name, kernel, [left, right], T.BOOL, nullable=False)


def compile_in(needle: CompiledExpr, items: Sequence[CompiledExpr]) -> CompiledExpr:
    """x IN (a, b, ...): TRUE if some item equals x, else NULL if x or an item is NULL."""
    try:
        target = T.common_type([None if n.unknown else n.type for n in (needle, *items)], "IN")
    except SqlError:
        # No common type: PostgreSQL falls back to one `=` per item (42883 if none exists).
        return _in_as_comparisons(needle, items)
    needle = coerce(needle, target, "IN")
    items = [coerce(item, target, "IN") for item in items]
    constants = [item.constant for item in items]
    if target != T.INTERVAL and all(c is not None for c in constants):
        return _in_constant_set(needle, [c for c in constants if c is not None])
    return _in_as_comparisons(needle, items)


def _in_as_comparisons(needle: CompiledExpr, items: Sequence[CompiledExpr]) -> CompiledExpr:
    result: CompiledExpr | None = None
    for item in items:
        equal = compile_comparison("=", needle, item)
        result = equal if result is None else fold_or(result, equal)
    assert result is not None
    return result


def _in_constant_set(needle: CompiledExpr, values: list[pa.Scalar]) -> CompiledExpr:
    has_null = any(not v.is_valid for v in values)
    value_set = pa.array([v.as_py() for v in values if v.is_valid], needle.type)
    is_float = T.is_float(needle.type)
    if is_float:
        value_set = pc.add(value_set, pa.scalar(0.0, needle.type))  # -0.0 -> 0.0

    def kernel(args: Sequence[Datum], n: int) -> Datum:
        (x,) = args
        if is_float:
            x = pc.add(x, pa.scalar(0.0, needle.type))
        matched = pc.is_in(x, value_set=value_set)
        if has_null:
            matched = pc.if_else(matched, True, null_scalar(T.BOOL))
        return pc.if_else(pc.is_null(x), null_scalar(T.BOOL), matched)

    return make_call("in", kernel, [needle], T.BOOL, nullable=needle.nullable or has_null)


def compile_between(
    value: CompiledExpr, low: CompiledExpr, high: CompiledExpr, *, symmetric: bool = False
) -> CompiledExpr:
    forward = fold_and(compile_comparison(">=", value, low), compile_comparison("<=", value, high))
    if not symmetric:
        return forward
    backward = fold_and(compile_comparison(">=", value, high), compile_comparison("<=", value, low))
    return fold_or(forward, backward)


def compile_is_bool(value: CompiledExpr, truth: bool) -> CompiledExpr:
    """x IS TRUE / IS FALSE (never NULL)."""
    if value.unknown:
        value = coerce_literal(value, T.BOOL)
    if value.type != T.BOOL:
        raise error_for(
            "42804",
            f"argument of IS {'TRUE' if truth else 'FALSE'} must be type boolean, not type {T.pg_type_name(value.type)}",
        )

    def kernel(args: Sequence[Datum], n: int) -> Datum:
        (x,) = args
        hit = x if truth else pc.invert(x)
        return pc.fill_null(hit, False)

    return make_call("is_true" if truth else "is_false", kernel, [value], T.BOOL, nullable=False)


def compile_is_null(value: CompiledExpr) -> CompiledExpr:
    return make_call("is_null", lambda v, n: pc.is_null(v[0]), [value], T.BOOL, nullable=False)


def compile_not(value: CompiledExpr) -> CompiledExpr:
    value = require_boolean(value, "NOT")
    return make_call("not", lambda v, n: pc.invert(v[0]), [value], T.BOOL)


def require_boolean(value: CompiledExpr, context: str) -> CompiledExpr:
    """42804 unless `value` is boolean (an untyped literal is parsed as one)."""
    if value.unknown:
        return coerce_literal(value, T.BOOL)
    if value.type != T.BOOL:
        raise error_for(
            "42804",
            f"argument of {context} must be type boolean, not type {T.pg_type_name(value.type)}",
        )
    return value
