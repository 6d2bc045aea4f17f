"""Fixtures shared by every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

import solver.model
from tests.helpers.ray_cluster import pg_schema as fresh_pg_schema
from tests.helpers.ray_cluster import postgres_missing


@pytest.fixture
def nothing_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    """``solver.model.prepare`` raises, under every name a loaded module imported it by."""

    def refuse(_req: Any) -> Any:
        raise AssertionError("prepare() ran: the size must be judged from the request alone")

    original = solver.model.prepare
    for module in list(sys.modules.values()):
        if getattr(module, "prepare", None) is original:
            monkeypatch.setattr(module, "prepare", refuse)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL server, dropped afterwards (the test is skipped,
    saying why, without a server)."""
    reason = postgres_missing()
    if reason:
        pytest.skip(reason)
    with fresh_pg_schema() as schema:
        yield schema
