"""Bad input: every validation rule yields RequestInvalid naming the field (JSON pointer).

solver/validate.py and the pydantic rules of solver/schema.py; DESIGN.md: "Unknown fields
are rejected", numbers finite, non-negative where physical, pue >= 1, fractions in [0, 1],
speed points strictly increasing, periods 1-240, period_months in {1, 3, 6, 12}, per-period
lists of `periods` values, unique ids, references that resolve.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from solver import RequestInvalid, parse_request, plan
from tests.helpers.requests import Json, hardware, request, site, workload


def errors_of(data: Any) -> dict[str, str]:
    """{path: message} of the RequestInvalid that ``data`` must raise."""
    with pytest.raises(RequestInvalid) as info:
        parse_request(data)
    errs = {e.path: e.message for e in info.value.errors}
    assert errs, "RequestInvalid without errors"
    assert str(info.value).startswith(next(iter(errs)))  # the message names the first path
    return errs


def changed(edit: Callable[[Json], None], **kw: Any) -> Json:
    req = request(**kw)
    edit(req)
    return req


def _set(path: str, value: Any) -> Callable[[Json], None]:
    """Edit setting a '/'-separated path (list indices as numbers; missing sections made)."""

    def edit(req: Json) -> None:
        node: Any = req
        *parents, last = path.strip("/").split("/")
        for k in parents:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def test_the_base_request_is_valid() -> None:
    assert parse_request(request()).horizon.periods == 1
    assert parse_request(json.dumps(request())).sites[0].id == "s"


class TestUnknownFields:
    @pytest.mark.parametrize(
        "path",
        [
            "/colour",
            "/horizon/periodz",
            "/sites/0/powr_mw",
            "/hardware/0/performance/m/pointz",
            "/solver/threads",
        ],
    )
    def test_unknown_field_is_named(self, path: str) -> None:
        errs = errors_of(changed(_set(path, 1)))
        assert path in errs
        assert "unknown field" in errs[path]


class TestDiscountTiers:
    @staticmethod
    def tiers(*pairs: tuple[float, float], vendor: str = "v") -> list[Json]:
        t = [{"above_spend_usd": a, "discount": d} for a, d in pairs]
        return [{"vendor": vendor, "discount_tiers": t}]

    def test_thresholds_must_increase(self) -> None:
        errs = errors_of(request(contracts=self.tiers((5000, 0.1), (5000, 0.2), (9000, 0.2), (8000, 0.3))))
        assert set(errs) == {
            "/contracts/0/discount_tiers/1/above_spend_usd",
            "/contracts/0/discount_tiers/3/above_spend_usd",
        }
        assert "increase strictly" in errs["/contracts/0/discount_tiers/1/above_spend_usd"]

    @pytest.mark.parametrize(
        ("field", "value"), [("discount", 0.0), ("discount", 1.0), ("above_spend_usd", 0)]
    )
    def test_out_of_range(self, field: str, value: float) -> None:
        c = self.tiers((5000, 0.1))
        c[0]["discount_tiers"][0][field] = value
        assert f"/contracts/0/discount_tiers/0/{field}" in errors_of(request(contracts=c))

    def test_misspelt_field_is_named(self) -> None:
        c = [{"vendor": "v", "discount_tiers": [{"above_usd": 1, "discount": 0.1}]}]
        errs = errors_of(request(contracts=c))
        assert "unknown field" in errs["/contracts/0/discount_tiers/0/above_usd"]
        assert "/contracts/0/discount_tiers/0/above_spend_usd" in errs

    def test_spend_must_be_bounded(self) -> None:
        # no power drawn and no supply cap: nothing bounds what could be spent with v
        errs = errors_of(request(hardware_=[hardware(kw=0)], contracts=self.tiers((5000, 0.1))))
        assert "'h'" in errs["/contracts/0/discount_tiers"]
        capped = request(
            hardware_=[hardware(kw=0, max_units_per_period=500)], contracts=self.tiers((5000, 0.1))
        )
        assert parse_request(capped).contracts[0].discount_tiers[0].discount == 0.1


class TestFiniteNumbers:
    @pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
    def test_json_text(self, literal: str) -> None:
        text = json.dumps(request()).replace('"power_mw": 100.0', f'"power_mw": {literal}')
        assert literal in text
        errs = errors_of(text)
        assert "finite" in errs["/sites/0/power_mw"]

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
    @pytest.mark.parametrize(
        "path",
        [
            "/sites/0/power_mw",
            "/hardware/0/unit_price_usd",
            "/workloads/0/demand_tokens_per_s",
            "/economics/discount_rate",
        ],
    )
    def test_python_floats(self, path: str, value: float) -> None:
        errs = errors_of(changed(_set(path, value)))
        assert path in errs

    def test_inside_a_per_period_list(self) -> None:
        errs = errors_of(changed(_set("/sites/0/power_mw", [1.0, float("nan")]), periods=2))
        assert "/sites/0/power_mw/1" in errs

    def test_plan_refuses_nan_too(self) -> None:
        with pytest.raises(RequestInvalid):
            plan(changed(_set("/hardware/0/it_power_kw", float("nan"))))


class TestNonNegative:
    @pytest.mark.parametrize(
        "path",
        [
            "/sites/0/power_mw",
            "/sites/0/energy_usd_per_mwh",
            "/sites/0/lease_usd_per_kw_month",
            "/hardware/0/unit_price_usd",
            "/hardware/0/recurring_usd_per_unit_hour",
            "/hardware/0/it_power_kw",
            "/hardware/0/lifetime_years",
            "/hardware/0/lead_time_periods",
            "/hardware/0/max_units_per_period",
            "/workloads/0/demand_tokens_per_s",
            "/workloads/0/min_tokens_per_s_per_user",
            "/workloads/0/unmet_penalty_usd_per_million_tokens",
            "/workloads/0/value_usd_per_million_tokens",
            "/workloads/0/weight",
            "/economics/discount_rate",
            "/solver/time_limit_s",
        ],
    )
    def test_negative_is_rejected(self, path: str) -> None:
        assert path in errors_of(changed(_set(path, -1)))

    def test_negative_existing_units(self) -> None:
        errs = errors_of(request(sites=[site(existing=[{"hardware": "h", "units": -5}])]))
        assert "/sites/0/existing/0/units" in errs

    def test_negative_budget_and_speed_point(self) -> None:
        errs = errors_of(request(budget={"capex_usd": -1}))
        assert "/budget/capex_usd" in errs
        errs = errors_of(request(periods=2, budget={"total_usd": -1, "total_per_period_usd": [1, -1]}))
        assert "/budget/total_usd" in errs and "/budget/total_per_period_usd/1" in errs
        errs = errors_of(request(hardware_=[hardware(points=((10.0, -5.0),))]))
        assert "/hardware/0/performance/m/points/0/tokens_per_s_per_unit" in errs


class TestPueAndFractions:
    def test_pue_below_one(self) -> None:
        assert "/sites/0/pue" in errors_of(request(sites=[site(pue=0.95)]))

    @pytest.mark.parametrize("value", [-0.1, 1.5])
    @pytest.mark.parametrize(
        "path",
        [
            "/workloads/0/min_service_fraction",
            "/economics/load_factor",
            "/hardware/0/maintenance_fraction_per_year",
        ],
    )
    def test_fraction_out_of_range(self, path: str, value: float) -> None:
        assert path in errors_of(changed(_set(path, value)))

    @pytest.mark.parametrize(
        ("value", "why"),
        [(-0.1, "greater than or equal to 0"), (1.5, "less than or equal to 1"), (float("nan"), "finite")],
    )
    def test_deposit_fraction_out_of_range(self, value: float, why: str) -> None:
        errs = errors_of(changed(_set("/hardware/0/deposit_fraction", value)))
        assert list(errs) == ["/hardware/0/deposit_fraction"]
        assert why in errs["/hardware/0/deposit_fraction"]  # a range, not an unknown field

    def test_deposit_fraction_in_range_and_default(self) -> None:
        assert parse_request(request()).hardware[0].deposit_fraction == 1.0
        for value in (0, 0.3, 1):
            assert (
                parse_request(changed(_set("/hardware/0/deposit_fraction", value)))
                .hardware[0]
                .deposit_fraction
                == value
            )

    @pytest.mark.parametrize("kind", ["max_vendor_share", "min_vendor_share"])
    def test_vendor_share_out_of_range(self, kind: str) -> None:
        assert f"/policy/{kind}/v" in errors_of(request(policy={kind: {"v": 1.2}}))

    def test_equity_fraction_out_of_range(self) -> None:
        w = {"equity_fraction_max": 2, "full_vest_spend_usd": 1, "company_valuation_usd": 1}
        assert "/contracts/0/warrants/equity_fraction_max" in errors_of(
            request(contracts=[{"vendor": "v", "warrants": w}])
        )

    def test_min_share_above_max_share(self) -> None:
        errs = errors_of(request(policy={"max_vendor_share": {"v": 0.3}, "min_vendor_share": {"v": 0.5}}))
        assert "/policy/min_vendor_share/v" in errs


class TestSpeedPoints:
    @pytest.mark.parametrize("points", [((10.0, 1.0), (10.0, 2.0)), ((20.0, 1.0), (10.0, 2.0))])
    def test_not_strictly_increasing(self, points: tuple[tuple[float, float], ...]) -> None:
        errs = errors_of(request(hardware_=[hardware(points=points)]))
        assert "increasing" in errs["/hardware/0/performance/m/points"]

    def test_no_points(self) -> None:
        req = request()
        req["hardware"][0]["performance"]["m"]["points"] = []
        assert "/hardware/0/performance/m/points" in errors_of(req)


class TestHorizon:
    @pytest.mark.parametrize("periods", [0, 241, -1])
    def test_periods_out_of_range(self, periods: int) -> None:
        assert "/horizon/periods" in errors_of(changed(_set("/horizon/periods", periods)))

    @pytest.mark.parametrize("periods", [1, 240])
    def test_periods_at_the_bounds(self, periods: int) -> None:
        assert parse_request(changed(_set("/horizon/periods", periods))).horizon.periods == periods

    @pytest.mark.parametrize("months", [5, 0, 2, 24])
    def test_period_months(self, months: int) -> None:
        assert "/horizon/period_months" in errors_of(changed(_set("/horizon/period_months", months)))

    @pytest.mark.parametrize("start", ["2026-13", "2026-1", "26-01", "2026/01"])
    def test_start(self, start: str) -> None:
        assert "/horizon/start" in errors_of(changed(_set("/horizon/start", start)))


class TestPerPeriodLists:
    @pytest.mark.parametrize(
        ("path", "req"),
        [
            ("/sites/0/power_mw", request(periods=3, sites=[site(power=[1, 2])])),
            (
                "/workloads/0/demand_tokens_per_s",
                request(periods=3, workloads=[workload(demand=[1, 2, 3, 4])]),
            ),
            (
                "/hardware/0/max_units_per_period",
                request(periods=3, hardware_=[hardware(max_units_per_period=[5])]),
            ),
            ("/budget/capex_per_period_usd", request(periods=3, budget={"capex_per_period_usd": [1, 2]})),
            ("/budget/total_per_period_usd", request(periods=3, budget={"total_per_period_usd": [1, 2]})),
        ],
    )
    def test_wrong_length(self, path: str, req: Json) -> None:
        errs = errors_of(req)
        assert "one value per period" in errs[path]

    def test_growth_with_a_list(self) -> None:
        errs = errors_of(request(periods=2, workloads=[workload(demand=[1, 2], demand_growth_per_year=0.1)]))
        assert "/workloads/0/demand_growth_per_year" in errs


class TestUniqueIds:
    def test_duplicate_site(self) -> None:
        assert "/sites/1/id" in errors_of(request(sites=[site("a"), site("a")]))

    def test_duplicate_hardware(self) -> None:
        assert "/hardware/1/id" in errors_of(request(hardware_=[hardware("h"), hardware("h")]))

    def test_duplicate_workload(self) -> None:
        assert "/workloads/1/id" in errors_of(request(workloads=[workload("w"), workload("w")]))

    def test_duplicate_contract_vendor(self) -> None:
        assert "/contracts/1/vendor" in errors_of(request(contracts=[{"vendor": "v"}, {"vendor": "v"}]))


class TestReferences:
    def test_unknown_allowed_hardware(self) -> None:
        errs = errors_of(request(sites=[site(allowed_hardware=["h", "zz"])]))
        assert "zz" in errs["/sites/0/allowed_hardware/1"]

    def test_unknown_existing_hardware(self) -> None:
        errs = errors_of(request(sites=[site(existing=[{"hardware": "zz", "units": 1}])]))
        assert "zz" in errs["/sites/0/existing/0/hardware"]

    def test_existing_hardware_not_allowed_at_the_site_is_accepted_with_a_warning(self) -> None:
        # DESIGN.md: existing units count in the installed fleet; only eligible (allowed)
        # pairs are allocated.  Such a fleet is legal, and the plan warns about it.
        hws = [hardware("h"), hardware("g")]
        s = site(allowed_hardware=["h"], existing=[{"hardware": "g", "units": 1}])
        p = plan(request(sites=[s], hardware_=hws))
        assert p.status == "optimal"
        assert any("not in allowed_hardware" in w for w in p.warnings)

    def test_unknown_catalog_entry(self) -> None:
        errs = errors_of(request(hardware_=[{"catalog": "no-such-system"}]))
        path, msg = next((p, m) for p, m in errs.items() if p.startswith("/hardware/0"))
        assert "catalog" in path + msg and "no-such-system" in msg

    def test_catalog_entry_with_override(self) -> None:
        # A valid catalog reference works, and overrides are validated like any field.
        base = request(hardware_=[{"catalog": "cerebras-cs3", "unit_price_usd": 2.2e6}], workloads=[])
        cs3 = parse_request({**base, "workloads": [workload(model=_a_model("cerebras-cs3"))]}).hardware[0]
        assert cs3.unit_price_usd == 2.2e6 and cs3.vendor == "cerebras"
        errs = errors_of(
            {
                **base,
                "hardware": [{"catalog": "cerebras-cs3", "unit_price_usd": -1}],
                "workloads": [workload(model=_a_model("cerebras-cs3"))],
            }
        )
        assert "/hardware/0/unit_price_usd" in errs

    def test_workload_model_served_by_no_hardware(self) -> None:
        errs = errors_of(request(workloads=[workload(model="gpt-9")]))
        assert "gpt-9" in errs["/workloads/0/model"]

    @pytest.mark.parametrize("kind", ["max_vendor_share", "min_vendor_share"])
    def test_unknown_share_vendor(self, kind: str) -> None:
        assert f"/policy/{kind}/zz" in errors_of(request(policy={kind: {"zz": 0.5}}))

    def test_unknown_contract_vendor(self) -> None:
        assert "/contracts/0/vendor" in errors_of(request(contracts=[{"vendor": "zz", "min_spend_usd": 1}]))


class TestShape:
    def test_not_json(self) -> None:
        assert "/" in errors_of("{not json")

    def test_not_an_object(self) -> None:
        assert "/" in errors_of("[1, 2]")

    @pytest.mark.parametrize("section", ["horizon", "sites", "hardware", "workloads"])
    def test_required_section(self, section: str) -> None:
        req = request()
        del req[section]
        assert f"/{section}" in errors_of(req)

    def test_every_error_is_reported(self) -> None:
        # Several problems at once come back together, each with its path.
        req = copy.deepcopy(request(sites=[site(pue=0.5)], workloads=[workload(min_service_fraction=2)]))
        errs = errors_of(req)
        assert {"/sites/0/pue", "/workloads/0/min_service_fraction"} <= set(errs)


def _a_model(entry: str) -> str:
    from solver.catalog import catalog_hardware

    data = catalog_hardware(entry)
    assert data is not None
    return next(iter(data["performance"]))


class TestRanges:
    """Every number has a range far beyond real plans (docs/api.md "Ranges"): past it, a 422
    naming the field, where the model used to fail or answer wrongly (1e308 lifetimes, 1e-6
    tokens/s of demand served by nothing, 1e30 tokens/s per unit)."""

    @pytest.mark.parametrize(
        ("path", "most"),
        [
            ("/budget/capex_usd", 1e15),
            ("/budget/total_usd", 1e15),
            ("/sites/0/power_mw", 1e6),
            ("/sites/0/energy_usd_per_mwh", 1e6),
            ("/sites/0/lease_usd_per_kw_month", 1e6),
            ("/hardware/0/unit_price_usd", 1e12),
            ("/hardware/0/recurring_usd_per_unit_hour", 1e6),
            ("/hardware/0/it_power_kw", 1e6),
            ("/hardware/0/lifetime_years", 100),
            ("/hardware/0/lead_time_periods", 1200),
            ("/hardware/0/max_units_per_period", 1e9),
            ("/hardware/0/performance/m/points/0/tokens_per_s_per_unit", 1e9),
            ("/hardware/0/performance/m/points/0/tokens_per_s_per_user", 1e6),
            ("/hardware/0/performance/m/units_per_replica", 1e6),
            ("/workloads/0/demand_tokens_per_s", 1e12),
            ("/workloads/0/min_tokens_per_s_per_user", 1e6),
            ("/workloads/0/unmet_penalty_usd_per_million_tokens", 1e6),
            ("/workloads/0/value_usd_per_million_tokens", 1e6),
            ("/workloads/0/weight", 1e6),
        ],
    )
    def test_above_the_range(self, path: str, most: float) -> None:
        assert path in errors_of(changed(_set(path, most * 1.01)))
        parse_request(changed(_set(path, most)))  # the bound itself is accepted

    @pytest.mark.parametrize(
        ("path", "floor"),
        [
            ("/workloads/0/demand_tokens_per_s", 1.0),
            ("/hardware/0/it_power_kw", 1e-3),
            ("/hardware/0/performance/m/points/0/tokens_per_s_per_unit", 1e-3),
        ],
    )
    def test_zero_or_at_least_a_floor(self, path: str, floor: float) -> None:
        assert "at least" in errors_of(changed(_set(path, floor / 2)))[path]
        parse_request(changed(_set(path, floor)))
        parse_request(changed(_set(path, 0)))

    def test_floor_inside_a_per_period_list(self) -> None:
        req = request(periods=2, workloads=[workload(demand=[100.0, 1e-6])])
        assert "/workloads/0/demand_tokens_per_s/1" in errors_of(req)

    def test_expansion_existing_and_contracts(self) -> None:
        req = request(
            sites=[
                site(
                    expansion={
                        "max_mw": 2e6,
                        "usd_per_mw": 2e12,
                        "lifetime_years": 1e308,
                        "lead_time_periods": 10**400,
                    },
                    existing=[{"hardware": "h", "units": 2e9, "remaining_life_years": 101}],
                )
            ],
            contracts=[
                {
                    "vendor": "v",
                    "min_spend_usd": 2e15,
                    "warrants": {
                        "equity_fraction_max": 0.1,
                        "full_vest_spend_usd": 5e-324,
                        "company_valuation_usd": 2e15,
                    },
                    "discount_tiers": [{"above_spend_usd": 2e15, "discount": 0.1}],
                }
            ],
        )
        assert {
            "/sites/0/expansion/max_mw",
            "/sites/0/expansion/usd_per_mw",
            "/sites/0/expansion/lifetime_years",
            "/sites/0/expansion/lead_time_periods",
            "/sites/0/existing/0/units",
            "/sites/0/existing/0/remaining_life_years",
            "/contracts/0/min_spend_usd",
            "/contracts/0/warrants/full_vest_spend_usd",
            "/contracts/0/warrants/company_valuation_usd",
            "/contracts/0/discount_tiers/0/above_spend_usd",
        } <= set(errors_of(req))

    def test_demand_grown_beyond_the_range(self) -> None:
        # 100 x a year for 239 years overflowed a float (a 500); 1e5 tokens/s growing 10 x a
        # year passes 1e12 after 7 years: refused at 8 annual periods, accepted at 7.
        req = request(periods=240, workloads=[workload(demand_growth_per_year=100.0)])
        assert "beyond 1e12" in errors_of(req)["/workloads/0/demand_growth_per_year"]
        grow = workload(demand_growth_per_year=9.0)
        assert "/workloads/0/demand_growth_per_year" in errors_of(request(periods=9, workloads=[grow]))
        assert parse_request(request(periods=8, workloads=[grow])).workloads[0].demand_growth_per_year == 9.0

    def test_units_per_replica_floor(self) -> None:
        # 1e-9 of a unit per replica: integer mode served all demand with no hardware.
        path = "/hardware/0/performance/m/units_per_replica"
        assert path in errors_of(changed(_set(path, 1e-9)))
        parse_request(changed(_set(path, 1e-3)))

    def test_warrants_worth_more_than_a_thousand_dollars_per_dollar(self) -> None:
        w = {"equity_fraction_max": 0.5, "full_vest_spend_usd": 10.0, "company_valuation_usd": 20_001.0}
        errs = errors_of(request(contracts=[{"vendor": "v", "warrants": w}]))
        assert "per dollar of spend" in errs["/contracts/0/warrants"]
        parse_request(
            request(contracts=[{"vendor": "v", "warrants": {**w, "company_valuation_usd": 20_000.0}}])
        )

    @pytest.mark.parametrize("start", ["２０２６-01", "2026-01\n", "0000-01", "1899-12", "3000-01"])
    def test_start_is_an_ascii_year_month_in_range(self, start: str) -> None:
        assert "/horizon/start" in errors_of(changed(_set("/horizon/start", start)))

    def test_start_years_at_the_bounds(self) -> None:
        for start, last in (("1900-01", "1900-01"), ("2999-12", "2999-12")):
            assert parse_request(changed(_set("/horizon/start", start))).horizon.labels()[-1] == last


class TestStrictTypes:
    """JSON types are not coerced: true is not 1 MW, "100" is not $100, 0 is not false."""

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("/sites/0/power_mw", True),
            ("/budget/capex_usd", False),
            ("/hardware/0/unit_price_usd", "100"),
            ("/solver/integer", 0),
            ("/economics/residual_value", 0),
            ("/horizon/period_months", True),
            ("/horizon/periods", 12.5),
            ("/horizon/periods", "12"),
        ],
    )
    def test_wrong_json_type(self, path: str, value: Any) -> None:
        assert path in errors_of(changed(_set(path, value)))

    def test_a_whole_float_is_an_integer(self) -> None:
        # Python clients write computed counts as 80.0: read as 80 (a boolean is still refused).
        req = changed(_set("/horizon/periods", 3.0))
        req["hardware"][0]["lead_time_periods"] = 0.0
        parsed = parse_request(req)
        assert (parsed.horizon.periods, parsed.hardware[0].lead_time_periods) == (3, 0)
        assert isinstance(parsed.horizon.periods, int)
        assert "/hardware/0/lead_time_periods" in errors_of(
            changed(_set("/hardware/0/lead_time_periods", True))
        )

    def test_an_integer_is_a_number(self) -> None:
        assert parse_request(changed(_set("/sites/0/power_mw", 7))).sites[0].power_mw == 7.0


class TestPointers:
    """Error paths are RFC 6901 pointers into the input, whatever its keys are called."""

    @pytest.mark.parametrize(
        ("key", "token"),
        [
            ("a/b", "a~1b"),
            ("t~x", "t~0x"),
            ("float", "float"),
            ("list[int]", "list[int]"),
            ("function-x", "function-x"),
        ],
    )
    def test_model_keys(self, key: str, token: str) -> None:
        hw = hardware(model=key, points=((10.0, 1000.0),))
        hw["performance"][key]["points"] = []
        req = request(hardware_=[hw], workloads=[workload(model=key)])
        assert f"/hardware/0/performance/{token}/points" in errors_of(req)

    def test_union_tags_are_not_keys(self) -> None:
        assert set(errors_of(changed(_set("/sites/0/power_mw", "x")))) == {"/sites/0/power_mw"}
        assert "/sites/0/power_mw/1" in errors_of(request(periods=2, sites=[site(power=[1.0, -1.0])]))

    def test_vendor_share_key(self) -> None:
        assert "/policy/max_vendor_share/a~1b" in errors_of(
            request(policy={"max_vendor_share": {"a/b": 0.5}})
        )
        assert "/policy/max_vendor_share/a~1b" in errors_of(request(policy={"max_vendor_share": {"a/b": 2}}))

    def test_missing_field(self) -> None:
        req = request()
        del req["workloads"][0]["model"]
        assert "/workloads/0/model" in errors_of(req)

    def test_a_long_name_is_cut_in_messages(self) -> None:
        errs = errors_of(request(workloads=[workload(model="x" * 5000)]))
        assert "x" * 64 + "..." in errs["/workloads/0/model"] and len(errs["/workloads/0/model"]) < 200
