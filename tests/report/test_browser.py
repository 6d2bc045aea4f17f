"""Reports rendered by a real browser: headless Chromium (Debian's ``chromium`` package).

Each page is written to a file and opened from ``file://`` with networking disabled, like a
mail attachment.  Chromium logs every console message (errors, and the Content-Security-
Policy violation any fetch attempt would cause) as ``CONSOLE`` lines on stderr; there must be
none — a control page with a blocked fetch proves the scan sees them.  The DOM Chromium
builds must hold every chart and the headline numbers of the plan.  Screenshots and a PDF
print go to ``artifacts/report/`` (ignored by git) for people to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.report import render_frontier_report, render_plan_report, render_sweep_report
from solver import Plan, parse_request, plan
from solver.scenarios.frontier import prepare_frontier, run_frontier
from solver.scenarios.sweep import prepare_sweep, run_sweep
from tests.helpers.report_cases import (
    demo_request,
    expected_charts,
    infeasible_request,
    read_page,
    shown_close,
)

CHROMIUM = next(
    (
        path
        for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
        if (path := shutil.which(name))
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on PATH: install Debian's 'chromium' package (.ci/run installs it)",
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "report"
WHEN = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
CONSOLE = re.compile(r"CONSOLE[(:]")


@dataclass
class Rendered:
    dom: str
    console: list[str]


class Browser:
    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        self.exe = CHROMIUM
        self.profile = profile

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.exe, *FLAGS, f"--user-data-dir={self.profile}", *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def dom(self, page: Path) -> Rendered:
        """The DOM after load, and every console message logged while loading."""
        out = self._run("--dump-dom", page.as_uri())
        assert out.returncode == 0, out.stderr[-2000:]
        assert "<html" in out.stdout
        return Rendered(out.stdout, [line for line in out.stderr.splitlines() if CONSOLE.search(line)])

    def screenshot(self, page: Path, png: Path, height: int) -> Path:
        png.parent.mkdir(parents=True, exist_ok=True)
        png.unlink(missing_ok=True)
        out = self._run(f"--window-size=1200,{height}", f"--screenshot={png}", page.as_uri())
        assert out.returncode == 0 and png.exists(), out.stderr[-2000:]
        return png

    def pdf(self, page: Path, pdf: Path) -> Path:
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pdf.unlink(missing_ok=True)
        out = self._run("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
        assert out.returncode == 0 and pdf.exists(), out.stderr[-2000:]
        return pdf


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    yield Browser(tmp_path_factory.mktemp("chromium-profile"))


@pytest.fixture(scope="module")
def demo() -> tuple[Plan, str, Path]:
    req = parse_request(demo_request())
    p = plan(req)
    html = render_plan_report(p, req, generated_at=WHEN)
    return p, html, _write("plan.html", html)


def _write(name: str, html: str) -> Path:
    """Write atomically: pytest-xdist workers may write the same page while another reads it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


class TestConsoleScan:
    def test_a_blocked_fetch_is_seen(self, browser: Browser) -> None:
        """Control: the report's policy turns any fetch into a console error we detect."""
        page = _write(
            "control.html",
            render_plan_report(plan(demo_request()), generated_at=WHEN).replace(
                "</main>", '<img src="http://example.invalid/x.png"></main>'
            ),
        )
        rendered = browser.dom(page)
        assert any("example.invalid" in line for line in rendered.console), rendered.console


@pytest.fixture(scope="module")
def rendered(browser: Browser, demo: tuple[Plan, str, Path]) -> Rendered:
    return browser.dom(demo[2])


class TestPlanReport:
    def test_no_console_messages(self, rendered: Rendered) -> None:
        assert rendered.console == []

    def test_every_chart_is_in_the_rendered_dom(
        self, rendered: Rendered, demo: tuple[Plan, str, Path]
    ) -> None:
        p = demo[0]
        page = read_page(rendered.dom)
        assert set(page.svgs) == expected_charts(p, with_request=True)
        for cid in page.svgs:
            chunk = rendered.dom[rendered.dom.index(f'id="{cid}"') :]
            chunk = chunk[: chunk.index("</svg>")]
            assert re.search(r"<(rect|polyline|polygon)\b", chunk), cid

    def test_headline_numbers_equal_the_plan(self, rendered: Rendered, demo: tuple[Plan, str, Path]) -> None:
        s = demo[0].summary
        fields = read_page(rendered.dom).fields
        for name in (
            "npv_cost_usd",
            "cost_per_million_tokens_usd",
            "capex_usd",
            "opex_usd",
            "residual_value_usd",
        ):
            el = fields[f"summary.{name}"]
            assert float(el.attrs["data-value"]) == getattr(s, name)
            assert shown_close(el.text, getattr(s, name))
        assert fields["summary.served_fraction"].text == f"{100 * s.served_fraction:.2f}%"
        for h, u in s.units_acquired.items():
            assert float(fields[f"summary.units_acquired.{h}"].attrs["data-value"]) == u
        assert fields["status"].text == "optimal"

    def test_screenshot(self, browser: Browser, demo: tuple[Plan, str, Path]) -> None:
        png = browser.screenshot(demo[2], ARTIFACTS / "plan.png", 7400)
        assert png_size(png) == (1200, 7400)
        assert png.stat().st_size > 100_000  # a blank page is a few kB

    def test_prints_to_pdf(self, browser: Browser, demo: tuple[Plan, str, Path]) -> None:
        pdf = browser.pdf(demo[2], ARTIFACTS / "plan.pdf")
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-"
        assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 3


class TestInfeasibleReport:
    def test_diagnosis_first_in_the_browser(self, browser: Browser) -> None:
        p = plan(infeasible_request())
        page_file = _write("infeasible.html", render_plan_report(p, generated_at=WHEN))
        rendered = browser.dom(page_file)
        assert rendered.console == []
        page = read_page(rendered.dom)
        assert page.sections[0] == "diagnosis"
        for d in p.diagnosis:
            assert d.message in page.text
        browser.screenshot(page_file, ARTIFACTS / "infeasible.png", 1000)


class TestScenarioReports:
    def test_sweep_tornado(self, browser: Browser) -> None:
        sweep = prepare_sweep(
            {
                "base": demo_request(),
                "mode": "one_at_a_time",
                "parameters": [
                    {"path": "hardware/cerebras-cs3/unit_price_usd", "scale": [0.8, 1.25]},
                    {"path": "sites/tx-1/power_mw", "scale": [0.8, 1.2]},
                ],
            }
        )
        result = run_sweep(sweep).model_dump()
        html = render_sweep_report(result, plan_href=lambda pid: f"../plans/{pid}/report", generated_at=WHEN)
        rendered = browser.dom(_write("sweep.html", html))
        assert rendered.console == []
        page = read_page(rendered.dom)
        assert "chart-tornado-npv_cost_usd" in page.svgs
        assert rendered.dom.count('class="tornado-bar"') >= 4
        for row in result["rows"]:
            assert f"../plans/{row['plan_id']}/report" in rendered.dom
        browser.screenshot(_write("sweep.html", html), ARTIFACTS / "sweep.png", 1700)

    def test_frontier_with_knee(self, browser: Browser) -> None:
        result = run_frontier(prepare_frontier({"base": demo_request(), "points": 5})).model_dump()
        html = render_frontier_report(
            result, plan_href=lambda pid: f"../plans/{pid}/report", generated_at=WHEN
        )
        rendered = browser.dom(_write("frontier.html", html))
        assert rendered.console == []
        page = read_page(rendered.dom)
        assert page.svgs == ["chart-frontier"]
        assert rendered.dom.count('class="point"') == 5
        assert ('class="knee"' in rendered.dom) == (result["knee_index"] is not None)
        for row in result["rows"]:
            assert f"../plans/{row['plan_id']}/report" in rendered.dom
        browser.screenshot(_write("frontier.html", html), ARTIFACTS / "frontier.png", 1200)
