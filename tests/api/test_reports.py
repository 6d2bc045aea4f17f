"""Report routes against the real app (SQLite, one worker process): plan report and CSV
tables, sweep and frontier pages with links that resolve to the scenarios' plan reports."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.jobs.store import PlanRow, utcnow
from service.report import TABLES
from service.settings import Settings
from tests.helpers.report_cases import demo_request, infeasible_request, read_page


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db: Path = tmp_path_factory.mktemp("report-routes") / "capplan.db"
    settings = Settings(database_url=f"sqlite:///{db}", workers=1, log_json=False)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def solved(client: TestClient) -> dict[str, Any]:
    r = client.post("/v1/plans", json=demo_request())
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "optimal"
    return body


def wait_job(client: TestClient, url: str) -> dict[str, Any]:
    """Poll a sweep/frontier until it is done (a generous deadline guards a hang only)."""
    deadline = time.monotonic() + 300
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


class TestPlanReport:
    def test_html_with_the_plan_numbers(self, client: TestClient, solved: dict[str, Any]) -> None:
        r = client.get(f"/v1/plans/{solved['id']}/report")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["content-security-policy"]
        page = read_page(r.text)
        s = solved["summary"]
        assert float(page.fields["summary.npv_cost_usd"].attrs["data-value"]) == s["npv_cost_usd"]
        assert float(page.fields["summary.served_fraction"].attrs["data-value"]) == s["served_fraction"]
        # the stored request is used: the charts that need it are there
        assert {"chart-fleet-mw", "chart-vendor-share"} <= set(page.svgs)

    def test_infeasible_plan_leads_with_its_diagnosis(self, client: TestClient) -> None:
        r = client.post("/v1/plans", json=infeasible_request())
        assert r.status_code == 201 and r.json()["status"] == "infeasible"
        page = read_page(client.get(f"/v1/plans/{r.json()['id']}/report").text)
        assert page.sections[0] == "diagnosis"
        for d in r.json()["diagnosis"]:
            assert d["message"] in page.text

    def test_unknown_plan(self, client: TestClient) -> None:
        r = client.get("/v1/plans/nope/report")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")

    def test_unfinished_plan_has_no_report_yet(self, client: TestClient) -> None:
        state = client.app.state.capplan  # type: ignore[attr-defined]
        now = utcnow()
        state.store.insert_plan(
            PlanRow(
                id="queued-report-test",
                tenant="default",
                status="queued",
                name="q",
                objective_kind="min_cost",
                objective_value=None,
                request=json.dumps(demo_request()),
                request_hash="x" * 64,
                idempotency_key=None,
                plan=json.dumps({"status": "queued"}),
                error=None,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
        for url in ("/v1/plans/queued-report-test/report", "/v1/plans/queued-report-test/tables/fleet.csv"):
            r = client.get(url)
            assert r.status_code == 409, url
            assert "still queued" in r.json()["detail"]


class TestPlanTables:
    @pytest.mark.parametrize("name", TABLES)
    def test_csv(self, client: TestClient, solved: dict[str, Any], name: str) -> None:
        r = client.get(f"/v1/plans/{solved['id']}/tables/{name}.csv")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert f"{name}.csv" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.text)))
        assert all(len(x) == len(rows[0]) for x in rows)
        assert len(rows) > 1 or (name == "idle_purchases" and not solved["idle_purchases"])

    def test_fleet_adds_up_to_units_acquired(self, client: TestClient, solved: dict[str, Any]) -> None:
        text = client.get(f"/v1/plans/{solved['id']}/tables/fleet.csv").text
        units: dict[str, float] = {}
        for row in csv.DictReader(io.StringIO(text)):
            units[row["hardware"]] = units.get(row["hardware"], 0.0) + float(row["acquired"])
        assert {h: u for h, u in units.items() if u} == pytest.approx(
            solved["summary"]["units_acquired"], rel=1e-12
        )

    def test_periods_add_up_to_capex_and_opex(self, client: TestClient, solved: dict[str, Any]) -> None:
        rows = list(
            csv.DictReader(io.StringIO(client.get(f"/v1/plans/{solved['id']}/tables/periods.csv").text))
        )
        assert sum(float(r["capex_usd"]) for r in rows) == pytest.approx(
            solved["summary"]["capex_usd"], rel=1e-12
        )
        assert sum(float(r["opex_usd"]) for r in rows) == pytest.approx(
            solved["summary"]["opex_usd"], rel=1e-12
        )

    def test_unknown_table_names_the_tables(self, client: TestClient, solved: dict[str, Any]) -> None:
        r = client.get(f"/v1/plans/{solved['id']}/tables/nope.csv")
        assert r.status_code == 404
        assert all(t in r.json()["detail"] for t in TABLES)


class TestScenarioReports:
    def _links_resolve(self, client: TestClient, url: str, html: str, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            href = f"../../plans/{row['plan_id']}/report"
            assert href in html
        target = urljoin(f"http://testserver{url}", f"../../plans/{rows[0]['plan_id']}/report")
        r = client.get(target)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")

    def test_sweep_report(self, client: TestClient) -> None:
        body = {
            "base": demo_request(),
            "mode": "one_at_a_time",
            "parameters": [{"path": "hardware/cerebras-cs3/unit_price_usd", "scale": [0.8, 1.25]}],
        }
        r = client.post("/v1/sweeps", json=body)
        assert r.status_code == 202, r.text
        job = wait_job(client, r.headers["location"])
        assert job["status"] == "done", job
        url = f"{r.headers['location']}/report"
        rep = client.get(url)
        assert rep.status_code == 200 and rep.headers["content-type"].startswith("text/html")
        assert "chart-tornado-npv_cost_usd" in read_page(rep.text).svgs
        self._links_resolve(client, url, rep.text, job["rows"])

    def test_frontier_report(self, client: TestClient) -> None:
        r = client.post("/v1/frontiers", json={"base": demo_request(), "points": 4})
        assert r.status_code == 202, r.text
        job = wait_job(client, r.headers["location"])
        assert job["status"] == "done", job
        url = f"{r.headers['location']}/report"
        rep = client.get(url)
        assert rep.status_code == 200
        assert read_page(rep.text).svgs == ["chart-frontier"]
        assert rep.text.count('class="point"') == len(job["rows"])
        self._links_resolve(client, url, rep.text, job["rows"])

    def test_unknown_jobs(self, client: TestClient) -> None:
        assert client.get("/v1/sweeps/nope/report").status_code == 404
        assert client.get("/v1/frontiers/nope/report").status_code == 404
