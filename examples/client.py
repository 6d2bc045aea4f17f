"""Post a planning request to a running capplan service and print the plan's headline.

    python examples/client.py examples/cerebras-750mw.json
    python examples/client.py examples/gpu-only-baseline.json --url http://127.0.0.1:8000 --async
    CAPPLAN_API_KEY=secret python examples/client.py examples/small-integer.json --json

``POST /v1/plans`` answers 201 with the plan (200 with the stored plan of an identical request),
or — with ``Prefer: respond-async`` — 202 and a
``Location`` header that this client polls (``GET /v1/plans/{id}``) until the plan is
finished.  Errors (``application/problem+json``) are printed with their field paths.
Exit codes: 0 a plan came back (whatever its status), 2 the service rejected the request,
1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

FINISHED = {"optimal", "feasible", "infeasible", "unbounded", "time_limit", "failed"}


class ServiceError(Exception):
    """The service answered with an error (problem+json)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.status = status
        self.problem = problem


def _problem(resp: httpx.Response) -> ServiceError:
    try:
        body = resp.json()
    except ValueError:
        body = {"detail": resp.text[:500]}
    if not isinstance(body, dict):
        body = {"detail": str(body)[:500]}
    return ServiceError(resp.status_code, body)


def submit(
    client: httpx.Client,
    request: dict[str, Any],
    *,
    wait_async: bool = False,
    poll_s: float = 0.5,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Solve ``request`` on the service behind ``client``; return the finished plan JSON.

    With ``wait_async`` the request is queued (``Prefer: respond-async``) and the plan is
    polled at its ``Location`` until its status is final or ``timeout_s`` passes.
    """
    headers = {"Prefer": "respond-async"} if wait_async else {}
    resp = client.post("/v1/plans", json=request, headers=headers)
    if resp.status_code in (200, 201):  # 200: the stored plan of an identical request
        return dict(resp.json())
    if resp.status_code != 202:
        raise _problem(resp)
    location = resp.headers.get("Location")
    if not location:
        raise ServiceError(resp.status_code, {"detail": "202 without a Location header"})
    deadline = time.monotonic() + timeout_s
    while True:
        got = client.get(location)
        if got.status_code != 200:
            raise _problem(got)
        body = dict(got.json())
        if body.get("status") in FINISHED:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"plan at {location} still {body.get('status')} after {timeout_s:g} s")
        time.sleep(poll_s)


def headline(p: dict[str, Any]) -> str:
    """A few lines summarising a plan JSON: status, cost, mix, limits, diagnosis."""
    lines = [f"plan {p.get('id', '?')}  {p.get('name', '')}  status: {p.get('status')}"]
    s = p.get("summary") or {}
    if p.get("status") in ("optimal", "feasible"):
        cpm = s.get("cost_per_million_tokens_usd")
        lines.append(
            f"NPV cost ${s.get('npv_cost_usd', 0):,.0f}; served {s.get('served_fraction', 0):.1%}; "
            + ("cost per million tokens -" if cpm is None else f"cost per million tokens ${cpm:,.4f}")
        )
        units = ", ".join(f"{h} {u:,.0f}" for h, u in (s.get("units_acquired") or {}).items())
        lines.append(f"acquired: {units or '-'}")
        shares = ", ".join(f"{v} {x:.1%}" for v, x in (s.get("it_power_share_by_vendor") or {}).items())
        lines.append(f"IT power by vendor: {shares or '-'}")
        if p.get("binding"):
            lines.append("binding: " + "; ".join(p["binding"]))
        prices = (p.get("shadow_prices") or {}).get("power_usd_per_mw") or []
        top = sorted((x for x in prices if x.get("value")), key=lambda x: -x["value"])[:3]
        for x in top:
            lines.append(f"one more MW at {x['site']} in {x['period']} is worth ${x['value']:,.0f}")
    for d in p.get("diagnosis") or []:
        lines.append(f"diagnosis: {d.get('message')}")
    for w in p.get("warnings") or []:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, client: httpx.Client | None = None) -> int:
    parser = argparse.ArgumentParser(description="Post a request file to a capplan service.")
    parser.add_argument("file", help="request JSON file")
    parser.add_argument("--url", default=os.environ.get("CAPPLAN_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--async", dest="wait_async", action="store_true", help="queue, then poll")
    parser.add_argument("--json", action="store_true", help="print the whole plan JSON")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the plan")
    args = parser.parse_args(argv)
    request = json.loads(Path(args.file).read_text(encoding="utf-8"))
    key = os.environ.get("CAPPLAN_API_KEY")
    own = client is None
    if client is None:
        client = httpx.Client(
            base_url=args.url,
            timeout=args.timeout,
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )
    try:
        p = submit(client, request, wait_async=args.wait_async, timeout_s=args.timeout)
    except ServiceError as exc:
        print(f"error {exc.status}: {exc}", file=sys.stderr)
        for err in exc.problem.get("errors") or []:
            print(f"  {err.get('path', '')}: {err.get('message', err)}", file=sys.stderr)
        return 2 if exc.status in (400, 413, 422) else 1
    except (httpx.HTTPError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if own:
            client.close()
    print(json.dumps(p, indent=2) if args.json else headline(p))
    return 0


if __name__ == "__main__":
    sys.exit(main())
