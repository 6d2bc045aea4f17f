"""One strict JSON reader for the API's bodies and the CLI's files.

JSON parsers accept what would silently change a plan: a key given twice in one object (the
last value wins, like a misspelt field), NaN and Infinity (not JSON, though Python reads them),
a number beyond the float range (read as infinity).  :func:`read_json_object` refuses them with
the JSON pointer of every offending place, and text no backend can keep (a NUL character, half
of a UTF-16 surrogate pair), as one :class:`~solver.errors.RequestInvalid`: exit 2 in the CLI,
422 in the API, the same messages.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from solver.errors import FieldError, RequestInvalid, pointer_token, quoted
from solver.validate import beyond_float_range

_NON_FINITE = object()
"""What NaN, Infinity and an overflowing number are read as (never returned)."""

_UNSTORABLE = re.compile("[\0\ud800-\udfff]")
_ODD_ESCAPE = re.compile(r"\\u(?:0000|d[89a-f])", re.IGNORECASE)
"""Escapes that may spell an unstorable character (raw, neither can be in valid UTF-8 JSON)."""


def storable(text: str) -> bool:
    """Whether every backend can keep ``text``: PostgreSQL refuses a NUL character in text,
    and half of a UTF-16 surrogate pair is not Unicode text (UTF-8 cannot encode it)."""
    return _UNSTORABLE.search(text) is None


def read_json_object(raw: bytes, noun: str) -> dict[str, Any]:
    """The JSON object in ``raw`` (UTF-8, a byte-order mark allowed); ``noun`` names it in the
    messages ("the request body", "the file").

    Raises
    ------
    RequestInvalid
        Naming the place of every problem: text that is empty, not UTF-8, not JSON or nested
        too deeply (``/``); a key given twice (at that key); NaN, Infinity or a number beyond
        the float range; unstorable text (at each); JSON that is not an object (``/``: a JSON
        string holding a request is not a request).
    """
    if not raw.strip():
        raise RequestInvalid([FieldError("/", f"{noun} is empty: a JSON object is expected")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{noun} is not UTF-8 text (byte {exc.start} cannot be decoded)"
        raise RequestInvalid([FieldError("/", msg)]) from None
    duplicated: list[tuple[dict[str, Any], list[str]]] = []
    doc, non_finite = _parse(text, duplicated)
    if duplicated:
        raise RequestInvalid(_duplicate_key_errors(doc, duplicated))
    if non_finite:
        msg = "NaN, Infinity and numbers beyond the float range are not allowed: use a finite number"
        raise RequestInvalid([FieldError(p or "/", msg) for p, v in _values(doc) if v is _NON_FINITE])
    if _ODD_ESCAPE.search(text):
        odd = list(_unstorable_places(doc))
        if odd:
            msg = (
                "holds a NUL character (\\u0000) or half of a UTF-16 surrogate pair (\\ud800-\\udfff "
                "without its partner): not text that can be stored; remove it"
            )
            raise RequestInvalid([FieldError(p, msg) for p in odd])
    if not isinstance(doc, dict):
        kind = (
            "null" if doc is None else {str: "a string", list: "an array", bool: "a boolean"}.get(type(doc))
        )
        raise RequestInvalid([FieldError("/", f"{noun} must be a JSON object, not {kind or 'a number'}")])
    return doc


def _parse(text: str, duplicated: list[tuple[dict[str, Any], list[str]]]) -> tuple[Any, bool]:
    """The document, and whether it holds a non-finite number; objects with a key given twice
    are appended to ``duplicated`` with those keys."""
    non_finite = False

    def constant(_token: str) -> object:  # NaN, Infinity, -Infinity
        nonlocal non_finite
        non_finite = True
        return _NON_FINITE

    def number(token: str) -> object:  # 1e999 reads as inf
        value = float(token)
        return value if math.isfinite(value) else constant(token)

    def integer(token: str) -> object:  # 1 followed by 400 zeros: beyond the float range too
        return constant(token) if beyond_float_range(token) else int(token)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            again: dict[str, None] = {}  # each key once, in the order met
            for key, _ in items:
                if key in seen:
                    again[key] = None
                seen.add(key)
            duplicated.append((obj, list(again)))
        return obj

    try:
        doc = json.loads(
            text, parse_constant=constant, parse_float=number, parse_int=integer, object_pairs_hook=pairs
        )
    except RecursionError:
        raise RequestInvalid([FieldError("/", "the JSON is nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise RequestInvalid([FieldError("/", msg)]) from None
    except ValueError as exc:
        raise RequestInvalid([FieldError("/", f"not valid JSON: {exc}")]) from None
    return doc, non_finite


def _values(doc: Any) -> Iterator[tuple[str, Any]]:
    """Every value of ``doc`` with its JSON pointer, in document order; walked without recursion
    (the document may be nested as deeply as the parser allows)."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, dict):
            stack.extend((f"{path}/{pointer_token(_shown(k))}", v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((f"{path}/{i}", v) for i, v in reversed(list(enumerate(node))))


def _shown(text: str) -> str:
    """``text`` with its unstorable characters written as escapes (so a message can name it)."""
    return "".join(f"\\u{ord(c):04x}" if c == "\0" or "\ud800" <= c <= "\udfff" else c for c in text)


def _unstorable_places(doc: Any) -> Iterator[str]:
    for path, node in _values(doc):
        if isinstance(node, str) and not storable(node):
            yield path or "/"
        elif isinstance(node, dict):
            yield from (f"{path}/{pointer_token(_shown(k))}" for k in node if not storable(k))


def _duplicate_key_errors(doc: Any, duplicated: list[tuple[dict[str, Any], list[str]]]) -> list[FieldError]:
    """One error per key given twice in an object, at that key's path.  An object that a later
    duplicate replaced is no longer in ``doc``: the duplicate that replaced it is reported."""
    wanted = {id(obj): keys for obj, keys in duplicated}
    msg = "the key {} appears more than once in this object: give each key once"
    return [
        FieldError(f"{path}/{pointer_token(_shown(key))}", msg.format(quoted(key)))
        for path, node in _values(doc)
        if isinstance(node, dict)
        for key in wanted.get(id(node), ())
    ]
