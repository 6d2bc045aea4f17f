"""Throughput-versus-speed curves and eligibility.

For workload w (model m, speed target u) and hardware h with points for m sorted by
speed x (strictly increasing), let f be the curve: the linear interpolation between the
points, and y(min x) below the first point.  Then

* tput[h, w] = 0 if u > max x (h cannot serve that fast);
* otherwise tput[h, w] = max of f(u') over u <= u' <= max x: the *upper envelope*.  A unit
  run at any operating point at least as fast as u serves users who need only u, so it
  delivers at least that point's throughput.  For the usual curve, whose throughput falls
  as the speed per user rises, this is f(u) itself: y(min x) below the first point, the
  interpolation between points.  A curve that rises somewhere (points (10, 1000) and
  (50, 5000): a unit at 50 tokens/s per user delivers 5,000) gives a workload that needs
  10 the 5,000 of the faster point, not the 1,000 of the slower one.

No points for m gives 0.  A pair (h, w) is eligible where tput > 0.
"""

from __future__ import annotations

from solver.schema import Hardware, Workload


def curve_value(xs: list[float], ys: list[float], u: float) -> float:
    """The curve itself at speed ``u`` (``xs`` strictly increasing, ``u <= xs[-1]``):
    ``ys[0]`` at or below the first point, else linear interpolation."""
    if u <= xs[0]:
        return ys[0]
    for i in range(1, len(xs)):
        if u == xs[i]:
            return ys[i]
        if u < xs[i]:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return y0 + (y1 - y0) * (u - x0) / (x1 - x0)
    raise ValueError(f"speed {u} is beyond the last point {xs[-1]}")


def envelope_value(xs: list[float], ys: list[float], u: float) -> float:
    """max of the curve over [u, xs[-1]], or 0 when ``u > xs[-1]``.

    The curve is piecewise linear, so its maximum over the interval is at u itself or at
    one of the points inside it.
    """
    if u > xs[-1]:
        return 0.0
    return max([curve_value(xs, ys, u), *(y for x, y in zip(xs, ys, strict=True) if x >= u)])


def _points(hw: Hardware, wl: Workload) -> tuple[list[float], list[float]] | None:
    """(speeds, throughputs) of ``hw``'s points for ``wl``'s model; None without any."""
    perf = hw.performance.get(wl.model)
    if perf is None:
        return None
    return [p.tokens_per_s_per_user for p in perf.points], [p.tokens_per_s_per_unit for p in perf.points]


def throughput(hw: Hardware, wl: Workload) -> float:
    """Tokens per second one unit of ``hw`` delivers to ``wl`` at its speed target."""
    pts = _points(hw, wl)
    return 0.0 if pts is None else envelope_value(*pts, wl.min_tokens_per_s_per_user)


def curve_throughput(hw: Hardware, wl: Workload) -> float:
    """The curve's own value at ``wl``'s speed target, without the envelope (0 where
    ``hw`` has no points for the model or cannot serve that fast).  Used to say when the
    envelope changed a throughput."""
    pts = _points(hw, wl)
    u = wl.min_tokens_per_s_per_user
    return 0.0 if pts is None or u > pts[0][-1] else curve_value(*pts, u)
