"""A sqllogictest runner: parse .slt / .test scripts and run them over the PostgreSQL protocol.

Typical use: `SltRunner(RunnerConfig(url=...)).run_paths(["sql_tests"])` returns a RunSummary
whose `ok` is True when no record failed; `laminar-pg slt PATH...` wraps it (see cli.py).
"""

from laminar_pg.slt.parser import (
    Condition,
    ExpectedHash,
    ExpectedValues,
    Halt,
    HashThreshold,
    Location,
    Query,
    Record,
    SltParseError,
    SortMode,
    Statement,
    parse,
    parse_file,
)
from laminar_pg.slt.runner import (
    FileResult,
    Outcome,
    Protocol,
    RecordFailure,
    RecordResult,
    RunnerConfig,
    RunSummary,
    SltRunner,
    format_value,
    hash_values,
    run_paths,
)

__all__ = [
    "Condition",
    "ExpectedHash",
    "ExpectedValues",
    "FileResult",
    "Halt",
    "HashThreshold",
    "Location",
    "Outcome",
    "Protocol",
    "Query",
    "Record",
    "RecordFailure",
    "RecordResult",
    "RunSummary",
    "RunnerConfig",
    "SltParseError",
    "SltRunner",
    "SortMode",
    "Statement",
    "format_value",
    "hash_values",
    "parse",
    "parse_file",
    "run_paths",
]
