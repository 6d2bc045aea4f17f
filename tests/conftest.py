"""Fixtures shared by every test."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import solver.model


@pytest.fixture
def nothing_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    """``solver.model.prepare`` raises, under every name a loaded module imported it by."""

    def refuse(_req: Any) -> Any:
        raise AssertionError("prepare() ran: the size must be judged from the request alone")

    original = solver.model.prepare
    for module in list(sys.modules.values()):
        if getattr(module, "prepare", None) is original:
            monkeypatch.setattr(module, "prepare", refuse)
