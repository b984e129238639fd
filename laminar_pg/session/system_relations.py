"""`laminar_catalog.*`: the pipeline's own figures, as relations any client can query.

Each relation is built by laminar_pg.observability.figures when a query reads it (see
session/relations.py); docs/observability.md documents every column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from laminar_pg.observability import figures
from laminar_pg.session.relations import relation

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession


@relation("laminar_catalog.sources")
def sources(session: PgSession) -> pa.Table:
    return figures.sources(session.db)


@relation("laminar_catalog.streams")
def streams(session: PgSession) -> pa.Table:
    return figures.streams(session.db)


@relation("laminar_catalog.materialized_views")
def materialized_views(session: PgSession) -> pa.Table:
    return figures.materialized_views(session.db)


@relation("laminar_catalog.tables")
def tables(session: PgSession) -> pa.Table:
    return figures.tables(session.db, session._catalog(), session._describe_engine())


@relation("laminar_catalog.sinks")
def sinks(session: PgSession) -> pa.Table:
    return figures.sinks(session.db)


@relation("laminar_catalog.pipeline_metrics")
def pipeline_metrics(session: PgSession) -> pa.Table:
    return figures.pipeline_metrics(session.db)


@relation("laminar_catalog.source_metrics")
def source_metrics(session: PgSession) -> pa.Table:
    return figures.source_metrics(session.db)


@relation("laminar_catalog.view_metrics")
def view_metrics(session: PgSession) -> pa.Table:
    return figures.view_metrics(session.db)


@relation("laminar_catalog.stream_metrics")
def stream_metrics(session: PgSession) -> pa.Table:
    return figures.stream_metrics(session.db)


@relation("laminar_catalog.operator_metrics")
def operator_metrics(session: PgSession) -> pa.Table:
    return figures.operator_metrics(session.db)


@relation("laminar_catalog.watermarks")
def watermarks(session: PgSession) -> pa.Table:
    return figures.watermarks(session.db)


@relation("laminar_catalog.sessions")
def sessions(session: PgSession) -> pa.Table:
    return figures.sessions(session.db)
