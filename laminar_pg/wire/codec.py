"""Sans-I/O decoding of PostgreSQL v3 messages.

`MessageReader` takes bytes as they arrive (`feed`) and hands out whole messages
(`next_message`, or NEED_DATA).  It never blocks and never does I/O, so it can be fed
one byte at a time.  The server uses `frontend_reader()`; tests use `backend_reader()`
to read what the server sends.  A malformed message raises ProtocolError: the peer
broke the protocol and its connection must close.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from laminar_pg.wire import messages as m

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()

DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024  # bytes; larger messages are refused (08P01)
MAX_STARTUP_PACKET = 10_000  # PostgreSQL's own limit for the startup packet


class ProtocolError(Exception):
    """The peer broke the protocol; its connection closes after an 08P01 error."""

    sqlstate = "08P01"


class BodyReader:
    """Reads the fields of one message body; every read is bounds-checked."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def cstr(self) -> str:
        end = self.buf.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolError("unterminated string in message")
        raw = self.buf[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 in message") from exc

    def i16(self) -> int:
        if self.pos + 2 > len(self.buf):
            raise ProtocolError("message too short")
        (v,) = _I16.unpack_from(self.buf, self.pos)
        self.pos += 2
        return int(v)

    def u32(self) -> int:
        """An OID (unsigned)."""
        if self.pos + 4 > len(self.buf):
            raise ProtocolError("message too short")
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def i32(self) -> int:
        if self.pos + 4 > len(self.buf):
            raise ProtocolError("message too short")
        (v,) = _I32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise ProtocolError("message too short")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw

    def rest(self) -> bytes:
        raw = self.buf[self.pos :]
        self.pos = len(self.buf)
        return raw

    def count(self) -> int:
        n = self.i16()
        if n < 0:
            raise ProtocolError("negative count in message")
        return n

    def done(self) -> None:
        if self.pos != len(self.buf):
            raise ProtocolError("unexpected trailing bytes in message")


Decoder = Callable[[BodyReader], Any]


# --------------------------------------------------------------------------- frontend bodies


def _bind(r: BodyReader) -> m.Bind:
    portal, statement = r.cstr(), r.cstr()
    formats = tuple(r.i16() for _ in range(r.count()))
    params: list[bytes | None] = []
    for _ in range(r.count()):
        n = r.i32()
        params.append(None if n == -1 else r.take(n))
    results = tuple(r.i16() for _ in range(r.count()))
    return m.Bind(portal, statement, formats, tuple(params), results)


def _kind_name(r: BodyReader) -> tuple[str, str]:
    kind = r.take(1).decode("latin-1")
    if kind not in ("S", "P"):
        raise ProtocolError(f"invalid object kind {kind!r} (expected 'S' or 'P')")
    return kind, r.cstr()


FRONTEND_DECODERS: dict[bytes, Decoder] = {
    b"Q": lambda r: m.Query(r.cstr()),
    b"P": lambda r: m.Parse(r.cstr(), r.cstr(), tuple(r.u32() for _ in range(r.count()))),
    b"B": _bind,
    b"D": lambda r: m.Describe(*_kind_name(r)),
    b"E": lambda r: m.Execute(r.cstr(), r.i32()),
    b"C": lambda r: m.Close(*_kind_name(r)),
    b"S": lambda r: m.Sync(),
    b"H": lambda r: m.Flush(),
    b"X": lambda r: m.Terminate(),
    b"p": lambda r: m.PasswordMessage(r.rest()),
    b"d": lambda r: m.CopyData(r.rest()),
    b"c": lambda r: m.CopyDone(),
    b"f": lambda r: m.CopyFail(r.cstr()),
    b"F": lambda r: m.FunctionCall(r.rest()),
}


def decode_startup(body: bytes) -> m.StartupMessage | m.SSLRequest | m.GSSENCRequest | m.CancelRequest:
    """The body of an untyped startup-phase packet (after its length word)."""
    r = BodyReader(body)
    code = r.i32()
    if code == m.SSL_REQUEST_CODE:
        r.done()
        return m.SSLRequest()
    if code == m.GSSENC_REQUEST_CODE:
        r.done()
        return m.GSSENCRequest()
    if code == m.CANCEL_REQUEST_CODE:
        msg = m.CancelRequest(r.i32(), r.i32())
        r.done()
        return msg
    params: dict[str, str] = {}
    while True:
        key = r.cstr()
        if key == "":
            break
        params[key] = r.cstr()
    r.done()
    return m.StartupMessage(params, code)


# --------------------------------------------------------------------------- backend bodies


def _auth(r: BodyReader) -> Any:
    code = r.i32()
    if code == 0:
        return m.AuthenticationOk()
    if code == 3:
        return m.AuthenticationCleartextPassword()
    if code == 10:
        mechs = []
        while (mech := r.cstr()) != "":
            mechs.append(mech)
        return m.AuthenticationSASL(tuple(mechs))
    if code == 11:
        return m.AuthenticationSASLContinue(r.rest())
    if code == 12:
        return m.AuthenticationSASLFinal(r.rest())
    raise ProtocolError(f"unsupported authentication request {code}")


def _fields(r: BodyReader) -> dict[str, str]:
    try:
        return m.decode_fields(r.rest())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed error fields: {exc}") from exc


def _row_description(r: BodyReader) -> m.RowDescription:
    fields = []
    for _ in range(r.count()):
        name = r.cstr()
        fields.append(
            m.FieldDescription(name, r.u32(), r.i16(), r.u32(), r.i16(), r.i32(), r.i16())
        )
    return m.RowDescription(tuple(fields))


def _data_row(r: BodyReader) -> m.DataRow:
    values: list[bytes | None] = []
    for _ in range(r.count()):
        n = r.i32()
        values.append(None if n == -1 else r.take(n))
    return m.DataRow(tuple(values))


def _copy_response(cls: type[m.CopyInResponse] | type[m.CopyOutResponse]) -> Decoder:
    return lambda r: cls(r.take(1)[0], tuple(r.i16() for _ in range(r.count())))


def _negotiate(r: BodyReader) -> m.NegotiateProtocolVersion:
    minor = r.i32()
    return m.NegotiateProtocolVersion(minor, tuple(r.cstr() for _ in range(r.i32())))


BACKEND_DECODERS: dict[bytes, Decoder] = {
    b"R": _auth,
    b"S": lambda r: m.ParameterStatus(r.cstr(), r.cstr()),
    b"K": lambda r: m.BackendKeyData(r.i32(), r.i32()),
    b"Z": lambda r: m.ReadyForQuery(r.take(1).decode("latin-1")),
    b"T": _row_description,
    b"D": _data_row,
    b"C": lambda r: m.CommandComplete(r.cstr()),
    b"I": lambda r: m.EmptyQueryResponse(),
    b"E": lambda r: m.ErrorResponse(_fields(r)),
    b"N": lambda r: m.NoticeResponse(_fields(r)),
    b"1": lambda r: m.ParseComplete(),
    b"2": lambda r: m.BindComplete(),
    b"3": lambda r: m.CloseComplete(),
    b"n": lambda r: m.NoData(),
    b"s": lambda r: m.PortalSuspended(),
    b"t": lambda r: m.ParameterDescription(tuple(r.u32() for _ in range(r.count()))),
    b"G": _copy_response(m.CopyInResponse),
    b"H": _copy_response(m.CopyOutResponse),
    b"d": lambda r: m.CopyData(r.rest()),
    b"c": lambda r: m.CopyDone(),
    b"v": _negotiate,
    b"A": lambda r: m.NotificationResponse(r.i32(), r.cstr(), r.cstr()),
}


class MessageReader:
    """Buffers bytes and yields whole messages.

    In the startup phase messages have no type byte; `expect_startup()` re-enters it
    (after an SSLRequest or GSSENCRequest is answered, the client sends a new startup
    packet).  `max_length` bounds any single message: a larger length word is a
    ProtocolError before its body is buffered.
    """

    __slots__ = ("_buf", "_decoders", "_pos", "_startup", "max_length")

    def __init__(
        self, decoders: dict[bytes, Decoder], *, startup: bool, max_length: int = DEFAULT_MAX_MESSAGE
    ) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._decoders = decoders
        self._startup = startup
        self.max_length = max_length

    @property
    def buffered(self) -> int:
        """Bytes received but not yet handed out as messages."""
        return len(self._buf) - self._pos

    def expect_startup(self) -> None:
        self._startup = True

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def take_raw(self) -> bytes:
        """Everything buffered and not yet decoded (used when switching to TLS)."""
        raw = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        return raw

    def next_message(self) -> Any:
        buf, pos = self._buf, self._pos
        if self._startup:
            if len(buf) - pos < 4:
                return NEED_DATA
            (length,) = _I32.unpack_from(buf, pos)
            if length < 8 or length > MAX_STARTUP_PACKET:
                raise ProtocolError(f"invalid length of startup packet: {length}")
            if len(buf) - pos < length:
                return NEED_DATA
            body = bytes(buf[pos + 4 : pos + length])
            self._pos = pos + length
            self._startup = False
            return decode_startup(body)
        if len(buf) - pos < 5:
            return NEED_DATA
        tag = bytes(buf[pos : pos + 1])
        (length,) = _I32.unpack_from(buf, pos + 1)
        if length < 4:
            raise ProtocolError(f"invalid message length {length}")
        if length > self.max_length:
            raise ProtocolError(
                f"message of {length} bytes exceeds the limit of {self.max_length} bytes"
            )
        decoder = self._decoders.get(tag)
        if decoder is None:
            raise ProtocolError(f"invalid message type {tag!r}")
        if len(buf) - pos < length + 1:
            return NEED_DATA
        body = bytes(buf[pos + 5 : pos + 1 + length])
        self._pos = pos + 1 + length
        r = BodyReader(body)
        msg = decoder(r)
        r.done()
        return msg


def frontend_reader(max_length: int = DEFAULT_MAX_MESSAGE) -> MessageReader:
    return MessageReader(FRONTEND_DECODERS, startup=True, max_length=max_length)


def backend_reader() -> MessageReader:
    return MessageReader(BACKEND_DECODERS, startup=False)
