"""API keys: every /v1 route needs one when keys are set; tenants see only their own plans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.errors import PROBLEM_BASE
from tests.helpers import service as h

ALICE = {"Authorization": "Bearer key-alice"}
BOB = {"Authorization": "Bearer key-bob"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with h.app_client(tmp_path_factory.mktemp("auth"), api_keys="key-alice=alice,key-bob=bob") as c:
        yield c


V1_ROUTES = [
    ("POST", "/v1/plans"),
    ("GET", "/v1/plans"),
    ("GET", "/v1/plans/x"),
    ("DELETE", "/v1/plans/x"),
    ("POST", "/v1/validate"),
    ("GET", "/v1/catalog"),
]


class TestAuthentication:
    @pytest.mark.parametrize(("method", "path"), V1_ROUTES)
    def test_missing_key_is_401(self, client: TestClient, method: str, path: str) -> None:
        r = client.request(method, path, json=h.small_request())
        assert r.status_code == 401
        assert r.json()["type"] == PROBLEM_BASE + "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize(("method", "path"), V1_ROUTES)
    def test_unknown_key_is_401(self, client: TestClient, method: str, path: str) -> None:
        r = client.request(method, path, json=h.small_request(), headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["www-authenticate"]

    @pytest.mark.parametrize("second", ["Bearer key-bob", "Bearer key-alice", "Bearer nope"])
    def test_several_authorization_headers_are_401(self, client: TestClient, second: str) -> None:
        """Which key would count? (Starlette reads the first, a proxy may keep the last.)"""
        headers = [("Authorization", "Bearer key-alice"), ("Authorization", second)]
        r = client.get("/v1/plans", headers=headers)
        assert r.status_code == 401
        assert r.json()["detail"] == "send one Authorization header (this request has several)"
        assert 'error="invalid_request"' in r.headers["www-authenticate"]

    def test_wrong_scheme_is_401(self, client: TestClient) -> None:
        r = client.get("/v1/plans", headers={"Authorization": "Basic a2V5LWFsaWNlOg=="})
        assert r.status_code == 401

    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
    def test_operations_routes_stay_open(self, client: TestClient, path: str) -> None:
        assert client.get(path).status_code == 200


class TestTenantIsolation:
    def test_each_tenant_sees_only_its_plans(self, client: TestClient) -> None:
        a = client.post("/v1/plans", json=h.small_request(demand=2000), headers=ALICE)
        assert a.status_code == 201
        loc = a.headers["location"]
        assert client.get(loc, headers=ALICE).json()["id"] == a.json()["id"]
        # Bob cannot see, list or delete Alice's plan: it does not exist for him.
        assert client.get(loc, headers=BOB).status_code == 404
        assert client.delete(loc, headers=BOB).status_code == 404
        assert a.json()["id"] not in [i["id"] for i in client.get("/v1/plans", headers=BOB).json()["items"]]
        assert a.json()["id"] in [i["id"] for i in client.get("/v1/plans", headers=ALICE).json()["items"]]
        assert client.get(loc, headers=ALICE).status_code == 200

    def test_identical_requests_are_not_shared_across_tenants(self, client: TestClient) -> None:
        req = h.small_request(demand=2500)
        a = client.post("/v1/plans", json=req, headers=ALICE)
        b = client.post("/v1/plans", json=req, headers=BOB)
        assert (a.status_code, b.status_code) == (201, 201)
        assert a.json()["id"] != b.json()["id"]
        assert b.json()["objective"]["value"] == pytest.approx(2500.0)

    def test_idempotency_keys_are_per_tenant(self, client: TestClient) -> None:
        key = {"Idempotency-Key": "shared-key"}
        a = client.post("/v1/plans", json=h.small_request(demand=1100), headers={**ALICE, **key})
        b = client.post("/v1/plans", json=h.small_request(demand=1200), headers={**BOB, **key})
        assert (a.status_code, b.status_code) == (201, 201)
