"""Fixtures shared by the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.ray_cluster import pg_schema as fresh_pg_schema
from tests.service.ray_cluster import postgres_missing


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL server, dropped afterwards (the test is skipped,
    saying why, without a server)."""
    reason = postgres_missing()
    if reason:
        pytest.skip(reason)
    with fresh_pg_schema() as schema:
        yield schema
