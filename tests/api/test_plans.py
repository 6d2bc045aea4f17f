"""``/v1/plans``: solve (sync and async), reuse, idempotency, list, read, cancel/delete.

Plan figures are checked against the hand solution of ``small_request`` (demand/1000 units
at $1000 each, 10 kW a unit, no residual value): NPV cost = demand dollars.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.deps import AppState
from service.jobs.store import PlanRow
from solver import Plan
from tests.helpers import service as h
from tests.helpers.requests import BIG_VARIABLES, big_request
from tests.helpers.service import problem


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with h.app_client(tmp_path_factory.mktemp("plans")) as c:
        yield c


def _no_constants(token: str) -> None:
    raise AssertionError(f"{token} in a response")


class TestCreatePlan:
    def test_sync_solve_returns_hand_solved_plan(self, client: TestClient) -> None:
        r = client.post("/v1/plans", json=h.small_request(demand=7000))
        assert r.status_code == 201, r.text
        plan = r.json()
        assert r.headers["location"] == f"/v1/plans/{plan['id']}"
        assert plan["status"] == "optimal"
        assert plan["summary"]["units_acquired"] == {"h1": pytest.approx(7.0)}
        assert plan["objective"]["value"] == pytest.approx(7000.0)
        assert plan["summary"]["npv_cost_usd"] == pytest.approx(7 * h.UNIT_PRICE)
        assert client.get(r.headers["location"]).json() == plan
        assert Plan.model_validate(plan).summary.units_acquired == {"h1": pytest.approx(7.0)}

    def test_an_existing_fleet_from_the_catalog_serves_and_is_not_bought(self, client: TestClient) -> None:
        # 10 H100s that hardware[] does not offer serve 305,507 tokens/s of llama-70b at 5 tokens/s
        # per user; the plan (solved by a worker from the stored, parsed request) shows them like
        # any hardware, never acquired, at the catalog's maintenance: 10 x $270,000 x 10 %/yr over
        # two quarters, $135,000.  h1 is too slow for chat (1 token/s per user) and is not bought.
        req = h.small_request()
        req["sites"][0]["existing"] = [{"hardware": "nvidia-h100-8x", "units": 10}]
        req["workloads"] = [
            {
                "id": "chat",
                "model": "llama-70b",
                "min_tokens_per_s_per_user": 5,
                "demand_tokens_per_s": 305507,
            }
        ]
        req["hardware"][0]["performance"]["llama-70b"] = req["hardware"][0]["performance"].pop("m")
        req["hardware"][0]["performance"]["llama-70b"]["points"][0]["tokens_per_s_per_user"] = 1
        r = client.post("/v1/plans", json=req)
        assert r.status_code == 201, r.text
        plan = r.json()
        assert plan["status"] == "optimal"
        rows = [f for per in plan["periods"] for f in per["fleet"]]
        assert [(f["hardware"], f["acquired"], f["existing"], f["installed"]) for f in rows] == [
            ("nvidia-h100-8x", 0, 10, 10)
        ] * 2
        assert plan["summary"]["npv_cost_usd"] == pytest.approx(2 * 10 * 270_000 * 0.1 * 0.25)
        assert any("existing-only, with the default catalog's figures" in w for w in plan["warnings"])

    def test_infeasible_request_is_a_plan_with_diagnosis(self, client: TestClient) -> None:
        # 5 units of 10 kW need 0.05 MW; the site has 0.01 MW: 0.04 MW short in both quarters,
        # or (the other way out) the one unit it can power serves 4,000 tokens/s too few.
        r = client.post("/v1/plans", json=h.small_request(demand=5000, power_mw=0.01))
        assert r.status_code == 201, r.text
        plan = r.json()
        assert plan["status"] == "infeasible"
        found = {(d["limit"], d["period"]): d["amount"] for d in plan["diagnosis"]}
        assert found[("power", "2026-01")] == pytest.approx(0.04)
        assert found[("power", "2026-04")] == pytest.approx(0.04)
        assert {k[0] for k in found} <= {"power", "min_service"}
        for period in ("2026-01", "2026-04"):
            assert found.get(("min_service", period), 4000.0) == pytest.approx(4000.0)

    def test_async_answers_202_then_the_plan_finishes(self, client: TestClient) -> None:
        r = client.post("/v1/plans", json=h.small_request(demand=3000), headers={"Prefer": "respond-async"})
        assert r.status_code == 202, r.text
        assert r.headers["preference-applied"] == "respond-async"
        assert r.json()["status"] == "queued"
        done = h.wait_finished(client, r.headers["location"])
        assert done["status"] == "optimal"
        assert done["objective"]["value"] == pytest.approx(3000.0)

    def test_identical_request_returns_the_stored_plan(self, client: TestClient) -> None:
        req = h.small_request(demand=4000)
        first = client.post("/v1/plans", json=req)
        assert first.status_code == 201
        # key order and explicit defaults do not change the request: same hash
        same = dict(reversed(list(req.items())))
        same["objective"] = {"kind": "min_cost"}
        again = client.post("/v1/plans", json=same)
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        fresh = client.post("/v1/plans", json=req, headers={"Cache-Control": "no-cache"})
        assert fresh.status_code == 201
        assert fresh.json()["id"] != first.json()["id"]
        assert fresh.json()["objective"]["value"] == pytest.approx(4000.0)

    def test_idempotency_key_makes_retries_safe(self, client: TestClient) -> None:
        key = {"Idempotency-Key": "retry-me-1"}
        first = client.post("/v1/plans", json=h.small_request(demand=6000), headers=key)
        assert first.status_code == 201
        retry = client.post("/v1/plans", json=h.small_request(demand=6000), headers=key)
        assert retry.status_code == 200
        assert retry.json()["id"] == first.json()["id"]
        body = problem(
            client.post("/v1/plans", json=h.small_request(demand=6001), headers=key), 409, "conflict"
        )
        assert body["plan_id"] == first.json()["id"]

    def test_invalid_request_names_every_field(self, client: TestClient) -> None:
        req = h.small_request()
        del req["horizon"]
        req["sites"][0]["power_mw"] = -1
        req["sites"][0]["colour"] = "blue"
        body = problem(client.post("/v1/plans", json=req), 422, "invalid-request")
        paths = {e["path"] for e in body["errors"]}  # type: ignore[attr-defined]
        assert paths == {"/horizon", "/sites/0/power_mw", "/sites/0/colour"}

    def test_cross_field_rules_are_checked(self, client: TestClient) -> None:
        req = h.small_request()
        req["workloads"][0]["model"] = "unknown-model"
        body = problem(client.post("/v1/plans", json=req), 422, "invalid-request")
        assert [e["path"] for e in body["errors"]] == ["/workloads/0/model"]  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("value", "why"),
        [("-0.1", "greater than or equal to 0"), ("1.5", "less than or equal to 1"), ("NaN", "finite")],
    )
    def test_deposit_fraction_out_of_range_is_422_naming_the_field(
        self, client: TestClient, value: str, why: str
    ) -> None:
        req = h.small_request()
        req["hardware"][0]["deposit_fraction"] = 0.5
        text = json.dumps(req).replace('"deposit_fraction": 0.5', f'"deposit_fraction": {value}')
        r = client.post("/v1/plans", content=text, headers={"content-type": "application/json"})
        body = problem(r, 422, "invalid-request")
        assert [e["path"] for e in body["errors"]] == ["/hardware/0/deposit_fraction"]  # type: ignore[attr-defined]
        assert why in body["errors"][0]["message"]  # type: ignore[index]
        ok = h.small_request()
        ok["hardware"][0]["deposit_fraction"] = 0.5
        assert client.post("/v1/plans", json=ok).status_code in (200, 201)  # 200: stored already

    @pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
    def test_non_finite_numbers_are_422_naming_the_field(self, client: TestClient, token: str) -> None:
        text = json.dumps(h.small_request()).replace('"power_mw": 10.0', f'"power_mw": {token}')
        assert token in text
        r = client.post("/v1/plans", content=text, headers={"content-type": "application/json"})
        body = problem(r, 422, "invalid-request")
        assert [e["path"] for e in body["errors"]] == ["/sites/0/power_mw"]  # type: ignore[attr-defined]
        json.loads(r.text, parse_constant=_no_constants)  # the value is never echoed back

    @pytest.mark.parametrize(
        ("route", "field", "path"),
        [
            (
                "/v1/plans",
                '"policy": {"max_vendor_share": {"\\ud800": 0.5}}',
                "/policy/max_vendor_share/\\ud800",
            ),
            (
                "/v1/validate",
                '"policy": {"max_vendor_share": {"\\uDC00x": 0.5}}',
                "/policy/max_vendor_share/\\udc00x",
            ),
            ("/v1/plans", '"name": "half \\ud83d of a pair"', "/name"),
            ("/v1/plans", '"name": "nul \\u0000 inside"', "/name"),
        ],
    )
    def test_text_no_store_can_keep_is_422_naming_the_field(
        self, client: TestClient, route: str, field: str, path: str
    ) -> None:
        text = json.dumps(h.small_request()).replace("{", "{" + field + ", ", 1)
        text = text.replace(', "name": "tiny"', "") if field.startswith('"name"') else text
        r = client.post(route, content=text, headers={"content-type": "application/json"})
        body = problem(r, 422, "invalid-request")
        assert [e["path"] for e in body["errors"]] == [path]  # type: ignore[attr-defined]
        assert "surrogate pair" in body["errors"][0]["message"]  # type: ignore[index]

    def test_a_whole_surrogate_pair_is_text(self, client: TestClient) -> None:
        text = json.dumps(h.small_request(demand=4321)).replace(
            '"name": "tiny"', '"name": "chat \\ud83d\\ude00"'
        )
        r = client.post("/v1/plans", content=text, headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "chat \U0001f600"

    @pytest.mark.parametrize(
        ("content", "message"),
        [(b"", "empty"), (b"{", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"\xff\xfe", "UTF-8")],
    )
    def test_malformed_body(self, client: TestClient, content: bytes, message: str) -> None:
        r = client.post("/v1/plans", content=content, headers={"content-type": "application/json"})
        body = problem(r, 422, "invalid-request")
        assert body["errors"][0]["path"] == "/"  # type: ignore[index]
        assert message in body["errors"][0]["message"]  # type: ignore[index]

    def test_deeply_nested_body(self, client: TestClient) -> None:
        r = client.post("/v1/plans", content=b"[" * 100_000, headers={"content-type": "application/json"})
        problem(r, 422, "invalid-request")

    def test_non_json_content_type_is_415(self, client: TestClient) -> None:
        r = client.post("/v1/plans", content=b"name=x", headers={"content-type": "text/plain"})
        problem(r, 415, "unsupported-media-type")

    @pytest.mark.parametrize("key", ["x" * 256, "", "caf\u00e9"])
    def test_bad_idempotency_key_is_422(self, client: TestClient, key: str) -> None:
        r = client.post(
            "/v1/plans", json=h.small_request(), headers={"Idempotency-Key": key.encode("latin-1")}
        )
        body = problem(r, 422, "invalid-request")
        assert body["errors"][0]["path"] == "header:Idempotency-Key"  # type: ignore[index]

    def test_idempotency_key_rule_is_in_the_openapi_document(self, client: TestClient) -> None:
        op = client.get("/openapi.json").json()["paths"]["/v1/plans"]["post"]
        (param,) = [p for p in op["parameters"] if p["name"].lower() == "idempotency-key"]
        schema = param["schema"]["anyOf"][0]
        assert (schema["minLength"], schema["maxLength"], schema["pattern"]) == (1, 255, r"^[\x20-\x7e]+$")

    def test_a_json_string_holding_a_request_is_not_a_request(self, client: TestClient) -> None:
        body = json.dumps(json.dumps(h.small_request())).encode()
        r = client.post("/v1/plans", content=body, headers={"content-type": "application/json"})
        assert problem(r, 422, "invalid-request")["errors"] == [
            {"path": "/", "message": "the request body must be a JSON object, not a string"}
        ]

    def test_a_byte_order_mark_is_read_as_the_cli_reads_it(self, client: TestClient) -> None:
        # one reader for bodies and files (service.strict_json): the API refused what the CLI took
        body = b"\xef\xbb\xbf" + json.dumps(h.small_request()).encode()
        r = client.post("/v1/plans", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        assert r.json()["objective"]["value"] == pytest.approx(5000.0)  # demand/1000 units × $1000

    @pytest.mark.parametrize(
        "headers",
        [
            {"content-type": "application/json; charset=utf-16"},
            {"content-type": "application/json", "content-encoding": "gzip"},
        ],
    )
    def test_other_charsets_and_compressed_bodies_are_415(self, client: TestClient, headers: dict) -> None:
        r = client.post("/v1/plans", content=json.dumps(h.small_request()).encode(), headers=headers)
        problem(r, 415, "unsupported-media-type")


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # small_request builds 6 variables: 2 purchases, 2 allocations, 2 served.
    with h.app_client(tmp_path_factory.mktemp("limits"), max_variables=5, max_body_bytes=4096) as c:
        yield c


class TestLimits:
    def test_model_too_large_is_422_before_solving(self, limited: TestClient) -> None:
        body = problem(limited.post("/v1/plans", json=h.small_request()), 422, "model-too-large")
        assert (body["variables"], body["limit"]) == (6, 5)
        assert limited.get("/v1/plans").json()["items"] == []  # nothing stored, nothing solved

    def test_the_50m_variable_body_is_refused_before_anything_is_derived(
        self, client: TestClient, nothing_derived: None
    ) -> None:
        # The 75 KB body (tests/solver/test_size.py): 50,639,100 columns against the
        # default limit of 2,000,000.  Its refusal ran prepare() for seconds of the API process.
        for route in ("/v1/plans", "/v1/validate"):
            body = problem(client.post(route, json=big_request()), 422, "model-too-large")
            assert (body["variables"], body["limit"]) == (BIG_VARIABLES, 2_000_000)
            assert body["detail"] == (
                f"the model would have {BIG_VARIABLES} variables; this service accepts at most 2000000 "
                "(fewer periods, sites, hardware or workloads make it smaller)"
            )
            assert "table" not in body

    def test_a_derived_table_over_the_limit_is_422_too(self, limited: TestClient) -> None:
        # 2 hardware × 3 workloads = 6 throughputs, beyond 5; the site allows one hardware,
        # whose single period of purchases serves nothing: 1 + 0 + 3 = 4 columns.
        req = h.small_request(horizon={"periods": 1})
        req["hardware"].append({**req["hardware"][0], "id": "h2"})
        req["sites"][0]["allowed_hardware"] = ["h2"]
        req["workloads"] = [
            {**req["workloads"][0], "id": f"w{i}", "min_tokens_per_s_per_user": 50} for i in range(3)
        ]
        body = problem(limited.post("/v1/plans", json=req), 422, "model-too-large")
        assert (body["variables"], body["limit"], body["size"]) == (4, 5, 6)
        assert body["table"] == "throughputs (2 hardware × 3 workloads)"
        assert body["detail"] == (
            "the request would derive 6 throughputs (2 hardware × 3 workloads); this service accepts at "
            "most 5 (fewer periods, sites, hardware or workloads make it smaller)"
        )

    def test_body_over_limit_by_content_length_is_413(self, limited: TestClient) -> None:
        r = limited.post("/v1/plans", content=b" " * 5000, headers={"content-type": "application/json"})
        problem(r, 413, "payload-too-large")

    def test_streamed_body_over_limit_is_413(self, limited: TestClient) -> None:
        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        r = limited.post("/v1/plans", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers
        problem(r, 413, "payload-too-large")


class TestTimeLimits:
    def test_requested_time_limit_is_capped(self, tmp_path: Path) -> None:
        with h.app_client(tmp_path, max_time_limit_s=7) as c:
            req = h.small_request(solver={"time_limit_s": 100})
            r = c.post("/v1/plans", json=req)
            assert r.status_code == 201
            assert any("capped at 7 s" in w for w in r.json()["warnings"])
            v = c.post("/v1/validate", json=req)
            assert v.json()["time_limit_s"] == 7

    def test_watchdog_records_time_limit_with_reason(self, tmp_path: Path) -> None:
        # No grace: the watchdog stops the solve at its 1 s limit, before HiGHS reports.
        with h.app_client(tmp_path, solve_grace_s=0, workers=1) as c:
            r = c.post("/v1/plans", json=h.slow_request(time_limit_s=1))
            assert r.status_code == 201, r.text
            plan = r.json()
            assert plan["status"] == "time_limit"
            assert "watchdog" in plan["solver"]["detail"]
            assert plan["warnings"] == [plan["solver"]["detail"]]
            item = c.get("/v1/plans").json()["items"][0]
            assert (item["id"], item["status"]) == (plan["id"], "time_limit")
            assert "watchdog" in item["error"]
            # a time-limited plan is not reused: the same request is solved again
            again = c.post("/v1/plans", json=h.slow_request(time_limit_s=1))
            assert again.json()["id"] != plan["id"]

    def test_a_database_that_stops_answering_stalls_records_not_the_watchdog(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with h.app_client(tmp_path, solve_grace_s=0, workers=1) as c:
            state = c.app.state.capplan  # type: ignore[attr-defined]
            answer = threading.Event()
            for name in ("mark_running", "finish_plan"):
                write = getattr(state.store, name)

                def hung(*a: Any, _write: Any = write, **kw: Any) -> Any:
                    answer.wait(60)  # as a database that accepts the statement and never answers
                    return _write(*a, **kw)

                monkeypatch.setattr(state.store, name, hung)
            slow = c.post(
                "/v1/plans", json=h.slow_request(time_limit_s=1), headers={"Prefer": "respond-async"}
            )
            assert slow.status_code == 202
            deadline = time.monotonic() + 60
            while state.runner.running() == 0 and time.monotonic() < deadline:  # picked up
                time.sleep(0.02)
            while state.runner.running() > 0 and time.monotonic() < deadline:  # stopped at 1 s
                time.sleep(0.05)
            assert state.runner.running() == 0, "the watchdog did not stop the overrunning solve"
            quick = c.post(
                "/v1/plans", json=h.small_request(demand=6600), headers={"Prefer": "respond-async"}
            )
            assert quick.status_code == 202
            deadline = time.monotonic() + 60  # a new worker starts, then solves (a loaded machine)
            while state.runner.queue_depth() + state.runner.running() > 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert state.runner.queue_depth() + state.runner.running() == 0  # dispatched and solved
            assert c.get(slow.headers["location"]).json()["status"] == "queued"  # nothing written yet
            answer.set()
            assert state.plans.flush_records(30)
            assert c.get(slow.headers["location"]).json()["status"] == "time_limit"
            done = c.get(quick.headers["location"]).json()
            assert (done["status"], done["objective"]["value"]) == ("optimal", pytest.approx(6600.0))


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, list[str]]]:
    with h.app_client(tmp_path_factory.mktemp("list")) as c:
        ids = []
        for demand, power in ((1000, 10), (2000, 0.001), (3000, 10)):
            r = c.post("/v1/plans", json=h.small_request(demand=demand, power_mw=power))
            assert r.status_code == 201
            ids.append(r.json()["id"])
        yield c, ids


class TestListPlans:
    def test_newest_first_in_pages(self, listed: tuple[TestClient, list[str]]) -> None:
        c, ids = listed
        page = c.get("/v1/plans", params={"limit": 2}).json()
        assert [i["id"] for i in page["items"]] == [ids[2], ids[1]]
        assert page["next"] is not None
        rest = c.get(page["next"]).json()
        assert [i["id"] for i in rest["items"]] == [ids[0]]
        assert rest["next"] is None

    def test_the_next_cursor_is_given_beside_the_next_link(
        self, listed: tuple[TestClient, list[str]]
    ) -> None:
        c, ids = listed
        params = [("status", "infeasible"), ("status", "optimal"), ("limit", "1")]
        page = c.get("/v1/plans", params=params).json()
        assert page["next"] == "/v1/plans?" + urlencode(
            [("limit", "1"), ("cursor", page["next_cursor"])] + params[:2]
        )
        seen = [i["id"] for i in page["items"]]
        for _ in ids:  # at most one page a plan
            if page["next_cursor"] is None:
                break
            page = c.get("/v1/plans", params=[*params, ("cursor", page["next_cursor"])]).json()
            seen += [i["id"] for i in page["items"]]
        assert seen == [ids[2], ids[1], ids[0]]
        assert page["next"] is None  # the last page

    def test_items_summarise_the_plans(self, listed: tuple[TestClient, list[str]]) -> None:
        c, ids = listed
        items = {i["id"]: i for i in c.get("/v1/plans").json()["items"]}
        assert items[ids[0]]["objective_value"] == pytest.approx(1000.0)
        assert items[ids[1]]["status"] == "infeasible"
        assert items[ids[1]]["objective_value"] is None
        assert items[ids[2]]["href"] == f"/v1/plans/{ids[2]}"
        assert all(i["finished_at"] >= i["created_at"] for i in items.values())

    def test_filter_by_status(self, listed: tuple[TestClient, list[str]]) -> None:
        c, ids = listed
        infeasible = c.get("/v1/plans", params={"status": "infeasible"}).json()["items"]
        assert [i["id"] for i in infeasible] == [ids[1]]
        both = c.get(
            "/v1/plans", params=[("status", "infeasible"), ("status", "optimal"), ("limit", 1)]
        ).json()
        assert [i["id"] for i in both["items"]] == [ids[2]]
        assert "status=infeasible" in both["next"] and "status=optimal" in both["next"]
        assert [i["id"] for i in c.get(both["next"]).json()["items"]] == [ids[1]]

    def test_bad_parameters_are_422(self, listed: tuple[TestClient, list[str]]) -> None:
        c, _ = listed
        body = problem(c.get("/v1/plans", params={"limit": 0}), 422, "invalid-request")
        assert body["errors"][0]["path"] == "query:limit"  # type: ignore[index]
        body = problem(c.get("/v1/plans", params={"cursor": "garbage"}), 422, "invalid-request")
        assert body["errors"][0]["path"] == "query:cursor"  # type: ignore[index]
        problem(c.get("/v1/plans", params={"status": "nonsense"}), 422, "invalid-request")

    @pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    def test_a_cursor_beyond_the_calendar_is_422(
        self, listed: tuple[TestClient, list[str]], stamp: str
    ) -> None:
        # well-formed, but UTC would be year 0 or 10000: the database driver overflowed (a 500)
        c, _ = listed
        token = base64.urlsafe_b64encode(f"{stamp}|x".encode()).decode().rstrip("=")
        body = problem(c.get("/v1/plans", params={"cursor": token}), 422, "invalid-request")
        assert body["errors"][0]["path"] == "query:cursor"  # type: ignore[index]

    def test_a_cursor_naming_an_id_no_store_can_keep_is_422(
        self, listed: tuple[TestClient, list[str]]
    ) -> None:
        # PostgreSQL refused the NUL in the statement (a 500); SQLite answered an empty page
        c, _ = listed
        token = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|\x00").decode()
        body = problem(c.get("/v1/plans", params={"cursor": token}), 422, "invalid-request")
        assert body["errors"][0]["path"] == "query:cursor"  # type: ignore[index]


class TestGetPlan:
    def test_unknown_plan_is_404(self, client: TestClient) -> None:
        body = problem(client.get("/v1/plans/does-not-exist"), 404, "not-found")
        assert body["detail"] == "no plan 'does-not-exist'"

    @pytest.mark.parametrize("method", ["get", "delete"])
    def test_a_long_id_is_quoted_cut_to_64_characters(self, client: TestClient, method: str) -> None:
        body = problem(getattr(client, method)("/v1/plans/" + "a" * 10_000), 404, "not-found")
        assert body["detail"] == "no plan '" + "a" * 64 + "...'"


class TestDeletePlan:
    def test_delete_finished_plan(self, client: TestClient) -> None:
        r = client.post("/v1/plans", json=h.small_request(demand=8000))
        loc = r.headers["location"]
        assert client.delete(loc).status_code == 204
        problem(client.get(loc), 404, "not-found")
        problem(client.delete(loc), 404, "not-found")

    def test_delete_cancels_a_running_solve(self, tmp_path: Path) -> None:
        with h.app_client(tmp_path, workers=1) as c:
            r = c.post("/v1/plans", json=h.slow_request(time_limit_s=60), headers={"Prefer": "respond-async"})
            loc = r.headers["location"]
            h.wait_status(c, loc, "running")
            assert c.delete(loc).status_code == 204
            problem(c.get(loc), 404, "not-found")
            # the only worker is free again: a small solve goes through at once
            assert c.post("/v1/plans", json=h.small_request(demand=1000)).json()["status"] == "optimal"

    def test_delete_cancels_a_queued_solve(self, tmp_path: Path) -> None:
        with h.app_client(tmp_path, workers=1) as c:
            async_ = {"Prefer": "respond-async"}
            first = c.post("/v1/plans", json=h.slow_request(time_limit_s=60, tag=1), headers=async_)
            h.wait_status(c, first.headers["location"], "running")
            second = c.post("/v1/plans", json=h.slow_request(time_limit_s=60, tag=2), headers=async_)
            assert c.get(second.headers["location"]).json()["status"] == "queued"
            assert c.delete(second.headers["location"]).status_code == 204
            assert c.delete(first.headers["location"]).status_code == 204
            assert c.get("/v1/plans").json()["items"] == []


class _EagerRunner(h.ManualRunner):
    """Starts and finishes every job on its own thread at once, whatever the store is doing."""

    def submit(self, job_id: str, fn: Any, payload: Any, **kw: Any) -> Any:
        fut = super().submit(job_id, fn, payload, **kw)
        threading.Thread(target=self.finish, args=(job_id, None), kwargs={"run": True}).start()
        return fut


@contextmanager
def _manual_app(tmp_path: Path) -> Iterator[tuple[h.ManualRunner, TestClient, AppState]]:
    runner = h.ManualRunner()
    app = create_app(h.make_settings(tmp_path), runner=runner)
    with TestClient(app) as c:
        h.settled(runner, app)
        yield runner, c, app.state.capplan


class _StartsAtOnceRunner(h.ManualRunner):
    """A worker picks every job up inside ``submit`` (before the plan's row can exist)."""

    def submit(self, job_id: str, fn: Any, payload: Any, **kw: Any) -> Any:
        fut = super().submit(job_id, fn, payload, **kw)
        if kw.get("on_start") is not None:
            kw["on_start"]()
        return fut


class _StoppingRunner(h.ManualRunner):
    """Answers every submission at once with 'interrupted', as a runner that is shutting down."""

    def submit(self, job_id: str, fn: Any, payload: Any, **kw: Any) -> Any:
        from service.jobs.runner import JobResult

        fut = super().submit(job_id, fn, payload, **kw)
        self.futures.pop(job_id).set_result(JobResult("interrupted", error="stopping"))
        return fut


class TestRowWrittenDuringSolve:
    """The solve starts before the plan's row is written: a start is written, and a result
    recorded, once the row exists."""

    def test_a_start_before_the_row_exists_is_written_after_it(self, tmp_path: Path) -> None:
        runner = _StartsAtOnceRunner()
        app = create_app(h.make_settings(tmp_path), runner=runner)
        with TestClient(app) as c:
            h.settled(runner, app)
            r = c.post("/v1/plans", json=h.small_request(demand=6300), headers={"Prefer": "respond-async"})
            assert r.status_code == 202
            assert app.state.capplan.plans.flush_records(10)
            row = app.state.capplan.store.get_plan("default", r.json()["id"])
            assert row is not None and (row.status, row.attempts) == ("running", 1)
            runner.finish(r.json()["id"], None, run=True)
            assert c.get(r.headers["location"]).json()["status"] == "optimal"

    def test_a_runner_that_is_stopping_leaves_the_plan_queued_at_once(self, tmp_path: Path) -> None:
        app = create_app(h.make_settings(tmp_path), runner=_StoppingRunner())
        with TestClient(app) as c:
            t0 = time.monotonic()
            r = c.post("/v1/plans", json=h.small_request(demand=6400))
            assert time.monotonic() - t0 < 10  # the result is recorded without waiting on itself
            assert r.status_code == 503 and r.headers["retry-after"] == "10"
            row = app.state.capplan.store.get_plan("default", r.json()["plan_id"])
            assert row is not None and (row.status, row.attempts) == ("queued", 0)

    def test_a_solve_that_ends_before_its_row_is_written_is_recorded(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app = create_app(h.make_settings(tmp_path), runner=_EagerRunner())
        with TestClient(app) as c:
            store = app.state.capplan.store
            insert = store.insert_plan

            def slow_insert(row: PlanRow) -> None:
                time.sleep(0.3)  # the solve has long finished by now
                insert(row)

            monkeypatch.setattr(store, "insert_plan", slow_insert)
            r = c.post("/v1/plans", json=h.small_request(demand=6000))
            assert r.status_code == 201 and r.json()["status"] == "optimal"
            row = store.get_plan("default", r.json()["id"])
            assert row is not None
            assert (row.status, row.attempts, row.objective_value) == ("optimal", 1, pytest.approx(6000.0))
            assert row.started_at is not None and row.inflight_hash == row.request_hash  # reusable
            assert app.state.capplan.plans.local_ids() == set()

    def test_a_row_that_cannot_be_written_stops_its_solve(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with _manual_app(tmp_path) as (runner, c, state):

            def broken(row: PlanRow) -> None:
                raise OSError("disk full")

            monkeypatch.setattr(state.store, "insert_plan", broken)
            prep = state.plans.prepare(h.small_request(demand=6100))
            with pytest.raises(OSError, match="disk full"):
                state.plans.create("default", prep, idempotency_key=None, use_cache=True)
            (job_id,) = runner.jobs
            assert job_id not in runner.futures  # cancelled
            assert state.plans.flush_records(10)
            assert state.plans.local_ids() == set()
            assert c.get("/v1/plans").json()["items"] == []

    def test_an_identical_request_that_wins_the_race_is_reused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with _manual_app(tmp_path) as (runner, c, state):
            first = c.post(
                "/v1/plans", json=h.small_request(demand=6200), headers={"Prefer": "respond-async"}
            )
            assert first.status_code == 202
            find_cached = state.store.find_cached
            calls = []

            def miss_once(*a: Any, **kw: Any) -> Any:  # the other request was stored just after our look
                calls.append(a)
                return None if len(calls) == 1 else find_cached(*a, **kw)

            monkeypatch.setattr(state.store, "find_cached", miss_once)
            made = state.plans.create(
                "default",
                state.plans.prepare(h.small_request(demand=6200)),
                idempotency_key=None,
                use_cache=True,
            )
            assert not made.created and made.row.id == first.json()["id"]
            (lost,) = set(runner.jobs) - {first.json()["id"]}
            assert lost not in runner.futures  # our solve was stopped
            assert state.plans.flush_records(10)
            assert state.plans.local_ids() == {first.json()["id"]}
            runner.finish(first.json()["id"], None, run=True)
            assert made.waiter is not None and made.waiter.result(10).kind == "finished"
            assert [p["id"] for p in c.get("/v1/plans").json()["items"]] == [first.json()["id"]]


class TestRecorder:
    """The plan service's recorder thread: first come, first run; closing runs what is queued."""

    def test_in_order_on_one_thread_then_inline_after_close(self) -> None:
        from service.api.plan_service import Recorder

        rec = Recorder()
        gate = threading.Event()
        ran: list[tuple[int, str]] = []
        rec.submit(gate.wait, 10)  # hold the thread while more queue up
        for i in range(50):
            rec.submit(lambda i=i: ran.append((i, threading.current_thread().name)))
        assert ran == []
        gate.set()
        assert rec.close(10)
        assert [i for i, _ in ran] == list(range(50))
        assert {name for _, name in ran} == {"capplan-record"}
        rec.submit(lambda: ran.append((50, threading.current_thread().name)))  # closed: inline
        assert ran[-1] == (50, threading.current_thread().name)

    def test_a_failing_record_does_not_stop_the_others(self) -> None:
        from service.api.plan_service import Recorder

        rec = Recorder()
        ran: list[int] = []

        def fail() -> None:
            raise RuntimeError("database gone")

        rec.submit(fail)
        rec.submit(ran.append, 1)
        assert rec.flush(10) and ran == [1]
        assert rec.close(10)
