"""Shared base class for the typed per-stage settings."""

from pydantic import BaseModel, ConfigDict


class StageSettings(BaseModel):
    """Base for every stage's settings: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
