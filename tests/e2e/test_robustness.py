"""Robustness at the socket level: hostile or broken clients, cancellation, flow control,
shutdown and idle cost.  Messages are hand-built with laminar_pg.wire.messages and replies
read with laminar_pg.wire.codec.backend_reader(); after every abuse the server must still
serve other connections (`assert_server_fine`).
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from laminar_pg.testing.server import LaminarServer
from laminar_pg.wire import codec
from laminar_pg.wire import messages as m

STARTUP = m.StartupMessage({"user": "laminar", "database": "laminar"}).encode()
IO_TIMEOUT_S = 10.0


class RawClient:
    """A blocking socket speaking hand-written protocol bytes; replies decoded by the codec."""

    def __init__(self, server: LaminarServer, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(IO_TIMEOUT_S)
        self.sock.connect((server.host, server.port))
        self.reader = codec.backend_reader()
        self.eof = False
        self.key: m.BackendKeyData | None = None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def startup(self) -> list[Any]:
        """Send a StartupMessage and read up to ReadyForQuery (trust auth on loopback)."""
        self.send(STARTUP)
        msgs = self.read_until(m.ReadyForQuery)
        assert any(isinstance(x, m.AuthenticationOk) for x in msgs), msgs
        keys = [x for x in msgs if isinstance(x, m.BackendKeyData)]
        assert len(keys) == 1, msgs
        self.key = keys[0]
        return msgs

    def read_message(self) -> Any:
        """The next message, or None at end of stream (EOF or reset)."""
        while True:
            msg = self.reader.next_message()
            if msg is not codec.NEED_DATA:
                return msg
            if self.eof:
                return None
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
            else:
                self.reader.feed(data)

    def read_until(self, kind: type) -> list[Any]:
        msgs: list[Any] = []
        while True:
            msg = self.read_message()
            assert msg is not None, f"connection closed before {kind.__name__}: {msgs}"
            msgs.append(msg)
            if isinstance(msg, kind):
                return msgs

    def read_to_eof(self) -> list[Any]:
        """Every message until the server closes the connection (times out otherwise)."""
        msgs: list[Any] = []
        while (msg := self.read_message()) is not None:
            msgs.append(msg)
        return msgs

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(server: LaminarServer) -> Iterator[RawClient]:
    client = RawClient(server)
    try:
        yield client
    finally:
        client.close()


def assert_server_fine(server: LaminarServer) -> None:
    """A new connection succeeds and answers a query."""
    with psycopg.connect(server.dsn, autocommit=True, connect_timeout=10) as conn:
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)


def only_error(msgs: list[Any]) -> dict[str, str]:
    errs = [x for x in msgs if isinstance(x, m.ErrorResponse)]
    assert len(errs) == 1, msgs
    return errs[0].fields


def cancel_request(server: LaminarServer, process_id: int, secret_key: int) -> None:
    """Send a CancelRequest on a new connection; the server closes it without a reply."""
    with socket.create_connection((server.host, server.port), timeout=IO_TIMEOUT_S) as sock:
        sock.sendall(m.CancelRequest(process_id, secret_key).encode())
        assert sock.recv(1024) == b""


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- (a) .. (d)


def test_garbage_after_startup_is_fatal_08p01_for_that_connection_only(
    server: LaminarServer, raw: RawClient
) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as bystander:
        assert bystander.execute("SELECT 1").fetchone() == (1,)
        raw.startup()
        raw.send(b"\x00\xffgarbage that is no message\x01\x02\x03")
        err = only_error(raw.read_to_eof())
        assert err["severity"] == "FATAL" and err["sqlstate"] == "08P01", err
        assert bystander.execute("SELECT 2").fetchone() == (2,)
    assert_server_fine(server)


def test_unknown_message_type_with_valid_length_is_fatal_08p01(
    server: LaminarServer, raw: RawClient
) -> None:
    raw.startup()
    raw.send(b"z" + struct.pack("!i", 8) + b"abcd")
    err = only_error(raw.read_to_eof())
    assert (err["severity"], err["sqlstate"]) == ("FATAL", "08P01"), err
    assert_server_fine(server)


def test_http_request_instead_of_startup_closes_connection(
    server: LaminarServer, raw: RawClient
) -> None:
    raw.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    msgs = raw.read_to_eof()  # PostgreSQL just closes; an 08P01 error first is fine too
    for msg in msgs:
        assert isinstance(msg, m.ErrorResponse) and msg.fields["sqlstate"] == "08P01", msgs
    assert_server_fine(server)


def test_oversized_length_word_is_refused_before_the_body(
    server: LaminarServer, raw: RawClient
) -> None:
    raw.startup()
    start = time.monotonic()
    raw.send(b"Q" + struct.pack("!i", codec.DEFAULT_MAX_MESSAGE + 1))  # header only, no body
    err = only_error(raw.read_to_eof())
    assert (err["severity"], err["sqlstate"]) == ("FATAL", "08P01"), err
    assert time.monotonic() - start < 2.0
    assert_server_fine(server)


def test_silent_and_half_sent_clients_do_not_disturb_the_server(server: LaminarServer) -> None:
    silent = RawClient(server)  # connects and never says a word
    half_startup = RawClient(server)
    half_startup.send(STARTUP[:7])  # length word and half of the protocol version
    mid_message = RawClient(server)
    mid_message.startup()
    mid_message.send(m.Query("SELECT 1").encode()[:8])  # 'Q', length, 3 bytes of text
    try:
        assert_server_fine(server)
        half_startup.close()
        mid_message.close()
        assert_server_fine(server)
    finally:
        silent.close()
    assert_server_fine(server)


# --------------------------------------------------------------------------- (e) cancel


def test_cancel_request_interrupts_running_query(server: LaminarServer) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        outcome: dict[str, Any] = {}

        def sleeper() -> None:
            start = time.monotonic()
            try:
                conn.execute("SELECT pg_sleep(30)")
                outcome["error"] = None
            except psycopg.Error as exc:
                outcome["error"] = exc
            outcome["elapsed"] = time.monotonic() - start

        thread = threading.Thread(target=sleeper, daemon=True)
        thread.start()
        # A cancel that arrives before the query runs cancels nothing (as in PostgreSQL),
        # so keep asking until the sleeper returns.
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            conn.cancel()
            thread.join(0.2)
        thread.join(20)
        assert not thread.is_alive(), "pg_sleep(30) was not cancelled"
        assert isinstance(outcome["error"], errors.QueryCanceled), outcome
        assert outcome["error"].sqlstate == "57014"
        assert outcome["elapsed"] < 5, outcome
        assert conn.execute("SELECT 'still here'").fetchone() == ("still here",)
    assert_server_fine(server)


def test_cancel_request_with_wrong_secret_cancels_nothing(
    server: LaminarServer, raw: RawClient
) -> None:
    raw.startup()
    assert raw.key is not None
    pid, secret = raw.key.process_id, raw.key.secret_key
    wrong = secret + 1 if secret < 2**31 - 1 else secret - 1
    raw.send(m.Query("SELECT pg_sleep(1.5) AS slept, 7 AS seven").encode())
    start = time.monotonic()
    while time.monotonic() - start < 1.0:
        cancel_request(server, pid, wrong)
        cancel_request(server, pid + 100_000, secret)  # no such backend
        time.sleep(0.1)
    msgs = raw.read_until(m.ReadyForQuery)
    assert not [x for x in msgs if isinstance(x, m.ErrorResponse)], msgs
    rows = [x.values[1] for x in msgs if isinstance(x, m.DataRow)]
    assert rows == [b"7"], msgs  # slept: see test_pg_sleep_returns_void
    assert [x.tag for x in msgs if isinstance(x, m.CommandComplete)] == ["SELECT 1"]
    # The right secret on the same raw connection does cancel.
    raw.send(m.Query("SELECT pg_sleep(30)").encode())
    cancel_deadline = time.monotonic() + 10
    raw.sock.settimeout(0.2)
    got: list[Any] = []
    while time.monotonic() < cancel_deadline:
        cancel_request(server, pid, secret)
        try:
            got += raw.read_until(m.ReadyForQuery)
            break
        except TimeoutError:
            continue
    raw.sock.settimeout(IO_TIMEOUT_S)
    assert only_error(got)["sqlstate"] == "57014", got


def test_pg_sleep_returns_void(raw: RawClient) -> None:
    raw.startup()
    raw.send(m.Query("SELECT pg_sleep(0) AS slept").encode())
    msgs = raw.read_until(m.ReadyForQuery)
    described = [x for x in msgs if isinstance(x, m.RowDescription)]
    assert [f.type_oid for f in described[0].fields] == [2278], msgs
    assert [x.values for x in msgs if isinstance(x, m.DataRow)] == [(b"",)], msgs


# --------------------------------------------------------------------------- (f) flow control


def test_client_that_stops_reading_does_not_grow_server_memory(server: LaminarServer) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as other:
        assert other.execute("SELECT 1").fetchone() == (1,)
        client = RawClient(server, rcvbuf=64 * 1024)
        try:
            client.startup()
            baseline = rss_bytes(server.pid)
            client.send(
                m.Query("SELECT x, repeat('x', 100) FROM generate_series(1, 2000000) g(x)").encode()
            )
            peak = baseline
            latencies = []
            stalled_until = time.monotonic() + 4.0  # the client reads nothing for 4 s
            while time.monotonic() < stalled_until:
                peak = max(peak, rss_bytes(server.pid))
                start = time.monotonic()
                assert other.execute("SELECT 1").fetchone() == (1,)
                latencies.append(time.monotonic() - start)
                time.sleep(0.2)
            growth_mb = (peak - baseline) / 2**20
            assert growth_mb < 100, f"server RSS grew by {growth_mb:.0f} MB while the client stalled"
            assert max(latencies) < 2.0, f"SELECT 1 latencies while stalled: {latencies}"
        finally:
            client.close()
        assert other.execute("SELECT 3").fetchone() == (3,)
    assert_server_fine(server)


# --------------------------------------------------------------------------- (g) shutdown


def test_sigterm_sends_57p01_and_exits_zero(own_server: LaminarServer) -> None:
    own_server.start()
    conn = psycopg.connect(own_server.dsn, autocommit=True)
    raw = RawClient(own_server)
    try:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        raw.startup()
        start = time.monotonic()
        code = own_server.stop(signal.SIGTERM)
        elapsed = time.monotonic() - start
        assert code == 0, own_server.log()
        assert elapsed < 5, f"shutdown took {elapsed:.1f} s"
        err = only_error(raw.read_to_eof())
        assert (err["severity"], err["sqlstate"]) == ("FATAL", "57P01"), err
        # psycopg surfaces the FATAL it received on the next use (as with PostgreSQL 15).
        with pytest.raises(errors.AdminShutdown) as info:
            conn.execute("SELECT 1")
        assert info.value.sqlstate == "57P01"
    finally:
        raw.close()
        conn.close()


# --------------------------------------------------------------------------- (h) idle cost


def test_idle_connections_cost_no_cpu(server: LaminarServer) -> None:
    clients = [RawClient(server) for _ in range(50)]
    try:
        for client in clients:
            client.startup()
        assert_server_fine(server)
        before = cpu_seconds(server.pid)
        time.sleep(2.0)
        used = cpu_seconds(server.pid) - before
        assert used < 0.05, f"server used {used:.3f} s of CPU over 2 s with 50 idle connections"
    finally:
        for client in clients:
            client.close()
    assert_server_fine(server)
