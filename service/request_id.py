"""The request id of the work at hand.

Set by the API's request middleware for each request and carried into the threads that work
for it (``contextvars.copy_context``): a job's log lines and its failure text name the POST that
started it.  The JSON log formatter writes it on every line.
"""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "capplan_request_id", default=None
)
