"""Throughput-versus-speed curves and eligibility.

For workload w (model m, speed target u) and hardware h with points for m sorted by
speed x (strictly increasing):

* tput[h, w] = 0 if u > max x (h cannot serve that fast);
* tput[h, w] = y(min x) if u <= min x (serving slower than measured gains nothing);
* otherwise the linear interpolation between the two bracketing points.

No points for m gives 0.  A pair (h, w) is eligible where tput > 0.
"""

from __future__ import annotations

from solver.schema import Hardware, Workload


def throughput(hw: Hardware, wl: Workload) -> float:
    """Tokens per second one unit of ``hw`` delivers to ``wl`` at its speed target."""
    perf = hw.performance.get(wl.model)
    if perf is None:
        return 0.0
    xs = [p.tokens_per_s_per_user for p in perf.points]
    ys = [p.tokens_per_s_per_unit for p in perf.points]
    u = wl.min_tokens_per_s_per_user
    if u > xs[-1]:
        return 0.0
    if u <= xs[0]:
        return ys[0]
    for i in range(1, len(xs)):
        if u <= xs[i]:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return y0 + (y1 - y0) * (u - x0) / (x1 - x0)
    return 0.0  # pragma: no cover - unreachable: u <= xs[-1] above
