"""The same raw protocol conversation against laminar_pg and a real PostgreSQL 15 gives
the same messages (where the answer does not depend on the server's identity)."""

from __future__ import annotations

import socket

import pytest

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer
from laminar_pg.wire import codec
from laminar_pg.wire import messages as m


def conversation(host: str, port: int, user: str, *batches: list[object]) -> list[list[str]]:
    """Send each batch of messages, read up to ReadyForQuery, summarise what came back."""
    with socket.create_connection((host, port), timeout=10) as sock:
        reader = codec.backend_reader()

        def until_ready() -> list[object]:
            out: list[object] = []
            while True:
                while (msg := reader.next_message()) is not codec.NEED_DATA:
                    out.append(msg)
                    if isinstance(msg, m.ReadyForQuery):
                        return out
                reader.feed(sock.recv(65536))

        sock.sendall(m.StartupMessage({"user": user, "database": user}).encode())
        until_ready()
        answers = []
        for batch in batches:
            sock.sendall(b"".join(msg.encode() for msg in batch))  # type: ignore[attr-defined]
            answers.append([summary(msg) for msg in until_ready()])
        return answers


def summary(msg: object) -> str:
    if isinstance(msg, m.CommandComplete):
        return f"C {msg.tag}"
    if isinstance(msg, m.ErrorResponse):
        return f"E {msg.fields['sqlstate']}"
    if isinstance(msg, m.NoticeResponse):
        return f"N {msg.fields['sqlstate']}"
    if isinstance(msg, m.DataRow):
        return "D " + ",".join("NULL" if v is None else v.decode() for v in msg.values)
    if isinstance(msg, m.ReadyForQuery):
        return f"Z {msg.status}"
    return type(msg).__name__


CONVERSATIONS: dict[str, list[list[object]]] = {
    "max_rows": [
        [m.Query("BEGIN")],
        [
            m.Parse("", "SELECT g FROM generate_series(1, 4) g"),
            m.Bind("p", ""),
            m.Execute("p", 2),
            m.Execute("p", 2),
            m.Execute("p", 2),
            m.Sync(),
        ],
        [m.Query("COMMIT")],
    ],
    "error_then_sync": [
        # (not 1/0: PostgreSQL folds that constant and fails at Bind)
        [m.Parse("", "SELECT 1/g FROM generate_series(0, 1) g"), m.Bind("", ""),
         m.Execute("", 0), m.Flush(),
         m.Parse("", "SELECT 2"), m.Sync()],
        [m.Query("SELECT 3")],
    ],
    "failed_block": [
        [m.Query("BEGIN; SELECT 1/0")],
        [m.Query("SELECT 1")],
        [m.Query("COMMIT")],
        [m.Query("COMMIT")],
    ],
    "parse_in_failed_block": [
        [m.Query("BEGIN; SELECT 1/0")],
        [m.Parse("s1", "SELECT 1"), m.Sync()],
        [m.Parse("", "ROLLBACK"), m.Bind("", ""), m.Execute("", 0), m.Sync()],
        [m.Parse("s1", "SELECT 1"), m.Sync()],
    ],
    "multi_statement_error": [
        [m.Query("SELECT 1; SELECT 1/0; SELECT 2")],
        [m.Query("")],
    ],
}


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_same_conversation_as_postgres(
    name: str, server: LaminarServer, postgres: PostgresServer
) -> None:
    batches = CONVERSATIONS[name]
    expected = conversation(postgres.host, postgres.port, "postgres", *batches)
    got = conversation(server.host, server.port, "laminar", *batches)
    assert got == expected
