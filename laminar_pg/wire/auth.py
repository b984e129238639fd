"""Password authentication: SCRAM-SHA-256 (RFC 5802 / RFC 7677) server side, sans I/O.

Strategy: credentials are only ever held as SCRAM verifiers, in exactly the text form
PostgreSQL keeps in `pg_authid.rolpassword`
(`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), so a password file may be
filled from a real server and vice versa.  `ScramSha256Auth` is one connection's exchange:
the connection layer hands it each 'p' message and sends back what it returns; it never
touches a socket.  The flow mirrors PostgreSQL's src/backend/libpq/auth-scram.c
(read_client_first_message, read_client_final_message, verify_client_proof), including its
"doomed" exchange for unknown users: a per-process secret derives a stable mock salt, the
exchange runs to the end and fails with the same message a wrong password gets.

We offer SCRAM-SHA-256 only, never SCRAM-SHA-256-PLUS (no channel binding), so a client
asking for binding (gs2 flag 'p') is refused; 'n' and 'y' are accepted.

SASLprep (RFC 4013) follows PostgreSQL's pg_saslprep (src/common/saslprep.c): a pure ASCII
password is used as is; otherwise map (RFC 3454 table B.1 to nothing, C.1.2 to a space),
NFKC-normalize with the running Python's Unicode tables (as PostgreSQL uses its own current
tables), reject prohibited (C.1.2-C.9) and unassigned (A.1) code points and bad
bidirectional strings.  When the password is not valid for SASLprep, the raw UTF-8 bytes are
used instead, exactly as PostgreSQL does, so verifiers agree with the real server.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
import stringprep
import struct
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from laminar_pg.errcodes import FeatureNotSupported, InvalidPassword, ProtocolViolation
from laminar_pg.wire.messages import (
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    PasswordMessage,
)

MECHANISM = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SALT_LENGTH = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN
KEY_LENGTH = 32  # SHA-256 digest size
_I32 = struct.Struct("!i")

# A per-process secret so an unknown user always sees the same salt from this process
# (PostgreSQL derives it from the cluster's mock_authentication_nonce).
_MOCK_SECRET = secrets.token_bytes(32)


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True, slots=True)
class Credential:
    """A SCRAM-SHA-256 verifier: what the server needs, and nothing that reveals the password."""

    iterations: int
    salt: bytes
    stored_key: bytes = field(repr=False)
    server_key: bytes = field(repr=False)

    @classmethod
    def from_verifier(cls, text: str) -> Credential:
        """Parse PostgreSQL's `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.

        Raises ValueError (never quoting the text) when it is not such a verifier.
        """
        prefix, sep, rest = text.partition("$")
        if prefix != MECHANISM or not sep:
            raise ValueError("not a SCRAM-SHA-256 verifier")
        params, sep, keys = rest.partition("$")
        iterations_text, sep1, salt_b64 = params.partition(":")
        stored_b64, sep2, server_b64 = keys.partition(":")
        if not (sep and sep1 and sep2):
            raise ValueError(
                "malformed SCRAM-SHA-256 verifier: expected $iterations:salt$stored:server"
            )
        if not iterations_text.isascii() or not iterations_text.isdigit():
            raise ValueError("malformed SCRAM-SHA-256 verifier: iteration count is not a number")
        iterations = int(iterations_text)
        if iterations < 1:
            raise ValueError("malformed SCRAM-SHA-256 verifier: iteration count must be positive")
        salt = _b64decode_strict(salt_b64, "salt")
        if not salt:
            raise ValueError("malformed SCRAM-SHA-256 verifier: empty salt")
        stored_key = _b64decode_strict(stored_b64, "StoredKey")
        server_key = _b64decode_strict(server_b64, "ServerKey")
        if len(stored_key) != KEY_LENGTH or len(server_key) != KEY_LENGTH:
            raise ValueError("malformed SCRAM-SHA-256 verifier: keys must be 32 bytes")
        return cls(iterations, salt, stored_key, server_key)

    @classmethod
    def from_password(
        cls, password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
    ) -> Credential:
        """Derive a verifier from a plain password (random 16-byte salt unless given)."""
        if iterations < 1:
            raise ValueError("iterations must be positive")
        salt = secrets.token_bytes(SALT_LENGTH) if salt is None else salt
        if not salt:
            raise ValueError("salt must not be empty")
        salted = _salted_password(password, salt, iterations)
        stored_key = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
        return cls(iterations, salt, stored_key, _hmac(salted, b"Server Key"))

    def to_verifier(self) -> str:
        """The PostgreSQL `rolpassword` text for this credential."""
        return (
            f"{MECHANISM}${self.iterations}:{_b64(self.salt)}"
            f"${_b64(self.stored_key)}:{_b64(self.server_key)}"
        )


def scram_verifier(
    password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """A PostgreSQL-format SCRAM-SHA-256 verifier for `password` (SASLprep applied)."""
    return Credential.from_password(password, salt, iterations).to_verifier()


def verify_cleartext(credential: Credential | None, password: str) -> bool:
    """Check a cleartext password (AuthenticationCleartextPassword) against a verifier.

    Constant time in the comparison; an unknown user (None) costs the same work and fails.
    """
    target = credential if credential is not None else _mock_credential("")
    salted = _salted_password(password, target.salt, target.iterations)
    stored_key = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
    return hmac.compare_digest(stored_key, target.stored_key) and credential is not None


# --------------------------------------------------------------------------- password file


class PasswordFile(Mapping[str, Credential]):
    """user -> Credential, read from lines `user:password` or `user:SCRAM-SHA-256$...`.

    Blank lines and lines starting with `#` are ignored.  Everything after the first `:` is
    the password or verifier, taken verbatim (so user names cannot contain `:`; passwords
    may, and surrounding spaces in a password count).  A plain
    password is turned into a verifier at load, so the plain text is not kept.  Errors name
    the line number and never echo the line.
    """

    __slots__ = ("_credentials",)

    def __init__(self, credentials: Mapping[str, Credential] | None = None) -> None:
        self._credentials: dict[str, Credential] = dict(credentials or {})

    @classmethod
    def parse(cls, text: str, source: str = "<password file>") -> PasswordFile:
        credentials: dict[str, Credential] = {}
        for lineno, raw_line in enumerate(text.split("\n"), start=1):
            line = raw_line.removesuffix("\r")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            user, sep, secret = line.partition(":")
            user = user.strip()
            where = f"{source}, line {lineno}"
            if not sep or not user:
                raise ValueError(f"{where}: expected user:password")
            if user in credentials:
                raise ValueError(f"{where}: duplicate entry for user {user!r}")
            credentials[user] = _credential_from_entry(secret, where)
        return cls(credentials)

    @classmethod
    def load(cls, path: str | Path) -> PasswordFile:
        return cls.parse(Path(path).read_text(encoding="utf-8"), source=str(path))

    def __getitem__(self, user: str) -> Credential:
        return self._credentials[user]

    def __iter__(self) -> Iterator[str]:
        return iter(self._credentials)

    def __len__(self) -> int:
        return len(self._credentials)

    def __repr__(self) -> str:
        return f"PasswordFile(users={sorted(self._credentials)!r})"


def load_password_file(path: str | Path) -> dict[str, Credential]:
    """Read a password file (see `PasswordFile`) into a dict user -> Credential."""
    return dict(PasswordFile.load(path))


def _credential_from_entry(secret: str, where: str) -> Credential:
    if secret.startswith(MECHANISM + "$"):
        try:
            return Credential.from_verifier(secret)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    if len(secret) == 35 and secret.startswith("md5") and _is_hex(secret[3:]):
        raise ValueError(f"{where}: MD5 password hashes are not supported, use SCRAM-SHA-256")
    if not secret:
        raise ValueError(f"{where}: empty password")
    return Credential.from_password(secret)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


# --------------------------------------------------------------------------- SCRAM exchange


class _State(enum.Enum):
    INITIAL_RESPONSE = "expect SASLInitialResponse"
    CLIENT_FIRST = "expect client-first-message in SASLResponse"
    CLIENT_FINAL = "expect client-final-message"
    DONE = "done"
    FAILED = "failed"


_Reply = AuthenticationSASLContinue | AuthenticationSASLFinal


class ScramSha256Auth:
    """One connection's SCRAM-SHA-256 exchange, server side.

    `start()` gives the AuthenticationSASL to send; each PasswordMessage from the client goes
    to `step()`, which returns the AuthenticationSASLContinue / AuthenticationSASLFinal to
    send, or raises a SqlError (FATAL severity: authentication errors end the connection).
    After the final message `done` is True and the caller sends AuthenticationOk.

    `credential=None` (unknown user, or no usable password) runs the whole exchange against
    a mock verifier and fails at the end exactly like a wrong password.
    """

    def __init__(self, user: str, credential: Credential | None, *, nonce_bytes: int = 18) -> None:
        if nonce_bytes < 1:
            raise ValueError("nonce_bytes must be positive")
        self.user = user
        self.done = False
        self._doomed = credential is None
        self._credential = credential if credential is not None else _mock_credential(user)
        self._nonce_bytes = nonce_bytes
        self._state = _State.INITIAL_RESPONSE
        self._gs2_header = b""
        self._client_nonce = ""
        self._server_nonce = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._handlers: dict[_State, Callable[[bytes], _Reply]] = {
            _State.INITIAL_RESPONSE: self._on_initial_response,
            _State.CLIENT_FIRST: self._on_client_first,
            _State.CLIENT_FINAL: self._on_client_final,
        }

    def start(self) -> AuthenticationSASL:
        """The AuthenticationSASL request listing the mechanisms we offer."""
        return AuthenticationSASL((MECHANISM,))

    def step(
        self, message: PasswordMessage
    ) -> AuthenticationSASLContinue | AuthenticationSASLFinal:
        """Consume the client's next 'p' message; return the reply to send."""
        handler = self._handlers.get(self._state)
        if handler is None:
            raise _malformed(f"unexpected SASL message: the exchange is {self._state.name.lower()}")
        try:
            return handler(message.data)
        except BaseException:
            self._state = _State.FAILED
            raise

    # -- SASLInitialResponse: mechanism cstring, int32 length (-1: none), data

    def _on_initial_response(self, data: bytes) -> _Reply:
        end = data.find(b"\x00")
        if end < 0 or len(data) < end + 1 + _I32.size:
            raise ProtocolViolation("malformed SASLInitialResponse message", severity="FATAL")
        mechanism = data[:end]
        (length,) = _I32.unpack_from(data, end + 1)
        payload = data[end + 1 + _I32.size :]
        if mechanism != MECHANISM.encode():
            raise ProtocolViolation(
                "client selected an invalid SASL authentication mechanism", severity="FATAL"
            )
        if length == -1 and not payload:
            # No initial response: send an empty challenge; the client-first-message
            # follows in a SASLResponse (auth-scram.c, scram_exchange with input NULL).
            self._state = _State.CLIENT_FIRST
            return AuthenticationSASLContinue(b"")
        if length != len(payload):
            raise ProtocolViolation(
                "malformed SASLInitialResponse message",
                detail="The declared length does not match the data.",
                severity="FATAL",
            )
        return self._on_client_first(payload)

    # -- client-first-message: gs2-header client-first-message-bare

    def _on_client_first(self, data: bytes) -> _Reply:
        text = _scram_text(data)
        flag, rest = text[:1], text[1:]
        if flag == "p":
            raise _malformed(
                "The client selected SCRAM-SHA-256 without channel binding, "
                "but the SCRAM message includes channel binding data."
            )
        if flag not in ("n", "y") or not rest.startswith(","):
            raise _malformed(f"Unexpected channel-binding flag {flag!r}.")
        authzid, sep, bare = rest[1:].partition(",")
        if not sep:
            raise _malformed("Missing authorization identity field.")
        if authzid.startswith("a="):
            raise FeatureNotSupported(
                "client uses authorization identity, but it is not supported", severity="FATAL"
            )
        if authzid:
            raise _malformed(f"Unexpected attribute {authzid[:1]!r} in client-first-message.")
        self._gs2_header = f"{flag},,".encode()
        if bare.startswith("m="):
            raise FeatureNotSupported(
                "client requires an unsupported SCRAM extension", severity="FATAL"
            )
        attrs = _Attributes(bare)
        attrs.expect("n")  # the SCRAM user name is ignored: the startup packet's user counts
        client_nonce = attrs.expect("r")
        if not client_nonce or not all(0x21 <= ord(c) <= 0x7E for c in client_nonce):
            raise _malformed("The client nonce is empty or has non-printable characters.")
        attrs.skip_extensions()
        self._client_nonce = client_nonce
        self._server_nonce = _b64(secrets.token_bytes(self._nonce_bytes))
        self._client_first_bare = bare
        cred = self._credential
        self._server_first = (
            f"r={client_nonce}{self._server_nonce},s={_b64(cred.salt)},i={cred.iterations}"
        )
        self._state = _State.CLIENT_FINAL
        return AuthenticationSASLContinue(self._server_first.encode())

    # -- client-final-message: c=<gs2 header b64>,r=<nonce>[,ext...],p=<proof>

    def _on_client_final(self, data: bytes) -> _Reply:
        text = _scram_text(data)
        attrs = _Attributes(text)
        binding = attrs.expect("c")
        if _b64decode_or_none(binding) != self._gs2_header:
            raise ProtocolViolation(
                "unexpected SCRAM channel-binding attribute in client-final-message",
                severity="FATAL",
            )
        nonce = attrs.expect("r")
        if not hmac.compare_digest(
            nonce.encode(), (self._client_nonce + self._server_nonce).encode()
        ):
            raise _malformed("Nonce does not match.")
        proof_b64, without_proof = attrs.find_last("p")
        proof = _b64decode_or_none(proof_b64)
        if proof is None or len(proof) != KEY_LENGTH:
            raise _malformed("Malformed proof in client-final-message.")
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof))
        if not self._client_proof_ok(proof, auth_message.encode()) or self._doomed:
            raise InvalidPassword(
                f'password authentication failed for user "{self.user}"', severity="FATAL"
            )
        signature = _hmac(self._credential.server_key, auth_message.encode())
        self._state = _State.DONE
        self.done = True
        return AuthenticationSASLFinal(f"v={_b64(signature)}".encode())

    def _client_proof_ok(self, proof: bytes, auth_message: bytes) -> bool:
        """H(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey, in constant time."""
        signature = _hmac(self._credential.stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        return hmac.compare_digest(hashlib.sha256(client_key).digest(), self._credential.stored_key)


class _Attributes:
    """A cursor over `a=value,b=value,...` SCRAM attributes (RFC 5802 section 5.1)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _read(self) -> tuple[str, str]:
        """The next `x=value`; a comma must be followed by another attribute."""
        if self._pos >= len(self._text):
            raise _malformed("Unexpected end of SCRAM message.")
        end = self._text.find(",", self._pos)
        if end < 0:
            end = len(self._text)
        item = self._text[self._pos : end]
        self._pos = end + 1 if end < len(self._text) else end
        if self._pos == len(self._text) and end < len(self._text):
            raise _malformed("Trailing comma in SCRAM message.")
        if len(item) < 2 or not ("a" <= item[0].lower() <= "z") or item[1] != "=":
            raise _malformed("Malformed SCRAM attribute.")
        return item[0], item[2:]

    def expect(self, name: str) -> str:
        attr, value = self._read()
        if attr != name:
            raise _malformed(f'Expected attribute "{name}" but found "{attr}".')
        return value

    def skip_extensions(self) -> None:
        while self._pos < len(self._text):
            self._read()

    def find_last(self, name: str) -> tuple[str, str]:
        """Skip extensions up to attribute `name`, which must end the message.

        Returns its value and the message text before `,name=`.
        """
        while True:
            start = self._pos
            attr, value = self._read()
            if attr == name:
                break
        if self._pos < len(self._text):
            raise _malformed("Garbage found at the end of client-final-message.")
        return value, self._text[: max(start - 1, 0)]


# --------------------------------------------------------------------------- primitives


def saslprep(password: str) -> str | None:
    """RFC 4013 SASLprep of a stored password, or None when the password is not valid for it.

    Follows PostgreSQL's pg_saslprep: pure ASCII passes unchanged (PostgreSQL's fast path).
    """
    if password.isascii():
        return password
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c)
    )
    if not mapped:
        return None
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized:
        return None
    for c in normalized:
        if _prohibited(c) or stringprep.in_table_a1(c):
            return None
    if any(stringprep.in_table_d1(c) for c in normalized):
        if any(stringprep.in_table_d2(c) for c in normalized):
            return None
        if not (stringprep.in_table_d1(normalized[0]) and stringprep.in_table_d1(normalized[-1])):
            return None
    return normalized


def _prohibited(c: str) -> bool:
    return (
        stringprep.in_table_c12(c)
        or stringprep.in_table_c21_c22(c)
        or stringprep.in_table_c3(c)
        or stringprep.in_table_c4(c)
        or stringprep.in_table_c5(c)
        or stringprep.in_table_c6(c)
        or stringprep.in_table_c7(c)
        or stringprep.in_table_c8(c)
        or stringprep.in_table_c9(c)
    )


def _password_bytes(password: str) -> bytes:
    prepared = saslprep(password)
    return (prepared if prepared is not None else password).encode("utf-8")


def _salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", _password_bytes(password), salt, iterations)


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode_strict(text: str, what: str) -> bytes:
    decoded = _b64decode_or_none(text)
    if decoded is None:
        raise ValueError(f"malformed SCRAM-SHA-256 verifier: {what} is not valid base64")
    return decoded


def _b64decode_or_none(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def _mock_credential(user: str) -> Credential:
    """A stable, unusable verifier for an unknown user (cf. auth-scram.c scram_mock_salt)."""
    digest = hmac.new(_MOCK_SECRET, user.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return Credential(DEFAULT_ITERATIONS, digest[:SALT_LENGTH], digest, digest)


def _scram_text(data: bytes) -> str:
    if not data:
        raise _malformed("The message is empty.")
    if b"\x00" in data:
        raise _malformed("Message length does not match input length.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("The message is not valid UTF-8.") from None


def _malformed(detail: str) -> ProtocolViolation:
    return ProtocolViolation("malformed SCRAM message", detail=detail, severity="FATAL")
