"""Report pages and CSV tables as responses: their media types, headers and OpenAPI entries.

The pages themselves are rendered by :mod:`service.report` (pure functions), off the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

HTML = "text/html; charset=utf-8"
CSV = "text/csv; charset=utf-8"
PAGE_HEADERS = {
    # the page fetches nothing and runs nothing; say so to the browser as well
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}


def html_page(html: str, filename: str) -> Response:
    """A self-contained report page, shown inline as ``filename``."""
    headers = {**PAGE_HEADERS, "Content-Disposition": f'inline; filename="{filename}"'}
    return Response(html, media_type=HTML, headers=headers)


def csv_file(text: str, filename: str) -> Response:
    """A CSV table, downloaded as ``filename``."""
    return Response(
        text, media_type=CSV, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def html_responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route answering a page."""
    return {200: {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}}
