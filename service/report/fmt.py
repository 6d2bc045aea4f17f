"""Number formatting shared by every report page, so a figure always reads the same way.

Rules (one per quantity, used everywhere a quantity is shown):

* money: four significant digits with a scale word — ``$1.033 bn``, ``$474.5 M``,
  ``$12.35 k``, ``$512.3``; negative amounts get a true minus sign (``−$240.1 M``);
* money per unit (``$/M tokens``, ``$/MW``): four significant digits with the same scale
  words, so small prices keep their precision (``$0.1483``);
* counts of tokens per second: four significant digits with a scale word (``196.6 M``);
* units of hardware: thousands separators, no decimals when the value is whole, else one;
* MW: one decimal with thousands separators;
* kW (a diagnosis's vendor-share relaxation): four significant digits, positional with
  thousands separators (``1,224 kW``, ``12.35 kW``);
* fractions: per cent with one decimal (two for the served fraction of the headline).

``parse_scaled`` reads these strings back (the browser tests use it to check that the
numbers shown equal the plan's).
"""

from __future__ import annotations

import math
import re

import numpy as np

MINUS = "\u2212"
_SCALES = ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k"))
_WORDS = {"tn": 1e12, "bn": 1e9, "M": 1e6, "k": 1e3, "": 1.0}


def sig(x: float, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits, positional (no exponent), trailing zeros kept."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{decimals}f}"
    # rounding can carry into a new digit (999.96 -> 1,000.0): recompute once
    if len(text.replace(",", "").replace(".", "").lstrip("-0")) > digits and decimals > 0:
        text = f"{x:,.{decimals - 1}f}"
    return text


def scaled(x: float, digits: int = 4) -> str:
    """Four significant digits with a scale word: ``1.033 bn``, ``474.5 M``, ``12.35 k``."""
    if not math.isfinite(x):
        return str(x)
    sign = MINUS if x < 0 else ""
    a = float(f"{abs(x):.{digits}g}")  # round first, so 999,960 reads 1.000 M, not 1,000 k
    for factor, word in _SCALES:
        if a >= factor:
            return f"{sign}{sig(a / factor, digits)} {word}"
    return f"{sign}{sig(a, digits)}"


def usd(x: float | None) -> str:
    """Money: ``$1.033 bn``; ``—`` for a missing value."""
    if x is None:
        return "\u2014"
    text = scaled(x)
    if text.startswith(MINUS):
        return f"{MINUS}${text[1:]}"
    return f"${text}"


def tokens(x: float) -> str:
    """Tokens per second (or million tokens): ``196.6 M``."""
    return scaled(x)


def units(x: float) -> str:
    """Hardware units: ``1,665`` when whole, else ``1,664.8``."""
    if abs(x - round(x)) < 1e-6:
        return f"{round(x):,d}"
    return f"{x:,.1f}"


def mw(x: float) -> str:
    """Megawatts: ``79.7 MW``."""
    return f"{x:,.1f} MW"


def kw(x: float) -> str:
    """Kilowatts: ``1,224 kW``, ``12.35 kW``."""
    sign = MINUS if x < 0 else ""
    return f"{sign}{sig(abs(x))} kW"


def pct(x: float, decimals: int = 1) -> str:
    """A fraction as per cent: ``53.0%``."""
    return f"{100 * x:.{decimals}f}%"


def quantity(x: float, unit: str) -> str:
    """An amount in a named unit (a diagnosis relaxation, a price's unit)."""
    u = unit.strip()
    if u in ("$", "usd", "USD"):
        return usd(x)
    if u == "MW":  # a relaxation of 0.04 MW must not read "0.0 MW": small ones get 4 digits
        return mw(x) if x == 0 or abs(x) >= 0.05 else f"{MINUS if x < 0 else ''}{sig(abs(x))} MW"
    if u == "kW":
        return kw(x)
    if u == "units":
        return f"{units(x)} units"
    return f"{scaled(x)} {u}"


def plain(x: float | int | None) -> str:
    """A plain number for CSV: positional digits, no separators, no exponent, ``""`` for None."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, int):
        return str(x)
    if x == 0:
        return "0"
    return str(np.format_float_positional(float(x), trim="-"))


_PARSE = re.compile(r"^([\u2212-])?\$?([0-9][0-9,]*(?:\.[0-9]+)?)\s*(tn|bn|M|k)?\s*(%)?$")


def parse_scaled(text: str) -> float:
    """Read back a number formatted by this module (``$1.033 bn``, ``53.0%``, ``1,665``)."""
    m = _PARSE.match(text.strip().replace(" MW", ""))
    if m is None:
        raise ValueError(f"not a formatted number: {text!r}")
    sign, digits, word, percent = m.groups()
    value = float(digits.replace(",", "")) * _WORDS[word or ""]
    if percent:
        value /= 100
    return -value if sign else value
