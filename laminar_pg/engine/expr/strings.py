"""String functions and operators: ||, LIKE / ILIKE, ~, and PostgreSQL's text functions.

Positions and lengths count characters (code points), as PostgreSQL's do in UTF-8.
pyarrow.compute does the work where it has a kernel taking a constant argument (a LIKE
pattern, a trim set, a replacement); per-row bounds and patterns fall back to numba
kernels over the string buffers (kernels.py).  trim() with no character list trims
spaces only, as PostgreSQL does (not tabs or newlines).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import kernels as K
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.casts import cast, coerce_literal
from laminar_pg.engine.expr.nodes import (
    CompiledExpr,
    Datum,
    Kernel,
    broadcast,
    combine_valid,
    int64s,
    is_null_datum,
    make_call,
    null_scalar,
    valid_mask,
)
from laminar_pg.errors import error_for

ArrayFn = Callable[..., pa.Array]


def array_kernel(fn: ArrayFn, out_type: pa.DataType) -> Kernel:
    """A strict kernel calling `fn` on arrays of equal length (scalars broadcast)."""

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        if any(is_null_datum(v) for v in values):
            return null_scalar(out_type)
        all_scalar = all(isinstance(v, pa.Scalar) for v in values)
        rows = 1 if all_scalar else n
        arrays = [broadcast(v, rows, v.type) for v in values]
        result = fn(*arrays)
        return result[0] if all_scalar else result

    return kernel


def constant_text(node: CompiledExpr, what: str) -> str | None:
    """The value of a constant text argument (None for NULL); 0A000 if not constant."""
    value = node.constant
    if value is None:
        raise error_for("0A000", f"{what} must be a constant in streaming expressions")
    return value.as_py() if value.is_valid else None


def as_text(node: CompiledExpr) -> CompiledExpr:
    """Any value as text (PostgreSQL's output function), untyped literals as themselves."""
    if node.unknown:
        return coerce_literal(node, T.TEXT)
    if node.type == T.TEXT:
        return node
    return cast(node, T.TEXT)


def output_text(node: CompiledExpr) -> CompiledExpr:
    """A value as its output function prints it: as `as_text`, but booleans are 't' / 'f'
    (concat and concat_ws use the output function; `::text` and `||` say 'true')."""
    if node.type == T.BOOL and not node.unknown:
        return make_call("boolout", lambda v, n: pc.if_else(v[0], "t", "f"), [node], T.TEXT)
    return as_text(node)


def null_result(out_type: pa.DataType) -> CompiledExpr:
    from laminar_pg.engine.expr.nodes import Constant

    return Constant(null_scalar(out_type))


# --- operators ----------------------------------------------------------------------------


def compile_concat_operator(left: CompiledExpr, right: CompiledExpr) -> CompiledExpr:
    """`a || b`: text with anything (the other side as text), or bytea with bytea."""
    if left.type == T.BYTEA and right.type == T.BYTEA and not (left.unknown or right.unknown):
        return make_call(
            "byteacat",
            lambda v, n: pc.binary_join_element_wise(v[0], v[1], b""),
            [left, right],
            T.BYTEA,
        )
    textual = [(n.unknown or n.type == T.TEXT) for n in (left, right)]
    if not any(textual):
        from laminar_pg.engine.expr.operators import operator_error

        raise operator_error("||", left, right)
    if left.unknown and right.type == T.BYTEA:
        left = coerce_literal(left, T.BYTEA)
        return compile_concat_operator(left, right)
    if right.unknown and left.type == T.BYTEA:
        return compile_concat_operator(left, coerce_literal(right, T.BYTEA))
    left, right = as_text(left), as_text(right)
    return make_call(
        "textcat", lambda v, n: pc.binary_join_element_wise(v[0], v[1], ""), [left, right], T.TEXT
    )


# --- argument checking --------------------------------------------------------------------


def function_error(name: str, args: Sequence[CompiledExpr]) -> Exception:
    shown = ", ".join("unknown" if a.unknown else T.pg_type_name(a.type) for a in args)
    return error_for(
        "42883",
        f"function {name}({shown}) does not exist",
        hint="No function matches the given name and argument types. You might need to add explicit type casts.",
    )


def text_args(name: str, args: Sequence[CompiledExpr]) -> list[CompiledExpr]:
    out = []
    for a in args:
        if a.unknown:
            a = coerce_literal(a, T.TEXT)
        if a.type != T.TEXT:
            raise function_error(name, args)
        out.append(a)
    return out


def _int_arg(name: str, args: Sequence[CompiledExpr], index: int) -> CompiledExpr:
    a = args[index]
    if a.unknown:
        return coerce_literal(a, T.INT32)
    if a.type == T.INT16:
        return cast(a, T.INT32)
    if a.type != T.INT32:
        raise function_error(name, args)
    return a


def check_arity(name: str, args: Sequence[CompiledExpr], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise function_error(name, args)


# --- functions ----------------------------------------------------------------------------


def _text_unary(
    name: str, fn: Callable[[Datum], Datum], out_type: pa.DataType = T.TEXT
) -> Callable[[Sequence[CompiledExpr]], CompiledExpr]:
    def build(args: Sequence[CompiledExpr]) -> CompiledExpr:
        check_arity(name, args, 1, 1)
        (arg,) = text_args(name, args)
        return make_call(name, lambda v, n: fn(v[0]), [arg], out_type)

    return build


def build_length(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("length", args, 1, 1)
    if not args[0].unknown and args[0].type == T.BYTEA:
        return make_call("length", lambda v, n: pc.binary_length(v[0]), args, T.INT32)
    (arg,) = text_args("length", args)
    return make_call("length", lambda v, n: pc.utf8_length(v[0]), [arg], T.INT32)


def build_octet_length(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("octet_length", args, 1, 1)
    arg = (
        args[0]
        if not args[0].unknown and args[0].type == T.BYTEA
        else text_args("octet_length", args)[0]
    )
    return make_call("octet_length", lambda v, n: pc.binary_length(v[0]), [arg], T.INT32)


def _slice_rows(strings: pa.Array, starts: np.ndarray, stops: np.ndarray) -> pa.Array:
    offsets, data = K.string_buffers(strings)
    out_offsets, out = K.slice_codepoints(
        offsets, data, starts.astype(np.int64), stops.astype(np.int64)
    )
    return K.string_array(out_offsets, out, valid_mask(strings))


def build_substring(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("substring", args, 2, 3)
    if (not args[1].unknown and args[1].type == T.TEXT) or (
        args[1].unknown and len(args) == 2 and _looks_textual(args[1])
    ):
        raise error_for("0A000", "substring with a regular expression is not supported")
    string = text_args("substring", args[:1])[0]
    start = _int_arg("substring", args, 1)
    length = _int_arg("substring", args, 2) if len(args) == 3 else None
    if start.constant is not None and (length is None or length.constant is not None):
        s = start.constant.as_py()
        count = None if length is None else length.constant.as_py()  # type: ignore[union-attr]
        if s is None or (length is not None and count is None):
            return null_result(T.TEXT)
        if count is not None and count < 0:
            raise error_for("22011", "negative substring length not allowed")
        begin = max(s - 1, 0)
        stop = None if count is None else max(s - 1 + count, 0)
        if stop is not None and stop <= begin:
            return make_call(
                "substring",
                lambda v, n: pc.if_else(pc.is_null(v[0]), null_scalar(T.TEXT), ""),
                [string],
                T.TEXT,
            )
        return make_call(
            "substring", lambda v, n: pc.utf8_slice_codeunits(v[0], begin, stop), [string], T.TEXT
        )

    def rows(strings: pa.Array, starts: pa.Array, *lengths: pa.Array) -> pa.Array:
        s = int64s(starts)
        begin = np.maximum(s - 1, 0)
        if lengths:
            count = int64s(lengths[0])
            live = combine_valid(valid_mask(strings), valid_mask(starts), valid_mask(lengths[0]))
            if np.any((count < 0) & (np.ones(len(count), np.bool_) if live is None else live)):
                raise error_for("22011", "negative substring length not allowed")
            stop = np.maximum(s - 1 + count, 0)
        else:
            stop = np.full(len(s), 2**62, dtype=np.int64)
        stop = np.maximum(stop, begin)
        result = _slice_rows(strings, begin, stop)
        valid = combine_valid(
            valid_mask(strings), valid_mask(starts), *(valid_mask(x) for x in lengths)
        )
        return _with_validity(result, valid)

    call_args = [string, start] + ([length] if length is not None else [])
    return make_call("substring", array_kernel(rows, T.TEXT), call_args, T.TEXT, fallible=True)


def _looks_textual(node: CompiledExpr) -> bool:
    value = node.constant
    if value is None or not value.is_valid:
        return False
    try:
        int(value.as_py())
    except ValueError:
        return True
    return False


def _with_validity(array: pa.Array, valid: np.ndarray | None) -> pa.Array:
    if valid is None or array.null_count == int(len(valid) - valid.sum()):
        return array
    return pc.if_else(pa.array(valid), array, null_scalar(array.type))


def build_left_right(name: str) -> Callable[[Sequence[CompiledExpr]], CompiledExpr]:
    def build(args: Sequence[CompiledExpr]) -> CompiledExpr:
        check_arity(name, args, 2, 2)
        string = text_args(name, args[:1])[0]
        count = _int_arg(name, args, 1)

        def rows(strings: pa.Array, counts: pa.Array) -> pa.Array:
            # Python slices over code points: left = s[:k] (k < 0 drops the last |k|),
            # right = s[-k:] (k < 0 drops the first |k|; k = 0 gives '').
            k = int64s(counts)
            big = np.full(len(k), 2**62, dtype=np.int64)
            if name == "left":
                starts, stops = np.zeros(len(k), dtype=np.int64), k
            else:
                starts, stops = np.where(k == 0, big, -k), big
            result = _slice_rows(strings, starts, stops)
            return _with_validity(result, combine_valid(valid_mask(strings), valid_mask(counts)))

        return make_call(name, array_kernel(rows, T.TEXT), [string, count], T.TEXT)

    return build


def build_position(args: Sequence[CompiledExpr]) -> CompiledExpr:
    """strpos(string, substring) / position(substring IN string): 1-based, 0 if absent."""
    check_arity("strpos", args, 2, 2)
    string, needle = text_args("strpos", args)
    needle_value = needle.constant
    if needle_value is not None:
        if not needle_value.is_valid:
            return null_result(T.INT32)
        text = needle_value.as_py()

        def find_constant(strings: pa.Array) -> pa.Array:
            byte_index = int64s(pc.find_substring(strings, text))
            offsets, data = K.string_buffers(strings)
            found = byte_index >= 0
            chars = K.codepoint_positions(
                offsets, data, np.where(found, byte_index, 0).astype(np.int64)
            )
            result = np.where(found, chars + 1, 0).astype(np.int32)
            valid = valid_mask(strings)
            return pa.array(result, type=T.INT32, mask=None if valid is None else ~valid)

        return make_call("strpos", array_kernel(find_constant, T.INT32), [string], T.INT32)

    def find_rows(strings: pa.Array, needles: pa.Array) -> pa.Array:
        offsets, data = K.string_buffers(strings)
        n_offsets, n_data = K.string_buffers(needles)
        result = K.find_codepoint(offsets, data, n_offsets, n_data).astype(np.int32)
        valid = combine_valid(valid_mask(strings), valid_mask(needles))
        return pa.array(result, type=T.INT32, mask=None if valid is None else ~valid)

    return make_call("strpos", array_kernel(find_rows, T.INT32), [string, needle], T.INT32)


def build_trim(name: str, side: str) -> Callable[[Sequence[CompiledExpr]], CompiledExpr]:
    functions = {"both": pc.utf8_trim, "leading": pc.utf8_ltrim, "trailing": pc.utf8_rtrim}

    def build(args: Sequence[CompiledExpr]) -> CompiledExpr:
        check_arity(name, args, 1, 2)
        typed = text_args(name, args)
        characters = (
            " "
            if len(typed) == 1
            else constant_text(typed[1], f"the characters argument of {name}")
        )
        if characters is None:
            return null_result(T.TEXT)
        function = functions[side]
        if characters == "":
            return typed[0]
        return make_call(name, lambda v, n: function(v[0], characters), typed[:1], T.TEXT)

    return build


def build_replace(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("replace", args, 3, 3)
    string, old, new = text_args("replace", args)
    old_text = constant_text(old, "the search string of replace")
    new_text = constant_text(new, "the replacement of replace")
    if old_text is None or new_text is None:
        return null_result(T.TEXT)
    if old_text == "":
        return string  # Arrow would loop forever on an empty pattern; PostgreSQL returns the input
    return make_call(
        "replace", lambda v, n: pc.replace_substring(v[0], old_text, new_text), [string], T.TEXT
    )


def build_split_part(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("split_part", args, 3, 3)
    string, delimiter = text_args("split_part", args[:2])
    index = _int_arg("split_part", args, 2)
    separator = constant_text(delimiter, "the delimiter of split_part")
    if separator is None:
        return null_result(T.TEXT)

    def rows(strings: pa.Array, indexes: pa.Array) -> pa.Array:
        k = int64s(indexes)
        valid = combine_valid(valid_mask(strings), valid_mask(indexes))
        live = np.ones(len(k), dtype=np.bool_) if valid is None else valid
        if np.any(live & (k == 0)):
            raise error_for("22023", "field position must not be zero")
        if separator == "":
            whole = (k == 1) | (k == -1)
            return _with_validity(pc.if_else(pa.array(whole), strings, ""), valid)
        lists = pc.split_pattern(pc.fill_null(strings, ""), separator)
        lengths = int64s(pc.list_value_length(lists))
        position = np.where(k > 0, k - 1, lengths + k)
        inside = (position >= 0) & (position < lengths)
        starts = np.asarray(lists.offsets)[:-1].astype(np.int64)
        flat = lists.flatten()
        picked = pc.take(flat, pa.array(starts + np.where(inside, position, 0), mask=~inside))
        return _with_validity(pc.fill_null(picked, ""), valid)

    return make_call(
        "split_part", array_kernel(rows, T.TEXT), [string, index], T.TEXT, fallible=True
    )


def build_concat(args: Sequence[CompiledExpr]) -> CompiledExpr:
    """concat(any, ...): NULLs are skipped; never NULL."""
    if not args:
        raise function_error("concat", args)
    texts = [output_text(a) for a in args]

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        if all(isinstance(v, pa.Scalar) for v in values):
            return pa.scalar("".join(v.as_py() or "" for v in values))
        arrays = [broadcast(v, n, T.TEXT) for v in values]
        return pc.binary_join_element_wise(
            *arrays, "", null_handling="replace", null_replacement=""
        )

    return make_call("concat", kernel, texts, T.TEXT, nullable=False)


def build_concat_ws(args: Sequence[CompiledExpr]) -> CompiledExpr:
    """concat_ws(separator, any, ...): separator between the non-NULL values."""
    if len(args) < 2:
        raise function_error("concat_ws", args)
    separator = text_args("concat_ws", args[:1])[0]
    texts = [output_text(a) for a in args[1:]]

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        all_scalar = all(isinstance(v, pa.Scalar) for v in values)
        rows = 1 if all_scalar else n
        sep, *items = [broadcast(v, rows, T.TEXT) for v in values]
        seen = np.zeros(rows, dtype=np.bool_)
        pieces = []
        for item in items:
            present = ~np.asarray(item.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
            prefix = pc.if_else(pa.array(seen), sep, "")
            pieces.append(
                pc.if_else(
                    pa.array(present),
                    pc.binary_join_element_wise(prefix, pc.fill_null(item, ""), ""),
                    "",
                )
            )
            seen |= present
        joined = pc.binary_join_element_wise(*pieces, "")
        result = pc.if_else(pc.is_null(sep), null_scalar(T.TEXT), joined)
        return result[0] if all_scalar else result

    return make_call("concat_ws", kernel, [separator, *texts], T.TEXT, nullable=separator.nullable)


def build_pad(name: str) -> Callable[[Sequence[CompiledExpr]], CompiledExpr]:
    left = name == "lpad"

    def build(args: Sequence[CompiledExpr]) -> CompiledExpr:
        check_arity(name, args, 2, 3)
        string = text_args(name, args[:1])[0]
        length = _int_arg(name, args, 1)
        fill = text_args(name, args[2:3])[0] if len(args) == 3 else None

        def rows(strings: pa.Array, lengths: pa.Array, *fills: pa.Array) -> pa.Array:
            width = np.maximum(int64s(lengths), 0)
            fill_text = fills[0] if fills else pa.repeat(pa.scalar(" "), len(strings))
            current = int64s(pc.utf8_length(strings))
            zeros = np.zeros(len(width), dtype=np.int64)
            cut = _slice_rows(strings, zeros, width)
            fill_length = int64s(pc.utf8_length(fill_text))
            missing = np.where(fill_length > 0, np.maximum(width - current, 0), 0)
            copies = np.where(fill_length > 0, -(-missing // np.maximum(fill_length, 1)), 0)
            padding = _slice_rows(
                pc.binary_repeat(pc.fill_null(fill_text, ""), pa.array(copies)), zeros, missing
            )
            parts = (padding, cut) if left else (cut, padding)
            result = pc.binary_join_element_wise(*parts, "")
            valid = combine_valid(
                valid_mask(strings), valid_mask(lengths), *(valid_mask(f) for f in fills)
            )
            return _with_validity(result, valid)

        call_args = [string, length] + ([fill] if fill is not None else [])
        return make_call(name, array_kernel(rows, T.TEXT), call_args, T.TEXT)

    return build


def build_repeat(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("repeat", args, 2, 2)
    string = text_args("repeat", args[:1])[0]
    count = _int_arg("repeat", args, 1)

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        try:
            return pc.binary_repeat(values[0], pc.max_element_wise(values[1], 0, skip_nulls=False))
        except (pa.ArrowCapacityError, pa.ArrowInvalid, MemoryError) as e:
            raise error_for("54000", "requested length too large") from e

    return make_call("repeat", kernel, [string, count], T.TEXT, fallible=True)


def build_initcap(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("initcap", args, 1, 1)
    (string,) = text_args("initcap", args)

    def rows(strings: pa.Array) -> pa.Array:
        lower_offsets, lower = K.string_buffers(pc.utf8_lower(strings))
        upper_offsets, upper = K.string_buffers(pc.utf8_upper(strings))
        out_offsets, out = K.initcap_merge(lower_offsets, lower, upper_offsets, upper)
        return K.string_array(out_offsets, out, valid_mask(strings))

    return make_call("initcap", array_kernel(rows, T.TEXT), [string], T.TEXT)


def build_starts_with(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("starts_with", args, 2, 2)
    string, prefix = text_args("starts_with", args)
    prefix_value = prefix.constant
    if prefix_value is not None:
        if not prefix_value.is_valid:
            return null_result(T.BOOL)
        text = prefix_value.as_py()
        return make_call("starts_with", lambda v, n: pc.starts_with(v[0], text), [string], T.BOOL)

    def rows(strings: pa.Array, prefixes: pa.Array) -> pa.Array:
        k = int64s(pc.utf8_length(prefixes))
        head = _slice_rows(strings, np.zeros(len(k), dtype=np.int64), k)
        return pc.equal(head, prefixes)

    return make_call("starts_with", array_kernel(rows, T.BOOL), [string, prefix], T.BOOL)


def build_md5(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("md5", args, 1, 1)
    arg = args[0] if not args[0].unknown and args[0].type == T.BYTEA else text_args("md5", args)[0]

    def rows(values: pa.Array) -> pa.Array:
        offsets, data = K.string_buffers(values)
        out_offsets, out = K.md5_hex(offsets, data)
        return K.string_array(out_offsets, out, valid_mask(values))

    return make_call("md5", array_kernel(rows, T.TEXT), [arg], T.TEXT)


STRING_FUNCTIONS: dict[str, Callable[[Sequence[CompiledExpr]], CompiledExpr]] = {
    "lower": _text_unary("lower", pc.utf8_lower),
    "upper": _text_unary("upper", pc.utf8_upper),
    "reverse": _text_unary("reverse", pc.utf8_reverse),
    "length": build_length,
    "char_length": build_length,
    "character_length": build_length,
    "octet_length": build_octet_length,
    "substring": build_substring,
    "substr": build_substring,
    "strpos": build_position,
    "left": build_left_right("left"),
    "right": build_left_right("right"),
    "btrim": build_trim("btrim", "both"),
    "ltrim": build_trim("ltrim", "leading"),
    "rtrim": build_trim("rtrim", "trailing"),
    "replace": build_replace,
    "split_part": build_split_part,
    "concat": build_concat,
    "concat_ws": build_concat_ws,
    "lpad": build_pad("lpad"),
    "rpad": build_pad("rpad"),
    "repeat": build_repeat,
    "initcap": build_initcap,
    "starts_with": build_starts_with,
    "md5": build_md5,
}
