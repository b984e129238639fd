"""Parse sqllogictest scripts into typed records.

The format is SQLite's (see the corpus README and sqllogictest's about.wiki), with the two
extensions that sqllogictest-rs and DuckDB added and that laminar_pg's own .slt files use:

* results may be written one row per line (values separated by whitespace) as well as one
  value per line; both layouts are kept as raw lines and the runner accepts either;
* `statement error <regex>`, `query error <regex>` and `statement count <n>`.

Strategy: a script is split into blank-line separated blocks after comment lines (`#` in column
one) are dropped, exactly as the C runner's preprocessor does; each block is one record whose
first line picks the record kind from a dispatch table.  `skipif` / `onlyif` lines prefix a
record and become its conditions.  Every record keeps the 1-based line of its first line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal

COLUMN_TYPES = frozenset("ITR")
"""Type letters of a `query` record: I integer, T text, R real (printed with "%.3f")."""

_HASH_LINE = re.compile(r"^(\d+) values hashing to ([0-9a-fA-F]{32})$")
_RESULT_SEPARATOR = "----"


class SltParseError(ValueError):
    """The script is not valid sqllogictest; the message starts with `file:line:`."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location


class SortMode(Enum):
    """How result values are ordered before they are compared."""

    NOSORT = "nosort"
    ROWSORT = "rowsort"
    VALUESORT = "valuesort"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a record starts: a file name and a 1-based line number."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Condition:
    """A `skipif <engine>` or `onlyif <engine>` prefix line."""

    kind: Literal["skipif", "onlyif"]
    engine: str

    def allows(self, engine: str) -> bool:
        """Whether a record carrying this condition runs on `engine`."""
        if self.kind == "skipif":
            return self.engine != engine
        return self.engine == engine


def conditions_allow(conditions: Sequence[Condition], engine: str) -> bool:
    """Whether every condition of a record lets it run on `engine`."""
    return all(condition.allows(engine) for condition in conditions)


@dataclass(frozen=True, slots=True)
class ExpectedValues:
    """Expected results written out, one value per line or one row per line."""

    lines: tuple[str, ...]

    def is_row_layout(self, column_count: int) -> bool:
        """True when every line holds `column_count` whitespace-separated values (and > 1)."""
        return column_count > 1 and all(len(line.split()) == column_count for line in self.lines)

    def values(self, column_count: int) -> tuple[str, ...]:
        """The expected values in order, whichever layout the script used."""
        if self.is_row_layout(column_count):
            return tuple(value for line in self.lines for value in line.split())
        return self.lines


@dataclass(frozen=True, slots=True)
class ExpectedHash:
    """Expected results given as `N values hashing to <md5>`."""

    count: int
    md5: str

    def __str__(self) -> str:
        return f"{self.count} values hashing to {self.md5}"


ExpectedResult = ExpectedValues | ExpectedHash


@dataclass(frozen=True, slots=True)
class Statement:
    """`statement ok`, `statement error [regex]` or `statement count N`, then SQL.

    `error_pattern` is a regex searched for in the error message (None: any error will do);
    `error_text`, from the `----` block of a `statement error`, must equal the message.
    """

    location: Location
    conditions: tuple[Condition, ...]
    sql: str
    expect_error: bool = False
    error_pattern: str | None = None
    error_text: str | None = None
    expected_count: int | None = None


@dataclass(frozen=True, slots=True)
class Query:
    """`query <types> [sort mode] [label]`, SQL, then optionally `----` and the results.

    `query error [regex]` sets `expect_error` (and then `types` is empty).
    """

    location: Location
    conditions: tuple[Condition, ...]
    sql: str
    types: str
    sort_mode: SortMode = SortMode.NOSORT
    label: str | None = None
    expected: ExpectedResult = ExpectedValues(())
    expect_error: bool = False
    error_pattern: str | None = None
    # `... retry N backoff 100ms` (sqllogictest-rs): re-run up to N more times, waiting
    # `backoff` seconds between tries, until the result matches (a streaming source
    # finishing, for instance): a wait on a condition, not a sleep.
    retry: int = 0
    backoff: float = 0.0


@dataclass(frozen=True, slots=True)
class HashThreshold:
    """`hash-threshold N`: results with more than N values are compared by their md5."""

    location: Location
    threshold: int


@dataclass(frozen=True, slots=True)
class Halt:
    """`halt`: ignore the rest of the script (when its conditions allow it)."""

    location: Location
    conditions: tuple[Condition, ...]


Record = Statement | Query | HashThreshold | Halt


@dataclass(frozen=True, slots=True)
class _Block:
    """The non-comment lines of one record, each with its 1-based line number."""

    lines: tuple[tuple[int, str], ...]


def _blocks(text: str) -> Iterator[_Block]:
    """Split a script into records: comment lines vanish, blank lines separate."""
    current: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                yield _Block(tuple(current))
                current = []
            continue
        current.append((number, line))
    if current:
        yield _Block(tuple(current))


def _strip_trailing_comment(line: str) -> str:
    """`onlyif mssql  # why` -> `onlyif mssql` (only for control lines, never for SQL)."""
    return line.split("#", 1)[0].strip()


def parse(text: str, path: str = "<string>") -> list[Record]:
    """Parse a whole script; raise SltParseError on the first malformed record."""
    records: list[Record] = []
    for block in _blocks(text):
        records.extend(_parse_block(block, path))
    return records


def parse_file(path: str | Path) -> list[Record]:
    """Parse the script at `path` (UTF-8); locations name the path as given."""
    return parse(Path(path).read_text(encoding="utf-8"), str(path))


def _parse_block(block: _Block, path: str) -> list[Record]:
    conditions: list[Condition] = []
    lines = list(block.lines)
    while lines:
        number, line = lines[0]
        words = _strip_trailing_comment(line).split()
        if words and words[0] in ("skipif", "onlyif"):
            if len(words) != 2:
                raise SltParseError(Location(path, number), f"expected `{words[0]} <engine>`")
            kind: Literal["skipif", "onlyif"] = "skipif" if words[0] == "skipif" else "onlyif"
            conditions.append(Condition(kind, words[1]))
            lines.pop(0)
            continue
        break
    if not lines:
        # Conditions with nothing after them: the C runner ignores such a block too.
        return []
    number, header = lines[0]
    location = Location(path, number)
    keyword = header.split(maxsplit=1)[0]
    parser = _RECORD_PARSERS.get(keyword)
    if parser is None:
        raise SltParseError(location, f"unknown record type {keyword!r}")
    return [parser(location, tuple(conditions), header, lines[1:])]


def _split_results(
    lines: Sequence[tuple[int, str]],
) -> tuple[str, tuple[str, ...] | None]:
    """SQL text up to a `----` line, and the lines after it (None when there is no `----`)."""
    sql_lines: list[str] = []
    for index, (_, line) in enumerate(lines):
        if line.strip() == _RESULT_SEPARATOR:
            return "\n".join(sql_lines), tuple(text for _, text in lines[index + 1 :])
        sql_lines.append(line)
    return "\n".join(sql_lines), None


def _require_sql(location: Location, sql: str) -> str:
    if not sql.strip():
        raise SltParseError(location, "record has no SQL")
    return sql


def _parse_statement(
    location: Location,
    conditions: tuple[Condition, ...],
    header: str,
    body: Sequence[tuple[int, str]],
) -> Record:
    parts = header.split(maxsplit=2)
    mode = parts[1] if len(parts) > 1 else ""
    argument = parts[2].strip() if len(parts) > 2 else None
    sql, results = _split_results(body)
    sql = _require_sql(location, sql)
    if mode == "ok" and argument is None and results is None:
        return Statement(location, conditions, sql)
    if mode == "error":
        error_text = "\n".join(results).strip() if results is not None else None
        return Statement(location, conditions, sql, True, argument or None, error_text)
    if mode == "count" and argument is not None and argument.isdigit() and results is None:
        return Statement(location, conditions, sql, expected_count=int(argument))
    raise SltParseError(location, f"expected `statement ok|error [regex]|count N`, got {header!r}")


def _parse_query(
    location: Location,
    conditions: tuple[Condition, ...],
    header: str,
    body: Sequence[tuple[int, str]],
) -> Record:
    words = header.split()
    retry, backoff = 0, 0.0
    if "retry" in words:
        at = words.index("retry")
        tail = words[at:]
        if len(tail) != 4 or tail[2] != "backoff" or not tail[1].isdigit():
            raise SltParseError(location, f"expected `retry N backoff DURATION`: {header!r}")
        from laminar_pg.config import parse_duration

        retry, backoff = int(tail[1]), parse_duration(tail[3])
        words = words[:at]
        header = " ".join(words)
    sql, results = _split_results(body)
    sql = _require_sql(location, sql)
    if len(words) >= 2 and words[1] == "error":
        pattern = header.split(maxsplit=2)[2].strip() if len(words) > 2 else None
        return Query(location, conditions, sql, "", expect_error=True, error_pattern=pattern)
    if len(words) < 2 or len(words) > 4:
        raise SltParseError(location, f"expected `query <types> [sort mode] [label]`: {header!r}")
    types = words[1]
    if not set(types) <= COLUMN_TYPES:
        raise SltParseError(location, f"column types must be letters from I, T, R: {types!r}")
    sort_mode = SortMode.NOSORT
    if len(words) >= 3:
        try:
            sort_mode = SortMode(words[2])
        except ValueError:
            raise SltParseError(
                location, f"sort mode must be nosort, rowsort or valuesort: {words[2]!r}"
            ) from None
    label = words[3] if len(words) == 4 else None
    return Query(location, conditions, sql, types, sort_mode, label, _expected(results),
                 retry=retry, backoff=backoff)


def _expected(results: tuple[str, ...] | None) -> ExpectedResult:
    if not results:
        return ExpectedValues(())
    if len(results) == 1:
        match = _HASH_LINE.match(results[0].strip())
        if match is not None:
            return ExpectedHash(int(match.group(1)), match.group(2).lower())
    return ExpectedValues(results)


def _parse_hash_threshold(
    location: Location,
    conditions: tuple[Condition, ...],
    header: str,
    body: Sequence[tuple[int, str]],
) -> Record:
    words = _strip_trailing_comment(header).split()
    if len(words) != 2 or not words[1].isdigit() or body or conditions:
        raise SltParseError(location, f"expected `hash-threshold N` alone: {header!r}")
    return HashThreshold(location, int(words[1]))


def _parse_halt(
    location: Location,
    conditions: tuple[Condition, ...],
    header: str,
    body: Sequence[tuple[int, str]],
) -> Record:
    if _strip_trailing_comment(header) != "halt" or body:
        raise SltParseError(location, f"expected `halt` alone: {header!r}")
    return Halt(location, conditions)


_RecordParser = Callable[[Location, tuple[Condition, ...], str, Sequence[tuple[int, str]]], Record]

_RECORD_PARSERS: dict[str, _RecordParser] = {
    "statement": _parse_statement,
    "query": _parse_query,
    "hash-threshold": _parse_hash_threshold,
    "halt": _parse_halt,
}
