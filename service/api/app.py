"""The FastAPI application: ``create_app(settings)`` (``capplan serve`` runs it as a factory).

Start-up first takes the process's hold on the database (:mod:`service.jobs.ownership`: one process
per SQLite file, one per replica id on PostgreSQL; a process that cannot take it stops before it
reads or writes anything), then opens the store (creating or upgrading tables), starts the job runner
(``CAPPLAN_RUNNER``: local processes or a Ray cluster), and takes over every unfinished plan
and job that no live replica holds: rows without an owner, rows whose lease expired, and
rows of this replica id (an earlier process of the same id, e.g. after ``kill -9``).  A
:class:`~service.jobs.leases.LeaseKeeper` then renews this replica's leases and keeps taking over
the work of replicas that go silent, so several replicas can share one PostgreSQL database.
Shutdown stops taking solves, lets running ones finish for ``CAPPLAN_SHUTDOWN_GRACE_S``,
re-queues the rest in the database and releases this replica's leases, so nothing accepted
is lost and another replica may continue at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI

from service.api.bodies import install_openapi
from service.api.deps import AppState, known_query_only
from service.api.errors import ProblemDetail, add_exception_handlers
from service.api.observability import Metrics, RequestMiddleware, configure_logging
from service.api.openapi import finish_openapi
from service.api.plan_service import PlanService
from service.api.routes import catalog, health, plans, scenarios, validate
from service.jobs.backends import make_runner
from service.jobs.leases import LeaseKeeper
from service.jobs.ownership import Hold, StartupError, hold_database
from service.jobs.runner import JobRunner
from service.jobs.scenario_jobs import ScenarioJobs
from service.jobs.store import Store
from service.settings import Settings, get_settings

log = logging.getLogger("capplan.service")

ROUTERS = (health.router, plans.router, validate.router, catalog.router, scenarios.router)
"""Every route of the app, by module (one per resource)."""

_STOPPERS: set[Callable[[], Coroutine[Any, Any, None]]] = set()


def request_stop() -> None:
    """Begin the graceful stop of every app of this process (on the event loop).

    Called by ``capplan serve`` when uvicorn begins its shutdown, *before* it waits for open
    connections: a synchronous POST waiting for its solve would otherwise keep its connection
    open past the grace (uvicorn runs the lifespan's end only once connections are done).  The
    runner then lets running solves finish for ``CAPPLAN_SHUTDOWN_GRACE_S`` and interrupts the
    rest, so those POSTs answer 503 with the plan's Location within the grace.
    """
    for stop in list(_STOPPERS):
        asyncio.get_running_loop().create_task(stop())


def create_app(
    settings: Settings | None = None, runner: JobRunner | None = None, hold: Hold | None = None
) -> FastAPI:
    """Build the app; ``runner`` replaces the local process pool (tests, other backends);
    ``hold``: the database hold its caller took already (``capplan serve``), else the app
    takes one at start (:func:`service.jobs.ownership.hold_database`) and releases it at the end."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before anything is read or written: a second process on a live database stops here.
        try:
            db_hold = hold if hold is not None else await anyio.to_thread.run_sync(hold_database, settings)
        except StartupError as exc:
            log.error("capplan service cannot start: %s", exc)
            raise
        try:
            async with _serving(app, settings, metrics, runner, db_hold):
                yield
        finally:
            if hold is None:
                db_hold.release()

    app = FastAPI(
        title="capplan",
        version="1.0",
        summary="Inference-capacity planning: a linear program over sites, accelerators, workloads and money.",
        description="Errors are RFC 9457 `application/problem+json`. See docs/api.md.",
        lifespan=lifespan,
        dependencies=[Depends(known_query_only)],
    )
    add_exception_handlers(app)
    app.add_middleware(RequestMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    install_openapi(app, output_models=(ProblemDetail,))
    finish_openapi(app, keys_configured=bool(settings.api_keys))
    return app


async def _started(settings: Settings, metrics: Metrics, runner: JobRunner | None) -> tuple[AppState, int]:
    """Open the store, start the runner, take over the work no live replica holds: the app's
    state, and how many plans were queued again."""
    store = Store(
        settings.database_url,
        schema=settings.database_schema,
        owner=settings.replica_id,
        lease_s=settings.lease_s,
    )
    await anyio.to_thread.run_sync(store.create_all)
    job_runner = runner or make_runner(settings)
    job_runner.start()
    state = AppState(
        settings=settings,
        metrics=metrics,
        store=store,
        runner=job_runner,
        plans=PlanService(store=store, runner=job_runner, settings=settings, metrics=metrics),
        scenarios=ScenarioJobs(store, job_runner, settings),
    )
    requeued = await anyio.to_thread.run_sync(state.plans.recover)
    await anyio.to_thread.run_sync(state.scenarios.resume)
    return state, requeued


@asynccontextmanager
async def _serving(
    app: FastAPI, settings: Settings, metrics: Metrics, runner: JobRunner | None, db_hold: Hold
) -> AsyncIterator[None]:
    state, requeued = await _started(settings, metrics, runner)
    keeper = LeaseKeeper(state.store, state.plans, state.scenarios, lease_s=settings.lease_s, hold=db_hold)
    keeper.start()
    app.state.capplan = state
    stopping: asyncio.Task[None] | None = None

    async def stop_taking_work() -> None:
        log.info("capplan service stopping")
        keeper.drain()  # keep renewing while running solves finish, take nothing new
        state.scenarios.stop()  # before the runner drains: no new scenarios
        await anyio.to_thread.run_sync(state.runner.shutdown, settings.shutdown_grace_s)
        await anyio.to_thread.run_sync(state.plans.close)

    async def begin_stop() -> None:  # once, from request_stop or the lifespan's end
        nonlocal stopping
        if stopping is None:
            stopping = asyncio.get_running_loop().create_task(stop_taking_work())
        await asyncio.shield(stopping)

    _STOPPERS.add(begin_stop)
    log.info(
        "capplan service started",
        extra={
            "workers": settings.workers,
            "runner": settings.runner,
            "replica": settings.replica_id,
            "requeued": requeued,
            "database": state.store.engine.dialect.name,
        },
    )
    try:
        yield
    finally:
        _STOPPERS.discard(begin_stop)
        await begin_stop()
        keeper.stop()
        try:
            await anyio.to_thread.run_sync(state.store.release_all)
        except Exception:
            log.exception("could not release this replica's leases")
        app.state.capplan = None
        state.store.dispose()
