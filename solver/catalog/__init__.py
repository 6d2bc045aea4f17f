"""The default hardware catalog: sourced figures packaged as ``catalog.json``.

Each entry holds the fields of a request's hardware item (``HARDWARE_FIELDS``, ``sources``
among them: where every figure comes from) plus documentation fields that a request never
sees: ``estimates`` (every estimated figure by its path in the entry, e.g.
``performance/llama-70b/points/0/tokens_per_s_per_unit``, and how it was derived),
``point_notes`` (the source of each performance point), ``unit_description``, ``memory_gb``,
``gpus_per_unit``, ``notes``, ``power_figures_kw`` (the unit's power figures by kind;
``it_power_kw`` is its maximum: a rack's ``power_shelf_capacity``, else the ``quoted`` one).  A request item ``{"catalog": id, ...}`` starts from an
entry and overrides fields.  docs/catalog.md describes the figures and their derivations.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

HARDWARE_FIELDS = {
    "id",
    "vendor",
    "kind",
    "description",
    "unit_price_usd",
    "recurring_usd_per_unit_hour",
    "maintenance_fraction_per_year",
    "it_power_kw",
    "lifetime_years",
    "lead_time_periods",
    "lead_time_months",
    "max_units_per_period",
    "performance",
    "sources",
}


@lru_cache(maxsize=1)
def load_catalog() -> tuple[dict[str, Any], ...]:
    """Every catalog entry, as stored (with sources and estimate notes)."""
    text = resources.files("solver.catalog").joinpath("catalog.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return tuple(data["hardware"])


def catalog_hardware(entry_id: str) -> dict[str, Any] | None:
    """The request fields of catalog entry ``entry_id`` (a fresh copy), or None."""
    for entry in load_catalog():
        if entry["id"] == entry_id:
            fields: dict[str, Any] = json.loads(
                json.dumps({k: v for k, v in entry.items() if k in HARDWARE_FIELDS})
            )
            return fields
    return None
