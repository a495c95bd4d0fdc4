"""The workflow configuration and the sample sheet, validated before any job runs.

``config/config.yaml`` is parsed into :class:`PipelineConfig` (one typed
settings model per stage) and ``config/samples.tsv`` into
:class:`SampleRow` objects.  Every problem is raised as :class:`ConfigError`
with a one-line message naming the key or the row and what is wrong.
The files a row names are checked from their headers (no pixels read): the
movie must be a complete, readable 2D time-lapse with a pixel size and frame
interval, and its ground truth must match its frames (see :func:`load_samples`).
The JSON schemas in ``workflow/schemas/`` are generated from these models
(``python tools/write_schemas.py``), so schema and models cannot disagree.
The Snakefile imports this module at every start of snakemake and of every
cluster job, so it stays light: the stage models come from
:mod:`cellpipe.settings`, not from the stage modules (pandas, scipy, ...).
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cellpipe._base import StageSettings
from cellpipe.ingest import IngestError, check_shape, resolve_metadata
from cellpipe.settings import (
    EvaluateSettings,
    ExportSettings,
    IngestSettings,
    MeasureSettings,
    NormalizeSettings,
    QCSettings,
    ReportSettings,
    SegmentSettings,
    SimulationSettings,
    TrackSettings,
    TrainSettings,
)

if TYPE_CHECKING:
    from cellpipe.io.checked_files import CheckedFiles

SAMPLE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
SAMPLE_NAME = re.compile(f"^{SAMPLE_NAME_PATTERN}$")
RESERVED_SAMPLE_NAMES = ("benchmarks", "logs", "models", "simulated")
"""Folders of the results directory that hold no sample: a sample may not take their names."""
SIMULATED_MOVIE = "{results}/simulated/{name}/movie.ome.tif"
"""Where the ``simulate_movie`` rule writes the movie of ``simulate.<name>``."""
SIMULATED_TRUTH = "{results}/simulated/{name}/01_GT"
"""Where the ``simulate_movie`` rule writes the CTC ground truth of ``simulate.<name>``."""


TRAINED_MODEL = "{results}/models/{name}/weights.pth"
"""Where the ``train_cellpose`` rule writes the weights of ``train.<name>``."""


class ConfigError(ValueError):
    """A configuration or sample-sheet problem, explained in one line."""


class PipelineConfig(StageSettings):
    """Everything in ``config/config.yaml``; see ``config/README.md`` for each key."""

    samples: str = Field("config/samples.tsv", description="Path of the sample sheet (TSV), relative to the working directory.")
    results: str = Field("results", description="Folder for all outputs, relative to the working directory.")
    simulate: dict[str, SimulationSettings] = Field(
        default_factory=dict,
        description="Simulated movies the workflow generates itself, by name; a sample whose movie is "
        f"'{SIMULATED_MOVIE}' uses simulate.<name>.",
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    normalize: NormalizeSettings = Field(default_factory=NormalizeSettings)
    segment: SegmentSettings = Field(default_factory=SegmentSettings)
    track: TrackSettings = Field(default_factory=TrackSettings)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    qc: QCSettings = Field(default_factory=QCSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    train: dict[str, TrainSettings] = Field(
        default_factory=dict,
        description=f"Cellpose models the workflow trains, by name; written to '{TRAINED_MODEL}' by rule train_cellpose.",
    )

    @field_validator("simulate", "train")
    @classmethod
    def _names_are_safe(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not SAMPLE_NAME.match(name):
                raise ValueError(f"name {name!r} may only contain letters, digits, '.', '_' and '-'")
        return value


class SampleRow(BaseModel):
    """One row of the sample sheet: one movie."""

    model_config = ConfigDict(extra="forbid")

    sample: str = Field(description="Unique name; letters, digits, '.', '_', '-' (used in output paths).")
    movie: str = Field(description="Path of the raw movie: TIFF stack, OME-TIFF, or CTC folder of tNNN.tif.")
    format: Literal["auto", "tiff", "ome-tiff", "ctc"] = Field("auto", description="Movie format; auto guesses from the path.")
    axes: str | None = Field(None, description="Axes of a TIFF stack, e.g. TYX, TCYX, CTYX; default: from the file.")
    pixel_size_um: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Pixel size in µm; overrides the file's metadata."
    )
    frame_interval_min: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Time between frames in minutes; overrides the file's metadata."
    )
    channel_names: str | None = Field(None, description="Comma-separated channel names; default: from the file or ch0, ch1, ...")
    ground_truth: str | None = Field(
        None,
        description="Ground truth for rule evaluate_sample: a CTC folder (TRA/, optional SEG/), a folder of "
        "per-frame label TIFFs (frame number in the name) or a (T, Y, X) label TIFF.",
    )
    diameter_um: float | Literal["auto"] | None = Field(
        None,
        description="Expected cell diameter of this movie in µm, or 'auto' to estimate it from the movie "
        "(segment.estimate_diameter); replaces segment.diameter_um / diameter_px for this sample.",
    )

    @field_validator("sample")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not SAMPLE_NAME.match(value):
            raise ValueError("may only contain letters, digits, '.', '_' and '-', and must not start with '.' or '-'")
        if value in RESERVED_SAMPLE_NAMES:
            raise ValueError(f"{value!r} is a folder of the results directory; reserved names: {', '.join(RESERVED_SAMPLE_NAMES)}")
        return value

    @field_validator("axes")
    @classmethod
    def _axes_letters(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if not re.fullmatch(r"[TCZYXS]+", value) or len(set(value)) != len(value):
            raise ValueError(f"axes {value!r}: use the letters T, C, Z, Y, X (S for RGB) once each")
        return value

    @field_validator("diameter_um")
    @classmethod
    def _finite_diameter(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, float) and not (math.isfinite(value) and value > 0):
            raise ValueError("must be a positive number of µm or 'auto'")
        return value

    def segment_overrides(self) -> dict[str, Any]:
        """The segment settings this row replaces (its ``diameter_um``), as keys of ``segment``."""
        if self.diameter_um == "auto":
            return {"estimate_diameter": True}
        if self.diameter_um is not None:
            return {"diameter_um": float(self.diameter_um), "diameter_px": None}
        return {}

    @property
    def channels(self) -> list[str]:
        return [c.strip() for c in self.channel_names.split(",")] if self.channel_names else []


def _describe(err: ValidationError, where: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    detail = f"{where}: {loc}: {msg}"
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        detail += f" (got {first['input']!r})"
    n_more = len(err.errors()) - 1
    return detail + (f" (and {n_more} more problem{'s' if n_more > 1 else ''})" if n_more else "")


def load_config(raw: dict[str, Any] | None, source: str = "config") -> PipelineConfig:
    """Validate the raw config mapping; raise :class:`ConfigError` naming the first bad key."""
    try:
        return PipelineConfig.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None


def simulated_name(movie: str, config: PipelineConfig) -> str | None:
    """The ``simulate`` entry that produces ``movie``, or None when it is a user's file."""
    for name in config.simulate:
        if os.path.normpath(movie) == os.path.normpath(SIMULATED_MOVIE.format(results=config.results, name=name)):
            return name
    return None


def load_samples(
    path: str | os.PathLike[str], config: PipelineConfig, check_files: bool = True, checked_record: str | os.PathLike[str] | None = None
) -> list[SampleRow]:
    """Read and validate the sample sheet.

    Raises :class:`ConfigError` for unknown or missing columns, invalid values,
    duplicate sample names and (when ``check_files``) movies or ground-truth
    folders that do not exist and are not made by the ``simulate`` rule.  With
    ``check_files`` a user's movie is also checked from its headers (one per
    file; no pixels are read): readable and complete TIFF(s), axes making a 2D
    time-lapse, a CTC folder numbered without gaps with frames of one size,
    frames of at least 8 px, a pixel size and frame interval from the row, the
    file or the config, channel names matching its channels; and its ground
    truth must cover its frames with masks of its frame size.  Pixel values
    (NaN) are checked by the ingest job.

    ``checked_record``: a file recording the rows whose files passed
    (:mod:`cellpipe.io.checked_files`); a recorded row whose files are unchanged
    is not checked again.  None: every row is checked.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sample sheet not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        lines = [ln for ln in handle if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines, delimiter="\t")
    columns = reader.fieldnames or []
    allowed = set(SampleRow.model_fields)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise ConfigError(f"{path}: unknown column {unknown[0]!r} (allowed: {', '.join(SampleRow.model_fields)})")
    for required in ("sample", "movie"):
        if required not in columns:
            raise ConfigError(f"{path}: missing column {required!r}")
    checked = None
    if check_files and checked_record is not None:
        from cellpipe.io.checked_files import CheckedFiles

        checked = CheckedFiles(checked_record)
    try:
        rows = _read_rows(reader, path, config, check_files, checked)
    except ConfigError:
        if checked is not None:
            checked.save(prune=False)  # the rows before the bad one need no check next time
        raise
    if checked is not None:
        checked.save()
    return rows


def _read_rows(
    reader: csv.DictReader[str], path: Path, config: PipelineConfig, check_files: bool, checked: CheckedFiles | None
) -> list[SampleRow]:
    rows: list[SampleRow] = []
    seen: dict[str, int] = {}
    for line_no, record in enumerate(reader, start=2):
        if None in record:
            raise ConfigError(f"{path} line {line_no}: more fields than columns (check the tabs)")
        values = {k: v.strip() for k, v in record.items() if v is not None and v.strip() != ""}
        name = values.get("sample", "?")
        try:
            row = SampleRow.model_validate(values)
        except ValidationError as err:
            raise ConfigError(_describe(err, f"{path} line {line_no} (sample {name!r})")) from None
        if row.sample in seen:
            raise ConfigError(
                f"{path} line {line_no} (sample {row.sample!r}): duplicate sample name (first on line {seen[row.sample]})"
            )
        seen[row.sample] = line_no
        if check_files:
            _check_row_files(row, path, line_no, config, checked)
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: no samples")
    return rows


def _check_row_files(row: SampleRow, sheet: Path, line_no: int, config: PipelineConfig, checked: CheckedFiles | None) -> None:
    where = f"{sheet} line {line_no} (sample {row.sample!r})"
    sim = simulated_name(row.movie, config)
    if sim is None and not Path(row.movie).exists():
        raise ConfigError(f"{where}: movie not found: {row.movie}")
    if row.ground_truth:
        made_by_sim = sim is not None and os.path.normpath(row.ground_truth) == os.path.normpath(
            SIMULATED_TRUTH.format(results=config.results, name=sim)
        )
        if not made_by_sim and not Path(row.ground_truth).exists():
            raise ConfigError(f"{where}: ground_truth not found: {row.ground_truth}")
    if sim is not None:
        return  # the simulate rule writes the movie: nothing to read yet
    files = [row.movie, *([row.ground_truth] if row.ground_truth else [])]
    key = checked.key(row.model_dump(mode="json"), config.ingest.model_dump(mode="json")) if checked else ""
    if checked is not None and checked.passed(key, files):
        return
    from cellpipe.io.ground_truth import GroundTruthError, check_ground_truth_files
    from cellpipe.io.movies import MovieError, inspect_movie

    try:
        header = inspect_movie(row.movie, row.format, row.axes)
        check_shape(row.sample, row.movie, header.shape_tcyx, header.dtype)
        resolve_metadata(
            row.sample, row.movie, header.shape_tcyx, header.pixel_size_um, header.frame_interval_min,
            list(header.channel_names), row.pixel_size_um, row.frame_interval_min, row.channels, config.ingest,
        )
        if row.ground_truth:
            check_ground_truth_files(row.ground_truth, header.shape_tcyx[0], header.shape_tcyx[2:])
    except IngestError as err:
        raise ConfigError(f"{where}: {row.movie}: {_one_line(err.problem)}") from None
    except (MovieError, GroundTruthError) as err:  # names the file
        what = "ground_truth " if isinstance(err, GroundTruthError) else ""
        raise ConfigError(f"{where}: {what}{_one_line(err)}") from None
    if checked is not None:
        checked.record(key, files)


def _one_line(err: BaseException | str) -> str:
    return " ".join(str(err).split())
