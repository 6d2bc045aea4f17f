"""Liveness, readiness and metrics (open, even when API keys are set)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import StateDep, run_sync
from service.api.errors import Unavailable, problems
from service.api.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz", summary="The process is up", response_model=Health, responses=problems(app_state=False)
)
async def healthz() -> Health:
    """Answers as long as the event loop runs (solves never run on it)."""
    return Health()


@router.get(
    "/readyz",
    summary="Database and workers are ready",
    response_model=Readiness,
    responses=problems(503),
)
async def readyz(state: StateDep) -> Readiness:
    """200 when the database answers and at least one worker can take a solve, else 503."""
    try:
        await run_sync(state.store.ping)
    except OSError as exc:  # the disk of a SQLite file (Store.ping)
        raise Unavailable(f"database: {exc}", database="disk full") from None
    except Exception as exc:
        raise Unavailable(f"database: {type(exc).__name__}", database="unreachable") from None
    ok, why = state.runner.ready()
    if not ok:
        raise Unavailable(f"workers: {why}", workers=why)
    return Readiness(
        database="ok", workers=why, queue_depth=state.runner.queue_depth(), running=state.runner.running()
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **problems(),
    },
)
async def metrics(request: Request, state: StateDep) -> Response:
    """Requests, latency, solves by status, solve seconds, queue depth."""
    m = state.metrics
    m.queue_depth.set(state.runner.queue_depth())
    m.running.set(state.runner.running())
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
