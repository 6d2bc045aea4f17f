"""Who may work on a database: one process per SQLite file, one process per replica id.

At start-up a replica takes over the unfinished plans and jobs of its own replica id (an
earlier process of that id is gone, e.g. after ``kill -9``): see
:meth:`service.api.plan_service.PlanService.recover`.  A second process of the same id on a live database
would therefore re-queue the first one's plans, fence its running solves and refuse to record
its results.  So before the store is opened (before any table, lease or plan is touched) the
app takes a *hold* on the database, and a process that cannot take it stops with a one-line
:class:`StartupError`, having changed nothing:

SQLite
    An exclusive OS lock (``flock``) on ``<database file>.lock`` beside the database, held while
    the app runs.  The kernel drops it when the process ends however it ends (``kill -9``
    too), so a crashed server never blocks the next start.  The lock file is left in place:
    removing it would let two processes lock two different files of one name.
PostgreSQL
    Replicas are many by design (leases, :mod:`service.jobs.leases`), but each needs its own id: a
    session-level advisory lock keyed by schema and replica id, on a connection of its own.
    If that connection is lost the lock is taken again at the next lease round
    (:meth:`Hold.check`); while another process holds the id, this one takes nothing over.
    A holder whose connection has been silent for longer than a lease is taken for gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger("capplan.ownership")


class StartupError(Exception):
    """The service cannot start; the message is one line a person can act on."""


class Hold(Protocol):
    def check(self) -> bool:
        """Whether this process still holds the database (called every lease round)."""
        ...

    def release(self) -> None: ...


class NoHold:
    """A database no other process can open (SQLite in memory)."""

    def check(self) -> bool:
        return True

    def release(self) -> None:
        pass


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (absolute); None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute()


class FileLock:
    """An exclusive ``flock`` on ``<database>.lock``, held until :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path) -> FileLock:
        """Lock ``database``; :class:`StartupError` if its folder is missing or another process holds it."""
        folder = database.parent
        if not folder.is_dir():
            raise StartupError(
                f"the database folder {folder} does not exist: create it, or set CAPPLAN_DATA_DIR "
                "(or CAPPLAN_DATABASE_URL) to a folder that exists"
            )
        path = database.with_name(database.name + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StartupError(f"cannot create the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):  # not: held by another process
                raise StartupError(f"cannot lock {path}: {exc.strerror}") from None
            raise StartupError(
                f"the database {database} is in use by another capplan process ({holder}): one "
                "process serves a SQLite file at a time; stop that one, or give this one another "
                "CAPPLAN_DATA_DIR (several replicas need PostgreSQL)"
            ) from None
        stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode(), 0)
        return cls(path, fd)

    def check(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the only descriptor of the open file drops the lock


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        said = os.pread(fd, 200, 0).decode().strip()
        if said:
            return said
    return "it says nothing of itself"


def replica_key(schema: str | None, replica_id: str) -> int:
    """The advisory-lock key (a signed 64-bit integer) of a replica id in a schema."""
    digest = hashlib.sha256(f"capplan replica\0{schema or ''}\0{replica_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_HOLDER = text(
    "SELECT a.pid, a.state_change < now() - make_interval(secs => :silent_s) AS silent "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"
)
"""The session holding an advisory lock (a bigint key is split into classid, objid), and whether
it has been silent (no statement) for longer than a lease."""


class ReplicaLock:
    """A PostgreSQL session-level advisory lock on this replica's id, on a connection of its own.

    Its holder runs a statement on that connection every lease round (:meth:`check`).  A holder
    silent for longer than a lease is taken for gone (a machine lost without closing its
    connections: the server may keep such a session for hours), as its leases are: a new
    process of that id ends the session and takes the lock.
    """

    def __init__(self, url: str, schema: str | None, replica_id: str, lease_s: float) -> None:
        self.replica_id = replica_id
        self.lease_s = lease_s
        self.key = replica_key(schema, replica_id)
        self._engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
        self._conn: Connection | None = None
        self._lost = False

    @classmethod
    def acquire(cls, url: str, schema: str | None, replica_id: str, lease_s: float = 30.0) -> ReplicaLock:
        lock = cls(url, schema, replica_id, lease_s)
        try:
            got = lock._take() or lock._take_from_silent_holder()
        except SQLAlchemyError as exc:
            lock.release()
            where = make_url(url).render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StartupError(f"cannot reach the database {where}: {reason}") from None
        if not got:
            lock.release()
            raise StartupError(
                f"another running process calls itself replica {replica_id!r} on this database: "
                "each replica needs its own CAPPLAN_REPLICA_ID (leave it unset for a unique one)"
            )
        return lock

    def _take_from_silent_holder(self) -> bool:
        with self._engine.connect() as conn:
            holder = conn.execute(_HOLDER, {"k": self.key, "silent_s": self.lease_s}).first()
            if holder is None:  # let go meanwhile
                return self._take()
            if not holder.silent:
                return False
            log.warning(
                "replica id %r is held by a database session silent for over %g s (a lost "
                "process): ending it and taking the id",
                self.replica_id,
                self.lease_s,
            )
            try:
                conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": holder.pid})
            except DBAPIError as exc:  # e.g. not allowed to (another database role's session)
                log.warning("could not end that session: %s", str(exc.orig).strip().splitlines()[0])
                return False
            conn.commit()
        return self._take()

    def _take(self) -> bool:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except BaseException:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def check(self) -> bool:
        """Whether the lock is still held; a lost connection is replaced and the lock taken again."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                with contextlib.suppress(SQLAlchemyError):
                    self._conn.close()
                self._conn = None
        try:
            got = self._take()
        except SQLAlchemyError:
            return False  # the database is away: nothing is taken over until it is back
        if not got and not self._lost:
            log.error(
                "another process now calls itself replica %r on this database: this one takes "
                "no work over until it holds the id again",
                self.replica_id,
            )
        self._lost = not got
        return got

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            with contextlib.suppress(SQLAlchemyError):
                conn.close()
        self._engine.dispose()


def hold_database(settings: Settings) -> Hold:
    """Take this process's hold on ``settings.database_url`` (:class:`StartupError` if it cannot).

    The default data folder (``settings.default_data_dir``) is created first; a folder named
    by the settings must exist.
    """
    url = settings.database_url
    if url.startswith("sqlite"):
        database = sqlite_file(url)
        if database is None:
            return NoHold()
        if settings.default_data_dir is not None:
            try:
                settings.default_data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise StartupError(
                    f"cannot create the data folder {settings.default_data_dir}: {exc.strerror} "
                    "(set CAPPLAN_DATA_DIR to a folder this user may write)"
                ) from None
        return FileLock.acquire(database)
    if url.startswith("postgresql"):
        return ReplicaLock.acquire(url, settings.database_schema, settings.replica_id, settings.lease_s)
    return NoHold()  # another backend: its own rules (documented as untested)
