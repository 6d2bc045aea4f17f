"""Leases: several API replicas on one database, none solving another's plan, none leaving
work stuck behind when it dies.

Store level on SQLite and, for real, on the local PostgreSQL server (a schema per test):
claims take only rows nobody holds, renewals keep them, writes are fenced by owner, the
request-hash of unfinished plans is unique, old tables are upgraded in place, and on
PostgreSQL concurrent claimers (``FOR UPDATE SKIP LOCKED``) never share a row.  App level:
a replica stops a solve it no longer holds (fencing), and two real ``capplan serve``
processes with the *local* runner take over each other's work after a SIGKILL — leases do
not depend on Ray.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from service.api.app import create_app
from service.jobs.store import DuplicateRequest, PlanRow, Store, utcnow
from tests.helpers import service as h
from tests.helpers.ray_cluster import PG_URL, pg_schema, postgres_missing, replicas

PAST = dt.timedelta(seconds=-60)
FUTURE = dt.timedelta(seconds=600)


def plan_row(
    plan_id: str,
    *,
    status: str = "queued",
    owner: str | None = None,
    lease: dt.timedelta | None = None,
    **kw: Any,
) -> PlanRow:
    now = kw.pop("created_at", None) or utcnow()
    values: dict[str, Any] = {
        "id": plan_id,
        "tenant": "t",
        "status": status,
        "name": "p",
        "objective_kind": "min_cost",
        "objective_value": None,
        "request": "{}",
        "request_hash": "h",
        "idempotency_key": None,
        "plan": "{}",
        "error": None,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "owner": owner,
        "lease_expires_at": None if lease is None else utcnow() + lease,
    }
    values.update(kw)
    return PlanRow(**values)


@pytest.fixture(params=["sqlite", "postgresql"])
def url_schema(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'leases.db'}", None
        return
    reason = postgres_missing()
    if reason:
        pytest.skip(reason)
    with pg_schema() as schema:
        yield PG_URL, schema


def stores(url_schema: tuple[str, str | None], *owners: str, lease_s: float = 30.0) -> list[Store]:
    url, schema = url_schema
    out = [Store(url, schema=schema, owner=o, lease_s=lease_s) for o in owners]
    out[0].create_all()
    return out


class TestClaims:
    def test_a_claim_takes_only_rows_nobody_holds(self, url_schema: tuple[str, str | None]) -> None:
        a, b = stores(url_schema, "a", "b")
        a.insert_plan(plan_row("held", owner="a", lease=FUTURE))
        a.insert_plan(plan_row("free", owner=None))
        a.insert_plan(plan_row("expired", status="running", owner="a", lease=PAST, attempts=1))
        a.insert_plan(plan_row("done", status="optimal", owner="a", lease=PAST))
        got = b.claim_plans()
        assert sorted(r.id for r in got) == ["expired", "free"]
        assert all((r.owner, r.status) == ("b", "queued") for r in got)
        assert all(r.lease_expires_at is not None and r.lease_expires_at > utcnow() for r in got)
        assert next(r for r in got if r.id == "expired").attempts == 1  # the earlier start counts
        assert b.claim_plans() == []  # now held by b
        assert a.claim_plans() == []  # a's own row is not taken again while it runs
        assert [r.id for r in a.claim_plans(include_own=True)] == ["held"]  # at a's start-up: yes
        for s in (a, b):
            s.dispose()

    def test_renewal_keeps_rows_and_says_what_is_held(self, url_schema: tuple[str, str | None]) -> None:
        a, b = stores(url_schema, "a", "b", lease_s=0.5)
        a.insert_plan(plan_row("p1", owner="a", lease=dt.timedelta(seconds=0.5)))
        a.insert_plan(plan_row("p2", owner="a", lease=dt.timedelta(seconds=0.5)))
        a.insert_job(job_id="j1", tenant="t", kind="sweep", request={}, total=1)
        time.sleep(0.6)
        owned = a.renew_leases()  # just in time: b cannot take them
        assert (owned.plans, owned.jobs) == ({"p1", "p2"}, {"j1"})
        assert b.claim_plans() == [] and b.claim_jobs() == []
        time.sleep(0.6)  # a went silent for longer than its lease
        assert [r.id for r in b.claim_plans()] == ["p1", "p2"]
        assert [j.id for j in b.claim_jobs()] == ["j1"]
        owned = a.renew_leases()
        assert (owned.plans, owned.jobs) == (set(), set())
        for s in (a, b):
            s.dispose()

    def test_writes_are_fenced_by_owner(self, url_schema: tuple[str, str | None]) -> None:
        a, b = stores(url_schema, "a", "b")
        b.insert_plan(plan_row("p", owner="b", lease=FUTURE))
        assert not a.mark_running("p", "{}")
        assert b.mark_running("p", '{"running":1}')
        assert not a.finish_plan("p", "optimal", "{}")
        assert not a.requeue_plan("p", "{}")
        assert b.finish_plan("p", "optimal", '{"done":1}', objective_value=1.5)
        got = b.get_plan("t", "p")
        assert got is not None and (got.status, got.plan, got.owner) == ("optimal", '{"done":1}', "b")
        b.insert_job(job_id="j", tenant="t", kind="sweep", request={}, total=2)
        assert not a.append_job_row("j", {"index": 0})
        assert not a.update_job("j", status="failed")
        assert b.append_job_row("j", {"index": 0, "v": 1})
        assert b.append_job_row("j", {"index": 0, "v": 2})  # a repeated index keeps the first
        job = b.get_job("t", "j")
        assert job is not None and job.rows == [{"index": 0, "v": 1}] and job.done == 1
        for s in (a, b):
            s.dispose()

    def test_release_lets_another_replica_take_over_at_once(self, url_schema: tuple[str, str | None]) -> None:
        a, b = stores(url_schema, "a", "b")
        a.insert_plan(plan_row("p", status="running", owner="a", lease=FUTURE))
        a.insert_job(job_id="j", tenant="t", kind="sweep", request={}, total=1)
        assert b.claim_plans() == [] and b.claim_jobs() == []
        assert a.release_all() == 2
        assert [r.id for r in b.claim_plans()] == ["p"] and [j.id for j in b.claim_jobs()] == ["j"]
        for s in (a, b):
            s.dispose()

    def test_one_reusable_plan_per_tenant_and_request_hash(self, url_schema: tuple[str, str | None]) -> None:
        (a,) = stores(url_schema, "a")
        a.insert_plan(plan_row("p1", owner="a", inflight_hash="x"))
        with pytest.raises(DuplicateRequest):
            a.insert_plan(plan_row("p2", owner="a", inflight_hash="x"))
        a.insert_plan(plan_row("p3", owner="a", inflight_hash="x", tenant="u"))  # another tenant
        a.insert_plan(plan_row("p4", owner="a"))  # no-cache solves: no hash, no limit
        a.insert_plan(plan_row("p5", owner="a"))
        assert a.finish_plan("p1", "optimal", "{}")  # finished and reusable: the hash stays
        with pytest.raises(DuplicateRequest):
            a.insert_plan(plan_row("p6", owner="a", inflight_hash="x"))
        a.insert_plan(plan_row("p7", owner="a", inflight_hash="y"))
        assert a.finish_plan("p7", "time_limit", "{}")  # not reusable: the hash is free again
        a.insert_plan(plan_row("p8", owner="a", inflight_hash="y"))
        a.dispose()


def _old_tables(url: str, schema: str | None) -> None:
    """The tables as the first release created them (no owner, lease or inflight columns)."""
    engine = create_engine(url)
    prefix = f'"{schema}".' if schema else ""
    ts = "TIMESTAMP WITH TIME ZONE" if url.startswith("postgresql") else "DATETIME"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE {prefix}plans (id VARCHAR(64) PRIMARY KEY, tenant VARCHAR(128), "
                "status VARCHAR(16), name VARCHAR(256), objective_kind VARCHAR(16), objective_value FLOAT, "
                "request TEXT, request_hash VARCHAR(64), idempotency_key VARCHAR(256), plan TEXT, "
                f"error TEXT, attempts INTEGER, created_at {ts}, updated_at {ts}, started_at {ts}, "
                f"finished_at {ts})"
            )
        )
        conn.execute(
            text(
                f"CREATE TABLE {prefix}jobs (id VARCHAR(64) PRIMARY KEY, tenant VARCHAR(128), kind VARCHAR(32), "
                "status VARCHAR(16), request JSON, total INTEGER, done INTEGER, rows JSON, error TEXT, "
                f"created_at {ts}, updated_at {ts}, started_at {ts}, finished_at {ts})"
            )
        )
        conn.execute(
            text(
                f"INSERT INTO {prefix}plans (id, tenant, status, name, objective_kind, request, request_hash, "
                "plan, attempts, created_at, updated_at) VALUES ('old', 't', 'queued', 'p', 'min_cost', '{}', "
                "'h', '{}', 0, :now, :now)"
            ),
            {"now": utcnow().replace(tzinfo=None) if not url.startswith("postgresql") else utcnow()},
        )
    engine.dispose()


class TestUpgrade:
    def test_old_tables_get_the_lease_columns_and_keep_their_rows(
        self, url_schema: tuple[str, str | None]
    ) -> None:
        url, schema = url_schema
        _old_tables(url, schema)
        s = Store(url, schema=schema, owner="a")
        s.create_all()
        s.create_all()  # idempotent
        insp = inspect(s.engine)
        assert {"owner", "lease_expires_at", "inflight_hash"} <= {
            c["name"] for c in insp.get_columns("plans", schema=schema)
        }
        assert {"owner", "lease_expires_at"} <= {c["name"] for c in insp.get_columns("jobs", schema=schema)}
        assert [r.id for r in s.claim_plans()] == ["old"]  # an old unfinished plan: nobody holds it
        s.insert_plan(plan_row("n1", owner="a", inflight_hash="y"))
        with pytest.raises(DuplicateRequest):  # the unique index was added too
            s.insert_plan(plan_row("n2", owner="a", inflight_hash="y"))
        s.dispose()


class TestPostgresConcurrency:
    @pytest.fixture
    def schema(self, pg_schema: str) -> str:
        return pg_schema

    def test_replicas_starting_together_create_the_tables_once(self, schema: str) -> None:
        errors: list[BaseException] = []

        def start(i: int) -> None:
            s = Store(PG_URL, schema=schema, owner=f"r{i}")
            try:
                s.create_all()
            except BaseException as exc:
                errors.append(exc)
            finally:
                s.dispose()

        threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    def test_concurrent_claimers_never_share_a_row(self, schema: str) -> None:
        owners = [f"r{i}" for i in range(4)]
        claimers = [Store(PG_URL, schema=schema, owner=o) for o in owners]
        claimers[0].create_all()
        t0 = utcnow()
        for i in range(300):
            claimers[0].insert_plan(plan_row(f"p{i:03d}", created_at=t0 + dt.timedelta(microseconds=i)))
        got: dict[str, list[str]] = {o: [] for o in owners}
        barrier = threading.Barrier(len(claimers))

        def claim(s: Store) -> None:
            barrier.wait()
            while rows := s.claim_plans(limit=7):
                assert s.owner is not None
                got[s.owner] += [r.id for r in rows]

        threads = [threading.Thread(target=claim, args=(s,)) for s in claimers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        everything = [p for ids in got.values() for p in ids]
        assert len(everything) == len(set(everything)) == 300  # each plan claimed exactly once
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            owner_of = dict(conn.execute(text(f'SELECT id, owner FROM "{schema}".plans')).all())
        engine.dispose()
        assert all(owner_of[p] == o for o, ids in got.items() for p in ids)
        for s in claimers:
            s.dispose()


class TestFencing:
    def test_a_replica_stops_the_solve_of_a_plan_another_replica_took(self, tmp_path: Path) -> None:
        runner = h.ManualRunner()
        app = create_app(h.make_settings(tmp_path, replica_id="a", lease_s=600), runner=runner)
        with TestClient(app) as c:
            r = c.post("/v1/plans", json=h.small_request(), headers={"Prefer": "respond-async"})
            assert r.status_code == 202
            plan_id = r.json()["id"]
            assert plan_id in runner.futures
            state = app.state.capplan
            engine = create_engine(state.settings.database_url)
            with engine.begin() as conn:  # another replica took it over (a stalled past its lease)
                conn.execute(text("UPDATE plans SET owner = 'b' WHERE id = :id"), {"id": plan_id})
            engine.dispose()
            began = time.monotonic()
            owned = state.store.renew_leases()
            assert plan_id not in owned.plans
            assert state.plans.fence(owned.plans, began) == 1
            assert plan_id not in runner.futures  # cancelled here
            row = state.store.get_plan("default", plan_id)
            assert row is not None and (row.status, row.owner) == ("queued", "b")  # left to b

    def test_a_plan_submitted_during_the_renewal_is_not_fenced(self, tmp_path: Path) -> None:
        runner = h.ManualRunner()
        app = create_app(h.make_settings(tmp_path, replica_id="a", lease_s=600), runner=runner)
        with TestClient(app) as c:
            state = app.state.capplan
            began = time.monotonic()
            owned = state.store.renew_leases()  # read before the plan exists
            r = c.post("/v1/plans", json=h.small_request(), headers={"Prefer": "respond-async"})
            assert state.plans.fence(owned.plans, began) == 0
            assert r.json()["id"] in runner.futures


def held_running(state: Any, plan_id: str, *, demand: float, attempts: int) -> None:
    """A running plan of replica "a" (lease in the future) for ``small_request(demand)``."""
    body = state.plans.prepare(h.small_request(demand=demand))
    state.store.insert_plan(
        plan_row(
            plan_id,
            status="running",
            owner="a",
            lease=FUTURE,
            tenant="default",
            request=body.canonical,
            request_hash=body.hash,
            attempts=attempts,
        )
    )


class TestOrphans:
    def test_a_plan_held_here_but_run_nowhere_is_run_again(self, tmp_path: Path) -> None:
        from service.jobs.leases import LeaseKeeper

        runner = h.ManualRunner()
        app = create_app(h.make_settings(tmp_path, replica_id="a", lease_s=600), runner=runner)
        with TestClient(app) as c:
            h.settled(runner, app)
            state = app.state.capplan
            # as after a result that could not be recorded (database outage): ours, running, idle
            held_running(state, "orphan", demand=4200, attempts=1)
            keeper = LeaseKeeper(state.store, state.plans, state.scenarios, lease_s=600)
            keeper.tick()
            assert "orphan" not in runner.futures  # one round: maybe just being submitted
            keeper.tick()
            assert "orphan" in runner.futures  # two rounds: released, claimed, queued again
            runner.finish("orphan", None, run=True)
            got = c.get("/v1/plans/orphan").json()
            assert got["status"] == "optimal" and got["objective"]["value"] == pytest.approx(4200.0)
            row = state.store.get_plan("default", "orphan")
            assert row is not None and (row.owner, row.attempts) == ("a", 2)


class TestAbandoned:
    def test_a_plan_started_max_attempts_times_fails_and_is_counted(self, tmp_path: Path) -> None:
        # As after the service died during each of its starts: attempts at the limit.  At the
        # next start the plan is marked failed (not solved again) and counted as a failed solve.
        settings = h.make_settings(tmp_path, replica_id="a", max_attempts=2)
        first = create_app(settings, runner=h.ManualRunner())
        with TestClient(first) as c:
            held_running(first.state.capplan, "crasher", demand=4300, attempts=2)
        runner = h.ManualRunner()
        app = create_app(settings, runner=runner)
        with TestClient(app) as c:
            got = c.get("/v1/plans/crasher").json()
            assert got["status"] == "failed" and "abandoned after 2 attempts" in got["solver"]["detail"]
            assert "crasher" not in runner.futures
            assert app.state.capplan.metrics.solves.labels("failed")._value.get() == 1


@pytest.mark.slow
class TestLocalReplicas:
    def test_a_killed_replica_s_plans_are_finished_by_the_other(self, tmp_path: Path) -> None:
        reason = postgres_missing()
        if reason:
            pytest.skip(reason)
        with pg_schema() as schema:
            env = {
                "CAPPLAN_RUNNER": "local",
                "CAPPLAN_WORKERS": "1",
                "CAPPLAN_DATABASE_URL": PG_URL,
                "CAPPLAN_DATABASE_SCHEMA": schema,
                "CAPPLAN_LEASE_S": "2",
            }
            with replicas(tmp_path, ["a", "b"], {**os.environ, **env}) as (a, b):
                ids = []
                for tag in range(3):
                    r = a.post(
                        "/v1/plans",
                        json=h.slow_request(time_limit_s=2, tag=tag),
                        headers={"Prefer": "respond-async"},
                    )
                    assert r.status_code == 202
                    ids.append(r.json()["id"])
                deadline = time.monotonic() + 60
                while a.get(f"/v1/plans/{ids[0]}").json()["status"] != "running":
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                a.kill()
                assert all(b.get(f"/v1/plans/{i}").json()["id"] == i for i in ids)  # B serves them
                finished = []
                for plan_id in ids:
                    deadline = time.monotonic() + 120
                    while (body := b.get(f"/v1/plans/{plan_id}").json())["status"] in ("queued", "running"):
                        assert time.monotonic() < deadline, f"{plan_id} stuck"
                        time.sleep(0.1)
                    finished.append(body)
            engine = create_engine(PG_URL)
            with engine.connect() as conn:
                rows = {
                    r[0]: (r[1], r[2])
                    for r in conn.execute(text(f'SELECT id, owner, attempts FROM "{schema}".plans'))
                }
            engine.dispose()
        assert all(p["status"] in ("optimal", "feasible") for p in finished), finished
        assert all(p["objective"]["value"] is not None and p["periods"] for p in finished)
        assert {rows[i][0] for i in ids} == {"b"}  # B recorded all three
        assert rows[ids[0]][1] == 2  # started by A, then again by B
        assert [rows[i][1] for i in ids[1:]] == [1, 1]  # queued at A, started once, by B


@pytest.fixture
def pg_url_schema() -> Iterator[tuple[str, str | None]]:
    reason = postgres_missing()
    if reason:
        pytest.skip(reason)
    with pg_schema() as schema:
        yield PG_URL, schema


class TestClockSkew:
    """Leases are written and judged on the database's clock, not each replica's."""

    def skewed(self, url_schema: tuple[str, str | None], skew: dt.timedelta) -> tuple[Store, Store]:
        url, schema = url_schema
        a = Store(url, schema=schema, owner="a", clock=lambda: utcnow() + skew)
        b = Store(url, schema=schema, owner="b")
        a.create_all()  # measures a's skew
        b.sync_clock()
        return a, b

    def test_a_replica_whose_clock_is_behind_keeps_its_lease(
        self, pg_url_schema: tuple[str, str | None]
    ) -> None:
        # a's clock is 10 minutes behind: on its own clock its 30 s lease would have expired
        # 9.5 minutes ago for b, which would take over a plan a is solving.
        a, b = self.skewed(pg_url_schema, -dt.timedelta(minutes=10))
        assert a.sync_clock() == pytest.approx(dt.timedelta(minutes=10), abs=dt.timedelta(seconds=5))
        a.insert_plan(plan_row("p", owner="a", lease_expires_at=a.lease_until()))
        assert b.claim_plans() == []
        assert a.renew_leases().plans == {"p"}
        assert b.claim_plans() == []
        a.dispose()
        b.dispose()

    def test_a_replica_whose_clock_is_ahead_does_not_take_live_leases(
        self, pg_url_schema: tuple[str, str | None]
    ) -> None:
        a, b = self.skewed(pg_url_schema, dt.timedelta(minutes=10))
        b.insert_plan(plan_row("p", owner="b", lease_expires_at=b.lease_until()))
        assert a.claim_plans() == []  # on a's own clock the lease ended 9.5 minutes ago
        a.dispose()
        b.dispose()

    def test_sqlite_keeps_the_machine_clock(self, tmp_path: Path) -> None:
        s = Store(f"sqlite:///{tmp_path / 'c.db'}", owner="a")
        s.create_all()
        assert s.sync_clock() == dt.timedelta(0)
        s.dispose()
