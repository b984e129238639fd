"""`pg_catalog.*` relations answered from laminar_pg's state (see session/relations.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from laminar_pg.session.relations import relation

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession


@relation("pg_catalog.pg_cursors")
def pg_cursors(session: PgSession) -> pa.Table:
    cursors = list(session.cursors.values())
    return pa.table(
        {
            "name": pa.array([c.name for c in cursors], pa.string()),
            "statement": pa.array([c.statement for c in cursors], pa.string()),
            "is_holdable": pa.array([c.hold for c in cursors], pa.bool_()),
            "is_binary": pa.array([c.binary for c in cursors], pa.bool_()),
            "is_scrollable": pa.array([False] * len(cursors), pa.bool_()),
            "creation_time": pa.array([c.created for c in cursors], pa.timestamp("us", tz="UTC")),
        }
    )
