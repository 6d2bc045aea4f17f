"""Requests, settings and worker functions shared by the service tests.

Functions given to a job runner must be top-level (they are pickled by reference and run
in worker processes), so they live here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.errors import PROBLEM_BASE, PROBLEM_JSON
from service.api.observability import JsonFormatter
from service.settings import Settings

UNIT_PRICE = 1000.0
TOKENS_PER_UNIT = 1000.0
UNIT_KW = 10.0


def small_request(demand: float = 5000.0, power_mw: float = 10.0, **extra: Any) -> dict[str, Any]:
    """One site, one hardware, one workload, two quarters, no residual value.

    Hand solution: demand/1000 units at $1000 each, so NPV cost = demand dollars; each
    unit draws 10 kW (infeasible when power_mw < units·0.01).
    """
    req: dict[str, Any] = {
        "name": "tiny",
        "horizon": {"periods": 2},
        "economics": {"residual_value": False},
        "sites": [{"id": "s1", "power_mw": power_mw}],
        "hardware": [
            {
                "id": "h1",
                "vendor": "v",
                "it_power_kw": UNIT_KW,
                "unit_price_usd": UNIT_PRICE,
                "performance": {
                    "m": {"points": [{"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": TOKENS_PER_UNIT}]}
                },
            }
        ],
        "workloads": [
            {"id": "w", "model": "m", "min_tokens_per_s_per_user": 10, "demand_tokens_per_s": demand}
        ],
    }
    req.update(extra)
    return req


def slow_request(time_limit_s: float, tag: int = 0) -> dict[str, Any]:
    """An integer plan that HiGHS cannot prove optimal quickly (mip_gap 0): it runs to its limit.

    3 sites with tight, growing power; 6 hardware options with replica sizes 1-3; 4
    workloads; 12 monthly periods (~1,100 variables).  ``tag`` changes the name (and so the hash).
    """
    periods = 12
    return {
        "name": f"slow-{tag}",
        "horizon": {"periods": periods, "period_months": 1},
        "sites": [
            {
                "id": f"s{i}",
                "power_mw": [0.37 + 0.05 * i + 0.01 * t for t in range(periods)],
                "energy_usd_per_mwh": 50 + i,
            }
            for i in range(3)
        ],
        "hardware": [
            {
                "id": f"h{j}",
                "vendor": f"v{j % 3}",
                "it_power_kw": 7 + j * 1.3,
                "unit_price_usd": 1000 + 37 * j,
                "performance": {
                    f"m{k}": {
                        "units_per_replica": 1 + (j + k) % 3,
                        "points": [
                            {"tokens_per_s_per_user": 10, "tokens_per_s_per_unit": 1000 + 13 * j + 7 * k}
                        ],
                    }
                    for k in range(4)
                },
            }
            for j in range(6)
        ],
        "workloads": [
            {
                "id": f"w{k}",
                "model": f"m{k}",
                "min_tokens_per_s_per_user": 10,
                "min_service_fraction": 0.5,
                "unmet_penalty_usd_per_million_tokens": 3,
                "demand_tokens_per_s": [3000 + 1111 * k + 97 * t for t in range(periods)],
            }
            for k in range(4)
        ],
        "policy": {"max_vendor_share": {"v0": 0.5}},
        "solver": {"integer": True, "time_limit_s": time_limit_s, "mip_gap": 0},
    }


def make_settings(tmp: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp / 'capplan.db'}",
        "workers": 2,
        "log_json": False,
        "log_level": "warning",
    }
    values.update(kw)
    return Settings(**values)


# ----------------------------------------------------------------------------- worker functions


def echo(payload: Any) -> Any:
    return {"echo": payload}


def add(payload: dict[str, float]) -> float:
    return payload["a"] + payload["b"]


def sleep_then(payload: dict[str, Any]) -> Any:
    time.sleep(float(payload["seconds"]))
    return payload.get("value")


def raise_value_error(payload: Any) -> Any:
    raise ValueError("bad thing")


def die(payload: Any) -> Any:
    """Kill the worker the hard way, as a segfaulting solver would."""
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)


def worker_pid(payload: Any) -> int:
    return os.getpid()


@contextlib.contextmanager
def app_client(tmp: Path, **settings: Any) -> Iterator[TestClient]:
    """A TestClient over a fresh app (lifespan run), once its workers are ready."""
    with TestClient(create_app(make_settings(tmp, **settings))) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.05)
        yield client


@contextlib.contextmanager
def uvicorn_client(app: Any) -> Iterator[Any]:
    """``app`` served by a real uvicorn on a free port (in a thread), and an httpx client on it
    that never retries: a reset connection fails the test.  Stops the server afterwards."""
    import asyncio

    import httpx
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        transport = httpx.HTTPTransport(retries=0)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(20)


def wait_finished(client: TestClient, location: str, timeout: float = 120.0, **kw: Any) -> dict[str, Any]:
    """Poll a plan until it leaves queued/running."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(location, **kw).json()
        if body["status"] not in ("queued", "running"):
            return dict(body)
        assert time.monotonic() < deadline, f"{location} still {body['status']}"
        time.sleep(0.05)


def wait_status(client: TestClient, location: str, status: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get(location).json()["status"] != status:
        assert time.monotonic() < deadline, f"{location} never became {status}"
        time.sleep(0.02)


def wait_ready(runner: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not runner.ready()[0]:
        assert time.monotonic() < deadline, runner.ready()[1]
        time.sleep(0.05)


def settled(runner: ManualRunner, app: Any) -> None:
    """Make ``runner``'s reports return once ``app`` (started) has written them."""
    runner.settle = app.state.capplan.plans.flush_records


class ManualRunner:
    """A JobRunner whose jobs finish when the test says so (service-level outcomes).

    The service writes starts and results on its recorder thread: ``settle`` (set to the
    plan service's ``flush_records`` by :func:`settled`) makes :meth:`begin` and :meth:`finish`
    return once they are written.
    """

    def __init__(self, ready: bool = True) -> None:
        self.is_ready = ready
        self.jobs: dict[str, tuple[Any, Any, Any]] = {}
        self.futures: dict[str, Any] = {}
        self.stopped = False
        self.settle: Any = None

    def start(self) -> None:
        pass

    def submit(
        self,
        job_id: str,
        fn: Any,
        payload: Any,
        *,
        time_limit_s: float,
        on_start: Any = None,
        force: bool = False,
    ) -> Any:
        from concurrent.futures import Future

        fut: Future[Any] = Future()
        self.jobs[job_id] = (fn, payload, on_start)
        self.futures[job_id] = fut
        return fut

    def begin(self, job_id: str) -> None:
        """A worker picks the job up (its start is written)."""
        on_start = self.jobs[job_id][2]
        if on_start is not None:
            on_start()
        self._settle()

    def finish(self, job_id: str, result: Any, run: bool = False) -> None:
        fn, payload, on_start = self.jobs[job_id]
        if on_start is not None:
            on_start()
        if run:
            from service.jobs.runner import JobResult

            result = JobResult("done", value=fn(payload), seconds=0.01)
        self.futures.pop(job_id).set_result(result)
        self._settle()

    def _settle(self) -> None:
        if self.settle is not None:
            assert self.settle(10), "the service did not write the runner's report within 10 s"

    def cancel(self, job_id: str) -> bool:
        from service.jobs.runner import JobResult

        fut = self.futures.pop(job_id, None)
        if fut is None:
            return False
        fut.set_result(JobResult("cancelled"))
        return True

    def queue_depth(self) -> int:
        return len(self.futures)

    def running(self) -> int:
        return 0

    def ready(self) -> tuple[bool, str]:
        return (self.is_ready, "manual runner" if self.is_ready else "manual runner not ready")

    def shutdown(self, grace_s: float) -> None:
        from service.jobs.runner import JobResult

        self.stopped = True
        for job_id in list(self.futures):
            self.futures.pop(job_id).set_result(JobResult("interrupted", error="stopped"))


@contextlib.contextmanager
def json_log_lines(logger_name: str) -> Iterator[list[dict[str, Any]]]:
    """The INFO-and-above lines of ``logger_name`` while the block runs, as the JSON objects
    the service writes (formatted in the thread that logs, so that its request id shows)."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    logger = logging.getLogger(logger_name)
    handler, level = Collect(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def wait_for_line(lines: list[dict[str, Any]], key: str, value: str, timeout: float = 5.0) -> dict[str, Any]:
    """The one line whose ``key`` is ``value``, once it has been written."""
    deadline = time.monotonic() + timeout
    while not any(line.get(key) == value for line in lines):
        assert time.monotonic() < deadline, lines
        time.sleep(0.01)
    [line] = [x for x in lines if x.get(key) == value]
    return line


class TcpProxy:
    """A TCP forwarder from a local port to ``target_port`` that a test can take down (its port
    closed, every open connection cut: the database gone, as far as the app can tell) and up."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        if listener is not None:
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by down()
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    client.close()
                    server.close()
                    return
                self._conns |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns -= {src, dst}
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def problem(r: object, status: int, slug: str) -> dict[str, object]:
    """The problem+json body of response ``r``, once its status, type and request id are as said."""
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == PROBLEM_JSON  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == status
    assert body["request_id"] == r.headers["x-request-id"]  # type: ignore[attr-defined]
    return dict(body)
