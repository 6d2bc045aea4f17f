"""Names and ids from a request in a left-to-right page: isolated, so that right-to-left text
or a bidi control in one (a site id ending in U+202E RIGHT-TO-LEFT OVERRIDE) cannot reorder
the words and figures around it ("Power at <id> … worth up to $963.9 k").

* In HTML text a name goes in a ``<bdi>`` element (:func:`bdi`, :func:`bdi_html`,
  :func:`with_ids` for a solver message that quotes ids).
* Where no element can go (chart text and tooltips in SVG, ``title`` and ``aria-label``
  attributes, the document's ``<title>``) it goes between U+2068 FIRST STRONG ISOLATE and
  U+2069 POP DIRECTIONAL ISOLATE (:func:`isolated`).

Either way its own controls are balanced first (:func:`balanced`): a stray U+2069 in it
would close the isolate early, and an isolate it opens would swallow the closing one.
Names with nothing that can reorder text (no right-to-left letter, Arabic digit or bidi
control) are left as they are, so ordinary pages do not change.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from html import escape

FSI, PDI, PDF = "\u2068", "\u2069", "\u202c"
_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE RLE LRO RLO, closed by PDF
_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI RLI FSI, closed by PDI
_REORDERING = frozenset({"R", "AL", "AN", "LRE", "LRO", "RLE", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


def needs_isolation(text: str) -> bool:
    """Whether ``text`` can reorder what is around it in a left-to-right paragraph."""
    return any(unicodedata.bidirectional(c) in _REORDERING for c in text)


def balanced(text: str) -> str:
    """``text`` with its explicit bidi controls balanced: a PDF or PDI that closes nothing of
    its own is dropped, and whatever it leaves open is closed at its end."""
    if not needs_isolation(text):
        return text
    out: list[str] = []
    stack: list[str] = []
    for c in text:
        if c in _EMBEDDINGS or c in _ISOLATES:
            stack.append(c)
        elif c == PDF:
            if not stack or stack[-1] in _ISOLATES:
                continue  # closes nothing opened in the text (a PDF never crosses an isolate)
            stack.pop()
        elif c == PDI:
            if not any(s in _ISOLATES for s in stack):
                continue  # would close the isolate the text is put in
            while stack.pop() not in _ISOLATES:  # a PDI closes the embeddings inside its isolate
                pass
        out.append(c)
    out += [PDI if s in _ISOLATES else PDF for s in reversed(stack)]
    return "".join(out)


def isolated(text: str) -> str:
    """Plain text (not escaped): ``text`` between FSI and PDI when it needs isolating."""
    return f"{FSI}{balanced(text)}{PDI}" if needs_isolation(text) else text


def bdi_html(text: str, html: str) -> str:
    """``html`` (the escaped rendering of ``text``) in a ``<bdi>`` when ``text`` needs isolating."""
    return f"<bdi>{html}</bdi>" if needs_isolation(text) else html


def bdi(text: object) -> str:
    """HTML: ``text`` escaped, in a ``<bdi>`` when it needs isolating."""
    s = str(text)
    return bdi_html(s, escape(balanced(s)))


def with_ids(text: str, ids: Iterable[str]) -> str:
    """HTML of a message (the solver's, in words) that quotes some of ``ids``: escaped, with
    each of those ids that needs isolating in a ``<bdi>`` of its own, and the whole message in
    one more when anything else in it does."""
    hostile = sorted({i for i in ids if i and needs_isolation(i)}, key=len, reverse=True)
    if not hostile:
        return bdi(text)
    parts = re.split(f"({'|'.join(map(re.escape, hostile))})", text)
    rest = "".join(p for k, p in enumerate(parts) if k % 2 == 0)
    html = "".join(bdi(p) if k % 2 else escape(balanced(p)) for k, p in enumerate(parts))
    return bdi_html(rest, html)
