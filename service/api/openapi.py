"""What the OpenAPI document says beyond the routes and models.

The body models and their schemas are added by :func:`service.api.bodies.install_openapi`; this
module completes the document where a route or model alone cannot say what the server does:

* a hardware item may be ``{"catalog": "<id>", ...overrides}`` (``HardwareFromCatalog``): the
  overrides are the fields of a hardware item, none required, no other member;
* security is that of the app described: with API keys configured every ``/v1`` route needs
  a bearer key (and may answer 401); without keys no route needs one, and the document says
  no security at all (a generated client then needs no credentials);
* every route may answer 422 (an unknown query parameter), routes without parameters too;
* links lead from what a POST creates (a plan, sweep or frontier) to the routes that read or
  delete it, so that clients and stateful testers (Schemathesis) can follow them.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from service.api.bodies import add_schema_patch
from service.api.errors import problems
from service.report import TABLES


def _catalog_reference(comps: dict[str, Any]) -> None:
    """A hardware item may also be ``{"catalog": "<id>", ...overrides}``."""
    hardware = comps.get("Hardware")
    if hardware is None:
        return
    # no defaults: an override left out keeps the entry's value, not the hardware default
    overrides = {
        name: {k: v for k, v in copy.deepcopy(prop).items() if k != "default"}
        for name, prop in hardware["properties"].items()
    }
    overrides["performance"] = {
        "type": "object",
        "title": "Performance",
        "description": "Curves by model: one given replaces that model's curve of the entry, null "
        "removes a model of the entry; the entry's other models stay.",
        "additionalProperties": {"anyOf": [{"$ref": "#/components/schemas/Performance"}, {"type": "null"}]},
    }
    comps["HardwareFromCatalog"] = {
        "title": "HardwareFromCatalog",
        "type": "object",
        "description": "Start from a default-catalog entry (GET /v1/catalog) and override fields: "
        "any field of a hardware item (each replaces the entry's), none required.",
        "properties": {"catalog": {"type": "string", "description": "Catalog entry id."}, **overrides},
        "required": ["catalog"],
        "additionalProperties": False,
    }
    hw = comps.get("PlanRequest", {}).get("properties", {}).get("hardware")
    if hw is not None and "items" in hw:
        hw["items"] = {"anyOf": [hw["items"], {"$ref": "#/components/schemas/HardwareFromCatalog"}]}


add_schema_patch(_catalog_reference)


_PLAN_ID = "$response.body#/id"
_LINKS: dict[str, dict[str, tuple[str, str, dict[str, str]]]] = {
    "/v1/plans": {
        "GetPlan": ("/v1/plans/{plan_id}", "get", {"plan_id": _PLAN_ID}),
        "DeletePlan": ("/v1/plans/{plan_id}", "delete", {"plan_id": _PLAN_ID}),
        "PlanReport": ("/v1/plans/{plan_id}/report", "get", {"plan_id": _PLAN_ID}),
        "PlanTable": (
            "/v1/plans/{plan_id}/tables/{name}.csv",
            "get",
            {"plan_id": _PLAN_ID, "name": TABLES[0]},
        ),
        "DiffWithItself": ("/v1/plans/{a}/diff/{b}", "get", {"a": _PLAN_ID, "b": _PLAN_ID}),
    },
    "/v1/sweeps": {
        "GetSweep": ("/v1/sweeps/{sweep_id}", "get", {"sweep_id": _PLAN_ID}),
        "DeleteSweep": ("/v1/sweeps/{sweep_id}", "delete", {"sweep_id": _PLAN_ID}),
        "SweepReport": ("/v1/sweeps/{sweep_id}/report", "get", {"sweep_id": _PLAN_ID}),
    },
    "/v1/frontiers": {
        "GetFrontier": ("/v1/frontiers/{frontier_id}", "get", {"frontier_id": _PLAN_ID}),
        "DeleteFrontier": ("/v1/frontiers/{frontier_id}", "delete", {"frontier_id": _PLAN_ID}),
        "FrontierReport": ("/v1/frontiers/{frontier_id}/report", "get", {"frontier_id": _PLAN_ID}),
    },
}
"""OpenAPI links from what a POST creates to the routes that read or remove it (by its id)."""


def _add_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for source, links in _LINKS.items():
        post = paths.get(source, {}).get("post")
        if post is None:
            continue
        found = {
            name: {"operationId": paths[path][method]["operationId"], "parameters": params}
            for name, (path, method, params) in links.items()
            if method in paths.get(path, {})
        }
        for code, response in post["responses"].items():
            if code.startswith("2"):
                response["links"] = found


def _query_problems(schema: dict[str, Any]) -> None:
    """Every route may answer 422: an unknown query parameter (:func:`service.api.deps.known_query_only`)."""
    problem = problems(422, app_state=False)[422]
    for item in schema.get("paths", {}).values():
        for op in (op for op in item.values() if isinstance(op, dict)):
            op["responses"].setdefault("422", problem)


def _no_security(schema: dict[str, Any]) -> None:
    for item in schema.get("paths", {}).values():
        for op in (op for op in item.values() if isinstance(op, dict)):
            op.pop("security", None)
            op["responses"].pop("401", None)
    schema.get("components", {}).pop("securitySchemes", None)


def finish_openapi(app: FastAPI, keys_configured: bool) -> None:
    """Make ``app.openapi()`` state what the app does beyond its routes' declarations (the
    module docstring): its security, a 422 on every route, links between routes.

    The routes all declare the bearer dependency (it reads the key when keys are set), so
    FastAPI marks every one of them secured; without keys that is dropped, with the 401s."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        schema = base()  # cached by FastAPI after the first call; the steps below are idempotent
        _query_problems(schema)
        _add_links(schema)
        if not keys_configured:
            _no_security(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
