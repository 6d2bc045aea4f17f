"""One process per SQLite file, one per replica id on PostgreSQL (service.jobs.ownership), taken
before the app reads or writes anything.  Two real ``capplan serve`` processes are in
test_cli_serve.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.api.app import create_app
from service.jobs.ownership import FileLock, ReplicaLock, StartupError, hold_database, replica_key
from service.settings import Settings
from tests.helpers import service as h
from tests.helpers.ray_cluster import PG_URL


class TestFileLock:
    def test_a_second_holder_is_refused_naming_the_first(self, tmp_path: Path) -> None:
        db = tmp_path / "capplan.db"
        first = FileLock.acquire(db)
        try:
            with pytest.raises(StartupError) as refused:
                FileLock.acquire(db)  # another open file: refused even in the same process
            msg = str(refused.value)
            assert f"the database {db} is in use by another capplan process (pid {os.getpid()} on " in msg
            assert "\n" not in msg
        finally:
            first.release()
        FileLock.acquire(db).release()  # released: free again

    def test_a_killed_holder_leaves_the_database_free(self, tmp_path: Path) -> None:
        db = tmp_path / "capplan.db"
        code = (
            "import sys, time; from pathlib import Path; from service.jobs.ownership import FileLock; "
            f"FileLock.acquire(Path({str(db)!r})); print('held', flush=True); time.sleep(120)"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline() == "held\n"
            with pytest.raises(StartupError, match=f"pid {child.pid} "):
                FileLock.acquire(db)
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            child.kill()
            child.wait(30)
        FileLock.acquire(db).release()  # the kernel dropped the lock with the process

    def test_a_missing_folder_is_one_line_naming_it(self, tmp_path: Path) -> None:
        missing = tmp_path / "not-there"
        with pytest.raises(StartupError) as refused:
            hold_database(Settings(data_dir=missing))
        assert str(refused.value).startswith(f"the database folder {missing} does not exist: ")
        assert "\n" not in str(refused.value)
        assert not missing.exists()  # a folder the settings name is never made up

    def test_the_default_data_folder_is_made(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        monkeypatch.delenv("CAPPLAN_DATA_DIR", raising=False)
        monkeypatch.delenv("CAPPLAN_DATABASE_URL", raising=False)
        settings = Settings()
        assert settings.default_data_dir == tmp_path / "data" / "capplan"
        hold_database(settings).release()
        assert (tmp_path / "data" / "capplan").is_dir()
        assert (tmp_path / "data" / "capplan" / "capplan.db.lock").is_file()


class TestAppOnALiveDatabase:
    def test_a_second_app_is_refused_and_touches_no_plan(self, tmp_path: Path) -> None:
        # Both call themselves "local".  Before the lock the second one re-queued the first's
        # plans at start (its own replica id: "an earlier process of mine, now gone").
        runner = h.ManualRunner()
        settings = h.make_settings(tmp_path)
        with TestClient(create_app(settings, runner=runner)) as c:
            h.settled(runner, c.app)
            queued = c.post("/v1/plans", json=h.small_request(), headers={"Prefer": "respond-async"})
            running = c.post(
                "/v1/plans", json=h.small_request(demand=2000), headers={"Prefer": "respond-async"}
            )
            runner.begin(running.json()["id"])
            store = c.app.state.capplan.store  # type: ignore[attr-defined]
            before = {r.id: (r.status, r.owner, r.attempts, r.updated_at) for r in store.unfinished_plans()}
            assert len(before) == 2
            second = h.ManualRunner()
            with pytest.raises(StartupError, match="in use by another capplan process"):
                with TestClient(create_app(settings, runner=second)):
                    pass
            assert second.jobs == {}  # nothing re-queued or solved there
            after = {r.id: (r.status, r.owner, r.attempts, r.updated_at) for r in store.unfinished_plans()}
            assert after == before
            assert set(runner.futures) == set(before)  # no solve stopped here
            runner.finish(running.json()["id"], None, run=True)
            assert c.get(running.headers["location"]).json()["objective"]["value"] == pytest.approx(2000.0)
            runner.finish(queued.json()["id"], None, run=True)
            assert c.get(queued.headers["location"]).json()["objective"]["value"] == pytest.approx(5000.0)
        with TestClient(create_app(settings, runner=h.ManualRunner())):
            pass  # the first one stopped: the file is free


class TestReplicaLock:
    def test_one_replica_id_is_one_process(self, pg_schema: str) -> None:
        first = ReplicaLock.acquire(PG_URL, pg_schema, "r1")
        try:
            with pytest.raises(StartupError, match="another running process calls itself replica 'r1'"):
                ReplicaLock.acquire(PG_URL, pg_schema, "r1")
            ReplicaLock.acquire(PG_URL, pg_schema, "r2").release()  # other ids: as many as wanted
            ReplicaLock.acquire(PG_URL, pg_schema + "x", "r1").release()  # one id per schema
        finally:
            first.release()
        ReplicaLock.acquire(PG_URL, pg_schema, "r1").release()

    def test_a_lost_connection_is_replaced_and_the_id_taken_again(self, pg_schema: str) -> None:
        lock = ReplicaLock.acquire(PG_URL, pg_schema, "r1")
        engine = create_engine(PG_URL)
        try:
            kill = text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = :k"
            )
            with engine.begin() as conn:
                assert conn.execute(kill, {"k": lock.key}).scalar() is True
            assert lock.check()  # a new connection, the lock taken again
            with pytest.raises(StartupError):
                ReplicaLock.acquire(PG_URL, pg_schema, "r1")
            with engine.begin() as conn:
                conn.execute(kill, {"k": lock.key})
            other = ReplicaLock.acquire(PG_URL, pg_schema, "r1")  # took the id meanwhile
            try:
                assert not lock.check()  # then this one takes nothing over (LeaseKeeper)
            finally:
                other.release()
            assert lock.check()
        finally:
            lock.release()
            engine.dispose()

    def test_a_holder_silent_for_longer_than_a_lease_is_taken_for_gone(self, pg_schema: str) -> None:
        # A machine lost without closing its connection: the server may keep its session (and
        # lock) for hours.  A live holder runs a statement every lease round (check()).
        lost = ReplicaLock.acquire(PG_URL, pg_schema, "r1", lease_s=0.5)
        try:
            with pytest.raises(StartupError):  # silent for less than a 600 s lease: alive
                ReplicaLock.acquire(PG_URL, pg_schema, "r1", lease_s=600)
            time.sleep(1.0)  # no statement for longer than a 0.5 s lease
            successor = ReplicaLock.acquire(PG_URL, pg_schema, "r1", lease_s=0.5)
            try:
                assert not lost.check()  # its session was ended, and the id is the successor's
            finally:
                successor.release()
        finally:
            lost.release()

    def test_an_unreachable_server_is_one_line_without_the_password(self) -> None:
        url = "postgresql+psycopg://u:secret@127.0.0.1:1/db"
        with pytest.raises(StartupError) as refused:
            ReplicaLock.acquire(url, None, "r1")
        msg = str(refused.value)
        assert msg.startswith("cannot reach the database postgresql+psycopg://u:***@127.0.0.1:1/db: ")
        assert "secret" not in msg and "\n" not in msg

    def test_keys_differ_by_schema_and_id(self) -> None:
        keys = {replica_key(s, r) for s in (None, "a", "b") for r in ("r1", "r2")}
        assert len(keys) == 6
        assert all(-(2**63) <= k < 2**63 for k in keys)
