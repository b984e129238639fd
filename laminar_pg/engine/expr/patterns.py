"""Pattern matching: LIKE / ILIKE / NOT LIKE (with ESCAPE), the regular-expression
operators ~ ~* !~ !~*, and regexp_replace.

A constant LIKE pattern becomes the cheapest Arrow kernel that matches it exactly
(equality, starts_with, ends_with, match_substring, else an anchored RE2 expression in
which '_' is one character and '%' spans newlines); a pattern per row runs through the
numba matcher in kernels.py.  PostgreSQL escapes with a backslash unless ESCAPE says
otherwise; a pattern ending in its escape character is 22025.  Regular expressions are
RE2's, close to PostgreSQL's for the usual forms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import kernels as K
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.casts import coerce_literal
from laminar_pg.engine.expr.nodes import CompiledExpr, Datum, combine_valid, make_call, valid_mask
from laminar_pg.engine.expr.strings import (
    array_kernel,
    check_arity,
    constant_text,
    null_result,
    text_args,
)
from laminar_pg.errors import error_for


def _like_tokens(pattern: str, escape: str | None) -> list[tuple[str, bool]]:
    """A LIKE pattern as (text, is_wildcard) pieces: '%', '_' or a literal character."""
    tokens: list[tuple[str, bool]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if escape and ch == escape:
            if i + 1 >= len(pattern):
                raise error_for("22025", "LIKE pattern must not end with escape character")
            tokens.append((pattern[i + 1], False))
            i += 2
            continue
        tokens.append((ch, ch in "%_"))
        i += 1
    return tokens


def _regex_literal(text: str) -> str:
    return "".join(ch if ch.isalnum() or ord(ch) > 127 else f"\\x{ord(ch):02x}" for ch in text)


def like_matcher(pattern: str, escape: str | None, ignore_case: bool) -> Callable[[Datum], Datum]:
    """A vectorised matcher for a constant LIKE pattern.

    Literal prefixes, suffixes and substrings use Arrow's plain string kernels; anything
    else an anchored RE2 expression ('_' is one character, '%' any, newlines included).
    Arrow's own match_like mishandles escaped backslashes after a leading '%'.
    """
    tokens = _like_tokens(pattern, escape)
    wild = [w for _, w in tokens]
    literal = "".join(t for t, w in tokens if not w)
    if "_" not in {t for t, w in tokens if w}:
        stars = [i for i, w in enumerate(wild) if w]
        n = len(tokens)
        if not stars and not ignore_case:
            return lambda v: pc.equal(v, literal)
        if stars == [n - 1] and n > 1:
            return lambda v: pc.starts_with(v, literal, ignore_case=ignore_case)
        if stars == [0] and n > 1:
            return lambda v: pc.ends_with(v, literal, ignore_case=ignore_case)
        if stars == [0, n - 1] and n > 2:
            return lambda v: pc.match_substring(v, literal, ignore_case=ignore_case)
        if stars and len(stars) == n:
            return lambda v: pc.greater_equal(pc.binary_length(v), 0)  # TRUE, NULL stays NULL
    body = "".join((".*" if t == "%" else ".") if w else _regex_literal(t) for t, w in tokens)
    regex = "(?s)^" + body + "$"
    return lambda v: pc.match_substring_regex(v, regex, ignore_case=ignore_case)


def compile_like(
    value: CompiledExpr,
    pattern: CompiledExpr,
    *,
    ignore_case: bool,
    negate: bool,
    escape: CompiledExpr | None,
) -> CompiledExpr:
    op = ("!~~*" if negate else "~~*") if ignore_case else ("!~~" if negate else "~~")
    if value.unknown:
        value = coerce_literal(value, T.TEXT)
    if pattern.unknown:
        pattern = coerce_literal(pattern, T.TEXT)
    if value.type != T.TEXT or pattern.type != T.TEXT:
        from laminar_pg.engine.expr.operators import operator_error

        raise operator_error(op, value, pattern)
    escape_char: str | None = "\\"
    if escape is not None:
        escape_char = constant_text(escape, "the ESCAPE character")
        if escape_char is None:
            return null_result(T.BOOL)
        if len(escape_char) > 1:
            raise error_for(
                "22025",
                "invalid escape string",
                hint="Escape string must be empty or one character.",
            )
    name = "ilike" if ignore_case else "like"
    pattern_value = pattern.constant
    if pattern_value is not None:
        if not pattern_value.is_valid:
            return null_result(T.BOOL)
        matcher = like_matcher(pattern_value.as_py(), escape_char or None, ignore_case)

        def constant_like(values: Sequence[Datum], n: int) -> Datum:
            matched = matcher(values[0])
            return pc.invert(matched) if negate else matched

        return make_call(name, constant_like, [value], T.BOOL)
    escape_code = ord(escape_char) if escape_char else -1
    if escape_code > 127:
        raise error_for(
            "0A000",
            "a non-ASCII ESCAPE character with a non-constant LIKE pattern is not supported",
        )

    def column_like(strings: pa.Array, patterns: pa.Array) -> pa.Array:
        if ignore_case:
            strings, patterns = pc.utf8_lower(strings), pc.utf8_lower(patterns)
        offsets, data = K.string_buffers(strings)
        p_offsets, p_data = K.string_buffers(patterns)
        valid = combine_valid(valid_mask(strings), valid_mask(patterns))
        live = np.ones(len(strings), dtype=np.bool_) if valid is None else valid
        matched, bad_row = K.like_match(offsets, data, p_offsets, p_data, escape_code, live)
        if bad_row >= 0:
            raise error_for("22025", "LIKE pattern must not end with escape character")
        if negate:
            matched = ~matched
        return pa.array(matched, type=T.BOOL, mask=None if valid is None else ~valid)

    return make_call(
        name, array_kernel(column_like, T.BOOL), [value, pattern], T.BOOL, fallible=True
    )


def compile_regex_match(
    value: CompiledExpr, pattern: CompiledExpr, *, ignore_case: bool, negate: bool
) -> CompiledExpr:
    value, pattern = text_args("~*" if ignore_case else "~", [value, pattern])
    regex = constant_text(pattern, "a regular expression")
    if regex is None:
        return null_result(T.BOOL)
    _check_regex(regex)

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        matched = pc.match_substring_regex(values[0], regex, ignore_case=ignore_case)
        return pc.invert(matched) if negate else matched

    return make_call("regex_match", kernel, [value], T.BOOL)


def _check_regex(regex: str) -> None:
    try:
        pc.match_substring_regex(pa.array([""]), regex)
    except pa.ArrowInvalid as e:
        raise error_for("2201B", f"invalid regular expression: {e}") from e


def build_regexp_replace(args: Sequence[CompiledExpr]) -> CompiledExpr:
    check_arity("regexp_replace", args, 3, 4)
    string, pattern, replacement, *flags = text_args("regexp_replace", args)
    regex = constant_text(pattern, "the pattern of regexp_replace")
    rewrite = constant_text(replacement, "the replacement of regexp_replace")
    flag_text = constant_text(flags[0], "the flags of regexp_replace") if flags else ""
    if regex is None or rewrite is None or flag_text is None:
        return null_result(T.TEXT)
    unknown_flags = set(flag_text) - {"g", "i", "c"}
    if unknown_flags:
        raise error_for(
            "0A000", f"regexp_replace flags {''.join(sorted(unknown_flags))!r} are not supported"
        )
    if "i" in flag_text.replace("c", ""):
        regex = "(?i)" + regex
    _check_regex(regex)
    rewrite = rewrite.replace("\\&", "\\0")  # PostgreSQL's whole match is \&, RE2's \0
    limit = None if "g" in flag_text else 1

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        return pc.replace_substring_regex(values[0], regex, rewrite, max_replacements=limit)

    return make_call("regexp_replace", kernel, [string], T.TEXT)
