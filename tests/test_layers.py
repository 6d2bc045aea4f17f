"""What imports what (docs/architecture.md, "What imports what"): read from every import
statement of the source, function-level ones included, so a layer cannot reach past its
neighbours even lazily."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the pure library: pydantic in, pydantic out; no web, no database, no process pools
    "solver": (
        "service",
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "httpx",
        "multiprocessing",
        "concurrent",
        "signal",
        "ray",
    ),
    # Plan -> HTML/CSV: renders without a solver, a web framework or the job machinery
    "service/report": (
        "pulp",
        "highspy",
        "fastapi",
        "starlette",
        "sqlalchemy",
        "solver.planner",
        "solver.solve",
        "solver.model",
        "solver.advice",
        "solver.scenarios.run",
        "solver.scenarios.sweep",
        "solver.scenarios.frontier",
        "service.api",
        "service.cli",
        "service.jobs",
    ),
    # the job machinery serves the API and the CLI, and knows neither
    "service/jobs": ("service.api", "service.cli", "fastapi", "starlette"),
    "service/api": ("service.cli",),
    "service/strict_json.py": ("service.api", "service.cli", "service.jobs", "fastapi"),
    "service/request_id.py": ("service.api", "service.cli", "service.jobs", "fastapi"),
}


def imported(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names (``from a.b import c``: ``a.b`` and
    ``a.b.c``, as ``c`` may be a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def sources(where: str) -> list[Path]:
    target = ROOT / where
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_it_must_not(layer: str) -> None:
    banned = FORBIDDEN[layer]
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(layer)
        for name in sorted(imported(path))
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]
    assert found == []


def test_the_rule_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from service.api.app import create_app\n    import pulp\n")
    assert {"service.api.app", "service.api.app.create_app", "pulp"} <= imported(module)
