"""Paths into a request and the values there.

A path such as ``hardware/cerebras-cs3/unit_price_usd`` is ``/``-separated request fields,
list items by their ``id`` (``vendor`` for contracts, ``hardware`` for an existing fleet
entry), list items without such a key and per-period lists by position, dict entries by key
(``policy/max_vendor_share/nvidia``).  A parameter's ``values`` replace the value there;
``scale`` multiplies the base value (per-period lists element-wise), the value the base plan
actually used (a default included; a null value cannot be scaled).
"""

from __future__ import annotations

import copy
import types
import typing
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import (
    BaseModel,
)

from solver.scenarios.specs import Json
from solver.schema import PlanRequest

Step = str | int

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
