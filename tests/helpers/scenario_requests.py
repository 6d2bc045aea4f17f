"""Hand-solved micro-instances of the scenario tests (sweeps, frontiers; library, CLI, API and
report): one period of a year, no residual value, so a unit costs exactly its price."""

from __future__ import annotations

import copy
from typing import Any

Json = dict[str, Any]


def hw(id: str, price: float, kw: float, tput: float, vendor: str = "v", **extra: Any) -> Json:
    return {
        "id": id,
        "vendor": vendor,
        "unit_price_usd": price,
        "it_power_kw": kw,
        "performance": {"m": {"points": [{"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": tput}]}},
        **extra,
    }


def request(**top: Any) -> Json:
    """One yearly period, no residual value: cost = Σ units·price exactly."""
    req: Json = {
        "horizon": {"start": "2026-01", "periods": 1, "period_months": 12},
        "economics": {"residual_value": False},
        "sites": [{"id": "s", "power_mw": 100}],
        "hardware": [hw("h", 100.0, 1.0, 1000.0)],
        "workloads": [{"id": "w", "model": "m", "min_tokens_per_s_per_user": 10, "demand_tokens_per_s": 1e5}],
    }
    req.update(top)
    return copy.deepcopy(req)


def power_request() -> Json:
    """Demand 1000 tok/s needs 10 units of 100 tok/s.  a: $1e5, 2 MW; b: $3e5, 1 MW.

    With P MW: a + b = 10, 2a + b <= P, so a = min(10, P − 10) for P in [10, 20]:
    cost = 3e6 − 2e5·(P − 10) and one more MW is worth 2e5; below 10 MW infeasible.
    """
    return request(
        sites=[{"id": "s", "power_mw": 15}],
        hardware=[hw("a", 1e5, 2000, 100), hw("b", 3e5, 1000, 100)],
        workloads=[{"id": "w", "model": "m", "min_tokens_per_s_per_user": 10, "demand_tokens_per_s": 1000}],
    )


def optional_workload() -> Json:
    """Workload w: 1000 tok/s of model m, none of which has to be served."""
    return {
        "id": "w",
        "model": "m",
        "min_tokens_per_s_per_user": 10,
        "demand_tokens_per_s": 1000,
        "min_service_fraction": 0,
    }


def frontier_request() -> Json:
    """a: $1e5, at most 5 units; b: $4e5, at most 3; 100 tok/s each; demand 1000 tok/s.

    cost(f) = 1e6·f for f <= 0.5, then 5e5 + 4e6·(f − 0.5); the most served is 0.8.
    """
    return request(
        hardware=[hw("a", 1e5, 1, 100, max_units_per_period=5), hw("b", 4e5, 1, 100, max_units_per_period=3)],
        workloads=[optional_workload()],
    )


def rel_close(a: float | None, b: float | None, rel: float = 1e-6) -> bool:
    assert a is not None and b is not None
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


class FakeClock:
    """time.monotonic() for solver.scenarios.sweep: one second later at every reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now
