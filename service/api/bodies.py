"""Request bodies: strict JSON reading, and their OpenAPI description.

Bodies are read here rather than by FastAPI so that (1) NaN, Infinity and numbers that
overflow to infinity, and a key given twice in one object (JSON parsers keep the last value:
like a misspelt field, that would silently change a plan), are refused with the JSON pointer
of every offending value, (2) the solver's own validation (``solver.parse_request``, with its
cross-field rules) produces the 422, exactly as for the CLI, and (3) the size limit applies
to streamed bodies as well.
A route declares its body with ``openapi_extra=json_body(Model)``; :func:`install_openapi`
adds the model's schema to the document.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import FastAPI, Request
from pydantic import BaseModel

from service.api.errors import InvalidRequest, Unavailable, UnsupportedMediaType
from service.jobs.store import storable
from solver import FieldError
from solver.errors import pointer_token, quoted
from solver.validate import beyond_float_range


class _NonFinite:
    """Placeholder for a NaN / Infinity token met while parsing."""


_BAD = _NonFinite()


def _find_bad(obj: Any, path: str) -> Iterator[str]:
    if obj is _BAD:
        yield path or "/"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _find_bad(v, f"{path}/{pointer_token(k)}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _find_bad(v, f"{path}/{i}")


_ODD_ESCAPE = re.compile(r"\\u(?:0000|d[89a-f])", re.IGNORECASE)
"""Escapes that may spell a character no store can keep: NUL (PostgreSQL text refuses it) or
half of a UTF-16 surrogate pair (not Unicode text; UTF-8 cannot encode it)."""


def _unstorable(text: str) -> bool:
    return not storable(text)


def _shown(text: str) -> str:
    """``text`` with its unstorable characters written as escapes (so a message can name it)."""
    return "".join(f"\\u{ord(c):04x}" if c == "\0" or "\ud800" <= c <= "\udfff" else c for c in text)


def _find_unstorable(obj: Any, path: str) -> Iterator[str]:
    if isinstance(obj, str):
        if _unstorable(obj):
            yield path or "/"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            where = f"{path}/{pointer_token(_shown(k))}"
            if _unstorable(k):
                yield where
            yield from _find_unstorable(v, where)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _find_unstorable(v, f"{path}/{i}")


def _duplicate_key_errors(data: Any, duplicated: list[tuple[dict[str, Any], list[str]]]) -> list[FieldError]:
    """One error per key given twice in an object, at that key's path (the object's pointer
    and the key).  An object that a later duplicate replaced is no longer in ``data``: the
    duplicate that replaced it is reported instead."""
    wanted = {id(obj): keys for obj, keys in duplicated}
    out: list[FieldError] = []

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            for key in wanted.get(id(obj), ()):
                msg = f"the key {quoted(key)} appears more than once in this object: give each key once"
                out.append(FieldError(f"{path}/{pointer_token(_shown(key))}", msg))
            for k, v in obj.items():
                walk(v, f"{path}/{pointer_token(_shown(k))}")
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, f"{path}/{i}")

    walk(data, "")
    return out


def parse_strict_json(body: bytes) -> Any:
    """Parse a JSON body; InvalidRequest (422) naming the place of every problem."""
    if not body.strip():
        raise InvalidRequest([FieldError("/", "the request body is empty: a JSON object is expected")])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest([FieldError("/", "the request body is not UTF-8 text")]) from None
    nonfinite: list[str] = []  # tokens read as _BAD: the tree is walked for their paths only if any

    def parse_constant(token: str) -> _NonFinite:
        nonfinite.append(token)
        return _BAD

    def parse_float(token: str) -> float | _NonFinite:
        value = float(token)
        if math.isfinite(value):
            return value
        nonfinite.append(token)
        return _BAD

    def parse_int(token: str) -> int | _NonFinite:
        if not beyond_float_range(token):
            return int(token)
        nonfinite.append(token)
        return _BAD

    duplicated: list[tuple[dict[str, Any], list[str]]] = []  # objects with a key given twice

    def object_pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            again: dict[str, None] = {}  # each key once, in the order met
            for key, _ in pairs:
                if key in seen:
                    again[key] = None
                seen.add(key)
            duplicated.append((obj, list(again)))
        return obj

    try:
        data = json.loads(
            text,
            parse_constant=parse_constant,
            parse_float=parse_float,
            parse_int=parse_int,
            object_pairs_hook=object_pairs_hook,
        )
    except RecursionError:
        raise InvalidRequest([FieldError("/", "the JSON is nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise InvalidRequest([FieldError("/", msg)]) from None
    except ValueError as exc:
        raise InvalidRequest([FieldError("/", f"not valid JSON: {exc}")]) from None
    if duplicated:
        raise InvalidRequest(_duplicate_key_errors(data, duplicated))
    bad = list(_find_bad(data, "")) if nonfinite else []
    if bad:
        msg = "NaN, Infinity and numbers beyond the float range are not allowed: use a finite number"
        raise InvalidRequest([FieldError(p, msg) for p in bad])
    if _ODD_ESCAPE.search(text):
        odd = list(_find_unstorable(data, ""))
        if odd:
            msg = (
                "holds a NUL character (\\u0000) or half of a UTF-16 surrogate pair (\\ud800-\\udfff "
                "without its partner): not text that can be stored; remove it"
            )
            raise InvalidRequest([FieldError(p, msg) for p in odd])
    if not isinstance(data, dict):  # a JSON string holding a request is not a request
        raise InvalidRequest([FieldError("/", "the request body must be a JSON object")])
    return data


PARSE_ON_LOOP_MAX_BYTES = 64 * 1024
"""Largest body parsed on the event loop.  Parsing costs 10-30 ns a byte (numbers cost most),
so a body up to this size holds the loop for at most about 2 ms, and every realistic plan
request (the benchmarked ones are 3-10 KB) is parsed there without the ~0.1 ms of a hop to a
worker thread; a larger body is parsed in a worker thread, where it holds up no other request
(a 5 MiB one takes ~0.2 s)."""

LARGE_BODY_PARSES = anyio.CapacityLimiter(1)
"""Large bodies are parsed (and checked, :func:`read_checked_body`) one at a time.  Parsing
holds the GIL: parallel parses would end no sooner, and each runnable parse thread is one more
the event loop takes turns with (8 at once on 2 cores: /healthz p50 ~40 ms, against ~7 ms one
at a time)."""

BUSY_RETRY_AFTER_S = 5
"""Retry-After of a body that waited its whole budget for its turn to be checked."""

T = TypeVar("T")


async def read_json_body(request: Request) -> Any:
    """The request's JSON body (size limit enforced by the request middleware), parsed on the
    event loop up to :data:`PARSE_ON_LOOP_MAX_BYTES`, in a worker thread beyond."""
    body = await _read_body(request)
    if len(body) <= PARSE_ON_LOOP_MAX_BYTES:
        return parse_strict_json(body)
    return await anyio.to_thread.run_sync(parse_strict_json, body, limiter=LARGE_BODY_PARSES)


async def read_checked_body(
    request: Request, check: Callable[[Any], T], *, budget_s: float, heavy: bool = False
) -> T:
    """The request's JSON body, parsed and checked: ``check(data)`` (validation and the size
    limit) runs in a worker thread, and what it returns is returned.

    A small body (up to :data:`PARSE_ON_LOOP_MAX_BYTES`) is parsed on the event loop and
    checked in a worker thread at once: every check of a plan request is about linear in its
    length, milliseconds at that size.  A large body, or any body whose check is ``heavy`` (a
    sweep checks every scenario), is parsed and checked in one worker thread, one such body at
    a time (:data:`LARGE_BODY_PARSES`: each holds the GIL, and the event loop takes turns with
    every runnable thread).  It waits at most ``budget_s`` for its turn: then 503
    ``unavailable`` with Retry-After, nothing checked.
    """
    body = await _read_body(request)
    if len(body) <= PARSE_ON_LOOP_MAX_BYTES and not heavy:
        data = parse_strict_json(body)
        return await anyio.to_thread.run_sync(check, data)
    with anyio.move_on_after(budget_s) as waiting:
        await LARGE_BODY_PARSES.acquire()
    if waiting.cancelled_caught:
        raise Unavailable(
            f"the service is busy checking other large requests: this one waited {budget_s:g} s for "
            "its turn; retry later",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
        )
    try:
        return await anyio.to_thread.run_sync(_parse_and_check, body, check)
    finally:
        LARGE_BODY_PARSES.release()


def _parse_and_check(body: bytes, check: Callable[[Any], T]) -> T:
    return check(parse_strict_json(body))


async def _read_body(request: Request) -> bytes:
    """The request's body, once its media type and encoding are ones we read."""
    ctype = request.headers.get("content-type")
    if ctype:  # none at all: read as JSON (docs/api.md)
        main, _, params = ctype.partition(";")
        main = main.strip().lower()
        if not (main == "application/json" or main.endswith("+json")):
            raise UnsupportedMediaType(f"send the body as application/json, not {main or 'nothing'}")
        for param in params.split(";"):
            key, _, value = param.partition("=")
            charset = value.strip().strip('"').lower()
            if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
                raise UnsupportedMediaType(f"send the body as UTF-8 JSON, not charset={charset or 'nothing'}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"send the body uncompressed: Content-Encoding {encoding} is not accepted")
    chunks = [chunk async for chunk in request.stream()]
    return b"".join(chunks)


_BODY_MODELS: dict[str, type[BaseModel]] = {}
_SCHEMA_PATCHES: list[Callable[[dict[str, Any]], None]] = []


def json_body(model: type[BaseModel], description: str = "", example: Any = None) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body is ``model`` as JSON (with an optional example)."""
    _BODY_MODELS[model.__name__] = model
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    if example is not None:
        media["example"] = example
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": media},
        }
    }


def add_schema_patch(fn: Callable[[dict[str, Any]], None]) -> None:
    """Run ``fn(components_schemas)`` after the body models are added (small corrections)."""
    _SCHEMA_PATCHES.append(fn)


def _merge(comps: dict[str, Any], model: type[BaseModel], mode: str) -> None:
    js = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
    defs = js.pop("$defs", {})
    for name, schema in {**defs, model.__name__: js}.items():
        if name in comps and comps[name] != schema:
            raise RuntimeError(f"two different OpenAPI schemas are named {name!r}")
        comps[name] = schema


def _problem_422(schema: dict[str, Any]) -> None:
    """FastAPI's default 422 entries describe its own error shape; ours is problem+json."""
    problem = {
        "description": "Invalid request: `errors` lists every bad field (problem+json)",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
    }
    for item in schema.get("paths", {}).values():
        for op in item.values():
            responses = op.get("responses", {}) if isinstance(op, dict) else {}
            entry = responses.get("422")
            if entry is not None and "application/json" in entry.get("content", {}):
                responses["422"] = problem
    text = json.dumps(schema.get("paths", {}))
    comps = schema.get("components", {}).get("schemas", {})
    if "#/components/schemas/HTTPValidationError" not in text:
        comps.pop("HTTPValidationError", None)
        if "#/components/schemas/ValidationError" not in json.dumps(comps):
            comps.pop("ValidationError", None)


def install_openapi(app: FastAPI, output_models: tuple[type[BaseModel], ...] = ()) -> None:
    """Make ``app.openapi()`` include the body models and ``output_models``."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in _BODY_MODELS.values():
            _merge(comps, model, "validation")
        for model in output_models:
            _merge(comps, model, "serialization")
        for patch in _SCHEMA_PATCHES:
            patch(comps)
        _problem_422(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
