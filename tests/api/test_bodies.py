"""Request bodies (``service.api.bodies``): where they are parsed, and what strict JSON refuses."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import service.api.bodies as bodies
from service.api.app import create_app
from service.api.errors import PROBLEM_BASE
from tests.helpers import service as h

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(h.make_settings(tmp_path_factory.mktemp("bodies")), runner=h.ManualRunner())
    with TestClient(app) as c:
        yield c


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def padded(size: int) -> bytes:
    """A plan request of exactly ``size`` bytes: grown by an unknown field of numbers (a 422
    at ``/pad`` once parsed), then by trailing spaces."""
    req = h.small_request()
    req["pad"] = [0.5] * ((size - 1000) // 5)
    text = json.dumps(req).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


class TestWhereBodiesAreParsed:
    """Small bodies on the event loop (no thread hop), large ones in a worker thread: parsing a
    5 MiB body on the loop held every other request (/healthz p50 5 ms → 525 ms)."""

    @pytest.fixture
    def seen(self, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
        out: list[tuple[int, bool]] = []
        real = bodies.parse_strict_json

        def parse(body: bytes) -> Any:
            out.append((len(body), _on_event_loop()))
            return real(body)

        monkeypatch.setattr(bodies, "parse_strict_json", parse)
        return out

    def test_a_small_body_is_parsed_on_the_event_loop(
        self, client: TestClient, seen: list[tuple[int, bool]]
    ) -> None:
        r = client.post("/v1/validate", json=h.small_request())
        assert r.status_code == 200, r.text
        assert [on_loop for _, on_loop in seen] == [True]

    @pytest.mark.parametrize("route", ["/v1/validate", "/v1/plans"])
    def test_a_large_body_is_parsed_in_a_worker_thread(
        self, client: TestClient, seen: list[tuple[int, bool]], route: str
    ) -> None:
        body = padded(bodies.PARSE_ON_LOOP_MAX_BYTES + 1)
        r = client.post(route, content=body, headers=JSON)
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "/pad"  # parsed, then validated
        assert seen == [(len(body), False)]

    def test_the_threshold_is_inclusive(self, client: TestClient, seen: list[tuple[int, bool]]) -> None:
        body = padded(bodies.PARSE_ON_LOOP_MAX_BYTES)
        client.post("/v1/validate", content=body, headers=JSON)
        client.post("/v1/validate", content=body + b" ", headers=JSON)
        assert seen == [(len(body), True), (len(body) + 1, False)]

    def test_healthz_answers_while_a_large_body_is_being_parsed(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Ordering, not timing: the parse waits until /healthz has answered. On the loop, it
        # would hold /healthz until it gave up waiting.
        events: list[str] = []
        started, release = threading.Event(), threading.Event()
        real = bodies.parse_strict_json

        def parse(body: bytes) -> Any:
            events.append("parse started")
            started.set()
            if not release.wait(10):
                events.append("parse gave up waiting")
            return real(body)

        monkeypatch.setattr(bodies, "parse_strict_json", parse)
        out: dict[str, Any] = {}
        body = padded(5 * 2**20 - 1000)  # as the outside-in probe sent it: 5 MiB, mostly numbers
        post = threading.Thread(
            target=lambda: out.update(r=client.post("/v1/validate", content=body, headers=JSON))
        )
        post.start()
        try:
            assert started.wait(30)
            assert client.get("/healthz").status_code == 200
            events.append("healthz answered")
        finally:
            release.set()
            post.join(60)
        assert events == ["parse started", "healthz answered"]
        assert out["r"].status_code == 422

    def test_large_bodies_are_parsed_one_at_a_time(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Parsing holds the GIL: parallel parse threads end no sooner and crowd the event loop.
        started: list[int] = []
        first_started, release = threading.Event(), threading.Event()
        real = bodies.parse_strict_json

        def parse(body: bytes) -> Any:
            started.append(len(body))
            first_started.set()
            release.wait(10)
            return real(body)

        monkeypatch.setattr(bodies, "parse_strict_json", parse)
        answers: list[Any] = []
        posts = [
            threading.Thread(
                target=lambda n=n: answers.append(
                    client.post(
                        "/v1/validate", content=padded(bodies.PARSE_ON_LOOP_MAX_BYTES + n), headers=JSON
                    )
                )
            )
            for n in (1, 2)
        ]
        for t in posts:
            t.start()
        try:
            assert first_started.wait(30)
            deadline = time.monotonic() + 30  # a bound for a failure only
            while bodies.LARGE_BODY_PARSES.statistics().tasks_waiting < 1:
                assert time.monotonic() < deadline, "the second body never waited for the first"
                time.sleep(0.01)
            assert len(started) == 1  # the second waits for the first to finish
        finally:
            release.set()
            for t in posts:
                t.join(60)
        assert len(started) == 2 and [r.status_code for r in answers] == [422, 422]


class TestCheckBudget:
    """A large body waits at most CAPPLAN_CHECK_BUDGET_S for its turn to be parsed and checked."""

    @pytest.fixture
    def brief(self, tmp_path: Path) -> Iterator[TestClient]:
        app = create_app(h.make_settings(tmp_path, check_budget_s=0.2), runner=h.ManualRunner())
        with TestClient(app) as c:
            yield c

    def test_a_body_that_waits_past_the_budget_is_503(
        self, brief: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Ordering, not timing: the first body's parse holds its turn until the second has
        # been answered (or 30 s, for a failure only).
        first_started, release = threading.Event(), threading.Event()
        real = bodies.parse_strict_json

        def parse(body: bytes) -> Any:
            first_started.set()
            release.wait(30)
            return real(body)

        monkeypatch.setattr(bodies, "parse_strict_json", parse)
        answers: dict[str, Any] = {}
        body = padded(bodies.PARSE_ON_LOOP_MAX_BYTES + 1)
        first = threading.Thread(
            target=lambda: answers.update(first=brief.post("/v1/plans", content=body, headers=JSON))
        )
        first.start()
        try:
            assert first_started.wait(30)
            second = brief.post("/v1/validate", content=body, headers=JSON)
        finally:
            release.set()
            first.join(60)
        assert second.status_code == 503 and second.headers["retry-after"] == "5"
        assert second.json()["type"] == PROBLEM_BASE + "unavailable"
        assert second.json()["detail"] == (
            "the service is busy checking other large requests: this one waited 0.2 s for its turn; "
            "retry later"
        )
        assert answers["first"].status_code == 422  # checked once its turn came: /pad is unknown

    def test_a_sweep_is_checked_in_its_turn_whatever_its_size(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A small sweep's check parses every scenario: off the event loop, one at a time.
        seen: list[bool] = []
        real = bodies.parse_strict_json

        def parse(body: bytes) -> Any:
            seen.append(bodies.LARGE_BODY_PARSES.borrowed_tokens == 1 and not _on_event_loop())
            return real(body)

        monkeypatch.setattr(bodies, "parse_strict_json", parse)
        sweep = {"base": h.small_request(), "parameters": [{"path": "name", "values": [1]}]}
        assert client.post("/v1/sweeps", json=sweep).status_code == 422  # a name is text
        assert client.post("/v1/frontiers", json={"base": {}}).status_code == 422
        assert seen == [True, False]  # the frontier's (as a plan's) is parsed on the loop


class TestStrictJson:
    def test_a_non_finite_number_deep_in_a_large_body_is_found(self, client: TestClient) -> None:
        text = (
            padded(bodies.PARSE_ON_LOOP_MAX_BYTES + 1)
            .decode()
            .replace('"power_mw": 10.0', '"power_mw": 1e999')
        )
        r = client.post("/v1/plans", content=text, headers=JSON)
        assert r.status_code == 422 and r.json()["type"] == PROBLEM_BASE + "invalid-request"
        assert [e["path"] for e in r.json()["errors"]] == ["/sites/0/power_mw"]

    @pytest.mark.parametrize("digits", [310, 400, 5_000])
    def test_an_integer_beyond_the_float_range_is_refused_like_1e999(
        self, client: TestClient, digits: int
    ) -> None:
        # Were: 400 digits "Input should be a valid number" (pydantic cannot make it a float),
        # 5,000 digits at "/" with Python's advice to raise sys.set_int_max_str_digits().
        text = json.dumps(h.small_request()).replace('"power_mw": 10.0', f'"power_mw": -{"9" * digits}')
        r = client.post("/v1/plans", content=text, headers=JSON)
        assert r.status_code == 422 and r.json()["type"] == PROBLEM_BASE + "invalid-request"
        assert r.json()["errors"] == [
            {
                "path": "/sites/0/power_mw",
                "message": "NaN, Infinity and numbers beyond the float range are not allowed: use a finite number",
            }
        ]

    def test_a_long_integer_within_the_float_range_gets_its_fields_range(self, client: TestClient) -> None:
        # 309 digits, about 1e308: a float, beyond power_mw's 1e6
        text = json.dumps(h.small_request()).replace('"power_mw": 10.0', f'"power_mw": {"1" * 309}')
        r = client.post("/v1/plans", content=text, headers=JSON)
        assert r.status_code == 422
        assert [(e["path"], e["message"].split(";")[0]) for e in r.json()["errors"]] == [
            ("/sites/0/power_mw", "Input should be less than or equal to 1000000")
        ]

    def test_deep_nesting_in_a_worker_thread_is_422(self, client: TestClient) -> None:
        r = client.post("/v1/plans", content=b"[" * 200_000, headers=JSON)
        assert r.status_code == 422
        assert r.json()["errors"][0]["message"] == "the JSON is nested too deeply"

    @pytest.mark.parametrize("route", ["/v1/plans", "/v1/validate"])
    def test_a_key_given_twice_is_422_at_its_path(self, client: TestClient, route: str) -> None:
        # Was last-wins: {"name": "a", "name": "b"} made a plan named "b", silently.
        text = json.dumps(h.small_request())
        text = text.replace('"name": "tiny"', '"name": "a", "name": "b"')
        text = text.replace('"power_mw": 10.0', '"power_mw": 10.0, "power_mw": 20.0, "power_mw": 30.0')
        r = client.post(route, content=text, headers=JSON | {"Prefer": "respond-async"})
        assert r.status_code == 422 and r.json()["type"] == PROBLEM_BASE + "invalid-request"
        assert r.json()["errors"] == [
            {
                "path": "/name",
                "message": "the key 'name' appears more than once in this object: give each key once",
            },
            {
                "path": "/sites/0/power_mw",
                "message": "the key 'power_mw' appears more than once in this object: give each key once",
            },
        ]

    def test_a_key_given_twice_in_a_large_body_is_found_too(self, client: TestClient) -> None:
        text = padded(bodies.PARSE_ON_LOOP_MAX_BYTES + 1).decode()
        text = text.replace('"id": "w"', '"id": "w", "id": "w"')
        r = client.post("/v1/plans", content=text, headers=JSON)
        assert r.status_code == 422
        assert [e["path"] for e in r.json()["errors"]] == ["/workloads/0/id"]

    def test_keys_are_pointer_escaped(self, client: TestClient) -> None:
        req = h.small_request()
        req["hardware"][0]["vendor"] = "a/b"
        req["policy"] = {"max_vendor_share": {"a/b": 1.0}}
        assert client.post("/v1/validate", json=req).status_code == 200
        text = json.dumps(req).replace('"a/b": 1.0', '"a/b": 1.0, "a/b": 0.9')
        r = client.post("/v1/validate", content=text, headers=JSON)
        assert [e["path"] for e in r.json()["errors"]] == ["/policy/max_vendor_share/a~1b"]

    def test_the_same_key_in_different_objects_is_fine(self, client: TestClient) -> None:
        req = h.small_request()
        req["sites"].append({"id": "s2", "power_mw": 5.0})
        assert client.post("/v1/validate", json=req).status_code == 200
