"""Entry points of the segmentation rules: ``segment_frames`` per part of the frames, ``segment_cells`` gathering them.

:func:`segment_frames_step` segments one of the ``segment.scatter`` parts of the frames and
:func:`segment_cells_step` (rule ``segment_cells``) puts the parts together.
:func:`segment_whole_movie` segments a whole movie in one call: what a single part writes, and the
reference a gathered run equals.

Each writes instance labels (uint32, one (Y, X) px label image per frame, with the image's pixel size in µm)
and the run's record (``segmentation.json``); the computation is in :mod:`cellpipe.segment`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from cellpipe.config import SegmentSettings
from cellpipe.ingest import channel_index
from cellpipe.io import omezarr, tables
from cellpipe.io.write_behind import WriteBehind

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]
Settings = SegmentSettings | Mapping[str, Any]
"""A segmentation job's settings: the model, or its JSON dump (a rule's params), validated once by the step."""


def segment_whole_movie(
    normalized: PathLike,
    image: PathLike,
    settings: Settings,
    labels: PathLike,
    info: PathLike,
    threads: int = 1,
    batch_divisor: int = 1,
    rule: str = "segment_cells",
) -> None:
    """Segment every frame of one channel of the normalized movie; write labels (OME-Zarr) and run info (JSON).

    No rule calls it: with ``segment.scatter`` 1, rule ``segment_frames`` writes the same label image and
    run info (:func:`segment_frames_step`) and ``segment_cells`` renames them into place.

    Parameters
    ----------
    normalized : str or os.PathLike
        The normalized movie (Zarr array, (T, C, Y, X) or (T, C, Z, Y, X), float).
    image : str or os.PathLike
        The movie's OME-Zarr image: pixel size (µm), frame interval (minutes), channel names; the labels
        are written as its label image.
    settings : SegmentSettings or Mapping
        The job's settings (:meth:`cellpipe.config.jobs.JobSettings.job_settings`), as the model or its
        JSON dump (a rule's params); the run info records them as ``job_settings``.
    labels : str or os.PathLike
        Output label image (uint32, one (Y, X) px label image per frame).
    info : str or os.PathLike
        Output run info (JSON, ``segmentation.json``).
    threads : int, default 1
        Caps the CPU threads torch may use (the rule's ``threads``).
    batch_divisor : int, default 1
        Divides Cellpose's tiles per network pass (the rule's retries: 2 on the second attempt).
    rule : str, default "segment_cells"
        The rule an out-of-memory message names.

    Raises
    ------
    cellpipe.segment.SegmentationOutOfMemory
        Running out of memory, naming the file and the batch; no labels are left behind.
    ValueError
        ``segment.channel`` is not a channel of the movie.
    """
    run_info, _ = _segment_movie(normalized, image, settings, labels, threads, batch_divisor, rule)
    tables.write_json(run_info, info)


def _segment_movie(
    normalized: PathLike, image: PathLike, settings: Settings, labels: PathLike, threads: int,
    batch_divisor: int, rule: str,
) -> tuple[dict[str, Any], int]:
    """Segment every frame into the label image ``labels`` of ``image``.

    Returns the run info of :func:`segment_whole_movie` and the number of objects found (summed over
    the frames).
    """
    job, seg, meta, norm, model, model_read = _open_segmentation(normalized, image, settings, threads, batch_divisor)
    n_frames = int(norm.shape[0])
    with omezarr.new_ome_array(
        labels, (n_frames, *norm.shape[2:]), "uint32", _label_axes(norm), meta.pixel_size_um, meta.frame_interval_min,
        name="cells", label_of=image, pixel_size_z_um=_z_step(norm, meta),
    ) as out:
        run_info, n_objects = _segment_into(out, norm, range(n_frames), seg, meta, model, image,
                                            batch_divisor, rule=rule)
    _record_model_read(run_info, model_read)
    run_info["job_settings"] = job.model_dump(mode="json")
    run_info["n_frames"] = n_frames
    return run_info, n_objects


def part_frames(n_frames: int, part: int, n_parts: int) -> range:
    """The frames ``t`` of a movie of ``n_frames`` frames with ``t * n_parts // n_frames == part``.

    Part ``part`` of ``n_parts`` is a contiguous range, the parts follow each other and together hold
    every frame once; their lengths differ by at most one.  With more parts than frames some parts are
    empty (``range(k, k)``).

    Parameters
    ----------
    n_frames : int
        The movie's length (frames).
    part : int
        The part (0-based).
    n_parts : int
        The number of parts (``segment.scatter``).

    Returns
    -------
    range
        The part's frames (0-based).

    Raises
    ------
    ValueError
        ``n_frames`` negative, ``n_parts`` below 1 or ``part`` not in ``0 .. n_parts-1``.
    """
    if n_frames < 0 or n_parts < 1 or not 0 <= part < n_parts:
        raise ValueError(f"no part {part} of {n_parts} of a movie of {n_frames} frames")
    # t * n_parts // n_frames >= part  <=>  t >= ceil(part * n_frames / n_parts)
    return range(-(-part * n_frames // n_parts), -(-(part + 1) * n_frames // n_parts))


PART_KEYS: tuple[str, ...] = ("part", "n_parts", "first_frame", "n_frames", "movie_frames", "n_objects")
"""Keys of a part's run info (:func:`segment_frames_step`) that describe the part, not the run; the
other keys are those of an unscattered run's ``segmentation.json``."""


def segment_frames_step(
    normalized: PathLike,
    image: PathLike,
    settings: Settings,
    part: int,
    n_parts: int,
    labels_part: PathLike,
    info_part: PathLike,
    threads: int = 1,
    batch_divisor: int = 1,
) -> None:
    """Segment part ``part`` of ``n_parts`` of the movie's frames (:func:`part_frames`; rule ``segment_frames``).

    With ``n_parts`` 1 the part is the whole movie, written as :func:`segment_whole_movie` writes the
    label image (an OME-Zarr label image of ``image``) so that the gather only renames it.  Otherwise the
    part's labels are a plain Zarr array (frames, Y, X) uint32, one chunk per frame, in the Zarr format of
    ``image`` (v2 beside NGFF 0.4, v3 beside 0.5).  The frame range
    comes from the normalized movie's frame count, so a part of more parts than frames holds no frame.
    A failed part leaves neither output behind.  :func:`segment_cells_step` puts the parts together.

    Parameters
    ----------
    normalized : str or os.PathLike
        The normalized movie (Zarr array).
    image : str or os.PathLike
        The movie's OME-Zarr image.
    settings : SegmentSettings or Mapping
        The job's settings, as in :func:`segment_whole_movie`.
    part : int
        The part (0-based).
    n_parts : int
        The number of parts.
    labels_part : str or os.PathLike
        Output labels of the part.
    info_part : str or os.PathLike
        Output run info of the part (JSON): what :func:`segment_whole_movie` records, plus ``part``,
        ``n_parts``, ``first_frame`` (0-based), ``n_frames`` (of the part), ``movie_frames`` and
        ``n_objects`` (summed over its frames).
    threads : int, default 1
        As in :func:`segment_whole_movie`.
    batch_divisor : int, default 1
        As in :func:`segment_whole_movie`; running out of memory is too.
    """
    if int(n_parts) == 1:
        # the whole movie: written as segment_whole_movie writes it, so that the gather only moves it into place
        run_info, n_objects = _segment_movie(normalized, image, settings, labels_part, threads, batch_divisor,
                                             "segment_frames")
        run_info.update(part=0, n_parts=1, first_frame=0, movie_frames=run_info["n_frames"], n_objects=n_objects)
        tables.write_json(run_info, info_part)
        return
    job, seg, meta, norm, model, model_read = _open_segmentation(normalized, image, settings, threads, batch_divisor)
    n_frames = int(norm.shape[0])
    frames = part_frames(n_frames, int(part), int(n_parts))
    logger.info("part %d of %d: frames %d-%d of %d", part, n_parts, frames.start + 1, frames.stop, n_frames)
    attrs = {"segment_part": {"part": int(part), "n_parts": int(n_parts), "first_frame": frames.start}}
    # in the Zarr format of the image, as the label image it becomes part of
    fmt = omezarr.ZARR_FORMATS[omezarr.stored_ngff_version(image) or omezarr.NGFF_VERSION]
    with omezarr.new_zarr_array(
        labels_part, (len(frames), *norm.shape[2:]), "uint32", attrs, compressor=omezarr.LABEL_COMPRESSOR,
        zarr_format=fmt,
    ) as out:
        run_info, n_objects = _segment_into(out, norm, frames, seg, meta, model, image, batch_divisor,
                                            rule="segment_frames")
    _record_model_read(run_info, model_read)
    run_info["job_settings"] = job.model_dump(mode="json")
    run_info.update(part=int(part), n_parts=int(n_parts), first_frame=frames.start, n_frames=len(frames),
                    movie_frames=n_frames, n_objects=n_objects)
    tables.write_json(run_info, info_part)


def segment_cells_step(
    normalized: PathLike,
    image: PathLike,
    parts: list[PathLike],
    part_infos: list[PathLike],
    labels: PathLike,
    info: PathLike,
) -> None:
    """Put the parts of :func:`segment_frames_step` together (rule ``segment_cells``).

    A single part is already the finished label image: it is renamed to ``labels`` (no frame read or
    written) and its run info, less the part's keys, is ``segmentation.json``.  Otherwise the label
    image is written as :func:`segment_whole_movie` writes it, one frame at a time, so it is the same
    array as an unscattered run's; the run info is :func:`merge_part_infos` of the parts'.

    Parameters
    ----------
    normalized : str or os.PathLike
        The normalized movie (Zarr array): its frame count and frame size (px) are what the parts must hold.
    image : str or os.PathLike
        The movie's OME-Zarr image.
    parts : list of str or os.PathLike
        The parts' label arrays, part 0 first.
    part_infos : list of str or os.PathLike
        The parts' run infos (JSON), part 0 first.
    labels : str or os.PathLike
        Output label image.
    info : str or os.PathLike
        Output run info (``segmentation.json``).

    Raises
    ------
    ValueError
        Parts that do not fit together (a missing, repeated or stale part, another frame count or frame
        size), naming the file; nothing is written.
    """
    if len(parts) != len(part_infos) or not parts:
        raise ValueError(f"{len(parts)} label part(s) and {len(part_infos)} run info(s): need one of each per part")
    if len(parts) == 1:
        _move_whole_part(normalized, image, parts[0], part_infos[0], labels, info)
        return
    meta = omezarr.open_ome_image(image)
    norm = omezarr.open_zarr_array(normalized)
    n_frames, frame_shape = int(norm.shape[0]), tuple(int(n) for n in norm.shape[2:])
    infos = [tables.read_json(path) for path in part_infos]
    arrays = [omezarr.open_zarr_array(path) for path in parts]
    for p, (path, part_info, array) in enumerate(zip(parts, infos, arrays, strict=True)):
        _check_part(p, len(parts), part_info, array, n_frames, frame_shape, part_infos[p], path)
    with omezarr.new_ome_array(
        labels, (n_frames, *frame_shape), "uint32", _label_axes(norm), meta.pixel_size_um, meta.frame_interval_min,
        name="cells", label_of=image, pixel_size_z_um=_z_step(norm, meta),
    ) as out:
        for part_info, array in zip(infos, arrays, strict=True):
            first = int(part_info["first_frame"])
            for i in range(int(array.shape[0])):  # one frame in memory at a time
                out[first + i] = np.asarray(array[i])
            logger.info("gathered part %d of %d: frames %d-%d of %d", part_info["part"], len(parts), first + 1,
                        first + int(array.shape[0]), n_frames)
    tables.write_json(merge_part_infos(infos), info)


def _move_whole_part(
    normalized: PathLike, image: PathLike, part: PathLike, part_info: PathLike, labels: PathLike, info: PathLike
) -> None:
    """Gather a single part: rename the label image :func:`segment_frames_step` wrote into place.

    No frame is read or written again; its ``image-label`` source is made to name the image from its new
    place.  ``segmentation.json`` is written first: a job killed between the two leaves the part where it
    was, and its rerun moves it.
    """
    record = tables.read_json(part_info)
    norm = omezarr.open_zarr_array(normalized)
    n_frames, frame_shape = int(norm.shape[0]), tuple(int(n) for n in norm.shape[2:])
    labels_store, part_store = omezarr.store_path(labels), omezarr.store_path(part)
    found = omezarr.open_ome_image(part_store).data
    _check_part(0, 1, record, found, n_frames, frame_shape, part_info, part)
    tables.write_json({k: v for k, v in record.items() if k not in PART_KEYS or k == "n_frames"}, info)
    omezarr.move_label_image(part_store, labels_store, image)
    logger.info("gathered part 1 of 1: frames 1-%d of %d, moved into place", n_frames, n_frames)


def _check_part(
    part: int, n_parts: int, info: dict[str, Any], array: Any, n_frames: int, frame_shape: tuple[int, ...],
    info_path: PathLike, labels_path: PathLike,
) -> None:
    expected = part_frames(n_frames, part, n_parts)
    found = (info.get("part"), info.get("n_parts"), info.get("movie_frames"), info.get("first_frame"), info.get("n_frames"))
    if found != (part, n_parts, n_frames, expected.start, len(expected)):
        raise ValueError(
            f"{info_path}: expected part {part} of {n_parts} (frames {expected.start}-{expected.stop - 1} of a movie of "
            f"{n_frames}), found part {found[0]} of {found[1]} (first frame {found[3]}, {found[4]} frame(s) of "
            f"{found[2]}); rerun segment_frames for this sample"
        )
    if tuple(int(n) for n in array.shape) != (len(expected), *frame_shape) or np.dtype(array.dtype) != np.uint32:
        raise ValueError(
            f"{labels_path}: expected uint32 labels of shape {(len(expected), *frame_shape)}, found {array.dtype} "
            f"{tuple(array.shape)}"
        )


def merge_part_infos(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``segmentation.json`` of a scattered run from its parts' run infos.

    Every key of an unscattered run is there: a value all parts agree on as it is, one they differ
    on (``device`` when parts ran on different nodes, ``batch_divisor`` after a retry of one part)
    as the distinct values in part order, strings joined by ", ".

    Parameters
    ----------
    infos : list of dict
        The parts' run infos, part 0 first.

    Returns
    -------
    dict
        The merged run info: ``n_frames`` is the movie's frame count, ``n_parts`` the number of parts
        and ``parts`` the parts' own run infos; ``object_filters.per_frame`` holds the parts' rows in
        frame order.

    Raises
    ------
    ValueError
        ``infos`` is empty.
    """
    if not infos:
        raise ValueError("no parts to merge")
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(k for part_info in infos for k in part_info):
        if key in PART_KEYS or key == "object_filters":
            continue
        distinct: list[Any] = []
        for part_info in infos:
            value = part_info.get(key)
            if value not in distinct:
                distinct.append(value)
        if len(distinct) == 1:
            merged[key] = distinct[0]
        elif all(isinstance(v, str) for v in distinct):
            merged[key] = ", ".join(distinct)
        else:
            merged[key] = distinct
    filters = [part_info["object_filters"] for part_info in infos if "object_filters" in part_info]
    if filters:  # one row per frame: the parts' rows follow each other
        from cellpipe.filters import summarize_removed

        per_frame = [row for record in filters for row in record["per_frame"]]
        merged["object_filters"] = {**filters[0], "per_frame": per_frame, "removed": summarize_removed(per_frame)}
    merged["n_frames"] = int(infos[0]["movie_frames"])
    merged["n_parts"] = len(infos)
    merged["parts"] = [dict(part_info) for part_info in infos]
    return merged


def _open_segmentation(
    normalized: PathLike, image: PathLike, settings: Settings, threads: int, batch_divisor: int
) -> tuple[SegmentSettings, SegmentSettings, omezarr.OmeImage, Any, Any, dict[str, Any] | None]:
    """Open what one segmentation job needs.

    Returns its settings as it got them (validated here, once; recorded as ``job_settings``), the same
    with what this movie and device decide (``channel`` as an index, tiles per pass divided by
    ``batch_divisor``), the image's metadata, the normalized movie and, for Cellpose, the model on the
    device chosen now and the checksum of the model file's bytes as loaded (``type, bytes, sha256``;
    None for classical segmentation or a Cellpose built-in model).
    """
    from cellpipe.io.checksums import file_as_read
    from cellpipe.segment import check_model_path, divide_batch_size, load_segmentation_model, select_device

    job = seg = SegmentSettings.model_validate(settings)
    meta = omezarr.open_ome_image(image)
    norm = omezarr.open_zarr_array(normalized)
    n_channels = norm.shape[1]
    index = channel_index(seg.channel, meta.channel_names)
    if index is None:  # the start-up check refuses it first; a job run on its own says it too
        raise ValueError(f"{image}: segment.channel {seg.channel!r} is not a channel of this movie; its channels: "
                         f"{', '.join(repr(n) for n in meta.channel_names)}")
    if index >= n_channels:
        raise ValueError(f"{image}: segment.channel is {seg.channel} but the movie has {n_channels} channel(s)")
    seg = seg.model_copy(update={"channel": index})
    model = model_read = None
    if len(norm.shape) == 5 and seg.method == "cellpose" and seg.cellpose.network != "cellpose3":
        from cellpipe.preflight import SAM_3D_REFUSAL

        raise ValueError(f"{image}: {SAM_3D_REFUSAL}")  # the start-up check refuses it first
    if seg.method == "cellpose":
        import torch

        torch.set_num_threads(max(1, int(threads)))
        device = select_device(seg.cellpose.device)
        if batch_divisor != 1:
            seg = divide_batch_size(seg, device, batch_divisor)
            logger.info("retry: tiles per network pass divided by %d, now %d", batch_divisor, seg.cellpose.batch_size)
        if seg.cellpose.builtin_model is None:
            # the sha256 of the file torch loads, for segmentation.json: record_provenance compares it with the
            # model file later, which may have been replaced since (its mtime restored: no rerun)
            with file_as_read(check_model_path(seg.cellpose.model)) as model_read:
                model = load_segmentation_model(seg.cellpose, device)
            logger.info("%s as loaded: %s bytes, sha256 %s", seg.cellpose.model, model_read["bytes"], model_read["sha256"])
        else:  # Cellpose's own file in its model folder: not an input of the workflow
            model = load_segmentation_model(seg.cellpose, device)
    return job, seg, meta, norm, model, model_read


def _record_model_read(run_info: dict[str, Any], model_read: dict[str, Any] | None) -> None:
    """Put the checksum of the model file as loaded into a segmentation job's run info.

    ``inputs_read.model`` (``type, bytes, sha256``), and ``model_sha256`` the same, so
    ``segmentation.json`` names one checksum.
    """
    if model_read is not None:
        run_info["inputs_read"] = {"model": model_read}
        run_info["model_sha256"] = model_read["sha256"]


def _segment_into(
    out: Any,
    norm: Any,
    frames: range,
    seg: Any,
    meta: omezarr.OmeImage,
    model: Any,
    image: PathLike,
    batch_divisor: int,
    rule: str,
) -> tuple[dict[str, Any], int]:
    """Segment ``frames`` of the normalized movie into ``out``; the run info and the number of objects found.

    ``out[i]`` gets the labels of frame ``frames[i]``, (Y, X) px, or a (Z, Y, X) stack of a 3-D movie, written
    in a background thread while the next frame is segmented (:class:`~cellpipe.io.write_behind.WriteBehind`).
    Progress is logged about 20 times, in frames of the movie; running out of memory raises
    :class:`~cellpipe.segment.SegmentationOutOfMemory` (``rule``: the rule whose retries help).
    """
    from cellpipe.segment import SegmentationOutOfMemory, is_out_of_memory, iter_segment_cells, record_network_fallback

    n_movie = int(norm.shape[0])
    if len(norm.shape) == 5:
        run_info, results = _iter_segment_stacks(
            _ChannelFrames(norm, seg.channel, frames), seg, meta, model=model,
            estimate_from=_ChannelFrames(norm, seg.channel),  # every part estimates from the same stacks
        )
    else:
        run_info, results = iter_segment_cells(
            _ChannelFrames(norm, seg.channel, frames), seg, meta.pixel_size_um, model=model,
            estimate_from=_ChannelFrames(norm, seg.channel),  # every part estimates from the same frames
        )
    run_info["batch_divisor"] = batch_divisor
    # the channel segmented, by index and name: segment.channel may name it, and names differ between movies
    run_info["channel"] = int(seg.channel)
    run_info["channel_name"] = _channel_name(image, seg.channel)
    started = time.perf_counter()
    every = max(1, len(frames) // 20)
    n_objects = 0
    try:
        # each frame is written in a background thread while the next one is segmented
        with WriteBehind(out) as writer:
            for i, frame_labels in results:
                writer[i] = frame_labels
                n_objects += int(frame_labels.max())
                if (i + 1) % every == 0 or i + 1 == len(frames):
                    logger.info(
                        "segmented frame %d of %d (%d objects in it), %.1f s", frames[i] + 1, n_movie,
                        int(frame_labels.max()), time.perf_counter() - started,
                    )
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        where = run_info.get("device", "cpu")
        raise SegmentationOutOfMemory(
            f"{omezarr.store_path(image)}: segmentation ran out of memory on {where} with {run_info.get('batch_size')} tile(s) of "
            f"{run_info.get('tile_px')} px per network pass ({err}). Lower segment.cellpose.batch_size "
            f"(or tile_px), or run with retries (the profiles set retries: each retry of {rule} halves "
            "the tiles per pass and asks for more memory)"
        ) from err
    for row in run_info["object_filters"]["per_frame"]:  # frames of the movie, not of the part
        row["frame"] = frames[row["frame"]]
    return record_network_fallback(run_info, model), n_objects


def _label_axes(norm: Any) -> str:
    """Axes of the label image of a normalized movie: ``tzyx`` for (t, c, z, y, x), else ``tyx``."""
    return "tzyx" if len(norm.shape) == 5 else "tyx"


def _z_step(norm: Any, meta: omezarr.OmeImage) -> float | None:
    """The step between z-planes (µm) the label image of a 3-D movie carries; None for a 2-D movie."""
    if len(norm.shape) != 5:
        return None
    if meta.pixel_size_z_um is None:
        raise ValueError("a 3-D normalized movie whose image has no z scale: rerun ingest_movie")
    return float(meta.pixel_size_z_um)


def _iter_segment_stacks(
    stacks: Any, seg: SegmentSettings, meta: omezarr.OmeImage, model: Any | None = None,
    estimate_from: Any | None = None,
) -> tuple[dict[str, Any], Any]:
    """3-D segmentation of (Z, Y, X) stacks read one at a time, classical or Cellpose.

    Classical is :func:`cellpipe.segment.segment_stack_classical`, or block by block
    :func:`cellpipe.segment.segment_stack_classical_blocks` when ``segment.classical.block_size_um`` is set
    (recorded as ``blocks``: core and overlap in µm); Cellpose is
    :func:`cellpipe.segment.segment_stack_cellpose` with ``model``, in ``segment.cellpose.mode_3d``.  Returns the
    run info and an iterator of ``(i, labels)`` (uint32, numbered 1..n per stack).

    The voxel size (µm, z, y, x) is the image's; the cell diameter is ``diameter_um`` (µm), or
    ``diameter_px`` px of the plane, or none (classical: seeds then ``min_peak_distance_px`` apart; Cellpose:
    the model's own diameter, ``diameter_source`` 'model').  With ``segment.estimate_diameter`` it is estimated
    first (:func:`cellpipe.segment.estimate_diameter_stacks`, with the same method, starting from that
    diameter) on a few stacks of ``estimate_from`` (the whole movie's channel, when ``stacks`` is a part of
    it; default ``stacks``), and the estimate is recorded as ``diameter_estimate`` (µm, and px of the plane),
    with ``diameter_source`` 'estimate'.  Cellpose runs also record ``mode_3d``, ``anisotropy`` and
    ``stitch_threshold``, and 'do_3d' with ``segment.cellpose.block_size_um`` its ``blocks`` (core and overlap
    in µm; :func:`cellpipe.segment.cellpose_stack_info`).  The run info's
    ``object_filters.per_frame`` holds the objects found per stack: the 2-D object filters do not apply to
    stacks (the classical method removes objects outside its volume bounds, Cellpose those under
    ``min_size_px`` voxels).
    """
    from dataclasses import asdict

    from cellpipe.segment import (
        cellpose_stack_info,
        classical_voxels,
        estimate_diameter_stacks,
        iter_stacks,
        segment_stack_cellpose,
        segment_stack_classical,
        segment_stack_classical_blocks,
    )
    from cellpipe.versions import package_version

    voxel = (float(meta.pixel_size_z_um or 0.0), float(meta.pixel_size_um), float(meta.pixel_size_um))
    if seg.diameter_um is not None:
        diameter_um: float | None = float(seg.diameter_um)
    elif seg.diameter_px is not None:
        diameter_um = float(seg.diameter_px) * voxel[1]
    else:
        diameter_um = None
    source = "settings" if diameter_um is not None else "model" if seg.method == "cellpose" else None
    estimate = None
    if seg.estimate_diameter:
        estimate = estimate_diameter_stacks(estimate_from if estimate_from is not None else stacks, seg, voxel,
                                            diameter_um, model)
        if estimate["diameter_um"] is not None:
            diameter_um, source = float(estimate["diameter_um"]), "estimate"
    record: dict[str, Any] = {"settings": None, "diameter_px": None, "per_frame": [], "removed": {}}
    info: dict[str, Any]
    if seg.method == "cellpose":
        _, n_z, n_y, n_x = (int(n) for n in stacks.shape)
        info = cellpose_stack_info(seg.cellpose, model, voxel, diameter_um, (n_z, n_y, n_x))

        def segment_one(stack: np.ndarray) -> np.ndarray:
            return segment_stack_cellpose(stack, voxel, seg.cellpose, model, diameter_um)
    else:
        info = {
            "method": "classical",
            "dimensions": 3,
            "device": "cpu",
            "model_path": None,
            "model_sha256": None,
            "voxel_size_um": list(voxel),
            "diameter_um": diameter_um,
            "diameter_px": None if diameter_um is None else diameter_um / voxel[1],
            "classical_voxels": asdict(classical_voxels(seg.classical, voxel, diameter_um)),
            "scikit_image_version": package_version("scikit-image"),
        }

        if seg.classical.block_size_um is not None:
            overlap = seg.classical.block_overlap_um if seg.classical.block_overlap_um is not None else diameter_um
            info["blocks"] = {"core_um": seg.classical.block_size_um, "overlap_um": overlap}

        def segment_one(stack: np.ndarray) -> np.ndarray:
            if seg.classical.block_size_um is not None:
                return segment_stack_classical_blocks(stack, voxel, seg.classical, diameter_um)
            return segment_stack_classical(stack, voxel, seg.classical, diameter_um)
    info["diameter_source"] = source
    info["object_filters"] = record
    if estimate is not None:
        info["diameter_estimate"] = estimate

    def results() -> Any:
        for i, labels in iter_stacks(stacks, segment_one):
            record["per_frame"].append({"frame": i, "objects": int(labels.max())})
            yield i, labels

    return info, results()


def _channel_name(image: PathLike, channel: int) -> str | None:
    """The name ingest gave channel ``channel`` (0-based) of the OME-Zarr ``image``; None when it has none."""
    names = omezarr.open_ome_image(image).channel_names
    return names[channel] if channel < len(names) else None


class _ChannelFrames:
    """One channel of a (T, C, Y, X) array as (T, Y, X) frames, or of a (T, C, Z, Y, X) array as (T, Z, Y, X) stacks.

    Read one at a time (float32); with ``frames``, only those frames of it (a range), numbered from 0.
    """

    def __init__(self, array: Any, channel: int, frames: range | None = None) -> None:
        self._array, self._channel = array, channel
        self._frames = range(array.shape[0]) if frames is None else frames
        self.shape = (len(self._frames), *array.shape[2:])

    def __getitem__(self, t: int) -> np.ndarray:
        return np.asarray(self._array[self._frames[t], self._channel], dtype=np.float32)
