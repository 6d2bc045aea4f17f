"""Reports of plans, sweeps and frontiers: pure functions from results to HTML and CSV.

* :func:`render_plan_report` — Plan (+ its request) → a self-contained HTML page;
* :func:`plan_tables` / :func:`table_csv` — Plan → CSV texts (:data:`TABLES`);
* :func:`render_sweep_report` / :func:`render_frontier_report` — scenario rows → HTML.

No web framework and no I/O here: the CLI (:mod:`service.cli.report`) and the routes
(:mod:`service.api.routes.plans`, :mod:`service.api.routes.scenarios`) call these functions.
"""

from service.report.plan import binding_in_words, render_plan_report
from service.report.scenarios import render_frontier_report, render_sweep_report
from service.report.tables import TABLES, plan_tables, table_csv

__all__ = [
    "TABLES",
    "binding_in_words",
    "plan_tables",
    "render_frontier_report",
    "render_plan_report",
    "render_sweep_report",
    "table_csv",
]
