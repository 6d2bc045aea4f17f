"""``capplan sweep | frontier | diff``: options, exit codes, JSON and table output.

The numbers are those of the hand-solved power micro-instance of
tests/helpers/scenario_requests.py (cost = 3e6 − 2e5·(P − 10) for 10 <= P <= 20 MW).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from service.cli.main import main
from service.cli.scenarios import _fmt, parse_assignment
from solver import RequestInvalid, plan
from tests.helpers.scenario_requests import frontier_request, power_request
from tests.helpers.workers import process_group, session_members


def write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


class TestAssignments:
    def test_comma_values_are_json_tokens_or_strings(self) -> None:
        assert parse_assignment("budget/capex_usd=1e9,2e9", "--vary") == ("budget/capex_usd", [1e9, 2e9])
        assert parse_assignment("solver/backend=highs,cbc", "--vary") == ("solver/backend", ["highs", "cbc"])
        assert parse_assignment("sites/s/expansion=null", "--vary") == ("sites/s/expansion", [None])

    def test_a_json_list_carries_per_period_values(self) -> None:
        assert parse_assignment("sites/s/power_mw=[[1,2],[3,4]]", "--vary") == (
            "sites/s/power_mw",
            [[1, 2], [3, 4]],
        )

    @pytest.mark.parametrize("text", ["budget/capex_usd", "=1,2", "budget/capex_usd=", "p=[1,"])
    def test_malformed(self, text: str) -> None:
        with pytest.raises(RequestInvalid):
            parse_assignment(text, "--vary")


class TestSweepCommand:
    def test_json_rows_match_the_hand_solution(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        f = write(tmp_path, "req.json", power_request())
        rc = main(
            [
                "sweep",
                f,
                "--vary",
                "sites/s/power_mw=12,18",
                "--scale",
                "hardware/b/unit_price_usd=1,2",
                "--json",
                "--workers",
                "1",
            ]
        )
        out = capsys.readouterr()
        assert rc == 0
        result = json.loads(out.out)
        assert result["total"] == result["done"] == 4
        got = {
            (r["values"]["sites/s/power_mw"], r["factors"]["hardware/b/unit_price_usd"]): r["objective"]
            for r in result["rows"]
        }
        # P = 12: 2 a + 8 b; P = 18: 8 a + 2 b; b at $3e5 or $6e5
        assert got == pytest.approx({(12, 1.0): 2.6e6, (12, 2.0): 5.0e6, (18, 1.0): 1.4e6, (18, 2.0): 2.0e6})

    def test_table_and_tornado_with_the_process_pool(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        f = write(tmp_path, "req.json", power_request())
        rc = main(
            ["sweep", f, "--vary", "sites/s/power_mw=12,18", "--mode", "one_at_a_time", "--workers", "2"]
        )
        out = capsys.readouterr().out
        assert rc == 0
        assert "one_at_a_time sweep: 3 of 3 scenarios" in out
        assert "2,600,000" in out and "1,400,000" in out and "Tornado" in out

    def test_booleans_are_spelt_as_in_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        # the report and the JSON say true/false; the table said True/False
        f = write(tmp_path, "req.json", power_request())
        argv = [
            "sweep",
            f,
            "--vary",
            "solver/integer=false,true",
            "--mode",
            "one_at_a_time",
            "--workers",
            "1",
        ]
        assert main(argv) == 0
        out = capsys.readouterr().out
        rows = [[c.strip() for c in line.split("│")] for line in out.splitlines() if "│" in line]
        assert [r[1] for r in rows[:3]] == ["false", "false *", "true *"]
        assert [rows[3][0], rows[3][1], rows[3][3]] == [
            "solver/integer",
            "false",
            "true",
        ]  # tornado: low, high
        assert "True" not in out and "False" not in out

    def test_the_tornado_names_an_infeasible_setting_and_lists_its_parameter_first(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        f = write(tmp_path, "req.json", power_request())
        rc = main(
            [
                "sweep",
                f,
                "--scale",
                "hardware/b/unit_price_usd=0.5,2",
                "--vary",
                "sites/s/power_mw=8,20",
                "--mode",
                "one_at_a_time",
                "--workers",
                "1",
            ]
        )
        out = capsys.readouterr().out
        assert rc == 0
        tor = out[out.index("Tornado") :].splitlines()
        power = next(i for i, line in enumerate(tor) if "sites/s/power_mw" in line)
        price = next(i for i, line in enumerate(tor) if "hardware/b/unit_price_usd" in line)
        assert power < price
        # P = 20: 3e6 − 2e5·10 = 1e6 at both ends; the swing counts the settings with a plan
        assert tor[power].split() == [
            "sites/s/power_mw", "│", "20", "│", "1e+06", "│", "20", "│", "1e+06", "│", "1e+06", "│",
            "infeasible", "at", "8",
        ]  # fmt: skip
        assert "infeasible" not in tor[price]
        assert "low, high and swing cover only the settings with a plan" in out

    def test_a_sweep_body_file_and_the_cap(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        body = {"base": power_request(), "parameters": [{"path": "sites/s/power_mw", "values": [11, 12, 13]}]}
        f = write(tmp_path, "sweep.json", body)
        rc = main(["sweep", f, "--max-scenarios", "2", "--workers", "1"])
        err = capsys.readouterr().err
        assert rc == 2
        assert "/parameters: the grid sweep would run 3 scenarios, more than the cap of 2" in err

    def test_bad_paths_exit_2_naming_them(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        f = write(tmp_path, "req.json", power_request())
        rc = main(["sweep", f, "--vary", "sites/nope/power_mw=1", "--scale", "budget/capex_usd=2"])
        err = capsys.readouterr().err
        assert rc == 2
        assert "/parameters/0/path: sites/nope/power_mw: no entry of sites has id 'nope'" in err
        assert "/parameters/1/scale: budget/capex_usd has no value in the base request" in err

    def test_no_parameters(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        f = write(tmp_path, "req.json", power_request())
        assert main(["sweep", f]) == 2
        assert "--vary" in capsys.readouterr().err


class TestFrontierCommand:
    def test_json_curve(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        f = write(tmp_path, "req.json", frontier_request())
        assert main(["frontier", f, "--points", "5", "--json", "--workers", "1"]) == 0
        result = json.loads(capsys.readouterr().out)
        costs = [r["npv_cost_usd"] for r in result["rows"]]
        # served 0, 0.2, 0.4, 0.6, 0.8: 1e6·f, then 5e5 + 4e6·(f − 0.5)
        assert costs == pytest.approx([0, 2e5, 4e5, 9e5, 1.7e6], rel=1e-5, abs=1e-3)

    def test_table(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        f = write(tmp_path, "req.json", frontier_request())
        assert main(["frontier", f, "--points", "9", "--workers", "2"]) == 0
        out = capsys.readouterr().out
        assert "Cost-vs-served frontier" in out and "knee" in out
        assert "marginal $/M tok*" in out and "$/M tok*" in out
        assert "* levelised, both: NPV $ per discounted million tokens served" in out

    def test_an_infeasible_end_says_why_once(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        req = frontier_request()
        req["workloads"][0]["min_service_fraction"] = 0.9  # at most 0.8 can be served
        f = write(tmp_path, "req.json", req)
        code = main(["frontier", f, "--points", "3", "--workers", "1"])
        out = capsys.readouterr().out
        assert code == 0
        assert "no frontier: the least served (min_cost) end is infeasible" in out
        assert out.count("no frontier") == 1
        # both ends: no target, served fraction or cost (a dash each), and their status
        cells = [[c.strip() for c in line.split("│")] for line in out.splitlines() if "│" in line]
        assert cells == [[str(i), "-", "-", "-", "-", "-", "infeasible", ""] for i in (0, 2)]


class TestDiffCommand:
    def test_plan_file_against_request_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        a = plan(power_request())
        fa = tmp_path / "a.json"
        fa.write_text(a.model_dump_json(), encoding="utf-8")
        req = power_request()
        req["sites"][0]["power_mw"] = 25
        fb = write(tmp_path, "b.json", req)
        assert main(["diff", str(fa), fb, "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["objective"]["delta"] == pytest.approx(-1e6)
        assert d["binding_removed"] == ["power s 2026-01"]
        assert main(["diff", str(fa), fb]) == 0
        out = capsys.readouterr().out
        assert "binding only in a: power s 2026-01" in out and "Fleet changes" in out

    def test_a_zero_objective_never_prints_as_minus_zero(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # plans saved before the solver stopped reporting -0.0 for a plan serving nothing
        doc = json.loads(plan(power_request()).model_dump_json())
        doc["objective"]["value"] = -0.0
        fa = write(tmp_path, "a.json", doc)
        assert main(["diff", fa, fa]) == 0
        out = capsys.readouterr().out
        row = next(line for line in out.splitlines() if line.strip().startswith("objective"))
        assert [c.strip() for c in row.split("│")[1:]] == ["0", "0", "0"]

    @pytest.mark.parametrize(
        ("x", "spec", "shown"),
        [(-0.0, ",.6g", "0"), (-0.3, ",.0f", "0"), (-1e-7, "+.2%", "+0.00%"), (-1234.5, ",.0f", "-1,234")],
    )
    def test_cells_never_show_minus_zero(self, x: float, spec: str, shown: str) -> None:
        assert _fmt(x, spec) == shown

    def test_neither_plan_nor_request(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        f = write(tmp_path, "x.json", {"hello": 1})
        assert main(["diff", f, f]) == 2
        assert f"invalid request: {f}: /: neither a plan nor a request" in capsys.readouterr().err

    @pytest.mark.parametrize("bad_one", ["a", "b"])
    def test_an_invalid_file_is_named(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad_one: str
    ) -> None:
        good = write(tmp_path, "good.json", power_request())
        req = power_request()
        req["sites"][0]["power_mw"] = -1
        bad_field = write(tmp_path, "bad-field.json", req)
        empty = tmp_path / "empty.json"
        empty.write_bytes(b"")
        for bad, message in (
            (bad_field, "/sites/0/power_mw: Input should be greater than or equal to 0"),
            (str(empty), "/: the file is empty: a JSON object is expected"),
        ):
            assert main(["diff", *((bad, good) if bad_one == "a" else (good, bad))]) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"invalid request: {bad}: {message}"), err


class TestCtrlC:
    def test_while_the_subcommands_load_and_again_while_exiting(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # the subcommands register inside main(): a Ctrl-C then printed a traceback
        def interrupted(_sub: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr("service.cli.main._register_subcommands", interrupted)
        handler = signal.getsignal(signal.SIGINT)
        try:
            try:
                code = main(["catalog"])
            except KeyboardInterrupt:
                pytest.fail("KeyboardInterrupt escaped main()")
            assert code == 130
            assert capsys.readouterr().err == "interrupted\n"
            # a second Ctrl-C while the interpreter exits ends it by the signal, quietly (a
            # KeyboardInterrupt there printed "Exception ignored in: <module 'threading'…")
            assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL
        finally:
            signal.signal(signal.SIGINT, handler)

    def test_a_sweep_stops_with_one_line_and_no_process_left(self, tmp_path: Path) -> None:
        # Ctrl-C reaches the whole foreground group, the pool's processes still importing too:
        # they printed tracebacks, and the CLI could hang in the pool's clean-up
        f = write(tmp_path, "req.json", power_request())
        values = ",".join(f"{11 + i * 0.008:.3f}" for i in range(1000))
        # as a shell starts a command: SIGINT raises KeyboardInterrupt (not ignored as in
        # some test runners' processes)
        code = (
            "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from service.cli.main import main; sys.exit(main())"
        )
        argv = [
            sys.executable,
            "-c",
            code,
            "sweep",
            f,
            "--vary",
            f"sites/s/power_mw={values}",
            "--workers",
            "2",
        ]
        root = Path(__file__).resolve().parents[2]
        proc = subprocess.Popen(
            argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while len(process_group(proc.pid)) < 3 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)  # the CLI, multiprocessing's resource tracker, the fork server
            assert proc.poll() is None, "the sweep ended before the test could interrupt it"
            os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert (proc.returncode, err, out) == (130, "interrupted\n", "")
        # the resource tracker, the fork server and the workers (each in a group of its own, the
        # session still the CLI's) end when they see the CLI gone
        deadline = time.monotonic() + 30
        while session_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not session_members(proc.pid), "processes left running"
