"""``capplan serve`` (service.cli): the port it is given and a port it cannot have.  The
service itself is tested through its app (test_e2e.py and the others)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main

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
