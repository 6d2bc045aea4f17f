"""Scale-out for real: a two-node Ray cluster, two ``capplan serve`` replicas, one PostgreSQL.

Each test starts its own cluster (:mod:`tests.helpers.ray_cluster`): a Ray head and a worker
node, each ``--num-cpus=1`` and its own process group — the worker in a network namespace of
its own (a separate host at its own IP behind a veth pair) when this process may create one,
else a plain process — and two API replicas (``CAPPLAN_RUNNER=ray``) on a fresh PostgreSQL
schema.  Everything is killed and dropped in the fixtures' teardown, also on failure.

* A 40-scenario sweep posted to one replica and read from the other runs on both nodes
  (every plan records its Ray node id) and every row equals a separate local
  ``solver.plan``; identical requests (hand-solved) and Idempotency-Keys sent to both
  replicas at once give one plan.
* The worker node is SIGKILLed while it runs a scenario batch: every scenario still ends —
  solved on the head (the batch is submitted once more) or ``failed`` naming the lost node.
* One replica is SIGKILLed with plans and a sweep in flight: the other serves every plan
  at once and, when the dead replica's leases expire, finishes its work.

Skipped (saying why) only if Ray or the PostgreSQL server is unavailable.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from solver import plan
from tests.helpers import service as h
from tests.helpers.ray_cluster import (
    PG_URL,
    RayCluster,
    Replica,
    medium_request,
    pg_schema,
    postgres_missing,
    ray_cluster,
    ray_missing,
    replicas,
)

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]

LEASE_S = 3.0
SIZES = (120, 122, 124, 126, 128, 130)
FINISHED = ("optimal", "feasible", "infeasible", "unbounded", "time_limit", "failed")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RayCluster]:
    reason = ray_missing() or postgres_missing()
    if reason:
        pytest.skip(reason)
    with ray_cluster(workers=1) as c:
        assert {n.node_id for n in c.nodes} and all(n.node_id for n in c.nodes), c.nodes
        yield c


@pytest.fixture
def schema(cluster: RayCluster) -> Iterator[str]:
    with pg_schema() as s:
        yield s


def replica_env(cluster: RayCluster, schema: str) -> dict[str, str]:
    return {
        **cluster.env(),
        "CAPPLAN_RUNNER": "ray",
        "CAPPLAN_RAY_ADDRESS": cluster.address,
        "CAPPLAN_DATABASE_URL": PG_URL,
        "CAPPLAN_DATABASE_SCHEMA": schema,
        "CAPPLAN_LEASE_S": str(LEASE_S),
        "CAPPLAN_SOLVE_GRACE_S": "5",
        "CAPPLAN_SHUTDOWN_GRACE_S": "2",
    }


def wait_job(replica: Replica, location: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = replica.get(location).json()
        if body["status"] in ("done", "failed"):
            return dict(body)
        assert time.monotonic() < deadline, (
            f"{location} stuck: {body['status']} {body['done']}/{body['total']}"
        )
        time.sleep(0.2)


def wait_plan(replica: Replica, plan_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = replica.get(f"/v1/plans/{plan_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in FINISHED:
            return dict(body)
        assert time.monotonic() < deadline, f"plan {plan_id} stuck in {body['status']}"
        time.sleep(0.2)


def db_rows(schema: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql.replace("{s}", f'"{schema}"')), params))
    finally:
        engine.dispose()


def running_on(cluster: RayCluster, node_name: str) -> bool:
    """Whether a Ray worker process of that node is executing a capplan task right now."""
    node = next(n for n in cluster.nodes if n.name == node_name)
    for pid in cluster.pids(node):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::capplan:"):  # the task's name while it runs ("ray::IDLE" between)
            return True
    return False


# ----------------------------------------------------------------------------- tests


class TestTwoNodeSweep:
    def test_a_sweep_spreads_over_both_nodes_and_equals_local_solves(
        self, cluster: RayCluster, schema: str, tmp_path: Path
    ) -> None:
        demands = [20000.0 + 5000.0 * k for k in range(8)]
        factors = [0.8, 0.9, 1.0, 1.1, 1.2]
        body = {
            "base": medium_request(periods=48),
            "parameters": [
                {"path": "workloads/w0/demand_tokens_per_s", "values": demands},
                {"path": "hardware/h0/unit_price_usd", "scale": factors},
            ],
        }
        with replicas(tmp_path, ["api-a", "api-b"], replica_env(cluster, schema), expect_nodes=2) as (a, b):
            r = a.post("/v1/sweeps", json=body)
            assert r.status_code == 202, r.text
            job = wait_job(b, r.headers["location"])  # read through the other replica
            assert job["status"] == "done" and job["total"] == job["done"] == 40

            # every row equals a separate local solve of the same scenario
            ran_on: set[str] = set()
            for row in job["rows"]:
                req = medium_request(periods=48)
                req["workloads"][0]["demand_tokens_per_s"] = row["values"]["workloads/w0/demand_tokens_per_s"]
                req["hardware"][0]["unit_price_usd"] *= row["factors"]["hardware/h0/unit_price_usd"]
                local = plan(req)
                assert row["status"] == local.status == "optimal"
                assert row["objective"] == pytest.approx(local.objective.value, rel=1e-6)
                stored = (a if row["index"] % 2 else b).get(f"/v1/plans/{row['plan_id']}").json()
                assert stored["objective"]["value"] == pytest.approx(row["objective"], rel=1e-12)
                ran_on.add(stored["solver"]["worker"])
            assert sorted(
                (
                    row["values"]["workloads/w0/demand_tokens_per_s"],
                    row["factors"]["hardware/h0/unit_price_usd"],
                )
                for row in job["rows"]
            ) == sorted(itertools.product(demands, factors))
            assert ran_on == {f"ray:{n.node_id}" for n in cluster.nodes}, (ran_on, cluster.isolation)
            assert db_rows(schema, "SELECT count(*) FROM {s}.plans")[0][0] == 40

            # identical requests at both replicas at once: one plan, whichever replica wins
            # (hand solution of the small request: demand/1000 units at $1000)
            for demand in (1234.0, 2345.0, 3456.0):
                req = h.small_request(demand=demand)
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    got = list(pool.map(lambda rep, body=req: rep.post("/v1/plans", json=body), (a, b)))
                assert {g.status_code for g in got} <= {200, 201} and 201 in {g.status_code for g in got}
                assert got[0].json()["id"] == got[1].json()["id"]
                assert got[0].json()["objective"]["value"] == pytest.approx(demand, rel=1e-9)
            assert db_rows(schema, "SELECT count(*) FROM {s}.plans")[0][0] == 43

            # an Idempotency-Key holds across replicas; reused with another body it is a 409
            key = {"Idempotency-Key": "cross-replica-1"}
            first = a.post("/v1/plans", json=h.small_request(demand=777), headers=key)
            again = b.post("/v1/plans", json=h.small_request(demand=777), headers=key)
            assert first.status_code == 201 and again.status_code == 200
            assert again.json()["id"] == first.json()["id"]
            clash = b.post("/v1/plans", json=h.small_request(demand=778), headers=key)
            assert clash.status_code == 409 and clash.json()["plan_id"] == first.json()["id"]

            # a synchronous POST at B of a plan A is solving waits for A's result
            slow = medium_request(periods=96)
            queued = a.post("/v1/plans", json=slow, headers={"Prefer": "respond-async"})
            assert queued.status_code == 202
            waited = b.post("/v1/plans", json=slow)
            assert waited.status_code == 200 and waited.json()["id"] == queued.json()["id"]
            assert waited.json()["status"] == "optimal"
            assert waited.json()["objective"]["value"] == pytest.approx(plan(slow).objective.value, rel=1e-6)


class TestFaults:
    def test_losing_the_worker_node_mid_sweep_loses_no_scenario(
        self, cluster: RayCluster, schema: str, tmp_path: Path
    ) -> None:
        prices = [0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
        demands = [30000.0, 40000.0, 50000.0, 60000.0, 70000.0]
        body = {
            "base": medium_request(),
            "parameters": [
                {"path": "hardware/h0/unit_price_usd", "scale": prices},
                {"path": "workloads/w0/demand_tokens_per_s", "values": demands},
            ],
        }
        worker = next(n for n in cluster.nodes if n.name == "worker1")
        with replicas(tmp_path, ["api-a", "api-b"], replica_env(cluster, schema), expect_nodes=2) as (a, b):
            loc = a.post("/v1/sweeps", json=body).headers["location"]
            deadline = time.monotonic() + 240
            while not running_on(cluster, "worker1"):  # strike while the worker runs a batch
                assert time.monotonic() < deadline, "no batch ever ran on the worker node"
                assert a.get(loc).json()["status"] != "done", "the sweep finished before the kill"
                time.sleep(0.05)
            done_before = a.get(loc).json()["done"]
            killed = cluster.kill_node(worker)
            assert killed > 0
            job = wait_job(b, loc, timeout=300)
            log = a.log.read_text()

        assert job["status"] == "done" and job["total"] == job["done"] == 30, job
        assert sorted(r["index"] for r in job["rows"]) == list(range(30))  # none lost, none twice
        assert done_before < 30
        solved = [r for r in job["rows"] if r["status"] == "optimal"]
        failed = [r for r in job["rows"] if r["status"] != "optimal"]
        for r in failed:  # at most a batch lost twice: it says why
            assert r["status"] == "failed" and "Ray node running the solve was lost" in (r["error"] or ""), r
        # the kill hit a running batch: it was submitted again (or failed, saying so)
        assert "lost with its Ray node" in log or failed, log[-3000:]
        for r in solved:
            req = medium_request()
            factor = r["factors"]["hardware/h0/unit_price_usd"]
            req["hardware"][0]["unit_price_usd"] *= factor
            req["workloads"][0]["demand_tokens_per_s"] = r["values"]["workloads/w0/demand_tokens_per_s"]
            assert r["objective"] == pytest.approx(plan(req).objective.value, rel=1e-6)

    def test_a_killed_replica_s_plans_and_sweep_are_finished_by_the_other(
        self, cluster: RayCluster, schema: str, tmp_path: Path
    ) -> None:
        env = replica_env(cluster, schema)
        with replicas(tmp_path, ["api-a", "api-b"], env, expect_nodes=2) as (a, b):
            ids = []
            for periods in SIZES:
                r = a.post("/v1/plans", json=medium_request(periods), headers={"Prefer": "respond-async"})
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])
            demands = [30000.0 + 5000 * k for k in range(8)]
            sweep = {
                "base": medium_request(),
                "parameters": [{"path": "workloads/w0/demand_tokens_per_s", "values": demands}],
            }
            loc = a.post("/v1/sweeps", json=sweep).headers["location"]
            deadline = time.monotonic() + 120
            while not any(p["status"] == "running" for p in (a.get(f"/v1/plans/{i}").json() for i in ids)):
                assert time.monotonic() < deadline, "nothing started"
                time.sleep(0.05)
            a.kill()

            # B serves every plan at once (queued, running or done) ...
            for i in ids:
                assert b.get(f"/v1/plans/{i}").status_code == 200
            # ... and finishes all of A's work once A's leases expire
            finished = {i: wait_plan(b, i) for i in ids}
            job = wait_job(b, loc)

        for periods, i in zip(SIZES, ids, strict=True):
            assert finished[i]["status"] == "optimal"
            assert finished[i]["objective"]["value"] == pytest.approx(
                plan(medium_request(periods)).objective.value, rel=1e-6
            )
        rows = {r[0]: r for r in db_rows(schema, "SELECT id, owner, attempts FROM {s}.plans")}
        taken = [i for i in ids if rows[i][1] == "api-b"]
        assert taken, "B took over none of A's plans"
        assert all(rows[i][2] <= 2 for i in ids)  # started at most once by A and once by B
        assert job["status"] == "done" and sorted(r["index"] for r in job["rows"]) == list(range(8))
        for r in job["rows"]:
            req = medium_request()
            req["workloads"][0]["demand_tokens_per_s"] = r["values"]["workloads/w0/demand_tokens_per_s"]
            assert r["status"] == "optimal"
            assert r["objective"] == pytest.approx(plan(req).objective.value, rel=1e-6)
        owner = db_rows(schema, "SELECT owner FROM {s}.jobs")[0][0]
        assert owner == "api-b"
