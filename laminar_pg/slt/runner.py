"""Run sqllogictest scripts against a PostgreSQL-protocol server through psycopg.

Strategy: one autocommit connection per script (a failed statement leaves no aborted
transaction behind, so the script goes on).  Every column is loaded as the server's text form
(a raw-text loader replaces psycopg's type loaders), so what is compared is what the server
sent, never a Python re-rendering of it:

* NULL -> `NULL`; the empty string -> `(empty)` (any column type);
* `I`: printf("%d") of the value; a value that is not integral (numeric `2.5`, float `1.5`,
  a boolean, text) is a failure, never truncated: the server must return integers where the
  script says `I` (numeric `3.000` or float `3` are integral and print as `3`);
* `R`: printf("%.3f") of the value read as a double, as the C runner prints it;
* `T`: the text as is, except that control characters become `@` (the C runner's rule, so
  a value stays on one line; printable non-ASCII text is kept).

`--protocol simple` sends each record as a simple Query message (psycopg with no parameters
and prepare=False); `extended` prepares it (Parse/Bind/Describe/Execute/Sync, prepare=True).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any

import psycopg
from psycopg.adapt import AdaptersMap, Buffer, Loader

from laminar_pg.slt.parser import (
    ExpectedHash,
    ExpectedValues,
    Halt,
    HashThreshold,
    Location,
    Query,
    Record,
    SortMode,
    Statement,
    conditions_allow,
    parse_file,
)

DEFAULT_URL = "postgresql://laminar@127.0.0.1:6875/laminar"
DEFAULT_ENGINE = "postgresql"
SCRIPT_SUFFIXES = (".slt", ".test")
NULL = "NULL"
EMPTY = "(empty)"
PREVIEW_LINES = 8
"""How many expected / actual lines a short failure report shows."""

_INTEGER = re.compile(r"^[+-]?\d+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INVALID_OID = 0  # psycopg falls back to the loader of this OID for any unknown type


# ---------------------------------------------------------------------------- value rendering


class ValueTypeError(ValueError):
    """A value cannot be shown as its column's type letter (e.g. 2.5 in an `I` column)."""


def format_value(raw: str | None, column_type: str) -> str:
    """One value as a script writes it; `raw` is the server's text form (None: NULL)."""
    if raw is None:
        return NULL
    if raw == "":
        return EMPTY
    if column_type == "I":
        return _format_integer(raw)
    if column_type == "R":
        return _format_real(raw)
    return _CONTROL.sub("@", raw)


def _format_integer(raw: str) -> str:
    text = raw.strip()
    if _INTEGER.match(text):
        return str(int(text))
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueTypeError(f"{raw!r} in an I column is not a number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueTypeError(f"{raw!r} in an I column is not an integer")
    return str(int(number))


def _format_real(raw: str) -> str:
    try:
        number = float(raw)
    except ValueError:
        raise ValueTypeError(f"{raw!r} in an R column is not a number") from None
    return f"{number:.3f}"


def hash_values(values: Iterable[str]) -> str:
    """md5 hex digest of the values, each followed by a newline (sqllogictest.c's hash)."""
    digest = hashlib.md5(usedforsecurity=False)
    for value in values:
        digest.update(value.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


class _RawTextLoader(Loader):
    """Keeps a column as the text the server sent (results are requested in text format)."""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode("utf-8")


def _raw_text_adapters() -> AdaptersMap:
    adapters = AdaptersMap()
    adapters.register_loader(_INVALID_OID, _RawTextLoader)
    return adapters


# ---------------------------------------------------------------------------- configuration


class Protocol(Enum):
    """Which PostgreSQL query sub-protocol carries the records."""

    SIMPLE = "simple"
    EXTENDED = "extended"


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """How to run scripts: where to connect, how, and as which engine name."""

    url: str = DEFAULT_URL
    protocol: Protocol = Protocol.SIMPLE
    engine: str = DEFAULT_ENGINE
    fail_fast: bool = False
    hash_threshold: int = 0
    connect_timeout_s: int = 10


# ---------------------------------------------------------------------------- outcomes


class Outcome(Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """Why one record failed, with enough context to reproduce it."""

    location: Location
    sql: str
    reason: str
    expected: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()

    def render(self, max_lines: int | None = PREVIEW_LINES) -> str:
        """A report: `file:line: reason`, the SQL, expected and actual lines (maybe cut)."""
        parts = [f"{self.location}: {self.reason}", _indent("sql:", self.sql.splitlines())]
        if self.expected or self.actual:
            parts.append(_indent("expected:", _preview(self.expected, max_lines)))
            parts.append(_indent("actual:", _preview(self.actual, max_lines)))
        return "\n".join(parts)


def _preview(lines: Sequence[str], max_lines: int | None) -> list[str]:
    if max_lines is None or len(lines) <= max_lines:
        return list(lines)
    return [*lines[:max_lines], f"... ({len(lines) - max_lines} more lines)"]


def _indent(title: str, lines: Sequence[str]) -> str:
    return "\n".join([f"  {title}", *(f"    {line}" for line in lines)])


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The outcome of one statement or query record."""

    location: Location
    kind: str
    outcome: Outcome
    seconds: float = 0.0
    failure: RecordFailure | None = None


@dataclass(slots=True)
class FileResult:
    """Every record outcome of one script."""

    path: str
    records: list[RecordResult] = field(default_factory=list)
    seconds: float = 0.0
    halted_at: Location | None = None
    error: str | None = None
    """A problem with the script as a whole (parse error, no connection): counts as a failure."""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for record in self.records if record.outcome is outcome)

    @property
    def passed(self) -> int:
        return self.count(Outcome.PASSED)

    @property
    def failed(self) -> int:
        return self.count(Outcome.FAILED) + (1 if self.error is not None else 0)

    @property
    def skipped(self) -> int:
        return self.count(Outcome.SKIPPED)

    @property
    def run(self) -> int:
        return self.count(Outcome.PASSED) + self.count(Outcome.FAILED)

    @property
    def failures(self) -> list[RecordFailure]:
        return [record.failure for record in self.records if record.failure is not None]

    def summary_line(self) -> str:
        halted = f", halted at line {self.halted_at.line}" if self.halted_at else ""
        return (
            f"{self.path}: {self.run} run, {self.passed} passed, {self.failed} failed, "
            f"{self.skipped} skipped in {self.seconds:.2f}s{halted}"
        )


@dataclass(slots=True)
class RunSummary:
    """The results of every script of one run."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def run(self) -> int:
        return sum(result.run for result in self.files)

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.files)

    @property
    def failed(self) -> int:
        return sum(result.failed for result in self.files)

    @property
    def skipped(self) -> int:
        return sum(result.skipped for result in self.files)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary_line(self) -> str:
        return (
            f"{len(self.files)} file(s): {self.run} run, {self.passed} passed, "
            f"{self.failed} failed, {self.skipped} skipped in {self.seconds:.2f}s"
        )


class _FailFast(Exception):
    """Raised inside a run to stop at the first failure."""


# ---------------------------------------------------------------------------- the runner


@dataclass(slots=True)
class _ScriptState:
    """What a script changes as it runs: its hash threshold and its query labels."""

    hash_threshold: int
    labels: dict[str, tuple[str, Location]] = field(default_factory=dict)


class _Session:
    """The script's connection, opened on first use and reopened if the server dropped it."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._connection: psycopg.Connection[Any] | None = None

    def connection(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed or self._connection.broken:
            self.close()
            self._connection = self._connect()
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SltRunner:
    """Runs parsed scripts over psycopg; one connection per script."""

    def __init__(self, config: RunnerConfig | None = None) -> None:
        self.config = config or RunnerConfig()
        self._prepare = self.config.protocol is Protocol.EXTENDED

    # -- files

    def run_paths(
        self,
        paths: Iterable[str | Path],
        on_file: Callable[[FileResult], None] | None = None,
    ) -> RunSummary:
        """Run every script under `paths` (files, or directories of *.slt / *.test)."""
        summary = RunSummary()
        started = time.perf_counter()
        for script in collect_scripts(paths):
            result = self.run_file(script)
            summary.files.append(result)
            if on_file is not None:
                on_file(result)
            if self.config.fail_fast and result.failed:
                break
        summary.seconds = time.perf_counter() - started
        return summary

    def run_file(self, path: str | Path) -> FileResult:
        """Parse and run one script; a parse error fails the file without running it."""
        try:
            records = parse_file(path)
        except (ValueError, OSError) as exc:
            return FileResult(str(path), error=f"{path}: cannot read script: {exc}")
        return self.run_records(records, str(path))

    def run_records(self, records: Sequence[Record], path: str = "<string>") -> FileResult:
        """Run already parsed records on a fresh connection."""
        result = FileResult(path)
        started = time.perf_counter()
        session = _Session(self._connect)
        try:
            self._run_all(session, records, result)
        except _FailFast:
            pass
        except psycopg.OperationalError as exc:
            result.error = f"{path}: cannot connect to {self.config.url}: {exc}"
        finally:
            session.close()
            result.seconds = time.perf_counter() - started
        return result

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.config.url,
            autocommit=True,
            context=_raw_text_adapters(),
            connect_timeout=self.config.connect_timeout_s,
        )

    def _run_all(self, session: _Session, records: Sequence[Record], result: FileResult) -> None:
        state = _ScriptState(self.config.hash_threshold)
        engine = self.config.engine
        for index, record in enumerate(records):
            if isinstance(record, HashThreshold):
                state.hash_threshold = record.threshold
                continue
            if isinstance(record, Halt):
                if conditions_allow(record.conditions, engine):
                    result.halted_at = record.location
                    result.records.extend(_skipped(records[index + 1 :]))
                    return
                continue
            if not conditions_allow(record.conditions, engine):
                result.records.extend(_skipped([record]))
                continue
            outcome = self._run_record(session.connection(), record, state)
            result.records.append(outcome)
            if outcome.outcome is Outcome.FAILED and self.config.fail_fast:
                raise _FailFast

    def _run_record(
        self, connection: psycopg.Connection[Any], record: Statement | Query, state: _ScriptState
    ) -> RecordResult:
        kind = "statement" if isinstance(record, Statement) else "query"
        started = time.perf_counter()
        if isinstance(record, Statement):
            failure = self._run_statement(connection, record)
        else:
            failure = self._run_query(connection, record, state)
        seconds = time.perf_counter() - started
        outcome = Outcome.PASSED if failure is None else Outcome.FAILED
        return RecordResult(record.location, kind, outcome, seconds, failure)

    # -- statements

    def _run_statement(
        self, connection: psycopg.Connection[Any], record: Statement
    ) -> RecordFailure | None:
        with connection.cursor() as cursor:
            try:
                cursor.execute(record.sql, prepare=self._prepare)
            except psycopg.Error as exc:
                if record.expect_error:
                    return _check_error(record.location, record.sql, exc, record)
                return RecordFailure(
                    record.location, record.sql, f"statement failed: {_describe(exc)}"
                )
            if record.expect_error:
                return RecordFailure(
                    record.location, record.sql, "statement succeeded but an error was expected"
                )
            if record.expected_count is not None and cursor.rowcount != record.expected_count:
                return RecordFailure(
                    record.location,
                    record.sql,
                    f"statement affected {cursor.rowcount} rows, expected {record.expected_count}",
                )
        return None

    # -- queries

    def _run_query(
        self, connection: psycopg.Connection[Any], record: Query, state: _ScriptState
    ) -> RecordFailure | None:
        failure = self._run_query_once(connection, record, state)
        for _ in range(record.retry):
            if failure is None:
                break
            time.sleep(record.backoff)
            failure = self._run_query_once(connection, record, state)
        return failure

    def _run_query_once(
        self, connection: psycopg.Connection[Any], record: Query, state: _ScriptState
    ) -> RecordFailure | None:
        with connection.cursor() as cursor:
            try:
                cursor.execute(record.sql, prepare=self._prepare)
                description = cursor.description
                rows: list[tuple[str | None, ...]] = cursor.fetchall() if description else []
            except psycopg.Error as exc:
                if record.expect_error:
                    return _check_error(record.location, record.sql, exc, record)
                return RecordFailure(record.location, record.sql, f"query failed: {_describe(exc)}")
        if record.expect_error:
            return RecordFailure(
                record.location, record.sql, "query succeeded but an error was expected"
            )
        if description is None:
            return RecordFailure(record.location, record.sql, "query returned no result set")
        if len(description) != len(record.types):
            return RecordFailure(
                record.location,
                record.sql,
                f"query returned {len(description)} columns, expected {len(record.types)} "
                f"({record.types})",
            )
        try:
            formatted = [
                tuple(
                    format_value(value, letter)
                    for value, letter in zip(row, record.types, strict=True)
                )
                for row in rows
            ]
        except ValueTypeError as exc:
            return RecordFailure(record.location, record.sql, f"wrong value type: {exc}")
        return _compare(record, _sort(formatted, record), state)


def _sort(rows: list[tuple[str, ...]], record: Query) -> list[tuple[str, ...]]:
    """Apply the sort mode; valuesort regroups the sorted values into rows again."""
    if record.sort_mode is SortMode.ROWSORT:
        return sorted(rows)
    if record.sort_mode is SortMode.VALUESORT:
        values = sorted(value for row in rows for value in row)
        width = len(record.types)
        return [tuple(values[i : i + width]) for i in range(0, len(values), width)]
    return rows


def _compare(
    record: Query, rows: list[tuple[str, ...]], state: _ScriptState
) -> RecordFailure | None:
    values = [value for row in rows for value in row]
    digest = hash_values(values)
    expected = record.expected
    if isinstance(expected, ExpectedHash):
        if expected.count != len(values) or expected.md5 != digest:
            return RecordFailure(
                record.location,
                record.sql,
                "result differs",
                (str(expected),),
                (f"{len(values)} values hashing to {digest}", *values),
            )
    elif not _values_match(expected, rows, values):
        shown = (
            [" ".join(row) for row in rows] if expected.is_row_layout(len(record.types)) else values
        )
        return RecordFailure(
            record.location, record.sql, "result differs", expected.lines, tuple(shown)
        )
    return _check_label(record, len(values), digest, state)


def _values_match(expected: ExpectedValues, rows: list[tuple[str, ...]], values: list[str]) -> bool:
    """One value per line, or one row per line with values separated by whitespace."""
    if list(expected.lines) == values:
        return True
    if len(expected.lines) != len(rows) or len(rows) == 0:
        return False
    return all(
        line.split() == " ".join(row).split()
        for line, row in zip(expected.lines, rows, strict=True)
    )


def _check_label(
    record: Query, count: int, digest: str, state: _ScriptState
) -> RecordFailure | None:
    """Queries sharing a label must give the same values (their hash is compared)."""
    if record.label is None:
        return None
    seen = state.labels.get(record.label)
    if seen is None:
        state.labels[record.label] = (f"{count} values hashing to {digest}", record.location)
        return None
    previous, where = seen
    if previous != f"{count} values hashing to {digest}":
        return RecordFailure(
            record.location,
            record.sql,
            f"label {record.label} gave a different result than at {where}",
            (previous,),
            (f"{count} values hashing to {digest}",),
        )
    return None


def _describe(exc: psycopg.Error) -> str:
    sqlstate = exc.sqlstate or "-----"
    return f"[{sqlstate}] {exc.diag.message_primary or str(exc)}"


def _check_error(
    location: Location, sql: str, exc: psycopg.Error, record: Statement | Query
) -> RecordFailure | None:
    """An expected error: does its message match the record's regex or exact text?"""
    message = exc.diag.message_primary or str(exc)
    pattern = record.error_pattern
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            return RecordFailure(location, sql, f"bad error regex {pattern!r}: {err}")
        candidates = (message, str(exc), exc.sqlstate or "")
        if not any(regex.search(candidate) for candidate in candidates):
            return RecordFailure(
                location,
                sql,
                f"error {_describe(exc)} does not match {pattern!r}",
            )
    if isinstance(record, Statement) and record.error_text:
        if message.strip() != record.error_text:
            return RecordFailure(
                location, sql, "error message differs", (record.error_text,), (message,)
            )
    return None


def _skipped(records: Iterable[Record]) -> Iterator[RecordResult]:
    for record in records:
        if isinstance(record, Statement | Query):
            kind = "statement" if isinstance(record, Statement) else "query"
            yield RecordResult(record.location, kind, Outcome.SKIPPED)


def collect_scripts(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; directories expand to their *.slt and *.test files, sorted."""
    scripts: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and p.suffix in SCRIPT_SUFFIXES]
            scripts.extend(sorted(found))
        else:
            scripts.append(path)
    return scripts


def run_paths(paths: Iterable[str | Path], config: RunnerConfig | None = None) -> RunSummary:
    """Convenience: `SltRunner(config).run_paths(paths)`."""
    return SltRunner(config).run_paths(paths)
