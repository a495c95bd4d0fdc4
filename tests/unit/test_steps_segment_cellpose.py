"""Tests of the segment_cells rule's entry point (cellpipe.steps.segment) with Cellpose and the shipped model:
out of memory, a retry with half the batch, and the checksum of the model file loaded.  The nuclei and the
settings are those of test_segment.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_segment import (
    OME_META,
    SHIPPED,
    _cellpose,
    pytestmark,  # noqa: F401 (the warning filters of the Cellpose tests)
    simulated_nuclei,
)


@pytest.fixture(scope="module")
def nuclei() -> tuple[np.ndarray, np.ndarray, float]:
    return simulated_nuclei()


@pytest.fixture()
def step_inputs(tmp_path: Path, nuclei) -> dict[str, Path]:
    """The inputs of rule segment_cells for the simulated nuclei: an OME-Zarr image and its normalized movie."""
    from cellpipe.io import omezarr

    frames, _, pixel_size = nuclei
    image = tmp_path / "image.ome.zarr" / OME_META
    omezarr.write_ome_image(image, (frames[:, None] * 1000).astype(np.uint16), "tcyx", pixel_size, 5.0)
    normalized = tmp_path / "normalized.zarr"
    with omezarr.new_zarr_array(normalized, (len(frames), 1, *frames.shape[1:]), "float32", {}) as out:
        out[:] = frames[:, None]
    return {"image": image, "normalized": normalized}


def _limit_network_tiles(monkeypatch: pytest.MonkeyPatch, limit: int) -> list[int]:
    """Cellpose's network pass raises torch's out-of-memory error above ``limit`` tiles, as a small GPU
    would; returns the list of tiles per pass that ran."""
    import torch
    from cellpose import core

    forward, passes = core._forward, []

    def limited(net, x):
        if x.shape[0] > limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory (simulated: {x.shape[0]} tiles, {limit} fit)")
        passes.append(int(x.shape[0]))
        return forward(net, x)

    monkeypatch.setattr(core, "_forward", limited)
    return passes


def test_out_of_memory_is_a_clear_error_and_a_retry_with_half_the_batch_succeeds(
    tmp_path: Path, step_inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from cellpipe.io import omezarr
    from cellpipe.segment import SegmentationOutOfMemory
    from cellpipe.steps.segment import segment_whole_movie

    settings = _cellpose(SHIPPED, batch_size=4, device="cpu").model_dump(mode="json")
    reference = tmp_path / "reference" / "labels" / OME_META
    segment_whole_movie(step_inputs["normalized"], step_inputs["image"], settings, reference, tmp_path / "reference.json")

    passes = _limit_network_tiles(monkeypatch, limit=2)
    labels, info = tmp_path / "out" / "labels" / OME_META, tmp_path / "out" / "segmentation.json"
    with pytest.raises(SegmentationOutOfMemory, match=r"image\.ome\.zarr: segmentation ran out of memory on cpu with 4 tile\(s\)") as err:
        segment_whole_movie(step_inputs["normalized"], step_inputs["image"], settings, labels, info, batch_divisor=1)
    assert "batch_size" in str(err.value) and "retries" in str(err.value)
    assert not labels.parent.exists() and not info.exists()  # nothing partial left behind
    assert passes == []

    segment_whole_movie(step_inputs["normalized"], step_inputs["image"], settings, labels, info, batch_divisor=2)
    record = json.loads(info.read_text())
    assert record["batch_size"] == 2 and record["batch_divisor"] == 2
    assert passes and max(passes) == 2
    np.testing.assert_array_equal(
        np.asarray(omezarr.open_ome_image(labels).data), np.asarray(omezarr.open_ome_image(reference).data)
    )
    assert json.loads((tmp_path / "reference.json").read_text())["batch_size"] == 4


def test_segmentation_records_the_checksum_of_the_model_file_it_loaded(
    tmp_path: Path, step_inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """segmentation.json holds the sha256 of the model file as torch loaded it (provenance compares it with the
    file later); a file rewritten while it is being loaded stops the job, with nothing written."""
    import hashlib
    import json
    import os
    import shutil

    from cellpipe import segment
    from cellpipe.io.checksums import ChangedWhileRead
    from cellpipe.steps.segment import segment_whole_movie

    model = tmp_path / "weights.pth"
    shutil.copyfile(SHIPPED, model)
    data = model.read_bytes()
    settings = _cellpose(model, device="cpu").model_dump(mode="json")
    labels, info = tmp_path / "out" / "labels" / OME_META, tmp_path / "segmentation.json"
    segment_whole_movie(step_inputs["normalized"], step_inputs["image"], settings, labels, info)
    record = json.loads(info.read_text())
    expected = {"type": "file", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert record["inputs_read"] == {"model": expected} and record["model_sha256"] == expected["sha256"]

    load = segment.load_segmentation_model

    def load_then_rewrite(cellpose_settings, device):  # another file copied over it (`cp -p`) while torch read it
        loaded = load(cellpose_settings, device)
        stat = model.stat()
        model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return loaded

    monkeypatch.setattr(segment, "load_segmentation_model", load_then_rewrite)
    again = tmp_path / "again" / "labels" / OME_META
    with pytest.raises(ChangedWhileRead, match="weights.pth: changed while it was being read"):
        segment_whole_movie(step_inputs["normalized"], step_inputs["image"], settings, again, tmp_path / "again.json")
    assert not (tmp_path / "again.json").exists() and not again.parent.exists()
