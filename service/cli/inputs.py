"""Reading the files the subcommands are given: JSON documents, and errors that name the file."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from solver.errors import FieldError, RequestInvalid, pointer_token
from solver.validate import beyond_float_range


def read_json(path: str) -> dict[str, Any]:
    """The JSON object in file ``path`` (``-``: stdin), UTF-8 with or without a byte-order mark.

    Raises
    ------
    RequestInvalid
        (exit 2) Text that is not UTF-8, not JSON, nested too deeply, JSON that is not an
        object (a JSON string holding a request is refused, as the API refuses it), or that
        holds NaN, Infinity or a number beyond the float range (not JSON, though Python reads
        it; refused as the API refuses it: a plan or result file would show "$nan").
    """
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        raw = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
    else:
        raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestInvalid(
            [FieldError("/", f"not UTF-8 text (byte {exc.start} cannot be decoded): save the file as UTF-8")]
        ) from None
    non_finite: list[str] = []  # the tokens, in the order read

    def constant(token: str) -> object:  # NaN, Infinity, -Infinity
        non_finite.append(token)
        return _NON_FINITE

    def number(token: str) -> object:  # 1e999 reads as inf
        value = float(token)
        return value if math.isfinite(value) else constant(token)

    def integer(token: str) -> object:  # 1 followed by 400 zeros: beyond the float range too
        return constant(token) if beyond_float_range(token) else int(token)

    try:
        doc = json.loads(text, parse_constant=constant, parse_float=number, parse_int=integer)
    except RecursionError:
        raise RequestInvalid([FieldError("/", "not valid JSON: nested too deeply")]) from None
    except ValueError as exc:
        raise RequestInvalid([FieldError("/", f"not valid JSON: {exc}")]) from None
    if not isinstance(doc, dict):
        kind = {str: "a string", list: "an array", bool: "a boolean"}.get(type(doc), "a number")
        raise RequestInvalid(
            [FieldError("/", f"must be a JSON object, not {'null' if doc is None else kind}")]
        )
    if non_finite:
        token = non_finite[0]
        shown = token if len(token) <= 24 else f"{token[:12]}... ({len(token)} characters)"
        msg = (
            f"not a finite number ({shown}): NaN, Infinity and numbers beyond the float range are not allowed"
        )
        raise RequestInvalid([FieldError(_first_non_finite(doc), msg)])
    return doc


_NON_FINITE = object()
"""What :func:`read_json` reads NaN, Infinity and an overflowing number as (never returned)."""


def _first_non_finite(doc: Any) -> str:
    """The JSON pointer of the first :data:`_NON_FINITE` in ``doc``, in document order (walked
    without recursion: the document may be nested as deeply as the parser allows)."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        obj, path = stack.pop()
        if obj is _NON_FINITE:
            return path or "/"
        if isinstance(obj, dict):
            stack.extend((v, f"{path}/{pointer_token(k)}") for k, v in reversed(obj.items()))
        elif isinstance(obj, list):
            stack.extend((v, f"{path}/{i}") for i, v in reversed(list(enumerate(obj))))
    return "/"


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
