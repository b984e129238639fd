"""A real PostgreSQL 15 beside laminar_pg, for tests that compare the two."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from laminar_pg.testing.postgres import PostgresServer, postgres_unavailable_reason, start_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL 15 per test worker (skips only if its binaries are absent)."""
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs a real PostgreSQL 15: {reason}")
    with start_postgres() as pg:
        yield pg
