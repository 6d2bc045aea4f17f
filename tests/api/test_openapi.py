"""The OpenAPI document says what the server does: security, bodies, responses.

The document of an app is checked here piece by piece (JSON Schema verdicts compared with the
server's own models where a rule is involved); Schemathesis then runs every one of its checks
against a live server, without and with API keys (``TestSchemathesis``).  The generated Python
client is tested in ``test_openapi_client.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from service.api.app import create_app
from service.api.schemas import CatalogOut, SweepJob
from solver import parse_request
from solver.catalog import load_catalog
from solver.scenarios.frontier import prepare_frontier
from solver.scenarios.specs import SweepParameter
from solver.scenarios.sweep import prepare_sweep
from tests.helpers import service as h

KEYS = "key-alice=alice"
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document of an app without API keys (the default)."""
    return create_app(h.make_settings(tmp_path_factory.mktemp("doc"))).openapi()


@pytest.fixture(scope="module")
def keyed_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document of an app with API keys."""
    return create_app(h.make_settings(tmp_path_factory.mktemp("keyed"), api_keys=KEYS)).openapi()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method, path, op


def validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator of component ``name`` (its references resolved in ``doc``)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def response_components(doc: dict[str, Any]) -> set[str]:
    """Every component a response refers to, directly or through other components."""
    comps = doc["components"]["schemas"]
    found: set[str] = set()
    todo = [
        media["schema"]
        for _, _, op in operations(doc)
        for resp in op["responses"].values()
        for media in resp.get("content", {}).values()
    ]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    todo.append(comps[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


class TestOpenApiDocument:
    def test_every_operation_documents_problems(self, doc: dict[str, Any]) -> None:
        for method, path, op in operations(doc):
            codes = set(op["responses"])
            assert {"422", "500"} <= codes, (method, path)  # 422: an unknown query parameter at least
            if path.startswith("/v1/"):
                assert "503" in codes, (method, path)  # starting, stopping, database outage
                assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert "application/problem+json" in resp["content"], (method, path, code)
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        assert "503" not in doc["paths"]["/healthz"]["get"]["responses"]  # needs nothing that can be down

    def test_request_body_schema_is_the_plan_request(self, doc: dict[str, Any]) -> None:
        body = doc["paths"]["/v1/plans"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/PlanRequest"}
        assert doc["components"]["schemas"]["PlanRequest"]["additionalProperties"] is False

    def test_what_a_post_creates_links_to_the_routes_that_read_or_delete_it(
        self, doc: dict[str, Any]
    ) -> None:
        by_id = {op["operationId"]: (method, path) for method, path, op in operations(doc)}
        linked = set()
        for source in ("/v1/plans", "/v1/sweeps", "/v1/frontiers"):
            responses = doc["paths"][source]["post"]["responses"]
            for code in (c for c in responses if c.startswith("2")):
                for link in responses[code]["links"].values():
                    method, path = by_id[link["operationId"]]
                    assert set(link["parameters"]) == set(re.findall(r"\{(\w+)\}", path)), path
                    assert "$response.body#/id" in link["parameters"].values()
                    linked.add((method, path))
        with_ids = {(m, p) for m, p, _ in operations(doc) if "{" in p}
        assert linked == with_ids  # every route that takes an id is reached from where it is made

    def test_no_value_is_left_untyped(self, doc: dict[str, Any]) -> None:
        # `{}` or additionalProperties: true types a value as Any in every generated client
        untyped: list[str] = []

        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                if node.get("additionalProperties") is True and where != "/ProblemDetail":
                    untyped.append(where)  # ProblemDetail: RFC 9457 extension members
                for key, sub in node.items():
                    if key in ("properties", "$defs"):
                        for name, s in sub.items():
                            if s == {} or not (
                                {"type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum"} & set(s)
                            ):
                                untyped.append(f"{where}/{key}/{name}")
                            walk(s, f"{where}/{key}/{name}")
                    elif key in ("items", "additionalProperties") and sub == {}:
                        untyped.append(f"{where}/{key}")
                    else:
                        walk(sub, f"{where}/{key}")
            elif isinstance(node, list):
                for i, sub in enumerate(node):
                    walk(sub, f"{where}/{i}")

        for name, schema in doc["components"]["schemas"].items():
            walk(schema, f"/{name}")
        assert untyped == []

    def test_every_body_example_is_a_valid_body(self, doc: dict[str, Any]) -> None:
        # Schemathesis starts from them: each must get past validation to reach the solver
        parse = {"/v1/plans": parse_request, "/v1/validate": parse_request}
        parse |= {"/v1/sweeps": prepare_sweep, "/v1/frontiers": prepare_frontier}
        for path, check in parse.items():
            media = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            validator(doc, media["schema"]["$ref"].rsplit("/", 1)[1]).validate(media["example"])
            check(media["example"])


class TestSecurity:
    """The document states the security of the app it describes: keys configured, a bearer
    key on every /v1 route; none, no security at all (and no 401)."""

    def test_an_app_without_keys_declares_no_security(self, doc: dict[str, Any]) -> None:
        for method, path, op in operations(doc):
            assert "security" not in op, (method, path)
            assert "401" not in op["responses"], (method, path)
        assert "securitySchemes" not in doc["components"]
        assert "security" not in doc

    def test_an_app_with_keys_requires_a_bearer_key_on_every_v1_route(
        self, keyed_doc: dict[str, Any]
    ) -> None:
        scheme = keyed_doc["components"]["securitySchemes"]["HTTPBearer"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        for method, path, op in operations(keyed_doc):
            if path.startswith("/v1/"):
                assert op["security"] == [{"HTTPBearer": []}], (method, path)
                assert "WWW-Authenticate" in op["responses"]["401"]["headers"], (method, path)
            else:  # health, readiness and metrics stay open
                assert "security" not in op, (method, path)
                assert "401" not in op["responses"], (method, path)


class TestScenarioBodies:
    @pytest.mark.parametrize("spec", ["SweepSpec", "FrontierSpec"])
    def test_the_base_is_a_plan_request(self, doc: dict[str, Any], spec: str) -> None:
        base = doc["components"]["schemas"][spec]["properties"]["base"]
        assert base["$ref"] == "#/components/schemas/PlanRequest"

    @pytest.mark.parametrize(
        "parameter",
        [
            {"path": "sites/s1/power_mw", "values": [1, 2]},
            {"path": "sites/s1/power_mw", "scale": [0.5, 2]},
            {"path": "sites/s1/power_mw", "values": None, "scale": [0.5]},
            {"path": "sites/s1/power_mw", "values": [1], "scale": None},
            {"path": "sites/s1/power_mw"},
            {"path": "sites/s1/power_mw", "values": [1], "scale": [2]},
            {"path": "sites/s1/power_mw", "values": None, "scale": None},
            {"path": "sites/s1/power_mw", "values": []},
        ],
    )
    def test_exactly_one_of_values_or_scale_is_in_the_schema(
        self, doc: dict[str, Any], parameter: dict[str, Any]
    ) -> None:
        schema_accepts = validator(doc, "SweepParameter").is_valid(parameter)
        try:
            SweepParameter.model_validate(parameter)
            server_accepts = True
        except ValidationError:
            server_accepts = False
        assert schema_accepts == server_accepts

    def test_a_sweep_value_is_any_json_value_but_typed(self, doc: dict[str, Any]) -> None:
        comps = doc["components"]["schemas"]
        ref = {"$ref": "#/components/schemas/SweepValue"}
        kinds = {s["type"] for s in comps["SweepValue"]["anyOf"]}
        assert kinds == {"number", "string", "boolean", "array", "object", "null"}
        assert comps["SweepParameter"]["properties"]["values"]["anyOf"][0]["items"] == ref
        assert comps["ScenarioRow"]["properties"]["values"]["additionalProperties"] == ref
        for model, name in (
            ("TornadoBar", "low_value"),
            ("TornadoBar", "high_value"),
            ("NoValueSetting", "value"),
        ):
            assert comps[model]["properties"][name]["$ref"] == ref["$ref"], (model, name)


class TestCatalog:
    def test_catalog_entries_are_typed_and_the_packaged_ones_conform(self, doc: dict[str, Any]) -> None:
        items = doc["components"]["schemas"]["CatalogOut"]["properties"]["hardware"]["items"]
        assert items == {"$ref": "#/components/schemas/CatalogEntry"}
        check = validator(doc, "CatalogEntry")
        sent = CatalogOut.model_validate({"hardware": load_catalog()}).model_dump(mode="json")["hardware"]
        for entry in sent:
            check.validate(entry)
        assert not check.is_valid({**sent[0], "unit_pric_usd": 1})  # no unknown member

    @pytest.mark.parametrize(
        ("item", "valid"),
        [
            ({"catalog": "nvidia-h100-8x"}, True),
            ({"catalog": "nvidia-h100-8x", "unit_price_usd": 250000, "id": "h100"}, True),
            ({"catalog": "nvidia-h100-8x", "performance": {"llama-70b": None}}, True),
            ({"catalog": "nvidia-h100-8x", "unit_pric_usd": 250000}, False),  # a typo
            ({"catalog": "nvidia-h100-8x", "unit_price_usd": "cheap"}, False),
            ({"catalog": 7}, False),
        ],
    )
    def test_catalog_overrides_are_the_hardware_fields(
        self, doc: dict[str, Any], item: dict[str, Any], valid: bool
    ) -> None:
        assert validator(doc, "HardwareFromCatalog").is_valid(item) is valid


class TestResponses:
    def test_fields_the_server_always_sends_are_required(self, doc: dict[str, Any]) -> None:
        comps = doc["components"]["schemas"]
        for name in response_components(doc) - {"ProblemDetail"}:
            schema = comps[name]
            if "properties" in schema:
                assert set(schema.get("required", [])) == set(schema["properties"]), name
        problem = comps["ProblemDetail"]
        assert set(problem["required"]) == {"type", "title", "status", "detail", "instance", "request_id"}

    def test_request_fields_with_defaults_stay_optional(self, doc: dict[str, Any]) -> None:
        comps = doc["components"]["schemas"]
        assert set(comps["PlanRequest"]["required"]) == {"horizon", "sites", "hardware", "workloads"}
        assert set(comps["Hardware"]["required"]) == {"id", "vendor", "it_power_kw"}
        assert set(comps["SweepSpec"]["required"]) == {"base", "parameters"}
        assert not [n for n in comps if n.endswith(("-Input", "-Output"))]

    def test_a_sweep_job_response_lists_every_field_it_sends(self) -> None:
        # the shape the server writes (model_dump_json) has every field, null or empty included
        sent = SweepJob.model_validate(
            {
                "id": "j",
                "status": "queued",
                "mode": "grid",
                "total": 1,
                "done": 0,
                "created_at": "2026-01-01T00:00:00Z",
            }
        ).model_dump(mode="json")
        required = SweepJob.model_json_schema(mode="serialization")["required"]
        assert set(required) == set(sent)

    def test_a_page_gives_the_next_cursor_beside_the_next_link(self, doc: dict[str, Any]) -> None:
        page = doc["components"]["schemas"]["PlanPage"]
        assert set(page["required"]) == {"items", "next", "next_cursor"}
        cursor = doc["paths"]["/v1/plans"]["get"]["parameters"]
        assert "next_cursor" in next(p for p in cursor if p["name"] == "cursor")["description"]


class TestSchemathesis:
    """Every Schemathesis check against a live server (``schemathesis.toml``: a bounded number
    of examples, deterministic generation): zero failures.  Without keys every phase runs;
    with keys (two tenants) the phases that send generated requests run again, so that each
    route is tried with a key, without one and with a wrong one, and one tenant's plans are
    read with the other's key (object_level_authorization).  The coverage phase's boundary
    values of every body field do not depend on keys, so it runs once."""

    @staticmethod
    def run(tmp: Path, extra: list[str], **settings: Any) -> None:
        app = create_app(
            h.make_settings(
                tmp,
                workers=1,
                max_variables=2000,
                max_time_limit_s=2,
                solve_grace_s=5,
                queue_limit=1000,
                **settings,
            )
        )
        with h.uvicorn_client(app) as client:
            for _ in range(600):  # the workers start: at most a minute
                if client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.1)
            command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(SCHEMATHESIS_CONFIG)]
            command += ["run", "--checks", "all", "--no-color", "--output-truncate", "false", *extra]
            command.append(f"{client.base_url}/openapi.json")
            done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
        assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout[-20000:]

    def test_without_api_keys(self, tmp_path: Path) -> None:
        self.run(tmp_path, [])

    def test_with_api_keys(self, tmp_path: Path) -> None:
        users = [("alice", "key-alice"), ("bob", "key-bob")]
        wfc = {
            "auth": [
                {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
                for name, key in users
            ]
        }
        (tmp_path / "tenants.json").write_text(json.dumps(wfc))
        extra = ["--auth-wfc", str(tmp_path / "tenants.json"), "--phases", "examples,fuzzing,stateful"]
        self.run(tmp_path, extra, api_keys=",".join(f"{key}={name}" for name, key in users))
