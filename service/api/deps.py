"""Shared state of a running app and the dependencies routes declare (``Annotated`` aliases)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.errors import InvalidRequest, Unauthorized, Unavailable
from service.api.observability import Metrics
from service.api.plan_service import PlanService
from service.jobs.runner import JobRunner
from service.jobs.scenario_jobs import ScenarioJobs
from service.jobs.store import Store
from service.settings import Settings
from solver import FieldError
from solver.errors import quoted

DEFAULT_TENANT = "default"


@dataclass
class AppState:
    """What the lifespan builds; ``request.app.state.capplan`` while the app runs."""

    settings: Settings
    metrics: Metrics
    store: Store
    runner: JobRunner
    plans: PlanService
    scenarios: ScenarioJobs


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


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _declared(route: APIRoute) -> tuple[frozenset[str], bool]:
    """The query parameters ``route`` declares, and whether it authenticates its caller."""
    tree = list(_dependants(route.dependant))
    calls: list[Callable[..., Any] | None] = [d.call for d in tree]
    return frozenset(p.alias for d in tree for p in d.query_params), get_tenant in calls


async def known_query_only(request: Request) -> None:
    """Refuse the query parameters a route does not declare (422 naming each), as a body's
    unknown members are: ``?staus=infeasible`` must not list every plan.  An app-wide
    dependency, so it runs first: a route that authenticates does that before saying more."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    known, authenticates = _declared(route)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if not unknown:
        return
    if authenticates:  # a caller without a valid key learns nothing but 401
        await get_tenant(request, await get_state(request), await _bearer(request))
    takes = f"this route takes {', '.join(sorted(known))}" if known else "this route takes none"
    raise InvalidRequest(
        [FieldError(f"query:{name}", f"unknown query parameter {quoted(name)}: {takes}") for name in unknown]
    )


run_sync = anyio.to_thread.run_sync
"""Run blocking work (database, validation) off the event loop: ``await run_sync(fn, *args)``."""
