"""``capplan report`` and ``capplan export`` (service.cli_report): which file an error is about,
and the files these commands refuse.  (test_report_cli.py covers what they write.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.cli import main
from solver import plan
from tests.solver.test_scenarios import power_request


def write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return str(path)


@pytest.fixture
def plan_file(tmp_path: Path) -> str:
    return write(tmp_path, "plan.json", json.loads(plan(power_request()).model_dump_json()))


def bad_request() -> dict[str, Any]:
    req = power_request()
    req["sites"][0]["power_mw"] = -1
    return req


class TestTheFileIsNamed:
    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ("", "/: not valid JSON"),
            (bad_request(), "/sites/0/power_mw: Input should be greater than or equal to 0"),
        ],
        ids=["not-json", "bad-field"],
    )
    def test_an_invalid_request_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], plan_file: str, doc: Any, message: str
    ) -> None:
        req = write(tmp_path, "req.json", doc)
        out = str(tmp_path / "r.html")
        assert main(["report", plan_file, "--request", req, "-o", out]) == 2
        assert capsys.readouterr().err.startswith(f"invalid request: {req}: {message}")
        assert not Path(out).exists()

    def test_an_invalid_plan_file_beside_a_sound_request(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = write(tmp_path, "plan.json", {"status": "optimal", "objective": {"kind": "nope"}})
        req = write(tmp_path, "req.json", power_request())
        assert main(["report", bad, "--request", req, "-o", str(tmp_path / "r.html")]) == 2
        assert capsys.readouterr().err.startswith(f"invalid request: {bad}: /: not a valid plan (")

    def test_a_bundles_request_is_named_from_the_bundle(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], plan_file: str
    ) -> None:
        bundle = write(
            tmp_path,
            "bundle.json",
            {"plan": json.loads(Path(plan_file).read_text()), "request": bad_request()},
        )
        assert main(["export", bundle, "--dir", str(tmp_path / "csv")]) == 2
        assert capsys.readouterr().err.startswith(
            f"invalid request: {bundle}: /request/sites/0/power_mw: Input should be greater than or equal to 0"
        )
