"""The store on SQLite and, for real, on the local PostgreSQL server (skipped if unreachable).

PostgreSQL runs in a schema of its own per test (``tests.helpers.ray_cluster.pg_schema``), dropped after.
Set CAPPLAN_TEST_POSTGRES_URL to use another server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from service.api.errors import PROBLEM_BASE
from service.jobs.store import JOB_ROWS, Cursor, DuplicateIdempotencyKey, PlanRow, Store, utcnow
from tests.helpers import service as h
from tests.helpers.ray_cluster import PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        s = Store(PG_URL, schema=request.getfixturevalue("pg_schema"))
    s.create_all()
    s.create_all()  # idempotent
    yield s
    s.dispose()


def row(
    plan_id: str, tenant: str = "t", *, status: str = "queued", key: str | None = None, **kw: object
) -> PlanRow:
    now = kw.pop("created_at", None) or utcnow()
    values: dict[str, object] = {
        "id": plan_id,
        "tenant": tenant,
        "status": status,
        "name": "p",
        "objective_kind": "min_cost",
        "objective_value": None,
        "request": '{"a":1}',
        "request_hash": "h1",
        "idempotency_key": key,
        "plan": "{}",
        "error": None,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    values.update(kw)
    return PlanRow(**values)


class TestPlansTable:
    def test_insert_and_read_back_per_tenant(self, store: Store) -> None:
        stamp = dt.datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
        store.insert_plan(row("a", request="é" * 10_000, created_at=stamp))
        got = store.get_plan("t", "a")
        assert got is not None
        assert got.request == "é" * 10_000
        assert got.created_at == stamp and got.created_at.tzinfo is not None
        assert store.get_plan("other", "a") is None

    def test_idempotency_key_is_unique_per_tenant(self, store: Store) -> None:
        store.insert_plan(row("a", key="k"))
        store.insert_plan(row("b", tenant="u", key="k"))
        with pytest.raises(DuplicateIdempotencyKey):
            store.insert_plan(row("c", key="k"))
        found = store.find_by_idempotency_key("t", "k")
        assert found is not None and found.id == "a"

    def test_find_cached_takes_newest_in_allowed_statuses(self, store: Store) -> None:
        t0 = utcnow()
        store.insert_plan(row("old", status="optimal", created_at=t0))
        store.insert_plan(row("new", status="failed", created_at=t0 + dt.timedelta(seconds=1)))
        store.insert_plan(row("mid", status="infeasible", created_at=t0 + dt.timedelta(milliseconds=500)))
        hit = store.find_cached("t", "h1", ("optimal", "infeasible"))
        assert hit is not None and hit.id == "mid"
        assert store.find_cached("t", "other-hash", ("optimal",)) is None
        assert store.find_cached("u", "h1", ("optimal", "infeasible")) is None

    def test_pages_newest_first_with_ties_broken_by_id(self, store: Store) -> None:
        t0 = utcnow()
        for pid, offset in [("a", 0), ("b", 1), ("c", 1), ("d", 3), ("e", 4)]:  # b and c tie
            store.insert_plan(row(pid, created_at=t0 + dt.timedelta(seconds=offset)))
        order = []
        cursor = None
        while True:
            page = store.list_plans("t", limit=2, before=cursor)
            if not page:
                break
            order += [r.id for r in page]
            cursor = Cursor(page[-1].created_at, page[-1].id)
        assert order == ["e", "d", "c", "b", "a"]

    def test_status_filter(self, store: Store) -> None:
        store.insert_plan(row("a", status="optimal"))
        store.insert_plan(row("b", status="failed"))
        store.insert_plan(row("c", status="queued"))
        assert {r.id for r in store.list_plans("t", statuses=["optimal", "queued"])} == {"a", "c"}

    def test_life_cycle(self, store: Store) -> None:
        store.insert_plan(row("a"))
        assert store.mark_running("a", '{"s":"running"}')
        assert not store.mark_running("a", "{}")  # only from queued
        got = store.get_plan("t", "a")
        assert got is not None and (got.status, got.attempts, got.plan) == ("running", 1, '{"s":"running"}')
        assert got.started_at is not None
        assert store.requeue_plan("a", "{}")
        assert store.mark_running("a", "{}")
        assert [r.id for r in store.unfinished_plans()] == ["a"]
        assert store.finish_plan("a", "optimal", '{"done":1}', objective_value=42.5)
        assert not store.finish_plan("a", "failed", "{}")  # finished plans stay finished
        got = store.get_plan("t", "a")
        assert got is not None
        assert (got.status, got.attempts, got.objective_value, got.plan) == ("optimal", 2, 42.5, '{"done":1}')
        assert got.finished_at is not None and got.finished_at >= got.created_at
        assert store.unfinished_plans() == []

    def test_delete(self, store: Store) -> None:
        store.insert_plan(row("a"))
        assert not store.delete_plan("u", "a")
        assert store.delete_plan("t", "a")
        assert not store.finish_plan("a", "optimal", "{}")
        assert store.get_plan("t", "a") is None

    @pytest.mark.parametrize("bad", ["a\0b", "\0", "half \ud800 of a pair"])
    def test_an_id_no_store_can_keep_names_no_plan(self, store: Store, bad: str) -> None:
        # PostgreSQL refused the statement (psycopg: "cannot contain NUL"): a 500 for a GET
        store.insert_plan(row("a"))
        assert store.get_plan("t", bad) is None
        assert not store.delete_plan("t", bad)
        assert store.get_plan("t", "a") is not None


class TestJobsTable:
    def test_job_life_cycle(self, store: Store) -> None:
        store.insert_job(job_id="j1", tenant="t", kind="sweep", request={"base": {"x": [1, 2.5]}}, total=3)
        store.insert_job(job_id="j2", tenant="t", kind="frontier", request={}, total=2)
        store.update_job("j1", status="running", started_at=utcnow())
        assert store.append_job_row("j1", {"values": {"a": 1}, "plan_id": "p1"})
        assert store.append_job_row("j1", {"values": {"a": 2}, "plan_id": "p2"})
        job = store.get_job("t", "j1", "sweep")
        assert job is not None
        assert (job.status, job.total, job.done) == ("running", 3, 2)
        assert job.request == {"base": {"x": [1, 2.5]}}
        assert [r["plan_id"] for r in job.rows] == ["p1", "p2"]
        assert store.get_job("t", "j1", "frontier") is None
        assert store.get_job("u", "j1") is None
        assert [j.id for j in store.list_jobs("t", kind="sweep")] == ["j1"]
        assert {j.id for j in store.unfinished_jobs()} == {"j1", "j2"}
        store.update_job("j1", status="done", finished_at=utcnow())
        assert [j.id for j in store.unfinished_jobs()] == ["j2"]
        with pytest.raises(ValueError, match="unknown job columns"):
            store.update_job("j1", tenant="evil")
        assert not store.append_job_row("missing", {})
        assert store.delete_job("t", "j1")
        assert store.get_job("t", "j1") is None

    @pytest.mark.parametrize("bad", ["a\0b", "\0", "half \udfff of a pair"])
    def test_an_id_no_store_can_keep_names_no_job(self, store: Store, bad: str) -> None:
        store.insert_job(job_id="j1", tenant="t", kind="sweep", request={})
        assert store.get_job("t", bad) is None
        assert store.get_job("t", bad, "sweep") is None
        assert not store.delete_job("t", bad)
        assert store.get_job("t", "j1") is not None


class TestJobRows:
    """A job's result rows live in ``job_rows``: one INSERT per row, read back in index order."""

    def test_rows_come_back_in_index_order_and_a_repeated_index_keeps_the_first(self, store: Store) -> None:
        store.insert_job(job_id="j", tenant="t", kind="sweep", request={}, total=4)
        for idx, v in ((2, "c"), (0, "a"), (3, "d"), (0, "again"), (1, "b")):
            assert store.append_job_row("j", {"index": idx, "v": v})
        job = store.get_job("t", "j")
        assert job is not None
        assert [r["v"] for r in job.rows] == ["a", "b", "c", "d"]
        assert job.done == 4
        assert [r["v"] for r in store.list_jobs("t")[0].rows] == ["a", "b", "c", "d"]
        assert [r["v"] for r in store.unfinished_jobs()[0].rows] == ["a", "b", "c", "d"]

    def test_update_replaces_the_rows_and_delete_removes_them(self, store: Store) -> None:
        store.insert_job(job_id="j", tenant="t", kind="frontier", request={}, total=2)
        store.insert_job(job_id="k", tenant="t", kind="frontier", request={}, total=1)
        assert store.append_job_row("j", {"index": 0, "v": "old"})
        assert store.append_job_row("k", {"index": 0, "v": "k"})
        assert store.update_job("j", rows=[{"index": 1, "v": "y"}, {"index": 0, "v": "x"}], done=2)
        job = store.get_job("t", "j")
        assert job is not None and [r["v"] for r in job.rows] == ["x", "y"] and job.done == 2
        assert not store.update_job("missing", rows=[{"index": 0}])
        assert store.delete_job("t", "j")
        with store.engine.connect() as conn:
            left = conn.execute(select(JOB_ROWS.c.job_id, JOB_ROWS.c.idx)).all()
        assert [tuple(r) for r in left] == [("k", 0)]

    def test_rows_an_earlier_version_kept_in_the_jobs_table_are_moved(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'old.db'}"
        old = Store(url)
        old.create_all()
        old.insert_job(job_id="j", tenant="t", kind="sweep", request={}, total=3)
        with old.engine.begin() as conn:  # as 1.0 wrote them: one JSON list on the job
            conn.execute(
                text("UPDATE jobs SET rows = :rows, done = 2 WHERE id = 'j'"),
                {"rows": '[{"index": 1, "v": "b"}, {"index": 0, "v": "a"}]'},
            )
        old.dispose()
        new = Store(url)
        new.create_all()
        job = new.get_job("t", "j")
        assert job is not None and [r["v"] for r in job.rows] == ["a", "b"]
        assert new.append_job_row("j", {"index": 2, "v": "c"})
        with new.engine.connect() as conn:
            assert conn.execute(text("SELECT rows FROM jobs")).scalar() == "[]"
        new.create_all()  # again: nothing moves twice
        job = new.get_job("t", "j")
        assert job is not None and [r["v"] for r in job.rows] == ["a", "b", "c"] and job.done == 3
        new.dispose()


class TestDurability:
    def test_sqlite_rows_survive_a_new_store(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'keep.db'}"
        first = Store(url)
        first.create_all()
        first.insert_plan(row("kept", status="running"))
        first.dispose()
        second = Store(url)
        second.create_all()
        assert [r.id for r in second.unfinished_plans()] == ["kept"]

    def test_the_service_runs_on_postgresql(self, tmp_path: Path, pg_schema: str) -> None:
        with h.app_client(tmp_path, database_url=PG_URL, database_schema=pg_schema) as c:
            r = c.post("/v1/plans", json=h.small_request(demand=4200))
            assert r.status_code == 201
            assert r.json()["objective"]["value"] == pytest.approx(4200.0)
            assert c.get(r.headers["location"]).json() == r.json()
            assert c.post("/v1/plans", json=h.small_request(demand=4200)).status_code == 200
        # and the plan is there for the next process
        with h.app_client(tmp_path, database_url=PG_URL, database_schema=pg_schema) as c:
            assert c.get(r.headers["location"]).json()["id"] == r.json()["id"]

    @pytest.mark.parametrize("bad", ["a%00b", "%00"])
    def test_an_id_holding_a_nul_is_404_on_every_route_on_postgresql(
        self, tmp_path: Path, pg_schema: str, bad: str
    ) -> None:
        # PostgreSQL refused the statement ("cannot contain NUL"): every one of these was a 500
        with h.app_client(tmp_path, database_url=PG_URL, database_schema=pg_schema) as c:
            good = c.post("/v1/plans", json=h.small_request(demand=4300)).json()["id"]
            gets = [
                f"/v1/plans/{bad}",
                f"/v1/plans/{bad}/report",
                f"/v1/plans/{bad}/tables/fleet.csv",
                f"/v1/plans/{bad}/diff/{good}",
                f"/v1/plans/{good}/diff/{bad}",
                f"/v1/sweeps/{bad}",
                f"/v1/sweeps/{bad}/report",
                f"/v1/frontiers/{bad}",
                f"/v1/frontiers/{bad}/report",
            ]
            deletes = [f"/v1/plans/{bad}", f"/v1/sweeps/{bad}", f"/v1/frontiers/{bad}"]
            shown = repr(bad.replace("%00", "\0"))  # quoted(): the NUL as its escape
            for method, path in [("GET", p) for p in gets] + [("DELETE", p) for p in deletes]:
                r = c.request(method, path)
                assert (r.status_code, r.json()["type"]) == (404, PROBLEM_BASE + "not-found"), (method, path)
                assert shown in r.json()["detail"], (method, path, r.json()["detail"])
            assert c.get(f"/v1/plans/{good}").status_code == 200
