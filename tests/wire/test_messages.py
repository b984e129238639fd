"""Messages and codec (laminar_pg.wire.messages / codec), h11 style: no sockets.

Every message class has a row of (message, exact wire bytes) written by hand from the
PostgreSQL docs ("Message Formats"), not produced by the code under test.  Each row is
checked both ways: encode() gives the bytes, and the decoder gives the message back, fed
all at once and one byte at a time.  Then the ProtocolError cases, and hypothesis
round trips plus a fuzz of random bytes into the frontend reader.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.wire import codec
from laminar_pg.wire import messages as m
from laminar_pg.wire.codec import NEED_DATA, ProtocolError, backend_reader, frontend_reader

STARTUP = m.StartupMessage({"user": "bob"})
STARTUP_BYTES = b"\x00\x00\x00\x12\x00\x03\x00\x00user\x00bob\x00\x00"

# Untyped packets of the startup phase: decoded by a reader in startup mode.
STARTUP_CASES: list[tuple[Any, bytes]] = [
    (STARTUP, STARTUP_BYTES),
    (
        m.StartupMessage({"user": "bob", "database": "db"}, protocol=(3 << 16) | 2),
        b"\x00\x00\x00\x1e\x00\x03\x00\x02user\x00bob\x00database\x00db\x00\x00",
    ),
    (m.StartupMessage({}), b"\x00\x00\x00\x09\x00\x03\x00\x00\x00"),
    (m.SSLRequest(), b"\x00\x00\x00\x08\x04\xd2\x16\x2f"),
    (m.GSSENCRequest(), b"\x00\x00\x00\x08\x04\xd2\x16\x30"),
    (
        m.CancelRequest(1234, -5678),
        b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x04\xd2\xff\xff\xe9\xd2",
    ),
]

# Typed frontend messages: decoded after the startup packet.
FRONTEND_CASES: list[tuple[Any, bytes]] = [
    (m.PasswordMessage(b"secret\x00"), b"p\x00\x00\x00\x0bsecret\x00"),
    (m.Query("select 1"), b"Q\x00\x00\x00\x0dselect 1\x00"),
    (m.Query(""), b"Q\x00\x00\x00\x05\x00"),
    (m.Query("sélect"), b"Q\x00\x00\x00\x0cs\xc3\xa9lect\x00"),
    (
        m.Parse("s1", "select $1", (23,)),
        b"P\x00\x00\x00\x17s1\x00select $1\x00\x00\x01\x00\x00\x00\x17",
    ),
    (m.Parse("", "x", ()), b"P\x00\x00\x00\x09\x00x\x00\x00\x00"),
    (
        m.Bind("p", "s", (1,), (b"\x00\x00\x00\x01", None), (0,)),
        b"B\x00\x00\x00\x1ep\x00s\x00\x00\x01\x00\x01\x00\x02"
        b"\x00\x00\x00\x04\x00\x00\x00\x01\xff\xff\xff\xff\x00\x01\x00\x00",
    ),
    (m.Bind("", "", (), (), ()), b"B\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00"),
    (
        m.Bind("", "", (), (b"",), ()),
        b"B\x00\x00\x00\x10\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00",
    ),
    (m.Describe("S", "st"), b"D\x00\x00\x00\x08Sst\x00"),
    (m.Describe("P", ""), b"D\x00\x00\x00\x06P\x00"),
    (m.Execute("p", 5), b"E\x00\x00\x00\x0ap\x00\x00\x00\x00\x05"),
    (m.Execute(""), b"E\x00\x00\x00\x09\x00\x00\x00\x00\x00"),
    (m.Close("P", ""), b"C\x00\x00\x00\x06P\x00"),
    (m.Close("S", "s1"), b"C\x00\x00\x00\x08Ss1\x00"),
    (m.Sync(), b"S\x00\x00\x00\x04"),
    (m.Flush(), b"H\x00\x00\x00\x04"),
    (m.Terminate(), b"X\x00\x00\x00\x04"),
    (m.CopyData(b"1\t2\n"), b"d\x00\x00\x00\x081\t2\n"),
    (m.CopyData(b""), b"d\x00\x00\x00\x04"),
    (m.CopyDone(), b"c\x00\x00\x00\x04"),
    (m.CopyFail("oops"), b"f\x00\x00\x00\x09oops\x00"),
    (m.FunctionCall(b"\x00\x00\x00\x01"), b"F\x00\x00\x00\x08\x00\x00\x00\x01"),
]

ERROR_FIELDS = {"severity": "ERROR", "sqlstate": "42601", "message": "bad"}
ERROR_BODY = b"SERROR\x00C42601\x00Mbad\x00\x00"

BACKEND_CASES: list[tuple[Any, bytes]] = [
    (m.AuthenticationOk(), b"R\x00\x00\x00\x08\x00\x00\x00\x00"),
    (m.AuthenticationCleartextPassword(), b"R\x00\x00\x00\x08\x00\x00\x00\x03"),
    (
        m.AuthenticationSASL(("SCRAM-SHA-256",)),
        b"R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00",
    ),
    (m.AuthenticationSASLContinue(b"r=abc"), b"R\x00\x00\x00\x0d\x00\x00\x00\x0br=abc"),
    (m.AuthenticationSASLFinal(b"v=xyz"), b"R\x00\x00\x00\x0d\x00\x00\x00\x0cv=xyz"),
    (
        m.ParameterStatus("client_encoding", "UTF8"),
        b"S\x00\x00\x00\x19client_encoding\x00UTF8\x00",
    ),
    (m.BackendKeyData(1234, 5678), b"K\x00\x00\x00\x0c\x00\x00\x04\xd2\x00\x00\x16\x2e"),
    (m.ReadyForQuery("I"), b"Z\x00\x00\x00\x05I"),
    (m.ReadyForQuery("T"), b"Z\x00\x00\x00\x05T"),
    (m.ReadyForQuery("E"), b"Z\x00\x00\x00\x05E"),
    (
        m.RowDescription((m.FieldDescription("n", type_oid=23, type_size=4),)),
        b"T\x00\x00\x00\x1a\x00\x01n\x00"
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00",
    ),
    (
        m.RowDescription(
            (
                m.FieldDescription("a", 16384, 2, 25, -1, -1, 1),
                m.FieldDescription("", 0, 0, 23, 4, -1, 0),
            )
        ),
        b"T\x00\x00\x00\x2d\x00\x02"
        b"a\x00\x00\x00\x40\x00\x00\x02\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x01"
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00",
    ),
    (m.RowDescription(()), b"T\x00\x00\x00\x06\x00\x00"),
    (m.DataRow((b"1", None)), b"D\x00\x00\x00\x0f\x00\x02\x00\x00\x00\x011\xff\xff\xff\xff"),
    (m.DataRow((b"",)), b"D\x00\x00\x00\x0a\x00\x01\x00\x00\x00\x00"),
    (m.CommandComplete("SELECT 1"), b"C\x00\x00\x00\x0dSELECT 1\x00"),
    (m.EmptyQueryResponse(), b"I\x00\x00\x00\x04"),
    (m.ErrorResponse(ERROR_FIELDS), b"E\x00\x00\x00\x18" + ERROR_BODY),
    (m.NoticeResponse(ERROR_FIELDS), b"N\x00\x00\x00\x18" + ERROR_BODY),
    (
        m.ErrorResponse({"severity": "FATAL", "position": "7", "hint": ""}),
        b"E\x00\x00\x00\x11SFATAL\x00P7\x00H\x00\x00",
    ),
    (m.ParseComplete(), b"1\x00\x00\x00\x04"),
    (m.BindComplete(), b"2\x00\x00\x00\x04"),
    (m.CloseComplete(), b"3\x00\x00\x00\x04"),
    (m.NoData(), b"n\x00\x00\x00\x04"),
    (m.PortalSuspended(), b"s\x00\x00\x00\x04"),
    (
        m.ParameterDescription((23, 25)),
        b"t\x00\x00\x00\x0e\x00\x02\x00\x00\x00\x17\x00\x00\x00\x19",
    ),
    (m.ParameterDescription(()), b"t\x00\x00\x00\x06\x00\x00"),
    (m.CopyInResponse(0, (0, 0)), b"G\x00\x00\x00\x0b\x00\x00\x02\x00\x00\x00\x00"),
    (m.CopyOutResponse(1, (1,)), b"H\x00\x00\x00\x09\x01\x00\x01\x00\x01"),
    (m.CopyData(b"a\tb\n"), b"d\x00\x00\x00\x08a\tb\n"),
    (m.CopyDone(), b"c\x00\x00\x00\x04"),
    (
        m.NegotiateProtocolVersion(0, ("_pq_.x",)),
        b"v\x00\x00\x00\x13\x00\x00\x00\x00\x00\x00\x00\x01_pq_.x\x00",
    ),
    (m.NegotiateProtocolVersion(0), b"v\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00"),
    (
        m.NotificationResponse(42, "ch", "hi"),
        b"A\x00\x00\x00\x0e\x00\x00\x00\x2ach\x00hi\x00",
    ),
]


def _union_members(union: Any) -> set[type]:
    return set(union.__args__)


def test_every_message_class_has_a_case() -> None:
    frontend = {type(msg) for msg, _ in STARTUP_CASES + FRONTEND_CASES}
    backend = {type(msg) for msg, _ in BACKEND_CASES}
    assert frontend == _union_members(m.FrontendMessage)
    assert backend == _union_members(m.BackendMessage)


# --------------------------------------------------------------------------- helpers


def drain(reader: codec.MessageReader) -> list[Any]:
    """Every whole message buffered; re-enters startup mode after SSL/GSS requests."""
    out = []
    while (msg := reader.next_message()) is not NEED_DATA:
        out.append(msg)
        if isinstance(msg, m.SSLRequest | m.GSSENCRequest):
            reader.expect_startup()
    return out


def decode_chunks(reader: codec.MessageReader, chunks: Iterable[bytes]) -> list[Any]:
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        out.extend(drain(reader))
    assert reader.buffered == 0
    return out


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def started_frontend_reader(**kwargs: Any) -> codec.MessageReader:
    reader = frontend_reader(**kwargs)
    reader.feed(STARTUP_BYTES)
    assert reader.next_message() == STARTUP
    return reader


# --------------------------------------------------------------------------- the table


def _case_id(case: tuple[Any, bytes]) -> str:
    return type(case[0]).__name__


@pytest.mark.parametrize("case", STARTUP_CASES + FRONTEND_CASES + BACKEND_CASES, ids=_case_id)
def test_encode_gives_exact_bytes(case: tuple[Any, bytes]) -> None:
    msg, wire = case
    assert msg.encode() == wire


@pytest.mark.parametrize("case", STARTUP_CASES, ids=_case_id)
def test_decode_startup_packet(case: tuple[Any, bytes]) -> None:
    msg, wire = case
    for chunks in ([wire], bytewise(wire)):
        assert decode_chunks(frontend_reader(), chunks) == [msg]


@pytest.mark.parametrize("case", FRONTEND_CASES, ids=_case_id)
def test_decode_frontend(case: tuple[Any, bytes]) -> None:
    msg, wire = case
    for chunks in ([wire], bytewise(wire)):
        assert decode_chunks(started_frontend_reader(), chunks) == [msg]


@pytest.mark.parametrize("case", BACKEND_CASES, ids=_case_id)
def test_decode_backend(case: tuple[Any, bytes]) -> None:
    msg, wire = case
    for chunks in ([wire], bytewise(wire)):
        assert decode_chunks(backend_reader(), chunks) == [msg]


def _frontend_stream() -> tuple[list[Any], bytes]:
    msgs: list[Any] = [m.SSLRequest(), m.GSSENCRequest(), STARTUP]
    msgs += [msg for msg, _ in FRONTEND_CASES]
    return msgs, b"".join(msg.encode() for msg in msgs)


def test_frontend_stream_all_at_once_and_bytewise() -> None:
    msgs, wire = _frontend_stream()
    assert decode_chunks(frontend_reader(), [wire]) == msgs
    assert decode_chunks(frontend_reader(), bytewise(wire)) == msgs
    # Uneven chunks that straddle message boundaries.
    chunks = [wire[i : i + 7] for i in range(0, len(wire), 7)]
    assert decode_chunks(frontend_reader(), chunks) == msgs


def test_backend_stream_all_at_once_and_bytewise() -> None:
    msgs = [msg for msg, _ in BACKEND_CASES] * 3
    wire = b"".join(msg.encode() for msg in msgs)
    assert decode_chunks(backend_reader(), [wire]) == msgs
    assert decode_chunks(backend_reader(), bytewise(wire)) == msgs


def test_large_stream_compacts_buffer() -> None:
    """Enough traffic to make the reader compact its buffer; nothing is lost."""
    msgs = [m.CopyData(bytes([i % 256]) * 1000) for i in range(300)]
    wire = b"".join(msg.encode() for msg in msgs)
    reader = started_frontend_reader()
    out = decode_chunks(reader, [wire[i : i + 4093] for i in range(0, len(wire), 4093)])
    assert out == msgs


def test_need_data_until_whole_message() -> None:
    reader = started_frontend_reader()
    wire = m.Query("select 1").encode()
    for i in range(len(wire) - 1):
        reader.feed(wire[i : i + 1])
        assert reader.next_message() is NEED_DATA
        assert reader.buffered == i + 1
    reader.feed(wire[-1:])
    assert reader.next_message() == m.Query("select 1")
    assert reader.next_message() is NEED_DATA


def test_take_raw_returns_undecoded_bytes() -> None:
    reader = frontend_reader()
    reader.feed(m.SSLRequest().encode() + b"\x16\x03\x01")
    assert reader.next_message() == m.SSLRequest()
    assert reader.take_raw() == b"\x16\x03\x01"
    assert reader.buffered == 0


def test_expect_startup_after_ssl_request() -> None:
    reader = frontend_reader()
    reader.feed(m.SSLRequest().encode())
    assert reader.next_message() == m.SSLRequest()
    # Without expect_startup the reader is in the typed phase: a startup packet is garbage.
    reader.expect_startup()
    reader.feed(STARTUP_BYTES)
    assert reader.next_message() == STARTUP


# --------------------------------------------------------------------------- protocol errors


TYPED_ERRORS: list[tuple[str, bytes]] = [
    ("unknown type byte", b"?\x00\x00\x00\x04"),
    ("unknown lowercase type byte", b"q\x00\x00\x00\x04"),
    ("backend-only type byte", b"Z\x00\x00\x00\x05I"),
    ("length 3", b"Q\x00\x00\x00\x03"),
    ("length 0", b"S\x00\x00\x00\x00"),
    ("negative length", b"Q\xff\xff\xff\xff"),
    ("unterminated string", b"Q\x00\x00\x00\x07abc"),
    ("unterminated second string", b"P\x00\x00\x00\x09s\x00sel"),
    ("trailing bytes after Sync", b"S\x00\x00\x00\x05x"),
    ("trailing bytes after Query", b"Q\x00\x00\x00\x08ab\x00c"),
    ("trailing bytes after Execute", b"E\x00\x00\x00\x0a\x00\x00\x00\x00\x00z"),
    ("invalid UTF-8 in Query", b"Q\x00\x00\x00\x06\xff\x00"),
    ("invalid UTF-8 in CopyFail", b"f\x00\x00\x00\x07\xc3\x28\x00"),
    ("invalid UTF-8 in Parse name", b"P\x00\x00\x00\x0a\xfe\x00\x00\x00\x00\x00"),
    ("bad Describe kind", b"D\x00\x00\x00\x06X\x00"),
    ("bad Close kind", b"C\x00\x00\x00\x06s\x00"),
    ("Describe without kind", b"D\x00\x00\x00\x04"),
    ("Execute too short", b"E\x00\x00\x00\x07\x00\x00\x00"),
    ("Parse negative oid count", b"P\x00\x00\x00\x08\x00\x00\xff\xff"),
    ("Parse oid count beyond body", b"P\x00\x00\x00\x0c\x00\x00\x00\x02\x00\x00\x00\x17"),
    ("Bind negative param count", b"B\x00\x00\x00\x0c\x00\x00\x00\x00\xff\xff\x00\x00"),
    (
        "Bind param length -2",
        b"B\x00\x00\x00\x10\x00\x00\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00",
    ),
    (
        "Bind param longer than body",
        b"B\x00\x00\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00\x00\x09ab\x00\x00",
    ),
]


@pytest.mark.parametrize("wire", [w for _, w in TYPED_ERRORS], ids=[n for n, _ in TYPED_ERRORS])
def test_typed_protocol_errors(wire: bytes) -> None:
    reader = started_frontend_reader()
    reader.feed(wire)
    with pytest.raises(ProtocolError) as info:
        reader.next_message()
    assert info.value.sqlstate == "08P01"


@pytest.mark.parametrize("wire", [w for _, w in TYPED_ERRORS], ids=[n for n, _ in TYPED_ERRORS])
def test_typed_protocol_errors_bytewise(wire: bytes) -> None:
    """Fed one byte at a time, the error comes no later than the last byte, never before a
    whole header, and NEED_DATA until then."""
    reader = started_frontend_reader()
    with pytest.raises(ProtocolError):
        for i in range(len(wire)):
            reader.feed(wire[i : i + 1])
            result = reader.next_message()
            assert result is NEED_DATA, result
            assert i < len(wire) - 1


def test_header_errors_are_raised_before_the_body_arrives() -> None:
    for header in (b"?\x00\x00\x00\x10", b"Q\x00\x00\x00\x02"):
        reader = started_frontend_reader()
        reader.feed(header)
        with pytest.raises(ProtocolError):
            reader.next_message()


def test_max_length_refused_before_body() -> None:
    reader = started_frontend_reader(max_length=100)
    reader.feed(b"d" + struct.pack("!i", 101))  # only the header: no body at all
    with pytest.raises(ProtocolError, match="exceeds"):
        reader.next_message()


def test_max_length_is_inclusive() -> None:
    reader = started_frontend_reader(max_length=100)
    msg = m.CopyData(b"x" * 96)  # length word 100
    reader.feed(msg.encode())
    assert reader.next_message() == msg


def test_default_max_length_refuses_huge_header() -> None:
    reader = started_frontend_reader()
    reader.feed(b"d\x7f\xff\xff\xff")
    with pytest.raises(ProtocolError):
        reader.next_message()


STARTUP_ERRORS: list[tuple[str, bytes]] = [
    ("length 7", b"\x00\x00\x00\x07\x00\x03\x00"),
    ("length 0", b"\x00\x00\x00\x00"),
    ("negative length", b"\xff\xff\xff\xf0"),
    ("length 10001", struct.pack("!i", 10_001)),
    ("huge length", b"\x7f\xff\xff\xff"),
    ("SSLRequest with trailing bytes", b"\x00\x00\x00\x09\x04\xd2\x16\x2f\x00"),
    ("CancelRequest too short", b"\x00\x00\x00\x0c\x04\xd2\x16\x2e\x00\x00\x00\x01"),
    ("CancelRequest trailing", b"\x00\x00\x00\x11\x04\xd2\x16\x2e" + b"\x00" * 9),
    ("startup without final NUL", b"\x00\x00\x00\x11\x00\x03\x00\x00user\x00bob\x00"),
    ("startup key without value", b"\x00\x00\x00\x0e\x00\x03\x00\x00user\x00\x00"),
    ("startup invalid UTF-8", b"\x00\x00\x00\x10\x00\x03\x00\x00user\x00\xff\x00\x00"),
    ("startup trailing after terminator", b"\x00\x00\x00\x0b\x00\x03\x00\x00\x00ab"),
]


@pytest.mark.parametrize("wire", [w for _, w in STARTUP_ERRORS], ids=[n for n, _ in STARTUP_ERRORS])
def test_startup_protocol_errors(wire: bytes) -> None:
    reader = frontend_reader()
    reader.feed(wire)
    with pytest.raises(ProtocolError):
        reader.next_message()


def test_startup_length_limits_are_inclusive() -> None:
    reader = frontend_reader()
    reader.feed(m.SSLRequest().encode())  # length exactly 8
    assert reader.next_message() == m.SSLRequest()
    big = m.StartupMessage({"user": "u", "options": "x" * (10_000 - 25)})
    wire = big.encode()
    assert len(wire) == 10_000
    reader = frontend_reader()
    reader.feed(wire)
    assert reader.next_message() == big


def test_backend_reader_errors() -> None:
    for wire in (
        b"R\x00\x00\x00\x08\x00\x00\x00\x05",  # unsupported auth request (MD5)
        b"Q\x00\x00\x00\x04",  # frontend-only type
        b"Z\x00\x00\x00\x04",  # ReadyForQuery without status
        b"C\x00\x00\x00\x05\xff",  # unterminated tag
    ):
        reader = backend_reader()
        reader.feed(wire)
        with pytest.raises(ProtocolError):
            reader.next_message()


@pytest.mark.parametrize(
    "wire",
    [b"E\x00\x00\x00\x07Sab", b"N\x00\x00\x00\x08S\xff\x00\x00"],
    ids=["unterminated", "utf8"],
)
def test_backend_error_fields_malformed(wire: bytes) -> None:
    reader = backend_reader()
    reader.feed(wire)
    with pytest.raises(ProtocolError):
        reader.next_message()


def test_oids_above_2_31_round_trip() -> None:
    big = 3_000_000_000
    reader = started_frontend_reader()
    reader.feed(b"P\x00\x00\x00\x0c\x00\x00\x00\x01" + struct.pack("!I", big))
    assert reader.next_message() == m.Parse("", "", (big,))
    desc = m.ParameterDescription((big,))
    out = backend_reader()
    out.feed(desc.encode())
    assert out.next_message() == desc


# --------------------------------------------------------------------------- hypothesis

# Text that can travel in a C string: no NUL (surrogates are excluded by default).
cstrings = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=20)
i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
oids = st.integers(0, 2**31 - 1)  # see test_oids_above_2_31_round_trip
small_bytes = st.binary(max_size=40)
maybe_bytes = st.none() | small_bytes
kinds = st.sampled_from(["S", "P"])
formats = st.lists(st.sampled_from([0, 1]), max_size=4).map(tuple)
error_fields = st.dictionaries(st.sampled_from(sorted(m.ERROR_FIELDS)), cstrings, max_size=6)


def _tuples(elem: st.SearchStrategy[Any], max_size: int = 5) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(elem, max_size=max_size).map(tuple)


STARTUP_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    m.StartupMessage: st.builds(
        m.StartupMessage,
        st.dictionaries(cstrings.filter(bool), cstrings, max_size=4),
        st.integers(0, 2**31 - 1).filter(
            lambda c: c not in (m.SSL_REQUEST_CODE, m.GSSENC_REQUEST_CODE, m.CANCEL_REQUEST_CODE)
        ),
    ),
    m.SSLRequest: st.just(m.SSLRequest()),
    m.GSSENCRequest: st.just(m.GSSENCRequest()),
    m.CancelRequest: st.builds(m.CancelRequest, i32, i32),
}

TYPED_FRONTEND_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    m.PasswordMessage: st.builds(m.PasswordMessage, small_bytes),
    m.Query: st.builds(m.Query, cstrings),
    m.Parse: st.builds(m.Parse, cstrings, cstrings, _tuples(oids)),
    m.Bind: st.builds(m.Bind, cstrings, cstrings, _tuples(i16), _tuples(maybe_bytes), _tuples(i16)),
    m.Describe: st.builds(m.Describe, kinds, cstrings),
    m.Execute: st.builds(m.Execute, cstrings, i32),
    m.Close: st.builds(m.Close, kinds, cstrings),
    m.Sync: st.just(m.Sync()),
    m.Flush: st.just(m.Flush()),
    m.Terminate: st.just(m.Terminate()),
    m.CopyData: st.builds(m.CopyData, small_bytes),
    m.CopyDone: st.just(m.CopyDone()),
    m.CopyFail: st.builds(m.CopyFail, cstrings),
    m.FunctionCall: st.builds(m.FunctionCall, small_bytes),
}

field_descriptions = st.builds(m.FieldDescription, cstrings, oids, i16, oids, i16, i32, i16)

BACKEND_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    m.AuthenticationOk: st.just(m.AuthenticationOk()),
    m.AuthenticationCleartextPassword: st.just(m.AuthenticationCleartextPassword()),
    m.AuthenticationSASL: st.builds(m.AuthenticationSASL, _tuples(cstrings.filter(bool))),
    m.AuthenticationSASLContinue: st.builds(m.AuthenticationSASLContinue, small_bytes),
    m.AuthenticationSASLFinal: st.builds(m.AuthenticationSASLFinal, small_bytes),
    m.ParameterStatus: st.builds(m.ParameterStatus, cstrings, cstrings),
    m.BackendKeyData: st.builds(m.BackendKeyData, i32, i32),
    m.ReadyForQuery: st.builds(m.ReadyForQuery, st.sampled_from(["I", "T", "E"])),
    m.RowDescription: st.builds(m.RowDescription, _tuples(field_descriptions)),
    m.DataRow: st.builds(m.DataRow, _tuples(maybe_bytes)),
    m.CommandComplete: st.builds(m.CommandComplete, cstrings),
    m.EmptyQueryResponse: st.just(m.EmptyQueryResponse()),
    m.ErrorResponse: st.builds(m.ErrorResponse, error_fields),
    m.NoticeResponse: st.builds(m.NoticeResponse, error_fields),
    m.ParseComplete: st.just(m.ParseComplete()),
    m.BindComplete: st.just(m.BindComplete()),
    m.CloseComplete: st.just(m.CloseComplete()),
    m.NoData: st.just(m.NoData()),
    m.PortalSuspended: st.just(m.PortalSuspended()),
    m.ParameterDescription: st.builds(m.ParameterDescription, _tuples(oids)),
    m.CopyInResponse: st.builds(m.CopyInResponse, st.sampled_from([0, 1]), formats),
    m.CopyOutResponse: st.builds(m.CopyOutResponse, st.sampled_from([0, 1]), formats),
    m.CopyData: st.builds(m.CopyData, small_bytes),
    m.CopyDone: st.just(m.CopyDone()),
    m.NegotiateProtocolVersion: st.builds(
        m.NegotiateProtocolVersion, st.integers(0, 2**31 - 1), _tuples(cstrings)
    ),
    m.NotificationResponse: st.builds(m.NotificationResponse, i32, cstrings, cstrings),
}

startup_messages = st.one_of(*STARTUP_STRATEGIES.values())
typed_frontend_messages = st.one_of(*TYPED_FRONTEND_STRATEGIES.values())
backend_messages = st.one_of(*BACKEND_STRATEGIES.values())


def test_strategies_cover_every_class() -> None:
    frontend = set(STARTUP_STRATEGIES) | set(TYPED_FRONTEND_STRATEGIES)
    assert frontend == _union_members(m.FrontendMessage)
    assert set(BACKEND_STRATEGIES) == _union_members(m.BackendMessage)


@given(st.data())
def test_strategies_draw_the_class_they_are_keyed_by(data: st.DataObject) -> None:
    table = STARTUP_STRATEGIES | TYPED_FRONTEND_STRATEGIES | BACKEND_STRATEGIES
    for cls, strategy in table.items():
        assert type(data.draw(strategy)) is cls


@given(startup_messages)
def test_startup_round_trip(msg: Any) -> None:
    wire = msg.encode()
    assert decode_chunks(frontend_reader(), [wire]) == [msg]


@given(st.lists(typed_frontend_messages, max_size=8), st.integers(1, 16))
def test_frontend_round_trip(msgs: list[Any], chunk: int) -> None:
    wire = b"".join(msg.encode() for msg in msgs)
    assert decode_chunks(started_frontend_reader(), [wire]) == msgs
    chunks = [wire[i : i + chunk] for i in range(0, len(wire), chunk)]
    assert decode_chunks(started_frontend_reader(), chunks) == msgs


@given(st.lists(backend_messages, max_size=8), st.integers(1, 16))
def test_backend_round_trip(msgs: list[Any], chunk: int) -> None:
    wire = b"".join(msg.encode() for msg in msgs)
    assert decode_chunks(backend_reader(), [wire]) == msgs
    chunks = [wire[i : i + chunk] for i in range(0, len(wire), chunk)]
    assert decode_chunks(backend_reader(), chunks) == msgs


@given(typed_frontend_messages)
def test_length_word_matches_frame(msg: Any) -> None:
    wire = msg.encode()
    assert struct.unpack("!i", wire[1:5])[0] == len(wire) - 1


def _feed_garbage(reader: codec.MessageReader, chunks: list[bytes]) -> None:
    """Random bytes give messages, NEED_DATA or ProtocolError; never another exception."""
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while True:
                msg = reader.next_message()
                if msg is NEED_DATA:
                    break
                assert dataclasses.is_dataclass(msg)
                assert type(msg) in _union_members(m.FrontendMessage)
                if isinstance(msg, m.SSLRequest | m.GSSENCRequest):
                    reader.expect_startup()
    except ProtocolError:
        pass


@given(st.lists(st.binary(max_size=30), max_size=6))
def test_random_bytes_in_startup_phase(chunks: list[bytes]) -> None:
    _feed_garbage(frontend_reader(), chunks)


@given(st.lists(st.binary(max_size=30), max_size=6))
def test_random_bytes_after_startup(chunks: list[bytes]) -> None:
    _feed_garbage(started_frontend_reader(), chunks)


@given(
    st.lists(typed_frontend_messages, min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_mutated_valid_streams(msgs: list[Any], flips: list[tuple[int, int]]) -> None:
    """Valid streams with bytes overwritten: structured garbage reaches the body decoders."""
    wire = bytearray(b"".join(msg.encode() for msg in msgs))
    for pos, value in flips:
        wire[pos % len(wire)] = value
    _feed_garbage(started_frontend_reader(max_length=4096), [bytes(wire)])
