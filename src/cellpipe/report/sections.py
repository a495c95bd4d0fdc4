"""The normalization and segmentation-montage sections."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cellpipe.report.figures import _figure, _intensity_figure, _percentile_figure
from cellpipe.report.html import _empty_note, _esc, _num, _table
from cellpipe.report.images import _montage_figure

#: Panels drawn at most in the segmentation montage.
_MAX_MONTAGE_PANELS = 12


def _finite_samples(samples: Mapping[str, np.ndarray] | None, key: str, limit: int = 2_000_000) -> np.ndarray | None:
    """Finite values of ``samples[key]`` (every n-th when more than ``limit``); None when there are none."""
    if not samples or samples.get(key) is None:
        return None
    values = np.asarray(samples[key], dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size > limit:
        values = values[:: math.ceil(values.size / limit)]
    return values if values.size else None


def _normalization_body(
    percentiles: pd.DataFrame | None,
    intensity_samples: Mapping[str, np.ndarray] | None,
    intensity_channel: int | None,
    frame_interval_min: float | None,
    max_rows: int,
) -> str:
    has_table = percentiles is not None and len(percentiles) > 0
    raw = _finite_samples(intensity_samples, "raw")
    normalized = _finite_samples(intensity_samples, "normalized")
    body = ""
    if raw is None and normalized is None:
        body += _empty_note(
            "No intensity samples were given, so the histograms before and after normalization are left out."
        )
    else:
        movie_values: tuple[float, float] | None = None
        movie_pct: tuple[float, float] | None = None
        channel_text = ""
        if has_table and percentiles is not None and {"frame", "low_value", "high_value"} <= set(percentiles.columns):
            movie = percentiles[percentiles["frame"] == -1]
            if "channel" in movie and len(movie):
                channels = sorted(movie["channel"].unique().tolist())
                chosen = intensity_channel if intensity_channel in channels else channels[0]
                movie = movie[movie["channel"] == chosen]
                channel_text = f" of channel {chosen}"
            if len(movie):
                first = movie.iloc[0]
                low, high = _num(first["low_value"]), _num(first["high_value"])
                if math.isfinite(low) and math.isfinite(high):
                    movie_values = (low, high)
                    movie_pct = (_num(first.get("low_percentile")), _num(first.get("high_percentile")))
        parts = []
        if raw is not None:
            marked = (
                f"red lines mark the movie-wide low (dashed) and high (solid) percentile values{channel_text}, "
                "which normalization maps to 0 and 1"
                if movie_values is not None
                else "no movie-wide percentiles (frame = -1) were recorded, so none are marked"
            )
            parts.append(f"left: {raw.size} raw pixel values; {marked}")
        if normalized is not None:
            below = 100.0 * float(np.mean(normalized < 0.0))
            above = 100.0 * float(np.mean(normalized > 1.0))
            parts.append(
                f"{'right' if raw is not None else 'shown'}: {normalized.size} normalized values, 0 and 1 marked; "
                f"{below:.2g} % lie below 0 and {above:.2g} % above 1"
            )
        body += _figure(
            _intensity_figure(raw, normalized, movie_values, movie_pct),
            _esc(
                "Intensity histograms of pixels sampled from the segmented channel, counts on a log scale; "
                + "; ".join(parts)
                + "."
            ),
        )
    if has_table and percentiles is not None:
        keys = [c for c in ("frame", "channel") if c in percentiles]
        table = percentiles.sort_values(keys, kind="stable") if keys else percentiles
        per_frame = percentiles[percentiles["frame"] >= 0] if "frame" in percentiles else percentiles.iloc[:0]
        if len(per_frame) and per_frame["frame"].nunique() > 1:
            body += _figure(
                _percentile_figure(per_frame, frame_interval_min),
                "Intensity at the low (dashed) and high (solid) normalization percentiles in each frame.",
            )
        body += _table(table, max_rows=max_rows)
        body += '<p class="note">frame = -1: one pair of values for the whole movie. Values in raw intensity units.</p>'
    else:
        body += '<p class="note">No normalization percentiles recorded.</p>'
    return body


def _montage_body(
    montage: Sequence[tuple[int, np.ndarray, np.ndarray]] | None,
    frame_interval_min: float | None,
    pixel_size_um: float | None,
) -> str:
    panels: list[tuple[int, np.ndarray, np.ndarray]] = []
    given = list(montage or [])
    for frame, image, labels in given[:_MAX_MONTAGE_PANELS]:
        image = np.asarray(image, dtype=float)
        labels = np.asarray(labels)
        if image.ndim != 2 or image.shape != labels.shape:
            raise ValueError(f"montage image {image.shape} and labels {labels.shape} must be the same (Y, X) shape")
        if image.size:
            panels.append((int(frame), image, labels))
    if not panels:
        return _empty_note("No montage frames were given, so the segmentation montage is left out.")
    caption = (
        f"Segmentation in {len(panels)} frames: image (grey, 1–99.8 % intensity stretch per panel) with the outline "
        "of each segmented object in colour; titles give the frame, its time and the number of objects."
        + (" Scale bar in µm." if pixel_size_um is not None else "")
    )
    if len(given) > len(panels):
        caption += f" {len(given) - len(panels)} further frame(s) left out."
    return _figure(_montage_figure(panels, frame_interval_min, pixel_size_um), _esc(caption))
