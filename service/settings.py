"""Service settings, read from ``CAPPLAN_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import socket
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_data_dir
from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.jobs.store import OWNER_CHARS, TENANT_CHARS
from solver.errors import quoted

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024


def _default_workers() -> int:
    """CPUs this process may use (its affinity mask on Linux), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Every knob of the service; ``CAPPLAN_<NAME>`` in the environment sets ``<name>``."""

    # hide_input_in_errors: a start-up error must not print CAPPLAN_API_KEYS (secrets) in the log
    model_config = SettingsConfigDict(
        env_prefix="CAPPLAN_", extra="ignore", env_ignore_empty=True, hide_input_in_errors=True
    )

    data_dir: Path | None = Field(
        None,
        description="Folder of the default SQLite file (capplan.db), which must exist; unset: the "
        "user's data folder (~/.local/share/capplan on Linux), created at start.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL: sqlite:///path.db (default: capplan.db in data_dir) or "
        "postgresql+psycopg://user@host/db.",
    )
    database_schema: str | None = Field(
        None, description="Schema (PostgreSQL) holding the tables; the default search path if unset."
    )
    workers: int = Field(default_factory=_default_workers, ge=1, le=256, description="Solver processes.")
    queue_limit: int = Field(64, ge=0, description="Most solves waiting for a worker; beyond: 429.")
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024, description="Largest request body; 413.")
    max_variables: int = Field(2_000_000, ge=1, description="Largest model (columns) a request may build.")
    max_scenarios: int = Field(1000, ge=1, description="Most scenarios one sweep or frontier may run.")
    max_time_limit_s: float = Field(600.0, gt=0, description="Cap on the time limit a request asks for.")
    check_budget_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Most time a large body (or a sweep's) waits for its turn to be checked (503 beyond), "
        "and most time a sweep's or frontier's scenarios may take to check (422 beyond).",
    )
    solve_grace_s: float = Field(
        15.0, ge=0, description="Extra time past the time limit before the watchdog kills a solve."
    )
    shutdown_grace_s: float = Field(
        20.0, ge=0, description="How long a shutdown waits for running solves before re-queueing them."
    )
    max_attempts: int = Field(
        3, ge=1, description="Start-ups that may re-run an unfinished solve before it is marked failed."
    )
    worker_max_jobs: int = Field(200, ge=1, description="Jobs a worker process runs before it is recycled.")
    runner: Literal["local", "ray"] = Field(
        "local", description="Where solves run: local worker processes, or a Ray cluster (the ray extra)."
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster to join ('auto', 'head-host:6379'); unset: start a private one-machine Ray.",
    )
    ray_namespace: str = Field("capplan", min_length=1, description="Ray namespace of the service's tasks.")
    ray_max_batch: int = Field(
        16, ge=1, le=1000, description="Most small sweep scenarios one Ray task solves in a row."
    )
    replica_id: str = Field(
        "",
        max_length=OWNER_CHARS,
        description="This API process's name in plan and job leases; must be unique among running "
        "replicas. Default: 'local' on SQLite (one process per file), host-pid-random otherwise.",
    )
    lease_s: float = Field(
        30.0,
        ge=1.0,
        le=3600.0,
        description="How long a replica's claim on a queued/running plan or job lasts without renewal "
        "(renewed every lease_s/3); another replica takes over the work of one silent for longer.",
    )
    api_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="'key=tenant,key2=tenant2'. When set, every /v1 route needs 'Authorization: Bearer <key>'.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = Field(True, description="Structured JSON logs on stderr (under `capplan serve`).")

    _default_data_dir: Path | None = PrivateAttr(None)

    @property
    def default_data_dir(self) -> Path | None:
        """The user's data folder when the database is the default file in it (created at
        start), else None (a folder the settings name must exist)."""
        return self._default_data_dir

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        out: dict[str, str] = {}
        for item in v.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, tenant = item.partition("=")
            if not sep or not key.strip() or not tenant.strip():
                raise ValueError("api_keys must be 'key=tenant' pairs separated by commas")
            key, tenant = key.strip(), tenant.strip()
            if len(tenant) > TENANT_CHARS:  # the database would refuse every plan of the tenant
                raise ValueError(
                    f"api_keys names a tenant of {len(tenant)} characters ({quoted(tenant)}): "
                    f"at most {TENANT_CHARS} are kept"
                )
            if out.get(key, tenant) != tenant:  # which tenant would its caller be?
                raise ValueError(f"api_keys gives one key to two tenants ({out[key]!r} and {tenant!r})")
            out[key] = tenant
        return out

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _default_url(self) -> Settings:
        if not self.database_url:
            folder = self.data_dir
            if folder is None:
                folder = self._default_data_dir = default_data_dir()
            self.database_url = f"sqlite:///{folder / 'capplan.db'}"
        if not self.replica_id:
            if self.database_url.startswith("sqlite"):
                self.replica_id = "local"
            else:
                suffix = f"-{os.getpid()}-{uuid.uuid4().hex[:6]}"
                host = socket.gethostname()[: OWNER_CHARS - len(suffix)]  # some systems allow 255
                self.replica_id = host + suffix
        return self


def default_data_dir() -> Path:
    """The user's data folder for capplan (``$XDG_DATA_HOME/capplan``, ~/.local/share/capplan on
    Linux; the platform's equivalent elsewhere), not the working directory: a server started
    from another folder finds the same plans, and no database lands inside a source tree."""
    return Path(user_data_dir("capplan", appauthor=False))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings (read once from the environment)."""
    return Settings()
