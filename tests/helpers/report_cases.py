"""Requests and HTML helpers shared by the report tests (tests/report/*.py).

``demo_request`` is a small but complete plan: two sites (one with an expansion option and
an existing fleet, one with a per-period envelope), four hardware items of three vendors,
two workloads (one growing, one ramping from zero), a capex budget and a (loose) total
budget, a vendor-share cap, a
reserve margin and a Cerebras contract with warrants.  It solves in milliseconds and makes
every chart of the report appear (power binds, expansion is built, supply binds).
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from service.report import fmt
from solver import Plan

Json = dict[str, Any]

_DEMO: Json = {
    "name": "Demo 2-site plan",
    "horizon": {"start": "2026-01", "periods": 8, "period_months": 3},
    "economics": {"discount_rate": 0.08, "load_factor": 0.8},
    "budget": {"capex_usd": 5.0e9, "total_usd": 1.0e10},
    "sites": [
        {
            "id": "tx-1",
            "power_mw": 30,
            "pue": 1.25,
            "energy_usd_per_mwh": 60,
            "expansion": {"max_mw": 80, "usd_per_mw": 1.2e7, "lead_time_periods": 2},
            "existing": [{"hardware": "nvidia-h100-8x", "units": 300, "remaining_life_years": 1.5}],
        },
        {"id": "ok-2", "power_mw": [10, 10, 15, 15, 20, 20, 25, 25], "pue": 1.15, "energy_usd_per_mwh": 45},
    ],
    "hardware": [
        {
            "id": "cerebras-cs3",
            "vendor": "cerebras",
            "kind": "wafer-scale",
            "unit_price_usd": 2.5e6,
            "maintenance_fraction_per_year": 0.05,
            "it_power_kw": 27,
            "lead_time_periods": 1,
            "max_units_per_period": 300,
            "performance": {
                "llama-70b": {
                    "points": [
                        {"tokens_per_s_per_user": 100, "tokens_per_s_per_unit": 120000},
                        {"tokens_per_s_per_user": 1500, "tokens_per_s_per_unit": 60000},
                    ]
                }
            },
        },
        {
            "id": "nvidia-gb200-nvl72",
            "vendor": "nvidia",
            "unit_price_usd": 3.4e6,
            "maintenance_fraction_per_year": 0.05,
            "it_power_kw": 132,
            "lead_time_periods": 2,
            "max_units_per_period": 200,
            "performance": {
                "llama-70b": {
                    "points": [
                        {"tokens_per_s_per_user": 50, "tokens_per_s_per_unit": 600000},
                        {"tokens_per_s_per_user": 200, "tokens_per_s_per_unit": 150000},
                    ]
                }
            },
        },
        {
            "id": "nvidia-h100-8x",
            "vendor": "nvidia",
            "unit_price_usd": 2.5e5,
            "it_power_kw": 10.2,
            "lifetime_years": 4,
            "max_units_per_period": 0,
            "performance": {
                "llama-70b": {
                    "points": [
                        {"tokens_per_s_per_user": 30, "tokens_per_s_per_unit": 20000},
                        {"tokens_per_s_per_user": 100, "tokens_per_s_per_unit": 5000},
                    ]
                }
            },
        },
        {
            "id": "amd-mi355x-8x",
            "vendor": "amd",
            "unit_price_usd": 4.0e5,
            "recurring_usd_per_unit_hour": 2.0,
            "it_power_kw": 14,
            "performance": {
                "llama-70b": {
                    "points": [
                        {"tokens_per_s_per_user": 50, "tokens_per_s_per_unit": 40000},
                        {"tokens_per_s_per_user": 150, "tokens_per_s_per_unit": 12000},
                    ]
                }
            },
        },
    ],
    "workloads": [
        {
            "id": "chat",
            "model": "llama-70b",
            "min_tokens_per_s_per_user": 60,
            "demand_tokens_per_s": 6.0e7,
            "demand_growth_per_year": 0.6,
            "min_service_fraction": 0.8,
            "unmet_penalty_usd_per_million_tokens": 1.0,
        },
        {
            "id": "agents",
            "model": "llama-70b",
            "min_tokens_per_s_per_user": 1000,
            "demand_tokens_per_s": [0, 0, 1e7, 2e7, 3e7, 4e7, 5e7, 6e7],
        },
    ],
    "policy": {"max_vendor_share": {"nvidia": 0.75}, "reserve_margin": 0.1},
    "contracts": [
        {
            "vendor": "cerebras",
            "min_spend_usd": 1.5e9,
            "warrants": {
                "equity_fraction_max": 0.05,
                "full_vest_spend_usd": 3.0e9,
                "company_valuation_usd": 4.0e9,
            },
        }
    ],
}


def demo_request() -> Json:
    """The complete demo request (a fresh copy)."""
    return copy.deepcopy(_DEMO)


def limits_request() -> Json:
    """Most served for $200M of capex + opex, on one site with 200 existing NVIDIA racks and
    NVIDIA capped at 80 % of IT power: the total budget and the share both bind and publish
    prices (in weighted million tokens)."""
    return {
        "name": "Share and total budget",
        "horizon": {"start": "2026-01", "periods": 4, "period_months": 3},
        "economics": {"discount_rate": 0.08},
        "objective": {"kind": "max_served"},
        "budget": {"total_usd": 2.0e8},
        "sites": [
            {
                "id": "s",
                "power_mw": 50,
                "pue": 1.2,
                "energy_usd_per_mwh": 60,
                "existing": [{"hardware": "nv", "units": 200, "remaining_life_years": 5}],
            }
        ],
        "hardware": [
            {
                "id": "nv",
                "vendor": "nvidia",
                "unit_price_usd": 3.0e6,
                "it_power_kw": 120,
                "performance": {
                    "m": {"points": [{"tokens_per_s_per_user": 25, "tokens_per_s_per_unit": 8e5}]}
                },
            },
            {
                "id": "amd",
                "vendor": "amd",
                "unit_price_usd": 4.0e5,
                "it_power_kw": 15,
                "performance": {
                    "m": {"points": [{"tokens_per_s_per_user": 25, "tokens_per_s_per_unit": 7e4}]}
                },
            },
        ],
        "workloads": [
            {
                "id": "w",
                "model": "m",
                "min_tokens_per_s_per_user": 25,
                "demand_tokens_per_s": 3.0e8,
                "min_service_fraction": 0,
            }
        ],
        "policy": {"max_vendor_share": {"nvidia": 0.8}},
    }


def infeasible_request() -> Json:
    """The demo with full service of a large demand from the first period: nothing can arrive
    in time (lead times) and the existing fleet is too small, so it is infeasible."""
    req = demo_request()
    req["name"] = "Infeasible demo"
    wl = req["workloads"][0]
    wl["min_service_fraction"] = 1.0
    wl["demand_tokens_per_s"] = 2.0e8
    req["hardware"][3]["lead_time_periods"] = 1
    return req


# ----------------------------------------------------------------------------- HTML


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page:
    """What the tests read from a report (raw or as dumped by the browser)."""

    fields: dict[str, Element] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)
    svgs: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    text: str = ""


class _Reader(HTMLParser):
    VOID = {
        "meta",
        "br",
        "img",
        "input",
        "link",
        "hr",
        "wbr",
        "path",
        "rect",
        "line",
        "circle",
        "polyline",
        "polygon",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.open: list[Element] = []
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.page.tags[tag] = self.page.tags.get(tag, 0) + 1
        if tag == "section" and "id" in a:
            self.page.sections.append(a["id"])
        if tag == "svg" and "id" in a:
            self.page.svgs.append(a["id"])
        if tag == "figure" and "data-chart" in a:
            self.page.figures.append(a["data-chart"])
        if tag in self.VOID:
            return
        el = Element(tag, a)
        if "data-field" in a and a["data-field"] not in self.page.fields:
            self.page.fields[a["data-field"]] = el
        self.open.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                break

    def handle_data(self, data: str) -> None:
        for el in self.open:
            if "data-field" in el.attrs:
                el.text += data
        self.chunks.append(data)


def read_page(html: str) -> Page:
    r = _Reader()
    r.feed(html)
    r.close()
    r.page.text = re.sub(r"\s+", " ", " ".join(r.chunks))
    return r.page


def svg_tree(html: str, cid: str) -> ET.Element:
    """The ``<svg id=cid>`` element of a report, parsed as XML (our SVG is well-formed)."""
    start = html.index(f'id="{cid}"')
    start = html.rindex("<svg", 0, start)
    end = html.index("</svg>", start) + len("</svg>")
    return ET.fromstring(html[start:end])


SVG = "{http://www.w3.org/2000/svg}"


def bar_heights(svg: ET.Element) -> dict[float, float]:
    """Total height of the stacked bar rects per bar centre x (series groups only)."""
    out: dict[float, float] = {}
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") != "series":
            continue
        for r in g.iter(f"{SVG}rect"):
            cx = round(float(r.get("x", 0)) + float(r.get("width", 0)) / 2, 1)
            out[cx] = out.get(cx, 0.0) + float(r.get("height", 0))
    return out


def titles(svg: ET.Element, tag: str = "rect") -> list[str]:
    """The tooltip texts of every mark ``tag`` of a chart."""
    return [t.text or "" for el in svg.iter(f"{SVG}{tag}") for t in el.findall(f"{SVG}title")]


# ----------------------------------------------------------------------------- bidi

_REORDERING = {"R", "AL", "AN", "LRE", "LRO", "RLE", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
_SHOWN_ATTRS = ("title", "aria-label")  # attributes a reader sees (tooltips) or hears


def _bidi_ok(text: str) -> bool:
    """Whether ``text``'s explicit controls are balanced: each closer closes one of its own
    openers, and every opener is closed."""
    stack: list[str] = []
    for c in text:
        kind = unicodedata.bidirectional(c)
        if kind in ("LRE", "RLE", "LRO", "RLO", "LRI", "RLI", "FSI"):
            stack.append(kind)
        elif kind == "PDF":
            if not stack or stack[-1] in ("LRI", "RLI", "FSI"):
                return False
            stack.pop()
        elif kind == "PDI":
            if not any(s in ("LRI", "RLI", "FSI") for s in stack):
                return False
            while stack.pop() not in ("LRI", "RLI", "FSI"):
                pass
    return not stack


def _outside_isolates(text: str) -> list[str]:
    """Problems of a text with no element around it: every reordering character (right-to-left
    letter, Arabic digit, bidi control) must sit in an FSI … PDI span, balanced inside."""
    problems = []
    depth, start = 0, 0
    for k, c in enumerate(text):
        if c == "\u2068" and depth == 0:
            depth, start = 1, k
        elif depth:
            if c in "\u2066\u2067\u2068":
                depth += 1
            elif c == "\u2069":
                depth -= 1
                if depth == 0 and not _bidi_ok(text[start : k + 1]):
                    problems.append(text[start : k + 1])
        elif unicodedata.bidirectional(c) in _REORDERING:
            problems.append(text)
            break
    if depth:
        problems.append(text)
    return problems


class _BidiReader(HTMLParser):
    VOID = _Reader.VOID

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.bdi: list[list[str]] = []  # the text of each open <bdi>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in _SHOWN_ATTRS and v:
                self.problems += _outside_isolates(v)
        if tag == "bdi":
            self.bdi.append([])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "bdi":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "bdi" and self.bdi:
            text = "".join(self.bdi.pop())
            if not _bidi_ok(text):
                self.problems.append(text)
            if self.bdi:
                self.bdi[-1].append(text)

    def handle_data(self, data: str) -> None:
        if self.bdi:
            self.bdi[-1].append(data)
        else:
            self.problems += _outside_isolates(data)


def unisolated(html: str) -> list[str]:
    """The texts of a page that could reorder what is around them: right-to-left text or a bidi
    control outside every isolate (a ``<bdi>`` element, or FSI … PDI where no element can go:
    SVG text, tooltips, ``title`` and ``aria-label``), or an isolate whose controls do not
    balance (a stray PDI would end it early)."""
    r = _BidiReader()
    r.feed(html)
    r.close()
    return r.problems


def hostile_request(req: Json | None = None) -> Json:
    """``req`` (the demo) with names and ids that reorder text: a site id ending in U+202E
    RIGHT-TO-LEFT OVERRIDE, another with a stray U+2069 before it (it would close an isolate
    early), a Hebrew workload id, one ending in an unclosed RIGHT-TO-LEFT EMBEDDING, a vendor
    with an override, hardware with an unclosed isolate and a plan name with Arabic digits."""
    req = copy.deepcopy(req or _DEMO)
    req["name"] = "Plan \u0661\u0662 \u2067draft"
    tx, ok = "tx-1\u202e", "ok-2\u2069\u202e"
    req["sites"][0]["id"], req["sites"][1]["id"] = tx, ok
    req["workloads"][0]["id"], req["workloads"][1]["id"] = "\u05e9\u05d9\u05d7\u05d4", "agents\u202b"
    for h in req["hardware"]:
        if h["vendor"] == "nvidia":
            h["vendor"] = "nvidia\u202e"
        if h["id"] == "cerebras-cs3":
            h["id"] = "cs3\u2066x"
    req["policy"]["max_vendor_share"] = {"nvidia\u202e": 0.75}
    return req


def expected_charts(p: Plan, with_request: bool) -> set[str]:
    sites = {s.id for s in p.periods[0].sites}
    wls = {w.id for w in p.periods[0].workloads}
    out = {"chart-fleet-units", "chart-cost", "chart-power-prices", "chart-contracts"}
    out |= {f"chart-power-{s}" for s in sites} | {f"chart-demand-{w}" for w in wls}
    if with_request:
        out |= {"chart-fleet-mw", "chart-vendor-share"}
    return out


def shown_close(text: str, value: float, digits: int = 4) -> bool:
    """The shown text, parsed back, equals value to the display's rounding."""
    shown = fmt.parse_scaled(text)
    return math.isclose(shown, value, rel_tol=0.5 * 10 ** (1 - digits) + 1e-12, abs_tol=1e-9)
