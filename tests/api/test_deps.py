"""Dependencies every route shares: unknown query parameters are refused (422 naming each)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.helpers import service as h
from tests.helpers.service import problem


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with h.app_client(tmp_path_factory.mktemp("deps"), workers=1) as c:
        assert c.post("/v1/plans", json=h.small_request(power_mw=0.001)).json()["status"] == "infeasible"
        assert c.post("/v1/plans", json=h.small_request()).json()["status"] == "optimal"
        yield c


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with h.app_client(tmp_path_factory.mktemp("deps-keyed"), workers=1, api_keys="key-a=a") as c:
        yield c


def every_route(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every operation of the app, path parameters filled in."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(m.upper(), re.sub(r"\{[^}]+\}", "x", p)) for p, item in paths.items() for m in item]


class TestUnknownQueryParameters:
    def test_a_misspelt_filter_is_422_not_every_plan(self, client: TestClient) -> None:
        body = problem(client.get("/v1/plans", params={"staus": "infeasible"}), 422, "invalid-request")
        assert body["errors"] == [
            {
                "path": "query:staus",
                "message": "unknown query parameter 'staus': this route takes cursor, limit, status",
            }
        ]
        [only] = client.get("/v1/plans", params={"status": "infeasible"}).json()["items"]  # as spelt
        assert only["status"] == "infeasible"

    def test_every_unknown_name_is_named_once(self, client: TestClient) -> None:
        r = client.get("/v1/plans", params=[("b", "1"), ("limit", "5"), ("a", "2"), ("b", "3")])
        body = problem(r, 422, "invalid-request")
        assert [e["path"] for e in body["errors"]] == ["query:b", "query:a"]  # type: ignore[union-attr]

    def test_every_route_refuses_them(self, client: TestClient) -> None:
        routes = every_route(client)
        assert ("GET", "/healthz") in routes and ("POST", "/v1/sweeps") in routes
        for method, path in routes:
            r = client.request(method, path, params={"dry_run": "1"}, json=h.small_request())
            body = problem(r, 422, "invalid-request")
            [error] = body["errors"]  # type: ignore[misc]
            assert error["path"] == "query:dry_run", (method, path)
            assert "this route takes none" in error["message"] or path == "/v1/plans", (method, path)

    def test_a_route_without_parameters_says_it_takes_none(self, client: TestClient) -> None:
        body = problem(client.get("/v1/catalog", params={"vendor": "amd"}), 422, "invalid-request")
        assert body["errors"] == [
            {"path": "query:vendor", "message": "unknown query parameter 'vendor': this route takes none"}
        ]

    def test_authentication_comes_first(self, keyed: TestClient) -> None:
        r = keyed.get("/v1/plans", params={"staus": "infeasible"})
        assert r.status_code == 401, r.text
        r = keyed.get("/v1/plans", params={"staus": "infeasible"}, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401, r.text
        r = keyed.get("/v1/plans", params={"staus": "infeasible"}, headers={"Authorization": "Bearer key-a"})
        assert problem(r, 422, "invalid-request")["errors"][0]["path"] == "query:staus"  # type: ignore[index]
        assert keyed.get("/healthz", params={"x": "1"}).status_code == 422  # open routes: no key needed
