"""`GET /metrics` over HTTP/1.x, from the server's own event loop (`--metrics-port`).

Strategy: an `asyncio.Protocol` that buffers one request head (up to MAX_HEAD bytes),
answers it and closes the connection (`Connection: close`): Prometheus scrapes a few
times a minute, so neither keep-alive nor a request body is worth supporting. The answer
is built by a function given at start (prometheus.render over the database), in the
event loop: it only reads counters, so it is quick and never waits for the pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import structlog

from laminar_pg.observability.prometheus import CONTENT_TYPE

log = structlog.get_logger("laminar_pg.metrics")

MAX_HEAD = 8192
HEAD_TIMEOUT = 10.0  # seconds a client has to send its request head
INDEX = ("laminar_pg: Prometheus metrics at /metrics; the same figures are the "
         "laminar_catalog.* system tables.\n")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    body: bytes
    content_type: str = "text/plain; charset=utf-8"

    def encode(self, head_only: bool = False) -> bytes:
        head = (f"HTTP/1.1 {self.status} {self.reason}\r\n"
                f"Content-Type: {self.content_type}\r\n"
                f"Content-Length: {len(self.body)}\r\n"
                "Connection: close\r\n\r\n").encode("ascii")
        return head if head_only else head + self.body


def respond(head: bytes, metrics: Callable[[], str]) -> tuple[Response, bool]:
    """The response to one request head, and whether it was a HEAD request."""
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return Response(400, "Bad Request", b"bad request\n"), False
    method, target = parts[0], parts[1].split("?", 1)[0]
    if method not in ("GET", "HEAD"):
        return Response(405, "Method Not Allowed", b"only GET\n"), False
    if target == "/metrics":
        return Response(200, "OK", metrics().encode("utf-8"), CONTENT_TYPE), method == "HEAD"
    if target == "/":
        return Response(200, "OK", INDEX.encode("utf-8")), method == "HEAD"
    return Response(404, "Not Found", b"not found: try /metrics\n"), method == "HEAD"


class MetricsProtocol(asyncio.Protocol):
    def __init__(self, metrics: Callable[[], str]) -> None:
        self.metrics = metrics
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but behave as one
        self.transport = cast(asyncio.Transport, transport)
        self.timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, self._give_up)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def _give_up(self) -> None:
        """A client that never finishes its request head is not kept forever."""
        if self.transport is not None:
            self._send(Response(408, "Request Timeout", b"request timeout\n"))

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        self.buffer.extend(data)
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._send(Response(431, "Request Header Fields Too Large", b"too large\n"))
            return
        try:
            response, head_only = respond(bytes(self.buffer[:end]), self.metrics)
        except Exception:
            log.exception("metrics request failed")
            response, head_only = Response(500, "Internal Server Error", b"error\n"), False
        self._send(response, head_only)

    def _send(self, response: Response, head_only: bool = False) -> None:
        assert self.transport is not None
        if self.timer is not None:
            self.timer.cancel()
        self.transport.write(response.encode(head_only))
        self.transport.close()
        self.transport = None


async def start_metrics_server(host: str, port: int,
                               metrics: Callable[[], str]) -> asyncio.Server:
    """Listen on host:port (0: a free port; `server.sockets[0]` tells which)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: MetricsProtocol(metrics), host, port)
