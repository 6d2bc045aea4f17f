"""The deployment examples (deploy/) name only settings that exist and parse as YAML.

Nothing here starts Docker or Kubernetes (see docs/deploy.md for what was run and how).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
FILES = [DEPLOY / "compose.yaml", DEPLOY / "k8s" / "capplan-api.yaml"]  # the ones that configure capplan


def _env_names(obj: Any) -> set[str]:
    """CAPPLAN_* variable names anywhere in a parsed document (mapping keys or name: fields)."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) and k.startswith("CAPPLAN_"):
                out.add(k)
            if k == "name" and isinstance(v, str) and v.startswith("CAPPLAN_"):
                out.add(v)
            out |= _env_names(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= _env_names(v)
    return out


class TestDeployFiles:
    @pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
    def test_every_capplan_variable_is_a_setting(self, path: Path) -> None:
        docs = list(yaml.safe_load_all(path.read_text()))
        names = set().union(*(_env_names(d) for d in docs))
        assert names, f"{path.name} sets no CAPPLAN_ variable"
        fields = {f"CAPPLAN_{f.upper()}" for f in Settings.model_fields}
        assert names <= fields, f"unknown settings in {path.name}: {sorted(names - fields)}"

    def test_compose_api_settings_are_valid_and_distinct(self, monkeypatch: pytest.MonkeyPatch) -> None:
        compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
        assert {"postgres", "ray-head", "ray-worker", "api-1", "api-2"} <= set(compose["services"])
        ids = []
        for name in ("api-1", "api-2"):
            env = compose["services"][name]["environment"]
            for key, value in env.items():
                if key.startswith("CAPPLAN_"):
                    monkeypatch.setenv(key, re.sub(r"\$\{[^}]*\}", "x", str(value)))
            s = Settings()
            assert (s.runner, s.ray_address, s.database_url.split("@")[-1]) == (
                "ray",
                "ray-head:6379",
                "postgres:5432/capplan",
            )
            ids.append(s.replica_id)
        assert ids == ["api-1", "api-2"]

    def test_kubernetes_objects_have_kinds(self) -> None:
        kinds = [d["kind"] for p in DEPLOY.glob("k8s/*.yaml") for d in yaml.safe_load_all(p.read_text())]
        assert sorted(kinds) == ["Deployment", "RayCluster", "Secret", "Service"]
