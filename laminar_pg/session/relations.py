"""System relations answered from laminar_pg's own state, not from stored rows.

`pg_catalog.pg_cursors`, `laminar_catalog.source_metrics` and the like are computed when a
query reads them: the planner points each reference at an Arrow table registered on the
engine connection under `engine_name(qualified)` just before the query runs (so a query
sees one consistent copy of each). A module adds a relation with `@relation("schema.name")`;
the modules that do are imported by `laminar_pg.session.session`, so the registry is full
before the first query is planned.

An unqualified name means `pg_catalog.<name>`, as in PostgreSQL, where pg_catalog is always
searched first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

Builder = Callable[["PgSession"], pa.Table]

ENGINE_PREFIX = "laminar_session_"
RELATIONS: dict[str, Builder] = {}


def relation(qualified: str) -> Callable[[Builder], Builder]:
    """Register `fn(session) -> pa.Table` as the relation `qualified` ("schema.name")."""
    schema, _, name = qualified.partition(".")
    assert schema and name, qualified

    def register(fn: Builder) -> Builder:
        RELATIONS[qualified.lower()] = fn
        return fn

    return register


def names() -> frozenset[str]:
    return frozenset(RELATIONS)


def engine_name(qualified: str) -> str:
    """The name the relation's snapshot is registered under on the engine connection."""
    return ENGINE_PREFIX + qualified.replace(".", "__")


def build(qualified: str, session: PgSession) -> pa.Table:
    return RELATIONS[qualified](session)
