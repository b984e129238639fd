"""Who is connected and what they run: the rows of `laminar_catalog.sessions`.

A session registers itself when its startup completes and leaves when it closes; the
registry is kept per database (a process may hold several in tests). Each entry is the
session object itself, read through the small `SessionInfo` protocol below.
"""

from __future__ import annotations

import datetime
import weakref
from typing import Protocol


class SessionInfo(Protocol):
    """What `laminar_catalog.sessions` reads from a session."""

    process_id: int
    user: str
    database: str
    backend_start: datetime.datetime
    current_query: str | None
    query_start: datetime.datetime | None

    @property
    def transaction_status(self) -> str: ...

    def get_setting(self, name: str) -> str | None: ...


_BY_DATABASE: weakref.WeakKeyDictionary[object, dict[int, SessionInfo]] = (
    weakref.WeakKeyDictionary())


def connected(database: object, session: SessionInfo) -> None:
    _BY_DATABASE.setdefault(database, {})[session.process_id] = session


def disconnected(database: object, session: SessionInfo) -> None:
    _BY_DATABASE.get(database, {}).pop(session.process_id, None)


def sessions(database: object) -> list[SessionInfo]:
    """The connected sessions of `database`, in process id order."""
    found = list(_BY_DATABASE.get(database, {}).values())
    return sorted(found, key=lambda s: s.process_id)


def state_of(session: SessionInfo) -> str:
    """pg_stat_activity's state: active, idle, idle in transaction (aborted)."""
    status = session.transaction_status
    if session.current_query is not None:
        return "active"
    if status == "T":
        return "idle in transaction"
    if status == "E":
        return "idle in transaction (aborted)"
    return "idle"
