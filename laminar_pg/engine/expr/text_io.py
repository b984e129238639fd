"""PostgreSQL's text forms: the output functions (what `::text`, `||` and the wire show)
and the input functions (text -> number, boolean, date and time, bytea).

Input follows PostgreSQL's input functions (surrounding whitespace ignored, 't' / 'yes' /
'on' for booleans, 'NaN' / 'Infinity' for floats, a timestamp's zone offset ignored by
timestamp and applied by timestamptz) and fails with PostgreSQL's SQLSTATE: 22P02 for
numbers and booleans, 22007 for dates and times (22008 when well formed but out of
range), 22003 when a value is out of the type's range.  Output matches PostgreSQL's
(shortest float digits in float8out's layout, 'true' / 'false', '2020-01-01 12:00:00.5',
'2020-01-01 12:00:00+00', '1 day 02:00:00', '\\x0aff').
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import intervals
from laminar_pg.engine.expr import kernels as K
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.decimals import round_decimal, to_decimal
from laminar_pg.engine.expr.nodes import (
    ArrayFn,
    Kernel,
    first_failing,
    null_scalar,
    raise_invalid_text,
    unary,
    valid_mask,
)
from laminar_pg.errors import error_for

WHITESPACE = " \t\n\r\f\v"


def text_kernel(source: pa.DataType) -> Kernel:
    """PostgreSQL's output function for `source`, as a kernel producing text."""
    return unary(text_output(source), T.TEXT)


def text_output(source: pa.DataType) -> ArrayFn:
    if source == T.TEXT:
        return lambda a: a
    if T.is_integer(source) or source == T.DATE:
        return lambda a: pc.cast(a, T.TEXT)
    if T.is_decimal(source):
        return _decimal_text
    if T.is_float(source):
        limit = 6 if source == T.FLOAT32 else 15
        return lambda a: _float_text(a, limit)
    if source == T.BOOL:
        return lambda a: pc.if_else(a, "true", "false")
    if source == T.TIMESTAMP or source == T.TIME:
        return lambda a: _strip_zero_fraction(pc.cast(a, T.TEXT))
    if source == T.TIMESTAMPTZ:
        return lambda a: pc.binary_join_element_wise(
            _strip_zero_fraction(pc.cast(pc.cast(a, T.TIMESTAMP), T.TEXT)), "+00", ""
        )
    if source == T.INTERVAL:
        return intervals.interval_text
    if source == T.BYTEA:
        return _bytea_text
    raise error_for("0A000", f"no text form for {source}")


def _decimal_text(a: pa.Array) -> pa.Array:
    """Plain digits with every decimal of the scale ('0.0000', never Arrow's '0E-4')."""
    scale = a.type.scale
    if scale == 0:
        return pc.cast(a, T.TEXT)
    integers = a.view(pa.decimal128(a.type.precision, 0))
    digits = pc.utf8_lpad(pc.cast(pc.abs(integers), T.TEXT), scale + 1, "0")
    sign = pc.if_else(pc.less(integers, pa.scalar(0, integers.type)), "-", "")
    whole = pc.utf8_slice_codeunits(digits, 0, -scale)
    fraction = pc.utf8_slice_codeunits(digits, -scale, 2**31 - 1)
    return pc.binary_join_element_wise(sign, whole, ".", fraction, "")


def _strip_zero_fraction(text: pa.Array) -> pa.Array:
    # Arrow always prints six fractional digits; PostgreSQL drops trailing zeros.
    return pc.replace_substring_regex(text, r"\.?0+$", "")


def _float_text(a: pa.Array, exponent_limit: int) -> pa.Array:
    shortest = pc.cast(a, T.TEXT)
    offsets, data = K.string_buffers(shortest)
    out_offsets, out = K.pg_float_text(offsets, data, exponent_limit)
    return K.string_array(out_offsets, out, valid_mask(a))


def _bytea_text(a: pa.Array) -> pa.Array:
    offsets, data = K.string_buffers(a)
    out_offsets, out = K.hex_with_prefix(offsets, data, b"\\x")
    return K.string_array(out_offsets, out, valid_mask(a))


def text_length(length: int, blank_padded: bool) -> Kernel:
    """varchar(n) truncates on an explicit cast; char(n) also pads with spaces."""

    def fit(a: pa.Array) -> pa.Array:
        cut = pc.utf8_slice_codeunits(a, 0, length)
        return pc.utf8_rpad(cut, length, " ") if blank_padded else cut

    return unary(fit, T.TEXT)


# --- text input -------------------------------------------------------------------------


def _trim(a: pa.Array) -> pa.Array:
    return pc.utf8_trim(a, WHITESPACE)


def _check_syntax(
    original: pa.Array, ok: pa.Array, type_name: str, sqlstate: str = "22P02"
) -> None:
    bad = ~np.asarray(ok.fill_null(True).to_numpy(zero_copy_only=False), dtype=np.bool_)
    if bad.any():
        raise_invalid_text(type_name, first_failing(original, bad), sqlstate)


def _parse_int(a: pa.Array, target: pa.DataType) -> pa.Array:
    name = T.INTEGER_NAMES[target]
    trimmed = _trim(a)
    _check_syntax(a, pc.match_substring_regex(trimmed, r"^[+-]?[0-9]+$"), name)
    unsigned = pc.replace_substring_regex(trimmed, r"^\+", "")
    try:
        wide = pc.cast(unsigned, T.INT64)
        return pc.cast(wide, target)
    except pa.ArrowInvalid:
        low, high = T.INTEGER_BOUNDS[target]
        numbers = pc.cast(unsigned, pa.decimal256(76, 0))
        out = pc.or_(
            pc.less(numbers, pa.scalar(low, pa.decimal256(76, 0))),
            pc.greater(numbers, pa.scalar(high, pa.decimal256(76, 0))),
        )
        bad = np.asarray(out.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)
        value = first_failing(a, bad)
        raise error_for("22003", f'value "{value}" is out of range for type {name}') from None


_FLOAT_SPECIALS = [
    "nan",
    "+nan",
    "-nan",
    "inf",
    "+inf",
    "-inf",
    "infinity",
    "+infinity",
    "-infinity",
]


def _parse_float(a: pa.Array, target: pa.DataType) -> pa.Array:
    name = T.pg_type_name(target)
    trimmed = _trim(a)
    pattern = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
    special = pc.is_in(pc.utf8_lower(trimmed), value_set=pa.array(_FLOAT_SPECIALS))
    _check_syntax(a, pc.or_(pc.match_substring_regex(trimmed, pattern), special), name)
    result = pc.cast(trimmed, target)
    overflowed = pc.and_(pc.is_inf(result), pc.invert(special))
    bad = np.asarray(overflowed.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)
    if bad.any():
        raise error_for("22003", f'"{first_failing(a, bad)}" is out of range for type {name}')
    return result


def parse_numeric(a: pa.Array, target: pa.DataType, exact: bool = False) -> pa.Array:
    """Text to numeric; `exact` (an unconstrained NUMERIC) refuses to drop digits (22003)."""
    assert isinstance(target, pa.Decimal128Type)
    trimmed = _trim(a)
    special = pc.is_in(pc.utf8_lower(trimmed), value_set=pa.array(_FLOAT_SPECIALS))
    if pc.any(special).as_py():
        raise error_for("0A000", "numeric NaN and infinity are not supported")
    pattern = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
    _check_syntax(a, pc.match_substring_regex(trimmed, pattern), "numeric")
    try:
        wide = pc.cast(
            pc.replace_substring_regex(trimmed, r"^\+", ""), pa.decimal256(76, T.MAX_PRECISION)
        )
    except pa.ArrowInvalid as e:
        raise error_for("22003", "value overflows numeric format") from e
    if exact:
        assert isinstance(target, pa.Decimal128Type)
        lost = pc.not_equal(round_decimal(wide, target.scale), wide)
        bad = np.asarray(lost.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)
        if bad.any():
            raise error_for(
                "22003",
                f'numeric value "{first_failing(a, bad)}" has more than {target.scale} fractional digits',
                hint=f"Cast to numeric(p, s) with s <= {target.scale} to round it.",
            )
    return to_decimal(wide, target)


_TRUE = ["t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"]
_FALSE = ["f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"]


def _parse_bool(a: pa.Array, target: pa.DataType) -> pa.Array:
    word = pc.utf8_lower(_trim(a))
    true = pc.is_in(word, value_set=pa.array(_TRUE))
    false = pc.is_in(word, value_set=pa.array(_FALSE))
    _check_syntax(a, pc.or_(true, false), "boolean")
    return pc.if_else(pc.is_null(a), null_scalar(T.BOOL), true)


_TIME_PART = r"([0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]*)?)?)"
_OFFSET = r"\s*(?:[zZ]|UTC|utc|GMT|gmt|[+-][0-9]{1,2}(?::?[0-9]{2})?)"
_NONDETERMINISTIC = ["now", "today", "tomorrow", "yesterday", "infinity", "-infinity", "+infinity"]


_WELL_FORMED = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]*)?)?)?.*|[0-9]{1,2}:[0-9]{2}.*"
)


def _with_row_errors(
    parse: ArrayFn, text: pa.Array, original: pa.Array, type_name: str
) -> pa.Array:
    """parse(text); when Arrow rejects a value, find which one (row by row, on this error
    path only) for PostgreSQL's message: 22008 if it is well formed but out of range
    ('2020-13-01', '25:00'), else 22007."""
    try:
        return parse(text)
    except pa.ArrowInvalid:
        for index in range(len(text)):
            if text[index].is_valid:
                try:
                    parse(text.slice(index, 1))
                except pa.ArrowInvalid:
                    value = original[index].as_py()
                    if _WELL_FORMED.fullmatch(str(value).strip()):
                        message = f'date/time field value out of range: "{value}"'
                        raise error_for("22008", message) from None
                    raise_invalid_text(type_name, value, "22007")
        raise


def _normalise_datetime_text(a: pa.Array, kind: str) -> pa.Array:
    trimmed = _trim(a)
    word = pc.utf8_lower(trimmed)
    if pc.any(pc.is_in(word, value_set=pa.array(_NONDETERMINISTIC))).as_py():
        raise error_for(
            "0A000", f"special {kind} values (now, today, infinity, ...) are not supported"
        )
    text = pc.if_else(pc.equal(word, "epoch"), "1970-01-01 00:00:00", trimmed)
    # 2020-1-5 -> 2020-01-05; a 'T' between date and time -> ' '
    text = pc.replace_substring_regex(text, r"^([0-9]{4})-([0-9])([^0-9]|$)", r"\1-0\2\3")
    text = pc.replace_substring_regex(text, r"^([0-9]{4}-[0-9]{2})-([0-9])([^0-9]|$)", r"\1-0\2\3")
    return pc.replace_substring_regex(text, r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[tT ]+", r"\1 ")


def _timestamp_rows(text: pa.Array, target: pa.DataType) -> pa.Array:
    has_offset = pc.match_substring_regex(text, _TIME_PART + _OFFSET + "$")
    if target == T.TIMESTAMP:
        # timestamp without time zone ignores a zone offset, as PostgreSQL does
        return pc.cast(
            pc.replace_substring_regex(text, _TIME_PART + _OFFSET + "$", r"\1"), T.TIMESTAMP
        )
    text = pc.replace_substring_regex(text, _TIME_PART + r"\s*(?:[zZ]|UTC|utc|GMT|gmt)$", r"\1+00")
    text = pc.replace_substring_regex(text, _TIME_PART + r"\s+([+-])", r"\1\2")
    null_text = null_scalar(T.TEXT)
    zoned = pc.cast(pc.if_else(has_offset, text, null_text), T.TIMESTAMPTZ)
    local = pc.cast(pc.cast(pc.if_else(has_offset, null_text, text), T.TIMESTAMP), T.TIMESTAMPTZ)
    return pc.coalesce(zoned, local)


def _parse_timestamp(a: pa.Array, target: pa.DataType) -> pa.Array:
    name = "timestamp" if target == T.TIMESTAMP else "timestamp with time zone"
    text = _normalise_datetime_text(a, "timestamp")
    return _with_row_errors(lambda t: _timestamp_rows(t, target), text, a, name)


def _parse_date(a: pa.Array, target: pa.DataType) -> pa.Array:
    text = _normalise_datetime_text(a, "date")
    try:
        return pc.cast(text, T.DATE)
    except pa.ArrowInvalid:
        return _with_row_errors(
            lambda t: pc.cast(_timestamp_rows(t, T.TIMESTAMP), T.DATE, safe=False),
            text,
            a,
            "date",
        )


def _parse_time(a: pa.Array, target: pa.DataType) -> pa.Array:
    trimmed = _trim(a)
    ok = pc.match_substring_regex(trimmed, "^" + _TIME_PART + "(" + _OFFSET + ")?$")
    _check_syntax(a, ok, "time", "22007")
    naive = pc.replace_substring_regex(trimmed, "^" + _TIME_PART + ".*$", r"\1")
    stamped = pc.binary_join_element_wise("1970-01-01 ", naive, "")
    return _with_row_errors(
        lambda t: pc.cast(pc.cast(t, T.TIMESTAMP), T.TIME, safe=False),
        stamped,
        a,
        "time",
    )


def _parse_bytea(a: pa.Array, target: pa.DataType) -> pa.Array:
    offsets, data = K.string_buffers(a)
    valid = valid_mask(a)
    live = np.ones(len(a), dtype=np.bool_) if valid is None else valid
    out_offsets, out, bad_row = K.parse_bytea(offsets, data, live)
    if bad_row >= 0:
        value = a[bad_row].as_py()
        if value.startswith("\\x"):
            raise error_for("22023", f'invalid hexadecimal data: "{value}"')
        raise_invalid_text("bytea", value)
    return K.string_array(out_offsets, out, valid, T.BYTEA)


TEXT_INPUT: dict[str, Callable[[pa.Array, pa.DataType], pa.Array]] = {
    "int": _parse_int,
    "float": _parse_float,
    "numeric": parse_numeric,
    "bool": _parse_bool,
    "timestamp": _parse_timestamp,
    "date": _parse_date,
    "time": _parse_time,
    "bytea": _parse_bytea,
    "text": lambda a, t: a,
}
