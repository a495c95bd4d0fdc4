"""Memory (``mem_mb``, MB) the per-movie jobs ask for, from the movie's header.

From the frame size, channels, pixel type and frame count and, for a 3-D movie, its planes per stack and z step (µm)
(:class:`cellpipe.preflight.MovieSize`).

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

import logging
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the Snakefile imports this module; preflight's header readers load only when a sheet is checked
    from cellpipe.preflight import MovieSize

logger = logging.getLogger(__name__)

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


SEGMENT_STACK_BYTES_PER_VOXEL = {"classical": 100.0, "stitch": 16.0}
"""Bytes per voxel of one (z, y, x) stack, besides the per-pass terms: classical 3-D's float intermediates
in one pass (measured 58 B, bench/RESULTS.md "Block-wise classical 3-D segmentation"); Cellpose 'stitch''s
stack as float32, its per-plane and stitched uint32 labels and Cellpose's 3-D clean-up (not measured)."""
CLASSICAL_BLOCK_STACK_BYTES_PER_VOXEL = 8.0
"""Classical block by block: the stack (float32) and its uint32 labels stay whole; the rest is one block's."""
CLASSICAL_THRESHOLD_SAMPLE_MB = 35.0
"""The block-wise automatic threshold's sample: at most 4 Mi float32 voxels, twice while it is joined."""
DO_3D_BYTES_PER_VOXEL = 100.0
"""Cellpose 'do_3d', bytes per voxel of the stack resampled to cubic voxels at the model's diameter (z x
anisotropy x rescale, y x rescale, x x rescale): the resampled input (2 channels), the summed flows and
probability (4 float32) and one orientation's network output (3 float32) at once, then the flows followed
and the masks found in 3-D.  Measured 65 (peak RSS of rule segment_frames' step on 8 x 96 x 96 to
16 x 192 x 192 voxel stacks, python -m bench.memory_do_3d; bench/RESULTS.md, "Cellpose do_3d: memory and
block by block"), with a margin."""
DO_3D_STACK_BYTES_PER_VOXEL = 12.0
"""'do_3d' block by block: the stack (float32, and a normalized copy) and its uint32 labels stay whole."""
UNKNOWN_ANISOTROPY = 5.0
"""z step / pixel assumed for 'do_3d' and for blocks when the movie's size carries no z step (µm).  The start-up
check gives every movie kept in 3-D one (sample sheet, file header or ingest.default_pixel_size_z_um, as ingest
takes it: :attr:`cellpipe.preflight.MovieSize.z_step_um`), so only a size made without it is sized so, with a
warning."""


def segment_stack_mem_mb(
    size: MovieSize,
    method: str,
    diameter_px: float | None,
    *,
    mode_3d: str = "stitch",
    z_step_um: float | None = None,
    block_size_um: float | None = None,
    block_overlap_um: float | None = None,
    tile_px: int = 1024,
    batch_size: int | None = None,
) -> int:
    """Memory (MB) to request for each part of segment_frames on a 3-D movie: one (z, y, x) stack at a time.

    * classical: :data:`SEGMENT_STACK_BYTES_PER_VOXEL` of the stack; block by block (``block_size_um``), that
      of one block (its core plus ``block_overlap_um`` µm, else one diameter, on each side, at most the stack)
      plus the whole stack and its labels and the threshold's sample.
    * Cellpose 'stitch': the planes of one network pass (as many as fill ``batch_size`` tiles of ``tile_px``
      px after rescaling, at most the stack's, at least ``batch_size``: cellpipe.segment.cellpose_3d._planes_per_pass)
      counted as a 2-D frame of their pixels (:func:`segment_mem_mb`), plus the stack's float32 and labels.
    * Cellpose 'do_3d': :data:`DO_3D_BYTES_PER_VOXEL` of the stack resampled to cubic voxels at the model's
      diameter (z stretched by z step / pixel, every axis by 30 px / ``diameter_px``); block by block, of one
      resampled block, plus the whole stack and its labels.  So it grows with the stack in one pass and is
      bounded by the block when blocks are on.

    Parameters
    ----------
    size : cellpipe.preflight.MovieSize
        The movie's header: plane (px), ``z_planes``, ``pixel_size_um`` (µm).
    method : str
        ``"cellpose"`` or ``"classical"``.
    diameter_px : float or None
        Cell diameter (px of the plane); None when unknown before the job (estimated, or the model's own):
        Cellpose's area scale is then :data:`UNKNOWN_DIAMETER_AREA_SCALE`, a default overlap 30 px.
    mode_3d : str
        ``segment.cellpose.mode_3d``: ``"stitch"`` or ``"do_3d"``; ignored for classical.
    z_step_um : float or None
        Step between planes (µm); None: :data:`UNKNOWN_ANISOTROPY` pixels, logged as a warning where the request
        depends on it ('do_3d', classical blocks).
    block_size_um, block_overlap_um : float or None
        The method's block core and overlap (µm); None: one pass (overlap: one diameter).
    tile_px : int
        ``segment.cellpose.tile_px`` (px).
    batch_size : int or None
        ``segment.cellpose.batch_size`` (tiles per pass); None: 4, the GPU default (a CPU runs 1, so this is
        an upper bound there).

    Returns
    -------
    int
        MB, a multiple of :data:`ROUND_MB`.
    """
    z = max(1, size.z_planes)
    y, x = size.shape_tcyx[2], size.shape_tcyx[3]
    stack_voxels = z * y * x
    pixel = size.pixel_size_um
    z_px = (z_step_um / pixel) if z_step_um else UNKNOWN_ANISOTROPY  # z step in px of the plane
    if not z_step_um and (mode_3d == "do_3d" and method != "classical" or method == "classical" and block_size_um):
        logger.warning("no z step known for a movie of %d z-planes per stack: its segmentation's memory request "
                       "assumes z step / pixel = %g", z, UNKNOWN_ANISOTROPY)

    def block_px(n_px: float, core_px: float, overlap_px: float) -> float:
        return min(n_px, core_px + 2 * overlap_px)

    overlap_px = None
    if block_size_um is not None:
        overlap_px = (block_overlap_um / pixel) if block_overlap_um is not None else (diameter_px or CELLPOSE_DIAM_MEAN_PX)
    if method == "classical":
        if block_size_um is None:
            return _round_up(SEGMENT_BASE_MB["classical"] + SEGMENT_STACK_BYTES_PER_VOXEL["classical"] * stack_voxels / 1e6)
        core_px = block_size_um / pixel
        voxels = (block_px(z, core_px / z_px, overlap_px / z_px) * block_px(y, core_px, overlap_px)
                  * block_px(x, core_px, overlap_px))
        return _round_up(SEGMENT_BASE_MB["classical"] + CLASSICAL_THRESHOLD_SAMPLE_MB
                         + SEGMENT_STACK_BYTES_PER_VOXEL["classical"] * voxels / 1e6
                         + CLASSICAL_BLOCK_STACK_BYTES_PER_VOXEL * stack_voxels / 1e6)
    area_scale = (CELLPOSE_DIAM_MEAN_PX / diameter_px) ** 2 if diameter_px else UNKNOWN_DIAMETER_AREA_SCALE
    if mode_3d == "do_3d":
        if block_size_um is None:
            bz, by, bx = float(z), float(y), float(x)
            held = 0.0
        else:
            core_px = block_size_um / pixel
            bz, by, bx = (block_px(z, core_px / z_px, overlap_px / z_px), block_px(y, core_px, overlap_px),
                          block_px(x, core_px, overlap_px))
            held = DO_3D_STACK_BYTES_PER_VOXEL * stack_voxels
        resampled = bz * z_px * by * bx * area_scale ** 1.5
        return _round_up(SEGMENT_BASE_MB["cellpose"] + (DO_3D_BYTES_PER_VOXEL * resampled + held) / 1e6)
    batch = batch_size or 4
    plane_px = y * x * area_scale
    planes = min(z, batch if plane_px > tile_px * tile_px else max(batch, int(batch * tile_px * tile_px // plane_px)))
    return _round_up(SEGMENT_BASE_MB["cellpose"] + SEGMENT_MB_PER_MEGAPIXEL["cellpose"] * planes * y * x / 1e6 * area_scale
                     + SEGMENT_STACK_BYTES_PER_VOXEL["stitch"] * stack_voxels / 1e6)


def segment_frames_mem_mb(size: MovieSize, settings: dict[str, Any], volumes: bool) -> int:
    """Memory (MB) to request for each part of segment_frames, from the movie's header and the job's settings.

    Its method and the cell diameter (px) it works at and, for a 3-D movie, its 3-D mode, blocks and z step.

    Parameters
    ----------
    size : cellpipe.preflight.MovieSize
        The movie's header; a 3-D movie's ``z_step_um`` (µm) stretches 'do_3d''s stack and sizes blocks along z.
    settings : dict
        The ``segment`` section with the sample sheet's overrides, as the job gets them (``method``,
        ``diameter_um`` in µm, ``cellpose`` and ``classical`` with their ``block_size_um`` and
        ``block_overlap_um`` in µm).
    volumes : bool
        The movie is kept in 3-D (``ingest.z_projection: keep``): a movie of several z-planes is segmented one
        (z, y, x) stack at a time (:func:`segment_stack_mem_mb`), else one plane at a time
        (:func:`segment_mem_mb`).

    Returns
    -------
    int
        MB, a multiple of :data:`ROUND_MB`.
    """
    diameter_px = segment_diameter_px(settings, size.pixel_size_um)
    method = str(settings["method"])
    if not (volumes and size.z_planes > 1):
        return segment_mem_mb(size, method, diameter_px)
    cellpose = settings["cellpose"]
    blocks = settings["classical"] if method == "classical" else cellpose
    return segment_stack_mem_mb(
        size, method, diameter_px, mode_3d=cellpose["mode_3d"], z_step_um=size.z_step_um,
        block_size_um=blocks["block_size_um"], block_overlap_um=blocks["block_overlap_um"],
        tile_px=cellpose["tile_px"], batch_size=cellpose["batch_size"],
    )


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
