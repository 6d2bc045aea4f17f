"""``/v1/plans``: solve (synchronously or not), list, read, cancel/delete; a finished plan's
report (HTML), its tables (CSV) and its diff against another plan.

A plan still queued or running has no report, tables or diff yet: 409.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request, Response

from service.api.bodies import json_body, read_checked_body
from service.api.deps import AppState, StateDep, TenantDep, run_sync
from service.api.errors import Conflict, InvalidRequest, NotFound, Unavailable, problems
from service.api.pages import csv_file, html_page, html_responses
from service.api.plan_service import Outcome
from service.api.schemas import EXAMPLE_REQUEST, PlanListItem, PlanPage
from service.jobs.store import UNFINISHED, Cursor, PlanRow
from service.report import TABLES, render_plan_report, table_csv
from service.strict_json import storable
from solver import FieldError, Plan, PlanRequest, RequestInvalid, parse_request
from solver.diff import PlanDiff, diff_plans
from solver.errors import quoted
from solver.schema import PlanStatus

router = APIRouter(prefix="/v1/plans", tags=["plans"])

JSON = "application/json"
_PLAN_CONTENT = {JSON: {"schema": {"$ref": "#/components/schemas/Plan"}}}
_LOCATION = {"description": "Path of the plan", "schema": {"type": "string"}}


def encode_cursor(row: PlanRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, _, plan_id = raw.partition("|")
        created = dt.datetime.fromisoformat(stamp)
        if created.tzinfo is None or not plan_id or not storable(plan_id):
            raise ValueError(raw)
        created = created.astimezone(dt.UTC)  # one the database can store (not year 0 or 10000)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            [FieldError("query:cursor", "not a cursor given by this service (use the 'next' link)")]
        ) from None
    return Cursor(created, plan_id)


def _plan_response(
    row_or_json: PlanRow | str, status_code: int, headers: dict[str, str] | None = None
) -> Response:
    body = row_or_json if isinstance(row_or_json, str) else row_or_json.plan
    return Response(content=body, status_code=status_code, media_type=JSON, headers=headers)


def _wants_async(prefer: str | None) -> bool:
    if not prefer:
        return False
    return any(p.split(";", 1)[0].strip().lower() == "respond-async" for p in prefer.split(","))


def _no_cache(cache_control: str | None) -> bool:
    if not cache_control:
        return False
    return any(p.strip().lower() in ("no-cache", "no-store") for p in cache_control.split(","))


@router.post(
    "",
    summary="Solve a plan request",
    status_code=201,
    response_model=Plan,
    openapi_extra=json_body(PlanRequest, "A PlanRequest (see docs/api.md and DESIGN.md).", EXAMPLE_REQUEST),
    responses={
        200: {
            "description": "The stored plan of an identical request (or of this Idempotency-Key).",
            "content": _PLAN_CONTENT,
            "headers": {"Location": _LOCATION},
        },
        201: {
            "description": "Solved: the new plan (whatever its status, infeasible included).",
            "headers": {"Location": _LOCATION},
        },
        202: {
            "description": "Accepted (`Prefer: respond-async`): the plan, queued; poll `Location`.",
            "content": _PLAN_CONTENT,
            "headers": {"Location": _LOCATION},
        },
        **problems(401, 409, 413, 415, 422, 429, 503),
    },
)
async def create_plan(
    request: Request,
    state: StateDep,
    tenant: TenantDep,
    prefer: Annotated[str | None, Header(description="`respond-async` answers 202 at once.")] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Makes retries safe: same key and body, same plan (1 to 255 printable ASCII "
            "characters, as the IETF Idempotency-Key draft's string).",
            min_length=1,
            max_length=255,
            pattern=r"^[\x20-\x7e]+$",
        ),
    ] = None,
    cache_control: Annotated[
        str | None, Header(description="`no-cache` solves again even if an identical plan is stored.")
    ] = None,
) -> Response:
    """Validate, then solve (or reuse the stored plan of an identical request)."""
    key = idempotency_key
    use_cache = not _no_cache(cache_control)
    prep = await read_checked_body(request, state.plans.prepare, budget_s=state.settings.check_budget_s)
    made = await run_sync(  # store, queue
        lambda: state.plans.create(tenant, prep, idempotency_key=key, use_cache=use_cache)
    )
    row, created = made.row, made.created
    location = f"/v1/plans/{row.id}"
    headers = {"Location": location}
    if row.status not in UNFINISHED:
        return _plan_response(row, 201 if created else 200, headers)
    if _wants_async(prefer):
        headers["Preference-Applied"] = "respond-async"
        fresh = row if created else await run_sync(state.store.get_plan, tenant, row.id)
        if fresh is None:
            raise NotFound("the plan was deleted")
        if fresh.status not in UNFINISHED:
            return _plan_response(fresh, 200, headers)
        return _plan_response(fresh, 202, headers)
    outcome = Outcome("moved") if made.waiter is None else await asyncio.wrap_future(made.waiter)
    if outcome.kind == "moved":
        # Solved by another replica (or being recorded right now): wait for it in the database.
        done = await _finished_in_db(state, tenant, row.id)
        if done is None:
            raise Conflict("the plan was deleted before its solve finished", plan_id=row.id)
        return _plan_response(done, 201 if created else 200, headers)
    if outcome.kind == "finished" and outcome.plan_json is not None:
        return _plan_response(outcome.plan_json, 201 if created else 200, headers)
    if outcome.kind == "cancelled":
        raise Conflict("the plan was deleted before its solve finished", plan_id=row.id)
    raise Unavailable(
        "the service is stopping; the plan stays queued and is solved after the restart",
        headers={"Location": location, "Retry-After": "10"},
        plan_id=row.id,
    )


async def _finished_in_db(state: AppState, tenant: str, plan_id: str) -> PlanRow | None:
    """Poll the store until the plan has finished (None: it was deleted)."""
    delay = 0.05
    while True:
        row = await run_sync(state.store.get_plan, tenant, plan_id)
        if row is None or row.status not in UNFINISHED:
            return row
        await asyncio.sleep(delay)
        delay = min(0.5, delay * 1.5)


@router.get(
    "",
    summary="List plans, newest first",
    response_model=PlanPage,
    responses=problems(401, 422),
)
async def list_plans(
    state: StateDep,
    tenant: TenantDep,
    status: Annotated[list[PlanStatus] | None, Query(description="Only plans in these statuses.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 20,
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page (also in its `next` link).")
    ] = None,
) -> PlanPage:
    """The caller's plans (summaries), newest first, a page at a time."""
    before = decode_cursor(cursor) if cursor else None
    rows = await run_sync(
        lambda: state.store.list_plans(tenant, statuses=status or (), limit=limit + 1, before=before)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        PlanListItem(
            id=r.id,
            name=r.name,
            status=r.status,
            objective_kind=r.objective_kind,
            objective_value=r.objective_value,
            error=r.error,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            href=f"/v1/plans/{r.id}",
        )
        for r in rows
    ]
    nxt = next_cursor = None
    if more and rows:
        next_cursor = encode_cursor(rows[-1])
        params = [("limit", str(limit)), ("cursor", next_cursor)]
        params += [("status", s) for s in status or ()]
        nxt = "/v1/plans?" + urlencode(params)
    return PlanPage(items=items, next=nxt, next_cursor=next_cursor)


@router.get(
    "/{plan_id}",
    summary="Read a plan",
    response_model=Plan,
    responses=problems(401, 404),
)
async def get_plan(plan_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """The plan: queued, running, or finished with its tables, prices and diagnosis."""
    row = await run_sync(state.store.get_plan, tenant, plan_id)
    if row is None:
        raise NotFound(f"no plan {quoted(plan_id)}")
    return _plan_response(row, 200)


@router.delete(
    "/{plan_id}",
    summary="Cancel and/or delete a plan",
    status_code=204,
    response_class=Response,
    responses=problems(401, 404),
)
async def delete_plan(plan_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Stop a queued or running solve, and remove the plan (finished or not)."""
    if not await run_sync(state.plans.delete, tenant, plan_id):
        raise NotFound(f"no plan {quoted(plan_id)}")
    return Response(status_code=204)


def _finished_plan(state: AppState, tenant: str, plan_id: str, once: str) -> PlanRow:
    """The tenant's finished plan: 404 if there is none, 409 (``{once}`` once it has finished)
    while it is queued or running."""
    row = state.store.get_plan(tenant, plan_id)
    if row is None:
        raise NotFound(f"no plan {quoted(plan_id)}")
    if row.status in UNFINISHED:
        raise Conflict(
            f"plan {quoted(plan_id)} is still {row.status}: {once} once it has finished", plan_id=plan_id
        )
    return row


def _request_of(row: PlanRow) -> PlanRequest | None:
    """The stored request (for fleet MW and vendor shares); None if it no longer parses."""
    try:
        return parse_request(json.loads(row.request))
    except (ValueError, RequestInvalid):
        return None


@router.get(
    "/{plan_id}/report",
    summary="A plan's report (self-contained HTML)",
    response_class=Response,
    responses={
        **html_responses("The report: one HTML file, no script, no fetches; prints well."),
        **problems(401, 404, 409),
    },
)
async def plan_report(plan_id: str, state: StateDep, tenant: TenantDep) -> Response:
    """Headline, fleet, power, demand, cost, vendor shares, shadow prices, contracts — or,
    for an infeasible plan, its diagnosis first."""

    def render() -> str:
        row = _finished_plan(state, tenant, plan_id, "its report exists")
        return render_plan_report(Plan.model_validate_json(row.plan), _request_of(row))

    return html_page(await run_sync(render), f"plan-{plan_id}.html")


@router.get(
    "/{plan_id}/tables/{name}.csv",
    summary="A table of a plan as CSV",
    response_class=Response,
    responses={
        200: {
            "description": "One header row, one row per record, plain numbers. Tables: "
            + ", ".join(TABLES)
            + ".",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **problems(401, 404, 409),
    },
)
async def plan_table(plan_id: str, name: str, state: StateDep, tenant: TenantDep) -> Response:
    """One of :data:`service.report.TABLES` (fleet, periods, sites, workloads, shadow_prices, idle_purchases)."""
    if name not in TABLES:
        raise NotFound(f"no table {quoted(name)}: the tables are {', '.join(TABLES)}")

    def render() -> str:
        row = _finished_plan(state, tenant, plan_id, "its tables exist")
        return table_csv(Plan.model_validate_json(row.plan), name)

    return csv_file(await run_sync(render), f"plan-{plan_id}-{name}.csv")


@router.get(
    "/{a}/diff/{b}",
    summary="What changed from plan a to plan b",
    response_model=PlanDiff,
    responses=problems(401, 404, 409),
)
async def diff(a: str, b: str, state: StateDep, tenant: TenantDep) -> PlanDiff:
    """Units by hardware, site and period; cost components; binding limits; shadow prices
    (every delta is b − a)."""

    def load(plan_id: str) -> Plan:
        return Plan.model_validate_json(_finished_plan(state, tenant, plan_id, "diff it").plan)

    def run() -> PlanDiff:
        return diff_plans(load(a), load(b))

    return await run_sync(run)
