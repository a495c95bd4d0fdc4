"""Entry point of rule ``record_provenance``: checksum the inputs, gather versions and timings, write the record."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cellpipe.io import omezarr, tables
from cellpipe.io.checksums import describe_path
from cellpipe.provenance import (
    INPUT_ROLES,
    JOB_SETTINGS,
    READ_BY,
    benchmark_timings,
    build_record,
    inputs_as_read,
    job_settings_record,
    package_versions,
)

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def _paths(value: Any) -> list[str]:
    """A rule input (one path, a list of them, or nothing) as a list of paths."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]


def read_benchmarks(paths: Sequence[PathLike]) -> dict[str, list[dict[str, Any]]]:
    """The first row of each Snakemake benchmark TSV, by rule.

    A missing, empty or unreadable file is left out with a warning.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        ``benchmarks/<rule>/<name>.tsv`` files.

    Returns
    -------
    dict of str to list of dict
        Rule name -> one row per file of the rule (several for ``segment_frames``: one per part), in
        the order given, each with ``job``: the file's ``<name>``.  Times in seconds, memory in MB, as
        Snakemake writes them.
    """
    rows: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        try:
            table = tables.read_tsv(path)
            row = table.iloc[0].to_dict()
        except (OSError, ValueError, IndexError) as err:
            logger.warning("no timing from %s: %s", path, err)
            continue
        rows.setdefault(Path(path).parent.name, []).append({**row, "job": Path(path).stem})
    return rows


def read_invocation(path: PathLike | None) -> dict[str, Any] | None:
    """The command line the main snakemake process recorded when it started.

    Parameters
    ----------
    path : str or os.PathLike or None
        The file it wrote.

    Returns
    -------
    dict or None
        The record; None (the reason logged) when there is none: snakemake ran with ``--no-hooks``,
        or the step ran outside snakemake.
    """
    if path is None:
        return None
    try:
        return dict(tables.read_json(path))
    except (OSError, ValueError, TypeError) as err:
        logger.warning("command line not recorded (%s: %s)", path, err)
        return None


def output_checksums(paths: Sequence[PathLike]) -> list[dict[str, Any]]:
    """The size and sha256 of each result file.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        The result files.

    Returns
    -------
    list of dict
        ``{"path": file name, "bytes": size in bytes, "sha256": 64 hex digits}`` per file, in order.
    """
    out = []
    for path in paths:
        entry = describe_path("output", path)
        out.append({"path": Path(path).name, "bytes": entry["bytes"], "sha256": entry["sha256"]})
    return out


def inputs_read(info: Any, role: str) -> Any:
    """What a job's output JSON says it read of one input (``inputs_read.<role>``).

    Parameters
    ----------
    info : dict or list of dict or None
        The output's ``inputs_read``, or a list of them when the output merges several jobs'
        (segment_cells gathering segment_frames' parts).
    role : str
        The input's role (:data:`cellpipe.provenance.INPUT_ROLES`).

    Returns
    -------
    dict or list of dict or None
        The description; the list of the parts' values when they disagree; None when none holds one.
    """
    values = info if isinstance(info, list) else [info]
    found = [v.get(role) for v in values if isinstance(v, Mapping) and v.get(role) is not None]
    return found if len(found) > 1 else found[0] if found else None


def movie_physical_metadata(image: PathLike) -> dict[str, Any]:
    """The physical metadata ingest gave the movie, as ``image.ome.zarr`` holds it, for provenance.

    Read from the image's NGFF scale and ``omero`` channels and from the ``cellpipe`` attributes
    ingest wrote (:func:`cellpipe.steps.ingest.ingest_movie_file`), so the record shows what the
    results were computed with rather than what the file says now.

    Parameters
    ----------
    image : str or os.PathLike
        The sample's ``image.ome.zarr``.

    Returns
    -------
    dict
        Only the keys that are known: ``pixel_size_um`` (``y`` and ``x``, µm per px, from level 0's
        scale) and ``pixel_size_source``; ``frame_interval_min`` (minutes) and
        ``frame_interval_source`` (``sample sheet``, ``file metadata`` or ``config default``:
        :func:`cellpipe.ingest.resolve_metadata`; the pixel size's source likewise) and, where the file says how
        it gave its interval (a vendor file; an OME-TIFF's planes' ``DeltaT``), ``file_frame_interval_from``
        (``nominal (...)`` or ``timestamps (...)``);
        ``z_step_um`` (µm between planes: the image's z scale when z is kept, else the
        z-stack's step before projection) with ``z_step_source`` where ingest resolved one;
        ``channel_names``; ``reader`` (what read the movie and the ``ingest.reader`` setting, as ingest recorded it).
    """
    ms = omezarr.open_multiscales(image)
    scale = dict(zip(ms.axes, ms.scale, strict=True))
    attrs = dict(ms.attrs.get("cellpipe", {}))
    z = attrs.get("z_projection") or {}
    channels = [c.get("label") for c in ms.attrs.get("omero", {}).get("channels", []) if c.get("label") is not None]
    # an image without a t axis or an ingest source has no interval to report: left out rather than a made-up 1
    found: dict[str, Any] = {
        "pixel_size_um": {axis: float(scale[axis]) for axis in "yx" if axis in scale} or None,
        "pixel_size_source": attrs.get("pixel_size_source"),
        "frame_interval_min": float(scale["t"]) if "t" in scale else None,
        "frame_interval_source": attrs.get("frame_interval_source"),
        "file_frame_interval_from": attrs.get("file_frame_interval_from"),
        "z_step_um": float(scale["z"]) if "z" in scale else z.get("z_step_um"),
        "z_step_source": z.get("z_step_source"),
        "channel_names": channels or None,
        "reader": attrs.get("reader"),
    }
    return {key: value for key, value in found.items() if value is not None}


def record_provenance_step(
    sample: str,
    inputs: Mapping[str, Any],
    config: Mapping[str, Any],
    provenance: PathLike,
    invocation: PathLike | None = None,
    model_path: str | None = None,
    job_settings: Mapping[str, Any] | None = None,
) -> None:
    """Write ``results/<sample>/provenance.json`` (:func:`cellpipe.provenance.build_record`).

    The outputs of the jobs that read an input (:data:`cellpipe.provenance.READ_BY`) hold the sha256
    of the bytes they read, which the record's ``as_read`` compares with the input now.  Paths are
    recorded as given, relative to the working directory (recorded as ``workdir``) unless absolute.

    Parameters
    ----------
    sample : str
        The sample's name.
    inputs : mapping
        The rule's named inputs: one path or a list of paths for each of
        :data:`cellpipe.provenance.INPUT_ROLES` (``movie, ground_truth, config, sample_sheet,
        tracker_config, model``; empty where the sample has none), ``segmentation_info`` (the
        sample's segmentation.json), ``outputs`` (result tables whose sha256 is recorded),
        ``timings`` (the benchmark TSVs of the sample's jobs), and, each optional, ``image`` (the
        sample's image.ome.zarr: the movie as ingest_movie read it), ``tracking_info`` (the sample's
        tracking.json: the tracker configuration) and ``evaluation`` (the sample's evaluation.json,
        or nothing: the ground truth).  The settings segment_frames and track_cells recorded in
        segmentation_info and tracking_info (:data:`cellpipe.provenance.JOB_SETTINGS`) are read too.
    config : mapping
        The resolved configuration.
    provenance : str or os.PathLike
        The ``provenance.json`` to write.
    invocation : str or os.PathLike or None
        The file the main snakemake process wrote when it started (read if present, never required).
    model_path : str or None
        The Cellpose model file as the workflow resolved it.
    job_settings : mapping or None
        The settings of every job of the sample, by rule, as the rules' params got them
        (workflow/rules/common.smk ``provenance_job_settings``); recorded as ``job_settings`` with what
        segment_frames and track_cells wrote in their run info (:func:`cellpipe.provenance.job_settings_record`).
    """
    image = _paths(inputs.get("image"))
    image_attrs = omezarr.open_ome_image(image[0]).attrs if image else {}
    physical = movie_physical_metadata(image[0]) if image else {}
    # the movie is described by the files ingest read when it read some files only (one position of a folder, a
    # multi-file OME-TIFF): a folder of 16 positions is not read whole for each
    movie_read = image_attrs.get("source_checksum") or {}
    movie_files = [f["path"] for f in movie_read["files"]] \
        if movie_read.get("subset") or movie_read.get("type") == "files" else None
    described = []
    for role in INPUT_ROLES:
        for path in _paths(inputs.get(role)):
            entry = describe_path(role, path, files=movie_files if role == "movie" else None)
            logger.info("%s %s: %s bytes, sha256 %s", role, path, entry["bytes"], entry["sha256"])
            described.append(entry)
    segmentation_info = tables.read_json(inputs["segmentation_info"])

    def job_output(name: str) -> Any:
        paths = _paths(inputs.get(name))
        return tables.read_json(paths[0]) if paths else None

    tracking_info, evaluation = job_output("tracking_info"), job_output("evaluation")
    if image_attrs.get("position"):  # one position of a file of several: the file's sha256 says not which
        for entry in described:
            if entry["role"] == "movie":
                entry["position"] = image_attrs["position"]
    if image_attrs.get("stage_position_um"):  # the stage's x, y, z (µm) where the movie's file gives them
        for entry in described:
            if entry["role"] == "movie":
                entry["stage_position_um"] = image_attrs["stage_position_um"]
    if physical:
        for entry in described:
            if entry["role"] == "movie":
                entry["physical"] = physical
    read = {
        "movie": image_attrs.get("source_checksum"),
        "model": inputs_read(segmentation_info.get("inputs_read"), "model"),
        "tracker_config": inputs_read((tracking_info or {}).get("inputs_read"), "tracker_config"),
        "ground_truth": inputs_read((evaluation or {}).get("inputs_read"), "ground_truth"),
    }
    as_read = inputs_as_read(described, {role: (READ_BY[role], value) for role, value in read.items()})
    for entry in as_read:
        if entry["matches"] is False:
            # recorded, not raised: the record must say it, and the report and a replay show and refuse it
            logger.warning("%s %s is not the file the results were computed from: %s", entry["role"], entry["path"],
                           "; ".join(entry["differences"]))
    run_infos = {"segmentation_info": segmentation_info, "tracking_info": tracking_info or {}}
    ran_with = {rule: run_infos[info].get(key) for rule, (info, key) in JOB_SETTINGS.items()}
    settings_record, differences = job_settings_record(job_settings, ran_with)
    for line in differences:
        logger.warning("job settings: %s", line)
    timings = benchmark_timings(read_benchmarks(_paths(inputs.get("timings"))))
    record = build_record(
        sample=sample,
        workdir=os.getcwd(),
        inputs=described,
        config=config,
        versions=package_versions(),
        segmentation_info=segmentation_info,
        model_path=model_path,
        timings=timings,
        command=read_invocation(invocation),
        outputs=output_checksums(_paths(inputs.get("outputs"))),
        as_read=as_read,
        job_settings=settings_record,
    )
    tables.write_json(record, provenance)
    logger.info("wrote %s: %d inputs, %d timed rules, %d result files", provenance, len(described), len(timings),
                len(record["outputs"]))
