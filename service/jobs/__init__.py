"""The job machinery: where solves run and what keeps them.

* :mod:`service.jobs.runner` — the :class:`~service.jobs.runner.JobRunner` protocol and the rules
  every runner shares; :mod:`service.jobs.local` (a pool of processes on this machine) and
  :mod:`service.jobs.ray_runner` (tasks on a Ray cluster) implement it, chosen by
  :func:`service.jobs.backends.make_runner`;
* :mod:`service.jobs.tasks` — the functions that run in a worker, and the plans the service
  writes itself;
* :mod:`service.jobs.store` — the database (plans, jobs and their rows, leases);
* :mod:`service.jobs.leases` and :mod:`service.jobs.ownership` — one replica per lease, one
  process per database (or replica id).

No web framework here: the API (:mod:`service.api`) and the CLI (:mod:`service.cli`) use it.
"""
