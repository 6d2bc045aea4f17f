"""End to end: ``capplan serve`` as a real process, killed with SIGKILL mid-solve, then restarted.

Nothing accepted is lost: the plan that was running when the server died is solved by the
next server.  A SIGTERM (graceful stop) re-queues a running solve the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.jobs.store import Store
from tests.helpers import service as h

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).parent / "capplan"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


@contextmanager
def serve(tmp: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    environ = {
        **os.environ,
        "CAPPLAN_DATABASE_URL": f"sqlite:///{tmp / 'e2e.db'}",
        "CAPPLAN_WORKERS": "1",
        "CAPPLAN_LOG_LEVEL": "warning",
        **env,
    }
    log = open(tmp / f"serve-{port}.log", "wb")
    proc = subprocess.Popen(
        [*_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / f"serve-{port}.log").read_text()
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        log.close()


def _status_in_db(tmp: Path, plan_id: str) -> str:
    store = Store(f"sqlite:///{tmp / 'e2e.db'}")
    try:
        row = store.get_plan("default", plan_id)
        assert row is not None
        return row.status
    finally:
        store.dispose()


def _wait(base: str, loc: str, statuses: tuple[str, ...], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(base + loc, timeout=10).json()
        if body["status"] in statuses:
            return dict(body)
        assert time.monotonic() < deadline, f"{loc} stuck in {body['status']}"
        time.sleep(0.1)


class TestServeSurvivesKill:
    def test_sigkill_mid_solve_then_restart_finishes_the_plan(self, tmp_path: Path) -> None:
        with serve(tmp_path) as (proc, base):
            r = httpx.post(
                base + "/v1/plans",
                json=h.slow_request(time_limit_s=4),
                headers={"Prefer": "respond-async"},
                timeout=30,
            )
            assert r.status_code == 202, r.text
            loc = r.headers["location"]
            plan_id = r.json()["id"]
            _wait(base, loc, ("running",))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        assert _status_in_db(tmp_path, plan_id) == "running"  # died mid-solve, as intended
        with serve(tmp_path) as (_, base):
            done = _wait(base, loc, ("optimal", "feasible", "time_limit", "failed", "infeasible"))
            assert done["status"] in ("optimal", "feasible")
            assert done["id"] == plan_id
            assert done["objective"]["value"] is not None
            assert done["periods"], "a finished plan has its tables"

    def test_sigterm_requeues_a_running_solve(self, tmp_path: Path) -> None:
        with serve(tmp_path, CAPPLAN_SHUTDOWN_GRACE_S="0.5") as (proc, base):
            r = httpx.post(
                base + "/v1/plans",
                json=h.slow_request(time_limit_s=30),
                headers={"Prefer": "respond-async"},
                timeout=30,
            )
            loc, plan_id = r.headers["location"], r.json()["id"]
            _wait(base, loc, ("running",))
            proc.send_signal(signal.SIGTERM)
            # uvicorn re-raises the signal once shut down, so the exit status is -SIGTERM
            assert proc.wait(60) in (0, -signal.SIGTERM)
        assert _status_in_db(tmp_path, plan_id) == "queued"
        with serve(tmp_path, CAPPLAN_MAX_TIME_LIMIT_S="3") as (_, base):
            done = _wait(base, loc, ("optimal", "feasible", "time_limit", "failed", "infeasible"))
            assert done["status"] in ("optimal", "feasible")

    def test_sigterm_answers_waiting_synchronous_posts_within_the_grace(self, tmp_path: Path) -> None:
        # One solve runs, one waits; both POSTs are synchronous.  The stop used to wait for
        # their connections before draining the runner: 33 s at a 3 s grace, then a plain
        # 500.  Now the runner drains at once: both answer 503 with Location, exit in time.
        import threading

        answers: dict[int, httpx.Response] = {}
        with serve(tmp_path, CAPPLAN_SHUTDOWN_GRACE_S="2") as (proc, base):

            def post(i: int) -> None:
                body = h.slow_request(time_limit_s=60, tag=i)
                answers[i] = httpx.post(base + "/v1/plans", json=body, timeout=120)

            threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while httpx.get(base + "/readyz", timeout=5).json().get("running", 0) < 1:
                assert time.monotonic() < deadline, "the solve never started"
                time.sleep(0.05)
            time.sleep(0.3)  # the second POST is queued behind the first
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) in (0, -signal.SIGTERM)
            assert time.monotonic() - t0 < 2 + 8  # the grace, and the rest of the stop
            for t in threads:
                t.join(30)
        for r in answers.values():
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
            plan_id = r.headers["location"].rsplit("/", 1)[1]
            assert _status_in_db(tmp_path, plan_id) == "queued"  # solved after the next start
        assert len(answers) == 2
