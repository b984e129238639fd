"""The connection state machine (laminar_pg.wire.connection), without sockets.

Each test feeds a whole client conversation to a `Connection` over a FakeChannel and a
FakeSession (tests/wire/fakes.py) and compares what the server wrote, decoded, with the
messages PostgreSQL would send (postgres.c PostgresMain, protocol-flow docs).  A
hypothesis fuzz then throws random and mutated message streams at it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.wire import codec
from laminar_pg.wire import messages as m
from laminar_pg.wire.connection import Connection, ServerContext
from laminar_pg.wire.session import Column, Description
from tests.wire.fakes import (
    STARTUP_STATUSES,
    Driven,
    FakeChannel,
    FakeSession,
    client,
    decode_backend,
    drive,
    run_connection,
    startup_bytes,
)

INT4_FIELD = m.FieldDescription("n", type_oid=23, type_size=4)
TEXT_FIELD = m.FieldDescription("t", type_oid=25, type_size=-1)
INT4_ROWS = m.RowDescription((INT4_FIELD,))
READY_I, READY_T, READY_E = m.ReadyForQuery("I"), m.ReadyForQuery("T"), m.ReadyForQuery("E")


def startup_messages(application_name: str = "") -> list[Any]:
    statuses = [*STARTUP_STATUSES, ("application_name", application_name)]
    return [
        m.AuthenticationOk(),
        *(m.ParameterStatus(k, v) for k, v in statuses),
        m.BackendKeyData(FakeSession.process_id, FakeSession.secret_key),
        READY_I,
    ]


def after_startup(msgs: list[Any]) -> list[Any]:
    """The messages after the startup's ReadyForQuery (which must be there)."""
    first = msgs.index(READY_I)
    assert msgs[: first + 1] == startup_messages()
    return msgs[first + 1 :]


def session_of(*msgs: Any) -> list[Any]:
    """Messages the server sends in reply to `msgs` after a normal startup."""
    return after_startup(drive(client(*msgs)))


def rows(*values: int) -> list[m.DataRow]:
    return [m.DataRow((str(v).encode(),)) for v in values]


def error(sqlstate: str, severity: str = "ERROR") -> tuple[str, str]:
    return (sqlstate, severity)


def summary(msg: Any) -> Any:
    """ErrorResponses as (sqlstate, severity); other messages as they are."""
    if isinstance(msg, m.ErrorResponse):
        assert msg.fields["severity"] == msg.fields["severity_nonlocalized"]
        assert msg.fields["message"]
        return (msg.fields["sqlstate"], msg.fields["severity"])
    return msg


def summarize(msgs: list[Any]) -> list[Any]:
    return [summary(x) for x in msgs]


def select(n: int) -> list[Any]:
    return [INT4_ROWS, *rows(n), m.CommandComplete("SELECT 1")]


def extended(sql: str, *, portal: str = "", statement: str = "", max_rows: int = 0) -> list[Any]:
    return [
        m.Parse(statement, sql),
        m.Bind(portal, statement),
        m.Execute(portal, max_rows),
    ]


# --------------------------------------------------------------------------- startup


def test_startup() -> None:
    driven = run_connection(startup_bytes(application_name="app"))
    assert driven.messages == [
        *startup_messages("app")[:-3],
        m.ParameterStatus("application_name", "app"),
        m.BackendKeyData(4242, -17),
        READY_I,
    ]
    (session,) = driven.sessions
    assert session.parameters == {"user": "alice", "database": "alice", "application_name": "app"}
    assert session.closed
    assert driven.ssl_answers == b""


def test_database_parameter_is_kept() -> None:
    driven = run_connection(startup_bytes(database="db"))
    assert driven.sessions[0].parameters["database"] == "db"


@pytest.mark.parametrize(
    ("requests", "answers"),
    [
        ([m.SSLRequest()], b"N"),
        ([m.GSSENCRequest()], b"N"),
        ([m.GSSENCRequest(), m.SSLRequest()], b"NN"),
    ],
)
def test_encryption_requests_refused_then_startup(requests: list[Any], answers: bytes) -> None:
    wire = b"".join(r.encode() for r in requests) + client(m.Query("select 7"))
    driven = run_connection(wire)
    assert driven.ssl_answers == answers
    assert after_startup(driven.messages) == [*select(7), READY_I]


def test_cancel_request() -> None:
    driven = run_connection(m.CancelRequest(99, -5).encode())
    assert driven.cancels == [(99, -5)]
    assert driven.messages == []
    assert driven.sessions == []


def test_protocol_3_1_negotiates_down() -> None:
    wire = m.StartupMessage({"user": "alice"}, protocol=(3 << 16) | 1).encode()
    msgs = drive(wire)
    assert msgs[0] == m.NegotiateProtocolVersion(0, ())
    assert msgs[1:] == startup_messages()


def test_unknown_protocol_options_are_reported_and_dropped() -> None:
    wire = m.StartupMessage({"user": "alice", "_pq_.compression": "on"}).encode()
    driven = run_connection(wire)
    assert driven.messages[0] == m.NegotiateProtocolVersion(0, ("_pq_.compression",))
    assert driven.messages[1:] == startup_messages()
    assert "_pq_.compression" not in driven.sessions[0].parameters


def _fatal_only(wire: bytes, sqlstate: str, **kwargs: Any) -> m.ErrorResponse:
    driven = run_connection(wire, **kwargs)
    assert summarize(driven.messages) == [error(sqlstate, "FATAL")]
    assert driven.sessions == []
    return driven.messages[0]  # type: ignore[no-any-return]


def test_protocol_2_is_refused() -> None:
    err = _fatal_only(m.StartupMessage({"user": "alice"}, protocol=2 << 16).encode(), "0A000")
    assert "2.0" in err.fields["message"]


@pytest.mark.parametrize("params", [{}, {"user": ""}, {"database": "db"}])
def test_missing_user(params: dict[str, str]) -> None:
    _fatal_only(m.StartupMessage(params).encode(), "28000")


def test_remote_peer_without_password_is_refused() -> None:
    err = _fatal_only(startup_bytes(), "28000", loopback=False)
    assert "hint" in err.fields


def test_remote_peer_with_trust_remote() -> None:
    assert drive(startup_bytes(), loopback=False, trust_remote=True) == startup_messages()


def test_shutting_down() -> None:
    _fatal_only(startup_bytes(), "57P03", shutting_down=True)


def test_replication_refused() -> None:
    _fatal_only(startup_bytes(replication="database"), "0A000")


def test_typed_message_before_startup_is_fatal() -> None:
    # An SSLRequest answered, then a Query instead of a startup packet: the reader expects
    # a startup packet, so the Query's bytes are a bad length word.
    msgs = drive(m.SSLRequest().encode() + m.Query("select 1").encode())
    assert summarize(msgs) == [error("08P01", "FATAL")]


def test_end_of_stream_during_startup() -> None:
    assert drive(startup_bytes()[:5]) == []
    assert drive(b"") == []


def test_startup_hooks_called() -> None:
    seen: list[Any] = []
    driven = run_connection(
        client(m.Terminate()),
        on_session_start=lambda s, p, peer: seen.append(("start", p["user"], peer)),
        on_session_end=lambda s: seen.append(("end", s.closed)),
    )
    assert seen == [("start", "alice", driven.channel.peer), ("end", False)]
    assert driven.sessions[0].closed


# --------------------------------------------------------------------------- simple query


def test_simple_query_several_statements() -> None:
    assert session_of(m.Query("select 1; rows 9; text hi;")) == [
        *select(1),
        INT4_ROWS,
        *rows(*range(1, 10)),
        m.CommandComplete("SELECT 9"),
        m.RowDescription((TEXT_FIELD,)),
        m.DataRow((b"hi",)),
        m.CommandComplete("SELECT 1"),
        READY_I,
    ]


def test_simple_query_error_stops_the_rest() -> None:
    driven = run_connection(client(m.Query("select 1; error; select 2"), m.Query("select 3")))
    assert summarize(after_startup(driven.messages)) == [
        *select(1),
        error("22012"),
        READY_I,
        *select(3),
        READY_I,
    ]
    assert driven.sessions[0].executed == ["select", "error", "select"]


def test_simple_query_syntax_error_runs_nothing() -> None:
    """The whole string is parsed first (exec_simple_query), so nothing runs."""
    driven = run_connection(client(m.Query("select 1; fail")))
    msgs = after_startup(driven.messages)
    assert summarize(msgs) == [error("42601"), READY_I]
    assert msgs[0].fields["position"] == "1"
    assert driven.sessions[0].executed == []


@pytest.mark.parametrize("sql", ["", "   ", ";", " ; ;"])
def test_empty_query(sql: str) -> None:
    assert session_of(m.Query(sql)) == [m.EmptyQueryResponse(), READY_I]


def test_runtime_error_becomes_xx000_and_connection_survives() -> None:
    msgs = session_of(m.Query("boom"), m.Query("select 2"))
    assert summarize(msgs) == [error("XX000"), READY_I, *select(2), READY_I]
    assert "RuntimeError" in msgs[0].fields["message"]


def test_notice_and_parameter_change() -> None:
    """A notice precedes its statement's CommandComplete; ParameterStatus precedes
    ReadyForQuery (PostgreSQL 15's order)."""
    assert session_of(m.Query("notice; set application_name x")) == [
        m.NoticeResponse(
            {
                "severity": "NOTICE",
                "severity_nonlocalized": "NOTICE",
                "sqlstate": "00000",
                "message": "a notice",
                "hint": "none",
            }
        ),
        m.CommandComplete("DO"),
        m.CommandComplete("SET"),
        m.ParameterStatus("application_name", "x"),
        READY_I,
    ]


def test_transaction_status_follows_the_block() -> None:
    msgs = session_of(
        m.Query("begin"),
        m.Query("select 1"),
        m.Query("error"),
        m.Query("select 1"),
        m.Query("rollback"),
        m.Query("select 5"),
    )
    assert summarize(msgs) == [
        m.CommandComplete("BEGIN"),
        READY_T,
        *select(1),
        READY_T,
        error("22012"),
        READY_E,
        error("25P02"),
        READY_E,
        m.CommandComplete("ROLLBACK"),
        READY_I,
        *select(5),
        READY_I,
    ]


def test_commit_of_failed_block_rolls_back() -> None:
    msgs = session_of(m.Query("begin; boom"), m.Query("commit"))
    assert summarize(msgs) == [
        m.CommandComplete("BEGIN"),
        error("XX000"),
        READY_E,
        m.CommandComplete("ROLLBACK"),
        READY_I,
    ]


def test_function_call_refused() -> None:
    msgs = session_of(m.FunctionCall(b"\x00\x00\x00\x01"), m.Query("select 1"))
    assert summarize(msgs) == [error("0A000"), READY_I, *select(1), READY_I]


def test_copy_messages_outside_copy_are_ignored() -> None:
    msgs = session_of(m.CopyData(b"x"), m.CopyDone(), m.CopyFail("no"), m.Query("select 1"))
    assert msgs == [*select(1), READY_I]


# --------------------------------------------------------------------------- COPY FROM STDIN


def test_copy_in() -> None:
    driven = run_connection(
        client(
            m.Query("copyin"),
            m.CopyData(b"a\n"),
            m.CopyData(b"b\nc"),
            m.Flush(),
            m.Sync(),  # ignored during copy-in, like PostgreSQL does
            m.CopyData(b"\n"),
            m.CopyDone(),
            m.Query("select 1"),
        )
    )
    assert after_startup(driven.messages) == [
        m.CopyInResponse(0, (0,)),
        m.CommandComplete("COPY 3"),
        READY_I,
        *select(1),
        READY_I,
    ]
    (sink,) = driven.sessions[0].sinks
    assert sink.chunks == [b"a\n", b"b\nc", b"\n"]
    assert sink.finished and sink.aborted is None


def test_copy_in_response_is_flushed_before_data_is_awaited() -> None:
    driven = run_connection(client(m.Query("copyin")))
    # The CopyInResponse went out on its own write, before the connection waited.
    assert m.CopyInResponse(0, (0,)).encode() in driven.channel.writes[-2:]


def test_copy_fail() -> None:
    driven = run_connection(
        client(
            m.Query("copyin"), m.CopyData(b"a\n"), m.CopyFail("client gave up"), m.Query("select 1")
        )
    )
    msgs = after_startup(driven.messages)
    assert summarize(msgs) == [
        m.CopyInResponse(0, (0,)),
        error("57014"),
        READY_I,
        *select(1),
        READY_I,
    ]
    assert "client gave up" in msgs[1].fields["message"]
    assert driven.sessions[0].sinks[0].aborted == "client gave up"


def test_unexpected_message_during_copy_in() -> None:
    driven = run_connection(client(m.Query("copyin"), m.Parse("", "select 1"), m.Query("select 2")))
    assert summarize(after_startup(driven.messages)) == [
        m.CopyInResponse(0, (0,)),
        error("08P01"),
        READY_I,
        *select(2),
        READY_I,
    ]
    assert driven.sessions[0].sinks[0].aborted is not None


def test_copy_in_extended_protocol() -> None:
    driven = run_connection(
        client(*extended("copyin"), m.CopyData(b"1\n2\n"), m.CopyDone(), m.Sync())
    )
    assert after_startup(driven.messages) == [
        m.ParseComplete(),
        m.BindComplete(),
        m.CopyInResponse(0, (0,)),
        m.CommandComplete("COPY 2"),
        READY_I,
    ]


def test_end_of_stream_during_copy_in_aborts_the_sink() -> None:
    driven = run_connection(client(m.Query("copyin"), m.CopyData(b"1\n")))
    assert after_startup(driven.messages) == [m.CopyInResponse(0, (0,))]
    assert driven.sessions[0].sinks[0].aborted is not None
    assert driven.sessions[0].closed


def test_end_of_stream_during_extended_copy_in_is_not_an_internal_error() -> None:
    driven = run_connection(client(*extended("copyin"), m.Sync(), m.CopyData(b"1\n")))
    assert after_startup(driven.messages) == [
        m.ParseComplete(),
        m.BindComplete(),
        m.CopyInResponse(0, (0,)),
    ]


def test_malformed_message_during_copy_in_is_fatal() -> None:
    bad_copy_fail = b"f\x00\x00\x00\x06\xff\x00"  # CopyFail with invalid UTF-8
    wire = client(m.Query("copyin")) + bad_copy_fail + m.Query("select 1").encode()
    msgs = after_startup(drive(wire))
    assert summarize(msgs) == [m.CopyInResponse(0, (0,)), error("08P01", "FATAL")]


def test_copy_out() -> None:
    msgs = session_of(m.Query("copyout 9"), *extended("copyout 2"), m.Sync())
    assert msgs == [
        m.CopyOutResponse(0, (0,)),
        *(m.CopyData(b"%d\n" % i) for i in range(1, 10)),
        m.CopyDone(),
        m.CommandComplete("COPY 9"),
        READY_I,
        m.ParseComplete(),
        m.BindComplete(),
        m.CopyOutResponse(0, (0,)),
        m.CopyData(b"1\n"),
        m.CopyData(b"2\n"),
        m.CopyDone(),
        m.CommandComplete("COPY 2"),
        READY_I,
    ]


# --------------------------------------------------------------------------- extended query


def test_parse_bind_describe_execute_sync() -> None:
    msgs = session_of(
        m.Parse("s", "select 3"),
        m.Describe("S", "s"),
        m.Bind("p", "s"),
        m.Describe("P", "p"),
        m.Execute("p"),
        m.Sync(),
    )
    assert msgs == [
        m.ParseComplete(),
        m.ParameterDescription(()),
        INT4_ROWS,
        m.BindComplete(),
        INT4_ROWS,
        *rows(3),
        m.CommandComplete("SELECT 1"),
        READY_I,
    ]


def test_describe_statement_without_rows() -> None:
    msgs = session_of(
        m.Parse("b", "begin"), m.Describe("S", "b"), m.Bind("", "b"), m.Describe("P", ""), m.Sync()
    )
    assert msgs == [
        m.ParseComplete(),
        m.ParameterDescription(()),
        m.NoData(),
        m.BindComplete(),
        m.NoData(),
        READY_I,
    ]


def test_parameters_text_and_binary() -> None:
    msgs = session_of(
        m.Parse("q", "select $1"),
        m.Describe("S", "q"),
        m.Bind("", "q", (), (b"42",)),
        m.Execute(""),
        m.Bind("", "q", (1,), (b"\x00\x00\x00\x2b",), (1,)),
        m.Describe("P", ""),
        m.Execute(""),
        m.Sync(),
    )
    binary = m.FieldDescription("n", type_oid=23, type_size=4, format=1)
    assert msgs == [
        m.ParseComplete(),
        m.ParameterDescription((23,)),
        INT4_ROWS,
        m.BindComplete(),
        *rows(42),
        m.CommandComplete("SELECT 1"),
        m.BindComplete(),
        m.RowDescription((binary,)),
        m.DataRow((b"\x00\x00\x00\x2b",)),
        m.CommandComplete("SELECT 1"),
        READY_I,
    ]


def test_bad_parameter_value_is_an_error_not_fatal() -> None:
    msgs = session_of(
        m.Parse("q", "select $1"), m.Bind("", "q", (), (b"x",)), m.Sync(), m.Query("select 1")
    )
    assert summarize(msgs) == [m.ParseComplete(), error("22P02"), READY_I, *select(1), READY_I]


def test_execute_max_rows_suspends_and_resumes() -> None:
    """Each Execute's tag counts its own rows (PostgreSQL: pquery.c nprocessed)."""
    msgs = session_of(
        m.Parse("", "rows 20"),
        m.Bind("p", ""),
        m.Execute("p", 8),
        m.Execute("p", 8),
        m.Execute("p", 8),
        m.Sync(),
    )
    assert msgs == [
        m.ParseComplete(),
        m.BindComplete(),
        *rows(*range(1, 9)),
        m.PortalSuspended(),
        *rows(*range(9, 17)),
        m.PortalSuspended(),
        *rows(*range(17, 21)),
        m.CommandComplete("SELECT 4"),
        READY_I,
    ]


def test_execute_max_rows_exactly_at_the_end() -> None:
    """Exactly max_rows rows suspend the portal even when none are left (no look-ahead,
    as PostgreSQL 15 answers); the next Execute completes with SELECT 0."""
    msgs = session_of(
        *extended("rows 14", max_rows=7), m.Execute("", 7), m.Execute("", 0), m.Sync()
    )
    assert msgs == [
        m.ParseComplete(),
        m.BindComplete(),
        *rows(*range(1, 8)),
        m.PortalSuspended(),
        *rows(*range(8, 15)),
        m.PortalSuspended(),
        m.CommandComplete("SELECT 0"),
        READY_I,
    ]


def test_execute_remaining_rows_with_zero_max_rows() -> None:
    msgs = session_of(*extended("rows 10", max_rows=3), m.Execute("", 0), m.Sync())
    assert msgs == [
        m.ParseComplete(),
        m.BindComplete(),
        *rows(1, 2, 3),
        m.PortalSuspended(),
        *rows(*range(4, 11)),
        m.CommandComplete("SELECT 7"),
        READY_I,
    ]


def test_portals_are_dropped_at_sync_outside_a_block() -> None:
    msgs = session_of(
        *extended("rows 3", portal="p", max_rows=1), m.Sync(), m.Execute("p"), m.Sync()
    )
    assert summarize(msgs) == [
        m.ParseComplete(),
        m.BindComplete(),
        *rows(1),
        m.PortalSuspended(),
        READY_I,
        error("34000"),
        READY_I,
    ]


def test_portal_survives_sync_inside_a_block() -> None:
    msgs = session_of(
        m.Query("begin"),
        *extended("rows 3", portal="p", max_rows=2),
        m.Sync(),
        m.Execute("p"),
        m.Sync(),
    )
    assert msgs == [
        m.CommandComplete("BEGIN"),
        READY_T,
        m.ParseComplete(),
        m.BindComplete(),
        *rows(1, 2),
        m.PortalSuspended(),
        READY_T,
        *rows(3),
        m.CommandComplete("SELECT 1"),
        READY_T,
    ]


def test_error_in_parse_discards_until_sync() -> None:
    driven = run_connection(
        client(
            m.Parse("", "fail"),
            m.Bind("", ""),
            m.Describe("P", ""),
            m.Execute(""),
            m.Close("S", ""),
            m.Sync(),
            *extended("select 4"),
            m.Sync(),
        )
    )
    msgs = after_startup(driven.messages)
    assert summarize(msgs) == [
        error("42601"),
        READY_I,
        m.ParseComplete(),
        m.BindComplete(),
        *rows(4),
        m.CommandComplete("SELECT 1"),
        READY_I,
    ]
    assert msgs[0].fields["position"] == "1"
    assert driven.sessions[0].executed == ["select"]


def test_error_in_execute_discards_until_sync() -> None:
    msgs = session_of(
        *extended("error"),
        m.Execute(""),
        m.Parse("x", "select 1"),
        m.Sync(),
        m.Bind("", "x"),
        m.Sync(),
    )
    # The second Parse was skipped, so "x" does not exist after the Sync.
    assert summarize(msgs) == [
        m.ParseComplete(),
        m.BindComplete(),
        error("22012"),
        READY_I,
        error("26000"),
        READY_I,
    ]


def test_bind_with_wrong_parameter_count() -> None:
    msgs = session_of(
        m.Parse("q", "select $1"),
        m.Bind("", "q", (), ()),
        m.Execute(""),
        m.Sync(),
        m.Bind("", "q", (), (b"1", b"2")),
        m.Sync(),
        m.Bind("", "q", (), (b"6",)),
        m.Execute(""),
        m.Sync(),
    )
    assert summarize(msgs) == [
        m.ParseComplete(),
        error("08P01"),
        READY_I,
        error("08P01"),
        READY_I,
        m.BindComplete(),
        *rows(6),
        m.CommandComplete("SELECT 1"),
        READY_I,
    ]


@pytest.mark.parametrize(
    ("message", "sqlstate"),
    [
        (m.Bind("", "nope"), "26000"),
        (m.Describe("S", "nope"), "26000"),
        (m.Describe("P", "nope"), "34000"),
        (m.Execute("nope"), "34000"),
    ],
)
def test_unknown_names(message: Any, sqlstate: str) -> None:
    msgs = session_of(message, m.Sync(), m.Query("select 1"))
    assert summarize(msgs) == [error(sqlstate), READY_I, *select(1), READY_I]


class CursorSession(FakeSession):
    def __init__(self) -> None:
        super().__init__()
        self.cursors["c1"] = Description((), (Column("t", 25),))


def test_describe_sql_level_cursor() -> None:
    msgs = after_startup(
        drive(
            client(m.Describe("P", "c1"), m.Describe("P", "c2"), m.Sync()),
            session_factory=CursorSession,
        )
    )
    assert summarize(msgs) == [m.RowDescription((TEXT_FIELD,)), error("34000"), READY_I]


def test_duplicate_names() -> None:
    msgs = session_of(
        m.Parse("s", "select 1"), m.Parse("s", "select 2"), m.Sync(),
        m.Parse("", "select 1"), m.Parse("", "select 2"),  # the unnamed one is replaced
        m.Bind("p", ""), m.Bind("p", ""), m.Sync(),
    )  # fmt: skip
    assert summarize(msgs) == [
        m.ParseComplete(),
        error("42P05"),
        READY_I,
        m.ParseComplete(),
        m.ParseComplete(),
        m.BindComplete(),
        error("42P03"),
        READY_I,
    ]


def test_close() -> None:
    msgs = session_of(
        m.Parse("s", "select 1"),
        m.Bind("p", "s"),
        m.Close("P", "p"),
        m.Close("S", "s"),
        m.Close("S", "never-existed"),
        m.Sync(),
        m.Bind("", "s"),
        m.Sync(),
        m.Execute("p"),
        m.Sync(),
    )
    assert summarize(msgs) == [
        m.ParseComplete(),
        m.BindComplete(),
        m.CloseComplete(),
        m.CloseComplete(),
        m.CloseComplete(),
        READY_I,
        error("26000"),
        READY_I,
        error("34000"),
        READY_I,
    ]


def test_runtime_error_in_extended_protocol() -> None:
    msgs = session_of(*extended("boom"), m.Sync(), *extended("select 8"), m.Sync())
    assert summarize(msgs) == [
        m.ParseComplete(),
        m.BindComplete(),
        error("XX000"),
        READY_I,
        m.ParseComplete(),
        m.BindComplete(),
        *rows(8),
        m.CommandComplete("SELECT 1"),
        READY_I,
    ]


def test_empty_statement_in_extended_protocol() -> None:
    msgs = session_of(*extended(""), m.Sync())
    assert msgs == [m.ParseComplete(), m.BindComplete(), m.EmptyQueryResponse(), READY_I]


def test_multiple_statements_in_parse_refused() -> None:
    msgs = session_of(m.Parse("", "select 1; select 2"), m.Sync())
    assert summarize(msgs) == [error("42601"), READY_I]


def test_unsupported_result_format() -> None:
    msgs = session_of(
        m.Parse("", "select 1"), m.Bind("", "", (), (), (7,)), m.Execute(""), m.Sync()
    )
    assert summarize(msgs) == [m.ParseComplete(), m.BindComplete(), error("08P01"), READY_I]


def test_flush_writes_pending_output() -> None:
    driven = run_connection(client(m.Parse("", "select 1"), m.Flush()))
    assert driven.channel.writes[-1] == m.ParseComplete().encode()


def test_extended_transaction_status() -> None:
    msgs = session_of(
        *extended("begin"), m.Sync(), *extended("error"), m.Sync(), *extended("rollback"), m.Sync()
    )
    assert summarize(msgs) == [
        m.ParseComplete(), m.BindComplete(), m.CommandComplete("BEGIN"), READY_T,
        m.ParseComplete(), m.BindComplete(), error("22012"), READY_E,
        m.ParseComplete(), m.BindComplete(), m.CommandComplete("ROLLBACK"), READY_I,
    ]  # fmt: skip


def test_flush_does_not_end_skip_till_sync() -> None:
    msgs = session_of(
        m.Parse("ok", "select 1"),
        m.Sync(),
        m.Parse("", "fail"),
        m.Flush(),
        m.Bind("", "ok"),
        m.Execute(""),
        m.Sync(),
    )
    assert summarize(msgs) == [m.ParseComplete(), READY_I, error("42601"), READY_I]


def test_query_while_skipping_is_ignored() -> None:
    msgs = session_of(m.Parse("", "fail"), m.Query("select 1"), m.Sync())
    assert summarize(msgs) == [error("42601"), READY_I]


# --------------------------------------------------------------------------- ending


def test_terminate_ends_cleanly() -> None:
    driven = run_connection(client(m.Query("select 1"), m.Terminate(), m.Query("select 2")))
    assert after_startup(driven.messages) == [*select(1), READY_I]
    assert driven.sessions[0].closed
    assert driven.sessions[0].executed == ["select"]


def test_end_of_stream_with_partial_message() -> None:
    wire = client(m.Query("select 1")) + m.Query("select 2").encode()[:-3]
    assert after_startup(drive(wire)) == [*select(1), READY_I]


@pytest.mark.parametrize(
    "garbage",
    [
        b"?\x00\x00\x00\x04",
        b"Q\x00\x00\x00\x02",
        b"Q\x00\x00\x00\x06\xff\x00",  # invalid UTF-8
        b"D\x00\x00\x00\x06X\x00",  # bad Describe kind
        m.PasswordMessage(b"late").encode(),  # valid, but not after startup
    ],
)
def test_garbage_after_startup_is_fatal(garbage: bytes) -> None:
    driven = run_connection(client(m.Query("select 1")) + garbage + m.Query("select 2").encode())
    assert summarize(after_startup(driven.messages)) == [
        *select(1),
        READY_I,
        error("08P01", "FATAL"),
    ]
    assert driven.sessions[0].closed


def test_message_over_the_size_limit_is_fatal() -> None:
    driven = run_connection(client(m.Query("x" * 200)), max_length=100)
    assert summarize(after_startup(driven.messages)) == [error("08P01", "FATAL")]


class SyncFailsSession(FakeSession):
    async def sync(self) -> None:
        raise RuntimeError("sync exploded")


def test_runtime_error_in_session_sync() -> None:
    msgs = after_startup(drive(client(m.Sync(), m.Sync()), session_factory=SyncFailsSession))
    assert summarize(msgs) == [error("XX000"), READY_I, error("XX000"), READY_I]


class StartupFailsSession(FakeSession):
    async def startup(self, parameters: dict[str, str]) -> list[tuple[str, str]]:
        raise RuntimeError("startup exploded")


def test_runtime_error_in_session_startup() -> None:
    msgs = drive(startup_bytes(), session_factory=StartupFailsSession)
    assert summarize(msgs) == [m.AuthenticationOk(), error("XX000", "FATAL")]


# --------------------------------------------------------------------------- fuzz


class CountingConnection(Connection):
    """Counts the Query and Sync messages the connection actually processed."""

    processed = 0
    unfinished = 0

    async def on_sync(self) -> None:
        self.processed += 1
        await Connection.on_sync(self)

    async def simple_query(self, sql: str) -> None:
        self.processed += 1
        try:
            await Connection.simple_query(self, sql)
        except BaseException:
            self.unfinished += 1
            raise


FAST_PATH_MESSAGE = "the fast-path function call is not supported"

STATEMENTS = [
    "select 1", "rows 10", "text a", "select $1", "fail", "error", "boom", "begin",
    "commit", "rollback", "copyin", "notice", "", "select 1; rows 3", "copyout 3", "begin; error",
]  # fmt: skip
NAMES = st.sampled_from(["", "a", "zz"])
statements = st.sampled_from(STATEMENTS)


class RawBytes:
    """Not a message: arbitrary bytes spliced into the client stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def encode(self) -> bytes:
        return self.data


single_messages = st.one_of(
    st.builds(m.Query, statements),
    st.builds(
        m.Parse, NAMES, statements, st.lists(st.sampled_from([0, 23, 25]), max_size=2).map(tuple)
    ),
    st.builds(
        m.Bind,
        NAMES,
        NAMES,
        st.lists(st.sampled_from([0, 1, 2]), max_size=2).map(tuple),
        st.lists(
            st.none() | st.sampled_from([b"1", b"x", b"\x00\x00\x00\x05", b""]), max_size=2
        ).map(tuple),
        st.lists(st.sampled_from([0, 1, 3]), max_size=2).map(tuple),
    ),
    st.builds(m.Describe, st.sampled_from(["S", "P"]), NAMES),
    st.builds(m.Execute, NAMES, st.integers(-1, 4)),
    st.builds(m.Close, st.sampled_from(["S", "P"]), NAMES),
    st.just(m.Sync()),
    st.just(m.Flush()),
    st.builds(m.CopyData, st.binary(max_size=8)),
    st.just(m.CopyDone()),
    st.builds(m.CopyFail, st.text(max_size=5).filter(lambda s: "\x00" not in s)),
    st.builds(RawBytes, st.binary(max_size=8)),
)


@st.composite
def extended_batches(draw: st.DrawFn) -> list[Any]:
    """A plausible Parse/Bind/Describe/Execute.../Sync batch, as drivers send them."""
    name, portal, sql = draw(NAMES), draw(NAMES), draw(statements)
    params: tuple[bytes | None, ...] = (
        (draw(st.sampled_from([b"7", b"-3", None])),) if "$1" in sql else ()
    )
    batch: list[Any] = [
        m.Parse(name, sql),
        m.Bind(portal, name, (), params, draw(st.sampled_from([(), (0,), (1,)]))),
    ]
    if draw(st.booleans()):
        batch.append(m.Describe("P", portal))
    batch += [m.Execute(portal, draw(st.integers(0, 4))) for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        batch.append(m.Close("P", portal))
    if draw(st.integers(0, 3)):
        batch.append(m.Sync())
    return batch


frontend_messages = st.lists(
    st.one_of(extended_batches(), st.lists(single_messages, min_size=1, max_size=3)), max_size=8
).map(lambda groups: [msg for group in groups for msg in group])


def check_conversation(driven: Driven) -> None:
    """The invariants every conversation keeps, whatever the client sent."""
    msgs = driven.messages
    conn = driven.connection
    assert isinstance(conn, CountingConnection)
    fatal = [
        i
        for i, x in enumerate(msgs)
        if isinstance(x, m.ErrorResponse) and x.fields["severity"] == "FATAL"
    ]
    assert fatal in ([], [len(msgs) - 1]), "a FATAL error is the last message"
    for x in msgs:
        if isinstance(x, m.ErrorResponse):
            assert len(x.fields["sqlstate"]) == 5 and x.fields["message"]
            assert x.fields["severity"] in ("ERROR", "FATAL")
    if m.AuthenticationOk() not in msgs:
        assert not any(isinstance(x, m.ReadyForQuery) for x in msgs)
        assert conn.processed == 0
        return
    start = msgs.index(READY_I)
    rest = msgs[start + 1 :]
    ready = sum(isinstance(x, m.ReadyForQuery) for x in rest)
    fast_path = sum(
        isinstance(x, m.ErrorResponse) and x.fields["message"] == FAST_PATH_MESSAGE for x in rest
    )
    assert conn.unfinished in (0, 1)
    assert ready == conn.processed - conn.unfinished + fast_path
    if conn.unfinished:
        # Only the end of the stream (or a FATAL error) interrupts a query: during COPY.
        assert any(isinstance(x, m.CopyInResponse) for x in rest)
    assert driven.sessions[0].closed


def _run_fuzz(wire: bytes) -> Driven:
    return run_connection(wire, connection_cls=CountingConnection, max_length=4096)


@given(frontend_messages)
def test_fuzz_valid_messages(msgs: list[Any]) -> None:
    check_conversation(_run_fuzz(client(*msgs)))


@given(
    frontend_messages,
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete"]),
            st.integers(0, 10**6),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_fuzz_mutated_streams(msgs: list[Any], mutations: list[tuple[str, int, int]]) -> None:
    wire = bytearray(client(*msgs))
    for op, pos, value in mutations:
        i = pos % (len(wire) + 1)
        if op == "insert":
            wire.insert(i, value)
        elif i < len(wire):
            if op == "flip":
                wire[i] ^= value or 1
            else:
                del wire[i]
    check_conversation(_run_fuzz(bytes(wire)))


def test_fake_channel_end_of_stream_is_sticky() -> None:
    channel = FakeChannel(client(m.Sync()))

    async def receive_all() -> list[Any]:
        return [await channel.receive() for _ in range(4)]

    assert asyncio.run(receive_all()) == [m.StartupMessage({"user": "alice"}), m.Sync(), None, None]


class _WaitingChannel(FakeChannel):
    """Like FakeChannel, but when the client's bytes run out it waits (as a real client
    waiting for an answer does) instead of ending the stream."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.waiting = asyncio.Event()

    async def receive(self, timeout: float | None = None) -> Any:
        msg = self.reader.next_message()
        if msg is codec.NEED_DATA:
            self.waiting.set()
            await asyncio.Event().wait()  # never: the test cancels us
        return msg


def test_error_after_parse_and_flush_is_sent_without_waiting_for_sync() -> None:
    """asyncpg prepares with Parse, Describe, Flush and waits: the error must go out at once."""
    data = client(m.Parse("", "fail"), m.Describe("S", ""), m.Flush())
    channel = _WaitingChannel(data)
    ctx = ServerContext(new_session=FakeSession, cancel=lambda pid, key: None)

    async def scenario() -> None:
        task = asyncio.create_task(Connection(channel, ctx).run())
        await asyncio.wait_for(channel.waiting.wait(), 5)
        task.cancel()

    asyncio.run(scenario())
    _, messages = decode_backend(channel.writes)
    errors = [msg for msg in messages if isinstance(msg, m.ErrorResponse)]
    assert [e.fields["sqlstate"] for e in errors] == ["42601"]
    assert isinstance(messages[-1], m.ErrorResponse)
