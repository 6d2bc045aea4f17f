"""Describe a request without solving it: derived throughput, eligibility, model size."""

from __future__ import annotations

from typing import Any

from solver.model import build_model, count_variables, prepare
from solver.schema import PlanRequest


def describe_request(req: PlanRequest, build: bool = True) -> dict[str, Any]:
    """Throughput of every hardware/workload pair, eligible sites, and the model's size.

    ``build=False`` skips building the model (constraints are then reported as None).
    """
    data = prepare(req)
    sites_of: dict[tuple[int, int], list[str]] = {}  # (h, w) -> eligible sites, in site order
    for s, h, w in data.eligible:
        sites_of.setdefault((h, w), []).append(req.sites[s].id)
    pairs = []
    for h, hw in enumerate(req.hardware):
        for w, wl in enumerate(req.workloads):
            sites = sites_of.get((h, w), [])
            pairs.append(
                {
                    "hardware": hw.id,
                    "workload": wl.id,
                    "tokens_per_s_per_unit": data.tput[h][w],
                    "eligible_sites": sites,
                }
            )
    size: dict[str, int | None] = {"variables": count_variables(data), "constraints": None}
    if build:
        m = build_model(data, integer=req.solver.integer)
        size = {"variables": m.lp.num_cols, "constraints": len(m.lp.rows)}
    return {
        "name": req.name,
        "periods": data.labels,
        "throughput": pairs,
        "model_size": size,
        "warnings": data.warnings,
    }
