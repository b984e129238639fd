"""The metrics port (`--metrics-port`): `/metrics`, the live pipeline page and its JSON.

Routes: `GET /metrics` (Prometheus text), `GET /` (the pipeline page, page.py: one
self-contained HTML document), `GET /api/pipeline` (what the page draws, pipeline.py) and
`GET /api/explain?id=N` (EXPLAIN ANALYZE of one object).

Strategy: an `asyncio.Protocol` that buffers one request head (up to MAX_HEAD bytes),
answers it and closes the connection (`Connection: close`): Prometheus scrapes a few
times a minute and the page polls every second or two, so neither keep-alive nor a
request body is worth supporting. Answers are built by functions given at start
(`Endpoints`), in the event loop: they only read counters, so they are quick and never
wait for the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog

from laminar_pg.observability.page import PAGE_HTML
from laminar_pg.observability.prometheus import CONTENT_TYPE

log = structlog.get_logger("laminar_pg.metrics")

MAX_HEAD = 8192
HEAD_TIMEOUT = 10.0  # seconds a client has to send its request head
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """What the port serves: the Prometheus text, the page's pipeline document, and
    EXPLAIN ANALYZE of an object by id (None: no such object)."""

    metrics: Callable[[], str]
    pipeline: Callable[[], Any] = dict
    explain: Callable[[int], Any] = lambda oid: None


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


def _json(document: Any) -> Response:
    body = json.dumps(document, allow_nan=False, default=str).encode("utf-8")
    return Response(200, "OK", body, JSON_TYPE)


def _explain(query: str, endpoints: Endpoints) -> Response:
    values = urllib.parse.parse_qs(query).get("id", [])
    if len(values) != 1 or not values[0].isdigit():
        return Response(400, "Bad Request", b"expected ?id=<object id>\n")
    document = endpoints.explain(int(values[0]))
    if document is None:
        return Response(404, "Not Found", b"no such object\n")
    return _json(document)


def respond(head: bytes, endpoints: Endpoints) -> tuple[Response, bool]:
    """The response to one request head, and whether it was a HEAD request."""
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return Response(400, "Bad Request", b"bad request\n"), False
    method = parts[0]
    target, _, query = parts[1].partition("?")
    if method not in ("GET", "HEAD"):
        return Response(405, "Method Not Allowed", b"only GET\n"), False
    head_only = method == "HEAD"
    if target == "/metrics":
        return Response(200, "OK", endpoints.metrics().encode("utf-8"), CONTENT_TYPE), head_only
    if target in ("/", "/index.html"):
        return Response(200, "OK", PAGE_HTML.encode("utf-8"), HTML_TYPE), head_only
    if target == "/api/pipeline":
        return _json(endpoints.pipeline()), head_only
    if target == "/api/explain":
        return _explain(query, endpoints), head_only
    return Response(404, "Not Found", b"not found: try / or /metrics\n"), head_only


class MetricsProtocol(asyncio.Protocol):
    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
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
            response, head_only = respond(bytes(self.buffer[:end]), self.endpoints)
        except Exception:
            log.exception("metrics port request failed")
            response, head_only = Response(500, "Internal Server Error", b"error\n"), False
        self._send(response, head_only)

    def _send(self, response: Response, head_only: bool = False) -> None:
        assert self.transport is not None
        if self.timer is not None:
            self.timer.cancel()
        self.transport.write(response.encode(head_only))
        self.transport.close()
        self.transport = None


async def start_metrics_server(host: str, port: int, endpoints: Endpoints) -> asyncio.Server:
    """Listen on host:port (0: a free port; `server.sockets[0]` tells which)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: MetricsProtocol(endpoints), host, port)
