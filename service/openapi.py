"""What the OpenAPI document says beyond the models: catalog references and security.

The body models and their schemas are added by :func:`service.bodies.install_openapi`; this
module corrects the document where a model alone cannot say what the server does:

* a hardware item may be ``{"catalog": "<id>", ...overrides}`` (``HardwareFromCatalog``): the
  overrides are the fields of a hardware item, none required, no other member;
* security is that of the app described: with API keys configured every ``/v1`` route needs
  a bearer key (and may answer 401); without keys no route needs one, and the document says
  no security at all (a generated client then needs no credentials).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from service.bodies import add_schema_patch


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


def describe_security(app: FastAPI, keys_configured: bool) -> None:
    """Make ``app.openapi()`` state the app's real security (see the module docstring).

    The routes all declare the bearer dependency (it reads the key when keys are set), so
    FastAPI marks every one of them secured; without keys that is dropped, with the 401s."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        schema = base()
        if not keys_configured:
            for item in schema.get("paths", {}).values():
                for op in (op for op in item.values() if isinstance(op, dict)):
                    op.pop("security", None)
                    op.get("responses", {}).pop("401", None)
            components = schema.get("components", {})
            components.pop("securitySchemes", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
