"""Settings from CAPPLAN_* environment variables."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.jobs.store import OWNER_CHARS, TENANT_CHARS
from service.settings import DEFAULT_MAX_BODY_BYTES, Settings


class TestSettings:
    def test_defaults(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        for var in ("CAPPLAN_DATABASE_URL", "CAPPLAN_DATA_DIR", "CAPPLAN_API_KEYS", "CAPPLAN_PORT"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
        s = Settings()
        # the user's data folder, not the working directory (a database inside a source tree)
        assert s.database_url == f"sqlite:///{tmp_path / 'capplan' / 'capplan.db'}"
        assert s.default_data_dir == tmp_path / "capplan"
        assert s.port == 8000
        assert s.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 5 * 1024 * 1024
        assert s.api_keys == {}
        assert s.workers >= 1

    def test_environment(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("CAPPLAN_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("CAPPLAN_API_KEYS", " k1=alice , k2=bob,")
        monkeypatch.setenv("CAPPLAN_PORT", "9123")
        monkeypatch.setenv("CAPPLAN_WORKERS", "3")
        monkeypatch.setenv("CAPPLAN_LOG_LEVEL", "WARNING")
        s = Settings()
        assert s.database_url == f"sqlite:///{tmp_path / 'capplan.db'}"
        assert s.default_data_dir is None  # a folder named by the settings must exist
        assert s.api_keys == {"k1": "alice", "k2": "bob"}
        assert (s.port, s.workers, s.log_level) == (9123, 3, "warning")

    def test_explicit_database_url_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("CAPPLAN_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("CAPPLAN_DATABASE_URL", "postgresql+psycopg://u@h/db")
        assert Settings().database_url == "postgresql+psycopg://u@h/db"

    @pytest.mark.parametrize("bad", ["keyonly", "=tenant", "key=", "a=b,c"])
    def test_malformed_api_keys_are_refused(self, monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
        monkeypatch.setenv("CAPPLAN_API_KEYS", bad)
        with pytest.raises(ValidationError, match="key=tenant"):
            Settings()

    def test_one_key_for_two_tenants_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CAPPLAN_API_KEYS", "k1=alice,k2=bob,k1=bob")
        with pytest.raises(ValidationError, match="one key to two tenants \\('alice' and 'bob'\\)"):
            Settings()
        monkeypatch.setenv("CAPPLAN_API_KEYS", "k1=alice,k1=alice")  # said twice: one meaning
        assert Settings().api_keys == {"k1": "alice"}

    def test_bounds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CAPPLAN_WORKERS", "0")
        with pytest.raises(ValidationError, match="workers"):
            Settings()

    def test_a_tenant_longer_than_the_tables_keep_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Accepted at start-up, then every POST of that tenant was a 500 on PostgreSQL
        # (plans.tenant is VARCHAR(128)).
        monkeypatch.setenv("CAPPLAN_API_KEYS", "k1=alice,k2=" + "t" * (TENANT_CHARS + 1))
        with pytest.raises(ValidationError, match="api_keys names a tenant of 129 characters") as caught:
            Settings()
        assert "api_keys" in str(caught.value) and "at most 128" in str(caught.value)
        monkeypatch.setenv("CAPPLAN_API_KEYS", "k1=alice,k2=" + "t" * TENANT_CHARS)
        assert Settings().api_keys["k2"] == "t" * TENANT_CHARS

    def test_a_replica_id_the_tables_cannot_keep_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CAPPLAN_REPLICA_ID", "r" * (OWNER_CHARS + 1))
        with pytest.raises(ValidationError, match="replica_id"):
            Settings()

    def test_the_default_replica_id_fits_the_tables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # a host name may be up to 255 characters on some systems
        monkeypatch.delenv("CAPPLAN_REPLICA_ID", raising=False)
        monkeypatch.setattr(socket, "gethostname", lambda: "h" * 255)
        rid = Settings(database_url="postgresql+psycopg://u@h/db").replica_id
        assert len(rid) == OWNER_CHARS and rid.startswith("hhh") and rid.count("-") == 2

    @pytest.mark.parametrize(
        "keys", ["s3cr3t-k3y=alice,s3cr3t-k3y=bob", "s3cr3t-k3y=" + "t" * 200, "s3cr3t-k3y"]
    )
    def test_a_settings_error_does_not_print_the_api_keys(
        self, monkeypatch: pytest.MonkeyPatch, keys: str
    ) -> None:
        # The message is printed at start-up (logs): it named the whole CAPPLAN_API_KEYS value.
        monkeypatch.setenv("CAPPLAN_API_KEYS", keys)
        with pytest.raises(ValidationError, match="api_keys") as caught:
            Settings()
        assert "s3cr3t" not in str(caught.value)
