"""Entry points of the evaluation rules: one sample against its ground truth, and the table across samples.

``evaluate_sample_step`` reads the ground truth (:mod:`cellpipe.io.ground_truth`), the sample's
segmentation (``image.ome.zarr/labels/cells``, for instance and pixel scores and the per-frame count
error) and its CTC export (``ctc/``, for CTC SEG/DET/TRA and division detection; made in a temporary
folder from the tracked masks when ``export.ctc`` is false), scores them
with :mod:`cellpipe.evaluate` and writes ``evaluation.json``.  ``summarize_evaluation_step``
writes one row per sample to ``results/evaluation.tsv``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellpipe.config import EvaluateSettings
from cellpipe.evaluate import (
    EVALUATION_COLUMNS,
    SingleFrameTracks,
    count_errors,
    evaluation_row,
    json_safe,
    segmentation_scores,
    streamed_ctc_scores,
    streamed_division_scores,
)
from cellpipe.io import omezarr, tables
from cellpipe.io.checksums import copy_as_read
from cellpipe.io.ctc import TiffFrames, read_ctc_tracks
from cellpipe.io.ground_truth import GroundTruth, GroundTruthError, read_ground_truth
from cellpipe.steps.export import write_ctc_export
from cellpipe.versions import package_version

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

__all__ = ["evaluate_sample_step", "summarize_evaluation_step"]

def _n_objects(frame: np.ndarray) -> int:
    """Number of distinct nonzero labels in ``frame``."""
    return int(np.count_nonzero(np.unique(frame)))


def _labels_ctc_scores(gt: GroundTruth, predicted: Any) -> dict[str, Any]:
    """SEG and DET of per-frame label ground truth: both sides as one-frame tracks, scored one frame at a time.

    ``predicted[t]`` is the predicted (Y, X) labels (px) of frame ``t`` (the segmentation's zarr array).
    """
    frames = sorted(gt.masks)
    truth = SingleFrameTracks(gt.masks, frames)
    result = SingleFrameTracks(predicted, frames)
    scores = streamed_ctc_scores(truth, truth.tracks, result, result.tracks, truth_segmentation=truth, tracking=False)
    scores["result"] = "image.ome.zarr/labels/cells (annotated frames, each object a one-frame track)"
    return scores


def evaluate_sample_step(
    sample: str,
    ground_truth: PathLike,
    segmentation: PathLike,
    image: PathLike,
    ctc_dir: PathLike | None,
    settings: dict[str, Any],
    evaluation: PathLike,
    tracked: PathLike | None = None,
    tracks: PathLike | None = None,
) -> None:
    """Score one sample against its ground truth and write ``evaluation.json``.

    evaluation.json's ``inputs_read.ground_truth`` is the sha256 of the ground truth's bytes as scored
    (``type, bytes, sha256``, a folder's ``files`` too, as provenance describes it).

    Memory stays that of a few frames whatever the movie's length: the segmentation, the CTC result and
    the ground truth are read one frame at a time (:func:`cellpipe.evaluate.streamed_ctc_scores`,
    :func:`cellpipe.evaluate.streamed_division_scores`), in one thread.

    Parameters
    ----------
    sample : str
        The sample's name.
    ground_truth : str or os.PathLike
        Its ground truth: a CTC ``_GT`` folder or label images (:mod:`cellpipe.io.ground_truth`).
    segmentation : str or os.PathLike
        The segmentation, ``image.ome.zarr/labels/cells``: (T, Y, X) labels (px).
    image : str or os.PathLike
        ``image.ome.zarr``, for the frame interval (minutes) the count errors are reported in.
    ctc_dir : str or os.PathLike or None
        The sample's CTC export (rule export_tracks); None with config ``export.ctc: false``, when
        ``tracked`` and ``tracks`` are given instead and the same CTC result is written to a
        temporary folder.
    settings : dict
        The ``evaluate`` config section (:class:`cellpipe.config.EvaluateSettings`).
    evaluation : str or os.PathLike
        The ``evaluation.json`` to write.
    tracked : str or os.PathLike or None
        ``image.ome.zarr/labels/tracks``: (T, Y, X) labels whose values are track ids (px).
    tracks : str or os.PathLike or None
        ``tracks.parquet``.

    Raises
    ------
    GroundTruthError
        The ground truth is missing, unreadable or does not fit the movie (the message names the
        sample and the file); nothing is written.
    """
    if not Path(ground_truth).exists():
        raise GroundTruthError(f"sample {sample!r}: {ground_truth}: ground truth not found")
    with tempfile.TemporaryDirectory(prefix="cellpipe-ground-truth-") as tmp:
        # Every reader (cellpipe's, py-ctcmetrics', traccuracy's) opens the ground truth by its path, some of
        # them more than once; they read a copy whose bytes were hashed as they were copied, so the sha256
        # evaluation.json records is that of the bytes scored. record_provenance compares it with the ground
        # truth later, which may have been replaced since (its mtime restored: no rerun).
        copy, truth_read = copy_as_read(ground_truth, tmp)
        result = _evaluate(sample, copy, ground_truth, segmentation, image, ctc_dir, settings, tracked, tracks)
    result["inputs_read"] = {"ground_truth": truth_read}
    tables.write_json(json_safe(result), evaluation)
    ctc, segm = result["ctc"], result["segmentation"]
    logger.info(
        "sample %s: DET %s, TRA %s, SEG %s, AP@0.5 %s",
        sample, ctc.get("DET"), ctc.get("TRA"), ctc.get("SEG"),
        (segm.get("average_precision") or [None])[0],
    )


def _evaluate(
    sample: str,
    truth: Path,
    ground_truth: PathLike,
    segmentation: PathLike,
    image: PathLike,
    ctc_dir: PathLike | None,
    settings: dict[str, Any],
    tracked: PathLike | None,
    tracks: PathLike | None,
) -> dict[str, Any]:
    """The content of evaluation.json without ``inputs_read`` (:func:`evaluate_sample_step`).

    ``truth`` is the copy of ``ground_truth`` that is read; ``ground_truth`` names the file in
    messages and in the result.
    """
    ev = EvaluateSettings.model_validate(settings)
    meta = omezarr.open_ome_image(image)
    seg = omezarr.open_ome_image(segmentation)
    n_frames, frame_shape = int(seg.data.shape[0]), tuple(int(n) for n in seg.data.shape[1:])
    try:
        gt = read_ground_truth(truth, n_frames, frame_shape, ev.min_marker_coverage)  # type: ignore[arg-type]
    except GroundTruthError as err:
        # the messages name the user's files, not the copy
        raise GroundTruthError(f"sample {sample!r}: {str(err).replace(str(truth), str(ground_truth))}") from None

    # one frame in memory at a time: frames are read again where a score needs them (the annotated ones can
    # be every frame of the movie)
    predicted_counts = {t: _n_objects(np.asarray(seg.data[t])) for t in sorted(gt.counts)}

    def predicted(t: int) -> np.ndarray:
        return np.asarray(seg.data[t])

    counts = count_errors(gt.counts, predicted_counts, meta.frame_interval_min)
    counts["truth"] = "TRA markers (every cell, every frame)" if gt.format == "ctc" else "annotated label images"
    counts["source"] = "image.ome.zarr/labels/cells"

    segm: dict[str, Any]
    if gt.complete:
        segm = segmentation_scores(gt.complete_masks, predicted, ev.iou_thresholds)
        segm["source"] = "image.ome.zarr/labels/cells"
    else:
        segm = {"reason": "no completely annotated segmentation frame" if gt.masks else "no segmentation ground truth"}
    segm["skipped_frames"] = {str(t): why for t, why in sorted(gt.skipped.items())}

    divisions: dict[str, Any] | None
    if gt.format == "ctc":
        with contextlib.ExitStack() as stack:
            if ctc_dir is None:
                if tracked is None or tracks is None:
                    raise ValueError(f"sample {sample!r}: no CTC export (ctc_dir) and no tracked masks and tracks to make one")
                ctc_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cellpipe-evaluate-"))) / "01_RES"
                write_ctc_export(omezarr.open_ome_image(tracked), tables.read_parquet(tracks), ctc_dir)
                result_name = "tracked masks (image.ome.zarr/labels/tracks) as a CTC result (export.ctc: false)"
            else:
                result_name = "ctc/ (tracked masks)"
            # read frame by frame (the folders as py-ctcmetrics and traccuracy would read them)
            truth_markers, result = TiffFrames(gt.path / "TRA", "man_track*.tif"), TiffFrames(ctc_dir, "mask*.tif")
            result_tracks = read_ctc_tracks(Path(ctc_dir) / "res_track.txt")
            ctc = streamed_ctc_scores(
                truth_markers, gt.tracks, result, result_tracks,
                truth_segmentation=TiffFrames(gt.path / "SEG", "man_seg*.tif") if gt.masks else None,
                tracking=True, division_frame_tolerance=ev.division_frame_tolerance,
            )
            ctc["result"] = result_name
            ctc["branching_correctness"] = ctc.pop("divisions")
            divisions = streamed_division_scores(truth_markers, gt.tracks, result, result_tracks, ev.division_frame_tolerance)
    else:
        ctc = _labels_ctc_scores(gt, seg.data)
        ctc.pop("divisions", None)
        divisions = {"reason": "the ground truth has no lineage (label images only)"}

    result = {
        "sample": sample,
        "ground_truth": {
            "path": str(ground_truth),
            "format": gt.format,
            "annotated_frames": sorted(gt.masks),
            "complete_frames": gt.complete,
        },
        "ctc": ctc,
        "segmentation": segm,
        "counts": counts,
        "divisions": divisions,
        "settings": ev.model_dump(mode="json"),
        "versions": {name: package_version(name) for name in ("cellpipe", "py-ctcmetrics", "cellpose")},
    }
    return result


def summarize_evaluation_step(evaluations: list[PathLike], table: PathLike) -> None:
    """Write ``evaluation.tsv``: one row per sample (:data:`cellpipe.evaluate.EVALUATION_COLUMNS`), sorted by sample.

    Parameters
    ----------
    evaluations : list of str or os.PathLike
        Each sample's ``evaluation.json``.
    table : str or os.PathLike
        The ``evaluation.tsv`` to write.
    """
    rows = [evaluation_row(tables.read_json(path)) for path in evaluations]
    frame = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS)).sort_values("sample", kind="stable")
    tables.write_tsv(frame, table)
    logger.info("evaluation table of %d sample(s)", len(frame))
