"""Shared fixtures: one real laminar_pg server per test worker, and a hypothesis profile."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from laminar_pg.testing.postgres import PostgresServer, postgres_unavailable_reason, start_postgres
from laminar_pg.testing.server import LaminarServer

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def server() -> Iterator[LaminarServer]:
    """A laminar_pg server shared by every test of this worker (do not stop it)."""
    srv = LaminarServer().start()
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def own_server() -> Iterator[LaminarServer]:
    """A fresh server for a test that stops, kills or reconfigures it."""
    srv = LaminarServer()
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL 15 per test worker, for tests that compare with it (skips
    only if its binaries are absent; `make install` installs them)."""
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs a real PostgreSQL 15: {reason}")
    with start_postgres() as pg:
        yield pg
