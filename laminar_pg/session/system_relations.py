"""`laminar_catalog.*`: the pipeline's own figures, as relations any client can query.

Each relation is built by laminar_pg.observability.figures when a query reads it (see
session/relations.py); docs/observability.md documents every column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from laminar_pg.observability import figures
from laminar_pg.session.relations import relation

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

# The relations built from the database alone: figures.<name>(db).
FROM_DATABASE = ("sources", "streams", "materialized_views", "sinks", "pipeline_metrics",
                 "source_metrics", "view_metrics", "stream_metrics", "operator_metrics",
                 "watermarks", "checkpoints", "sessions")


def _from_database(build: Callable[[Any], pa.Table]) -> Callable[[PgSession], pa.Table]:
    return lambda session: build(session.db)


for _name in FROM_DATABASE:
    relation(f"laminar_catalog.{_name}")(_from_database(getattr(figures, _name)))


@relation("laminar_catalog.tables")
def tables(session: PgSession) -> pa.Table:
    return figures.tables(session.db, session._catalog(), session._describe_engine())
