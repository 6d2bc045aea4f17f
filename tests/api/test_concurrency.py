"""Many solves at once: they queue and finish, the event loop keeps answering, the queue is bounded."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.api.errors import PROBLEM_BASE
from tests.helpers import service as h


class TestManySolves:
    def test_simultaneous_solves_all_finish_while_healthz_answers(self, tmp_path: Path) -> None:
        with h.app_client(tmp_path, workers=2, queue_limit=50) as c:
            # Two slow solves hold both workers; twelve small ones queue behind them.
            slow = [
                c.post("/v1/plans", json=h.slow_request(2, tag=i), headers={"Prefer": "respond-async"})
                for i in range(2)
            ]
            assert [r.status_code for r in slow] == [202, 202]
            for r in slow:
                h.wait_status(c, r.headers["location"], "running")

            health: list[int] = []
            stop = threading.Event()

            def poll() -> None:
                while not stop.is_set():
                    health.append(c.get("/healthz").status_code)

            poller = threading.Thread(target=poll)
            poller.start()
            demands = [1000.0 * (i + 1) for i in range(12)]
            try:
                with ThreadPoolExecutor(12) as pool:
                    answers = list(
                        pool.map(lambda d: c.post("/v1/plans", json=h.small_request(demand=d)), demands)
                    )
                health_while_busy = len(health)
            finally:
                stop.set()
                poller.join()
            assert [r.status_code for r in answers] == [201] * 12
            assert [r.json()["objective"]["value"] for r in answers] == pytest.approx(demands)
            assert len({r.json()["id"] for r in answers}) == 12
            # /healthz was answered (and only with 200) while every worker was busy
            assert health_while_busy > 0
            assert set(health) == {200}
            for r in slow:
                assert h.wait_finished(c, r.headers["location"])["status"] in ("feasible", "optimal")


class TestQueueLimit:
    def test_full_queue_answers_429_with_retry_after(self, tmp_path: Path) -> None:
        # One worker, two places in the queue: three solves are accepted, the rest refused.
        with h.app_client(tmp_path, workers=1, queue_limit=2) as c:
            answers = [
                c.post("/v1/plans", json=h.slow_request(60, tag=i), headers={"Prefer": "respond-async"})
                for i in range(6)
            ]
            codes = [r.status_code for r in answers]
            assert codes == [202, 202, 202, 429, 429, 429]
            refused = answers[3]
            assert refused.json()["type"] == PROBLEM_BASE + "queue-full"
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["retry_after_s"] == int(refused.headers["retry-after"])
            # refused requests left nothing behind
            listed = c.get("/v1/plans").json()["items"]
            assert sorted(i["id"] for i in listed) == sorted(r.json()["id"] for r in answers[:3])
            for r in answers[:3]:
                assert c.delete(r.headers["location"]).status_code == 204
            # room again
            assert c.post("/v1/plans", json=h.small_request()).status_code == 201
