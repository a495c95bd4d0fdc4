"""Reading a number out of a value that came from a table, a JSON record or a config (a number, a numeric
string, or something missing or unusable), one way for every module."""

from __future__ import annotations

import math
from typing import Any


def as_number(value: Any, finite: bool = False, positive: bool = False) -> float | None:
    """``value`` as a float, or None when it is missing (None, NaN, pandas' NA), a boolean (a yes/no is no
    measurement), not a number, or, with ``finite``, infinite, or, with ``positive``, not above 0.

    The unit is the value's own: nothing is converted."""
    if value is None or type(value).__name__ in ("bool", "bool_"):  # Python's and numpy's booleans
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(out) or (finite and math.isinf(out)) or (positive and not out > 0):
        return None
    return out
