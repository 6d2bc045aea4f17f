"""Schemathesis against ``/openapi.json``: no 5xx, and every response conforms to the document.

A bounded number of generated examples per operation (CI budget).  Generated plan requests
are solved for real, on a small model-size limit and a short time limit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from tests.service import svc_helpers as h

_TMP = Path(tempfile.mkdtemp(prefix="capplan-schemathesis-"))
APP = create_app(
    h.make_settings(
        _TMP, workers=1, max_variables=2000, max_time_limit_s=2, solve_grace_s=5, queue_limit=1000
    )
)
atexit.register(shutil.rmtree, _TMP, True)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _ensure_ready() -> None:
    """Start the app (schemathesis keeps its lifespan until exit) and wait for its workers."""
    with asgi.get_client(APP) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the app never became ready"
            time.sleep(0.05)


class TestOpenApiDocument:
    def test_every_operation_documents_problems(self) -> None:
        doc = APP.openapi()
        for path, item in doc["paths"].items():
            for method, op in item.items():
                codes = set(op["responses"])
                assert "500" in codes, (method, path)
                if path.startswith("/v1/"):
                    assert "401" in codes, (method, path)
                    assert "503" in codes, (method, path)  # starting, stopping, database outage
                    assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)
                for code, resp in op["responses"].items():
                    if code.startswith(("4", "5")):
                        assert "application/problem+json" in resp["content"], (method, path, code)
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        assert "503" not in doc["paths"]["/healthz"]["get"]["responses"]  # needs nothing that can be down

    def test_request_body_schema_is_the_plan_request(self) -> None:
        doc = APP.openapi()
        body = doc["paths"]["/v1/plans"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/PlanRequest"}
        assert doc["components"]["schemas"]["PlanRequest"]["additionalProperties"] is False


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    _ensure_ready()
    case.call_and_validate(checks=CHECKS)
