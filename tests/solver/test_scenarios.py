"""Scenario analysis: path addressing, sweep validation, sweeps, tornado, frontier, workers.

The sweep and frontier numbers are checked against hand-solved micro-instances (one
period of a year, no residual value, so a unit costs exactly its price) and against
separate ``plan()`` calls on requests modified by hand (not through the sweep's own
path code).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import solver.scenarios.sweep as sweep_module
from solver import FieldError, RequestInvalid, parse_request, plan
from solver.errors import CheckTooLong
from solver.model import prepare
from solver.scenarios.frontier import prepare_frontier, run_frontier
from solver.scenarios.paths import PathError, resolve_path
from solver.scenarios.results import ScenarioRow, tornado
from solver.scenarios.run import RunOptions, ScenarioOutcome, ScenarioTask, solve_scenario
from solver.scenarios.sweep import _label, prepare_sweep, run_sweep
from tests.helpers.scenario_requests import (
    FakeClock,
    Json,
    frontier_request,
    hw,
    optional_workload,
    power_request,
    rel_close,
    request,
)

SECONDS_PER_YEAR = 8760 * 3600


# ----------------------------------------------------------------------------- paths


class TestPaths:
    def base(self) -> Json:
        req = request(
            hardware=[hw("h", 100.0, 1.0, 1000.0), {"catalog": "cerebras-cs3", "unit_price_usd": 2.2e6}],
            sites=[{"id": "s", "power_mw": [10, 20]}, {"id": "t", "power_mw": 5}],
            horizon={"start": "2026-01", "periods": 2, "period_months": 12},
            workloads=[
                {"id": "w", "model": "m", "min_tokens_per_s_per_user": 10, "demand_tokens_per_s": 1e5},
                {
                    "id": "x",
                    "model": "llama-70b",
                    "min_tokens_per_s_per_user": 10,
                    "demand_tokens_per_s": 1e5,
                },
            ],
            policy={"max_vendor_share": {"v": 0.9}},
        )
        from solver import parse_request

        return parse_request(req).model_dump(mode="json")

    def test_list_items_by_id_and_catalog_entries_by_resolved_id(self) -> None:
        base = self.base()
        t = resolve_path(base, "hardware/cerebras-cs3/unit_price_usd")
        assert t.steps == ("hardware", 1, "unit_price_usd")
        assert t.base_value == 2.2e6
        assert resolve_path(base, "sites/t/power_mw").steps == ("sites", 1, "power_mw")
        assert resolve_path(base, "workloads/x/demand_growth_per_year").base_value == 0.0

    def test_per_period_element_dict_key_and_leading_slash(self) -> None:
        base = self.base()
        t = resolve_path(base, "/sites/s/power_mw/1")
        assert t.steps == ("sites", 0, "power_mw", 1) and t.base_value == 20
        assert resolve_path(base, "policy/max_vendor_share/v").base_value == 0.9
        absent = resolve_path(base, "policy/max_vendor_share/cerebras")
        assert not absent.present and absent.base_value is None
        assert resolve_path(base, "budget/capex_usd").base_value is None

    @pytest.mark.parametrize(
        ("path", "words"),
        [
            ("sites/nope/power_mw", ["no entry of sites", "'nope'", "known: s, t"]),
            ("sites/s/powr_mw", ["sites/s has no field 'powr_mw'", "power_mw"]),
            ("budgett/capex_usd", ["the request has no field 'budgett'"]),
            ("sites/t/power_mw/0", ["sites/t/power_mw is a single number"]),
            ("sites/s/power_mw/7", ["position 0-1"]),
            ("hardware/h/performance/m/points/x", ["without ids", "'x'"]),
            ("sites//power_mw", ["not a path"]),
        ],
    )
    def test_bad_paths_say_which_part_fails(self, path: str, words: list[str]) -> None:
        with pytest.raises(PathError) as exc:
            resolve_path(self.base(), path)
        for w in words:
            assert w in str(exc.value)


# ----------------------------------------------------------------------------- validation


def errors_of(body: Json, **kw: Any) -> dict[str, str]:
    with pytest.raises(RequestInvalid) as exc:
        prepare_sweep(body, **kw)
    return {e.path: e.message for e in exc.value.errors}


def nested(depth: int, kind: str) -> Any:
    """A list (``[[...]]``) or an object (``{"a": {"a": ... 1}}``) nested ``depth`` levels."""
    value: Any = [] if kind == "list" else 1
    for _ in range(depth - (kind == "list")):
        value = [value] if kind == "list" else {"a": value}
    return value


class TestDeepValues:
    DEEP = "the value nests lists or objects more than 32 levels deep, which no request field does"

    @pytest.mark.parametrize("depth", [33, 600, 950, 100_000])
    @pytest.mark.parametrize("kind", ["list", "obj"])
    def test_a_value_nested_too_deep_is_refused_naming_its_parameter(self, depth: int, kind: str) -> None:
        # 600-950 levels (what a JSON body may hold) used to exhaust the stack in the copy of
        # the value: a RecursionError, a 500 from the service
        value = nested(depth, kind)
        errs = errors_of(
            {
                "base": power_request(),
                "parameters": [
                    {"path": "name", "values": ["ok", value]},
                    {"path": "sites/s/expansion", "values": [value]},
                    {"path": "sites/s/power_mw", "values": [12, 14, value]},
                ],
            }
        )
        assert errs == {
            "/parameters/0/values/1": f"name: {self.DEEP}",
            "/parameters/1/values/0": f"sites/s/expansion: {self.DEEP}",
            "/parameters/2/values/2": f"sites/s/power_mw: {self.DEEP}",
        }

    def test_the_limit_counts_levels(self) -> None:
        assert nested(3, "list") == [[[]]] and nested(2, "obj") == {"a": {"a": 1}}
        # 32 levels pass the depth check: the field's own check refuses them
        errs = errors_of(
            {"base": power_request(), "parameters": [{"path": "name", "values": [nested(32, "list")]}]}
        )
        assert errs == {"/parameters/0/values/0": "name: /name: Input should be a valid string"}

    def test_the_deepest_request_fields_are_far_from_the_limit(self) -> None:
        # a whole hardware list (6 levels: list, item, performance, model, points, point)
        base = parse_request(frontier_request()).model_dump(mode="json")
        cheaper = copy.deepcopy(base["hardware"])
        cheaper[1]["unit_price_usd"] = 1e5
        sweep = prepare_sweep(
            {"base": frontier_request(), "parameters": [{"path": "hardware", "values": [cheaper]}]}
        )
        assert sweep.scenarios[0].request["hardware"][1]["unit_price_usd"] == 1e5


class TestSweepValidation:
    def test_unknown_paths_and_wrong_types_are_all_named_before_anything_runs(self) -> None:
        errs = errors_of(
            {
                "base": request(),
                "parameters": [
                    {"path": "sites/s/power_mw", "values": [10, "lots", -5]},
                    {"path": "sites/zz/power_mw", "values": [1]},
                    {"path": "hardware/h/unit_price", "values": [1]},
                    {"path": "budget/capex_usd", "scale": [2]},
                    {"path": "name", "scale": [2]},
                ],
            }
        )
        assert set(errs) == {
            "/parameters/0/values/1",
            "/parameters/0/values/2",
            "/parameters/1/path",
            "/parameters/2/path",
            "/parameters/3/scale",
            "/parameters/4/scale",
        }
        assert (
            "sites/s/power_mw: /sites/0/power_mw: Input should be a valid number"
            in errs["/parameters/0/values/1"]
        )
        assert "greater than or equal to 0" in errs["/parameters/0/values/2"]
        assert "'zz'" in errs["/parameters/1/path"]
        assert "no field 'unit_price'" in errs["/parameters/2/path"]
        assert "null or absent" in errs["/parameters/3/scale"]
        assert "scale needs a number" in errs["/parameters/4/scale"]

    def test_a_scaled_integer_field_that_stops_being_whole_is_refused_naming_the_factor(self) -> None:
        base = request(hardware=[hw("h", 100.0, 1.0, 1000.0, lead_time_periods=2)])
        errs = errors_of(
            {"base": base, "parameters": [{"path": "hardware/h/lead_time_periods", "scale": [1.5, 1.25]}]}
        )
        assert errs == {
            "/parameters/0/scale/1": "hardware/h/lead_time_periods takes whole numbers: 2 × 1.25 = 2.5 is not one"
        }

    def test_a_scaled_integer_field_that_stays_whole_is_an_integer(self) -> None:
        base = request(hardware=[hw("h", 100.0, 1.0, 1000.0, lead_time_periods=1)])
        base["horizon"]["periods"] = 3
        sw = prepare_sweep(
            {
                "base": base,
                "parameters": [{"path": "hardware/h/lead_time_periods", "scale": [2, 0, 1.1 * 10 / 11]}],
            }
        )
        got = [sc.request["hardware"][0]["lead_time_periods"] for sc in sw.scenarios]
        assert got == [2, 0, 1] and all(type(x) is int for x in got)
        assert [sc.values["hardware/h/lead_time_periods"] for sc in sw.scenarios] == [2, 0, 1]
        assert [sc.factors["hardware/h/lead_time_periods"] for sc in sw.scenarios] == [
            2.0,
            0.0,
            1.1 * 10 / 11,
        ]

    def test_an_integer_beyond_the_float_range_is_a_422_not_an_overflow(self) -> None:
        # lead_time_periods had no upper bound: 10**400 × a factor overflowed the float
        # product (OverflowError, a 500 from the service).  It is bounded (1,200) now, and
        # integers are scaled exactly: 1,200 × 0.1 is 120, a whole number.
        base = request(hardware=[hw("h", 100.0, 1.0, 1000.0, lead_time_periods=10**400)])
        scale = [{"path": "hardware/h/lead_time_periods", "scale": [2, 0.1]}]
        with pytest.raises(RequestInvalid) as exc:
            prepare_sweep({"base": base, "parameters": scale})
        assert [e.path for e in exc.value.errors] == ["/base/hardware/0/lead_time_periods"]
        base = request(hardware=[hw("h", 100.0, 1.0, 1000.0, lead_time_periods=1200)])
        sw = prepare_sweep({"base": base, "parameters": [{**scale[0], "scale": [0.1, 0.5]}]})
        got = [sc.request["hardware"][0]["lead_time_periods"] for sc in sw.scenarios]
        assert got == [120, 600] and all(type(x) is int for x in got)

    def test_catalog_lead_times_sweep_in_either_unit_and_over_period_lengths(self) -> None:
        # A catalog item's base holds lead_time_months 3 (and lead_time_periods null): a value
        # for lead_time_periods replaces the months (one unit per item, as a catalog override
        # does); scaling the months works; period_months converts the months each time.
        base = request(
            hardware=[{"catalog": "nvidia-b300-8x", "id": "g"}],
            workloads=[
                {"id": "w", "model": "llama-70b", "min_tokens_per_s_per_user": 25, "demand_tokens_per_s": 1e5}
            ],
            horizon={"start": "2026-01", "periods": 4, "period_months": 3},
        )

        def leads(params: list[Json]) -> list[int]:
            sw = prepare_sweep({"base": base, "parameters": params, "mode": "one_at_a_time"})
            return [prepare(parse_request(sc.request)).lead[0] for sc in sw.scenarios]

        assert leads([{"path": "hardware/g/lead_time_periods", "values": [0, 2]}]) == [1, 0, 2]
        assert leads([{"path": "hardware/g/lead_time_months", "scale": [0, 2, 4]}]) == [1, 0, 2, 4]
        assert leads([{"path": "horizon/period_months", "values": [1, 6, 12]}]) == [1, 3, 1, 0]
        errs = errors_of(
            {"base": base, "parameters": [{"path": "hardware/g/lead_time_periods", "scale": [2]}]}
        )
        assert "no value in the base request" in errs["/parameters/0/scale"]

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"parameters": [{"path": "sites/s/power_mw", "scale": ["2"]}]}, "/parameters/0/scale/0"),
            ({"parameters": [{"path": "sites/s/power_mw", "scale": [True]}]}, "/parameters/0/scale/0"),
            ({"parameters": [{"path": 7, "values": [1]}]}, "/parameters/0/path"),
            ({"parameters": [{"path": "sites/s/power_mw", "values": "12"}]}, "/parameters/0/values"),
        ],
    )
    def test_json_types_are_strict(self, body: Json, path: str) -> None:
        errs = errors_of({"base": request(), **body})
        assert list(errs) == [path]
        assert errs[path].startswith("Input should be a valid")

    def test_an_integer_factor_is_a_number(self) -> None:
        sw = prepare_sweep({"base": request(), "parameters": [{"path": "sites/s/power_mw", "scale": [2]}]})
        assert sw.scenarios[0].request["sites"][0]["power_mw"] == 200.0

    def test_the_cap_is_checked_before_any_value(self) -> None:
        # 2,000 bad values: one error (the cap), not 2,000 value errors
        params = [{"path": "sites/s/power_mw", "values": ["lots"] * 2000}]
        errs = errors_of({"base": request(), "parameters": params})
        assert errs == {"/parameters": "the grid sweep would run 2000 scenarios, more than the cap of 1000"}

    def test_many_overlapping_parameters_give_at_most_50_errors(self) -> None:
        body = {"base": request(), "parameters": [{"path": "name", "values": ["x"]}] * 3000}
        with pytest.raises(RequestInvalid) as exc:
            prepare_sweep(body)
        errors = exc.value.errors
        assert len(errors) == 50
        assert [e.path for e in errors[:49]] == [f"/parameters/{i}/path" for i in range(1, 50)]
        assert errors[0].message == "name overlaps /parameters/0 (name)"
        assert errors[-1] == FieldError("/parameters", "… and more problems, not listed")

    def test_many_bad_values_give_at_most_50_errors(self) -> None:
        params = [{"path": "sites/s/power_mw", "values": ["lots"] * 900}]
        with pytest.raises(RequestInvalid) as exc:
            prepare_sweep({"base": request(), "parameters": params})
        paths = [e.path for e in exc.value.errors]
        assert paths == [f"/parameters/0/values/{j}" for j in range(49)] + ["/parameters"]

    def test_an_objective_kind_tornado_is_refused(self) -> None:
        params = [
            {"path": "sites/s/power_mw", "values": [50]},
            {"path": "objective/kind", "values": ["max_served"]},
        ]
        errs = errors_of({"base": request(), "parameters": params, "mode": "one_at_a_time"})
        assert list(errs) == ["/parameters/1/path"]
        assert errs["/parameters/1/path"].startswith("objective/kind: the objective's kind sets its unit")
        sw = prepare_sweep({"base": request(), "parameters": params})  # a grid has no tornado
        assert [sc.request["objective"]["kind"] for sc in sw.scenarios] == ["max_served"]

    def test_cap_counts_grid_and_one_at_a_time_differently(self) -> None:
        params = [
            {"path": "sites/s/power_mw", "values": [1, 2, 3]},
            {"path": "budget/capex_usd", "values": [1, 2, 3]},
        ]
        errs = errors_of({"base": request(), "parameters": params}, max_scenarios=8)
        assert errs == {"/parameters": "the grid sweep would run 9 scenarios, more than the cap of 8"}
        ok = prepare_sweep(
            {"base": request(), "parameters": params, "mode": "one_at_a_time"}, max_scenarios=7
        )
        assert len(ok.scenarios) == 7  # the base + 3 + 3

    def test_structure_errors(self) -> None:
        errs = errors_of(
            {"base": request(), "parameters": [{"path": "budget/capex_usd", "values": [1], "scale": [2]}]}
        )
        assert "exactly one of 'values' or 'scale'" in errs["/parameters/0"]
        errs = errors_of({"base": request(), "parameters": []})
        assert "/parameters" in errs
        errs = errors_of({"base": request(), "parameters": [{"path": "x", "values": [1]}], "mode": "tornado"})
        assert "/mode" in errs
        errs = errors_of({"base": request(), "parameters": [{"path": "budget/capex_usd", "values": []}]})
        assert "/parameters/0/values" in errs

    def test_base_errors_point_into_the_base(self) -> None:
        base = request()
        base["sites"][0]["power_mw"] = -1
        errs = errors_of({"base": base, "parameters": [{"path": "budget/capex_usd", "values": [1]}]})
        assert list(errs) == ["/base/sites/0/power_mw"]

    def test_overlapping_paths_are_refused(self) -> None:
        base = request(sites=[{"id": "s", "power_mw": [1.0]}])
        errs = errors_of(
            {
                "base": base,
                "parameters": [
                    {"path": "sites/s/power_mw", "values": [[2.0]]},
                    {"path": "sites/s/power_mw/0", "values": [3.0]},
                ],
            }
        )
        assert "overlaps /parameters/0" in errs["/parameters/1/path"]

    def test_every_kind_of_overlap_is_named_once_against_an_earlier_parameter(self) -> None:
        base = request(sites=[{"id": "s", "power_mw": [1.0]}, {"id": "t", "power_mw": 2.0}])
        paths = [
            "sites/s/power_mw/0",
            "sites/t/pue",
            "sites/s/power_mw",
            "/sites/s/power_mw/0/",
            "sites",
            "name",
        ]
        params = [{"path": p, "values": [1.0]} for p in paths]
        errs = errors_of({"base": base, "parameters": params})
        assert {k: v for k, v in errs.items() if k.endswith("/path")} == {
            "/parameters/2/path": "sites/s/power_mw overlaps /parameters/0 (sites/s/power_mw/0)",
            "/parameters/3/path": "/sites/s/power_mw/0/ overlaps /parameters/0 (sites/s/power_mw/0)",
            "/parameters/4/path": "sites overlaps /parameters/0 (sites/s/power_mw/0)",
        }

    def test_values_valid_alone_but_not_together_are_named(self) -> None:
        base = request(hardware=[hw("h", 100.0, 1.0, 1000.0), hw("g", 100.0, 1.0, 1000.0, vendor="u")])
        errs = errors_of(
            {
                "base": base,
                "parameters": [
                    {"path": "policy/max_vendor_share/v", "values": [0.3, 0.9]},
                    {"path": "policy/min_vendor_share/v", "values": [0.5]},
                ],
            }
        )
        assert list(errs) == ["/parameters"]
        assert "scenario 0" in errs["/parameters"] and "exceeds max_vendor_share" in errs["/parameters"]

    def test_a_scenario_is_labelled_with_its_values_as_json_spells_them(self) -> None:
        values = {"solver/integer": True, "budget": None, "x": 0.1, "y": "a", "z": [1, 2]}
        assert _label(values) == "solver/integer=true, budget=null, x=0.1, y=a, z=[1, 2]"  # not True, None


class TestCheckBudget:
    def test_checking_stops_at_the_budget(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # One reading at the start (1 s), one before each of the 5 values is checked (2, 3, 4 …
        # s): 2 s and 3 s after the start are past a budget of 2.5 s at the third value.
        monkeypatch.setattr(sweep_module, "time", FakeClock())
        body = {
            "base": power_request(),
            "parameters": [{"path": "sites/s/power_mw", "values": [11, 12, 13, 14, 15]}],
        }
        with pytest.raises(CheckTooLong) as exc:
            prepare_sweep(body, check_budget_s=2.5)
        assert str(exc.value) == (
            "checking the sweep took over 2.5 s (2 of 5 checks of a scenario request made): fewer "
            "scenarios or a smaller base request check faster"
        )
        assert exc.value.budget_s == 2.5

    def test_a_grid_counts_its_combinations_too(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # 2 + 2 values alone, then 4 combinations: 8 checks; the 7th (reading 8, 7 s after the
        # start) is past 6.5 s, with 6 made.
        monkeypatch.setattr(sweep_module, "time", FakeClock())
        body = {
            "base": power_request(),
            "mode": "grid",
            "parameters": [
                {"path": "sites/s/power_mw", "values": [11, 12]},
                {"path": "hardware/a/unit_price_usd", "values": [1e5, 2e5]},
            ],
        }
        with pytest.raises(CheckTooLong, match=r"\(6 of 8 checks"):
            prepare_sweep(body, check_budget_s=6.5)
        assert len(prepare_sweep(body, check_budget_s=1000).scenarios) == 4  # no budget is reached

    def test_without_a_budget_checking_never_stops(self, monkeypatch: pytest.MonkeyPatch) -> None:
        clock = FakeClock()
        monkeypatch.setattr(sweep_module, "time", clock)
        body = {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [11, 12]}]}
        assert len(prepare_sweep(body).scenarios) == 2

    def test_scenario_requests_are_copies(self) -> None:
        # copied with pickle, not copy.deepcopy: still no two scenarios share a dict or list
        body = {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [11, 12]}]}
        scenarios = prepare_sweep(body).scenarios
        scenarios[1].request["hardware"][0]["unit_price_usd"] = 1.0
        assert [x.request["hardware"][0]["unit_price_usd"] for x in scenarios] == [1e5, 1.0]
        assert [x.request["sites"][0]["power_mw"] for x in scenarios] == [11, 12]


class TestScenarioGeneration:
    def test_scale_is_element_wise_on_per_period_lists_and_uses_defaults(self) -> None:
        base = request(
            sites=[{"id": "s", "power_mw": [10.0, 20.0]}], horizon={"periods": 2, "period_months": 12}
        )
        sw = prepare_sweep(
            {
                "base": base,
                "parameters": [
                    {"path": "sites/s/power_mw", "scale": [0.5, 2]},
                    {"path": "sites/s/pue", "scale": [1.5]},  # pue absent: its default 1.0
                ],
            }
        )
        assert [sc.values for sc in sw.scenarios] == [
            {"sites/s/power_mw": [5.0, 10.0], "sites/s/pue": 1.5},
            {"sites/s/power_mw": [20.0, 40.0], "sites/s/pue": 1.5},
        ]
        assert sw.scenarios[1].factors == {"sites/s/power_mw": 2.0, "sites/s/pue": 1.5}
        assert sw.scenarios[1].request["sites"][0]["power_mw"] == [20.0, 40.0]
        assert sw.scenarios[1].request["sites"][0]["pue"] == 1.5

    def test_catalog_entry_is_addressed_by_id_and_changed_in_the_scenario(self) -> None:
        base = request(
            hardware=[hw("h", 100.0, 1.0, 1000.0), {"catalog": "cerebras-cs3"}],
        )
        sw = prepare_sweep(
            {"base": base, "parameters": [{"path": "hardware/cerebras-cs3/unit_price_usd", "scale": [1.25]}]}
        )
        from solver.catalog import catalog_hardware

        entry = catalog_hardware("cerebras-cs3")
        assert entry is not None
        (sc,) = sw.scenarios
        assert sc.values["hardware/cerebras-cs3/unit_price_usd"] == pytest.approx(
            1.25 * entry["unit_price_usd"]
        )
        assert sc.request["hardware"][1]["unit_price_usd"] == pytest.approx(1.25 * entry["unit_price_usd"])
        assert sc.request["hardware"][0]["unit_price_usd"] == 100.0

    def test_values_create_a_null_section(self) -> None:
        sw = prepare_sweep(
            {"base": request(), "parameters": [{"path": "sites/s/expansion", "values": [None]}]}
        )
        assert sw.scenarios[0].request["sites"][0]["expansion"] is None
        sw = prepare_sweep(
            {"base": request(), "parameters": [{"path": "policy/max_vendor_share/v", "values": [0.5]}]}
        )
        assert sw.scenarios[0].request["policy"]["max_vendor_share"] == {"v": 0.5}


# ----------------------------------------------------------------------------- sweeps


class TestBudgetSweepMaxServed:
    BUDGETS = [0.0, 2000.0, 5000.0, 9000.0, 10000.0, 20000.0]

    def base(self) -> Json:
        req = request(objective={"kind": "max_served"})
        req["workloads"][0]["min_service_fraction"] = 0
        req["budget"] = {"capex_usd": 1.0}
        return req

    def test_served_is_budget_over_price_times_throughput_and_never_falls(self) -> None:
        sw = prepare_sweep(
            {"base": self.base(), "parameters": [{"path": "budget/capex_usd", "values": self.BUDGETS}]}
        )
        result = run_sweep(sw)
        assert result.done == result.total == len(self.BUDGETS)
        served = []
        for row, budget in zip(result.rows, self.BUDGETS, strict=True):
            assert row.status == "optimal"
            assert row.values == {"budget/capex_usd": budget}
            want = min(1.0, budget / 100 * 1000 / 1e5)  # units = B/price, 1000 tok/s each
            assert row.served_fraction == pytest.approx(want, rel=1e-5, abs=1e-9)
            served.append(row.served_fraction)
            mt = want * 1e5 * SECONDS_PER_YEAR / 1e6
            assert row.objective == pytest.approx(mt, rel=1e-6, abs=1e-6)
        assert all(b >= a - 1e-9 for a, b in zip(served, served[1:], strict=False))

    def test_each_row_equals_a_separate_plan_of_the_modified_request(self) -> None:
        sw = prepare_sweep(
            {"base": self.base(), "parameters": [{"path": "budget/capex_usd", "values": self.BUDGETS}]}
        )
        result = run_sweep(sw)
        for row, budget in zip(result.rows, self.BUDGETS, strict=True):
            req = self.base()
            req["budget"]["capex_usd"] = budget
            alone = plan(req)
            assert row.status == alone.status
            assert rel_close(row.objective, alone.objective.value)
            assert rel_close(row.npv_cost_usd, alone.summary.npv_cost_usd)


class TestTotalBudgetSweepMaxServed:
    """``budget/total_usd`` is a sweep path like any request field."""

    def test_served_is_total_budget_over_price_and_fee(self) -> None:
        # $100 a unit plus $20 a unit-year of hosting fees: $120 of total spend per unit-year,
        # 1,000 tokens/s each, against 100,000 tokens/s of demand.
        req = request(objective={"kind": "max_served"}, budget={"capex_usd": 1e9})
        req["hardware"] = [hw("h", 100.0, 1.0, 1000.0, recurring_usd_per_unit_hour=20 / 8760)]
        req["workloads"][0]["min_service_fraction"] = 0
        totals = [0.0, 6000.0, 12_000.0, 24_000.0]
        sw = prepare_sweep({"base": req, "parameters": [{"path": "budget/total_usd", "values": totals}]})
        result = run_sweep(sw)
        for row, total in zip(result.rows, totals, strict=True):
            assert row.status == "optimal" and row.values == {"budget/total_usd": total}
            assert row.served_fraction == pytest.approx(min(1.0, total / 120 / 100), rel=1e-5, abs=1e-9)
        assert resolve_path(sw.base, "budget/total_usd").base_value is None


class TestPowerSweepMinCost:
    POWER = [8.0, 10.0, 12.0, 15.0, 20.0, 25.0]

    def test_cost_follows_the_hand_solution_and_never_rises(self) -> None:
        sw = prepare_sweep(
            {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": self.POWER}]}
        )
        result = run_sweep(sw)
        rows = result.rows
        assert rows[0].status == "infeasible" and rows[0].objective is None
        costs = []
        for row, p in zip(rows[1:], self.POWER[1:], strict=True):
            assert row.status == "optimal"
            want = 3e6 - 2e5 * (min(p, 20) - 10)
            assert row.objective == pytest.approx(want, rel=1e-9)
            assert row.npv_cost_usd == pytest.approx(want, rel=1e-9)
            assert row.units_acquired.get("a", 0) == pytest.approx(min(10, p - 10), abs=1e-9)
            costs.append(row.objective)
            if 10 < p < 20:  # power binds: one more MW swaps a b for an a, saving 2e5
                top = row.power_shadow_price_max
                assert top is not None and (top.site, top.period) == ("s", "2026-01")
                assert top.value == pytest.approx(2e5, rel=1e-9)
                assert "power s 2026-01" in row.binding
            if p > 20:
                assert row.power_shadow_price_max is None
        assert all(b <= a + 1e-6 for a, b in zip(costs, costs[1:], strict=False))

    def test_each_row_equals_a_separate_plan_of_the_modified_request(self) -> None:
        factors = [0.9, 1.0, 1.2]
        body = {
            "base": power_request(),
            "parameters": [
                {"path": "sites/s/power_mw", "values": [12, 18]},
                {"path": "hardware/b/unit_price_usd", "scale": factors},
            ],
        }
        result = run_sweep(prepare_sweep(body))
        assert result.total == 6
        for row in result.rows:
            req = power_request()
            req["sites"][0]["power_mw"] = row.values["sites/s/power_mw"]
            req["hardware"][1]["unit_price_usd"] = 3e5 * row.factors["hardware/b/unit_price_usd"]
            alone = plan(req)
            assert rel_close(row.objective, alone.objective.value)
            assert row.units_acquired == pytest.approx(alone.summary.units_acquired)


class TestOneAtATime:
    def test_base_plus_each_parameter_alone_and_a_tornado_by_swing(self) -> None:
        body = {
            "base": power_request(),
            "mode": "one_at_a_time",
            "parameters": [
                {"path": "sites/s/power_mw", "values": [12, 18]},
                {"path": "hardware/b/unit_price_usd", "scale": [0.5, 2]},
            ],
        }
        result = run_sweep(prepare_sweep(body))
        rows = result.rows
        assert [r.parameter for r in rows] == [None] + ["sites/s/power_mw"] * 2 + [
            "hardware/b/unit_price_usd"
        ] * 2
        # base: P = 15 → 5 a + 5 b = 2.0e6
        assert rows[0].objective == pytest.approx(2.0e6)
        assert rows[0].values == {"sites/s/power_mw": 15.0, "hardware/b/unit_price_usd": 3e5}
        assert rows[1].values == {"sites/s/power_mw": 12, "hardware/b/unit_price_usd": 3e5}
        assert [r.objective for r in rows[1:3]] == pytest.approx([2.6e6, 1.4e6])
        # b at half price: 5 a + 5 b = 5e5 + 7.5e5; b at double: 5e5 + 3e6
        assert [r.objective for r in rows[3:5]] == pytest.approx([1.25e6, 3.5e6])
        assert result.tornado is not None
        first, second = result.tornado
        assert first.path == "hardware/b/unit_price_usd" and first.swing == pytest.approx(2.25e6)
        assert (first.low_value, first.high_value) == (1.5e5, 6e5)
        assert second.path == "sites/s/power_mw" and second.swing == pytest.approx(1.2e6)
        assert (second.low, second.high) == pytest.approx((2.6e6, 1.4e6))


class TestTornadoOrder:
    def test_an_integer_setting_beyond_the_float_range_is_ordered_not_an_overflow(self) -> None:
        # A lead time of 10**400 periods is a valid request (an integer field without an upper
        # bound); ordering the settings by float(value) raised OverflowError, which failed the
        # sweep job once all its plans were solved.
        rows = [
            ScenarioRow(index=0, plan_id="base", status="optimal", objective=10.0),
            ScenarioRow(
                index=1, values={"p": 10**400}, parameter="p", plan_id="x", status="optimal", objective=30.0
            ),
            ScenarioRow(
                index=2, values={"p": 2}, parameter="p", plan_id="y", status="optimal", objective=20.0
            ),
            ScenarioRow(index=3, values={"p": 2.5}, parameter="p", plan_id="z", status="infeasible"),
        ]
        (bar,) = tornado(rows, ["p"])
        assert (bar.low_value, bar.low, bar.high_value, bar.high) == (2, 20.0, 10**400, 30.0)
        assert bar.swing == 20.0
        assert [(s.value, s.status) for s in bar.no_value] == [(2.5, "infeasible")]

    def test_a_sweep_over_a_lead_time_past_the_horizon_gets_its_tornado(self) -> None:
        body = {
            "base": power_request(),
            "mode": "one_at_a_time",
            "parameters": [{"path": "hardware/a/lead_time_periods", "values": [1200, 0]}],
        }
        result = run_sweep(prepare_sweep(body))
        # a never arrives: 10 units of b at $3e5 (10 MW of the 15)
        assert [r.objective for r in result.rows] == pytest.approx([2e6, 3e6, 2e6])
        assert result.tornado is not None
        (bar,) = result.tornado
        assert (bar.low_value, bar.high_value) == (0, 1200)
        assert (bar.low, bar.high, bar.swing) == pytest.approx((2e6, 3e6, 1e6))
        huge = {**body, "parameters": [{"path": "hardware/a/lead_time_periods", "values": [10**400]}]}
        with pytest.raises(RequestInvalid) as exc:  # past the range: a 422, never a failed sweep
            prepare_sweep(huge)
        assert [e.path for e in exc.value.errors] == ["/parameters/0/values/0"]


class TestTornadoSettingsWithoutAPlan:
    """power_request: cost = 3e6 − 2e5·(P − 10) for 10 <= P <= 20, infeasible below 10 MW;
    the base (P = 15) costs 2e6."""

    def test_an_infeasible_setting_is_named_and_ranks_its_bar_first(self) -> None:
        body = {
            "base": power_request(),
            "mode": "one_at_a_time",
            "parameters": [
                {"path": "hardware/b/unit_price_usd", "scale": [0.5, 2]},  # 1.25e6 .. 3.5e6
                {"path": "sites/s/power_mw", "values": [8, 18]},  # infeasible, 1.4e6
                # 5,000 and 6,000 tok/s need 50 and 60 units of at least 1 MW: over 15 MW
                {"path": "workloads/w/demand_tokens_per_s", "values": [5000, 6000]},
            ],
        }
        result = run_sweep(prepare_sweep(body))
        assert [r.status for r in result.rows] == ["optimal"] * 3 + ["infeasible", "optimal"] + [
            "infeasible"
        ] * 2
        assert result.tornado is not None
        power, demand, price = result.tornado
        # both bars with a setting without a plan come first (by swing), then the finite one
        assert [power.path, demand.path, price.path] == [
            "sites/s/power_mw",
            "workloads/w/demand_tokens_per_s",
            "hardware/b/unit_price_usd",
        ]
        assert power.base == pytest.approx(2e6)
        # low and high describe the one setting that has a plan: 18 MW, 3e6 − 2e5·8 = 1.4e6
        assert (power.low_value, power.high_value) == (18, 18)
        assert (power.low, power.high) == pytest.approx((1.4e6, 1.4e6))
        assert power.swing == pytest.approx(6e5)  # |2e6 − 1.4e6|: the settings with a plan only
        assert [(n.value, n.factor, n.status) for n in power.no_value] == [(8, None, "infeasible")]
        assert power.no_value[0].plan_id == result.rows[3].plan_id
        # a parameter none of whose settings has a plan still has its bar
        assert (demand.low_value, demand.low, demand.high_value, demand.high) == (None, None, None, None)
        assert demand.swing == 0.0
        assert [(n.value, n.status) for n in demand.no_value] == [(5000, "infeasible"), (6000, "infeasible")]
        assert price.no_value == [] and price.swing == pytest.approx(2.25e6)
        assert (price.low_factor, price.high_factor) == (0.5, 2.0)
        assert (price.low_value, price.high_value) == pytest.approx((1.5e5, 6e5))

    def test_a_failed_setting_keeps_its_factor_and_error_and_pending_rows_are_left_out(self) -> None:
        def row(
            i: int, parameter: str | None, status: str, objective: float | None, **kw: Any
        ) -> ScenarioRow:
            return ScenarioRow(
                index=i, parameter=parameter, plan_id=f"p{i}", status=status, objective=objective, **kw
            )

        path = "hardware/b/unit_price_usd"
        rows = [
            row(0, None, "optimal", 2e6),
            row(1, path, "failed", None, factors={path: 2.0}, values={path: 6e5}, error="worker died"),
            row(2, path, "optimal", 1.25e6, factors={path: 0.5}, values={path: 1.5e5}),
            row(3, path, "running", None, factors={path: 3.0}, values={path: 9e5}),
        ]
        (bar,) = tornado(rows, [path])
        assert (bar.low_factor, bar.low, bar.high_factor, bar.high) == (0.5, 1.25e6, 0.5, 1.25e6)
        assert bar.swing == pytest.approx(7.5e5)
        assert [n.model_dump() for n in bar.no_value] == [
            {"value": 6e5, "factor": 2.0, "status": "failed", "plan_id": "p1", "error": "worker died"}
        ]
        # the same rows as JSON dicts (what the report reads) give the same bar
        assert tornado([r.model_dump() for r in rows], [path]) == [bar]


# ----------------------------------------------------------------------------- frontier


class TestFrontier:
    def test_points_follow_the_hand_curve_and_the_knee_is_the_kink(self) -> None:
        result = run_frontier(prepare_frontier({"base": frontier_request(), "points": 9}))
        assert result.error is None and result.done == result.total == 9
        assert result.low_served_fraction == pytest.approx(0.0, abs=1e-9)
        assert result.high_served_fraction == pytest.approx(0.8, rel=1e-5)
        costs = []
        for k, row in enumerate(result.rows):
            assert row.index == k and row.status == "optimal"
            f = row.served_fraction
            assert f is not None
            assert f == pytest.approx(result.high_served_fraction * k / 8, rel=1e-6, abs=1e-9)
            want = 1e6 * f if f <= 0.5 else 5e5 + 4e6 * (f - 0.5)
            assert row.npv_cost_usd == pytest.approx(want, rel=1e-6)
            costs.append(row.npv_cost_usd)
        assert all(b >= a - 1e-6 for a, b in zip(costs, costs[1:], strict=False))
        assert result.knee_index == 5 and result.rows[5].knee
        assert [r.knee for r in result.rows].count(True) == 1
        # marginal cost per million tokens: $1e5 per 100 tok/s-year, then $4e5
        mt_per_unit = 100 * SECONDS_PER_YEAR / 1e6
        assert result.rows[3].marginal_cost_usd_per_million_tokens == pytest.approx(
            1e5 / mt_per_unit, rel=1e-5
        )
        assert result.rows[7].marginal_cost_usd_per_million_tokens == pytest.approx(
            4e5 / mt_per_unit, rel=1e-5
        )

    def test_marginal_cost_is_levelised_like_the_average_beside_it(self) -> None:
        # Two years, discount rate 100 % (d = 1, 0.5), demand 1,000 tok/s in each.  Leases of
        # one year at $/hour and 100 tok/s a unit: a (at most 5 a year, $1/h) and b ($4/h).
        # A block = 5 units for one year = 500 tok/s = m = 15,768 million tokens; a-block
        # $43,800 nominal, b-block $175,200.  Cheapest per NPV $ first: a in year 2 (NPV
        # 21,900), a in year 1 (43,800), b in year 2 (87,600), b in year 1 (175,200): one block
        # per quarter of the demand.  Per *discounted* million tokens an a-block costs
        # 43,800 / 15,768 = $2.7778 and a b-block $11.111 whichever the year; per undiscounted
        # token the year-2 blocks read half that (the basis the column used to mix).
        base = request(
            horizon={"start": "2026-01", "periods": 2, "period_months": 12},
            economics={"residual_value": False, "discount_rate": 1.0},
            hardware=[
                hw(
                    "a",
                    0.0,
                    1,
                    100,
                    recurring_usd_per_unit_hour=1.0,
                    lifetime_years=1,
                    max_units_per_period=5,
                ),
                hw("b", 0.0, 1, 100, recurring_usd_per_unit_hour=4.0, lifetime_years=1),
            ],
            workloads=[optional_workload()],
        )
        result = run_frontier(prepare_frontier({"base": base, "points": 5}))
        # (the most-served end is max_served's stage two, within 1e-6 of all: rel 1e-5 below)
        assert result.error is None and [r.status for r in result.rows] == ["optimal"] * 5
        m = 500 * SECONDS_PER_YEAR / 1e6
        assert [r.npv_cost_usd for r in result.rows] == pytest.approx(
            [0, 21_900, 65_700, 153_300, 328_500], rel=1e-5, abs=1e-6
        )
        assert [r.discounted_million_tokens_served for r in result.rows] == pytest.approx(
            [0, 0.5 * m, 1.5 * m, 2 * m, 3 * m], rel=1e-5, abs=1e-6
        )
        a, b = 43_800 / m, 175_200 / m  # $2.7778 and $11.111 per discounted million tokens
        assert result.rows[0].marginal_cost_usd_per_million_tokens is None
        assert [r.marginal_cost_usd_per_million_tokens for r in result.rows[1:]] == pytest.approx(
            [a, a, b, b], rel=1e-5
        )
        # the levelised average beside it is the running mean of the marginals
        assert [r.cost_per_million_tokens_usd for r in result.rows[1:]] == pytest.approx(
            [a, a, (1.5 * a + 0.5 * b) / 2, (1.5 * a + 1.5 * b) / 3], rel=1e-5
        )

    def test_endpoints_equal_separate_solves(self) -> None:
        base = frontier_request()
        base["workloads"][0]["min_service_fraction"] = 0.2
        result = run_frontier(prepare_frontier({"base": base, "points": 4}))
        low_req = copy.deepcopy(base)
        low_req["objective"] = {"kind": "min_cost"}
        high_req = copy.deepcopy(base)
        high_req["objective"] = {"kind": "max_served"}
        low, high = plan(low_req), plan(high_req)
        first, last = result.rows[0], result.rows[-1]
        assert first.served_fraction == pytest.approx(0.2) and rel_close(
            first.served_fraction, low.summary.served_fraction
        )
        assert rel_close(first.npv_cost_usd, low.summary.npv_cost_usd)
        assert rel_close(first.objective, low.objective.value)
        assert rel_close(last.served_fraction, high.summary.served_fraction)
        assert rel_close(last.npv_cost_usd, high.summary.npv_cost_usd)
        assert rel_close(last.objective, high.objective.value)

    def test_an_interior_point_is_exactly_the_plan_of_its_request(self) -> None:
        fr = prepare_frontier({"base": frontier_request(), "points": 5})
        result = run_frontier(fr)
        row = result.rows[3]
        assert row.values["policy/min_total_served_fraction"] == row.target_served_fraction
        alone = plan(fr.request("min_cost", row.target_served_fraction))
        assert rel_close(row.npv_cost_usd, alone.summary.npv_cost_usd)
        assert "min_total_served" in row.binding

    def test_no_frontier_when_served_cannot_vary(self) -> None:
        result = run_frontier(prepare_frontier({"base": request(), "points": 5}))  # min service 1
        assert result.error is None and result.note is not None and "cannot vary" in result.note
        assert len(result.rows) == 2

    def test_infeasible_base_gives_an_error_not_a_curve(self) -> None:
        base = power_request()
        base["sites"][0]["power_mw"] = 5
        result = run_frontier(prepare_frontier({"base": base, "points": 5}))
        assert result.error == "the least served (min_cost) end is infeasible"
        assert (result.done, result.total, result.low_served_fraction) == (2, 5, None)
        assert [(r.index, r.status) for r in result.rows] == [(0, "infeasible"), (4, "infeasible")]
        # An end without a plan has no target: null, never NaN (which PostgreSQL's JSON
        # refuses and SQLite's gave back as null against a schema that said "number").
        assert [r.target_served_fraction for r in result.rows] == [None, None]
        stored = [json.loads(json.dumps(r.model_dump(mode="json"), allow_nan=False)) for r in result.rows]
        assert [r["target_served_fraction"] for r in stored] == [None, None]

    def test_a_failed_most_served_end_has_no_target_and_the_least_its_own(self) -> None:
        def fail_max_served(task: ScenarioTask) -> ScenarioOutcome:
            if task.request["objective"]["kind"] == "max_served":
                return ScenarioOutcome(task.index, None, "worker failed: boom")
            return solve_scenario(task)

        base = frontier_request()
        base["workloads"][0]["min_service_fraction"] = 0.2
        result = run_frontier(
            prepare_frontier({"base": base, "points": 4}), RunOptions(worker=fail_max_served)
        )
        assert result.error == "the most served (max_served) end is failed (worker failed: boom)"
        low, high = result.rows
        assert (low.status, high.status, high.index) == ("optimal", "failed", 3)
        assert low.target_served_fraction == pytest.approx(0.2, rel=1e-9)
        assert low.target_served_fraction == low.served_fraction
        assert high.target_served_fraction is None

    def test_points_are_validated(self) -> None:
        with pytest.raises(RequestInvalid) as exc:
            prepare_frontier({"base": request(), "points": 1})
        assert exc.value.errors[0].path == "/points"

    @pytest.mark.parametrize("points", ["9", 9.0, True])
    def test_points_must_be_a_json_integer(self, points: Any) -> None:
        with pytest.raises(RequestInvalid) as exc:
            prepare_frontier({"base": request(), "points": points})
        assert [(e.path, e.message) for e in exc.value.errors] == [
            ("/points", "Input should be a valid integer")
        ]


# ----------------------------------------------------------------------------- execution


class TestExecution:
    """In this process (the builtin ``map``); over a process pool: tests/jobs/test_mapper.py."""

    def test_progress_callback_sees_every_row_and_its_plan(self) -> None:
        seen: list[tuple[int, str, int, int]] = []
        body = {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [12, 14, 16]}]}
        ids = iter(["p0", "p1", "p2"])
        opts = RunOptions(
            on_result=lambda row, p, req, done, total: seen.append(
                (row.index, p.id if p else "", done, total)
            ),
            new_plan_id=lambda _i: next(ids),
        )
        result = run_sweep(prepare_sweep(body), opts)
        assert seen == [(0, "p0", 1, 3), (1, "p1", 2, 3), (2, "p2", 3, 3)]
        assert [r.plan_id for r in result.rows] == ["p0", "p1", "p2"]

    def test_cancel_flag_stops_an_in_process_sweep(self) -> None:
        body = {
            "base": power_request(),
            "parameters": [{"path": "sites/s/power_mw", "values": [11, 12, 13, 14]}],
        }
        done: list[int] = []
        opts = RunOptions(
            on_result=lambda row, p, req, d, t: done.append(d), cancelled=lambda: len(done) >= 2
        )
        result = run_sweep(prepare_sweep(body), opts)
        assert result.cancelled and result.done == 2 and len(result.rows) == 2


class TestWarmStartedSweeps:
    """Scenarios of one structure start from the previous basis and answer as cold solves."""

    def test_every_row_equals_its_cold_plan(self) -> None:
        from solver.scenarios.run import WORKER_WARM_STARTS

        base = json.loads((Path(__file__).parents[2] / "examples" / "cerebras-750mw.json").read_text())
        sweep = prepare_sweep(
            {
                "base": base,
                "parameters": [
                    {"path": "hardware/nvidia-gb300-nvl72/unit_price_usd", "scale": [0.8, 1.0, 1.25]},
                    {"path": "workloads/agentic-fast/demand_growth_per_year", "scale": [0.5, 0.75, 1.0]},
                ],
            }
        )
        WORKER_WARM_STARTS._bases.clear()
        result = run_sweep(sweep)
        assert [r.status for r in result.rows] == ["optimal"] * 9
        assert not result.rows[0].warm_start and all(r.warm_start for r in result.rows[1:])
        for scenario, row in zip(sweep.scenarios, result.rows, strict=True):
            cold = plan(scenario.request)
            assert not cold.solver.warm_started
            assert row.objective == pytest.approx(cold.objective.value, rel=1e-9)
            assert row.npv_cost_usd == pytest.approx(cold.summary.npv_cost_usd, rel=1e-9)
            assert row.served_fraction == pytest.approx(cold.summary.served_fraction, rel=1e-9)
