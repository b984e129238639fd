"""The per-connection protocol state machine (startup, auth, simple and extended query, COPY).

Strategy: one coroutine per connection drives the conversation.  It owns no socket:
it reads frontend messages from a `Channel` and writes backend bytes to it, and asks a
`Session` to parse and run SQL.  Only `wire/server.py` knows about asyncio; this module
uses `async def` so that a session may wait (a long query, pg_sleep, a subscription)
without blocking other connections.  The structure mirrors PostgreSQL's postgres.c
(PostgresMain: exec_simple_query, exec_parse_message, exec_bind_message, exec_execute_message):
after an error in the extended protocol everything up to the next Sync is discarded.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import pyarrow as pa
import structlog

from laminar_pg import errcodes
from laminar_pg.errors import SqlError
from laminar_pg.wire import messages as m
from laminar_pg.wire import types
from laminar_pg.wire.codec import ProtocolError
from laminar_pg.wire.copy import CopyEncoder
from laminar_pg.wire.rows import RowEncoder
from laminar_pg.wire.session import (
    CommandResult,
    CopyInResult,
    Description,
    Prepared,
    RowsResult,
    Session,
)

log = structlog.get_logger("laminar_pg.wire")

OUTPUT_FLUSH_BYTES = 256 * 1024


IDLE_TIMEOUT = object()  # Channel.receive: nothing arrived within the timeout


class Channel(Protocol):
    """What the connection needs from the transport (implemented by server.py)."""

    peer: str  # "host:port" for logs

    @property
    def peer_is_loopback(self) -> bool: ...

    async def receive(self, timeout: float | None = None) -> Any:
        """The next frontend message; None at end of stream; IDLE_TIMEOUT when `timeout`
        seconds pass first. Raises ProtocolError."""
        ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None:
        """Wait while the client is not reading what we sent (flow control)."""
        ...

    async def start_tls(self) -> None: ...

    def expect_startup(self) -> None:
        """The next message is an untyped startup packet (after SSL/GSS negotiation)."""
        ...


class Authenticator(Protocol):
    """One authentication exchange (SCRAM); see wire/auth.py."""

    def start(self) -> Any: ...

    def step(self, message: m.PasswordMessage) -> Any: ...

    @property
    def done(self) -> bool: ...


@dataclass(slots=True)
class ServerContext:
    """Shared by every connection of one server."""

    new_session: Callable[[], Session]
    cancel: Callable[[int, int], None]
    tls_available: bool = False
    authenticator: Callable[[str], Authenticator | None] = lambda user: None
    trust_remote: bool = False
    on_session_start: Callable[[Session, dict[str, str], str], None] = lambda s, p, peer: None
    on_session_end: Callable[[Session], None] = lambda s: None
    shutting_down: bool = False


@dataclass(slots=True)
class Portal:
    prepared: Prepared
    params: list[Any]
    result_formats: tuple[int, ...]
    description: Description | None = None
    rows: RowsResult | None = None
    pending: pa.RecordBatch | None = None
    batches: AsyncIterator[pa.RecordBatch] | None = None
    sent: int = 0
    done: bool = False
    encoder: RowEncoder | None = None


class Terminated(Exception):
    """The client said goodbye or the connection must close."""


@dataclass(slots=True)
class Connection:
    channel: Channel
    ctx: ServerContext
    session: Session | None = None
    statements: dict[str, Prepared] = field(default_factory=dict)
    portals: dict[str, Portal] = field(default_factory=dict)
    _out: list[bytes] = field(default_factory=list)
    _out_size: int = 0
    user: str = ""

    # ------------------------------------------------------------------ output

    def send(self, msg: Any) -> None:
        data = msg.encode()
        self._out.append(data)
        self._out_size += len(data)

    def send_raw(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def flush(self) -> None:
        if self._out:
            self.channel.write(b"".join(self._out))
            self._out.clear()
            self._out_size = 0

    async def maybe_flush(self) -> None:
        """Hand big outputs to the transport and wait if the client is slow to read."""
        if self._out_size >= OUTPUT_FLUSH_BYTES:
            self.flush()
            await self.channel.drain()

    def send_error(self, err: SqlError) -> None:
        fields = {
            "severity": err.severity,
            "severity_nonlocalized": err.severity,
            "sqlstate": err.sqlstate,
            "message": err.message,
        }
        if err.detail:
            fields["detail"] = err.detail
        if err.hint:
            fields["hint"] = err.hint
        if err.position:
            fields["position"] = str(err.position)
        self.send(m.ErrorResponse(fields))

    def send_notices(self) -> None:
        """Notices raised so far: before the statement's CommandComplete, as PostgreSQL."""
        assert self.session is not None
        for notice in self.session.take_notices():
            fields = {
                "severity": notice.severity,
                "severity_nonlocalized": notice.severity,
                "sqlstate": notice.sqlstate,
                "message": notice.message,
                **notice.extra,
            }
            self.send(m.NoticeResponse(fields))

    def ready(self) -> None:
        """ReadyForQuery, preceded by the reported settings that changed (PostgreSQL 15
        sends ParameterStatus just before ReadyForQuery)."""
        assert self.session is not None
        self.send_notices()
        for name, value in self.session.take_parameter_changes():
            self.send(m.ParameterStatus(name, value))
        self.send(m.ReadyForQuery(self.session.transaction_status))
        self.flush()

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        try:
            if not await self.startup():
                return
            await self.serve()
        except Terminated:
            pass
        except ProtocolError as exc:
            log.warning("protocol.violation", peer=self.channel.peer, error=str(exc))
            self.send_error(errcodes.ProtocolViolation(str(exc), severity="FATAL"))
        except SqlError as err:  # errors before or during startup end the connection
            err.severity = "FATAL"
            self.send_error(err)
        except Exception as exc:
            internal = self.internal_error(exc)
            internal.severity = "FATAL"
            self.send_error(internal)
        finally:
            self.flush()
            if self.session is not None:
                self.ctx.on_session_end(self.session)
                await self.session.close()

    async def startup(self) -> bool:
        """SSL/GSS negotiation, StartupMessage, authentication; False if the connection ends.

        As postmaster.c's ProcessStartupPacket: each of SSLRequest and GSSENCRequest may be
        answered once; after TLS is set up, neither may come again.
        """
        ssl_done = gss_done = False
        while True:
            msg = await self.channel.receive()
            if msg is None:
                return False
            if isinstance(msg, m.SSLRequest) and not ssl_done:
                ssl_done = True
                if self.ctx.tls_available:
                    self.channel.write(b"S")
                    await self.channel.start_tls()
                    gss_done = True
                else:
                    self.channel.write(b"N")
                self.channel.expect_startup()
                continue
            if isinstance(msg, m.GSSENCRequest) and not gss_done:
                gss_done = True
                self.channel.write(b"N")
                self.channel.expect_startup()
                continue
            if isinstance(msg, (m.SSLRequest, m.GSSENCRequest)):
                code = m.SSL_REQUEST_CODE if isinstance(msg, m.SSLRequest) else m.GSSENC_REQUEST_CODE
                raise errcodes.ProtocolViolation(
                    f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
                    "server supports 3.0 to 3.0",
                    sqlstate="0A000",
                )
            if isinstance(msg, m.CancelRequest):
                self.ctx.cancel(msg.process_id, msg.secret_key)
                return False
            if isinstance(msg, m.StartupMessage):
                return await self.authenticate(msg)
            raise errcodes.ProtocolViolation(f"unexpected startup message {type(msg).__name__}")

    async def authenticate(self, msg: m.StartupMessage) -> bool:
        major, minor = msg.protocol >> 16, msg.protocol & 0xFFFF
        if major != 3:
            raise errcodes.FeatureNotSupported(
                f"unsupported frontend protocol {major}.{minor}: "
                "server supports 3.0 to 3.0"
            )
        if self.ctx.shutting_down:
            raise errcodes.CannotConnectNow("the database system is shutting down")
        params = dict(msg.parameters)
        unrecognized = tuple(k for k in params if k.startswith("_pq_."))
        if minor > 0 or unrecognized:
            self.send(m.NegotiateProtocolVersion(0, unrecognized))
        for key in unrecognized:
            params.pop(key)
        if params.get("replication", "false").lower() not in ("false", "off", "no", "0"):
            raise errcodes.FeatureNotSupported("replication connections are not supported")
        user = params.get("user")
        if not user:
            raise errcodes.InvalidAuthorizationSpecification(
                "no PostgreSQL user name specified in startup packet"
            )
        params.setdefault("database", user)
        self.user = user
        auth = self.ctx.authenticator(user)
        if auth is None:
            if not self.channel.peer_is_loopback and not self.ctx.trust_remote:
                log.warning("auth.refused_remote", peer=self.channel.peer, user=user)
                raise errcodes.InvalidAuthorizationSpecification(
                    f'no password is configured, so user "{user}" may connect '
                    "only from the loopback interface",
                    hint="Start the server with --password-file, or --auth trust to accept "
                    "remote clients without a password.",
                )
        else:
            await self.run_auth(auth, user)
        self.send(m.AuthenticationOk())
        session = self.ctx.new_session()
        try:
            statuses = await session.startup(params)
        except BaseException:
            await session.close()
            raise
        self.session = session
        self.ctx.on_session_start(session, params, self.channel.peer)
        for name, value in statuses:
            self.send(m.ParameterStatus(name, value))
        self.send(m.BackendKeyData(session.process_id, session.secret_key))
        self.ready()
        return True

    async def run_auth(self, auth: Authenticator, user: str) -> None:
        self.send(auth.start())
        self.flush()
        while not auth.done:
            msg = await self.channel.receive()
            if msg is None:
                raise Terminated
            if not isinstance(msg, m.PasswordMessage):
                raise errcodes.ProtocolViolation(
                    f"expected password response, got message type {type(msg).__name__}"
                )
            try:
                reply = auth.step(msg)
            except errcodes.InvalidPassword:
                log.warning("auth.failed", peer=self.channel.peer, user=user)
                raise
            self.send(reply)
            self.flush()
        log.info("auth.ok", peer=self.channel.peer, user=user)

    # ------------------------------------------------------------------ main loop

    async def serve(self) -> None:
        # After an error in an extended-protocol message everything but Sync is discarded
        # (postgres.c: ignore_till_sync, cleared only when a Sync is read).
        skipping = False
        while True:
            idle_limit = None
            if self.session is not None and self.session.transaction_status != "I":
                idle_limit = self.session.idle_in_transaction_timeout
            msg = await self.channel.receive(idle_limit)
            if msg is IDLE_TIMEOUT:  # postgres.c: IdleInTransactionSessionTimeout
                self.send_error(errcodes.IdleInTransactionSessionTimeout(
                    "terminating connection due to idle-in-transaction timeout",
                    severity="FATAL"))
                self.flush()
                raise Terminated
            if msg is None or isinstance(msg, m.Terminate):
                return
            if skipping and not isinstance(msg, m.Sync):
                continue
            skipping = False
            handler = self.EXTENDED.get(type(msg))
            if handler is not None:
                try:
                    await handler(self, msg)
                except (Terminated, ProtocolError):
                    raise
                except SqlError as err:
                    await self.on_error(err)
                    skipping = True
                except Exception as exc:
                    await self.on_error(self.internal_error(exc))
                    skipping = True
            elif isinstance(msg, m.Sync):
                await self.on_sync()
            elif isinstance(msg, m.Query):
                await self.simple_query(msg.sql)
            elif isinstance(msg, m.Flush):
                self.flush()
            elif isinstance(msg, (m.CopyData, m.CopyDone, m.CopyFail)):
                continue  # PostgreSQL ignores these outside COPY (after a failed COPY)
            elif isinstance(msg, m.FunctionCall):
                self.send_error(
                    errcodes.FeatureNotSupported("the fast-path function call is not supported")
                )
                self.ready()
            else:
                raise ProtocolError(f"unexpected message type {type(msg).__name__} after startup")

    def internal_error(self, exc: Exception) -> SqlError:
        log.exception("internal_error", peer=self.channel.peer)
        return errcodes.InternalError(f"internal error: {type(exc).__name__}: {exc}")

    async def on_error(self, err: SqlError) -> None:
        """An extended-protocol error goes out at once, as elog.c flushes errors: the
        client may be waiting after a Flush, and later Flushes are skipped until Sync."""
        self.send_error(err)
        if err.severity == "FATAL":
            raise Terminated
        self.flush()
        await self.channel.drain()

    async def end_implicit_transaction(self) -> None:
        """A Query or a Sync ends the implicit transaction of what came before it."""
        assert self.session is not None
        try:
            await self.session.sync()
        except SqlError as err:
            self.send_error(err)
        except Exception as exc:
            self.send_error(self.internal_error(exc))

    async def on_sync(self) -> None:
        assert self.session is not None
        await self.end_implicit_transaction()
        if self.session.transaction_status == "I":
            self.portals.clear()
        self.ready()

    # ------------------------------------------------------------------ simple query

    async def simple_query(self, sql: str) -> None:
        """postgres.c exec_simple_query: parse all, run each, stop at the first error."""
        session = self.session
        assert session is not None
        self.portals.pop("", None)
        try:
            statements = await session.parse_script(sql)
            if len(statements) == 1 and statements[0].is_empty:
                self.send(m.EmptyQueryResponse())
            for stmt in statements:
                if stmt.is_empty:
                    continue
                result = await session.execute(stmt, ())
                self.send_notices()
                if isinstance(result, RowsResult) and result.copy is None:
                    self.send(m.RowDescription(field_descriptions(result.columns, ())))
                await self.send_result(result, (), 0, None)
        except SqlError as err:
            self.send_error(err)
        except (Terminated, ProtocolError):
            raise
        except Exception as exc:
            self.send_error(self.internal_error(exc))
        await self.end_implicit_transaction()  # the query string's
        self.ready()

    # ------------------------------------------------------------------ results

    async def send_result(
        self, result: Any, formats: Sequence[int], max_rows: int, portal: Portal | None
    ) -> None:
        if isinstance(result, CommandResult):
            self.send(m.CommandComplete(result.tag))
        elif isinstance(result, RowsResult):
            if result.copy is not None:
                await self.copy_out(result)
            else:
                if portal is None:
                    portal = Portal(prepared=None, params=[], result_formats=tuple(formats))  # type: ignore[arg-type]
                portal.rows = result
                portal.batches = aiter(result.batches)
                portal.encoder = RowEncoder(
                    [c.type_oid for c in result.columns], formats, result.timezone
                )
                await self.send_rows(portal, max_rows)
        elif isinstance(result, CopyInResult):
            await self.copy_in(result)
        else:  # pragma: no cover - a Session bug
            raise TypeError(f"unknown result {result!r}")

    async def send_rows(self, portal: Portal, max_rows: int) -> None:
        """DataRows until the result ends (CommandComplete) or max_rows (PortalSuspended)."""
        assert portal.rows is not None and portal.encoder is not None
        limit = max_rows if max_rows > 0 else None
        sent_now = 0
        while limit is None or sent_now < limit:
            batch = portal.pending
            portal.pending = None
            if batch is None:
                assert portal.batches is not None
                batch = await anext(portal.batches, None)
                if batch is None:
                    break
            if limit is not None and batch.num_rows > limit - sent_now:
                take = limit - sent_now
                portal.pending = batch.slice(take)
                batch = batch.slice(0, take)
            if batch.num_rows:
                self.send_raw(portal.encoder.data_rows(batch))
                sent_now += batch.num_rows
                if portal.rows.live:
                    self.flush()
                    await self.channel.drain()
                else:
                    await self.maybe_flush()
        portal.sent += sent_now
        if limit is not None and sent_now >= limit:
            # No look-ahead (which could block on a live result): exactly max_rows rows
            # suspend the portal, as PostgreSQL does even when none are left.
            self.send(m.PortalSuspended())
            return
        portal.done = True
        rows = portal.rows
        # The tag counts this Execute's rows (pquery.c PortalRunSelect's nprocessed).
        self.send(m.CommandComplete(rows.tag_override or f"{rows.tag_prefix} {sent_now}"))

    async def copy_out(self, result: RowsResult) -> None:
        """COPY ... TO STDOUT: one CopyData per row; the binary header rides on the first
        message and the trailer goes alone, as PostgreSQL's copyto.c sends them."""
        assert result.copy is not None
        encoder = CopyEncoder(result.copy, result.columns, result.timezone)
        fmt = encoder.overall_format
        self.send(m.CopyOutResponse(fmt, (fmt,) * len(result.columns)))
        prefix = encoder.header()
        if prefix and fmt == 0:
            self.send(m.CopyData(prefix))
            prefix = b""
        count = 0
        if result.live:
            self.flush()
        async for batch in result.batches:
            rows = encoder.encode(batch)
            if rows and prefix:
                rows[0] = prefix + rows[0]
                prefix = b""
            self.send_raw(b"".join([copy_data(row) for row in rows]))
            count += len(rows)
            if result.live:
                self.flush()
                await self.channel.drain()
            else:
                await self.maybe_flush()
        trailer = encoder.trailer()
        if prefix or trailer:
            self.send(m.CopyData(prefix + trailer))
        self.send(m.CopyDone())
        self.send(m.CommandComplete(result.tag_override or f"COPY {count}"))

    async def copy_in(self, result: CopyInResult) -> None:
        fmt = 1 if result.copy.format == "binary" else 0
        self.send(m.CopyInResponse(fmt, (fmt,) * result.column_count))
        self.flush()
        while True:
            msg = await self.channel.receive()
            if msg is None:
                await result.sink.abort("connection closed during COPY")
                raise Terminated
            if isinstance(msg, m.CopyData):
                await result.sink.write(msg.data)
            elif isinstance(msg, m.CopyDone):
                self.send(m.CommandComplete(await result.sink.finish()))
                return
            elif isinstance(msg, m.CopyFail):
                await result.sink.abort(msg.message)
                raise errcodes.QueryCanceled(f"COPY from stdin failed: {msg.message}")
            elif isinstance(msg, (m.Flush, m.Sync)):
                continue
            else:
                await result.sink.abort("unexpected message")
                raise errcodes.ProtocolViolation(
                    f"unexpected message type {type(msg).__name__} during COPY from stdin"
                )

    # ------------------------------------------------------------------ extended query

    async def on_parse(self, msg: m.Parse) -> None:
        assert self.session is not None
        if msg.name and msg.name in self.statements:
            raise errcodes.DuplicatePreparedStatement(f'prepared statement "{msg.name}" already exists')
        prepared = await self.session.prepare(msg.sql, msg.param_oids)
        self.statements[msg.name] = prepared
        self.send(m.ParseComplete())

    async def on_bind(self, msg: m.Bind) -> None:
        prepared = self.statements.get(msg.statement)
        if prepared is None:
            raise errcodes.InvalidSqlStatementName(
                f'prepared statement "{msg.statement}" does not exist'
            )
        if msg.portal and msg.portal in self.portals:
            raise errcodes.DuplicateCursor(f'portal "{msg.portal}" already exists')
        oids = prepared.param_oids
        if len(msg.params) != len(oids):
            raise errcodes.ProtocolViolation(
                f"bind message supplies {len(msg.params)} parameters, but prepared statement "
                f'"{msg.statement}" requires {len(oids)}'
            )
        formats = expand_formats(msg.param_formats, len(msg.params), "parameter")
        params: list[Any] = []
        for i, (oid, fmt, raw) in enumerate(zip(oids, formats, msg.params, strict=True)):
            if raw is None:
                params.append(None)
                continue
            try:
                params.append(types.decode_param(oid, fmt, raw))
            except SqlError as err:
                if fmt == 1 and err.sqlstate == "08P01":
                    err.message = f"incorrect binary data format in bind parameter {i + 1}"
                    err.sqlstate = "22P03"
                raise
        self.portals[msg.portal] = Portal(prepared, params, msg.result_formats)
        self.send(m.BindComplete())

    async def describe_of(self, prepared: Prepared) -> Description:
        assert self.session is not None
        return await self.session.describe(prepared)

    async def on_describe(self, msg: m.Describe) -> None:
        if msg.kind == "S":
            prepared = self.statements.get(msg.name)
            if prepared is None:
                raise errcodes.InvalidSqlStatementName(
                    f'prepared statement "{msg.name}" does not exist'
                )
            desc = await self.describe_of(prepared)
            self.send(m.ParameterDescription(desc.param_oids))
            formats: Sequence[int] = ()
        else:
            portal = self.portals.get(msg.name)
            if portal is None:
                assert self.session is not None
                cursor = self.session.describe_cursor(msg.name)
                if cursor is None:
                    raise errcodes.InvalidCursorName(f'portal "{msg.name}" does not exist')
                portal = Portal(None, [], (), description=cursor)  # type: ignore[arg-type]
            if portal.description is None:
                portal.description = await self.describe_of(portal.prepared)
            desc = portal.description
            formats = portal.result_formats
        if desc.columns is None:
            self.send(m.NoData())
        else:
            self.send(m.RowDescription(field_descriptions(desc.columns, formats)))

    async def on_execute(self, msg: m.Execute) -> None:
        assert self.session is not None
        portal = self.portals.get(msg.portal)
        if portal is None:
            raise errcodes.InvalidCursorName(f'portal "{msg.portal}" does not exist')
        if portal.rows is not None and not portal.done:
            await self.send_rows(portal, msg.max_rows)
            return
        if portal.done:
            rows = portal.rows
            prefix = rows.tag_prefix if rows is not None else "SELECT"
            self.send(m.CommandComplete(f"{prefix} 0"))
            return
        if portal.prepared.is_empty:
            self.send(m.EmptyQueryResponse())
            return
        result = await self.session.execute(portal.prepared, portal.params)
        self.send_notices()
        if isinstance(result, RowsResult) and result.copy is None:
            formats = expand_formats(portal.result_formats, len(result.columns), "result")
            await self.send_result(result, formats, msg.max_rows, portal)
        else:
            await self.send_result(result, (), 0, None)
            portal.done = True

    async def on_close(self, msg: m.Close) -> None:
        if msg.kind == "S":
            self.statements.pop(msg.name, None)
        else:
            self.portals.pop(msg.name, None)
        self.send(m.CloseComplete())

    EXTENDED: ClassVar[dict[type, Callable[[Connection, Any], Any]]] = {}


Connection.EXTENDED = {
    m.Parse: Connection.on_parse,
    m.Bind: Connection.on_bind,
    m.Describe: Connection.on_describe,
    m.Execute: Connection.on_execute,
    m.Close: Connection.on_close,
}


_COPY_DATA_HEAD = struct.Struct("!ci").pack


def copy_data(payload: bytes) -> bytes:
    """One CopyData message ('d', length, payload) without a dataclass per row."""
    return _COPY_DATA_HEAD(b"d", len(payload) + 4) + payload


def expand_formats(formats: Sequence[int], count: int, what: str) -> tuple[int, ...]:
    """Bind's format codes: none = all text, one = all that one, else one per column."""
    for f in formats:
        if f not in (0, 1):
            raise errcodes.ProtocolViolation(f"unsupported format code: {f}")
    if not formats:
        return (0,) * count
    if len(formats) == 1:
        return (formats[0],) * count
    if len(formats) != count:
        raise errcodes.ProtocolViolation(
            f"bind message has {len(formats)} {what} formats but {count} {what}s"
        )
    return tuple(formats)


def field_descriptions(columns: Sequence[Any], formats: Sequence[int]) -> tuple[m.FieldDescription, ...]:
    fmts = expand_formats(formats, len(columns), "result")
    return tuple(
        m.FieldDescription(
            c.name, c.table_oid, c.column_number, c.type_oid, type_size(c), c.type_modifier, f
        )
        for c, f in zip(columns, fmts, strict=True)
    )


def type_size(column: Any) -> int:
    if column.type_size != -1:
        return int(column.type_size)
    t = types.TYPES_BY_OID.get(column.type_oid)
    return t.typlen if t is not None else -1


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host in ("", "localhost")  # unix socket
