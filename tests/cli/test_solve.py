"""The core CLI commands over the library: ``capplan solve`` / ``validate`` and their exit
codes (DESIGN.md: 0 a plan was produced whatever its status, 2 invalid request with the
field on stderr, 1 anything else).  Lives here because it exercises the solver's contract;
the scenario commands are tested with the scenarios."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli.main import main
from service.cli.solve import format_plan
from solver import Plan, plan
from solver.schema import ObjectiveOut
from tests.helpers.recompute import check_plan
from tests.helpers.requests import Json, request, site, workload

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: Json | str, name: str = "req.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


class TestSolve:
    def test_summary_table(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        assert main(["solve", write(tmp_path, request())]) == 0
        out, err = capfd.readouterr()
        assert "status: optimal" in out
        assert "2,000" in out  # objective and NPV cost of the example
        assert err == ""

    def test_contract_line_shows_the_rebate(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        # 100 units spend $10,000 and keep $8,000 of residual value: 10 % of the $2,000
        # base above $1,000
        tiers = [{"above_spend_usd": 1000, "discount": 0.1}]
        assert (
            main(["solve", write(tmp_path, request(contracts=[{"vendor": "v", "discount_tiers": tiers}]))])
            == 0
        )
        out, _ = capfd.readouterr()
        assert "contract v: spend $10,000 of $0 ($2,000 net of residual value)" in " ".join(out.split())
        assert "rebate $100 (1 discount tiers reached)" in " ".join(out.split())  # wrapped

    @pytest.mark.parametrize(
        ("kind", "value", "shown"),
        [
            ("max_served", -0.0, "objective (max_served): 0 weighted million tokens"),
            ("max_profit", -0.0, "objective (max_profit): $0\n"),
            ("max_profit", -0.2, "objective (max_profit): $0\n"),  # rounds to zero: 0, not -0
        ],
    )
    def test_a_zero_objective_never_prints_as_minus_zero(self, kind: str, value: float, shown: str) -> None:
        # a saved plan (or a solver round-off) can hold -0.0
        p = plan(request(workloads=[workload(min_service_fraction=0)], budget={"capex_usd": 0}))
        p = p.model_copy(update={"objective": ObjectiveOut(kind=kind, value=value)})  # type: ignore[arg-type]
        text = format_plan(p)
        assert shown in text
        assert "-0" not in text.replace("2026-01", "")

    def test_json_is_the_plan_and_nothing_else(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        req = request()
        assert main(["solve", "--json", write(tmp_path, req)]) == 0
        out, err = capfd.readouterr()
        result = Plan.model_validate(json.loads(out))  # the whole of stdout parses
        check_plan(req, result)
        assert result.objective.value == pytest.approx(2000, rel=1e-9)

    def test_json_in_a_fresh_process(self, tmp_path: Path) -> None:
        # The HiGHS banner of a process's first solver instance must not reach stdout.
        req = request()
        proc = subprocess.run(
            [sys.executable, "-m", "service.cli", "solve", "--json", write(tmp_path, req)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        check_plan(req, Plan.model_validate(json.loads(proc.stdout)))

    def test_infeasible_plan_exits_0(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        req = request(sites=[site(power=0.05)])
        assert main(["solve", "--json", write(tmp_path, req)]) == 0
        result = Plan.model_validate(json.loads(capfd.readouterr().out))
        check_plan(req, result)
        assert result.status == "infeasible" and result.diagnosis

    def test_invalid_request_exits_2_naming_the_field(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["solve", "--json", write(tmp_path, request(sites=[site(pue=0.5)]))]) == 2
        out, err = capfd.readouterr()
        assert out == ""
        assert "/sites/0/pue" in err

    def test_nan_exits_2(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        text = json.dumps(request()).replace('"power_mw": 100.0', '"power_mw": NaN')
        assert main(["solve", write(tmp_path, text)]) == 2
        assert "/sites/0/power_mw" in capfd.readouterr().err

    def test_not_json_exits_2(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        assert main(["solve", write(tmp_path, "{oops")]) == 2
        assert "not valid JSON" in capfd.readouterr().err

    def test_missing_file_exits_1(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        assert main(["solve", str(tmp_path / "nope.json")]) == 1
        assert "nope.json" in capfd.readouterr().err


class TestValidate:
    def test_valid(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        assert main(["validate", write(tmp_path, request())]) == 0
        assert "valid" in capfd.readouterr().out

    def test_json_reports_throughput(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        assert main(["validate", "--json", write(tmp_path, request())]) == 0
        info = json.loads(capfd.readouterr().out)
        assert info["throughput"][0]["tokens_per_s_per_unit"] == 1000

    def test_invalid_exits_2(self, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        assert main(["validate", write(tmp_path, request(horizon={"periods": 241}))]) == 2
        assert "/horizon/periods" in capfd.readouterr().err

    def test_an_existing_fleet_from_the_catalog_is_listed_and_said(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        # 400 H100s at the site, none offered: the catalog entry serves llama-70b at 5 tokens/s
        # per user at its 30,550.7 tokens/s per unit, and the warnings say it is existing-only
        req = request(
            sites=[site(existing=[{"hardware": "nvidia-h100-8x", "units": 400}])],
            workloads=[workload(), workload("chat", model="llama-70b", speed=5)],
        )
        assert main(["validate", write(tmp_path, req)]) == 0
        out = capfd.readouterr().out
        assert "nvidia-h100-8x -> chat" in out and "30,550.7 tok/s/unit" in out
        assert (
            "warning: hardware 'nvidia-h100-8x' is existing-only, with the default catalog's figures" in out
        )

    @pytest.mark.parametrize("command", ["validate", "solve"])
    def test_an_existing_fleet_in_neither_exits_2_naming_it(
        self, command: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        req = request(sites=[site(existing=[{"hardware": "nvidia-h100-9x", "units": 400}])])
        assert main([command, write(tmp_path, req)]) == 2
        out, err = capfd.readouterr()
        assert out == ""
        assert "/sites/0/existing/0/hardware: unknown hardware 'nvidia-h100-9x'" in err


class TestClosedStdout:
    """``capplan … | head -1``: the reader goes away; the command's work is done all the same,
    printing stops quietly and the exit code is 0 (no 'error: BrokenPipeError')."""

    @staticmethod
    def run_into_a_closed_pipe(*argv: str) -> subprocess.CompletedProcess[str]:
        read_end, write_end = os.pipe()
        os.close(read_end)  # the first write of a whole buffer fails with EPIPE
        try:
            return subprocess.run(
                [sys.executable, "-m", "service.cli", *argv],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                timeout=120,
                check=False,
            )
        finally:
            os.close(write_end)

    @pytest.mark.parametrize("command", [["solve", "--json"], ["solve"], ["catalog", "--json"]])
    def test_printing_stops_quietly(self, tmp_path: Path, command: list[str]) -> None:
        argv = [*command, write(tmp_path, request())] if command[0] == "solve" else command
        proc = self.run_into_a_closed_pipe(*argv)
        assert (proc.returncode, proc.stderr) == (0, "")

    def test_export_writes_every_file_first(self, tmp_path: Path) -> None:
        from service.report import TABLES

        out = tmp_path / "csv"
        proc = self.run_into_a_closed_pipe("export", write(tmp_path, request()), "--dir", str(out))
        assert (proc.returncode, proc.stderr) == (0, "")
        assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
        assert all((out / f"{t}.csv").read_bytes().endswith(b"\r\n") for t in TABLES)
