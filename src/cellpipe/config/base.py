"""The base class of every typed per-stage settings model: unknown keys and numbers that are not finite are refused."""

from __future__ import annotations

import functools
import math
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

__all__ = ["StageSettings"]


@functools.cache
def _types(annotation: Any) -> frozenset[type]:
    """Every class named in a field's type annotation (``list[float] | None`` -> list, float, NoneType)."""
    found = {annotation} if isinstance(annotation, type) else set()
    for arg in typing.get_args(annotation):
        if not isinstance(arg, (str, int, float)) and arg is not None:  # Literal[...] values are not types
            found |= _types(arg)
    return frozenset(found)


def _bad_number(value: Any, booleans_allowed: bool) -> str | None:
    """What is wrong with a raw value (or an item of a raw list or mapping) where numbers are expected."""
    if isinstance(value, bool):
        return None if booleans_allowed else "must be a number, not a boolean"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isfinite(number) else "must be a finite number"
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        problem = _bad_number(item, booleans_allowed)
        if problem is not None:
            return problem
    return None


class StageSettings(BaseModel):
    """Base for every stage's settings: unknown keys are errors, values are validated on assignment.

    Numbers must be finite and no boolean stands for a number, in every field of every stage:
    YAML reads ``.inf``, ``.nan`` and ``true`` as values pydantic would otherwise accept for a float
    or an int (``diameter_um: .inf`` would crash segmentation, ``threshold: .nan`` find no cell and
    exit 0, ``channel: true`` become 1).  One check here, rather than one validator per field,
    also covers fields added later.  It runs before pydantic's own validation, so that a field typed
    ``Literal[...] | float`` says "finite number" instead of listing its literals; ``allow_inf_nan``
    is off as well, for any float the check does not see.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _finite_numbers_no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse non-finite numbers and booleans in every field that holds numbers (the class doc says why)."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        types = _types(field.annotation)
        # Only fields that hold numbers; a nested model (a stage section, a dict of simulations)
        # checks its own fields and names them.
        if not types & {int, float} or any(isinstance(t, type) and issubclass(t, BaseModel) for t in types):
            return value
        problem = _bad_number(value, booleans_allowed=bool in types)
        if problem is not None:
            raise ValueError(problem)
        return value
