"""Entry points of the report rules: one sample's self-contained HTML report, and the summary page of all samples."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from cellpipe.ingest import channel_index
from cellpipe.io import omezarr, tables

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def _spread_frames(n_frames: int, k: int) -> list[int]:
    """Up to ``k`` distinct frames spread evenly over 0..n_frames-1, first and last included."""
    return sorted({int(round(v)) for v in np.linspace(0, max(0, n_frames - 1), num=min(k, max(n_frames, 1)))})


def _plane(array: Any, t: int, channel: int | None = None) -> np.ndarray:
    """Frame ``t`` (of ``channel``, for an array with channels) as one (Y, X) plane.

    Itself for a 2-D movie, its maximum-intensity projection along z for a 3-D one.  Applied to labels, the
    projection keeps the largest label value along z, so every object shows where it lies in the plane (the
    report's overlays and montage of a 3-D movie: maximum-intensity projections with the projected objects'
    outlines).
    """
    data = np.asarray(array[t] if channel is None else array[t, channel])
    return data.max(axis=0) if data.ndim == 3 else data


def _pixel_sample(array: Any, frames: list[int], channel: int, max_values: int = 250_000) -> np.ndarray:
    """Pixel values of ``channel`` at ``frames`` of a (T, C, Y, X) or (T, C, Z, Y, X) array, thinned to about ``max_values``.

    Thinned by a fixed stride, not at random, so the same run draws the same sample.
    """
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

    Parameters
    ----------
    sample : str
        The sample's name.
    inputs : dict
        The rule's named inputs: ``image, normalized, percentiles, labels, segmentation_info, cells,
        track_metrics, counts, msd, tracks, lineage, tracking_info`` (paths), ``evaluation`` (a list
        holding the sample's evaluation.json, or empty), ``qc`` (the sample's qc.json, rule
        assess_quality; optional), ``provenance`` (the sample's provenance.json: input checksums,
        versions, model, device, command line, timings) and ``ctc_segments`` (the sample's
        ctc_segments.tsv; absent when export.ctc is false: the report then says there is no CTC export).
    config : dict
        The resolved configuration, shown in the report.
    settings : dict
        The ``report`` config section (:class:`cellpipe.config.ReportSettings`; ``overlay_frame`` in
        frames).
    report : str or os.PathLike
        The HTML file to write.
    """
    from cellpipe.config import ReportSettings
    from cellpipe.report import build_sample_report, ctc_export_text, provenance_view

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
        **({"z-planes per stack (µm between them)": f"{meta.data.shape[-3]} ({meta.pixel_size_z_um} µm); images are "
            "maximum-intensity projections along z, with orthogonal views of one stack beside the overlay"}
           if "z" in meta.axes else {}),
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
        overlay_image=_plane(normalized, frame, channel),
        overlay_labels=_plane(seg.data, frame),
        overlay_frame=frame,
        percentiles=tables.read_tsv(inputs["percentiles"]),
        provenance=provenance,
        pixel_size_um=meta.pixel_size_um,
        frame_interval_min=meta.frame_interval_min,
        max_track_rows=rep.max_track_rows,
        tracks=tables.read_parquet(inputs["tracks"]) if inputs.get("tracks") else None,
        msd=tables.read_parquet(inputs["msd"]) if inputs.get("msd") else None,
        lineage=tables.read_parquet(inputs["lineage"]) if inputs.get("lineage") else None,
        montage=[(t, _plane(normalized, t, channel), _plane(seg.data, t)) for t in montage_frames],
        intensity_samples={
            "raw": _pixel_sample(meta.data, qc_frames, channel),
            "normalized": _pixel_sample(normalized, qc_frames, channel),
        },
        intensity_channel=channel,
        evaluation=evaluation,
        qc=quality,
        # a 3-D movie: the overlay frame's stack and labels, for the orthogonal views beside its projection
        orthogonal=[(frame, np.asarray(normalized[frame, channel]), np.asarray(seg.data[frame]))]
        if "z" in meta.axes else None,
        z_step_um=meta.pixel_size_z_um if "z" in meta.axes else None,
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

    Parameters
    ----------
    samples : list of str
        The samples, in the page's order.
    counts : list of str or os.PathLike
        Each sample's ``counts.tsv``, in the order of ``samples``.
    cells : list of str or os.PathLike
        Each sample's ``cells.parquet``, in the order of ``samples``.
    track_metrics : list of str or os.PathLike
        Each sample's ``track_metrics.parquet``, in the order of ``samples``.
    summary : str or os.PathLike
        The HTML file to write.
    evaluations : list of str or os.PathLike or None
        The ``evaluation.json`` of the samples that have ground truth, in any order.
    qc : list of str or os.PathLike or None
        Each sample's qc.json (rule assess_quality), in the order of ``samples``; samples whose
        status is 'check' are highlighted.
    """
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
