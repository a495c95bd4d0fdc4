"""What the measuring modules share: empty tables of a schema, argument checks, channel names, the track lookup."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.config import MeasureSettings

logger = logging.getLogger(__name__)


def _channel_names(settings: MeasureSettings, n_channels: int) -> list[str]:
    if settings.channel_names is None:
        return [f"ch{c}" for c in range(n_channels)]
    if len(settings.channel_names) != n_channels:
        raise ValueError(
            f"{len(settings.channel_names)} channel names {settings.channel_names} "
            f"for an image with {n_channels} channels"
        )
    return list(settings.channel_names)


def _empty(schema: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({col: pd.Series([], dtype=dtype) for col, dtype in schema.items()})


def _check_positive(name: str, value: float) -> None:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _track_lookup(tracks: pd.DataFrame | None) -> pd.DataFrame:
    """(frame, label) -> track_id table from the tracks table, one row per segmented object."""
    columns = {"frame": "int64", "label": "int64", "track_id": "Int64"}
    if tracks is None or len(tracks) == 0:
        return _empty(columns)
    missing = {"frame", "label", "track_id"} - set(tracks.columns)
    if missing:
        raise ValueError(f"tracks table lacks columns {sorted(missing)}")
    lookup = tracks[["frame", "label", "track_id"]].dropna(subset=["label"])
    lookup = lookup[lookup["label"] > 0]
    lookup = lookup.astype(columns)
    duplicated = lookup.duplicated(subset=["frame", "label"], keep="first")
    if duplicated.any():
        logger.warning(
            "tracks table assigns %d (frame, label) objects to more than one track; keeping the first",
            int(duplicated.sum()),
        )
        lookup = lookup[~duplicated]
    return lookup
