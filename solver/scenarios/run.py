"""Running scenarios: plain, picklable tasks, the worker function, and the mapper they go through.

``mapper(fn, tasks)`` yields ``fn(task)`` for every task, in any order: the builtin ``map``
(in-process) or a job runner's (:mod:`service.jobs.mapper`).  Each result is handed to
``on_result`` as it comes (persist the plan, advance a progress bar) and not kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from solver.errors import CapplanError
from solver.planner import plan
from solver.scenarios.results import ScenarioRow
from solver.scenarios.specs import Json
from solver.schema import Plan
from solver.solve import WarmStarts


@dataclass(frozen=True)
class ScenarioTask:
    """Plain, picklable work for one scenario."""

    index: int
    request: Json
    plan_id: str
    max_variables: int | None = None
    max_time_limit_s: float | None = None


@dataclass
class ScenarioOutcome:
    index: int
    plan: Plan | None
    error: str | None = None


WORKER_WARM_STARTS = WarmStarts()
"""This process's bases of the LPs it solved, by structure: a worker's next scenario of a sweep or
frontier starts from the last one of its structure (its row says so: ``warm_start``)."""


def solve_scenario(task: ScenarioTask) -> ScenarioOutcome:
    """Solve one scenario (runs in a worker process): a plan, or the error that stopped it."""
    try:
        p = plan(
            task.request,
            plan_id=task.plan_id,
            max_variables=task.max_variables,
            max_time_limit_s=task.max_time_limit_s,
            warm=WORKER_WARM_STARTS,
        )
    except CapplanError as exc:
        return ScenarioOutcome(task.index, None, f"{type(exc).__name__}: {exc}")
    return ScenarioOutcome(task.index, p)


Worker = Callable[[ScenarioTask], ScenarioOutcome]
Mapper = Callable[[Worker, Sequence[ScenarioTask]], Iterable[ScenarioOutcome]]
"""``mapper(fn, tasks)`` yields ``fn(task)`` for every task, in any order (builtin ``map``,
or a job runner's: :mod:`service.jobs.mapper`)."""


OnResult = Callable[[ScenarioRow, Plan | None, Json, int, int], None]
"""``on_result(row, plan, request, done, total)``: called in the caller's process as each
scenario finishes (persist the plan, advance a progress bar).  Raising stops the run."""


@dataclass
class RunOptions:
    mapper: Mapper = map
    on_result: OnResult | None = None
    new_plan_id: Callable[[int], str] = field(default=lambda _i: uuid.uuid4().hex)
    cancelled: Callable[[], bool] = field(default=lambda: False)
    worker: Worker = solve_scenario
    max_variables: int | None = None
    max_time_limit_s: float | None = None


def run_tasks(
    tasks: list[ScenarioTask],
    requests: dict[int, Json],
    make_row: Callable[[ScenarioOutcome], ScenarioRow],
    opts: RunOptions,
    done0: int,
    total: int,
) -> tuple[dict[int, ScenarioRow], bool]:
    """Map the tasks, build their rows, report each; (rows by index, cancelled).

    Plans are handed to ``on_result`` and not kept: a long sweep holds rows only.
    """
    rows: dict[int, ScenarioRow] = {}
    if not tasks:
        return rows, False
    results = opts.mapper(opts.worker, tasks)
    try:
        for out in results:
            row = make_row(out)
            rows[out.index] = row
            if opts.on_result is not None:
                opts.on_result(row, out.plan, requests[out.index], done0 + len(rows), total)
            del out
            if opts.cancelled() and len(rows) < len(tasks):
                return rows, True
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # a generator mapper stops its workers here
    return rows, len(rows) < len(tasks)  # a mapper that ends early was cancelled
