"""CAST and ::, and the implicit conversions operators and functions apply.

Every conversion is a vectorised kernel chosen at compile time from the source and
target types (text in and out lives in text_io).  Numeric rounding is PostgreSQL's:
numeric -> integer and numeric -> numeric(p, s) round half away from zero; float ->
integer rounds half to even (rint); float -> numeric rounds the float's 15 significant
digits (6 for real), as float8_numeric does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import intervals
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.decimals import numeric_overflow, round_decimal, to_decimal
from laminar_pg.engine.expr.nodes import (
    CompiledExpr,
    Constant,
    Kernel,
    int64s,
    make_call,
    null_scalar,
    raise_invalid_text,
    unary,
    valid_mask,
)
from laminar_pg.engine.expr.text_io import TEXT_INPUT, parse_numeric, text_kernel, text_length
from laminar_pg.errors import error_for


@dataclass(frozen=True)
class Typmod:
    """What a type name adds to its Arrow type: varchar(n) length, timestamp(p) precision,
    and whether a NUMERIC had no precision (its scale then follows the value)."""

    length: int | None = None
    precision: int | None = None
    unconstrained_numeric: bool = False
    blank_padded: bool = False


# --- implicit conversions -------------------------------------------------------------


def can_coerce(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether PostgreSQL converts `source` to `target` implicitly."""
    if source == target:
        return True
    if T.is_numeric(source) and T.is_numeric(target):
        return T.numeric_rank(source) <= T.numeric_rank(target)
    if T.is_datetime(source) and T.is_datetime(target):
        order = [T.DATE, T.TIMESTAMP, T.TIMESTAMPTZ]
        return order.index(source) <= order.index(target)
    return bool(source == T.TIME and target == T.INTERVAL)


def coerce(node: CompiledExpr, target: pa.DataType, context: str) -> CompiledExpr:
    """`node` as `target`: an untyped literal is parsed now, others cast implicitly."""
    if node.unknown:
        return coerce_literal(node, target)
    if node.type == target:
        return node
    if not can_coerce(node.type, target):
        raise error_for(
            "42804",
            f"argument of {context} must be type {T.pg_type_name(target)}, not type {T.pg_type_name(node.type)}",
        )
    return cast(node, target)


def coerce_literal(node: CompiledExpr, target: pa.DataType) -> CompiledExpr:
    """An untyped literal ('1', NULL) given a type: parsed now, errors raised now."""
    value = node.constant
    assert value is not None
    if not value.is_valid:
        return Constant(null_scalar(target))
    if T.is_decimal(target):
        target = literal_numeric_type(value.as_py())
    return cast(Constant(value), target, eager=True)


def literal_numeric_type(text: str) -> pa.Decimal128Type:
    """The exact numeric an input string needs (unconstrained NUMERIC keeps every digit)."""
    try:
        parsed = Decimal(text.strip())
    except InvalidOperation:
        raise_invalid_text("numeric", text)
    if not parsed.is_finite():
        raise error_for("0A000", f'numeric value "{text}" is not supported (NaN and infinity)')
    return T.literal_decimal_type(parsed)


# --- CAST -------------------------------------------------------------------------------


def cast(
    node: CompiledExpr, target: pa.DataType, typmod: Typmod | None = None, *, eager: bool = False
) -> CompiledExpr:
    """CAST(node AS target); `eager` raises a constant's error now instead of at run time."""
    typmod = typmod or Typmod()
    source = node.type
    if node.unknown and node.constant is not None and not node.constant.is_valid:
        return Constant(null_scalar(target))
    if T.is_decimal(target) and typmod.unconstrained_numeric:
        target = _unconstrained_numeric_target(node)
    if source == T.TEXT and target == T.INTERVAL:
        return _text_to_interval(node)
    kernel = cast_kernel(source, target, typmod)
    if kernel is None:
        raise error_for(
            "42846", f"cannot cast type {T.pg_type_name(source)} to {T.pg_type_name(target)}"
        )
    if source == target and not _has_typmod_work(target, typmod):
        return node
    name = f"cast_{T.pg_type_name(target).replace(' ', '_')}"
    result = make_call(name, kernel, [node], target, fallible=not _cannot_fail(source, target))
    if eager and result.constant is None and node.constant is not None:
        kernel([node.constant], 1)  # raises the error make_call deferred
    return result


def _unconstrained_numeric_target(node: CompiledExpr) -> pa.DataType:
    if node.unknown and node.constant is not None:
        return literal_numeric_type(node.constant.as_py())
    if T.is_integer(node.type) or T.is_decimal(node.type):
        return T.integer_decimal(node.type)
    return T.NUMERIC


def _has_typmod_work(target: pa.DataType, typmod: Typmod) -> bool:
    return typmod.length is not None or typmod.precision is not None


def _cannot_fail(source: pa.DataType, target: pa.DataType) -> bool:
    if target == T.TEXT:
        return True
    if T.is_integer(source) and (
        T.is_float(target)
        or (T.is_integer(target) and T.numeric_rank(target) >= T.numeric_rank(source))
    ):
        return True
    return T.is_datetime(source) and T.is_datetime(target)


def _text_to_interval(node: CompiledExpr) -> CompiledExpr:
    value = node.constant
    if value is None:
        raise error_for("0A000", "casting non-constant text to interval is not supported")
    if not value.is_valid:
        return Constant(null_scalar(T.INTERVAL))
    return Constant(intervals.parse_interval(value.as_py()))


def cast_kernel(source: pa.DataType, target: pa.DataType, typmod: Typmod) -> Kernel | None:
    """The kernel converting `source` to `target`, or None if PostgreSQL has no such cast."""
    if target == T.TEXT:
        kernel = text_kernel(source)
        if typmod.length is not None:
            return _then(kernel, text_length(typmod.length, typmod.blank_padded))
        return kernel
    if source == T.TEXT and typmod.unconstrained_numeric and T.is_decimal(target):
        return unary(lambda a: parse_numeric(a, target, exact=True), target)
    if source == T.TEXT:
        fn = TEXT_INPUT.get(_family(target))
        if fn is None:
            return None
        return _then(unary(lambda a: fn(a, target), target), _precision_kernel(target, typmod))
    fn2 = _CASTS.get((_family(source), _family(target)))
    if fn2 is None:
        return None
    return _then(unary(lambda a: fn2(a, source, target), target), _precision_kernel(target, typmod))


def _then(first: Kernel, second: Kernel | None) -> Kernel:
    if second is None:
        return first
    return lambda values, n: second([first(values, n)], n)


def _family(t: pa.DataType) -> str:
    if T.is_integer(t):
        return "int"
    if T.is_float(t):
        return "float"
    if T.is_decimal(t):
        return "numeric"
    return {
        T.TEXT: "text",
        T.BOOL: "bool",
        T.DATE: "date",
        T.TIMESTAMP: "timestamp",
        T.TIMESTAMPTZ: "timestamp",
        T.TIME: "time",
        T.INTERVAL: "interval",
        T.BYTEA: "bytea",
    }.get(t, "other")


# --- numbers ----------------------------------------------------------------------------


def _int_to_int(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    try:
        return pc.cast(a, target)
    except pa.ArrowInvalid as e:
        raise error_for("22003", f"{T.INTEGER_NAMES[target]} out of range") from e


def _to_float(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    result = pc.cast(a, target, safe=False)
    if T.is_float(source) and target == T.FLOAT32 and len(a):
        before = a.to_numpy(zero_copy_only=False)
        after = result.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            if np.any(np.isinf(after) & np.isfinite(before)):
                raise error_for("22003", "value out of range: overflow")
            if np.any((after == 0) & (before != 0) & ~np.isnan(before)):
                raise error_for("22003", "value out of range: underflow")
    return result


def _float_to_int(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    values = a.to_numpy(zero_copy_only=False)
    valid = valid_mask(a)
    live = np.ones(len(a), dtype=np.bool_) if valid is None else valid
    with np.errstate(invalid="ignore"):
        rounded = np.rint(values)
        low, high = T.INTEGER_BOUNDS[target]
        bad = live & ~((rounded >= float(low)) & (rounded < float(high) + 1.0))
    if np.any(bad):
        raise error_for("22003", f"{T.INTEGER_NAMES[target]} out of range")
    rounded = np.where(live, rounded, 0)
    return pa.array(
        rounded.astype(target.to_pandas_dtype()),
        type=target,
        mask=None if valid is None else ~valid,
    )


def _int_to_numeric(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    return to_decimal(pc.cast(a, T.integer_decimal(source)), target)


def _numeric_to_numeric(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    return to_decimal(a, target)


def _numeric_to_int(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    try:
        return pc.cast(round_decimal(a, 0), target)
    except pa.ArrowInvalid as e:
        raise error_for("22003", f"{T.INTEGER_NAMES[target]} out of range") from e


def float_to_numeric(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    """float8_numeric: the value's 15 significant digits (real: 6), rounded to the scale."""
    assert isinstance(target, pa.Decimal128Type)
    digits = 6 if source == T.FLOAT32 else 15
    x = pc.cast(a, T.FLOAT64).to_numpy(zero_copy_only=False)
    valid = valid_mask(a)
    live = np.ones(len(x), dtype=np.bool_) if valid is None else valid.copy()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if np.any(live & np.isinf(x)):
            raise numeric_overflow(target)
        has_nan = bool(np.any(live & np.isnan(x)))
        live &= ~np.isnan(x)
        nonzero = live & (x != 0)
        exponent = np.where(
            nonzero, np.floor(np.log10(np.abs(np.where(nonzero, x, 1.0)))), 0
        ).astype(np.int64)
        decimals = (digits - 1) - exponent
        half = decimals // 2
        mantissa = np.rint(
            x * 10.0 ** half.astype(np.float64) * 10.0 ** (decimals - half).astype(np.float64)
        )
        bumped = np.abs(mantissa) >= 10.0**digits
        mantissa = np.where(bumped, np.rint(mantissa / 10.0), mantissa)
        decimals = np.where(bumped, decimals - 1, decimals)
    mantissa_int = np.where(nonzero, mantissa, 0).astype(np.int64)
    decimals = np.where(nonzero, decimals, 0)
    excess = decimals - target.scale
    shift = np.clip(excess, 0, 18)
    divisor = 10**shift
    quotient, remainder = np.divmod(np.abs(mantissa_int), divisor)
    quotient = quotient + (2 * remainder >= divisor)
    rounded = np.where(excess > 0, np.sign(mantissa_int) * quotient, mantissa_int)
    rounded = np.where(excess > 18, 0, rounded)
    decimals = np.minimum(decimals, target.scale)
    text = pc.binary_join_element_wise(
        pc.cast(pa.array(rounded), pa.string()), "e", pc.cast(pa.array(-decimals), pa.string()), ""
    )
    try:
        result = pc.cast(text, target)
    except pa.ArrowInvalid as e:
        raise numeric_overflow(target) from e
    if has_nan:
        raise error_for("0A000", "numeric NaN is not supported")
    if valid is not None:
        result = pc.if_else(pa.array(valid), result, null_scalar(target))
    return result


def _numeric_to_float(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    return pc.cast(a, target, safe=False)


def _int_to_bool(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    return pc.not_equal(a, pa.scalar(0, source))


def _bool_to_int(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    return pc.cast(a, target)


# --- date and time ----------------------------------------------------------------------


def _datetime_to_datetime(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    if target == T.DATE:
        return pc.cast(a, T.DATE, safe=False)  # floors to the day
    if source == T.DATE:
        return pc.cast(pc.cast(a, T.TIMESTAMP), target)
    return pc.cast(a, target)  # timestamp <-> timestamptz: the session zone is UTC


def _timestamp_to_time(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    return pc.cast(pc.cast(a, T.TIMESTAMP), T.TIME, safe=False)


def _time_to_interval(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    micros = int64s(pc.cast(a, T.INT64))
    zeros = np.zeros(len(a), dtype=np.int64)
    return intervals.interval_array(zeros, zeros, micros * intervals.NS_PER_US, valid_mask(a))


def _interval_to_time(a: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    _, _, nanos = intervals.interval_parts(a)
    micros = np.mod(nanos // intervals.NS_PER_US, intervals.US_PER_DAY)
    valid = valid_mask(a)
    return pa.array(micros, type=T.INT64, mask=None if valid is None else ~valid).cast(T.TIME)


_CASTS: dict[tuple[str, str], Callable[[pa.Array, pa.DataType, pa.DataType], pa.Array]] = {
    ("int", "int"): _int_to_int,
    ("int", "float"): _to_float,
    ("int", "numeric"): _int_to_numeric,
    ("int", "bool"): lambda a, s, t: _int_to_bool(a, s, t) if s == T.INT32 else _no_cast(s, t),
    ("bool", "int"): lambda a, s, t: _bool_to_int(a, s, t) if t == T.INT32 else _no_cast(s, t),
    ("float", "int"): _float_to_int,
    ("float", "float"): _to_float,
    ("float", "numeric"): float_to_numeric,
    ("numeric", "int"): _numeric_to_int,
    ("numeric", "float"): _numeric_to_float,
    ("numeric", "numeric"): _numeric_to_numeric,
    ("date", "date"): _datetime_to_datetime,
    ("date", "timestamp"): _datetime_to_datetime,
    ("timestamp", "date"): _datetime_to_datetime,
    ("timestamp", "timestamp"): _datetime_to_datetime,
    ("timestamp", "time"): _timestamp_to_time,
    ("time", "time"): lambda a, s, t: a,
    ("time", "interval"): _time_to_interval,
    ("interval", "time"): _interval_to_time,
    ("interval", "interval"): lambda a, s, t: a,
    ("bool", "bool"): lambda a, s, t: a,
    ("bytea", "bytea"): lambda a, s, t: a,
}


def _no_cast(source: pa.DataType, target: pa.DataType) -> pa.Array:
    raise error_for(
        "42846", f"cannot cast type {T.pg_type_name(source)} to {T.pg_type_name(target)}"
    )


def _precision_kernel(target: pa.DataType, typmod: Typmod) -> Kernel | None:
    """timestamp(p) / time(p): round to p fractional digits, half away from zero."""
    if (
        typmod.precision is None
        or typmod.precision >= 6
        or not (T.is_timestamp(target) or target == T.TIME)
    ):
        return None
    step = 10 ** (6 - typmod.precision)

    def round_micros(a: pa.Array) -> pa.Array:
        micros = pc.cast(a, T.INT64)
        values = int64s(micros)
        magnitude = (np.abs(values) + step // 2) // step * step
        if target == T.TIME:  # PostgreSQL's 24:00:00 does not fit Arrow's time64
            magnitude = np.minimum(magnitude, intervals.US_PER_DAY - step)
        valid = valid_mask(micros)
        rounded = pa.array(
            np.sign(values) * magnitude, type=T.INT64, mask=None if valid is None else ~valid
        )
        return rounded.cast(target)

    return unary(round_micros, target)


# --- text output ------------------------------------------------------------------------
