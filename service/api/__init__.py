"""The REST API (FastAPI): the app factory, its routes, and what they share.

* :mod:`service.api.app` — ``create_app(settings)``: the lifespan that wires the store, the job
  runner, the plan service and the scenario jobs, and every router, included by name;
* :mod:`service.api.routes` — one module per resource (``/v1/plans/*`` all in
  :mod:`service.api.routes.plans`);
* :mod:`service.api.plan_service` — between the plan routes and the runner: check, deduplicate,
  store, queue, record;
* :mod:`service.api.deps` (state, tenant), :mod:`service.api.bodies` (strict JSON bodies and
  their OpenAPI description), :mod:`service.api.errors` (RFC 9457 problem+json),
  :mod:`service.api.schemas` (response models of the API only), :mod:`service.api.openapi`,
  :mod:`service.api.observability` (logs, metrics, the request middleware).
"""
