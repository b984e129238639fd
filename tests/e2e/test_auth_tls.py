"""Authentication and transport security end to end: SCRAM-SHA-256 from a password file, TLS,
the loopback-only rule for password-less servers, and GSSENCRequest, with real clients
(psycopg / libpq, asyncpg, pg8000, psql) against real server processes.

What PostgreSQL 15 does is the reference (compare with
`laminar_pg.testing.postgres.start_postgres(hba="scram-sha-256", password=...)`):
a failed login is `FATAL 28P01 password authentication failed for user "<user>"` whether
the password was wrong or the user unknown.  libpq does not expose the SQLSTATE of a
connection failure (psycopg's `OperationalError.sqlstate` is None), so SQLSTATEs are checked
with asyncpg and pg8000 and the message text with every client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pg8000.dbapi
import pg8000.native
import psycopg
import pytest

from laminar_pg.testing.server import LaminarServer
from laminar_pg.wire import codec
from laminar_pg.wire import messages as m
from laminar_pg.wire.auth import scram_verifier

# Distinctive passwords, so "the log never contains the password" cannot pass by accident.
ALICE_PASSWORD = "alice-pw-Kq7"  # stored in plain text in the password file
BOB_PASSWORD = "bob-pw-Wd3"  # stored as a SCRAM verifier only
DAVE_PASSWORD = "\u2168-p\u00e4ssw\u00f6rd"  # "Ⅸ-pässwörd": SASLprep (NFKC) maps Ⅸ to "IX"
WRONG_PASSWORD = "wrong-pw-Zx9"
IO_TIMEOUT_S = 10.0
NO_PASSFILE = "/nonexistent/laminar-test-pgpass"  # libpq ignores a missing passfile


def auth_failed(user: str) -> str:
    return f'password authentication failed for user "{user}"'


# --------------------------------------------------------------------------- helpers


def client_env(**extra: str) -> dict[str, str]:
    """The environment for psql: no inherited PG* settings, no ~/.pgpass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSFILE"] = NO_PASSFILE
    env["PGCONNECT_TIMEOUT"] = "10"
    env.update(extra)
    return env


def psql(conninfo: str, sql: str, **env: str) -> subprocess.CompletedProcess[str]:
    """psql -w (never prompt) with a conninfo string; PGPASSWORD etc. through `env`."""
    return subprocess.run(
        ["psql", "-X", "-w", "-At", conninfo, "-c", sql],
        capture_output=True, text=True, timeout=60, env=client_env(**env),
    )


def conninfo(host: str, port: int, user: str, **params: str) -> str:
    parts = {"host": host, "port": str(port), "user": user, "dbname": "laminar",
             "connect_timeout": "10", **params}
    return " ".join(f"{k}={v}" for k, v in parts.items())


def psycopg_connect(host: str, port: int, user: str, **params: str) -> psycopg.Connection[Any]:
    # passfile: never read the caller's ~/.pgpass; gssencmode: see test_gssenc_*.
    params.setdefault("passfile", NO_PASSFILE)
    return psycopg.connect(conninfo(host, port, user, **params), autocommit=True)


def current_user_psycopg(host: str, port: int, user: str, **params: str) -> str:
    with psycopg_connect(host, port, user, **params) as conn:
        row = conn.execute("SELECT current_user").fetchone()
    assert row is not None
    return str(row[0])


def current_user_asyncpg(host: str, port: int, user: str, **kwargs: Any) -> str:
    async def go() -> str:
        conn = await asyncpg.connect(
            host=host, port=port, user=user, database="laminar", timeout=IO_TIMEOUT_S, **kwargs
        )
        try:
            return str(await conn.fetchval("SELECT current_user"))
        finally:
            await conn.close()

    return asyncio.run(go())


def asyncpg_error(host: str, port: int, user: str, **kwargs: Any) -> asyncpg.PostgresError:
    with pytest.raises(asyncpg.PostgresError) as info:
        current_user_asyncpg(host, port, user, **kwargs)
    return info.value


def write_password_file(path: Path) -> Path:
    path.write_text(
        "# laminar_pg password file\n"
        f"alice:{ALICE_PASSWORD}\n"
        f"bob:{scram_verifier(BOB_PASSWORD)}\n"
        f"dave:{DAVE_PASSWORD}\n",
        encoding="utf-8",
    )
    return path


def start(*args: str, host: str = "127.0.0.1") -> LaminarServer:
    """A server for a module-scoped fixture (the caller cleans it up)."""
    return LaminarServer(extra_args=list(args), host=host).start()


def launch(srv: LaminarServer, *args: str, host: str = "127.0.0.1") -> LaminarServer:
    """Start the `own_server` fixture's server with these flags, bound to `host`."""
    srv.extra_args, srv.host = list(args), host
    return srv.start()


def non_loopback_address(family: socket.AddressFamily) -> str | None:
    """An address of this machine that is not loopback: the source of the route to a
    documentation address (connecting a UDP socket sends no packet)."""
    target = "10.255.255.255" if family == socket.AF_INET else "2001:db8::1"
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((target, 1))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    ip = ipaddress.ip_address(address)
    usable = not (ip.is_loopback or ip.is_unspecified or ip.is_link_local)
    return address if usable else None


class RawClient:
    """A blocking socket speaking hand-built startup bytes; replies decoded by the codec."""

    def __init__(self, port: int) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            ("127.0.0.1", port), timeout=IO_TIMEOUT_S
        )
        self.reader = codec.backend_reader()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_byte(self) -> bytes:
        return self.sock.recv(1)

    def start_tls(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        assert isinstance(self.sock, socket.socket)
        self.sock = context.wrap_socket(self.sock)

    def messages_until_ready(self) -> list[Any]:
        """Backend messages up to and including ReadyForQuery (or an ErrorResponse)."""
        got: list[Any] = []
        while True:
            msg = self.reader.next_message()
            if msg is codec.NEED_DATA:
                data = self.sock.recv(65536)
                assert data, f"server closed the connection after {got!r}"
                self.reader.feed(data)
                continue
            got.append(msg)
            if isinstance(msg, (m.ReadyForQuery, m.ErrorResponse)):
                return got


STARTUP = m.StartupMessage({"user": "laminar", "database": "laminar"}).encode()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def password_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_password_file(tmp_path_factory.mktemp("auth") / "passwords")


@pytest.fixture(scope="module")
def scram_server(password_file: Path) -> Iterator[LaminarServer]:
    srv = start("--password-file", str(password_file))
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for CN=localhost and its unencrypted key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command line tool is not installed: cannot make a certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[Path, Path]) -> Iterator[LaminarServer]:
    cert, key = certificate
    srv = start("--tls-cert", str(cert), "--tls-key", str(key))
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def remote_address() -> str:
    address = non_loopback_address(socket.AF_INET)
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    return address


@pytest.fixture(scope="module")
def remote_ipv6_address() -> str:
    address = non_loopback_address(socket.AF_INET6)
    if address is None:
        pytest.skip("this machine has no non-loopback, non-link-local IPv6 address")
    return address


# --------------------------------------------------------------------------- 1. SCRAM


@pytest.mark.parametrize(("user", "password"), [("alice", ALICE_PASSWORD), ("bob", BOB_PASSWORD)])
def test_psycopg_scram_login(scram_server: LaminarServer, user: str, password: str) -> None:
    assert current_user_psycopg("127.0.0.1", scram_server.port, user, password=password) == user


@pytest.mark.parametrize(("user", "password"), [("alice", ALICE_PASSWORD), ("bob", BOB_PASSWORD)])
def test_asyncpg_scram_login(scram_server: LaminarServer, user: str, password: str) -> None:
    assert current_user_asyncpg("127.0.0.1", scram_server.port, user, password=password) == user


@pytest.mark.parametrize(("user", "password"), [("alice", ALICE_PASSWORD), ("bob", BOB_PASSWORD)])
def test_pg8000_scram_login(scram_server: LaminarServer, user: str, password: str) -> None:
    conn = pg8000.native.Connection(
        user, host="127.0.0.1", port=scram_server.port, database="laminar", password=password,
        timeout=IO_TIMEOUT_S,
    )
    try:
        assert conn.run("SELECT current_user") == [[user]]
    finally:
        conn.close()


@pytest.mark.parametrize(("user", "password"), [("alice", ALICE_PASSWORD), ("bob", BOB_PASSWORD)])
def test_psql_scram_login_with_pgpassword(
    scram_server: LaminarServer, user: str, password: str
) -> None:
    out = psql(conninfo("127.0.0.1", scram_server.port, user), "SELECT current_user",
               PGPASSWORD=password)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == user


@pytest.mark.parametrize("typed", [DAVE_PASSWORD, "IX-p\u00e4ssw\u00f6rd"])
def test_non_ascii_password_is_saslprepped_like_libpq_and_asyncpg(
    scram_server: LaminarServer, typed: str
) -> None:
    """Both sides apply SASLprep, so the NFKC-equivalent spelling logs in too (as in PG)."""
    assert current_user_psycopg("127.0.0.1", scram_server.port, "dave", password=typed) == "dave"
    assert current_user_asyncpg("127.0.0.1", scram_server.port, "dave", password=typed) == "dave"


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_psycopg_wrong_password_or_unknown_user(scram_server: LaminarServer, user: str) -> None:
    """carol is not in the password file: same message as a wrong password (no user probing)."""
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg_connect("127.0.0.1", scram_server.port, user, password=WRONG_PASSWORD)
    text = str(info.value)
    assert f"FATAL:  {auth_failed(user)}" in text
    assert "does not exist" not in text


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_asyncpg_wrong_password_or_unknown_user(scram_server: LaminarServer, user: str) -> None:
    err = asyncpg_error("127.0.0.1", scram_server.port, user, password=WRONG_PASSWORD)
    assert isinstance(err, asyncpg.InvalidPasswordError)
    assert err.sqlstate == "28P01"
    assert err.args[0] == auth_failed(user)
    assert err.severity == "FATAL"


@pytest.mark.parametrize("user", ["alice", "carol"])
def test_pg8000_wrong_password_or_unknown_user(scram_server: LaminarServer, user: str) -> None:
    with pytest.raises(pg8000.dbapi.DatabaseError) as info:
        pg8000.native.Connection(
            user, host="127.0.0.1", port=scram_server.port, database="laminar",
            password=WRONG_PASSWORD, timeout=IO_TIMEOUT_S,
        )
    fields = info.value.args[0]
    assert (fields["C"], fields["M"], fields["S"]) == ("28P01", auth_failed(user), "FATAL")


def test_psql_wrong_password(scram_server: LaminarServer) -> None:
    out = psql(conninfo("127.0.0.1", scram_server.port, "alice"), "SELECT 1",
               PGPASSWORD=WRONG_PASSWORD)
    assert out.returncode == 2
    assert f"FATAL:  {auth_failed('alice')}" in out.stderr


def test_failed_login_is_logged_without_any_password(scram_server: LaminarServer) -> None:
    """The log names the user and the peer of a failed attempt, never a password."""
    err = asyncpg_error("127.0.0.1", scram_server.port, "alice", password=WRONG_PASSWORD)
    assert err.sqlstate == "28P01"
    with pytest.raises(psycopg.OperationalError):
        psycopg_connect("127.0.0.1", scram_server.port, "carol", password=WRONG_PASSWORD)
    assert current_user_psycopg("127.0.0.1", scram_server.port, "bob", password=BOB_PASSWORD)
    # The server writes its log line before it sends the error, so it is there now.
    log = scram_server.log()
    failures = [line for line in log.splitlines() if "auth.failed" in line]
    assert any("user=alice" in line and "peer=127.0.0.1:" in line for line in failures), log
    assert any("user=carol" in line and "peer=127.0.0.1:" in line for line in failures), log
    for secret in (ALICE_PASSWORD, BOB_PASSWORD, DAVE_PASSWORD, WRONG_PASSWORD):
        assert secret not in log


def test_psql_without_password_fails_cleanly_and_server_keeps_serving(
    scram_server: LaminarServer,
) -> None:
    out = psql(conninfo("127.0.0.1", scram_server.port, "alice"), "SELECT 1")
    assert out.returncode == 2
    assert "fe_sendauth: no password supplied" in out.stderr
    assert "Traceback" not in scram_server.log()
    assert current_user_psycopg("127.0.0.1", scram_server.port, "alice",
                                password=ALICE_PASSWORD) == "alice"


def test_psycopg_without_password_fails_cleanly(scram_server: LaminarServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="fe_sendauth: no password supplied"):
        psycopg_connect("127.0.0.1", scram_server.port, "alice")
    assert current_user_asyncpg("127.0.0.1", scram_server.port, "alice",
                                password=ALICE_PASSWORD) == "alice"


def test_asyncpg_empty_password_is_a_failed_login(scram_server: LaminarServer) -> None:
    """asyncpg goes through SCRAM with an empty password: 28P01, as PostgreSQL answers."""
    err = asyncpg_error("127.0.0.1", scram_server.port, "alice", password="")
    assert (err.sqlstate, err.args[0]) == ("28P01", auth_failed("alice"))


# --------------------------------------------------------------------------- 2. TLS


def test_psycopg_sslmode_require(tls_server: LaminarServer) -> None:
    with psycopg_connect("127.0.0.1", tls_server.port, "laminar", sslmode="require") as conn:
        assert conn.info.pgconn.ssl_in_use is True
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_psycopg_verify_full_sees_our_certificate(
    tls_server: LaminarServer, certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    with psycopg_connect(
        "localhost", tls_server.port, "laminar", hostaddr="127.0.0.1",
        sslmode="verify-full", sslrootcert=str(cert),
    ) as conn:
        assert conn.info.pgconn.ssl_in_use is True
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_psql_sslmode_require(tls_server: LaminarServer) -> None:
    dsn = conninfo("127.0.0.1", tls_server.port, "laminar", sslmode="require")
    out = psql(dsn, "SELECT 42")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"
    info = psql(dsn, "\\conninfo")
    assert info.returncode == 0, info.stderr
    assert "SSL connection (protocol: TLSv1." in info.stdout


def test_asyncpg_ssl_require(tls_server: LaminarServer) -> None:
    async def go() -> tuple[object, int]:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=tls_server.port, user="laminar", database="laminar",
            ssl="require", timeout=IO_TIMEOUT_S,
        )
        try:
            # asyncpg has no public "is this TLS" accessor; its transport knows.
            ssl_object = conn._transport.get_extra_info("ssl_object")
            return ssl_object, await conn.fetchval("SELECT 7")
        finally:
            await conn.close()

    ssl_object, value = asyncio.run(go())
    assert isinstance(ssl_object, ssl.SSLObject)
    assert value == 7


def test_pg8000_with_verifying_ssl_context(
    tls_server: LaminarServer, certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # we connect to 127.0.0.1; the certificate says localhost
    conn = pg8000.native.Connection(
        "laminar", host="127.0.0.1", port=tls_server.port, database="laminar",
        ssl_context=context, timeout=IO_TIMEOUT_S,
    )
    try:
        assert conn.run("SELECT 'over tls'") == [["over tls"]]
    finally:
        conn.close()


def test_plain_connection_to_tls_server(tls_server: LaminarServer) -> None:
    with psycopg_connect("127.0.0.1", tls_server.port, "laminar", sslmode="disable") as conn:
        assert conn.info.pgconn.ssl_in_use is False
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with psycopg_connect("127.0.0.1", tls_server.port, "laminar", sslmode="prefer") as conn:
        assert conn.info.pgconn.ssl_in_use is True


def test_tls_and_scram_together(
    certificate: tuple[Path, Path], tmp_path: Path, own_server: LaminarServer
) -> None:
    cert, key = certificate
    passwords = write_password_file(tmp_path / "passwords")
    srv = launch(own_server, "--tls-cert", str(cert), "--tls-key", str(key),
                 "--password-file", str(passwords))
    with psycopg_connect("127.0.0.1", srv.port, "bob", password=BOB_PASSWORD,
                         sslmode="require") as conn:
        assert conn.info.pgconn.ssl_in_use is True
        assert conn.execute("SELECT current_user").fetchone() == ("bob",)
    assert current_user_asyncpg("127.0.0.1", srv.port, "alice", password=ALICE_PASSWORD,
                                ssl="require") == "alice"
    out = psql(conninfo("127.0.0.1", srv.port, "alice", sslmode="require"),
               "SELECT current_user", PGPASSWORD=ALICE_PASSWORD)
    assert (out.returncode, out.stdout.strip()) == (0, "alice"), out.stderr
    err = asyncpg_error("127.0.0.1", srv.port, "alice", password=WRONG_PASSWORD,
                        ssl="require")
    assert (err.sqlstate, err.args[0]) == ("28P01", auth_failed("alice"))
    with pytest.raises(psycopg.OperationalError, match="fe_sendauth: no password supplied"):
        psycopg_connect("127.0.0.1", srv.port, "alice", sslmode="require")


def test_channel_binding_require_is_refused_by_libpq(
    certificate: tuple[Path, Path], tmp_path: Path, own_server: LaminarServer
) -> None:
    """We offer SCRAM-SHA-256 without -PLUS, so libpq's channel_binding=require fails (a
    known limitation; PostgreSQL 15 over TLS offers SCRAM-SHA-256-PLUS)."""
    cert, key = certificate
    srv = launch(own_server, "--tls-cert", str(cert), "--tls-key", str(key),
                 "--password-file", str(write_password_file(tmp_path / "passwords")))
    with pytest.raises(psycopg.OperationalError, match="channel binding"):
        psycopg_connect("127.0.0.1", srv.port, "alice", password=ALICE_PASSWORD,
                        sslmode="require", channel_binding="require")
    with psycopg_connect("127.0.0.1", srv.port, "alice", password=ALICE_PASSWORD,
                         sslmode="require", channel_binding="prefer") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("alice",)


def test_unencrypted_data_pipelined_after_sslrequest_is_refused(
    tls_server: LaminarServer,
) -> None:
    """Bytes sent before the TLS handshake could be injected (CVE-2021-23222): FATAL 08P01."""
    client = RawClient(tls_server.port)
    try:
        client.send(m.SSLRequest().encode() + STARTUP)
        assert client.read_byte() == b"S"
        [error] = client.messages_until_ready()
        assert isinstance(error, m.ErrorResponse)
        assert (error.fields["sqlstate"], error.fields["message"]) == (
            "08P01", "received unencrypted data after SSL request")
    finally:
        client.close()
    assert current_user_psycopg("127.0.0.1", tls_server.port, "laminar",
                                sslmode="require") == "laminar"


def test_sslmode_require_without_tls_flags(server: LaminarServer) -> None:
    with pytest.raises(psycopg.OperationalError,
                       match="server does not support SSL, but SSL was required"):
        psycopg_connect(server.host, server.port, "laminar", sslmode="require")
    out = psql(conninfo(server.host, server.port, "laminar", sslmode="require"), "SELECT 1")
    assert out.returncode == 2
    assert "server does not support SSL, but SSL was required" in out.stderr


def test_sslmode_prefer_without_tls_flags_falls_back_to_plain(server: LaminarServer) -> None:
    with psycopg_connect(server.host, server.port, "laminar", sslmode="prefer") as conn:
        assert conn.info.pgconn.ssl_in_use is False
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_asyncpg_ssl_prefer_without_tls_flags_falls_back_to_plain(server: LaminarServer) -> None:
    assert current_user_asyncpg(server.host, server.port, "laminar", ssl="prefer") == "laminar"


# --------------------------------------------------------------------------- 3. remote clients


def test_passwordless_server_refuses_non_loopback_clients(
    remote_address: str, own_server: LaminarServer
) -> None:
    srv = launch(own_server, host="0.0.0.0")
    assert current_user_psycopg("127.0.0.1", srv.port, "laminar") == "laminar"
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg_connect(remote_address, srv.port, "laminar")
    assert 'may connect only from the loopback interface' in str(info.value)
    assert 'user "laminar"' in str(info.value)
    err = asyncpg_error(remote_address, srv.port, "laminar")
    assert isinstance(err, asyncpg.InvalidAuthorizationSpecificationError)
    assert (err.sqlstate, err.severity) == ("28000", "FATAL")
    assert err.hint is not None and "--password-file" in err.hint
    # Refusing a remote client does not disturb the loopback ones.
    assert current_user_asyncpg("127.0.0.1", srv.port, "laminar") == "laminar"
    assert f"peer={remote_address}:" in srv.log()


def test_trust_server_accepts_non_loopback_clients(
    remote_address: str, own_server: LaminarServer
) -> None:
    srv = launch(own_server, "--auth", "trust", host="0.0.0.0")
    assert current_user_psycopg(remote_address, srv.port, "laminar") == "laminar"
    assert current_user_asyncpg(remote_address, srv.port, "laminar") == "laminar"


def test_password_server_accepts_non_loopback_clients_with_password(
    remote_address: str, password_file: Path, own_server: LaminarServer
) -> None:
    srv = launch(own_server, "--password-file", str(password_file), host="0.0.0.0")
    assert current_user_psycopg(remote_address, srv.port, "alice",
                                password=ALICE_PASSWORD) == "alice"
    assert current_user_asyncpg(remote_address, srv.port, "bob",
                                password=BOB_PASSWORD) == "bob"
    err = asyncpg_error(remote_address, srv.port, "alice", password=WRONG_PASSWORD)
    assert (err.sqlstate, err.args[0]) == ("28P01", auth_failed("alice"))
    # A password file means a password from loopback clients too.
    with pytest.raises(psycopg.OperationalError, match="fe_sendauth: no password supplied"):
        psycopg_connect("127.0.0.1", srv.port, "alice")


def test_passwordless_server_on_ipv6_refuses_non_loopback_clients(
    remote_ipv6_address: str, own_server: LaminarServer
) -> None:
    srv = launch(own_server, host="::")
    assert current_user_psycopg("::1", srv.port, "laminar") == "laminar"
    err = asyncpg_error(remote_ipv6_address, srv.port, "laminar")
    assert isinstance(err, asyncpg.InvalidAuthorizationSpecificationError)
    assert "may connect only from the loopback interface" in err.args[0]


# --------------------------------------------------------------------------- 4. GSSENCRequest


def test_raw_gssencrequest_is_declined_then_startup_works(server: LaminarServer) -> None:
    client = RawClient(server.port)
    try:
        client.send(m.GSSENCRequest().encode())
        assert client.read_byte() == b"N"
        client.send(STARTUP)
        replies = client.messages_until_ready()
        assert isinstance(replies[0], m.AuthenticationOk), replies
        assert isinstance(replies[-1], m.ReadyForQuery), replies
    finally:
        client.close()


def test_raw_gssencrequest_then_sslrequest_then_tls_startup(tls_server: LaminarServer) -> None:
    """libpq's order with gssencmode=prefer and sslmode=prefer: GSS refused, then TLS."""
    client = RawClient(tls_server.port)
    try:
        client.send(m.GSSENCRequest().encode())
        assert client.read_byte() == b"N"
        client.send(m.SSLRequest().encode())
        assert client.read_byte() == b"S"
        client.start_tls()
        client.send(STARTUP)
        replies = client.messages_until_ready()
        assert isinstance(replies[0], m.AuthenticationOk), replies
        assert isinstance(replies[-1], m.ReadyForQuery), replies
    finally:
        client.close()


def test_psycopg_gssencmode_prefer(server: LaminarServer) -> None:
    """libpq sends GSSENCRequest first when it has GSSAPI and credentials; either way the
    connection must succeed, unencrypted by GSSAPI."""
    with psycopg_connect(server.host, server.port, "laminar", gssencmode="prefer") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.pgconn.used_gssapi is False


def test_psql_gssencmode_prefer(server: LaminarServer) -> None:
    out = psql(conninfo(server.host, server.port, "laminar", gssencmode="prefer"), "SELECT 1")
    assert (out.returncode, out.stdout.strip()) == (0, "1"), out.stderr




def test_second_sslrequest_after_n_is_a_protocol_error(server: LaminarServer) -> None:
    client = RawClient(server.port)
    try:
        client.send(m.SSLRequest().encode())
        assert client.read_byte() == b"N"
        client.send(m.SSLRequest().encode())
        assert client.read_byte() == b"E"  # laminar: b"N"
    finally:
        client.close()


@pytest.mark.parametrize("request_inside_tls", [m.SSLRequest(), m.GSSENCRequest()],
                         ids=["SSLRequest", "GSSENCRequest"])
def test_negotiation_request_inside_tls_is_a_protocol_error(
    tls_server: LaminarServer, request_inside_tls: m.SSLRequest | m.GSSENCRequest
) -> None:
    client = RawClient(tls_server.port)
    try:
        client.send(m.SSLRequest().encode())
        assert client.read_byte() == b"S"
        client.start_tls()
        client.send(request_inside_tls.encode())
        assert client.read_byte() == b"E"  # laminar: b"S" (SSLRequest) or b"N" (GSSENCRequest)
    finally:
        client.close()


# --------------------------------------------------------------------------- start-up errors


@pytest.mark.parametrize("problem", ["missing-cert", "missing-password-file",
                                     "malformed-password-file"])
def test_bad_auth_or_tls_files_stop_the_server_with_a_clear_message(
    problem: str, tmp_path: Path, own_server: LaminarServer
) -> None:
    missing = tmp_path / "no-such-file.pem"
    malformed = tmp_path / "malformed"
    malformed.write_text("alice\n")
    args, named = {
        "missing-cert": (["--tls-cert", str(missing), "--tls-key", str(missing)], missing),
        "missing-password-file": (["--password-file", str(missing)], missing),
        "malformed-password-file": (["--password-file", str(malformed)], malformed),
    }[problem]
    with pytest.raises(RuntimeError, match="laminar-pg exited with") as info:
        launch(own_server, *args)
    output = str(info.value)
    assert str(named) in output
    assert "Traceback" not in output
