"""Status mapping (solver/solve.py) and the diagnosis of infeasible requests
(solver/diagnose.py): the real status, never PuLP's "Optimal" at a time limit; an
infeasible request says which limit must move, where, when and by how much."""

from __future__ import annotations

import random

import pytest

from solver import Plan, plan
from solver.diagnose import amount_text
from tests.helpers.requests import Json, hardware, request, site, solve, workload

BACKENDS = ("highs", "cbc")


def large_mip(seed: int = 1, n_sites: int = 3, n_hw: int = 8, n_wl: int = 5, periods: int = 24) -> Json:
    """A random monthly integer plan of a few thousand variables (whole replicas up to 8
    units, tight power, a vendor cap) that no backend proves optimal within a second."""
    rnd = random.Random(seed)
    hws = [
        hardware(
            f"h{i}",
            vendor=f"v{i % 3}",
            price=rnd.uniform(50, 400),
            kw=rnd.uniform(0.5, 3),
            life=rnd.choice([1, 2, 3]),
            points=(
                (rnd.uniform(5, 15), rnd.uniform(500, 4000)),
                (rnd.uniform(20, 40), rnd.uniform(100, 400)),
            ),
            upr=rnd.choice([1, 2, 3, 4, 8]),
            maintenance_fraction_per_year=rnd.uniform(0, 0.1),
        )
        for i in range(n_hw)
    ]
    sites = [
        site(
            f"s{j}",
            power=[rnd.uniform(0.5, 2) for _ in range(periods)],
            pue=rnd.uniform(1, 1.5),
            energy_usd_per_mwh=rnd.uniform(30, 90),
        )
        for j in range(n_sites)
    ]
    wls = [
        workload(
            f"w{k}",
            speed=rnd.uniform(5, 25),
            demand=[rnd.uniform(1e5, 6e5) for _ in range(periods)],
            min_service_fraction=0.8,
            unmet_penalty_usd_per_million_tokens=0.05,
        )
        for k in range(n_wl)
    ]
    return request(
        periods=periods,
        period_months=1,
        sites=sites,
        hardware_=hws,
        workloads=wls,
        policy={"max_vendor_share": {"v0": 0.5}, "reserve_margin": 0.1},
        solver={"integer": True, "time_limit_s": 0.01, "mip_gap": 0},
    )


class TestStatus:
    @pytest.mark.parametrize("backend", BACKENDS)
    def test_optimal(self, backend: str) -> None:
        p = solve(request(), backend=backend)
        assert p.status == "optimal"
        assert p.solver.backend == backend
        assert p.objective.value == pytest.approx(2000, rel=1e-9)

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_infeasible(self, backend: str) -> None:
        p = solve(request(sites=[site(power=0.05)]), backend=backend)
        assert p.status == "infeasible"
        assert p.objective.value is None and p.periods == [] and p.shadow_prices is None
        assert p.diagnosis

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_time_limit_is_never_optimal(self, backend: str) -> None:
        # The library grants at least a second; this MIP needs far more.  A run stopped with
        # an incumbent is "feasible" (check_plan verifies it like any plan), without one
        # "time_limit" (no plan).
        p = solve(large_mip(), backend=backend)
        assert p.status in ("feasible", "time_limit"), p.solver.detail
        if p.status == "feasible":
            assert any("time limit" in w for w in p.warnings)
        else:
            assert p.objective.value is None and not p.periods

    def test_integer_plans_have_no_shadow_prices_but_tier_plans_do(self) -> None:
        # A $10,000 budget that buys exactly the 100 units needed: with the 100 whole units
        # fixed, a fixed LP would price the budget at 0; an integer plan publishes none.
        p = solve(request(budget={"capex_usd": 10_000}), integer=True)
        assert p.status == "optimal" and p.shadow_prices is None and "budget" in p.binding
        assert any(w.startswith("integer plan: no shadow prices") for w in p.warnings)
        tiers = [{"vendor": "v", "discount_tiers": [{"above_spend_usd": 1000, "discount": 0.1}]}]
        q = solve(request(contracts=tiers))  # tiers alone: purchases stay continuous
        assert q.shadow_prices is not None and q.shadow_prices.basis == "integer_fixed"
        assert not any(w.startswith("integer plan: no shadow prices") for w in q.warnings)

    def test_integer_request_with_nothing_to_buy_is_an_lp(self) -> None:
        # No hardware is allowed at the one site: nothing can be bought, the demand goes
        # unserved at its penalty.  Without a purchase column the model has nothing integer:
        # mixed_integer is false, prices are LP (check_plan once insisted on a MILP).
        wl = workload(min_service_fraction=0, unmet_penalty_usd_per_million_tokens=1)
        p = solve(request(sites=[site(allowed_hardware=[])], workloads=[wl]), integer=True)
        assert p.status == "optimal"
        assert (p.solver.integer, p.solver.mixed_integer) == (True, False)
        assert p.summary.units_acquired == {}
        assert p.shadow_prices is not None and p.shadow_prices.basis == "lp"

    def test_a_time_limit_over_the_librarys_cap_is_capped_and_said(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import solver.planner as planner

        given: list[float] = []
        real = planner.solve_model

        def record(m: object, backend: str, limit: float, *a: object) -> object:
            given.append(limit)
            return real(m, backend, limit, *a)  # type: ignore[arg-type]

        monkeypatch.setattr(planner, "solve_model", record)
        req = request()
        req["solver"] = {"time_limit_s": 80_000}
        p = plan(req)
        assert p.status == "optimal" and given == [3600.0]
        assert "time limit capped at 3600 s by the library (the request asked 80000 s)" in p.warnings
        # under a lower cap of the caller's (the service's), the caller reports it
        q = plan(req, max_time_limit_s=600)
        assert given[-1] == 600.0 and not any("capped" in w for w in q.warnings)
        req["solver"] = {"time_limit_s": 3600}
        assert not any("capped" in w for w in plan(req).warnings)

    def test_time_limited_incumbent_is_feasible(self) -> None:
        # HiGHS finds an incumbent but cannot close the gap in time: the plan is "feasible",
        # says so, and its price warning does not claim an optimum.
        from tests.helpers.service import slow_request  # runs to its limit with an incumbent

        p = plan(slow_request(time_limit_s=1))
        assert p.status == "feasible", p.solver.detail
        assert p.solver.mip_gap is not None and p.solver.mip_gap > 0.1
        assert any("stopped at the time limit with a feasible, unproven plan" in w for w in p.warnings)
        assert p.shadow_prices is None  # an integer plan has none
        assert any(w.startswith("integer plan: no shadow prices") for w in p.warnings)

    def test_an_unproven_tier_plans_prices_do_not_claim_an_optimum(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import dataclasses

        import solver.planner as planner
        from solver.solve import _is_mip

        real = planner.solve_model

        def first_stops_at_the_limit(m: object, *a: object, **k: object) -> object:
            mip = _is_mip(m)  # type: ignore[arg-type]
            out = real(m, *a, **k)  # type: ignore[arg-type]
            return dataclasses.replace(out, status="feasible", mip_gap=0.5) if mip else out

        monkeypatch.setattr(planner, "solve_model", first_stops_at_the_limit)
        tiers = [{"vendor": "v", "discount_tiers": [{"above_spend_usd": 1000, "discount": 0.1}]}]
        p = plan(request(contracts=tiers))
        assert p.status == "feasible" and p.shadow_prices is not None
        [prices] = [w for w in p.warnings if "(basis 'integer_fixed')" in w]
        assert "tiers reached fixed at the best plan found (not proven optimal)" in prices
        assert "their optimum" not in prices


class TestDiagnosis:
    def test_backends_find_the_same_smallest_relaxation_at_scale(self) -> None:
        # examples/infeasible-power.json: min service of 5e7-8e7 tokens/s.  The elastic model's
        # cost of a slack is 1/its row's size (1e-8 here): CBC took that for zero and answered
        # "serve none of chat" (Σ e/size = 2) where the least relaxation trims reasoning (0.93).
        import json
        from pathlib import Path

        req = json.loads(
            (Path(__file__).resolve().parents[2] / "examples" / "infeasible-power.json").read_text()
        )
        found = {}
        for backend in ("highs", "cbc"):
            p = solve(req, backend=backend)
            assert p.status == "infeasible"
            found[backend] = sorted(
                (d.workload, d.period, d.amount) for d in p.diagnosis if d.option == "reduce_service"
            )
        assert [(w, t) for w, t, _ in found["cbc"]] == [(w, t) for w, t, _ in found["highs"]]
        for (_, _, a), (_, _, b) in zip(found["cbc"], found["highs"], strict=True):
            assert a == pytest.approx(b, rel=1e-6)
        assert found["highs"] and {w for w, _, _ in found["highs"]} == {"reasoning"}

    def test_power_short_where_and_when(self) -> None:
        # tx-1 hosts 1,000 existing 10 kW units at PUE 1.25 = 12.5 MW; its envelope drops
        # from 20 MW to 10 MW in the second quarter.  No amount of unserved demand helps
        # (the fleet is installed whatever it serves): 2.5 MW short in 2026-04.
        p = solve(
            request(
                periods=2,
                period_months=3,
                sites=[site("tx-1", power=[20, 10], pue=1.25, existing=[{"hardware": "h", "units": 1000}])],
                hardware_=[hardware(kw=10, points=((10.0, 1e4),))],
                workloads=[workload(demand=1e6, min_service_fraction=0)],
            )
        )
        assert p.status == "infeasible"
        assert len(p.diagnosis) == 1
        d = p.diagnosis[0]
        assert (d.limit, d.site, d.period, d.unit) == ("power", "tx-1", "2026-04", "MW")
        assert d.amount == pytest.approx(2.5, rel=1e-7)
        assert d.message == "site tx-1 needs 2.5 MW more in 2026-04"

    @staticmethod
    def options(p: Plan) -> dict[str, list[tuple[str, str | None, str | None, float]]]:
        """Diagnosis entries by option: (limit, site/workload/hardware, period, amount)."""
        out: dict[str, list[tuple[str, str | None, str | None, float]]] = {}
        for d in p.diagnosis:
            where = d.site or d.workload or d.hardware or d.vendor
            out.setdefault(d.option, []).append((d.limit, where, d.period, d.amount))
        return out

    def test_power_short_with_pue(self) -> None:
        # 100 units x 1 kW x 1.25 = 0.125 MW needed, 0.05 MW there.  Either 0.075 MW more,
        # or serve what 40 units (0.05 MW / 1.25 kW) can: 40,000 of 100,000 tokens/s.
        p = solve(request(sites=[site(power=0.05, pue=1.25)]))
        opts = self.options(p)
        assert opts["add_capacity"] == [("power", "s", "2026-01", pytest.approx(0.075, rel=1e-7))]
        assert opts["reduce_service"] == [("min_service", "w", "2026-01", pytest.approx(60_000, rel=1e-7))]
        assert p.diagnosis[0].message == "site s needs 0.075 MW more in 2026-01"

    def test_large_amounts_are_written_without_an_exponent(self) -> None:
        # the micro-instance at 100x: 0.05 MW serve 40 units x 100,000 tokens/s = 4,000,000 of 10,000,000
        p = solve(
            request(
                sites=[site(power=0.05, pue=1.25)],
                hardware_=[hardware(points=((10.0, 1e5),))],
                workloads=[workload(demand=1e7)],
            )
        )
        (serve,) = [d for d in p.diagnosis if d.option == "reduce_service"]
        assert serve.amount == pytest.approx(6e6, rel=1e-7)
        assert serve.message == "workload w can serve 6,000,000 tokens/s less than its minimum in 2026-01"

    @pytest.mark.parametrize(
        ("amount", "text"),
        [
            (4553830.753687019, "4,553,831"),
            (1224.35, "1,224.35"),
            (0.4037829, "0.403783"),
            (0.000015, "0.000015"),
            (9.9999996, "10"),
            (40000.0, "40,000"),
        ],
    )
    def test_amount_text(self, amount: float, text: str) -> None:
        assert amount_text(amount) == text

    def test_budget_short(self) -> None:
        # 100 units at $100 against $9,000: $1,000 more, or 90 units serve 90,000 of 100,000 tokens/s.
        p = solve(request(budget={"capex_usd": 9000}))
        opts = self.options(p)
        assert opts["add_capacity"] == [("budget", None, None, pytest.approx(1000, rel=1e-7))]
        assert opts["reduce_service"] == [("min_service", "w", "2026-01", pytest.approx(10_000, rel=1e-7))]
        assert p.diagnosis[0].unit == "USD"

    def test_per_period_budget_short(self) -> None:
        # $9,500 buys 95 units in the first quarter: $500 more, or 5,000 tokens/s short then
        # (the second quarter buys the other 5 units from its ample budget).
        p = solve(request(periods=2, budget={"capex_per_period_usd": [9500, 1e9]}))
        opts = self.options(p)
        assert opts["add_capacity"] == [("budget_period", None, "2026-01", pytest.approx(500, rel=1e-7))]
        assert opts["reduce_service"] == [("min_service", "w", "2026-01", pytest.approx(5_000, rel=1e-7))]
        assert p.diagnosis[0].message == "the capex budget of 2026-01 needs $500 more"

    def test_total_budget_short(self) -> None:
        # 100 units at $100 plus $20 a unit-year of hosting fees: $12,000 of total spend
        # against $11,000 -> $1,000 more, or 1,000/120 fewer units serve 8,333.33 tokens/s less.
        fee = hardware(recurring_usd_per_unit_hour=20 / 8760)
        p = solve(request(hardware_=[fee], budget={"capex_usd": 1e6, "total_usd": 11_000}))
        opts = self.options(p)
        assert opts["add_capacity"] == [("total_budget", None, None, pytest.approx(1000, rel=1e-7))]
        assert opts["reduce_service"] == [("min_service", "w", "2026-01", pytest.approx(1e6 / 120, rel=1e-7))]
        assert p.diagnosis[0].message == "the total budget (capex + opex) needs $1,000 more"

    def test_total_budget_below_the_existing_fleets_opex(self) -> None:
        # 50 existing units cost $20 a unit-year to host, whatever they serve: $1,000 against a
        # total budget of $600 ($400 more); buying nothing and serving nothing cannot help.
        fee = hardware(recurring_usd_per_unit_hour=20 / 8760)
        p = solve(
            request(
                sites=[site(existing=[{"hardware": "h", "units": 50}])],
                hardware_=[fee],
                workloads=[workload(min_service_fraction=0)],
                budget={"total_usd": 600},
            )
        )
        assert self.options(p) == {
            "add_capacity": [("total_budget", None, None, pytest.approx(400, rel=1e-7))]
        }

    def test_per_period_total_budget_short(self) -> None:
        # Two quarters, fee $20 a unit-year ($5 a quarter): the first quarter buys 100 units
        # ($10,000) and hosts them ($500); $10,000 there is $500 short.
        fee = hardware(recurring_usd_per_unit_hour=20 / 8760)
        p = solve(
            request(
                periods=2, period_months=3, hardware_=[fee], budget={"total_per_period_usd": [10_000, 1e9]}
            )
        )
        opts = self.options(p)
        assert opts["add_capacity"] == [
            ("total_budget_period", None, "2026-01", pytest.approx(500, rel=1e-7))
        ]
        assert p.diagnosis[0].message == "the total budget (capex + opex) of 2026-01 needs $500 more"

    def test_min_service_short(self) -> None:
        # Only 60 units can be bought: 40 more units of supply, or 40,000 tokens/s unserved.
        p = solve(request(hardware_=[hardware(max_units_per_period=60)]))
        opts = self.options(p)
        assert opts["add_capacity"] == [("supply", "h", "2026-01", pytest.approx(40, rel=1e-7))]
        assert opts["reduce_service"] == [("min_service", "w", "2026-01", pytest.approx(40_000, rel=1e-7))]

    def test_power_short_where_no_service_cut_helps_has_one_option(self) -> None:
        # An existing fleet over the site's power: serving less cannot help.
        p = solve(
            request(
                periods=1,
                sites=[site("tx-1", power=5, existing=[{"hardware": "h", "units": 10_000}])],
                hardware_=[hardware(kw=1, points=((10.0, 1e4),))],
                workloads=[workload(demand=1e6, min_service_fraction=0)],
            )
        )
        assert self.options(p) == {"add_capacity": [("power", "tx-1", "2026-01", pytest.approx(5, rel=1e-7))]}

    def test_integer_request_is_diagnosed_on_the_relaxation(self) -> None:
        p = solve(request(budget={"capex_usd": 9000}), integer=True)
        assert p.status == "infeasible"
        assert p.diagnosis[0].amount == pytest.approx(1000, rel=1e-7)
        assert any("continuous relaxation" in w for w in p.warnings)

    def test_whole_replicas_that_do_not_fit_are_diagnosed_with_whole_units(self) -> None:
        # 1,000 tokens/s need 1 unit, but a replica takes 4 ($400) and the budget is $250:
        # the relaxation (1 unit, $100) is feasible and has nothing to say; with whole
        # replicas the budget is $150 short, or the 1,000 tokens/s cannot be served.
        hw = [hardware(upr=4.0, points=((10.0, 1000.0),))]
        p = solve(
            request(hardware_=hw, workloads=[workload(demand=1000.0)], budget={"capex_usd": 250}),
            integer=True,
        )
        assert p.status == "infeasible"
        assert self.options(p) == {
            "add_capacity": [("budget", None, None, pytest.approx(150, rel=1e-7))],
            "reduce_service": [("min_service", "w", "2026-01", pytest.approx(1000, rel=1e-7))],
        }
        assert any("with whole units" in w for w in p.warnings)


class TestDiagnosisTimeLimit:
    """The elastic re-solves share the time left of the solve: none starts once it is spent,
    and a re-solve that ends at its limit is not read as "no relaxation helps"."""

    def whole_replicas(self) -> Json:
        # as above: feasible relaxation, infeasible with whole replicas (diagnosed as a MILP)
        hw = [hardware(upr=4.0, points=((10.0, 1000.0),))]
        req = request(hardware_=hw, workloads=[workload(demand=1000.0)], budget={"capex_usd": 250})
        req["solver"] = {"integer": True, "time_limit_s": 5}
        return req

    def patch(self, monkeypatch: pytest.MonkeyPatch, milp_ends: str) -> list[float]:
        """A fake clock for the diagnosis; each MILP re-solve takes its whole limit on it and
        ends ``milp_ends`` (for "feasible" with the real solve's values).  Returns the limits
        the MILP re-solves were given."""
        import dataclasses
        import types

        import solver.diagnose as diagnose
        from solver.solve import _is_mip

        now = [1000.0]
        monkeypatch.setattr(diagnose, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
        real = diagnose.solve_model
        limits: list[float] = []

        def timed(m: object, backend: str = "highs", time_limit_s: float = 60.0) -> object:
            if not _is_mip(m):  # type: ignore[arg-type]
                return real(m, backend=backend, time_limit_s=time_limit_s)  # type: ignore[arg-type]
            limits.append(time_limit_s)
            now[0] += time_limit_s
            out = real(m, backend=backend, time_limit_s=time_limit_s)  # type: ignore[arg-type]
            return dataclasses.replace(out, status=milp_ends)

        monkeypatch.setattr(diagnose, "solve_model", timed)
        return limits

    def test_milps_that_run_to_the_limit_stop_the_diagnosis(self, monkeypatch: pytest.MonkeyPatch) -> None:
        limits = self.patch(monkeypatch, "time_limit")
        p = plan(self.whole_replicas())
        assert p.status == "infeasible" and p.diagnosis == []
        # one MILP got (nearly) the whole 5 s; none was started after it
        assert len(limits) == 1 and 4.0 < limits[0] <= 5.0
        [note] = [w for w in p.warnings if "diagnosis ran out of time" in w]
        assert "raise solver.time_limit_s" in note
        assert not any("found no relaxation" in w for w in p.warnings)

    def test_an_unproven_relaxation_is_shown_and_said_to_be_unproven(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        limits = self.patch(monkeypatch, "feasible")
        p = plan(self.whole_replicas())
        assert p.status == "infeasible"
        # the first MILP found the $150 (add_capacity) and spent the time: reduce_service never ran
        assert TestDiagnosis.options(p) == {
            "add_capacity": [("budget", None, None, pytest.approx(150, rel=1e-7))]
        }
        assert len(limits) == 1
        [note] = [w for w in p.warnings if "diagnosis stopped at its time limit" in w]
        assert "an option may be missing" in note and "not proven the smallest" in note


class TestSelfCheck:
    def test_a_solver_objective_the_tables_do_not_support_fails_the_plan(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A numerically hopeless model once came back "optimal" from CBC with an objective of
        # -1e15 and no units.  The plan checks the solver's objective against its own tables.
        import dataclasses

        import solver.planner as planner
        from solver import plan

        real = planner.solve_model

        def off_by_a_dollar(*a: object, **k: object) -> object:
            out = real(*a, **k)  # type: ignore[arg-type]
            return dataclasses.replace(out, objective=(out.objective or 0.0) + 1.0)

        monkeypatch.setattr(planner, "solve_model", off_by_a_dollar)
        p = plan(request())
        assert p.status == "failed" and p.objective.value is None and not p.periods
        assert p.solver.detail.startswith(
            "numerical trouble: the solver's objective 2,001 disagrees with 2,000"
        )

    def test_a_cent_of_round_off_is_no_trouble(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import dataclasses

        import solver.planner as planner
        from solver import plan

        real = planner.solve_model

        def off_by_half_a_cent(*a: object, **k: object) -> object:
            out = real(*a, **k)  # type: ignore[arg-type]
            return dataclasses.replace(out, objective=(out.objective or 0.0) + 0.005)

        monkeypatch.setattr(planner, "solve_model", off_by_half_a_cent)
        assert plan(request()).status == "optimal"


class TestCbcFallback:
    def test_a_highs_failure_is_retried_on_cbc(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import solver.solve as solve_mod

        def broken(
            m: object, limit: float, mip_gap: float, warm: object = None, method: str = "auto"
        ) -> solve_mod.SolveOutcome:
            return solve_mod.SolveOutcome("failed", "HiGHS: kSolveError", None, 0.0)

        monkeypatch.setattr(solve_mod, "_solve_highs", broken)
        p = solve(request())
        # the micro-instance of the issue: 100 units at $100, 5-year life, residual 80 %
        assert (p.status, p.solver.backend) == ("optimal", "cbc")
        assert p.objective.value == pytest.approx(2000, rel=1e-9)
        assert any("retried with CBC" in w for w in p.warnings)

    def test_a_cbc_that_cannot_run_is_named_without_its_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import pulp

        def crash(self: object, solver: object = None) -> int:
            raise pulp.PulpSolverError("Pulp: Error while executing /opt/venv/lib/pulp/solverdir/cbc/cbc")

        monkeypatch.setattr(pulp.LpProblem, "solve", crash)
        p = solve(request(), backend="cbc")
        assert p.status == "failed"
        assert p.solver.detail == "CBC: Pulp: Error while executing cbc"

    def test_no_fallback_when_cbc_was_asked_for(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import solver.solve as solve_mod

        def broken(m: object, backend: str, limit: float, mip_gap: float) -> solve_mod.SolveOutcome:
            return solve_mod.SolveOutcome("failed", "CBC: error", None, 0.0)

        monkeypatch.setattr(solve_mod, "_solve_pulp", broken)
        p = solve(request(), backend="cbc")
        assert (p.status, p.solver.backend) == ("failed", "cbc")


def _glpk_missing() -> str | None:
    import shutil

    return (
        None
        if shutil.which("glpsol")
        else "GLPK's glpsol is not on PATH (Debian's glpk-utils; .ci/run installs it)"
    )


class TestPulpBackends:
    """Any solver PuLP drives is a backend when installed; the same arrays reach it."""

    REQ = request(
        periods=2,
        hardware_=[hardware(), hardware("g", price=150.0, points=((10.0, 2000.0),))],
        workloads=[workload(demand=[50_000.0, 120_000.0])],
    )

    @pytest.mark.skipif(_glpk_missing() is not None, reason=str(_glpk_missing()))
    @pytest.mark.parametrize("integer", [False, True])
    def test_glpk_agrees_with_highs(self, integer: bool) -> None:
        """g serves 2,000 tokens/s for $150 ($0.075 per token/s, h $0.10): 25 g in 2026 and 35
        more in 2027, keeping 3/5 and 4/5 of their price: 25·150·2/5 + 35·150·1/5 = 1,500 + 1,050."""
        req = {**self.REQ, "solver": {"backend": "glpk", "integer": integer}}
        glpk, highs = plan(req), plan({**req, "solver": {"integer": integer}})
        assert glpk.status == highs.status == "optimal"
        assert glpk.objective.value == pytest.approx(2550.0, rel=1e-9)
        assert highs.objective.value == pytest.approx(2550.0, rel=1e-9)
        assert glpk.summary.units_acquired == pytest.approx(highs.summary.units_acquired, rel=1e-9)
        # GLPK's command line gives PuLP no duals: no prices, and the plan says why
        assert glpk.shadow_prices is None
        if not integer:
            assert any("returned no duals" in w for w in glpk.warnings)

    def test_a_backend_not_installed_is_refused_at_its_field(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from solver import RequestInvalid, solve

        real = solve.backend_available
        monkeypatch.setattr(solve, "backend_available", lambda b: b != "gurobi" and real(b))
        with pytest.raises(RequestInvalid) as err:
            plan({**self.REQ, "solver": {"backend": "gurobi"}})
        (e,) = err.value.errors
        assert e.path == "/solver/backend"
        assert e.message.startswith("'gurobi' is not installed here (available: highs, cbc")

    def test_an_unknown_backend_is_refused_at_its_field(self) -> None:
        from solver import RequestInvalid

        with pytest.raises(RequestInvalid) as err:
            plan({**self.REQ, "solver": {"backend": "excel"}})
        assert [e.path for e in err.value.errors] == ["/solver/backend"]


class TestWarmStarts:
    """A sweep worker's next scenario starts HiGHS from the last basis of the same structure;
    the answer is the cold solve's."""

    REQ = request(
        periods=3,
        hardware_=[hardware(), hardware("g", price=150.0, points=((10.0, 2000.0),))],
        workloads=[workload(demand=[50_000.0, 120_000.0, 90_000.0])],
    )

    def test_same_structure_starts_warm_and_answers_as_cold(self) -> None:
        from solver.solve import WarmStarts

        warm = WarmStarts()
        first = plan(self.REQ, warm=warm)
        assert not first.solver.warm_started  # nothing to start from yet
        cheaper = {**self.REQ, "hardware": [hardware(price=60.0), self.REQ["hardware"][1]]}
        again = plan(cheaper, warm=warm)
        cold = plan(cheaper)
        assert again.solver.warm_started and not cold.solver.warm_started
        assert again.status == cold.status == "optimal"
        # h at $60 for 1,000 tokens/s ($0.06) now beats g ($0.075): the plan moved, and the warm
        # start found the same optimum as the cold solve
        assert again.summary.units_acquired.get("h", 0.0) > 0.0
        assert again.objective.value == pytest.approx(cold.objective.value, rel=1e-9)
        assert again.summary.units_acquired == pytest.approx(cold.summary.units_acquired, rel=1e-9)

    def test_another_structure_starts_cold(self) -> None:
        from solver.solve import WarmStarts

        warm = WarmStarts()
        plan(self.REQ, warm=warm)
        longer = {**self.REQ, "horizon": {**self.REQ["horizon"], "periods": 2}}
        longer["workloads"] = [workload(demand=[50_000.0, 120_000.0])]
        assert not plan(longer, warm=warm).solver.warm_started


class TestMethods:
    """HiGHS's LP methods agree on the optimum and its prices (ipm with crossover: exact duals)."""

    REQ = request(
        periods=2,
        sites=[site(power=0.05)],
        hardware_=[hardware(), hardware("g", price=150.0, points=((10.0, 2000.0),))],
        workloads=[
            workload(
                demand=[50_000.0, 120_000.0], unmet_penalty_usd_per_million_tokens=1.0, min_service_fraction=0
            )
        ],
    )

    @pytest.mark.parametrize("method", ["simplex", "ipm"])
    def test_the_method_gives_the_auto_plan(self, method: str) -> None:
        auto = solve(self.REQ)
        other = solve(self.REQ, method=method)
        assert other.objective.value == pytest.approx(auto.objective.value, rel=1e-7)
        assert auto.shadow_prices is not None and other.shadow_prices is not None
        a = [p.value for p in auto.shadow_prices.power_usd_per_mw]
        b = [p.value for p in other.shadow_prices.power_usd_per_mw]
        assert b == pytest.approx(a, rel=1e-6)
        assert max(a) > 0  # the site's 50 kW bind: the prices compared are real

    def test_an_unknown_method_is_refused_at_its_field(self) -> None:
        from solver import RequestInvalid

        with pytest.raises(RequestInvalid) as err:
            plan({**self.REQ, "solver": {"method": "barrier"}})
        assert [e.path for e in err.value.errors] == ["/solver/method"]


class TestOneHighsThreadPool:
    def test_a_highs_run_at_the_default_threads_first_does_not_break_later_solves(self) -> None:
        """Regression: HiGHS's thread pool is per process; the idle-purchase check of a plan solved
        with CBC ran HiGHS first, at the default thread count, and every later HiGHS solve in
        that process failed ("Not Set") and fell back to CBC (the shadow-price tests, under -n 2)."""
        import subprocess
        import sys

        code = (
            "import highspy; from solver.solve import new_highs; from solver import plan; "
            "from tests.helpers.requests import request; "
            "h = new_highs(); h.passModel(highspy.HighsLp()); h.run(); "
            "p = plan(request()); print(p.solver.backend, len(p.warnings))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.split() == ["highs", "0"]
