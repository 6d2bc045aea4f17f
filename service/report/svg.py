"""A small inline-SVG chart kit: bars (stacked), lines, steps, markers, heat maps, tornados
and scatter curves — the few chart types a capacity plan needs, with no dependency.

Every chart is a ``<svg>`` element with a ``viewBox`` (it scales to the page and to print),
``role="img"`` and an ``aria-label``; every mark carries a ``<title>`` (the browser's own
tooltip, no script) with the exact formatted value.  Text is real text in the page's font.
All strings from the plan are escaped here, and the names this module is given (series,
heat-map rows, tornado parameters) are isolated (:func:`service.report.bidi.isolated`);
callers isolate the names they put into titles and labels themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from service.report import fmt
from service.report.bidi import isolated

WIDTH = 960
FONT = 12
AXIS = "#5f6b7a"
GRID = "#e3e7ec"
INK = "#1d2733"
WARN = "#c0392b"
"""Red: what has no result (a tornado setting whose plan is infeasible)."""

# Tableau-10 (colour-blind aware, prints well); vendors get stable hues below.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
VENDOR_COLOURS = {
    "cerebras": "#f28e2b",
    "nvidia": "#59a14f",
    "amd": "#e15759",
    "intel": "#4e79a7",
    "google": "#76b7b2",
    "aws": "#edc948",
    "groq": "#b07aa1",
}

Formatter = Callable[[float], str]


def vendor_colour(vendor: str, index: int) -> str:
    """A stable colour for a vendor (its brand-like hue when known, else the palette)."""
    return VENDOR_COLOURS.get(vendor.lower(), PALETTE[index % len(PALETTE)])


def shade(colour: str, k: int, n: int) -> str:
    """The k-th of n shades of ``colour`` (k=0 the colour itself, then lighter/darker)."""
    if n <= 1 or k == 0:
        return colour
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    # alternate darker and lighter, growing with k
    step = (k + 1) // 2 / max(1, (n + 1) // 2)
    f = -0.45 * step if k % 2 else 0.5 * step
    if f < 0:
        r, g, b = (round(c * (1 + f)) for c in (r, g, b))
    else:
        r, g, b = (round(c + (255 - c) * f) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    v = start
    while v < hi + step * 0.999:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def tick_formatter(kind: str, ticks: Sequence[float]) -> Formatter:
    """Short labels for axis ticks, one scale word for the whole axis."""
    top = max((abs(t) for t in ticks), default=0.0)
    factor, word = 1.0, ""
    for f, w in ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if top >= f:
            factor, word = f, w
            break
    if kind == "pct":
        return lambda v: f"{100 * v:g}%"
    if kind == "mw":
        return lambda v: f"{v:,g}"
    prefix = "$" if kind == "usd" else ""
    suffix = f" {word}" if word else ""

    def label(v: float) -> str:
        if v == 0:
            return "0"
        sign = fmt.MINUS if v < 0 else ""
        return f"{sign}{prefix}{abs(v) / factor:,.6g}{suffix}"

    return label


@dataclass
class Series:
    """One named series over the chart's categories."""

    name: str
    values: Sequence[float]
    colour: str
    style: str = "bar"  # bar (stacked) | line | dash | step | area
    fmt: Formatter = fmt.scaled


@dataclass
class Marker:
    """A labelled triangle on the x axis at a category (e.g. an expansion started)."""

    index: int
    label: str
    colour: str = INK
    title: str = ""


@dataclass
class Chart:
    """Categories on x, values on y: stacked bars plus lines, steps and markers."""

    cid: str
    title: str
    labels: Sequence[str]
    y_kind: str = "num"  # usd | num | mw | pct
    y_title: str = ""
    bars: list[Series] = field(default_factory=list)
    lines: list[Series] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    y_max: float | None = None
    height: int = 300

    def render(self) -> str:
        return _render_chart(self)


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _svg_open(cid: str, title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart-svg" id="{_attr(cid)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{_attr(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="{FONT}">'
        f"<title>{escape(title)}</title>"
    )


def _label_step(n: int, plot_w: float, label_w: float = 52.0) -> int:
    return max(1, math.ceil(n * label_w / plot_w))


def _y_axis(
    parts: list[str], ticks: list[float], y: Callable[[float], float], left: float, right: float, kind: str
) -> None:
    label = tick_formatter(kind, ticks)
    for t in ticks:
        yy = y(t)
        colour = AXIS if t == 0 else GRID
        parts.append(
            f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{colour}" '
            f'stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6:.1f}" y="{yy + 4:.1f}" text-anchor="end" fill="{AXIS}">{escape(label(t))}</text>'
        )


@dataclass(frozen=True)
class _Frame:
    """Where a chart's plot sits and how values map to it: ``y(v)`` the height of a value,
    ``xc(i)`` the middle of label ``i``'s band."""

    left: float
    top: float
    plot_w: float
    plot_h: float
    n: int
    y0: float
    y1: float

    @property
    def band(self) -> float:
        return self.plot_w / max(self.n, 1)

    @property
    def bar_w(self) -> float:
        return self.band * (0.72 if self.n > 1 else 0.4)

    def y(self, v: float) -> float:
        return self.top + self.plot_h * (1 - (v - self.y0) / (self.y1 - self.y0))

    def xc(self, i: int) -> float:
        return self.left + self.band * (i + 0.5)


def _render_chart(c: Chart) -> str:
    n = len(c.labels)
    width, height = WIDTH, c.height
    left, right, top, bottom = 74.0, 14.0, 14.0, 30.0 + (34.0 if c.markers else 0.0)
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = _value_range(c)
    ticks = nice_ticks(lo, hi if hi > lo else lo + 1.0)
    f = _Frame(left, top, plot_w, plot_h, n, ticks[0], ticks[-1])
    parts = [_svg_open(c.cid, c.title, width, height)]
    _y_axis(parts, ticks, f.y, left, width - right, c.y_kind)
    if c.y_title:
        parts.append(
            f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
            f'fill="{AXIS}">{escape(c.y_title)}</text>'
        )
    step = _label_step(n, plot_w)
    for i, lab in enumerate(c.labels):
        if i % step == 0:
            parts.append(
                f'<text x="{f.xc(i):.1f}" y="{top + plot_h + 16:.1f}" text-anchor="middle" '
                f'fill="{AXIS}">{escape(lab)}</text>'
            )
    _stacked_bars(parts, c, f)
    for s in c.lines:
        _line(parts, c, f, s)
    _markers(parts, c, f)
    parts.append("</svg>")
    return "".join(parts)


def _value_range(c: Chart) -> tuple[float, float]:
    """The lowest and highest value drawn: the stacks of the bars (positive and negative apart),
    the lines, and 0; the chart's ``y_max`` if it sets one."""
    stack_top = [0.0] * len(c.labels)
    stack_bot = [0.0] * len(c.labels)
    for s in c.bars:
        for i, v in enumerate(s.values):
            if v >= 0:
                stack_top[i] += v
            else:
                stack_bot[i] += v
    hi = max([*stack_top, *(v for s in c.lines for v in s.values), 0.0])
    lo = min([*stack_bot, *(v for s in c.lines for v in s.values), 0.0])
    return lo, (c.y_max if c.y_max is not None else hi)


def _stacked_bars(parts: list[str], c: Chart, f: _Frame) -> None:
    pos = [0.0] * f.n
    neg = [0.0] * f.n
    for s in c.bars:
        parts.append(f'<g class="series" data-series="{_attr(s.name)}" fill="{s.colour}">')
        for i, v in enumerate(s.values):
            if v == 0:
                continue
            if v > 0:
                a, b = pos[i], pos[i] + v
                pos[i] = b
            else:
                a, b = neg[i] + v, neg[i]
                neg[i] = a
            ya, yb = f.y(a), f.y(b)
            parts.append(
                f'<rect x="{f.xc(i) - f.bar_w / 2:.2f}" y="{min(ya, yb):.2f}" width="{f.bar_w:.2f}" '
                f'height="{max(abs(ya - yb), 0.5):.2f}"><title>{escape(isolated(s.name))}, {escape(c.labels[i])}: '
                f"{escape(s.fmt(v))}</title></rect>"
            )
        parts.append("</g>")


def _line(parts: list[str], c: Chart, f: _Frame, s: Series) -> None:
    """A line, step or area series, and a point (a title to hover) at each label."""
    pts: list[tuple[float, float]] = []
    if s.style == "step":
        for i, v in enumerate(s.values):
            pts += [(f.left + f.band * i, f.y(v)), (f.left + f.band * (i + 1), f.y(v))]
    else:
        pts = [(f.xc(i), f.y(v)) for i, v in enumerate(s.values)]
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
    if s.style == "area":
        base = f.y(max(f.y0, 0.0))
        poly = f"{pts[0][0]:.1f},{base:.1f} {path} {pts[-1][0]:.1f},{base:.1f}"
        parts.append(
            f'<polygon class="area" data-series="{_attr(s.name)}" points="{poly}" fill="{s.colour}" '
            f'fill-opacity="0.28" stroke="none"/>'
        )
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="1.5" '
            f'stroke-linejoin="round"/>'
        )
    else:
        dash = ' stroke-dasharray="6 4"' if s.style == "dash" else ""
        width_px = 2.5 if s.style in ("line", "step") else 2
        parts.append(
            f'<polyline class="line" data-series="{_attr(s.name)}" points="{path}" fill="none" '
            f'stroke="{s.colour}" stroke-width="{width_px}" stroke-linejoin="round"{dash}/>'
        )
    parts.append(f'<g fill="{s.colour}">')
    radius = 3.0 if f.n <= 40 and s.style != "step" else 0.0
    for i, v in enumerate(s.values):
        parts.append(
            f'<circle cx="{f.xc(i):.1f}" cy="{f.y(v):.1f}" r="{radius if radius else 4}" '
            f'fill-opacity="{1 if radius else 0}"><title>{escape(isolated(s.name))}, {escape(c.labels[i])}: '
            f"{escape(s.fmt(v))}</title></circle>"
        )
    parts.append("</g>")


def _markers(parts: list[str], c: Chart, f: _Frame) -> None:
    show_text = f.band >= 64
    for mk in c.markers:
        mx, my = f.xc(mk.index), f.top + f.plot_h + 24
        text = (
            f'<text x="{mx:.1f}" y="{my + 20:.1f}" text-anchor="middle" fill="{mk.colour}" '
            f'font-size="11">{escape(mk.label)}</text>'
            if show_text
            else ""
        )
        parts.append(
            f'<g class="marker"><path d="M{mx - 6:.1f},{my + 8:.1f} L{mx + 6:.1f},{my + 8:.1f} '
            f'L{mx:.1f},{my - 2:.1f} Z" fill="{mk.colour}"><title>{escape(mk.title or mk.label)}</title></path>'
            f"{text}</g>"
        )


def _mix(a: str, b: str, f: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(ca, cb, strict=True))


HEAT = ("#fff5eb", "#fdbe85", "#e6550d", "#8c2d04")


def heat_colour(f: float) -> str:
    """Sequential orange scale: 0 → pale, 1 → dark."""
    f = min(1.0, max(0.0, f))
    seg = min(len(HEAT) - 2, int(f * (len(HEAT) - 1)))
    local = f * (len(HEAT) - 1) - seg
    return _mix(HEAT[seg], HEAT[seg + 1], local)


def heatmap(
    cid: str,
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float | None]],
    value_fmt: Formatter,
    cell_fmt: Formatter | None = None,
) -> str:
    """Rows × columns of coloured cells (None: no such limit), values written in the cells:
    ``value_fmt`` in the tooltips and the colour scale, ``cell_fmt`` (a shorter form, the unit
    left to the title) in the cells if given."""
    short = cell_fmt or value_fmt
    n = len(cols)
    left, right, top = 110.0, 14.0, 8.0
    plot_w = WIDTH - left - right
    cell_w = plot_w / max(n, 1)
    cell_h = 34.0
    height = int(top + cell_h * len(rows) + 30 + 36)
    vmax = max((v for r in values for v in r if v is not None), default=0.0)
    parts = [_svg_open(cid, title, WIDTH, height)]
    show_text = cell_w >= 58
    for r, name in enumerate(rows):
        yy = top + r * cell_h
        parts.append(
            f'<text x="{left - 8:.1f}" y="{yy + cell_h / 2 + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(isolated(name))}</text>"
        )
        for k, v in enumerate(values[r]):
            xx = left + k * cell_w
            if v is None:
                fill, label = "#ffffff", "no limit"
            else:
                fill = heat_colour(v / vmax) if vmax > 0 else HEAT[0]
                label = value_fmt(v)
            parts.append(
                f'<rect class="cell" x="{xx + 1:.2f}" y="{yy + 1:.2f}" width="{cell_w - 2:.2f}" '
                f'height="{cell_h - 2:.2f}" fill="{fill}" stroke="{GRID}" stroke-width="0.5">'
                f"<title>{escape(isolated(name))}, {escape(cols[k])}: {escape(label)}</title></rect>"
            )
            if show_text and v is not None:
                dark = vmax > 0 and v / vmax > 0.55
                parts.append(
                    f'<text x="{xx + cell_w / 2:.1f}" y="{yy + cell_h / 2 + 4:.1f}" text-anchor="middle" '
                    f'font-size="11" fill="{"#ffffff" if dark else INK}">{escape(short(v))}</text>'
                )
    step = _label_step(n, plot_w)
    base = top + len(rows) * cell_h
    for k, lab in enumerate(cols):
        if k % step == 0:
            parts.append(
                f'<text x="{left + (k + 0.5) * cell_w:.1f}" y="{base + 16:.1f}" text-anchor="middle" '
                f'fill="{AXIS}">{escape(lab)}</text>'
            )
    # colour legend
    ly = base + 34
    lw = 220.0
    for i in range(44):
        parts.append(
            f'<rect x="{left + i * lw / 44:.2f}" y="{ly:.1f}" width="{lw / 44 + 0.4:.2f}" height="10" '
            f'fill="{heat_colour(i / 43)}"/>'
        )
    parts.append(f'<text x="{left - 8:.1f}" y="{ly + 9:.1f}" text-anchor="end" fill="{AXIS}">0</text>')
    parts.append(
        f'<text x="{left + lw + 8:.1f}" y="{ly + 9:.1f}" fill="{AXIS}">{escape(value_fmt(vmax))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class TornadoBar:
    """One parameter: the result at its low and high setting (either may be missing), and
    ``no_value_note`` naming the settings without a result ("infeasible at 0.5")."""

    label: str
    low: float | None
    high: float | None
    low_note: str = ""
    high_note: str = ""
    no_value_note: str = ""


def tornado(
    cid: str,
    title: str,
    bars: Sequence[TornadoBar],
    base: float,
    value_fmt: Formatter,
    kind: str = "usd",
) -> str:
    """Horizontal bars from the base result to each parameter's low and high result.

    Each bar's setting is written at its end: the low setting on the left of the base line and
    the high setting on the right when the results equal the base (no effect).  A bar's
    ``no_value_note`` is written in red under its label, with a red marker on the base line:
    those settings have no result, so no bar can show them.
    """
    left, right, top, row_h = 250.0, 44.0, 26.0, 34.0
    height = int(top + row_h * max(1, len(bars)) + 34)
    vals = [base] + [v for b in bars for v in (b.low, b.high) if v is not None]
    lo, hi = min(vals), max(vals)
    span = hi - lo or abs(base) * 0.05 or 1.0
    pad = span * 0.35  # room for the setting labels at the bar ends
    ticks = nice_ticks(lo - pad, hi + pad, 6)
    x0, x1 = ticks[0], ticks[-1]
    plot_w = WIDTH - left - right

    def x(v: float) -> float:
        return left + plot_w * (v - x0) / (x1 - x0)

    parts = [_svg_open(cid, title, WIDTH, height)]
    label = tick_formatter(kind, ticks)
    base_y = top + row_h * max(1, len(bars))
    for t in ticks:
        parts.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 6:.1f}" y2="{base_y:.1f}" stroke="{GRID}"/>'
            f'<text x="{x(t):.1f}" y="{base_y + 16:.1f}" text-anchor="middle" fill="{AXIS}">{escape(label(t))}</text>'
        )
    colours = {"low": "#4e79a7", "high": "#f28e2b"}
    tol = 1e-9 * max(1.0, abs(base))
    for r, b in enumerate(bars):
        yy = top + r * row_h
        label_y = yy + row_h / 2 + (-3 if b.no_value_note else 4)
        parts.append(
            f'<text x="{left - 10:.1f}" y="{label_y:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(isolated(b.label))}</text>"
        )
        if b.no_value_note:
            xb = x(base)
            parts.append(
                f'<g class="tornado-novalue"><title>{escape(isolated(b.label))}: {escape(b.no_value_note)}</title>'
                f'<text x="{left - 10:.1f}" y="{yy + row_h / 2 + 11:.1f}" text-anchor="end" font-size="11" '
                f'fill="{WARN}">{escape(b.no_value_note)}</text>'
                f'<path d="M{xb - 5:.1f},{yy + 4:.1f} L{xb + 5:.1f},{yy + 4:.1f} L{xb:.1f},{yy + 12:.1f} Z" '
                f'fill="{WARN}"/></g>'
            )
        for side, v, note in (("low", b.low, b.low_note), ("high", b.high, b.high_note)):
            if v is None:
                continue
            xa, xb = sorted((x(base), x(v)))
            parts.append(
                f'<rect class="tornado-bar" data-side="{side}" x="{xa:.2f}" y="{yy + 6:.1f}" '
                f'width="{max(xb - xa, 1.0):.2f}" height="{row_h - 12:.1f}" fill="{colours[side]}">'
                f"<title>{escape(isolated(b.label))} {escape(note)}: {escape(value_fmt(v))}</title></rect>"
            )
            on_left = v < base - tol or (abs(v - base) <= tol and side == "low")
            anchor, tx = ("end", xa - 5) if on_left else ("start", xb + 5)
            parts.append(
                f'<text x="{tx:.1f}" y="{yy + row_h / 2 + 4:.1f}" text-anchor="{anchor}" font-size="11" '
                f'fill="{AXIS}">{escape(note)}</text>'
            )
    parts.append(
        f'<line x1="{x(base):.1f}" x2="{x(base):.1f}" y1="{top - 10:.1f}" y2="{base_y:.1f}" stroke="{INK}" '
        f'stroke-width="1.5"/><text x="{x(base):.1f}" y="{top - 12:.1f}" text-anchor="middle" fill="{INK}">'
        f"base {escape(value_fmt(base))}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class CurvePoint:
    """A point of a curve, optionally linking to a page (a scenario's plan report)."""

    x: float
    y: float
    label: str
    href: str | None = None


def curve(
    cid: str,
    title: str,
    points: Sequence[CurvePoint],
    *,
    knee: int | None,
    x_kind: str,
    y_kind: str,
    x_title: str,
    y_title: str,
) -> str:
    """Points joined in x order; the knee ringed and labelled; points link to their plans."""
    left, right, top, bottom = 84.0, 24.0, 20.0, 50.0
    height = 380
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    xs = [p.x for p in points] or [0.0, 1.0]
    ys = [p.y for p in points] or [0.0, 1.0]
    xt = nice_ticks(min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 0.01, 6)
    span = max(ys) - min(ys) or abs(max(ys)) * 0.1 or 1.0
    yt = nice_ticks(min(ys) - 0.08 * span, max(ys) + 0.08 * span, 5)

    def x(v: float) -> float:
        return left + plot_w * (v - xt[0]) / (xt[-1] - xt[0])

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - yt[0]) / (yt[-1] - yt[0]))

    parts = [_svg_open(cid, title, WIDTH, height)]
    _y_axis(parts, yt, y, left, WIDTH - right, y_kind)
    xlabel = tick_formatter(x_kind, xt)
    for t in xt:
        parts.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top:.1f}" y2="{top + plot_h:.1f}" stroke="{GRID}"/>'
            f'<text x="{x(t):.1f}" y="{top + plot_h + 16:.1f}" text-anchor="middle" fill="{AXIS}">'
            f"{escape(xlabel(t))}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8:.1f}" text-anchor="middle" fill="{AXIS}">'
        f"{escape(x_title)}</text>"
        f'<text transform="translate(16 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'fill="{AXIS}">{escape(y_title)}</text>'
    )
    order = sorted(range(len(points)), key=lambda i: points[i].x)
    if len(order) > 1:
        path = " ".join(f"{x(points[i].x):.1f},{y(points[i].y):.1f}" for i in order)
        parts.append(
            f'<polyline class="line" points="{path}" fill="none" stroke="#4e79a7" stroke-width="2.5"/>'
        )
    for i in order:
        p = points[i]
        dot = (
            f'<circle class="point" cx="{x(p.x):.1f}" cy="{y(p.y):.1f}" r="6" fill="#4e79a7" '
            f'stroke="#ffffff" stroke-width="1.5"><title>{escape(p.label)}</title></circle>'
        )
        if p.href:
            dot = f'<a href="{_attr(p.href)}">{dot}</a>'
        parts.append(dot)
    if knee is not None and 0 <= knee < len(points):
        k = points[knee]
        parts.append(
            f'<circle class="knee" cx="{x(k.x):.1f}" cy="{y(k.y):.1f}" r="12" fill="none" '
            f'stroke="#e15759" stroke-width="2.5"/><text x="{x(k.x) - 16:.1f}" y="{y(k.y) - 14:.1f}" '
            f'text-anchor="end" fill="#e15759" font-weight="600">knee</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
