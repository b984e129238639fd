"""The Laminar SQL dialect: sqlglot's Postgres dialect plus PostgreSQL utility statements.

Strategy: extend, never fork.  `Laminar(Postgres)` keeps every Postgres rule and merges
in parsers for the statements sqlglot 30.30 turns into `exp.Command` or misreads as a
bare column (`ABORT`, `FLUSH`, `DISCARD ALL`, `SHOW x`, `FETCH 10 c`, ...).  The tokenizer
keeps no COMMANDS (which would swallow the rest of a statement as one string), so every
statement is tokenized in full.  Words that are no keyword in sqlglot (`ABORT`, `LISTEN`,
...) are dispatched on their text at the start of a statement (`WORD_STATEMENT_PARSERS`);
keyword tokens through `STATEMENT_PARSERS`.  Anything that would still fall back to
`exp.Command` raises `UnsupportedStatement` instead.

The grammar mirrors PostgreSQL's src/backend/parser/gram.y (VariableSetStmt,
VariableShowStmt, TransactionStmt, FetchStmt, DeclareCursorStmt, PrepareStmt, ...).

The streaming statements (CREATE SOURCE / STREAM / MATERIALIZED VIEW / SINK, SUBSCRIBE,
DROP and SHOW CREATE of streaming objects) follow RisingWave's and Materialize's grammar
and parse into the `ast` nodes; CREATE / DROP of anything else is left to sqlglot.  Their
generated SQL is canonical: it is what SHOW CREATE prints and what the catalog persists.
The window functions TUMBLE / HOP / SESSION stay ordinary calls (exp.Anonymous, in FROM
wrapped in an exp.Table); only SESSION needed help, being a keyword token.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError
from sqlglot.generators.postgres import PostgresGenerator
from sqlglot.parsers.postgres import PostgresParser
from sqlglot.tokenizer_core import Token, TokenizerCore, TokenType

from laminar_pg.sql import ast

# One `number unit` pair, the whole of an interval string sqlglot may split into value and unit.
_INTERVAL_PAIR = re.compile(r"\s*-?[0-9]+(?:\.[0-9]+)?\s*[a-zA-Z]+\s*")

# First words of PostgreSQL statements: a Command fallback on one of these is a
# statement PostgreSQL has and we do not support (0A000), anything else is 42601.
POSTGRES_STATEMENT_WORDS = frozenset(
    """ALTER ANALYZE CALL CLUSTER COMMENT COPY CREATE DO DROP EXPLAIN GRANT IMPORT LOAD
    LOCK MERGE REASSIGN REFRESH REINDEX REVOKE SECURITY TRUNCATE VACUUM""".split()
)

ISOLATION_LEVELS = (
    ("SERIALIZABLE",),
    ("REPEATABLE", "READ"),
    ("READ", "COMMITTED"),
    ("READ", "UNCOMMITTED"),
)

# Streaming objects: CREATE and DROP of these are ast nodes (TABLE, VIEW, ... stay
# exp.Create / exp.Drop).
STREAMING_OBJECT_WORDS = (("SOURCE",), ("STREAM",), ("MATERIALIZED", "VIEW"), ("SINK",))

SHOW_CREATE_WORDS = (
    ("SOURCE",),
    ("STREAM",),
    ("MATERIALIZED", "VIEW"),
    ("TABLE",),
    ("VIEW",),
    ("SINK",),
)

# EXPLAIN [ANALYZE] of an existing object (ast.ExplainObject)
EXPLAIN_OBJECT_WORDS = (("MATERIALIZED", "VIEW"), ("STREAM",), ("SINK",))

SHOW_OBJECT_KINDS = (
    ("SOURCES",),
    ("STREAMS",),
    ("MATERIALIZED", "VIEWS"),
    ("TABLES",),
    ("SINKS",),
    ("VIEWS",),
)

DISCARD_TARGETS = ("ALL", "PLANS", "SEQUENCES", "TEMP", "TEMPORARY")

# The variable each transaction mode sets: (plain, under SESSION CHARACTERISTICS).
_MODE_VARIABLES = {
    "isolation": ("transaction_isolation", "default_transaction_isolation"),
    "read": ("transaction_read_only", "default_transaction_read_only"),
    "deferrable": ("transaction_deferrable", "default_transaction_deferrable"),
}


class UnsupportedStatement(Exception):
    """A statement we parse no further: 0A000 if PostgreSQL has it, else 42601.

    Deliberately not a ParseError, so sqlglot's speculative `_try_parse` cannot swallow it.
    """

    def __init__(self, message: str, token: Token | None, *, postgres_has_it: bool) -> None:
        super().__init__(message)
        self.message = message
        self.token = token
        self.postgres_has_it = postgres_has_it


class PositionedParseError(ParseError):
    """A ParseError that remembers the token it is about (None: at end of input)."""

    def __init__(self, error: ParseError, token: Token | None) -> None:
        super().__init__(str(error), errors=error.errors)
        self.token = token


class LaminarParser(PostgresParser):
    """Postgres parser with real expressions for the utility statements."""

    STATEMENT_PARSERS = {
        **PostgresParser.STATEMENT_PARSERS,
        TokenType.BEGIN: lambda self: self._parse_begin(),
        TokenType.COMMIT: lambda self: self._parse_end_transaction(commit=True),
        TokenType.END: lambda self: self._parse_end_transaction(commit=True),
        TokenType.ROLLBACK: lambda self: self._parse_end_transaction(commit=False),
        TokenType.SET: lambda self: self._parse_set_variable(),
        TokenType.SHOW: lambda self: self._parse_show_statement(),
        TokenType.EXECUTE: lambda self: self._parse_execute_prepared(),
        TokenType.FETCH: lambda self: self._parse_fetch_cursor(move=False),
        TokenType.DECLARE: lambda self: self._parse_declare_cursor(),
        TokenType.COMMAND: lambda self: (
            self._parse_explain() if self._prev and self._prev.text.upper() == "EXPLAIN"
            else self._unsupported_statement()),
        TokenType.LOCK: lambda self: self._unsupported_statement(),
        TokenType.CREATE: lambda self: self._parse_create_statement(),
        TokenType.DROP: lambda self: self._parse_drop_statement(),
    }

    # SESSION(ts, gap) is the session window function (a keyword token in sqlglot).
    FUNC_TOKENS = {*PostgresParser.FUNC_TOKENS, TokenType.SESSION}

    def _parse_file_location(self) -> exp.Expr | None:
        """STDIN / STDOUT are words here, even when an option list follows without WITH."""
        if self._curr and self._curr.text.upper() in ("STDIN", "STDOUT"):
            self._advance()
            return exp.var(self._prev.text.upper())
        return super()._parse_file_location()

    def _parse_copy(self) -> exp.Copy | exp.Command:
        """`COPY (SUBSCRIBE ...) TO STDOUT [WITH (...)]`: the Copy's `this` is the Subscribe."""
        if not (self._match(TokenType.L_PAREN, advance=False) and self._next_is_word("SUBSCRIBE")):
            return super()._parse_copy()
        self._advance(2)
        subscribe = self._parse_subscribe()
        self._match_r_paren()
        self._expect_text("TO")
        files = self._parse_csv(self._parse_file_location)
        credentials = self._parse_credentials()
        self._match(TokenType.WITH)
        params = self._parse_wrapped(self._parse_copy_parameters, optional=True)
        if self._curr:
            self.raise_error("Invalid expression / Unexpected token")
        return exp.Copy(
            this=subscribe, kind=False, credentials=credentials, files=files, params=params
        )

    def _next_is_word(self, word: str) -> bool:
        following = self._next
        return bool(following) and following.token_type not in (
            self.TEXT_MATCH_EXCLUDED_TOKENS
        ) and following.text.upper() == word

    def _parse_types(self, check_func: bool = False, schema: bool = False,
                     allow_identifiers: bool = True,
                     with_collation: bool = False) -> exp.Expr | None:
        this = super()._parse_types(check_func=check_func, schema=schema,
                                    allow_identifiers=allow_identifiers,
                                    with_collation=with_collation)
        if isinstance(this, exp.ObjectIdentifier):  # oid[], regtype[]: asyncpg's introspection
            while self._match_pair(TokenType.L_BRACKET, TokenType.R_BRACKET):
                this = exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[this],
                                    nested=True)
        return this

    def _parse_table_hints(self) -> list[exp.Expr] | None:
        """PostgreSQL has no table hints: `FROM t WITH (...)` is CREATE SINK's option list."""
        return None

    def _parse_table_alias(
        self, alias_tokens: t.Collection[TokenType] | None = None
    ) -> exp.TableAlias | None:
        if self._at_emit_clause(after_table=True):
            return None
        return super()._parse_table_alias(alias_tokens)

    def _parse_alias(self, this: exp.Expr | None, explicit: bool = False) -> exp.Expr | None:
        if self._at_emit_clause(after_table=False):
            return this
        # PostgreSQL's ColLabel: after AS a keyword names a column even where sqlglot
        # reserves it (`... AS select`, Metabase's table-privileges query)
        nxt = self._next
        if self._curr is not None and self._curr.token_type == TokenType.ALIAS and \
                nxt is not None and nxt.token_type == TokenType.SELECT:
            self._advance(2)
            return self.expression(exp.Alias(this=this, alias=exp.to_identifier(nxt.text)))
        return super()._parse_alias(this, explicit)

    def _at_emit_clause(self, *, after_table: bool) -> bool:
        """At a materialized view's EMIT clause, which ends its query: EMIT is then no
        implicit alias.  After a table `b emit ON ...` may be a join's alias and condition,
        so there only `EMIT CHANGES`, `EMIT ON WINDOW` and a trailing `EMIT ON` count."""
        if self._curr.text.upper() != "EMIT":  # the common case, cheaply
            return False
        if self._match_text_seq("EMIT", "CHANGES", advance=False):
            return True
        if not self._match_text_seq("EMIT", "ON", advance=False):
            return False
        return (
            not after_table
            or self._match_text_seq("EMIT", "ON", "WINDOW", advance=False)
            or self._index + 2 >= len(self._tokens)
        )

    def _parse_copy_parameters(self) -> list[exp.CopyParameter]:
        """PostgreSQL's COPY option list: FORMAT binary, HEADER [bool], QUOTE '"',
        FORCE_QUOTE (a, b) | *, ...  (sqlglot's generic parser stops at type keywords)."""
        options: list[exp.CopyParameter] = []
        while self._curr and not self._match(TokenType.R_PAREN, advance=False):
            option = self._parse_var(any_token=True)
            if option is None:
                break
            param = self.expression(exp.CopyParameter(this=option))
            if self._match(TokenType.STAR):
                param.set("expression", exp.Star())
            elif self._match(TokenType.L_PAREN, advance=False):
                param.set("expressions", self._parse_wrapped_csv(self._parse_id_var))
            elif self._curr and self._curr.token_type == TokenType.STRING:
                param.set("expression", self._parse_string())
            elif self._curr and self._curr.token_type not in (TokenType.COMMA, TokenType.R_PAREN):
                param.set("expression", self._parse_var(any_token=True))
            options.append(param)
            self._match(TokenType.COMMA)
        return options

    # -- INTERVAL literals -----------------------------------------------------------

    def _parse_interval(
        self, require_interval: bool = True, parse_function_unit: bool = True
    ) -> exp.Add | exp.Interval | None:
        """PostgreSQL has no `INTERVAL 'a' unit + 'b' unit` sum form: a `+` after an
        interval is an ordinary addition (`INTERVAL '1 day' + '2020-01-01'::timestamp`)."""
        index = self._index
        if not self._match(TokenType.INTERVAL) and require_interval:
            return None
        if self._match(TokenType.STRING, advance=False):
            this = self._parse_primary()
        else:
            this = self._parse_term()
        if not this or (
            isinstance(this, exp.Column)
            and not this.table
            and not this.this.quoted
            and self._curr
            and self._curr.text.upper() not in self.dialect.VALID_INTERVAL_UNITS
        ):
            self._retreat(index)
            return None
        return self._parse_interval_span(this, parse_function_unit=parse_function_unit)

    def _parse_interval_span(
        self, this: exp.Expr, parse_function_unit: bool = True
    ) -> exp.Interval:
        """Keep an interval string whole unless it is exactly one `number unit`: sqlglot
        reads the first such pair and drops the rest (`'1 hour ago'` became `1 hour`,
        `'2 days 01:02:03'` became `2 days`)."""
        original = this.name if this is not None and this.is_string else None
        interval = super()._parse_interval_span(this, parse_function_unit)
        if original is not None and not _INTERVAL_PAIR.fullmatch(original):
            value = interval.this
            if isinstance(value, exp.Literal) and value.name != original:
                interval.set("this", exp.Literal.string(original))
                interval.set("unit", None)
        return interval

    def _parse_comment(self, allow_exists: bool = True) -> exp.Expr:
        """COMMENT ON (gram.y CommentStmt) for the objects laminar_pg has, SOURCE and
        STREAM included; `IS NULL` removes a comment (sqlglot takes only a string)."""
        start = self._prev
        self._match(TokenType.ON)
        materialized = self._match_text_seq("MATERIALIZED")
        kind = ""
        if self._match(TokenType.COLUMN):
            kind, this = "COLUMN", self._parse_column()
        elif self._match_set((TokenType.TABLE, TokenType.VIEW, TokenType.SCHEMA,
                              TokenType.INDEX, TokenType.SEQUENCE)) or self._match_texts(
                                  ("SOURCE", "STREAM")):
            kind, this = self._prev.text.upper(), self._parse_table_parts(schema=True)
        if not kind or (materialized and kind != "VIEW"):
            return self._parse_as_command(start)
        self._match(TokenType.IS)
        text: exp.Expr | None = exp.Null() if self._match(TokenType.NULL) else (
            self._parse_string())
        if text is None:
            self.raise_error("Expected a string or NULL after IS")
        return self.expression(exp.Comment(this=this, kind=kind, expression=text,
                                           materialized=materialized))

    # Statements whose first word is no keyword token in sqlglot (tokenized as VAR).
    WORD_STATEMENT_PARSERS: t.ClassVar[dict[str, Callable[[LaminarParser], exp.Expr]]] = {
        "ABORT": lambda self: self._parse_end_transaction(commit=False),
        "START": lambda self: self._parse_start_transaction(),
        "SAVEPOINT": lambda self: ast.Savepoint(this=self._parse_name()),
        "RELEASE": lambda self: self._parse_release(),
        "RESET": lambda self: self._parse_reset(),
        "DISCARD": lambda self: self._parse_discard(),
        "DEALLOCATE": lambda self: self._parse_deallocate(),
        "PREPARE": lambda self: self._parse_prepare(),
        "MOVE": lambda self: self._parse_fetch_cursor(move=True),
        "CLOSE": lambda self: self._parse_close(),
        "LISTEN": lambda self: ast.Listen(this=self._parse_name()),
        "UNLISTEN": lambda self: self._parse_unlisten(),
        "NOTIFY": lambda self: self._parse_notify(),
        "FLUSH": lambda self: ast.FlushStatement(),
        "CHECKPOINT": lambda self: ast.CheckpointStatement(),
        "SUBSCRIBE": lambda self: self._parse_subscribe(),
        "CLUSTER": lambda self: self._unsupported_statement(),
        "REASSIGN": lambda self: self._unsupported_statement(),
        "SECURITY": lambda self: self._unsupported_statement(),
        "IMPORT": lambda self: self._unsupported_statement(),
    }

    # -- plumbing ------------------------------------------------------------------

    def raise_error(self, message: str, token: Token | None = None) -> None:
        at_end = not token and not self._curr
        token = token or self._curr or self._prev
        try:
            super().raise_error(message, token or Token.string(""))
        except PositionedParseError:
            raise
        except ParseError as error:
            raise PositionedParseError(error, None if at_end else token) from None

    @classmethod
    def can_start_statement(cls, token: Token) -> bool:
        """Whether a statement may begin with `token` (PostgreSQL's all begin with a keyword)."""
        if token.token_type == TokenType.VAR:
            return token.text.upper() in cls.WORD_STATEMENT_PARSERS
        return token.token_type in cls.STATEMENT_PARSERS or token.token_type in (
            TokenType.SELECT,
            TokenType.WITH,
            TokenType.VALUES,
            TokenType.TABLE,
            TokenType.L_PAREN,
        )

    def _parse_statement(self) -> exp.Expr | None:
        curr = self._curr
        if curr is not None and curr.token_type == TokenType.VAR:
            parser = self.WORD_STATEMENT_PARSERS.get(curr.text.upper())
            if parser is not None:
                self._advance()
                return parser(self)
        return super()._parse_statement()

    def _parse_as_command(self, start: Token) -> exp.Command:
        raise self._unsupported(self._tokens[0] if self._tokens else start)

    def _parse_command(self) -> exp.Command:
        raise self._unsupported(self._prev)

    def _unsupported_statement(self) -> exp.Expr:
        raise self._unsupported(self._prev)

    def _unsupported(self, start: Token) -> UnsupportedStatement:
        words = [start.text.upper()]
        index = next((i for i, token in enumerate(self._tokens) if token is start), -1)
        if 0 <= index < len(self._tokens) - 1:
            following = self._tokens[index + 1]
            if following.token_type not in self.TEXT_MATCH_EXCLUDED_TOKENS and (
                following.text.isalpha()
            ):
                words.append(following.text.upper())
        return UnsupportedStatement(
            f"{' '.join(words)} is not supported",
            start,
            postgres_has_it=start.text.upper() in POSTGRES_STATEMENT_WORDS,
        )

    def _expect_text(self, *texts: str) -> None:
        """Each word in turn, so an error points at the first one missing."""
        for text in texts:
            if not self._match_text_seq(text):
                self.raise_error(f"Expecting {text}")

    def _match_one_of(self, choices: t.Iterable[tuple[str, ...]]) -> tuple[str, ...] | None:
        for choice in choices:
            if self._match_text_seq(*choice):
                return choice
        return None

    def _parse_explain(self) -> exp.Expr:
        """EXPLAIN's options (legacy words or a parenthesised list), then the statement."""
        options: dict[str, str] = {}
        if self._match(TokenType.L_PAREN):
            while self._curr and not self._match(TokenType.R_PAREN):
                name = self._curr.text.lower()
                self._advance()
                value = "true"
                if self._curr and self._curr.token_type not in (TokenType.COMMA,
                                                                TokenType.R_PAREN):
                    value = self._curr.text.lower()
                    self._advance()
                options[name] = value
                self._match(TokenType.COMMA)
        else:
            while self._curr and self._curr.text.upper() in ("ANALYZE", "ANALYSE", "VERBOSE"):
                word = self._curr.text.lower()
                options["analyze" if word.startswith("analy") else word] = "true"
                self._advance()
        words = self._match_one_of(EXPLAIN_OBJECT_WORDS)
        if words is not None:  # an existing object's dataflow, not a statement
            inner: exp.Expr | None = ast.ExplainObject(kind=" ".join(words).lower(),
                                                       this=self._parse_object_name())
        else:
            inner = self._parse_statement()
        if inner is None:
            self.raise_error("Expecting a statement to explain")
        return ast.Explain(this=inner, options=options)

    def _parse_name(self) -> str:
        """A ColId: a quoted identifier as written, any other word lowercased."""
        token = self._curr
        if token is None:
            self.raise_error("Expecting a name")
            raise AssertionError("unreachable")
        if token.token_type == TokenType.IDENTIFIER:
            self._advance()
            return token.text
        if token.token_type == TokenType.VAR or token.token_type in self.ID_VAR_TOKENS:
            self._advance()
            return token.text.lower()
        self.raise_error("Expecting a name")
        raise AssertionError("unreachable")

    def _parse_dotted_name(self) -> str:
        parts = [self._parse_name()]
        while self._match(TokenType.DOT):
            parts.append(self._parse_name())
        return ".".join(parts).lower()

    def _parse_signed_int(self) -> int:
        negative = self._match(TokenType.DASH)
        if not negative:
            self._match(TokenType.PLUS)
        token = self._curr
        if token is None or token.token_type != TokenType.NUMBER or not token.text.isdigit():
            self.raise_error("Expecting an integer")
            raise AssertionError("unreachable")
        self._advance()
        return -int(token.text) if negative else int(token.text)

    def _parse_setting_value(self) -> str:
        """A var_value: string contents, a number as written, or a folded word."""
        token = self._curr
        if token is None:
            self.raise_error("Expecting a value")
            raise AssertionError("unreachable")
        if token.token_type in (TokenType.DASH, TokenType.PLUS):
            sign = "-" if token.token_type == TokenType.DASH else ""
            self._advance()
            number = self._curr
            if number is None or number.token_type != TokenType.NUMBER:
                self.raise_error("Expecting a number")
                raise AssertionError("unreachable")
            self._advance()
            return sign + number.text
        if token.token_type in (
            TokenType.STRING,
            TokenType.BYTE_STRING,
            TokenType.HEREDOC_STRING,
            TokenType.NUMBER,
            TokenType.IDENTIFIER,
        ):
            self._advance()
            return token.text
        if token.token_type in (TokenType.TRUE, TokenType.FALSE, TokenType.ON):
            self._advance()
            return token.text.lower()
        return self._parse_name()

    def _parse_string_literal(self) -> str:
        token = self._curr
        if token is None or token.token_type not in (
            TokenType.STRING,
            TokenType.BYTE_STRING,
            TokenType.HEREDOC_STRING,
        ):
            self.raise_error("Expecting a string")
            raise AssertionError("unreachable")
        self._advance()
        return token.text

    # -- transactions ----------------------------------------------------------------

    def _parse_transaction_modes(self) -> list[str]:
        """transaction_mode_list: modes separated by commas or just whitespace."""
        modes: list[str] = []
        while self._curr:
            if self._match_text_seq("ISOLATION", "LEVEL"):
                level = self._match_one_of(ISOLATION_LEVELS)
                if level is None:
                    self.raise_error("Expecting an isolation level")
                    raise AssertionError("unreachable")
                modes.append("ISOLATION LEVEL " + " ".join(level))
            elif self._match_text_seq("READ", "ONLY"):
                modes.append("READ ONLY")
            elif self._match_text_seq("READ", "WRITE"):
                modes.append("READ WRITE")
            elif self._match_text_seq("DEFERRABLE"):
                modes.append("DEFERRABLE")
            elif self._match_text_seq("NOT", "DEFERRABLE"):
                modes.append("NOT DEFERRABLE")
            else:
                self.raise_error("Expecting a transaction mode")
            if not self._match(TokenType.COMMA) and not self._curr:
                break
        return modes

    def _parse_begin(self) -> exp.Expr:
        self._match_texts(("WORK", "TRANSACTION"))
        return exp.Transaction(modes=self._parse_transaction_modes())

    def _parse_start_transaction(self) -> exp.Expr:
        self._expect_text("TRANSACTION")
        return exp.Transaction(modes=self._parse_transaction_modes())

    def _parse_end_transaction(self, *, commit: bool) -> exp.Expr:
        if self._match_text_seq("PREPARED"):
            raise UnsupportedStatement(
                f"{'COMMIT' if commit else 'ROLLBACK'} PREPARED is not supported",
                self._tokens[0],
                postgres_has_it=True,
            )
        self._match_texts(("WORK", "TRANSACTION"))
        if not commit and self._match_text_seq("TO"):
            self._match_text_seq("SAVEPOINT")
            return exp.Rollback(savepoint=exp.to_identifier(self._parse_name()))
        chain = None
        if self._match(TokenType.AND):
            chain = not self._match_text_seq("NO")
            self._expect_text("CHAIN")
        if chain and not commit:
            raise UnsupportedStatement(
                "ROLLBACK AND CHAIN is not supported", self._tokens[0], postgres_has_it=True
            )
        return exp.Commit(chain=chain) if commit else exp.Rollback()

    def _parse_release(self) -> exp.Expr:
        self._match_text_seq("SAVEPOINT")
        return ast.ReleaseSavepoint(this=self._parse_name())

    # -- SET / SHOW / RESET ----------------------------------------------------------

    def _parse_set_variable(self) -> exp.Expr:
        local = False
        if self._match_text_seq("LOCAL"):
            local = True
        elif self._match_text_seq("SESSION", "CHARACTERISTICS", "AS", "TRANSACTION"):
            return self._set_from_modes(self._parse_transaction_modes(), default=True)
        elif not self._match_text_seq("SESSION", "AUTHORIZATION", advance=False):
            self._match_text_seq("SESSION")
        if self._match_text_seq("TRANSACTION"):
            if self._match_text_seq("SNAPSHOT"):
                raise UnsupportedStatement(
                    "SET TRANSACTION SNAPSHOT is not supported",
                    self._tokens[0],
                    postgres_has_it=True,
                )
            node = self._set_from_modes(self._parse_transaction_modes(), default=False)
            node.set("local", local or None)
            return node
        name, values = self._parse_set_rest()
        return ast.SetVariable(this=name, expressions=values, local=local or None)

    def _set_from_modes(self, modes: list[str], *, default: bool) -> ast.SetVariable:
        """One SetVariable per transaction mode: the first, with the rest in `others`."""
        nodes = []
        for mode in modes:
            words = mode.lower().split(" ")
            names = _MODE_VARIABLES[words[0] if words[0] != "not" else "deferrable"]
            if words[0] == "isolation":
                value = " ".join(words[2:])
            elif words[0] == "read":
                value = "on" if words[1] == "only" else "off"
            else:
                value = "off" if words[0] == "not" else "on"
            nodes.append(ast.SetVariable(this=names[default], expressions=[value]))
        if not nodes:
            self.raise_error("Expecting a transaction mode")
        first = nodes[0]
        if len(nodes) > 1:
            first.set("others", nodes[1:])
        return first

    def _parse_set_rest(self) -> tuple[str, list[str] | None]:
        if self._match_text_seq("TIME", "ZONE"):
            return "timezone", self._parse_zone_value()
        if self._match_text_seq("NAMES"):
            if not self._curr or self._match(TokenType.DEFAULT):
                return "client_encoding", None
            return "client_encoding", [self._parse_setting_value()]
        if self._match_text_seq("SCHEMA"):
            return "search_path", [self._parse_string_literal()]
        assignment_follows = self._next.token_type == TokenType.EQ or (
            self._next.text.upper() == "TO"
        )
        if not assignment_follows and self._match_text_seq("ROLE"):
            return "role", [self._parse_setting_value()]
        if self._match_text_seq("SESSION", "AUTHORIZATION"):
            if self._match(TokenType.DEFAULT):
                return "session_authorization", None
            return "session_authorization", [self._parse_setting_value()]
        name = self._parse_dotted_name()
        if not (self._match_text_seq("TO") or self._match(TokenType.EQ)):
            if self._match(TokenType.FROM):
                self._expect_text("CURRENT")
                raise UnsupportedStatement(
                    "SET ... FROM CURRENT is not supported",
                    self._tokens[0],
                    postgres_has_it=True,
                )
            self.raise_error("Expecting TO or =")
        if self._match(TokenType.DEFAULT):
            return name, None
        values = [self._parse_setting_value()]
        while self._match(TokenType.COMMA):
            values.append(self._parse_setting_value())
        return name, values

    def _parse_zone_value(self) -> list[str] | None:
        if self._match(TokenType.DEFAULT) or self._match_text_seq("LOCAL"):
            return None
        if self._match(TokenType.INTERVAL):
            # INTERVAL 'x' [qualifier]: kept as the literal text (an offset from UTC).
            value = self._parse_string_literal()
            while self._curr and self._curr.token_type == TokenType.VAR:
                self._advance()
            return [value]
        return [self._parse_setting_value()]

    def _parse_variable_target(self) -> str:
        """The variable of SHOW/RESET: a name, TIME ZONE, ... or ALL -> 'all'."""
        if self._match(TokenType.ALL):
            return "all"
        if self._match_text_seq("TIME", "ZONE"):
            return "timezone"
        if self._match_text_seq("TRANSACTION", "ISOLATION", "LEVEL"):
            return "transaction_isolation"
        if self._match_text_seq("SESSION", "AUTHORIZATION"):
            return "session_authorization"
        return self._parse_dotted_name()

    def _parse_show_statement(self) -> exp.Expr:
        if self._match(TokenType.CREATE):
            words = self._match_one_of(SHOW_CREATE_WORDS)
            if words is None:
                self.raise_error("Expecting SOURCE, STREAM, MATERIALIZED VIEW, TABLE, VIEW or SINK")
                raise AssertionError("unreachable")
            return ast.ShowCreate(kind=" ".join(words).lower(), this=self._parse_object_name())
        if self._match_text_seq("COLUMNS", "FROM"):
            return ast.ShowColumns(this=self._parse_object_name())
        kind = self._match_one_of(SHOW_OBJECT_KINDS)
        if kind is not None:
            schema = None
            if self._match_set((TokenType.FROM, TokenType.IN)):
                identifier = self._parse_id_var(any_token=False)
                if identifier is None:
                    self.raise_error("Expecting a schema name")
                    raise AssertionError("unreachable")
                schema = identifier.name
            return ast.ShowObjects(kind=" ".join(kind).lower(), schema=schema)
        return ast.ShowVariable(this=self._parse_variable_target())

    def _parse_reset(self) -> exp.Expr:
        return ast.ResetVariable(this=self._parse_variable_target())

    # -- prepared statements ---------------------------------------------------------

    def _parse_discard(self) -> exp.Expr:
        target = self._match_one_of((word,) for word in DISCARD_TARGETS)
        if target is None:
            self.raise_error("Expecting ALL, PLANS, SEQUENCES or TEMP")
            raise AssertionError("unreachable")
        return ast.Discard(this=target[0].lower())

    def _parse_deallocate(self) -> exp.Expr:
        self._match_text_seq("PREPARE")
        if self._match(TokenType.ALL):
            return ast.Deallocate()
        return ast.Deallocate(this=self._parse_name())

    def _parse_prepare(self) -> exp.Expr:
        if self._match_text_seq("TRANSACTION"):
            raise UnsupportedStatement(
                "PREPARE TRANSACTION is not supported", self._tokens[0], postgres_has_it=True
            )
        name = self._parse_name()
        types: list[exp.Expr] = []
        if self._match(TokenType.L_PAREN):
            types = self._parse_csv(self._parse_types)
            self._match_r_paren()
        self._expect_text("AS")
        query = self._parse_inner_statement(
            (exp.Query, exp.Values, exp.Insert, exp.Update, exp.Delete, exp.Merge)
        )
        return ast.Prepare(this=name, expressions=types, query=query)

    def _parse_inner_statement(self, kinds: tuple[type[exp.Expr], ...]) -> exp.Expr:
        start = self._curr
        query = self._parse_statement()
        if not isinstance(query, kinds):
            self.raise_error("Expecting a query", start)
            raise AssertionError("unreachable")
        return query

    def _parse_execute_prepared(self) -> exp.Expr:
        name = self._parse_name()
        args: list[exp.Expr] = []
        if self._match(TokenType.L_PAREN):
            args = self._parse_csv(self._parse_assignment)
            self._match_r_paren()
        return ast.ExecutePrepared(this=name, expressions=args)

    # -- cursors ---------------------------------------------------------------------

    def _parse_declare_cursor(self) -> exp.Expr:
        name = self._parse_name()
        binary = insensitive = False
        scroll: bool | None = None
        while not self._match_text_seq("CURSOR"):
            if self._match(TokenType.BINARY):
                binary = True
            elif self._match_text_seq("INSENSITIVE"):
                insensitive = True
            elif self._match_text_seq("ASENSITIVE"):
                insensitive = False
            elif self._match_text_seq("NO", "SCROLL"):
                scroll = False
            elif self._match_text_seq("SCROLL"):
                scroll = True
            else:
                self.raise_error("Expecting CURSOR")
        hold = False
        if self._match(TokenType.WITH):
            self._expect_text("HOLD")
            hold = True
        elif self._match_text_seq("WITHOUT"):
            self._expect_text("HOLD")
        if not self._match(TokenType.FOR):
            self.raise_error("Expecting FOR")
        query = self._parse_inner_statement((exp.Query, exp.Values, ast.Subscribe))
        return ast.DeclareCursor(
            this=name,
            binary=binary or None,
            insensitive=insensitive or None,
            scroll=scroll,
            hold=hold or None,
            query=query,
        )

    def _parse_fetch_direction(self) -> tuple[str, int | None]:
        for word in ("NEXT", "PRIOR", "FIRST", "LAST"):
            if self._match_text_seq(word):
                return word.lower(), 1
        for word in ("ABSOLUTE", "RELATIVE"):
            if self._match_text_seq(word):
                return word.lower(), self._parse_signed_int()
        for word in ("FORWARD", "BACKWARD"):
            if self._match_text_seq(word):
                if self._match(TokenType.ALL):
                    return word.lower(), None
                if self._curr and self._curr.token_type in (
                    TokenType.NUMBER,
                    TokenType.DASH,
                    TokenType.PLUS,
                ):
                    return word.lower(), self._parse_signed_int()
                return word.lower(), 1
        if self._match(TokenType.ALL):
            return "forward", None
        if self._curr and self._curr.token_type in (
            TokenType.NUMBER,
            TokenType.DASH,
            TokenType.PLUS,
        ):
            return "forward", self._parse_signed_int()
        return "next", 1

    def _parse_fetch_cursor(self, *, move: bool) -> exp.Expr:
        direction, count = self._parse_fetch_direction()
        self._match_set((TokenType.FROM, TokenType.IN))
        name = self._parse_name()
        options: list[exp.Expr] = []
        if self._match(TokenType.WITH):
            options = self._parse_wrapped_csv(self._parse_fetch_option)
        return ast.FetchCursor(
            this=name, direction=direction, count=count, move=move or None, options=options
        )

    def _parse_fetch_option(self) -> exp.Expr:
        key = self._parse_name()
        if not self._match(TokenType.EQ):
            self.raise_error("Expecting =")
        return exp.Property(
            this=exp.var(key), value=exp.Literal.string(self._parse_setting_value())
        )

    def _parse_close(self) -> exp.Expr:
        if self._match(TokenType.ALL):
            return ast.CloseCursor()
        return ast.CloseCursor(this=self._parse_name())

    # -- streaming statements --------------------------------------------------------

    def _parse_create_statement(self) -> exp.Expr:
        index = self._index
        if self._match_text_seq("OR", "REPLACE") and self._match_one_of(STREAMING_OBJECT_WORDS):
            words = " ".join(self._tokens[i].text.upper() for i in range(index - 1, self._index))
            raise UnsupportedStatement(
                f"{words} is not supported", self._tokens[index - 1], postgres_has_it=True
            )
        self._retreat(index)
        if self._match_text_seq("SOURCE"):
            return self._parse_create_source()
        if self._match_text_seq("STREAM"):
            exists = self._parse_if_not_exists()
            name = self._parse_object_name()
            return ast.CreateStream(this=name, expression=self._parse_as_query(), exists=exists)
        if self._match_text_seq("MATERIALIZED", "VIEW"):
            return self._parse_create_materialized_view()
        if self._match_text_seq("SINK"):
            return self._parse_create_sink()
        return self._parse_create()

    def _parse_if_not_exists(self) -> bool:
        return bool(self._match_text_seq("IF", "NOT", "EXISTS"))

    def _parse_object_name(self) -> exp.Table:
        """A possibly qualified object name (no function call, no alias)."""
        start = self._curr
        if not start:
            self.raise_error("Expecting a name")
        name = self._parse_table_parts(schema=True)
        if not isinstance(name, exp.Table):
            self.raise_error("Expecting a name", start)
            raise AssertionError("unreachable")
        return name

    def _parse_as_query(self) -> exp.Expr:
        self._expect_text("AS")
        return self._parse_inner_statement((exp.Query,))

    def _parse_create_source(self) -> exp.Expr:
        exists = self._parse_if_not_exists()
        name = self._parse_object_name()
        columns: list[exp.Expr] = []
        watermark: ast.WatermarkFor | None = None
        if self._match(TokenType.L_PAREN):
            while True:
                if self._match_text_seq("WATERMARK", "FOR"):
                    if watermark is not None:
                        self.raise_error("Only one WATERMARK FOR is allowed", self._prev)
                    watermark = self._parse_watermark_for()
                else:
                    columns.append(self._parse_source_column())
                if not self._match(TokenType.COMMA):
                    break
            self._match_r_paren()
        return ast.CreateSource(
            this=name,
            expressions=columns,
            watermark=watermark,
            options=self._parse_with_options(),
            exists=exists,
        )

    def _parse_source_column(self) -> exp.Expr:
        start = self._curr
        column = self._parse_column_def(self._parse_field(any_token=True))
        if not isinstance(column, exp.ColumnDef) or column.args.get("kind") is None:
            self.raise_error("Expecting a column name and type", start or None)
            raise AssertionError("unreachable")
        return column

    def _parse_watermark_for(self) -> ast.WatermarkFor:
        column = self._parse_id_var(any_token=False)
        if column is None:
            self.raise_error("Expecting a column name")
        self._expect_text("AS")
        expression = self._parse_disjunction()
        if expression is None:
            self.raise_error("Expecting a watermark expression")
        return ast.WatermarkFor(this=column, expression=expression)

    def _parse_create_materialized_view(self) -> exp.Expr:
        exists = self._parse_if_not_exists()
        name = self._parse_object_name()
        query = self._parse_as_query()
        emit = None
        if self._match_text_seq("EMIT"):
            if self._match_text_seq("CHANGES"):
                emit = "changes"
            else:
                self._expect_text("ON", "WINDOW", "CLOSE")
                emit = "window_close"
        return ast.CreateMaterializedView(this=name, expression=query, emit=emit, exists=exists)

    def _parse_create_sink(self) -> exp.Expr:
        exists = self._parse_if_not_exists()
        name = self._parse_object_name()
        source = query = None
        if self._match(TokenType.FROM):
            source = self._parse_object_name()
        elif self._match(TokenType.ALIAS):
            query = self._parse_inner_statement((exp.Query,))
        else:
            self.raise_error("Expecting FROM or AS")
        return ast.CreateSink(
            this=name,
            source=source,
            expression=query,
            options=self._parse_with_options(),
            exists=exists,
        )

    def _parse_with_options(self, *, bare: bool = False) -> list[ast.SourceOption]:
        """WITH (key = value, ...): a required list; `bare` allows `key` alone ('true')."""
        if not self._match(TokenType.WITH):
            self.raise_error("Expecting WITH")
        return self._parse_wrapped_csv(lambda: self._parse_source_option(bare=bare))

    def _parse_source_option(self, *, bare: bool) -> ast.SourceOption:
        parts = [self._parse_option_key_part()]
        while self._match(TokenType.DOT):
            parts.append(self._parse_option_key_part())
        key = ".".join(parts).lower()
        if self._match(TokenType.EQ):
            value = self._parse_setting_value()
        elif bare and self._curr.token_type in (TokenType.COMMA, TokenType.R_PAREN):
            value = "true"
        else:
            self.raise_error("Expecting =")
            raise AssertionError("unreachable")
        return ast.SourceOption(this=key, expression=value)

    def _parse_option_key_part(self) -> str:
        """A word of an option key: any identifier-like word, keywords included (`table`)."""
        token = self._curr
        if token and token.token_type == TokenType.IDENTIFIER:
            self._advance()
            return token.text
        if token and token.token_type not in self.TEXT_MATCH_EXCLUDED_TOKENS and (
            token.text.isidentifier()
        ):
            self._advance()
            return token.text
        self.raise_error("Expecting an option name")
        raise AssertionError("unreachable")

    def _parse_subscribe(self) -> exp.Expr:
        """Materialize's SUBSCRIBE: an object or a parenthesised query, options, AS OF."""
        if self._match_text_seq("TO", advance=False) and self._next and (
            self._next.token_type not in (TokenType.WITH, TokenType.ALIAS)
        ):
            self._advance()
        relation: exp.Expr
        if self._match(TokenType.L_PAREN):
            relation = self._parse_inner_statement((exp.Query,))
            self._match_r_paren()
        else:
            relation = self._parse_object_name()
        options: list[ast.SourceOption] = []
        if self._match(TokenType.WITH, advance=False):
            options = self._parse_with_options(bare=True)
        as_of = None
        if self._match_text_seq("AS", "OF"):
            token = self._curr
            if token.token_type != TokenType.NUMBER or not token.text.isdigit():
                self.raise_error("Expecting an epoch timestamp")
            self._advance()
            as_of = int(token.text)
        return ast.Subscribe(this=relation, options=options, as_of=as_of)

    def _parse_drop_statement(self) -> exp.Expr:
        words = self._match_one_of(STREAMING_OBJECT_WORDS)
        if words is None:
            return self._parse_drop()
        exists = bool(self._match_text_seq("IF", "EXISTS"))
        names = self._parse_csv(self._parse_object_name)
        cascade = self._match_texts(("CASCADE", "RESTRICT")) and self._prev.text.upper()
        return ast.DropObject(
            kind=" ".join(words).lower(),
            expressions=names,
            exists=exists,
            cascade=cascade == "CASCADE",
        )

    # -- LISTEN / NOTIFY -------------------------------------------------------------

    def _parse_unlisten(self) -> exp.Expr:
        if self._match(TokenType.STAR):
            return ast.Unlisten()
        return ast.Unlisten(this=self._parse_name())

    def _parse_notify(self) -> exp.Expr:
        channel = self._parse_name()
        payload = self._parse_string_literal() if self._match(TokenType.COMMA) else None
        return ast.Notify(this=channel, payload=payload)


def quote_name(name: str) -> str:
    """A name as SQL: bare when PostgreSQL would fold it back to itself, else quoted."""
    simple = (
        name.isascii()
        and name.replace("_", "a").isalnum()
        and not name[:1].isdigit()
        and name == name.lower()
        and name.upper() not in LaminarTokenizer.KEYWORDS
    )
    return name if simple else '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LaminarGenerator(PostgresGenerator):
    """Postgres generator plus SQL for the utility statements in `laminar_pg.sql.ast`."""

    # sqlglot finds `<key>_sql` methods only for its own classes: route ours explicitly.
    TRANSFORMS = {
        **PostgresGenerator.TRANSFORMS,
        **{
            cls: (lambda method: lambda self, e: getattr(self, method)(e))(f"{cls.key}_sql")
            for cls in (
                ast.SetVariable,
                ast.ShowVariable,
                ast.ShowObjects,
                ast.ResetVariable,
                ast.Savepoint,
                ast.ReleaseSavepoint,
                ast.Discard,
                ast.Deallocate,
                ast.Prepare,
                ast.ExecutePrepared,
                ast.DeclareCursor,
                ast.FetchCursor,
                ast.CloseCursor,
                ast.Listen,
                ast.Unlisten,
                ast.Notify,
                ast.FlushStatement,
                ast.CheckpointStatement,
                ast.Explain,
                ast.ExplainObject,
                ast.CreateSource,
                ast.CreateStream,
                ast.CreateMaterializedView,
                ast.CreateSink,
                ast.Subscribe,
                ast.DropObject,
                ast.ShowCreate,
                ast.ShowColumns,
            )
        },
    }

    def setvariable_sql(self, expression: ast.SetVariable) -> str:
        others: list[ast.SetVariable] = expression.args.get("others") or []
        local = "LOCAL " if expression.local else ""
        if others:
            return f"SET {local}" + self._transaction_modes_sql([expression, *others])
        values = expression.values
        rendered = ", ".join(map(quote_literal, values)) if values is not None else "DEFAULT"
        name = ".".join(quote_name(part) for part in str(expression.this).split("."))
        return f"SET {local}{name} TO {rendered}"

    def _transaction_modes_sql(self, nodes: list[ast.SetVariable]) -> str:
        modes = []
        session = str(nodes[0].this).startswith("default_")
        for node in nodes:
            variable = str(node.this).removeprefix("default_")
            value = (node.values or [""])[0]
            if variable == "transaction_isolation":
                modes.append(f"ISOLATION LEVEL {value.upper()}")
            elif variable == "transaction_read_only":
                modes.append("READ ONLY" if value == "on" else "READ WRITE")
            else:
                modes.append("DEFERRABLE" if value == "on" else "NOT DEFERRABLE")
        prefix = "SESSION CHARACTERISTICS AS TRANSACTION " if session else "TRANSACTION "
        return prefix + ", ".join(modes)

    def showvariable_sql(self, expression: ast.ShowVariable) -> str:
        name = str(expression.this)
        return "SHOW ALL" if name == "all" else f"SHOW {self._dotted(name)}"

    def showobjects_sql(self, expression: ast.ShowObjects) -> str:
        schema = expression.args.get("schema")
        where = f" FROM {quote_name(str(schema))}" if schema is not None else ""
        return f"SHOW {str(expression.args['kind']).upper()}{where}"

    def resetvariable_sql(self, expression: ast.ResetVariable) -> str:
        name = str(expression.this)
        return "RESET ALL" if name == "all" else f"RESET {self._dotted(name)}"

    def _dotted(self, name: str) -> str:
        return ".".join(quote_name(part) for part in name.split("."))

    def transaction_sql(self, expression: exp.Transaction) -> str:
        modes = expression.args.get("modes") or []
        return "BEGIN" + (" " + ", ".join(modes) if modes else "")

    def rollback_sql(self, expression: exp.Rollback) -> str:
        savepoint = expression.args.get("savepoint")
        if savepoint is not None:
            return f"ROLLBACK TO SAVEPOINT {quote_name(savepoint.name)}"
        return "ROLLBACK"

    def savepoint_sql(self, expression: ast.Savepoint) -> str:
        return f"SAVEPOINT {quote_name(expression.name)}"

    def releasesavepoint_sql(self, expression: ast.ReleaseSavepoint) -> str:
        return f"RELEASE SAVEPOINT {quote_name(expression.name)}"

    def discard_sql(self, expression: ast.Discard) -> str:
        return f"DISCARD {expression.name.upper()}"

    def deallocate_sql(self, expression: ast.Deallocate) -> str:
        name = expression.args.get("this")
        return f"DEALLOCATE {quote_name(name) if name else 'ALL'}"

    def prepare_sql(self, expression: ast.Prepare) -> str:
        types = expression.expressions
        params = f" ({self.expressions(expression, flat=True)})" if types else ""
        query = self.sql(expression, "query")
        return f"PREPARE {quote_name(expression.name)}{params} AS {query}"

    def executeprepared_sql(self, expression: ast.ExecutePrepared) -> str:
        args = expression.expressions
        rendered = f" ({self.expressions(expression, flat=True)})" if args else ""
        return f"EXECUTE {quote_name(expression.name)}{rendered}"

    def declarecursor_sql(self, expression: ast.DeclareCursor) -> str:
        options = []
        if expression.args.get("binary"):
            options.append("BINARY")
        if expression.args.get("insensitive"):
            options.append("INSENSITIVE")
        scroll = expression.args.get("scroll")
        if scroll is not None:
            options.append("SCROLL" if scroll else "NO SCROLL")
        options.append("CURSOR")
        options.append("WITH HOLD" if expression.args.get("hold") else "WITHOUT HOLD")
        query = self.sql(expression, "query")
        return f"DECLARE {quote_name(expression.name)} {' '.join(options)} FOR {query}"

    def fetchcursor_sql(self, expression: ast.FetchCursor) -> str:
        verb = "MOVE" if expression.move else "FETCH"
        direction, count = expression.direction, expression.count
        if direction in ("next", "prior", "first", "last"):
            where = direction.upper()
        elif direction in ("absolute", "relative"):
            where = f"{direction.upper()} {count}"
        else:
            where = f"{direction.upper()} {'ALL' if count is None else count}"
        options = expression.args.get("options") or []
        with_ = ""
        if options:
            pairs = ", ".join(
                f"{quote_name(prop.name)} = {quote_literal(prop.args['value'].name)}"
                for prop in options
            )
            with_ = f" WITH ({pairs})"
        return f"{verb} {where} FROM {quote_name(expression.name)}{with_}"

    def closecursor_sql(self, expression: ast.CloseCursor) -> str:
        name = expression.args.get("this")
        return f"CLOSE {quote_name(name) if name else 'ALL'}"

    def listen_sql(self, expression: ast.Listen) -> str:
        return f"LISTEN {quote_name(expression.name)}"

    def unlisten_sql(self, expression: ast.Unlisten) -> str:
        name = expression.args.get("this")
        return f"UNLISTEN {quote_name(name) if name else '*'}"

    def notify_sql(self, expression: ast.Notify) -> str:
        payload = expression.args.get("payload")
        rendered = f", {quote_literal(payload)}" if payload is not None else ""
        return f"NOTIFY {quote_name(expression.name)}{rendered}"

    def flushstatement_sql(self, expression: ast.FlushStatement) -> str:
        return "FLUSH"

    def explain_sql(self, expression: ast.Explain) -> str:
        options = expression.args.get("options") or {}
        listed = ", ".join(f"{k.upper()} {v.upper()}" for k, v in options.items())
        return f"EXPLAIN {'(' + listed + ') ' if listed else ''}{self.sql(expression.this)}"

    def explainobject_sql(self, expression: ast.ExplainObject) -> str:
        kind = str(expression.args["kind"]).upper()
        return f"{kind} {self.sql(expression, 'this')}"

    def checkpointstatement_sql(self, expression: ast.CheckpointStatement) -> str:
        return "CHECKPOINT"

    # -- streaming statements: the canonical text SHOW CREATE prints and the catalog keeps

    def _create_head(self, what: str, expression: exp.Expr) -> str:
        exists = "IF NOT EXISTS " if expression.args.get("exists") else ""
        return f"CREATE {what} {exists}{self.sql(expression, 'this')}"

    def _options_sql(self, expression: exp.Expr) -> str:
        options: list[ast.SourceOption] = expression.args.get("options") or []
        if not options:
            return ""
        pairs = ", ".join(
            f"{option_key_sql(str(o.this))} = {option_value_sql(str(o.expression))}"
            for o in options
        )
        return f" WITH ({pairs})"

    def createsource_sql(self, expression: ast.CreateSource) -> str:
        items = [self.sql(column) for column in expression.expressions]
        watermark = expression.args.get("watermark")
        if watermark is not None:
            items.append(
                f"WATERMARK FOR {self.sql(watermark, 'this')} AS "
                f"{self.sql(watermark, 'expression')}"
            )
        columns = f" ({', '.join(items)})" if items else ""
        return f"{self._create_head('SOURCE', expression)}{columns}{self._options_sql(expression)}"

    def createstream_sql(self, expression: ast.CreateStream) -> str:
        return f"{self._create_head('STREAM', expression)} AS {self.sql(expression, 'expression')}"

    def creatematerializedview_sql(self, expression: ast.CreateMaterializedView) -> str:
        emit = {"window_close": " EMIT ON WINDOW CLOSE", "changes": " EMIT CHANGES"}.get(
            expression.emit or "", ""
        )
        query = self.sql(expression, "expression")
        return f"{self._create_head('MATERIALIZED VIEW', expression)} AS {query}{emit}"

    def createsink_sql(self, expression: ast.CreateSink) -> str:
        source = expression.args.get("source")
        body = (
            f"FROM {self.sql(source)}"
            if source is not None
            else f"AS {self.sql(expression, 'expression')}"
        )
        return f"{self._create_head('SINK', expression)} {body}{self._options_sql(expression)}"

    def subscribe_sql(self, expression: ast.Subscribe) -> str:
        relation = expression.this
        target = (
            f"TO {self.sql(relation)}"
            if isinstance(relation, exp.Table)
            else f"({self.sql(relation)})"
        )
        as_of = "" if expression.as_of is None else f" AS OF {expression.as_of}"
        sql = f"SUBSCRIBE {target}{self._options_sql(expression)}{as_of}"
        return f"({sql})" if isinstance(expression.parent, exp.Copy) else sql

    def dropobject_sql(self, expression: ast.DropObject) -> str:
        exists = "IF EXISTS " if expression.args.get("exists") else ""
        cascade = " CASCADE" if expression.args.get("cascade") else ""
        names = self.expressions(expression, flat=True)
        return f"DROP {str(expression.args['kind']).upper()} {exists}{names}{cascade}"

    def showcreate_sql(self, expression: ast.ShowCreate) -> str:
        kind = str(expression.args["kind"]).upper()
        return f"SHOW CREATE {kind} {self.sql(expression, 'this')}"

    def showcolumns_sql(self, expression: ast.ShowColumns) -> str:
        return f"SHOW COLUMNS FROM {self.sql(expression, 'this')}"


def option_key_sql(key: str) -> str:
    """An option key as SQL: its dotted words bare where they read back as themselves."""
    return ".".join(
        part if part.isidentifier() and part.isascii() and part == part.lower()
        else '"' + part.replace('"', '""') + '"'
        for part in key.split(".")
    )


def option_value_sql(value: str) -> str:
    """An option value as SQL: true/false and plain numbers bare, anything else a string."""
    digits = value.removeprefix("-").split(".")
    plain_number = len(digits) <= 2 and all(d.isascii() and d.isdigit() for d in digits)
    return value if plain_number or value in ("true", "false") else quote_literal(value)


class _LaminarTokenizerCore(TokenizerCore):
    """`$1,$2`: a dollar-quote tag is an identifier ($tag$), so `$1,$` is not one; sqlglot
    takes it for a tag unless the text between the dollars is all digits. A `$` followed
    by a digit always starts a parameter (scan.l: param {dollar}{decinteger})."""

    __slots__ = ()

    def _scan_string(self, start: str) -> bool:
        if start == "$" and self._peek.isdigit():
            self._add(self.heredoc_string_alternative)
            return True
        return bool(super()._scan_string(start))


class LaminarTokenizer(Postgres.Tokenizer):
    """Postgres tokenizer that never swallows a statement's text as a COMMAND string."""

    COMMANDS: t.ClassVar[set[TokenType]] = set()

    def _init_core(self) -> TokenizerCore:
        core = super()._init_core()
        core.__class__ = _LaminarTokenizerCore
        return core

    KEYWORDS = {
        **{k: v for k, v in Postgres.Tokenizer.KEYWORDS.items() if k not in ("RESET", "PREPARE")},
        "DECLARE": TokenType.DECLARE,
    }


class Laminar(Postgres):
    """PostgreSQL as laminar_pg speaks it: Postgres plus utility and streaming statements."""

    Tokenizer = LaminarTokenizer
    Parser = LaminarParser
    Generator = LaminarGenerator
