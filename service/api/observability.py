"""Structured JSON logs with a request id, Prometheus metrics, and the request middleware.

The middleware is plain ASGI (``BaseHTTPMiddleware`` would hide client disconnects): it
assigns or accepts ``X-Request-ID``, echoes it, refuses bodies larger than the limit (by
``Content-Length`` at once, or while a streamed body is read), counts requests and their
latency per route template, and logs one JSON line per request.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import PayloadTooLarge, internal_error, problem_response
from service.request_id import request_id_var

_RID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("capplan.access")

_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# uvicorn passes its message again with terminal colour codes: noise in a JSON line.
_SKIP_ATTRS = _STD_ATTRS | {"color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id and any ``extra``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for k, v in record.__dict__.items():
            if k not in _SKIP_ATTRS and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str, as_json: bool) -> None:
    """Send logs to stderr as JSON, unless the host (pytest, an embedding app) set logging up."""
    root = logging.getLogger()
    logging.getLogger("capplan").setLevel(level.upper())
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Our access line carries the request id; uvicorn's own would repeat it without.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "capplan_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "capplan_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.solves = Counter("capplan_solves", "Solves finished, by plan status", ["status"], registry=r)
        self.solve_seconds = Histogram(
            "capplan_solve_seconds",
            "Wall time of a solve in its worker",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.queue_depth = Gauge("capplan_queue_depth", "Solves waiting for a worker", registry=r)
        self.running = Gauge("capplan_solves_running", "Solves being run", registry=r)
        self.cache_hits = Counter("capplan_plan_cache_hits", "POSTs answered from a stored plan", registry=r)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestMiddleware:
    """Request id, body-size limit, HEAD, metrics and the access log (pure ASGI).

    ``HEAD`` is answered as ``GET`` without the body (RFC 9110 §9.3.2: same status and
    headers, ``Content-Length`` included): the routes see a GET, so every GET route answers
    HEAD too, and ``Allow`` names both.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        rid = given if _RID_OK.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        t0 = time.perf_counter()
        status = 500
        limit = self.max_body_bytes

        started = False
        head = scope.get("method") == "HEAD"
        # the server's scope keeps HEAD (uvicorn drops a HEAD answer's body by it): a copy is GET
        app_scope = {**scope, "method": "GET"} if head else scope

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                raw.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": raw}
            elif head and message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
            return message

        try:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                err = PayloadTooLarge(f"the request body is larger than {limit} bytes")
                response = problem_response(
                    Request(scope), status=err.status, slug=err.type, title=err.title, detail=err.detail
                )
                await response(scope, receive, send_with_id)
                return
            try:
                await self.app(app_scope, limited_receive, send_with_id)
            except Exception as exc:
                if started:  # the answer is on its way: nothing else can be said
                    raise
                await internal_error(Request(scope), exc)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - t0
            route = _route_label(app_scope)
            method = scope.get("method", "")
            if method not in _METHODS:
                method = "other"  # bounded label values, whatever clients send
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            access_log.info(
                "%s %s %s",
                method,
                scope.get("path", ""),
                status,
                extra={
                    "request_id": rid,
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "tenant": scope["state"].get("tenant"),
                },
            )
            request_id_var.reset(token)
