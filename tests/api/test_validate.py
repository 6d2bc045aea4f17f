"""``POST /v1/validate``: derived throughput, eligibility and model size, no solve."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.errors import PROBLEM_BASE
from tests.helpers import service as h


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with h.app_client(tmp_path_factory.mktemp("validate"), max_variables=1000) as c:
        yield c


def two_point_request() -> dict[str, object]:
    req = h.small_request()
    req["sites"].append({"id": "s2", "power_mw": 5, "allowed_hardware": []})  # type: ignore[attr-defined]
    req["hardware"][0]["performance"]["m"]["points"] = [  # type: ignore[index]
        {"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": 1000},
        {"tokens_per_s_per_user": 50, "tokens_per_s_per_unit": 200},
    ]
    req["workloads"][0]["min_tokens_per_s_per_user"] = 20  # type: ignore[index]
    return req


class TestValidate:
    def test_reports_interpolated_throughput_and_eligibility(self, client: TestClient) -> None:
        r = client.post("/v1/validate", json=two_point_request())
        assert r.status_code == 200, r.text
        body = r.json()
        # 20 tok/s/user lies a quarter of the way from 10 to 50: 1000 - 0.25 * 800 = 800.
        [pair] = body["throughput"]
        assert pair["tokens_per_s_per_unit"] == pytest.approx(800.0)
        assert pair["eligible_sites"] == ["s1"]
        assert body["periods"] == ["2026-01", "2026-04"]
        # 2 purchases + 2 allocations (s1 only) + 2 served
        assert body["model_size"]["variables"] == 6
        assert body["model_size"]["constraints"] > 0
        assert body["max_variables"] == 1000
        assert client.get("/v1/plans").json()["items"] == []  # nothing solved or stored

    def test_reports_the_upper_envelope_of_a_rising_curve(self, client: TestClient) -> None:
        # Points (10, 1000) and (50, 5000): a unit run at 50 tok/s/user serves a workload
        # that needs 20 at 5000 per unit (the curve itself gives 1000 + 0.25 * 4000 = 2000),
        # and the response says so.
        req = two_point_request()
        req["hardware"][0]["performance"]["m"]["points"][1]["tokens_per_s_per_unit"] = 5000  # type: ignore[index]
        body = client.post("/v1/validate", json=req).json()
        [pair] = body["throughput"]
        assert pair["tokens_per_s_per_unit"] == pytest.approx(5000.0)
        [warning] = body["warnings"]
        assert "rises with speed" in warning and "5,000 tokens/s per unit" in warning
        assert "curve's 2,000 at 20" in warning

    def test_large_models_are_described_by_a_worker(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        in_api = client.post("/v1/validate", json=two_point_request()).json()
        monkeypatch.setattr("service.api.routes.validate.IN_PROCESS_BUILD_MAX_VARIABLES", 0)
        in_worker = client.post("/v1/validate", json=two_point_request())
        assert in_worker.status_code == 200
        assert in_worker.json() == in_api

    def test_an_existing_fleet_from_the_catalog_is_described_like_any_hardware(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # 400 H100s at s1 that hardware[] does not offer: the catalog entry joins, existing-only
        req = h.small_request()
        req["sites"][0]["existing"] = [{"hardware": "nvidia-h100-8x", "units": 400}]
        req["workloads"].append(
            {"id": "chat", "model": "llama-70b", "min_tokens_per_s_per_user": 5, "demand_tokens_per_s": 1e5}
        )
        r = client.post("/v1/validate", json=req)
        assert r.status_code == 200, r.text
        body = r.json()
        pairs = {(p["hardware"], p["workload"]): p for p in body["throughput"]}
        assert pairs[("nvidia-h100-8x", "chat")]["tokens_per_s_per_unit"] == pytest.approx(30550.7)
        assert pairs[("nvidia-h100-8x", "chat")]["eligible_sites"] == ["s1"]
        assert pairs[("nvidia-h100-8x", "w")]["tokens_per_s_per_unit"] == 0
        # h1: 2 purchases + 2 allocations; the H100s: 2 allocations and no purchase; 4 served
        assert body["model_size"]["variables"] == 10
        [note] = body["warnings"]
        assert note.startswith(
            "hardware 'nvidia-h100-8x' is existing-only, with the default catalog's figures"
        )
        # a worker describes the stored (parsed, dumped) request: the same answer
        monkeypatch.setattr("service.api.routes.validate.IN_PROCESS_BUILD_MAX_VARIABLES", 0)
        assert client.post("/v1/validate", json=req).json() == body

    def test_an_existing_fleet_in_neither_is_422_naming_it(self, client: TestClient) -> None:
        req = h.small_request()
        req["sites"][0]["existing"] = [{"hardware": "nvidia-h100-9x", "units": 400}]
        r = client.post("/v1/validate", json=req)
        assert r.status_code == 422
        assert r.json()["errors"] == [
            {
                "path": "/sites/0/existing/0/hardware",
                "message": "unknown hardware 'nvidia-h100-9x': not in hardware[] nor in the default catalog",
            }
        ]

    def test_invalid_request_is_422_with_paths(self, client: TestClient) -> None:
        req = h.small_request()
        req["horizon"]["periods"] = 0
        r = client.post("/v1/validate", json=req)
        assert r.status_code == 422
        assert [e["path"] for e in r.json()["errors"]] == ["/horizon/periods"]

    def test_too_large_is_422_like_a_solve(self, client: TestClient) -> None:
        req = h.small_request()
        req["horizon"]["periods"] = 240  # 240 purchases + 240 allocations + 240 served = 720 ≤ 1000
        assert client.post("/v1/validate", json=req).status_code == 200
        req["sites"].append({"id": "s2", "power_mw": 1})  # +240 allocations = 960
        req["sites"].append({"id": "s3", "power_mw": 1})  # +240 = 1200 > 1000
        r = client.post("/v1/validate", json=req)
        assert r.status_code == 422
        assert r.json()["type"] == PROBLEM_BASE + "model-too-large"
        assert (r.json()["variables"], r.json()["limit"]) == (240 * 7, 1000)
