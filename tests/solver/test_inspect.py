"""describe_request (solver/inspect.py): what /v1/validate reports, in time linear in the model."""

from __future__ import annotations

import time

from solver import parse_request
from solver.inspect import describe_request
from tests.helpers.requests import hardware, request, site, workload


class TestDescribeRequest:
    def test_eligible_sites_per_pair(self) -> None:
        # h serves w at 10 tokens/s per user (1,000 tokens/s a unit) and cannot serve v at 50;
        # site b allows nothing, so only a is eligible for (h, w).
        req = request(
            sites=[site("a"), site("b", allowed_hardware=[])],
            workloads=[workload("w"), workload("v", speed=50)],
        )
        pairs = describe_request(parse_request(req), build=False)["throughput"]
        assert [(p["workload"], p["tokens_per_s_per_unit"], p["eligible_sites"]) for p in pairs] == [
            ("w", 1000.0, ["a"]),
            ("v", 0.0, []),
        ]

    def test_60000_workloads_are_described_in_little_cpu(self) -> None:
        # One pair per workload: ~1 s of CPU.  The eligible sites of each pair used to be found
        # by scanning every eligible triple: 60,000² steps, over a minute.
        req = parse_request(
            request(hardware_=[hardware()], workloads=[workload(f"w{i}", demand=1.0) for i in range(60_000)])
        )
        start = time.process_time()
        info = describe_request(req, build=False)
        assert time.process_time() - start < 15.0
        assert len(info["throughput"]) == 60_000 and info["model_size"]["variables"] == 1 + 60_000 + 60_000
