"""Period labels in words: pure (the report uses it without importing a solver)."""

from __future__ import annotations


def period_runs(periods: list[str], order: list[str]) -> str:
    """Period labels in ``order``'s order, consecutive runs written 'a – b' ('2026-10 – 2027-10';
    two in a row as 'a, b'), comma-separated; labels not in ``order`` last, sorted."""
    pos = {lab: i for i, lab in enumerate(order)}
    idx = sorted(pos[p] for p in periods if p in pos)
    chunks: list[str] = []
    i = 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        a, b = order[idx[i]], order[idx[j]]
        chunks.append(a if i == j else (f"{a}, {b}" if j == i + 1 else f"{a} \u2013 {b}"))
        i = j + 1
    extra = sorted(p for p in periods if p not in pos)
    return ", ".join(chunks + extra)
