"""Functions catalog queries of drivers and BI tools use that DuckDB lacks or spells
differently: format() (Metabase), string_to_array and parse_ident (Grafana),
information_schema._pg_expandarray (pgjdbc, Metabase). The rewrites build DuckDB
expressions; format() and parse_ident() are Python UDFs (registered by pg_functions.py).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.session import pg_model


def quote_literal(text: str) -> str:
    """PostgreSQL's quote_literal: E'...' when there are backslashes."""
    body = text.replace("'", "''")
    if "\\" in body:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return f"'{body}'"


def format_text(fmt: str | None, args: list[str | None] | None) -> str | None:
    """PostgreSQL's format(): %s (the value's text, NULL as empty), %I (quote_ident),
    %L (quote_literal, NULL as NULL), %%, and n$ positions (the arguments arrive as text)."""
    if fmt is None:
        return None
    values = list(args or [])
    out: list[str] = []
    i, next_arg = 0, 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i < len(fmt) and fmt[i] == "%":
            out.append("%")
            i += 1
            continue
        digits = ""
        while i < len(fmt) and fmt[i].isdigit():
            digits += fmt[i]
            i += 1
        if digits and i < len(fmt) and fmt[i] == "$":
            next_arg = int(digits) - 1
            i += 1
        elif digits:
            raise errcodes.FeatureNotSupported("format() widths are not supported yet")
        if i >= len(fmt) or fmt[i] not in "sIL":
            raise errcodes.InvalidParameterValue("unterminated format() type specifier"
                                                 if i >= len(fmt) else
                                                 f'unrecognized format() type specifier "{fmt[i]}"')
        if next_arg >= len(values):
            raise errcodes.InvalidParameterValue("too few arguments for format()")
        value = values[next_arg]
        next_arg += 1
        kind = fmt[i]
        i += 1
        if kind == "s":
            out.append("" if value is None else value)
        elif kind == "I":
            if value is None:
                raise errcodes.NullValueNotAllowed("null values cannot be formatted as an SQL "
                                                   "identifier")
            out.append(pg_model.quote_ident(value))
        else:
            out.append("NULL" if value is None else quote_literal(value))
    return "".join(out)


def parse_ident(text: str | None) -> list[str] | None:
    """parse_ident('a."B c"'): the qualified name's parts, unquoted ones folded to lower
    case (PostgreSQL's strict mode: nothing may follow the last part)."""
    if text is None:
        return None
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            j, part = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise errcodes.InvalidParameterValue(f'string is not a valid identifier: "{text}"')
                part.append(text[j:k])
                if text[k + 1:k + 2] == '"':
                    part.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            parts.append("".join(part))
        else:
            j = i
            while i < n and (text[i].isalnum() or text[i] in "_$"):
                i += 1
            if i == j:
                raise errcodes.InvalidParameterValue(f'string is not a valid identifier: "{text}"')
            parts.append(text[j:i].lower())
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        if i < n:
            raise errcodes.InvalidParameterValue(f'string is not a valid identifier: "{text}"')
        return parts


_EXPAND_ARRAY = sqlglot.parse_one(
    "UNNEST(LIST_TRANSFORM(GENERATE_SERIES(1, LEN(laminar_array)), "
    "LAMBDA laminar_i : {'x': laminar_array[laminar_i], 'n': CAST(laminar_i AS INTEGER)}))",
    read="duckdb")


def expand_array(array: exp.Expr) -> exp.Expr:
    """information_schema._pg_expandarray(a): one (x, n) row per element, a set-returning
    function in a select list (pgjdbc's getPrimaryKeys and getIndexInfo), so an UNNEST of
    {x: element, n: position} structs; UNNESTs in one select list zip, as PostgreSQL's
    set-returning functions do."""
    result = _EXPAND_ARRAY.copy()
    for column in list(result.find_all(exp.Column)):
        if column.name == "laminar_array":
            column.replace(array.copy())
    return result


# An argument of format() as PostgreSQL's output function prints it: the engine's text,
# except booleans (t / f).
_FORMAT_ARG = sqlglot.parse_one(
    "CASE typeof(laminar_arg) WHEN 'BOOLEAN' THEN CASE CAST(laminar_arg AS VARCHAR) "
    "WHEN 'true' THEN 't' WHEN 'false' THEN 'f' END ELSE CAST(laminar_arg AS VARCHAR) END",
    read="duckdb")
# string_to_array(s, d): an empty string is an empty array in PostgreSQL
_STRING_TO_ARRAY = sqlglot.parse_one(
    "CASE WHEN laminar_arg = '' THEN CAST([] AS VARCHAR[]) "
    "ELSE string_split(laminar_arg, laminar_delimiter) END", read="duckdb")


def _template(template: exp.Expr, **values: exp.Expr) -> exp.Expr:
    result = template.copy()
    for column in list(result.find_all(exp.Column)):
        value = values.get(column.name.removeprefix("laminar_"))
        if value is not None:
            column.replace(value.copy())
    return result


def format_call(node: exp.Format) -> exp.Expr:
    args = [_template(_FORMAT_ARG, arg=a) for a in node.expressions]
    array: exp.Expr = exp.Array(expressions=args) if args else exp.Cast(
        this=exp.Array(expressions=[]), to=exp.DataType.build("VARCHAR[]", dialect="duckdb"))
    return exp.Anonymous(this="laminar_format", expressions=[exp.Cast(this=node.this, to=exp.DataType.build("VARCHAR")),
                 array])


def string_to_array(text: exp.Expr, delimiter: exp.Expr) -> exp.Expr:
    """string_to_array(s, d): an empty string is an empty array, as in PostgreSQL."""
    return _template(_STRING_TO_ARRAY, arg=text, delimiter=delimiter)
