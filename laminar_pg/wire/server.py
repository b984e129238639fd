"""The asyncio shell around the sans-I/O protocol: sockets, TLS, flow control, shutdown.

This is the only module of wire/ that imports asyncio.  Each connection is an
asyncio.Protocol (not streams) that feeds bytes to a MessageReader and runs one
`Connection` coroutine.  Flow control both ways: reading pauses while a client has sent
far more than we have processed, and writing waits (drain) while the client is not
reading what we sent, so a slow client never makes the server buffer without bound.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from laminar_pg.config import Config
from laminar_pg.errors import SqlError
from laminar_pg.wire import codec
from laminar_pg.wire import messages as m
from laminar_pg.wire.connection import (
    IDLE_TIMEOUT,
    Authenticator,
    Connection,
    ServerContext,
    is_loopback,
)
from laminar_pg.wire.session import Session

log = structlog.get_logger("laminar_pg.server")

READ_HIGH_WATER = 1024 * 1024  # pause reading when this much input is unprocessed
WRITE_HIGH_WATER = 1024 * 1024
WRITE_LOW_WATER = 256 * 1024


class PgChannel(asyncio.Protocol):
    """One client connection: a Channel for `Connection` on top of an asyncio transport."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.reader = codec.frontend_reader(server.config.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self._host = ""
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._read_paused = False
        self._write_paused = False
        self.connection: Connection | None = None
        self.task: asyncio.Task[None] | None = None

    # asyncio.Protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._host = str(peer[0])
            self.peer = f"{peer[0]}:{peer[1]}"
        else:
            self._host, self.peer = "", str(peer or "local")
        self.connection = Connection(self, self.server.context)
        self.task = asyncio.get_running_loop().create_task(self._run())
        self.server.channels.add(self)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        if self.reader.buffered > READ_HIGH_WATER and not self._read_paused:
            assert self.transport is not None
            self.transport.pause_reading()
            self._read_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self.server.channels.discard(self)
        conn = self.connection
        if conn is not None and conn.session is not None:
            conn.session.cancel()  # the client went away: stop its running statement

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # Channel
    @property
    def peer_is_loopback(self) -> bool:
        return is_loopback(self._host)

    async def receive(self, timeout: float | None = None) -> Any:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            msg = self.reader.next_message()
            if msg is not codec.NEED_DATA:
                return msg
            if self._eof:
                return None
            if self._read_paused and self.transport is not None:
                self.transport.resume_reading()
                self._read_paused = False
            self._waiter = loop.create_future()
            try:
                if deadline is None:
                    await self._waiter
                else:
                    await asyncio.wait_for(self._waiter, max(0.0, deadline - loop.time()))
            except TimeoutError:
                return IDLE_TIMEOUT
            finally:
                self._waiter = None

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        while self._write_paused and not self._eof:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter
        if self._eof:
            from laminar_pg.wire.connection import Terminated

            raise Terminated

    async def start_tls(self) -> None:
        if self.reader.buffered:
            raise codec.ProtocolError("received unencrypted data after SSL request")
        assert self.transport is not None and self.server.ssl_context is not None
        loop = asyncio.get_running_loop()
        new = await loop.start_tls(
            self.transport, self, self.server.ssl_context, server_side=True
        )
        self.transport = new

    def expect_startup(self) -> None:
        self.reader.expect_startup()

    async def _run(self) -> None:
        assert self.connection is not None
        try:
            await self.connection.run()
        except (ConnectionError, ssl.SSLError) as exc:
            log.info("connection.lost", peer=self.peer, error=str(exc))
        except Exception:
            log.exception("connection.crashed", peer=self.peer)
        finally:
            if self.transport is not None:
                self.transport.close()

    def terminate(self, err: SqlError) -> None:
        """Server shutdown: tell the client why, then close."""
        fields = {
            "severity": "FATAL",
            "severity_nonlocalized": "FATAL",
            "sqlstate": err.sqlstate,
            "message": err.message,
        }
        self.write(m.ErrorResponse(fields).encode())
        if self.transport is not None:
            self.transport.close()
        if self.task is not None:
            self.task.cancel()


# Every running Server of this process, for pg_cancel_backend / pg_terminate_backend: a
# session ends another by its process id without the session layer knowing the server.
_SERVERS: weakref.WeakSet[Server] = weakref.WeakSet()


def signal_backend(process_id: int, terminate: bool) -> bool:
    """signalfuncs.c pg_signal_backend: cancel the running statement of the session with
    this process id, or (terminate) send it FATAL 57P01 and close its connection, as
    SIGTERM does to a PostgreSQL backend. False when no session has that id. Safe to
    call from any thread (catalog functions run on engine threads)."""
    for server in list(_SERVERS):
        session = server.sessions.get(process_id)
        if session is None:
            continue
        log.info("backend.terminate" if terminate else "backend.cancel", pid=process_id)
        session.cancel()
        if terminate and server.loop is not None:
            server.loop.call_soon_threadsafe(server.terminate, process_id)
        return True
    return False


class Server:
    """Listens, tracks connections and their sessions, and shuts down cleanly."""

    def __init__(
        self,
        config: Config,
        new_session: Callable[[], Session],
        authenticator: Callable[[str], Authenticator | None],
    ) -> None:
        self.config = config
        self.channels: set[PgChannel] = set()
        self.sessions: dict[int, Session] = {}
        self.ssl_context: ssl.SSLContext | None = None
        if config.tls_cert and config.tls_key:
            self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ssl_context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
        self.context = ServerContext(
            new_session=new_session,
            cancel=self.cancel,
            tls_available=self.ssl_context is not None,
            authenticator=authenticator,
            trust_remote=config.trust_remote,
            on_session_start=self._session_started,
            on_session_end=self._session_ended,
        )
        self._server: asyncio.AbstractServer | None = None
        self._stopped = asyncio.Event()
        self.port = config.port
        self.loop: asyncio.AbstractEventLoop | None = None

    def _session_started(self, session: Session, params: dict[str, str], peer: str) -> None:
        self.sessions[session.process_id] = session

    def _session_ended(self, session: Session) -> None:
        self.sessions.pop(session.process_id, None)

    def cancel(self, process_id: int, secret_key: int) -> None:
        session = self.sessions.get(process_id)
        if session is not None and session.secret_key == secret_key:
            log.info("query.cancel", pid=process_id)
            session.cancel()
        else:
            log.info("query.cancel_ignored", pid=process_id)

    def terminate(self, process_id: int) -> None:
        """pg_terminate_backend: FATAL 57P01 to that session's client, then close."""
        from laminar_pg import errcodes

        err = errcodes.AdminShutdown("terminating connection due to administrator command")
        for channel in list(self.channels):
            connection = channel.connection
            session = connection.session if connection is not None else None
            if session is not None and session.process_id == process_id:
                channel.terminate(err)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        _SERVERS.add(self)
        self._server = await loop.create_server(
            lambda: PgChannel(self), self.config.host, self.config.port, reuse_address=True,
            backlog=1024,
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("server.listening", host=self.config.host, port=self.port)

    def write_server_json(self, metrics_port: int | None) -> Path:
        """DATA_DIR/server.json: written once the server runs queries, so tools never sleep."""
        path = self.config.data_dir / "server.json"
        tmp = path.with_suffix(".json.tmp")
        info = {
            "pid": os.getpid(),
            "host": self.config.host,
            "port": self.port,
            "metrics_port": metrics_port,
        }
        tmp.write_text(json.dumps(info))
        tmp.replace(path)
        return path

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopped.set)

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        self._stopped.set()

    async def shutdown(self) -> None:
        """Stop accepting, send every session FATAL 57P01, wait for their tasks."""
        from laminar_pg import errcodes

        self.context.shutting_down = True
        if self._server is not None:
            self._server.close()
        err = errcodes.AdminShutdown("terminating connection due to administrator command")
        tasks = [c.task for c in self.channels if c.task is not None]
        for channel in list(self.channels):
            channel.terminate(err)
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
        log.info("server.stopped")
