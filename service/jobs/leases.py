"""Keeping this replica's leases alive, and taking over the work of replicas that went silent.

Every unfinished plan and job row names the replica that owns it (``owner``) and a lease
expiry.  A :class:`LeaseKeeper` thread, every ``lease_s / 3`` seconds:

1. renews the leases of every unfinished row this replica owns (one ``UPDATE`` per table);
2. *fences*: stops local solves of plans it no longer holds (deleted through another
   replica, or taken over after this one stalled past its lease);
3. releases *orphans*: rows it holds but runs nothing for, two rounds in a row (a result it
   could not record during a database outage, a job thread that died) — so they are claimed
   and run again instead of staying ``running`` under a live owner;
4. claims unfinished plans and jobs that nobody holds — an owner that died (``kill -9``, a
   lost machine) stops renewing, and within ``lease_s`` another replica queues its plans
   again and resumes its sweeps.  Claims are atomic (``SELECT … FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, a conditional ``UPDATE`` everywhere), so exactly one replica takes each row.

While the service shuts down the keeper only renews (running solves may still finish), and
it takes nothing over while this process does not hold its replica id
(:meth:`service.jobs.ownership.Hold.check`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from service.jobs.ownership import Hold
from service.jobs.scenario_jobs import ScenarioJobs
from service.jobs.store import Store

log = logging.getLogger("capplan.leases")


class LeasedPlans(Protocol):
    """What the keeper needs of the plan service (:class:`service.api.plan_service.PlanService`)."""

    def local_ids(self) -> set[str]: ...

    def fence(self, owned: set[str], renewed_at: float) -> int: ...

    def recover(self, *, startup: bool = True) -> int: ...


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        plans: LeasedPlans,
        scenario_jobs: ScenarioJobs | None = None,
        *,
        lease_s: float,
        hold: Hold | None = None,
    ) -> None:
        self.store = store
        self.plans = plans
        self.scenario_jobs = scenario_jobs
        self.hold = hold
        self._suspects: tuple[set[str], set[str]] = (set(), set())
        self.interval_s = max(0.2, lease_s / 3)
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="capplan-leases", daemon=True)
        self._thread.start()

    def drain(self) -> None:
        """From now on only renew: take nothing over (the service is stopping)."""
        self._draining.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def tick(self) -> None:
        """One round: renew, fence, take over."""
        began = time.monotonic()
        local_plans = self.plans.local_ids()
        local_jobs = self.scenario_jobs.active_ids() if self.scenario_jobs is not None else set()
        owned = self.store.renew_leases()
        self.plans.fence(owned.plans, began)
        held = self.hold is None or self.hold.check()  # (every round: it says this process lives)
        if self._draining.is_set() or not held:
            return  # stopping, or another process holds this replica id: take nothing over
        # held here, run nowhere: released once seen in two rounds (a new plan is submitted
        # within milliseconds of being stored, far less than a round)
        suspects = (owned.plans - local_plans, owned.jobs - local_jobs)
        orphans = (suspects[0] & self._suspects[0], suspects[1] & self._suspects[1])
        self._suspects = suspects
        if orphans[0] or orphans[1]:
            log.warning(
                "releasing %d plans and %d jobs held by this replica but run nowhere",
                len(orphans[0]),
                len(orphans[1]),
            )
            self.store.release(plans=orphans[0], jobs=orphans[1])
        self.plans.recover(startup=False)
        if self.scenario_jobs is not None:
            self.scenario_jobs.resume(startup=False)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
                self.ticks += 1
            except Exception:
                log.exception("lease round failed")
