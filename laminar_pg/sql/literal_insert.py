"""A fast reader for the most common bulk statement: INSERT ... VALUES with only literals.

`INSERT INTO t (a, b) VALUES (1, 'x'), (2, NULL), ...` of a thousand rows costs sqlglot
over 100 ms to parse, copy and print again. This module scans such a statement with one
regular expression and returns its values column-wise (each value as its literal text
and its kind), which the session loads like COPY rows. Anything it does not recognise
exactly (comments, E'' strings, casts, expressions, DEFAULT, ON CONFLICT, RETURNING,
parameters) makes it return None, and the statement takes the general path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT = r'(?:[A-Za-z_][A-Za-z_0-9$]*|"(?:[^"]|"")+")'
_HEAD = re.compile(
    rf"\s*INSERT\s+INTO\s+(?P<table>{_IDENT}(?:\s*\.\s*{_IDENT})?)\s*"
    rf"(?:\((?P<cols>\s*{_IDENT}(?:\s*,\s*{_IDENT})*\s*)\))?\s*VALUES\s*",
    re.IGNORECASE,
)
# One literal: a standard string, a number, NULL, TRUE or FALSE.
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<word>NULL|TRUE|FALSE)(?![A-Za-z_0-9$]))\s*",
    re.IGNORECASE,
)
_INTEGER = re.compile(r"[+-]?\d+")

STRING, INTEGER, NUMBER, NULL, BOOLEAN = "string", "integer", "number", "null", "boolean"


@dataclass(frozen=True, slots=True)
class LiteralRows:
    table: list[str]  # [name] or [schema, name], as PostgreSQL folds them
    columns: list[str] | None  # the column list, if given
    values: list[list[str | None]]  # column-wise literal values (strings unquoted)
    kinds: list[set[str]]  # per column, the kinds of literal seen


def _name(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def _split_names(text: str) -> list[str]:
    return [_name(m.group(0)) for m in re.finditer(_IDENT, text)]


def scan(sql: str) -> LiteralRows | None:
    """The literal rows of `INSERT INTO t [(cols)] VALUES (...), ...[;]`, or None."""
    head = _HEAD.match(sql)
    if head is None:
        return None
    pos = head.end()
    width: int | None = None
    values: list[list[str | None]] = []
    kinds: list[set[str]] = []
    n = len(sql)
    while True:
        if pos >= n or sql[pos] != "(":
            return None
        pos += 1
        row: list[tuple[str | None, str]] = []
        while True:
            m = _TOKEN.match(sql, pos)
            if m is None:
                return None
            if (text := m.group("str")) is not None:
                row.append((text[1:-1].replace("''", "'"), STRING))
            elif (text := m.group("num")) is not None:
                row.append((text, INTEGER if _INTEGER.fullmatch(text) else NUMBER))
            else:
                word = m.group("word").upper()
                row.append((None, NULL) if word == "NULL" else (word.lower(), BOOLEAN))
            pos = m.end()
            if pos < n and sql[pos] == ",":
                pos += 1
                continue
            if pos < n and sql[pos] == ")":
                pos += 1
                break
            return None
        if width is None:
            width = len(row)
            values = [[] for _ in range(width)]
            kinds = [set() for _ in range(width)]
        elif len(row) != width:
            return None  # PostgreSQL: VALUES lists must all be the same length
        for i, (value, kind) in enumerate(row):
            values[i].append(value)
            kinds[i].add(kind)
        while pos < n and sql[pos].isspace():
            pos += 1
        if pos < n and sql[pos] == ",":
            pos += 1
            while pos < n and sql[pos].isspace():
                pos += 1
            continue
        break
    rest = sql[pos:].strip()
    if rest not in ("", ";"):
        return None
    table = re.findall(_IDENT, head.group("table"))
    cols = head.group("cols")
    return LiteralRows([_name(t) for t in table], _split_names(cols) if cols else None,
                       values, kinds)
