"""The model's size from the request alone (solver/size.py): exact, and refused before anything
is derived."""

from __future__ import annotations

import random
import time

import pytest

from solver import ModelTooLarge, parse_request, plan
from solver.model import count_variables, prepare
from solver.size import ModelSize, check_model_size, model_size
from tests.helpers.requests import BIG_VARIABLES, Json, big_request, hardware, request, site, workload


def exact(req: Json) -> ModelSize:
    """The size as prepare() derives it: count_variables, hardware × workloads, present pairs."""
    parsed = parse_request(req)
    data = prepare(parsed)
    pairs = len(parsed.hardware) * len(parsed.workloads)
    return ModelSize(count_variables(data), pairs, sum(len(p) for p in data.present))


class TestModelSize:
    def test_a_hand_counted_instance(self) -> None:
        # 4 yearly periods.  h1 (lead 1) serves m up to 50 tokens/s per user, h2 (no lead) up to
        # 20; workloads at 10, 30 and 60: h1 serves two, h2 one.  Site a allows everything;
        # site b only h2, and has an expansion with a lead of 1.  One contract, two tiers.
        #   buy     a: h1 (4 − 1) + h2 4, b: h2 4          = 11
        #   alloc   (a: 2 + 1, b: 1) eligible × 4 periods  = 16
        #   served  3 × 4                                  = 12
        #   expand  b: 4 − 1                               =  3
        #   contract 2 (shortfall, vested) + 2 × 2 tiers   =  6      total 48
        req = request(
            periods=4,
            sites=[
                site("a"),
                site(
                    "b",
                    allowed_hardware=["h2"],
                    expansion={"max_mw": 10, "usd_per_mw": 1e6, "lead_time_periods": 1},
                ),
            ],
            hardware_=[
                hardware("h1", lead_time_periods=1, points=((10, 1000), (50, 500))),
                hardware("h2", points=((20, 800),)),
            ],
            workloads=[workload("w1", speed=10), workload("w2", speed=30), workload("w3", speed=60)],
            contracts=[
                {
                    "vendor": "v",
                    "min_spend_usd": 1000,
                    "warrants": {
                        "equity_fraction_max": 0.01,
                        "company_valuation_usd": 1e6,
                        "full_vest_spend_usd": 1e5,
                    },
                    "discount_tiers": [
                        {"above_spend_usd": 100, "discount": 0.1},
                        {"above_spend_usd": 200, "discount": 0.2},
                    ],
                }
            ],
        )
        size = model_size(parse_request(req))
        assert size == ModelSize(variables=48, throughput_pairs=6, site_pairs=3)
        assert size == exact(req)

    def test_the_issue_body(self) -> None:
        req = big_request()
        assert model_size(parse_request(req)).variables == BIG_VARIABLES

    @pytest.mark.parametrize("seed", range(300))
    def test_it_agrees_with_prepare(self, seed: int) -> None:
        assert model_size(parse_request(random_request(seed))) == exact(random_request(seed))


def random_request(seed: int) -> Json:
    """A small request exercising what decides the size: allowed_hardware (with repeats),
    existing fleets in and out of it, existing-only hardware, lead times up to past the
    horizon, curves that fall, rise or drop to 0 throughput, speed targets at a curve's points
    and between them, several models, expansions and contracts."""
    rnd = random.Random(seed)
    n = rnd.randint(1, 5)
    speeds = [5.0, 10.0, 15.0, 20.0, 30.0, 40.0]
    models = ["m", "q"]
    hws: list[Json] = []
    for i in range(rnd.randint(1, 4)):
        perf = {}
        for m in rnd.sample(models, rnd.randint(1, 2)):
            xs = sorted(rnd.sample([10.0, 20.0, 30.0], rnd.randint(1, 3)))
            perf[m] = {
                "units_per_replica": 1,
                "points": [
                    {
                        "tokens_per_s_per_user": x,
                        "tokens_per_s_per_unit": rnd.choice([0.0, 500.0, 1000.0, 2000.0]),
                    }
                    for x in xs
                ],
            }
        item: Json = {
            "id": f"h{i}",
            "vendor": rnd.choice(["v", "u"]),
            "unit_price_usd": 100.0,
            "it_power_kw": 1.0,
            "lifetime_years": 5.0,
            "performance": perf,
        }
        if rnd.random() < 0.3:
            item["existing_only"] = True
        else:
            item["lead_time_periods"] = rnd.randint(0, n + 1)
        hws.append(item)
    ids = [h["id"] for h in hws]
    sites = []
    for s in range(rnd.randint(1, 3)):
        st: Json = {"id": f"s{s}", "power_mw": 100.0}
        if rnd.random() < 0.5:
            st["allowed_hardware"] = [rnd.choice(ids) for _ in range(rnd.randint(0, 3))]
        st["existing"] = [
            {"hardware": rnd.choice(ids), "units": rnd.choice([0.0, 3.0])} for _ in range(rnd.randint(0, 2))
        ]
        if rnd.random() < 0.3:
            st["expansion"] = {
                "max_mw": rnd.choice([0.0, 10.0]),
                "usd_per_mw": 1e6,
                "lead_time_periods": rnd.randint(0, n + 1),
            }
        sites.append(st)
    served = {m for h in hws for m in h["performance"]}
    wls = [
        workload(f"w{w}", model=rnd.choice(sorted(served)), speed=rnd.choice(speeds), demand=100.0)
        for w in range(rnd.randint(1, 5))
    ]
    contracts = []
    if rnd.random() < 0.3:
        tiers = [{"above_spend_usd": 100.0 * (k + 1), "discount": 0.1} for k in range(rnd.randint(0, 2))]
        contracts.append(
            {"vendor": hws[0]["vendor"], "min_spend_usd": rnd.choice([0.0, 50.0]), "discount_tiers": tiers}
        )
    return request(periods=n, sites=sites, hardware_=hws, workloads=wls, contracts=contracts)


class TestCheckModelSize:
    @pytest.mark.parametrize("workloads", [700, 7_000])
    def test_an_oversized_body_is_refused_before_anything_is_derived(
        self, nothing_derived: None, workloads: int
    ) -> None:
        with pytest.raises(ModelTooLarge) as exc:
            plan(big_request(workloads), max_variables=2_000_000)
        assert (exc.value.variables, exc.value.limit, exc.value.table) == (
            71_100 + 100 * 3 * workloads * 240 + workloads * 240,
            2_000_000,
            None,
        )

    def test_refusing_the_50m_variable_body_costs_little_cpu(self) -> None:
        # The refusal parses the body and counts (~10 ms of CPU); before the count was judged
        # from the request it ran prepare(), 12 s here.  A budget 100 times what it needs.
        req = big_request()
        start = time.process_time()
        with pytest.raises(ModelTooLarge):
            plan(req, max_variables=2_000_000)
        assert time.process_time() - start < 1.0

    def test_a_large_crude_bound_with_a_small_model_is_accepted(self) -> None:
        # 100 sites × 3 hardware × 701 workloads × 240 periods is 50M again, but only the 3
        # workloads at 5 tokens/s per user can be served (h and g serve up to 10 tokens/s; k
        # serves model "other", whose only workload asks 50):
        #   buy     h and k: 100 sites × 2 × 240 periods (g arrives after the end) =  48,000
        #   alloc   100 sites × (h, g) × 3 workloads × 240 periods               = 144,000
        #   served  701 × 240                                                     = 168,240
        req = big_request()
        req["hardware"] = [
            hardware("h", model="llama-70b"),
            hardware("g", model="llama-70b", lead_time_periods=300),
            hardware("k", model="other"),
        ]
        for i, wl in enumerate(req["workloads"]):
            wl["min_tokens_per_s_per_user"] = 5 if i < 3 else 50
        req["workloads"].append(workload("o", model="other", speed=50))
        size = check_model_size(parse_request(req), 2_000_000)
        assert size.variables == 48_000 + 144_000 + 168_240
        assert size == exact(req)

    def test_too_many_throughputs_are_refused_whatever_the_columns(self) -> None:
        # 11 catalog items × 10 workloads = 110 throughputs, beyond a limit of 100; the site
        # allows one item, so the model itself has 1 + 10 + 10 = 21 columns.
        ids = ["cerebras-cs3", "cerebras-cs3-hosted"] + [
            f"nvidia-{g}-8x" for g in ("h100", "h200", "b200", "b300")
        ]
        ids += ["nvidia-gb200-nvl72", "nvidia-gb300-nvl72"] + [
            f"amd-{g}-8x" for g in ("mi300x", "mi325x", "mi355x")
        ]
        req = request(
            sites=[site(allowed_hardware=["cerebras-cs3-hosted"])],
            hardware_=[{"catalog": c} for c in ids],
            workloads=[workload(f"w{i}", model="llama-70b", speed=20) for i in range(10)],
        )
        with pytest.raises(ModelTooLarge) as exc:
            check_model_size(parse_request(req), 100)
        e = exc.value
        assert (e.variables, e.size, e.limit) == (21, 110, 100)
        assert e.table == "throughputs (11 hardware × 10 workloads)"
        assert (
            str(e)
            == "the request derives 110 throughputs (11 hardware × 10 workloads), more than the limit 100"
        )

    def test_too_many_site_hardware_pairs_are_refused(self) -> None:
        # 60 sites of one hardware that arrives after the horizon and cannot serve the workload:
        # 1 column (served), 60 per-unit costs
        req = request(
            sites=[site(f"s{i}") for i in range(60)],
            hardware_=[hardware(lead_time_periods=1)],
            workloads=[workload(speed=50)],
        )
        with pytest.raises(ModelTooLarge) as exc:
            check_model_size(parse_request(req), 50)
        assert (exc.value.variables, exc.value.size, exc.value.table) == (
            1,
            60,
            "per-unit costs (site/hardware pairs of 60 sites)",
        )


class TestPrepareIsLinear:
    def test_60000_workloads_prepare_in_little_cpu(self) -> None:
        # 1 site, 1 hardware, 60,000 workloads, 1 period: 120,001 columns.  Every derivation
        # is linear: ~0.5 s of CPU, a budget 20 times that.  The first servable period of each
        # workload used to rescan every eligible triple per workload: 60,000² steps, ~60 s.
        only = {"hardware": [{"catalog": "cerebras-cs3", "lead_time_months": 0}]}
        req = parse_request(big_request(workloads=60_000, sites=1, periods=1) | only)
        start = time.process_time()
        data = prepare(req)
        assert time.process_time() - start < 10.0
        assert count_variables(data) == 1 + 60_000 + 60_000

    def test_many_vendors_contracts_and_existing_only_items_check_in_little_cpu(self) -> None:
        # 10,000 vendors, each with a tiered contract, and 10,000 existing-only items at one
        # site: ~1 s to validate and prepare.  The contracts' spend bound looked at every
        # hardware item per contract (24 s to validate), the existing-only warnings at every
        # site's fleet per item.
        n = 10_000
        hws = [hardware(f"h{i}", vendor=f"v{i}") for i in range(n)]
        hws += [hardware(f"e{i}", existing_only=True) for i in range(n)]
        req = request(
            sites=[
                site(allowed_hardware=["h0"], existing=[{"hardware": f"e{i}", "units": 1} for i in range(n)])
            ],
            hardware_=hws,
            contracts=[
                {"vendor": f"v{i}", "discount_tiers": [{"above_spend_usd": 100, "discount": 0.1}]}
                for i in range(n)
            ],
        )
        start = time.process_time()
        data = prepare(parse_request(req))
        assert time.process_time() - start < 10.0
        assert data.warnings == [
            f"site 's': existing 'e{i}' units are not in allowed_hardware; they draw power and cost "
            "money until they retire but serve no workload"
            for i in range(n)
        ]
