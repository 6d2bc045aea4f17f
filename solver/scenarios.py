"""Scenario analysis: parameter sweeps, one-at-a-time sensitivity (tornado), and the
cost-vs-served frontier.

A *sweep* takes a base request and parameters addressed by path, e.g.
``hardware/cerebras-cs3/unit_price_usd``: ``/``-separated request fields, list items by
their ``id`` (``vendor`` for contracts, ``hardware`` for an existing fleet entry), list items
without such a key and per-period lists by position, dict entries by key
(``policy/max_vendor_share/nvidia``).  Each parameter gives ``values`` (replace) or
``scale`` (multiply the base value; per-period lists element-wise).  Mode ``grid`` runs the
cartesian product, ``one_at_a_time`` the base plus each parameter moved alone (a tornado).

Everything is checked before anything runs: every path, every value (each applied alone to
the base and validated like a request), every generated scenario, and the scenario cap.
Problems come back together as one :class:`~solver.errors.RequestInvalid` whose paths point
into the sweep body (``/parameters/0/path``, ``/base/sites/0/power_mw``).

The base is first parsed and dumped back to JSON, so every scenario request is explicit
(catalog entries resolved, defaults filled in): a scenario's stored request reproduces its
plan exactly, and ``scale`` multiplies the value the base plan actually used (a default
included; a null value cannot be scaled).

Execution goes through a ``map``-like callable ``mapper(fn, tasks)`` that yields the
results in any order: the builtin ``map`` (in-process), :class:`ProcessMapper` (a spawn
process pool, what the CLI uses) or the service's job runner.  The worker function
:func:`solve_scenario` is a top-level function of plain data, so it pickles.

The *frontier* is the least NPV cost at evenly spaced served fractions between the least
and the most that can be served; see :func:`prepare_frontier`.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import multiprocessing
import os
import pickle
import signal
import threading
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from multiprocessing import resource_tracker
from typing import Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypeAliasType

from solver.errors import CapplanError, CheckTooLong, FieldError, RequestInvalid
from solver.model import HOURS_PER_YEAR
from solver.planner import plan
from solver.schema import Plan, PlanRequest, PlanStatus, SitePrice
from solver.solve import WarmStarts
from solver.validate import field_errors, parse_request

DEFAULT_MAX_SCENARIOS = 1000
"""Default cap on the number of scenarios of one sweep."""
MAX_FRONTIER_POINTS = 101
MAX_ERRORS = 50
"""Most problems one invalid sweep reports (the first ones found)."""
MAX_VALUE_DEPTH = 32
"""Deepest nesting of lists and objects in a sweep value.  No request field nests nearly as
deep (a whole ``hardware`` list: 6 levels); a deeper value is refused before it is copied, as
copying it (recursively) could exhaust Python's stack."""

Mode = Literal["grid", "one_at_a_time"]
Json = dict[str, Any]
Step = str | int

# ----------------------------------------------------------------------------- specs


class DescribedAs:
    """``Annotated[T, DescribedAs(U)]``: a field validated as ``T``, whose JSON Schema is
    ``U``'s (a reference to its definition).  A ``base`` is kept as the JSON object given and
    parsed by :func:`solver.parse_request`, so that its errors point into the body
    (``/base/sites/0/power_mw``)."""

    def __init__(self, described: Any) -> None:
        self.described = described

    def __get_pydantic_json_schema__(self, _: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = TypeAdapter(self.described).core_schema
        if "ref" in schema:  # a model: referred to (with its definition), not inlined
            ref = core_schema.definition_reference_schema(schema["ref"])
            schema = core_schema.definitions_schema(ref, [schema])
        return handler(schema)


_SCALAR_KINDS: list[dict[str, Any]] = [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]
SweepValue = TypeAliasType(
    "SweepValue",
    Annotated[
        Any,
        WithJsonSchema(
            {
                "description": "A value for the request field at the parameter's path, which checks "
                "it: a number, a string, a boolean, null, a list (per-period values, or a list "
                "field's items) or an object (a request object).",
                "anyOf": [
                    *_SCALAR_KINDS,
                    {
                        "type": "array",
                        "items": {"anyOf": [*_SCALAR_KINDS, {"type": "object"}, {"type": "null"}]},
                    },
                    {"type": "object"},
                    {"type": "null"},
                ],
            }
        ),
    ],
)
"""A sweep value: any JSON value (validated as given; its JSON Schema is a named one, not
recursive, so that client generators can type it)."""
BaseRequest = Annotated[dict[str, Any], DescribedAs(PlanRequest)]


class _Spec(BaseModel):
    """Strict JSON types, as for the request (:class:`solver.schema.Strict`): a number where a
    number is expected (an integer will do), never a string or a boolean."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class SweepParameter(_Spec):
    # exactly one of values or scale, the other absent or null: if/then/else rather than a
    # oneOf, which client generators would read as a union of two kinds of parameter
    model_config = ConfigDict(
        json_schema_extra={
            "description": "Give exactly one of values or scale (the other absent or null).",
            "if": {"required": ["values"], "properties": {"values": {"type": "array"}}},
            "then": {"properties": {"scale": {"type": "null"}}},
            "else": {"required": ["scale"], "properties": {"scale": {"type": "array"}}},
        }
    )

    path: str = Field(..., min_length=1, max_length=500, description="e.g. 'sites/tx-1/power_mw'.")
    values: list[SweepValue] | None = Field(
        None, min_length=1, description="Values that replace the base value."
    )
    scale: list[float] | None = Field(
        None, min_length=1, description="Factors that multiply the base value (lists element-wise)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> SweepParameter:
        if (self.values is None) == (self.scale is None):
            raise ValueError("give exactly one of 'values' or 'scale'")
        return self

    @property
    def options(self) -> list[Any]:
        return list(self.values if self.values is not None else self.scale or [])


class SweepSpec(_Spec):
    base: BaseRequest = Field(..., description="The base PlanRequest.")
    parameters: list[SweepParameter] = Field(..., min_length=1)
    mode: Mode = "grid"


class FrontierSpec(_Spec):
    base: BaseRequest = Field(..., description="The base PlanRequest.")
    points: int = Field(9, ge=2, le=MAX_FRONTIER_POINTS, description="Points on the curve, ends included.")


# ----------------------------------------------------------------------------- results


class _Out(BaseModel):
    # as solver.schema.Out: written whole, so a response's schema requires every field
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class ScenarioRow(_Out):
    index: int
    values: dict[str, SweepValue] = Field(default_factory=dict, description="The value used for each path.")
    factors: dict[str, float] = Field(default_factory=dict, description="Scale factor used, per path.")
    parameter: str | None = Field(
        None, description="one_at_a_time: the parameter moved in this scenario (None: the base)."
    )
    plan_id: str
    status: PlanStatus
    objective: float | None = None
    npv_cost_usd: float | None = None
    served_fraction: float | None = None
    cost_per_million_tokens_usd: float | None = None
    units_acquired: dict[str, float] = Field(default_factory=dict)
    it_power_share_by_vendor: dict[str, float] = Field(default_factory=dict)
    power_shadow_price_max: SitePrice | None = Field(
        None,
        description=(
            "The largest power shadow price (NPV $ per MW in that one period; weighted million "
            "tokens for max_served): the most binding site and period."
        ),
    )
    binding: list[str] = Field(default_factory=list)
    error: str | None = None
    warm_start: bool = Field(
        False,
        description="The scenario's LP started from the basis of an earlier scenario of the same "
        "structure (same answer, fewer iterations); false: solved from scratch.",
    )


class NoValueSetting(_Out):
    """A setting of a tornado parameter whose scenario gave no value of the bar's metric."""

    value: SweepValue = Field(None, description="The parameter's value in that scenario.")
    factor: float | None = Field(None, description="Its scale factor (scale parameters only).")
    status: PlanStatus = Field(
        ...,
        description=(
            "The scenario's status: infeasible, unbounded, failed or time_limit (no solution); "
            "optimal or feasible when the plan has no value of this metric (a cost per million "
            "tokens with nothing served)."
        ),
    )
    plan_id: str | None = None
    error: str | None = Field(None, description="Why the scenario has no plan at all, if it has none.")


class TornadoBar(_Out):
    """One parameter of a one_at_a_time sweep.

    ``low``/``high`` describe only the settings whose scenario has a value of the metric;
    the settings without one (an infeasible plan, a failed solve) are listed in ``no_value``
    and are left out of ``low``, ``high`` and ``swing``.  A bar with any of them ranks
    before every bar without: its effect is unbounded, not small.
    """

    path: str
    metric: str
    base: float | None = Field(..., description="The metric in the base scenario (null: it has none).")
    low_value: SweepValue = Field(
        None,
        description=(
            "The lowest setting (by factor for scale, else by value) whose scenario has a value of "
            "the metric; null when no setting has one."
        ),
    )
    low_factor: float | None = Field(None, description="That setting's scale factor (scale parameters).")
    low: float | None = Field(None, description="The metric at low_value.")
    high_value: SweepValue = Field(
        None,
        description=(
            "The highest setting with a value of the metric (the same as low_value when only one "
            "setting has one)."
        ),
    )
    high_factor: float | None = Field(None, description="That setting's scale factor (scale parameters).")
    high: float | None = Field(None, description="The metric at high_value.")
    swing: float = Field(
        0.0,
        description=(
            "max − min of the metric over the base and every setting that has a value (0 when "
            "none has); the no_value settings are not in it."
        ),
    )
    no_value: list[NoValueSetting] = Field(
        default_factory=list,
        description=(
            "The settings whose scenario has no value of the metric (infeasible, unbounded, "
            "failed, time limit without a solution), lowest setting first. A bar with any ranks "
            "before every bar without one."
        ),
    )


class SweepResult(_Out):
    mode: Mode
    total: int
    done: int
    cancelled: bool = False
    rows: list[ScenarioRow] = Field(default_factory=list)
    tornado: list[TornadoBar] | None = None


class FrontierRow(ScenarioRow):
    target_served_fraction: float | None = Field(
        ...,
        description=(
            "The served fraction this point aims at: an end's is the fraction its plan serves; "
            "null for an end without a plan (infeasible, failed, ...), whose target is not known."
        ),
    )
    discounted_million_tokens_served: float | None = Field(
        None,
        description=(
            "Σ_t d_t·(million tokens served in period t): the denominator of the levelised "
            "cost_per_million_tokens_usd (NPV cost / this)."
        ),
    )
    marginal_cost_usd_per_million_tokens: float | None = Field(
        None,
        description=(
            "Levelised, on the basis of cost_per_million_tokens_usd: (NPV cost − previous "
            "point's) / (discounted million tokens served − previous point's). Null at the first "
            "point and where the discounted tokens served did not grow."
        ),
    )
    knee: bool = False


class FrontierResult(_Out):
    points: int
    total: int
    done: int
    cancelled: bool = False
    low_served_fraction: float | None = None
    high_served_fraction: float | None = None
    knee_index: int | None = None
    rows: list[FrontierRow] = Field(default_factory=list)
    error: str | None = Field(None, description="Why there is no curve (an end is infeasible, failed …).")
    note: str | None = Field(None, description="E.g. the served fraction cannot vary: the two ends only.")


# ----------------------------------------------------------------------------- paths

_ID_KEYS = ("id", "vendor", "hardware")


def _members(ann: Any) -> list[Any]:
    """The alternatives of an annotation (Annotated and Optional unwrapped, None dropped)."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _members(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(ann) for m in _members(a)]
    if ann is type(None):
        return []
    return [ann]


def _model_member(members: list[Any]) -> type[BaseModel] | None:
    for m in members:
        if isinstance(m, type) and issubclass(m, BaseModel):
            return m
    return None


def _generic_member(members: list[Any], origin: type) -> Any:
    for m in members:
        if typing.get_origin(m) is origin:
            return m
    return None


def _describe(members: list[Any]) -> str:
    if _model_member(members) is not None:
        return "an object"
    if _generic_member(members, list) is not None:
        return "a list" if len(members) == 1 else "a number or a per-period list"
    if _generic_member(members, dict) is not None:
        return "a map"
    return "a value"


@dataclass(frozen=True)
class Target:
    """A resolved path: the concrete steps into the (dumped) base and the value there."""

    path: str
    steps: tuple[Step, ...]
    base_value: Any
    present: bool


class PathError(ValueError):
    """A path that does not name a request field (the message says which part fails)."""


def resolve_path(base: Json, path: str) -> Target:
    """Resolve ``path`` against the request dict ``base`` (best: a dumped, parsed request).

    Field names are checked against the request schema, ids and indices against ``base``.
    A missing dict entry or a null optional section is allowed (``present`` is False):
    ``values`` may create it, ``scale`` may not.
    """
    from solver.schema import PlanRequest

    segments = path.strip("/").split("/")
    if not path.strip("/") or any(not s for s in segments):
        raise PathError(f"{path!r} is not a path: use '/'-separated field names such as 'budget/capex_usd'")
    ann: Any = PlanRequest
    data: Any = base
    present = True
    steps: list[Step] = []
    where = ""
    for seg in segments:
        members = _members(ann)
        model = _model_member(members)
        lst = _generic_member(members, list)
        dct = _generic_member(members, dict)
        here = where or "the request"
        if lst is not None and isinstance(data, list):
            item = typing.get_args(lst)[0]
            item_model = _model_member(_members(item))
            key = next((k for k in _ID_KEYS if item_model and k in item_model.model_fields), None)
            if key is not None:
                hits = [i for i, x in enumerate(data) if isinstance(x, dict) and x.get(key) == seg]
                if not hits:
                    known = ", ".join(str(x.get(key)) for x in data if isinstance(x, dict)) or "none"
                    raise PathError(f"no entry of {here} has {key} {seg!r} (known: {known})")
                if len(hits) > 1:
                    raise PathError(
                        f"{len(hits)} entries of {here} have {key} {seg!r}: the path is ambiguous"
                    )
                idx = hits[0]
            else:
                if not seg.isdigit() or int(seg) >= len(data):
                    raise PathError(
                        f"{here} is a list of {len(data)} items without ids: address an item by its "
                        f"position 0-{len(data) - 1}, not {seg!r}"
                    )
                idx = int(seg)
            steps.append(idx)
            data, ann = data[idx], item
        elif model is not None and (data is None or isinstance(data, dict)):
            if seg not in model.model_fields:
                known = ", ".join(model.model_fields)
                raise PathError(f"{here} has no field {seg!r} (fields: {known})")
            steps.append(seg)
            ann = model.model_fields[seg].annotation
            if data is None or seg not in data:
                present = False
                data = None
            else:
                data = data[seg]
        elif dct is not None and (data is None or isinstance(data, dict)):
            steps.append(seg)
            ann = typing.get_args(dct)[1]
            if data is None or seg not in data:
                present = False
                data = None
            else:
                data = data[seg]
        elif lst is not None and data is None:
            raise PathError(f"{here} is empty in the base request: its items cannot be addressed")
        else:
            what = "a single number" if isinstance(data, (int, float)) else _describe(members)
            raise PathError(f"{here} is {what}: the path cannot go on to {seg!r}")
        where = "/".join(str(s) for s in segments[: len(steps)])
    return Target(path=path, steps=tuple(steps), base_value=copy.deepcopy(data), present=present)


def apply_value(request: Json, target: Target, value: Any) -> None:
    """Set the field named by ``target`` in ``request`` (in place), creating null sections."""
    node: Any = request
    for step in target.steps[:-1]:
        nxt = node[step] if isinstance(node, list) and isinstance(step, int) else node.get(step)
        if nxt is None:
            nxt = {}
            node[step] = nxt
        node = nxt
    field_name = target.steps[-1]
    node[field_name] = copy.deepcopy(value)
    other = _OTHER_LEAD_UNIT.get(field_name) if isinstance(field_name, str) else None
    if other is not None and isinstance(node, dict) and node.get(other) is not None:
        # a hardware item states its lead time once: a value in one unit replaces the other,
        # as on a catalog item (the dumped base of a catalog item holds lead_time_months)
        node[other] = None


_OTHER_LEAD_UNIT = {"lead_time_periods": "lead_time_months", "lead_time_months": "lead_time_periods"}


class NotWhole(ValueError):
    """Scaling an integer field gave a number that is not whole."""


def scaled(target: Target, factor: float) -> Any:
    """The base value of ``target`` times ``factor`` (per-period lists element-wise).

    An integer base value (an integer field: the base is a dumped request, where float fields
    hold floats) gives an integer when the product is whole within a relative 1e-9
    (``lead_time_periods`` 2 × 1.5 = 3), else :class:`NotWhole`.
    """

    def is_num(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    def times(x: int | float) -> int | float:
        if isinstance(x, float):
            return x * factor  # beyond the float range: inf, which validation refuses by name
        # exactly: an integer field's value may lie beyond the float range (10**400 periods)
        y = Fraction(x) * Fraction(factor)
        n = round(y)
        if abs(y - n) <= Fraction(1e-9) * max(Fraction(1), abs(y)):
            return n
        raise NotWhole(f"{target.path} takes whole numbers: {x} × {factor:g} = {float(y):g} is not one")

    v = target.base_value
    if v is None:
        raise PathError(f"{target.path} has no value in the base request (null or absent): give values")
    if is_num(v):
        return times(v)
    if isinstance(v, list) and v and all(is_num(x) for x in v):
        return [times(x) for x in v]
    raise PathError(
        f"{target.path} holds {type(v).__name__} in the base: scale needs a number or a list of numbers"
    )


# ----------------------------------------------------------------------------- scenarios


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


def _base_request(raw: Any, prefix: str = "/base") -> Json:
    try:
        return parse_request(raw).model_dump(mode="json")
    except RequestInvalid as exc:
        raise RequestInvalid(
            [FieldError(prefix + e.path.rstrip("/"), e.message) for e in exc.errors]
        ) from None


def _spec(model: type[_Spec], data: Any) -> Any:
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise RequestInvalid([FieldError("/", "the body must be a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid(field_errors(exc, data)) from None


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
    started = time.monotonic()

    def in_budget(done: int, total: int) -> None:
        if check_budget_s is not None and time.monotonic() - started > check_budget_s:
            raise CheckTooLong(
                f"checking the sweep took over {check_budget_s:g} s ({done} of {total} checks of a "
                "scenario request made): fewer scenarios or a smaller base request check faster",
                check_budget_s,
            )

    spec: SweepSpec = _spec(SweepSpec, data)
    base = _base_request(spec.base)
    errors: list[FieldError] = []
    total = scenario_count(spec)
    if total > max_scenarios:
        errors.append(
            FieldError(
                "/parameters",
                f"the {spec.mode} sweep would run {total} scenarios, more than the cap of {max_scenarios}",
            )
        )
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
    errors.extend(_overlaps(spec.parameters, targets))
    if total > max_scenarios or len(errors) > MAX_ERRORS:  # no point checking every value
        raise RequestInvalid(_capped(errors))
    # every value applied alone to the base: its type and range are checked like a request
    options: list[list[tuple[Any, float | None]]] = []
    checks = sum(len(p.options) for p in spec.parameters) + (
        total if spec.mode == "grid" and len(targets) > 1 else 0
    )
    for i, (p, t) in enumerate(zip(spec.parameters, targets, strict=True)):
        opts: list[tuple[Any, float | None]] = []
        if t is None or len(errors) > MAX_ERRORS:
            options.append(opts)
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
            in_budget(sum(len(o) for o in options) + j, checks)
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
        options.append(opts)
    if errors:
        raise RequestInvalid(_capped(errors))
    paths = [p.path for p in spec.parameters]
    tgts = [t for t in targets if t is not None]
    scenarios: list[Scenario] = []

    def make(choice: Sequence[tuple[int, Any, float | None] | None], parameter: str | None) -> None:
        req = _copied(base)
        values: dict[str, Any] = {}
        factors: dict[str, float] = {}
        for k, (path, t) in enumerate(zip(paths, tgts, strict=True)):
            c = choice[k]
            if c is None:
                values[path] = copy.deepcopy(t.base_value)
                if spec.parameters[k].scale is not None:
                    factors[path] = 1.0
                continue
            _, value, factor = c
            apply_value(req, t, value)
            values[path] = value
            if factor is not None:
                factors[path] = factor
        scenarios.append(Scenario(len(scenarios), values, factors, parameter, req))

    indexed = [[(j, v, f) for j, (v, f) in enumerate(opts)] for opts in options]
    if spec.mode == "grid":
        for combo in itertools.product(*indexed):
            make(list(combo), None)
    else:
        make([None] * len(paths), None)
        for k, opts_k in enumerate(indexed):
            for c in opts_k:
                choice: list[tuple[int, Any, float | None] | None] = [None] * len(paths)
                choice[k] = c
                make(choice, paths[k])
    if spec.mode == "grid" and len(paths) > 1:  # values valid alone may clash together
        alone = checks - total
        for sc in scenarios:
            in_budget(alone + sc.index, checks)
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
        if errors:
            raise RequestInvalid(_capped(errors))
    return PreparedSweep(spec.mode, base, paths, scenarios, spec)


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


# ----------------------------------------------------------------------------- execution


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
:class:`ProcessMapper`, or a job runner's equivalent)."""


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops them (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_HAVE_SIGMASK = hasattr(signal, "pthread_sigmask")  # not on Windows


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) off this thread while worker processes start or stop.

    Processes started inside begin with SIGINT blocked: the signal mask is inherited through
    fork and exec, so a spawn worker never sees the Ctrl-C sent to the whole foreground group,
    not even while it is still importing (before :func:`_ignore_sigint` runs, each one printed
    a KeyboardInterrupt traceback); the parent stops them.  In the main thread the
    KeyboardInterrupt meant for this process is raised when the block ends, never halfway
    through starting or stopping a worker, which could leave one running untracked.
    """
    caught: list[int] = []
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        if callable(previous):  # the Python handler (KeyboardInterrupt): run it afterwards
            signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
        else:  # SIG_IGN or SIG_DFL: left as it is
            previous = None
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if _HAVE_SIGMASK else None
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending SIGINT is caught now
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            if caught:
                previous(signal.SIGINT, None)  # raises KeyboardInterrupt


class ProcessMapper:
    """A ``map`` over a spawn process pool, yielding results as they complete.

    Use it as a context manager: the pool starts at the first call, is reused by later
    calls (a frontier maps twice) and is shut down on exit.  ``cancel()`` (from any thread)
    stops everything: pending tasks are dropped and the worker processes are killed, even in
    the middle of a solve, with the solver processes they started (CBC).  A task whose worker dies comes back as a failed outcome.
    Ctrl-C reaches the caller only (a KeyboardInterrupt), which stops the workers; they never
    see it themselves (see :func:`_sigint_held`).
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessMapper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def pids(self) -> list[int]:
        """Process ids of the current workers (for monitoring and tests)."""
        with self._lock:
            ex = self._executor
        procs = getattr(ex, "_processes", None) or {}
        return [p.pid for p in list(procs.values()) if p.pid is not None]

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_ignore_sigint,
                )
            return self._executor

    def __call__(self, fn: Worker, tasks: Sequence[ScenarioTask]) -> Iterator[ScenarioOutcome]:
        tasks = list(tasks)
        if not tasks or self.cancelled:
            return
        futures: dict[Future[ScenarioOutcome], ScenarioTask] = {}
        finished = False
        try:
            # multiprocessing's resource tracker unblocks SIGINT after starting itself: start it
            # (if need be) before SIGINT is blocked for the workers
            if _HAVE_SIGMASK:
                resource_tracker.ensure_running()
            with _sigint_held():  # the workers start in the first submits
                ex = self._pool()
                for t in tasks:
                    futures[ex.submit(fn, t)] = t
            for f in as_completed(futures):
                if self.cancelled:
                    return
                try:
                    out = f.result()
                except Exception as exc:
                    out = ScenarioOutcome(
                        futures[f].index, None, f"worker failed: {type(exc).__name__}: {exc}"
                    )
                yield out
            finished = True
        finally:
            if not finished:  # cancelled, interrupted, or the consumer stopped early: stop the workers
                self._kill()

    def cancel(self) -> None:
        """Stop the current and every later call; terminate the workers."""
        self._cancelled.set()
        self._kill()

    def close(self) -> None:
        """Shut the pool down (waits for idle workers to exit)."""
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)

    def _kill(self) -> None:
        with _sigint_held():  # a second Ctrl-C does not cut the clean-up short
            with self._lock:
                ex, self._executor = self._executor, None
            if ex is not None:
                _terminate(ex)


def _terminate(ex: ProcessPoolExecutor) -> None:
    """Stop the pool ``ex`` now: drop its pending tasks, kill its workers (mid-solve too) and
    their solver processes, and make sure its manager thread ends.

    A worker terminated while it was sending a result leaves part of the result in the result
    pipe; the pool's manager thread, reading it, would wait for the rest forever, and the
    interpreter joins that thread at exit (concurrent.futures): the process hung after Ctrl-C,
    and a second one printed a traceback from that join.  Once every worker is dead, this
    process holds the pipe's last write end: closing it ends the read (the pool is broken),
    and the thread exits.
    """
    # shutdown(wait=False) forgets the executor's internals: take them first
    procs = list((getattr(ex, "_processes", None) or {}).values())
    results = getattr(ex, "_result_queue", None)
    manager = getattr(ex, "_executor_manager_thread", None)
    ex.shutdown(wait=False, cancel_futures=True)
    running = [p for p in procs if p.is_alive()]
    pids = {p.pid for p in running if p.pid is not None}
    for pid in pids:  # stopped, a worker starts no new solver process (CBC)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGSTOP)
    # A worker's CBC outlived it (it solved on to its time limit): kill those first.  Their pids
    # stay theirs meanwhile: one that ends is a zombie its stopped worker cannot reap.
    for pid in _descendants(pids):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for p in running:
        p.kill()  # SIGKILL ends a stopped process too
    for p in procs:
        p.join(timeout=5)
    writer = getattr(results, "_writer", None)
    if writer is not None and not any(p.is_alive() for p in procs):
        with contextlib.suppress(OSError):
            writer.close()
    if manager is not None:
        manager.join(timeout=5)


def _descendants(roots: set[int]) -> list[int]:
    """The processes descended from ``roots`` (from /proc on Linux; none where there is none)."""
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()  # after "pid (command)"
                parents[int(name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found: list[int] = []
    level = set(roots)
    while level:
        level = {pid for pid, parent in parents.items() if parent in level}
        found.extend(level)
    return found


def row_from_plan(p: Plan | None, index: int, plan_id: str, error: str | None = None) -> ScenarioRow:
    """The headline numbers of one scenario's plan."""
    if p is None:
        return ScenarioRow(index=index, plan_id=plan_id, status="failed", error=error or "no plan")
    solved = p.status in ("optimal", "feasible")
    s = p.summary
    top: SitePrice | None = None
    if p.shadow_prices is not None:
        for sp in p.shadow_prices.power_usd_per_mw:
            if sp.value > 0 and (top is None or sp.value > top.value):
                top = sp
    return ScenarioRow(
        index=index,
        plan_id=p.id,
        status=p.status,
        objective=p.objective.value,
        npv_cost_usd=s.npv_cost_usd if solved else None,
        served_fraction=s.served_fraction if solved else None,
        cost_per_million_tokens_usd=s.cost_per_million_tokens_usd if solved else None,
        units_acquired=dict(s.units_acquired),
        it_power_share_by_vendor=dict(s.it_power_share_by_vendor),
        power_shadow_price_max=top,
        binding=list(p.binding),
        error=error,
        warm_start=p.solver.warm_started,
    )


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


def _run(
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
    rows, cancelled = _run(tasks, requests, make_row, opts, 0, len(tasks))
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


_UNFINISHED = ("queued", "running")


def _field(row: ScenarioRow | Mapping[str, Any], key: str) -> Any:
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


def tornado(
    rows: Sequence[ScenarioRow] | Sequence[Mapping[str, Any]],
    paths: Sequence[str] | None = None,
    metric: str = "objective",
) -> list[TornadoBar]:
    """One bar per parameter of a one_at_a_time sweep, sorted by consequence.

    ``rows`` are ScenarioRows or their JSON dicts (missing keys tolerated; rows still queued
    or running, and rows with neither a status nor a value, are left out); ``paths`` default
    to the rows' moved parameters, in order.
    A bar's ``low``/``high`` are the metric at the lowest and highest setting (by factor for
    ``scale``, by value for ``values``) among the settings whose scenario has a value of the
    metric; the others (infeasible, failed, …) are listed in ``no_value`` with their status.
    Bars with a ``no_value`` setting come first (their effect is unbounded), then the rest by
    swing, largest first; ties keep the parameters' order.
    """
    base_row = next((r for r in rows if _field(r, "parameter") is None), None)
    base = _field(base_row, metric) if base_row is not None else None
    if paths is None:
        paths = list(dict.fromkeys(str(_field(r, "parameter")) for r in rows if _field(r, "parameter")))
    bars = []
    for path in paths:

        def order(r: ScenarioRow | Mapping[str, Any], path: str = path) -> int | float:
            # compared as they are: an integer setting beyond the float range (a lead time
            # of 10**400 periods) has no float, and int/float comparisons are exact
            f = (_field(r, "factors") or {}).get(path)
            if isinstance(f, int | float) and not isinstance(f, bool):
                return f
            v = (_field(r, "values") or {}).get(path)
            return v if isinstance(v, int | float) and not isinstance(v, bool) else 0

        finished = sorted(
            (r for r in rows if _field(r, "parameter") == path and _field(r, "status") not in _UNFINISHED),
            key=order,
        )
        moved = [r for r in finished if _field(r, metric) is not None]
        bar = TornadoBar(path=path, metric=metric, base=base)
        bar.no_value = [
            NoValueSetting(
                value=(_field(r, "values") or {}).get(path),
                factor=(_field(r, "factors") or {}).get(path),
                status=_field(r, "status"),
                plan_id=_field(r, "plan_id"),
                error=_field(r, "error"),
            )
            for r in finished
            if _field(r, metric) is None and _field(r, "status") is not None
        ]
        if moved:
            lo, hi = moved[0], moved[-1]
            bar.low_value, bar.low = (_field(lo, "values") or {}).get(path), float(_field(lo, metric))
            bar.high_value, bar.high = (_field(hi, "values") or {}).get(path), float(_field(hi, metric))
            bar.low_factor = (_field(lo, "factors") or {}).get(path)
            bar.high_factor = (_field(hi, "factors") or {}).get(path)
            outcomes = [float(_field(r, metric)) for r in moved] + ([float(base)] if base is not None else [])
            bar.swing = max(outcomes) - min(outcomes)
        bars.append(bar)
    bars.sort(key=lambda b: (not b.no_value, -b.swing))
    return bars


# ----------------------------------------------------------------------------- frontier


@dataclass
class PreparedFrontier:
    """The frontier's two end requests and how to make the points between them.

    * low end: the base as a ``min_cost`` request (its own minimum service kept), i.e. the
      least that must be served and the cheapest way to serve it;
    * high end: the base as a ``max_served`` request (stage two: least cost at the most);
    * point k: the base as ``min_cost`` with ``policy.min_total_served_fraction`` =
      low + k·(high − low)/(points − 1).

    In all of them every workload weight is 1 (served is counted in plain million tokens,
    as ``summary.served_fraction`` is) and unmet-demand penalties are 0 (the curve is cost
    against served, not cost plus a price on unmet demand).  Values per million tokens are 0
    too: neither objective reads them (so no plan warns that they are ignored).
    """

    points: int
    base: Json

    def request(self, kind: str, served_fraction: float | None = None) -> Json:
        req = copy.deepcopy(self.base)
        req["objective"] = {"kind": kind}
        for w in req["workloads"]:
            w["weight"] = 1.0
            w["unmet_penalty_usd_per_million_tokens"] = 0.0
            w["value_usd_per_million_tokens"] = 0.0
        req.setdefault("policy", {})["min_total_served_fraction"] = served_fraction
        return req


def prepare_frontier(data: FrontierSpec | Mapping[str, Any]) -> PreparedFrontier:
    """Check a frontier body (``{"base": PlanRequest, "points": n}``); nothing is solved."""
    spec: FrontierSpec = _spec(FrontierSpec, data)
    base = _base_request(spec.base)
    fr = PreparedFrontier(spec.points, base)
    for kind in ("min_cost", "max_served"):
        _base_request(fr.request(kind))
    return fr


def knee_of(xs: Sequence[float], ys: Sequence[float]) -> int | None:
    """Index of the point farthest below the chord between the ends (both axes scaled to
    [0, 1]); None when the curve is straight within 1e-6."""
    if len(xs) < 3:
        return None
    dx, dy = xs[-1] - xs[0], ys[-1] - ys[0]
    if dx <= 0 or abs(dy) <= 1e-12 * max(1.0, abs(ys[0])):
        return None
    best, arg = 1e-6, None
    for k in range(1, len(xs) - 1):
        u = (xs[k] - xs[0]) / dx
        v = (ys[k] - ys[0]) / dy
        gap = u - v  # chord minus curve, for a rising cost curve
        if gap > best:
            best, arg = gap, k
    return arg


def run_frontier(fr: PreparedFrontier, opts: RunOptions | None = None) -> FrontierResult:
    """Solve the two ends, then the interior points, all through ``opts.mapper``."""
    opts = opts or RunOptions()
    total = fr.points
    result = FrontierResult(points=fr.points, total=total, done=0)
    ends = {0: fr.request("min_cost"), total - 1: fr.request("max_served")}
    ids = {k: opts.new_plan_id(k) for k in range(total)}
    targets: dict[int, float] = {}
    values: dict[int, dict[str, Any]] = {
        0: {"objective/kind": "min_cost"},
        total - 1: {"objective/kind": "max_served"},
    }

    def make_row(out: ScenarioOutcome) -> FrontierRow:
        base = row_from_plan(out.plan, out.index, ids[out.index], out.error)
        # an end aims at what its plan serves: unknown (null) without a plan
        target = targets.get(out.index, base.served_fraction)
        return FrontierRow(
            **base.model_dump(exclude={"values"}),
            values=values[out.index],
            target_served_fraction=target,
            discounted_million_tokens_served=_discounted_mt(out.plan)
            if base.npv_cost_usd is not None
            else None,
        )

    def tasks_for(reqs: Mapping[int, Json]) -> list[ScenarioTask]:
        return [
            ScenarioTask(k, r, ids[k], opts.max_variables, opts.max_time_limit_s)
            for k, r in sorted(reqs.items())
        ]

    rows, cancelled = _run(tasks_for(ends), ends, make_row, opts, 0, total)
    frows: dict[int, FrontierRow] = {k: typing.cast(FrontierRow, r) for k, r in rows.items()}
    result.done = len(frows)
    lo_row, hi_row = frows.get(0), frows.get(total - 1)
    if cancelled or lo_row is None or hi_row is None:
        result.cancelled = True
        result.rows = [frows[k] for k in sorted(frows)]
        return result
    for end, row in (("least served (min_cost)", lo_row), ("most served (max_served)", hi_row)):
        if row.status not in ("optimal", "feasible") or row.served_fraction is None:
            result.error = f"the {end} end is {row.status}" + (f" ({row.error})" if row.error else "")
            result.rows = [frows[k] for k in sorted(frows)]
            return result
    lo = typing.cast(float, lo_row.served_fraction)
    hi = max(lo, typing.cast(float, hi_row.served_fraction))
    result.low_served_fraction, result.high_served_fraction = lo, hi
    lo_row.target_served_fraction, hi_row.target_served_fraction = lo, hi
    if hi - lo <= 1e-9:
        result.note = f"the served fraction cannot vary (the least and the most are both {lo:.6g})"
        result.total = result.done = 2
        hi_row.index = 1  # the two ends of a two-row result
        result.rows = [lo_row, hi_row]
        return result
    inner: dict[int, Json] = {}
    for k in range(1, total - 1):
        f = lo + k * (hi - lo) / (total - 1)
        targets[k] = f
        values[k] = {"objective/kind": "min_cost", "policy/min_total_served_fraction": f}
        inner[k] = fr.request("min_cost", f)
    rows2, cancelled = _run(tasks_for(inner), inner, make_row, opts, 2, total)
    frows.update({k: typing.cast(FrontierRow, r) for k, r in rows2.items()})
    result.done = len(frows)
    result.cancelled = cancelled
    ordered = [frows[k] for k in sorted(frows)]
    ok = [r for r in ordered if r.npv_cost_usd is not None and r.served_fraction is not None]
    for prev, cur in itertools.pairwise(ok):
        # Levelised, like cost_per_million_tokens_usd beside it: NPV dollars per *discounted*
        # million tokens (a token served in period t counts d_t).  Per undiscounted token the
        # marginal and the average were on different bases: with a constant present-value
        # cost per discounted token the marginal read d_t times the average.
        assert prev.discounted_million_tokens_served is not None
        assert cur.discounted_million_tokens_served is not None
        dserved = cur.discounted_million_tokens_served - prev.discounted_million_tokens_served
        if dserved > 1e-12 * max(1.0, cur.discounted_million_tokens_served):
            cur.marginal_cost_usd_per_million_tokens = (
                typing.cast(float, cur.npv_cost_usd) - typing.cast(float, prev.npv_cost_usd)
            ) / dserved
    if not cancelled:
        knee = knee_of(
            [typing.cast(float, r.served_fraction) for r in ok],
            [typing.cast(float, r.npv_cost_usd) for r in ok],
        )
        if knee is not None:
            ok[knee].knee = True
            result.knee_index = ok[knee].index
    result.rows = ordered
    return result


def _discounted_mt(p: Plan | None) -> float | None:
    """Σ_t d_t·(million tokens served in t) of a plan: the denominator of its levelised
    ``summary.cost_per_million_tokens_usd``."""
    if p is None or p.period_months is None:
        return None
    mt = HOURS_PER_YEAR * 3600 * p.period_months / 12 / 1e6
    return sum(per.discount_factor * w.served_tokens_per_s * mt for per in p.periods for w in per.workloads)


__all__ = [
    "DEFAULT_MAX_SCENARIOS",
    "MAX_VALUE_DEPTH",
    "FrontierResult",
    "FrontierRow",
    "FrontierSpec",
    "Mapper",
    "NoValueSetting",
    "PathError",
    "PreparedFrontier",
    "PreparedSweep",
    "ProcessMapper",
    "RunOptions",
    "ScenarioOutcome",
    "ScenarioRow",
    "ScenarioTask",
    "SweepParameter",
    "SweepResult",
    "SweepSpec",
    "TornadoBar",
    "apply_value",
    "prepare_frontier",
    "prepare_sweep",
    "resolve_path",
    "row_from_plan",
    "run_frontier",
    "run_sweep",
    "scaled",
    "solve_scenario",
    "tornado",
]
