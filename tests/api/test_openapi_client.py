"""A Python client generated from the OpenAPI document (openapi-python-client) types what the
server sends, needs credentials only where the server does, and works against the server.

Plan figures: ``small_request`` (demand 5000 tokens/s, 1000 tokens/s and $1000 a unit, no
residual value) needs 5 units, so NPV cost = $5000.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.schemas import EXAMPLE_SWEEP
from tests.helpers import service as h

GENERATOR_CONFIG = "post_hooks: []\n"  # no formatter run on the generated code (not needed to import it)


def generate(tmp: Path, package: str, doc: dict[str, Any]) -> tuple[ModuleType, str]:
    """Generate the client package ``package`` from ``doc`` under ``tmp`` and import it; the
    generator's output (it names every schema it could not turn into a type)."""
    (tmp / "openapi.json").write_text(json.dumps(doc))
    (tmp / "config.yaml").write_text(GENERATOR_CONFIG)
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(tmp / "openapi.json")]
    command += ["--output-path", str(tmp / package), "--meta", "none", "--config", str(tmp / "config.yaml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(tmp))
    try:
        return importlib.import_module(package), done.stdout + done.stderr
    finally:
        sys.path.remove(str(tmp))


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, str, TestClient]]:
    """The client of an app without API keys, and a TestClient on that app."""
    tmp = tmp_path_factory.mktemp("client")
    with h.app_client(tmp, workers=1) as server:
        package, output = generate(tmp, "capplan_client", server.app.openapi())  # type: ignore[attr-defined]
        yield package, output, server
    _forget("capplan_client")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, str]]:
    tmp = tmp_path_factory.mktemp("client-keyed")
    doc = create_app(h.make_settings(tmp, api_keys="key-alice=alice")).openapi()
    package, output = generate(tmp, "capplan_client_keyed", doc)
    yield package, output
    _forget("capplan_client_keyed")


def _forget(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def model(package: ModuleType, name: str) -> Any:
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


def api(package: ModuleType, module: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{module}")


def optional_fields(cls: Any) -> set[str]:
    """Fields of a generated model that may be left out (typed ``... | Unset``)."""
    return {f.name for f in attrs.fields(cls) if "Unset" in str(f.type)}


class TestGeneratedClient:
    def test_every_schema_becomes_a_type(self, keyless: Any, keyed: Any) -> None:
        # the generator drops, with a warning, every schema it cannot parse
        for _, output, *_ in (keyless, keyed):
            assert "Warning" not in output and "Unable" not in output, output

    def test_the_base_of_a_sweep_and_a_frontier_is_a_plan_request(self, keyless: Any) -> None:
        package = keyless[0]
        plan_request, hardware = model(package, "PlanRequest"), model(package, "Hardware")
        sweep = model(package, "SweepSpec").from_dict(EXAMPLE_SWEEP)
        assert isinstance(sweep.base, plan_request)
        assert isinstance(sweep.base.hardware[0], hardware)
        assert sweep.base.hardware[0].unit_price_usd == 300000
        frontier = model(package, "FrontierSpec").from_dict({"base": EXAMPLE_SWEEP["base"], "points": 3})
        assert isinstance(frontier.base, plan_request)

    def test_response_fields_are_required_and_request_defaults_optional(self, keyless: Any) -> None:
        package = keyless[0]
        for name in (
            "Plan",
            "Summary",
            "PeriodOut",
            "ShadowPrices",
            "SolverOut",
            "PlanPage",
            "SweepJob",
            "TornadoBar",
        ):
            assert optional_fields(model(package, name)) == set(), name
        assert optional_fields(model(package, "PlanRequest")) == {
            "name",
            "economics",
            "objective",
            "budget",
            "policy",
            "contracts",
            "solver",
        }
        assert optional_fields(model(package, "HardwareFromCatalog")) == {
            f.name for f in attrs.fields(model(package, "Hardware"))
        } - {"additional_properties"}

    def test_keyless_routes_take_a_client_without_credentials(self, keyless: Any, keyed: Any) -> None:
        for package, wanted in (
            (keyless[0], {"AuthenticatedClient", "Client"}),
            (keyed[0], {"AuthenticatedClient"}),
        ):
            for module in (
                "plans.list_plans_v1_plans_get",
                "plans.create_plan_v1_plans_post",
                "catalog.catalog_v1_catalog_get",
            ):
                client = inspect.signature(api(package, module).sync).parameters["client"].annotation
                assert {t.__name__ for t in typing.get_args(client) or (client,)} == wanted, (package, module)

    def test_it_solves_and_pages_against_the_server(self, keyless: Any) -> None:
        package, _, server = keyless
        client = package.Client(base_url=str(server.base_url), raise_on_unexpected_status=True)
        client.set_httpx_client(server)
        create = api(package, "plans.create_plan_v1_plans_post")
        plan_type, page_type = model(package, "Plan"), model(package, "PlanPage")
        made = [
            create.sync(
                client=client, body=model(package, "PlanRequest").from_dict(h.small_request(demand=d))
            )
            for d in (5000.0, 6000.0)
        ]
        assert all(isinstance(p, plan_type) for p in made)
        assert made[0].status.value == "optimal"
        assert made[0].summary.npv_cost_usd == pytest.approx(5000.0)  # 5 units x $1000
        assert made[0].summary.units_acquired.additional_properties == pytest.approx({"h1": 5.0})
        list_plans = api(package, "plans.list_plans_v1_plans_get")
        page = list_plans.sync(client=client, limit=1)
        assert isinstance(page, page_type) and [i.id for i in page.items] == [made[1].id]
        rest = list_plans.sync(client=client, limit=1, cursor=page.next_cursor)
        assert [i.id for i in rest.items] == [made[0].id]
