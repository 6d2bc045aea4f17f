"""Scenario analysis: parameter sweeps, one-at-a-time sensitivity (tornado), and the
cost-vs-served frontier.

* :mod:`~solver.scenarios.specs` — the bodies (``SweepSpec``, ``FrontierSpec``), strict JSON;
* :mod:`~solver.scenarios.paths` — paths into a request (``hardware/cerebras-cs3/unit_price_usd``)
  and setting or scaling the value there;
* :mod:`~solver.scenarios.sweep` — checking a sweep completely and generating its scenarios,
  then running them;
* :mod:`~solver.scenarios.frontier` — the least NPV cost at evenly spaced served fractions;
* :mod:`~solver.scenarios.run` — running scenarios through a ``mapper(fn, tasks)``: the builtin
  ``map`` (in-process) or a job runner's (:mod:`service.jobs.mapper`: the CLI's process pool,
  the service's workers); the worker function :func:`~solver.scenarios.run.solve_scenario` is a
  top-level function of plain data, so it pickles;
* :mod:`~solver.scenarios.results` — rows, tornado bars and results, and the pure functions on
  rows (the report draws from them without importing a solver).

Problems come back together as one :class:`~solver.errors.RequestInvalid` whose paths point
into the body (``/parameters/0/path``, ``/base/sites/0/power_mw``).
"""
