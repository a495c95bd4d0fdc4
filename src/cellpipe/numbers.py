"""Reading a number out of a value that came from a table, a JSON record or a config.

The value is a number, a numeric string, or something missing or unusable; every module reads it one way.
"""

from __future__ import annotations

import math
from typing import Any


def as_number(value: Any, finite: bool = False, positive: bool = False) -> float | None:
    """``value`` as a float, or None when it is missing or unusable.

    Missing or unusable: None, NaN, pandas' NA, a boolean (a yes/no is no measurement), anything
    ``float()`` refuses; with ``finite`` also an infinity, with ``positive`` also a value not above 0.

    Parameters
    ----------
    value : Any
        A number, a numeric string or anything else, in whatever unit it carries (µm, minutes, px, ...);
        nothing is converted.
    finite : bool
        Treat +inf and -inf as missing.
    positive : bool
        Treat 0 and negative values as missing.

    Returns
    -------
    float or None
        The value in its own unit, or None.
    """
    if value is None or type(value).__name__ in ("bool", "bool_"):  # Python's and numpy's booleans
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(out) or (finite and math.isinf(out)) or (positive and not out > 0):
        return None
    return out
