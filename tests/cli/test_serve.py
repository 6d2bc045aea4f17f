"""``capplan serve`` (service.cli.serve): the port it is given and a port it cannot have, a data
folder that is missing, its banner, and a second server on a live database.  The service
itself is tested through its app (test_e2e.py and the others)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.cli.main import main
from service.cli.serve import banner
from service.settings import Settings
from tests.helpers import service as h

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_a_port_out_of_range_exits_2_naming_the_option(
    port: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 99999 used to be accepted and bound as 99999 - 65536 = 34463
    monkeypatch.setenv("CAPPLAN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("uvicorn.Server.run", lambda *_a, **_k: pytest.fail(f"served on port {port}"))
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", port])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "capplan serve: error: argument --port: " in err and port in err


def test_the_event_loop_waits_at_most_1_ms_for_the_gil(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    monkeypatch.setenv("CAPPLAN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("uvicorn.Server.run", lambda *_a, **_k: seen.append(sys.getswitchinterval()))
    before = sys.getswitchinterval()
    try:
        assert main(["serve", "--port", "0"]) == 0
    finally:
        sys.setswitchinterval(before)
    assert seen == [pytest.approx(0.001)]


def test_a_port_in_use_exits_1_saying_so(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "CAPPLAN_DATA_DIR": str(tmp_path), "CAPPLAN_WORKERS": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1, proc.stderr  # not uvicorn's 3
    assert proc.stderr.splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (choose another with --port)"
    )


def serve_args(port: int | str) -> list[str]:
    return [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]


def test_a_missing_data_dir_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    env = {**os.environ, "CAPPLAN_DATA_DIR": str(missing), "CAPPLAN_WORKERS": "1"}
    env.pop("CAPPLAN_DATABASE_URL", None)
    proc = subprocess.run(
        serve_args(0), capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False
    )
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()  # used to be a 100-line traceback in one JSON log line
    assert line.startswith(f"error: the database folder {missing} does not exist: create it, or set ")
    assert not missing.exists()


class TestBanner:
    def test_says_where_the_api_and_its_docs_are(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, workers=2, queue_limit=8, shutdown_grace_s=20)
        lines = banner(settings, "127.0.0.1", 8123).splitlines()
        assert lines[0] == "capplan serving at http://127.0.0.1:8123"
        assert lines[1].split() == [
            "API", "docs", "http://127.0.0.1:8123/docs", "(OpenAPI", "http://127.0.0.1:8123/openapi.json)"
        ]  # fmt: skip
        assert lines[3].split() == ["database", str(tmp_path / "capplan.db")]
        assert lines[4].split() == [
            "solves",
            "2",
            "local",
            "solver",
            "processes,",
            "at",
            "most",
            "8",
            "waiting",
        ]
        assert lines[-1] == "Ctrl-C stops it (running solves get 20 s to finish)."

    def test_every_interface_and_a_postgresql_password(self) -> None:
        url = "postgresql+psycopg://u:secret@db:5432/plans"
        text = banner(Settings(database_url=url, database_schema="cap", api_keys="k=a"), "0.0.0.0", 80)
        assert (
            text.splitlines()[0]
            == "capplan serving at http://127.0.0.1:80 (and every other address of this machine)"
        )
        assert "postgresql+psycopg://u:***@db:5432/plans (schema cap)" in text and "secret" not in text
        assert "'Authorization: Bearer <key>' on /v1 (1 tenant)" in text
        assert banner(Settings(database_url=url), "::", 80).startswith("capplan serving at http://[::1]:80")

    def test_a_database_left_in_the_working_directory_is_pointed_out(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        for var in ("CAPPLAN_DATA_DIR", "CAPPLAN_DATABASE_URL"):
            monkeypatch.delenv(var, raising=False)
        assert "not this database" not in banner(Settings(), "127.0.0.1", 1)
        (tmp_path / "capplan.db").write_bytes(b"")  # where the default was up to 1.0
        note = banner(Settings(), "127.0.0.1", 1).splitlines()[-2]
        assert note.split()[:2] == ["note", str(tmp_path / "capplan.db")]
        assert "CAPPLAN_DATA_DIR=. serves the one here" in note


def test_a_second_server_on_a_live_database_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    # The incident: started in the same folder while the first ran (its port taken), the second
    # re-queued the first's unfinished plans, stopped its running solves and discarded its
    # results ("no longer this replica's"), which were then solved again.  Both are "local".
    env = {
        **os.environ,
        "CAPPLAN_DATA_DIR": str(tmp_path),
        "CAPPLAN_WORKERS": "1",
        "CAPPLAN_LOG_LEVEL": "info",
    }
    env.pop("CAPPLAN_DATABASE_URL", None)
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            serve_args(0), stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env
        )
    try:
        assert first.stdout is not None
        head = first.stdout.readline()  # the banner, once the app is up and the port open
        assert head.startswith("capplan serving at http://127.0.0.1:"), head
        base = head.split()[-1]
        with httpx.Client(base_url=base, timeout=60) as c:
            assert c.get("/docs").status_code == 200  # where the banner says
            wait_until(lambda: c.get("/readyz").status_code == 200)
            async_ = {"Prefer": "respond-async"}
            slow = c.post("/v1/plans", json=h.slow_request(4.0), headers=async_).json()["id"]
            wait_until(lambda: c.get(f"/v1/plans/{slow}").json()["status"] == "running")
            demands = {c.post("/v1/plans", json=h.small_request(demand=d), headers=async_).json()["id"]: d
                       for d in (1000.0, 2000.0, 3000.0)}  # fmt: skip
            port = base.rsplit(":", 1)[1]
            second = subprocess.run(
                serve_args(port), capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False
            )
            assert second.returncode == 1
            [line] = second.stderr.splitlines()
            assert line.startswith(
                f"error: the database {tmp_path / 'capplan.db'} is in use by another capplan process "
                f"(pid {first.pid} on "
            ), line
            assert second.stdout == ""  # it never served
            for plan_id in [slow, *demands]:
                wait_until(
                    lambda p=plan_id: c.get(f"/v1/plans/{p}").json()["status"] not in ("queued", "running")
                )
            for plan_id, demand in demands.items():  # demand/1000 units at $1000: cost = demand
                assert c.get(f"/v1/plans/{plan_id}").json()["objective"]["value"] == pytest.approx(demand)
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(60)
    with sqlite3.connect(tmp_path / "capplan.db") as db:
        attempts = dict(db.execute("SELECT id, attempts FROM plans").fetchall())
    assert attempts == dict.fromkeys([slow, *demands], 1)  # each solved once, by the first server
    said = (tmp_path / "first.log").read_text()
    assert "no longer this replica" not in said and "no longer held by this replica" not in said


def wait_until(ok: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
