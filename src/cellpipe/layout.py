"""Where the workflow writes its results: every path under the results folder, written down once.

Each template names the results folder ``{results}`` and the rest of the path with Snakemake's
wildcards (``{sample}``, ``{name}``, ``{model}``, ``{rule}``, ``{job}``, ``{part}``).  The rules
(workflow/rules/*.smk, through :func:`pattern` in common.smk), :mod:`cellpipe.config` and
:mod:`cellpipe.replay` all take their paths from here, and :data:`RESERVED_SAMPLE_NAMES` is derived from
:data:`TOP_LEVEL`, so a folder the workflow starts writing at the top of the results folder is
refused as a sample name as soon as it has a template.  This module imports nothing of cellpipe: the
Snakefile reads it at every start of snakemake and of every cluster job.
"""

from __future__ import annotations

from typing import NamedTuple

SAMPLE_DIR = "{results}/{sample}"
"""The folder of one sample's results."""

# Per-sample results. The OME-Zarr stores are declared by their metadata file: Snakemake allows no output
# inside a directory() output, and the label images live inside the image's NGFF labels group.
OME_ZARR_METADATA = {"0.4": ".zattrs", "0.5": "zarr.json"}
"""The metadata file of an OME-Zarr group, by NGFF version (0.4: Zarr v2, 0.5: Zarr v3); the workflow
declares each store by it, and cellpipe's writer picks the version from the name."""
DEFAULT_OME_ZARR_VERSION = "0.5"
"""The NGFF version written when the config names none (``ome_zarr.version``; config/README.md says why)."""
IMAGE_STORE = f"{SAMPLE_DIR}/image.ome.zarr"
LABELS_GROUP_STORE = f"{IMAGE_STORE}/labels"
CELL_LABELS_STORE = f"{LABELS_GROUP_STORE}/cells"
TRACK_LABELS_STORE = f"{LABELS_GROUP_STORE}/tracks"


def ome_zarr(store: str, version: str = DEFAULT_OME_ZARR_VERSION) -> str:
    """The metadata file that declares an OME-Zarr group, by which the rules name the store.

    Parameters
    ----------
    store : str
        A store's template or path (e.g. :data:`IMAGE_STORE`).
    version : str
        NGFF version, a key of :data:`OME_ZARR_METADATA` (``"0.4"`` or ``"0.5"``).

    Returns
    -------
    str
        ``<store>/.zattrs`` (0.4) or ``<store>/zarr.json`` (0.5).

    Raises
    ------
    ValueError
        For any other version.
    """
    if version not in OME_ZARR_METADATA:
        raise ValueError(f"NGFF version {version!r}: one of {', '.join(OME_ZARR_METADATA)}")
    return f"{store}/{OME_ZARR_METADATA[version]}"


IMAGE = ome_zarr(IMAGE_STORE)
CELL_LABELS = ome_zarr(CELL_LABELS_STORE)
TRACK_LABELS = ome_zarr(TRACK_LABELS_STORE)
LABELS_GROUP = ome_zarr(LABELS_GROUP_STORE)
"""IMAGE, CELL_LABELS, TRACK_LABELS, LABELS_GROUP: the stores as the default version declares them; a run
takes them from :func:`ome_zarr` with its ``ome_zarr.version`` (workflow/rules/common.smk)."""
ZARR_ARRAY_METADATA = {"0.4": ".zarray", "0.5": "zarr.json"}
"""The metadata file of a plain Zarr array, by the NGFF version of the run's OME-Zarr stores (``ome_zarr.version``):
plain arrays follow it, Zarr v2 beside NGFF 0.4 and Zarr v3 beside 0.5."""
NORMALIZED_STORE = f"{SAMPLE_DIR}/normalized.zarr"


def zarr_array(store: str, version: str = DEFAULT_OME_ZARR_VERSION) -> str:
    """The metadata file that declares a plain Zarr array, by which the rules name the store.

    Parameters
    ----------
    store : str
        A store's template or path (e.g. :data:`NORMALIZED_STORE`).
    version : str
        NGFF version of the run's OME-Zarr stores, a key of :data:`ZARR_ARRAY_METADATA` (``"0.4"``: Zarr v2,
        ``"0.5"``: Zarr v3).

    Returns
    -------
    str
        ``<store>/.zarray`` (0.4) or ``<store>/zarr.json`` (0.5).

    Raises
    ------
    ValueError
        For any other version.
    """
    if version not in ZARR_ARRAY_METADATA:
        raise ValueError(f"NGFF version {version!r}: one of {', '.join(ZARR_ARRAY_METADATA)}")
    return f"{store}/{ZARR_ARRAY_METADATA[version]}"


NORMALIZED = zarr_array(NORMALIZED_STORE)
"""The normalized movie as the default version declares it; a run takes it from :func:`zarr_array` with its
``ome_zarr.version`` (workflow/rules/common.smk)."""
NORMALIZATION = f"{SAMPLE_DIR}/normalization.tsv"
SEGMENTATION_INFO = f"{SAMPLE_DIR}/segmentation.json"
SEGMENT_PART = f"{SAMPLE_DIR}/segment_parts/{{part}}"
"""Part ``{part}`` of a segmentation (one of segment.scatter, rule segment_frames), without its suffix (.zarr, .json)."""
TRACKS = f"{SAMPLE_DIR}/tracks.parquet"
LINEAGE = f"{SAMPLE_DIR}/lineage.parquet"
TRACKING_INFO = f"{SAMPLE_DIR}/tracking.json"
CELLS = f"{SAMPLE_DIR}/cells.parquet"
TRACK_METRICS = f"{SAMPLE_DIR}/track_metrics.parquet"
COUNTS = f"{SAMPLE_DIR}/counts.tsv"
MSD = f"{SAMPLE_DIR}/msd.parquet"
"""Mean squared displacement per lag, pooled and per track, with the ensemble's exponent (rule measure_cells)."""
CTC_DIR = f"{SAMPLE_DIR}/ctc"
CTC_SEGMENTS = f"{SAMPLE_DIR}/ctc_segments.tsv"
NAPARI_CSV = f"{SAMPLE_DIR}/tracks_napari.csv"
NAPARI_GRAPH = f"{SAMPLE_DIR}/tracks_napari_graph.json"
GEFF = f"{SAMPLE_DIR}/tracks.geff"
TRACKMATE_XML = f"{SAMPLE_DIR}/tracks.trackmate.xml"
EVALUATION = f"{SAMPLE_DIR}/evaluation.json"
QC = f"{SAMPLE_DIR}/qc.json"
PROVENANCE = f"{SAMPLE_DIR}/provenance.json"
REPORT = f"{SAMPLE_DIR}/report.html"

# Top-level results: everything at the top of the results folder that is not a sample's folder.
SIMULATED_MOVIE = "{results}/simulated/{name}/movie.ome.tif"
"""Where the ``simulate_movie`` rule writes the movie of ``simulate.<name>``."""
SIMULATED_TRUTH = "{results}/simulated/{name}/01_GT"
"""Where the ``simulate_movie`` rule writes the CTC ground truth of ``simulate.<name>``."""
MODEL_DIR = "{results}/models/{name}"
"""What the ``train_cellpose`` rule writes for ``train.<name>``: the files of :data:`MODEL_FILES`."""
MODEL_FILES = {"weights": "weights.pth", "card": "model_card.md", "record": "training.json", "curve": "training_curve.tsv"}
"""The files of a trained model's folder, by the name of the train_cellpose output that writes each."""
TRAINED_MODEL = f"{MODEL_DIR}/{MODEL_FILES['weights']}"
"""Where the ``train_cellpose`` rule writes the weights of ``train.<name>``."""
BIOIMAGEIO_PACKAGE = "{results}/bioimageio/{model}.zip"
LOG = "{results}/logs/{rule}/{job}.log"
"""The log of one job of rule ``{rule}``: ``{job}`` is its sample, simulated movie or model name."""
BENCHMARK = "{results}/benchmarks/{rule}/{job}.tsv"
"""Snakemake's benchmark record of one job, named like its :data:`LOG`."""
INVOCATION = "{results}/logs/snakemake_invocation.json"
"""The main snakemake process's command line, for provenance (workflow/rules/provenance.smk)."""
SUMMARY = "{results}/summary.html"
EVALUATION_TABLE = "{results}/evaluation.tsv"
REPLAY_DIR = "{results}/replay/{sample}"
"""What ``python -m cellpipe.replay`` writes in the replay's results folder (config.yaml, comparison.json)."""
RUN_REGISTRY = "{results}/.cellpipe/runs"
"""Records of the runs writing the results folder (cellpipe.runtime.run_registry)."""

TOP_LEVEL = (
    SIMULATED_MOVIE, SIMULATED_TRUTH, MODEL_DIR, TRAINED_MODEL, BIOIMAGEIO_PACKAGE, LOG, BENCHMARK, INVOCATION,
    SUMMARY, EVALUATION_TABLE, REPLAY_DIR, RUN_REGISTRY,
)
"""Every template at the top of the results folder; a new one must be listed here to be reserved."""


def top_level_name(template: str) -> str:
    """The first path component below ``{results}/`` of a top-level template.

    Parameters
    ----------
    template : str
        A template starting with ``{results}/`` (e.g. :data:`LOG`).

    Returns
    -------
    str
        That component (``"logs"`` for :data:`LOG`).

    Raises
    ------
    ValueError
        When ``template`` does not start with ``{results}/``.
    """
    prefix = "{results}/"
    if not template.startswith(prefix):
        raise ValueError(f"{template!r} does not start with {prefix!r}")
    return template[len(prefix):].split("/", 1)[0]


RESERVED_SAMPLE_NAMES = tuple(sorted({top_level_name(t) for t in TOP_LEVEL if not top_level_name(t).startswith(".")}))
"""What the workflow writes at the top of the results folder besides the sample folders (names a sample
could take: '.cellpipe' is no valid sample name anyway): a sample may not take these names, in any case
(macOS and Windows file systems ignore case), or Snakemake ends in a ChildIOException
(results/summary.html and results/summary.html/report.html)."""


def in_sample(template: str) -> str:
    """A per-sample template's path inside the sample's folder.

    Parameters
    ----------
    template : str
        A template starting with :data:`SAMPLE_DIR` (e.g. :data:`TRACKS`).

    Returns
    -------
    str
        The rest of the path (``"tracks.parquet"`` for :data:`TRACKS`).

    Raises
    ------
    ValueError
        When ``template`` is not inside :data:`SAMPLE_DIR`.
    """
    prefix = SAMPLE_DIR + "/"
    if not template.startswith(prefix):
        raise ValueError(f"{template!r} is no path inside {SAMPLE_DIR!r}")
    return template[len(prefix):]


def pattern(template: str, results: str, **wildcards: str) -> str:
    """A template with the results folder and some wildcards filled in.

    Wildcards not given stay as Snakemake patterns (``{sample}``), so a rule can use the result as
    input or output.

    Parameters
    ----------
    template : str
        One of this module's templates.
    results : str
        The results folder (config key ``results``).
    **wildcards : str
        Values of wildcards to fill in (``sample="A1"``).

    Returns
    -------
    str
        The path or pattern.
    """
    path = template.replace("{results}", results)
    for key, value in wildcards.items():
        path = path.replace(f"{{{key}}}", value)
    return path


def path(template: str, results: str, **wildcards: str) -> str:
    """The path of one file: a template with the results folder and every wildcard filled in.

    Parameters
    ----------
    template : str
        One of this module's templates.
    results : str
        The results folder (config key ``results``).
    **wildcards : str
        A value for every other wildcard of ``template``.

    Returns
    -------
    str
        The path.

    Raises
    ------
    KeyError
        When a wildcard of ``template`` is not given.
    """
    return template.format(results=results, **wildcards)


class Rule(NamedTuple):
    """What the workflow needs to know of one rule besides its definition in workflow/rules/*.smk."""

    job: str
    """What one job of the rule is, and so what names its log and benchmark record (``{job}`` of :data:`LOG`):
    'sample' (one job per sample), 'sample with ground truth', 'sample part' (``<sample>.part<N>``),
    'simulated movie' (``<name>`` of simulate.<name>), 'model' (``<name>`` of train.<name>) or 'run' (one job)."""
    timed: bool
    """Whether a sample's provenance record holds the run time of its job(s) (read from the benchmark records)."""
    settings: str | None = None
    """The section of ``config.yaml`` whose job settings (:meth:`cellpipe.config.jobs.JobSettings.job_settings`)
    each job of the rule gets as its one ``settings`` param, and a sample's provenance record holds by rule;
    None for a rule that gets none."""


RULES: dict[str, Rule] = {
    "simulate_movie": Rule("simulated movie", timed=True, settings="simulate"),
    "train_cellpose": Rule("model", timed=True, settings="train"),
    "ingest_movie": Rule("sample", timed=True, settings="ingest"),
    "normalize_movie": Rule("sample", timed=True, settings="normalize"),
    "segment_frames": Rule("sample part", timed=True, settings="segment"),
    "segment_cells": Rule("sample", timed=True),
    "track_cells": Rule("sample", timed=True, settings="track"),
    "measure_cells": Rule("sample", timed=True, settings="measure"),
    "export_tracks": Rule("sample", timed=True, settings="export"),
    "evaluate_sample": Rule("sample with ground truth", timed=True, settings="evaluate"),
    "assess_quality": Rule("sample", timed=True, settings="qc"),
    "record_provenance": Rule("sample", timed=False),
    "report_sample": Rule("sample", timed=False, settings="report"),
    "summarize_evaluation": Rule("run", timed=False),
    "summarize_samples": Rule("run", timed=False),
    "export_bioimageio": Rule("model", timed=False),
}
"""Every rule the workflow defines with a log (all but :data:`TARGET_RULES`), in pipeline order.  Provenance
is recorded after the timed rules ran, so a record cannot hold the run times of the rules after it."""

TARGET_RULES: tuple[str, ...] = ("all",)
"""Rules that only name the results to make: they run nothing, so they have no log and are not in :data:`RULES`."""

PIPELINE_RULES: tuple[str, ...] = tuple(name for name, rule in RULES.items() if rule.timed)
"""Rules whose run times a provenance record may hold, in pipeline order (the order the report lists them)."""

SAMPLE_RULES: tuple[str, ...] = tuple(name for name in PIPELINE_RULES if RULES[name].job == "sample")
"""Timed rules that run exactly one job for every sample, named by the sample: the benchmark records a
sample's provenance always reads (those of segment_frames, one per part, simulate_movie and evaluate_sample
only where such jobs exist are added apart)."""


def rule_file(template: str, rule: str, results: str, job: str) -> str:
    """The log or benchmark record of one job of a rule.

    Parameters
    ----------
    template : str
        :data:`LOG` or :data:`BENCHMARK`.
    rule : str
        The rule's name; it must be in :data:`RULES`, so a rule cannot get a log without being listed.
    results : str
        The results folder (config key ``results``).
    job : str
        What names the job (its sample, ``<sample>.part<N>``, a simulated movie's or model's name), or a
        pattern of the rule's wildcards.

    Returns
    -------
    str
        The path or pattern.

    Raises
    ------
    KeyError
        For a rule not in :data:`RULES`.
    """
    if rule not in RULES:
        raise KeyError(f"rule {rule!r} is not listed in cellpipe.layout.RULES")
    return pattern(template, results, rule=rule, job=job)
