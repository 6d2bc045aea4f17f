"""``/v1/sweeps``, ``/v1/frontiers`` and ``/v1/plans/{a}/diff/{b}`` against a real app:
SQLite store, LocalProcessRunner with two worker processes.

Numbers come from the hand-solved micro-instances of tests/helpers/scenario_requests.py:
power (cost = 3e6 − 2e5·(P − 10), 10 <= P <= 20 MW, infeasible below 10) and frontier
(cost = 1e6·f up to f = 0.5, then 5e5 + 4e6·(f − 0.5), at most 0.8 served).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError

from service.api.app import create_app
from service.api.errors import PROBLEM_BASE
from service.jobs import scenario_jobs as scenario_jobs_module
from service.jobs.scenario_jobs import failure_text
from service.jobs.store import Store
from service.settings import Settings
from solver import FieldError, ModelTooLarge, RequestInvalid, plan
from solver.scenarios import sweep as sweep_module
from solver.scenarios.run import solve_scenario
from solver.scenarios.sweep import prepare_sweep
from tests.helpers import service as h
from tests.helpers.ray_cluster import PG_URL, pg_schema, postgres_missing
from tests.helpers.requests import BIG_VARIABLES, big_request
from tests.helpers.scenario_requests import FakeClock, frontier_request, power_request
from tests.helpers.workers import alive, slow_worker

FINISHED = ("done", "failed")


def settings(tmp: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp / 'capplan.db'}", workers=2, log_json=False, log_level="warning"
    )


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sweeps")


@pytest.fixture(scope="module")
def client(db_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(db_dir))) as c:
        yield c


def wait(client: TestClient, location: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(location).json()
        if body["status"] in FINISHED:
            return body
        assert time.monotonic() < deadline, (
            f"{location} did not finish: {body['status']} {body['done']}/{body['total']}"
        )
        time.sleep(0.1)


def problem(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return {e["path"]: e["message"] for e in r.json()["errors"]}


class TestPostSweep:
    def test_accepted_with_location_then_rows_equal_separate_solves(self, client: TestClient) -> None:
        power = [8, 12, 15, 25]
        r = client.post(
            "/v1/sweeps",
            json={"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": power}]},
        )
        assert r.status_code == 202
        loc = r.headers["location"]
        assert loc == f"/v1/sweeps/{r.json()['id']}"
        assert r.json()["total"] == 4 and r.json()["status"] in ("queued", "running")
        body = wait(client, loc)
        assert body["status"] == "done" and body["done"] == body["total"] == 4
        rows = body["rows"]
        assert [x["index"] for x in rows] == [0, 1, 2, 3]
        assert rows[0]["status"] == "infeasible"
        for row, p in zip(rows[1:], power[1:], strict=True):
            want = 3e6 - 2e5 * (min(p, 20) - 10)
            assert row["values"] == {"sites/s/power_mw": p}
            assert row["objective"] == pytest.approx(want, rel=1e-9)
            req = power_request()
            req["sites"][0]["power_mw"] = p
            alone = plan(req)
            assert row["objective"] == pytest.approx(alone.objective.value, rel=1e-6)
        top = rows[1]["power_shadow_price_max"]
        assert (top["site"], top["period"]) == ("s", "2026-01") and top["value"] == pytest.approx(2e5)

    def test_every_scenario_plan_is_an_ordinary_stored_plan(self, client: TestClient) -> None:
        r = client.post(
            "/v1/sweeps",
            json={"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [5, 14]}]},
        )
        body = wait(client, r.headers["location"])
        for row in body["rows"]:
            p = client.get(f"/v1/plans/{row['plan_id']}")
            assert p.status_code == 200
            assert p.json()["status"] == row["status"]
            assert p.json()["objective"]["value"] == row["objective"]
        infeasible = client.get(f"/v1/plans/{body['rows'][0]['plan_id']}").json()
        assert infeasible["diagnosis"], "an infeasible scenario's plan keeps its diagnosis"
        listed = {x["id"] for x in client.get("/v1/plans", params={"limit": 200}).json()["items"]}
        assert {row["plan_id"] for row in body["rows"]} <= listed

    def test_one_at_a_time_gives_a_tornado(self, client: TestClient) -> None:
        body = {
            "base": power_request(),
            "mode": "one_at_a_time",
            "parameters": [
                {"path": "sites/s/power_mw", "values": [12, 18]},
                {"path": "hardware/b/unit_price_usd", "scale": [0.5, 2]},
            ],
        }
        out = wait(client, client.post("/v1/sweeps", json=body).headers["location"])
        assert out["mode"] == "one_at_a_time" and out["total"] == 5
        bars = out["tornado"]
        assert [b["path"] for b in bars] == ["hardware/b/unit_price_usd", "sites/s/power_mw"]
        assert bars[0]["swing"] == pytest.approx(2.25e6) and bars[1]["swing"] == pytest.approx(1.2e6)

    def test_a_tornado_bar_names_its_infeasible_setting_and_ranks_first(self, client: TestClient) -> None:
        # power_request: cost = 3e6 − 2e5·(P − 10) for 10 <= P <= 20 MW, infeasible below 10
        body = {
            "base": power_request(),
            "mode": "one_at_a_time",
            "parameters": [
                {"path": "hardware/b/unit_price_usd", "scale": [0.5, 2]},
                {"path": "sites/s/power_mw", "values": [8, 20]},
            ],
        }
        out = wait(client, client.post("/v1/sweeps", json=body).headers["location"])
        power, price = out["tornado"]
        assert power["path"] == "sites/s/power_mw"  # first, although its finite swing is smaller
        assert (power["low_value"], power["high_value"]) == (20, 20)
        assert (power["low"], power["high"]) == pytest.approx((1e6, 1e6))
        assert power["swing"] == pytest.approx(1e6)
        infeasible = out["rows"][3]
        assert infeasible["status"] == "infeasible" and infeasible["values"]["sites/s/power_mw"] == 8
        assert power["no_value"] == [
            {
                "value": 8,
                "factor": None,
                "status": "infeasible",
                "plan_id": infeasible["plan_id"],
                "error": None,
            }
        ]
        assert price["no_value"] == [] and price["swing"] == pytest.approx(2.25e6)
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert schemas["TornadoBar"]["properties"]["no_value"]["items"] == {
            "$ref": "#/components/schemas/NoValueSetting"
        }
        # a response always has every member (null included): all are required in its schema
        assert set(schemas["NoValueSetting"]["required"]) == {"value", "factor", "status", "plan_id", "error"}

    def test_the_finish_log_line_carries_the_request_id_of_the_post(self, client: TestClient) -> None:
        with h.json_log_lines("capplan.scenarios") as lines:
            r = client.post(
                "/v1/sweeps",
                json={"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [13]}]},
                headers={"X-Request-ID": "sweep-log-1"},
            )
            job_id = r.json()["id"]
            wait(client, r.headers["location"])
            finished = h.wait_for_line(lines, "job_id", job_id)
        assert finished["msg"] == f"scenario job {job_id} finished: done, 1 rows"
        assert finished["request_id"] == "sweep-log-1"


class TestSweepErrors:
    def test_bad_paths_and_types_are_422_naming_each(self, client: TestClient) -> None:
        r = client.post(
            "/v1/sweeps",
            json={
                "base": power_request(),
                "parameters": [
                    {"path": "sites/nope/power_mw", "values": [1]},
                    {"path": "hardware/a/unit_price_usd", "values": ["cheap"]},
                    {"path": "budget/capex_usd", "scale": [2]},
                ],
            },
        )
        errs = problem(r)
        assert "no entry of sites has id 'nope'" in errs["/parameters/0/path"]
        assert "hardware/a/unit_price_usd: /hardware/0/unit_price_usd" in errs["/parameters/1/values/0"]
        assert "null or absent" in errs["/parameters/2/scale"]

    def test_checking_past_the_budget_is_a_422(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # the default budget, 10 s, on a clock that moves a second at each reading: the 10th
        # of the 20 values is checked 10 s after the start, the 11th is past the budget
        monkeypatch.setattr(sweep_module, "time", FakeClock())
        body = {
            "base": power_request(),
            "parameters": [{"path": "sites/s/power_mw", "values": list(range(11, 31))}],
        }
        store = client.app.state.capplan.store  # type: ignore[attr-defined]
        before = len(store.list_jobs("default", limit=1000))
        r = client.post("/v1/sweeps", json=body)
        assert r.status_code == 422, r.text
        assert len(store.list_jobs("default", limit=1000)) == before  # nothing stored or started
        assert r.json()["type"] == PROBLEM_BASE + "check-too-long"
        assert r.json()["budget_s"] == 10
        assert r.json()["detail"] == (
            "checking the sweep took over 10 s (10 of 20 checks of a scenario request made): fewer "
            "scenarios or a smaller base request check faster"
        )

    def test_a_base_too_large_is_refused_from_its_counts(
        self, client: TestClient, nothing_derived: None
    ) -> None:
        for route, extra in (
            ("/v1/sweeps", {"parameters": [{"path": "name", "values": ["a"]}]}),
            ("/v1/frontiers", {}),
        ):
            r = client.post(route, json={"base": big_request(), **extra})
            assert r.status_code == 422 and r.json()["type"] == PROBLEM_BASE + "model-too-large", r.text
            assert r.json()["variables"] == BIG_VARIABLES

    def test_the_scenario_cap_is_a_422(self, client: TestClient) -> None:
        mgr = client.app.state.capplan.scenarios  # type: ignore[attr-defined]
        old, mgr.max_scenarios = mgr.max_scenarios, 3
        try:
            r = client.post(
                "/v1/sweeps",
                json={
                    "base": power_request(),
                    "parameters": [{"path": "sites/s/power_mw", "values": [11, 12, 13, 14]}],
                },
            )
        finally:
            mgr.max_scenarios = old
        assert problem(r) == {"/parameters": "the grid sweep would run 4 scenarios, more than the cap of 3"}

    def test_many_overlapping_parameters_are_a_short_422(self, client: TestClient) -> None:
        # 3,000 copies of one parameter: 50 errors (the last says more were left out), not one per pair
        body = {"base": power_request(), "parameters": [{"path": "name", "values": ["x"]}] * 3000}
        r = client.post("/v1/sweeps", json=body)
        assert r.status_code == 422 and len(r.content) < 20_000
        errors = r.json()["errors"]
        assert len(errors) == 50
        assert errors[0] == {"path": "/parameters/1/path", "message": "name overlaps /parameters/0 (name)"}
        assert errors[-1] == {"path": "/parameters", "message": "… and more problems, not listed"}

    def test_json_types_are_strict(self, client: TestClient) -> None:
        params = [{"path": "sites/s/power_mw", "scale": ["2", True]}]
        errs = problem(client.post("/v1/sweeps", json={"base": power_request(), "parameters": params}))
        assert errs == {
            "/parameters/0/scale/0": "Input should be a valid number",
            "/parameters/0/scale/1": "Input should be a valid number",
        }
        for points in ("9", 9.0):
            errs = problem(client.post("/v1/frontiers", json={"base": frontier_request(), "points": points}))
            assert errs == {"/points": "Input should be a valid integer"}

    @pytest.mark.parametrize("depth", [200, 600, 900])
    def test_a_value_nested_deep_is_422_naming_its_parameter(self, client: TestClient, depth: int) -> None:
        # 600 to 950 levels (the JSON reader takes them) were a 500: RecursionError copying them
        base = json.dumps(power_request())
        for value in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            body = (
                '{"base":' + base + ',"parameters":[{"path":"sites/s/expansion","values":[' + value + "]}]}"
            )
            r = client.post("/v1/sweeps", content=body, headers={"content-type": "application/json"})
            assert problem(r) == {
                "/parameters/0/values/0": "sites/s/expansion: the value nests lists or objects more than 32 "
                "levels deep, which no request field does"
            }

    def test_structure_and_base_errors(self, client: TestClient) -> None:
        base = power_request()
        base["sites"][0]["pue"] = 0.5
        errs = problem(
            client.post("/v1/sweeps", json={"base": base, "parameters": [{"path": "name", "values": ["x"]}]})
        )
        assert list(errs) == ["/base/sites/0/pue"]
        errs = problem(
            client.post("/v1/sweeps", json={"base": power_request(), "parameters": [], "extra": 1})
        )
        assert "/parameters" in errs and "/extra" in errs

    def test_unknown_ids_are_404(self, client: TestClient) -> None:
        assert client.get("/v1/sweeps/nope").status_code == 404
        assert client.delete("/v1/sweeps/nope").status_code == 404
        fid = client.post("/v1/frontiers", json={"base": frontier_request(), "points": 3}).json()["id"]
        assert client.get(f"/v1/sweeps/{fid}").status_code == 404  # a frontier is not a sweep
        long = client.get("/v1/frontiers/" + "b" * 5000)
        assert long.status_code == 404 and long.json()["detail"] == "no frontier '" + "b" * 64 + "...'"


class TestFrontierRoutes:
    def test_curve_knee_and_endpoints_equal_separate_solves(self, client: TestClient) -> None:
        base = frontier_request()
        r = client.post("/v1/frontiers", json={"base": base, "points": 9})
        assert r.status_code == 202 and r.headers["location"] == f"/v1/frontiers/{r.json()['id']}"
        body = wait(client, r.headers["location"])
        assert body["status"] == "done" and body["done"] == 9
        rows = body["rows"]
        costs = [x["npv_cost_usd"] for x in rows]
        assert all(b >= a - 1e-6 for a, b in zip(costs, costs[1:], strict=False))
        for x in rows:
            f = x["served_fraction"]
            assert x["npv_cost_usd"] == pytest.approx(
                1e6 * f if f <= 0.5 else 5e5 + 4e6 * (f - 0.5), rel=1e-6
            )
        assert body["knee_index"] == 5 and rows[5]["knee"]
        low_req, high_req = copy.deepcopy(base), copy.deepcopy(base)
        high_req["objective"] = {"kind": "max_served"}
        low, high = plan(low_req), plan(high_req)
        assert rows[0]["npv_cost_usd"] == pytest.approx(low.summary.npv_cost_usd, abs=1e-6)
        assert rows[-1]["served_fraction"] == pytest.approx(high.summary.served_fraction, rel=1e-9)
        assert rows[-1]["npv_cost_usd"] == pytest.approx(high.summary.npv_cost_usd, rel=1e-6)
        assert body["low_served_fraction"] == rows[0]["served_fraction"]
        point = client.get(f"/v1/plans/{rows[3]['plan_id']}").json()
        assert "min_total_served" in point["binding"]
        # one period, no discounting: discounted million tokens = million tokens served
        assert rows[3]["discounted_million_tokens_served"] == pytest.approx(
            point["summary"]["served_million_tokens"], rel=1e-9
        )

    def test_a_stored_row_from_before_the_levelised_marginal_does_not_show_it(self) -> None:
        from service.api.routes.scenarios import _frontier_row

        old = {"index": 1, "plan_id": "p", "status": "optimal", "target_served_fraction": 0.5,
               "npv_cost_usd": 10.0, "marginal_cost_usd_per_million_tokens": 1.5}  # fmt: skip
        assert _frontier_row(old).marginal_cost_usd_per_million_tokens is None
        new = dict(old, discounted_million_tokens_served=4.0)
        assert _frontier_row(new).marginal_cost_usd_per_million_tokens == 1.5

    def test_bad_points_are_422(self, client: TestClient) -> None:
        errs = problem(client.post("/v1/frontiers", json={"base": frontier_request(), "points": 1}))
        assert list(errs) == ["/points"]

    def test_a_frontier_that_cannot_vary_is_done_with_a_note_not_an_error(self, client: TestClient) -> None:
        # Demand 500 tokens/s, all of it to be served: the least and the most served are both
        # 1.  The note used to come back as `error` on a `done` frontier.
        base = frontier_request()
        base["workloads"][0].update(demand_tokens_per_s=500, min_service_fraction=1)
        body = wait(
            client, client.post("/v1/frontiers", json={"base": base, "points": 5}).headers["location"]
        )
        assert (body["status"], body["error"], body["total"], body["done"]) == ("done", None, 2, 2)
        assert "cannot vary" in body["note"]
        assert [r["index"] for r in body["rows"]] == [0, 1]


def conforms(client: TestClient, body: dict[str, Any], schema: str) -> list[tuple[str, str]]:
    """Where ``body`` breaks ``#/components/schemas/{schema}`` of the app's OpenAPI document."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    doc = client.get("/openapi.json").json()
    registry = Registry().with_resource(
        "urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator({"$ref": f"urn:doc#/components/schemas/{schema}"}, registry=registry)
    return [("/".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(body)]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The module's SQLite app, or a fresh app on the local PostgreSQL server (skipped without)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("client")
        return
    reason = postgres_missing()
    if reason:
        pytest.skip(reason)
    with pg_schema() as schema, h.app_client(tmp_path, database_url=PG_URL, database_schema=schema) as c:
        yield c


class TestFrontierWithoutAnEnd:
    def test_the_ends_come_back_with_a_null_target_on_either_database(self, any_db: TestClient) -> None:
        # 5 MW where 10 are needed: both ends infeasible.  The least-served end's target
        # used to be NaN: PostgreSQL refused the row (the job kept the driver's whole text
        # as its error, no rows, no finished_at) and SQLite gave null where the schema said
        # number.
        base = power_request()
        base["sites"][0]["power_mw"] = 5
        r = any_db.post("/v1/frontiers", json={"base": base, "points": 3})
        body = wait(any_db, r.headers["location"])
        assert (body["status"], body["error"], body["note"]) == (
            "failed",
            "the least served (min_cost) end is infeasible",
            None,
        )
        assert (body["total"], body["done"], body["low_served_fraction"]) == (3, 2, None)
        assert [(x["index"], x["status"], x["target_served_fraction"]) for x in body["rows"]] == [
            (0, "infeasible", None),
            (2, "infeasible", None),
        ]
        assert body["finished_at"] is not None
        assert conforms(any_db, body, "FrontierJob") == []
        for x in body["rows"]:  # each end's plan is stored, with its diagnosis
            assert any_db.get(f"/v1/plans/{x['plan_id']}").json()["status"] == "infeasible"

    def test_the_schema_says_the_target_may_be_null(self, client: TestClient) -> None:
        row = client.get("/openapi.json").json()["components"]["schemas"]["FrontierRow"]
        assert "target_served_fraction" in row["required"]
        assert row["properties"]["target_served_fraction"]["anyOf"] == [{"type": "number"}, {"type": "null"}]


class TestJobFailures:
    """A job that raises ends failed and finished; the client reads its own errors (the
    request's) as they are and an internal one as a pointer into the log, which has it all."""

    SQL_ERROR = DataError(
        "INSERT INTO job_rows (job_id, idx, row) VALUES (%(job_id)s, %(idx)s, %(row)s::JSON)",
        {"job_id": "j", "idx": 0, "row": "{...}"},
        Exception('invalid input syntax for type json DETAIL: Token "NaN" is invalid.'),
    )

    def test_a_database_error_is_logged_whole_and_reported_short(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        state = client.app.state.capplan  # type: ignore[attr-defined]

        def refuse(job_id: str, row: Any) -> bool:
            raise self.SQL_ERROR

        monkeypatch.setattr(state.store, "append_job_row", refuse)
        with h.json_log_lines("capplan.scenarios") as lines:
            r = client.post(
                "/v1/sweeps",
                json={"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [13]}]},
                headers={"X-Request-ID": "sweep-db-error-1"},
            )
            body = wait(client, r.headers["location"])
            logged = h.wait_for_line(lines, "msg", f"scenario job {body['id']} failed")
        assert (body["status"], body["done"], body["rows"]) == ("failed", 0, [])
        assert body["error"] == "internal error (see the service log, request id sweep-db-error-1)"
        assert body["finished_at"] is not None
        assert (logged["request_id"], logged["job_id"], logged["level"]) == (
            "sweep-db-error-1",
            body["id"],
            "error",
        )
        assert "sqlalchemy.exc.DataError" in logged["exc"] and "INSERT INTO job_rows" in logged["exc"]

    def test_an_error_of_the_request_keeps_its_message(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def too_large(*_a: Any, **_k: Any) -> Any:
            raise ModelTooLarge(3_000_000, 2_000_000)

        monkeypatch.setattr(scenario_jobs_module, "run_frontier", too_large)
        r = client.post("/v1/frontiers", json={"base": frontier_request(), "points": 3})
        body = wait(client, r.headers["location"])
        assert (body["status"], body["error"]) == (
            "failed",
            f"ModelTooLarge: {ModelTooLarge(3_000_000, 2_000_000)}",
        )
        assert body["finished_at"] is not None

    def test_failure_text(self) -> None:
        assert failure_text(self.SQL_ERROR, "j1") == "internal error (see the service log, job j1)"
        assert failure_text(KeyError("index"), "j1") == "internal error (see the service log, job j1)"
        bad = RequestInvalid([FieldError("/points", "Input should be a valid integer")])
        assert failure_text(bad, "j1") == "RequestInvalid: /points: Input should be a valid integer"
        assert failure_text(bad, "j1", prefix=False) == "/points: Input should be a valid integer"

    def test_a_job_that_cannot_resume_ends_failed_saying_why(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cfg = settings(tmp_path)
        body = {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [12, 14]}]}
        store = Store(cfg.database_url)
        store.create_all()
        # j1: refused by this version, the request's own problem: named as it is
        refused = prepare_sweep(body).body()
        refused["parameters"][0]["path"] = "sites/s/power_kw"  # e.g. a field since renamed
        store.insert_job(
            job_id="j1", tenant="default", kind="sweep", request=refused, total=2, status="running"
        )
        # j2: preparing it again meets an internal error, whose text is not the client's
        store.insert_job(
            job_id="j2",
            tenant="default",
            kind="sweep",
            request=prepare_sweep(body).body(),
            total=2,
            status="running",
        )
        store.dispose()

        def prepare(data: Any, **kw: Any) -> Any:
            if data["parameters"][0]["path"] == "sites/s/power_kw":
                return prepare_sweep(data, **kw)
            raise OSError("could not open /srv/capplan/secret.conf")

        monkeypatch.setattr(scenario_jobs_module, "prepare_sweep", prepare)
        with h.json_log_lines("capplan.scenarios") as lines, TestClient(create_app(cfg)) as c:
            one, two = c.get("/v1/sweeps/j1").json(), c.get("/v1/sweeps/j2").json()
        assert (one["status"], one["error"]) == (
            "failed",
            "could not resume: /parameters/0/path: sites/s/power_kw: sites/s has no field 'power_kw' "
            "(fields: id, power_mw, pue, energy_usd_per_mwh, lease_usd_per_kw_month, allowed_hardware, "
            "expansion, existing)",
        )
        assert (two["status"], two["error"]) == (
            "failed",
            "could not resume: internal error (see the service log, job j2)",
        )
        assert one["finished_at"] is not None and two["finished_at"] is not None
        [logged] = [x for x in lines if x.get("job_id") == "j2"]
        assert logged["msg"] == "scenario job j2 could not resume"
        assert "OSError: could not open /srv/capplan/secret.conf" in logged["exc"]


class TestDiffRoute:
    def test_diff_of_two_scenario_plans(self, client: TestClient) -> None:
        body = wait(
            client,
            client.post(
                "/v1/sweeps",
                json={
                    "base": power_request(),
                    "parameters": [{"path": "sites/s/power_mw", "values": [15, 25]}],
                },
            ).headers["location"],
        )
        a, b = (x["plan_id"] for x in body["rows"])
        d = client.get(f"/v1/plans/{a}/diff/{b}")
        assert d.status_code == 200
        out = d.json()
        assert (out["a"], out["b"]) == (a, b)
        assert out["objective"]["delta"] == pytest.approx(-1e6)
        assert out["binding_removed"] == ["power s 2026-01"]
        assert out["units_acquired"]["a"] == pytest.approx({"a": 5, "b": 10, "delta": 5})

    def test_unknown_plan_is_404(self, client: TestClient) -> None:
        r = client.get("/v1/plans/nope/diff/nada")
        assert r.status_code == 404 and "nope" in r.json()["detail"]


# ----------------------------------------------------------------------------- cancel


class TestDeleteSweep:
    def test_delete_stops_the_running_scenarios_workers(self, client: TestClient) -> None:
        state = client.app.state.capplan  # type: ignore[attr-defined]
        mgr = state.scenarios
        mgr.worker = slow_worker
        try:
            r = client.post(
                "/v1/sweeps",
                json={
                    "base": power_request(),
                    "parameters": [{"path": "sites/s/power_mw", "values": [12, 13, 14]}],
                },
            )
            loc = r.headers["location"]
            deadline = time.monotonic() + 120
            while True:
                body = client.get(loc).json()
                if body["done"] == 1 and state.runner.running() == 2:
                    break
                assert time.monotonic() < deadline, "the slow scenarios never started"
                time.sleep(0.1)
            # the processes running the two slow scenarios (the runner's own bookkeeping)
            busy = [w.process.pid for w in state.runner._workers if w.job is not None]
            assert len(busy) == 2 and all(alive(p) for p in busy)
            assert client.delete(loc).status_code == 204
            deadline = time.monotonic() + 60
            while (any(alive(p) for p in busy) or state.runner.running()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [p for p in busy if alive(p)], "workers still running after DELETE"
            assert state.runner.running() == 0
            assert client.get(loc).status_code == 404
            quick = body["rows"][0]["plan_id"]
            assert client.get(f"/v1/plans/{quick}").status_code == 200  # finished plans stay
        finally:
            mgr.worker = solve_scenario
        # the runner replaced the killed workers: the service still solves
        after = wait(
            client,
            client.post(
                "/v1/sweeps",
                json={"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [16]}]},
            ).headers["location"],
        )
        assert after["rows"][0]["objective"] == pytest.approx(1.8e6)


# ----------------------------------------------------------------------------- persistence


class TestResume:
    def test_a_sweep_left_running_resumes_at_the_next_start(self, tmp_path: Path) -> None:
        cfg = settings(tmp_path)
        body = {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [12, 14, 16]}]}
        sweep = prepare_sweep(body)
        store = Store(cfg.database_url)
        store.create_all()
        # a previous process ran scenario 1 and stopped
        done_row = {
            "index": 1,
            "values": {"sites/s/power_mw": 14},
            "plan_id": "earlier",
            "status": "optimal",
            "objective": 2.2e6,
        }
        store.insert_job(
            job_id="j1", tenant="default", kind="sweep", request=sweep.body(), total=3, status="running"
        )
        store.update_job("j1", rows=[done_row], done=1)
        store.dispose()
        with TestClient(create_app(cfg)) as c:
            out = wait(c, "/v1/sweeps/j1")
        assert out["status"] == "done" and out["done"] == 3
        assert [r["index"] for r in out["rows"]] == [0, 1, 2]
        assert out["rows"][1]["plan_id"] == "earlier"  # not solved again
        assert [r["objective"] for r in out["rows"]] == pytest.approx([2.6e6, 2.2e6, 1.8e6])

    def test_a_sweep_stopped_by_shutdown_finishes_after_the_restart(self, tmp_path: Path) -> None:
        cfg = settings(tmp_path).model_copy(update={"shutdown_grace_s": 0.5})
        body = {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [12, 14, 16]}]}
        with TestClient(create_app(cfg)) as c:
            state = c.app.state.capplan  # type: ignore[attr-defined]
            state.scenarios.worker = slow_worker  # scenario 0 quick, 1 and 2 never finish
            loc = c.post("/v1/sweeps", json=body).headers["location"]
            deadline = time.monotonic() + 120
            while not (c.get(loc).json()["done"] == 1 and state.runner.running() == 2):
                assert time.monotonic() < deadline, "the slow scenarios never started"
                time.sleep(0.1)
        store = Store(cfg.database_url)
        job = store.get_job("default", loc.rsplit("/", 1)[1])
        store.dispose()
        assert job is not None and job.status == "running" and [r["index"] for r in job.rows] == [0]
        with TestClient(create_app(cfg)) as c:
            out = wait(c, loc)
        assert out["status"] == "done" and [r["index"] for r in out["rows"]] == [0, 1, 2]
        assert [r["objective"] for r in out["rows"]] == pytest.approx([2.6e6, 2.2e6, 1.8e6])
