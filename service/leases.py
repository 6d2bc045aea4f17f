"""Keeping this replica's leases alive, and taking over the work of replicas that went silent.

Every unfinished plan and job row names the replica that owns it (``owner``) and a lease
expiry.  A :class:`LeaseKeeper` thread, every ``lease_s / 3`` seconds:

1. renews the leases of every unfinished row this replica owns (one ``UPDATE`` per table);
2. *fences*: stops local solves of plans it no longer holds (deleted through another
   replica, or taken over after this one stalled past its lease);
3. claims unfinished plans and jobs that nobody holds — an owner that died (``kill -9``, a
   lost machine) stops renewing, and within ``lease_s`` another replica queues its plans
   again and resumes its sweeps.  Claims are atomic (``SELECT … FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, a conditional ``UPDATE`` everywhere), so exactly one replica takes each row.

While the service shuts down the keeper only renews (running solves may still finish).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.deps import AppState

log = logging.getLogger("capplan.leases")

Hook = Callable[["AppState"], object]


class LeaseKeeper:
    def __init__(self, state: AppState, takeover_hooks: Sequence[Hook] = ()) -> None:
        self.state = state
        self.hooks = list(takeover_hooks)
        self.interval_s = max(0.2, state.settings.lease_s / 3)
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
        state = self.state
        began = time.monotonic()
        owned = state.store.renew_leases()
        state.plans.fence(owned.plans, began)
        if self._draining.is_set():
            return
        state.plans.recover(startup=False)
        for hook in self.hooks:
            hook(state)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
                self.ticks += 1
            except Exception:  # noqa: BLE001 - e.g. the database is briefly unreachable: try again
                log.exception("lease round failed")
