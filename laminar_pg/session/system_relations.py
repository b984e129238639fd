"""`laminar_catalog.*`: the pipeline's own figures, as relations any client can query."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from laminar_pg.session.relations import relation

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession


@relation("laminar_catalog.source_metrics")
def source_metrics(session: PgSession) -> pa.Table:
    return session.db.streaming.source_metrics()


@relation("laminar_catalog.sinks")
def sinks(session: PgSession) -> pa.Table:
    return session.db.streaming.sinks()


@relation("laminar_catalog.operator_metrics")
def operator_metrics(session: PgSession) -> pa.Table:
    return session.db.streaming.operator_metrics()
