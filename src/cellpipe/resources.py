"""Memory (``mem_mb``, MB) the per-movie jobs ask for, from the movie's header.

From the frame size, channels, pixel type and frame count (:class:`cellpipe.preflight.MovieSize`).

A fixed request would either hold 8 GB of a cluster node for a 256² movie or get an 8000² movie
killed for memory (normalization alone holds 16 frames of float32: 4 GB at 8000²).  Each estimate is a base (the Python process with its
libraries, and the Snakemake script runner around it) plus what grows with the frame, fitted to
peak resident set sizes measured with ``python -m bench.memory_per_frame`` (each step in a fresh
process, ``ru_maxrss``; bench/RESULTS.md, "Memory requests from the header") and rounded up with
a margin.  Every job's memory is flat in the movie's length (frames are read one at a time,
bench.workflow_memory), except normalize's batches of :data:`NORMALIZE_BATCH_FRAMES` frames.
A retry asks for the estimate × attempt (workflow/rules/common.smk).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Snakefile imports this module; preflight's header readers load only when a sheet is checked
    from cellpipe.preflight import MovieSize

ROUND_MB = 100
"""Requests are rounded up to a multiple of this (MB)."""

NORMALIZE_BATCH_FRAMES = 16
"""Frames normalize_movie holds at once (cellpipe.steps.normalize.FRAMES_PER_BATCH; not imported, because that
module pulls in the stages' libraries and the Snakefile imports this one)."""

INGEST_BASE_MB = 400.0
"""Measured 61 MB (256² frames) in a bare process; Snakemake's script runner adds about 100 MB."""
INGEST_MB_PER_FRAME_MB = 8.0
"""Per MB of one frame (all channels, its pixel type): measured 5.5 (the page read, its (C, Y, X)
view and the compressed chunks being written)."""
INGEST_MB_PER_STACK_MB = 3.0
"""Per MB of one raw z-stack (Z planes of one channel, its pixel type) of a movie projected at ingest
(ingest.z_projection): the stack decoded, the pages tifffile reads it from and the projection's
float64 plane temporaries.  Not measured: a margin over the 1 + 1 copies of the stack held at once."""

NORMALIZE_BASE_MB = 400.0
"""Measured 63 MB (256² frames) in a bare process."""
NORMALIZE_MB_PER_MEGAPIXEL = 24.0
"""Per megapixel of each plane (channel) of a batch: measured 18 (the float32 batch, the raw
batch it came from and the arithmetic's temporaries)."""

SEGMENT_BASE_MB = {"classical": 400.0, "cellpose": 2500.0}
"""Measured 105 MB (classical) and 933 MB (Cellpose 3, CPU) at 256²; a GPU job also maps the CUDA
libraries (about 1 GB more), hence Cellpose's margin."""
SEGMENT_MB_PER_MEGAPIXEL = {"classical": 100.0, "cellpose": 500.0}
"""Per megapixel of the plane segmented (one channel): measured 79 (classical) and 455 (Cellpose,
per megapixel of the frame as Cellpose rescales it: its tiles, flows and probabilities)."""
CELLPOSE_DIAM_MEAN_PX = 30.0
"""Cellpose rescales a frame by this / the cell diameter (px), so memory grows with the square."""
UNKNOWN_DIAMETER_AREA_SCALE = 2.0
"""Area scale assumed when the diameter is not known before the job (estimated, or the model's
own: the shipped model's 23.5 px gives (30 / 23.5)² = 1.6)."""


def _round_up(mb: float) -> int:
    """``mb`` (MB) rounded up to a multiple of :data:`ROUND_MB`, as an int."""
    return int(math.ceil(mb / ROUND_MB) * ROUND_MB)


def ingest_mem_mb(size: MovieSize) -> int:
    """Memory (MB) to request for an ingest_movie job.

    Ingest holds one frame at a time, in the movie's pixel type, every channel; a z-stack movie also
    holds the z-planes of one channel at once (:attr:`MovieSize.stack_megabytes`), and its projected
    frame is counted at 8 bytes per pixel (a sum of integers is 64-bit).

    Parameters
    ----------
    size : cellpipe.preflight.MovieSize
        The movie's header: shape (frames, channels, px, px), z-planes, pixel type.

    Returns
    -------
    int
        MB, a multiple of :data:`ROUND_MB`.
    """
    if size.z_planes > 1:
        _, c, y, x = size.shape_tcyx
        projected_mb = c * y * x * 8 / 1e6
        return _round_up(INGEST_BASE_MB + INGEST_MB_PER_FRAME_MB * projected_mb
                         + INGEST_MB_PER_STACK_MB * size.stack_megabytes)
    return _round_up(INGEST_BASE_MB + INGEST_MB_PER_FRAME_MB * size.frame_megabytes)


def normalize_mem_mb(size: MovieSize, volumes: bool = False) -> int:
    """Memory (MB) to request for a normalize_movie job.

    Parameters
    ----------
    size : cellpipe.preflight.MovieSize
        The movie's header: shape (frames, channels, px, px), z-planes.
    volumes : bool
        The movie is a z-stack kept in 3-D (``ingest.z_projection: keep``): normalize holds one z-stack
        of one channel at a time, its planes counted as a batch's. Otherwise it holds batches of up to
        :data:`NORMALIZE_BATCH_FRAMES` frames, every channel, as float32.

    Returns
    -------
    int
        MB, a multiple of :data:`ROUND_MB`.
    """
    frames = min(size.shape_tcyx[0], NORMALIZE_BATCH_FRAMES)
    planes = size.z_planes if volumes and size.z_planes > 1 else frames * size.shape_tcyx[1]
    return _round_up(NORMALIZE_BASE_MB + NORMALIZE_MB_PER_MEGAPIXEL * planes * size.plane_megapixels)


def segment_mem_mb(size: MovieSize, method: str, diameter_px: float | None) -> int:
    """Memory (MB) to request for each part of segment_frames (the segmentation job): one plane at a time.

    Parameters
    ----------
    size : cellpipe.preflight.MovieSize
        The movie's header; its plane size (megapixels) is what counts.
    method : str
        ``"cellpose"`` or ``"classical"``.
    diameter_px : float or None
        The cell diameter (px) Cellpose works at; None when it is not known before the job runs
        (estimated, or the model's own), and :data:`UNKNOWN_DIAMETER_AREA_SCALE` is assumed. Ignored
        for ``"classical"``.

    Returns
    -------
    int
        MB, a multiple of :data:`ROUND_MB`.
    """
    kind = "classical" if method == "classical" else "cellpose"
    megapixels = size.plane_megapixels
    if kind == "cellpose":
        area_scale = (CELLPOSE_DIAM_MEAN_PX / diameter_px) ** 2 if diameter_px else UNKNOWN_DIAMETER_AREA_SCALE
        megapixels *= area_scale
    return _round_up(SEGMENT_BASE_MB[kind] + SEGMENT_MB_PER_MEGAPIXEL[kind] * megapixels)


def segment_diameter_px(settings: dict[str, object], pixel_size_um: float) -> float | None:
    """The cell diameter (px) a segment job will use, or None when the job estimates it.

    The rule of :func:`cellpipe.segment.diameter_in_px`, without importing that module (the Snakefile
    imports this one).

    Parameters
    ----------
    settings : dict
        The ``segment`` section with the sample sheet's overrides, as the job gets them
        (``estimate_diameter``, ``diameter_px`` in px, ``diameter_um`` in µm).
    pixel_size_um : float
        The movie's pixel size (µm per px).

    Returns
    -------
    float or None
        The diameter (px); None when the job estimates it or no diameter is given (the model's own).
    """
    if settings.get("estimate_diameter"):
        return None
    if settings.get("diameter_px") is not None:
        return float(settings["diameter_px"])  # type: ignore[arg-type]
    if settings.get("diameter_um") is not None:
        return float(settings["diameter_um"]) / pixel_size_um  # type: ignore[arg-type]
    return None
