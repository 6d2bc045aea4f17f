"""What the ``capplan`` commands do with awkward input files (exit 2 and a message for an
invalid file, never a traceback and exit 1) and the edges of the scenario tables.

The numbers are those of the micro-instances of tests/helpers/requests.py (objective
$2,000) and tests/helpers/scenario_requests.py (the power instance: 10 MW at least).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from service.cli.main import main
from solver import Plan
from tests.helpers.requests import request
from tests.helpers.scenario_requests import power_request

BOM = b"\xef\xbb\xbf"


def write(tmp_path: Path, data: bytes | Any, name: str = "in.json") -> str:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode("utf-8"))
    return str(path)


def deep(depth: int) -> bytes:
    return b'{"a": ' + b"[" * depth + b"]" * depth + b"}"


class TestRequestFiles:
    @pytest.mark.parametrize("command", ["solve", "validate", "sweep", "frontier", "report"])
    @pytest.mark.parametrize(
        ("data", "messages"),
        [
            (deep(100_000), ["/: the JSON is nested too deeply"]),
            (
                json.dumps({"name": "café", **request()}, ensure_ascii=False).encode("latin-1"),
                ["/: the file is not UTF-8 text (byte 13 cannot be decoded)"],
            ),
            (json.dumps(json.dumps(request())).encode(), ["/: the file must be a JSON object, not a string"]),
            (b"[1, 2]", ["/: the file must be a JSON object, not an array"]),
            (b"null", ["/: the file must be a JSON object, not null"]),
            (b" \n", ["/: the file is empty: a JSON object is expected"]),
            (
                b'{"a": [1, {"b~/": 1e999}], "c": NaN}',
                [
                    f"{where}: NaN, Infinity and numbers beyond the float range are not allowed: use a "
                    "finite number"
                    for where in ("/a/1/b~0~1", "/c")
                ],
            ),
            (  # was "/: not valid JSON: Exceeds the limit (4300 digits) for integer string conversion ..."
                b'{"a": {"b": ' + b"9" * 5000 + b"}}",
                [
                    "/a/b: NaN, Infinity and numbers beyond the float range are not allowed: use a finite "
                    "number"
                ],
            ),
            (  # the API refused a key given twice, the CLI kept the last value
                b'{"name": "a", "sites": [{"id": "s", "power_mw": 1, "power_mw": 2}], "name": "b"}',
                [
                    "/name: the key 'name' appears more than once in this object: give each key once",
                    "/sites/0/power_mw: the key 'power_mw' appears more than once in this object: give "
                    "each key once",
                ],
            ),
        ],
    )
    def test_an_invalid_file_exits_2_naming_each_problem(
        self,
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
        command: str,
        data: bytes,
        messages: list[str],
    ) -> None:
        out_file = ["-o", str(tmp_path / "r.html")] if command == "report" else []
        path = write(tmp_path, data)
        assert main([command, path, *out_file]) == 2
        out, err = capfd.readouterr()
        assert out == ""
        # report (like diff and export) reads files of several kinds, at times two: it names the file
        where = f"{path}: " if command == "report" else ""
        assert err == "".join(f"invalid request: {where}{m}\n" for m in messages)

    def test_diff_refuses_a_json_string_too(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        good = write(tmp_path, request(), "a.json")
        bad = write(tmp_path, json.dumps(json.dumps(request())).encode(), "b.json")
        assert main(["diff", good, bad]) == 2
        assert (
            capfd.readouterr().err
            == f"invalid request: {bad}: /: the file must be a JSON object, not a string\n"
        )

    def test_a_byte_order_mark_is_accepted(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        path = write(tmp_path, BOM + json.dumps(request()).encode())
        assert main(["solve", "--json", path]) == 0
        result = Plan.model_validate(json.loads(capfd.readouterr().out))
        assert result.status == "optimal" and result.objective.value == pytest.approx(2000, rel=1e-9)

    def test_stdin_is_read_as_utf8_bytes_with_a_byte_order_mark(
        self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        data = BOM + json.dumps({**request(), "name": "café"}).encode()
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="ascii"))
        assert main(["solve", "--json", "-"]) == 0
        result = Plan.model_validate(json.loads(capfd.readouterr().out))
        assert result.name == "café" and result.objective.value == pytest.approx(2000, rel=1e-9)


class TestReportOfAResult:
    def sweep_file(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> dict[str, Any]:
        f = write(tmp_path, power_request(), "req.json")
        assert main(["sweep", f, "--scale", "sites/s/power_mw=0.8,1.2", "--json", "--workers", "1"]) == 0
        doc: dict[str, Any] = json.loads(capfd.readouterr().out)
        assert [r["factors"] for r in doc["rows"]] == [{"sites/s/power_mw": 0.8}, {"sites/s/power_mw": 1.2}]
        return doc

    def test_a_wrongly_typed_field_exits_2_naming_it(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        doc = self.sweep_file(tmp_path, capfd)
        doc["rows"][1]["factors"]["sites/s/power_mw"] = "lots"
        f = write(tmp_path, doc, "sweep.json")
        assert main(["report", f, "-o", str(tmp_path / "r.html")]) == 2
        assert capfd.readouterr().err == (
            f"invalid request: {f}: /rows/1/factors/sites~1s~1power_mw: not a valid sweep result: "
            "Input should be a valid number, unable to parse string as a number\n"
        )
        assert not (tmp_path / "r.html").exists()

    def test_a_sound_result_is_rendered(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        doc = self.sweep_file(tmp_path, capfd)
        doc["id"] = "from-the-service"  # a job view's extra fields are fine
        f = write(tmp_path, doc, "sweep.json")
        assert main(["report", f, "-o", "-"]) == 0
        html = capfd.readouterr().out
        assert "\u00d70.8" in html and "\u00d71.2" in html and "from-the-service" in html


class TestFrontierTable:
    def test_an_infeasible_end_prints_a_dash_not_nan(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        req = power_request()
        req["sites"][0]["power_mw"] = 5  # infeasible below 10 MW
        assert main(["frontier", write(tmp_path, req), "--points", "5", "--workers", "1"]) == 0
        out = capfd.readouterr().out
        assert "nan" not in out
        rows = [line.split("│") for line in out.splitlines() if "infeasible │" in line]
        assert [[c.strip() for c in r[:7]] for r in rows] == [
            ["0", "-", "-", "-", "-", "-", "infeasible"],
            ["4", "-", "-", "-", "-", "-", "infeasible"],
        ]

    def test_a_frontier_that_cannot_vary_numbers_its_two_rows_0_and_1(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        assert (
            main(["frontier", write(tmp_path, request()), "--points", "4", "--workers", "1", "--json"]) == 0
        )
        result = json.loads(capfd.readouterr().out)
        assert (result["total"], result["done"]) == (2, 2)
        assert [r["index"] for r in result["rows"]] == [0, 1]
        assert [r["values"]["objective/kind"] for r in result["rows"]] == ["min_cost", "max_served"]
        assert [r["served_fraction"] for r in result["rows"]] == pytest.approx([1.0, 1.0])


class TestDiffTable:
    def test_objectives_of_different_kinds_show_no_delta(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        served = power_request()
        served["objective"] = {"kind": "max_served"}
        served["workloads"][0]["min_service_fraction"] = 0
        a, b = write(tmp_path, power_request(), "a.json"), write(tmp_path, served, "b.json")
        assert main(["diff", a, b]) == 0
        out = capfd.readouterr().out
        (line,) = [x for x in out.splitlines() if x.strip().startswith("objective")]
        cells = [c.strip() for c in line.split("│")]
        assert cells == ["objective (min_cost → max_served)", "2e+06", "31,536", "-"]
