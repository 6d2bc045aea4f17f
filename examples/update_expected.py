"""Re-solve every example and rewrite ``examples/expected.json``.

``expected.json`` holds, per example, its status and the figures ``examples/README.md``
quotes: where each figure lives in the Plan JSON (``path``), its full-precision value, and
the text the README shows (``format`` applied to ``value × scale``).
``tests/test_examples.py`` re-solves every example and checks that the fresh plan agrees with
the stored values (relative 1e-6), that every text is the formatted value, and that the README
quotes every text in that example's section.

Run after changing an example or the catalog, then update the README's numbers:

    python examples/update_expected.py

Paths are ``/``-separated keys of the Plan JSON; a segment ``key=value[,key=value]`` picks the
list item whose fields match (``contracts/vendor=cerebras/spend_usd``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from solver import plan  # noqa: E402 - after the path set-up, so the script runs from anywhere

USD_B = ("${:,.2f}B", 1e-9)
USD_M = ("${:,.2f}M", 1e-6)
USD_K = ("${:,.0f}k", 1e-3)
USD_CENTS = ("${:,.4f}", 1.0)
UNITS = ("{:,.0f}", 1.0)
PCT = ("{:.1f}%", 100.0)
PCT2 = ("{:.2f}%", 100.0)
MW = ("{:,.1f} MW", 1.0)
MW2 = ("{:,.2f} MW", 1.0)
MTOK_S = ("{:,.1f}M tokens/s", 1e-6)
MTOK_S2 = ("{:,.2f}M tokens/s", 1e-6)
NUM3 = ("{:,.3f}", 1.0)
BILLIONS = ("{:,.2f} billion", 1e-9)
KW = ("{:,.0f} kW", 1.0)

# example file -> quoted figures: (name, path, (format, scale))
QUOTES: dict[str, list[tuple[str, str, tuple[str, float]]]] = {
    "cerebras-750mw.json": [
        ("npv", "summary/npv_cost_usd", USD_B),
        ("cost_per_mtok", "summary/cost_per_million_tokens_usd", USD_CENTS),
        ("hosted_units", "summary/units_acquired/cerebras-cs3-hosted", UNITS),
        ("hosted_mw_2026_01", "periods/label=2026-01/sites/id=cerebras-hosted/power_used_mw", MW),
        ("hosted_mw_2026_10", "periods/label=2026-10/sites/id=cerebras-hosted/power_used_mw", MW),
        ("hosted_mw_2027_07", "periods/label=2027-07/sites/id=cerebras-hosted/power_used_mw", MW),
        ("gb300_units", "summary/units_acquired/nvidia-gb300-nvl72", UNITS),
        ("gb200_units", "summary/units_acquired/nvidia-gb200-nvl72", UNITS),
        ("cerebras_share", "summary/it_power_share_by_vendor/cerebras", PCT),
        ("tx1_peak", "summary/peak_power_mw/tx-1", MW),
        ("expansion_2026_10", "periods/label=2026-10/sites/id=tx-1/expansion_started_mw", MW),
        ("expansion_2027_01", "periods/label=2027-01/sites/id=tx-1/expansion_started_mw", MW),
        ("expansion", "periods/label=2027-04/sites/id=tx-1/expansion_started_mw", MW),
        ("cerebras_spend", "contracts/vendor=cerebras/spend_usd", USD_B),
        ("equity", "contracts/vendor=cerebras/equity_fraction", PCT2),
        ("equity_value", "contracts/vendor=cerebras/equity_value_usd", USD_B),
        ("tx1_mw_value", "shadow_prices/power_usd_per_mw/site=tx-1,period=2028-10/value", USD_M),
    ],
    "cerebras-750mw-throughput-double.json": [
        ("npv", "summary/npv_cost_usd", USD_B),
        ("cost_per_mtok", "summary/cost_per_million_tokens_usd", USD_CENTS),
        ("gb300_units", "summary/units_acquired/nvidia-gb300-nvl72", UNITS),
        ("tx1_peak", "summary/peak_power_mw/tx-1", MW),
    ],
    "cerebras-750mw-throughput-half.json": [
        ("short_2028_10", "diagnosis/workload=agentic-fast,period=2028-10/amount", MTOK_S),
        ("hosted_mw_2028_10", "diagnosis/site=cerebras-hosted,period=2028-10/amount", MW),
    ],
    "gpu-only-baseline.json": [
        ("npv", "summary/npv_cost_usd", USD_B),
        ("cost_per_mtok", "summary/cost_per_million_tokens_usd", USD_CENTS),
        ("gb300_units", "summary/units_acquired/nvidia-gb300-nvl72", UNITS),
        ("gb200_units", "summary/units_acquired/nvidia-gb200-nvl72", UNITS),
        ("tx1_peak", "summary/peak_power_mw/tx-1", MW),
        ("tx1_mw_value", "shadow_prices/power_usd_per_mw/site=tx-1,period=2028-10/value", USD_M),
    ],
    "brownfield-h100.json": [
        ("npv", "summary/npv_cost_usd", USD_M),
        ("cost_per_mtok", "summary/cost_per_million_tokens_usd", USD_CENTS),
        ("mi355x_units", "summary/units_acquired/amd-mi355x-8x", UNITS),
        ("expansion", "periods/label=2027-10/sites/id=va-1/expansion_started_mw", MW2),
        ("va1_mw_value", "shadow_prices/power_usd_per_mw/site=va-1,period=2028-10/value", USD_K),
    ],
    "small-integer.json": [
        ("npv", "summary/npv_cost_usd", USD_M),
        ("cost_per_mtok", "summary/cost_per_million_tokens_usd", USD_CENTS),
        ("cs3_units", "summary/units_acquired/cerebras-cs3", UNITS),
        ("b200_units", "summary/units_acquired/nvidia-b200-8x", UNITS),
        ("mi325x_units", "summary/units_acquired/amd-mi325x-8x", UNITS),
    ],
    "infeasible-power.json": [
        ("short_2027_04", "diagnosis/site=ga-1,period=2027-04/amount", MW2),
        ("unserved_2027_04", "diagnosis/workload=reasoning,period=2027-04/amount", MTOK_S),
        ("short_2027_07", "diagnosis/site=ga-1,period=2027-07/amount", MW2),
        ("unserved_2027_07", "diagnosis/workload=reasoning,period=2027-07/amount", MTOK_S),
        ("short_2027_10", "diagnosis/site=ga-1,period=2027-10/amount", MW2),
        ("unserved_2027_10", "diagnosis/workload=reasoning,period=2027-10/amount", MTOK_S),
    ],
    "design-example.json": [
        ("nvidia_over_2026_01", "diagnosis/limit=vendor_share,period=2026-01/amount", KW),
        ("unserved_2026_01", "diagnosis/workload=chat,period=2026-01/amount", MTOK_S2),
    ],
    "max-served-budget.json": [
        ("objective", "objective/value", BILLIONS),
        ("served_fraction", "summary/served_fraction", PCT),
        ("gb300_units", "summary/units_acquired/nvidia-gb300-nvl72", UNITS),
        ("cs3_units", "summary/units_acquired/cerebras-cs3", UNITS),
        ("budget_value", "shadow_prices/budget_per_usd", NUM3),
        ("opex", "summary/opex_usd", USD_B),
    ],
}


def resolve(doc: Any, path: str) -> Any:
    """The value at ``path`` in a Plan JSON document (see the module docstring)."""
    node = doc
    for seg in path.split("/"):
        if isinstance(node, list):
            want = dict(part.split("=", 1) for part in seg.split(","))
            hits = [x for x in node if all(str(x.get(k)) == v for k, v in want.items())]
            if len(hits) != 1:
                raise KeyError(f"{path}: {len(hits)} items match {seg!r}")
            node = hits[0]
        else:
            node = node[seg]
    return node


def main() -> int:
    out: dict[str, Any] = {}
    for name, quotes in QUOTES.items():
        doc = plan(json.loads((HERE / name).read_text(encoding="utf-8"))).model_dump(mode="json")
        entry: dict[str, Any] = {"status": doc["status"], "binding": doc["binding"], "quotes": {}}
        for key, path, (fmt, scale) in quotes:
            value = float(resolve(doc, path))
            entry["quotes"][key] = {
                "path": path,
                "value": value,
                "format": fmt,
                "scale": scale,
                "text": fmt.format(value * scale),
            }
        out[name] = entry
    (HERE / "expected.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    for name, entry in out.items():
        texts = ", ".join(f"{k}={q['text']}" for k, q in entry["quotes"].items())
        print(f"{name}: {entry['status']}; {texts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
