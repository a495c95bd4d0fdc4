"""The workflow configuration and the sample sheet, validated before any job runs.

``config/config.yaml`` is parsed into :class:`PipelineConfig` (one typed settings model per stage,
:mod:`cellpipe.config.sections`) and ``config/samples.tsv`` into :class:`SampleRow` objects
(:func:`read_sample_sheet`).  Every problem is raised as :class:`ConfigError` with a one-line
message naming the key or the row and what is wrong.  The files a row names are checked from their
headers by :func:`cellpipe.preflight.check_samples`.  The Snakefile imports this module at every
start of snakemake and of every cluster job, so it stays light: it imports the stage models from
:mod:`cellpipe.config.sections`, not the stage modules (pandas, scipy, ...), and opens no file a
row names.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cellpipe.config.base import StageSettings
from cellpipe.config.sections import (
    EvaluateSettings,
    ExportSettings,
    IngestSettings,
    MeasureSettings,
    NormalizeSettings,
    OmeZarrSettings,
    QCSettings,
    ReportSettings,
    SegmentSection,
    Simulation3DSettings,
    SimulationSettings,
    TrackSettings,
    TrainSettings,
)
from cellpipe.layout import RESERVED_SAMPLE_NAMES, SIMULATED_MOVIE, TRAINED_MODEL

__all__ = [
    "SAMPLE_NAME",
    "SAMPLE_NAME_PATTERN",
    "ConfigError",
    "PipelineConfig",
    "SampleRow",
    "SheetLine",
    "Warn",
    "check_duplicate_keys",
    "check_sheet_schema",
    "load_config",
    "read_sample_sheet",
    "schema_values",
    "simulated_name",
]

logger = logging.getLogger(__name__)

Warn = Callable[[str], None]
"""Where :func:`cellpipe.preflight.check_samples` sends a warning (one line naming the row, the file and what is off)."""


SAMPLE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
SAMPLE_NAME = re.compile(f"^{SAMPLE_NAME_PATTERN}$")


class ConfigError(ValueError):
    """A configuration or sample-sheet problem, explained in one line."""


class PipelineConfig(StageSettings):
    """Everything in ``config/config.yaml``; see ``config/README.md`` for each key."""

    samples: str = Field("config/samples.tsv", description="Path of the sample sheet (TSV), relative to the working directory.")
    results: str = Field(
        "results",
        description="Folder for all outputs, relative to the working directory or absolute; a folder of its own: "
        "not empty, not the working directory or a folder above it, not the file-system root.",
    )
    simulate: dict[str, SimulationSettings] = Field(
        default_factory=dict,
        description="Simulated movies the workflow generates itself, by name; a sample whose movie is "
        f"'{SIMULATED_MOVIE}' uses simulate.<name>.",
    )
    simulate3d: dict[str, Simulation3DSettings] = Field(
        default_factory=dict,
        description="Simulated 3-D movies (z-stacks over time, cellpipe.simulate3d) the workflow generates itself, by "
        f"name, at the same path as simulate's: a sample whose movie is '{SIMULATED_MOVIE}' uses simulate3d.<name>. "
        "A name is in simulate or in simulate3d, not both.",
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    normalize: NormalizeSettings = Field(default_factory=NormalizeSettings)
    segment: SegmentSection = Field(default_factory=SegmentSection)
    track: TrackSettings = Field(default_factory=TrackSettings)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    ome_zarr: OmeZarrSettings = Field(default_factory=OmeZarrSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    qc: QCSettings = Field(default_factory=QCSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    train: dict[str, TrainSettings] = Field(
        default_factory=dict,
        description=f"Cellpose models the workflow trains, by name; written to '{TRAINED_MODEL}' by rule train_cellpose.",
    )

    @field_validator("results")
    @classmethod
    def _results_folder_of_its_own(cls, value: str) -> str:
        # The workflow writes one folder per sample and logs/, benchmarks/, models/, simulated/,
        # summary.html at the top of the results folder.  "" would make that the file-system root
        # (/logs/, ...).  The working folder (".", "a/..") or a folder above it
        # would mix outputs with config/, the movies and the workflow's own files, and a sample
        # named like one of them (config, data, resources) would write into it: refused too.
        # Any other folder, absolute or relative, inside or outside the working folder, is allowed.
        """Refuse a results folder that is the file-system root, the working folder or a folder above it."""
        if not value.strip():
            raise ValueError("is empty, which would put every output at the file-system root (/logs, ...); name a folder, e.g. 'results'")
        folder = os.path.abspath(value)
        if os.path.dirname(folder) == folder:
            raise ValueError(f"the results folder would be the file-system root {folder}; name a folder of its own, e.g. 'results'")
        cwd = os.getcwd()
        if os.path.commonpath([folder, cwd]) == folder:
            raise ValueError(
                f"the results folder would be the working folder {cwd}"
                + ("" if folder == cwd else " or a folder above it")
                + ", mixing outputs with config/ and the inputs; name a folder of its own, e.g. 'results'"
            )
        return value

    @model_validator(mode="after")
    def _simulated_names_are_unique(self) -> PipelineConfig:
        """Refuse a name under both ``simulate`` and ``simulate3d``: the two write to the same paths."""
        both = sorted(set(self.simulate) & set(self.simulate3d))
        if both:
            raise ValueError(f"simulate and simulate3d both name {', '.join(both)}: each simulated movie has one name")
        return self

    @field_validator("simulate", "simulate3d", "train")
    @classmethod
    def _names_are_safe(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Refuse an entry name that could not be part of a file name (letters, digits, ``.``, ``_``, ``-`` only)."""
        for name in value:
            if not SAMPLE_NAME.match(name):
                raise ValueError(f"name {name!r} may only contain letters, digits, '.', '_' and '-'")
        return value


class SampleRow(BaseModel):
    """One row of the sample sheet: one movie."""

    model_config = ConfigDict(extra="forbid")

    sample: str = Field(
        description="Unique name; letters, digits, '.', '_', '-' (used in output paths); not a name the workflow "
        f"writes at the top of the results folder ({', '.join(RESERVED_SAMPLE_NAMES)}, in any case)."
    )
    movie: str = Field(description="Path of the raw movie: TIFF stack, OME-TIFF, CTC folder of tNNN.tif, OME-Zarr "
                       "image (NGFF 0.4 or 0.5, a .ome.zarr folder), a Micro-Manager dataset folder "
                       "(<prefix>_MMStack_<position>.ome.tif files), or a Zeiss .czi, Nikon .nd2 or Leica .lif file "
                       "(read through bioio). A file of several positions (scenes) needs a positions column.")
    format: Literal["auto", "tiff", "ome-tiff", "ctc", "ome-zarr", "czi", "nd2", "lif", "micromanager"] = Field(
        "auto", description="Movie format; auto guesses from the path (its ending, and a folder's Zarr metadata or "
        "Micro-Manager file names)."
    )
    axes: str | None = Field(None, description="Axes of a TIFF stack, e.g. TYX, TCYX, CTYX; default: from the file "
                             "(an OME-Zarr's multiscales axes).")
    pixel_size_um: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Pixel size in µm; overrides the file's metadata."
    )
    frame_interval_min: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Time between frames in minutes; overrides the file's metadata."
    )
    pixel_size_z_um: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Step between z-planes in µm of a z-stack movie kept in 3-D "
        "(ingest.z_projection 'keep'); overrides the file's metadata."
    )
    channel_names: str | None = Field(None, description="Comma-separated channel names; default: from the file or ch0, ch1, ...")
    ground_truth: str | None = Field(
        None,
        description="Ground truth for rule evaluate_sample: a CTC folder (TRA/, optional SEG/), a folder of "
        "per-frame label TIFFs (frame number in the name) or a (T, Y, X) label TIFF.",
    )
    positions: str | None = Field(
        None,
        description="For a file of several positions (an OME-TIFF's OME Images, a CZI, ND2 or LIF file's scenes, the "
        "images of an OME-Zarr bioformats2raw layout, the fields of an OME-Zarr plate's wells or of one well, named "
        "<row><column>_<field> such as B03_0, the position files of a Micro-Manager dataset folder, named by their "
        "position label such as Pos0): "
        "'all', or a comma-separated list of positions, each its 0-based index or its name in the file. Before any "
        "job runs, the row becomes one sample per position, named <sample>_<position's name> (its index where the "
        "file names none), each reading that position only; the positions of one row must be alike in size and length "
        "(frames, channels, z-planes, px), and one of another size goes on a row of its own; a ground_truth belongs to "
        "one position, so a row with one lists one.",
    )
    scene: int | None = Field(
        None,
        ge=0,
        description="The position (0-based) of a file of several that this sample reads; set on each sample a "
        "positions column makes, or given instead of positions to read one position.",
    )
    diameter_um: float | Literal["auto"] | None = Field(
        None,
        description="Expected cell diameter of this movie in µm, or 'auto' to estimate it from the movie "
        "(segment.estimate_diameter); replaces segment.diameter_um / diameter_px for this sample.",
    )

    @field_validator("sample")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        """Refuse a sample name that is not safe in a path or that the workflow's own outputs take."""
        if not SAMPLE_NAME.match(value):
            raise ValueError("may only contain letters, digits, '.', '_' and '-', and must not start with '.' or '-'")
        if value.lower() in RESERVED_SAMPLE_NAMES:
            raise ValueError(
                f"{value!r} is taken by what the workflow writes at the top of the results folder; "
                f"reserved names: {', '.join(RESERVED_SAMPLE_NAMES)}"
            )
        return value

    @field_validator("axes")
    @classmethod
    def _axes_letters(cls, value: str | None) -> str | None:
        """The ``axes`` letters in upper case, each of T, C, Z, Y, X, S at most once."""
        if value is None:
            return None
        value = value.upper()
        if not re.fullmatch(r"[TCZYXS]+", value) or len(set(value)) != len(value):
            raise ValueError(f"axes {value!r}: use the letters T, C, Z, Y, X (S for RGB) once each")
        return value

    @field_validator("diameter_um")
    @classmethod
    def _finite_diameter(cls, value: float | str | None) -> float | str | None:
        """Refuse a ``diameter_um`` (µm) that is not a finite positive number or ``auto``."""
        if isinstance(value, float) and not (math.isfinite(value) and value > 0):
            raise ValueError("must be a positive number of µm or 'auto'")
        return value

    def segment_overrides(self) -> dict[str, Any]:
        """The segment settings this row replaces (its ``diameter_um``), as keys of ``segment``.

        Returns
        -------
        dict
            ``{"estimate_diameter": True}`` for ``auto``; ``{"diameter_um": µm, "diameter_px": None}`` for
            a number; empty when the row sets none.
        """
        if self.diameter_um == "auto":
            return {"estimate_diameter": True}
        if self.diameter_um is not None:
            return {"diameter_um": float(self.diameter_um), "diameter_px": None}
        return {}

    @property
    def channels(self) -> list[str]:
        """The row's ``channel_names`` as a list (split at commas, stripped); empty when not given."""
        return [c.strip() for c in self.channel_names.split(",")] if self.channel_names else []


def _describe(err: ValidationError, where: str) -> str:
    """One line for the first error of ``err``, prefixed with ``where``, counting the others."""
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


def load_config(
    raw: dict[str, Any] | None, source: str = "config", files: Sequence[str | os.PathLike[str]] = ()
) -> PipelineConfig:
    """Validate the raw config mapping.

    Parameters
    ----------
    raw : dict or None
        The configuration as Snakemake read it; None counts as empty.
    source : str
        Named at the start of an error message.
    files : sequence of str or os.PathLike
        The YAML files ``raw`` was read from (Snakemake's ``workflow.configfiles``), checked for
        duplicate keys first (:func:`check_duplicate_keys`).

    Returns
    -------
    PipelineConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        Naming the first bad key.
    """
    for file in files:
        check_duplicate_keys(file)
    try:
        return PipelineConfig.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None


def check_duplicate_keys(path: str | os.PathLike[str]) -> None:
    """Refuse a YAML file in which a mapping has a key twice, at any depth.

    YAML loaders (PyYAML, hence Snakemake's ``configfile``) keep the last of two equal keys, so a
    second ``segment:`` block would silently replace the first.  Snakemake has already read the
    file; it is composed again here (nodes only, no values built: a few ms for a config) because
    only the nodes still know where each key was.  A file that is not valid YAML or not there is
    left to Snakemake, which reports it before the Snakefile runs.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file.

    Raises
    ------
    ConfigError
        Naming the key, the file and the two lines.
    """
    import yaml

    from cellpipe.io import tables

    try:
        root = yaml.compose(tables.read_text(path), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    todo: list[tuple[yaml.Node | None, str]] = [(root, "")]
    while todo:
        node, prefix = todo.pop()
        if isinstance(node, yaml.SequenceNode):
            todo.extend((item, f"{prefix}{i}.") for i, item in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key != "<<":  # "<<" merges a mapping, it is no key
                if key in first_line:
                    raise ConfigError(
                        f"{path}: key {prefix}{key} appears twice (lines {first_line[key]} and {line}); "
                        "YAML would keep only the second, so remove or merge one"
                    )
                first_line[key] = line
            todo.append((value_node, f"{prefix}{key}."))


def simulated_name(movie: str, config: PipelineConfig) -> str | None:
    """The ``simulate`` or ``simulate3d`` entry that produces a movie.

    Parameters
    ----------
    movie : str
        The sample sheet's movie path.
    config : PipelineConfig
        The configuration (its ``results`` folder and simulations).

    Returns
    -------
    str or None
        The entry's name, or None when ``movie`` is a user's file.
    """
    for name in [*config.simulate, *config.simulate3d]:
        if os.path.normpath(movie) == os.path.normpath(SIMULATED_MOVIE.format(results=config.results, name=name)):
            return name
    return None


@dataclass(frozen=True)
class SheetLine:
    """One row of the sample sheet as the user wrote it, validated; :func:`read_sample_sheet` gives them.

    Attributes
    ----------
    line : int
        Its line number in the file (1-based; a row whose quoted field spans lines: its last line).
    where : str
        How messages name it: ``<sheet> line <n> (sample '<name>')``.
    row : SampleRow
        Its values; a ``positions`` row becomes one sample per position later
        (:func:`cellpipe.positions.expand_positions`).
    cells : dict of str to str
        The row's non-empty cells as written (stripped), by column.
    """

    line: int
    where: str
    row: SampleRow
    cells: dict[str, str]


def read_sample_sheet(path: str | os.PathLike[str]) -> Iterator[SheetLine]:
    """Read the sample sheet: its header line now, each row validated as it is asked for.

    No file a row names is opened: :func:`cellpipe.preflight.check_samples` expands positions, refuses
    duplicate sample names and checks the files, row by row in the sheet's order, so the first problem
    of a sheet is the one reported.

    Parameters
    ----------
    path : str or os.PathLike
        The sample sheet (tab-separated, UTF-8; blank and ``#`` lines left out).

    Returns
    -------
    iterator of SheetLine
        The rows in the file's order.

    Raises
    ------
    ConfigError
        At the call: no sheet, not UTF-8, unknown, repeated or missing columns.  While iterating: a row
        with more fields than columns or an invalid value (naming its line and sample).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sample sheet not found: {path}")
    # Split as open(newline="") would (str.splitlines also splits at form feeds and other characters).
    # Blank and comment lines are left out, so each kept line's number in the file is kept beside it:
    # messages name the line a user sees in an editor.
    numbered = [
        (number, ln)
        for number, ln in enumerate(io.StringIO(_sheet_text(path), newline=""), start=1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    reader = csv.DictReader([ln for _, ln in numbered], delimiter="\t")
    columns = reader.fieldnames or []
    allowed = set(SampleRow.model_fields)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise ConfigError(f"{path}: unknown column {unknown[0]!r} (allowed: {', '.join(SampleRow.model_fields)})")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:  # csv.DictReader would keep the last of the two values without a word
        raise ConfigError(f"{path}: column {twice[0]!r} appears {columns.count(twice[0])} times in the header line")
    for required in ("sample", "movie"):
        if required not in columns:
            raise ConfigError(f"{path}: missing column {required!r}")
    return _sheet_lines(reader, [n for n, _ in numbered], path)


def _sheet_lines(reader: csv.DictReader[str], line_numbers: list[int], path: Path) -> Iterator[SheetLine]:
    """The sheet's rows, validated; ``line_numbers`` gives the file's line number of each line the reader reads."""
    for record in reader:
        line_no = line_numbers[reader.line_num - 1]  # the record's last line (a quoted field may span lines)
        if None in record:
            raise ConfigError(f"{path} line {line_no}: more fields than columns (check the tabs)")
        values = {k: v.strip() for k, v in record.items() if v is not None and v.strip() != ""}
        where = f"{path} line {line_no} (sample {values.get('sample', '?')!r})"
        try:
            sheet_row = SampleRow.model_validate(values)
        except ValidationError as err:
            raise ConfigError(_describe(err, where)) from None
        yield SheetLine(line_no, where, sheet_row, values)


def _json_types(prop: dict[str, Any]) -> set[str]:
    """The JSON types a schema property allows, from its ``type`` and those of its ``anyOf`` entries."""
    types = {prop["type"]} if isinstance(prop.get("type"), str) else set(prop.get("type") or ())
    for option in prop.get("anyOf", ()):
        types |= _json_types(option)
    return types


def schema_values(cells: dict[str, str], schema: dict[str, Any]) -> dict[str, Any]:
    """A sheet row's cells as the JSON values its schema describes: a number where the column takes one, else text.

    A sheet holds text only.  Reading it as a table would guess types from the text (a sample named ``01``
    becomes the number 1, ``positions`` ``2`` the number 2), which the schema rightly refuses; here each
    cell becomes a number only where its column's schema allows a number (an integer where it allows only
    integers: ``1`` or ``1.0``), as the models read it.

    Parameters
    ----------
    cells : dict of str to str
        Column -> the cell's text (:attr:`SheetLine.cells`).
    schema : dict
        The JSON schema of a row (``workflow/schemas/samples.schema.json``).

    Returns
    -------
    dict of str to str, int or float
        The row to validate with the schema.
    """
    properties = schema.get("properties", {})
    out: dict[str, Any] = {}
    for column, text in cells.items():
        types = _json_types(properties.get(column, {}))
        value: Any = text
        if types & {"number", "integer"}:
            try:
                number = float(text)
            except ValueError:
                number = None
            if number is not None and "number" in types:
                value = number
            elif number is not None and number.is_integer():
                value = int(number)
        out[column] = value
    return out


def check_sheet_schema(path: str | os.PathLike[str], schema_file: str | os.PathLike[str]) -> None:
    """Validate every row of the sample sheet, as written, with the JSON schema of a row.

    Editors and other tools read the schema; this keeps the sheets the workflow runs within it.  The
    rows should first pass the models (:func:`read_sample_sheet`), whose messages explain more.

    Parameters
    ----------
    path : str or os.PathLike
        The sample sheet.
    schema_file : str or os.PathLike
        The JSON schema of one row (``workflow/schemas/samples.schema.json``).

    Raises
    ------
    ConfigError
        One line naming the sheet, line and sample, the column, what the schema says and the schema file.
    """
    import json

    import jsonschema

    from cellpipe.io import tables

    schema = json.loads(tables.read_bytes(Path(schema_file)))
    validator = jsonschema.Draft202012Validator(schema)
    for line in read_sample_sheet(path):
        values = schema_values(line.cells, schema)
        if validator.is_valid(values):
            continue
        error = jsonschema.exceptions.best_match(validator.iter_errors(values))
        if error is not None:
            column = ".".join(str(p) for p in error.absolute_path) or "row"
            raise ConfigError(f"{line.where}: {column}: {error.message} ({Path(schema_file).name})")


_UTF_BOMS = (
    # Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16 ('Unicode text')"),
    (b"\xfe\xff", "UTF-16 ('Unicode text')"),
)


def _sheet_text(path: Path) -> str:
    """The sample sheet's text: UTF-8, with or without the byte-order mark spreadsheet programs write.

    Excel's "CSV UTF-8" starts the file with a BOM, which would otherwise become part of the first
    column's name; its "Unicode text" is UTF-16 and other exports are Latin-1 or Windows-1252.  Only UTF-8 is read: guessing
    another encoding could silently change a path's accented letters, so the others are refused with
    the encoding (or the first byte that is not UTF-8, and its line) and how to save the sheet.
    """
    from cellpipe.io import tables

    data = tables.read_bytes(path)
    save_as = "save the sheet as UTF-8 (tab-separated) text"
    for bom, encoding in _UTF_BOMS:
        if data.startswith(bom):
            raise ConfigError(f"{path}: the sample sheet is {encoding}, not UTF-8; {save_as}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\0" in data:  # UTF-16 without a byte-order mark: every other byte of ASCII text is 0
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x00 at line {line}, UTF-16 without a byte-order mark?); {save_as}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at line {line}); {save_as}") from None
