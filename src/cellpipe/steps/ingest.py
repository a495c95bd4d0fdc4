"""Entry point of the ``ingest_movie`` rule: a raw movie, checked, as OME-Zarr in µm and minutes.

The image is (t, c, y, x), or (t, c, z, y, x) for a z-stack movie kept in 3-D.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from cellpipe.config import IngestSettings
from cellpipe.ingest import FOCUS_MEASURE, PixelCheck, project_z, projected_dtype, resolve_metadata, resolve_z_step
from cellpipe.io import omezarr
from cellpipe.io.movies import open_movie

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def ingest_movie_step(row: dict[str, Any], movie: PathLike, settings: dict[str, Any], image: PathLike) -> None:
    """:func:`ingest_movie_file` for one row of the sample sheet, as rule ingest_movie hands it.

    Parameters
    ----------
    row : dict
        A :class:`cellpipe.config.SampleRow` as a mapping: the sample's name, the movie's format and
        axes, pixel size (µm), frame interval (minutes) and channel names, each None or empty where the
        sheet leaves it to the file, and the position (``scene``, 0-based) of a file of several that
        the sample reads.
    movie : str or os.PathLike
        The raw movie's file or folder.
    settings : dict
        The ``ingest`` config section (:class:`cellpipe.config.IngestSettings`).
    image : str or os.PathLike
        The ``image.ome.zarr`` to write.
    """
    from cellpipe.config import SampleRow

    sample_row = SampleRow.model_validate(row)
    ingest_movie_file(
        sample=sample_row.sample,
        movie=movie,
        fmt=sample_row.format,
        axes=sample_row.axes,
        pixel_size_um=sample_row.pixel_size_um,
        frame_interval_min=sample_row.frame_interval_min,
        channel_names=sample_row.channels,
        settings=settings,
        image=image,
        scene=sample_row.scene,
        pixel_size_z_um=sample_row.pixel_size_z_um,
    )


def ingest_movie_file(
    sample: str,
    movie: PathLike,
    fmt: str,
    axes: str | None,
    pixel_size_um: float | None,
    frame_interval_min: float | None,
    channel_names: list[str],
    settings: dict[str, Any],
    image: PathLike,
    scene: int | None = None,
    pixel_size_z_um: float | None = None,
) -> None:
    """Read a raw movie, check it, and write it as OME-Zarr (t, c, y, x) with physical units.

    The movie is read and written one frame at a time (:func:`cellpipe.io.movies.open_movie`), so
    memory does not grow with its length; a frame with NaN pixels stops the job and no image is left.
    The image's ``cellpipe`` attributes record ``source_checksum``: the sha256 of the bytes read
    (``type, bytes, sha256``, and ``files`` for a CTC folder, as provenance describes the movie), and ``reader``:
    what read the movie (``used``: ``cellpipe`` or the bioio plugin's package, :attr:`cellpipe.io.movies.MovieHeader.reader`)
    and the ``ingest.reader`` ``setting`` that chose it.

    A movie of several z-planes is projected with ``ingest.z_projection``
    (:func:`cellpipe.ingest.project_z`), one (Z, Y, X) stack of one frame and channel at a time;
    ``z_projection`` in the attributes records the ``method``, the ``z_planes`` per stack, for a
    z-stack the file's ``z_step_um`` (µm between planes; null when the file gives none) and, for
    ``best_focus``, the ``focus_measure`` and ``best_focus_planes``: the plane chosen (0-based) per
    frame, one per channel.

    With ``z_projection: keep`` a movie of several z-planes is written whole, (t, c, z, y, x), one
    (Z, Y, X) stack at a time (:func:`_write_stacks`); its z scale is the step between planes (µm) of
    :func:`cellpipe.ingest.resolve_z_step`, and ``z_projection`` records ``method: keep``,
    ``z_planes``, ``z_step_um`` and ``z_step_source``.  A movie of one plane is written (t, c, y, x)
    whatever the setting.

    Parameters
    ----------
    sample : str
        The sample's name.
    movie : str or os.PathLike
        The raw movie's file or folder.
    fmt : str
        Its format (:data:`cellpipe.io.movies.MovieFormat`).
    axes : str or None
        The sample sheet's axes letters; None: the file's.
    pixel_size_um : float or None
        The sample sheet's pixel size (µm); None: the file's or the config default.
    frame_interval_min : float or None
        The sample sheet's frame interval (minutes); None: the file's or the config default.
    channel_names : list of str
        The sample sheet's channel names; empty: the file's.
    settings : dict
        The ``ingest`` config section (:class:`cellpipe.config.IngestSettings`).
    image : str or os.PathLike
        The ``image.ome.zarr`` to write.
    scene : int or None
        The position (0-based) to read from a file of several (:func:`cellpipe.io.movies.open_movie`);
        ``position`` in the attributes records its ``index`` and its ``name`` in the file (null:
        unnamed), or is null for a file read whole.
        ``stage_position_um`` records the stage's ``x``, ``y``, ``z`` (µm, null: an axis the file leaves out) of the
        movie's first plane where the file gives one (:attr:`cellpipe.io.movies.MovieHeader.stage_position_um`),
        and is absent where it gives none.
    pixel_size_z_um : float or None
        The sample sheet's step between z-planes (µm); None where it gives none.

    Raises
    ------
    cellpipe.io.movies.MovieError
        A movie that cannot be read.
    cellpipe.ingest.IngestError
        Pixels or metadata the checks refuse (NaN pixels, no pixel size, ...).
    """
    ingest_settings = IngestSettings.model_validate(settings)
    method = ingest_settings.z_projection
    with open_movie(movie, fmt, axes, checksum=True, allow_z=method != "none", scene=scene,  # type: ignore[arg-type]
                    reader=ingest_settings.reader) as raw:
        shape, source_dtype = tuple(int(n) for n in raw.data.shape), np.dtype(raw.data.dtype)
        z_planes = raw.data.z_planes if hasattr(raw.data, "z_planes") else 1
        keep_z = method == "keep" and z_planes > 1
        dtype = projected_dtype(source_dtype, method) if z_planes > 1 and not keep_z else source_dtype
        check = PixelCheck(sample, str(movie), shape, dtype)
        meta = resolve_metadata(
            sample, str(movie), shape, raw.pixel_size_um, raw.frame_interval_min, raw.channel_names,
            pixel_size_um, frame_interval_min, channel_names, ingest_settings, file_pixel_size_y_um=raw.pixel_size_y_um,
        )
        for warning in meta.warnings:  # printed once by the main process at start-up; kept in the job's log too
            logger.warning("sample %r (%s): %s", sample, movie, warning)
        attrs = {
            "sample": sample,
            "source": str(movie),
            "source_axes": raw.source_axes,
            "source_dtype": str(source_dtype),
            # what read the pixels and metadata (cellpipe or a bioio plugin), and the ingest.reader setting that chose it
            "reader": {"used": raw.reader, "setting": ingest_settings.reader},
            "pixel_size_source": meta.pixel_size_source,
            "frame_interval_source": meta.frame_interval_source,
            # how the file gave its interval where it says: nominal, or from timestamps (vendor files, OME DeltaT)
            "file_frame_interval_from": raw.frame_interval_from,
            # the position of a file of several that this sample is (sample sheet column positions)
            "position": {"index": raw.scene, "name": raw.scene_name} if raw.scene is not None else None,
            # a movie of one plane is written as it is, whatever the setting
            "z_projection": {"method": method if z_planes > 1 else "none", "setting": method, "z_planes": z_planes},
        }
        if raw.stage_position_um is not None:
            # only where the file gives one, so that the attributes of a file without one stay as they were
            attrs["stage_position_um"] = dict(zip("xyz", raw.stage_position_um, strict=True))
        z_step_um = None
        if keep_z:  # the z scale of the 3-D image: needed, so resolved (or refused) before a stack is read
            z_step_um, z_source = resolve_z_step(sample, str(movie), z_planes, raw.pixel_size_z_um, pixel_size_z_um,
                                                 ingest_settings)
            attrs["z_projection"].update(z_step_um=z_step_um, z_step_source=z_source)
        elif z_planes > 1:  # the z-stack's step (µm), kept as information on the projected movie
            attrs["z_projection"]["z_step_um"] = raw.pixel_size_z_um
        chosen: list[list[int]] = []
        out_shape, axes = ((shape[0], shape[1], z_planes, *shape[2:]), "tczyx") if keep_z else (shape, "tcyx")
        with omezarr.new_ome_array(image, out_shape, dtype, axes, meta.pixel_size_um, meta.frame_interval_min,
                                   meta.channel_names, name=sample, extra_attrs=attrs, pixel_size_z_um=z_step_um) as out:
            if keep_z:
                _write_stacks(raw.data, out, check)
            else:
                for t in range(shape[0]):
                    if z_planes > 1:
                        frame, planes = _projected_frame(raw.data, t, method, dtype)
                        if method == "best_focus":
                            chosen.append(planes)
                    else:
                        frame = np.asarray(raw.data[t])
                    check.frame(t, frame)
                    out[t] = frame
            check.finish()
            if chosen:
                attrs["z_projection"].update(focus_measure=FOCUS_MEASURE, best_focus_planes=chosen)
            # the sha256 of the bytes these pixels came from, taken by the reader: record_provenance compares
            # it with the movie file's, which may have been replaced since (its mtime restored: no rerun)
            if raw.source_checksum is not None:
                attrs["source_checksum"] = raw.source_checksum()
                logger.info("%s as read: %s bytes, sha256 %s", movie, attrs["source_checksum"]["bytes"],
                            attrs["source_checksum"]["sha256"])
    logger.info("wrote %s: %s %s", image, out_shape, dtype)


def _write_stacks(data: Any, out: Any, check: PixelCheck) -> None:
    """Copy every (Z, Y, X) stack of a z-stack movie to ``out[t, c]``, one stack in memory at a time.

    The movie is a :class:`~cellpipe.io.movies.LazyMovie`; ``out`` is (t, c, z, y, x); each stack is checked as
    part of frame ``t``.
    """
    n_frames, n_channels = data.shape[:2]
    for t in range(n_frames):
        for c in range(n_channels):
            stack = np.asarray(data.stack(t, c))
            check.frame(t, stack)
            out[t, c] = stack
        logger.debug("wrote the z-stacks of frame %d of %d", t + 1, n_frames)


def _projected_frame(data: Any, t: int, method: str, dtype: np.dtype) -> tuple[np.ndarray, list[int]]:
    """Frame ``t`` of a z-stack movie, (C, Y, X), each channel's stack projected with ``method``.

    Frame ``t`` of a z-stack movie (a :class:`~cellpipe.io.movies.LazyMovie`), (C, Y, X), each channel's
    stack projected with ``method``; the planes chosen per channel (best_focus; else empty).
    """
    frame = np.empty(data.shape[1:], dtype)
    planes: list[int] = []
    for c in range(data.shape[1]):
        frame[c], plane = project_z(data.stack(t, c), method)  # one (Z, Y, X) stack in memory
        if plane is not None:
            planes.append(plane)
    return frame, planes
