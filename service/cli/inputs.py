"""Reading the files the subcommands are given: JSON documents, and errors that name the file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.strict_json import read_json_object
from solver.errors import FieldError, RequestInvalid


def read_json(path: str) -> dict[str, Any]:
    """The JSON object in file ``path`` (``-``: stdin), read as the API reads a body
    (:func:`service.strict_json.read_json_object`): RequestInvalid (exit 2) naming the place of
    every problem."""
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        raw = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
        return read_json_object(raw, "stdin")
    return read_json_object(Path(path).read_bytes(), "the file")


class FileInvalid(RequestInvalid):
    """An invalid request about one input file of a command that reads several kinds of file
    (diff, report, export): printed with the file's name before each field."""

    def __init__(self, source: str, errors: list[FieldError]) -> None:
        self.source = "stdin" if source == "-" else source
        super().__init__(errors)


@contextmanager
def about(source: str) -> Iterator[None]:
    """Re-raise an invalid request raised inside as one about the file ``source``."""
    try:
        yield
    except FileInvalid:
        raise
    except RequestInvalid as exc:
        raise FileInvalid(source, exc.errors) from None
