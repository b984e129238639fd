"""SCRAM-SHA-256 server side (laminar_pg.wire.auth), checked three ways:

* a small client written here from RFC 5802, independently of the code under test, and
  scramp (pg8000's SCRAM client) run full exchanges in memory, no sockets;
* verifiers are exchanged with a real PostgreSQL 15 in both directions (its verifiers drive
  our exchange; ours let libpq log in to it), including non-ASCII passwords for SASLprep;
* libpq (psycopg) logs in through our exchange over a loopback socket, so a real client
  checks our ServerSignature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import scramp
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.errcodes import (
    FeatureNotSupported,
    InvalidPassword,
    ProtocolViolation,
)
from laminar_pg.errors import SqlError
from laminar_pg.testing.postgres import (
    PostgresServer,
    postgres_unavailable_reason,
    sql_literal,
    start_postgres,
)
from laminar_pg.wire.auth import (
    Credential,
    PasswordFile,
    ScramSha256Auth,
    load_password_file,
    saslprep,
    scram_verifier,
    verify_cleartext,
)
from laminar_pg.wire.messages import (
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendMessage,
    ErrorResponse,
    PasswordMessage,
    ReadyForQuery,
)

_PG_MISSING = postgres_unavailable_reason()
needs_postgres = pytest.mark.skipif(
    _PG_MISSING is not None, reason=f"needs a real PostgreSQL 15: {_PG_MISSING}"
)


# --------------------------------------------------------------------------- test client


def _h(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def initial_response(client_first: bytes, mechanism: bytes = b"SCRAM-SHA-256") -> PasswordMessage:
    """SASLInitialResponse: mechanism cstring, int32 length, data."""
    return PasswordMessage(
        mechanism + b"\x00" + struct.pack("!i", len(client_first)) + client_first
    )


@dataclass
class Client:
    """RFC 5802 client side, minimal; every field can be tampered with by a test."""

    password: bytes
    nonce: str = "rOprNGfwEbeRWgbNEkqO"
    gs2: str = "n,,"
    user: str = ""

    @property
    def first_bare(self) -> str:
        return f"n={self.user},r={self.nonce}"

    def first(self) -> bytes:
        return (self.gs2 + self.first_bare).encode()

    def final(
        self, server_first: bytes, *, nonce: str | None = None, binding: str | None = None
    ) -> tuple[bytes, bytes]:
        """client-final-message and the ServerSignature the server must send back."""
        attrs = dict(a.split("=", 1) for a in server_first.decode().split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha256", self.password, base64.b64decode(attrs["s"]), int(attrs["i"])
        )
        client_key = _h(salted, b"Client Key")
        cbind = binding if binding is not None else base64.b64encode(self.gs2.encode()).decode()
        without_proof = f"c={cbind},r={nonce if nonce is not None else attrs['r']}"
        auth_message = f"{self.first_bare},{server_first.decode()},{without_proof}".encode()
        signature = _h(hashlib.sha256(client_key).digest(), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
        return final, _h(_h(salted, b"Server Key"), auth_message)


def run_exchange(auth: ScramSha256Auth, client: Client) -> None:
    """A full exchange; asserts the server's signature is the one the client expects."""
    assert auth.start() == AuthenticationSASL(("SCRAM-SHA-256",))
    server_first = auth.step(initial_response(client.first()))
    assert isinstance(server_first, AuthenticationSASLContinue)
    final, server_signature = client.final(server_first.data)
    reply = auth.step(PasswordMessage(final))
    assert reply == AuthenticationSASLFinal(b"v=" + base64.b64encode(server_signature))
    assert auth.done


def server_first_of(auth: ScramSha256Auth, client: Client) -> bytes:
    reply = auth.step(initial_response(client.first()))
    assert isinstance(reply, AuthenticationSASLContinue)
    return reply.data


@pytest.fixture(scope="module")
def cred() -> Credential:
    return Credential.from_password("pencil", iterations=4096)


# --------------------------------------------------------------------------- exchanges


def test_right_password_succeeds_and_server_signature_verifies(cred: Credential) -> None:
    run_exchange(ScramSha256Auth("alice", cred), Client(b"pencil"))


def test_server_first_message_shape(cred: Credential) -> None:
    data = server_first_of(
        ScramSha256Auth("alice", cred, nonce_bytes=18), Client(b"x", nonce="abc")
    )
    r, s, i = data.decode().split(",")
    assert r.startswith("r=abc") and len(r) == len("r=abc") + 24  # 18 bytes -> 24 base64 chars
    assert base64.b64decode(s[2:]) == cred.salt
    assert i == "i=4096"


def test_scramp_client_interoperates(cred: Credential) -> None:
    client = scramp.ScramClient(["SCRAM-SHA-256"], "alice", "pencil")
    auth = ScramSha256Auth("alice", cred)
    first = auth.step(initial_response(client.get_client_first().encode()))
    client.set_server_first(first.data.decode())
    final = auth.step(PasswordMessage(client.get_client_final().encode()))
    assert isinstance(final, AuthenticationSASLFinal)
    client.set_server_final(final.data.decode())  # raises if the signature were wrong
    assert auth.done


def test_initial_response_without_data_gets_empty_challenge(cred: Credential) -> None:
    auth = ScramSha256Auth("alice", cred)
    client = Client(b"pencil")
    assert auth.step(
        PasswordMessage(b"SCRAM-SHA-256\x00\xff\xff\xff\xff")
    ) == AuthenticationSASLContinue(b"")
    server_first = auth.step(PasswordMessage(client.first()))
    assert isinstance(server_first, AuthenticationSASLContinue)
    final, sig = client.final(server_first.data)
    assert auth.step(PasswordMessage(final)) == AuthenticationSASLFinal(
        b"v=" + base64.b64encode(sig)
    )


def test_gs2_flag_y_accepted(cred: Credential) -> None:
    run_exchange(ScramSha256Auth("alice", cred), Client(b"pencil", gs2="y,,"))


def test_scram_username_is_ignored(cred: Credential) -> None:
    run_exchange(ScramSha256Auth("alice", cred), Client(b"pencil", user="mallory"))


def _failure(auth: ScramSha256Auth, client: Client) -> SqlError:
    server_first = server_first_of(auth, client)
    final, _ = client.final(server_first)
    with pytest.raises(SqlError) as info:
        auth.step(PasswordMessage(final))
    assert not auth.done
    return info.value


def test_wrong_password_is_28P01(cred: Credential) -> None:
    err = _failure(ScramSha256Auth("alice", cred), Client(b"pencil2"))
    assert isinstance(err, InvalidPassword) and err.sqlstate == "28P01"
    assert err.message == 'password authentication failed for user "alice"'


def test_unknown_user_fails_like_a_wrong_password(cred: Credential) -> None:
    wrong = _failure(ScramSha256Auth("alice", cred), Client(b"nope"))
    unknown = _failure(ScramSha256Auth("alice", None), Client(b"pencil"))
    assert (type(unknown), unknown.sqlstate, unknown.message, unknown.detail) == (
        type(wrong),
        wrong.sqlstate,
        wrong.message,
        wrong.detail,
    )


def test_unknown_user_gets_a_stable_plausible_salt() -> None:
    def salt_of(user: str) -> str:
        data = server_first_of(ScramSha256Auth(user, None), Client(b"x"))
        return data.decode().split(",")[1]

    assert salt_of("ghost") == salt_of("ghost") != salt_of("ghost2")
    assert len(base64.b64decode(salt_of("ghost")[2:])) == 16
    assert server_first_of(ScramSha256Auth("ghost", None), Client(b"x")).endswith(b",i=4096")


def test_no_further_steps_after_failure_or_success(cred: Credential) -> None:
    auth = ScramSha256Auth("alice", cred)
    run_exchange(auth, Client(b"pencil"))
    with pytest.raises(ProtocolViolation):
        auth.step(PasswordMessage(b"c=biws"))
    auth = ScramSha256Auth("alice", cred)
    with pytest.raises(ProtocolViolation):
        auth.step(PasswordMessage(b"garbage"))
    with pytest.raises(ProtocolViolation):  # a failed exchange stays failed
        auth.step(initial_response(Client(b"pencil").first()))


@pytest.mark.parametrize(
    ("nonce", "binding"),
    [
        pytest.param("tampered", None, id="nonce-replaced"),
        pytest.param("", None, id="nonce-empty"),
        pytest.param("CLIENT_NONCE_ONLY", None, id="nonce-client-part-only"),
        pytest.param(None, "eSws", id="binding-says-y-but-first-said-n"),
        pytest.param(None, "cD10bHMtdW5pcXVlLCw=", id="binding-p"),
        pytest.param(None, "biws!", id="binding-not-base64"),
    ],
)
def test_tampered_final_message_is_08P01(
    cred: Credential, nonce: str | None, binding: str | None
) -> None:
    auth = ScramSha256Auth("alice", cred)
    client = Client(b"pencil")
    server_first = server_first_of(auth, client)
    if nonce == "CLIENT_NONCE_ONLY":
        nonce = client.nonce
    final, _ = client.final(server_first, nonce=nonce, binding=binding)
    with pytest.raises(ProtocolViolation):
        auth.step(PasswordMessage(final))


def test_nonce_with_extra_suffix_is_08P01(cred: Credential) -> None:
    auth = ScramSha256Auth("alice", cred)
    client = Client(b"pencil")
    server_first = server_first_of(auth, client)
    full_nonce = server_first.decode().split(",")[0][2:]
    final, _ = client.final(server_first, nonce=full_nonce + "x")
    with pytest.raises(ProtocolViolation):
        auth.step(PasswordMessage(final))


def test_gs2_p_flag_refused(cred: Credential) -> None:
    auth = ScramSha256Auth("alice", cred)
    with pytest.raises(ProtocolViolation) as info:
        auth.step(initial_response(b"p=tls-server-end-point,,n=,r=abc"))
    assert info.value.sqlstate == "08P01"
    assert "channel binding" in (info.value.detail or "")


def test_authzid_and_mandatory_extension_are_0A000(cred: Credential) -> None:
    with pytest.raises(FeatureNotSupported):
        ScramSha256Auth("alice", cred).step(initial_response(b"n,a=bob,n=,r=abc"))
    with pytest.raises(FeatureNotSupported):
        ScramSha256Auth("alice", cred).step(initial_response(b"n,,m=ext,n=,r=abc"))


@pytest.mark.parametrize(
    "first",
    [
        b"",
        b"x,,n=,r=abc",
        b"n",
        b"n,",
        b"n,,",
        b"n,,r=abc",
        b"n,,n=,",
        b"n,,n=,r=",
        b"n,,n=,r=ab,c",
        b"n,,n=,r=a\x01b",
        b"n,,n=,r=a b",
        b"n,,n=,r=abc,",
        b"n,,n=,r=abc\x00",
        b"n,,n=,r=\xff\xfe",
        b"n,,n=,r=abc,1=x",
        b"n,,n=,r=abc,x",
        b"n,b,n=,r=abc",
    ],
)
def test_malformed_client_first_is_08P01(cred: Credential, first: bytes) -> None:
    with pytest.raises(ProtocolViolation) as info:
        ScramSha256Auth("alice", cred).step(initial_response(first))
    assert info.value.sqlstate == "08P01" and info.value.message


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"SCRAM-SHA-256",  # no terminator
        b"SCRAM-SHA-256\x00\x00\x00",  # short length
        b"SCRAM-SHA-256\x00\x00\x00\x00\x05n,,",  # length says more than is there
        b"SCRAM-SHA-256\x00\x00\x00\x00\x02n,,n=,r=abc",  # length says less
        b"SCRAM-SHA-256-PLUS\x00\x00\x00\x00\x0bn,,n=,r=abc",
        b"MD5\x00\xff\xff\xff\xff",
        b"SCRAM-SHA-256\x00\xff\xff\xff\xffn,,",  # -1 with data
    ],
)
def test_malformed_initial_response_is_08P01(cred: Credential, data: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        ScramSha256Auth("alice", cred).step(PasswordMessage(data))


@pytest.mark.parametrize(
    "final",
    [
        b"",
        b"r={n},c=biws,p=AAAA",  # wrong order
        b"c=biws,r={n}",  # no proof
        b"c=biws,r={n},p=",  # empty proof
        b"c=biws,r={n},p=not*base64",
        b"c=biws,r={n},p=" + base64.b64encode(b"\x00" * 31),  # proof of the wrong size
        b"c=biws,r={n},p=" + base64.b64encode(b"\x00" * 32) + b",x=trailing",
        b"c=biws,r={n},p=" + base64.b64encode(b"\x00" * 32) + b",",
        b"c=biws,r={n},p=" + base64.b64encode(b"\x00" * 32) + b"\x00",
        b"c=biws,,r={n},p=" + base64.b64encode(b"\x00" * 32),
    ],
)
def test_malformed_client_final_is_08P01(cred: Credential, final: bytes) -> None:
    auth = ScramSha256Auth("alice", cred)
    client = Client(b"pencil")
    nonce = server_first_of(auth, client).decode().split(",")[0][2:]
    with pytest.raises(ProtocolViolation):
        auth.step(PasswordMessage(final.replace(b"{n}", nonce.encode())))


_SCRAMISH = st.lists(
    st.sampled_from(
        ["n", "y", "p", ",", "=", "a=", "n=", "r=", "c=", "p=", "biws", "x", "\x00", "é"]
    )
    | st.text(max_size=4),
    max_size=12,
).map("".join)


@given(first=_SCRAMISH, final=_SCRAMISH)
def test_fuzzed_messages_only_raise_sql_errors(first: str, final: str) -> None:
    auth = ScramSha256Auth("alice", Credential(1, b"s", b"k" * 32, b"k" * 32))
    try:
        auth.step(initial_response(first.encode()))
        auth.step(PasswordMessage(final.encode()))
    except (ProtocolViolation, FeatureNotSupported, InvalidPassword):
        assert not auth.done


def test_extensions_before_proof_are_skipped(cred: Credential) -> None:
    auth = ScramSha256Auth("alice", cred)
    client = Client(b"pencil")
    server_first = server_first_of(auth, client)
    nonce = server_first.decode().split(",")[0][2:]
    final, sig = client.final(server_first, nonce=f"{nonce},x=ext")  # signed extension
    assert auth.step(PasswordMessage(final)) == AuthenticationSASLFinal(
        b"v=" + base64.b64encode(sig)
    )


def test_wrong_proof_bits_fail_with_28P01(cred: Credential) -> None:
    auth = ScramSha256Auth("alice", cred)
    client = Client(b"pencil")
    final, _ = client.final(server_first_of(auth, client))
    head, proof = final.rsplit(b",p=", 1)
    flipped = bytearray(base64.b64decode(proof))
    flipped[0] ^= 1
    with pytest.raises(InvalidPassword):
        auth.step(PasswordMessage(head + b",p=" + base64.b64encode(bytes(flipped))))


# --------------------------------------------------------------------------- verifiers


def test_verifier_round_trip_and_known_vector() -> None:
    # Independent computation of the RFC 7677 keys for a fixed salt.
    salt, password = b"0123456789abcdef", b"pencil"
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, 4096)
    stored = hashlib.sha256(_h(salted, b"Client Key")).digest()
    server = _h(salted, b"Server Key")
    expected = "SCRAM-SHA-256$4096:{}${}:{}".format(
        *(base64.b64encode(x).decode() for x in (salt, stored, server))
    )
    assert scram_verifier("pencil", salt=salt) == expected
    assert Credential.from_verifier(expected).to_verifier() == expected
    assert scram_verifier("pencil") != scram_verifier("pencil")  # random salt
    assert scram_verifier("pencil", b"s", iterations=1).startswith("SCRAM-SHA-256$1:cw==$")


def test_verify_cleartext(cred: Credential) -> None:
    assert verify_cleartext(cred, "pencil")
    assert not verify_cleartext(cred, "pencil ")
    assert not verify_cleartext(None, "pencil")


@pytest.mark.parametrize(
    ("password", "prepared"),
    [
        ("plain ascii \x07", "plain ascii \x07"),  # ASCII passes through, as in PostgreSQL
        ("I\u00adX", "IX"),  # soft hyphen maps to nothing
        ("a\u00a0b", "a b"),  # non-ASCII space maps to space
        ("\u2168", "IX"),  # NFKC: ROMAN NUMERAL NINE
        ("\u00aa", "a"),  # NFKC: feminine ordinal
        ("a\ue000", None),  # private use: prohibited
        ("\u0627a", None),  # RandALCat with LCat
        ("\u0627\u0031", None),  # RandALCat not last
        ("\u0627\u0031\u0628", "\u0627\u0031\u0628"),
        ("a\u0221", None),  # unassigned in Unicode 3.2
        ("\u00ad", None),  # empty after mapping
    ],
)
def test_saslprep(password: str, prepared: str | None) -> None:
    assert saslprep(password) == prepared


def test_saslprep_failure_uses_raw_bytes() -> None:
    salt = b"saltsaltsaltsalt"
    raw = "a\ue000"
    salted = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt, 4096)
    assert Credential.from_password(raw, salt).server_key == _h(salted, b"Server Key")


def test_password_file(tmp_path: Path) -> None:
    verifier = scram_verifier("secret2", salt=b"fixedsaltfixedsa")
    path = tmp_path / "passwd"
    path.write_text(
        "# users\n\nalice:pencil\r\n  # indented comment\nbob:" + verifier + "\ncarol:a:b: c \n"
    )
    creds = load_password_file(path)
    assert sorted(creds) == ["alice", "bob", "carol"]
    assert creds["bob"].to_verifier() == verifier
    assert verify_cleartext(creds["alice"], "pencil")
    assert verify_cleartext(creds["carol"], "a:b: c ")
    assert creds["alice"].iterations == 4096 and len(creds["alice"].salt) == 16
    assert "pencil" not in repr(PasswordFile.load(path)) + repr(creds)
    run_exchange(ScramSha256Auth("alice", creds["alice"]), Client(b"pencil"))


@pytest.mark.parametrize(
    ("text", "lineno"),
    [
        ("alice:pencil\nno-colon-hunter2\n", 2),
        (":hunter2\n", 1),
        ("# c\nalice:\n", 2),
        ("a:x\na:hunter2\n", 2),
        ("a:SCRAM-SHA-256$4096:c2FsdA==$hunter2\n", 1),
        ("a:SCRAM-SHA-256$x:c2FsdA==$AAAA:AAAA\n", 1),
        ("a:SCRAM-SHA-256$0:c2FsdA==$" + "A" * 43 + "=:" + "A" * 43 + "=\n", 1),
        ("a:SCRAM-SHA-256$4096:c2FsdA==$" + "A" * 43 + "=:AAAA\n", 1),
        ("a:SCRAM-SHA-256$4096:$" + "A" * 43 + "=:" + "A" * 43 + "=\n", 1),
        ("\n\na:md5" + "0" * 32 + "\n", 3),
    ],
)
def test_password_file_errors_name_the_line_not_the_secret(text: str, lineno: int) -> None:
    with pytest.raises(ValueError, match=rf"line {lineno}\b") as info:
        PasswordFile.parse(text)
    assert "hunter2" not in str(info.value) and "c2FsdA" not in str(info.value)


# --------------------------------------------------------------------------- real PostgreSQL


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    if _PG_MISSING is not None:
        pytest.skip(f"needs a real PostgreSQL 15: {_PG_MISSING}")
    with start_postgres(
        hba="scram-sha-256", settings={"password_encryption": "scram-sha-256"}
    ) as server:
        yield server


_PASSWORDS = [
    "pw",
    "pässwörd \u2168",
    "I\u00adX",
    "a\u00a0b",
    "a\ue000",
    "\u0627a",
    "a\u0221",
    "x" * 200,
]


def _pg_verifier(pg: PostgresServer, role: str, password: str) -> str:
    out = pg.psql(
        f"SET password_encryption = 'scram-sha-256';\n"
        f"DROP ROLE IF EXISTS {role};\n"
        f"CREATE ROLE {role} LOGIN PASSWORD {sql_literal(password)};\n"
        f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}';\n"
    )
    return out.strip()


@needs_postgres
@pytest.mark.parametrize("password", _PASSWORDS)
def test_postgres_verifier_is_accepted_and_drives_our_exchange(
    pg: PostgresServer, tmp_path: Path, password: str
) -> None:
    verifier = _pg_verifier(pg, "u", password)
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    (tmp_path / "passwd").write_text(f"u:{verifier}\n")
    cred = load_password_file(tmp_path / "passwd")["u"]
    assert cred.to_verifier() == verifier
    # our derivation (SASLprep included) reproduces the server's keys for its salt
    assert scram_verifier(password, cred.salt, cred.iterations) == verifier
    run_exchange(
        ScramSha256Auth("u", cred),
        Client(password.encode() if password.isascii() else _prepared(password)),
    )
    assert verify_cleartext(cred, password)
    for wrong in ("pw ", "PW", "", password + "x"):
        err = _failure(ScramSha256Auth("u", cred), Client(wrong.encode()))
        assert isinstance(err, InvalidPassword)


def _prepared(password: str) -> bytes:
    prepared = saslprep(password)
    return (prepared if prepared is not None else password).encode()


@needs_postgres
@pytest.mark.parametrize("password", ["pw", "pässwörd \u2168", "a\ue000"])
def test_our_verifier_lets_libpq_log_in_to_postgres(pg: PostgresServer, password: str) -> None:
    verifier = scram_verifier(password)
    pg.psql(f"DROP ROLE IF EXISTS v;\nCREATE ROLE v LOGIN PASSWORD {sql_literal(verifier)};\n")
    assert pg.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'v'").strip() == verifier
    with psycopg.connect(pg.dsn_for("v", password)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("v",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.dsn_for("v", password + "x")).close()


@needs_postgres
def test_postgres_helper_cleans_up() -> None:
    with start_postgres() as server:
        tmpdir = server.tmpdir
        assert server.psql("SELECT 1").strip() == "1"
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
        with pytest.raises(subprocess.CalledProcessError):
            server.psql("SELECT nonsense_column")
    assert not tmpdir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn, connect_timeout=2).close()


# --------------------------------------------------------------------------- libpq against us


def _serve_one(listener: socket.socket, creds: dict[str, Credential]) -> None:
    """Just enough of a server for libpq to authenticate: startup, SASL, Ok, ReadyForQuery."""
    conn, _ = listener.accept()
    with conn:
        stream = conn.makefile("rwb")

        def read_exact(n: int) -> bytes:
            data = stream.read(n)
            assert data is not None and len(data) == n
            return data

        def send(*messages: BackendMessage) -> None:
            stream.write(b"".join(m.encode() for m in messages))
            stream.flush()

        body = read_exact(struct.unpack("!i", read_exact(4))[0] - 4)
        fields = body[4:].split(b"\x00")
        params = dict(zip(fields[0::2], fields[1::2], strict=False))
        user = params[b"user"].decode()
        auth = ScramSha256Auth(user, creds.get(user))
        send(auth.start())
        try:
            while not auth.done:
                tag, length = struct.unpack("!ci", read_exact(5))
                assert tag == b"p"
                send(auth.step(PasswordMessage(read_exact(length - 4))))
        except SqlError as err:
            severity = {"severity": "FATAL", "severity_nonlocalized": "FATAL"}
            send(ErrorResponse({**severity, "sqlstate": err.sqlstate, "message": err.message}))
            return
        send(AuthenticationOk(), ReadyForQuery("I"))
        stream.read(5)  # Terminate


@pytest.mark.parametrize(
    ("user", "password", "ok"),
    [("alice", "pencil", True), ("alice", "pencil2", False), ("ghost", "pencil", False)],
)
def test_libpq_authenticates_against_our_exchange(user: str, password: str, ok: bool) -> None:
    creds = {"alice": Credential.from_password("pencil")}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        thread = threading.Thread(target=_serve_one, args=(listener, creds), daemon=True)
        thread.start()
        dsn = f"host=127.0.0.1 port={port} user={user} password={password} sslmode=disable connect_timeout=5"
        if ok:
            psycopg.connect(dsn).close()
        else:
            with pytest.raises(
                psycopg.OperationalError, match=f'password authentication failed for user "{user}"'
            ):
                psycopg.connect(dsn)
        thread.join(timeout=10)
        assert not thread.is_alive()
