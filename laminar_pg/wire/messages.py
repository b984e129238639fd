"""PostgreSQL v3 protocol messages as frozen, slotted dataclasses.

Every message can encode itself to wire bytes; `codec.py` decodes them. The server
decodes frontend messages and encodes backend messages; tests and the fuzzer use the
other direction too.  Reference: PostgreSQL docs, "Message Formats" (protocol-message-formats).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")  # OIDs are unsigned
_II = struct.Struct("!ii")
_HEADER = struct.Struct("!ci")

PROTOCOL_3_0 = 196608  # 3 << 16
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102


def frame(tag: bytes, body: bytes) -> bytes:
    """A typed message: tag byte, int32 length (including itself), body."""
    return _HEADER.pack(tag, len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\x00"


def _i16_list(values: tuple[int, ...]) -> bytes:
    return _I16.pack(len(values)) + b"".join(_I16.pack(v) for v in values)


# --------------------------------------------------------------------------- frontend


@dataclass(frozen=True, slots=True)
class StartupMessage:
    parameters: dict[str, str] = field(default_factory=dict)
    protocol: int = PROTOCOL_3_0

    def encode(self) -> bytes:
        body = _I32.pack(self.protocol)
        body += b"".join(cstr(k) + cstr(v) for k, v in self.parameters.items()) + b"\x00"
        return _I32.pack(len(body) + 4) + body


@dataclass(frozen=True, slots=True)
class SSLRequest:
    def encode(self) -> bytes:
        return _II.pack(8, SSL_REQUEST_CODE)


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    def encode(self) -> bytes:
        return _II.pack(8, GSSENC_REQUEST_CODE)


@dataclass(frozen=True, slots=True)
class CancelRequest:
    process_id: int
    secret_key: int

    def encode(self) -> bytes:
        return _I32.pack(16) + _I32.pack(CANCEL_REQUEST_CODE) + _II.pack(
            self.process_id, self.secret_key
        )


@dataclass(frozen=True, slots=True)
class PasswordMessage:
    """'p': a password, SASLInitialResponse or SASLResponse; the auth step decides which."""

    data: bytes

    def encode(self) -> bytes:
        return frame(b"p", self.data)


@dataclass(frozen=True, slots=True)
class Query:
    sql: str

    def encode(self) -> bytes:
        return frame(b"Q", cstr(self.sql))


@dataclass(frozen=True, slots=True)
class Parse:
    name: str
    sql: str
    param_oids: tuple[int, ...] = ()

    def encode(self) -> bytes:
        body = cstr(self.name) + cstr(self.sql) + _I16.pack(len(self.param_oids))
        body += b"".join(_U32.pack(o) for o in self.param_oids)
        return frame(b"P", body)


@dataclass(frozen=True, slots=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()

    def encode(self) -> bytes:
        body = cstr(self.portal) + cstr(self.statement) + _i16_list(self.param_formats)
        body += _I16.pack(len(self.params))
        for p in self.params:
            body += _I32.pack(-1) if p is None else _I32.pack(len(p)) + p
        body += _i16_list(self.result_formats)
        return frame(b"B", body)


@dataclass(frozen=True, slots=True)
class Describe:
    kind: str  # 'S' statement or 'P' portal
    name: str

    def encode(self) -> bytes:
        return frame(b"D", self.kind.encode() + cstr(self.name))


@dataclass(frozen=True, slots=True)
class Execute:
    portal: str
    max_rows: int = 0

    def encode(self) -> bytes:
        return frame(b"E", cstr(self.portal) + _I32.pack(self.max_rows))


@dataclass(frozen=True, slots=True)
class Close:
    kind: str  # 'S' or 'P'
    name: str

    def encode(self) -> bytes:
        return frame(b"C", self.kind.encode() + cstr(self.name))


@dataclass(frozen=True, slots=True)
class Sync:
    def encode(self) -> bytes:
        return b"S\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class Flush:
    def encode(self) -> bytes:
        return b"H\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class Terminate:
    def encode(self) -> bytes:
        return b"X\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class CopyData:
    """'d' in both directions."""

    data: bytes

    def encode(self) -> bytes:
        return frame(b"d", self.data)


@dataclass(frozen=True, slots=True)
class CopyDone:
    def encode(self) -> bytes:
        return b"c\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class CopyFail:
    message: str

    def encode(self) -> bytes:
        return frame(b"f", cstr(self.message))


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """'F': the legacy fast-path function call; decoded only to be refused."""

    body: bytes

    def encode(self) -> bytes:
        return frame(b"F", self.body)


FrontendMessage = (
    StartupMessage | SSLRequest | GSSENCRequest | CancelRequest | PasswordMessage | Query
    | Parse | Bind | Describe | Execute | Close | Sync | Flush | Terminate | CopyData
    | CopyDone | CopyFail | FunctionCall
)

# --------------------------------------------------------------------------- backend


@dataclass(frozen=True, slots=True)
class AuthenticationOk:
    def encode(self) -> bytes:
        return b"R\x00\x00\x00\x08\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword:
    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(3))


@dataclass(frozen=True, slots=True)
class AuthenticationSASL:
    mechanisms: tuple[str, ...]

    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(10) + b"".join(cstr(m) for m in self.mechanisms) + b"\x00")


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue:
    data: bytes

    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(11) + self.data)


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal:
    data: bytes

    def encode(self) -> bytes:
        return frame(b"R", _I32.pack(12) + self.data)


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    name: str
    value: str

    def encode(self) -> bytes:
        return frame(b"S", cstr(self.name) + cstr(self.value))


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    process_id: int
    secret_key: int

    def encode(self) -> bytes:
        return frame(b"K", _II.pack(self.process_id, self.secret_key))


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    status: str  # 'I' idle, 'T' in transaction, 'E' failed transaction

    def encode(self) -> bytes:
        return b"Z\x00\x00\x00\x05" + self.status.encode()


@dataclass(frozen=True, slots=True)
class FieldDescription:
    name: str
    table_oid: int = 0
    column_number: int = 0
    type_oid: int = 25
    type_size: int = -1
    type_modifier: int = -1
    format: int = 0


_FIELD = struct.Struct("!IhIhih")


@dataclass(frozen=True, slots=True)
class RowDescription:
    fields: tuple[FieldDescription, ...]

    def encode(self) -> bytes:
        body = _I16.pack(len(self.fields))
        for f in self.fields:
            body += cstr(f.name) + _FIELD.pack(
                f.table_oid, f.column_number, f.type_oid, f.type_size, f.type_modifier, f.format
            )
        return frame(b"T", body)


@dataclass(frozen=True, slots=True)
class DataRow:
    values: tuple[bytes | None, ...]

    def encode(self) -> bytes:
        body = _I16.pack(len(self.values))
        for v in self.values:
            body += b"\xff\xff\xff\xff" if v is None else _I32.pack(len(v)) + v
        return frame(b"D", body)


@dataclass(frozen=True, slots=True)
class CommandComplete:
    tag: str

    def encode(self) -> bytes:
        return frame(b"C", cstr(self.tag))


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse:
    def encode(self) -> bytes:
        return b"I\x00\x00\x00\x04"


# Field codes of ErrorResponse / NoticeResponse.
ERROR_FIELDS = {
    "severity": b"S",
    "severity_nonlocalized": b"V",
    "sqlstate": b"C",
    "message": b"M",
    "detail": b"D",
    "hint": b"H",
    "position": b"P",
    "internal_position": b"p",
    "internal_query": b"q",
    "where": b"W",
    "schema": b"s",
    "table": b"t",
    "column": b"c",
    "data_type": b"d",
    "constraint": b"n",
    "file": b"F",
    "line": b"L",
    "routine": b"R",
}
_FIELD_NAMES = {v[0]: k for k, v in ERROR_FIELDS.items()}


def _encode_fields(fields: dict[str, str]) -> bytes:
    return b"".join(ERROR_FIELDS[k] + cstr(v) for k, v in fields.items()) + b"\x00"


def decode_fields(body: bytes) -> dict[str, str]:
    """ErrorResponse / NoticeResponse fields; ValueError if malformed (the codec turns it
    into a ProtocolError)."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(body) and body[pos] != 0:
        end = body.find(b"\x00", pos + 1)
        if end < 0:
            raise ValueError("unterminated field in error message")
        out[_FIELD_NAMES.get(body[pos], chr(body[pos]))] = body[pos + 1 : end].decode()
        pos = end + 1
    return out


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    fields: dict[str, str]

    def encode(self) -> bytes:
        return frame(b"E", _encode_fields(self.fields))


@dataclass(frozen=True, slots=True)
class NoticeResponse:
    fields: dict[str, str]

    def encode(self) -> bytes:
        return frame(b"N", _encode_fields(self.fields))


@dataclass(frozen=True, slots=True)
class ParseComplete:
    def encode(self) -> bytes:
        return b"1\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class BindComplete:
    def encode(self) -> bytes:
        return b"2\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class CloseComplete:
    def encode(self) -> bytes:
        return b"3\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class NoData:
    def encode(self) -> bytes:
        return b"n\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class PortalSuspended:
    def encode(self) -> bytes:
        return b"s\x00\x00\x00\x04"


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    type_oids: tuple[int, ...]

    def encode(self) -> bytes:
        return frame(
            b"t", _I16.pack(len(self.type_oids)) + b"".join(_U32.pack(o) for o in self.type_oids)
        )


@dataclass(frozen=True, slots=True)
class CopyInResponse:
    format: int
    column_formats: tuple[int, ...]

    def encode(self) -> bytes:
        return frame(b"G", bytes([self.format]) + _i16_list(self.column_formats))


@dataclass(frozen=True, slots=True)
class CopyOutResponse:
    format: int
    column_formats: tuple[int, ...]

    def encode(self) -> bytes:
        return frame(b"H", bytes([self.format]) + _i16_list(self.column_formats))


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    newest_minor: int
    unrecognized: tuple[str, ...] = ()

    def encode(self) -> bytes:
        body = _I32.pack(self.newest_minor) + _I32.pack(len(self.unrecognized))
        return frame(b"v", body + b"".join(cstr(o) for o in self.unrecognized))


@dataclass(frozen=True, slots=True)
class NotificationResponse:
    process_id: int
    channel: str
    payload: str

    def encode(self) -> bytes:
        return frame(b"A", _I32.pack(self.process_id) + cstr(self.channel) + cstr(self.payload))


BackendMessage = (
    AuthenticationOk | AuthenticationCleartextPassword | AuthenticationSASL
    | AuthenticationSASLContinue | AuthenticationSASLFinal | ParameterStatus | BackendKeyData
    | ReadyForQuery | RowDescription | DataRow | CommandComplete | EmptyQueryResponse
    | ErrorResponse | NoticeResponse | ParseComplete | BindComplete | CloseComplete | NoData
    | PortalSuspended | ParameterDescription | CopyInResponse | CopyOutResponse | CopyData
    | CopyDone | NegotiateProtocolVersion | NotificationResponse
)
