"""``/healthz``, ``/readyz``, ``/metrics``, request ids, and the problem+json of generic errors."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from service.api.app import create_app
from service.api.errors import PROBLEM_BASE, PROBLEM_JSON
from service.api.observability import JsonFormatter
from tests.helpers import service as h
from tests.helpers.ray_cluster import PG_URL


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with h.app_client(tmp_path_factory.mktemp("health")) as c:
        yield c


class TestHealthz:
    def test_ok(self, client: TestClient) -> None:
        r = client.get("/healthz")
        assert (r.status_code, r.json()) == (200, {"status": "ok"})

    def test_request_id_is_echoed(self, client: TestClient) -> None:
        assert (
            client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
        )

    def test_request_id_is_made_when_missing_or_malformed(self, client: TestClient) -> None:
        made = client.get("/healthz").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        replaced = client.get("/healthz", headers={"X-Request-ID": 'has spaces and "quotes"'})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


class TestLogging:
    def test_access_log_is_structured_json_with_the_request_id(
        self, client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="capplan.access"):
            client.get("/v1/plans/nope", headers={"X-Request-ID": "log-me-1"})
        [record] = [r for r in caplog.records if getattr(r, "request_id", None) == "log-me-1"]
        line = json.loads(JsonFormatter().format(record))
        assert line["request_id"] == "log-me-1"
        assert (line["method"], line["route"], line["status"]) == ("GET", "/v1/plans/{plan_id}", 404)
        assert line["level"] == "info" and line["logger"] == "capplan.access"
        assert line["duration_ms"] >= 0

    def test_uvicorns_colour_copy_of_the_message_is_left_out(self) -> None:
        record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %d", (7,), None)
        record.color_message = "Started \x1b[36m%d\x1b[0m"  # as uvicorn passes it in extra
        record.workers = 2
        line = json.loads(JsonFormatter().format(record))
        assert line["msg"] == "Started 7" and line["workers"] == 2 and "color_message" not in line

    @pytest.mark.parametrize("prefer", [None, "respond-async"])
    def test_solve_log_lines_carry_the_request_id_of_the_post(
        self, client: TestClient, prefer: str | None
    ) -> None:
        """The runner's threads write 'running' and the result: their lines name the POST."""
        with h.json_log_lines("capplan.plans") as lines:
            rid = f"solve-log-{prefer}"
            headers = {"X-Request-ID": rid, "Cache-Control": "no-cache"} | (
                {"Prefer": prefer} if prefer else {}
            )
            r = client.post("/v1/plans", json=h.small_request(demand=3000.0), headers=headers)
            assert r.status_code in (201, 202), r.text
            plan_id = r.json()["id"]
            deadline = time.monotonic() + 30
            while client.get(f"/v1/plans/{plan_id}").json()["status"] in ("queued", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            finished = h.wait_for_line(lines, "plan_id", plan_id)
        assert finished["msg"] == f"plan {plan_id} finished: optimal"
        assert finished["request_id"] == rid


class TestReadyz:
    def test_ready_reports_database_and_workers(self, client: TestClient) -> None:
        body = client.get("/readyz").json()
        assert body["status"] == "ready"
        assert body["database"] == "ok"
        assert body["workers"].endswith("of 2 workers ready")

    def test_not_ready_is_503_problem(self, tmp_path: Path) -> None:
        app = create_app(h.make_settings(tmp_path), runner=h.ManualRunner(ready=False))
        with TestClient(app) as c:
            r = c.get("/readyz")
            assert r.status_code == 503
            assert r.headers["content-type"] == PROBLEM_JSON
            assert r.json()["workers"] == "manual runner not ready"
            assert c.get("/healthz").status_code == 200

    def test_a_sqlite_disk_that_is_all_but_full_is_not_ready(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # SELECT 1 answered while every write failed on a full disk: readiness said "ok".
        from types import SimpleNamespace

        import service.jobs.store as store_mod

        app = create_app(h.make_settings(tmp_path), runner=h.ManualRunner())
        with TestClient(app) as c:
            assert c.get("/readyz").status_code == 200
            full = SimpleNamespace(f_bavail=3, f_frsize=4096)  # 12 KiB left
            monkeypatch.setattr(store_mod.os, "statvfs", lambda path: full)
            r = c.get("/readyz")
            assert (r.status_code, r.json()["database"]) == (503, "disk full")
            assert "0 MiB free" in r.json()["detail"]
            monkeypatch.undo()
            assert c.get("/readyz").status_code == 200


class TestMetrics:
    def test_counts_requests_and_solves(self, client: TestClient) -> None:
        assert client.post("/v1/plans", json=h.small_request(demand=1234)).status_code == 201
        assert client.get("/healthz").status_code == 200  # (not left to an earlier test)
        text = client.get("/metrics").text
        assert 'capplan_http_requests_total{method="POST",route="/v1/plans",status="201"}' in text
        assert re.search(r'capplan_solves_total\{status="optimal"\} [1-9]', text)
        assert re.search(r"capplan_solve_seconds_count [1-9]", text)
        assert "capplan_queue_depth 0.0" in text
        assert 'capplan_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/healthz"}' in text


class TestErrors:
    def test_unknown_route_is_404_problem(self, client: TestClient) -> None:
        r = client.get("/v2/nothing")
        assert r.status_code == 404
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.json()["type"] == PROBLEM_BASE + "not-found"

    def test_wrong_method_is_405_problem(self, client: TestClient) -> None:
        r = client.put("/v1/plans")
        assert r.status_code == 405
        assert r.json()["type"] == PROBLEM_BASE + "method-not-allowed"

    @pytest.mark.parametrize(
        ("path", "allowed"),
        [
            ("/v1/plans", {"GET", "HEAD", "POST"}),
            ("/v1/plans/abc", {"GET", "HEAD", "DELETE"}),
            ("/v1/validate", {"POST"}),
            ("/healthz", {"GET", "HEAD"}),
        ],
    )
    def test_405_names_every_method_of_the_path(
        self, client: TestClient, path: str, allowed: set[str]
    ) -> None:
        r = client.request("PATCH", path)
        assert r.status_code == 405
        assert set(r.headers["allow"].split(", ")) == allowed

    def test_unexpected_error_is_500_without_internals(self, tmp_path: Path) -> None:
        app = create_app(h.make_settings(tmp_path), runner=h.ManualRunner())

        @app.get("/boom")
        def boom() -> None:
            raise RuntimeError("secret internals /etc/passwd")

        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.get("/boom", headers={"X-Request-ID": "trace-me"})
        assert r.status_code == 500
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.json()["type"] == PROBLEM_BASE + "internal-error"
        assert r.json()["request_id"] == "trace-me"
        assert r.headers["x-request-id"] == "trace-me"
        assert "secret" not in r.text and "RuntimeError" not in r.text

    def test_a_500_keeps_the_connection_usable(self, tmp_path: Path) -> None:
        """Under uvicorn, an exception that escaped the app closed the keep-alive connection:
        the client's next request on it failed with a reset."""
        app = create_app(h.make_settings(tmp_path), runner=h.ManualRunner())

        @app.get("/boom")
        def boom() -> None:
            raise RuntimeError("boom")

        with h.uvicorn_client(app) as c:  # a reset fails the test: no retries
            for _ in range(3):
                assert c.get("/boom").status_code == 500
                assert c.get("/healthz").status_code == 200


class TestHead:
    """HEAD answers as GET without the body (it was a 405 whose Allow header said GET)."""

    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/v1/catalog", "/openapi.json"])
    def test_head_is_get_without_the_body(self, client: TestClient, path: str) -> None:
        got, head = client.get(path), client.head(path)
        assert (head.status_code, got.status_code) == (200, 200)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        if path != "/metrics":  # the metrics change from one request to the next
            assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))

    def test_a_problem_answers_head_without_its_body(self, client: TestClient) -> None:
        r = client.head("/v1/plans/nope", headers={"X-Request-ID": "head-404"})
        assert (r.status_code, r.headers["content-type"], r.content) == (404, PROBLEM_JSON, b"")
        assert r.headers["x-request-id"] == "head-404"
        r = client.head("/v1/validate")  # a POST-only path
        assert (r.status_code, r.headers["allow"], r.content) == (405, "POST", b"")

    def test_head_is_counted_as_head(self, client: TestClient) -> None:
        client.head("/healthz")
        text = client.get("/metrics").text
        assert 'capplan_http_requests_total{method="HEAD",route="/healthz",status="200"}' in text

    def test_uvicorn_answers_head(self, tmp_path: Path) -> None:
        """Under uvicorn (which leaves a HEAD answer's body out by itself), over a kept-alive
        connection: the next request on it still works."""
        with h.uvicorn_client(create_app(h.make_settings(tmp_path), runner=h.ManualRunner())) as c:
            for _ in range(3):
                r = c.head("/healthz")
                assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "15")
                assert c.get("/healthz").json() == {"status": "ok"}


class TestDatabaseOutage:
    """A database that cannot be used answers 503 (as /readyz says), not a 500 bug."""

    def test_a_lost_postgresql_is_503_with_retry_after_and_logged(
        self, tmp_path: Path, pg_schema: str
    ) -> None:
        url = make_url(PG_URL)
        proxy = h.TcpProxy(url.port or 5432, url.host or "127.0.0.1").up()
        via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        settings = h.make_settings(tmp_path, database_url=via_proxy, database_schema=pg_schema)
        try:
            with TestClient(create_app(settings, runner=h.ManualRunner())) as c:
                async_ = {"Prefer": "respond-async"}
                loc = c.post("/v1/plans", json=h.small_request(demand=1000), headers=async_).headers[
                    "location"
                ]
                proxy.down()
                assert c.get("/readyz").status_code == 503
                with h.json_log_lines("capplan.service") as lines:
                    answers = [
                        c.get(loc, headers={"X-Request-ID": "outage-get"}),
                        c.get("/v1/plans"),
                        c.post("/v1/plans", json=h.small_request(demand=2000), headers=async_),
                        c.delete(loc),
                    ]
                for r in answers:
                    assert r.status_code == 503, (r.request.method, r.request.url, r.text)
                    assert r.headers["content-type"] == PROBLEM_JSON
                    assert r.json()["type"] == PROBLEM_BASE + "unavailable"
                    assert r.json()["database"] == "unreachable"
                    assert int(r.headers["retry-after"]) > 0
                line = h.wait_for_line(lines, "request_id", "outage-get")
                assert line["msg"] == "database unavailable"
                assert "OperationalError" in line["exc"]  # the exception is kept in the log
                proxy.up()  # back: the same requests are answered again
                assert c.get(loc).json()["status"] == "queued"
                assert c.get("/readyz").status_code == 200
        finally:
            proxy.down()

    @pytest.mark.parametrize(
        ("failure", "outage"),
        [
            ("sqlite-locked", True),
            ("sqlite-bad-sql", False),
            ("sqlite-integrity", False),
            ("postgresql-refused", True),
            ("not-a-database-error", False),
        ],
    )
    def test_only_an_outage_counts_as_one(self, tmp_path: Path, failure: str, outage: bool) -> None:
        from sqlalchemy import create_engine, text

        from service.api.errors import database_unavailable

        engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", connect_args={"timeout": 0})
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        statements = {
            "sqlite-bad-sql": "SELEC 1",
            "sqlite-integrity": "INSERT INTO t VALUES (1)",
            "sqlite-locked": "INSERT INTO t VALUES (2)",
        }
        with pytest.raises(Exception) as caught:
            if failure == "postgresql-refused":
                closed = h.TcpProxy(1).up()  # a port that was listening a moment ago
                closed.down()
                pg = create_engine(f"postgresql+psycopg://u@127.0.0.1:{closed.port}/db")
                pg.connect()
            elif failure == "not-a-database-error":
                raise ValueError("a bug")
            else:
                with engine.connect() as holder:
                    if failure == "sqlite-locked":
                        holder.exec_driver_sql("BEGIN EXCLUSIVE")
                    with engine.begin() as conn:
                        conn.execute(text(statements[failure]))
        assert database_unavailable(caught.value) is outage, repr(caught.value)
        engine.dispose()


class TestOutcomes:
    """How the service records what the runner reports (a runner driven by the test)."""

    @pytest.fixture
    def manual(self, tmp_path: Path) -> Iterator[tuple[TestClient, h.ManualRunner]]:
        runner = h.ManualRunner()
        with TestClient(create_app(h.make_settings(tmp_path), runner=runner)) as c:
            h.settled(runner, c.app)
            yield c, runner

    def post_async(self, c: TestClient, demand: float) -> str:
        r = c.post("/v1/plans", json=h.small_request(demand=demand), headers={"Prefer": "respond-async"})
        assert r.status_code == 202
        return str(r.headers["location"])

    def test_crashed_worker_gives_failed_plan_with_reason(
        self, manual: tuple[TestClient, h.ManualRunner]
    ) -> None:
        from service.jobs.runner import JobResult

        c, runner = manual
        loc = self.post_async(c, 1000)
        runner.finish(
            loc.rsplit("/", 1)[1], JobResult("crashed", error="the solver process died (signal 11)")
        )
        plan = c.get(loc).json()
        assert plan["status"] == "failed"
        assert plan["solver"]["detail"] == "the solver process died (signal 11)"
        assert c.get("/v1/plans").json()["items"][0]["error"] == "the solver process died (signal 11)"

    def test_a_solve_that_failed_in_the_solver_names_its_reason_in_the_list(
        self, manual: tuple[TestClient, h.ManualRunner]
    ) -> None:
        from service.jobs.runner import JobResult
        from service.jobs.tasks import stub_plan

        c, runner = manual
        loc = self.post_async(c, 1000)
        plan_id = loc.rsplit("/", 1)[1]
        failed = stub_plan(plan_id, h.small_request(demand=1000), "failed", "CBC: Error while executing cbc")
        value = {
            "status": "failed",
            "objective_value": None,
            "plan_json": failed.model_dump_json(),
            "detail": "CBC: Error while executing cbc",
        }
        runner.finish(plan_id, JobResult("done", value=value))
        assert c.get(loc).json()["status"] == "failed"
        assert c.get("/v1/plans").json()["items"][0]["error"] == "CBC: Error while executing cbc"

    def test_an_identical_request_stores_no_second_plan_when_the_first_ends_meanwhile(
        self, manual: tuple[TestClient, h.ManualRunner], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The race: the second request looks for a stored plan before the first is inserted,
        # the first is solved and recorded, then the second inserts.  The finished plan keeps
        # its reuse hash, so that insert conflicts and the second request gets the first plan.
        c, runner = manual
        loc = self.post_async(c, 1000)
        runner.finish(loc.rsplit("/", 1)[1], None, run=True)
        store = c.app.state.capplan.store  # type: ignore[attr-defined]
        real = store.find_cached
        looks: list[int] = []

        def first_look_too_early(*a: object, **k: object) -> object:
            looks.append(1)
            return None if len(looks) == 1 else real(*a, **k)

        monkeypatch.setattr(store, "find_cached", first_look_too_early)
        r = c.post("/v1/plans", json=h.small_request(demand=1000), headers={"Prefer": "respond-async"})
        assert (r.status_code, r.headers["location"]) == (200, loc)  # not 202: a new plan
        assert len(looks) == 2
        assert len(c.get("/v1/plans").json()["items"]) == 1

    def test_running_state_is_visible(self, manual: tuple[TestClient, h.ManualRunner]) -> None:
        c, runner = manual
        loc = self.post_async(c, 1000)
        plan_id = loc.rsplit("/", 1)[1]
        runner.begin(plan_id)
        assert c.get(loc).json()["status"] == "running"
        assert c.get("/v1/plans").json()["items"][0]["started_at"] is not None
        runner.finish(plan_id, None, run=True)
        assert c.get(loc).json()["objective"]["value"] == pytest.approx(1000.0)

    def test_identical_request_waits_for_the_running_plan(
        self, manual: tuple[TestClient, h.ManualRunner]
    ) -> None:
        import threading

        c, runner = manual
        loc = self.post_async(c, 2000)
        out: dict[str, object] = {}
        t = threading.Thread(
            target=lambda: out.update(r=c.post("/v1/plans", json=h.small_request(demand=2000)))
        )
        t.start()
        time.sleep(0.2)
        assert t.is_alive()  # waiting for the same plan, not solving it again
        assert len(runner.jobs) == 1
        runner.finish(loc.rsplit("/", 1)[1], None, run=True)
        t.join(30)
        r = out["r"]
        assert r.status_code == 200  # type: ignore[attr-defined]
        assert r.headers["location"] == loc  # type: ignore[attr-defined]
        assert r.json()["objective"]["value"] == pytest.approx(2000.0)  # type: ignore[attr-defined]

    def test_a_result_this_replica_cannot_record_defers_to_the_stored_plan(
        self, manual: tuple[TestClient, h.ManualRunner]
    ) -> None:
        # This replica stalled past its lease; another one ("rb") took the plan over and
        # recorded its own result.  When this replica's copy of the solve ends, it is not
        # recorded (the row is not its own): a synchronous POST waiting here answers with the
        # stored plan, not with the unrecorded copy, and the solve is not counted twice.
        import threading

        from sqlalchemy import update

        from service.jobs.store import PLANS, Store
        from solver import plan

        c, runner = manual
        state = c.app.state.capplan  # type: ignore[attr-defined]
        loc = self.post_async(c, 3000)
        plan_id = loc.rsplit("/", 1)[1]
        out: dict[str, object] = {}
        t = threading.Thread(
            target=lambda: out.update(r=c.post("/v1/plans", json=h.small_request(demand=3000)))
        )
        t.start()
        time.sleep(0.2)
        with state.store.engine.begin() as conn:
            conn.execute(update(PLANS).where(PLANS.c.id == plan_id).values(owner="rb"))
        theirs = plan(h.small_request(demand=3000), plan_id=plan_id)
        theirs.solver.worker = "replica rb"
        other = Store(state.settings.database_url, owner="rb")
        assert other.finish_plan(plan_id, "optimal", theirs.model_dump_json(), objective_value=3000.0)
        other.dispose()
        counted = state.metrics.solves.labels("optimal")._value.get()
        runner.finish(plan_id, None, run=True)
        t.join(30)
        r = out["r"]
        assert r.status_code == 200  # type: ignore[attr-defined]
        assert r.json()["solver"]["worker"] == "replica rb"  # type: ignore[attr-defined]
        assert state.metrics.solves.labels("optimal")._value.get() == counted

    def test_plan_deleted_while_a_sync_post_waits_is_409(
        self, manual: tuple[TestClient, h.ManualRunner], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import threading

        c, runner = manual
        store = c.app.state.capplan.store  # type: ignore[attr-defined]
        insert, stored = store.insert_plan, threading.Event()
        # The solve is handed to the runner before the row is written: the DELETE must wait
        # for the row (seeing the runner's job is not enough: that raced, 404 under load).
        monkeypatch.setattr(store, "insert_plan", lambda row: (insert(row), stored.set()))
        out: dict[str, object] = {}
        t = threading.Thread(
            target=lambda: out.update(r=c.post("/v1/plans", json=h.small_request(demand=900)))
        )
        t.start()
        assert stored.wait(30)
        [plan_id] = list(runner.futures)
        assert c.delete(f"/v1/plans/{plan_id}").status_code == 204
        t.join(30)
        r = out["r"]
        assert r.status_code == 409  # type: ignore[attr-defined]
        assert r.json()["plan_id"] == plan_id  # type: ignore[attr-defined]

    def test_a_delete_before_the_plan_is_stored_finds_nothing_and_stops_nothing(
        self, manual: tuple[TestClient, h.ManualRunner], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The window the test above once hit: the solve runs, its row is not written yet.  No
        # caller can know the id then (the POST has not answered), so a DELETE by that id is a
        # 404 and the solve goes on: the POST answers with the plan (900 tok/s: 0.9 units at
        # $1000, cost 900).
        import threading

        c, runner = manual
        store = c.app.state.capplan.store  # type: ignore[attr-defined]
        insert, writing, go_on = store.insert_plan, threading.Event(), threading.Event()

        def insert_later(row: Any) -> None:
            writing.set()
            assert go_on.wait(30)
            insert(row)

        monkeypatch.setattr(store, "insert_plan", insert_later)
        out: dict[str, object] = {}
        t = threading.Thread(
            target=lambda: out.update(r=c.post("/v1/plans", json=h.small_request(demand=900)))
        )
        t.start()
        assert writing.wait(30)
        [plan_id] = list(runner.futures)
        assert c.delete(f"/v1/plans/{plan_id}").status_code == 404
        assert plan_id in runner.futures  # not cancelled
        go_on.set()
        runner.finish(plan_id, None, run=True)
        t.join(30)
        r = out["r"]
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        assert r.json()["id"] == plan_id  # type: ignore[attr-defined]
        assert r.json()["objective"]["value"] == pytest.approx(900.0)  # type: ignore[attr-defined]

    def test_sync_post_during_shutdown_is_503_and_plan_stays_queued(self, tmp_path: Path) -> None:
        runner = h.ManualRunner()
        settings = h.make_settings(tmp_path)
        with TestClient(create_app(settings, runner=runner)) as c:
            import threading

            out: dict[str, object] = {}
            t = threading.Thread(target=lambda: out.update(r=c.post("/v1/plans", json=h.small_request())))
            t.start()
            while not runner.futures:
                time.sleep(0.01)
            runner.shutdown(0)
            t.join(30)
        r = out["r"]
        assert r.status_code == 503  # type: ignore[attr-defined]
        assert r.headers["location"].startswith("/v1/plans/")  # type: ignore[attr-defined]
        # The next start solves it (a real runner this time).
        with h.app_client(tmp_path) as c2:
            done = h.wait_finished(c2, r.headers["location"])  # type: ignore[attr-defined]
            assert done["objective"]["value"] == pytest.approx(5000.0)
