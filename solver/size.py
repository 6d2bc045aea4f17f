"""The model's size, from the request alone: refuse a model too large before deriving anything.

:func:`solver.model.prepare` lists every eligible (site, hardware, workload) triple and every
period of each: its cost grows with the model it describes, tens of seconds for a model of
50 million columns.  :func:`model_size` gives the same count as
:func:`solver.model.count_variables` without building any of it, in time about linear in the
request's length: per site its allowed hardware, per hardware and model one binary search
over the workloads of that model sorted by speed target (the throughput envelope never rises
with the speed target, :mod:`solver.curves`, so the workloads a unit can serve are the slowest
ones).  :func:`check_model_size` refuses with :class:`ModelTooLarge`.

Two derived tables are as large as a product of the request's lists whatever the number of
columns: one throughput per hardware/workload pair, one cost per site/hardware pair.  They are
bounded by the same limit, so that no request within it costs more than that to prepare.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from solver.curves import envelope_value
from solver.errors import ModelTooLarge
from solver.schema import Hardware, PlanRequest


@dataclass(frozen=True)
class ModelSize:
    variables: int
    """Columns of the model, as :func:`solver.model.count_variables` counts them."""
    throughput_pairs: int
    """Hardware × workloads: the throughputs ``prepare`` derives."""
    site_pairs: int
    """(site, hardware) pairs present at a site (allowed there, or with existing units): the
    per-unit costs ``prepare`` derives."""


def _served_count(hw: Hardware, by_model: dict[str, list[float]]) -> int:
    """How many workloads a unit of ``hw`` can serve (throughput > 0), given each model's
    speed targets sorted ascending: the envelope is non-increasing in the speed target, so
    those it serves are a prefix, found by bisection."""
    count = 0
    for model, perf in hw.performance.items():
        speeds = by_model.get(model)
        if not speeds:
            continue
        xs = [p.tokens_per_s_per_user for p in perf.points]
        ys = [p.tokens_per_s_per_unit for p in perf.points]
        count += bisect.bisect_left(speeds, True, key=lambda u: not envelope_value(xs, ys, u) > 0)
    return count


def _site_sums(
    allowed_ids: Sequence[str] | None, existing_ids: set[int], hw_index: dict[str, int], req: PlanRequest
) -> tuple[list[int], int]:
    """The hardware allowed at a site that count beyond those allowed everywhere, and how many
    hardware are present there that are not allowed (existing units only)."""
    hardware = req.hardware
    if allowed_ids is None:  # everything buyable, plus the existing-only items it has units of
        return [h for h in existing_ids if hardware[h].existing_only], 0
    listed = {hw_index[x] for x in allowed_ids}
    allowed = [h for h in listed if not hardware[h].existing_only or h in existing_ids]
    return allowed, len(existing_ids - listed)


def model_size(req: PlanRequest) -> ModelSize:
    """The model's size (:class:`ModelSize`), exactly as ``prepare`` and ``count_variables``
    would find it, from the request's lists (no derived table is built)."""
    n, pm = req.horizon.periods, req.horizon.period_months
    hardware = req.hardware
    hw_index = {h.id: i for i, h in enumerate(hardware)}
    speeds: dict[str, list[float]] = {}
    for wl in req.workloads:
        speeds.setdefault(wl.model, []).append(wl.min_tokens_per_s_per_user)
    for targets in speeds.values():
        targets.sort()
    served = [_served_count(hw, speeds) for hw in hardware]  # [h] workloads with throughput > 0
    buy_periods = [0 if hw.existing_only else max(0, n - hw.lead_periods(pm)) for hw in hardware]
    buyable = [h for h, hw in enumerate(hardware) if not hw.existing_only]
    everywhere = (sum(buy_periods[h] for h in buyable), sum(served[h] for h in buyable), len(buyable))
    nbuy = eligible = present = 0
    for site in req.sites:
        existing_ids = {hw_index[e.hardware] for e in site.existing}
        allowed, extra = _site_sums(site.allowed_hardware, existing_ids, hw_index, req)
        if site.allowed_hardware is None:
            nbuy += everywhere[0]
            eligible += everywhere[1] + sum(served[h] for h in allowed)
            present += everywhere[2] + len(allowed)
        else:
            nbuy += sum(buy_periods[h] for h in allowed)
            eligible += sum(served[h] for h in allowed)
            present += len(allowed) + extra
    nexp = sum(
        max(0, n - site.expansion.lead_time_periods)
        for site in req.sites
        if site.expansion is not None and site.expansion.max_mw > 0
    )
    ntiers = sum(len(c.discount_tiers) for c in req.contracts)
    variables = nbuy + eligible * n + len(req.workloads) * n + nexp + 2 * len(req.contracts) + 2 * ntiers
    return ModelSize(variables, len(hardware) * len(req.workloads), present)


def check_model_size(req: PlanRequest, limit: int) -> ModelSize:
    """The model's size; ModelTooLarge if its columns, or a derived table, exceed ``limit``."""
    size = model_size(req)
    if size.variables > limit:
        raise ModelTooLarge(size.variables, limit)
    if size.throughput_pairs > limit:
        table = f"throughputs ({len(req.hardware)} hardware × {len(req.workloads)} workloads)"
        raise ModelTooLarge(size.variables, limit, table, size.throughput_pairs)
    if size.site_pairs > limit:
        table = f"per-unit costs (site/hardware pairs of {len(req.sites)} sites)"
        raise ModelTooLarge(size.variables, limit, table, size.site_pairs)
    return size
