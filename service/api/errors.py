"""RFC 9457 problem details: one error base, one set of handlers.

Every error the service answers is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, ``instance`` (the request path) and ``request_id``; validation
problems add ``errors: [{path, message}]`` with JSON pointers into the request body.  Input
values are never echoed (a NaN in an echo would turn a 422 into a 500), and a 500 says
nothing about internals.  A database outage (:func:`database_unavailable`) is not a bug: it
answers 503 ``unavailable`` with ``Retry-After``, and is logged with its exception.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.jobs.runner import QueueFullError
from solver import FieldError, ModelTooLarge, RequestInvalid
from solver.errors import CheckTooLong, pointer_token

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://capplan.dev/problems/"
log = logging.getLogger("capplan.service")


class FieldProblem(BaseModel):
    path: str = Field(..., description="JSON pointer into the request body ('/' = the whole body).")
    message: str


class ProblemDetail(BaseModel):
    """An RFC 9457 problem; extra members are allowed (``errors``, ``retry_after_s`` …).

    The schema of what :func:`problem_response` writes: every member but ``errors`` always
    (``detail`` and ``request_id`` may be null), ``errors`` on validation problems only."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(..., description="URI naming the kind of problem (see docs/api.md).")
    title: str
    status: int
    detail: str | None
    instance: str = Field(..., description="The request path.")
    request_id: str | None = Field(..., description="Also in the X-Request-ID response header.")
    errors: list[FieldProblem] | None = Field(None, description="Validation problems, one per field.")


class ServiceError(Exception):
    """Base of every error the service raises on purpose; rendered by :func:`problem_response`."""

    status: int = 500
    type: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


class InvalidRequest(ServiceError):
    status, type, title = 422, "invalid-request", "The request is invalid"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        n = len(errors)
        super().__init__(
            detail or f"{n} problem{'s' if n != 1 else ''} in the request",
            errors=[e.as_dict() for e in errors],
        )


class ModelTooLargeError(ServiceError):
    status, type, title = 422, "model-too-large", "The model would be too large"


class CheckTooLongError(ServiceError):
    status, type, title = 422, "check-too-long", "The request takes too long to check"


class Unauthorized(ServiceError):
    status, type, title = 401, "unauthorized", "Authentication required"


class NotFound(ServiceError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(ServiceError):
    status, type, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ServiceError):
    status, type, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(ServiceError):
    status, type, title = 415, "unsupported-media-type", "Unsupported media type"


class QueueFull(ServiceError):
    status, type, title = 429, "queue-full", "Too many solves waiting"


class Unavailable(ServiceError):
    status, type, title = 503, "unavailable", "Service unavailable"


def type_uri(slug: str) -> str:
    return PROBLEM_BASE + slug


def _request_id(request: Request) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


class ProblemJSONResponse(JSONResponse):
    """JSON that renders whatever text a message holds: a character UTF-8 cannot encode (half
    of a surrogate pair, from a ``\\ud800`` escape) is written as that escape again."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def problem_response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response (the request id goes in the body and the header)."""
    rid = _request_id(request)
    body: dict[str, Any] = {
        "type": type_uri(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": rid,
    }
    body.update({k: v for k, v in extensions.items() if v is not None})
    out_headers = dict(headers or {})
    if rid:
        out_headers["X-Request-ID"] = rid
    return ProblemJSONResponse(body, status_code=status, headers=out_headers)


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, parts = parts[0], parts[1:]
        if where == "header":  # FastAPI names headers in lower case: Idempotency-Key, as sent
            parts = ["-".join(w.capitalize() for w in p.split("-")) for p in parts]
        if where != "body":
            return f"{where}:" + "/".join(parts)
    return "/" + "/".join(pointer_token(p) for p in parts)


def as_service_error(exc: Exception) -> ServiceError:
    """The service error ``exc`` is answered as: itself, or what a library or runner error means
    to a client (an invalid request, a model too large, a check too long, a full queue)."""
    if isinstance(exc, RequestInvalid):
        return InvalidRequest(exc.errors)
    if isinstance(exc, ModelTooLarge):
        if exc.table is None:
            said = f"the model would have {exc.variables} variables"
        else:
            said = f"the request would derive {exc.size} {exc.table}"
        return ModelTooLargeError(
            f"{said}; this service accepts at most {exc.limit} (fewer periods, sites, hardware or "
            "workloads make it smaller)",
            variables=exc.variables,
            limit=exc.limit,
            table=exc.table,
            size=exc.size if exc.table is not None else None,
        )
    if isinstance(exc, CheckTooLong):
        return CheckTooLongError(str(exc), budget_s=exc.budget_s)
    if isinstance(exc, QueueFullError):
        seconds = exc.retry_after_s
        return QueueFull(
            f"{exc.waiting} solves are waiting (limit {exc.limit}); retry in about {seconds} s",
            headers={"Retry-After": str(seconds)},
            retry_after_s=seconds,
        )
    if not isinstance(exc, ServiceError):
        raise TypeError(f"{type(exc).__name__} is not a service error")
    return exc


SERVICE_ERRORS = (ServiceError, RequestInvalid, ModelTooLarge, CheckTooLong, QueueFullError)
"""What :func:`_service_error` renders (:func:`as_service_error`)."""


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    err = as_service_error(exc)
    return problem_response(
        request,
        status=err.status,
        slug=err.type,
        title=err.title,
        detail=err.detail,
        headers=err.headers,
        **err.extensions,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"path": _pointer(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
        for e in exc.errors()  # only loc and msg are used: the input is never echoed
    ]
    return problem_response(
        request,
        status=422,
        slug="invalid-request",
        title=InvalidRequest.title,
        detail=f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the request",
        errors=errors,
    )


_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    title = detail or "HTTP error"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the methods of the first route on the path only
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(
        request,
        status=exc.status_code,
        slug=slug,
        title=title,
        detail=detail,
        headers=headers,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this request's path (HEAD wherever GET:
    the request middleware answers it)."""
    methods = set()
    for method in ("DELETE", "GET", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


DATABASE_RETRY_AFTER_S = 5
"""``Retry-After`` of the 503 a database outage answers."""

_PG_UNAVAILABLE = ("08", "28", "53", "57", "58")
"""SQLSTATE classes of a PostgreSQL server that cannot serve us now: connection exception,
invalid authorization (e.g. a rotated password), insufficient resources (too many connections,
disk full, out of memory), operator intervention (shutting down, starting up, statement
cancelled), system error (I/O)."""


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be used right now (an outage: connection
    refused or lost, server shutting down or out of resources, SQLite file busy or its disk
    full or failing), as opposed to a bug (bad SQL, a missing table) or an integrity error."""
    if isinstance(exc, SATimeoutError):  # every pooled connection is taken and none came back
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # the driver lost the connection mid-statement
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlite_name = getattr(exc.orig, "sqlite_errorname", None)
    if sqlite_name is not None:  # SQLite says OperationalError for SQL errors too
        return str(sqlite_name).startswith(
            ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_NOMEM")
        )
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate is None or str(sqlstate)[:2] in _PG_UNAVAILABLE  # None: no server answer at all


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database outage is a 503 the client may retry (logged with its exception, as /readyz
    reports it); any other database error is a bug: :func:`internal_error`."""
    if not database_unavailable(exc):
        return internal_error(request, exc)
    log.error(
        "database unavailable",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"path": request.url.path},
    )
    return problem_response(
        request,
        status=Unavailable.status,
        slug=Unavailable.type,
        title=Unavailable.title,
        detail=f"the database cannot be used right now; retry in {DATABASE_RETRY_AFTER_S} s",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        database="unreachable",
    )


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    """The 500 of an unexpected exception: logged with its traceback, answered without it.

    Rendered by the request middleware (:mod:`service.api.observability`), so that the exception
    stops there: one left to reach uvicorn would make it close the keep-alive connection, and
    the client's next request on it would fail with a reset.
    """
    log.error(
        "unhandled error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"path": request.url.path},
    )
    return problem_response(
        request,
        status=500,
        slug="internal-error",
        title="Internal server error",
        detail="an unexpected error occurred; quote the request id when reporting it",
    )


def add_exception_handlers(app: FastAPI) -> None:
    """Render every error of the app as problem+json (unexpected ones: :func:`internal_error`)."""
    for kind in SERVICE_ERRORS:
        app.add_exception_handler(kind, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)


_DESCRIPTIONS = {
    400: "Malformed request (problem+json)",
    401: "Missing or unknown API key (problem+json)",
    404: "No such resource for this tenant (problem+json)",
    409: "Conflict, e.g. an Idempotency-Key reused with another body (problem+json)",
    413: "Request body larger than CAPPLAN_MAX_BODY_BYTES (problem+json)",
    415: "Body is not JSON (problem+json)",
    422: "Invalid request: `errors` lists every bad field as a JSON pointer (problem+json)",
    429: "Solve queue full; retry after `Retry-After` seconds (problem+json)",
    500: "Unexpected error, no internals (problem+json)",
    503: "Starting, stopping, not ready, or the database is unavailable; retry after `Retry-After` "
    "seconds when given (problem+json)",
}


def problems(*codes: int, app_state: bool = True) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting the problem answers of a route: ``codes``, 500, and
    503 unless ``app_state`` is False (a route that needs neither the running app nor the
    database, e.g. /healthz)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in (*codes, 500, *((503,) if app_state else ())):
        out[code] = {
            "description": _DESCRIPTIONS.get(code, "Problem (problem+json)"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
        }
        if code in _HEADERS:
            out[code]["headers"] = _HEADERS[code]
    return out


_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer challenge (RFC 6750)", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}},
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying (a database outage, a shutdown)",
            "schema": {"type": "integer"},
        }
    },
}
