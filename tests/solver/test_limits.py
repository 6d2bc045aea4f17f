"""The limit registry (solver/limits.py): every built family declared, every published field
derived from it, and structured binding limits that need no parsing."""

from __future__ import annotations

from typing import get_args

import pytest

from solver.diff import PriceChange
from solver.limits import AXES, BY_FAMILY, LIMITS, UNPUBLISHED, Subject, binding_words, price_kinds
from solver.model import build_model, prepare
from solver.schema import BindingLimit, DiagnosedLimit, DiagnosisEntry, ShadowPrices
from solver.validate import parse_request
from tests.helpers.requests import hardware, request, site, solve, workload


def everything_request() -> dict:
    """One request that builds every row family the model has: budgets of both kinds (horizon
    and per period), supply, an expansion, both vendor shares, a partial minimum service with a
    total served floor, and a contract with take-or-pay, warrants and discount tiers."""
    return request(
        periods=2,
        sites=[site(power=1.0, expansion={"max_mw": 1.0, "usd_per_mw": 10.0, "lead_time_periods": 0})],
        hardware_=[hardware(max_units_per_period=500), hardware("g", vendor="u", price=150.0)],
        workloads=[workload(min_service_fraction=0.5)],
        budget={
            "capex_usd": 1e6,
            "capex_per_period_usd": 1e6,
            "total_usd": 1e6,
            "total_per_period_usd": 1e6,
        },
        policy={
            "max_vendor_share": {"v": 0.9},
            "min_vendor_share": {"u": 0.05},
            "min_total_served_fraction": 0.6,
        },
        contracts=[
            {
                "vendor": "v",
                "min_spend_usd": 1000.0,
                "warrants": {
                    "equity_fraction_max": 0.01,
                    "full_vest_spend_usd": 1e4,
                    "company_valuation_usd": 1e6,
                },
                "discount_tiers": [
                    {"above_spend_usd": 100.0, "discount": 0.05},
                    {"above_spend_usd": 200.0, "discount": 0.1},
                ],
            }
        ],
    )


class TestRegistry:
    def test_every_built_family_is_declared_or_listed_unpublished(self) -> None:
        m = build_model(prepare(parse_request(everything_request())))
        built = set(m.con)
        declared = {f.family for f in LIMITS} | set(UNPUBLISHED)
        assert built - declared == set(), "a row family neither in LIMITS nor in UNPUBLISHED"
        # the request really builds every declared family (else the check above proves little)
        assert declared - built == set()

    def test_a_family_is_declared_once(self) -> None:
        names = [f.family for f in LIMITS]
        assert len(names) == len(set(names))
        assert not set(names) & set(UNPUBLISHED)

    def test_every_shadow_price_field_is_a_priced_family(self) -> None:
        fields = {f.price.field for f in LIMITS if f.price is not None}
        assert fields == set(ShadowPrices.model_fields) - {"basis", "objective_unit"}

    def test_diff_price_kinds_are_the_registry_kinds(self) -> None:
        schema = PriceChange.model_json_schema()
        assert tuple(schema["properties"]["kind"]["enum"]) == price_kinds()
        assert price_kinds() == (
            "power",
            "budget",
            "budget_period",
            "total_budget",
            "total_budget_period",
            "supply",
            "demand",
            "vendor_share_max",
            "vendor_share_min",
        )

    def test_diagnosis_limits_are_the_relaxed_families(self) -> None:
        relaxed = {f.relax.limit for f in LIMITS if f.relax is not None}
        assert relaxed == set(get_args(DiagnosedLimit))
        assert get_args(DiagnosisEntry.model_fields["limit"].annotation) == get_args(DiagnosedLimit)

    @pytest.mark.parametrize("fam", LIMITS, ids=lambda f: f.family)
    def test_axes_are_subject_fields(self, fam) -> None:
        assert set(fam.axes) <= set(AXES)
        assert set(AXES) <= set(BindingLimit.model_fields)


class TestBindingLimits:
    def test_a_site_id_with_spaces_is_one_subject(self) -> None:
        """Power binds at 'north hall' (1 MW holds 1,000 units of 1 kW = 1e6 tokens/s of the
        2e6 demanded, min service 0): the structured limit carries the id whole, the words
        string is made from it."""
        req = request(
            sites=[site("north hall", power=1.0)],
            workloads=[
                workload(demand=2e6, min_service_fraction=0.0, unmet_penalty_usd_per_million_tokens=1.0)
            ],
        )
        p = solve(req)
        power = [b for b in p.binding_limits if b.family == "power"]
        assert len(power) == 1
        b = power[0]
        assert (b.site, b.period, b.hardware, b.workload, b.vendor) == (
            "north hall",
            "2026-01",
            None,
            None,
            None,
        )
        assert b.slack == 0.0
        # one more MW holds 1,000 units more, serving 1e6 tokens/s more for a year: 1e6 × 31,536,000 s
        # / 1e6 = 31,536,000 M tokens of $1/M penalty avoided, for 1,000 units × $100 that keep 4/5
        # of their price at the horizon end (life 5 periods, 1 used): 31,536,000 − 1,000 × $20
        assert b.price == pytest.approx(31_536_000.0 - 1000 * 100.0 * (1 - 4 / 5), rel=1e-9)
        assert p.binding == ["power north hall 2026-01"]
        assert binding_words("power", Subject.of(b)) == "power north hall 2026-01"

    def test_family_words_are_declared(self) -> None:
        assert BY_FAMILY["vendor_max"].binding is not None
        assert binding_words("vendor_max", Subject(vendor="nvidia", period="2027-01")) == (
            "vendor_share max nvidia 2027-01"
        )
        assert binding_words("budget_period", Subject(period="2027-01")) == "budget 2027-01"
        assert binding_words("served_total", Subject()) == "min_total_served"
