"""Job-runner backends behind :class:`service.jobs.runner.JobRunner`, chosen by ``CAPPLAN_RUNNER``.

``local`` (default): :class:`service.jobs.local.LocalProcessRunner`, worker processes of this
machine.  ``ray``: :class:`service.jobs.ray_runner.RayRunner`, tasks on a Ray cluster
(``pip install 'capplan[ray]'``; ``CAPPLAN_RAY_ADDRESS``).
"""

from __future__ import annotations

from service.jobs.local import LocalProcessRunner
from service.jobs.runner import JobRunner
from service.settings import Settings


def make_runner(settings: Settings) -> JobRunner:
    """The runner the settings ask for (not started)."""
    if settings.runner == "ray":
        try:
            from service.jobs.ray_runner import RayRunner
        except ModuleNotFoundError as exc:
            if exc.name != "ray" and not (exc.name or "").startswith("ray."):
                raise
            raise RuntimeError(
                "CAPPLAN_RUNNER=ray needs the Ray package: pip install 'capplan[ray]'"
            ) from exc
        return RayRunner(
            address=settings.ray_address,
            namespace=settings.ray_namespace,
            queue_limit=settings.queue_limit,
            grace_s=settings.solve_grace_s,
            max_batch=settings.ray_max_batch,
        )
    return LocalProcessRunner(
        settings.workers,
        queue_limit=settings.queue_limit,
        grace_s=settings.solve_grace_s,
        max_jobs_per_worker=settings.worker_max_jobs,
    )
