"""Turn raw input into a checked :class:`PlanRequest`, naming every bad field.

``parse_request`` runs the pydantic field rules and then the cross-field rules below; both
kinds of problem come back together as one :class:`RequestInvalid` whose ``errors`` carry
JSON pointers (``/sites/0/power_mw``) and plain messages.  Input values are never echoed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from solver.errors import FieldError, RequestInvalid, ValueErrorAt, pointer_token, quoted
from solver.schema import PULP_BACKENDS, PlanRequest


def beyond_float_range(token: str) -> bool:
    """Whether a JSON integer is beyond the float range (read as a number, it would be
    infinite), as ``1e999`` is.  Such an integer is refused like that float: Python cannot
    even read one of over 4,300 digits as an int, and pydantic calls one of 400 digits "not a
    valid number" rather than out of its field's range."""
    return len(token) > 300 and not math.isfinite(float(token))


def _loc_pointer(loc: Iterable[Any], data: Any, err_type: str) -> str:
    """The JSON pointer of a pydantic error location, walked against the input.

    Pydantic puts union-member and validator tags (``float``, ``list[...]``,
    ``function-after[...]``) among the real keys; walking the input tells them apart from a
    field or a dict key of the same spelling, which a fixed list of tags cannot.
    """
    items = list(loc)
    parts: list[str] = []
    cur = data
    for pos, item in enumerate(items):
        last = pos == len(items) - 1
        if isinstance(cur, Mapping) and isinstance(item, str) and item in cur:
            parts.append(pointer_token(item))
            cur = cur[item]
        elif isinstance(cur, list) and isinstance(item, int) and 0 <= item < len(cur):
            parts.append(str(item))
            cur = cur[item]
        elif last and err_type == "missing" and isinstance(cur, Mapping):
            parts.append(pointer_token(item))  # a required field that is not there
        else:
            continue  # a tag, not a place in the input
    return "/" + "/".join(parts)


def field_errors(exc: ValidationError, data: Any) -> list[FieldError]:
    """Pydantic errors on ``data`` as FieldErrors; union alternatives at one path are merged."""
    merged: dict[str, list[str]] = {}
    for err in exc.errors(include_input=False, include_url=False):
        path = _loc_pointer(err["loc"], data, err["type"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if msg.startswith("catalog: "):  # raised by Hardware's catalog resolution
            path, msg = path + "/catalog", msg.removeprefix("catalog: ")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ValueErrorAt):  # a validator naming a place inside its value
            path = path.rstrip("/") + cause.pointer
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not part of the request contract)"
        merged.setdefault(path, [])
        if msg not in merged[path]:
            merged[path].append(msg)
    return [FieldError(p, "; or ".join(m)) for p, m in merged.items()]


def parse_request(data: PlanRequest | Mapping[str, Any] | str | bytes) -> PlanRequest:
    """Validate ``data`` (a dict, JSON text, or a PlanRequest) and return the request.

    Raises
    ------
    RequestInvalid
        With one FieldError per problem found.
    """
    if isinstance(data, PlanRequest):
        req = data
    else:
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise RequestInvalid([FieldError("/", f"not valid JSON: {exc}")]) from None
        if not isinstance(data, Mapping):
            raise RequestInvalid([FieldError("/", "the request must be a JSON object")])
        try:
            req = PlanRequest.model_validate(data)
        except ValidationError as exc:
            raise RequestInvalid(field_errors(exc, data)) from None
    errors = semantic_errors(req)
    if errors:
        raise RequestInvalid(errors)
    return req


def _check_unique(kind: str, ids: list[str], errors: list[FieldError], field: str = "id") -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            errors.append(FieldError(f"/{kind}/{i}/{field}", f"duplicate {field} {quoted(x)}"))
        seen.add(x)


def _check_len(value: object, n: int, path: str, errors: list[FieldError]) -> None:
    if isinstance(value, list) and len(value) != n:
        errors.append(FieldError(path, f"needs one value per period: {n} values, got {len(value)}"))


MAX_WARRANT_USD_PER_USD = 1000.0
"""Equity value per dollar of spend at full vesting (the 750 MW example: 0.1 × $39.8B / $30B ≈ 0.13)."""


def _check_backend(backend: str, errors: list[FieldError]) -> None:
    """A backend must be installed here: a solve must not fail later for want of it."""
    from solver.solve import backend_available  # solve imports pulp: only when asked

    if not backend_available(backend):
        here = [b for b in ("highs", *PULP_BACKENDS) if b in ("highs", "cbc") or backend_available(b)]
        errors.append(
            FieldError(
                "/solver/backend", f"{quoted(backend)} is not installed here (available: {', '.join(here)})"
            )
        )


def semantic_errors(req: PlanRequest) -> list[FieldError]:
    """Cross-field rules: unique ids, resolvable references, per-period list lengths."""
    errors: list[FieldError] = []
    n = req.horizon.periods
    _check_unique("sites", [s.id for s in req.sites], errors)
    _check_unique("hardware", [h.id for h in req.hardware], errors)
    _check_unique("workloads", [w.id for w in req.workloads], errors)
    _check_unique("contracts", [c.vendor for c in req.contracts], errors, "vendor")
    _check_backend(req.solver.backend, errors)
    _check_len(req.budget.capex_per_period_usd, n, "/budget/capex_per_period_usd", errors)
    _check_len(req.budget.total_per_period_usd, n, "/budget/total_per_period_usd", errors)
    _site_errors(req, errors)
    _hardware_errors(req, errors)
    _workload_errors(req, errors)
    _policy_errors(req, errors)
    _contract_errors(req, errors)
    return errors


def _site_errors(req: PlanRequest, errors: list[FieldError]) -> None:
    """Power lists one per period; allowed and existing hardware that resolve."""
    hw_ids = {h.id for h in req.hardware}
    for i, s in enumerate(req.sites):
        _check_len(s.power_mw, req.horizon.periods, f"/sites/{i}/power_mw", errors)
        for j, h in enumerate(s.allowed_hardware or []):
            if h not in hw_ids:
                errors.append(FieldError(f"/sites/{i}/allowed_hardware/{j}", f"unknown hardware {quoted(h)}"))
        for j, e in enumerate(s.existing):
            path = f"/sites/{i}/existing/{j}/hardware"
            if e.hardware not in hw_ids:  # neither in hardware[] nor a default-catalog id
                errors.append(
                    FieldError(
                        path,
                        f"unknown hardware {quoted(e.hardware)}: not in hardware[] nor in the default catalog",
                    )
                )


def _hardware_errors(req: PlanRequest, errors: list[FieldError]) -> None:
    """Supply lists one per period; a lead time given once."""
    for i, hw in enumerate(req.hardware):
        _check_len(
            hw.max_units_per_period, req.horizon.periods, f"/hardware/{i}/max_units_per_period", errors
        )
        if hw.lead_time_periods is not None and hw.lead_time_months is not None:
            errors.append(
                FieldError(
                    f"/hardware/{i}/lead_time_months",
                    "give the lead time once: lead_time_periods or lead_time_months, not both "
                    "(on a catalog item either replaces the entry's)",
                )
            )


def _workload_errors(req: PlanRequest, errors: list[FieldError]) -> None:
    """Demand lists one per period, growth of a single number only and within 1e12 tokens/s;
    a model some hardware serves."""
    n = req.horizon.periods
    models = {m for h in req.hardware for m in h.performance}
    for i, w in enumerate(req.workloads):
        _check_len(w.demand_tokens_per_s, n, f"/workloads/{i}/demand_tokens_per_s", errors)
        if isinstance(w.demand_tokens_per_s, list) and w.demand_growth_per_year != 0:
            errors.append(
                FieldError(
                    f"/workloads/{i}/demand_growth_per_year",
                    "growth applies only to a single demand number, not a per-period list",
                )
            )
        if (
            isinstance(w.demand_tokens_per_s, float)
            and w.demand_tokens_per_s > 0
            and w.demand_growth_per_year > 0
        ):
            years = (n - 1) * req.horizon.period_months / 12
            if math.log10(w.demand_tokens_per_s) + years * math.log10(1 + w.demand_growth_per_year) > 12:
                errors.append(
                    FieldError(
                        f"/workloads/{i}/demand_growth_per_year",
                        f"the demand would grow beyond 1e12 tokens/s within the horizon ({years:g} years)",
                    )
                )
        if w.model not in models:
            errors.append(
                FieldError(
                    f"/workloads/{i}/model", f"no hardware entry has performance for {quoted(w.model)}"
                )
            )


def _policy_errors(req: PlanRequest, errors: list[FieldError]) -> None:
    """Vendor shares of vendors there are, each minimum below its maximum, the minimums at most 1."""
    vendors = {h.vendor for h in req.hardware}
    for kind in ("max_vendor_share", "min_vendor_share"):
        shares: dict[str, float] = getattr(req.policy, kind)
        for v in shares:
            if v not in vendors:
                errors.append(
                    FieldError(f"/policy/{kind}/{pointer_token(v)}", f"no hardware from vendor {quoted(v)}")
                )
    for v, lo in req.policy.min_vendor_share.items():
        hi = req.policy.max_vendor_share.get(v)
        if hi is not None and lo > hi:
            errors.append(
                FieldError(f"/policy/min_vendor_share/{pointer_token(v)}", f"exceeds max_vendor_share {hi}")
            )
    if sum(req.policy.min_vendor_share.values()) > 1 + 1e-12:
        errors.append(FieldError("/policy/min_vendor_share", "shares add up to more than 1"))


def _contract_errors(req: PlanRequest, errors: list[FieldError]) -> None:
    """Warrants of a plausible worth, a vendor there is, tiers that rise, and a bounded spend
    wherever tiers apply."""
    vendors = {h.vendor for h in req.hardware}
    unbounded_of: dict[str, list[str]] = {}  # vendor -> hardware whose spend has no bound
    for item in req.hardware:
        if not item.existing_only and item.it_power_kw <= 0 and item.max_units_per_period is None:
            unbounded_of.setdefault(item.vendor, []).append(item.id)  # (existing-only: never bought)
    for i, c in enumerate(req.contracts):
        vest = c.warrants
        if (
            vest is not None
            and vest.company_valuation_usd * vest.equity_fraction_max
            > MAX_WARRANT_USD_PER_USD * vest.full_vest_spend_usd
        ):
            errors.append(
                FieldError(
                    f"/contracts/{i}/warrants",
                    f"warrants worth more than ${MAX_WARRANT_USD_PER_USD:,.0f} of equity per dollar of spend "
                    "(company_valuation_usd × equity_fraction_max / full_vest_spend_usd): check the figures",
                )
            )
        if c.vendor not in vendors:
            errors.append(FieldError(f"/contracts/{i}/vendor", f"no hardware from vendor {quoted(c.vendor)}"))
        for k in range(1, len(c.discount_tiers)):
            if c.discount_tiers[k].above_spend_usd <= c.discount_tiers[k - 1].above_spend_usd:
                errors.append(
                    FieldError(
                        f"/contracts/{i}/discount_tiers/{k}/above_spend_usd",
                        "thresholds must increase strictly from one tier to the next",
                    )
                )
        unbounded = unbounded_of.get(c.vendor, []) if c.discount_tiers and c.vendor in vendors else []
        if unbounded:
            errors.append(
                FieldError(
                    f"/contracts/{i}/discount_tiers",
                    f"spend with {quoted(c.vendor)} must be bounded for discount tiers: give "
                    f"{', '.join(quoted(u) for u in unbounded)} it_power_kw > 0 or max_units_per_period",
                )
            )
