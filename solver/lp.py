"""A linear (or mixed-integer) program as arrays: the one description of the model.

Columns are integer indices with bounds, a solver unit and integrality held in lists; rows hold
their terms as ``{column: coefficient}``, a sense, a right-hand side and a unit; the objective is
an :class:`Expr`.  No Python object per column: :mod:`solver.solve` emits the program straight
into HiGHS (``passModel``, CSR arrays) or, for CBC and any other solver PuLP drives, into a PuLP
problem built from the same arrays, and puts the solution back here (values, duals, slacks),
always in natural units.

Units: a column in unit u reaches the solver as x/u (its bounds divided by u, its coefficients
times u); a row in unit r reaches it divided by r.  Values, duals and slacks here are natural.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

LE, GE, EQ = -1, 1, 0  # PuLP's own constants (LpConstraintLE, GE, EQ)
INF = math.inf


class Expr:
    """Σ coef·x[column] + constant, coefficients of a column added up."""

    __slots__ = ("constant", "terms")

    def __init__(self, terms: Iterable[tuple[int, float]] = (), constant: float = 0.0) -> None:
        self.terms: dict[int, float] = {}
        self.constant = float(constant)
        self.add_terms(terms)

    def add_terms(self, terms: Iterable[tuple[int, float]], scale: float = 1.0) -> None:
        t = self.terms
        for i, a in terms:
            t[i] = t.get(i, 0.0) + scale * a

    def items(self) -> Iterator[tuple[int, float]]:
        return iter(self.terms.items())

    def get(self, i: int, default: float = 0.0) -> float:
        return self.terms.get(i, default)

    def __setitem__(self, i: int, a: float) -> None:
        self.terms[i] = a

    def copy(self) -> Expr:
        out = Expr(constant=self.constant)
        out.terms = dict(self.terms)
        return out

    def scaled(self, k: float) -> Expr:
        out = Expr(constant=k * self.constant)
        out.terms = {i: k * a for i, a in self.terms.items()}
        return out

    def plus(self, other: Expr, k: float = 1.0) -> Expr:
        """self + k·other (a new expression)."""
        out = self.copy()
        out.add_terms(other.items(), k)
        out.constant += k * other.constant
        return out

    def value(self, x: Sequence[float]) -> float:
        return self.constant + sum(a * x[i] for i, a in self.terms.items())


class Row:
    """Σ coef·x (sense) rhs, with its solver unit and, once solved, its dual and slack.

    ``pi`` is d(minimised objective)/d(rhs) (LP only; None otherwise), ``slack`` rhs − activity
    for ``<=`` and activity − rhs for ``>=`` (>= 0 when the row holds; 0 for ``=``)."""

    __slots__ = ("expr", "pi", "rhs", "sense", "slack", "unit")

    def __init__(self, expr: dict[int, float], sense: int, rhs: float, unit: float = 1.0) -> None:
        self.expr = expr
        self.sense = sense
        self.rhs = float(rhs)
        self.unit = unit
        self.pi: float | None = None
        self.slack: float | None = None

    def bounds(self) -> tuple[float, float]:
        if self.sense == LE:
            return -INF, self.rhs
        if self.sense == GE:
            return self.rhs, INF
        return self.rhs, self.rhs

    def set_activity(self, activity: float) -> None:
        """The slack from the row's activity (natural units)."""
        self.slack = (
            self.rhs - activity if self.sense == LE else (activity - self.rhs if self.sense == GE else 0.0)
        )


class LinearProgram:
    """Columns, rows and the objective of one problem (always minimised)."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.unit: list[float] = []
        self.integer: set[int] = set()
        self.rows: list[Row] = []
        self.objective = Expr()
        self.x: list[float] = []  # the last solution's values (natural units); [] before any

    @property
    def num_cols(self) -> int:
        return len(self.lb)

    def add_column(self, lb: float | None = 0.0, ub: float | None = None, unit: float = 1.0) -> int:
        """A new column's index; ``None`` bounds are infinite."""
        self.lb.append(-INF if lb is None else float(lb))
        self.ub.append(INF if ub is None else float(ub))
        self.unit.append(unit)
        return len(self.lb) - 1

    def add_columns(self, count: int, lb: float = 0.0, ub: float | None = None, unit: float = 1.0) -> range:
        """``count`` new columns alike, in one step (a family of a million columns, say)."""
        start = len(self.lb)
        self.lb.extend([float(lb)] * count)
        self.ub.extend([INF if ub is None else float(ub)] * count)
        self.unit.extend([unit] * count)
        return range(start, start + count)

    def add_row(
        self,
        terms: Iterable[tuple[int, float]],
        sense: int,
        rhs: float,
        unit: float = 1.0,
        unique: bool = False,
    ) -> Row:
        """A new row: a column appearing twice in ``terms`` gets the sum of its coefficients
        (``unique``: the caller knows no column appears twice, and the terms are taken as they are)."""
        if unique:
            expr = dict(terms)
        else:
            expr = {}
            for i, a in terms:
                expr[i] = expr.get(i, 0.0) + a
        row = Row(expr, sense, rhs, unit)
        self.rows.append(row)
        return row

    def remove_row(self, row: Row) -> None:
        self.rows.remove(row)

    @property
    def has_integers(self) -> bool:
        return bool(self.integer)

    def value(self, i: int) -> float:
        """Column i's value in the last solution (0 before any)."""
        return self.x[i] if self.x else 0.0

    def set_values(self, x: Sequence[float]) -> None:
        """Put values on the columns and the rows' slacks that follow from them."""
        self.x = [float(v) for v in x]
        for row in self.rows:
            row.set_activity(sum(a * self.x[i] for i, a in row.expr.items()))


__all__ = ["EQ", "GE", "INF", "LE", "Expr", "LinearProgram", "Row"]
