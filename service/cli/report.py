"""``capplan report`` and ``capplan export``: a plan's HTML report and CSV tables from files.

``capplan report FILE -o report.html``: FILE is a request (solved first), a saved plan
(``capplan solve --json``), a ``{"plan": ..., "request": ...}`` bundle, or a sweep or
frontier result (``capplan sweep/frontier --json``).  ``capplan export PLAN --dir D`` writes
the plan's tables as CSV files into D.  Same library calls as the API.
"""

from __future__ import annotations

import argparse
import sys
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from service.cli import EXIT_OK
from service.cli.inputs import FileInvalid, about, read_json
from service.report import plan_tables, render_frontier_report, render_plan_report, render_sweep_report
from service.report.plan import request_mismatch
from solver import FieldError, Plan, PlanRequest, RequestInvalid, parse_request, plan
from solver.errors import quoted
from solver.scenarios.results import FrontierResult, FrontierRow, ScenarioRow, SweepResult
from solver.validate import field_errors


def _kind(doc: Any) -> str:
    """What a JSON document is: request, plan, bundle, sweep or frontier."""
    if not isinstance(doc, dict):
        return "unknown"
    if "plan" in doc and isinstance(doc["plan"], dict):
        return "bundle"
    if "horizon" in doc:
        return "request"
    if "rows" in doc:
        rows = doc.get("rows") or []
        if "points" in doc or any(isinstance(r, dict) and "target_served_fraction" in r for r in rows):
            return "frontier"
        return "sweep"
    if "status" in doc and "objective" in doc:
        return "plan"
    return "unknown"


@cache
def _lenient(model: type[BaseModel], row: type[BaseModel] | None = None) -> type[BaseModel]:
    """``model`` with every field optional and extra fields allowed (rows from a service job,
    partial rows); its ``rows`` of the lenient ``row`` model."""
    fields: dict[str, Any] = {
        name: (f.annotation | None, None)  # type: ignore[operator]
        for name, f in model.model_fields.items()
        if name not in ("rows", "tornado")  # the report computes its own tornado
    }
    if row is not None:
        fields["rows"] = (list[_lenient(row)] | None, None)  # type: ignore[misc]
    return create_model(f"Lenient{model.__name__}", __config__=ConfigDict(extra="allow"), **fields)


def _checked_result(doc: dict[str, Any], kind: str, source: str) -> dict[str, Any]:
    """A sweep or frontier result whose fields have their types (the report formats them):
    the fields present, checked and converted; a wrong type is an invalid file naming it."""
    model = (
        _lenient(FrontierResult, FrontierRow) if kind == "frontier" else _lenient(SweepResult, ScenarioRow)
    )
    try:
        checked = model.model_validate(doc)
    except ValidationError as exc:
        raise FileInvalid(
            source,
            [FieldError(e.path, f"not a valid {kind} result: {e.message}") for e in field_errors(exc, doc)],
        ) from None
    return checked.model_dump(mode="json", exclude_unset=True)


def _parse_plan(doc: Any, pointer: str) -> Plan:
    """The plan ``doc`` (at ``pointer`` in its file)."""
    try:
        return Plan.model_validate(doc)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise RequestInvalid([FieldError(pointer, f"not a valid plan ({first})")]) from None


def _parse_request_at(doc: Any, pointer: str) -> PlanRequest:
    """The request ``doc`` (at ``pointer`` in its file): its errors name fields from there."""
    try:
        return parse_request(doc)
    except RequestInvalid as exc:
        raise RequestInvalid(
            [FieldError(pointer + ("" if e.path in ("", "/") else e.path), e.message) for e in exc.errors]
        ) from None


def _not_a_plan(doc: Any, kind: str, results: bool) -> RequestInvalid:
    """What the file is, and what is needed instead: a plan (``results``: or a sweep or
    frontier result too, as ``capplan report`` takes)."""
    plans = (
        'a plan (capplan solve --json), a {"plan": ..., "request": ...} bundle or a request (solved first)'
    )
    if kind in ("sweep", "frontier"):  # only export gets here: report draws them
        why = (
            f"a {kind} result (capplan {kind} --json), not one plan: give {plans}; "
            f"capplan report draws a {kind} result"
        )
        return RequestInvalid([FieldError("/", why)])
    keys = list(doc) if isinstance(doc, dict) else []
    got = ", ".join(quoted(k, 24) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
    got = f"an object with the keys {got}" if keys else "an empty object"
    if results:
        why = f"neither a request, a plan, a sweep nor a frontier result ({got})"
    else:
        why = f"neither a request nor a plan ({got}): give {plans}"
    return RequestInvalid([FieldError("/", why)])


def load_plan_and_request(
    path: str, request_path: str | None = None, *, results: bool = True
) -> tuple[Plan, PlanRequest | None]:
    """The plan of ``path`` (solving it when it is a request) and its request when known.

    An invalid file is an invalid request naming the file (``--request`` is a second one),
    and one of another kind says what it is (``results``: the caller takes sweep and
    frontier results as well, elsewhere).
    """
    req: PlanRequest | None = None
    bundled: PlanRequest | None = None
    with about(path):
        doc = read_json(path)
        kind = _kind(doc)
        if kind == "request":
            req = parse_request(doc)
            result = plan(req)
        elif kind == "bundle":
            result = _parse_plan(doc["plan"], "/plan")
            if doc.get("request") is not None:
                bundled = _parse_request_at(doc["request"], "/request")
        elif kind == "plan":
            result = _parse_plan(doc, "/")
        else:
            raise _not_a_plan(doc, kind, results)
    if bundled is not None:
        req = _its_request(result, bundled, f"{path}: /request")
    if request_path is not None:
        with about(request_path):
            given = parse_request(read_json(request_path))
        req = _its_request(result, given, f"--request {request_path}")
    return result, req


def _its_request(result: Plan, req: PlanRequest, source: str) -> PlanRequest:
    """``req``, if it can be the request ``result`` was solved from (else RequestInvalid)."""
    why = request_mismatch(result, req)
    if why is not None:
        raise RequestInvalid([FieldError("/", f"{source} is not this plan's request: {why}")])
    return req


def _write(text: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(text)
        return
    out = Path(output)
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def _plan_link(template: str | None) -> Any:
    if not template:
        return None
    if "{id}" not in template:
        raise RequestInvalid([FieldError("--plan-link", "must contain '{id}' where the plan id goes")])
    return lambda pid: template.replace("{id}", pid)


def cmd_report(args: argparse.Namespace) -> int:
    with about(args.file):
        doc = read_json(args.file)
    kind = _kind(doc)
    if kind in ("sweep", "frontier"):
        render = render_frontier_report if kind == "frontier" else render_sweep_report
        doc = _checked_result(doc, kind, args.file)
        html = render(doc, plan_href=_plan_link(args.plan_link))
        what = f"{kind} ({len(doc.get('rows') or [])} scenarios)"
    else:
        result, req = load_plan_and_request(args.file, args.request)
        html = render_plan_report(result, req)
        what = f"plan, status {result.status}"
    _write(html, args.output)
    if args.output != "-":
        print(f"wrote {args.output}: {what}", file=sys.stderr)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    result, _ = load_plan_and_request(args.plan, results=False)
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in plan_tables(result).items():
        path = out / f"{name}.csv"
        # CSV text already carries CRLF line ends (RFC 4180): write it byte for byte
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    for path in written:  # listed once all are written: a closed stdout cannot cut the export short
        print(path)
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``report`` and ``export`` to the ``capplan`` subcommands."""
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a plan, sweep or frontier",
        description="FILE: a request (solved first), a plan (capplan solve --json), a "
        '{"plan": ..., "request": ...} bundle, or a sweep/frontier result (capplan sweep/frontier --json).',
    )
    p.add_argument("file", help="JSON file ('-' for stdin)")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write ('-' for stdout)")
    p.add_argument(
        "--request",
        default=None,
        help="the plan's request, for a saved plan: adds fleet MW and vendor share per period",
    )
    p.add_argument(
        "--plan-link",
        default=None,
        metavar="URL",
        help="sweep/frontier: link each scenario to URL with {id} replaced by its plan id",
    )
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("export", help="write a plan's tables as CSV files")
    p.add_argument("plan", help="plan JSON (capplan solve --json) or a request (solved first)")
    p.add_argument("--dir", required=True, help="directory to write fleet.csv, periods.csv, … into")
    p.set_defaults(func=cmd_export)
