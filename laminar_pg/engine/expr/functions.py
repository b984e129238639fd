"""The scalar functions: name -> builder, and the math functions.

A builder receives the compiled arguments and returns the compiled call, choosing the
variant PostgreSQL would (pg_proc signatures): `round(int)` and `sqrt(int)` resolve to the
double precision variant (float8 is the preferred numeric type), `round(numeric, int)`
keeps numeric, `abs` and `mod` keep integer types, and a function with no variant for
the argument types is 42883 "function f(types) does not exist".  Math on numeric that
PostgreSQL computes to arbitrary precision (sqrt, exp, ln, log, power) is computed in
double precision and returned as numeric(38, 16), rounded from 15 significant digits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import temporal, to_char
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.casts import cast, coerce, coerce_literal, float_to_numeric
from laminar_pg.engine.expr.nodes import (
    BoolMask,
    CompiledExpr,
    Constant,
    Datum,
    Kernel,
    arrow_error,
    make_call,
    numpy_kernel,
)
from laminar_pg.engine.expr.operators import compile_arithmetic, not_unique
from laminar_pg.engine.expr.patterns import build_regexp_replace
from laminar_pg.engine.expr.strings import (
    STRING_FUNCTIONS,
    array_kernel,
    check_arity,
    function_error,
)
from laminar_pg.errors import error_for

Builder = Callable[[Sequence[CompiledExpr]], CompiledExpr]
MATH_NUMERIC = pa.decimal128(T.MAX_PRECISION, 16)


def _numeric_family(
    name: str, args: Sequence[CompiledExpr], *, keep_integers: bool = False
) -> list[CompiledExpr]:
    """Arguments converted to one numeric variant: float8, numeric, or (if the function has
    integer variants and every argument is an integer) the widest integer."""
    typed: list[CompiledExpr] = []
    for a in args:
        if a.unknown:
            a = coerce_literal(a, T.FLOAT64)
        if not T.is_numeric(a.type):
            raise function_error(name, args)
        typed.append(a)
    kinds = [a.type for a in typed]
    if keep_integers and all(T.is_integer(k) for k in kinds):
        widest = max(kinds, key=T.numeric_rank)
        return [coerce(a, widest, name) for a in typed]
    if any(T.is_float(k) for k in kinds) or not any(T.is_decimal(k) for k in kinds):
        if keep_integers and all(k == T.FLOAT32 for k in kinds):
            return typed
        return [coerce(a, T.FLOAT64, name) for a in typed]
    return [coerce(a, T.integer_decimal(a.type), name) for a in typed]


def _float_function(
    name: str,
    fn: Callable[[np.ndarray], np.ndarray],
    check: Callable[[np.ndarray, BoolMask], None] | None = None,
) -> Kernel:
    def compute(x: np.ndarray, live: BoolMask) -> np.ndarray:
        with np.errstate(all="ignore"):
            if check is not None:
                check(x, live)
            result = fn(x)
            if np.any(live & np.isinf(result) & ~np.isinf(x)):
                raise error_for("22003", "value out of range: overflow")
        return result

    return numpy_kernel(compute, T.FLOAT64)


def _via_float(kernel: Kernel) -> Kernel:
    """A float8 kernel applied to numeric arguments, its result as numeric(38, 16)."""

    def numeric_kernel(values: Sequence[Datum], n: int) -> Datum:
        as_float = [pc.cast(v, T.FLOAT64) for v in values]
        result = kernel(as_float, n)
        if isinstance(result, pa.Scalar):
            if not result.is_valid:
                return pa.scalar(None, MATH_NUMERIC)
            return float_to_numeric(pa.array([result.as_py()], T.FLOAT64), T.FLOAT64, MATH_NUMERIC)[
                0
            ]
        return float_to_numeric(result, T.FLOAT64, MATH_NUMERIC)

    return numeric_kernel


def _unary_math(
    name: str,
    fn: Callable[[np.ndarray], np.ndarray],
    check: Callable[[np.ndarray, BoolMask], None] | None = None,
) -> Builder:
    float_kernel = _float_function(name, fn, check)

    def build(args: Sequence[CompiledExpr]) -> CompiledExpr:
        check_arity(name, args, 1, 1)
        (arg,) = _numeric_family(name, args)
        if T.is_decimal(arg.type):
            return make_call(name, _via_float(float_kernel), [arg], MATH_NUMERIC, fallible=True)
        return make_call(name, float_kernel, [arg], T.FLOAT64, fallible=True)  # overflow

    return build


def _check_sqrt(x: np.ndarray, live: BoolMask) -> None:
    if np.any(live & (x < 0)):
        raise error_for("2201F", "cannot take square root of a negative number")


def _check_log(x: np.ndarray, live: BoolMask) -> None:
    if np.any(live & (x == 0)):
        raise error_for("2201E", "cannot take logarithm of zero")
    if np.any(live & (x < 0)):
        raise error_for("2201E", "cannot take logarithm of a negative number")


def _exp(x: np.ndarray) -> np.ndarray:
    result = np.exp(x)
    if np.any((result == 0) & np.isfinite(x)):
        raise error_for("22003", "value out of range: underflow")
    return np.asarray(result)


def build_abs(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("abs", args, 1, 1)
    (arg,) = _numeric_family("abs", args, keep_integers=True)
    if T.is_integer(arg.type):
        message = f"{T.INTEGER_NAMES[arg.type]} out of range"

        def checked(values: Sequence[Datum], n: int) -> Datum:
            try:
                return pc.abs_checked(values[0])
            except pa.ArrowInvalid as e:
                raise arrow_error(e, overflow=message) from e

        return make_call("abs", checked, [arg], arg.type, fallible=True)
    return make_call("abs", lambda v, n: pc.abs(v[0]), [arg], arg.type)


def _rounding(name: str, mode: str) -> Builder:
    """round / trunc (with an optional digits argument), floor, ceil."""

    def build(args: Sequence[CompiledExpr]) -> CompiledExpr:
        check_arity(name, args, 1, 2 if name in ("round", "trunc") else 1)
        if len(args) == 2:
            return _round_to_digits(name, mode, args)
        (arg,) = _numeric_family(name, args)
        if T.is_decimal(arg.type):
            source = arg.type
            assert isinstance(source, pa.Decimal128Type)
            out = T.decimal_type(source.precision - source.scale + 1, 0)
            return make_call(name, _decimal_rounding(mode, 0, out), [arg], out, fallible=True)
        fn = _FLOAT_ROUNDING[mode]
        return make_call(name, numpy_kernel(lambda x, live: fn(x), T.FLOAT64), [arg], T.FLOAT64)

    return build


# round() rounds floats half to even (rint) and numerics half away from zero, as PostgreSQL.
_FLOAT_ROUNDING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "round": np.rint,
    "trunc": np.trunc,
    "floor": np.floor,
    "ceil": np.ceil,
}
_DECIMAL_ROUNDING = {
    "round": "half_towards_infinity",
    "trunc": "towards_zero",
    "floor": "down",
    "ceil": "up",
}


def _decimal_rounding(mode: str, digits: int, out: pa.DataType) -> Kernel:
    arrow_mode = _DECIMAL_ROUNDING[mode]

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        value = values[0]
        try:
            rounded = (
                pc.round(value, ndigits=digits, round_mode=arrow_mode)
                if value.type.scale > digits
                else value
            )
            return pc.cast(rounded, out)
        except pa.ArrowInvalid as e:
            raise error_for("22003", "value overflows numeric format") from e

    return kernel


def _round_to_digits(name: str, mode: str, args: Sequence[CompiledExpr]) -> CompiledExpr:
    """round(numeric, int) / trunc(numeric, int): numeric only (no float8 variant)."""
    value, digits = args
    if value.unknown:
        value = coerce_literal(value, T.NUMERIC)
    if digits.unknown:
        digits = coerce_literal(digits, T.INT32)
    if not (T.is_integer(value.type) or T.is_decimal(value.type)) or digits.type not in (
        T.INT16,
        T.INT32,
    ):
        raise function_error(name, args)
    value = coerce(value, T.integer_decimal(value.type), name)
    count = digits.constant
    if count is None:
        raise error_for(
            "0A000", f"the digits argument of {name} must be a constant in streaming expressions"
        )
    if not count.is_valid:
        return make_call(name, lambda v, n: pa.scalar(None, value.type), [value], value.type)
    places = count.as_py()
    source = value.type
    assert isinstance(source, pa.Decimal128Type)
    scale = max(0, places)
    out = T.decimal_type(source.precision - source.scale + scale + 1, scale)
    widened = pa.decimal128(min(T.MAX_PRECISION, source.precision + 1), source.scale)

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        arrow_mode = _DECIMAL_ROUNDING[mode]
        try:
            wide = pc.cast(values[0], widened)
            rounded = (
                pc.round(wide, ndigits=places, round_mode=arrow_mode)
                if places < source.scale
                else wide
            )
            return pc.cast(rounded, out)
        except pa.ArrowInvalid as e:
            raise error_for("22003", "value overflows numeric format") from e

    return make_call(name, kernel, [value], out, fallible=True)


def build_sign(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("sign", args, 1, 1)
    (arg,) = _numeric_family("sign", args)
    if T.is_decimal(arg.type):
        out = pa.decimal128(1, 0)

        def decimal_sign(values: Sequence[Datum], n: int) -> Datum:
            return pc.cast(pc.cast(pc.sign(values[0]), pa.decimal128(19, 0)), out)

        return make_call("sign", decimal_sign, [arg], out)

    def float_sign(values: Sequence[Datum], n: int) -> Datum:
        # PostgreSQL's sign(NaN) is 0 (neither > 0 nor < 0)
        return pc.if_else(pc.is_nan(values[0]), 0.0, pc.cast(pc.sign(values[0]), T.FLOAT64))

    return make_call("sign", float_sign, [arg], T.FLOAT64)


def build_mod(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("mod", args, 2, 2)
    return compile_arithmetic("%", args[0], args[1])


def build_div(args: Sequence[CompiledExpr]) -> CompiledExpr:
    """div(a, b): the integer quotient (truncated toward zero), as numeric."""
    check_arity("div", args, 2, 2)
    a, b = _numeric_family("div", args)
    if T.is_float(a.type):
        a, b = cast(a, T.NUMERIC), cast(b, T.NUMERIC)
    quotient = compile_arithmetic("/", a, b)
    source = quotient.type
    assert isinstance(source, pa.Decimal128Type)
    out = T.decimal_type(source.precision - source.scale, 0)
    return make_call("div", _decimal_rounding("trunc", 0, out), [quotient], out, fallible=True)


def _power(x: np.ndarray, y: np.ndarray, live: BoolMask) -> np.ndarray:
    with np.errstate(all="ignore"):
        if np.any(live & (x == 0) & (y < 0)):
            raise error_for("2201F", "zero raised to a negative power is undefined")
        if np.any(live & (x < 0) & (np.floor(y) != y) & np.isfinite(y)):
            raise error_for(
                "2201F", "a negative number raised to a non-integer power yields a complex result"
            )
        result = np.power(x, y)
        if np.any(live & np.isinf(result) & np.isfinite(x) & np.isfinite(y)):
            raise error_for("22003", "value out of range: overflow")
        if np.any(live & (result == 0) & (x != 0) & np.isfinite(x) & np.isfinite(y)):
            raise error_for("22003", "value out of range: underflow")
    return np.asarray(result)


def build_power(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("power", args, 2, 2)
    typed = _numeric_family("power", args)
    kernel = numpy_kernel(_power, T.FLOAT64)
    if T.is_decimal(typed[0].type):
        return make_call("power", _via_float(kernel), typed, MATH_NUMERIC, fallible=True)
    return make_call("power", kernel, typed, T.FLOAT64, fallible=True)


def build_log(args: Sequence[CompiledExpr]) -> CompiledExpr:
    """log(x) is base 10; log(b, x) exists for numeric only."""
    check_arity("log", args, 1, 2)
    if len(args) == 1:
        return _unary_math("log", np.log10, _check_log)(args)
    typed = [coerce_literal(a, T.NUMERIC) if a.unknown else a for a in args]
    if not all(T.is_integer(a.type) or T.is_decimal(a.type) for a in typed):
        raise function_error("log", args)
    typed = [coerce(a, T.integer_decimal(a.type), "log") for a in typed]

    def compute(base: np.ndarray, x: np.ndarray, live: BoolMask) -> np.ndarray:
        _check_log(base, live)
        _check_log(x, live)
        with np.errstate(all="ignore"):
            denominator = np.log(base)
            if np.any(live & (denominator == 0)):
                raise error_for("22012", "division by zero")
            return np.asarray(np.log(x) / np.where(denominator == 0, 1.0, denominator))

    return make_call(
        "log", _via_float(numpy_kernel(compute, T.FLOAT64)), typed, MATH_NUMERIC, fallible=True
    )


def build_pi(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("pi", args, 0, 0)
    return Constant(pa.scalar(np.pi, T.FLOAT64))


def _float_only(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Builder:
    kernel = _float_function(name, fn)

    def build(args: Sequence[CompiledExpr]) -> CompiledExpr:
        check_arity(name, args, 1, 1)
        (arg,) = _numeric_family(name, args)
        return make_call(
            name,
            kernel,
            [coerce(arg, T.FLOAT64, name) if not T.is_decimal(arg.type) else cast(arg, T.FLOAT64)],
            T.FLOAT64,
            fallible=True,  # overflow
        )

    return build


# --- date / time --------------------------------------------------------------------------


def _temporal_argument(
    name: str, args: Sequence[CompiledExpr], value: CompiledExpr, allowed: Sequence[pa.DataType]
) -> CompiledExpr:
    if value.unknown:
        raise error_for(
            "42725",
            f"function {name}(unknown, unknown) is not unique",
            hint="Could not choose a best candidate function. You might need to add explicit type casts.",
        )
    if value.type not in allowed:
        raise function_error(name, args)
    return value


def build_date_trunc(unit: str, value: CompiledExpr, args: Sequence[CompiledExpr]) -> CompiledExpr:
    value = _temporal_argument("date_trunc", args, value, (T.TIMESTAMP, T.TIMESTAMPTZ, T.DATE))
    kernel, out_type = temporal.date_trunc_kernel(unit, value.type)
    return make_call("date_trunc", kernel, [value], out_type)


def build_extract(field: str, value: CompiledExpr, args: Sequence[CompiledExpr]) -> CompiledExpr:
    allowed = (T.TIMESTAMP, T.TIMESTAMPTZ, T.DATE, T.TIME, T.INTERVAL)
    value = _temporal_argument("date_part", args, value, allowed)
    return make_call("extract", temporal.extract_kernel(field, value.type), [value], T.FLOAT64)


def build_to_char(value: CompiledExpr, fmt: str, args: Sequence[CompiledExpr]) -> CompiledExpr:
    if value.unknown:
        raise not_unique("to_char", value, args[1] if len(args) > 1 else value)
    if T.is_numeric(value.type):
        raise error_for("0A000", "to_char of numbers is not supported")
    if value.type == T.INTERVAL:
        raise error_for("0A000", "to_char of intervals is not supported")
    value = _temporal_argument("to_char", args, value, (T.TIMESTAMP, T.TIMESTAMPTZ, T.DATE))
    if fmt == "":
        return Constant(pa.scalar(None, T.TEXT))  # PostgreSQL: an empty template gives NULL
    return make_call("to_char", to_char.to_char_kernel(fmt, value.type), [value], T.TEXT)


def build_to_timestamp(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("to_timestamp", args, 1, 1)
    if args[0].type == T.TEXT and not args[0].unknown:
        raise error_for("0A000", "to_timestamp(text, format) is not supported")
    (value,) = _numeric_family("to_timestamp", args)
    return make_call(
        "to_timestamp",
        temporal.to_timestamp,
        [
            coerce(value, T.FLOAT64, "to_timestamp")
            if not T.is_decimal(value.type)
            else cast(value, T.FLOAT64)
        ],
        T.TIMESTAMPTZ,
        fallible=True,
    )


def build_date_trunc_call(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("date_trunc", args, 2, 2)
    unit = args[0].constant
    if unit is None or not unit.is_valid or not (args[0].unknown or args[0].type == T.TEXT):
        raise error_for("0A000", "the unit of date_trunc must be a constant text")
    return build_date_trunc(unit.as_py(), args[1], args)


FUNCTIONS: dict[str, Builder] = {
    **STRING_FUNCTIONS,
    "regexp_replace": build_regexp_replace,
    "abs": build_abs,
    "round": _rounding("round", "round"),
    "trunc": _rounding("trunc", "trunc"),
    "floor": _rounding("floor", "floor"),
    "ceil": _rounding("ceil", "ceil"),
    "ceiling": _rounding("ceiling", "ceil"),
    "sign": build_sign,
    "mod": build_mod,
    "div": build_div,
    "power": build_power,
    "pow": build_power,
    "sqrt": _unary_math("sqrt", np.sqrt, _check_sqrt),
    "exp": _unary_math("exp", _exp),
    "ln": _unary_math("ln", np.log, _check_log),
    "log": build_log,
    "log10": lambda args: build_log(args[:1]) if len(args) == 1 else build_log(args),
    "cbrt": _float_only("cbrt", np.cbrt),
    "degrees": _float_only("degrees", np.degrees),
    "radians": _float_only("radians", np.radians),
    "pi": build_pi,
    "to_timestamp": build_to_timestamp,
    "date_trunc": build_date_trunc_call,
}

# PostgreSQL functions we know and refuse (anything else unknown is 42883).
REFUSED = {
    "now": "now() in a streaming query outside a temporal filter (WHERE ts > now() - INTERVAL '1' HOUR)",
    "current_timestamp": "current_timestamp in a streaming query outside a temporal filter (WHERE ts > now() - INTERVAL '1' HOUR)",
    "clock_timestamp": "clock_timestamp() is not supported in streaming expressions",
    "statement_timestamp": "statement_timestamp() is not supported in streaming expressions",
    "transaction_timestamp": "transaction_timestamp() is not supported in streaming expressions",
    "timeofday": "timeofday() is not supported in streaming expressions",
    "random": "random() is not supported in streaming expressions (results must be deterministic)",
    "regexp_match": "regexp_match() is not supported yet",
    "regexp_matches": "regexp_matches() is not supported yet",
    "age": "age() is not supported yet",
}


def lookup(name: str) -> Builder:
    lowered = name.lower()
    if lowered in REFUSED:
        raise error_for("0A000", REFUSED[lowered])
    builder = FUNCTIONS.get(lowered)
    if builder is None:
        raise _no_function(lowered)
    return builder


def _no_function(name: str) -> Exception:
    return error_for(
        "42883",
        f"function {name} does not exist",
        hint="No function matches the given name and argument types. You might need to add explicit type casts.",
    )


__all__ = ["FUNCTIONS", "array_kernel", "lookup"]
