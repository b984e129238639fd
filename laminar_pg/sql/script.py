"""Split a simple-query string into statements and parse each with the Laminar dialect.

Strategy: mirror PostgreSQL's exec_simple_query (src/backend/tcop/postgres.c), which
runs raw_parser over the whole string before executing anything: the script is
tokenized once by sqlglot (so semicolons inside strings, dollar quotes, comments and
quoted identifiers are no separators), split at SEMICOLON tokens, and every statement is
parsed before the first one runs.  Any error raises a `SqlError` with PostgreSQL's
message and a 1-based character position into the whole script (scanner_errposition).

Parses are cached by SQL text.  The cached trees are shared: copy one (`ast.copy()`)
before changing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from laminar_pg.errcodes import FeatureNotSupported, SyntaxError
from laminar_pg.errors import SqlError
from laminar_pg.sql import ast as lam
from laminar_pg.sql.dialect import (
    Laminar,
    LaminarParser,
    PositionedParseError,
    UnsupportedStatement,
)

_DIALECT = Laminar()

# Top-level statement kinds a parse may return; anything else is a syntax error.
STATEMENT_KINDS: tuple[type[exp.Expr], ...] = (
    exp.Query,  # Select, Union/Intersect/Except, Subquery
    exp.Values,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Copy,
    exp.TruncateTable,
    exp.Comment,  # COMMENT ON (session/pg_comments.py)
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    lam.LaminarStatement,
)

# Valid PostgreSQL that sqlglot parses into a real tree but we do not run.
UNSUPPORTED_KINDS: tuple[type[exp.Expr], ...] = (
    exp.Grant,
    exp.Revoke,
    exp.Analyze,
)

PARSE_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a script.

    ast: the parse tree, None for the empty statement; text: this statement's source
    text, stripped; offset: 0-based character offset of `text` in the script.
    """

    ast: exp.Expr | None
    text: str
    offset: int


EMPTY_STATEMENT = Statement(None, "", 0)


def parse_script(sql: str) -> list[Statement]:
    """The statements of a simple-query string (one empty Statement if there are none)."""
    return list(_parse_script_cached(sql))


def parse_one_statement(sql: str) -> Statement:
    """The one statement of an extended-protocol Parse message."""
    statements = _parse_script_cached(sql)
    if len(statements) > 1:
        raise SyntaxError("cannot insert multiple commands into a prepared statement")
    return statements[0]


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_script_cached(sql: str) -> tuple[Statement, ...]:
    tokens = _tokenize(sql)
    statements = []
    start = 0  # where the current statement's text begins (after the last semicolon)
    chunk: list[Token] = []
    for token in [*tokens, None]:
        if token is not None and token.token_type != TokenType.SEMICOLON:
            chunk.append(token)
            continue
        if chunk:
            statements.append(_parse_statement(sql, start, chunk, terminator=token))
        chunk = []
        if token is not None:
            start = token.end + 1
    return tuple(statements) or (EMPTY_STATEMENT,)


def _tokenize(sql: str) -> list[Token]:
    tokenizer = _DIALECT.tokenizer()
    try:
        return tokenizer.tokenize(sql)
    except TokenError as error:
        start: int = tokenizer._core._start
        raise _unterminated_error(sql, start) from error


def _unterminated_error(sql: str, start: int) -> SqlError:
    """PostgreSQL's scanner error for a token that runs off the end (scan.l)."""
    rest = sql[start:]
    if rest.startswith("/*"):
        what = "unterminated /* comment"
    elif rest.startswith('"'):
        what = "unterminated quoted identifier"
    elif rest.startswith("$"):
        what = "unterminated dollar-quoted string"
    elif rest.startswith("'") or rest[1:2] == "'" or rest[2:3] == "'":
        what = "unterminated quoted string"
    else:
        what = "syntax error"
    return SyntaxError(f'{what} at or near "{rest}"', position=start + 1)


def _parse_statement(
    sql: str, start: int, chunk: list[Token], *, terminator: Token | None
) -> Statement:
    end = terminator.start if terminator is not None else len(sql)
    raw = sql[start:end]
    text = raw.strip()
    offset = start + (len(raw) - len(raw.lstrip()))
    if not LaminarParser.can_start_statement(chunk[0]):
        raise _syntax_error(sql, chunk[0])
    parser = _DIALECT.parser()
    try:
        (tree,) = parser.parse(chunk, sql)
    except PositionedParseError as error:
        raise _syntax_error(sql, error.token or terminator) from None
    except ParseError as error:
        raise _syntax_error_from_line_col(sql, error) from None
    except UnsupportedStatement as error:
        raise _unsupported_error(sql, error) from None
    if tree is None or not isinstance(tree, STATEMENT_KINDS):
        if isinstance(tree, UNSUPPORTED_KINDS):
            raise FeatureNotSupported(
                f"{chunk[0].text.upper()} is not supported", position=chunk[0].start + 1
            )
        raise _syntax_error(sql, chunk[0])
    return Statement(tree, text, offset)


def _syntax_error(sql: str, token: Token | None) -> SqlError:
    """`syntax error at or near "tok"`, or at end of input when there is no token."""
    if token is None:
        return SyntaxError("syntax error at end of input", position=len(sql) + 1)
    near = sql[token.start : token.end + 1]
    return SyntaxError(f'syntax error at or near "{near}"', position=token.start + 1)


def _syntax_error_from_line_col(sql: str, error: ParseError) -> SqlError:
    """A ParseError raised outside Parser.raise_error: locate it by its line and column."""
    details = error.errors[0] if error.errors else {}
    line, col = details.get("line"), details.get("col")
    if not isinstance(line, int) or not isinstance(col, int):
        return SyntaxError("syntax error", detail=str(error))
    lines = sql.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + col
    highlight = str(details.get("highlight") or "")
    position = max(offset - len(highlight) + 1, 1)
    near = highlight or sql[position - 1 : position]
    return SyntaxError(f'syntax error at or near "{near}"', position=position)


def _unsupported_error(sql: str, error: UnsupportedStatement) -> SqlError:
    position = error.token.start + 1 if error.token is not None else None
    if error.postgres_has_it:
        return FeatureNotSupported(error.message, position=position)
    return _syntax_error(sql, error.token)


def clear_parse_cache() -> None:
    """Forget cached parses (tests, or after a dialect change)."""
    _parse_script_cached.cache_clear()
