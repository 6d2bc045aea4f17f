"""The HTML document shell of every report: one self-contained file, styles inline, no
script, no external resource (fonts are the reader's system fonts), print styles included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from service.report.bidi import balanced, bdi, bdi_html
from service.report.svg import _attr

CSS = """
:root { --ink:#1d2733; --muted:#5f6b7a; --line:#e3e7ec; --panel:#f6f8fa; --accent:#2f5d8a;
  --ok:#2e7d32; --warn:#b26a00; --bad:#c62828; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #eef1f4; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 40px; background: #fff; min-height: 100vh; }
header.doc { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 22px; }
header.doc .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 11px; color: var(--muted); }
header.doc h1 { margin: 4px 0 6px; font-size: 26px; font-weight: 650; }
header.doc .meta { color: var(--muted); font-size: 12.5px; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.pill { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 12px; font-weight: 600;
  color: #fff; vertical-align: middle; }
.pill.optimal, .pill.done { background: var(--ok); } .pill.feasible, .pill.time_limit, .pill.running,
.pill.queued { background: var(--warn); } .pill.infeasible, .pill.unbounded, .pill.failed { background: var(--bad); }
section { margin: 0 0 30px; }
section > h2 { font-size: 18px; font-weight: 650; margin: 0 0 4px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
section > p.lead { margin: 8px 0 14px; color: var(--muted); }
.kpis { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; margin: 14px 0; }
.kpi { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.kpi .label { font-size: 11.5px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
.kpi .note { font-size: 11.5px; color: var(--muted); }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.box { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.box h3 { margin: 0 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.sharebar { display: flex; height: 18px; border-radius: 4px; overflow: hidden; margin: 6px 0 8px; }
.sharebar span { display: block; height: 100%; }
ul.plain { list-style: none; margin: 0; padding: 0; }
ul.plain li { padding: 2px 0; }
ul.binding li { padding: 3px 0; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px;
  vertical-align: baseline; }
figure.chart { margin: 16px 0 22px; break-inside: avoid; page-break-inside: avoid; }
figure.chart figcaption h3 { margin: 0; font-size: 14.5px; font-weight: 600; }
figure.chart figcaption p { margin: 2px 0 6px; color: var(--muted); font-size: 12.5px; }
svg.chart-svg { display: block; width: 100%; height: auto; }
svg.chart-svg text { font-family: inherit; }
ul.legend { list-style: none; padding: 0; margin: 4px 0 0 74px; display: flex; flex-wrap: wrap; gap: 4px 16px;
  font-size: 12px; color: var(--muted); }
.legend .ln { display: inline-block; width: 18px; height: 0; border-top: 2.5px solid; margin-right: 6px;
  vertical-align: middle; }
.legend .ln.dash { border-top-style: dashed; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 8px 0 4px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; }
th { font-weight: 600; color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: .03em;
  background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 650; border-top: 2px solid var(--ink); }
.scroll { overflow-x: auto; }
table.scenarios, table.frontier-points { font-size: 12px; }
.callout { border-left: 4px solid var(--bad); background: #fdecea; padding: 12px 16px; border-radius: 4px; }
.callout.warn { border-color: var(--warn); background: #fff4e0; }
.callout h2 { border: 0; margin: 0 0 4px; }
.note { color: var(--muted); font-size: 12.5px; }
h3.sub { font-size: 14.5px; font-weight: 600; margin: 18px 0 2px; }
footer.doc { border-top: 1px solid var(--line); padding-top: 10px; color: var(--muted); font-size: 11.5px; }
a { color: var(--accent); }
@media (max-width: 760px) { .kpis { grid-template-columns: repeat(2, 1fr); } .cols { grid-template-columns: 1fr; } }
@page { size: A4; margin: 12mm; }
@media print {
  body { background: #fff; font-size: 11.5px; }
  main { max-width: none; padding: 0; min-height: 0; }
  section { break-inside: auto; }
  section > h2, figure.chart figcaption { break-after: avoid; page-break-after: avoid; }
  .kpi, .box, tr, .callout { break-inside: avoid; page-break-inside: avoid; }
  .scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""


def document(title: str, body: str) -> str:
    """A complete, self-contained HTML5 document."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # forbid every fetch: the page must work as a mail attachment, offline
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f'<meta name="generator" content="capplan"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


def figure(fid: str, title_html: str, subtitle: str, svg: str, legend: str = "") -> str:
    """A chart with its caption and (HTML) legend; the title and subtitle are HTML (names in
    them escaped and isolated by the caller)."""
    sub = f"<p>{subtitle}</p>" if subtitle else ""
    return (
        f'<figure class="chart" id="fig-{_attr(fid)}" data-chart="{_attr(fid)}">'
        f"<figcaption><h3>{title_html}</h3>{sub}</figcaption>{svg}{legend}</figure>"
    )


def legend(items: Iterable[tuple[str, str, str]]) -> str:
    """Legend entries ``(name, colour, style)``; style ``bar`` (a swatch), ``line`` or ``dash``.
    Names are escaped and isolated here."""
    out = []
    for name, colour, style in items:
        if style == "bar":
            mark = f'<span class="sw" style="background:{colour}"></span>'
        else:
            extra = " dash" if style == "dash" else ""
            mark = f'<span class="ln{extra}" style="border-color:{colour}"></span>'
        out.append(f"<li>{mark}{bdi(name)}</li>")
    return f'<ul class="legend">{"".join(out)}</ul>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool] | None = None,
    *,
    total: Sequence[str] | None = None,
    cls: str = "",
) -> str:
    """A table of already formatted (and escaped where needed) cells; the headers are plain
    text, escaped and isolated here (a workload id, a sweep's parameter path)."""
    numeric = numeric or [False] * len(headers)

    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(f"<{tag}{' class=num' if numeric[i] else ''}>{c}</{tag}>" for i, c in enumerate(row))

    head = (
        f"<tr>{cells([bdi_html(h, escape(balanced(h)).replace('/', '/<wbr>')) for h in headers], 'th')}</tr>"
    )
    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    if total is not None:
        body += f'<tr class="total">{cells(total, "td")}</tr>'
    klass = f' class="{cls}"' if cls else ""
    return f'<div class="scroll"><table{klass}><thead>{head}</thead><tbody>{body}</tbody></table></div>'


def section(sid: str, title: str, body: str, lead: str = "") -> str:
    """A report section with an anchor id."""
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="{_attr(sid)}"><h2>{escape(title)}</h2>{lead_html}{body}</section>'
