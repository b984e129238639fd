"""The interface between the wire protocol and whatever executes SQL.

`wire/` knows nothing of the catalog, the SQL layer or the engine: it speaks to an object
implementing `Session` (laminar_pg.session.Session is the real one).  Values cross this
boundary as Python objects (parameters) and Arrow record batches (results); the wire
encodes them in the text or binary format each client asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Column:
    """A result column as RowDescription describes it."""

    name: str
    type_oid: int
    type_size: int = -1
    type_modifier: int = -1
    table_oid: int = 0
    column_number: int = 0


@dataclass(frozen=True, slots=True)
class CopyFormat:
    """COPY options the wire needs to frame rows: format is 'text', 'csv' or 'binary'."""

    format: str = "text"
    delimiter: str = "\t"
    null: str = "\\N"
    header: bool = False
    quote: str = '"'
    escape: str = '"'
    force_quote: tuple[str, ...] | bool = ()


@dataclass(slots=True)
class CommandResult:
    """A statement that returns no rows: CommandComplete with `tag`."""

    tag: str


@dataclass(slots=True)
class RowsResult:
    """Rows: RowDescription, DataRows, then CommandComplete '<tag_prefix> <count>'.

    With `copy` set, the rows go out as COPY ... TO STDOUT instead (tag 'COPY n').
    `batches` is consumed lazily, so a large result is never held in memory at once.
    """

    columns: tuple[Column, ...]
    batches: AsyncIterator[pa.RecordBatch]
    tag_prefix: str = "SELECT"
    copy: CopyFormat | None = None
    # Set when the row count in the tag is not the number of rows sent (e.g. MOVE).
    tag_override: str | None = None
    # The session's TimeZone: timestamptz values are rendered in it (None: UTC).
    timezone: tzinfo | None = None
    # Rows that arrive over time (SUBSCRIBE): each batch goes to the client at once.
    live: bool = False


class CopyInSink(Protocol):
    """Receives the bytes of COPY ... FROM STDIN."""

    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> str:
        """All data received: commit and return the command tag ('COPY n')."""
        ...

    async def abort(self, reason: str) -> None: ...


@dataclass(slots=True)
class CopyInResult:
    column_count: int
    copy: CopyFormat
    sink: CopyInSink


Result = CommandResult | RowsResult | CopyInResult


class Prepared(Protocol):
    """A parsed statement. `param_oids` are known after parse (0 = not yet inferred)."""

    sql: str
    param_oids: tuple[int, ...]

    @property
    def is_empty(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Description:
    param_oids: tuple[int, ...]
    columns: tuple[Column, ...] | None  # None: the statement returns no rows (NoData)


@dataclass(slots=True)
class Notice:
    severity: str
    sqlstate: str
    message: str
    extra: dict[str, str] = field(default_factory=dict)


class Session(Protocol):
    """What the wire protocol needs from the database, one object per connection.

    Every method may raise `laminar_pg.errors.SqlError`; anything else is reported to
    the client as XX000 and logged.
    """

    process_id: int
    secret_key: int

    @property
    def transaction_status(self) -> str:
        """'I' idle, 'T' in a transaction block, 'E' in a failed transaction block."""
        ...

    @property
    def idle_in_transaction_timeout(self) -> float | None:
        """Seconds a session may sit idle inside a transaction block (None: no limit)."""
        ...

    async def startup(self, parameters: dict[str, str]) -> list[tuple[str, str]]:
        """Accept the startup parameters; return the ParameterStatus pairs to report."""
        ...

    def take_parameter_changes(self) -> list[tuple[str, str]]:
        """Reported settings changed since the last call (SET application_name ...)."""
        ...

    def take_notices(self) -> list[Notice]: ...

    async def parse_script(self, sql: str) -> Sequence[Prepared]:
        """Split and parse a simple-query string; an empty string gives one empty statement."""
        ...

    async def prepare(self, sql: str, param_oids: Sequence[int]) -> Prepared:
        """Parse one statement (extended protocol); infers the types of untyped parameters."""
        ...

    async def describe(self, prepared: Prepared) -> Description: ...

    def describe_cursor(self, name: str) -> Description | None:
        """A SQL-level cursor (DECLARE) by name: it is a portal too, as in PostgreSQL."""
        ...

    async def execute(self, prepared: Prepared, params: Sequence[Any]) -> Result: ...

    def cancel(self) -> None:
        """Cancel the running statement, if any (called from the CancelRequest path)."""
        ...

    async def sync(self) -> None:
        """Sync arrived: end the implicit transaction of an extended-protocol batch."""
        ...

    async def close(self) -> None: ...
