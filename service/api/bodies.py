"""Request bodies: strict JSON reading, and their OpenAPI description.

Bodies are read here rather than by FastAPI so that (1) they are read by the CLI's strict
reader (:mod:`service.strict_json`: a key given twice, NaN, Infinity, numbers that overflow to
infinity and unstorable text are refused with the JSON pointer of every offending value),
(2) the solver's own validation (``solver.parse_request``, with its cross-field rules)
produces the 422, exactly as for the CLI, and (3) the size limit applies to streamed bodies
as well.
A route declares its body with ``openapi_extra=json_body(Model)``; :func:`install_openapi`
adds the model's schema to the document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import FastAPI, Request
from pydantic import BaseModel

from service.api.errors import Unavailable, UnsupportedMediaType
from service.strict_json import read_json_object


def parse_strict_json(body: bytes) -> dict[str, Any]:
    """Parse a JSON body (:func:`service.strict_json.read_json_object`): RequestInvalid (422)
    naming the place of every problem."""
    return read_json_object(body, "the request body")


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
