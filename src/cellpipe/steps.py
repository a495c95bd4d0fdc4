"""Entry points of the workflow's rules: read inputs, call a stage, write outputs.

Each ``*_step`` function is what one rule script calls with the paths and
settings Snakemake hands it.  Disk access goes through :mod:`cellpipe.io`;
the computation is in the stage modules.  Nothing here imports snakemake, so
every step can also be called from Python or a test.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from cellpipe.ingest import (
    FOCUS_MEASURE,
    IngestSettings,
    PixelCheck,
    channel_index,
    project_z,
    projected_dtype,
    resolve_metadata,
)
from cellpipe.io import omezarr, tables
from cellpipe.io.movies import open_movie, write_ome_tiff
from cellpipe.normalize import PERCENTILE_COLUMNS, NormalizeSettings, apply_normalization, percentile_rows

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

FRAMES_PER_BATCH = 16
"""Frames read, processed and written together by the frame-wise steps."""


def simulate_movie_step(settings: dict[str, Any], movie: PathLike, truth: PathLike) -> None:
    """Simulate a movie, write it as OME-TIFF (with pixel size and frame interval) and its CTC ground truth."""
    from cellpipe.io.ctc import write_ctc_ground_truth
    from cellpipe.simulate import SimulationSettings, simulate_movie

    sim_settings = SimulationSettings.model_validate(settings)
    sim = simulate_movie(sim_settings)
    logger.info("simulated %d frames of %s px, %d tracks", sim.image.shape[0], sim.image.shape[1:], len(sim.tracks))
    write_ome_tiff(movie, sim.image, sim.pixel_size_um, sim.frame_interval_min)
    write_ctc_ground_truth(Path(truth), sim.labels, sim.tracks)


def ingest_movie_step(
    sample: str,
    movie: PathLike,
    fmt: str,
    axes: str | None,
    pixel_size_um: float | None,
    frame_interval_min: float | None,
    channel_names: list[str],
    settings: dict[str, Any],
    image: PathLike,
) -> None:
    """Read a raw movie, check it, and write it as OME-Zarr (t, c, y, x) with physical units.

    The movie is read and written one frame at a time (:func:`cellpipe.io.movies.open_movie`), so
    memory does not grow with its length; a frame with NaN pixels stops the job and no image is left.
    The image's ``cellpipe`` attributes record ``source_checksum``: the sha256 of the bytes read
    (``type, bytes, sha256``, and ``files`` for a CTC folder, as provenance describes the movie).

    A movie of several z-planes is projected with ``ingest.z_projection`` (:func:`cellpipe.ingest.project_z`),
    one (Z, Y, X) stack of one frame and channel at a time; ``z_projection`` in the attributes records
    the ``method``, the ``z_planes`` per stack and, for ``best_focus``, the ``focus_measure`` and
    ``best_focus_planes``: the plane chosen (0-based) per frame, one per channel.
    """
    ingest_settings = IngestSettings.model_validate(settings)
    method = ingest_settings.z_projection
    with open_movie(movie, fmt, axes, checksum=True, allow_z=method != "none") as raw:  # type: ignore[arg-type]
        shape, source_dtype = tuple(int(n) for n in raw.data.shape), np.dtype(raw.data.dtype)
        z_planes = raw.data.z_planes if hasattr(raw.data, "z_planes") else 1
        dtype = projected_dtype(source_dtype, method) if z_planes > 1 else source_dtype
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
            "pixel_size_source": meta.pixel_size_source,
            "frame_interval_source": meta.frame_interval_source,
            "file_frame_interval_from": raw.frame_interval_from,  # a vendor file's: nominal or from timestamps
            # a movie of one plane is written as it is, whatever the setting
            "z_projection": {"method": method if z_planes > 1 else "none", "setting": method, "z_planes": z_planes},
        }
        chosen: list[list[int]] = []
        with omezarr.new_ome_array(image, shape, dtype, "tcyx", meta.pixel_size_um, meta.frame_interval_min,
                                   meta.channel_names, name=sample, extra_attrs=attrs) as out:
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
    logger.info("wrote %s: %s %s", image, shape, dtype)


def _projected_frame(data: Any, t: int, method: str, dtype: np.dtype) -> tuple[np.ndarray, list[int]]:
    """Frame ``t`` of a z-stack movie (a :class:`~cellpipe.io.movies.LazyMovie`), (C, Y, X), each channel's
    stack projected with ``method``; the planes chosen per channel (best_focus; else empty)."""
    frame = np.empty(data.shape[1:], dtype)
    planes: list[int] = []
    for c in range(data.shape[1]):
        frame[c], plane = project_z(data.stack(t, c), method)  # one (Z, Y, X) stack in memory
        if plane is not None:
            planes.append(plane)
    return frame, planes


def normalize_movie_step(image: PathLike, settings: dict[str, Any], normalized: PathLike, percentiles: PathLike) -> None:
    """Compute percentiles (movie-wide or per frame) and write the normalized float32 movie."""
    norm = NormalizeSettings.model_validate(settings)
    src = omezarr.open_ome_image(image)
    table = percentile_rows(src.data, norm)
    n_frames = src.n_frames
    with omezarr.new_zarr_array(normalized, src.data.shape, "float32", {"normalize": norm.model_dump(mode="json")}) as out:
        for start in range(0, n_frames, FRAMES_PER_BATCH):
            stop = min(start + FRAMES_PER_BATCH, n_frames)
            out[start:stop] = apply_normalization(np.asarray(src.data[start:stop]), start, table, norm)
            logger.info("normalized frames %d-%d of %d", start + 1, stop, n_frames)
    tables.write_tsv_rows(table, PERCENTILE_COLUMNS, percentiles)


def segment_cells_step(
    normalized: PathLike,
    image: PathLike,
    settings: dict[str, Any],
    labels: PathLike,
    info: PathLike,
    threads: int = 1,
    batch_divisor: int = 1,
) -> None:
    """Segment every frame of one channel of the normalized movie; write labels (OME-Zarr) and run info (JSON).

    ``threads`` caps the CPU threads torch may use (the rule's ``threads``).  ``batch_divisor``
    divides Cellpose's tiles per network pass (the rule's retries: 2 on the second attempt); running
    out of memory raises :class:`~cellpipe.segment.SegmentationOutOfMemory` naming the file and the
    batch, and leaves no labels behind.
    """
    seg, meta, norm, model, model_read = _open_segmentation(normalized, image, settings, threads, batch_divisor)
    n_frames = int(norm.shape[0])
    with omezarr.new_ome_array(
        labels, (n_frames, *norm.shape[2:]), "uint32", "tyx", meta.pixel_size_um, meta.frame_interval_min,
        name="cells", label_of=image,
    ) as out:
        run_info, _ = _segment_into(out, norm, range(n_frames), seg, meta.pixel_size_um, model, image, batch_divisor,
                                    rule="segment_cells")
    _record_model_read(run_info, model_read)
    run_info["n_frames"] = n_frames
    tables.write_json(run_info, info)


def part_frames(n_frames: int, part: int, n_parts: int) -> range:
    """The frames ``t`` of a movie of ``n_frames`` frames with ``t * n_parts // n_frames == part``.

    Part ``part`` (0-based) of ``n_parts`` is a contiguous range, the parts follow each other and
    together hold every frame once; their lengths differ by at most one.  With more parts than
    frames some parts are empty (``range(k, k)``).
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
    settings: dict[str, Any],
    part: int,
    n_parts: int,
    labels_part: PathLike,
    info_part: PathLike,
    threads: int = 1,
    batch_divisor: int = 1,
) -> None:
    """Segment part ``part`` of ``n_parts`` of the movie's frames (:func:`part_frames`; rule segment_frames).

    Writes the part's labels as a plain Zarr array (frames, Y, X) uint32, one chunk per frame, and
    its run info as JSON: what :func:`segment_cells_step` records, plus ``part``, ``n_parts``,
    ``first_frame`` (0-based), ``n_frames`` (of the part), ``movie_frames`` and ``n_objects``
    (summed over its frames).  The frame range comes from the normalized movie's frame count, so a
    part of more parts than frames holds no frame.  ``threads``, ``batch_divisor`` and running out of
    memory are as in :func:`segment_cells_step`; a failed part leaves neither output behind.
    :func:`gather_segments_step` puts the parts together.
    """
    seg, meta, norm, model, model_read = _open_segmentation(normalized, image, settings, threads, batch_divisor)
    n_frames = int(norm.shape[0])
    frames = part_frames(n_frames, int(part), int(n_parts))
    logger.info("part %d of %d: frames %d-%d of %d", part, n_parts, frames.start + 1, frames.stop, n_frames)
    attrs = {"segment_part": {"part": int(part), "n_parts": int(n_parts), "first_frame": frames.start}}
    with omezarr.new_zarr_array(
        labels_part, (len(frames), *norm.shape[2:]), "uint32", attrs, compressor=omezarr.LABEL_COMPRESSOR
    ) as out:
        run_info, n_objects = _segment_into(out, norm, frames, seg, meta.pixel_size_um, model, image, batch_divisor,
                                            rule="segment_frames")
    _record_model_read(run_info, model_read)
    run_info.update(part=int(part), n_parts=int(n_parts), first_frame=frames.start, n_frames=len(frames),
                    movie_frames=n_frames, n_objects=n_objects)
    tables.write_json(run_info, info_part)


def gather_segments_step(
    normalized: PathLike,
    image: PathLike,
    parts: list[PathLike],
    part_infos: list[PathLike],
    labels: PathLike,
    info: PathLike,
) -> None:
    """Put the parts of :func:`segment_frames_step` together (rule segment_cells with segment.scatter > 1).

    ``parts`` and ``part_infos`` are the parts' label arrays and run infos, part 0 first.  The label
    image is written as :func:`segment_cells_step` writes it, one frame at a time, so it is the same
    array as an unscattered run's; the run info is :func:`merge_part_infos` of the parts'.  Parts
    that do not fit together (a missing, repeated or stale part, another frame count or frame size)
    raise :class:`ValueError` naming the file, and nothing is written.
    """
    if len(parts) != len(part_infos) or not parts:
        raise ValueError(f"{len(parts)} label part(s) and {len(part_infos)} run info(s): need one of each per part")
    meta = omezarr.open_ome_image(image)
    norm = omezarr.open_zarr_array(normalized)
    n_frames, frame_shape = int(norm.shape[0]), tuple(int(n) for n in norm.shape[2:])
    infos = [tables.read_json(path) for path in part_infos]
    arrays = [omezarr.open_zarr_array(path) for path in parts]
    for p, (path, part_info, array) in enumerate(zip(parts, infos, arrays, strict=True)):
        _check_part(p, len(parts), part_info, array, n_frames, frame_shape, part_infos[p], path)
    with omezarr.new_ome_array(
        labels, (n_frames, *frame_shape), "uint32", "tyx", meta.pixel_size_um, meta.frame_interval_min,
        name="cells", label_of=image,
    ) as out:
        for part_info, array in zip(infos, arrays, strict=True):
            first = int(part_info["first_frame"])
            for i in range(int(array.shape[0])):  # one frame in memory at a time
                out[first + i] = np.asarray(array[i])
            logger.info("gathered part %d of %d: frames %d-%d of %d", part_info["part"], len(parts), first + 1,
                        first + int(array.shape[0]), n_frames)
    tables.write_json(merge_part_infos(infos), info)


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
    """The ``segmentation.json`` of a scattered run from its parts' run infos (part 0 first).

    Every key of an unscattered run is there: a value all parts agree on as it is, one they differ
    on (``device`` when parts ran on different nodes, ``batch_divisor`` after a retry of one part)
    as the distinct values in part order, strings joined by ", ".  ``n_frames`` is the movie's
    frame count, ``n_parts`` the number of parts and ``parts`` the parts' own run infos.
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
    normalized: PathLike, image: PathLike, settings: dict[str, Any], threads: int, batch_divisor: int
) -> tuple[Any, omezarr.OmeImage, Any, Any, dict[str, Any] | None]:
    """What one segmentation job needs: its settings, the image's metadata, the normalized movie and,
    for Cellpose, the model on the device chosen now (tiles per pass divided by ``batch_divisor``) and the
    checksum of the model file's bytes as loaded (``type, bytes, sha256``; None for classical segmentation
    or a Cellpose built-in model)."""
    from cellpipe.io.checksums import file_as_read
    from cellpipe.segment import (
        SegmentSettings,
        check_model_path,
        divide_batch_size,
        load_segmentation_model,
        select_device,
    )

    seg = SegmentSettings.model_validate(settings)
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
    return seg, meta, norm, model, model_read


def _record_model_read(run_info: dict[str, Any], model_read: dict[str, Any] | None) -> None:
    """Put the checksum of the model file as loaded into a segmentation job's run info: ``inputs_read.model``
    (``type, bytes, sha256``), and ``model_sha256`` the same, so segmentation.json names one checksum."""
    if model_read is not None:
        run_info["inputs_read"] = {"model": model_read}
        run_info["model_sha256"] = model_read["sha256"]


def _segment_into(
    out: Any,
    norm: Any,
    frames: range,
    seg: Any,
    pixel_size_um: float,
    model: Any,
    image: PathLike,
    batch_divisor: int,
    rule: str,
) -> tuple[dict[str, Any], int]:
    """Segment ``frames`` of the normalized movie into ``out`` (``out[i]``: labels of frame
    ``frames[i]``); returns the run info and the number of objects found.  Progress is logged about
    20 times, in frames of the movie; running out of memory raises
    :class:`~cellpipe.segment.SegmentationOutOfMemory` (``rule``: the rule whose retries help)."""
    from cellpipe.segment import SegmentationOutOfMemory, is_out_of_memory, iter_segment_cells

    n_movie = int(norm.shape[0])
    run_info, results = iter_segment_cells(
        _ChannelFrames(norm, seg.channel, frames), seg, pixel_size_um, model=model,
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
        for i, frame_labels in results:
            out[i] = frame_labels
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
    return run_info, n_objects


def _channel_name(image: PathLike, channel: int) -> str | None:
    """The name ingest gave channel ``channel`` (0-based) of the OME-Zarr ``image``; None when it has none."""
    names = omezarr.open_ome_image(image).channel_names
    return names[channel] if channel < len(names) else None


class _ChannelFrames:
    """One channel of a (T, C, Y, X) array as (T, Y, X) frames read one at a time (float32); with
    ``frames``, only those frames of it (a range), numbered from 0."""

    def __init__(self, array: Any, channel: int, frames: range | None = None) -> None:
        self._array, self._channel = array, channel
        self._frames = range(array.shape[0]) if frames is None else frames
        self.shape = (len(self._frames), *array.shape[2:])

    def __getitem__(self, t: int) -> np.ndarray:
        return np.asarray(self._array[self._frames[t], self._channel], dtype=np.float32)


def track_cells_step(
    labels: PathLike,
    image: PathLike,
    tracker_config: PathLike,
    settings: dict[str, Any],
    tracks: PathLike,
    lineage: PathLike,
    tracked: PathLike,
    info: PathLike | None = None,
    labels_group: PathLike | None = None,
) -> None:
    """Link segmented objects over time with btrack; write tracks, lineage, track-relabelled masks and the
    run's record (``info``, JSON: update mode, search radius, optimiser outcome, timings, and
    ``inputs_read.tracker_config``: ``type, bytes, sha256`` of the tracker configuration's bytes as parsed).

    ``labels_group``: the image's NGFF ``labels/.zattrs``, then written to list the label images
    ``cells`` (``labels``) and ``tracks`` (``tracked``) for OME-Zarr readers.  ``tracked`` carries a
    colour and :func:`track_label_properties` per track id in its ``image-label`` metadata."""
    from cellpipe.track import TrackSettings, relabel_frames, track_cells

    trk = TrackSettings.model_validate(settings)
    meta = omezarr.open_ome_image(image)
    seg = omezarr.open_ome_image(labels)
    # parsed from the bytes whose sha256 tracking.json records: record_provenance compares it with the file
    # later, which may have been replaced since (its mtime restored: no rerun)
    tracker, tracker_read = tables.read_json_as_read(tracker_config)
    # the label movie is read frame by frame, twice: for the objects, then to write the track labels
    result = track_cells(seg.data, trk, tracker, meta.pixel_size_um, meta.frame_interval_min, relabel=False)
    logger.info("%d tracks, %d divisions", result.tracks["track_id"].nunique(), len(result.lineage))
    tables.write_parquet(result.tracks, tracks)
    tables.write_parquet(result.lineage, lineage)
    with omezarr.new_ome_array(tracked, seg.data.shape, np.uint32, "tyx", meta.pixel_size_um,
                               meta.frame_interval_min, name="tracks", label_of=image,
                               label_properties=track_label_properties(result.tracks)) as out:
        for t, frame in enumerate(relabel_frames(seg.data, result.tracks)):
            out[t] = frame
    if info is not None:
        tables.write_json({**result.info, "settings": trk.model_dump(mode="json"),
                           "inputs_read": {"tracker_config": tracker_read}}, info)
    if labels_group is not None:
        # labels_group is <image>/labels/.zattrs (or the group itself); cells and tracks are folders in it
        group = omezarr.store_path(labels_group)
        omezarr.write_labels_group(group.parent, [omezarr.store_path(labels).name, omezarr.store_path(tracked).name])


def track_label_properties(tracks: Any) -> list[dict[str, int]]:
    """NGFF ``image-label`` properties of the tracks label image, whose pixel values are track ids: per
    track its ``label-value`` (the track id), ``parent`` and ``root`` track ids (0: none), ``generation``,
    ``first_frame``, ``last_frame`` and ``n_frames`` (0-based frames).  Areas are not here: they change
    from frame to frame (cells.parquet has them per cell and frame).  The cells label image gets none:
    its values are per-frame labels, so one value names different cells in different frames."""
    if tracks.empty:
        return []
    per_track = tracks.groupby("track_id", sort=True).agg(
        parent=("parent", "first"), root=("root", "first"), generation=("generation", "first"),
        first_frame=("frame", "min"), last_frame=("frame", "max"), n_frames=("frame", "nunique"),
    )
    return [
        {"label-value": int(track_id), **{k: int(v) for k, v in row.items()}}
        for track_id, row in zip(per_track.index, per_track.to_dict("records"), strict=True)
    ]


def measure_cells_step(
    labels: PathLike,
    image: PathLike,
    tracks: PathLike,
    settings: dict[str, Any],
    cells: PathLike,
    track_metrics: PathLike,
    counts: PathLike,
    min_track_frames: int | None = None,
) -> None:
    """Measure every cell in every frame; summarise per track and per frame.

    ``min_track_frames``: ``track.min_track_frames`` (tracks with fewer frames are flagged
    ``excluded = 'short'`` in ``track_metrics``); None: that setting's default."""
    from cellpipe.measure import (
        DEFAULT_MIN_TRACK_FRAMES,
        MeasureSettings,
        counts_per_frame,
        measure_cells,
        summarize_tracks,
    )

    msr = MeasureSettings.model_validate(settings)
    meta = omezarr.open_ome_image(image)
    seg = omezarr.open_ome_image(labels)
    track_table = tables.read_parquet(tracks)
    if msr.channel_names is None and meta.channel_names:
        msr = msr.model_copy(update={"channel_names": meta.channel_names})
    cell_table = measure_cells(seg.data, meta.data, track_table, meta.pixel_size_um, meta.frame_interval_min, msr)
    tables.write_parquet(cell_table, cells)
    shortest = DEFAULT_MIN_TRACK_FRAMES if min_track_frames is None else int(min_track_frames)
    tables.write_parquet(summarize_tracks(cell_table, track_table, meta.frame_interval_min, shortest), track_metrics)
    axes = meta.axes.lower()
    height_px, width_px = meta.data.shape[axes.index("y")], meta.data.shape[axes.index("x")]
    field_area_um2 = float(height_px * width_px) * meta.pixel_size_um**2
    tables.write_tsv(
        counts_per_frame(cell_table, meta.n_frames, meta.frame_interval_min, field_area_um2=field_area_um2), counts
    )


def _spread_frames(n_frames: int, k: int) -> list[int]:
    """Up to ``k`` distinct frames spread evenly over 0..n_frames-1, first and last included."""
    return sorted({int(round(v)) for v in np.linspace(0, max(0, n_frames - 1), num=min(k, max(n_frames, 1)))})


def _pixel_sample(array: Any, frames: list[int], channel: int, max_values: int = 250_000) -> np.ndarray:
    """Pixel values of ``channel`` at ``frames`` of a (T, C, Y, X) array, thinned to about ``max_values``
    by a fixed stride (deterministic: the same run draws the same sample)."""
    values = np.concatenate([np.asarray(array[t, channel], dtype=np.float64).ravel() for t in frames])
    stride = max(1, values.size // max_values)
    return values[::stride]


def report_sample_step(
    sample: str,
    inputs: dict[str, Any],
    config: dict[str, Any],
    settings: dict[str, Any],
    report: PathLike,
) -> None:
    """Write the self-contained HTML report of one sample.

    ``inputs`` are the rule's named inputs: ``image, normalized, percentiles, labels,
    segmentation_info, cells, track_metrics, counts, tracks, lineage, tracking_info`` (paths),
    ``evaluation`` (a list holding the sample's evaluation.json, or empty), ``qc`` (the sample's
    qc.json, rule assess_quality; optional), ``provenance`` (the sample's provenance.json: input
    checksums, versions, model, device, command line, timings) and ``ctc_segments`` (the sample's
    ctc_segments.tsv; absent when export.ctc is false: the report then says there is no CTC export).
    """
    from cellpipe.report import ReportSettings, build_sample_report, ctc_export_text, provenance_view

    rep = ReportSettings.model_validate(settings)
    meta = omezarr.open_ome_image(inputs["image"])
    normalized = omezarr.open_zarr_array(inputs["normalized"])
    seg = omezarr.open_ome_image(inputs["labels"])
    seg_info = tables.read_json(inputs["segmentation_info"])
    tracking_info = tables.read_json(inputs["tracking_info"]) if inputs.get("tracking_info") else {}
    evaluation_files = list(inputs.get("evaluation") or [])
    evaluation = tables.read_json(evaluation_files[0]) if evaluation_files else None
    record = tables.read_json(inputs["provenance"]) if inputs.get("provenance") else {}
    quality = tables.read_json(inputs["qc"]) if inputs.get("qc") else None
    ctc_files = inputs.get("ctc_segments") or []  # the rule gives a list: empty without a CTC export
    ctc_files = [ctc_files] if isinstance(ctc_files, (str, os.PathLike)) else list(ctc_files)
    # the index segment_cells used (segment.channel may be a name, resolved per movie)
    channel = seg_info.get("channel")
    if not isinstance(channel, int):
        channel = channel_index(config.get("segment", {}).get("channel", 0), meta.channel_names) or 0
    frame = rep.overlay_frame if rep.overlay_frame is not None else meta.n_frames // 2
    frame = min(max(frame, 0), meta.n_frames - 1)
    montage_frames = _spread_frames(meta.n_frames, 4)
    qc_frames = _spread_frames(meta.n_frames, 8)
    provenance = {
        "sample": sample,
        "source": meta.attrs.get("source", ""),
        "pixel size (µm)": meta.pixel_size_um,
        "frame interval (min)": meta.frame_interval_min,
        "frames": meta.n_frames,
        "frame size (px)": f"{meta.data.shape[-2]} x {meta.data.shape[-1]}",
        **_z_projection_view(meta.attrs.get("z_projection")),
        "provenance record": f"{inputs['provenance']} (replay: python -m cellpipe.replay {inputs['provenance']})"
        if inputs.get("provenance") else "none",
        **provenance_view(record),
        "segmentation": seg_info,
        "tracking": {k: v for k, v in tracking_info.items() if k != "settings"},
        "CTC export": ctc_export_text(len(tables.read_tsv(ctc_files[0])) if ctc_files else None),
    }
    provenance["config"] = provenance.pop("config", None) or config  # the resolved configuration, last
    html = build_sample_report(
        sample=sample,
        counts=tables.read_tsv(inputs["counts"]),
        cells=tables.read_parquet(inputs["cells"]),
        track_summary=tables.read_parquet(inputs["track_metrics"]),
        overlay_image=np.asarray(normalized[frame, channel]),
        overlay_labels=np.asarray(seg.data[frame]),
        overlay_frame=frame,
        percentiles=tables.read_tsv(inputs["percentiles"]),
        provenance=provenance,
        pixel_size_um=meta.pixel_size_um,
        frame_interval_min=meta.frame_interval_min,
        max_track_rows=rep.max_track_rows,
        tracks=tables.read_parquet(inputs["tracks"]) if inputs.get("tracks") else None,
        lineage=tables.read_parquet(inputs["lineage"]) if inputs.get("lineage") else None,
        montage=[(t, np.asarray(normalized[t, channel]), np.asarray(seg.data[t])) for t in montage_frames],
        intensity_samples={
            "raw": _pixel_sample(meta.data, qc_frames, channel),
            "normalized": _pixel_sample(normalized, qc_frames, channel),
        },
        intensity_channel=channel,
        evaluation=evaluation,
        qc=quality,
    )
    tables.write_text(html, report)


def _z_projection_view(record: dict[str, Any] | None) -> dict[str, str]:
    """The report's line on how ingest made a z-stack movie 2-D (nothing for a movie of one plane)."""
    if not record or record.get("method", "none") == "none":
        return {}
    text = f"{record['method']} of {record['z_planes']} z-planes per frame and channel"
    if record.get("focus_measure"):
        text += f" (focus: {record['focus_measure']}; the plane kept per frame is in image.ome.zarr's attributes)"
    return {"z projection": text}


def summarize_samples_step(
    samples: list[str],
    counts: list[PathLike],
    cells: list[PathLike],
    track_metrics: list[PathLike],
    summary: PathLike,
    evaluations: list[PathLike] | None = None,
    qc: list[PathLike] | None = None,
) -> None:
    """Write the summary page that links every sample's report (with the evaluation of samples that have one).

    ``qc``: each sample's qc.json (rule assess_quality), in the order of ``samples``; samples whose
    status is 'check' are highlighted."""
    from cellpipe.report import build_summary_report, summary_row

    scored = {ev["sample"]: ev for ev in (tables.read_json(path) for path in evaluations or [])}
    quality = dict(zip(samples, (tables.read_json(path) for path in qc), strict=True)) if qc else {}
    rows = [
        summary_row(
            sample, tables.read_tsv(count_path), tables.read_parquet(cell_path), tables.read_parquet(track_path),
            evaluation=scored.get(sample), qc=quality.get(sample),
        )
        for sample, count_path, cell_path, track_path in zip(samples, counts, cells, track_metrics, strict=True)
    ]
    tables.write_text(build_summary_report(rows), summary)
