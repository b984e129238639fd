"""In-memory stand-ins for the transport and the database, for socket-free wire tests.

`FakeChannel` is the `Channel` of laminar_pg.wire.connection over a frontend MessageReader
fed with bytes given up front; `FakeSession` is a tiny but honest `Session`: a handful of
statements (below) with real Arrow results, real transaction states and real SQLSTATEs.
`drive()` runs one `Connection` over them and decodes everything it wrote.

FakeSession statements (a script is split on ';', no quoting):

=================  ============================================================
``select N``       one int4 column ``n``, one row N
``select $1``      one int4 parameter, returned as one int4 row
``rows N``         int4 column ``n``: 1..N in batches of 7
``text W``         one text column ``t``, one row W
``fail``           rejected by the parser: 42601 with position 1
``error``          fails when run: 22012 division by zero
``boom``           a plain RuntimeError when run (the wire reports XX000)
``notice``         CommandResult 'DO' plus a NoticeResponse
``set NAME V``     CommandResult 'SET' plus a ParameterStatus change
``begin``          ``commit`` ``rollback``: transaction status I / T / E
``copyin``         COPY FROM STDIN of one text column into a recording sink
``copyout N``      COPY TO STDOUT (text format) of 1..N
(empty)            the empty statement
=================  ============================================================
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from laminar_pg import errcodes
from laminar_pg.wire import codec
from laminar_pg.wire import messages as m
from laminar_pg.wire.connection import Connection, ServerContext
from laminar_pg.wire.session import (
    Column,
    CommandResult,
    CopyFormat,
    CopyInResult,
    Description,
    Notice,
    Prepared,
    Result,
    RowsResult,
)

INT4 = 23
TEXT = 25
BATCH_ROWS = 7
STARTUP_STATUSES = [
    ("server_version", "16.0"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
]


# --------------------------------------------------------------------------- channel


class FakeChannel:
    """A Channel in memory: client bytes in, server bytes collected write by write."""

    def __init__(
        self,
        data: bytes = b"",
        *,
        loopback: bool = True,
        max_length: int = codec.DEFAULT_MAX_MESSAGE,
    ) -> None:
        self.peer = "127.0.0.1:40000" if loopback else "203.0.113.7:40000"
        self._loopback = loopback
        self.reader = codec.frontend_reader(max_length)
        self.reader.feed(data)
        self.writes: list[bytes] = []
        self.received: list[Any] = []
        self.drains = 0

    @property
    def peer_is_loopback(self) -> bool:
        return self._loopback

    def feed(self, data: bytes) -> None:
        """More client bytes (before or between runs)."""
        self.reader.feed(data)

    async def receive(self, timeout: float | None = None) -> Any:
        """The next whole message, or None once the given bytes run out (end of stream)."""
        msg = self.reader.next_message()
        if msg is codec.NEED_DATA:
            return None
        self.received.append(msg)
        return msg

    def write(self, data: bytes) -> None:
        assert isinstance(data, bytes) and data, "the connection writes non-empty bytes"
        self.writes.append(data)

    async def drain(self) -> None:
        self.drains += 1

    async def start_tls(self) -> None:
        raise AssertionError("start_tls called although the context offers no TLS")

    def expect_startup(self) -> None:
        self.reader.expect_startup()

    @property
    def written(self) -> bytes:
        return b"".join(self.writes)


# --------------------------------------------------------------------------- session


@dataclass(slots=True)
class FakePrepared:
    sql: str
    kind: str  # the statement's first word, '' for the empty statement
    arg: str = ""
    param_oids: tuple[int, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.kind == ""


@dataclass
class RecordingSink:
    """A CopyInSink that keeps every chunk it is given."""

    chunks: list[bytes] = field(default_factory=list)
    finished: bool = False
    aborted: str | None = None

    async def write(self, data: bytes) -> None:
        assert not self.finished and self.aborted is None
        self.chunks.append(data)

    async def finish(self) -> str:
        self.finished = True
        lines = b"".join(self.chunks).count(b"\n")
        return f"COPY {lines}"

    async def abort(self, reason: str) -> None:
        self.aborted = reason


def _int4_rows(values: Sequence[int]) -> list[pa.RecordBatch]:
    return [
        pa.record_batch([pa.array(values[i : i + BATCH_ROWS], pa.int32())], names=["n"])
        for i in range(0, len(values), BATCH_ROWS)
    ]


async def _aiter(batches: list[pa.RecordBatch]) -> AsyncIterator[pa.RecordBatch]:
    for batch in batches:
        yield batch


_NO_ROWS = ("begin", "commit", "rollback", "copyin", "notice", "set", "fail", "error", "boom")
_KNOWN = {"select", "rows", "text", "copyout", *_NO_ROWS}


class FakeSession:
    """A minimal Session: see the module docstring for the statements it knows."""

    process_id = 4242
    secret_key = -17

    def __init__(self) -> None:
        self._status = "I"
        self.parameters: dict[str, str] = {}
        self.sinks: list[RecordingSink] = []
        self.executed: list[str] = []
        self.syncs = 0
        self.cancelled = False
        self.closed = False
        self._notices: list[Notice] = []
        self._changes: list[tuple[str, str]] = []
        self.cursors: dict[str, Description] = {}

    @property
    def transaction_status(self) -> str:
        return self._status

    @property
    def idle_in_transaction_timeout(self) -> float | None:
        return None

    async def startup(self, parameters: dict[str, str]) -> list[tuple[str, str]]:
        self.parameters = dict(parameters)
        return [*STARTUP_STATUSES, ("application_name", parameters.get("application_name", ""))]

    def take_parameter_changes(self) -> list[tuple[str, str]]:
        changes, self._changes = self._changes, []
        return changes

    def take_notices(self) -> list[Notice]:
        notices, self._notices = self._notices, []
        return notices

    def _parse(self, sql: str, param_oids: Sequence[int] = ()) -> FakePrepared:
        text = sql.strip()
        if not text:
            return FakePrepared(sql, "")
        kind, _, arg = text.partition(" ")
        kind, arg = kind.lower(), arg.strip()
        if kind == "fail" or kind not in _KNOWN:
            raise errcodes.SyntaxError(f'syntax error at or near "{kind}"', position=1)
        if kind == "select" and arg == "$1":
            oids = tuple(param_oids[:1]) or (INT4,)
            return FakePrepared(sql, kind, arg, tuple(o or INT4 for o in oids))
        if kind in ("select", "rows", "copyout") and not arg.isdigit():
            raise errcodes.SyntaxError(f'syntax error at or near "{arg}"', position=len(kind) + 2)
        return FakePrepared(sql, kind, arg)

    async def parse_script(self, sql: str) -> list[Prepared]:
        pieces = [p for p in sql.split(";") if p.strip()]
        if not pieces:
            return [FakePrepared(sql, "")]
        return [self._parse(p) for p in pieces]

    async def prepare(self, sql: str, param_oids: Sequence[int]) -> FakePrepared:
        if ";" in sql.strip().rstrip(";"):
            raise errcodes.SyntaxError("cannot insert multiple commands into a prepared statement")
        return self._parse(sql.strip().rstrip(";"), param_oids)

    async def describe(self, prepared: Any) -> Description:
        assert isinstance(prepared, FakePrepared)
        return Description(prepared.param_oids, self._columns(prepared))

    def describe_cursor(self, name: str) -> Description | None:
        """SQL-level cursors (DECLARE) are portals too; tests fill `cursors` directly."""
        return self.cursors.get(name)

    @staticmethod
    def _columns(prepared: FakePrepared) -> tuple[Column, ...] | None:
        if prepared.kind in ("select", "rows"):
            return (Column("n", INT4, 4),)
        if prepared.kind == "text":
            return (Column("t", TEXT),)
        return None

    async def execute(self, prepared: Any, params: Sequence[Any]) -> Result:
        assert isinstance(prepared, FakePrepared) and not prepared.is_empty
        self.executed.append(prepared.kind)
        if self._status == "E" and prepared.kind not in ("commit", "rollback"):
            raise errcodes.InFailedSqlTransaction(
                "current transaction is aborted, commands ignored until end of transaction block"
            )
        try:
            return self._run(prepared, params)
        except Exception:
            if self._status == "T":
                self._status = "E"
            raise

    def _run(self, prepared: FakePrepared, params: Sequence[Any]) -> Result:
        kind, arg = prepared.kind, prepared.arg
        if kind == "select":
            value = params[0] if arg == "$1" else int(arg)
            return RowsResult((Column("n", INT4, 4),), _aiter(_int4_rows([value])))
        if kind == "rows":
            return RowsResult((Column("n", INT4, 4),), _aiter(_int4_rows(range(1, int(arg) + 1))))
        if kind == "copyout":
            batches = _aiter(_int4_rows(range(1, int(arg) + 1)))
            return RowsResult((Column("n", INT4, 4),), batches, copy=CopyFormat())
        if kind == "text":
            batch = pa.record_batch([pa.array([arg], pa.string())], names=["t"])
            return RowsResult((Column("t", TEXT),), _aiter([batch]))
        if kind == "error":
            raise errcodes.DivisionByZero("division by zero")
        if kind == "boom":
            raise RuntimeError("the fake session exploded")
        if kind == "notice":
            self._notices.append(Notice("NOTICE", "00000", "a notice", {"hint": "none"}))
            return CommandResult("DO")
        if kind == "set":
            name, _, value = arg.partition(" ")
            self._changes.append((name, value))
            return CommandResult("SET")
        if kind == "copyin":
            sink = RecordingSink()
            self.sinks.append(sink)
            return CopyInResult(1, CopyFormat(), sink)
        return self._transaction(kind)

    def _transaction(self, kind: str) -> CommandResult:
        if kind == "begin":
            self._status = "T"
            return CommandResult("BEGIN")
        failed = self._status == "E"
        self._status = "I"
        return CommandResult("ROLLBACK" if kind == "rollback" or failed else "COMMIT")

    def cancel(self) -> None:
        self.cancelled = True

    async def sync(self) -> None:
        self.syncs += 1

    async def close(self) -> None:
        self.closed = True


# --------------------------------------------------------------------------- driving


@dataclass
class Driven:
    """What one run of a Connection produced."""

    messages: list[Any]  # backend messages, decoded
    ssl_answers: bytes  # the single-byte answers to SSLRequest / GSSENCRequest
    channel: FakeChannel
    sessions: list[FakeSession]
    cancels: list[tuple[int, int]]
    connection: Connection


def decode_backend(writes: Sequence[bytes]) -> tuple[bytes, list[Any]]:
    """Split leading one-byte SSL/GSS answers from the messages and decode the rest."""
    answers = b""
    i = 0
    while i < len(writes) and len(writes[i]) == 1:
        assert writes[i] in (b"N", b"S"), writes[i]
        answers += writes[i]
        i += 1
    reader = codec.backend_reader()
    reader.feed(b"".join(writes[i:]))
    out = []
    while (msg := reader.next_message()) is not codec.NEED_DATA:
        out.append(msg)
    assert reader.buffered == 0, "the server wrote a partial message"
    return answers, out


def run_connection(
    data: bytes,
    *,
    loopback: bool = True,
    session_factory: Callable[[], FakeSession] = FakeSession,
    connection_cls: type[Connection] = Connection,
    max_length: int = codec.DEFAULT_MAX_MESSAGE,
    **context: Any,
) -> Driven:
    """Run a Connection over `data` to the end and decode everything it wrote."""
    channel = FakeChannel(data, loopback=loopback, max_length=max_length)
    sessions: list[FakeSession] = []
    cancels: list[tuple[int, int]] = []

    def new_session() -> FakeSession:
        sessions.append(session_factory())
        return sessions[-1]

    ctx = ServerContext(
        new_session=new_session, cancel=lambda pid, key: cancels.append((pid, key)), **context
    )
    conn = connection_cls(channel, ctx)
    asyncio.run(conn.run())
    answers, messages = decode_backend(channel.writes)
    return Driven(messages, answers, channel, sessions, cancels, conn)


def drive(conn_bytes: bytes, **kwargs: Any) -> list[Any]:
    """The backend messages a Connection writes for the client bytes `conn_bytes`."""
    return run_connection(conn_bytes, **kwargs).messages


def startup_bytes(user: str = "alice", **params: str) -> bytes:
    return m.StartupMessage({"user": user, **params}).encode()


def client(*msgs: Any, startup: bool = True) -> bytes:
    """The wire bytes of a valid startup (unless startup=False) followed by `msgs`."""
    return (startup_bytes() if startup else b"") + b"".join(msg.encode() for msg in msgs)
