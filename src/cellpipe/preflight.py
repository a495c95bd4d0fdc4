"""The checks of the sample sheet's files, from their headers, before any job runs.

The sample sheet becomes the workflow's samples in :func:`check_samples`: each row read and validated
(:func:`cellpipe.config.read_sample_sheet`), its positions made samples, and, when it checks files, each
sample's files checked (:func:`_check_row_files`):
the movie must be a complete, readable 2D time-lapse (or a z-stack that ``ingest.z_projection``
makes one) with a pixel size (µm) and frame interval (minutes), the channel settings must name
channels it has, and its ground truth must match its frames.  No pixels are read.  Rows that passed
are kept in :mod:`cellpipe.runtime.checked_files` so that unchanged files are not read again, and
each row's :class:`MovieSize` sizes its jobs' memory requests (:mod:`cellpipe.resources`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellpipe.config import ConfigError, PipelineConfig, SampleRow, read_sample_sheet, simulated_name
from cellpipe.ingest import IngestError, channel_index, check_shape, resolve_metadata, resolve_z_step
from cellpipe.layout import SIMULATED_TRUTH
from cellpipe.positions import expand_positions

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cellpipe.config.pipeline import SheetLine, Warn
    from cellpipe.runtime.checked_files import CheckedFiles


@dataclass(frozen=True)
class MovieSize:
    """A movie's size from its header; the workflow sizes its jobs' memory requests with it.

    Read by :mod:`cellpipe.resources` and ``workflow/rules/common.smk``.

    Attributes
    ----------
    shape_tcyx : tuple of int
        (T, C, Y, X): frames, channels and px.
    dtype : str
        Pixel type, a numpy name such as 'uint16'.
    pixel_size_um : float
        The pixel size the workflow will use (µm; sheet, file or config default).
    z_planes : int
        Planes per z-stack in the raw movie (1 without z).
    z_step_um : float or None
        µm between planes of a movie kept in 3-D (``ingest.z_projection: keep``), as ingest will take it: the
        sample sheet's ``pixel_size_z_um``, else the file's, else ``ingest.default_pixel_size_z_um``
        (:func:`cellpipe.ingest.resolve_z_step`); None for a movie projected to 2-D or of one plane.
    """

    shape_tcyx: tuple[int, int, int, int]
    dtype: str
    pixel_size_um: float
    z_planes: int = 1
    """Planes per z-stack in the raw movie (ingest reads one stack at a time and projects it)."""
    z_step_um: float | None = None
    """µm between planes of a movie kept in 3-D; 3-D segmentation's memory request grows with it."""

    @property
    def frame_megabytes(self) -> float:
        """One frame, every channel, in its pixel type (MB, 10⁶ bytes)."""
        import numpy as np

        _, c, y, x = self.shape_tcyx
        return c * y * x * np.dtype(self.dtype).itemsize / 1e6

    @property
    def plane_megapixels(self) -> float:
        """One plane (Y × X) in megapixels (10⁶ px)."""
        return self.shape_tcyx[2] * self.shape_tcyx[3] / 1e6

    @property
    def stack_megabytes(self) -> float:
        """One z-stack of the raw movie (Z planes of one channel) in its pixel type (MB, 10⁶ bytes); 0 without z."""
        import numpy as np

        if self.z_planes <= 1:
            return 0.0
        return self.z_planes * self.shape_tcyx[2] * self.shape_tcyx[3] * np.dtype(self.dtype).itemsize / 1e6


def check_samples(
    path: str | os.PathLike[str],
    config: PipelineConfig,
    check_files: bool = True,
    checked_record: str | os.PathLike[str] | None = None,
    warn: Warn | None = None,
    sizes: dict[str, MovieSize] | None = None,
    reads: dict[str, list[str]] | None = None,
) -> list[SampleRow]:
    """The samples of the sample sheet, each row validated and, with ``check_files``, its files checked.

    With ``check_files`` a user's movie is also checked from its headers (one per file; no pixels
    are read): readable and complete TIFF(s), axes making a 2-D time-lapse, a CTC folder numbered
    without gaps with frames of one size, frames of at least 8 px, a pixel size (µm) and frame
    interval (minutes) from the row, the file or the config, channel names matching its channels;
    and its ground truth must cover its frames with masks of its frame size.  Pixel values (NaN) are
    checked by the ingest job.  A training dataset's channel given by name
    (``train.<model>.datasets[i].channel``) must be one of its images' channel names
    (:func:`check_training_channels`).  Rows are taken in the sheet's order, each read, expanded and
    checked before the next, so the first problem of the sheet is the one reported.

    Parameters
    ----------
    path : str or os.PathLike
        The sample sheet (tab-separated, UTF-8; :func:`cellpipe.config.read_sample_sheet`).
    config : cellpipe.config.PipelineConfig
        The validated configuration.
    check_files : bool
        Check that the files exist and their headers as above; False in a cluster job, where the
        start of the workflow has checked them.
    checked_record : str or os.PathLike or None
        A file recording the rows whose files passed (:mod:`cellpipe.runtime.checked_files`); a
        recorded row whose files are unchanged is not checked again.  None: every row is checked.
    warn : callable or None
        Receives one line per thing the user should know that is not an error (the sheet's pixel
        size or frame interval far from the file's, a sheet pixel size overriding non-square file
        metadata; :func:`cellpipe.ingest.resolve_metadata`), prefixed like the errors with the sheet,
        line and sample and the movie.  A row skipped by the record repeats the warnings it had when
        it was checked, so they are seen at every start.  None: logged as warnings.
    sizes : dict of str to MovieSize or None
        Filled when given, by sample: each row's :class:`MovieSize`, from the header just read, from
        the record for a row it skips, or from the ``simulate`` settings for a simulated movie; rows
        whose files are not checked (``check_files`` False) get none.
    reads : dict of str to list of str or None
        Filled when given, by sample: the other files each row's movie reads (the later files of a multi-file
        OME-TIFF; :func:`_other_files_read`), from the header just read or from the record.
        Without ``check_files`` they come from ``checked_record`` alone (no file is read, as in a cluster job):
        what the main process recorded at start-up, so the job's inputs are the main process's.

    Returns
    -------
    list of SampleRow
        One row per sample, positions expanded (:func:`cellpipe.positions.expand_positions`).

    Raises
    ------
    cellpipe.config.ConfigError
        Unknown or missing columns, invalid values, duplicate sample names and (with
        ``check_files``) movies or ground-truth folders that do not exist and are not made by the
        ``simulate`` rule, or that fail the checks above.
    """
    warn = warn if warn is not None else logger.warning
    sheet = Path(path)
    lines = read_sample_sheet(sheet)
    checked = None
    if check_files and checked_record is not None:
        from cellpipe.runtime.checked_files import CheckedFiles

        checked = CheckedFiles(checked_record)
    try:
        rows = _sheet_samples(lines, sheet, config, check_files, checked, warn, sizes if sizes is not None else {}, reads)
    except ConfigError:
        if checked is not None:
            checked.save(prune=False)  # the rows before the bad one need no check next time
        raise
    if checked is not None:
        checked.save()
    elif reads is not None and checked_record is not None:
        from cellpipe.runtime.checked_files import CheckedFiles

        record = CheckedFiles(checked_record)  # read only: this process checked nothing to add to it
        reads.update({row.sample: recorded_reads(row, config, record) for row in rows})
    if check_files:
        check_training_channels(config)
    return rows


def _sheet_samples(
    lines: Iterable[SheetLine], sheet: Path, config: PipelineConfig, check_files: bool, checked: CheckedFiles | None,
    warn: Warn, sizes: dict[str, MovieSize], reads: dict[str, list[str]] | None = None,
) -> list[SampleRow]:
    """The samples of the sheet's rows: positions expanded, names unique, files checked with ``check_files``."""
    rows: list[SampleRow] = []
    seen: dict[str, int] = {}
    for line in lines:
        expanded = expand_positions(line.row, line.where, checked)
        for row in expanded:
            if row.sample in seen:
                raise ConfigError(
                    f"{sheet} line {line.line} (sample {row.sample!r}): duplicate sample name (first on line {seen[row.sample]})"
                )
            seen[row.sample] = line.line
            if check_files:
                size = _check_row_files(row, sheet, line.line, config, checked, warn, reads)
                if size is not None:
                    sizes[row.sample] = size
            rows.append(row)
        if check_files and len(expanded) > 1:
            from cellpipe.positions import scene_names

            check_positions_alike(line.where, line.row.movie, expanded, sizes,
                                  lambda row=line.row: scene_names(row.movie, row.format, checked))
    if not rows:
        raise ConfigError(f"{sheet}: no samples")
    return rows


def _check_row_files(
    row: SampleRow, sheet: Path, line_no: int, config: PipelineConfig, checked: CheckedFiles | None, warn: Warn,
    reads: dict[str, list[str]] | None = None,
) -> MovieSize | None:
    """Check the files of ``row`` (see :func:`check_samples`); the movie's size, when known.

    ``reads``, when given, gets the other files the movie reads (:func:`_other_files_read`) under the row's sample,
    from the record for a row it skips; a movie the simulate rule writes reads none.
    """
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
    if sim is not None and sim in config.simulate3d:  # a 3-D movie the simulate rule writes (one channel)
        _check_channel_settings(where, row.movie, 1, config, row.channels or ["ch0"], "the sample sheet's channel_names"
                                if row.channels else "its default name")
        volume = config.simulate3d[sim]
        z, y, x = volume.shape_zyx
        if z > 1 and config.ingest.z_projection == "none":
            raise ConfigError(f"{where}: {row.movie}: simulate3d.{sim} makes stacks of {z} z-planes; set "
                              "ingest.z_projection to keep (3-D) or to one of max, mean, sum, best_focus")
        three_d = z > 1 and config.ingest.z_projection == "keep"
        return MovieSize((volume.n_frames, 1, y, x), "uint16", row.pixel_size_um or volume.voxel_size_um[2], z_planes=z,
                         z_step_um=(row.pixel_size_z_um or volume.voxel_size_um[0]) if three_d else None)
    if sim is not None:  # the simulate rule writes the movie: nothing to read yet, its size is in the config
        # the simulator writes one channel
        _check_channel_settings(where, row.movie, 1, config, row.channels or ["ch0"], "the sample sheet's channel_names"
                                if row.channels else "its default name")
        settings = config.simulate[sim]
        return MovieSize((settings.n_frames, 1, *settings.shape), "uint16", row.pixel_size_um or settings.pixel_size_um)
    files = [row.movie, *([row.ground_truth] if row.ground_truth else [])]
    key = row_record_key(row, config, checked) if checked else ""
    if checked is not None and checked.passed(key, files):
        if reads is not None:
            reads[row.sample] = checked.reads(key)
        for note in checked.notes(key):  # said again: a warning seen once and scrolled away is easily missed
            warn(f"{where}: {note}")
        recorded = checked.header(key)
        return MovieSize(*recorded) if recorded is not None else None
    from cellpipe.io.ground_truth import GroundTruthError, check_ground_truth_files
    from cellpipe.io.movies import MovieError, inspect_movie

    try:
        header = inspect_movie(row.movie, row.format, row.axes, allow_z=config.ingest.z_projection != "none", scene=row.scene,
                               reader=config.ingest.reader)
        check_shape(row.sample, row.movie, header.shape_tcyx, header.dtype)
        meta = resolve_metadata(
            row.sample, row.movie, header.shape_tcyx, header.pixel_size_um, header.frame_interval_min,
            list(header.channel_names), row.pixel_size_um, row.frame_interval_min, row.channels, config.ingest,
            file_pixel_size_y_um=header.pixel_size_y_um,
        )
        frame_shape = tuple(header.shape_tcyx[2:])
        z_step_um = None
        if config.ingest.z_projection == "keep" and header.z_planes > 1:  # a 3-D image: needs its z step
            z_step_um, _ = resolve_z_step(row.sample, row.movie, header.z_planes, header.pixel_size_z_um,
                                          row.pixel_size_z_um, config.ingest)
            frame_shape = (header.z_planes, *frame_shape)  # and its ground truth is (Z, Y, X) stacks
        if row.ground_truth:
            check_ground_truth_files(row.ground_truth, header.shape_tcyx[0], frame_shape)
        _check_channel_settings(where, row.movie, header.shape_tcyx[1], config, meta.channel_names,
                                _names_source(row.channels, header.channel_names))
    except IngestError as err:
        raise ConfigError(f"{where}: {row.movie}: {_one_line(err.problem)}") from None
    except (MovieError, GroundTruthError) as err:  # names the file
        what = "ground_truth " if isinstance(err, GroundTruthError) else ""
        raise ConfigError(f"{where}: {what}{_one_line(err)}") from None
    notes = [f"{row.movie}: {_one_line(text)}" for text in meta.warnings]
    for note in notes:
        warn(f"{where}: {note}")
    size = MovieSize(tuple(int(n) for n in header.shape_tcyx), str(header.dtype), meta.pixel_size_um,  # type: ignore[arg-type]
                     header.z_planes, z_step_um)
    other = _other_files_read(row) if checked is not None or reads is not None else []
    if reads is not None:
        reads[row.sample] = other
    if checked is not None:
        checked.record(key, files, notes,
                       (size.shape_tcyx, size.dtype, size.pixel_size_um, size.z_planes, size.z_step_um), reads=other)
    return size


def describe_size(size: MovieSize) -> str:
    """A movie's size in words: frames, channels, z-planes per stack (only when more than one) and plane (px).

    Parameters
    ----------
    size : MovieSize
        The movie's size from its header.

    Returns
    -------
    str
        For example ``'5 frames, 2 channels, 64 x 64 px'``.
    """
    t, c, y, x = size.shape_tcyx
    z = f", {size.z_planes} z-planes" if size.z_planes > 1 else ""
    return f"{t} frame{'s' if t != 1 else ''}, {c} channel{'s' if c != 1 else ''}{z}, {y} x {x} px"


def check_positions_alike(
    where: str, movie: str, rows: Sequence[SampleRow], sizes: dict[str, MovieSize], names: Callable[[], Sequence[str]]
) -> None:
    """Refuse the positions one sheet row chose when they differ in size or length, before any job runs.

    A row's positions are taken as fields of one experiment, alike but for where they were imaged: a position of
    other frames, channels, z-planes or plane size is most often one whose acquisition stopped early, or a file that
    holds two experiments, and the summary would set its samples beside the others as if alike.  Each position on a
    row of its own (``positions`` naming it alone) is read as any one movie, whatever its size.

    Parameters
    ----------
    where : str
        Sheet, line and sample of the row; starts the error message.
    movie : str
        Path of the file, named in the error.
    rows : sequence of SampleRow
        The samples the row became, one per chosen position (``scene`` set).
    sizes : dict of str to MovieSize
        Each sample's size from its header (:func:`_check_row_files`); a sample missing here (size unknown) is
        not compared.
    names : callable
        Returns the file's name of each position, by index ('' where unnamed), named in the error; called only
        for the error, so positions alike cost no listing of the file.

    Raises
    ------
    cellpipe.config.ConfigError
        One line naming ``where``, the file, each size and the positions of that size, and how to run them.
    """
    groups: dict[tuple[tuple[int, ...], int], tuple[MovieSize, list[int]]] = {}  # (T, C, Y, X), z -> positions
    for row in rows:
        size = sizes.get(row.sample)
        if size is not None and row.scene is not None:
            groups.setdefault((tuple(size.shape_tcyx), size.z_planes), (size, []))[1].append(row.scene)
    if len(groups) < 2:
        return
    position_names = list(names())

    def listed(indices: list[int]) -> str:
        shown = [f"{i} {position_names[i]!r}" if i < len(position_names) and position_names[i] else str(i)
                 for i in indices[:5]]
        more = f", ... ({len(indices)} in all)" if len(indices) > 5 else ""
        return f"position{'s' if len(indices) > 1 else ''} {', '.join(shown)}{more}"

    found = "; ".join(f"{listed(indices)}: {describe_size(size)}" for size, indices in groups.values())
    example = list(groups.values())[1][1][0]
    raise ConfigError(
        f"{where}: {movie}: its positions differ in size or length ({found}); to run them anyway, give each position "
        f"a sheet row of its own with its index in positions (e.g. positions: {example}), or list only positions alike"
    )


def row_record_key(row: SampleRow, config: PipelineConfig, checked: CheckedFiles) -> str:
    """The key of ``row`` in the record of checked files: its values, the ``ingest`` settings and the channel settings.

    The record keeps no channel count: the settings checked against it are part of the key instead, so changing
    them checks every movie once more (see :func:`_check_channel_settings`).

    Parameters
    ----------
    row : SampleRow
        A sample sheet row.
    config : PipelineConfig
        The run's configuration.
    checked : CheckedFiles
        The record of checked files.

    Returns
    -------
    str
        The record's key for the row.
    """
    checked_against = {**config.ingest.model_dump(mode="json"), **_channel_settings(config)}
    return checked.key(row.model_dump(mode="json"), checked_against)


def recorded_reads(row: SampleRow, config: PipelineConfig, checked: CheckedFiles) -> list[str]:
    """The other files the movie of ``row`` reads, as the record of checked files has them (no file is read).

    For a cluster job, which checks no header: the main process recorded them at start-up, before any job, so the
    job names the same inputs.

    Parameters
    ----------
    row : SampleRow
        A sample sheet row.
    config : PipelineConfig
        The run's configuration.
    checked : CheckedFiles
        The record of checked files.

    Returns
    -------
    list of str
        Paths of the other files; empty for a simulated movie and for a row not recorded (no record, or
        the row or settings changed since it was recorded).
    """
    if simulated_name(row.movie, config) is not None:
        return []
    return checked.reads(row_record_key(row, config, checked))


SAM_3D_REFUSAL = (
    "Cellpose-SAM does not segment 3-D movies in cellpipe (untested there); use segment.cellpose.network: "
    "cellpose3 (segment.cellpose.mode_3d: stitch or do_3d) or segment.method: classical"
)
"""Why a 3-D movie is not segmented with ``segment.cellpose.network: cellpose-sam`` (the start-up check and the
job say it)."""


def volume_refusal(
    sample: str, movie: str, size: MovieSize | None, config: PipelineConfig
) -> str | None:
    """Why a 3-D sample cannot be segmented, or None.

    Its image is 3-D (a movie of several z-planes per stack, ``ingest.z_projection: keep``),
    ``segment.method`` is cellpose and ``segment.cellpose.network`` is 'cellpose-sam': only Cellpose 3 (CPnet,
    the shipped model; ``segment.cellpose.mode_3d`` 'stitch' or 'do_3d') and the classical method segment
    stacks, each with a given or an estimated diameter (:func:`cellpipe.segment.estimate_diameter_stacks`).
    The workflow asks this of every sample whose segmentation a run needs before any job runs.

    Parameters
    ----------
    sample : str
        The sample's name.
    movie : str
        Path of its movie, named in the reason.
    size : MovieSize or None
        Its size from the header; None when unknown (no refusal).
    config : cellpipe.config.PipelineConfig
        The run's configuration.

    Returns
    -------
    str or None
        One line giving the reason, or None when the sample can be segmented.
    """
    if size is None or size.z_planes <= 1 or config.ingest.z_projection != "keep":
        return None
    where = f"sample {sample!r} ({movie}): a 3-D movie ({size.z_planes} z-planes per stack, ingest.z_projection: keep); "
    if config.segment.method == "cellpose" and config.segment.cellpose.network != "cellpose3":
        return where + SAM_3D_REFUSAL
    return None


def _other_files_read(row: SampleRow) -> list[str]:
    """The files beside a movie file that it reads too (the later files of a multi-file OME-TIFF).

    For the record of checked files; none for a folder, whose signature already covers every file below it.
    """
    from cellpipe.io.movies import MovieError, movie_files

    movie = Path(row.movie)
    if movie.is_dir():
        return []
    try:
        read = movie_files(movie, row.format, row.scene)
    except MovieError:  # checked just before: not expected; the movie alone is then its signature
        return []
    return [os.path.join(os.path.dirname(row.movie), rel) for rel in read if rel != movie.name]


def check_training_channels(config: PipelineConfig) -> None:
    """Refuse a training dataset naming a channel its images do not have, before any job runs.

    Checks ``train.<model>.datasets[i].channel`` against the images' headers
    (:func:`cellpipe.io.annotations.annotation_channel`): inside train_cellpose it would fail only
    after the job started, on a GPU.

    Parameters
    ----------
    config : cellpipe.config.PipelineConfig
        The run's configuration.

    Raises
    ------
    cellpipe.config.ConfigError
        One line naming the config key, the images and their channel names.
    """
    from cellpipe.io.annotations import AnnotationError, annotation_channel

    for model, settings in config.train.items():
        for i, dataset in enumerate(settings.datasets):
            if isinstance(dataset.channel, str):
                try:
                    annotation_channel(dataset.images, dataset.channel)
                except AnnotationError as err:
                    raise ConfigError(f"config train.{model}.datasets[{i}].channel: {_one_line(err)}") from None


def _channel_settings(config: PipelineConfig) -> dict[str, Any]:
    """The settings that name channels of every movie, by config key."""
    return {"segment.channel": config.segment.channel, "measure.channel_names": config.measure.channel_names}


def _names_source(sheet: Sequence[str], file: Sequence[str]) -> str:
    """Where a movie's channel names come from, as ingest resolves them (cellpipe.ingest.resolve_metadata)."""
    if sheet:
        return "the sample sheet's channel_names"
    return "the file's channel names" if file else "the default names, as the file names none"


def _check_channel_settings(
    where: str, movie: str, n_channels: int, config: PipelineConfig, names: Sequence[str] = (), names_from: str = ""
) -> None:
    """Refuse channel settings the movie's channel count and names (from its header) cannot satisfy.

    Inside segment_cells or measure_cells these would fail only after ingest and normalize, and
    Snakemake would retry the job (with more memory and, for segmentation, on a GPU) although a retry
    cannot help.

    Parameters
    ----------
    where : str
        Sheet, line and sample; starts the error message.
    movie : str
        Path of the movie, named in the error.
    n_channels : int
        Channels in the movie.
    config : cellpipe.config.PipelineConfig
        The run's configuration.
    names : sequence of str
        The movie's channel names as ingest will write them; a ``segment.channel`` given by name must
        be one of them.
    names_from : str
        Where ``names`` come from, in words for the error.

    Raises
    ------
    cellpipe.config.ConfigError
        A channel setting the movie cannot satisfy.
    """
    count = f"{n_channels} channel{'s' if n_channels != 1 else ''}"
    channel = config.segment.channel
    if isinstance(channel, str):
        if channel_index(channel, names) is None:
            raise ConfigError(
                f"{where}: config segment.channel {channel!r} is not a channel of {movie}; its channels "
                f"({names_from}): {', '.join(repr(n) for n in names)}"
            )
    elif channel >= n_channels:
        raise ConfigError(
            f"{where}: config segment.channel is {config.segment.channel} but {movie} has {count} "
            f"(0-based: {', '.join(str(c) for c in range(n_channels))})"
        )
    names = config.measure.channel_names
    if names is not None and len(names) != n_channels:
        raise ConfigError(
            f"{where}: config measure.channel_names gives {len(names)} name{'s' if len(names) != 1 else ''} "
            f"({', '.join(names)}) but {movie} has {count}"
        )


def _one_line(err: BaseException | str) -> str:
    """``err``'s message with every run of whitespace, newlines included, made one space."""
    return " ".join(str(err).split())
