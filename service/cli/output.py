"""What the subcommands print: a result as JSON (``--json``) or as text, and the console the
text is drawn on."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from service.cli import EXIT_OK


def emit(result: BaseModel, as_json: bool, text: Callable[[], str]) -> int:
    """Print ``result`` as JSON (``as_json``) or as ``text()`` (its own line ends); exit 0."""
    print(result.model_dump_json(indent=2) if as_json else text(), end="\n" if as_json else "")
    return EXIT_OK


def text_console(width: int = 150) -> Any:
    """A rich console that records what is printed (``.export_text()``), as plain text ``width``
    columns wide: tables, never terminal codes."""
    from rich.console import Console

    return Console(record=True, width=width, force_terminal=False, file=io.StringIO())
