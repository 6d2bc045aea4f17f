"""Shared state of a running app and the dependencies routes declare (``Annotated`` aliases)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.errors import Unauthorized, Unavailable
from service.jobs import JobRunner
from service.observability import Metrics
from service.plans import PlanService
from service.settings import Settings
from service.store import Store

DEFAULT_TENANT = "default"


@dataclass
class AppState:
    """What the lifespan builds; ``request.app.state.capplan`` while the app runs."""

    settings: Settings
    metrics: Metrics
    store: Store
    runner: JobRunner
    plans: PlanService


async def get_state(request: Request) -> AppState:
    """(``async``: FastAPI runs plain-``def`` dependencies in a worker thread, a hop per request.)"""
    state = getattr(request.app.state, "capplan", None)
    if not isinstance(state, AppState):
        raise Unavailable("the service is starting or stopping")
    return state


StateDep = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="An API key of CAPPLAN_API_KEYS (when keys are set).")


async def get_tenant(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's tenant: from its API key when keys are configured, else 'default'."""
    keys = state.settings.api_keys
    if not keys:
        tenant = DEFAULT_TENANT
    else:
        challenge = 'Bearer realm="capplan"'
        if len(request.headers.getlist("authorization")) > 1:  # which key would count?
            raise Unauthorized(
                "send one Authorization header (this request has several)",
                headers={"WWW-Authenticate": challenge + ', error="invalid_request"'},
            )
        if credentials is None:
            raise Unauthorized(
                "send 'Authorization: Bearer <api key>'", headers={"WWW-Authenticate": challenge}
            )
        given = credentials.credentials.encode()
        found = None
        for key, name in keys.items():
            if hmac.compare_digest(given, key.encode()):
                found = name
        if found is None:
            raise Unauthorized(
                "unknown API key",
                headers={"WWW-Authenticate": challenge + ', error="invalid_token"'},
            )
        tenant = found
    request.scope.setdefault("state", {})["tenant"] = tenant
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]


run_sync = anyio.to_thread.run_sync
"""Run blocking work (database, validation) off the event loop: ``await run_sync(fn, *args)``."""
