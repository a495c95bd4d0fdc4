# Configuration, sample sheet and input functions shared by every rule.
# Everything is validated here, before any job runs: a bad key, value or
# missing file stops the run with one line naming it (cellpipe.config).

import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cellpipe import layout
from cellpipe.config import (
    SAMPLE_NAME_PATTERN,
    ConfigError,
    check_sheet_schema,
    load_config,
    simulated_name,
)
from cellpipe.config.jobs import JobSettings, shipped_path
from cellpipe.io.bioimageio import model_folders
from cellpipe.preflight import check_samples, volume_refusal
from cellpipe.provenance import OUTPUT_TABLES
from cellpipe.resources import ingest_mem_mb, normalize_mem_mb, segment_frames_mem_mb
from cellpipe.segment import check_model_file


CHECKED_FILES = ".snakemake/cellpipe/checked_files.json"
# Each movie's (T, C, Y, X) shape and pixel type from its header (or from the record of checked files,
# or the simulate settings), by sample: the main process sizes the memory requests of ingest, normalize
# and segment with it (movie_mem_mb). A cluster job reads no header, so it is empty there.
MOVIE_SIZES = {}
# The other files each sample's movie reads (the later files of a multi-file OME-TIFF), by sample: inputs of
# ingest_movie, so replacing one of them reruns it. From the header checks or the record of checked files, so
# no header is read again per sample; a cluster job takes them from the record the main process wrote.
MOVIE_READS = {}
# The JSON schema of the config (tools/write_schemas.py writes it from the models), relative to this file.
CONFIG_SCHEMA = "../schemas/config.schema.json"
# The JSON schema of one row of the sample sheet, written beside it.
SAMPLES_SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "samples.schema.json")


def schema_refusal(err, source):
    """The one line for a config the JSON schema refuses: the key path and jsonschema's message."""
    found = err.__context__  # snakemake.utils.validate raises its WorkflowError from jsonschema's error
    where = ".".join(str(p) for p in getattr(found, "absolute_path", ())) or "config"
    what = getattr(found, "message", str(err))
    return f"{source}: {where}: {what} (workflow/schemas/config.schema.json)"


try:
    # Errors name the config file(s) the keys come from (snakemake's configfile and --configfile).
    # Snakemake has merged the files into `config`, keeping the last of two equal keys: the files are
    # read again for duplicate keys (--config overrides are no file and meant to replace).
    CONFIG_SOURCE = ", ".join(str(f) for f in workflow.configfiles) or "config"
    CFG = load_config(config, source=CONFIG_SOURCE, files=workflow.configfiles)
    # The config must also pass its JSON schema, which editors and other tools read: stricter where the
    # models would convert a value (normalize.clip: "yes" is no boolean there). The models go first, as
    # their messages name the file's line; set_default=False leaves `config` as written (the models hold
    # the defaults).
    try:
        validate(config, CONFIG_SCHEMA, set_default=False)
    except WorkflowError as err:
        raise ConfigError(schema_refusal(err, CONFIG_SOURCE)) from None
    # Movie headers are checked once, by the main process: a cluster job (a snakemake process of its own)
    # skips them, so its start-up does not grow with the number of samples. Rows whose files passed
    # and have not changed since are not checked again (cellpipe.runtime.checked_files: the record is
    # CHECKED_FILES; delete it to check every file). Warnings (a sheet value far from the file's) are
    # printed here, so once per run by the main process, and again at every start while they hold.
    SAMPLES = {
        row.sample: row
        for row in check_samples(
            CFG.samples,
            CFG,
            check_files=workflow.is_main_process,
            checked_record=CHECKED_FILES,
            warn=lambda message: print(f"cellpipe: warning: {message}", file=sys.stderr),
            sizes=MOVIE_SIZES,
            reads=MOVIE_READS,
        )
    }
    # Every row of the sheet, as written, must also pass its JSON schema, after the models (whose messages
    # say more). The cells are text: each becomes a number where its column takes one, so a sample named 01
    # stays a name (cellpipe.config.schema_values). Once, by the main process, as the header checks.
    if workflow.is_main_process:
        check_sheet_schema(CFG.samples, SAMPLES_SCHEMA)
except (ConfigError, FileNotFoundError) as err:
    raise WorkflowError(f"cellpipe: {err}") from None

RESULTS = CFG.results


def results_path(template, **wildcards):
    """A path template of cellpipe.layout in this run's results folder, with the given wildcards filled
    in and the others left as Snakemake wildcards."""
    return layout.pattern(template, RESULTS, **wildcards)


def log_of(rule, job="{sample}"):
    """The log of a job of ``rule`` (a name listed in cellpipe.layout.RULES), named by ``job`` (a pattern
    of the rule's wildcards)."""
    return layout.rule_file(layout.LOG, rule, RESULTS, job)


def benchmark_of(rule, job="{sample}"):
    """The benchmark record of a job of ``rule``, named by ``job`` like its log."""
    return layout.rule_file(layout.BENCHMARK, rule, RESULTS, job)


def model_file(model, kind):
    """File ``kind`` (a key of cellpipe.layout.MODEL_FILES: weights, card, record, curve) of trained model ``model``."""
    return f"{results_path(layout.MODEL_DIR, name=model)}/{layout.MODEL_FILES[kind]}"


# The OME-Zarr image of a sample holds its label images in its NGFF labels group (image.ome.zarr/labels/
# cells, .../tracks), so napari-ome-zarr and other OME-Zarr readers open them over the image. Snakemake
# allows no output inside a directory() output, so each store is declared by its metadata file; the
# cellpipe.io.omezarr readers and writers accept either the store or that file. The file names the NGFF
# version (ome_zarr.version: .zattrs for 0.4, zarr.json for 0.5), and the writers write the version it names.
IMAGE = results_path(layout.ome_zarr(layout.IMAGE_STORE, CFG.ome_zarr.version))
CELL_LABELS = results_path(layout.ome_zarr(layout.CELL_LABELS_STORE, CFG.ome_zarr.version))
TRACK_LABELS = results_path(layout.ome_zarr(layout.TRACK_LABELS_STORE, CFG.ome_zarr.version))
LABELS_GROUP = results_path(layout.ome_zarr(layout.LABELS_GROUP_STORE, CFG.ome_zarr.version))
# The normalized movie, a plain Zarr array, is in the Zarr format of the OME-Zarr stores (v2 with 0.4, v3 with
# 0.5) and declared by its metadata file the same way (.zarray or zarr.json), so a changed version rewrites it.
NORMALIZED = results_path(layout.zarr_array(layout.NORMALIZED_STORE, CFG.ome_zarr.version))
NORMALIZATION = results_path(layout.NORMALIZATION)
SEGMENTATION_INFO = results_path(layout.SEGMENTATION_INFO)
TRACKS = results_path(layout.TRACKS)
LINEAGE = results_path(layout.LINEAGE)
TRACKING_INFO = results_path(layout.TRACKING_INFO)
CELLS = results_path(layout.CELLS)
TRACK_METRICS = results_path(layout.TRACK_METRICS)
COUNTS = results_path(layout.COUNTS)
MSD = results_path(layout.MSD)
CTC_DIR = results_path(layout.CTC_DIR)
CTC_SEGMENTS = results_path(layout.CTC_SEGMENTS)
NAPARI_CSV = results_path(layout.NAPARI_CSV)
NAPARI_GRAPH = results_path(layout.NAPARI_GRAPH)
GEFF = results_path(layout.GEFF)
TRACKMATE_XML = results_path(layout.TRACKMATE_XML)
EVALUATION = results_path(layout.EVALUATION)
QC = results_path(layout.QC)
PROVENANCE = results_path(layout.PROVENANCE)
REPORT = results_path(layout.REPORT)
SUMMARY = results_path(layout.SUMMARY)
EVALUATION_TABLE = results_path(layout.EVALUATION_TABLE)

# What results/<sample>/ holds for a user, each a target of rule all (with the exports, the reports, qc.json,
# provenance.json and the evaluation, which the Snakefile lists). Snakemake reruns a job whose output is
# missing only when a target needs it: a deleted intermediate (image.ome.zarr/labels/cells, tracks.parquet,
# ...) whose consumers are up to date stayed deleted ("Nothing to be done"), and the labels group still
# listed labels/cells. As targets they come back on the next run (and what depends on them is redone).
# Logs, benchmarks and segment_frames' temporary parts are not results.
SAMPLE_RESULTS = [
    IMAGE,
    NORMALIZED,
    NORMALIZATION,
    CELL_LABELS,
    SEGMENTATION_INFO,
    TRACK_LABELS,
    LABELS_GROUP,
    TRACKS,
    LINEAGE,
    TRACKING_INFO,
    CELLS,
    TRACK_METRICS,
    COUNTS,
    MSD,
]
ENVS = "../../envs"
# Cellpose-SAM (cellpose 4) cannot share an environment with Cellpose 3: segment_frames runs in its own.
SEGMENT_ENV = "cellpipe-sam.yaml" if CFG.segment.cellpose.network == "cellpose-sam" else "cellpipe-gpu.yaml"


# The settings of every job, shipped paths (Cellpose model, tracker configuration, the models training
# starts from) resolved here once: working directory first, then the workflow's folder.
JOBS = JobSettings(CFG, workflow.basedir)
TRACKER_CONFIG = JOBS.tracker_config
TRAINED_MODELS = {os.path.normpath(layout.path(layout.TRAINED_MODEL, RESULTS, name=name)): name for name in CFG.train}
# The models shipped with cellpipe (resources/models/<name>/: weights, model card, training record),
# by name: rule export_bioimageio packages them as it packages trained ones.
SHIPPED_MODELS_DIR = shipped_path("resources/models", workflow.basedir)
SHIPPED_MODELS = model_folders(SHIPPED_MODELS_DIR)


def made_inputs():
    """Inputs of the samples that the workflow itself makes, each a target of the Snakefile's default rule
    like SAMPLE_RESULTS: the simulated movies and ground truth the sample sheet names, and the trained
    model segmentation uses."""
    made = []
    for row in SAMPLES.values():
        name = simulated_name(row.movie, CFG)
        if name is not None:
            made += [row.movie, layout.path(layout.SIMULATED_TRUTH, RESULTS, name=name)]
    trained = TRAINED_MODELS.get(os.path.normpath(CELLPOSE_MODEL)) if CELLPOSE_MODEL else None
    if trained is not None:  # weights, model card, training record and curve (rule train_cellpose)
        made += [CELLPOSE_MODEL] + [model_file(trained, kind) for kind in ("card", "record", "curve")]
    return sorted(set(made))


def checked_model(path, key, network):
    """A Cellpose model path (resolved: JOBS) that must exist now, unless this workflow trains it (rule
    train_cellpose).

    Its content is checked too, without torch (a few ms, cellpipe.segment.check_model_file): a file
    that holds no Cellpose weights, or those of another network, stops the run here rather than in
    segment_frames after ingest and normalize.
    """
    if os.path.normpath(path) in TRAINED_MODELS:
        return path
    try:
        check_model_file(path, network)
    except (FileNotFoundError, ValueError) as err:
        raise WorkflowError(f"cellpipe: config {key}: {err}") from None
    return path


# The model file segmentation loads (None: classical, or a Cellpose built-in model).
CELLPOSE_MODEL = JOBS.cellpose_model
if CELLPOSE_MODEL is not None:
    checked_model(CELLPOSE_MODEL, "segment.cellpose.model", CFG.segment.cellpose.network)
INIT_MODELS = {
    # rule train_cellpose trains a Cellpose 3 CPnet (cellpipe.train)
    name: checked_model(path, f"train.{name}.init_model", "cellpose3")
    for name, path in JOBS.init_models.items()
}


def per_attempt(base):
    """A resource that grows with each attempt of a job: ``base`` × attempt (profiles set ``retries``).

    Memory (MB) and run time (minutes) use it, so a job SLURM killed for memory or time is retried
    with twice, then three times, what it first asked for.
    """
    return lambda wildcards, attempt: base * attempt


def _segment_mem_mb(size, wildcards):
    """segment_frames' estimate from its settings (the row's own) and, for a 3-D movie, the z step the start-up
    check resolved as ingest will (sample sheet, file, config default; cellpipe.resources.segment_frames_mem_mb)."""
    return segment_frames_mem_mb(size, segment_settings(wildcards), volumes=CFG.ingest.z_projection == "keep")


MEMORY_ESTIMATES = {
    "ingest": lambda size, wildcards: ingest_mem_mb(size),
    "normalize": lambda size, wildcards: normalize_mem_mb(size, volumes=CFG.ingest.z_projection == "keep"),
    "segment": _segment_mem_mb,
}


def movie_mem_mb(step, fallback_mb):
    """mem_mb of a per-sample job of ``step`` (a key of MEMORY_ESTIMATES) from its movie's header
    (cellpipe.resources: frame size, channels, pixel type), × attempt as per_attempt does.

    ``fallback_mb`` × attempt where the header is unknown: a cluster job (snakemake in --mode remote)
    reads no header and only needs a valid value of its own, since what the cluster reserved was
    decided by the main process, which knows the header.
    """
    estimate = MEMORY_ESTIMATES[step]

    def mem_mb(wildcards, attempt):
        size = MOVIE_SIZES.get(wildcards.sample)
        return (estimate(size, wildcards) if size is not None else fallback_mb) * attempt

    return mem_mb


def halved_per_attempt(wildcards, attempt):
    """Divisor of segment_frames' tiles per network pass: 1, 2, 4, ... on attempts 1, 2, 3, ...

    A GPU out of memory fails the job; its retry runs half as many tiles at once (masks do not
    depend on it: cellpipe.segment, ``batch_size``).
    """
    return 2 ** (attempt - 1)


def _one_of(names):
    """A wildcard constraint matching exactly the given names (never matches when empty)."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!x)x"


# {sample} matches any valid sample name but not the results folders that hold no sample (logs/, ...,
# in any case, as SampleRow refuses them).
# Not an alternation of the sheet's names: Snakemake copies the constraint into every file pattern
# and matches each file against it, a large part of `snakemake -n` for 1,000 samples (bench.dag_scale).
# An unknown name reaching an input function is reported by sample_row.
wildcard_constraints:
    sample=f"(?!(?i:{'|'.join(re.escape(n) for n in layout.RESERVED_SAMPLE_NAMES)})/){SAMPLE_NAME_PATTERN}",
    name=_one_of([*CFG.simulate, *CFG.simulate3d]),
    model=_one_of(CFG.train),


def settings(stage, name=None):
    """The settings of every job of ``stage`` (cellpipe.config.jobs; ``name``: the entry of simulate: or
    train:), for a rule's params.

    Dumped to JSON values: Snakemake would pickle a pydantic model intact into the script, but its params
    rerun trigger compares only built-in values and would skip a model, so a changed setting would rerun
    nothing. The step validates the dict once, into the same model.
    """
    return JOBS.job_settings(stage, name=name).model_dump(mode="json")


def sample_row(wildcards):
    """The sample sheet's row of ``{sample}``; a target naming no sample of the sheet is a clear error."""
    try:
        return SAMPLES[wildcards.sample]
    except KeyError:
        raise WorkflowError(
            f"cellpipe: no sample {wildcards.sample!r} in the sample sheet {CFG.samples} "
            f"(it has {len(SAMPLES)}: {', '.join(list(SAMPLES)[:5])}{', ...' if len(SAMPLES) > 5 else ''})"
        ) from None


def movie_other_files(wildcards):
    """The files of {sample}'s movie besides the sheet's (the later files of a multi-file OME-TIFF), to rerun
    ingest when one of them changes; none for a single file, a folder or a simulated movie."""
    return MOVIE_READS.get(wildcards.sample, [])


def segment_settings(wildcards):
    """The settings of the segment jobs of {sample}, with what its sample sheet row sets (its diameter_um),
    as settings() gives them; segment.scatter is not among them (segment_frames gets the part count)."""
    return JOBS.job_settings("segment", sample_row(wildcards)).model_dump(mode="json")


def segmentable_movie(wildcards):
    """No input: refuses, before any job runs, to segment a 3-D sample (ingest.z_projection: keep) with a method
    not wired for stacks (Cellpose-SAM), in one line naming the sample and its movie
    (cellpipe.preflight.volume_refusal)."""
    problem = volume_refusal(
        wildcards.sample,
        sample_row(wildcards).movie,
        MOVIE_SIZES.get(wildcards.sample),
        CFG,
    )
    if problem:
        raise WorkflowError(f"cellpipe: {problem}")
    return []


def segmentation_model(wildcards):
    """The Cellpose model file is an input when segment.method is cellpose (checked to exist at start-up)."""
    return [CELLPOSE_MODEL] if CELLPOSE_MODEL else []


def training_inputs(wildcards):
    """Annotated images and labels of train.<model> (and the model it starts from) as named inputs."""
    inputs = {}
    for i, dataset in enumerate(CFG.train[wildcards.model].datasets):
        inputs[f"images_{i}"] = dataset.images
        inputs[f"labels_{i}"] = dataset.labels
    if wildcards.model in INIT_MODELS:
        inputs["init_model"] = INIT_MODELS[wildcards.model]
    return inputs


def bioimageio_inputs(wildcards):
    """Weights, model card and training record of the model {model}: trained by this workflow (a name
    under train:, which wins over a shipped model of the same name) or shipped (resources/models/<name>/)."""
    if wildcards.model in CFG.train:
        folder = results_path(layout.MODEL_DIR, name=wildcards.model)
    else:
        folder = os.path.join(SHIPPED_MODELS_DIR, wildcards.model)
    return {kind: f"{folder}/{layout.MODEL_FILES[kind]}" for kind in ("weights", "card", "record")}


def training_settings(model):
    """Settings of a train_cellpose job, as settings() gives them (cellpipe.config.jobs.TrainJob): train.<model>
    with init_model resolved like other shipped files, and the normalize section its images are normalized with."""
    return settings("train", name=model)


# Provenance: rule record_provenance (workflow/rules/provenance.smk says how the command line is recorded).
INVOCATION = results_path(layout.INVOCATION)


def record_invocation():
    """Write the main process's command line, working directory, Snakefile and workflow revision."""
    from cellpipe.io import tables
    from cellpipe.io.checksums import git_revision
    from cellpipe.provenance import invocation_record
    from cellpipe.versions import package_version

    record = invocation_record(
        argv=sys.argv,
        working_directory=os.getcwd(),
        snakefile=workflow.main_snakefile,
        snakemake_version=package_version("snakemake"),
        revision=git_revision(workflow.basedir),
    )
    try:
        tables.write_json(record, INVOCATION)
    except OSError as err:  # provenance then says "not recorded"; the run goes on
        print(f"cellpipe: could not record the command line in {INVOCATION}: {err}", file=sys.stderr)


def forget_invocation():
    """Remove the command line when the run ends, so that no later run picks up a stale one."""
    if os.path.exists(INVOCATION):
        os.remove(INVOCATION)


def provenance_job_settings(wildcards):
    """The settings of every job that makes {sample}'s results, by rule (cellpipe.layout.RULES names each rule's
    section), dumped as the rules' params get them (the JobSettings calls of settings(), segment_settings and
    training_settings): record_provenance records them (provenance.json job_settings)."""
    row = sample_row(wildcards)
    trained = TRAINED_MODELS.get(os.path.normpath(CELLPOSE_MODEL)) if CELLPOSE_MODEL else None
    jobs = JOBS.sample_jobs(row, simulated=simulated_name(row.movie, CFG), trained=trained)
    return {rule: job.model_dump(mode="json") for rule, job in jobs.items()}


def provenance_inputs(wildcards):
    """Named inputs of record_provenance: the files whose sha256 it records, the sample's
    segmentation.json and result tables, and the benchmark records of the sample's jobs."""
    row = SAMPLES[wildcards.sample]
    sample = wildcards.sample
    sample_dir = layout.path(layout.SAMPLE_DIR, RESULTS, sample=sample)
    # The timed jobs every sample has once; segment_frames (one job per part), simulate_movie and
    # evaluate_sample (only for some samples) are added below.
    benchmarks = [benchmark_of(rule, sample) for rule in layout.SAMPLE_RULES]
    # every part's segment_frames job (segment.smk), part 0 first
    benchmarks += [benchmark_of("segment_frames", f"{sample}.part{part}") for part in SEGMENT_PARTS]
    sim = simulated_name(row.movie, CFG)
    if sim is not None:
        benchmarks.insert(0, benchmark_of("simulate_movie", sim))
    trained = TRAINED_MODELS.get(os.path.normpath(CELLPOSE_MODEL)) if CELLPOSE_MODEL else None
    if trained is not None:
        benchmarks.insert(0, benchmark_of("train_cellpose", trained))
    outputs = [f"{sample_dir}/{name}" for name in OUTPUT_TABLES if name != "evaluation.json"]
    if row.ground_truth:
        outputs.append(results_path(layout.EVALUATION, sample=sample))
        benchmarks.append(benchmark_of("evaluate_sample", sample))
    return {
        "movie": row.movie,
        "ground_truth": [row.ground_truth] if row.ground_truth else [],
        "config": list(workflow.configfiles),
        "sample_sheet": CFG.samples,
        "tracker_config": TRACKER_CONFIG,
        "model": segmentation_model(wildcards),
        # the outputs of the jobs that read the movie, the model, the tracker configuration and the ground truth
        # hold the sha256 of the bytes they read, which the record compares with the files now
        "image": results_path(layout.ome_zarr(layout.IMAGE_STORE, CFG.ome_zarr.version), sample=sample),
        "segmentation_info": results_path(layout.SEGMENTATION_INFO, sample=sample),
        "tracking_info": results_path(layout.TRACKING_INFO, sample=sample),
        "evaluation": [results_path(layout.EVALUATION, sample=sample)] if row.ground_truth else [],
        "outputs": outputs,
        "timings": benchmarks,
    }
