"""Tests of the evaluate_sample and summarize_evaluation rules' entry points (cellpipe.steps.evaluate): files in,
evaluation.json and evaluation.tsv out, on a simulated movie scored against its own ground truth."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from cellpipe.evaluate import ctc_scores, division_scores, json_safe
from cellpipe.io.checksums import describe_path
from cellpipe.io.ctc import write_ctc_ground_truth, write_ctc_results
from cellpipe.io.ground_truth import GroundTruthError
from cellpipe.simulate import SimulatedMovie

from conftest import dividing_movie


@pytest.fixture(scope="module")
def sim() -> SimulatedMovie:
    """A simulated 96x96 px movie of 10 frames with at least one division (tests/conftest.py)."""
    return dividing_movie(n_frames=10)


def sample_files(tmp_path: Path, sim: SimulatedMovie) -> dict[str, Path]:
    """The inputs evaluate_sample reads, made from the simulation (the 'prediction' is the truth
    with one cell removed in frame 3)."""
    from cellpipe.export import to_ctc
    from cellpipe.io import omezarr

    image, seg = tmp_path / "image.ome.zarr", tmp_path / "segmentation.ome.zarr"
    omezarr.write_ome_image(image, sim.image[:, None], "tcyx", sim.pixel_size_um, sim.frame_interval_min)
    predicted = sim.labels.astype(np.uint32).copy()
    gone = np.unique(predicted[3])[1]
    predicted[3][predicted[3] == gone] = 0
    omezarr.write_ome_image(seg, predicted, "tyx", sim.pixel_size_um, sim.frame_interval_min, name="cells")
    rows = []
    for t in range(predicted.shape[0]):
        for label in np.unique(predicted[t])[1:]:
            ys, xs = np.nonzero(predicted[t] == label)
            rows.append({"frame": t, "track_id": int(label), "label": int(label), "y_px": ys.mean(), "x_px": xs.mean(),
                         "parent": int(sim.tracks.set_index("label").parent.get(label, 0))})
    labels16, ctc_tracks = to_ctc(predicted, pd.DataFrame(rows))[:2]
    write_ctc_results(tmp_path / "ctc", labels16, ctc_tracks)
    # the tracks table of these masks (pixels = track ids), for an evaluation without a CTC export
    pd.DataFrame(rows).to_parquet(tmp_path / "tracks.parquet", index=False)
    write_ctc_ground_truth(tmp_path / "01_GT", sim.labels, sim.tracks)
    return {"image": image, "segmentation": seg, "ctc_dir": tmp_path / "ctc", "ground_truth": tmp_path / "01_GT"}


def test_evaluate_sample_step_writes_scores(tmp_path: Path, sim: SimulatedMovie) -> None:
    import json

    from cellpipe.steps.evaluate import evaluate_sample_step, summarize_evaluation_step

    files = sample_files(tmp_path, sim)
    out = tmp_path / "evaluation.json"
    evaluate_sample_step("s1", settings={}, evaluation=out, **files)
    ev = json.loads(out.read_text())  # strict JSON: NaN would have been written as null
    n3 = len(np.unique(sim.labels[3])) - 1
    frame3 = ev["counts"]["per_frame"][3]
    assert frame3 == {"frame": 3, "time_min": 3 * sim.frame_interval_min, "n_true": n3, "n_predicted": n3 - 1, "error": -1}
    assert ev["counts"]["mean_absolute_error"] == pytest.approx(1 / 10)
    seg = ev["segmentation"]
    n_objects = sum(len(np.unique(f)) - 1 for f in sim.labels)
    assert seg["tp"][0] == n_objects - 1 and seg["fp"][0] == 0 and seg["fn"][0] == 1
    assert seg["average_precision"][-1] == pytest.approx((n_objects - 1) / n_objects)
    assert ev["ctc"]["valid"] and 0.95 < ev["ctc"]["DET"] < 1.0 and ev["ctc"]["SEG"] < 1.0
    assert ev["divisions"]["gt_divisions"] == sim.n_divisions == ev["divisions"]["tp"]
    assert ev["divisions"]["library"].startswith("traccuracy") and ev["divisions"]["precision"] == 1.0
    assert ev["ctc"]["branching_correctness"]["tp"] == sim.n_divisions
    # the sha256 of the ground truth as scored, which provenance compares with the folder later
    described = describe_path("ground_truth", files["ground_truth"])
    assert ev["inputs_read"] == {"ground_truth": {k: described[k] for k in ("type", "bytes", "sha256", "files")}}
    summarize_evaluation_step([out], tmp_path / "evaluation.tsv")
    table = pd.read_csv(tmp_path / "evaluation.tsv", sep="\t")
    assert table.loc[0, "sample"] == "s1" and table.loc[0, "DET"] == pytest.approx(ev["ctc"]["DET"])
    assert table.loc[0, "AP50"] == pytest.approx((n_objects - 1) / n_objects)


def test_evaluate_sample_step_scores_equal_the_libraries_reading_the_folders(tmp_path: Path, sim: SimulatedMovie) -> None:
    """evaluate_sample reads frame by frame (issue #29); its CTC measures and division detection are those of
    py-ctcmetrics and traccuracy reading the CTC folders, in every field of evaluation.json."""
    import json

    from cellpipe.steps.evaluate import evaluate_sample_step

    files = sample_files(tmp_path, sim)
    evaluate_sample_step("s1", settings={}, evaluation=tmp_path / "ev.json", **files)
    ev = json.loads((tmp_path / "ev.json").read_text())
    by_folder = ctc_scores(files["ctc_dir"], files["ground_truth"], division_frame_tolerance=1)
    by_folder["branching_correctness"] = by_folder.pop("divisions")
    assert ev["ctc"].pop("result") == "ctc/ (tracked masks)"
    assert ev["ctc"] == json_safe(by_folder)
    assert ev["divisions"] == json_safe(division_scores(files["ctc_dir"], files["ground_truth"], frame_tolerance=1))


def test_without_a_ctc_export_the_evaluation_makes_its_own_and_scores_the_same(tmp_path: Path, sim: SimulatedMovie) -> None:
    """export.ctc: false: evaluate_sample gets the tracked masks and tracks instead of ctc/ (issue #23 item 7)."""
    import json

    from cellpipe.steps.evaluate import evaluate_sample_step

    files = sample_files(tmp_path, sim)
    evaluate_sample_step("s1", settings={}, evaluation=tmp_path / "with.json", **files)
    files.update(ctc_dir=None, tracked=files["segmentation"], tracks=tmp_path / "tracks.parquet")
    evaluate_sample_step("s1", settings={}, evaluation=tmp_path / "without.json", **files)
    with_ctc, without = (json.loads((tmp_path / name).read_text()) for name in ("with.json", "without.json"))
    assert without["ctc"].pop("result").startswith("tracked masks") and with_ctc["ctc"].pop("result") == "ctc/ (tracked masks)"
    assert without == with_ctc
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("cellpipe-")) == []


def test_label_tiff_ground_truth_gets_seg_and_det_without_tracking(tmp_path: Path, sim: SimulatedMovie) -> None:
    import json

    from cellpipe.steps.evaluate import evaluate_sample_step

    files = sample_files(tmp_path, sim)
    tifffile.imwrite(tmp_path / "truth.tif", sim.labels)
    files["ground_truth"] = tmp_path / "truth.tif"
    evaluate_sample_step("s2", settings={}, evaluation=tmp_path / "ev.json", **files)
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["ground_truth"]["format"] == "labels"
    data = (tmp_path / "truth.tif").read_bytes()
    assert ev["inputs_read"] == {"ground_truth": {"type": "file", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    assert 0.95 < ev["ctc"]["DET"] < 1.0 and ev["ctc"]["TRA"] is None and 0.9 < ev["ctc"]["SEG"] < 1.0
    assert "reason" in ev["divisions"]


def test_bad_ground_truth_names_sample_and_file_and_writes_nothing(tmp_path: Path, sim: SimulatedMovie) -> None:
    from cellpipe.steps.evaluate import evaluate_sample_step

    files = sample_files(tmp_path, sim)
    tifffile.imwrite(tmp_path / "truth.tif", sim.labels[:, :90])
    files["ground_truth"] = tmp_path / "truth.tif"
    # the message names the user's file, not the copy the evaluation reads
    with pytest.raises(GroundTruthError, match=rf"sample 'bad': {re.escape(str(tmp_path))}/truth\.tif: mask is 90x96 px"):
        evaluate_sample_step("bad", settings={}, evaluation=tmp_path / "ev.json", **files)
    assert not (tmp_path / "ev.json").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
