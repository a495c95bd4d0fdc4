"""The typed settings of every stage, one pydantic model per stage (one section of ``config.yaml``).

They live here, apart from the stage modules that use them, so that :mod:`cellpipe.config`
(imported by the Snakefile at every start of snakemake and of every cluster job) validates a config
without importing pandas, scipy, scikit-image, matplotlib or torch.  This module imports only the
standard library, pydantic and :mod:`cellpipe.layout`; a validator needing more imports it when it runs.
One module holds every section, so the whole ``config.yaml`` reads top to bottom in one file; callers
import the models from :mod:`cellpipe.config`, the one path.  :data:`STAGE_MODULES` names the stage
module (``cellpipe.<module>``) that uses each model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cellpipe.config.base import StageSettings
from cellpipe.layout import DEFAULT_OME_ZARR_VERSION

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_IOU_THRESHOLDS",
    "STAGE_MODULES",
    "AugmentSettings",
    "CellposeSettings",
    "ClassicalSettings",
    "EvaluateSettings",
    "ExportSettings",
    "IngestSettings",
    "MeasureSettings",
    "Network",
    "NormalizeSettings",
    "ObjectFilterSettings",
    "OmeZarrSettings",
    "QCSettings",
    "ReportSettings",
    "SegmentSection",
    "SegmentSettings",
    "Simulation3DSettings",
    "SimulationSettings",
    "TrackSettings",
    "TrainDataset",
    "TrainSettings",
]


# --------------------------------------------------------------------------- ingest


class IngestSettings(StageSettings):
    """Settings of the ingest stage."""

    default_pixel_size_um: float | None = Field(
        None, gt=0, description="Pixel size in µm for movies whose file and sample-sheet row give none."
    )
    default_frame_interval_min: float | None = Field(
        None, gt=0, description="Frame interval in minutes for movies whose file and sample-sheet row give none."
    )
    default_pixel_size_z_um: float | None = Field(
        None, gt=0, description="Step between z-planes in µm for z-stack movies kept in 3-D (z_projection 'keep') "
        "whose file and sample-sheet row give none."
    )
    z_projection: Literal["none", "max", "mean", "sum", "best_focus", "keep"] = Field(
        "none",
        description=(
            "How a movie with a z axis (several planes per frame and channel) is ingested: "
            "'none' refuses such a movie; 'max', 'mean' or 'sum' project each z-stack to one plane (max keeps the "
            "pixel type, mean gives float32, sum numpy's sum type, e.g. uint64 for uint16); 'best_focus' keeps the "
            "plane with the highest variance of the Laplacian, per frame and channel (the plane chosen is recorded "
            "in the image's attributes); 'keep' keeps every plane: the image is (t, c, z, y, x) with the z step in "
            "µm (sample sheet pixel_size_z_um, else the file's, else default_pixel_size_z_um), and so is the "
            "normalized movie, segmented in 3-D (segment.method classical, or cellpose with the Cellpose 3 network "
            "in segment.cellpose.mode_3d; Cellpose-SAM is refused before any job runs) and tracked, measured, "
            "exported and scored in 3-D. Each stack is read on its own, so memory does not grow with the movie. "
            "Movies of one plane are not changed"
        ),
    )
    reader: Literal["auto", "cellpipe", "bioio"] = Field(
        "auto",
        description=(
            "What reads a TIFF, OME-TIFF or OME-Zarr movie: 'cellpipe' cellpipe's own readers (2.5 to 20 times "
            "faster per frame: bench/RESULTS.md); 'bioio' the format's bioio plugin (bioio-tifffile, bioio-ome-tiff, "
            "bioio-ome-zarr), the way out where cellpipe's reader misreads an unusual file, with the same checks "
            "before any job and frame-by-frame reading; 'auto' cellpipe's readers, falling back to a plugin only for "
            "a file cellpipe's reader refuses that the plugin reads right (no such file is known today, so 'auto' "
            "reads as 'cellpipe'). Positions are listed and named by cellpipe either way. CZI, ND2 and LIF files are "
            "always read through their plugin, CTC and Micro-Manager folders by cellpipe. The reader used is "
            "recorded in image.ome.zarr and provenance.json"
        ),
    )


# --------------------------------------------------------------------------- normalize


class NormalizeSettings(StageSettings):
    """Settings of the normalization stage."""

    mode: Literal["movie", "frame"] = Field(
        "movie",
        description=(
            "'movie': one pair of percentiles per channel over all frames (intensities stay comparable "
            "between frames); 'frame': percentiles of every frame and channel separately (of a 3-D movie: of "
            "every z-stack, one time point of one channel)"
        ),
    )
    low_percentile: float = Field(
        1.0, ge=0.0, le=100.0, description="Percentile (0-100) of the intensities mapped to 0 (percent)"
    )
    high_percentile: float = Field(
        99.8,
        ge=0.0,
        le=100.0,
        description="Percentile (0-100) of the intensities mapped to 1 (percent). The shipped Cellpose model is most "
        "accurate where this puts the nuclei as on Fluo-N2DH-GOWT1 01: its normalized intensities times 0.7 or 1.5 "
        "cost 0.009-0.018 of SEG there (python -m bench.intensity_robustness, bench/RESULTS.md)",
    )
    clip: bool = Field(False, description="Clip the normalized intensities to [0, 1] (no unit)")
    max_sample_pixels: int = Field(
        4_000_000,
        ge=1,
        description=(
            "mode 'movie' only: the percentiles of a channel are computed on at most this many pixels "
            "(px), a regular grid of pixels taken from every frame (every z-plane of a 3-D movie) whose offset "
            "shifts from one plane to the next; a movie with fewer pixels per channel uses all of them"
        ),
    )

    @model_validator(mode="after")
    def _low_below_high(self) -> NormalizeSettings:
        if not self.low_percentile < self.high_percentile:
            raise ValueError(
                f"low_percentile ({self.low_percentile}) must be smaller than high_percentile ({self.high_percentile})"
            )
        return self


# --------------------------------------------------------------------------- segment


class ClassicalSettings(StageSettings):
    """Threshold + watershed segmentation, with intensity transform, background subtraction and size bounds.

    In this order: intensity transform, Gaussian smoothing, background subtraction, a global threshold,
    hole filling, watershed from distance or intensity seeds, (3-D stacks) each object cut back to a level of
    its own (``object_threshold``), size bounds.
    The frames it receives are the workflow's normalized intensities (0 = the movie's low percentile,
    1 = its high percentile; values below 0 and above 1 occur).  Lengths in µm need the pixel size,
    which the workflow always passes; settings relative to the cell diameter need
    ``segment.diameter_um`` (or ``diameter_px``) and fall back as each field says when it is not set.
    The defaults are those chosen on real whole-cell movies (Fluo-C2DL-MSC 02, bench/configs/msc_classical.yaml),
    with seeds half a diameter apart instead of 0.75 so that crowded nuclei are split too: F1 at IoU 0.5 of
    0.88 on Fluo-N2DH-GOWT1 nuclei and 0.52 on the DSB 2018 image, SEG 0.61 on MSC 02's held-out frames
    (bench/RESULTS.md, "Classical defaults").
    """

    intensity_transform: Literal["none", "log", "gamma"] = Field(
        "log",
        description=(
            "Applied to the normalized intensities I before anything else: 'none'; 'log': ln(max(I, log_floor)), "
            "which spreads dim cells apart from the background when brightness varies over orders of magnitude; "
            "'gamma': max(I, 0) ** gamma"
        ),
    )
    log_floor: float = Field(
        0.02,
        gt=0.0,
        description="'log' only: intensities below this are raised to it before the logarithm (normalized units, > 0)",
    )
    gamma: float = Field(
        0.5, gt=0.0, description="'gamma' only: the exponent (no unit); below 1 brightens dim cells"
    )
    smoothing_sigma_px: float = Field(
        1.0, ge=0.0, description="Standard deviation of the Gaussian smoothing before thresholding (px); 0: none"
    )
    smoothing_sigma_um: float | None = Field(
        1.0,
        ge=0.0,
        description="Standard deviation of the Gaussian smoothing (µm); when set it replaces smoothing_sigma_px (null: use it)",
    )
    background: Literal["none", "gaussian", "tophat"] = Field(
        "tophat",
        description=(
            "Background subtracted after smoothing: 'none'; 'gaussian': the image blurred by a Gaussian of sigma "
            "background_um; 'tophat': white top-hat, the grey opening by a disk of radius background_um (smoothed "
            "over the disk's width, computed on a block-averaged copy for speed). Choose background_um larger than "
            "a cell; 'tophat' keeps large bright cells whole better than 'gaussian'"
        ),
    )
    background_um: float = Field(
        40.0, gt=0.0, description="Gaussian sigma ('gaussian') or disk radius ('tophat') of the background (µm)"
    )
    threshold: Literal["otsu", "li", "triangle"] | float = Field(
        "li",
        description=(
            "Foreground threshold: 'otsu', 'li' or 'triangle' (computed per frame on the transformed, smoothed, "
            "background-subtracted image), or a fixed value in the units of that image (normalized intensity "
            "with transform 'none' and no background: 0 = low percentile, 1 = high percentile)"
        ),
    )
    fill_holes: bool = Field(True, description="Fill holes in the foreground mask before splitting it")
    seeds: Literal["distance", "intensity"] = Field(
        "intensity",
        description=(
            "Watershed seeds: 'distance': maxima of the distance to the background, the watershed floods the "
            "negated distance (round, convex cells such as nuclei); 'intensity': maxima of the smoothed intensity, "
            "the watershed floods the negated intensity (irregular, elongated cells that are brightest in their body)"
        ),
    )
    seed_distance_diameters: float = Field(
        0.5,
        gt=0.0,
        description="With a cell diameter: smallest distance between two seeds as a fraction of it (diameters)",
    )
    min_peak_distance_px: int = Field(
        5,
        ge=1,
        description="Smallest distance between two seeds when no cell diameter is set (px)",
    )
    seed_smoothing_diameters: float = Field(
        0.1,
        ge=0.0,
        description=(
            "'intensity' seeds with a cell diameter: extra Gaussian smoothing of the image the seeds are taken "
            "from and the watershed floods, sigma as a fraction of the diameter (diameters); 0 or no diameter: none"
        ),
    )
    min_area_px: int = Field(15, ge=0, description="Objects smaller than this are removed (px, area)")
    min_area_um2: float | None = Field(
        None, ge=0.0, description="Objects smaller than this are removed (µm²); when set it replaces min_area_px"
    )
    max_area_um2: float | None = Field(
        None, gt=0.0, description="Objects larger than this are removed (µm²); null: no upper bound"
    )
    min_volume_um3: float | None = Field(
        None,
        ge=0.0,
        description=(
            "3-D stacks only: objects smaller than this are removed (µm³); null: the volume of the sphere whose "
            "central section has the area min_area_um2 (or min_area_px)"
        ),
    )
    max_volume_um3: float | None = Field(
        None,
        gt=0.0,
        description=(
            "3-D stacks only: objects larger than this are removed (µm³); null: the volume of the sphere whose "
            "central section has the area max_area_um2, or no upper bound"
        ),
    )
    object_threshold: float | Literal["otsu"] | None = Field(
        0.4,
        description=(
            "3-D stacks only: after the watershed, each object is cut back to the voxels brighter than a level of "
            "its own, then to its largest 6-connected piece (holes filled when fill_holes). The level is read on "
            "the normalized stack smoothed by object_smoothing_um, without intensity transform or background "
            "subtraction. A number f (0 < f < 1): f of the way from the background around the object (the median "
            "of the voxels outside the foreground in its bounding box grown by half its size along each axis) to "
            "its peak (the 95th percentile of its voxels); 'otsu': Otsu's threshold between the object's voxels "
            "and those background voxels; null: the global threshold's mask as it is. The global threshold, "
            "computed over the whole stack and blurred along z, cuts most nuclei well outside their surface "
            "(about twice their volume on simulated stacks); 0.4 was chosen on simulated nuclei whose surface is "
            "at 0.7 of their centre's brightness (bench/RESULTS.md, issue #27)"
        ),
    )
    object_smoothing_um: float = Field(
        0.5,
        ge=0.0,
        description=(
            "3-D stacks with object_threshold only: standard deviation of the Gaussian smoothing of the image the "
            "objects' levels are read on (µm, converted per axis); 0: none. About one pixel keeps the noise down; "
            "more lowers each object's peak and widens its mask"
        ),
    )
    block_size_um: float | None = Field(
        None,
        gt=0.0,
        description=(
            "3-D stacks only: segment a stack block by block, each block's core this many µm along z, y and x "
            "(converted per axis), to bound memory on stacks too large for one pass; null: the whole stack in one "
            "pass. Blocks overlap by block_overlap_um on each side, each object is kept from the block whose core "
            "holds its centroid, and an automatic threshold is computed once over the whole stack. The background "
            "is subtracted per block, so choose cores larger than background_um or background 'none'"
        ),
    )
    block_overlap_um: float | None = Field(
        None,
        gt=0.0,
        description=(
            "3-D stacks with block_size_um only: how far each block reaches past its core on every side (µm); "
            "null: one cell diameter (segment.diameter_um or diameter_px, which must then be set). At least the "
            "largest nucleus' diameter, so that every nucleus lies whole in the block that keeps it"
        ),
    )

    @model_validator(mode="after")
    def _area_bounds(self) -> ClassicalSettings:
        if self.min_area_um2 is not None and self.max_area_um2 is not None and self.max_area_um2 <= self.min_area_um2:
            raise ValueError(f"max_area_um2 ({self.max_area_um2}) must be larger than min_area_um2 ({self.min_area_um2})")
        if (
            self.min_volume_um3 is not None
            and self.max_volume_um3 is not None
            and self.max_volume_um3 <= self.min_volume_um3
        ):
            raise ValueError(
                f"max_volume_um3 ({self.max_volume_um3}) must be larger than min_volume_um3 ({self.min_volume_um3})"
            )
        if isinstance(self.object_threshold, float) and not 0.0 < self.object_threshold < 1.0:
            raise ValueError(f"object_threshold ({self.object_threshold}) must be 'otsu', null or between 0 and 1")
        return self


Network = Literal["cellpose3", "cellpose-sam"]


#: Models Cellpose provides by name, per network (downloaded by Cellpose on first use).
BUILTIN_MODELS: dict[str, tuple[str, ...]] = {
    "cellpose3": ("cyto3", "cyto2", "cyto", "nuclei"),
    "cellpose-sam": ("cpsam", "cpsam_v2"),
}


class CellposeSettings(StageSettings):
    """Cellpose segmentation (Cellpose 3 or Cellpose-SAM) with a local model file."""

    network: Network = Field(
        "cellpose3",
        description=(
            "Which Cellpose network runs: 'cellpose3' (CPnet, cellpose 3.1; the shipped model) or "
            "'cellpose-sam' (Cellpose-SAM, cellpose 4; needs the environment envs/cellpipe-sam.yaml, "
            "e.g. snakemake --sdm conda, or the .venv-sam that `make sam-env` builds). The installed "
            "cellpose and the model file must match it"
        ),
    )
    model: str = Field(
        "",
        description=(
            "Path of a local Cellpose model file (a CellposeModel state dict of the network named in "
            "network); required when segment.method is 'cellpose'. Nothing is ever downloaded: a missing "
            "file is an error"
        ),
    )
    builtin_model: Literal["cyto3", "cyto2", "cyto", "nuclei", "cpsam", "cpsam_v2"] | None = Field(
        None,
        description=(
            "Instead of model: the name of a model Cellpose provides ('cyto3', 'cyto2', 'cyto', 'nuclei' "
            "with network 'cellpose3'; 'cpsam', 'cpsam_v2' with 'cellpose-sam'). Cellpose DOWNLOADS it on "
            "first use (into ~/.cellpose/models, or CELLPOSE_LOCAL_MODELS_PATH) and reads it from there "
            "afterwards; the file used and its sha256 are recorded. Set model or builtin_model, not both"
        ),
    )
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description=(
            "Number format of the network's arithmetic. 'auto': bfloat16 for Cellpose-SAM on a CUDA GPU "
            "(Cellpose 4's own default), float32 everywhere else. 'bfloat16' with network 'cellpose3': the CPnet "
            "runs under torch's bfloat16 autocast (weights kept in float32) on a CPU or CUDA GPU, always through "
            "torch (compile auto or false). On a CPU with bfloat16 units (AVX512-BF16 or AMX) 2.5x faster 512 px "
            "network passes than float32 torch; masks differ from float32 ones where a border pixel or a faint "
            "object moves (92 GOWT1 frames: AP@0.5 against float32 0.998 mean, 0.955 at worst, the same 2,159 "
            "objects; bench/RESULTS.md). On a CPU without such units it is emulated: a pass takes 1.6x (AVX-512) "
            "to 4.5x (AVX2) as long as in float32"
        ),
    )
    flow_threshold: float = Field(
        0.4, ge=0.0, description="Maximum flow error of a kept mask (no unit); larger keeps more masks"
    )
    cellprob_threshold: float = Field(
        0.0, description="Cell probability (logit) above which a pixel can belong to a mask (no unit)"
    )
    min_size_px: int = Field(15, ge=0, description="Masks smaller than this are removed (px, area)")
    batch_size: int | None = Field(
        None,
        ge=1,
        description=(
            "Network tiles run at once (tiles; a frame no larger than tile_px is one tile, about 0.4 GB of "
            "memory per 512x512 px tile and 1.5 GB per 1024x1024 px tile). null: 1 on a CPU, where larger "
            "batches are not faster, and 4 on a GPU. Lower it when GPU memory runs out; masks do not depend on it"
        ),
    )
    device: Literal["auto", "cuda", "mps", "cpu"] = Field(
        "auto", description="Where the network runs: 'auto' takes CUDA, then MPS, then CPU; an explicit device must exist"
    )
    normalize: bool = Field(
        False,
        description=(
            "Let Cellpose renormalize every frame (its own 1-99 percentile stretch). Off by default: the "
            "input is already normalized by cellpipe's normalize stage"
        ),
    )
    denoise: Literal["auto"] | bool = Field(
        "auto",
        description=(
            "Smooth each 2-D frame with a Gaussian of 1 px at the network's scale (the cell diameter / the model's "
            "diameter, in frame px) and stretch the smoothed movie's 1 and 99.8 percentiles to 0 and 1 again "
            "before the network. 'auto': with the shipped model (resources/models/cellpipe_nuclei, trained on clean "
            "images), where the frames' noise (standard deviation, Immerkaer's estimate, median of up to 5 frames, "
            "normalized units) exceeds 0.03; GOWT1 01 (0.022) and the DSB 2018 image (0.026) are left as they "
            "are. With noise added to GOWT1 01 the shipped model's SEG went from 0.883 to 0.899 (noise 0.034) and "
            "from 0.835 to 0.894 (0.052) with it. Other models are left alone under 'auto': one fine-tuned on "
            "its movies learned their noise (MSC 02's lost 0.025 of SEG smoothed; bench/RESULTS.md). true: "
            "always, false: never. segmentation.json and qc.json record the noise and what was done. 2-D movies "
            "only: z-stacks reach the network as they are"
        ),
    )
    tile_px: int = Field(
        1024,
        ge=64,
        multiple_of=16,
        description=(
            "Side of the square tiles the network sees, after frames are rescaled to the model's cell "
            "diameter (px, multiple of 16). A rescaled frame no larger runs in one pass; larger frames run "
            "in overlapping tiles whose outputs are blended. 224 reproduces Cellpose 3's own tiling. "
            "Cellpose-SAM always uses 256 px tiles (its network's fixed input size) and ignores this"
        ),
    )

    @model_validator(mode="after")
    def _check_network(self) -> CellposeSettings:
        allowed = BUILTIN_MODELS[self.network]
        if self.builtin_model is not None and self.builtin_model not in allowed:
            raise ValueError(
                f"builtin_model {self.builtin_model!r} is not a {self.network} model; with network "
                f"{self.network!r} choose one of {', '.join(allowed)}"
            )
        if self.precision == "bfloat16" and self.compile in (True, "onnxruntime"):
            raise ValueError(
                f"precision 'bfloat16' runs the network through torch; compile {str(self.compile).lower()} cannot "
                "run it (use compile auto or false, or precision float32)"
            )
        if self.compile in (True, "onnxruntime") and self.network != "cellpose3":
            raise ValueError(f"compile {str(self.compile).lower()} is for network 'cellpose3' only; use 'auto' or false")
        if self.block_size_um is not None and self.mode_3d != "do_3d":
            # 'stitch' already runs plane by plane in network passes of bounded size
            raise ValueError("block_size_um is for mode_3d 'do_3d' only: 'stitch' already runs one plane at a time")
        return self
    tile_overlap: float = Field(
        0.1, ge=0.05, le=0.5, description="Overlap of neighbouring tiles as a fraction of tile_px (0.05-0.5)"
    )
    mode_3d: Literal["stitch", "do_3d"] = Field(
        "stitch",
        description=(
            "How a z-stack is segmented (3-D movies only; network cellpose3, Cellpose-SAM does not take stacks). "
            "'stitch': the 2-D network and mask reconstruction on every z plane (planes share network passes, "
            "as many as fill batch_size tiles of tile_px), masks of neighbouring planes joined when their overlap "
            "(IoU) reaches stitch_threshold (Cellpose's rule; the same objects as Cellpose's own stitching). "
            "'do_3d': Cellpose's 3-D mode, the 2-D network run on the yx, zy and zx planes of the stack "
            "resampled to cubic voxels (anisotropy = z step / pixel), its flows followed in 3-D; about three "
            "times the network work of 'stitch' times the z resampling. The trade-off measured on a simulated "
            "movie is in bench/RESULTS.md (bench.accuracy_3d)"
        ),
    )
    stitch_threshold: float = Field(
        0.25,
        gt=0.0,
        lt=1.0,
        description=(
            "mode_3d 'stitch': smallest overlap (intersection over union, 0-1) of a mask with a mask of the plane "
            "below for the two to become one object"
        ),
    )
    compile: Literal["auto", True, False, "onnxruntime"] = Field(
        "auto",
        description=(
            "What runs the 2-D network pass on a CPU. 'auto' (the default): onnxruntime on a CPU for movies whose "
            "frames, rescaled to the model's diameter, add up to 13 megapixels or more (50 frames of 512 x 512 px), "
            "torch for smaller movies and on a GPU (neither runtime was measured there); where ONNX Runtime cannot "
            "export or run the network, torch runs it and segmentation.json says why (network_runtime_fallback). "
            "false: torch as it is. 'onnxruntime': the network exported to ONNX (3-7 s, by the first job on a "
            "machine; later jobs read it from the user's cache, $CELLPIPE_CACHE_DIR or ~/.cache/cellpipe) and run "
            "by ONNX Runtime: on 2 CPU cores 1.3-1.4x faster network passes (a 92-frame GOWT1 job 1.3-1.7x), no C++ "
            "compiler needed; on a GPU torch runs it. true: torch.compile (inductor, fixed input shape, weights "
            "frozen), 1.2-1.4x faster passes after minutes of compiling the first time on a machine (inductor's "
            "cache in the temp folder makes later jobs compile in seconds). The runtimes differ by float rounding "
            "(flows within 5e-5): on 92 GOWT1 frames torch and ONNX Runtime gave the same labels pixel for pixel, "
            "but a border pixel can move, so a published analysis reruns to the same numbers with the same setting "
            "on the same kind of device (segmentation.json records network_runtime). bench/RESULTS.md "
            "(bench.network_speed, bench.segment_speed). Network 'cellpose3' only. z-stacks: mode_3d 'stitch' "
            "runs its planes through the same runtime, one stack per call ('auto' judges each stack alone); "
            "'do_3d' is Cellpose's own eval in torch"
        ),
    )
    block_size_um: float | None = Field(
        None,
        gt=0.0,
        description=(
            "mode_3d 'do_3d' only: run Cellpose's 3-D mode block by block on stacks larger than one block, each "
            "block's core this many µm along z, y and x (converted per axis), to bound the memory of the 3-D flows "
            "(about 65 bytes per voxel of the stack resampled to cubic voxels at the model's diameter, measured; "
            "bench/RESULTS.md); null: the whole stack in one pass, as does a stack that fits one core. Blocks reach "
            "block_overlap_um past their cores, each object is kept from the block whose core holds its centroid "
            "(the rule of segment.classical.block_size_um), and the stack is normalized once, as a whole, when "
            "normalize is on"
        ),
    )
    block_overlap_um: float | None = Field(
        None,
        gt=0.0,
        description=(
            "mode_3d 'do_3d' with block_size_um only: how far each block reaches past its core on every side (µm); "
            "null: one cell diameter (the diameter Cellpose works at, converted to µm). At least the largest "
            "nucleus' radius, so that every nucleus lies whole in the block that keeps it; a diameter also gives "
            "the network the context around it"
        ),
    )
    reconstruction: Literal["auto", "cellpose", "cellpipe"] = Field(
        "auto",
        description=(
            "How masks are rebuilt from the network's flows: 'cellpipe' (cellpipe.masks: Cellpose 3.1's steps "
            "vectorised over the pixels, masks and frames of a pass; on GOWT1 and DSB 2018 flows the same masks "
            "as Cellpose's, about 2x faster on a CPU, bench/RESULTS.md) or 'cellpose' (Cellpose's "
            "dynamics.resize_and_compute_masks, frame by frame). 'auto': 'cellpipe' with network 'cellpose3', "
            "'cellpose' with 'cellpose-sam', whose cellpose 4 reconstruction it has not been compared with"
        ),
    )


class ObjectFilterSettings(StageSettings):
    """Quality checks of every segmented object, after any method (``cellpipe.filters``)."""

    min_area_fraction: float | None = Field(
        0.1,
        ge=0.0,
        description=(
            "Objects smaller than this fraction of the area of a disc of the expected cell diameter are "
            "removed (no unit; 0.1 of a 15 µm disc is 17.7 µm²), unless they touch the image border, where "
            "cells are cut. Needs a diameter (diameter_um, the sample sheet's diameter_um or the estimate); "
            "null: no lower bound"
        ),
    )
    max_area_fraction: float | None = Field(
        None,
        gt=0.0,
        description=(
            "Objects larger than this fraction of the area of a disc of the expected cell diameter are "
            "removed (no unit); null: no upper bound"
        ),
    )
    min_contrast: float | None = Field(
        None,
        description=(
            "Objects whose mean normalized intensity exceeds that of the background ring around them by "
            "less than this are removed (normalized units: 0 = the movie's low percentile, 1 = its high "
            "percentile); null: no contrast check. On Fluo-N2DH-GOWT1 01, 1 % of the annotated nuclei "
            "have a contrast below 0.014 (bench/RESULTS.md), so keep it small"
        ),
    )
    ring_fraction: float = Field(
        0.25,
        gt=0.0,
        le=2.0,
        description=(
            "Width of the background ring of the contrast check, as a fraction of the cell diameter "
            "(no unit; 5 px when no diameter is known)"
        ),
    )
    border: Literal["keep", "remove"] = Field(
        "keep",
        description=(
            "Objects touching the image border: 'keep' them, or 'remove' them (e.g. for shape "
            "statistics of whole cells only)"
        ),
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> ObjectFilterSettings:
        low, high = self.min_area_fraction, self.max_area_fraction
        if low is not None and high is not None and not low < high:
            raise ValueError(f"min_area_fraction ({low}) must be smaller than max_area_fraction ({high})")
        return self


class SegmentSettings(StageSettings):
    """Settings of the segmentation stage: what a segmentation job gets.

    The ``segment`` section less ``scatter``, with the sample sheet row's diameter
    (:func:`cellpipe.config.jobs.job_settings`).
    """

    method: Literal["classical", "cellpose"] = Field(
        "classical", description="'classical' (threshold + watershed) or 'cellpose' (needs cellpose.model)"
    )
    channel: Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1)] = Field(
        0,
        description=(
            "The channel that is segmented: its index (0-based) or its name (e.g. H2B-GFP), looked up in each "
            "movie's channel names (the sample sheet's channel_names, else the file's: OME-TIFF Channel Name, "
            "ImageJ slice labels) for every sample before any job runs; segmentation.json records the index "
            "and name used"
        ),
    )
    diameter_um: float | None = Field(
        None, gt=0.0, description="Typical cell diameter (µm); converted with the pixel size. At most one of diameter_um, diameter_px"
    )
    diameter_px: float | None = Field(
        None, gt=0.0, description="Typical cell diameter (px). At most one of diameter_um, diameter_px"
    )
    estimate_diameter: bool = Field(
        False,
        description=(
            "Estimate the cell diameter from the movie before segmenting it: frames spread over the movie "
            "are segmented at the given diameter (diameter_um / diameter_px, else the model's or 30 px), and "
            "the median diameter of the objects found (px, of the disc of equal area) becomes the diameter; "
            "repeated while it changes by more than 10 %, at most 3 passes. In a 3-D movie, stacks are "
            "segmented and the median diameter is that of the sphere of equal volume (µm), nuclei cut by a "
            "face of the stack left out. The passes and the result are recorded in segmentation.json"
        ),
    )
    estimate_frames: int = Field(
        3, ge=1, le=50, description="Frames segmented per pass of the diameter estimate (frames)"
    )
    filters: ObjectFilterSettings = Field(default_factory=ObjectFilterSettings)
    classical: ClassicalSettings = Field(default_factory=ClassicalSettings)
    cellpose: CellposeSettings = Field(default_factory=CellposeSettings)
    @field_validator("channel")
    @classmethod
    def _channel_index_or_name(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not value.strip():
            raise ValueError("a channel name must not be empty")
        return value

    @model_validator(mode="after")
    def _check(self) -> SegmentSettings:
        if self.diameter_um is not None and self.diameter_px is not None:
            raise ValueError(
                f"set at most one of diameter_um ({self.diameter_um}) and diameter_px ({self.diameter_px})"
            )
        has_path, has_name = bool(self.cellpose.model.strip()), self.cellpose.builtin_model is not None
        if self.method == "cellpose" and not (has_path or has_name):
            raise ValueError(
                "method 'cellpose' needs cellpose.model (the path of a local Cellpose model file) or "
                "cellpose.builtin_model (a model Cellpose downloads on first use)"
            )
        if has_path and has_name:
            raise ValueError(
                f"set cellpose.model ({self.cellpose.model!r}) or cellpose.builtin_model "
                f"({self.cellpose.builtin_model!r}), not both"
            )
        return self


class SegmentSection(SegmentSettings):
    """Settings of the segmentation stage, and how many jobs share a movie (scatter).

    This is the ``segment`` section of ``config.yaml``.  ``scatter`` is how the workflow splits the work,
    not a setting of the stage (the labels do not depend on it), so the jobs get :class:`SegmentSettings`
    without it.
    """

    scatter: int = Field(
        1,
        ge=1,
        description=(
            "Segmentation jobs per movie (rule segment_frames, one per contiguous range of frames; each loads "
            "the model once and holds one batch of frames in memory), gathered into one label image by "
            "segment_cells. 1: one segment_frames job per movie, its labels moved into place. The labels do not "
            "depend on it (with Cellpose "
            "on a GPU, as with batch_size, a few boundary pixels can)"
        ),
    )


# --------------------------------------------------------------------------- track


class TrackSettings(StageSettings):
    """Settings of the tracking stage (distances in µm, areas in µm², times in frames)."""

    tracker_config: str = Field(
        "resources/tracker/cellpipe_tracker.json",
        description="btrack configuration (JSON; motion and hypothesis models in px and frames). "
        "A relative path is looked up in the working directory, then in the workflow's folder.",
    )
    max_search_radius_um: float = Field(
        20.0,
        gt=0,
        description="Largest distance between two objects the tracker links, frame to frame or across a "
        "gap or division (µm); replaces max_search_radius and hypothesis_model.dist_thresh of the btrack "
        "configuration (after conversion to px).",
    )
    min_area_um2: float = Field(
        10.0,
        ge=0,
        description="Objects smaller than this are dropped before tracking: they get no track and are 0 "
        "in the relabelled masks (µm²). In 3-D the bound is the volume of the sphere with this central "
        "section, and objects touching a face of the stack are kept whatever their size.",
    )
    divisions: bool = Field(
        True,
        description="Let the optimiser assign cell divisions (the P_branch hypothesis); False removes "
        "P_branch from the configuration's hypotheses.",
    )
    apoptosis: bool = Field(
        False,
        description="Let the optimiser assign apoptosis (the P_dead hypothesis). It needs objects "
        "classified as apoptotic, which cellpipe's segmentation does not provide, so it has no effect "
        "unless such labels exist.",
    )
    step_size: int = Field(
        100,
        ge=1,
        description="Frames btrack links per step between progress lines in the log and time-limit checks "
        "(frames). btrack's own default; its linking results depend on it, so keep it for reproducibility.",
    )
    optimize: bool = Field(
        True,
        description="Run btrack's global optimisation after frame-to-frame linking: it joins tracklets "
        "across gaps and assigns divisions. Without it the tracks are the frame-to-frame tracklets, which "
        "with the shipped configuration are many more and shorter (no unit).",
    )
    optimizer_time_limit_s: float = Field(
        60.0, gt=0, description="Time limit of the optimiser (GLPK) per movie (s). When it is hit the "
        "tracks are btrack's frame-to-frame tracklets; tracking.json and the log say so."
    )
    time_limit_s: float = Field(
        3600.0, gt=0, description="Wall-clock bound of btrack's frame-to-frame linking per movie (s); "
        "when it is hit the job stops with an error saying at which frame, instead of running on."
    )
    dense_objects_per_frame: int = Field(
        1000, ge=1, description="Above this many objects in any frame, btrack's approximate update mode "
        "is used (the exact mode's cost grows with the square of the objects per frame) (objects)."
    )
    dense_search_radius_um: float = Field(
        10.0, gt=0, description="In the approximate mode, the search radius is at most this (µm), which "
        "bounds the candidate links per object and so the optimiser's problem."
    )
    motion_noise_um: float | None = Field(
        None, gt=0, description="Standard deviation of a cell's random change of velocity per frame (µm): "
        "sets the motion model's process noise Q (discrete white-noise acceleration). null keeps the "
        "configuration's Q (px)."
    )
    position_noise_um: float | None = Field(
        None, gt=0, description="Standard deviation of the measured centroid around the true position (µm): "
        "sets the motion model's measurement noise R. null keeps the configuration's R (px)."
    )
    border_distance_um: float | None = Field(
        None, gt=0, description="Tracks that start or end within this distance of the image border "
        "are explained as cells entering or leaving the field (btrack's theta_dist) (µm). null keeps the "
        "configuration's theta_dist (px)."
    )
    gap_fill_distance_um: float | None = Field(
        5.0, gt=0, description="After btrack, an object left on its own (a one-object track without parent "
        "or children) in a frame where a track has a gap joins that track when its centroid lies within this "
        "distance of the track's position interpolated across the gap (µm); nearest pairs first. null "
        "leaves btrack's gaps as they are."
    )
    overlap_link_min_iou: float | None = Field(
        None, gt=0, le=1, description="After btrack and gap filling, the objects of each pair of consecutive "
        "frames are matched one to one by the largest summed overlap of their masks (intersection over union, "
        "Hungarian method); a pair with at least this IoU (no unit) is linked, and btrack's links that "
        "contradict it are cut. btrack's other links (gap closing, divisions whose daughters overlap the "
        "mother, cells whose masks do not overlap) stay. For large cells that move a good part of their size "
        "between frames, which btrack's motion model links poorly (bench/RESULTS.md, MSC 02); config.yaml "
        "sets 0.05. null: btrack's links only."
    )
    split_divisions: bool = Field(
        True, description="After btrack, gap filling and overlap links, also look for divisions where a track "
        "goes on into one daughter while her sister starts a new track beside it in the same frame (as "
        "TrackMate's track splitting), which btrack cannot make, as it lets only a track that ends divide: "
        "the commoner the fewer frames per cell cycle. Proposed where the mother's last centroid lies near the "
        "middle of the two daughters', within division_max_distance_um of each and each at least half as far "
        "as the other, and the daughters' areas are "
        "division_min_area_fraction to division_max_area_fraction of hers and within 2x of each other; the "
        "division tests below then apply to it. tracking.json counts them before those tests "
        "(n_split_divisions). No effect when divisions is false."
    )
    division_max_daughter_lag_frames: int = Field(
        1, ge=0, description="After btrack and gap filling, a division is kept only when its daughters' "
        "first frames differ by at most this many frames and every daughter is still there when the last "
        "one appears (frames); 0 asks for both in the same frame. A rejected division becomes a continuation "
        "(the daughter that starts first, then the one nearest the mother, joins the mother's track) plus new "
        "root track(s); a mother with a single daughter is always a continuation. tracking.json counts the "
        "rejections per reason."
    )
    division_max_distance_um: float = Field(
        15.0, gt=0, description="A division is kept only when every daughter's centroid in its first frame "
        "lies within this distance of the mother's centroid in her last frame (µm). About one nucleus across "
        "(GOWT1: 12-19 µm): true daughters start within 14 µm of the mother in GOWT1's ground truth and within "
        "6 µm in simulated movies; btrack links up to max_search_radius_um (20 µm by default), and its "
        "farther 'daughters' were mostly neighbours. Larger cells' daughters start farther apart: see "
        "division_max_distance_diameters."
    )
    division_max_distance_diameters: float | None = Field(
        1.0, gt=0, description="Daughters may also start up to this many cell diameters from the mother where "
        "that is farther than division_max_distance_um: the diameter is the median over the movie's tracked "
        "objects of the circle's of equal area (in 3-D the sphere's of equal volume), so the check follows the "
        "cells of each movie (simulated cells of 29-44 µm: 15 µm alone kept 1-29 of 57-64 true divisions, "
        "1 diameter 54-62). tracking.json records the diameter and the distance used "
        "(median_diameter_um, division_max_distance_used_um). null: division_max_distance_um alone."
    )
    division_min_area_fraction: float = Field(
        0.2, gt=0, description="A division is kept only when every daughter's area in its first frame is at "
        "least this fraction of the mother's area in her last frame (no unit); smaller 'daughters' are "
        "fragments or flickering debris."
    )
    division_max_area_fraction: float = Field(
        2.0, gt=0, description="A division is kept only when every daughter's area in its first frame is at "
        "most this fraction of the mother's area in her last frame (no unit). Above 1 on purpose: a mother "
        "segmented as a compact mitotic figure is often smaller than each daughter (0.8-1.6x in cellpipe's "
        "simulated movies, 2.1x in a GOWT1 ground-truth division)."
    )
    min_track_frames: int = Field(
        3, ge=1, description="Tracks present in fewer frames than this are 'short' (flickering objects): "
        "counted in tracking.json, flagged excluded='short' in track_metrics.parquet (rule measure_cells "
        "gets this value) and left out of per-track statistics and the report's track figures; they stay in "
        "every table. A mother track this short is not let divide unless it starts in the movie's first frame, nor a "
        "division stand whose daughter (with her descendants) ends this soon before the movie's last frame (frames). "
        "1 flags none."
    )

    @model_validator(mode="after")
    def _area_fractions_ordered(self) -> TrackSettings:
        if self.division_min_area_fraction > self.division_max_area_fraction:
            raise ValueError(
                f"division_min_area_fraction ({self.division_min_area_fraction}) must not exceed "
                f"division_max_area_fraction ({self.division_max_area_fraction})"
            )
        return self


# --------------------------------------------------------------------------- measure


class MeasureSettings(StageSettings):
    """Settings of the measurement stage."""

    channel_names: list[str] | None = Field(
        default=None,
        description=(
            "Names of the image channels, in channel order, used in the intensity column names "
            "(mean_intensity_<name>, integrated_intensity_<name>); None means ch0, ch1, ... (no unit)"
        ),
    )

    @field_validator("channel_names")
    @classmethod
    def _check_channel_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if any(not name.strip() for name in value):
            raise ValueError("channel names must be non-empty strings")
        if len(set(value)) != len(value):
            raise ValueError(f"channel names must be unique, got {value}")
        return value


# --------------------------------------------------------------------------- evaluate


DEFAULT_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


class EvaluateSettings(StageSettings):
    """Settings of the evaluation against ground truth (rule evaluate_sample)."""

    iou_thresholds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_IOU_THRESHOLDS),
        min_length=1,
        description="IoU thresholds (0-1) of the instance average precision; default 0.5, 0.55, ..., 0.95.",
    )
    min_marker_coverage: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="A CTC SEG frame counts as completely annotated when at least this fraction of its "
        "tracking markers overlap a mask; only complete frames give precision and average precision.",
    )
    division_frame_tolerance: int = Field(
        1,
        ge=0,
        le=10,
        description="Frames by which a predicted division may differ from the true one and still count "
        "(traccuracy's division frame buffer, and the i of the CTC's branching correctness BC(i)).",
    )

    @field_validator("iou_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: list[float]) -> list[float]:
        if any(not 0.0 < t < 1.0 for t in value):
            raise ValueError("IoU thresholds must lie strictly between 0 and 1")
        return sorted(set(value))


# --------------------------------------------------------------------------- qc


class QCSettings(StageSettings):
    """Thresholds of the quality checks (rule assess_quality, qc.json); crossing one gives the status 'check'.

    Each threshold crossed adds a warning that says which (:func:`cellpipe.qc.assess_quality`).
    """

    count_jump_fraction: float = Field(
        0.25,
        gt=0.0,
        description="A frame's cell count 'jumps' when it differs from the previous frame's by more than this "
        "fraction of the previous count (no unit; 0.25 = 25 %) and by at least min_count_jump_cells; any jump "
        "is a warning.",
    )
    min_count_jump_cells: int = Field(
        2,
        ge=1,
        description="Smallest change of the cell count between two frames (cells) that can count as a jump, so "
        "that 1 -> 2 cells is not one.",
    )
    max_short_track_fraction: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Largest fraction of tracks flagged short (excluded='short' in track_metrics.parquet) "
        "before a warning (no unit, 0-1).",
    )
    max_removed_fraction: float = Field(
        0.10,
        ge=0.0,
        le=1.0,
        description="Largest fraction of the objects segmentation found that the object filters may remove "
        "(objects removed / objects found, all frames; no unit, 0-1) before a warning.",
    )
    min_mean_cell_probability: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Smallest mean over frames of Cellpose's mean cell probability (0-1) before a warning; "
        "not checked for the classical method, which has none.",
    )
    max_border_track_fraction: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Largest fraction of tracks touching the frame border (any centroid within half the cell "
        "diameter of an edge) before a warning (no unit, 0-1).",
    )
    max_diameter_ratio: float = Field(
        2.0,
        gt=1.0,
        description="Largest factor by which the median diameter of the tracked objects (tracking.json, equivalent "
        "circle) may differ from the cell diameter segmentation was given (segmentation.json), either way, "
        "before a warning (no unit): a diameter given wrongly makes Cellpose and the classical method cut cells "
        "into pieces or merge them. Measured 0.83-0.97 where the diameter was right (GOWT1 01, MSC 02, the "
        "demo, a HeLa-like simulated movie; bench/RESULTS.md).",
    )
    max_noise_sd: float = Field(
        0.07,
        gt=0.0,
        description="Largest noise of the frames (standard deviation in normalized units, segmentation.json's "
        "denoise record; Cellpose only) before a warning. The shipped model on GOWT1 01 with noise added scored "
        "SEG 0.894 at 0.052 and 0.775 at 0.085, even with the frames smoothed (bench/RESULTS.md).",
    )


# --------------------------------------------------------------------------- export


class ExportSettings(StageSettings):
    """What rule export_tracks writes besides the napari tables and the geff graph, which it always writes.

    The napari tables are tracks_napari.csv and tracks_napari_graph.json; the geff graph is tracks.geff.
    """

    ctc: bool = Field(
        True,
        description="Write the Cell Tracking Challenge result folder ctc/ and ctc_segments.tsv for every sample. "
        "Masks are uint16 (the CTC convention) up to 65535 CTC segments per movie and uint32 above; "
        "py-ctcmetrics and traccuracy read both, the CTC's own Java tools expect 16-bit. Masks carry the pixel "
        "size in µm (TIFF resolution tags). false: neither is written (the napari tables and tracks.geff still "
        "are); evaluation writes the CTC result it scores to a temporary folder.",
    )


# --------------------------------------------------------------------------- OME-Zarr


class OmeZarrSettings(StageSettings):
    """How each sample's OME-Zarr image and the Zarr stores beside it are written.

    The image is image.ome.zarr with its label images; the stores beside it are normalized.zarr and tracks.geff.
    """

    version: Literal["0.4", "0.5"] = Field(
        DEFAULT_OME_ZARR_VERSION,
        description="NGFF version of results/<sample>/image.ome.zarr and its labels: '0.4' (Zarr v2, metadata in "
        "'.zattrs') or '0.5' (Zarr v3, metadata under the 'ome' key of 'zarr.json'). normalized.zarr and tracks.geff "
        "are written in the same Zarr format (v2 with '0.4', v3 with '0.5'). The rules declare the image, its labels "
        "and normalized.zarr by their metadata file, so changing it makes every store again. Both are read by every cellpipe step, "
        "napari-ome-zarr, ome-zarr-py and validated by ome-zarr-models; geff validates and reads tracks.geff in "
        "both (config/README.md).",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _unquoted_number(cls, value: object) -> object:
        # YAML reads an unquoted `version: 0.5` as the number 0.5
        return f"{value:g}" if isinstance(value, float) else value


# --------------------------------------------------------------------------- report


class ReportSettings(StageSettings):
    """Settings of the per-sample HTML report."""

    overlay_frame: int | None = Field(
        None, ge=0, description="Frame (0-based) shown in the segmentation overlay; default: the middle frame."
    )
    max_track_rows: int = Field(20, ge=1, description="Tracks listed in the report's track table (longest first).")


# --------------------------------------------------------------------------- simulate


class SimulationSettings(StageSettings):
    """Settings of the nuclei movie simulator (2D + time, one channel).

    Lengths are in pixels (px), times in frames unless a name says otherwise,
    intensities in grey levels of the uint16 output.
    """

    # --- movie geometry -------------------------------------------------------------------
    n_frames: int = Field(30, ge=1, le=100_000, description="Number of frames T.")
    shape: tuple[int, int] = Field((256, 256), description="Frame size (Y, X) in px; each side at least 16 px.")
    pixel_size_um: float = Field(0.65, gt=0, description="Pixel size written with the movie (µm/px).")
    frame_interval_min: float = Field(5.0, gt=0, description="Time between frames written with the movie (minutes).")
    seed: int = Field(0, ge=0, description="Seed of np.random.default_rng; equal settings give identical movies.")

    # --- population -----------------------------------------------------------------------
    n_cells: int = Field(12, ge=0, description="Number of cells in the first frame (placed inside the field).")
    entry_rate: float = Field(
        0.05, ge=0, description="Expected number of new cells entering through the borders per frame (Poisson)."
    )
    division_probability: float = Field(
        0.02, ge=0, le=1, description="Probability per frame that a cell old enough starts mitosis (1/frame)."
    )
    min_division_age_frames: int = Field(
        10, ge=1, description="A cell can start mitosis only this many frames after its birth (frames)."
    )
    mitosis_frames: int = Field(
        1, ge=1, le=20, description="Frames a dividing cell is shown as a compact bright metaphase plate (frames)."
    )
    maturation_frames: int = Field(
        20, ge=1, description="Frames a daughter takes to grow from birth size to full size (frames)."
    )

    # --- nucleus shape --------------------------------------------------------------------
    nucleus_radius_px: float = Field(9.0, gt=1, description="Mean semi-major axis of a full-grown nucleus (px).")
    radius_sd_px: float = Field(1.0, ge=0, description="Standard deviation of the semi-major axis between cells (px).")
    aspect_ratio_range: tuple[float, float] = Field(
        (0.65, 0.95), description="Range of minor/major axis ratios, drawn uniformly per cell (0 < low <= high <= 1)."
    )
    shape_irregularity: float = Field(
        0.04, ge=0, le=0.15, description="Relative amplitude of the outline's wobble (fraction of the radius)."
    )

    # --- motion ---------------------------------------------------------------------------
    speed_px_per_frame: float = Field(
        1.5, ge=0, description="Root-mean-square speed of the persistent random walk (px/frame)."
    )
    persistence: float = Field(
        0.7, ge=0, lt=1, description="Correlation of the velocity from one frame to the next (0 = Brownian)."
    )
    rotation_sd_rad: float = Field(0.05, ge=0, description="Standard deviation of the orientation change per frame (rad).")
    repulsion: float = Field(
        0.5, ge=0, le=1, description="Fraction of an overlap between two nuclei resolved per relaxation step (0 = none)."
    )

    # --- appearance -----------------------------------------------------------------------
    nucleus_intensity: float = Field(
        600.0, gt=0, description="Mean brightness of a nucleus above the background, before blur (grey levels)."
    )
    intensity_cv: float = Field(
        0.35, ge=0, le=2, description="Coefficient of variation of the brightness between cells (log-normal)."
    )
    texture_strength: float = Field(
        0.25, ge=0, le=1, description="Standard deviation of the chromatin texture relative to the mean brightness."
    )
    nucleoli_max: int = Field(3, ge=0, le=10, description="Each nucleus has 0..nucleoli_max darker nucleoli.")
    nucleolus_contrast: float = Field(
        0.5, ge=0, le=1, description="Fractional intensity drop at the centre of a nucleolus."
    )
    spots_max: int = Field(4, ge=0, le=20, description="Each nucleus has 0..spots_max small bright chromocentres.")
    spot_contrast: float = Field(0.5, ge=0, description="Peak extra intensity of a chromocentre (fraction of brightness).")

    # --- optics and camera ----------------------------------------------------------------
    blur_sigma_px: float = Field(1.2, ge=0, description="Sigma of the Gaussian point-spread function (px).")
    haze_fraction: float = Field(
        0.15, ge=0, le=2, description="Out-of-focus light added as a wide blur of the signal (fraction of the signal)."
    )
    background: float = Field(
        120.0, ge=0, description="Mean diffuse background light (grey levels above the camera offset; has shot noise)."
    )
    background_gradient: float = Field(
        0.4, ge=0, le=1.5, description="Background change across the field along a random direction (fraction of background)."
    )
    vignetting: float = Field(
        0.2, ge=0, lt=1, description="Illumination drop from the optical centre to the corners (fraction)."
    )
    photobleaching_per_frame: float = Field(
        0.01, ge=0, lt=1, description="Fraction of the nuclear signal lost per frame (exponential bleaching)."
    )
    gain: float = Field(
        1.0, gt=0, description="Photons (photo-electrons) per grey level; shot noise SD is sqrt(signal / gain) grey levels."
    )
    read_noise_sd: float = Field(4.0, ge=0, description="Standard deviation of the Gaussian camera read noise (grey levels).")
    camera_offset: float = Field(100.0, ge=0, le=60_000, description="Constant camera baseline (grey levels).")

    # --- ground truth ---------------------------------------------------------------------
    min_visible_area_px: int = Field(
        15, ge=1, description="Nuclei showing fewer pixels than this in a frame are not labelled there (px)."
    )

    @field_validator("shape")
    @classmethod
    def _shape_is_large_enough(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 16:
            raise ValueError(f"shape {value}: each side must be at least 16 px")
        if value[0] * value[1] > 2**28:
            raise ValueError(f"shape {value}: frames larger than 2**28 px are not supported")
        return value

    @field_validator("aspect_ratio_range")
    @classmethod
    def _aspect_range_is_valid(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high <= 1:
            raise ValueError(f"aspect_ratio_range {value}: need 0 < low <= high <= 1")
        return value

    @model_validator(mode="after")
    def _radius_fits(self) -> SimulationSettings:
        if self.nucleus_radius_px * 2 > min(self.shape):
            raise ValueError(
                f"nucleus_radius_px {self.nucleus_radius_px} is too large for frames of {self.shape} px"
            )
        return self


class Simulation3DSettings(StageSettings):
    """Settings of the 3-D nuclei movie simulator, one entry of the ``simulate3d`` section.

    The simulator (:func:`cellpipe.simulate3d.simulate_movie_3d`) makes (t, z, y, x) movies of one channel
    and takes this model as it is, as the 2-D one takes :class:`SimulationSettings`; lengths in µm unless a
    name says px or voxels, times in frames, intensities in grey levels of the uint16 output.  The movie is
    written as OME-TIFF with ``PhysicalSizeZ`` (ingest it with ``ingest.z_projection: keep`` to keep z, or
    project it).
    """

    n_frames: int = Field(30, ge=1, le=100_000, description="Number of stacks (time points) T.")
    shape_zyx: tuple[int, int, int] = Field(
        (32, 256, 256), description="Stack size (Z, Y, X) in voxels; Z at least 1, Y and X at least 16."
    )
    voxel_size_um: tuple[float, float, float] = Field(
        (2.0, 0.5, 0.5), description="Voxel size (z step, y, x) in µm, written with the movie (PhysicalSizeZ/Y/X)."
    )
    frame_interval_min: float = Field(5.0, gt=0, description="Time between stacks written with the movie (minutes).")
    seed: int = Field(0, ge=0, description="Seed of np.random.default_rng; equal settings give identical movies.")
    n_cells: int = Field(32, ge=0, description="Cells placed in the first stack.")
    entry_rate: float = Field(0.2, ge=0, description="Expected cells entering through the x/y sides per frame (Poisson).")
    division_probability: float = Field(
        0.02, ge=0, le=1, description="Probability per frame that a cell old enough starts mitosis (1/frame)."
    )
    min_division_age_frames: int = Field(10, ge=1, description="Frames after birth before a cell can start mitosis (frames).")
    mitosis_frames: int = Field(1, ge=1, description="Frames a dividing cell is shown as a metaphase plate (frames).")
    maturation_frames: int = Field(15, ge=1, description="Frames a daughter takes to grow to full size (frames).")
    nucleus_radius_um: float = Field(5.0, gt=0, description="Mean largest semi-axis of a full-grown nucleus (µm).")
    radius_sd_um: float = Field(0.5, ge=0, description="Standard deviation of the largest semi-axis between cells (µm).")
    axis_ratio_range: tuple[float, float] = Field(
        (0.65, 0.95), description="Range of the other two semi-axes relative to the largest (0 < low <= high <= 1)."
    )
    speed_um_per_frame: float = Field(0.8, ge=0, description="RMS speed of the persistent random walk (µm/frame).")
    persistence: float = Field(0.7, ge=0, lt=1, description="Correlation of the velocity from one frame to the next (0 = Brownian).")
    repulsion: float = Field(0.5, ge=0, le=1, description="Fraction of an overlap between two nuclei resolved per relaxation step.")
    nucleus_intensity: float = Field(
        600.0, gt=0, description="Mean brightness of a nucleus above the background, before blur (grey levels)."
    )
    intensity_cv: float = Field(0.3, ge=0, description="Coefficient of variation of the brightness between cells (log-normal).")
    texture_strength: float = Field(0.25, ge=0, description="Standard deviation of the chromatin texture relative to the brightness.")
    nucleoli_max: int = Field(3, ge=0, description="Each nucleus has 0..nucleoli_max darker nucleoli.")
    blur_sigma_um: float = Field(0.4, ge=0, description="Lateral (y, x) sigma of the Gaussian point-spread function at depth 0 (µm).")
    blur_growth_per_um: float = Field(0.01, ge=0, description="Increase of the lateral sigma per µm of depth (µm/µm).")
    axial_blur_sigma_um: float = Field(1.2, ge=0, description="Sigma of the point-spread function along z (µm).")
    attenuation_length_um: float = Field(
        120.0, ge=0, description="Depth over which the signal falls to 1/e (µm); 0 = no attenuation."
    )
    background: float = Field(100.0, ge=0, description="Flat background light above the camera offset (grey levels; has shot noise).")
    photobleaching_per_frame: float = Field(0.005, ge=0, lt=1, description="Fraction of the nuclear signal lost per frame.")
    gain: float = Field(1.0, gt=0, description="Photons per grey level; shot noise SD is sqrt(signal / gain) grey levels.")
    read_noise_sd: float = Field(4.0, ge=0, description="Standard deviation of the Gaussian read noise (grey levels).")
    camera_offset: float = Field(100.0, ge=0, le=60_000, description="Constant camera baseline (grey levels).")
    min_visible_voxels: int = Field(
        20, ge=1, description="Nuclei showing fewer voxels than this in a stack are not labelled there (voxels)."
    )

    @model_validator(mode="after")
    def _valid_for_the_simulator(self) -> Simulation3DSettings:
        # the checks across fields (or of a tuple's items) that the fields' bounds cannot make
        z, y, x = self.shape_zyx
        if z < 1 or min(y, x) < 16:
            raise ValueError(f"shape_zyx {self.shape_zyx}: need (Z, Y, X) with Z >= 1 and Y, X >= 16")
        if not all(v > 0 and v != float("inf") for v in self.voxel_size_um):
            raise ValueError(f"voxel_size_um {self.voxel_size_um}: need three positive sizes (z, y, x) in µm")
        if self.voxel_size_um[1] != self.voxel_size_um[2]:  # ingest refuses non-square pixels
            raise ValueError(f"voxel_size_um {self.voxel_size_um}: the y and x sizes must be equal (square pixels)")
        low, high = self.axis_ratio_range
        if not 0 < low <= high <= 1:
            raise ValueError(f"axis_ratio_range {self.axis_ratio_range}: need 0 < low <= high <= 1")
        if self.nucleus_radius_um * 2 > min(y * self.voxel_size_um[1], x * self.voxel_size_um[2]):
            raise ValueError(f"nucleus_radius_um {self.nucleus_radius_um} is too large for a field of {y}x{x} px")
        return self


# --------------------------------------------------------------------------- train


class TrainDataset(StageSettings):
    """One source of annotated images."""

    images: str = Field(
        ...,
        description="A movie (CTC folder of tTTT.tif, TIFF, OME-TIFF) or a single 2D TIFF image, relative to the working directory",
    )
    labels: str = Field(
        ...,
        description=(
            "Its annotation: a CTC ground-truth folder (SEG/man_segTTT.tif, with TRA/ to detect sparse frames) "
            "or a label TIFF of the same shape as the images (0 = background)"
        ),
    )
    frames: list[int] | None = Field(
        None,
        description=(
            "0-based frames to use; null: every completely annotated frame. Naming a sparsely annotated "
            "CTC frame is an error"
        ),
    )
    frame_step: int = Field(1, ge=1, description="Use every n-th of the selected frames (frames)")
    channel: Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1)] = Field(
        0,
        description=(
            "Channel of a multi-channel movie: its index (0-based) or its name (e.g. H2B-GFP), looked up in the "
            "images' own channel names (OME-TIFF Channel Name, ImageJ slice labels, a vendor file's or OME-Zarr's "
            "channel names) before any job runs"
        ),
    )
    role: Literal["auto", "train", "validation"] = Field(
        "auto",
        description="'train' or 'validation' puts all its images in that set; 'auto' splits them (train.validation_by)",
    )
    weight: float = Field(
        1.0, gt=0.0, description="Relative sampling weight of this dataset's crops (no unit)"
    )

    @field_validator("channel")
    @classmethod
    def _channel_index_or_name(cls, value: int | str) -> int | str:
        if isinstance(value, str) and not value.strip():
            raise ValueError("a channel name must not be empty")
        return value


class AugmentSettings(StageSettings):
    """Random changes applied to every training crop."""

    flips: bool = Field(True, description="Random horizontal and vertical flips")
    rotate90: bool = Field(True, description="Random rotations by 0, 90, 180 or 270 degrees")
    scale_range: float = Field(
        0.5, ge=0.0, lt=2.0, description="Random zoom factor drawn from [1 - r/2, 1 + r/2] on top of the diameter rescaling (no unit)"
    )
    intensity_scale: tuple[float, float] = Field(
        (0.6, 1.4), description="Range of the random factor multiplying the normalized intensities (no unit)"
    )
    intensity_shift: float = Field(
        0.05, ge=0.0, description="Largest random offset added to the normalized intensities (normalized units)"
    )
    noise_sd_max: float = Field(
        0.05, ge=0.0, description="Largest standard deviation of the added Gaussian noise (normalized units)"
    )
    gamma_range: tuple[float, float] | None = Field(
        None,
        description=(
            "Range of a random exponent g (drawn log-uniformly) that maps the crop's normalized intensities "
            "I to max(I, 0)^g before the gain: below 1 it lifts dim cells towards bright ones, above 1 it "
            "lowers them. null: off (no unit)"
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> AugmentSettings:
        for name in ("intensity_scale", "gamma_range"):
            pair = getattr(self, name)
            if pair is not None and not 0 < pair[0] <= pair[1]:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {pair}")
        return self


class TrainSettings(StageSettings):
    """Settings of one trained model (config ``train.<model>``)."""

    datasets: list[TrainDataset] = Field(..., min_length=1, description="Annotated image sources")
    init_model: str | None = Field(
        None,
        description=(
            "Fine-tune from this local Cellpose 3 model file (checked to exist; nothing is downloaded); "
            "null trains from scratch"
        ),
    )
    n_epochs: int = Field(100, ge=1, description="Number of epochs")
    samples_per_epoch: int = Field(32, ge=1, description="Random crops per epoch (crops)")
    batch_size: int = Field(8, ge=1, description="Crops per optimisation step (crops)")
    learning_rate: float = Field(0.005, gt=0.0, description="Peak learning rate of AdamW (per step)")
    weight_decay: float = Field(1e-5, ge=0.0, description="AdamW weight decay (no unit)")
    warmup_epochs: int = Field(5, ge=0, description="Epochs of linear learning-rate warm-up before cosine decay (epochs)")
    tile_px: int = Field(224, ge=32, description="Side of a training crop (px, after rescaling); multiple of 16")
    diam_mean_px: float = Field(
        30.0, gt=0.0, description="Cell diameter the network sees: every image is rescaled so its median cell diameter becomes this (px)"
    )
    validation_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="Fraction of the 'auto' images (or movies) held out for validation (0-1)"
    )
    validation_by: Literal["frame", "movie"] = Field(
        "frame", description="Hold out whole frames, or whole movies (no frame of a held-out movie is trained on)"
    )
    validation_every_epochs: int = Field(10, ge=1, description="Validation loss is computed every this many epochs (epochs)")
    batchnorm_calibration_crops: int = Field(
        64,
        ge=0,
        description=(
            "After training, the BatchNorm statistics used at inference are recomputed from this many training "
            "crops with the final weights (crops); 0 keeps the running averages of training"
        ),
    )
    min_cells: int = Field(1, ge=0, description="Images with fewer labelled cells are not used (cells)")
    min_marker_coverage: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description=(
            "A CTC SEG frame is complete, and used, when at least this fraction of the cells in its TRA "
            "markers has a mask (0-1); sparser frames are skipped"
        ),
    )
    seed: int = Field(0, ge=0, description="Seed of every random choice (split, crops, augmentation, initial weights)")
    device: Literal["auto", "cuda", "mps", "cpu"] = Field(
        "auto", description="Where the network trains: 'auto' takes CUDA, then MPS, then CPU"
    )
    precision: Literal["float32", "bfloat16"] = Field(
        "float32",
        description=(
            "Number format of the training steps' forward pass: 'bfloat16' runs it under torch's bfloat16 "
            "autocast (weights, gradients, optimizer, loss, validation and the BatchNorm calibration stay "
            "float32), on a CPU or CUDA GPU. On a CPU with bfloat16 units (AVX512-BF16 or AMX) a step is about "
            "2.5x faster; without them it is emulated, 1.9x (AVX-512) to 9.6x (AVX2) slower. The trained weights differ "
            "from float32 training's (bench/RESULTS.md)"
        ),
    )
    augment: AugmentSettings = Field(default_factory=AugmentSettings)

    @model_validator(mode="after")
    def _check(self) -> TrainSettings:
        if self.tile_px % 16:
            raise ValueError(f"tile_px must be a multiple of 16, got {self.tile_px}")
        return self


# --------------------------------------------------------------------------- where each model is used

STAGE_MODULES: dict[str, str] = {
    "IngestSettings": "ingest",
    "NormalizeSettings": "normalize",
    "ClassicalSettings": "segment",
    "CellposeSettings": "segment",
    "SegmentSettings": "segment",
    "SegmentSection": "segment",
    "ObjectFilterSettings": "filters",
    "TrackSettings": "track",
    "MeasureSettings": "measure",
    "EvaluateSettings": "evaluate",
    "ExportSettings": "export",
    "OmeZarrSettings": "io.omezarr",
    "QCSettings": "qc",
    "ReportSettings": "report",
    "SimulationSettings": "simulate",
    "Simulation3DSettings": "simulate3d",
    "TrainDataset": "train",
    "AugmentSettings": "train",
    "TrainSettings": "train",
}
"""The stage module (``cellpipe.<module>``) that uses each model; the generated config reference names
a model by it (``simulate.SimulationSettings``)."""
