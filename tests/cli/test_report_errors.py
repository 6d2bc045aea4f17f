"""``capplan report`` and ``capplan export`` (service.cli.report): which file an error is about,
and the files these commands refuse.  (test_report_cli.py covers what they write.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.cli.main import main
from solver import plan
from tests.helpers.scenario_requests import power_request


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
            ("", "/: the file is empty: a JSON object is expected"),
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


class TestRefusedFiles:
    @pytest.mark.parametrize("kind", ["sweep", "frontier"])
    def test_export_of_a_result_says_what_it_got_and_what_it_needs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
    ) -> None:
        req = write(tmp_path, "req.json", power_request())
        extra = ["--scale", "sites/s/power_mw=0.8,1.2"] if kind == "sweep" else ["--points", "2"]
        assert main([kind, req, *extra, "--workers", "1", "--json"]) == 0
        result = write(tmp_path, "result.json", capsys.readouterr().out)
        out = tmp_path / "csv"
        assert main(["export", result, "--dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"invalid request: {result}: /: a {kind} result (capplan {kind} --json), not one plan: "
        )
        assert (
            'give a plan (capplan solve --json), a {"plan": ..., "request": ...} bundle or a request' in err
        )
        assert "neither" not in err and not out.exists()

    def test_export_of_another_object_names_its_keys(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        f = write(tmp_path, "x.json", {"hello": 1, "world": 2})
        assert main(["export", f, "--dir", str(tmp_path / "csv")]) == 2
        assert capsys.readouterr().err.startswith(
            f"invalid request: {f}: /: neither a request nor a plan (an object with the keys 'hello', 'world'): "
        )

    @pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
    @pytest.mark.parametrize("command", ["report", "export", "diff"])
    def test_a_plan_with_a_non_finite_number_exits_2_naming_each(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], plan_file: str, token: str, command: str
    ) -> None:
        # Python reads NaN and Infinity (not JSON): the report showed "$nan", the CSV "inf"
        text = Path(plan_file).read_text()
        text = text.replace('"npv_cost_usd":', f'"npv_cost_usd":{token},"npv_was":', 1)
        capex = text.count('"capex_usd":')
        text = text.replace('"capex_usd":', '"capex_usd":NaN,"capex_was":')
        f = write(tmp_path, "nan.json", text)
        argv = {"report": ["-o", str(tmp_path / "r.html")], "export": ["--dir", str(tmp_path / "csv")]}
        assert main([command, f, *argv.get(command, [f])]) == 2
        lines = capsys.readouterr().err.splitlines()
        why = "NaN, Infinity and numbers beyond the float range are not allowed: use a finite number"
        assert f"invalid request: {f}: /summary/npv_cost_usd: {why}" in lines
        assert f"invalid request: {f}: /summary/capex_usd: {why}" in lines
        assert len(lines) == 1 + capex and all(line.endswith(f": {why}") for line in lines)
        assert not (tmp_path / "r.html").exists() and not (tmp_path / "csv").exists()

    def test_a_sweep_result_with_nan_exits_2_naming_it(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        req = write(tmp_path, "req.json", power_request())
        assert main(["sweep", req, "--scale", "sites/s/power_mw=0.8,1.2", "--workers", "1", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        doc["rows"][1]["served_fraction"] = float("nan")  # json.dumps writes NaN
        f = write(tmp_path, "sweep.json", json.dumps(doc))
        assert main(["report", f, "-o", str(tmp_path / "r.html")]) == 2  # was ValueError, exit 1
        assert capsys.readouterr().err.startswith(
            f"invalid request: {f}: /rows/1/served_fraction: NaN, Infinity"
        )
