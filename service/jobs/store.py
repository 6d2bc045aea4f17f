"""Persistence (SQLAlchemy 2): plans, and generic jobs (sweeps, frontiers).

SQLite by default (WAL, busy timeout); PostgreSQL through the same URL setting
(``postgresql+psycopg://user@host/db``), optionally in its own schema.  Every method is
synchronous and thread-safe (a session per call): call it from a worker thread, not the
event loop.

Tables
------
plans
    id, tenant, status, name, request (canonical JSON text), request_hash, idempotency_key,
    plan (Plan JSON text, always present: a stub while queued/running), error, attempts,
    created_at, updated_at, started_at, finished_at.
jobs
    id, tenant, kind ('sweep', 'frontier' …), status (queued|running|done|failed),
    request (JSON), total, done, rows (empty: see job_rows), error, created_at, updated_at,
    started_at, finished_at.  Generic on purpose: the scenario runner owns its meaning.
job_rows
    job_id, idx, row (JSON): a job's result rows, one per scenario, appended one at a time.

Both tables also carry ``owner`` (the replica id of the API process responsible for an
unfinished row) and ``lease_expires_at``.  Several replicas may share one PostgreSQL
database: a replica owns what it accepted, renews its leases (:meth:`Store.renew_leases`),
and takes over rows whose owner let its lease expire (:meth:`Store.claim_plans`,
:meth:`Store.claim_jobs`: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional
``UPDATE`` on SQLite), so no plan is solved by two replicas and none stays ``running``
after its replica died.  A store made with ``owner=`` writes only rows it owns.
``plans.inflight_hash`` is the request hash of the plan identical requests reuse, unique per
tenant: set when such a plan is stored, kept when it finishes with a reusable status, cleared
when it fails or times out (a new request then solves again).  Two requests given the same
body at once (on one replica or two) therefore store one plan, even when the first finishes
between the second's cache lookup and its insert.

An id that no backend can keep (a NUL character, half of a UTF-16 surrogate pair: see
:func:`storable`) names no row: reading or deleting by such an id finds nothing, on every
backend, rather than PostgreSQL refusing the statement.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, defer, mapped_column, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from service.strict_json import storable

log = logging.getLogger("capplan.store")

UNFINISHED = ("queued", "running")
REUSABLE = (*UNFINISHED, "optimal", "feasible", "infeasible", "unbounded")
"""Statuses of a stored plan that an identical request may reuse (not failed/time_limit)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


TENANT_CHARS = 128
"""Longest tenant name the tables keep (PostgreSQL refuses a longer one): settings check it."""
OWNER_CHARS = 128
"""Longest replica id (``owner``) the tables keep."""


class Base(DeclarativeBase):
    pass


class _Held:
    """Columns of every row of work (a plan, a job): why it failed, when it was created,
    updated, started and finished, and the replica that holds it with its lease's end."""

    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(OWNER_CHARS), nullable=True, default=None)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True, default=None)


class PlanRow(_Held, Base):
    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("tenant", "idempotency_key", name="uq_plans_tenant_idempotency_key"),
        Index("ix_plans_tenant_created", "tenant", "created_at"),
        Index("ix_plans_tenant_hash", "tenant", "request_hash"),
        Index("ix_plans_status", "status"),
        Index("uq_plans_tenant_inflight_hash", "tenant", "inflight_hash", unique=True),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_CHARS))
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(256))
    objective_kind: Mapped[str] = mapped_column(String(16))
    objective_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    request: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    plan: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    inflight_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)


class JobRow(_Held, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_tenant_kind_created", "tenant", "kind", "created_at"),
        Index("ix_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(TENANT_CHARS))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    request: Mapped[Any] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[Any] = mapped_column(JSON)


class JobRowItem(Base):
    """One result row of a job (a sweep scenario, a frontier point), keyed by its index.

    A table of its own so that recording a row is one ``INSERT``, not a rewrite of every row
    so far (``jobs.rows`` held them as one JSON list up to 1.0; :meth:`Store.create_all` moves
    such lists here, and the column is left empty).
    """

    __tablename__ = "job_rows"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    row: Mapped[Any] = mapped_column(JSON)


PLANS = Base.metadata.tables["plans"]
"""The plans table, for Core statements (cheaper than the ORM on the per-solve paths)."""
JOBS = Base.metadata.tables["jobs"]
JOB_ROWS = Base.metadata.tables["job_rows"]

LEASE_COLUMNS = {
    "plans": ("owner", "lease_expires_at", "inflight_hash"),
    "jobs": ("owner", "lease_expires_at"),
}
"""Columns added after the first release: :meth:`Store.create_all` adds them to older tables."""


class DuplicateIdempotencyKey(Exception):
    """Another plan of the tenant already holds this Idempotency-Key."""


class DuplicateRequest(Exception):
    """A reusable plan of the tenant already has this request hash (``inflight_hash``)."""


@dataclass
class Owned:
    """Unfinished rows a replica holds after renewing its leases."""

    plans: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Cursor:
    """Position in a newest-first listing: strictly older than (created_at, id)."""

    created_at: dt.datetime
    id: str


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, no NaN: the text that is hashed and stored."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


class Store:
    """All database access of the service."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        echo: bool = False,
        owner: str | None = None,
        lease_s: float = 30.0,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.owner = owner
        self.lease_s = lease_s
        self._clock = clock
        self._skew = dt.timedelta(0)  # database clock minus ours (sync_clock)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            if url.startswith("postgresql"):  # an unreachable server: fail in seconds, not minutes
                kwargs["connect_args"] = {"connect_timeout": 10}
        engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(engine, "connect", _sqlite_pragmas)
        self.schema = schema
        if schema is not None:
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine: Engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    # -- lifecycle ---------------------------------------------------------------------

    def create_all(self) -> None:
        """Create missing tables, columns and indexes (idempotent; safe with several replicas)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # replicas starting together take turns
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DDL_LOCK})
            Base.metadata.create_all(conn)
            self._add_missing_columns(conn)
            self._move_legacy_rows(conn)
        self.sync_clock()

    def _add_missing_columns(self, conn: Any) -> None:
        prep = conn.dialect.identifier_preparer
        insp = inspect(conn)
        for name, columns in LEASE_COLUMNS.items():
            table = Base.metadata.tables[name]
            qualified = (
                prep.quote(name) if self.schema is None else f"{prep.quote(self.schema)}.{prep.quote(name)}"
            )
            present = {c["name"] for c in insp.get_columns(name, schema=self.schema)}
            for col in columns:
                if col not in present:
                    kind = table.c[col].type.compile(dialect=conn.dialect)
                    conn.execute(text(f"ALTER TABLE {qualified} ADD COLUMN {prep.quote(col)} {kind}"))
            for index in table.indexes:
                if index.unique:
                    cols = ", ".join(prep.quote(c.name) for c in index.columns)
                    conn.execute(
                        text(
                            f"CREATE UNIQUE INDEX IF NOT EXISTS {prep.quote(str(index.name))} ON {qualified} ({cols})"
                        )
                    )

    def _move_legacy_rows(self, conn: Any) -> None:
        """Rows that an earlier version kept in ``jobs.rows`` go to ``job_rows`` (once)."""
        legacy = conn.execute(select(JOBS.c.id, JOBS.c.rows).where(JOBS.c.rows.is_not(None))).all()
        for job_id, rows in legacy:
            if not rows:
                continue
            taken = set(conn.scalars(select(JOB_ROWS.c.idx).where(JOB_ROWS.c.job_id == job_id)))
            items = []
            for pos, item in enumerate(rows):
                idx = _row_index(item, pos)
                if idx not in taken:
                    taken.add(idx)
                    items.append({"job_id": job_id, "idx": idx, "row": item})
            if items:
                conn.execute(insert(JOB_ROWS), items)
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(rows=[]))

    # -- leases --------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The time leases are written and judged by: this machine's clock corrected to the
        database's (:meth:`sync_clock`), so that replicas need no synchronised clocks."""
        return self._clock() + self._skew

    def sync_clock(self) -> dt.timedelta:
        """Measure how far the database's clock is from ours (PostgreSQL; SQLite is one process
        on this machine's clock) and use it for leases; the measured skew."""
        if self.is_sqlite:
            return self._skew
        with self.engine.connect() as conn:
            before = self._clock()
            db_now = conn.execute(text("SELECT CURRENT_TIMESTAMP")).scalar_one()
            after = self._clock()
        if db_now.tzinfo is None:
            db_now = db_now.replace(tzinfo=dt.UTC)
        skew = db_now - (before + (after - before) / 2)
        if abs(skew) > dt.timedelta(seconds=2) and abs(skew - self._skew) > dt.timedelta(seconds=1):
            log.warning(
                "this machine's clock is %.1f s off the database's: leases use the database's",
                -skew.total_seconds(),
            )
        self._skew = skew
        return skew

    def lease_until(self) -> dt.datetime:
        return self.now() + dt.timedelta(seconds=self.lease_s)

    def _claimable(self, model: type[PlanRow] | type[JobRow], now: dt.datetime, include_own: bool) -> Any:
        free = or_(model.owner.is_(None), model.lease_expires_at.is_(None), model.lease_expires_at < now)
        if include_own:  # at start-up: this id's rows belong to an earlier, dead process
            return or_(free, model.owner == self.owner)
        # Not our own rows, even with a lapsed lease (a renewal that failed during a database
        # outage): we may still be solving them; the orphan check releases those we are not.
        return and_(free, or_(model.owner.is_(None), model.owner != self.owner))

    def _claim(
        self, model: type[PlanRow] | type[JobRow], limit: int, include_own: bool, **values: Any
    ) -> list[Any]:
        if self.owner is None:
            raise RuntimeError("a store without an owner cannot claim rows")
        now = self.now()
        until = now + dt.timedelta(seconds=self.lease_s)
        free = self._claimable(model, now, include_own)
        with self._session() as s:
            q = (
                select(model.id)
                .where(model.status.in_(UNFINISHED), free)
                .order_by(model.created_at, model.id)
                .limit(limit)
            )
            if not self.is_sqlite:
                q = q.with_for_update(skip_locked=True)  # rows another replica is claiming: skipped
            ids = list(s.scalars(q))
            if not ids:
                return []
            # The same condition again: on SQLite another process may have claimed in between.
            s.execute(
                update(model)
                .where(model.id.in_(ids), model.status.in_(UNFINISHED), free)
                .values(owner=self.owner, lease_expires_at=until, updated_at=now, **values)
            )
            s.commit()
            got = select(model).where(
                model.id.in_(ids), model.owner == self.owner, model.lease_expires_at == until
            )
            return list(s.scalars(got.order_by(model.created_at, model.id)))

    def claim_plans(self, *, limit: int = 100, include_own: bool = False) -> list[PlanRow]:
        """Take over unfinished plans nobody holds (owner unset or lease expired), oldest first.

        ``include_own`` also takes this replica id's own rows: at start-up they belong to an
        earlier process of the same id, which is gone.  Claimed plans become ``queued``.
        """
        return self._claim(PlanRow, limit, include_own, status="queued", started_at=None)

    def claim_jobs(self, *, limit: int = 100, include_own: bool = False) -> list[JobRow]:
        """Take over unfinished jobs nobody holds, as :meth:`claim_plans` (status unchanged)."""
        return self._with_rows(self._claim(JobRow, limit, include_own))

    def renew_leases(self) -> Owned:
        """Extend this replica's leases; the unfinished plans and jobs it still holds."""
        if self.owner is None:
            return Owned()
        self.sync_clock()  # a clock that drifted since the last renewal is caught here
        until = self.lease_until()
        out = Owned()
        with self._session() as s:
            for model, ids in ((PlanRow, out.plans), (JobRow, out.jobs)):
                mine = (model.owner == self.owner, model.status.in_(UNFINISHED))
                s.execute(update(model).where(*mine).values(lease_expires_at=until))
                ids.update(s.scalars(select(model.id).where(*mine)))
            s.commit()
        return out

    def release_all(self) -> int:
        """Give up this replica's unfinished rows (a clean shutdown): others may take them at once."""
        return self.release()

    def release(self, plans: Iterable[str] | None = None, jobs: Iterable[str] | None = None) -> int:
        """Give up these (default: all) of this replica's unfinished plans and jobs."""
        if self.owner is None:
            return 0
        n = 0
        with self._session() as s:
            for model, ids in ((PlanRow, plans), (JobRow, jobs)):
                which = [model.owner == self.owner, model.status.in_(UNFINISHED)]
                if ids is not None:
                    ids = list(ids)
                    if not ids:
                        continue
                    which.append(model.id.in_(ids))
                res = s.execute(update(model).where(*which).values(owner=None, lease_expires_at=None))
                n += int(getattr(res, "rowcount", 0) or 0)
            s.commit()
        return n

    MIN_FREE_BYTES = 16 * 2**20
    """Free space a SQLite file's disk needs for the store to call itself ready."""

    def ping(self) -> None:
        """Raise if the database does not answer, or (SQLite) its disk is all but full: a
        ``SELECT 1`` never touches the file, and every write would fail."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        path = self.engine.url.database if self.is_sqlite else None
        if path and path != ":memory:":
            disk = os.statvfs(os.path.dirname(os.path.abspath(path)))
            free = disk.f_bavail * disk.f_frsize
            if free < self.MIN_FREE_BYTES:
                raise OSError(f"{free // 2**20} MiB free on the disk of {path}: writes would fail")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- plans -------------------------------------------------------------------------

    def insert_plan(self, row: PlanRow) -> None:
        """Insert a new plan; DuplicateIdempotencyKey if its key is taken, DuplicateRequest if
        a reusable plan of the tenant has its ``inflight_hash``."""
        values = {c.key: getattr(row, c.key) for c in PLANS.columns}
        try:
            with self.engine.begin() as conn:  # Core insert: a fraction of the ORM's cost
                conn.execute(insert(PLANS), values)
        except IntegrityError as exc:
            key_taken = row.idempotency_key is not None and (
                row.inflight_hash is None or self.find_by_idempotency_key(row.tenant, row.idempotency_key)
            )
            if key_taken:
                raise DuplicateIdempotencyKey(row.idempotency_key) from exc
            if row.inflight_hash is not None:
                raise DuplicateRequest(row.inflight_hash) from exc
            raise

    def get_plan(self, tenant: str, plan_id: str) -> PlanRow | None:
        """The tenant's plan; None if there is none (an id no store can keep never names one)."""
        if not storable(plan_id):
            return None
        with self._session() as s:
            return s.scalars(select(PlanRow).where(PlanRow.id == plan_id, PlanRow.tenant == tenant)).first()

    def find_by_idempotency_key(self, tenant: str, key: str) -> PlanRow | None:
        with self._session() as s:
            q = select(PlanRow).where(PlanRow.tenant == tenant, PlanRow.idempotency_key == key)
            return s.scalars(q).first()

    def find_cached(self, tenant: str, request_hash: str, statuses: Iterable[str]) -> PlanRow | None:
        """The newest plan of the tenant for this request hash, in one of ``statuses``."""
        with self._session() as s:
            q = (
                select(PlanRow)
                .where(
                    PlanRow.tenant == tenant,
                    PlanRow.request_hash == request_hash,
                    PlanRow.status.in_(list(statuses)),
                )
                .order_by(PlanRow.created_at.desc(), PlanRow.id.desc())
                .limit(1)
            )
            return s.scalars(q).first()

    def list_plans(
        self,
        tenant: str,
        *,
        statuses: Sequence[str] = (),
        limit: int = 20,
        before: Cursor | None = None,
    ) -> list[PlanRow]:
        """Newest first; ``before`` continues after the last row of a previous page."""
        with self._session() as s:
            q = select(PlanRow).options(defer(PlanRow.plan), defer(PlanRow.request))
            q = q.where(PlanRow.tenant == tenant)
            if statuses:
                q = q.where(PlanRow.status.in_(list(statuses)))
            return list(s.scalars(_newest_first(q, PlanRow, before, limit)))

    def _update_plan(self, plan_id: str, *where: Any, **values: Any) -> bool:
        """One UPDATE of a plan this store may write (Core, no ORM session: about half the
        cost, and these writes sit on the path of every solve); False if no row matched."""
        mine = [] if self.owner is None else [PLANS.c.owner == self.owner]
        with self.engine.begin() as conn:
            res = conn.execute(update(PLANS).where(PLANS.c.id == plan_id, *where, *mine).values(**values))
            return bool(getattr(res, "rowcount", 0))

    def mark_running(self, plan_id: str, plan_json: str) -> bool:
        """queued → running (counts an attempt); False if the plan is gone, not queued or not ours."""
        now = utcnow()
        status = PLANS.c.status
        return self._update_plan(
            plan_id,
            status == "queued",
            status="running",
            plan=plan_json,
            started_at=now,
            updated_at=now,
            attempts=PLANS.c.attempts + 1,
        )

    def finish_plan(
        self,
        plan_id: str,
        status: str,
        plan_json: str,
        *,
        objective_value: float | None = None,
        error: str | None = None,
    ) -> bool:
        """Record a finished solve; False if the plan was deleted (or taken over) meanwhile."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": status,
            "plan": plan_json,
            "objective_value": objective_value,
            "error": error,
            "finished_at": now,
            "updated_at": now,
            "lease_expires_at": None,
        }
        if status not in REUSABLE:
            values["inflight_hash"] = None  # identical requests solve again
        return self._update_plan(plan_id, PLANS.c.status.in_(UNFINISHED), **values)

    def requeue_plan(self, plan_id: str, plan_json: str, *, release: bool = True) -> bool:
        """running/queued → queued (shutdown or recovery); ``release`` gives up the lease too."""
        values: dict[str, Any] = {
            "status": "queued",
            "plan": plan_json,
            "started_at": None,
            "updated_at": utcnow(),
        }
        if release:
            values.update(owner=None, lease_expires_at=None)
        return self._update_plan(plan_id, PLANS.c.status.in_(UNFINISHED), **values)

    def plan_holders(self, plan_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """Status and owner of each of these plans that exists."""
        with self._session() as s:
            q = select(PlanRow.id, PlanRow.status, PlanRow.owner).where(PlanRow.id.in_(list(plan_ids)))
            return {r.id: (r.status, r.owner) for r in s.execute(q)}

    def delete_plan(self, tenant: str, plan_id: str) -> bool:
        if not storable(plan_id):
            return False
        with self._session() as s:
            res = s.execute(delete(PlanRow).where(PlanRow.id == plan_id, PlanRow.tenant == tenant))
            s.commit()
            return bool(getattr(res, "rowcount", 0))

    def unfinished_plans(self) -> list[PlanRow]:
        """Plans of every tenant left queued or running, oldest first (start-up recovery)."""
        with self._session() as s:
            q = select(PlanRow).where(PlanRow.status.in_(UNFINISHED)).order_by(PlanRow.created_at, PlanRow.id)
            return list(s.scalars(q))

    # -- jobs (sweeps, frontiers) ------------------------------------------------------

    def insert_job(
        self,
        *,
        job_id: str,
        tenant: str,
        kind: str,
        request: Any,
        total: int = 0,
        status: str = "queued",
    ) -> JobRow:
        now = utcnow()
        row = JobRow(
            id=job_id,
            tenant=tenant,
            kind=kind,
            status=status,
            request=request,
            total=total,
            done=0,
            rows=[],
            error=None,
            created_at=now,
            updated_at=now,
            owner=self.owner,
            lease_expires_at=self.lease_until() if self.owner is not None else None,
        )
        with self._session() as s:
            s.add(row)
            s.commit()
        return row

    def get_job(self, tenant: str, job_id: str, kind: str | None = None) -> JobRow | None:
        """The job, its ``rows`` read from ``job_rows`` in index order; None if there is none."""
        if not storable(job_id):
            return None
        with self._session() as s:
            q = select(JobRow).where(JobRow.id == job_id, JobRow.tenant == tenant)
            if kind is not None:
                q = q.where(JobRow.kind == kind)
            job = s.scalars(q).first()
        return None if job is None else self._with_rows([job])[0]

    def update_job(self, job_id: str, **values: Any) -> bool:
        """Set columns of a job (status, total, done, error, started_at, finished_at, request);
        ``rows=[...]`` replaces its result rows."""
        allowed = {"status", "total", "done", "rows", "error", "started_at", "finished_at", "request"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown job columns: {sorted(unknown)}")
        rows = values.pop("rows", None)
        values["updated_at"] = utcnow()
        mine = [] if self.owner is None else [JOBS.c.owner == self.owner]
        with self.engine.begin() as conn:
            res = conn.execute(update(JOBS).where(JOBS.c.id == job_id, *mine).values(**values))
            found = bool(getattr(res, "rowcount", 0))
            if found and rows is not None:
                conn.execute(delete(JOB_ROWS).where(JOB_ROWS.c.job_id == job_id))
                items = {_row_index(r, pos): r for pos, r in reversed(list(enumerate(rows)))}
                if items:
                    conn.execute(
                        insert(JOB_ROWS), [{"job_id": job_id, "idx": i, "row": r} for i, r in items.items()]
                    )
            return found

    def append_job_row(self, job_id: str, row: Any) -> bool:
        """Add one result row (keyed by its ``index``; without one, the next free position)
        and count it done: one ``INSERT`` and one ``UPDATE``, whatever the number of rows so far.

        False if the job is gone or (for a store with an owner) held by another replica.  A
        row whose ``index`` is already there replaces nothing: the first result stays.
        """
        try:
            with self.engine.begin() as conn:
                q = select(JOBS.c.owner).where(JOBS.c.id == job_id)
                if not self.is_sqlite:
                    q = q.with_for_update()  # serialises appends with claims and renewals
                found = conn.execute(q).first()
                if found is None or (self.owner is not None and found.owner != self.owner):
                    return False
                idx = _row_index(row, None)
                if idx is None:
                    last = conn.scalar(select(func.max(JOB_ROWS.c.idx)).where(JOB_ROWS.c.job_id == job_id))
                    idx = 0 if last is None else int(last) + 1
                else:
                    there = select(JOB_ROWS.c.idx).where(JOB_ROWS.c.job_id == job_id, JOB_ROWS.c.idx == idx)
                    if conn.execute(there).first() is not None:
                        return True
                conn.execute(insert(JOB_ROWS), {"job_id": job_id, "idx": idx, "row": row})
                conn.execute(
                    update(JOBS).where(JOBS.c.id == job_id).values(done=JOBS.c.done + 1, updated_at=utcnow())
                )
        except IntegrityError:  # the same index recorded at the same moment: the first stays
            return True
        return True

    def list_jobs(
        self, tenant: str, *, kind: str | None = None, limit: int = 20, before: Cursor | None = None
    ) -> list[JobRow]:
        with self._session() as s:
            q = select(JobRow).where(JobRow.tenant == tenant)
            if kind is not None:
                q = q.where(JobRow.kind == kind)
            jobs = list(s.scalars(_newest_first(q, JobRow, before, limit)))
        return self._with_rows(jobs)

    def delete_job(self, tenant: str, job_id: str) -> bool:
        if not storable(job_id):
            return False
        with self.engine.begin() as conn:
            res = conn.execute(delete(JOBS).where(JOBS.c.id == job_id, JOBS.c.tenant == tenant))
            found = bool(getattr(res, "rowcount", 0))
            if found:
                conn.execute(delete(JOB_ROWS).where(JOB_ROWS.c.job_id == job_id))
            return found

    def unfinished_jobs(self, kind: str | None = None) -> list[JobRow]:
        with self._session() as s:
            q = select(JobRow).where(JobRow.status.in_(UNFINISHED))
            if kind is not None:
                q = q.where(JobRow.kind == kind)
            jobs = list(s.scalars(q.order_by(JobRow.created_at, JobRow.id)))
        return self._with_rows(jobs)

    def _with_rows(self, jobs: list[JobRow]) -> list[JobRow]:
        """Give each (detached) job its result rows from ``job_rows``, in index order."""
        if not jobs:
            return jobs
        by_id: dict[str, list[Any]] = {j.id: [] for j in jobs}
        with self.engine.connect() as conn:
            q = (
                select(JOB_ROWS.c.job_id, JOB_ROWS.c.row)
                .where(JOB_ROWS.c.job_id.in_(list(by_id)))
                .order_by(JOB_ROWS.c.job_id, JOB_ROWS.c.idx)
            )
            for job_id, item in conn.execute(q):
                by_id[job_id].append(item)
        for j in jobs:
            set_committed_value(j, "rows", by_id[j.id])
        return jobs


def _newest_first(q: Any, model: type[PlanRow] | type[JobRow], before: Cursor | None, limit: int) -> Any:
    """A page of ``q``, newest first: strictly after ``before`` (keyset pagination)."""
    if before is not None:
        q = q.where(
            or_(
                model.created_at < before.created_at,
                (model.created_at == before.created_at) & (model.id < before.id),
            )
        )
    return q.order_by(model.created_at.desc(), model.id.desc()).limit(limit)


def _row_index(row: Any, default: int | None) -> int | None:
    """A result row's place: its integer ``index`` if it has one."""
    idx = row.get("index") if isinstance(row, dict) else None
    return idx if isinstance(idx, int) and not isinstance(idx, bool) else default


_DDL_LOCK = 0x63617070_6C616E
"""PostgreSQL advisory-lock key held while tables are created or upgraded."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
