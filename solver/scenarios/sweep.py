"""Sweeps: a base request and parameters addressed by path (:mod:`solver.scenarios.paths`).

Mode ``grid`` runs the cartesian product, ``one_at_a_time`` the base plus each parameter moved
alone (a tornado).  Everything is checked before anything runs: every path, every value (each
applied alone to the base and validated like a request), every generated scenario, and the
scenario cap.  Problems come back together as one :class:`~solver.errors.RequestInvalid`
whose paths point into the sweep body (``/parameters/0/path``, ``/base/sites/0/power_mw``).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from solver.errors import CheckTooLong, FieldError, RequestInvalid
from solver.scenarios.paths import NotWhole, PathError, Step, Target, apply_value, resolve_path, scaled
from solver.scenarios.results import ScenarioRow, SweepResult, row_from_plan, tornado
from solver.scenarios.run import RunOptions, ScenarioOutcome, ScenarioTask, run_tasks
from solver.scenarios.specs import (
    DEFAULT_MAX_SCENARIOS,
    MAX_VALUE_DEPTH,
    Json,
    Mode,
    SweepParameter,
    SweepSpec,
    base_request,
    parse_spec,
)
from solver.validate import parse_request

MAX_ERRORS = 50
"""Most problems one invalid sweep reports (the first ones found)."""


@dataclass
class Scenario:
    index: int
    values: dict[str, Any]
    factors: dict[str, float]
    parameter: str | None
    request: Json


@dataclass
class PreparedSweep:
    mode: Mode
    base: Json
    paths: list[str]
    scenarios: list[Scenario]
    spec: SweepSpec | None = None

    def body(self) -> Json:
        """The sweep as a JSON body (explicit base), from which it can be prepared again."""
        params = [] if self.spec is None else [p.model_dump(exclude_none=True) for p in self.spec.parameters]
        return {"base": self.base, "parameters": params, "mode": self.mode}

    def without(self, indices: set[int]) -> PreparedSweep:
        """The same sweep minus the scenarios already run (to resume it)."""
        rest = [sc for sc in self.scenarios if sc.index not in indices]
        return PreparedSweep(self.mode, self.base, self.paths, rest, self.spec)


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels deep (a scalar: 0,
    ``[]``: 1, ``[[1]]``: 2).  Iterative: any depth is measured without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth + 1 > limit:
                return True
            items = node.values() if isinstance(node, dict) else node
            stack.extend((x, depth + 1) for x in items if isinstance(x, (list, dict)))
    return False


def scenario_count(spec: SweepSpec) -> int:
    sizes = [len(p.options) for p in spec.parameters]
    return math.prod(sizes) if spec.mode == "grid" else 1 + sum(sizes)


def prepare_sweep(
    data: SweepSpec | Mapping[str, Any],
    max_scenarios: int = DEFAULT_MAX_SCENARIOS,
    check_budget_s: float | None = None,
) -> PreparedSweep:
    """Check a sweep completely and generate its scenario requests (nothing is solved).

    The cheap checks come first: the scenario cap, the paths and their overlaps.  A sweep over
    the cap, or with more than :data:`MAX_ERRORS` problems already, is refused without
    checking its values.  Checking the values and scenarios costs their number times the
    base's length; with ``check_budget_s`` it stops once that many seconds have passed
    (CheckTooLong).

    Raises
    ------
    RequestInvalid
        Naming every problem, up to :data:`MAX_ERRORS` (the last then says more were left
        out): bad base fields (``/base/...``), unknown or overlapping paths
        (``/parameters/i/path``), values of the wrong type or nested more than
        :data:`MAX_VALUE_DEPTH` levels deep (``/parameters/i/values/j``),
        unscalable bases (``/parameters/i/scale``), invalid combinations and the cap
        (``/parameters``).
    CheckTooLong
        The checks took over ``check_budget_s``.
    """
    budget = _Budget(time.monotonic(), check_budget_s)
    spec: SweepSpec = parse_spec(SweepSpec, data)
    base = base_request(spec.base)
    errors: list[FieldError] = []
    total = scenario_count(spec)
    if total > max_scenarios:
        errors.append(
            FieldError(
                "/parameters",
                f"the {spec.mode} sweep would run {total} scenarios, more than the cap of {max_scenarios}",
            )
        )
    targets = _targets(spec, base, errors)
    errors.extend(_overlaps(spec.parameters, targets))
    if total > max_scenarios or len(errors) > MAX_ERRORS:  # no point checking every value
        raise RequestInvalid(_capped(errors))
    budget.checks = sum(len(p.options) for p in spec.parameters) + (
        total if spec.mode == "grid" and len(targets) > 1 else 0
    )
    options = _options(spec, base, targets, errors, budget)
    if errors:
        raise RequestInvalid(_capped(errors))
    tgts = [t for t in targets if t is not None]
    scenarios = _scenarios(spec, base, tgts, options)
    if spec.mode == "grid" and len(tgts) > 1:  # values valid alone may clash together
        errors = _clashes(scenarios, budget, done=budget.checks - total)
        if errors:
            raise RequestInvalid(_capped(errors))
    return PreparedSweep(spec.mode, base, [p.path for p in spec.parameters], scenarios, spec)


@dataclass
class _Budget:
    """The time the checks of one sweep may take (``limit_s``; None: no limit), from ``started``."""

    started: float
    limit_s: float | None
    checks: int = 0
    """How many scenario requests are checked in all (for the message)."""

    def check(self, done: int) -> None:
        if self.limit_s is not None and time.monotonic() - self.started > self.limit_s:
            raise CheckTooLong(
                f"checking the sweep took over {self.limit_s:g} s ({done} of {self.checks} checks of a "
                "scenario request made): fewer scenarios or a smaller base request check faster",
                self.limit_s,
            )


def _targets(spec: SweepSpec, base: Json, errors: list[FieldError]) -> list[Target | None]:
    """Each parameter's field in the base (None where its path names none: the error is added)."""
    targets: list[Target | None] = []
    for i, p in enumerate(spec.parameters):
        if len(errors) > MAX_ERRORS:
            targets.append(None)
            continue
        try:
            target = resolve_path(base, p.path)
            if spec.mode == "one_at_a_time" and target.steps[0] == "objective":
                raise PathError(
                    "the objective's kind sets its unit ($ or weighted million tokens): a tornado "
                    "cannot rank swings in different units; use mode grid"
                )
            targets.append(target)
        except PathError as exc:
            errors.append(FieldError(f"/parameters/{i}/path", f"{p.path}: {exc}"))
            targets.append(None)
    return targets


Option = tuple[Any, float | None]
"""A parameter's setting: the value, and the factor that made it (scale parameters)."""


def _options(
    spec: SweepSpec, base: Json, targets: Sequence[Target | None], errors: list[FieldError], budget: _Budget
) -> list[list[Option]]:
    """Each parameter's valid settings: every value applied alone to the base, its type and range
    checked like a request (the errors are added)."""
    options: list[list[Option]] = []
    for i, (p, t) in enumerate(zip(spec.parameters, targets, strict=True)):
        opts: list[Option] = []
        options.append(opts)
        if t is None or len(errors) > MAX_ERRORS:
            continue
        kind = "values" if p.values is not None else "scale"
        for j, opt in enumerate(p.options):
            if len(errors) > MAX_ERRORS:
                break
            if p.values is not None and deeper_than(opt, MAX_VALUE_DEPTH):
                errors.append(
                    FieldError(
                        f"/parameters/{i}/values/{j}",
                        f"{p.path}: the value nests lists or objects more than {MAX_VALUE_DEPTH} "
                        "levels deep, which no request field does",
                    )
                )
                continue
            try:
                value = opt if p.values is not None else scaled(t, float(opt))
            except PathError as exc:
                errors.append(FieldError(f"/parameters/{i}/scale", str(exc)))
                break
            except NotWhole as exc:
                errors.append(FieldError(f"/parameters/{i}/scale/{j}", str(exc)))
                continue
            budget.check(sum(len(o) for o in options) + j - len(opts))
            req = _copied(base)
            apply_value(req, t, value)
            try:
                parse_request(req)
            except RequestInvalid as exc:
                for e in exc.errors:
                    errors.append(
                        FieldError(f"/parameters/{i}/{kind}/{j}", f"{p.path}: {e.path}: {e.message}")
                    )
                continue
            opts.append((value, None if p.values is not None else float(opt)))
    return options


def _scenarios(
    spec: SweepSpec, base: Json, targets: Sequence[Target], options: Sequence[Sequence[Option]]
) -> list[Scenario]:
    """The scenario requests: the cartesian product (grid), or the base and each parameter moved
    alone (one_at_a_time)."""
    paths = [p.path for p in spec.parameters]
    scenarios: list[Scenario] = []

    def make(choice: Sequence[Option | None], parameter: str | None) -> None:
        req = _copied(base)
        values: dict[str, Any] = {}
        factors: dict[str, float] = {}
        for k, (path, t) in enumerate(zip(paths, targets, strict=True)):
            c = choice[k]
            if c is None:
                values[path] = copy.deepcopy(t.base_value)
                if spec.parameters[k].scale is not None:
                    factors[path] = 1.0
                continue
            value, factor = c
            apply_value(req, t, value)
            values[path] = value
            if factor is not None:
                factors[path] = factor
        scenarios.append(Scenario(len(scenarios), values, factors, parameter, req))

    if spec.mode == "grid":
        for combo in itertools.product(*options):
            make(list(combo), None)
    else:
        make([None] * len(paths), None)
        for k, opts_k in enumerate(options):
            for c in opts_k:
                choice: list[Option | None] = [None] * len(paths)
                choice[k] = c
                make(choice, paths[k])
    return scenarios


def _clashes(scenarios: Sequence[Scenario], budget: _Budget, done: int) -> list[FieldError]:
    """Every grid scenario checked as a request (values valid alone may clash together)."""
    errors: list[FieldError] = []
    for sc in scenarios:
        budget.check(done + sc.index)
        try:
            parse_request(sc.request)
        except RequestInvalid as exc:
            for e in exc.errors:
                errors.append(
                    FieldError(
                        "/parameters", f"scenario {sc.index} ({_label(sc.values)}): {e.path}: {e.message}"
                    )
                )
        if len(errors) > MAX_ERRORS:
            break
    return errors


def _copied(request: Json) -> Json:
    """A deep copy of a JSON request, about five times faster than ``copy.deepcopy`` (which
    was nine tenths of checking a sweep: one copy per value, one per scenario)."""
    return cast(Json, pickle.loads(pickle.dumps(request, pickle.HIGHEST_PROTOCOL)))


def _overlaps(params: Sequence[SweepParameter], targets: Sequence[Target | None]) -> list[FieldError]:
    """One error per parameter whose field is, contains or lies inside an earlier one's.

    Linear in the number of parameters: every prefix of every path is looked up once.
    """
    errors: list[FieldError] = []
    exact: dict[tuple[Step, ...], int] = {}  # a parameter's whole path -> its index
    under: dict[tuple[Step, ...], int] = {}  # every proper prefix of a path -> an index
    for i, t in enumerate(targets):
        if t is None:
            continue
        prefixes = [t.steps[:n] for n in range(1, len(t.steps))]
        j = next((exact[q] for q in [*prefixes, t.steps] if q in exact), under.get(t.steps))
        if j is not None:
            errors.append(
                FieldError(
                    f"/parameters/{i}/path", f"{params[i].path} overlaps /parameters/{j} ({params[j].path})"
                )
            )
            if len(errors) > MAX_ERRORS:
                break
            continue
        exact[t.steps] = i
        for q in prefixes:
            under.setdefault(q, i)
    return errors


def _capped(errors: list[FieldError]) -> list[FieldError]:
    """At most :data:`MAX_ERRORS` errors; when there are more (the checks stop soon after the
    cap, so their number is not known), the last one says that others were left out."""
    if len(errors) <= MAX_ERRORS:
        return errors
    return [*errors[: MAX_ERRORS - 1], FieldError("/parameters", "… and more problems, not listed")]


def _label(values: Mapping[str, Any]) -> str:
    """``path=value, …`` for a message; values as JSON spells them (true, null), not Python."""
    parts = []
    for k, v in values.items():
        text = f"{v:.6g}" if isinstance(v, float) else v if isinstance(v, str) else json.dumps(v)
        parts.append(f"{k}={text[:40]}")
    return ", ".join(parts)


def run_sweep(sweep: PreparedSweep, opts: RunOptions | None = None) -> SweepResult:
    """Solve every scenario of ``sweep`` through ``opts.mapper``; rows in scenario order."""
    opts = opts or RunOptions()
    by_index = {sc.index: sc for sc in sweep.scenarios}
    tasks = [
        ScenarioTask(
            sc.index, sc.request, opts.new_plan_id(sc.index), opts.max_variables, opts.max_time_limit_s
        )
        for sc in sweep.scenarios
    ]
    ids = {t.index: t.plan_id for t in tasks}

    def make_row(out: ScenarioOutcome) -> ScenarioRow:
        sc = by_index[out.index]
        row = row_from_plan(out.plan, out.index, ids[out.index], out.error)
        row.values, row.factors, row.parameter = sc.values, sc.factors, sc.parameter
        return row

    requests = {sc.index: sc.request for sc in sweep.scenarios}
    rows, cancelled = run_tasks(tasks, requests, make_row, opts, 0, len(tasks))
    result = SweepResult(
        mode=sweep.mode,
        total=len(tasks),
        done=len(rows),
        cancelled=cancelled,
        rows=[rows[i] for i in sorted(rows)],
    )
    if sweep.mode == "one_at_a_time" and not cancelled:
        result.tornado = tornado(result.rows, sweep.paths)
    return result
