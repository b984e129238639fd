"""The error every layer raises when a client should see a SQLSTATE.

Concrete classes, one per SQLSTATE, live in the generated `laminar_pg.errcodes`.
"""

from __future__ import annotations


class SqlError(Exception):
    """An error reported to the client as an ErrorResponse.

    `position` is a 1-based character offset into the statement text, as PostgreSQL
    reports it.  `severity` is ERROR unless the error ends the session (FATAL).
    """

    sqlstate = "XX000"

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        hint: str | None = None,
        position: int | None = None,
        severity: str = "ERROR",
        sqlstate: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position
        self.severity = severity
        if sqlstate is not None:
            self.sqlstate = sqlstate

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sqlstate}: {self.message!r})"


def error_for(sqlstate: str, message: str, **kwargs: object) -> SqlError:
    """An instance of the generated class for `sqlstate` (SqlError if unknown)."""
    from laminar_pg.errcodes import BY_SQLSTATE

    cls = BY_SQLSTATE.get(sqlstate, SqlError)
    err = cls(message, **kwargs)  # type: ignore[arg-type]
    err.sqlstate = sqlstate
    return err
